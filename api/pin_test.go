package api

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// pinBase is the test node's base URL (its issuer and the device
// proofs' audience).
const pinBase = "https://node.example:8443"

// pinEnv is a node with the PIN check mounted over real components: a
// keystore, status lists, the credential issuer and verifier, PIN keys
// and an ephemeral store.
type pinEnv struct {
	base     string
	srv      *httptest.Server
	verifier *vc.Verifier
	clock    *fakeclock.Clock
	iss      *issuer.Issuer
	keys     *keystore.Store
	sealer   *identity.PINSealer
	logs     *syncBuffer
}

// pinTestConfig is the PIN check's config and the route's limits.
type pinTestConfig struct {
	enrollment.PINCheckConfig
	Limiter   Limiter
	AddrLimit *RateLimit
}

func testPINSealer(t testing.TB, seed byte) *identity.PINSealer {
	t.Helper()
	s, err := identity.NewPINSealer(
		[]identity.VersionedKey{{Version: 1, Secret: bytes.Repeat([]byte{seed}, 32)}},
		[]identity.VersionedKey{{Version: 1, Secret: bytes.Repeat([]byte{seed + 1}, 16)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newPINEnv starts a node. attempts is the shared attempt store (nil: a
// memory store on the test clock); configure edits the config.
func newPINEnv(t testing.TB, attempts store.Store, configure ...func(*pinTestConfig)) *pinEnv {
	t.Helper()
	return newPINEnvAt(t, pinBase, attempts, configure...)
}

// newPINEnvAt starts a node whose base URL is base.
func newPINEnvAt(t testing.TB, base string, attempts store.Store, configure ...func(*pinTestConfig)) *pinEnv {
	t.Helper()
	dir := t.TempDir()
	clk := fakeclock.New(time.Now().UTC().Truncate(time.Second))
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	checker := vc.NewStatusChecker(&vc.LocalStatusSource{BaseURL: base, Store: st}, time.Minute, clk.Now)
	v, err := vc.NewVerifier(vc.VerifierConfig{Trust: &vc.RegistryTrust{Local: is.Local()}, Algorithms: gm.JWTAlgorithms, Resolver: &vc.Resolver{Local: is.Local(), Now: clk.Now}, Status: checker, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := store.NewMemory(store.MemoryOptions{Now: clk.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	if attempts == nil {
		attempts = mem
	}
	sealer := testPINSealer(t, 11)
	logs := &syncBuffer{}
	s := New(Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	cfg := pinTestConfig{PINCheckConfig: enrollment.PINCheckConfig{Audience: base, Verifier: v, Issuers: []string{is.DID(), base}, PINs: sealer,
		Attempts: attempts, Nonces: attempts, Now: clk.Now}, Limiter: mem}
	for _, f := range configure {
		f(&cfg)
	}
	pc, err := enrollment.NewPINChecker(cfg.PINCheckConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MountPINCheck(PINCheckConfig{Checker: pc, Limiter: cfg.Limiter, AddrLimit: cfg.AddrLimit}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &pinEnv{base: base, verifier: v, srv: srv, clock: clk, iss: is, keys: ks, sealer: sealer, logs: logs}
}

// boundDevice is an enrolled device and its binding credential.
type boundDevice struct {
	device  crypto.Signer
	subject []byte
	id      string
	token   string
}

// bind issues a binding credential for a new device of subject number n,
// with pin sealed by sealer (no PIN when pin is empty), at level.
func (e *pinEnv) bind(t testing.TB, n byte, alg, pin string, sealer *identity.PINSealer, level identity.Level) *boundDevice {
	t.Helper()
	dev, err := gm.GenerateSigner(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, _ := gm.NewJWK(dev.Public(), "")
	jwk.Use, jwk.Alg = "", ""
	thumb, _ := jwk.Thumbprint()
	subject := append([]byte{3}, bytes.Repeat([]byte{n}, identity.BindingHandleSize-1)...)
	var sealed identity.SealedPIN
	if pin != "" {
		if sealed, err = sealer.SealPIN(pin, holder.PINAAD(subject, thumb)); err != nil {
			t.Fatal(err)
		}
	}
	now := e.clock.Now()
	// The binding credential is made exactly as enrollment makes it.
	var u [16]byte
	rand.Read(u[:])
	x := hex.EncodeToString(u[:])
	id := "urn:uuid:" + x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
	in := enrollment.BindingCredential(id, subject, jwk, sealed, level, "310000", now, now.Add(24*time.Hour))
	bc, err := e.iss.Issue(context.Background(), in, issuer.IssueOptions{Format: issuer.FormatVCJWT})
	if err != nil {
		t.Fatal(err)
	}
	return &boundDevice{device: dev, subject: subject, id: bc.ID, token: bc.Token}
}

func (e *pinEnv) proof(t testing.TB, dev crypto.Signer) string {
	t.Helper()
	p, err := holder.NewDeviceProof(dev, e.base, e.clock.Now(), rand.Text())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// check posts a PIN check; the raw body is returned for leak checks.
func (e *pinEnv) check(t testing.TB, body string) (int, http.Header, map[string]any, string) {
	t.Helper()
	resp, err := http.Post(e.srv.URL+PINCheckPath, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	var m map[string]any
	json.Unmarshal(buf.Bytes(), &m)
	return resp.StatusCode, resp.Header, m, buf.String()
}

func pinBody(binding, proof, pin string) string {
	b, _ := json.Marshal(map[string]string{"binding_credential": binding, "device_proof": proof, "pin": pin})
	return string(b)
}

func (e *pinEnv) try(t testing.TB, h *boundDevice, pin string) (int, http.Header, map[string]any) {
	t.Helper()
	c, hdr, m, _ := e.check(t, pinBody(h.token, e.proof(t, h.device), pin))
	return c, hdr, m
}

// TestPINCheck: the right PIN verifies; wrong PINs count down to a lock
// that refuses even the right PIN until Retry-After has passed; a right
// PIN clears the count.
func TestPINCheck(t *testing.T) {
	e := newPINEnv(t, nil)
	const pin, wrong = "482916", "482917"
	h := e.bind(t, 1, gm.AlgSM2, pin, e.sealer, identity.L3)
	if c, _, m := e.try(t, h, pin); c != 200 || m["verified"] != true || m["assurance_level"] != float64(3) {
		t.Fatalf("right PIN: %d %v", c, m)
	}
	// A P-256 device at L4.
	p := e.bind(t, 2, gm.AlgES256, pin, e.sealer, identity.L4)
	if c, _, m := e.try(t, p, pin); c != 200 || m["assurance_level"] != float64(4) {
		t.Fatalf("P-256 device: %d %v", c, m)
	}
	// One wrong, then right: the count is cleared.
	if c, _, m := e.try(t, h, wrong); c != 403 || m["error"] != "pin_mismatch" || m["attempts_remaining"] != float64(4) {
		t.Fatalf("wrong PIN: %d %v", c, m)
	}
	if c, _, m := e.try(t, h, pin); c != 200 {
		t.Fatalf("right PIN after a wrong one: %d %v", c, m)
	}
	for i := 4; i >= 0; i-- {
		c, _, m := e.try(t, h, wrong)
		if c != 403 || m["error"] != "pin_mismatch" || m["attempts_remaining"] != float64(i) {
			t.Fatalf("wrong PIN, %d left: %d %v", i, c, m)
		}
		// "1 attempt left", not "1 attempts left".
		if want := fmt.Sprintf("wrong PIN; %d attempts left before the binding is locked", i); i == 1 {
			want = "wrong PIN; 1 attempt left before the binding is locked"
			if m["error_description"] != want {
				t.Errorf("wrong PIN, 1 left: %q, want %q", m["error_description"], want)
			}
		} else if m["error_description"] != want {
			t.Errorf("wrong PIN, %d left: %q, want %q", i, m["error_description"], want)
		}
	}
	c, hdr, m := e.try(t, h, pin)
	if c != 429 || m["error"] != "pin_locked" {
		t.Fatalf("right PIN on a locked binding: %d %v", c, m)
	}
	retry, err := strconv.Atoi(hdr.Get("Retry-After"))
	// GCRA: one attempt per Window/MaxAttempts = 3 minutes.
	if err != nil || retry < 170 || retry > 180 {
		t.Fatalf("Retry-After %q", hdr.Get("Retry-After"))
	}
	// Another binding of the same node is not locked.
	if c, _, m := e.try(t, p, pin); c != 200 {
		t.Errorf("other binding during the lock: %d %v", c, m)
	}
	e.clock.Advance(time.Duration(retry-2) * time.Second)
	if c, _, m := e.try(t, h, pin); c != 429 {
		t.Fatalf("before Retry-After: %d %v", c, m)
	}
	e.clock.Advance(3 * time.Second)
	if c, _, m := e.try(t, h, pin); c != 200 {
		t.Fatalf("after Retry-After: %d %v", c, m)
	}
	if c, _, m := e.try(t, h, wrong); c != 403 || m["attempts_remaining"] != float64(4) {
		t.Errorf("count after the lock and a right PIN: %d %v", c, m)
	}
}

// TestPINCheckRefusals: each refusal has its own code, none is a 5xx,
// and none before the PIN check spends an attempt.
func TestPINCheckRefusals(t *testing.T) {
	e := newPINEnv(t, nil)
	const pin = "482916"
	h := e.bind(t, 1, gm.AlgSM2, pin, e.sealer, identity.L3)
	other, _ := gm.GenerateKey(rand.Reader)

	noPIN := e.bind(t, 2, gm.AlgSM2, "", nil, identity.L2)
	foreignSeal := e.bind(t, 3, gm.AlgSM2, pin, testPINSealer(t, 40), identity.L3)
	revoked := e.bind(t, 4, gm.AlgSM2, pin, e.sealer, identity.L3)
	suspended := e.bind(t, 5, gm.AlgSM2, pin, e.sealer, identity.L3)
	ctx := context.Background()
	if err := e.iss.SetStatus(ctx, revoked.id, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	if err := e.iss.SetStatus(ctx, suspended.id, issuer.ActionSuspend); err != nil {
		t.Fatal(err)
	}
	// The verifier of h's binding moved into a binding of another subject.
	moved := e.bind(t, 6, gm.AlgSM2, pin, e.sealer, identity.L3)
	movedSealed := jwtClaim(t, h.token)["credentialSubject"].(map[string]any)["pinVerifier"].(string)
	moved.token = e.reissue(t, moved.token, func(cs map[string]any) { cs["pinVerifier"] = movedSealed })
	// ... into a binding of the same subject for another device key, and
	// of another subject for the same device key: the AAD names both.
	otherJWK, _ := gm.NewJWK(other.Public(), "")
	otherDevice := e.reissue(t, h.token, func(cs map[string]any) {
		cs["cnf"] = map[string]any{"jwk": map[string]any{"kty": otherJWK.Kty, "crv": otherJWK.Crv, "x": otherJWK.X, "y": otherJWK.Y}}
	})
	otherSubject := e.reissue(t, h.token, func(cs map[string]any) {
		cs["id"] = holder.SubjectURI(append([]byte{3}, bytes.Repeat([]byte{8}, identity.BindingHandleSize-1)...))
	})
	// A credential of another type, issued by this node.
	notBinding := e.reissue(t, h.token, func(cs map[string]any) {}, "ResidenceCredential")
	// A binding by another node, whose issuer this node does not accept.
	stranger := newPINEnvAt(t, "https://js.trustid.example", nil)
	strangerBinding := stranger.bind(t, 7, gm.AlgSM2, pin, e.sealer, identity.L3)
	used := e.proof(t, h.device)
	if c, _, m, _ := e.check(t, pinBody(h.token, used, pin)); c != 200 {
		t.Fatalf("first use of a proof: %d %v", c, m)
	}
	tampered := h.token[:len(h.token)-4] + flip(h.token[len(h.token)-4]) + h.token[len(h.token)-3:]
	staleProof, _ := holder.NewDeviceProof(h.device, pinBase, e.clock.Now().Add(-time.Hour), rand.Text())
	otherNodeProof, _ := holder.NewDeviceProof(h.device, "https://js.trustid.example", e.clock.Now(), rand.Text())

	cases := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"revoked binding", pinBody(revoked.token, e.proof(t, revoked.device), pin), 403, "binding_revoked"},
		{"suspended binding", pinBody(suspended.token, e.proof(t, suspended.device), pin), 403, "binding_suspended"},
		{"proof by another device", pinBody(h.token, e.proof(t, other), pin), 422, "device_proof_invalid"},
		{"replayed proof", pinBody(h.token, used, pin), 422, "device_proof_replayed"},
		{"stale proof", pinBody(h.token, staleProof, pin), 422, "device_proof_invalid"},
		{"proof for another node", pinBody(h.token, otherNodeProof, pin), 422, "device_proof_invalid"},
		{"no PIN set", pinBody(noPIN.token, e.proof(t, noPIN.device), pin), 422, "pin_not_set"},
		{"verifier sealed by another node", pinBody(foreignSeal.token, e.proof(t, foreignSeal.device), pin), 422, "pin_verifier_invalid"},
		{"verifier moved to another binding", pinBody(moved.token, e.proof(t, moved.device), pin), 422, "pin_verifier_invalid"},
		{"verifier moved to another device's binding", pinBody(otherDevice, e.proof(t, other), pin), 422, "pin_verifier_invalid"},
		{"verifier moved to another subject's binding", pinBody(otherSubject, e.proof(t, h.device), pin), 422, "pin_verifier_invalid"},
		{"not a binding credential", pinBody(notBinding, e.proof(t, h.device), pin), 422, "binding_invalid"},
		{"issuer not accepted", pinBody(strangerBinding.token, e.proof(t, strangerBinding.device), pin), 422, "binding_invalid"},
		{"bad signature", pinBody(tampered, e.proof(t, h.device), pin), 422, "binding_invalid"},
		{"garbage binding", pinBody("x.y.z", e.proof(t, h.device), pin), 422, "binding_invalid"},
		{"binding of one part", pinBody("xyz", e.proof(t, h.device), pin), 422, "binding_invalid"},
		{"PIN too short", pinBody(h.token, e.proof(t, h.device), "48291"), 400, "invalid_request"},
		{"PIN not digits", pinBody(h.token, e.proof(t, h.device), "48291a"), 400, "invalid_request"},
		{"no proof", pinBody(h.token, "", pin), 400, "invalid_request"},
		{"no binding", pinBody("", e.proof(t, h.device), pin), 400, "invalid_request"},
		{"PIN as a number", `{"binding_credential":"a","device_proof":"b","pin":482916}`, 400, "invalid_request"},
		{"unknown member", `{"binding_credential":"a","device_proof":"b","pin":"482916","x":1}`, 400, "invalid_request"},
		{"duplicate member", `{"binding_credential":"a","device_proof":"b","pin":"482916","pin":"482917"}`, 400, "invalid_request"},
		{"trailing data", `{"binding_credential":"a","device_proof":"b","pin":"482916"} {}`, 400, "invalid_request"},
		{"array", `[]`, 400, "invalid_request"},
		{"not JSON", `pin=482916`, 400, "invalid_request"},
		{"empty", ``, 400, "invalid_request"},
		{"too large", `{"binding_credential":"` + strings.Repeat("a", 20000) + `"}`, 413, "request_too_large"},
	}
	for _, c := range cases {
		code, _, m, raw := e.check(t, c.body)
		if code != c.status || m["error"] != c.code {
			t.Errorf("%s: got %d %v, want %d %s", c.name, code, m, c.status, c.code)
		}
		if strings.Contains(raw, "482916") || strings.Contains(raw, "48291a") {
			t.Errorf("%s: the answer echoes the PIN: %s", c.name, raw)
		}
	}
	// No refusal before the PIN check spent one of h's attempts.
	if c, _, m := e.try(t, h, "482917"); c != 403 || m["attempts_remaining"] != float64(4) {
		t.Errorf("attempts after the refusals: %d %v", c, m)
	}
	// An expired binding.
	e.clock.Advance(25 * time.Hour)
	if c, _, m := e.try(t, h, pin); c != 403 || m["error"] != "binding_expired" {
		t.Errorf("expired binding: %d %v", c, m)
	}
	pins := leakcheck.NewDelimited(t, pin, "482917")
	pins.PlantLog(e.logs)
	if hits := pins.Log([]byte(e.logs.String())); len(hits) > 0 {
		t.Errorf("a PIN is in the logs: %v", hits)
	}
}

// jwtClaim decodes the payload of a compact JWS.
func jwtClaim(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// reissue has the node sign a changed copy of a binding credential (as
// a client allowed to issue could), with typ replacing its second type
// when given.
func (e *pinEnv) reissue(t *testing.T, tok string, edit func(cs map[string]any), typ ...string) string {
	t.Helper()
	m := jwtClaim(t, tok)
	cs := m["credentialSubject"].(map[string]any)
	edit(cs)
	types := []any{vc.TypeCredential, vc.TypeDeviceBindingCredential}
	if len(typ) > 0 {
		types[1] = typ[0]
	}
	in := map[string]any{"@context": m["@context"], "type": types, "validUntil": m["validUntil"], "credentialSubject": cs}
	is, err := e.iss.Issue(context.Background(), in, issuer.IssueOptions{Format: issuer.FormatVCJWT})
	if err != nil {
		t.Fatal(err)
	}
	return is.Token
}

// TestPINCheckSharedLockout: two instances of a region sharing one Redis
// share the attempt count: wrong PINs at one lock the binding at the
// other, and a proof spent at one is spent at the other.
func TestPINCheckSharedLockout(t *testing.T) {
	rc := testredis.StartClient(t)
	shared := func() store.Store {
		r, err := redisstore.New(rc, redisstore.Options{Prefix: "trustid:310000:", KeySecret: bytes.Repeat([]byte{9}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.InitEpoch(t.Context()); err != nil { // a new server: its replay history is complete
			t.Fatal(err)
		}
		return r
	}
	a := newPINEnv(t, shared())
	// b is another instance: same issuer and PIN keys, its own server.
	b := newPINEnv(t, shared(), func(c *pinTestConfig) {
		c.Verifier, c.Issuers, c.PINs = a.verifier, []string{a.iss.DID(), pinBase}, a.sealer
	})
	const pin = "482916"
	h := a.bind(t, 1, gm.AlgSM2, pin, a.sealer, identity.L3)
	if c, _, m := b.try(t, h, pin); c != 200 {
		t.Fatalf("right PIN at the other instance: %d %v", c, m)
	}
	for i := range 5 {
		env := []*pinEnv{a, b}[i%2]
		if c, _, m := env.try(t, h, "482917"); c != 403 || m["attempts_remaining"] != float64(4-i) {
			t.Fatalf("wrong PIN %d: %d %v", i, c, m)
		}
	}
	for _, env := range []*pinEnv{a, b} {
		if c, hdr, m := env.try(t, h, pin); c != 429 || hdr.Get("Retry-After") == "" {
			t.Errorf("locked binding: %d %v", c, m)
		}
	}
	proof := a.proof(t, h.device)
	a.check(t, pinBody(h.token, proof, pin))
	if c, _, m, _ := b.check(t, pinBody(h.token, proof, pin)); c != 422 || m["error"] != "device_proof_replayed" {
		t.Errorf("proof spent at the other instance: %d %v", c, m)
	}
}

// TestPINCheckRateLimit: the route is limited per source address before
// anything is verified.
func TestPINCheckRateLimit(t *testing.T) {
	e := newPINEnv(t, nil, func(c *pinTestConfig) { c.AddrLimit = &RateLimit{Limit: 2, Window: time.Minute} })
	for i := range 3 {
		c, hdr, m, _ := e.check(t, `{}`)
		if i < 2 && c != 400 || i == 2 && (c != 429 || m["error"] != CodeRateLimited || hdr.Get("Retry-After") == "") {
			t.Errorf("request %d: %d %v", i, c, m)
		}
	}
}

// TestPINErrorsMapped: the sentinels of the PIN check map to their
// codes through the shared table.
func TestPINErrorsMapped(t *testing.T) {
	for err, code := range map[error]string{
		ErrPINNotSet: "pin_not_set", ErrBindingCredential: "binding_invalid", identity.ErrPINVerifier: "pin_verifier_invalid",
		identity.ErrPINMismatch: "pin_mismatch", &identity.LockedError{RetryAfter: time.Minute}: "pin_locked",
		fmt.Errorf("%w: x", ErrPINRequest): CodeInvalidRequest,
	} {
		if e := mapError(err); e.Code != code || e.Status >= 500 {
			t.Errorf("%v: %d %s, want %s", err, e.Status, e.Code, code)
		}
	}
}

// FuzzPINCheckRequest: the request decoder never panics; a decoded
// request never has unknown members, and every refusal is a 4xx (the
// unverified issuer reader: enrollment.FuzzUnverifiedIssuer).
func FuzzPINCheckRequest(f *testing.F) {
	for _, s := range []string{
		`{"binding_credential":"eyJhbGciOiJTTTIifQ.eyJpc3N1ZXIiOiJkaWQ6d2ViOngifQ.AA","device_proof":"a.b.c","pin":"482916"}`,
		`{"binding_credential":"a.eyJpc3N1ZXIiOnsiaWQiOiJ4In19.c","device_proof":"","pin":""}`,
		`{"pin":1}`, `[]`, `{"pin":"1","pin":"2"}`, `{} x`, `{"extra_field":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", PINCheckPath, strings.NewReader(body))
		_, err := decodePINCheck(r)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Status >= 500 {
				t.Fatalf("refusal is not a 4xx: %v", err)
			}
			return
		}
		if strings.Contains(body, `"extra_field"`) {
			t.Fatalf("unknown member accepted: %s", body)
		}
	})
}

// BenchmarkPINCheck measures one whole PIN check over HTTP on loopback:
// the binding's SM2 signature and status, the device proof's SM2
// signature and marker, the attempt count and the verifier's SM4-GCM and
// HMAC-SM3.
func BenchmarkPINCheck(b *testing.B) {
	e := newPINEnv(b, nil, func(c *pinTestConfig) { c.AddrLimit = &RateLimit{} })
	h := e.bind(b, 1, gm.AlgSM2, "482916", e.sealer, identity.L3)
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = pinBody(h.token, e.proof(b, h.device), "482916")
	}
	b.ResetTimer()
	for i := range b.N {
		if c, _, m, _ := e.check(b, bodies[i]); c != 200 {
			b.Fatalf("%d %v", c, m)
		}
	}
}

// handBuilt signs the payload of tok, changed by edit (cs is its
// credentialSubject), with the node key and kid that signed tok, as the
// issuer signs a vc+jwt but past its checks: a binding credential the
// node's issuer never makes, which the PIN check must still refuse.
func (e *pinEnv) handBuilt(t *testing.T, tok string, edit func(m, cs map[string]any)) string {
	t.Helper()
	var hdr struct{ Alg, Kid string }
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil || json.Unmarshal(raw, &hdr) != nil {
		t.Fatalf("header of %s: %v", tok, err)
	}
	k, err := e.keys.Active(hdr.Alg)
	if err != nil {
		t.Fatal(err)
	}
	m := jwtClaim(t, tok)
	edit(m, m["credentialSubject"].(map[string]any))
	out, err := vc.SignJWT(m, vc.TypVCJWT, hdr.Kid, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPINCheckHandBuiltBindings: binding credentials signed by the node's
// key but not as enrollment makes them are binding_invalid, each with the
// right PIN sealed for its subject and device: no id, two subjects, the
// type IdentityCredential, a subject handle of another size or spelt in upper case,
// a cnf or jwk with another member, a level that is not an integer level
// (also one that is a level modulo 256), a pinVerifier that is not a
// string. The same token unchanged is accepted.
func TestPINCheckHandBuiltBindings(t *testing.T) {
	e := newPINEnv(t, nil)
	const pin = "482916"
	h := e.bind(t, 1, gm.AlgSM2, pin, e.sealer, identity.L3)
	jwk, _ := gm.NewJWK(h.device.Public(), "")
	jwk.Use, jwk.Alg = "", ""
	thumb, _ := jwk.Thumbprint()
	// subject makes cs the binding of the handle s, with the PIN sealed
	// for it.
	subject := func(cs map[string]any, s []byte, id string) {
		sealed, err := e.sealer.SealPIN(pin, holder.PINAAD(s, thumb))
		if err != nil {
			t.Fatal(err)
		}
		cs["id"], cs["pinVerifier"] = id, string(sealed)
	}
	short := bytes.Repeat([]byte{9}, identity.BindingHandleSize/2)
	lettered := bytes.Repeat([]byte{0xab}, identity.BindingHandleSize)
	cases := map[string]func(m, cs map[string]any){
		"no id": func(m, _ map[string]any) { delete(m, "id") },
		"two subjects": func(m, cs map[string]any) {
			m["credentialSubject"] = []any{cs, map[string]any{"id": holder.SubjectURI(short)}}
		},
		// The other type the node issues at enrollment: one of another
		// type is refused by the verifier (the node is accredited for
		// these two only).
		"an identity credential": func(m, _ map[string]any) {
			m["type"] = []any{vc.TypeCredential, vc.TypeIdentityCredential}
		},
		"a handle of half the size": func(_, cs map[string]any) { subject(cs, short, holder.SubjectURI(short)) },
		"a handle in upper case": func(_, cs map[string]any) {
			subject(cs, lettered, "urn:trustid:subject:"+strings.ToUpper(hex.EncodeToString(lettered)))
		},
		"cnf with a kid":   func(_, cs map[string]any) { cs["cnf"].(map[string]any)["kid"] = "k" },
		"jwk with alg":     func(_, cs map[string]any) { cs["cnf"].(map[string]any)["jwk"].(map[string]any)["alg"] = "SM2" },
		"level 2.5":        func(_, cs map[string]any) { cs["assuranceLevel"] = 2.5 },
		"level 5":          func(_, cs map[string]any) { cs["assuranceLevel"] = 5 },
		"level 259":        func(_, cs map[string]any) { cs["assuranceLevel"] = 259 },
		"level -253":       func(_, cs map[string]any) { cs["assuranceLevel"] = -253 },
		"level as text":    func(_, cs map[string]any) { cs["assuranceLevel"] = "3" },
		"pinVerifier true": func(_, cs map[string]any) { cs["pinVerifier"] = true },
	}
	for name, edit := range map[string]func(m, cs map[string]any){
		"unchanged":      func(_, _ map[string]any) {},
		"another handle": func(_, cs map[string]any) { subject(cs, lettered, holder.SubjectURI(lettered)) },
	} {
		if c, _, m, _ := e.check(t, pinBody(e.handBuilt(t, h.token, edit), e.proof(t, h.device), pin)); c != 200 {
			t.Fatalf("%s: %d %v, want 200", name, c, m)
		}
	}
	for name, edit := range cases {
		if c, _, m, _ := e.check(t, pinBody(e.handBuilt(t, h.token, edit), e.proof(t, h.device), pin)); c != 422 || m["error"] != "binding_invalid" {
			t.Errorf("%s: %d %v, want 422 binding_invalid", name, c, m)
		}
	}
}
