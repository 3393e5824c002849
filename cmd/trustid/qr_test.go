package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
	"github.com/trustid-cn/trustid/store"
)

// TestQRShowVerify: the holder side makes a demo wallet and renders codes
// to PNG; the verifier side scans the PNGs back and verifies them offline.
func TestQRShowVerify(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	ctx := context.Background()
	data := []string{"--data", filepath.Join(dir, "data")}
	wallet := filepath.Join(dir, "wallet.json")
	png := filepath.Join(dir, "code.png")

	if _, _, err := run(t, ctx, append([]string{"qr", "show", "--wallet", wallet}, data...)...); err == nil || !strings.Contains(err.Error(), "--demo") {
		t.Fatalf("show without a wallet: %v", err)
	}
	out, errOut, err := run(t, ctx, append([]string{"qr", "show", "--demo", "--wallet", wallet, "--png", png, "--challenge", "0a0b0c"}, data...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "DEMO") || !strings.Contains(out, "▀") || !strings.Contains(out, "TIDOFF2:") {
		t.Errorf("show output:\n%s\n%s", out, errOut)
	}
	verify := func(args ...string) (string, error) {
		out, _, err := run(t, ctx, append(append([]string{"qr", "verify"}, args...), data...)...)
		return out, err
	}
	out, err = verify("--image", png, "--no-status", "--challenge", "0a0b0c")
	if err != nil || !strings.Contains(out, "VALID offline code") || !strings.Contains(out, "status NOT checked") {
		t.Fatalf("verify PNG: %v\n%s", err, out)
	}
	if _, err := verify("--image", png, "--no-status", "--challenge", "ffff"); err == nil || !strings.Contains(err.Error(), "challenge") {
		t.Errorf("wrong challenge: %v", err)
	}
	if _, err := verify("--image", png); err == nil || !strings.Contains(err.Error(), "status") {
		t.Errorf("no status source: %v", err)
	}

	// Delegated: in scope and out of scope.
	out, _, err = run(t, ctx, append([]string{"qr", "show", "--wallet", wallet, "--kind", "delegated", "--text"}, data...)...)
	if err != nil {
		t.Fatal(err)
	}
	code := strings.TrimSpace(out)
	out, err = verify(code, "--no-status", "--action", "pickup")
	if err != nil || !strings.Contains(out, "on behalf of 演***") {
		t.Errorf("delegated: %v\n%s", err, out)
	}
	if _, err := verify(code, "--no-status", "--action", "medical"); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Errorf("out of scope: %v", err)
	}

	// Static: rendered to PNG, verified with a JWKS file, then revoked.
	if _, _, err := run(t, ctx, append([]string{"qr", "show", "--wallet", wallet, "--kind", "static", "--png", png, "--size", "500"}, data...)...); err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(dir, "jwks.json")
	writeJWKS(t, jwks, filepath.Join(dir, "data"))
	revoked := filepath.Join(dir, "revoked.txt")
	os.WriteFile(revoked, []byte("# none\n"), 0o600)
	out, err = verify("--image", png, "--jwks", jwks, "--revoked", revoked)
	if err != nil || !strings.Contains(out, "VALID static code") || !strings.Contains(out, "DEMO**********0000") {
		t.Fatalf("static: %v\n%s", err, out)
	}
	st, _ := qrcode.DecodeStatic(scanOrFail(t, png))
	os.WriteFile(revoked, []byte("310000 "+itoa(st.Status.List)+" "+itoa(st.Status.Index)+"\n"), 0o600)
	if _, err := verify("--image", png, "--jwks", jwks, "--revoked", revoked); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked static: %v", err)
	}
	// Garbage and online codes.
	if _, err := verify("hello", "--no-status"); err == nil || !strings.Contains(err.Error(), "not a TrustID") {
		t.Errorf("garbage: %v", err)
	}
	if _, err := verify((qrcode.OnlineCode{Region: 310000}).String(), "--no-status"); err == nil || !strings.Contains(err.Error(), "redeem it at a node") {
		t.Errorf("online: %v", err)
	}
}

func itoa(n uint32) string { b, _ := json.Marshal(n); return string(b) }

