package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/api"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/cose"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/distatus"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/atomicfile"
	"github.com/trustid-cn/trustid/internal/retrylog"
	"github.com/trustid-cn/trustid/ledger"
)

// statusDir holds the node's status lists in the data directory.
const statusDir = "status"

// statusSpare is how many status entries of each purpose the node keeps
// allocated ahead (statuslist.FileStoreOptions.Spare): issuance and
// enrollment then take an entry without waiting for an fsync. A restart
// leaves at most this many of each purpose unused, out of 131,072 a list.
const statusSpare = 128

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
// With the node's ledger (mounted before), status is shared by the
// region's instances through it (openSharedStatus), and lists fetched
// from other nodes must match the heads their regions anchored (the
// node's ledger view).
func mountCredentials(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(srv *api.Server, n *node) error {
		nl, anchored := ledgerOf(n)
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		var st nodeStatus
		var own *statuslist.FileStore
		if anchored {
			shared, fs, err := openSharedStatus(ctx, cmd, n, nl)
			if err != nil {
				return fmt.Errorf("credentials: %w", err)
			}
			st, own = shared, fs
			// Ready once the lists followed from block 0 reach the
			// anchored heads: before, a revoked entry reads valid.
			srv.AddCheck("status_lists", func(context.Context) error { return shared.CaughtUp(nl.View) })
		} else {
			fs, err := statuslist.OpenFileStore(filepath.Join(n.dataDir, statusDir), statuslist.FileStoreOptions{Spare: statusSpare})
			if err != nil {
				return fmt.Errorf("credentials: %w", err)
			}
			st, own = fs, fs
		}
		if rec := own.IndexRecovery(); rec.TornBytes > 0 {
			n.log.Warn("status index: cut a torn record left by a crash", "records", rec.Records, "torn_bytes", rec.TornBytes)
		}
		cfg := issuer.Config{BaseURL: n.issuer, Keys: n.keys, Status: st, Formats: credentialFormats(), PresentFormats: presentationFormats(),
			ContextCheck: jsonld.CheckInlineContexts}
		var registry vc.IssuerRegistry
		if anchored {
			registry = nl.View
			cfg.Registry, cfg.Registrar, cfg.IssuerKeys, cfg.Region = nl.View, nl.Client, n.keys, n.region
			cfg.Instances = instancesOf(n, srv)
		}
		is, err := issuer.New(cfg)
		if err != nil {
			return fmt.Errorf("credentials: --issuer: %w", err)
		}
		n.credIssuer, n.statusLists = is, st // for enrollment and QR status
		// What the status lists take in memory: it grows by design with
		// allocation (a list per seven-eighths of a list of each purpose),
		// and the soak accounts for it apart from the rest of the heap.
		srv.Registerer().MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "trustid_status_lists", Help: "Status lists held in memory (the instance's own and, shared through the ledger, every list of the region)."},
				func() float64 { return float64(st.ListMemory().Lists) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "trustid_status_list_bytes", Help: "Bytes of the status lists' content held in memory (entries and allocation maps)."},
				func() float64 { return float64(st.ListMemory().Bytes) }))
		client := &http.Client{Timeout: 5 * time.Second}
		res := &vc.Resolver{Client: client, Local: is.Local()}
		if res.ControllerHosts, err = controllerHosts(cmd); err != nil {
			return fmt.Errorf("credentials: %w", err)
		}
		// Keys of the registry's regions and issuers come from the ledger
		// view (so other regions' credentials and status lists verify while
		// their nodes are down); anyone else's from did:web, but an issuer
		// the registry does not accredit, which the verification refuses
		// anyway, is refused before anything is fetched for it.
		trust := &vc.RegistryTrust{Local: is.Local(), Registry: registry}
		keys := &vc.RegistryResolver{Registry: registry, Next: res, Trust: trust}
		listVerifier, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTVerifyAlgorithms, Resolver: keys, Trust: vc.AnyIssuer{}, SkipStatus: true})
		if err != nil {
			return err
		}
		// Other nodes' lists: with a Data Integrity proof, else vc+cose,
		// else vc+jwt; in every form checked against the anchored head.
		diLists, err := dataintegrity.NewVerifier(dataintegrity.Config{Resolver: keys, Cryptosuites: dataintegrity.Cryptosuites(),
			Checker: dataintegrity.CheckWith(listVerifier.CheckCredential), Leeway: 30 * time.Second})
		if err != nil {
			return err
		}
		coseLists, err := cose.NewVerifier(listVerifier, coseVerifyAlgorithms)
		if err != nil {
			return err
		}
		remote := &vc.HTTPStatusSource{Client: client, Verifier: listVerifier, Resolver: keys, Algorithms: gm.JWTVerifyAlgorithms,
			Forms: []vc.StatusListForm{distatus.Form(diLists), coseLists.StatusListForm()}}
		if anchored {
			remote.Anchors = nl.View
			peer, err := peerClientOf(n, cmd)
			if err != nil {
				return fmt.Errorf("credentials: %w", err)
			}
			dir, err := directoryOf(n, cmd)
			if err != nil {
				return fmt.Errorf("credentials: %w", err)
			}
			remote.Fetch = regionStatusFetch(dir, client, peer)
		}
		// With the ledger, a list whose anchored head has not moved is kept
		// past its TTL while its node is unreachable (up to an hour), as
		// other regions' QR status lists are.
		checker := vc.NewStatusCheckerWith(&vc.LocalStatusSource{BaseURL: n.issuer, Store: st, Remote: remote},
			vc.StatusCheckerOptions{TTL: 5 * time.Minute, KeepAnchored: anchored})
		coseEnvelope, err := cose.EnvelopeVerifier(coseVerifyAlgorithms)
		if err != nil {
			return err
		}
		v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTVerifyAlgorithms, Status: checker, Leeway: 30 * time.Second, KeyTTL: -1,
			Resolver: keys, Trust: trust, ContextCheck: jsonld.CheckInlineContexts,
			Envelopes: map[string]vc.EnvelopeVerifier{cose.MediaTypeVC: coseEnvelope}})
		if err != nil {
			return err
		}
		coseV, err := cose.NewVerifier(v, coseVerifyAlgorithms)
		if err != nil {
			return err
		}
		// Data Integrity proofs: the same keys, and the same checks once a
		// proof holds (data model, validity, accreditation, status).
		div, err := dataintegrity.NewVerifier(dataintegrity.Config{Resolver: keys, Cryptosuites: dataintegrity.Cryptosuites(),
			Checker: dataintegrity.CheckWith(v.CheckCredential), Leeway: 30 * time.Second, MaxAge: vc.DefaultVPMaxAge})
		if err != nil {
			return err
		}
		// The accreditation routes check clients in the registry on the
		// ledger, as mountAuth reads it.
		if !anchored {
			return errors.New("credentials: the client registry is on the ledger; no ledger is mounted")
		}
		clients := nl.Clients
		n.credVerifier = v
		n.log.Info("credential routes mounted", "did", is.DID(), "status_lists", len(st.Lists()))
		issueSpec, _ := cmd.Flags().GetString("issue-rate-client")
		issueLimit, err := api.ParseRateLimit("", issueSpec)
		if err != nil {
			return fmt.Errorf("--issue-rate-client: %w", err)
		}
		statusLimit, err := statusRateClient(cmd)
		if err != nil {
			return err
		}
		cc := api.CredentialsConfig{Issuer: is, Verifier: v, DataIntegrity: div, COSE: coseV,
			Limiter: n.store, IssueLimit: &issueLimit, StatusLimit: &statusLimit, Clients: clients, StatusLists: st.Lists}
		// Related resources a verify request does not give are fetched
		// only when asked, with the guarded client of the node's other
		// outbound calls: https to public addresses (in loopback
		// development mode, loopback hosts over http too), no redirects.
		if fetch, _ := cmd.Flags().GetBool("fetch-related-resources"); fetch {
			if cc.RelatedFetch, err = federation.PeerClient(federation.PeerClientOptions{Development: n.peerDev, Timeout: relatedFetchTimeout}); err != nil {
				return fmt.Errorf("credentials: %w", err)
			}
		}
		return srv.MountCredentials(cc)
	}
}

