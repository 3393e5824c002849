package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/atomicfile"
	"github.com/trustid-cn/trustid/internal/progress"
)

// clientView is a client as the CLI prints it: the secret hash left out,
// a generated secret shown once.
type clientView struct {
	auth.Client
	ClientSecret string `json:"client_secret,omitempty"`
}

func printClient(w io.Writer, c auth.Client, secret string) error {
	c.SecretHash = ""
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(clientView{Client: c, ClientSecret: secret})
}

func newClientsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Manage the relying parties registered on the ledger",
		Long: `Manage the relying parties (services) that may get access tokens from the
region's nodes.

The registry is on the ledger: these commands write to it as --region's
administrator. With Fabric they connect with the --fabric-* identity (the
region admin's). With the embedded ledger they go through the admin socket
of the node serving on --data (DATA/admin.sock, mode 0600), or open
DATA/ledger.db directly when no node runs. Every instance of the region sees
a change as soon as its ledger view applies the block (embedded: at commit;
Fabric: one block). JSON files are only an import/export format.`,
	}
	cmd.AddCommand(newClientsAddCmd(), newClientsListCmd(), newClientsShowCmd(), newClientsUpdateCmd(),
		newClientsRotateKeyCmd(), newClientsDisableCmd(), newClientsEnableCmd(), newClientsKeygenCmd(),
		newClientsImportCmd(), newClientsExportCmd())
	// Every subcommand but keygen (local files only) reaches the registry
	// on the ledger; keygen accepts the flags as before, hidden from its
	// help.
	for _, sub := range cmd.Commands() {
		if sub.Name() != "keygen" {
			addClientsRegistryFlags(sub.Flags())
		} else {
			addHiddenFlags(sub.Flags(), addClientsRegistryFlags)
		}
	}
	return cmd
}

// addClientsRegistryFlags adds the flags of the clients subcommands that
// read or write the registry on the ledger.
func addClientsRegistryFlags(f *pflag.FlagSet) {
	f.String("region", "310000", "the region to act as (its administrator), which is also a new client's home region")
	addLedgerConnFlags(f)
}

func newClientsAddCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Register a client (private_key_jwt with --jwks-file, or client_secret_basic with --secret)",
		Args:  oneFile(cobra.NoArgs, "jwks-file"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			reg := auth.Registration{}
			reg.ID, _ = f.GetString("id")
			reg.Name, _ = f.GetString("name")
			reg.Region, _ = f.GetString("home-region")
			if reg.Region == "" {
				reg.Region, _ = f.GetString("region")
			}
			reg.Scopes, _ = f.GetStringSlice("scopes")
			reg.GrantTypes, _ = f.GetStringSlice("grant-types")
			reg.Claims, _ = f.GetStringSlice("claims")
			reg.SectorIdentifier, _ = f.GetString("sector")
			reg.RedirectURIs, _ = f.GetStringSlice("redirect-uri")
			reg.PostLogoutRedirectURIs, _ = f.GetStringSlice("post-logout-redirect-uri")
			reg.Resources, _ = f.GetStringSlice("resource")
			reg.IDTokenAlg, _ = f.GetString("id-token-alg")
			reg.AccessTokenAlg, _ = f.GetString("token-alg")
			jwksFile, _ := f.GetString("jwks-file")
			secret, _ := f.GetBool("secret")
			switch {
			case jwksFile != "" && secret:
				return errors.New("give either --jwks-file (private_key_jwt) or --secret (client_secret_basic), not both")
			case jwksFile != "":
				set, err := readJWKSFile(jwksFile)
				if err != nil {
					return err
				}
				reg.JWKS = &set
				reg.AuthMethod = auth.AuthPrivateKeyJWT
			case secret:
				reg.AuthMethod = auth.AuthClientSecretBasic
			default:
				return errors.New("give --jwks-file with the client's public keys (see `trustid clients keygen`), or --secret for a client_secret")
			}
			c, sec, err := auth.NewClient(reg, nowUTC(), rand.Reader)
			if errors.Is(err, auth.ErrInvalidClientMetadata) {
				return usageError{err} // a flag's value was refused
			}
			if err != nil {
				return err
			}
			store, err := openClients(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.Create(cmd.Context(), c); err != nil {
				return err
			}
			if sec != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), "client_secret is shown once, below; store it now (the ledger keeps only a salted verifier)")
			}
			return printClient(cmd.OutOrStdout(), c, sec)
		},
	}
	f := cmd.Flags()
	f.String("id", "", "client_id (default: generated); 3-64 of A-Z a-z 0-9 . _ -")
	f.String("name", "", "display name (required)")
	f.StringSlice("scopes", nil, "allowed scopes, comma-separated: "+strings.Join(auth.Scopes, ", "))
	f.StringSlice("grant-types", nil, "allowed grant types (default client_credentials)")
	f.StringSlice("claims", nil, "identity claims the client may receive")
	f.String("home-region", "", "the client's home region (default --region; the ledger accepts only the region that writes)")
	f.String("sector", "", "sector identifier host for pairwise subject IDs")
	f.StringSlice("redirect-uri", nil, "redirect URIs for user login")
	f.StringSlice("post-logout-redirect-uri", nil, "where users may be sent after logout")
	f.StringSlice("resource", nil, "the URI of an API the client serves (RFC 8707 resource), for which other clients may get tokens that name it alone; repeat for more")
	f.String("id-token-alg", "", "ID token algorithm for user login: SM2 (default) or ES256 (for standard OpenID Connect libraries)")
	f.String("token-alg", "", "access token algorithm: SM2 (default) or ES256 (for resource servers on standard JOSE libraries)")
	f.String("jwks-file", "", "JWK set with the client's public keys (SM2 or P-256): private_key_jwt")
	f.Bool("secret", false, "generate a client_secret (printed once): client_secret_basic")
	return cmd
}

