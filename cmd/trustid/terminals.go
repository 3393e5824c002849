package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/registry"
)

// terminalsFile is where an older node kept the terminal registry in the
// data directory; a node imports it into the ledger once.
const terminalsFile = "terminals.json"

// cliTerminals is the terminal registry as the `trustid terminals`
// commands use it: read from and written to the ledger directly.
type cliTerminals struct {
	*registry.Terminals
	l ledger.Ledger
}

func (c cliTerminals) Close() error { return c.l.Close() }

// openTerminals opens the registry on the ledger, acting as the province
// of --region.
func openTerminals(cmd *cobra.Command) (cliTerminals, error) {
	as, _ := cmd.Flags().GetString("as-region")
	if as == "" {
		r, _ := cmd.Flags().GetString("region")
		if len(r) != 6 {
			return cliTerminals{}, fmt.Errorf("--region %q: want a six-digit GB/T 2260 code", r)
		}
		as = r[:2] + "0000"
	}
	l, err := openRegistryLedger(cmd, as)
	if err != nil {
		return cliTerminals{}, err
	}
	return cliTerminals{registry.NewTerminals(ledger.Client{L: l}, nil, as), l}, nil
}

// importTerminals registers on the ledger every terminal of a
// terminals.json file not registered yet, in its state (a revoked one is
// registered revoked, in one transaction), and counts those added and
// those kept. A terminal the file lists as revoked that the region's
// registry holds active (an import an older node stopped between
// registering and revoking it) is revoked, so a retried import ends with
// every revoked terminal revoked.
func importTerminals(ctx context.Context, reg identity.TerminalRegistry, path string) (added, kept int, err error) {
	raw, err := readLimitedFile(path, 4<<20)
	if err != nil {
		return 0, 0, err
	}
	ts, err := identity.ParseTerminalsFile(raw)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	for _, t := range ts {
		switch err := reg.Add(ctx, t); {
		case err == nil:
			added++
			continue
		case !errors.Is(err, identity.ErrTerminalExists):
			return added, kept, fmt.Errorf("%s: terminal %s: %w", path, t.ID, err)
		}
		kept++
		if t.State != identity.TerminalRevoked {
			continue
		}
		// Unknown here: another region's, which this node does not trust.
		switch got, err := reg.Terminal(ctx, t.ID); {
		case errors.Is(err, identity.ErrUnknownTerminal):
		case err != nil:
			return added, kept, fmt.Errorf("%s: terminal %s: %w", path, t.ID, err)
		case got.State == identity.TerminalActive:
			if err := reg.Revoke(ctx, t.ID, t.Revoked); err != nil && !errors.Is(err, identity.ErrTerminalRevoked) {
				return added, kept, fmt.Errorf("%s: terminal %s: %w", path, t.ID, err)
			}
		}
	}
	return added, kept, nil
}

func newTerminalsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "terminals",
		Short: "Manage the registry of accredited verification terminals",
		Long: `Manage the registry of accredited verification terminals: the counter
devices and kiosks whose signed attestations (face match, ID card chip
read) raise an enrollment to assurance level L4. The registry is
on the ledger: these commands write to it as the administrator of --region's
province, like ` + "`trustid clients`" + ` (Fabric: the --fabric-* identity; embedded: the
admin socket of the node serving on --data, or the ledger file when no node
runs). Every instance sees a change when its ledger view applies the block;
a revoked terminal's attestations are refused from then on.`,
	}
	pf := cmd.PersistentFlags()
	pf.String("region", "310000", "GB/T 2260 code: where a new terminal is installed (e.g. 310104); its province (310000) is the region acted as")
	pf.String("as-region", "", "the region to act as (its administrator; default: the province of --region)")
	addLedgerConnFlags(pf)

	add := &cobra.Command{
		Use:   "add",
		Short: "Register a terminal from its public key (PEM, SM2 or P-256)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			id, _ := f.GetString("id")
			name, _ := f.GetString("name")
			region, _ := f.GetString("region")
			keyFile, _ := f.GetString("public-key")
			if keyFile == "" {
				return errors.New("--public-key is required")
			}
			pem, err := readLimitedFile(keyFile, 64<<10)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			pub, err := gm.ParsePublicKeyPEM(pem)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			t, err := identity.NewTerminal(id, name, region, pub, time.Now())
			if err != nil {
				return err
			}
			reg, err := openTerminals(cmd)
			if err != nil {
				return err
			}
			defer reg.Close()
			if err := reg.Add(cmd.Context(), t); err != nil {
				return err
			}
			return printResult(cmd, map[string]string{"id": t.ID, "alg": t.Alg(), "region": t.Region}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "registered terminal %s (%s, region %s)\n", t.ID, t.Alg(), t.Region)
				return err
			})
		},
	}
	af := add.Flags()
	af.String("id", "", "terminal ID (default: t- and the start of the key's thumbprint)")
	af.String("name", "", "description, e.g. the service centre and counter")
	af.String("public-key", "", "PEM file with the terminal's public key (SM2 or P-256)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List registered terminals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := openTerminals(cmd)
			if err != nil {
				return err
			}
			defer reg.Close()
			ts, err := reg.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON || jsonOutput(cmd) {
				type termJSON struct {
					ID      string `json:"id"`
					Name    string `json:"name"`
					Region  string `json:"region"`
					Alg     string `json:"alg"`
					State   string `json:"state"`
					Created string `json:"created"`
					Revoked string `json:"revoked,omitempty"`
				}
				out := make([]termJSON, 0, len(ts))
				for _, t := range ts {
					tj := termJSON{ID: t.ID, Name: t.Name, Region: t.Region, Alg: t.Alg(), State: string(t.State), Created: day(t.Created)}
					if !t.Revoked.IsZero() {
						tj.Revoked = day(t.Revoked)
					}
					out = append(out, tj)
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetEscapeHTML(false)
				return enc.Encode(out)
			}
			var tab table
			tab.row("ID", "NAME", "REGION", "ALG", "STATE", "CREATED", "REVOKED")
			for _, t := range ts {
				tab.row(t.ID, t.Name, t.Region, t.Alg(), string(t.State), day(t.Created), day(t.Revoked))
			}
			return tab.write(cmd.OutOrStdout())
		},
	}
	list.Flags().Bool("json", false, "print JSON (the same as -o json)")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a terminal: its attestations are refused from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := openTerminals(cmd)
			if err != nil {
				return err
			}
			defer reg.Close()
			if err := reg.Revoke(cmd.Context(), args[0], time.Now()); err != nil {
				return err
			}
			return printResult(cmd, map[string]string{"id": args[0], "state": string(identity.TerminalRevoked)}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "revoked terminal %s\n", args[0])
				return err
			})
		},
	}
	cmd.AddCommand(add, list, revoke)
	return cmd
}
