package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/atomicfile"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
	"github.com/trustid-cn/trustid/sdk"
)

func newQRCmd() *cobra.Command {
	qr := &cobra.Command{Use: "qr", Short: "Show (holder side) and verify (verifier side) QR identity codes"}
	qr.AddCommand(newQRShowCmd(), newQRVerifyCmd())
	return qr
}

// wallet is a local wallet identity file for testing the holder side: a
// device key and the issuer-signed binding, delegation and static code the
// wallet holds, and the counter of its offline codes. Only --demo makes
// one; its identity is random and belongs to no one.
type wallet struct {
	Demo       bool   `json:"demo"`
	Region     string `json:"region"`
	DeviceKey  string `json:"device_key"` // PKCS#8 PEM
	Binding    []byte `json:"binding"`
	Delegation []byte `json:"delegation,omitempty"`
	Static     string `json:"static,omitempty"`
	Counter    uint64 `json:"counter"`
}

const maxWalletFile = 64 << 10

func readWallet(path string) (*wallet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxWalletFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxWalletFile {
		return nil, fmt.Errorf("wallet %s: larger than %d bytes", path, maxWalletFile)
	}
	var w wallet
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("wallet %s: %w", path, err)
	}
	return &w, nil
}

func (w *wallet) save(path string) error {
	data, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o600)
}

// newDemoWallet makes a demo identity signed by the node's active SM2 key:
// a random subject (not derived from any document), a fresh device key, a
// binding, a delegation naming a second random subject as the principal
// (the demo holder acting as guardian), and a static code with demo masked
// data.
func newDemoWallet(ks *keystore.Store, region string, now time.Time) (*wallet, error) {
	key, err := ks.Active(gm.AlgSM2)
	if err != nil {
		return nil, err
	}
	code, err := qrcode.ParseRegion(region)
	if err != nil {
		return nil, err
	}
	is := &qrcode.Issuer{Signer: key.Signer, Kid: key.Kid, Region: code}
	device, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	subject, principal := make([]byte, identity.BindingHandleSize), make([]byte, identity.BindingHandleSize)
	rand.Read(subject)
	rand.Read(principal)
	exp := now.AddDate(1, 0, 0)
	binding, err := is.IssueBinding(qrcode.Binding{
		Subject: subject, DeviceKey: device.PublicKey(), Assurance: qrcode.AssuranceDevice,
		IssuedAt: now, Expiry: exp, Claims: map[string]string{"demo": "true"},
	})
	if err != nil {
		return nil, err
	}
	deleg, err := is.IssueDelegation(qrcode.Delegation{
		Actor: subject, Principal: principal, ActorName: identity.MaskName("演示"), PrincipalName: identity.MaskName("演示老人"),
		Relationship: qrcode.RelFamily, Scope: []string{qrcode.ActionPresent, qrcode.ActionPickup},
		NotBefore: now, Expiry: exp,
	})
	if err != nil {
		return nil, err
	}
	static, err := is.IssueStatic(qrcode.Static{
		Subject: subject, MaskedName: identity.MaskName("演示"), MaskedNumber: "DEMO**********0000",
		PhotoHint: "demo: no photo", Assurance: qrcode.AssuranceDocument, IssuedAt: now, Expiry: now.AddDate(5, 0, 0),
	})
	if err != nil {
		return nil, err
	}
	pem, err := gm.MarshalPrivateKeyPEM(device)
	if err != nil {
		return nil, err
	}
	return &wallet{Demo: true, Region: region, DeviceKey: string(pem), Binding: binding, Delegation: deleg, Static: static}, nil
}

// photoHint is what staff compare a static code's holder with: the
// code's hint, or the photo on its identity document (the codes
// enrollment prints carry no hint).
func photoHint(st *qrcode.Static) string {
	if st.PhotoHint != "" {
		return st.PhotoHint
	}
	return "the photo on the identity document (" + identity.DocType(st.DocType).String() + ")"
}

func newQRShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Holder side, for testing: make a code from a local wallet file and show it",
		Long: `Make a QR identity code from a local wallet file and print it to the
terminal, and optionally to a PNG or SVG file.

--demo creates the wallet file on first use with a DEMO identity: a random
subject signed by this node's active SM2 key. It belongs to no one and
proves nothing about a person.`,
		Args: cobra.NoArgs,
		RunE: runQRShow,
	}
	f := cmd.Flags()
	f.Bool("demo", false, "create the wallet with a demo identity if it does not exist")
	f.String("wallet", "wallet.json", "wallet identity file")
	f.String("kind", "offline", "code to show: offline, delegated or static")
	f.String("region", "310000", "region of the demo identity")
	f.String("audience", "", "audience hint for the verifier (offline codes)")
	f.String("challenge", "", "verifier challenge, hex (offline codes)")
	f.StringSlice("claims", nil, "attested claims the offline code shows, e.g. age_over_18 (default: none)")
	f.String("png", "", "also write the code as PNG to this file")
	f.String("svg", "", "also write the code as SVG to this file")
	f.Int("size", qrcode.DefaultImageSize, "PNG/SVG size in pixels")
	f.Bool("text", false, "print only the payload text")
	f.Bool("invert", false, "terminal: draw dark modules (for light terminals)")
	return cmd
}

func runQRShow(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	path, _ := f.GetString("wallet")
	demo, _ := f.GetBool("demo")
	kind, _ := f.GetString("kind")
	out := cmd.OutOrStdout()
	w, err := readWallet(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && demo:
		ks, err := keysOpen(cmd)
		if err != nil {
			return err
		}
		region, _ := f.GetString("region")
		if w, err = newDemoWallet(ks, region, time.Now()); err != nil {
			return err
		}
		if err := w.save(path); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "created DEMO wallet %s: a random identity signed by this node's key; it belongs to no one\n", path)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no wallet at %s (use --demo to create a demo identity)", path)
	case err != nil:
		return err
	}
	if w.Demo {
		fmt.Fprintln(cmd.ErrOrStderr(), "DEMO identity: for testing only")
	}
	var text string
	switch kind {
	case "static":
		if w.Static == "" {
			return errors.New("the wallet holds no static code")
		}
		text = w.Static
	case "offline", "delegated":
		device, err := gm.ParsePrivateKeyPEM([]byte(w.DeviceKey))
		if err != nil {
			return fmt.Errorf("wallet device key: %w", err)
		}
		var challenge []byte
		if h, _ := f.GetString("challenge"); h != "" {
			if challenge, err = hex.DecodeString(h); err != nil {
				return fmt.Errorf("--challenge: %w", err)
			}
		}
		aud, _ := f.GetString("audience")
		claims, _ := f.GetStringSlice("claims")
		var deleg []byte
		if kind == "delegated" {
			if deleg = w.Delegation; deleg == nil {
				return errors.New("the wallet holds no delegation")
			}
		}
		w.Counter++
		if err := w.save(path); err != nil { // the counter never goes back
			return err
		}
		text, err = qrcode.NewOffline(rand.Reader, device, w.Binding, deleg, qrcode.Presentation{
			Time: time.Now(), Counter: w.Counter, Audience: aud, Challenge: challenge, Claims: claims,
		})
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("--kind %q: want offline, delegated or static", kind)
	}
	sym, err := qrcode.Encode(text, qrcode.Medium)
	if err != nil {
		return err
	}
	size, _ := f.GetInt("size")
	for _, flag := range []string{"png", "svg"} {
		file, _ := f.GetString(flag)
		if file == "" {
			continue
		}
		var data []byte
		if flag == "png" {
			data, err = sym.PNG(size)
		} else {
			data, err = sym.SVG(size)
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			return err
		}
	}
	if jsonOutput(cmd) {
		return writeJSON(out, map[string]any{"kind": kind, "payload": text, "characters": len(text), "qr_version": sym.Version})
	}
	if only, _ := f.GetBool("text"); only {
		fmt.Fprintln(out, text)
		return nil
	}
	invert, _ := f.GetBool("invert")
	fmt.Fprint(out, sym.Terminal(invert))
	fmt.Fprintf(out, "%s code, %d characters, QR version %d-M\n%s\n", kind, len(text), sym.Version, text)
	return nil
}

func newQRVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify [PAYLOAD]",
		Short: "Verifier side: verify an offline or static code from its text or a PNG (no network but --status-node)",
		Long: `Verify an offline or static QR identity code: the payload text as an
argument (or on standard input with "-"), or a PNG/JPEG image with --image.

Issuer keys come from this node's keystore (--data) or a JWKS file (--jwks).
Status: --status-node REGION=URL fetches the binding's entry from the
status lists that region's node publishes (GET /status, /status/{list};
the list's signature checked with the node's published keys), the only
network this command uses; --revoked names a file of revoked entries
("REGION LIST INDEX" per line, from the region's status lists);
--no-status skips the status check and says so.`,
		Args: cobra.MaximumNArgs(1),
		RunE: runQRVerify,
	}
	f := cmd.Flags()
	f.String("image", "", "PNG or JPEG file holding the code")
	f.String("jwks", "", "JWKS file of trusted issuer keys (default: this node's published keys)")
	f.String("revoked", "", "file of revoked status entries: REGION LIST INDEX per line")
	f.StringArray("status-node", nil, "REGION=URL: check status in the lists the region's node publishes, over https (plain http to loopback only; repeat for more regions)")
	f.Bool("no-status", false, "do not check status (says so in the output)")
	f.String("challenge", "", "the challenge the code must carry, hex")
	f.String("audience", "", "this verifier's audience name")
	f.String("action", "", "action asked of a delegated code (default present)")
	f.Duration("window", qrcode.DefaultWindow, "freshness window for offline codes")
	return cmd
}

// maxImageFile bounds an image given to qr verify.
const maxImageFile = 8 << 20

// scanImage decodes the QR code in an image file.
func scanImage(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Size() > maxImageFile {
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxImageFile)
	}
	file, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer file.Close()
	cfg, _, err := image.DecodeConfig(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Width*cfg.Height > 16<<20 {
		return "", fmt.Errorf("%s: image of %dx%d is too large", path, cfg.Width, cfg.Height)
	}
	file.Seek(0, io.SeekStart)
	img, _, err := image.Decode(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	// A code rendered by a program (the printable static code, a
	// screenshot) decodes exactly as a pure barcode; a photo needs the
	// slower search. The search alone misses some clean renderings.
	var res *gozxing.Result
	for _, hint := range []gozxing.DecodeHintType{gozxing.DecodeHintType_PURE_BARCODE, gozxing.DecodeHintType_TRY_HARDER} {
		if res, err = zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{hint: true}); err == nil {
			return res.GetText(), nil
		}
	}
	return "", fmt.Errorf("%s: no QR code found: %w", path, err)
}

// publishedStatus is a StatusChecker over the status lists the nodes of
// specs (REGION=URL) publish, fetched and verified as the relying-party
// SDK does (sdk.QRStatus).
func publishedStatus(specs []string) (qrcode.StatusChecker, error) {
	regions := map[string]string{}
	var bases []string
	for _, spec := range specs {
		// https, or plain http to a loopback host only: over plain http
		// anyone on the path could serve its own keys and lists, and so
		// answer "not revoked".
		region, base, ok := strings.Cut(spec, "=")
		if !ok || federation.CheckEndpoint(base, true) != nil {
			return nil, usageError{fmt.Errorf("--status-node %q: want REGION=URL, an https base URL (plain http to loopback only), e.g. 310000=https://sh.trustid.example", spec)}
		}
		if _, err := qrcode.ParseRegion(region); err != nil {
			return nil, usageError{fmt.Errorf("--status-node %q: %w", spec, err)}
		}
		if _, dup := regions[region]; dup {
			return nil, usageError{fmt.Errorf("--status-node: region %s given twice", region)}
		}
		regions[region] = strings.TrimRight(base, "/")
		bases = append(bases, regions[region])
	}
	return &sdk.QRStatus{
		Nodes:   &sdk.Nodes{Bases: bases, Algorithms: gm.JWTAlgorithms, Client: &http.Client{Timeout: 10 * time.Second}},
		Regions: regions,
	}, nil
}

// revokedFile is a StatusChecker over a file of revoked entries.
type revokedFile map[qrcode.StatusRef]bool

func (r revokedFile) Status(_ context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	if r == nil {
		return qrcode.StatusValid, nil
	}
	if r[ref] {
		return qrcode.StatusRevoked, nil
	}
	return qrcode.StatusValid, nil
}

func readRevoked(path string) (revokedFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := revokedFile{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var region string
		var ref qrcode.StatusRef
		if n, err := fmt.Sscanf(line, "%s %d %d", &region, &ref.List, &ref.Index); n != 3 || err != nil {
			return nil, fmt.Errorf("%s:%d: want REGION LIST INDEX", path, i+1)
		}
		if ref.Region, err = qrcode.ParseRegion(region); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		r[ref] = true
	}
	return r, nil
}