// controllerHosts is the host policy of --controller-document-hosts: nil
// (none) when the flag is empty, every host for "*", else the hosts
// listed. The fetch guard refuses private addresses whatever it says.
func controllerHosts(cmd *cobra.Command) (func(string) bool, error) {
	hosts, err := cmd.Flags().GetStringSlice("controller-document-hosts")
	if err != nil || len(hosts) == 0 {
		return nil, err
	}
	if slices.Contains(hosts, "*") {
		if len(hosts) > 1 {
			return nil, errors.New("--controller-document-hosts: * stands alone")
		}
		return func(string) bool { return true }, nil
	}
	for _, h := range hosts {
		// A name (no wildcard: "*.example" would match no host), an IPv4
		// literal, or an IPv6 literal in brackets, without a port.
		literal, bracketed := strings.CutPrefix(h, "[")
		if bracketed {
			ip, err := netip.ParseAddr(strings.TrimSuffix(literal, "]"))
			bracketed = err == nil && ip.Is6() && strings.HasSuffix(literal, "]")
		}
		if h == "" || (strings.HasPrefix(h, "[") && !bracketed) || (!bracketed && strings.ContainsAny(h, "/:@ *[]")) {
			return nil, fmt.Errorf("--controller-document-hosts: %q is not a host name or address", h)
		}
	}
	return vc.AllowHosts(hosts...), nil
}

