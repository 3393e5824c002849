package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/api"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// Defaults of the enrollment route's rate limits.
const (
	defaultEnrollRateAddr   = "120/1m"
	defaultEnrollRateClient = "600/1m"
	defaultPINRateAddr      = "60/1m"
)

// addEnrollFlags adds the enrollment and QR wiring settings to `trustid
// serve`.
func addEnrollFlags(f *pflag.FlagSet) {
	addRateFlag(f, "enroll-rate-addr", defaultEnrollRateAddr, "rate limit of POST /v1/enrollments calls that fail authentication, per source address: N/WINDOW, or 0 for none (authenticated calls count only against --enroll-rate-client)")
	addRateFlag(f, "enroll-rate-client", defaultEnrollRateClient, "rate limit of POST /v1/enrollments per authenticated client: N/WINDOW, or 0 for none")
	addRateFlag(f, "pin-rate-addr", defaultPINRateAddr, "rate limit of POST /v1/bindings/pin per source address: N/WINDOW, or 0 for none (attempts per binding are limited separately: 5 per 15 minutes)")
	addDurationFlag(f, "binding-ttl", enrollment.DefaultBindingTTL, enrollment.MinBindingTTL, 10*365*24*time.Hour, "24h to 10 years", "validity of device bindings and identity credentials issued at enrollment")
	f.Bool("strict-documents", false, "refuse address codes in no GB/T 2260 table and unknown nationalities at enrollment")
	f.StringArray("peer", nil, "another region's node, called there instead of at its registered endpoint (QR redemption, token introspection, status lists) while the region is active: REGION=BASE_URL (repeatable), e.g. 320000=https://js.trustid.example; plain http only to loopback, by a node in loopback development mode")
	f.StringArray("peer-internal-host", nil, "host name of another region's node that may resolve to a private address (repeatable); other regions' endpoints must resolve to public addresses")
	addDurationFlag(f, "qr-ttl", redeem.DefaultCodeTTL, 10*time.Second, 10*time.Minute, "10s to 10m", "how long an online QR code can be redeemed")
}

// currentBindingIssuer signs compact QR bindings with the node's active
// SM2 key at the time of each call, so key rotations are followed.
type currentBindingIssuer struct {
	keys   *keystore.Store
	region uint32
}

func (c currentBindingIssuer) IssueBinding(b qrcode.Binding) ([]byte, error) {
	k, err := c.keys.Active(gm.AlgSM2)
	if err != nil {
		return nil, err
	}
	return (&qrcode.Issuer{Signer: k.Signer, Kid: k.Kid, Region: c.region}).IssueBinding(b)
}

// IssueStatic signs a static printed code with the node's active SM2 key.
func (c currentBindingIssuer) IssueStatic(st qrcode.Static) (string, error) {
	k, err := c.keys.Active(gm.AlgSM2)
	if err != nil {
		return "", err
	}
	return (&qrcode.Issuer{Signer: k.Signer, Kid: k.Kid, Region: c.region}).IssueStatic(st)
}