// jwksKeys reads a JWKS file.
func jwksKeys(path string) (qrcode.StaticKeys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	set, err := gm.ParseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var keys qrcode.StaticKeys
	for _, j := range set.Keys {
		pub, err := j.PublicKey()
		if errors.Is(err, gm.ErrJWKUse) {
			continue // an encryption key verifies no code (RFC 7517 §4.2, §4.3)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", path, j.Kid, err)
		}
		keys = append(keys, qrcode.IssuerKey{Kid: j.Kid, Public: pub})
	}
	return keys, nil
}

// publishedKeys lists a keystore's published keys.
func publishedKeys(ks *keystore.Store) qrcode.StaticKeys {
	var keys qrcode.StaticKeys
	for _, k := range ks.Published() {
		keys = append(keys, qrcode.IssuerKey{Kid: k.Kid, Public: k.Public})
	}
	return keys
}

func runQRVerify(cmd *cobra.Command, args []string) error {
	f := cmd.Flags()
	out := cmd.OutOrStdout()
	var text string
	imgPath, _ := f.GetString("image")
	switch {
	case imgPath != "" && len(args) > 0:
		return errors.New("give the payload text or --image, not both")
	case imgPath != "":
		var err error
		if text, err = scanImage(imgPath); err != nil {
			return err
		}
	case len(args) == 1 && args[0] == "-":
		data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), qrcode.MaxOfflineLen+2))
		if err != nil {
			return err
		}
		text = strings.TrimSpace(string(data))
	case len(args) == 1:
		text = args[0]
	default:
		return errors.New("give the payload text (or - for standard input) or --image FILE")
	}

	var keys qrcode.StaticKeys
	if p, _ := f.GetString("jwks"); p != "" {
		var err error
		if keys, err = jwksKeys(p); err != nil {
			return err
		}
	} else {
		ks, err := keysOpen(cmd)
		if err != nil {
			return err
		}
		keys = publishedKeys(ks)
	}
	var status qrcode.StatusChecker
	noStatus, _ := f.GetBool("no-status")
	nodes, _ := f.GetStringArray("status-node")
	revoked, _ := f.GetString("revoked")
	switch {
	case revoked != "" && len(nodes) > 0:
		return usageError{errors.New("--revoked and --status-node: give one status source")}
	case revoked != "":
		r, err := readRevoked(revoked)
		if err != nil {
			return err
		}
		status = r
	case len(nodes) > 0:
		var err error
		if status, err = publishedStatus(nodes); err != nil {
			return err
		}
	case !noStatus:
		return errors.New("no status source: give --status-node REGION=URL or --revoked FILE, or --no-status to skip the status check")
	default:
		status = revokedFile{} // --no-status: nothing revoked
	}
	statusChecked := !(noStatus && revoked == "" && len(nodes) == 0)
	window, _ := f.GetDuration("window")
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{Keys: keys, Status: status, Window: window})
	if err != nil {
		return err
	}
	var opts qrcode.VerifyOptions
	if h, _ := f.GetString("challenge"); h != "" {
		if opts.Challenge, err = hex.DecodeString(h); err != nil {
			return fmt.Errorf("--challenge: %w", err)
		}
	}
	opts.Audience, _ = f.GetString("audience")
	opts.Action, _ = f.GetString("action")

	if k, err := qrcode.DetectKind(text); err == nil && k == qrcode.KindOnline {
		c, err := qrcode.DecodeOnline(text)
		if err != nil {
			return err
		}
		return fmt.Errorf("an online code of region %s: redeem it at a node (POST /v1/qr/verify); it cannot be verified offline", c.RegionString())
	}
	r, err := v.Verify(cmd.Context(), text, opts)
	if err != nil {
		return fmt.Errorf("NOT VALID: %w", err)
	}
	if jsonOutput(cmd) {
		return writeJSON(out, qrVerifyView(r, statusChecked))
	}
	fmt.Fprintf(out, "VALID %s code: %s\n", r.Kind, r.Summary())
	if r.Static != nil {
		fmt.Fprintf(out, "name %s, document %s; compare the face with: %s\n", r.Static.MaskedName, r.Static.MaskedNumber, photoHint(r.Static))
	}
	if r.Kind == qrcode.KindOffline {
		fmt.Fprintf(out, "made %s ago, counter %d\n", time.Since(r.Time).Round(time.Second), r.Counter)
	}
	if !statusChecked {
		fmt.Fprintln(out, "WARNING: status NOT checked (--no-status): a revoked binding would pass")
	}
	return nil
}