// updateFlag is a flag of `clients update`, named as `clients add`
// names it, with the patch field it sets: a string (str) or a list
// (list, a StringSlice flag).
type updateFlag struct {
	name  string
	str   func(*auth.ClientPatch) **string
	list  func(*auth.ClientPatch) **[]string
	clear bool // --clear may name it
	usage string
}

// updateFlags are the flags of `clients update`.
var updateFlags = []updateFlag{
	{name: "name", str: func(p *auth.ClientPatch) **string { return &p.Name }, usage: "display name"},
	{name: "scopes", list: func(p *auth.ClientPatch) **[]string { return &p.Scopes },
		usage: "allowed scopes, comma-separated, replacing the client's: " + strings.Join(auth.Scopes, ", ")},
	{name: "grant-types", list: func(p *auth.ClientPatch) **[]string { return &p.GrantTypes }, clear: true,
		usage: "allowed grant types, replacing the client's"},
	{name: "claims", list: func(p *auth.ClientPatch) **[]string { return &p.Claims }, clear: true,
		usage: "identity claims the client may receive, replacing the client's"},
	{name: "redirect-uri", list: func(p *auth.ClientPatch) **[]string { return &p.RedirectURIs }, clear: true,
		usage: "redirect URIs for user login, replacing the client's; repeat for more"},
	{name: "post-logout-redirect-uri", list: func(p *auth.ClientPatch) **[]string { return &p.PostLogoutRedirectURIs }, clear: true,
		usage: "where users may be sent after logout, replacing the client's; repeat for more"},
	{name: "resource", list: func(p *auth.ClientPatch) **[]string { return &p.Resources }, clear: true,
		usage: "the URI of an API the client serves (RFC 8707 resource), replacing the client's; repeat for more"},
	{name: "id-token-alg", str: func(p *auth.ClientPatch) **string { return &p.IDTokenAlg }, clear: true,
		usage: "ID token algorithm for user login: SM2 or ES256"},
	{name: "token-alg", str: func(p *auth.ClientPatch) **string { return &p.AccessTokenAlg }, clear: true,
		usage: "access token algorithm: SM2 or ES256"},
}

func newClientsUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID",
		Short: "Change a client's name, scopes, grant types, claims, redirect URIs, APIs (--resource) or token algorithms",
		Long: `Change a registered client's metadata: each flag given replaces the
client's value (a list flag the whole list), --clear FLAG removes one (a
client without grant types has client_credentials; without an algorithm,
SM2), the others are kept. A flag given empty is refused: --clear alone
removes a value, and the name and scopes can only be replaced. The client is checked as a new one is, and the
ledger's contract holds its APIs to the rules of a registration: an API
another active party holds is refused, one dropped is freed.

The client ID, home region, authentication method, secret and sector
identifier cannot change (register a new client); keys change with
rotate-key, the state with disable and enable.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := clientPatchOf(cmd.Flags())
			if err != nil {
				return err
			}
			c, err := updateClient(cmd, args[0], func(c *auth.Client) error {
				p.Apply(c)
				return nil
			})
			if errors.Is(err, auth.ErrInvalidClientMetadata) {
				return usageError{err} // a flag's value was refused
			}
			if err != nil {
				return err
			}
			return printClient(cmd.OutOrStdout(), c, "")
		},
	}
	f := cmd.Flags()
	var clearable []string
	for _, u := range updateFlags {
		if u.list != nil {
			f.StringSlice(u.name, nil, u.usage)
		} else {
			f.String(u.name, "", u.usage)
		}
		if u.clear {
			clearable = append(clearable, u.name)
		}
	}
	f.StringSlice("clear", nil, "remove a value: one of "+strings.Join(clearable, ", ")+"; repeat for more")
	return cmd
}

// clientPatchOf reads the patch of `clients update` from its flags.
func clientPatchOf(f *pflag.FlagSet) (auth.ClientPatch, error) {
	var p auth.ClientPatch
	clears, _ := f.GetStringSlice("clear")
	for _, name := range clears {
		i := slices.IndexFunc(updateFlags, func(u updateFlag) bool { return u.name == name })
		if i < 0 || !updateFlags[i].clear {
			return p, usageError{fmt.Errorf("--clear %q: not a value that can be removed", name)}
		}
		if f.Changed(name) {
			return p, usageError{fmt.Errorf("--clear %s and --%s: give one", name, name)}
		}
	}
	for _, u := range updateFlags {
		cleared := slices.Contains(clears, u.name)
		if !f.Changed(u.name) && !cleared {
			continue
		}
		// A value given empty is refused, a string as a list: --clear
		// alone removes one, and only where it may.
		var empty bool
		if u.str != nil {
			v, _ := f.GetString(u.name)
			*u.str(&p), empty = &v, v == ""
		} else {
			v, _ := f.GetStringSlice(u.name)
			*u.list(&p), empty = &v, len(v) == 0
		}
		switch {
		case !empty || cleared:
		case u.clear:
			return p, usageError{fmt.Errorf("--%s is empty: to remove the client's, give --clear %s", u.name, u.name)}
		default:
			return p, usageError{fmt.Errorf("--%s is empty: a client's %s can be replaced but not removed", u.name, u.name)}
		}
	}
	if p.Empty() {
		return p, usageError{errors.New("give at least one value to change (see --help)")}
	}
	return p, nil
}

func readJWKSFile(path string) (gm.JWKS, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return gm.JWKS{}, err
	}
	set, err := auth.ParseClientJWKS(data)
	if err != nil {
		return gm.JWKS{}, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// onClient opens the registry and runs f on client id; its error names
// the client.
func onClient(cmd *cobra.Command, id string, f func(context.Context, cliClients) (auth.Client, error)) (auth.Client, error) {
	store, err := openClients(cmd)
	if err != nil {
		return auth.Client{}, err
	}
	defer store.Close()
	c, err := f(cmd.Context(), store)
	if err != nil {
		return auth.Client{}, fmt.Errorf("%s: %w", id, err)
	}
	return c, nil
}

// updateClient changes client id on the registry with change.
func updateClient(cmd *cobra.Command, id string, change func(*auth.Client) error) (auth.Client, error) {
	return onClient(cmd, id, func(ctx context.Context, store cliClients) (auth.Client, error) {
		return store.Update(ctx, id, change)
	})
}

// registeredClients reads every client of the registry on the ledger.
func registeredClients(cmd *cobra.Command) ([]auth.Client, error) {
	store, err := openClients(cmd)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	return store.List(cmd.Context())
}

func newClientsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List registered clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := registeredClients(cmd)
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				out := make([]clientView, 0, len(cs))
				for _, c := range cs {
					c.SecretHash = ""
					out = append(out, clientView{Client: c})
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			var t table
			t.row("CLIENT_ID", "NAME", "REGION", "AUTH", "KEYS", "SCOPES", "STATE")
			for _, c := range cs {
				state := "enabled"
				if c.Disabled {
					state = "disabled"
				}
				kids := make([]string, len(c.JWKS.Keys))
				for i, k := range c.JWKS.Keys {
					kids[i] = k.Kid
				}
				t.row(c.ID, c.Name, c.Region, c.AuthMethod, orDash(strings.Join(kids, ",")), strings.Join(c.Scopes, ","), state)
			}
			return t.write(cmd.OutOrStdout())
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newClientsShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show CLIENT_ID",
		Short: "Show one client as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := onClient(cmd, args[0], func(ctx context.Context, store cliClients) (auth.Client, error) {
				return store.Get(ctx, args[0])
			})
			if err != nil {
				return err
			}
			return printClient(cmd.OutOrStdout(), c, "")
		},
	}
}

func newClientsRotateKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate-key CLIENT_ID",
		Short: "Add the keys of --add-jwks-file, or retire the key --retire KID",
		Long: `Rotate a private_key_jwt client's keys in two steps: first add the new key