// mountEnroll returns the mount function of POST /v1/enrollments. It needs
// the credential issuer and status lists, so it is mounted after
// mountCredentials.
func mountEnroll(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(s *api.Server, n *node) error {
		if n.credIssuer == nil || n.statusLists == nil {
			return errors.New("enrollment: the credential issuer is not mounted")
		}
		f := cmd.Flags()
		addrSpec, _ := f.GetString("enroll-rate-addr")
		clientSpec, _ := f.GetString("enroll-rate-client")
		addrLimit, err := api.ParseRateLimit("enroll-addr", addrSpec)
		if err != nil {
			return fmt.Errorf("--enroll-rate-addr: %w", err)
		}
		clientLimit, err := api.ParseRateLimit("enroll-client", clientSpec)
		if err != nil {
			return fmt.Errorf("--enroll-rate-client: %w", err)
		}
		ttl, _ := f.GetDuration("binding-ttl")
		strict, _ := f.GetBool("strict-documents")
		symbols, err := newSymbolDeriver(n.keys, n.log)
		if err != nil {
			return fmt.Errorf("enrollment: %w", err)
		}
		subjects, err := newBindingSubjects(n)
		if err != nil {
			return fmt.Errorf("enrollment: %w", err)
		}
		pins, err := newPINSealer(n.keys, n.log)
		if err != nil {
			return fmt.Errorf("enrollment: %w", err)
		}
		nl, ok := ledgerOf(n)
		if !ok {
			return errors.New("enrollment needs the ledger (the terminal registry is on it)")
		}
		terms := nl.Terminals
		ctx := cmd.Context()
		n.background.Add(1)
		go func() {
			defer n.background.Done()
			migrate(ctx, n, nl, filepath.Join(n.dataDir, terminalsFile), "terminals", wallClock, func(ctx context.Context, path string) (int, int, error) {
				return importTerminals(ctx, terms, path)
			})
		}()
		region, err := qrcode.ParseRegion(n.region)
		if err != nil {
			return err
		}
		var audit enrollment.AuditRecorder
		if nl.Audit != nil {
			audit = nl.Audit
		}
		// Shared status mints enrollment IDs that any instance reads.
		ids, _ := n.statusLists.(enrollment.EnrollmentIDs)
		cfg := enrollment.Config{
			Region: n.region, Audience: n.issuer,
			Documents: &identity.Validator{Strict: strict},
			Symbols:   symbols, Subjects: subjects,
			Attestations: &identity.AttestationVerifier{Terminals: terms, Replay: n.store, Audience: n.issuer, Region: n.region,
				Algorithms: []string{gm.AlgSM2, gm.AlgES256}},
			PINs: pins, Credentials: n.credIssuer,
			Bindings:   currentBindingIssuer{keys: n.keys, region: region},
			Statics:    currentBindingIssuer{keys: n.keys, region: region},
			Status:     &enrollment.ListStatus{Region: region, Lists: n.statusLists},
			Nonces:     n.store,
			BindingTTL: ttl, Audit: audit, Log: n.log, IDs: ids,
		}
		enroll, err := enrollment.New(cfg)
		if err != nil {
			return err
		}
		if demo, _ := f.GetBool("demo"); demo {
			// The wallet demo enrolls made-up numbers, which may be real
			// people's: it derives their symbols with a key of its own,
			// random per process, so a demo identity's subject, and so its
			// pairwise IDs, never match anyone's real ones.
			demoKey := make([]byte, secretSizes[secretSymbol])
			if _, err := rand.Read(demoKey); err != nil {
				return err
			}
			if cfg.Symbols, err = identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: demoKey}); err != nil {
				return err
			}
			if n.demoEnroll, err = enrollment.New(cfg); err != nil {
				return err
			}
		}
		statusLimit, err := statusRateClient(cmd)
		if err != nil {
			return err
		}
		err = s.MountEnroll(api.EnrollConfig{Enrollment: enroll, Limiter: n.store, AddrLimit: addrLimit, ClientLimit: clientLimit, StatusLimit: &statusLimit})
		if err != nil {
			return err
		}
		pinSpec, _ := f.GetString("pin-rate-addr")
		pinLimit, err := api.ParseRateLimit("pin-addr", pinSpec)
		if err != nil {
			return fmt.Errorf("--pin-rate-addr: %w", err)
		}
		if err := mountPINCheck(s, n, pins, pinLimit); err != nil {
			return err
		}
		n.log.Info("enrollment mounted", slog.String("terminals", "ledger"), slog.Bool("strict_documents", strict),
			slog.String("rate_addr", addrLimit.String()), slog.String("rate_client", clientLimit.String()), slog.Duration("binding_ttl", ttl), slog.Bool("audit_log", audit != nil))
		return nil
	}
}