// qrVerifyJSON is a verified code as `qr verify -o json` prints it.
type qrVerifyJSON struct {
	Valid         bool              `json:"valid"`
	Kind          string            `json:"kind"`
	Summary       string            `json:"summary"`
	Region        string            `json:"region"`
	Assurance     int               `json:"assurance"`
	Presenter     string            `json:"presenter"`
	OnBehalfOf    string            `json:"on_behalf_of,omitempty"`
	Action        string            `json:"action,omitempty"`
	Time          string            `json:"time,omitempty"`
	Counter       uint64            `json:"counter,omitempty"`
	Claims        map[string]string `json:"claims,omitempty"`
	Static        *qrStaticJSON     `json:"static,omitempty"`
	StatusChecked bool              `json:"status_checked"`
}

type qrStaticJSON struct {
	MaskedName   string `json:"masked_name"`
	MaskedNumber string `json:"masked_number"`
	PhotoHint    string `json:"photo_hint"`
}

// qrVerifyView is r as qrVerifyJSON; parties are shown as Party.String
// does (masked name or a short prefix), never a whole subject.
func qrVerifyView(r *qrcode.Result, statusChecked bool) qrVerifyJSON {
	v := qrVerifyJSON{Valid: true, Kind: r.Kind.String(), Summary: r.Summary(), Region: r.Region, Assurance: r.Assurance,
		Presenter: r.Presenter.String(), Action: r.Action, Counter: r.Counter, Claims: r.Claims, StatusChecked: statusChecked}
	if r.OnBehalfOf != nil {
		v.OnBehalfOf = r.OnBehalfOf.String()
	}
	if !r.Time.IsZero() {
		v.Time = r.Time.UTC().Format(time.RFC3339)
	}
	if r.Static != nil {
		v.Static = &qrStaticJSON{MaskedName: r.Static.MaskedName, MaskedNumber: r.Static.MaskedNumber, PhotoHint: r.Static.PhotoHint}
	}
	return v
}

// qrWiring is what the QR routes need from other features: mountQR fills
// it from identity (pairwise IDs over binding subjects), auth (relying
// parties), credentials (status lists) and --peer.
type qrWiring struct {
	Pairwise       redeem.PairwiseDeriver
	RelyingParties redeem.RelyingParties
	Status         qrcode.StatusChecker
	// Directory, RegionKeys and PeerParties read the trust registry:
	// where other regions' nodes are (and whether they are active; the
	// --peer URLs are in Directory), the calling regions' keys and the
	// relying parties they redeem for; nil (no ledger) mounts no peer
	// route.
	Directory redeem.PeerDirectory
	// PeerClient calls the regions found through Directory.
	PeerClient *http.Client
	RegionKeys redeem.RegionKeys
	// IssuerKeys are the other regions' QR issuer keys (bindings,
	// delegations, static codes) from the registry; nil trusts only this
	// node's own keys.
	IssuerKeys qrcode.RegionKeySource
	// Instances are the keys of this node's region its keystore lacks
	// yet, from the region's record (another instance rotated first);
	// nil trusts only the keystore's.
	Instances   qrcode.RegionKeySource
	PeerParties redeem.PeerParties
	// Holders overrides the holder authenticator (default: the compact
	// binding authenticator of package qrcode/redeem).
	Holders redeem.HolderAuthenticator
	TTL     time.Duration
	// ForwardLimit is each client's limit of redemptions
	// (api.QRConfig.ForwardLimit, --qr-forward-rate-client), and
	// ForwardRegion and ForwardFloor their share of each other region's
	// (api.QRConfig.ForwardRegion, ForwardFloor; --qr-forward-rate-region,
	// --qr-forward-rate-floor); nil means the api package's defaults.
	ForwardLimit  *api.RateLimit
	ForwardRegion *api.RateLimit
	ForwardFloor  *api.RateLimit
	// OnPeerRefuse, if set, counts the node assertions refused at the
	// peer route and the peers' answers refused (metrics).
	OnPeerRefuse func(error)
}

// qrNodeKeys is the IssuerKeySource of the node's own keystore, re-read on
// every call so rotations are seen. Its verifiers take the keystore's
// Generation as their KeysGeneration: after a reload (SIGHUP) the node's
// new keys verify, and its retired ones are refused, at their next use.
type qrNodeKeys struct{ ks *keystore.Store }

