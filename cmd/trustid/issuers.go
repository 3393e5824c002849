package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newIssuersCmd is `trustid issuers`: an operator accredits registered
// clients to issue credential types, through the node's admin API (the
// node writes the issuer record to the trust registry on its ledger and
// holds the issuer's keys).
func newIssuersCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "issuers",
		Short: "Accredit clients to issue credential types (needs a token with registry:admin)",
		Long: `Accredit a registered client to issue credentials of the given types.
The client then issues (POST /credentials/issue) under its own issuer DID,
did:web:<node host>:issuers:<client>, signed with keys the node holds for it;
the issuer record (DID, types, keys with their history) is on the trust
registry of the ledger, where every verifier checks it. The token comes
from TRUSTID_ACCESS_TOKEN (from ` + "`trustid token`" + `) or --token.`,
	}
	pf := c.PersistentFlags()
	pf.String("node", "http://127.0.0.1:8080", "base URL of the node")
	pf.Duration("timeout", 10*time.Second, "HTTP timeout")
	pf.String("token", "", "access token with registry:admin (prefer TRUSTID_ACCESS_TOKEN)")

	accredit := &cobra.Command{
		Use:   "accredit",
		Short: "Accredit a client for credential types (replaces its types; --suspend suspends it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := accessToken(cmd)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			client, _ := f.GetString("client")
			types, _ := f.GetStringSlice("types")
			name, _ := f.GetString("name")
			suspend, _ := f.GetBool("suspend")
			body := map[string]any{"client_id": client, "types": types}
			if name != "" {
				body["name"] = name
			}
			if suspend {
				body["suspended"] = true
			}
			return vcPostPrint(cmd, "/v1/admin/issuers", tok, body, http.StatusOK)
		},
	}
	af := accredit.Flags()
	af.String("client", "", "client_id of a registered client")
	af.StringSlice("types", nil, "credential types (or SD-JWT VC vct values), comma-separated, e.g. ResidenceCredential")
	af.String("name", "", "name in the registry (default: the client's name)")
	af.Bool("suspend", false, "suspend the issuer: what it issued stops verifying, and it issues nothing")

	show := &cobra.Command{
		Use:   "show CLIENT",
		Short: "Show a client's issuer record as the node's registry copy has it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := accessToken(cmd)
			if err != nil {
				return err
			}
			node, _ := cmd.Flags().GetString("node")
			timeout, _ := cmd.Flags().GetDuration("timeout")
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(node, "/")+"/v1/admin/issuers/"+url.PathEscape(args[0]), nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if err != nil {
				return err
			}
			printVCJSON(cmd, out)
			if resp.StatusCode != http.StatusOK {
				return newNodeError(resp.StatusCode, out)
			}
			return nil
		},
	}
	c.AddCommand(accredit, show)
	return c
}