// mountPINCheck registers POST /v1/bindings/pin. Its verifier accepts
// only this node's bindings, with keys and status read locally (no
// fetch): a PIN verifier is sealed under the region's PIN keys, so only
// the region's instances (sharing the keystore copy and the ephemeral
// store that counts attempts) can check it. A binding another instance
// signed with a key this keystore lacks yet verifies with that key on the
// region's record (issuer.Config.Instances), looked up on every use (no
// key cache).
func mountPINCheck(s *api.Server, n *node, pins *identity.PINSealer, limit api.RateLimit) error {
	status := vc.NewStatusChecker(&vc.LocalStatusSource{BaseURL: n.issuer, Store: n.statusLists}, 5*time.Minute, nil)
	v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Resolver: &vc.Resolver{Local: n.credIssuer.Local()}, KeyTTL: -1,
		Trust: &vc.RegistryTrust{Local: n.credIssuer.Local()}, Status: status, Leeway: 30 * time.Second})
	if err != nil {
		return fmt.Errorf("PIN check: %w", err)
	}
	checker, err := enrollment.NewPINChecker(enrollment.PINCheckConfig{
		Audience: n.issuer, Verifier: v, Issuers: []string{n.credIssuer.DID(), n.issuer},
		PINs: pins, Attempts: n.store, Nonces: n.store,
	})
	if err != nil {
		return fmt.Errorf("PIN check: %w", err)
	}
	n.pinChecker = checker
	return s.MountPINCheck(api.PINCheckConfig{Checker: checker, Limiter: n.store, AddrLimit: &limit})
}

// newBindingSubjects builds the binding-subject deriver from the national
// pairwise key.
func newBindingSubjects(n *node) (*identity.BindingSubjects, error) {
	pw, err := newPairwiseDeriver(n.keys, n.log)
	if err != nil {
		return nil, err
	}
	return identity.NewBindingSubjects(pw)
}

// peersOf returns n's --peer base URLs by region, read once (parsePeers).
func peersOf(n *node, cmd *cobra.Command) (map[string]string, error) {
	if n.peers == nil {
		specs, _ := cmd.Flags().GetStringArray("peer")
		peers, err := parsePeers(specs, n.region, n.peerDev)
		if err != nil {
			return nil, err
		}
		n.peers = peers
	}
	return n.peers, nil
}

// parsePeers reads --peer REGION=URL values: https, or plain http to a
// loopback host in loopback development mode (federation.CheckEndpoint).
func parsePeers(specs []string, self string, development bool) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		region, base, ok := strings.Cut(s, "=")
		if !ok || !validRegion(region) || region == self {
			return nil, fmt.Errorf("--peer %q: want REGION=BASE_URL with another region's six-digit code", s)
		}
		base = strings.TrimSuffix(base, "/")
		if err := federation.CheckEndpoint(base, development); err != nil {
			return nil, fmt.Errorf("--peer %q: %w", s, err)
		}
		if _, dup := out[region]; dup {
			return nil, fmt.Errorf("--peer: region %s given twice", region)
		}
		out[region] = base
	}
	return out, nil
}

// newWalletCmd is the holder side of enrollment and online codes, for
// testing and for integrators: it enrolls through a node with a fresh
// device key and keeps the result in a wallet file that `trustid qr show`
// also reads.
func newWalletCmd() *cobra.Command {
	c := &cobra.Command{Use: "wallet", Short: "Holder side, for testing: enroll through a node and ask it for online QR codes"}
	pf := c.PersistentFlags()
	pf.String("node", "http://127.0.0.1:8080", "base URL of the node")
	pf.Duration("timeout", 10*time.Second, "HTTP timeout")
	pf.String("wallet", "wallet.json", "wallet file (device key and QR binding)")
	enroll := &cobra.Command{
		Use:   "enroll",
		Short: "Enroll with a new SM2 device key (needs a token with identity:enroll) and write the wallet",
		Long: `Enroll a person through POST /v1/enrollments with a fresh SM2 device key
and its device proof, and write the device key and the compact QR binding
to the wallet file. The response (symbol, assurance level, the binding
credential and the identity credential) is printed.

--terminal-id and --terminal-key sign a terminal attestation (face match
passed, chip read) with a registered terminal's private key, as a counter
terminal would: for testing L4 only.

The document number is read from standard input when --number is "-", so
it does not stay in the shell history.`,
		Args: cobra.NoArgs,
		RunE: runWalletEnroll,
	}
	f := enroll.Flags()
	f.String("number", "", `document number, or "-" to read it from standard input`)
	f.String("type", "", "document type (default: detected)")
	f.String("name", "", "the holder's name as on the document")
	f.String("pin", "", "six-digit PIN to seal into the binding")
	f.String("terminal-id", "", "testing: sign an attestation as this registered terminal")
	f.String("terminal-key", "", "testing: PEM private key of --terminal-id")
	f.String("token", "", "access token (prefer TRUSTID_ACCESS_TOKEN)")
	code := &cobra.Command{
		Use:   "code",
		Short: "Ask the node for an online QR code with a device-signed request",
		Args:  cobra.NoArgs,
		RunE:  runWalletCode,
	}
	code.Flags().StringSlice("consent", nil, "attested claims to release with the code, e.g. age_over_18")
	c.AddCommand(enroll, code)
	return c
}