// relatedFetchTimeout bounds the fetch of one related resource
// (--fetch-related-resources).
const relatedFetchTimeout = 5 * time.Second

// coseVerifyAlgorithms are the COSE algorithms the node's verifier
// accepts: those of gm.JWTVerifyAlgorithms, as for JOSE (the node signs
// with none of ES384 and ES512).
var coseVerifyAlgorithms = []string{gm.AlgES256, gm.AlgES384, gm.AlgES512, gm.AlgEdDSA, gm.AlgSM2}

// credentialFormats are the securing mechanisms the node issues besides
// vc+jwt and dc+sd-jwt: vc+cose, and Data Integrity proofs in each
// cryptosuite (with the key type it takes), embedded in the credential.
func credentialFormats() map[string]issuer.Format {
	fs := map[string]issuer.Format{
		"vc+cose": {MediaType: cose.MediaTypeVC, Algorithms: []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA}, Sign: cose.SignToken},
	}
	for suite, alg := range map[string]string{
		dataintegrity.SM2RDFC2025: gm.AlgSM2, dataintegrity.ECDSARDFC2019: gm.AlgES256, dataintegrity.EdDSARDFC2022: gm.AlgEdDSA,
	} {
		fs[suite] = issuer.Format{MediaType: issuer.MediaTypeEmbedded, Algorithms: []string{alg}, Check: jsonld.CheckDefinedTerms,
			Sign: func(doc map[string]any, vm string, key crypto.Signer) (string, error) {
				return dataintegrity.SignCredential(suite, doc, vm, key)
			}}
	}
	return fs
}

// presentationFormats are the securing mechanisms of the holder service
// (POST /presentations) besides vp+jwt: vp+cose, and Data Integrity
// proofs (proofPurpose authentication) in each cryptosuite.
func presentationFormats() map[string]issuer.PresentFormat {
	fs := map[string]issuer.PresentFormat{
		"vp+cose": {MediaType: cose.MediaTypeVP, Algorithms: []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA},
			Sign: func(doc map[string]any, vm string, key crypto.Signer, opts vc.PresentOptions) (string, error) {
				b, err := cose.SignPresentation(doc, vm, opts, key)
				return base64.StdEncoding.EncodeToString(b), err
			}},
	}
	for suite, alg := range map[string]string{
		dataintegrity.SM2RDFC2025: gm.AlgSM2, dataintegrity.ECDSARDFC2019: gm.AlgES256, dataintegrity.EdDSARDFC2022: gm.AlgEdDSA,
	} {
		fs[suite] = issuer.PresentFormat{MediaType: issuer.MediaTypeEmbeddedVP, Algorithms: []string{alg}, Check: jsonld.CheckDefinedTerms,
			Sign: func(doc map[string]any, vm string, key crypto.Signer, opts vc.PresentOptions) (string, error) {
				return dataintegrity.SignPresentation(suite, doc, vm, key, opts.Challenge, opts.Domain, opts.IssuedAt)
			}}
	}
	return fs
}