func (n qrNodeKeys) IssuerKeys(context.Context) ([]qrcode.IssuerKey, error) {
	return publishedKeys(n.ks), nil
}

// errPeersWithoutRegistry refuses peers (--peer) on a node without the
// trust registry: a peer's answers are checked with its region's keys
// from the registry (redeem.PeerAnswerHeader), and without them they would
// rest on TLS alone. Keys pinned by configuration are not offered
// instead: who is a region, and with which keys, is the registry's to
// say (docs/qr.md, "Peers").
var errPeersWithoutRegistry = errors.New("qr: --peer needs the trust registry (a ledger): a peer's answers are checked with its region's keys from the registry, and a node without one could only trust them on TLS alone")

// mountQRWith returns the mount function of the QR routes.
func mountQRWith(w qrWiring) func(*api.Server, *node) error {
	return func(s *api.Server, n *node) error {
		if w.Pairwise == nil || w.RelyingParties == nil || w.Status == nil {
			return errors.New("qr: pairwise deriver, relying parties and status checker must be wired")
		}
		if w.Directory != nil && w.RegionKeys == nil {
			return errPeersWithoutRegistry
		}
		if _, err := n.keys.Active(gm.AlgSM2); err != nil {
			return fmt.Errorf("qr: %w", err)
		}
		nodeAuth := &redeem.NodeAssertions{Region: n.region, SigningKey: activeNodeKey(n.keys), Keys: w.RegionKeys, Nonces: n.store, OnRefuse: w.OnPeerRefuse}
		peers := &redeem.HTTPPeers{Directory: w.Directory, Credentials: nodeAuth, Client: w.PeerClient, OnRefuse: w.OnPeerRefuse}
		if w.RegionKeys != nil {
			peers.Answers = nodeAuth // the answering region's keys are in the registry
		}
		region, err := qrcode.ParseRegion(n.region)
		if err != nil {
			return err
		}
		vc := qrcode.VerifierConfig{Keys: qrNodeKeys{n.keys}, KeysGeneration: n.keys.Generation, Region: region, Status: w.Status}
		if w.IssuerKeys != nil {
			vc.Regions = w.IssuerKeys
		}
		if w.Instances != nil {
			vc.Instances = w.Instances
		}
		v, err := qrcode.NewVerifier(vc)
		if err != nil {
			return err
		}
		// Offline codes of any region verify at POST /v1/qr/verify with v:
		// other regions' keys and status from the registry and the ledger.
		svc, err := redeem.NewService(redeem.ServiceConfig{
			Region: n.region, Store: n.store, Pairwise: w.Pairwise, RelyingParties: w.RelyingParties, Status: w.Status, TTL: w.TTL,
			Peers: peers, PeerParties: w.PeerParties, Offline: v, Nonces: n.store, OnPeerRefuse: w.OnPeerRefuse,
		})
		if err != nil {
			return err
		}
		holders := w.Holders
		if holders == nil {
			holders = &redeem.BindingAuthenticator{Verifier: v, Nonces: n.store, Region: n.region}
		}
		n.log.Info("qr routes mounted", slog.Duration("ttl", svc.TTL()))
		cfg := api.QRConfig{Service: svc, Holders: holders, Verifier: v, Limiter: n.store, ForwardLimit: w.ForwardLimit,
			ForwardRegion: w.ForwardRegion, ForwardFloor: w.ForwardFloor}
		if w.RegionKeys != nil && w.PeerParties != nil {
			cfg.Peers, cfg.PeerAnswers = nodeAuth, nodeAuth
		}
		return s.MountQR(cfg)
	}
}