(--add-jwks-file, as written by ` + "`trustid clients keygen`" + `), move the client to it,
then retire the old one (--retire KID). Assertions signed with a retired key
are refused.`,
		Args: oneFile(cobra.ExactArgs(1), "add-jwks-file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			addFile, _ := cmd.Flags().GetString("add-jwks-file")
			retire, _ := cmd.Flags().GetString("retire")
			if (addFile == "") == (retire == "") {
				return errors.New("give exactly one of --add-jwks-file or --retire")
			}
			var add []gm.JWK
			if addFile != "" {
				set, err := readJWKSFile(addFile)
				if err != nil {
					return err
				}
				add = set.Keys
			}
			c, err := updateClient(cmd, args[0], func(c *auth.Client) error {
				for _, k := range add {
					if err := c.AddKey(k); err != nil {
						return err
					}
				}
				if retire != "" {
					return c.RetireKey(retire)
				}
				return nil
			})
			if err != nil {
				return err
			}
			return printClient(cmd.OutOrStdout(), c, "")
		},
	}
	cmd.Flags().String("add-jwks-file", "", "JWK set file whose keys to add")
	cmd.Flags().String("retire", "", "kid of the key to retire")
	return cmd
}

func newClientsDisableCmd() *cobra.Command {
	return newClientsSwitchCmd("disable", "Disable a client: it cannot get tokens, and its tokens stop working on every instance", true)
}

func newClientsEnableCmd() *cobra.Command {
	return newClientsSwitchCmd("enable", "Enable a disabled client again", false)
}

func newClientsSwitchCmd(verb, short string, disabled bool) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " CLIENT_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := updateClient(cmd, args[0], func(c *auth.Client) error {
				c.Disabled = disabled
				return nil
			})
			if err != nil {
				return err
			}
			return printResult(cmd, map[string]any{"client_id": c.ID, "disabled": c.Disabled}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%sd %s\n", verb, c.ID)
				return err
			})
		},
	}
}

func newClientsImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Register on the ledger every client of a clients.json file (trustid-clients/1) not registered yet",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := openClients(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			var p importProgress
			stop := func() {}
			if !jsonOutput(cmd) {
				stop = p.start(cmd.ErrOrStderr(), progress.Options{}).Stop
			}
			added, kept, err := importClients(cmd.Context(), store, args[0], &p)
			stop()
			if err != nil {
				return err
			}
			return printResult(cmd, map[string]int{"imported": added, "already_registered": kept}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "imported %d clients (%d already registered)\n", added, kept)
				return err
			})
		},
	}
}

func newClientsExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Print the registry as a clients.json file (trustid-clients/1), secret verifiers included",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := registeredClients(cmd)
			if err != nil {
				return err
			}
			out, err := auth.MarshalClientsFile(cs)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

func newClientsKeygenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make a client key pair: KID.key.pem (private, PKCS#8) and KID.jwks.json (public)",
		Long: `Make a key pair for a relying party. The kid is the key's RFC 7638 JWK
thumbprint. Register KID.jwks.json with the node (` + "`trustid clients add --jwks-file`" + `
or rotate-key --add-jwks-file) and keep KID.key.pem with the service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			alg, _ := cmd.Flags().GetString("alg")
			out, _ := cmd.Flags().GetString("out")
			if !slices.Contains(auth.AssertionAlgorithms, alg) {
				return fmt.Errorf("--alg must be one of %v", auth.AssertionAlgorithms)
			}
			signer, err := gm.GenerateSigner(alg, rand.Reader)
			if err != nil {
				return err
			}
			kid, err := auth.KeyID(signer.Public())
			if err != nil {
				return err
			}
			jwk, err := gm.NewJWK(signer.Public(), kid)
			if err != nil {
				return err
			}
			pemBytes, err := gm.MarshalPrivateKeyPEM(signer)
			if err != nil {
				return err
			}
			set, _ := json.MarshalIndent(gm.JWKS{Keys: []gm.JWK{jwk}}, "", "  ")
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			keyPath := filepath.Join(out, kid+".key.pem")
			jwksPath := filepath.Join(out, kid+".jwks.json")
			if _, err := os.Stat(keyPath); err == nil {
				return fmt.Errorf("%s exists", keyPath)
			}
			if err := atomicfile.WriteFile(keyPath, pemBytes, 0o600); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(jwksPath, append(set, '\n'), 0o644); err != nil {
				return err
			}
			return printResult(cmd, map[string]string{"kid": kid, "private_key": keyPath, "public_jwks": jwksPath}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "kid %s\nprivate key %s\npublic JWKS %s\n", kid, keyPath, jwksPath)
				return err
			})
		},
	}
	cmd.Flags().String("alg", gm.AlgSM2, "SM2 or ES256")
	cmd.Flags().String("out", ".", "directory to write the key files to")
	return cmd
}
