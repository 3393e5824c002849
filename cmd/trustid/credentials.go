package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/atomicfile"
)

// statusDir holds the node's status lists in the data directory.
const statusDir = "status"

// mountCredentials returns the mount function of the verifiable
// credential routes: the issuer (the node's keys, status lists in
// data/status), and a verifier that resolves the node's own keys and
// lists locally and everyone else's over HTTPS.
//
// Accreditation comes from the trust registry on the node's ledger: the
// issuer signs for the clients an operator accredited (their issuer
// records written through the ledger client, their keys in the keystore),
// and the verifier takes accredited issuers' keys and accreditations from
// the ledger view, offline.
//
// With the node's ledger (mounted before), every status change and each
// list's new head go to the ledger outbox (replayed from the lists'
// journals before serving, retried every 10 s after a failed hand-off),
// and lists fetched from other nodes must match the heads their regions
// anchored (the node's ledger view).
func mountCredentials(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(srv *api.Server, n *node) error {
		st, err := statuslist.OpenFileStore(filepath.Join(n.dataDir, statusDir), statuslist.FileStoreOptions{})
		if err != nil {
			return fmt.Errorf("credentials: %w", err)
		}
		if rec := st.IndexRecovery(); rec.TornBytes > 0 {
			n.log.Warn("status index: cut a torn record left by a crash", "records", rec.Records, "torn_bytes", rec.TornBytes)
		}
		cfg := vc.IssuerConfig{BaseURL: n.issuer, Keys: n.keys, Status: st}
		nl, anchored := ledgerOf(n)
		var registry vc.IssuerRegistry
		if anchored {
			registry = nl.View
			cfg.Registry, cfg.Registrar, cfg.IssuerKeys = nl.View, nl.Client, n.keys
			cfg.Anchor = nl.Outbox
			cfg.OnAnchorError = func(err error) {
				n.log.Error("status change not handed to the ledger outbox; kept in the list journal and retried", slog.Any("error", err))
			}
		}
		is, err := vc.NewIssuer(cfg)
		if err != nil {
			return fmt.Errorf("credentials: --issuer: %w", err)
		}
		if anchored {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			changes, heads, err := is.ReplayAnchors(ctx)
			if err != nil {
				return fmt.Errorf("credentials: status anchoring: %w", err)
			}
			n.log.Info("status lists handed to the ledger outbox", slog.Int("journal_changes", changes), slog.Int("heads", heads))
			go is.RunAnchoring(ctx, 10*time.Second)
		}
		n.credIssuer, n.statusLists = is, st // for enrollment and QR status
		client := &http.Client{Timeout: 5 * time.Second}
		res := &vc.Resolver{Client: client, Local: is.Local()}
		listVerifier, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Resolver: res, Trust: vc.AnyIssuer{}, SkipStatus: true})
		if err != nil {
			return err
		}
		remote := &vc.HTTPStatusSource{Client: client, Verifier: listVerifier, Resolver: res, Algorithms: gm.JWTAlgorithms}
		if anchored {
			remote.Anchors = nl.View
		}
		checker := vc.NewStatusChecker(&vc.LocalStatusSource{BaseURL: n.issuer, Store: st, Remote: remote}, 5*time.Minute, nil)
		v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Status: checker, Leeway: 30 * time.Second,
			Resolver: &vc.RegistryResolver{Registry: registry, Next: res},
			Trust:    &vc.RegistryTrust{Local: is.Local(), Registry: registry}})
		if err != nil {
			return err
		}
		// The accreditation routes check clients in the registry mountAuth
		// reads (clients.json, re-read when it changes).
		clients, err := auth.OpenFileStore(filepath.Join(n.dataDir, clientsFile), auth.FileStoreOptions{
			OnReloadError: func(err error) { n.log.Error("credentials: client registry reload failed", slog.Any("error", err)) },
		})
		if err != nil {
			return fmt.Errorf("credentials: %w", err)
		}
		n.log.Info("credential routes mounted", "did", is.DID(), "status_lists", len(st.Lists()))
		return srv.MountCredentials(api.CredentialsConfig{Issuer: is, Verifier: v, Limiter: n.store, Clients: clients})
	}
}

func newVCCmd() *cobra.Command {
	c := &cobra.Command{Use: "vc", Short: "Issue, present, verify and revoke verifiable credentials through a node"}
	c.PersistentFlags().String("node", "http://127.0.0.1:8080", "base URL of the node")
	c.PersistentFlags().Duration("timeout", 10*time.Second, "HTTP timeout")
	c.AddCommand(newVCIssueCmd(), newVCVerifyCmd(), newVCStatusCmd(), newVCPresentCmd(), newVCKeygenCmd())
	return c
}

// maxVCInput bounds a credential file or token read by the CLI.
const maxVCInput = vc.MaxDocument + 16<<10