// mountQR returns the mount function of the QR routes with the node's
// real components: binding subjects and pairwise IDs from the national
// pairwise key, relying parties from the auth client registry, status
// from the credential status lists (read at once, so a revoked binding
// stops online immediately), the peers of --peer, and the other regions'
// keys and relying parties from the ledger view (never from a peer). It
// is mounted after mountCredentials.
func mountQR(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(s *api.Server, n *node) error {
		if n.statusLists == nil {
			return errors.New("qr: the credential status lists are not mounted")
		}
		f := cmd.Flags()
		peers, err := peersOf(n, cmd)
		if err != nil {
			return err
		}
		ttl, _ := f.GetDuration("qr-ttl")
		var forward [3]api.RateLimit
		for i, name := range []string{"qr-forward-rate-client", "qr-forward-rate-region", "qr-forward-rate-floor"} {
			spec, _ := f.GetString(name)
			if forward[i], err = api.ParseRateLimit("", spec); err != nil {
				return fmt.Errorf("--%s: %w", name, err)
			}
		}
		subjects, err := newBindingSubjects(n)
		if err != nil {
			return fmt.Errorf("qr: %w", err)
		}
		// The relying parties are the registry on the ledger, read from
		// the node's view: every region's, as another region's party
		// redeems here with its home region's token (federation).
		nl, ok := ledgerOf(n)
		if !ok && len(peers) > 0 {
			return errPeersWithoutRegistry
		}
		if !ok {
			return errors.New("qr: the relying-party registry is on the ledger; no ledger is mounted")
		}
		clients := nl.AllClients
		region, err := qrcode.ParseRegion(n.region)
		if err != nil {
			return err
		}
		status := &enrollment.ListStatus{Region: region, Lists: n.statusLists}
		w := qrWiring{
			Pairwise: subjects, RelyingParties: &enrollment.QRRelyingParties{Clients: clients, Sectors: sectorsOf(n)},
			Status: status, TTL: ttl, ForwardLimit: &forward[0], ForwardRegion: &forward[1], ForwardFloor: &forward[2],
		}
		if n.ledger != nil {
			dir, err := directoryOf(n, cmd)
			if err != nil {
				return fmt.Errorf("qr: %w", err)
			}
			w.RegionKeys, w.Directory = regionKeysOf(n, s), dir
			if w.PeerClient, err = peerClientOf(n, cmd); err != nil {
				return fmt.Errorf("qr: %w", err)
			}
			w.IssuerKeys, w.Instances = regionKeysOf(n, s), instancesOf(n, s)
			w.PeerParties = &federation.Parties{Registry: n.ledger.View, Sectors: n.ledger.Client, OnRefuse: refusalsOf(n, s)}
			w.OnPeerRefuse = refusalsOf(n, s)
			if status.Remote, err = remoteQRStatus(n, s, dir, w.PeerClient); err != nil {
				return fmt.Errorf("qr: %w", err)
			}
		}
		return mountQRWith(w)(s, n)
	}
}

// regionKeysOf returns the other regions' keys from n's ledger view, one
// resolver (and parsed-key cache) per node; nil without a ledger.
func regionKeysOf(n *node, s *api.Server) *federation.Keys {
	if n.ledger == nil {
		return nil
	}
	if n.regionKeys == nil {
		n.regionKeys = &federation.Keys{Registry: n.ledger.View, OnRefuse: refusalsOf(n, s)}
	}
	return n.regionKeys
}

// instancesOf returns the fallback of n's verifiers for a key of its
// region that its keystore does not hold yet (another instance rotated
// first): that key on the region's record in n's ledger view. Callers
// have checked that n has a ledger: the result fills interface fields,
// where a nil *Instances would not read as nil.
func instancesOf(n *node, s *api.Server) *federation.Instances {
	return &federation.Instances{Keys: regionKeysOf(n, s), Region: n.region, Keystore: n.keys}
}

// refusalsOf counts what federation refuses, by reason
// (trustid_federation_refusals_total), once per node.
func refusalsOf(n *node, s *api.Server) func(error) {
	if n.fedRefusals == nil {
		n.fedRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustid_federation_refusals_total",
			Help: "Other regions' keys, tokens and relying parties refused from the trust registry, by reason.",
		}, []string{"reason"})
		s.Registerer().MustRegister(n.fedRefusals)
	}
	c := n.fedRefusals
	return func(err error) { c.WithLabelValues(federation.Reason(err)).Inc() }
}

// peerFetchTimeout bounds a node-to-node call of this node (a status
// list fetch, an introspection).
const peerFetchTimeout = 5 * time.Second