func runWalletEnroll(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	tok, err := accessToken(cmd)
	if err != nil {
		return err
	}
	number, _ := f.GetString("number")
	if number == "-" {
		line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 256)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		number = strings.TrimSpace(line)
	}
	name, _ := f.GetString("name")
	if number == "" || name == "" {
		return errors.New("--number and --name are required")
	}
	typ, _ := f.GetString("type")
	pin, _ := f.GetString("pin")
	path, _ := f.GetString("wallet")
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: choose another --wallet", path)
	}
	node, _ := f.GetString("node")
	node = strings.TrimSuffix(node, "/")
	device, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	jwk, err := gm.NewJWK(device.Public(), "")
	if err != nil {
		return err
	}
	proof, err := holder.NewDeviceProof(device, node, time.Now(), rand.Text())
	if err != nil {
		return err
	}
	body := map[string]any{"document": map[string]any{"number": number, "type": typ}, "name": name, "device_key": jwk, "device_proof": proof}
	if typ == "" {
		body["document"] = map[string]any{"number": number}
	}
	if pin != "" {
		body["pin"] = pin
	}
	if tid, _ := f.GetString("terminal-id"); tid != "" {
		att, err := testAttestation(cmd, tid, node, device.Public(), number, name)
		if err != nil {
			return err
		}
		body["attestation"] = att
	}
	status, out, err := vcPost(cmd, api.EnrollPath, tok, body)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		printVCJSON(cmd, out)
		return newNodeError(status, out)
	}
	var resp api.EnrollResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return fmt.Errorf("enrollment response: %w", err)
	}
	if len(resp.QRBinding) == 0 {
		return errors.New("the node issued no QR binding")
	}
	pemKey, err := gm.MarshalPrivateKeyPEM(device)
	if err != nil {
		return err
	}
	b, err := qrcode.ParseBinding(resp.QRBinding)
	if err != nil {
		return err
	}
	w := &wallet{Region: fmt.Sprintf("%06d", b.Region), DeviceKey: string(pemKey), Binding: resp.QRBinding}
	if err := w.save(path); err != nil {
		return err
	}
	printVCJSON(cmd, out)
	fmt.Fprintf(cmd.ErrOrStderr(), "enrolled at %s; wallet written to %s\n", resp.AssuranceLevel, path)
	return nil
}

// testAttestation signs an attestation as a counter terminal would, for
// the enrollment of device at the node whose issuer URL is audience.
func testAttestation(cmd *cobra.Command, terminalID, audience string, device crypto.PublicKey, number, name string) (string, error) {
	keyFile, _ := cmd.Flags().GetString("terminal-key")
	pemBytes, err := readLimitedFile(keyFile, 64<<10)
	if err != nil {
		return "", fmt.Errorf("--terminal-key: %w", err)
	}
	signer, err := gm.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		return "", fmt.Errorf("--terminal-key: %w", err)
	}
	doc, err := identity.Parse(number)
	if err != nil {
		return "", err
	}
	return (&identity.Attester{TerminalID: terminalID, Audience: audience, Signer: signer}).Attest(doc, name, device,
		identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.9}, true)
}

func runWalletCode(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	path, _ := f.GetString("wallet")
	w, err := readWallet(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no wallet at %s (run trustid wallet enroll --wallet %s first, or name the file with --wallet): %w", path, path, err)
	}
	if err != nil {
		return err
	}
	device, err := gm.ParsePrivateKeyPEM([]byte(w.DeviceKey))
	if err != nil {
		return fmt.Errorf("wallet device key: %w", err)
	}
	consent, _ := f.GetStringSlice("consent")
	nonce := make([]byte, 16)
	rand.Read(nonce)
	req := qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: w.Binding, Time: time.Now().Unix(), Nonce: nonce, Region: w.Region, Consent: consent}
	if err := qrcode.SignHolderRequest(rand.Reader, device, &req); err != nil {
		return err
	}
	return vcPostPrint(cmd, "/v1/qr", "", req, http.StatusCreated)
}