func scanOrFail(t *testing.T, path string) string {
	t.Helper()
	s, err := scanImage(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeJWKS exports the node's published keys as a JWKS file.
func writeJWKS(t *testing.T, path, dataDir string) {
	t.Helper()
	kek, err := keystore.ParseKEK(os.Getenv("TRUSTID_KEK"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(filepath.Join(dataDir, keystoreFile), kek, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var set gm.JWKS
	for _, k := range ks.Published() {
		j, err := k.JWK()
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, j)
	}
	b, _ := json.Marshal(set)
	os.WriteFile(path, b, 0o600)
}

type qrTestRPs struct{}

func (qrTestRPs) RelyingParty(_ context.Context, id string) (redeem.RelyingParty, error) {
	return redeem.RelyingParty{ClientID: id, Sector: id}, nil
}

type qrTestPairwise struct{}

func (qrTestPairwise) Pairwise(subject []byte, sector identity.Sector) (string, error) {
	msg := append([]byte{byte(sector.Kind)}, sector.Name+"\x00"...)
	return hex.EncodeToString(gm.HMACSM3([]byte("pairwise test key"), append(msg, subject...))), nil
}

// TestMountQR wires the QR routes on a node with its keystore and store
// and gets an online code for a binding the node signed; peers without
// the registry's keys to check their answers are refused at the mount.
func TestMountQR(t *testing.T) {
	dir := t.TempDir()
	kek, _ := keystore.ParseKEK("00112233445566778899aabbccddeeff")
	ks, err := keystore.Open(filepath.Join(dir, keystoreFile), kek, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mem, _ := store.NewMemory(store.MemoryOptions{})
	defer mem.Close()
	n := &node{log: slog.New(slog.DiscardHandler), region: "310000", dataDir: dir, keys: ks, store: mem}
	srv := api.New(api.Config{})
	if err := mountQRWith(qrWiring{})(srv, n); err == nil {
		t.Error("mounted without its dependencies")
	}
	// Peers without the registry's keys to check their answers: refused.
	peersOnly := qrWiring{Pairwise: qrTestPairwise{}, RelyingParties: qrTestRPs{}, Status: revokedFile{},
		Directory: federation.Directory{Peers: map[string]string{"320000": "https://js.trustid.example"}}}
	if err := mountQRWith(peersOnly)(srv, n); !errors.Is(err, errPeersWithoutRegistry) {
		t.Errorf("peers without a registry: %v", err)
	}
	if err := mountQRWith(qrWiring{Pairwise: qrTestPairwise{}, RelyingParties: qrTestRPs{}, Status: revokedFile{}})(srv, n); err != nil {
		t.Fatal(err)
	}
	w, err := newDemoWallet(ks, "310000", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	device, _ := gm.ParsePrivateKeyPEM([]byte(w.DeviceKey))
	req := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: w.Binding, Time: time.Now().Unix(), Nonce: make([]byte, 16), Region: "310000", Consent: []string{"demo"}}
	qrcode.SignHolderRequest(nil, device, req)
	body, _ := json.Marshal(req)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/qr", bytes.NewReader(body)))
	if rec.Code != 201 || !strings.Contains(rec.Body.String(), "TIDON1:") {
		t.Fatalf("POST /v1/qr: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/qr/verify", strings.NewReader(`{"code":"x"}`)))
	if rec.Code != 503 {
		t.Errorf("redeem without an authorizer: %d", rec.Code)
	}
}

// TestQRVerifyEnrolledPrintedCode: a printed code as enrollment issues
// it, read by counter staff with `trustid qr verify`: valid, with the
// masked name and number and what to compare the face with (the code
// carries no photo hint: the identity document's photo, by its type,
// never an empty "compare the face with: "); once the card is reported
// lost and its copy's identity credential revoked, refused as revoked
// from the node's published lists (once published: batched).
func TestQRVerifyEnrolledPrintedCode(t *testing.T) {
	f := newEnrollFixture(t)
	p := newPerson(t, "11010519900307123", "张三")
	code, _, m := f.enroll(f.enrollBody(p, "", "", func(m map[string]any) { m["static_code"] = true }))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	var r copiesResult
	raw, _ := json.Marshal(m)
	json.Unmarshal(raw, &r)
	if len(r.Copies) != 2 || r.Copies[1].StaticCode == nil {
		t.Fatalf("no printed code: %v", m["copies"])
	}
	card := r.Copies[1]
	jwksFile := saveJWKS(t, f.base)
	verify := func() (string, error) {
		t.Helper()
		out, _, err := run(t, context.Background(), "qr", "verify", card.StaticCode.Code, "--jwks", jwksFile, "--data", t.TempDir(), "--status-node", "310000="+f.base)
		return out, err
	}
	out, err := verify()
	if err != nil || !strings.Contains(out, "VALID static code") || !strings.Contains(out, "张*") {
		t.Fatalf("the printed code: %v\n%s", err, out)
	}
	if !strings.Contains(out, "compare the face with: the photo on the identity document (resident_id)") {
		t.Errorf("staff are not told what to compare the face with:\n%s", out)
	}
	if c, m, _ := f.do("POST", "/v1/credentials/"+card.IdentityCredential.ID+"/status", f.enrollTok, "application/json", `{"action":"revoke"}`); c != 200 {
		t.Fatalf("revoke the lost card: %d %v", c, m)
	}
	waitFor(t, func() bool {
		_, err := verify()
		return errors.Is(err, qrcode.ErrRevoked)
	}, "the lost card to be refused as revoked")
}

// TestQRVerifyStatusFromNode: `trustid qr verify --status-node
// REGION=URL` checks an offline code's binding in the status lists the
// region's node publishes: valid while the binding is, refused once it is
// revoked; a region without a node fails closed; malformed settings are
// refused before anything is fetched.
func TestQRVerifyStatusFromNode(t *testing.T) {
	f := newEnrollFixture(t)
	p := newPerson(t, "11010519900307123", "张三")
	code, r, m := f.enroll(f.enrollBody(p, "", "", nil))
	if code != 201 || r.BindingCredential == nil {
		t.Fatalf("enroll: %d %v", code, m)
	}
	jwksFile := saveJWKS(t, f.base)
	counter := uint64(0)
	verify := func(args ...string) (string, error) {
		t.Helper()
		counter++
		text, err := qrcode.NewOffline(nil, p.device, r.QRBinding, nil, qrcode.Presentation{Time: time.Now(), Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := run(t, context.Background(), append([]string{"qr", "verify", text, "--jwks", jwksFile, "--data", t.TempDir()}, args...)...)
		return out, err
	}
	node := "310000=" + f.base
	if out, err := verify("--status-node", node); err != nil || !strings.Contains(out, "VALID offline code") || strings.Contains(out, "NOT checked") {
		t.Fatalf("a valid binding: %v\n%s", err, out)
	}
	if _, err := verify("--status-node", "320000="+f.base); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("no node for the binding's region: %v, want status unavailable", err)
	}
	for _, bad := range [][]string{
		{"--status-node", f.base},
		{"--status-node", "310000=ftp://x"},
		{"--status-node", "310000=http://sh.trustid.example"},
		{"--status-node", "310000=http://10.0.0.1:8080"},
		{"--status-node", "310001=" + f.base},
		{"--status-node", node, "--status-node", node},
		{"--status-node", node, "--revoked", jwksFile},
	} {
		if _, err := verify(bad...); !errors.As(err, new(usageError)) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}

	sb, _ := json.Marshal(map[string]string{"action": "revoke"})
	if c, m, _ := f.do("POST", "/v1/credentials/"+r.BindingCredential.ID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
		t.Fatalf("revoke: %d %v", c, m)
	}
	waitFor(t, func() bool {
		_, err := verify("--status-node", node)
		return errors.Is(err, qrcode.ErrRevoked)
	}, "the revoked binding to be refused")
}

// saveJWKS writes the node's JWKS at base to a file for `trustid qr
// verify --jwks` and returns its path.
func saveJWKS(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestQRStaticRefusesForeignSignatures: POST /v1/qr/static verifies a
// code before rendering it: one signed by a key the node does not know
// is 403 qr_unknown_key, one whose signature does not verify 403
// qr_bad_signature, as api/openapi.json documents (the conformance
// transport checks each answer against it), without WWW-Authenticate:
// the route takes no HTTP authentication scheme (RFC 9110 §15.5.2).
func TestQRStaticRefusesForeignSignatures(t *testing.T) {
	n := startAuthNode(t)
	key, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := qrcode.Static{
		Subject: bytes.Repeat([]byte{0xc5}, 16), MaskedName: "李**", MaskedNumber: "3101**********002X", DocType: 1,
		Assurance: 2, IssuedAt: now.Add(-time.Hour), Expiry: now.AddDate(1, 0, 0), Status: qrcode.StatusRef{List: 1, Index: 1},
	}
	foreign, err := (&qrcode.Issuer{Signer: key, Kid: "not-this-node", Region: 310000}).IssueStatic(st)
	if err != nil {
		t.Fatal(err)
	}
	// The kid hint of the node's SM2 key on a signature by another key.
	_, jwks, _ := n.do("GET", "/.well-known/jwks.json", "", "", "")
	kid := ""
	for _, k := range jwks["keys"].([]any) {
		if k := k.(map[string]any); k["crv"] == "SM2" {
			kid, _ = k["kid"].(string)
		}
	}
	if kid == "" {
		t.Fatalf("no SM2 key in the node's JWKS: %v", jwks)
	}
	forged, err := (&qrcode.Issuer{Signer: key, Kid: kid, Region: 310000}).IssueStatic(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ code, want string }{{foreign, "qr_unknown_key"}, {forged, "qr_bad_signature"}} {
		form := url.Values{"code": {c.code}}.Encode()
		if code, m, h := n.do("POST", "/v1/qr/static", "", "application/x-www-form-urlencoded", form); code != 403 || m["error"] != c.want || h.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: %d %v %v, want 403 %s without a challenge", c.want, code, m, h, c.want)
		}
	}
}

// TestQRForwardShareFlags: --qr-forward-rate-region bounds the codes of
// another region all relying parties redeem at POST /v1/qr/verify beyond
// each one's --qr-forward-rate-floor: one party's codes use up the
// region's, and another party is served its floor, then refused
// (SECURITY.md, known gap 26).
func TestQRForwardShareFlags(t *testing.T) {
	n := startAuthNode(t, "--qr-forward-rate-region", "1/1h", "--qr-forward-rate-floor", "1/1h")
	tok := n.token("rp-qr-1", n.addClient("rp-qr-1", "SM2", "qr:redeem"), "--scope", "qr:redeem")
	other := n.token("rp-qr-2", n.addClient("rp-qr-2", "SM2", "qr:redeem"), "--scope", "qr:redeem")
	foreign := `{"code": "` + (qrcode.OnlineCode{Region: 440000}).String() + `"}`
	for i, c := range []struct {
		tok  string
		want int
	}{{tok, 422}, {tok, 422}, {tok, 429}, {other, 422}, {other, 429}} {
		if code, m, h := n.do("POST", "/v1/qr/verify", c.tok, "application/json", foreign); code != c.want || code == 429 && (m["error"] != "rate_limited" || h.Get("Retry-After") == "") {
			t.Fatalf("redemption %d of another region's code: %d %v, want %d", i+1, code, m, c.want)
		}
	}
}

// TestQRVerifyRateClientFlag: --qr-forward-rate-client bounds the codes
// of other regions one relying party redeems at POST /v1/qr/verify (each
// forwarded to its region's node; this node has no route, 422): over it
// 429 rate_limited with Retry-After, while this region's codes are not
// counted and another party still redeems (SECURITY.md, known gap 26).
func TestQRVerifyRateClientFlag(t *testing.T) {
	n := startAuthNode(t, "--qr-forward-rate-client", "2/1h")
	tok := n.token("rp-qr-1", n.addClient("rp-qr-1", "SM2", "qr:redeem"), "--scope", "qr:redeem")
	other := n.token("rp-qr-2", n.addClient("rp-qr-2", "SM2", "qr:redeem"), "--scope", "qr:redeem")
	foreign := `{"code": "` + (qrcode.OnlineCode{Region: 440000}).String() + `"}`
	local := `{"code": "` + (qrcode.OnlineCode{Region: 310000}).String() + `"}`
	for i := range 3 {
		if code, m, _ := n.do("POST", "/v1/qr/verify", tok, "application/json", local); code != 409 || m["error"] != "qr_code_used" {
			t.Fatalf("redemption of this region's code %d: %d %v", i+1, code, m)
		}
	}
	for i := range 2 {
		if code, m, _ := n.do("POST", "/v1/qr/verify", tok, "application/json", foreign); code != 422 || m["error"] != "qr_no_route" {
			t.Fatalf("redemption %d of another region's code: %d %v", i+1, code, m)
		}
	}
	if code, m, h := n.do("POST", "/v1/qr/verify", tok, "application/json", foreign); code != 429 || m["error"] != "rate_limited" || h.Get("Retry-After") == "" {
		t.Fatalf("redemption 3 of another region's code: %d %v, Retry-After %q; want 429 rate_limited", code, m["error"], h.Get("Retry-After"))
	}
	if code, m, _ := n.do("POST", "/v1/qr/verify", tok, "application/json", local); code != 409 || m["error"] != "qr_code_used" {
		t.Fatalf("this region's code after the limit: %d %v", code, m)
	}
	if code, m, _ := n.do("POST", "/v1/qr/verify", other, "application/json", foreign); code != 422 || m["error"] != "qr_no_route" {
		t.Fatalf("another party: %d %v", code, m)
	}
}