// peerClientOf returns the client of n's calls to other regions' nodes,
// at the endpoints they registered and at --peer (federation.PeerClient
// in n's mode), one per node. The hosts the operator names, those of
// --peer-internal-host and of --peer, may resolve to private addresses.
func peerClientOf(n *node, cmd *cobra.Command) (*http.Client, error) {
	if n.peerClient == nil {
		f := cmd.Flags()
		internal, _ := f.GetStringArray("peer-internal-host")
		peers, err := peersOf(n, cmd)
		if err != nil {
			return nil, err
		}
		for _, base := range peers {
			if u, err := url.Parse(base); err == nil {
				internal = append(internal, u.Hostname())
			}
		}
		c, err := federation.PeerClient(federation.PeerClientOptions{Development: n.peerDev, InternalHost: vc.AllowHosts(internal...), Timeout: peerFetchTimeout})
		if err != nil {
			return nil, err
		}
		n.peerClient = c
	}
	return n.peerClient, nil
}

// remoteQRStatus returns the status checker of other regions' QR codes
// and bindings: their nodes' Token Status Lists, named by each region's
// registered endpoint and fetched with client where dir calls the node
// (that endpoint in n's mode, or the operator's --peer URL),
// verified with the region's keys in the registry and against the heads
// anchored on the ledger, cached (at most 16 MiB of lists) and kept while
// their head has not moved, so they answer while the region's node is
// down.
func remoteQRStatus(n *node, s *api.Server, dir federation.Directory, client *http.Client) (qrcode.StatusChecker, error) {
	view := n.ledger.View
	src := &vc.HTTPStatusSource{Client: client, Resolver: &vc.RegistryResolver{Registry: view},
		Algorithms: gm.JWTVerifyAlgorithms, Anchors: view, AnchorWait: time.Second, Fetch: regionStatusFetch(dir, client, client)}
	lists := vc.NewStatusCheckerWith(src, vc.StatusCheckerOptions{TTL: 5 * time.Minute, MaxCacheBytes: 16 << 20,
		FetchTimeout: 2 * peerFetchTimeout, KeepAnchored: true})
	return &federation.QRStatus{Directory: dir, Heads: view, Lists: lists, OnRefuse: refusalsOf(n, s)}, nil
}

// activeNodeKey gives the node's active SM2 key, a region key in the
// registry, at each node-to-node signature: after a rotation and a
// keystore reload (SIGHUP) the new key signs, and the old one may be
// retired without cutting the node off from other regions.
func activeNodeKey(ks *keystore.Store) func() (crypto.Signer, string, error) {
	return func() (crypto.Signer, string, error) {
		k, err := ks.Active(gm.AlgSM2)
		return k.Signer, k.Kid, err
	}
}

// peerIntrospectionOf returns, with a ledger, the introspection of other
// regions' tokens at their nodes and the authenticator of other regions'
// nodes asking about this node's tokens: node assertions signed by this
// node's active SM2 key (a region key in the registry), checked with the
// calling regions' keys from the ledger view. Without a ledger: nil, nil.
func peerIntrospectionOf(n *node, s *api.Server, cmd *cobra.Command) (auth.PeerIntrospector, *redeem.NodeAssertions, error) {
	if n.ledger == nil {
		return nil, nil, nil
	}
	if _, err := n.keys.Active(gm.AlgSM2); err != nil {
		return nil, nil, err
	}
	na := &redeem.NodeAssertions{Region: n.region, SigningKey: activeNodeKey(n.keys), Keys: regionKeysOf(n, s),
		Nonces: n.store, OnRefuse: refusalsOf(n, s)}
	client, err := peerClientOf(n, cmd)
	if err != nil {
		return nil, nil, err
	}
	dir, err := directoryOf(n, cmd)
	if err != nil {
		return nil, nil, err
	}
	in := &federation.Introspector{Directory: dir, Credentials: na, Client: client, Answers: na, OnRefuse: refusalsOf(n, s)}
	return in, na, nil
}

// directoryOf returns where n calls other regions' nodes: at their
// registered endpoints in n's mode, or at the operator's --peer URL for a
// region (redemptions, introspection, QR and credential status lists).
// n has a ledger.
func directoryOf(n *node, cmd *cobra.Command) (federation.Directory, error) {
	peers, err := peersOf(n, cmd)
	if err != nil {
		return federation.Directory{}, err
	}
	return federation.Directory{Registry: n.ledger.View, Development: n.peerDev, Peers: peers}, nil
}

// tokensOf returns what auth needs to accept other regions' access tokens
// from n's ledger view, or nil (own tokens only) without a ledger.
func tokensOf(n *node, s *api.Server) auth.Federation {
	if n.ledger == nil {
		return nil
	}
	return federation.Tokens{Keys: regionKeysOf(n, s)}
}