func newVCCmd() *cobra.Command {
	c := &cobra.Command{Use: "vc", Short: "Issue, present, verify and revoke verifiable credentials through a node"}
	c.AddCommand(newVCIssueCmd(), newVCVerifyCmd(), newVCStatusCmd(), newVCPresentCmd(), newVCKeygenCmd())
	// Every subcommand but the holder's local ones talks to a node; those
	// accept --node and --timeout as before, hidden from their help.
	nodeFlags := func(f *pflag.FlagSet) {
		f.String("node", "http://127.0.0.1:8080", "base URL of the node")
		f.Duration("timeout", 10*time.Second, "HTTP timeout")
	}
	for _, sub := range c.Commands() {
		if sub.Name() != "present" && sub.Name() != "keygen" {
			nodeFlags(sub.Flags())
		} else {
			addHiddenFlags(sub.Flags(), nodeFlags)
		}
	}
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
		return newNodeError(code, resp)
	}
	return nil
}

// printVCJSON prints a node's answer (indented; compact with -o json).
func printVCJSON(cmd *cobra.Command, raw []byte) {
	printNodeAnswer(cmd, raw)
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
				return newNodeError(code, body)
			}
			if raw, _ := f.GetBool("raw"); raw && !jsonOutput(cmd) {
				var resp struct {
					VerifiableCredential json.RawMessage `json:"verifiableCredential"`
					CredentialID         string          `json:"credentialId"`
				}
				var env struct {
					ID    string          `json:"id"`
					Proof json.RawMessage `json:"proof"`
				}
				json.Unmarshal(body, &resp)
				json.Unmarshal(resp.VerifiableCredential, &env)
				// The token; a credential with an embedded proof is its
				// JSON, a binary vc+cose stays a data: URL.
				token := string(resp.VerifiableCredential)
				if env.Proof == nil && !strings.HasPrefix(env.ID, "data:"+cose.MediaTypeVC+";") {
					if _, token, err = vc.ParseDataURL(env.ID); err != nil {
						return err
					}
				} else if env.Proof == nil {
					token = env.ID
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
	f.String("format", "vc+jwt", "vc+jwt, sd-jwt, vc+cose, or a Data Integrity cryptosuite: sm2-rdfc-2025, ecdsa-rdfc-2019, eddsa-rdfc-2022")
	f.String("alg", "", "signing algorithm: SM2 (node default), ES256 or EdDSA")
	f.String("holder-key", "", "holder private key PEM (from trustid vc keygen) to bind an SD-JWT VC to (cnf)")
	f.Bool("raw", false, "print only the token (a Data Integrity credential: its JSON; vc+cose: its data: URL)")
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
		Long: `Send a credential (vc+jwt, SD-JWT, a data: URL, an enveloped credential
JSON or a credential with an embedded Data Integrity proof) to POST
/credentials/verify, or with --presentation a presentation (vp+jwt, an
SD-JWT with key binding, vp+cose or one with an embedded proof) to POST
/presentations/verify with
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
				if env, ok := obj["verifiableCredential"]; ok && obj["@context"] == nil { // an issue response
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
			if !slices.Contains([]string{issuer.ActionRevoke, issuer.ActionSuspend, issuer.ActionReinstate}, args[1]) {
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
			return printResult(cmd, map[string]string{"presentation": pres}, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, pres)
				return err
			})
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
			return printResult(cmd, map[string]any{"file": out, "jwk": j, "did": did}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "wrote %s\njwk %s\ndid %s\n", out, jb, did)
				return err
			})
		},
	}
	cmd.Flags().String("alg", gm.AlgES256, "SM2, ES256 or EdDSA")
	cmd.Flags().String("out", "", "private key file to write")
	return cmd
}

// nodeStatus is the status store the node's features read: the issuer's
// store, and its lists for QR references.
type nodeStatus interface {
	vc.StatusStore
	Lists() []string
	ListMemory() statuslist.ListMemory
}

// instanceFile holds the instance's default --instance in the data
// directory.
const instanceFile = "instance"

// instanceID returns --instance, else the ID kept in the data directory
// (made on first start: "i" and 8 random hex digits).
func instanceID(cmd *cobra.Command, dataDir string) (string, error) {
	id, _ := cmd.Flags().GetString("instance")
	path := filepath.Join(dataDir, instanceFile)
	if id == "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			id = strings.TrimSpace(string(b))
			if !status.ValidInstance(id) {
				return "", fmt.Errorf("instance: %s does not hold an instance ID (1 to 32 of a-z, 0-9 and '-', not starting with '-'): write this instance's ID in it, or give --instance", path)
			}
		case errors.Is(err, os.ErrNotExist):
			var r [4]byte
			if _, err := rand.Read(r[:]); err != nil {
				return "", err
			}
			id = fmt.Sprintf("i%x", r)
			if err := atomicfile.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
				return "", fmt.Errorf("instance: %w", err)
			}
		default:
			return "", fmt.Errorf("instance: %w", err)
		}
	}
	if !status.ValidInstance(id) {
		return "", fmt.Errorf("--instance %q: want 1 to 32 of a-z, 0-9 and '-', not starting with '-'", id)
	}
	return id, nil
}

// Both status stores allocate an issuance's entries in one group commit.
var (
	_ issuer.ManyAllocator = (*statuslist.Shared)(nil)
	_ issuer.ManyAllocator = (*statuslist.FileStore)(nil)
)

// openSharedStatus opens the status store of one instance of a region
// whose instances share status through the ledger (statuslist.Shared):
// allocation from the lists of --instance in data/status, credential IDs
// under the keystore's region secret, changes through the outbox, IDs a
// request chose bound on the chain (ledger.Binder) and indexed in
// data/bindings.db, changes of one entry ordered across the region's
// instances by markers in the node's store (Redis, shared by them), every
// list and binding of the region materialized from the chain (followed
// from block 0 until ctx ends).
func openSharedStatus(ctx context.Context, cmd *cobra.Command, n *node, nl *nodeLedger) (*statuslist.Shared, *statuslist.FileStore, error) {
	inst, err := instanceID(cmd, n.dataDir)
	if err != nil {
		return nil, nil, err
	}
	own, err := statuslist.OpenFileStore(filepath.Join(n.dataDir, statusDir), statuslist.FileStoreOptions{Instance: inst, Spare: statusSpare})
	if err != nil {
		return nil, nil, err
	}
	key, err := nodeSecret(n.keys, statuslist.CredentialIDSecret)
	if err != nil {
		return nil, nil, err
	}
	ids, err := statuslist.NewCredentialIDs(key.Value())
	if err != nil {
		return nil, nil, err
	}
	bindings, err := ledger.OpenBindingIndex(filepath.Join(n.dataDir, bindingsFile), n.region, nl.Client, 3*time.Second)
	if err != nil {
		return nil, nil, err
	}
	binder := ledger.NewBinder(nl.Client, n.region, ledger.BinderOptions{Logger: n.log})
	shared, err := statuslist.NewShared(statuslist.SharedOptions{Own: own, IDs: ids, Anchor: nl.Outbox, Region: n.region,
		Chosen:      ledger.ChosenIDs{Binder: binder, Index: bindings},
		BatchPrefix: nl.Outbox.NodeID() + "-",
		Markers:     n.store,
		Logger:      n.log})
	if err != nil {
		bindings.Close()
		return nil, nil, err
	}
	// The outbox already runs: Watch restores what it holds and reports
	// each batch done only after.
	if err := nl.Outbox.Watch(shared.Restore, shared.Done); err != nil {
		bindings.Close()
		return nil, nil, err
	}
	apply := func(ev ledger.Event) error {
		if err := shared.ApplyEvent(ev.Block, ev.Name, ev.Payload); err != nil {
			n.log.Error("status: ledger event skipped", slog.Uint64("block", ev.Block), slog.Any("error", err))
		}
		// A binding the index cannot keep is read from the chain when
		// asked for; retrying the event would stall the lists.
		if err := bindings.ApplyEvent(ev); err != nil {
			n.log.Error("status: credential bindings not indexed", slog.Uint64("block", ev.Block), slog.Any("error", err))
		}
		return nil
	}
	// The chain is followed past ctx until the node's outbox has sent
	// its last batches and their heads are handed over (SettleHeads).
	follow, stopFollow := context.WithCancel(context.WithoutCancel(ctx))
	nl.onSettle(func(ctx context.Context) error {
		defer stopFollow()
		return shared.SettleHeads(ctx)
	})
	n.background.Add(4)
	go func() {
		defer n.background.Done()
		followStatus(follow, n.log, nl.Ledger, time.Second, time.Now, apply)
		bindings.Close()
	}()
	go func() { defer n.background.Done(); binder.Run(ctx) }()
	go func() { defer n.background.Done(); shared.RunHeads(ctx, 0) }()
	go func() { defer n.background.Done(); shared.RunMarkers(ctx) }()
	// Every instance of the region must show the same credential_id_key:
	// copy the keystore to the others after the first start.
	n.log.Info("status shared through the ledger", slog.String("instance", inst), slog.Int("own_lists", len(own.Lists())),
		slog.String("credential_id_key", ids.Fingerprint()))
	return shared, own, nil
}

// followStatus applies the ledger's events with apply until ctx ends,
// retrying every retry when the ledger fails; a failure that repeats is
// logged rarely (retrylog, on the clock now), and at once again after the
// follower followed the ledger again (ledger.Follow's report of nil: an
// event applied, or a stream that stayed open), which is logged too.
func followStatus(ctx context.Context, log *slog.Logger, l ledger.Ledger, retry time.Duration, now func() time.Time, apply func(ledger.Event) error) {
	lost := retrylog.Log{Now: now}
	ledger.Follow(ctx, l, retry, apply, func(err error) {
		if err != nil {
			lost.Warn(log, "status: lost the ledger's events; lists are served as last applied; retrying", err)
			return
		}
		log.Info("status: following the ledger's events again")
		lost.Reset()
	})
}

// regionStatusFetch returns the status-list fetch of the credential
// verifier and of other regions' QR status: a list under the registered
// endpoint of a region of dir (URL <endpoint>/status/<list>) is fetched
// from that region's node as dir says (federation.Directory.StatusListURL:
// at the operator's --peer URL for the region, else at an endpoint
// federation.CheckEndpoint accepts, and only at that path) with peer
// (federation.PeerClient in the node's mode); any other list over HTTPS
// from public addresses with client.
func regionStatusFetch(dir federation.Directory, client, peer *http.Client) func(ctx context.Context, url, accept string) ([]byte, error) {
	return func(ctx context.Context, u, accept string) ([]byte, error) {
		at, ok, err := dir.StatusListURL(u)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: %w", vc.ErrStatusUnavailable, err)
		case ok:
			return vc.Fetch(ctx, peer, at, accept)
		}
		return vc.Fetch(ctx, client, u, accept)
	}
}

// statusRateClient reads --status-rate-client: the per-client limit of
// status changes, one budget for POST /v1/credentials/{id}/status and
// POST /v1/enrollments/{id}/status.
func statusRateClient(cmd *cobra.Command) (api.RateLimit, error) {
	spec, _ := cmd.Flags().GetString("status-rate-client")
	l, err := api.ParseRateLimit("", spec)
	if err != nil {
		return api.RateLimit{}, fmt.Errorf("--status-rate-client: %w", err)
	}
	return l, nil
}