// readInput reads a file, "-" for stdin, or (when inline) the argument
// itself if it is not a file.
func readInput(cmd *cobra.Command, arg string) ([]byte, error) {
	var r io.Reader
	if arg == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(arg)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxVCInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxVCInput {
		return nil, fmt.Errorf("%s: larger than %d bytes", arg, maxVCInput)
	}
	return bytes.TrimSpace(b), nil
}

// vcPost sends a JSON body to the node and returns the status and body.
func vcPost(cmd *cobra.Command, path, token string, body any) (int, []byte, error) {
	node, _ := cmd.Flags().GetString("node")
	timeout, _ := cmd.Flags().GetDuration("timeout")
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(node, "/")+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, out, err
}

// vcPostPrint posts body to path on the node, prints the answer, and
// exits with status 1 unless the node answered with status want.
func vcPostPrint(cmd *cobra.Command, path, token string, body any, want int) error {
	code, resp, err := vcPost(cmd, path, token, body)
	if err != nil {
		return err
	}
	printVCJSON(cmd, resp)
	if code != want {
		return exitCode(1)
	}
	return nil
}

func printVCJSON(cmd *cobra.Command, raw []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(buf.String()))
}

func accessToken(cmd *cobra.Command) (string, error) {
	tok, _ := cmd.Flags().GetString("token")
	if tok == "" {
		tok = os.Getenv("TRUSTID_ACCESS_TOKEN")
	}
	if tok == "" {
		return "", errors.New("an access token is required: set TRUSTID_ACCESS_TOKEN (from `trustid token`) or --token")
	}
	return tok, nil
}

func newVCIssueCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "issue CREDENTIAL.json|-",
		Short: "Have the node issue a credential (needs a token with credentials:issue and an accreditation)",
		Long: `Send an unsigned credential to POST /credentials/issue and print the
response. The client must be accredited for the credential's type
(` + "`trustid issuers accredit`" + `); the node fills issuer (the client's issuer
DID), id and validFrom, attaches status entries and signs with the key it
holds for the client. With --raw only the token (vc+jwt or SD-JWT) is
printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := accessToken(cmd)
			if err != nil {
				return err
			}
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			cred, err := vc.ParseJSONObject(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			f := cmd.Flags()
			format, _ := f.GetString("format")
			alg, _ := f.GetString("alg")
			opts := map[string]any{"format": format, "algorithm": alg}
			if hk, _ := f.GetString("holder-key"); hk != "" {
				j, err := holderJWK(hk)
				if err != nil {
					return err
				}
				opts["holderKey"] = j
			}
			code, body, err := vcPost(cmd, "/credentials/issue", tok, map[string]any{"credential": cred, "options": opts})
			if err != nil {
				return err
			}
			if code != http.StatusCreated {
				printVCJSON(cmd, body)
				return exitCode(1)
			}
			if raw, _ := f.GetBool("raw"); raw {
				var resp struct {
					VerifiableCredential struct{ ID string } `json:"verifiableCredential"`
					CredentialID         string              `json:"credentialId"`
				}
				json.Unmarshal(body, &resp)
				_, token, err := vc.ParseDataURL(resp.VerifiableCredential.ID)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "credential id:", resp.CredentialID)
				fmt.Fprintln(cmd.OutOrStdout(), token)
				return nil
			}
			printVCJSON(cmd, body)
			return nil
		},
	}
	f := cmd.Flags()
	f.String("token", "", "access token (prefer TRUSTID_ACCESS_TOKEN)")
	f.String("format", "vc+jwt", "vc+jwt or sd-jwt")
	f.String("alg", "", "signing algorithm: SM2 (node default), ES256 or EdDSA")
	f.String("holder-key", "", "holder private key PEM (from `trustid vc keygen`) to bind an SD-JWT VC to (cnf)")
	f.Bool("raw", false, "print only the token")
	return cmd
}

// holderJWK reads a private key PEM and returns its public JWK.
func holderJWK(path string) (gm.JWK, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return gm.JWK{}, err
	}
	k, err := gm.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		return gm.JWK{}, fmt.Errorf("%s: %w", path, err)
	}
	return gm.NewJWK(k.Public(), "")
}

func newVCVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify FILE|-",
		Short: "Have the node verify a credential or presentation; exits 1 unless verified",
		Long: `Send a credential (vc+jwt, SD-JWT, a data: URL or an enveloped credential
JSON) to POST /credentials/verify, or with --presentation a presentation
(vp+jwt or an SD-JWT with key binding) to POST /presentations/verify with
--challenge and --domain. The node's answer is printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			var input any = string(data)
			if len(data) > 0 && data[0] == '{' {
				obj, err := vc.ParseJSONObject(data)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				if env, ok := obj["verifiableCredential"]; ok { // an issue response
					input = env
				} else {
					input = obj
				}
			}
			f := cmd.Flags()
			path, body := "/credentials/verify", map[string]any{"verifiableCredential": input}
			if p, _ := f.GetBool("presentation"); p {
				challenge, _ := f.GetString("challenge")
				domain, _ := f.GetString("domain")
				if s, ok := input.(string); ok && strings.Contains(s, "~") && !strings.HasPrefix(s, "data:") {
					input = "data:" + vc.MediaTypeSDJWT + "," + s
				}
				path, body = "/presentations/verify", map[string]any{"verifiablePresentation": input,
					"options": map[string]any{"challenge": challenge, "domain": domain}}
			}
			return vcPostPrint(cmd, path, "", body, http.StatusOK)
		},
	}
	f := cmd.Flags()
	f.Bool("presentation", false, "verify a presentation")
	f.String("challenge", "", "presentation challenge (nonce) the holder answered")
	f.String("domain", "", "presentation domain (audience)")
	return cmd
}

func newVCStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status CREDENTIAL-ID revoke|suspend|reinstate",
		Short: "Revoke, suspend or reinstate a credential (needs a token with status:write)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains([]string{vc.ActionRevoke, vc.ActionSuspend, vc.ActionReinstate}, args[1]) {
				return fmt.Errorf("action %q: want revoke, suspend or reinstate", args[1])
			}
			tok, err := accessToken(cmd)
			if err != nil {
				return err
			}
			return vcPostPrint(cmd, "/v1/credentials/"+url.PathEscape(args[0])+"/status", tok, map[string]any{"action": args[1]}, http.StatusOK)
		},
	}
	cmd.Flags().String("token", "", "access token (prefer TRUSTID_ACCESS_TOKEN)")
	return cmd
}

func newVCPresentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "present SD-JWT-FILE|-",
		Short: "Holder side: present an SD-JWT VC disclosing only the named claims, with a key binding JWT",
		Long: `Read an SD-JWT VC (as printed by vc issue --format sd-jwt --raw), keep
only the disclosures of the claims named by --disclose (for array
elements: name the array's value), and sign a KB-JWT for --aud and
--nonce with --holder-key. Prints the presentation. Runs locally.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			s := string(data)
			if _, tok, err := vc.ParseDataURL(s); err == nil {
				s = tok
			}
			sd, err := sdjwt.Split(s)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			names, _ := f.GetStringSlice("disclose")
			keyFile, _ := f.GetString("holder-key")
			aud, _ := f.GetString("aud")
			nonce, _ := f.GetString("nonce")
			var kb *sdjwt.KeyBinding
			if keyFile != "" {
				pemBytes, err := os.ReadFile(keyFile)
				if err != nil {
					return err
				}
				k, err := gm.ParsePrivateKeyPEM(pemBytes)
				if err != nil {
					return fmt.Errorf("%s: %w", keyFile, err)
				}
				if aud == "" || nonce == "" {
					return errors.New("--aud and --nonce are required with --holder-key")
				}
				kb = &sdjwt.KeyBinding{Signer: k, Audience: aud, Nonce: nonce, IssuedAt: time.Now()}
			}
			pres, err := sd.Present(func(d *sdjwt.Disclosure) bool {
				if d.Array {
					s, _ := d.Value.(string)
					return slices.Contains(names, s)
				}
				return slices.Contains(names, d.Name)
			}, kb)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), pres)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSlice("disclose", nil, "claim names to disclose (comma-separated)")
	f.String("holder-key", "", "holder private key PEM for the KB-JWT")
	f.String("aud", "", "verifier audience (the domain)")
	f.String("nonce", "", "verifier nonce (the challenge)")
	return cmd
}

func newVCKeygenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Holder side: make a holder key (PKCS#8 PEM) and print its public JWK and did:key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			alg, _ := f.GetString("alg")
			out, _ := f.GetString("out")
			if out == "" {
				return errors.New("--out is required")
			}
			k, err := gm.GenerateSigner(alg, rand.Reader)
			if err != nil {
				return err
			}
			pemBytes, err := gm.MarshalPrivateKeyPEM(k)
			if err != nil {
				return err
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists; not overwriting a key", out)
			}
			if err := atomicfile.WriteFile(out, pemBytes, 0o600); err != nil {
				return err
			}
			j, _ := gm.NewJWK(k.Public(), "")
			did, _ := vc.DIDKey(k.Public())
			jb, _ := json.Marshal(j)
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\njwk %s\ndid %s\n", out, jb, did)
			return nil
		},
	}
	cmd.Flags().String("alg", gm.AlgES256, "SM2, ES256 or EdDSA")
	cmd.Flags().String("out", "", "private key file to write")
	return cmd
}
