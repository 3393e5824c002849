package api

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/store"
)

// bearerAuthorizer is the handler tests' Authorizer: a fixed bearer value
// per scope. The real route-by-credential tests belong to package auth.
type bearerAuthorizer map[string]string // token -> scope

func (b bearerAuthorizer) Authorize(r *http.Request, scope string) (Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "no bearer token"}
	}
	s, ok := b[tok]
	if !ok {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "unknown token"}
	}
	if s != scope {
		return Principal{}, &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Message: "scope missing"}
	}
	// One client holds every scope, so what it issues it may also revoke;
	// a token starting "other-" belongs to another client.
	client := "test-client"
	if strings.HasPrefix(tok, "other-") {
		client = "other-client"
	}
	return Principal{ClientID: client, Scopes: []string{s}}, nil
}

type vcEnv struct {
	dir   string // the node's files
	srv   *httptest.Server
	clock *fakeclock.Clock
	iss   *issuer.Issuer
	keys  *keystore.Store
	logs  *syncBuffer
}

// syncBuffer collects a server's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	issueToken       = "issue-token"
	statusToken      = "status-token"
	otherStatusToken = "other-status-token"
	otherIssueToken  = "other-issue-token"
	adminToken       = "admin-token"
)

func newVCEnv(t *testing.T, configure ...func(*CredentialsConfig)) *vcEnv {
	t.Helper()
	dir := t.TempDir()
	clk := fakeclock.New(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	base := "https://node.example:8443"
	reg := newTrustRegistry(t, base, ks)
	is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: st, Now: clk.Now,
		Registry: reg.view, Registrar: reg.client, IssuerKeys: ks, Region: "310000"})
	if err != nil {
		t.Fatal(err)
	}
	checker := vc.NewStatusChecker(&vc.LocalStatusSource{BaseURL: base, Store: st}, time.Minute, clk.Now)
	v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Status: checker, Now: clk.Now,
		Resolver: &vc.RegistryResolver{Registry: reg.view, Next: &vc.Resolver{Local: is.Local(), Now: clk.Now}},
		Trust:    &vc.RegistryTrust{Local: is.Local(), Registry: reg.view}})
	if err != nil {
		t.Fatal(err)
	}
	// The test client is accredited for residence credentials.
	if _, err := is.Accredit(context.Background(), issuer.AccreditRequest{Client: "test-client", Types: []string{"ResidenceCredential"}}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s := New(Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	s.SetAuthorizer(bearerAuthorizer{issueToken: auth.ScopeCredentialsIssue, statusToken: auth.ScopeStatusWrite, otherStatusToken: auth.ScopeStatusWrite,
		otherIssueToken: auth.ScopeCredentialsIssue, adminToken: auth.ScopeRegistryAdmin})
	cfg := CredentialsConfig{Issuer: is, Verifier: v, Clients: testClients{"test-client": "Test client", "other-client": "Other client"}}
	for _, f := range configure {
		f(&cfg)
	}
	if err := s.MountCredentials(cfg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &vcEnv{dir: dir, srv: srv, clock: clk, iss: is, keys: ks, logs: logs}
}

// trustRegistry is a real embedded ledger with the node's region
// registered, and a view following it.
type trustRegistry struct {
	client ledger.Client
	view   *ledger.View
}

func newTrustRegistry(t testing.TB, base string, ks *keystore.Store) *trustRegistry {
	return newTrustRegistryOf(t, base, ks, 1)
}

// provinces are the codes of the national design's 34 provincial
// regions (GB/T 2260), 310000 (the node's) first.
var provinces = []string{"310000", "110000", "120000", "130000", "140000", "150000", "210000", "220000", "230000",
	"320000", "330000", "340000", "350000", "360000", "370000", "410000", "420000", "430000", "440000", "450000",
	"460000", "500000", "510000", "520000", "530000", "540000", "610000", "620000", "630000", "640000", "650000",
	"710000", "810000", "820000"}

// newTrustRegistryOf is newTrustRegistry with the node's region and the
// next regions-1 of provinces, all active, each with a did:web, an api
// and a web endpoint, and every other one a wallet endpoint too.
func newTrustRegistryOf(t testing.TB, base string, ks *keystore.Store, regions int) *trustRegistry {
	t.Helper()
	ctx := context.Background()
	l, err := embedded.Open(filepath.Join(t.TempDir(), "ledger.db"), embedded.Options{MSPID: chaincode.RegionMSP("310000")})
	if err != nil {
		t.Fatal(err)
	}
	c := ledger.Client{L: l}
	did, _ := vc.DIDWeb(base)
	in := chaincode.RegionInput{Code: "310000", DID: did, Endpoints: []chaincode.Endpoint{{Type: "api", URL: base}}}
	for _, k := range ks.Published() {
		j, _ := k.JWK()
		in.Keys = append(in.Keys, j)
	}
	if _, err := c.RequestRegion(ctx, in); err != nil {
		t.Fatal(err)
	}
	active := []string{"310000"}
	for i, code := range provinces[1:regions] {
		key, err := gm.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := gm.NewJWK(key.Public(), code+"-k1")
		host := code + ".trustid.example"
		in := chaincode.RegionInput{Code: code, DID: "did:web:" + host, Name: "region " + code, Keys: []gm.JWK{j},
			Endpoints: []chaincode.Endpoint{{Type: "api", URL: "https://" + host}, {Type: "web", URL: "https://www." + host + "/"}}}
		if i%2 == 0 {
			in.Endpoints = append(in.Endpoints, chaincode.Endpoint{Type: "wallet", URL: "https://wallet." + host})
		}
		h, err := l.As(chaincode.RegionMSP(code))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ledger.Client{L: h}.RequestRegion(ctx, in)
		h.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, voter := range active[:len(active)/2+1] {
			h, err := l.As(chaincode.RegionMSP(voter))
			if err != nil {
				t.Fatal(err)
			}
			err = ledger.Client{L: h}.Vote(ctx, chaincode.ActionAdmit, code)
			h.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		active = append(active, code)
	}
	view := ledger.NewView(l, ledger.ViewOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); view.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; l.Close() })
	for deadline := time.Now().Add(5 * time.Second); !view.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the ledger view did not load")
		}
	}
	return &trustRegistry{client: c, view: view}
}

// testClients is a ClientDirectory of enabled clients (ID → name).
type testClients map[string]string

func (c testClients) Get(_ context.Context, id string) (auth.Client, error) {
	name, ok := c[id]
	if !ok {
		return auth.Client{}, auth.ErrClientNotFound
	}
	return auth.Client{ID: id, Name: name}, nil
}

func (e *vcEnv) post(t *testing.T, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, m := doJSON(t, req)
	return resp.StatusCode, m
}

const credBody = `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],
  "credentialSubject":{"id":"did:example:holder-3f9a1c0d7e","region":"310000"}}%s}`

func TestVCAPIIssueVerifyRevoke(t *testing.T) {
	e := newVCEnv(t)
	if code, body := e.post(t, "/credentials/issue", "", strings.Replace(credBody, "%s", "", 1)); code != 401 {
		t.Fatalf("no token: %d %v", code, body)
	}
	if code, _ := e.post(t, "/credentials/issue", statusToken, strings.Replace(credBody, "%s", "", 1)); code != 403 {
		t.Fatalf("wrong scope: %d", code)
	}
	code, body := e.post(t, "/credentials/issue", issueToken, strings.Replace(credBody, "%s", `,"options":{"format":"vc+jwt","algorithm":"SM2"}`, 1))
	if code != 201 {
		t.Fatalf("issue: %d %v", code, body)
	}
	env := body["verifiableCredential"].(map[string]any)
	if env["type"] != "EnvelopedVerifiableCredential" || !strings.HasPrefix(env["id"].(string), "data:application/vc+jwt,ey") {
		t.Fatalf("envelope %v", env)
	}
	envJSON, _ := json.Marshal(env)
	code, body = e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+string(envJSON)+`}`)
	if code != 200 || body["verified"] != true {
		t.Fatalf("verify: %d %v", code, body)
	}
	cred := body["credential"].(map[string]any)
	id := cred["id"].(string)

	// Tampered: flip a character of the signature.
	tok := strings.TrimPrefix(env["id"].(string), "data:application/vc+jwt,")
	bad := tok[:len(tok)-3] + flip(tok[len(tok)-3]) + tok[len(tok)-2:]
	code, body = e.post(t, "/credentials/verify", "", `{"verifiableCredential":"`+bad+`"}`)
	if code != 400 || body["verified"] != false || firstCode(body) != "invalid_signature" {
		t.Fatalf("tampered: %d %v", code, body)
	}

	// Revoke through the API (status scope only).
	path := "/v1/credentials/" + url.PathEscape(id) + "/status"
	if code, _ := e.post(t, path, issueToken, `{"action":"revoke"}`); code != 403 {
		t.Fatalf("revoke with issue scope: %d", code)
	}
	if code, body := e.post(t, path, statusToken, `{"action":"delete"}`); code != 400 {
		t.Fatalf("bad action: %d %v", code, body)
	}
	// Another client with the status scope may not touch this credential,
	// nor learn that it exists.
	if code, body := e.post(t, path, otherStatusToken, `{"action":"revoke"}`); code != 404 {
		t.Fatalf("revoke by another client: %d %v", code, body)
	}
	if code, body := e.post(t, path, statusToken, `{"action":"revoke"}`); code != 200 {
		t.Fatalf("revoke: %d %v", code, body)
	}
	e.clock.Advance(2 * time.Minute)
	code, body = e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+string(envJSON)+`}`)
	if code != 400 || firstCode(body) != "revoked" {
		t.Fatalf("revoked: %d %v", code, body)
	}
	if code, body := e.post(t, path, statusToken, `{"action":"reinstate"}`); code != 409 {
		t.Fatalf("reinstate revoked: %d %v", code, body)
	}
	if code, _ := e.post(t, "/v1/credentials/"+url.PathEscape("urn:uuid:nope")+"/status", statusToken, `{"action":"revoke"}`); code != 404 {
		t.Fatalf("unknown id: %d", code)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func firstCode(body map[string]any) string {
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	return errs[0].(map[string]any)["code"].(string)
}

func TestVCAPIBadInput(t *testing.T) {
	e := newVCEnv(t)
	cases := []struct {
		name, path, token, body string
		code                    int
	}{
		{"not JSON", "/credentials/issue", issueToken, `{`, 400},
		{"duplicate key", "/credentials/issue", issueToken, `{"credential":{"a":1},"credential":{"a":2}}`, 400},
		{"duplicate key inside", "/credentials/issue", issueToken, strings.Replace(strings.Replace(credBody, "%s", "", 1), `"region":"310000"`, `"region":"310000","region":"110000"`, 1), 400},
		{"trailing data", "/credentials/issue", issueToken, strings.Replace(credBody, "%s", "", 1) + `{}`, 400},
		{"unknown member", "/credentials/issue", issueToken, `{"credential":{},"extra":1}`, 400},
		{"unknown option", "/credentials/issue", issueToken, strings.Replace(credBody, "%s", `,"options":{"proofType":"x"}`, 1), 400},
		{"no credential", "/credentials/issue", issueToken, `{"options":{}}`, 400},
		{"invalid credential", "/credentials/issue", issueToken, `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"VerifiableCredential"}}`, 422},
		{"foreign issuer", "/credentials/issue", issueToken, `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"VerifiableCredential","issuer":"did:web:other.example","credentialSubject":{"a":1}}}`, 422},
		{"unknown format", "/credentials/issue", issueToken, strings.Replace(credBody, "%s", `,"options":{"format":"ldp_vc"}`, 1), 400},
		{"verify nothing", "/credentials/verify", "", `{}`, 400},
		{"verify number", "/credentials/verify", "", `{"verifiableCredential":5}`, 400},
		{"verify garbage", "/credentials/verify", "", `{"verifiableCredential":"abc"}`, 400},
		{"verify alg none", "/credentials/verify", "", `{"verifiableCredential":"eyJhbGciOiJub25lIiwidHlwIjoidmMrand0In0.e30."}`, 400},
		{"verify bad envelope", "/credentials/verify", "", `{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"EnvelopedVerifiableCredential","id":"data:text/plain,abc"}}`, 400},
		{"presentation nothing", "/presentations/verify", "", `{"options":{"challenge":"x"}}`, 400},
		{"presentation garbage", "/presentations/verify", "", `{"verifiablePresentation":"a.b.c"}`, 400},
	}
	for _, c := range cases {
		code, body := e.post(t, c.path, c.token, c.body)
		if code != c.code {
			t.Errorf("%s: %d %v, want %d", c.name, code, body, c.code)
		}
	}
	code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":"eyJhbGciOiJub25lIiwidHlwIjoidmMrand0In0.e30."}`)
	if code != 400 || firstCode(body) != "algorithm_not_allowed" {
		t.Errorf("alg none: %v", body)
	}
	// Random junk never yields a 5xx.
	for i := 0; i < 200; i++ {
		b := make([]byte, 1+i%64)
		rand.Read(b)
		for _, p := range []string{"/credentials/verify", "/presentations/verify", "/credentials/issue"} {
			if code, _ := e.post(t, p, issueToken, string(b)); code >= 500 {
				t.Fatalf("%s with junk: %d", p, code)
			}
		}
	}
}

func TestVCAPIPublicDocuments(t *testing.T) {
	e := newVCEnv(t)
	get := func(path, accept string) (int, string, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), b.String()
	}
	code, ct, body := get("/.well-known/did.json", "")
	if code != 200 || ct != "application/did+json" || !strings.Contains(body, `"id":"did:web:node.example%3A8443"`) || !strings.Contains(body, `"assertionMethod"`) || !strings.Contains(body, `"crv":"SM2"`) {
		t.Fatalf("did.json %d %s %s", code, ct, body)
	}
	if _, err := vc.ParseControllerDocument([]byte(body), "did:web:node.example%3A8443"); err != nil {
		t.Fatal(err)
	}
	code, _, body = get("/.well-known/jwt-vc-issuer", "")
	if code != 200 || !strings.Contains(body, `"issuer":"https://node.example:8443"`) || !strings.Contains(body, `"jwks"`) {
		t.Fatalf("jwt-vc-issuer %d %s", code, body)
	}
	// Issue one of each format so lists exist.
	_, b1 := e.post(t, "/credentials/issue", issueToken, strings.Replace(credBody, "%s", "", 1))
	_, b2 := e.post(t, "/credentials/issue", issueToken, strings.Replace(credBody, "%s", `,"options":{"format":"sd-jwt"}`, 1))
	tok := strings.TrimPrefix(b1["verifiableCredential"].(map[string]any)["id"].(string), "data:application/vc+jwt,")
	parts := strings.Split(tok, ".")
	var payload map[string]any
	raw, _ := base64URL(parts[1])
	json.Unmarshal(raw, &payload)
	list := payload["credentialStatus"].([]any)[0].(map[string]any)["statusListCredential"].(string)
	path := strings.TrimPrefix(list, "https://node.example:8443")
	code, ct, body = get(path, "")
	if code != 200 || !strings.Contains(body, `"BitstringStatusListCredential"`) || !strings.Contains(body, `"encodedList":"u`) {
		t.Fatalf("status list JSON %d %s %s", code, ct, body[:min(200, len(body))])
	}
	code, ct, body = get(path, "application/vc+jwt")
	if code != 200 || ct != "application/vc+jwt" || strings.Count(body, ".") != 2 {
		t.Fatalf("status list vc+jwt %d %s", code, ct)
	}
	// q=0 is "not acceptable" (RFC 9110 §12.4.2): a media type the client
	// refuses is never the one chosen.
	for _, accept := range []string{"application/vc+jwt;q=0, application/vc+ld+json", "application/vc+cose; q=0",
		"application/vc;q=0.000", "application/vc+jwt;q=0,*/*;q=0.5"} {
		if code, ct, _ = get(path, accept); code != 200 || ct != "application/vc+ld+json" {
			t.Errorf("status list, Accept %q: %d %s", accept, code, ct)
		}
	}
	sdTok := strings.TrimPrefix(b2["verifiableCredential"].(map[string]any)["id"].(string), "data:application/dc+sd-jwt,")
	sdParts := strings.Split(strings.Split(sdTok, "~")[0], ".")
	raw, _ = base64URL(sdParts[1])
	var sdPayload map[string]any
	json.Unmarshal(raw, &sdPayload)
	uri := sdPayload["status"].(map[string]any)["status_list"].(map[string]any)["uri"].(string)
	code, ct, _ = get(strings.TrimPrefix(uri, "https://node.example:8443"), "")
	if code != 200 || ct != "application/statuslist+jwt" {
		t.Fatalf("token status list %d %s", code, ct)
	}
	for _, p := range []string{"/status/0000000000000000", "/status/../keystore.json", "/status/abc"} {
		if code, _, _ := get(p, ""); code != 404 {
			t.Errorf("%s: %d", p, code)
		}
	}
}

func base64URL(s string) ([]byte, error) {
	return jsonBase64.DecodeString(s)
}

func TestVCAPIPresentations(t *testing.T) {
	e := newVCEnv(t)
	holder, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	did, _ := vc.DIDKey(holder.Public())
	hj, _ := gm.NewJWK(holder.Public(), "")
	hjb, _ := json.Marshal(hj)
	holderBody := strings.Replace(strings.Replace(credBody, "%s", "", 1), "did:example:holder-3f9a1c0d7e", did, 1)
	_, b1 := e.post(t, "/credentials/issue", issueToken, holderBody)
	_, b2 := e.post(t, "/credentials/issue", issueToken, strings.Replace(credBody, "%s", `,"options":{"format":"sd-jwt","holderKey":`+string(hjb)+`}`, 1))
	_, b3 := e.post(t, "/credentials/issue", issueToken, strings.Replace(credBody, "%s", "", 1))
	vp := map[string]any{"@context": []any{vc.ContextV2}, "type": "VerifiablePresentation", "holder": did,
		"verifiableCredential": []any{b1["verifiableCredential"]}}
	kid := did + "#" + strings.TrimPrefix(did, "did:key:")
	tok, err := vc.SignPresentation(vp, kid, vc.PresentOptions{Challenge: "c-1", Domain: "https://rp.example", IssuedAt: e.clock.Now()}, holder)
	if err != nil {
		t.Fatal(err)
	}
	envp, _ := json.Marshal(vc.Envelope(tok, vc.MediaTypeVPJWT))
	code, body := e.post(t, "/presentations/verify", "", `{"verifiablePresentation":`+string(envp)+`,"options":{"challenge":"c-1","domain":"https://rp.example"}}`)
	if code != 200 || body["verified"] != true || body["holder"] != did {
		t.Fatalf("vp: %d %v", code, body)
	}
	code, body = e.post(t, "/presentations/verify", "", `{"verifiablePresentation":`+string(envp)+`,"options":{"challenge":"c-2","domain":"https://rp.example"}}`)
	if code != 400 || firstCode(body) != "challenge_mismatch" {
		t.Fatalf("wrong challenge: %d %v", code, body)
	}
	// The challenge and the domain are required.
	for _, opts := range []string{``, `,"options":{"challenge":"c-1"}`, `,"options":{"domain":"https://rp.example"}`} {
		code, body = e.post(t, "/presentations/verify", "", `{"verifiablePresentation":`+string(envp)+opts+`}`)
		if code != 400 || body["error"] != CodeInvalidRequest {
			t.Fatalf("without challenge or domain (%s): %d %v", opts, code, body)
		}
	}
	// Too old: past the verifier's VPMaxAge.
	e.clock.Advance(vc.DefaultVPMaxAge + time.Minute)
	code, body = e.post(t, "/presentations/verify", "", `{"verifiablePresentation":`+string(envp)+`,"options":{"challenge":"c-1","domain":"https://rp.example"}}`)
	if code != 400 || firstCode(body) != "expired" {
		t.Fatalf("old presentation: %d %v", code, body)
	}
	// Another subject's credential in the holder's presentation.
	vp["verifiableCredential"] = []any{b3["verifiableCredential"]}
	tok, _ = vc.SignPresentation(vp, kid, vc.PresentOptions{Challenge: "c-1", Domain: "https://rp.example", IssuedAt: e.clock.Now()}, holder)
	code, body = e.post(t, "/presentations/verify", "", `{"verifiablePresentation":"`+tok+`","options":{"challenge":"c-1","domain":"https://rp.example"}}`)
	if code != 400 || firstCode(body) != "holder_mismatch" {
		t.Fatalf("another subject's credential: %d %v", code, body)
	}
	// SD-JWT VC with key binding, selective disclosure of region only.
	sdTok := strings.TrimPrefix(b2["verifiableCredential"].(map[string]any)["id"].(string), "data:application/dc+sd-jwt,")
	sd, err := sdjwt.Split(sdTok)
	if err != nil {
		t.Fatal(err)
	}
	pres, _ := sd.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "region" },
		&sdjwt.KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "c-3", IssuedAt: e.clock.Now()})
	code, body = e.post(t, "/presentations/verify", "", `{"verifiablePresentation":"data:application/dc+sd-jwt,`+pres+`","options":{"challenge":"c-3","domain":"https://rp.example"}}`)
	if code != 200 || body["credential"].(map[string]any)["region"] != "310000" {
		t.Fatalf("sd-jwt presentation: %d %v", code, body)
	}
	code, body = e.post(t, "/presentations/verify", "", `{"verifiablePresentation":"data:application/dc+sd-jwt,`+pres+`","options":{"challenge":"other","domain":"https://rp.example"}}`)
	if code != 400 || firstCode(body) != "key_binding_nonce_mismatch" {
		t.Fatalf("wrong nonce: %d %v", code, body)
	}
	// A disclosure that matches no digest.
	code, body = e.post(t, "/credentials/verify", "", `{"verifiableCredential":"`+sdTok+`WyJhYmMiLCJ4IiwxXQ~"}`)
	if code != 400 || firstCode(body) != "disclosure_unmatched" {
		t.Fatalf("unmatched disclosure: %d %v", code, body)
	}
}

var jsonBase64 = base64.RawURLEncoding

// TestVCAPIVerifyHidesNetworkErrors: a credential whose issuer's did:web
// names an internal address is refused without a fetch, and the answer
// carries a stable code and a fixed message, never the address or the
// network error; the cause is in the log.
func TestVCAPIVerifyHidesNetworkErrors(t *testing.T) {
	e := newVCEnv(t)
	signer, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	for _, issuer := range []string{"did:web:127.0.0.1%3A1", "did:web:169.254.169.254", "did:web:localhost%3A6379"} {
		doc := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"},
			"issuer": issuer, "credentialSubject": map[string]any{"a": "b"}}
		tok, err := vc.SignJWT(doc, vc.TypVCJWT, issuer+"#k1", signer)
		if err != nil {
			t.Fatal(err)
		}
		code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":"`+tok+`"}`)
		raw, _ := json.Marshal(body)
		if code != 400 || firstCode(body) != "key_unresolvable" {
			t.Fatalf("%s: %d %s", issuer, code, raw)
		}
		for _, leak := range []string{"127.0.0.1", "169.254", "localhost", "dial", "refused", "not allowed", "tcp"} {
			if strings.Contains(string(raw), leak) {
				t.Errorf("%s: the answer shows %q: %s", issuer, leak, raw)
			}
		}
	}
	if !strings.Contains(e.logs.String(), "address not allowed") {
		t.Errorf("the cause is not logged:\n%s", e.logs.String())
	}
}

// TestVCAPIVerifyRateLimit: both verify routes share one per-address
// budget, DefaultVerifyLimit unless configured; a zero limit, or no
// limiter, counts nothing.
func TestVCAPIVerifyRateLimit(t *testing.T) {
	newMem := func() *store.Memory {
		mem, err := store.NewMemory(store.MemoryOptions{Now: frozenClock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mem.Close() })
		return mem
	}
	mem := newMem()
	post := func(e *vcEnv, path string) (int, string) {
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	e := newVCEnv(t, func(c *CredentialsConfig) { c.Limiter, c.VerifyLimit = mem, &RateLimit{Limit: 3, Window: time.Minute} })
	for i, p := range []string{"/credentials/verify", "/presentations/verify", "/credentials/verify"} {
		if code, _ := post(e, p); code != 400 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	for _, p := range []string{"/credentials/verify", "/presentations/verify"} {
		if code, retry := post(e, p); code != 429 || retry == "" {
			t.Fatalf("%s over the limit: %d, Retry-After %q", p, code, retry)
		}
	}
	// The default applies when only a limiter is given.
	mem = newMem()
	e = newVCEnv(t, func(c *CredentialsConfig) { c.Limiter = mem })
	for i := range DefaultVerifyLimit.Limit {
		if code, _ := post(e, "/credentials/verify"); code != 400 {
			t.Fatalf("request %d under the default limit: %d", i, code)
		}
	}
	if code, _ := post(e, "/presentations/verify"); code != 429 {
		t.Fatalf("over the default limit: %d", code)
	}
	// Disabled: a zero limit.
	mem = newMem()
	e = newVCEnv(t, func(c *CredentialsConfig) { c.Limiter, c.VerifyLimit = mem, &RateLimit{} })
	for range 10 {
		if code, _ := post(e, "/credentials/verify"); code != 400 {
			t.Fatalf("with the limit off: %d", code)
		}
	}
}

// TestIssueRefusesReservedTypes: a client with credentials:issue cannot
// mint a device binding, which only enrollment issues.
func TestIssueRefusesReservedTypes(t *testing.T) {
	e := newVCEnv(t)
	body := `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","DeviceBindingCredential"],` +
		`"credentialSubject":{"id":"urn:trustid:subject:00","assuranceLevel":4}}}`
	code, resp := e.post(t, "/credentials/issue", issueToken, body)
	if code != 422 || resp["error"] != "reserved_credential_type" {
		t.Fatalf("device binding through /credentials/issue: %d %v", code, resp)
	}
}

// frozenClock stops time for rate-limit tests, so a budget does not refill
// while a slow run (the race detector, a loaded CI machine) spends it.
func frozenClock() time.Time { return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) }

// testIssuerDID is the issuer DID of test-client at the test node.
const testIssuerDID = "did:web:node.example%3A8443:issuers:test-client"

// TestIssueNeedsAccreditation: what a hostile relying party with only
// credentials:issue tried — an identity credential about another person's
// subject, with a name and assurance level 4, as an SD-JWT bound to its own
// key — is refused, and so is every type it is not accredited for; what it
// is accredited for is issued under its own issuer DID and verifies.
func TestIssueNeedsAccreditation(t *testing.T) {
	e := newVCEnv(t)
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	hj, _ := gm.NewJWK(holder.Public(), "")
	hjb, _ := json.Marshal(hj)
	sdOpts := `,"options":{"format":"sd-jwt","holderKey":` + string(hjb) + `}`
	identity := `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","IdentityCredential"],` +
		`"credentialSubject":{"id":"urn:trustid:subject:015715ae7e41","name":"张三","assuranceLevel":4,"region":"310000"}}` + sdOpts + `}`
	for _, tok := range []string{issueToken, otherIssueToken} {
		for _, format := range []string{sdOpts, ""} {
			body := identity
			if format == "" {
				body = strings.Replace(identity, sdOpts, "", 1)
			}
			if code, resp := e.post(t, "/credentials/issue", tok, body); code != 422 || resp["error"] != "reserved_credential_type" {
				t.Errorf("identity credential (%s, %q): %d %v", tok, format, code, resp)
			}
		}
	}
	residence := func(subject string) string {
		return `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
			`"credentialSubject":{` + subject + `}}%s}`
	}
	for name, c := range map[string]struct {
		token, body string
		code        int
		err         string
	}{
		"assurance level":     {issueToken, residence(`"id":"did:example:h","assuranceLevel":4`), 422, "reserved_claim"},
		"enrollment subject":  {issueToken, residence(`"id":"urn:trustid:subject:015715ae7e41"`), 422, "reserved_subject_id"},
		"not accredited":      {otherIssueToken, residence(`"id":"did:example:h"`), 403, "issuer_not_accredited"},
		"unaccredited type":   {issueToken, strings.Replace(residence(`"id":"did:example:h"`), "ResidenceCredential", "DiplomaCredential", 1), 403, "issuer_not_accredited"},
		"unaccredited vct":    {issueToken, strings.Replace(residence(`"id":"did:example:h"`), "%s", `%s,"options":{"format":"sd-jwt","vct":"https://gov.example/pid"}`, 1), 403, "issuer_not_accredited"},
		"the node as issuer":  {issueToken, strings.Replace(residence(`"id":"did:example:h"`), `"type"`, `"issuer":"did:web:node.example%3A8443","type"`, 1), 422, "invalid_credential"},
		"device binding (sd)": {issueToken, strings.Replace(residence(`"id":"did:example:h"`), "ResidenceCredential", "DeviceBindingCredential", 1), 422, "reserved_credential_type"},
	} {
		code, resp := e.post(t, "/credentials/issue", c.token, strings.Replace(c.body, "%s", "", 1))
		if code != c.code || resp["error"] != c.err {
			t.Errorf("%s: %d %v, want %d %s", name, code, resp, c.code, c.err)
		}
	}

	// Accredited: issued under the client's issuer DID, and verified.
	for _, opts := range []string{"", sdOpts} {
		code, resp := e.post(t, "/credentials/issue", issueToken, strings.Replace(credBody, "%s", opts, 1))
		if code != 201 {
			t.Fatalf("accredited issue (%q): %d %v", opts, code, resp)
		}
		envJSON, _ := json.Marshal(resp["verifiableCredential"])
		code, resp = e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+string(envJSON)+`}`)
		if code != 200 || resp["issuer"] != testIssuerDID {
			t.Fatalf("verify (%q): %d %v", opts, code, resp)
		}
	}

	// The client's real key on a type it is not accredited for: refused
	// at verification, from the registry copy.
	key, err := e.keys.OwnerActive(testIssuerDID, gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"DiplomaCredential", "IdentityCredential"} {
		doc := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{vc.TypeCredential, typ}, "issuer": testIssuerDID,
			"credentialSubject": map[string]any{"id": "did:example:h", "name": "张三"}}
		tok, err := vc.SignJWT(doc, vc.TypVCJWT, testIssuerDID+"#"+key.Kid, key.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if code, resp := e.post(t, "/credentials/verify", "", `{"verifiableCredential":"`+tok+`"}`); code != 400 || firstCode(resp) != "issuer_not_accredited" {
			t.Errorf("%s signed by the client's key: %d %v", typ, code, resp)
		}
	}

	// Outside verifiers resolve the issuer DID from the node.
	resp, err := http.Get(e.srv.URL + "/issuers/test-client/did.json")
	if err != nil {
		t.Fatal(err)
	}
	raw := new(bytes.Buffer)
	raw.ReadFrom(resp.Body)
	resp.Body.Close()
	doc, err := vc.ParseControllerDocument(raw.Bytes(), testIssuerDID)
	if resp.StatusCode != 200 || err != nil || len(doc.VerificationMethod) != 3 {
		t.Fatalf("issuer DID document: %d %v %s", resp.StatusCode, err, raw)
	}
	if pub, err := doc.AssertionKey(testIssuerDID+"#"+key.Kid, time.Now()); err != nil || pub == nil {
		t.Errorf("the signing key is not in the DID document: %v", err)
	}
	for _, p := range []string{"/issuers/other-client/did.json", "/issuers/..%2f/did.json"} {
		if resp, err := http.Get(e.srv.URL + p); err != nil || resp.StatusCode != 404 {
			t.Errorf("%s: %v %v", p, err, resp.StatusCode)
		}
	}
}

// TestAccreditationRoutes: an operator (registry:admin) accredits a
// registered client, which may then issue; bad requests change nothing.
func TestAccreditationRoutes(t *testing.T) {
	e := newVCEnv(t)
	diploma := strings.Replace(strings.Replace(credBody, "ResidenceCredential", "DiplomaCredential", 1), "%s", "", 1)
	if code, _ := e.post(t, "/credentials/issue", otherIssueToken, diploma); code != 403 {
		t.Fatalf("before accreditation: %d", code)
	}
	for name, c := range map[string]struct {
		token, body string
		code        int
		err         string
	}{
		"no token":         {"", `{"client_id":"other-client","types":["DiplomaCredential"]}`, 401, "invalid_token"},
		"wrong scope":      {issueToken, `{"client_id":"other-client","types":["DiplomaCredential"]}`, 403, "insufficient_scope"},
		"unknown client":   {adminToken, `{"client_id":"nobody","types":["DiplomaCredential"]}`, 404, CodeNotFound},
		"no types":         {adminToken, `{"client_id":"other-client","types":[]}`, 400, CodeInvalidRequest},
		"identity":         {adminToken, `{"client_id":"other-client","types":["IdentityCredential"]}`, 422, "reserved_credential_type"},
		"device binding":   {adminToken, `{"client_id":"other-client","types":["DiplomaCredential","DeviceBindingCredential"]}`, 422, "reserved_credential_type"},
		"repeated type":    {adminToken, `{"client_id":"other-client","types":["DiplomaCredential","DiplomaCredential"]}`, 400, CodeInvalidRequest},
		"bad type":         {adminToken, `{"client_id":"other-client","types":["a b"]}`, 400, CodeInvalidRequest},
		"unknown member":   {adminToken, `{"client_id":"other-client","types":["DiplomaCredential"],"scope":"x"}`, 400, CodeInvalidRequest},
		"duplicate member": {adminToken, `{"client_id":"other-client","client_id":"test-client","types":["DiplomaCredential"]}`, 400, CodeInvalidRequest},
		"trailing data":    {adminToken, `{"client_id":"other-client","types":["DiplomaCredential"]} {}`, 400, CodeInvalidRequest},
	} {
		code, resp := e.post(t, "/v1/admin/issuers", c.token, c.body)
		if code != c.code || resp["error"] != c.err {
			t.Errorf("%s: %d %v, want %d %s", name, code, resp, c.code, c.err)
		}
	}
	if code, _ := e.post(t, "/credentials/issue", otherIssueToken, diploma); code != 403 {
		t.Fatalf("a refused accreditation took effect: %d", code)
	}
	code, rec := e.post(t, "/v1/admin/issuers", adminToken, `{"client_id":"other-client","types":["DiplomaCredential"]}`)
	if code != 200 || rec["id"] != "did:web:node.example%3A8443:issuers:other-client" || rec["name"] != "Other client" || rec["region"] != "310000" {
		t.Fatalf("accredit: %d %v", code, rec)
	}
	if code, resp := e.post(t, "/credentials/issue", otherIssueToken, diploma); code != 201 {
		t.Fatalf("accredited client: %d %v", code, resp)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/admin/issuers/other-client", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var shown map[string]any
	json.NewDecoder(resp.Body).Decode(&shown)
	resp.Body.Close()
	if resp.StatusCode != 200 || shown["id"] != rec["id"] || len(shown["keys"].([]any)) != 3 {
		t.Fatalf("show: %d %v", resp.StatusCode, shown)
	}
	// Suspended: it issues nothing more.
	if code, resp := e.post(t, "/v1/admin/issuers", adminToken, `{"client_id":"other-client","types":["DiplomaCredential"],"suspended":true}`); code != 200 || resp["status"] != "suspended" {
		t.Fatalf("suspend: %d %v", code, resp)
	}
	if code, resp := e.post(t, "/credentials/issue", otherIssueToken, diploma); code != 403 || resp["error"] != "issuer_not_accredited" {
		t.Fatalf("suspended client: %d %v", code, resp)
	}
}

// TestVCAPIPresentationVPSDJWT: POST /presentations/verify takes a
// presentation secured with SD-JWT (application/vp+sd-jwt, an enveloped
// presentation or a data: URL), with its enveloped credentials verified,
// and refuses another challenge or domain, a foreign disclosure and a
// wrong typ.
func TestVCAPIPresentationVPSDJWT(t *testing.T) {
	e := newVCEnv(t)
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	did, _ := vc.DIDKey(holder.Public())
	holderBody := strings.Replace(strings.Replace(credBody, "%s", "", 1), "did:example:holder-3f9a1c0d7e", did, 1)
	_, b1 := e.post(t, "/credentials/issue", issueToken, holderBody)
	_, b3 := e.post(t, "/credentials/issue", issueToken, strings.Replace(credBody, "%s", "", 1))
	vp := map[string]any{"@context": []any{vc.ContextV2}, "type": "VerifiablePresentation", "holder": did,
		"verifiableCredential": []any{b1["verifiableCredential"]}}
	kid := did + "#" + strings.TrimPrefix(did, "did:key:")
	opts := vc.PresentOptions{Challenge: "c-1", Domain: "https://rp.example", IssuedAt: e.clock.Now()}
	tok, err := vc.SignPresentationSDJWT(vp, kid, opts, &sdjwt.Frame{SD: []string{"verifiableCredential"}}, rand.Reader, holder)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(p any, challenge, domain string) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"verifiablePresentation": p, "options": map[string]any{"challenge": challenge, "domain": domain}})
		return e.post(t, "/presentations/verify", "", string(b))
	}
	for _, p := range []any{vc.Envelope(tok, vc.MediaTypeVPSDJWT), "data:" + vc.MediaTypeVPSDJWT + "," + tok,
		"data:" + vc.MediaTypeVPSDJWT + ";base64," + base64.StdEncoding.EncodeToString([]byte(tok))} {
		code, body := verify(p, "c-1", "https://rp.example")
		creds, _ := body["credentials"].([]any)
		if code != 200 || body["verified"] != true || body["format"] != vc.TypVPSDJWT || body["holder"] != did || len(creds) != 1 {
			t.Fatalf("vp+sd-jwt: %d %v", code, body)
		}
	}
	env := vc.Envelope(tok, vc.MediaTypeVPSDJWT)
	for _, c := range []struct {
		name, challenge, domain, want string
		p                             any
	}{
		{"another challenge", "c-2", "https://rp.example", "challenge_mismatch", env},
		{"another domain", "c-1", "https://evil.example", "challenge_mismatch", env},
		{"foreign disclosure", "c-1", "https://rp.example", "disclosure_unmatched", "data:" + vc.MediaTypeVPSDJWT + "," + tok + "WyJ4IiwicmVnaW9uIiwiMzIwMDAwIl0~"},
		{"a vp+jwt as vp+sd-jwt", "c-1", "https://rp.example", "malformed", "data:" + vc.MediaTypeVPSDJWT + "," + mustSignVP(t, vp, kid, opts, holder)},
	} {
		if code, body := verify(c.p, c.challenge, c.domain); code != 400 || firstCode(body) != c.want {
			t.Errorf("%s: %d %v, want %s", c.name, code, body, c.want)
		}
	}
	// Wrong typ: a vp+jwt's, made an SD-JWT with no disclosures.
	if code, body := verify("data:"+vc.MediaTypeVPSDJWT+","+mustSignVP(t, vp, kid, opts, holder)+"~", "c-1", "https://rp.example"); code != 400 || firstCode(body) != "wrong_media_type" {
		t.Errorf("wrong typ: %d %v", code, body)
	}
	// Another subject's credential.
	vp["verifiableCredential"] = []any{b3["verifiableCredential"]}
	tok, _ = vc.SignPresentationSDJWT(vp, kid, opts, nil, rand.Reader, holder)
	if code, body := verify(vc.Envelope(tok, vc.MediaTypeVPSDJWT), "c-1", "https://rp.example"); code != 400 || firstCode(body) != "holder_mismatch" {
		t.Errorf("another subject's credential: %d %v", code, body)
	}
}

func mustSignVP(t *testing.T, vp map[string]any, kid string, opts vc.PresentOptions, signer crypto.Signer) string {
	t.Helper()
	tok, err := vc.SignPresentation(vp, kid, opts, signer)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestIssueChosenIDOnce: an id the request chose is issued once; issuing
// it again answers 409 credential_id_taken, an id in the node's own
// namespace 422 reserved_credential_id, and the first credential stays
// revocable by that id.
func TestIssueChosenIDOnce(t *testing.T) {
	e := newVCEnv(t)
	body := strings.Replace(credBody, `"type"`, `"id":"urn:uuid:3d6f0f7c-8f1e-4b8a-9d55-1b2c3d4e5f60","type"`, 1)
	body = strings.Replace(body, "%s", "", 1)
	code, resp := e.post(t, "/credentials/issue", issueToken, body)
	if code != 201 || resp["credentialId"] != "urn:uuid:3d6f0f7c-8f1e-4b8a-9d55-1b2c3d4e5f60" {
		t.Fatalf("first issue: %d %v", code, resp)
	}
	if code, resp := e.post(t, "/credentials/issue", issueToken, body); code != 409 || resp["error"] != "credential_id_taken" {
		t.Fatalf("the same id again: %d %v", code, resp)
	}
	for _, id := range []string{"urn:trustid:vc:AQABAgMEBQYHCAEb-hnahia9QQEAAAc", "urn:trustid:enrollment:x"} {
		reserved := strings.Replace(body, "urn:uuid:3d6f0f7c-8f1e-4b8a-9d55-1b2c3d4e5f60", id, 1)
		if code, resp := e.post(t, "/credentials/issue", issueToken, reserved); code != 422 || resp["error"] != "reserved_credential_id" {
			t.Fatalf("a chosen id in the node's namespace: %d %v", code, resp)
		}
	}
	if code, resp := e.post(t, "/v1/credentials/"+url.PathEscape("urn:uuid:3d6f0f7c-8f1e-4b8a-9d55-1b2c3d4e5f60")+"/status", statusToken, `{"action":"revoke"}`); code != 200 {
		t.Fatalf("revoke by the chosen id: %d %v", code, resp)
	}
}

// TestIssueNamesTheInvalidField: a credential that breaks the data model
// is refused with the member and the rule it breaks, never its value.
func TestIssueNamesTheInvalidField(t *testing.T) {
	e := newVCEnv(t)
	const good = `"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
		`"credentialSubject":{"id":"did:example:h","residence":{"region":"310000"}}`
	for name, c := range map[string]struct{ body, field, message string }{
		"no type":                 {strings.Replace(good, `"type":["VerifiableCredential","ResidenceCredential"],`, "", 1), "type", "type: missing"},
		"no @context":             {strings.Replace(good, `"@context":["https://www.w3.org/ns/credentials/v2"],`, "", 1), "@context", "@context: missing"},
		"other first @context":    {strings.Replace(good, `"https://www.w3.org/ns/credentials/v2"`, `"https://secret.example/ctx"`, 1), "@context", `@context: must start with "https://www.w3.org/ns/credentials/v2"`},
		"no subject":              {strings.Replace(good, `,"credentialSubject":{"id":"did:example:h","residence":{"region":"310000"}}`, "", 1), "credentialSubject", "credentialSubject: missing"},
		"empty subject":           {strings.Replace(good, `{"id":"did:example:h","residence":{"region":"310000"}}`, `{}`, 1), "credentialSubject[0]", "credentialSubject[0]: must make at least one claim"},
		"validUntil tomorrow":     {good + `,"validUntil":"tomorrow"`, "validUntil", "validUntil: must be an XSD dateTimeStamp with a time zone, e.g. 2026-01-01T00:00:00Z"},
		"validUntil Feb 30":       {good + `,"validUntil":"2027-02-30T00:00:00Z"`, "validUntil", "validUntil: must be a date-time this node can represent (a real calendar date and time)"},
		"no VerifiableCredential": {strings.Replace(good, `"VerifiableCredential",`, "", 1), "type", `type: must include "VerifiableCredential"`},
		"relative subject id":     {strings.Replace(good, `did:example:h`, `secret-value`, 1), "credentialSubject[0].id", "credentialSubject[0].id: must be an absolute URL"},
	} {
		code, resp := e.post(t, "/credentials/issue", issueToken, `{"credential":{`+c.body+`}}`)
		if code != 422 || resp["error"] != "invalid_credential" || resp["field"] != c.field || resp["error_description"] != c.message {
			t.Errorf("%s: %d %v, want field %q, message %q", name, code, resp, c.field, c.message)
		}
		if s, _ := json.Marshal(resp); strings.Contains(string(s), "tomorrow") || strings.Contains(string(s), "secret") {
			t.Errorf("%s: the answer echoes the value: %s", name, s)
		}
	}
}

// TestIssueMandatoryPointers: options.mandatoryPointers (VC API) is taken
// for dc+sd-jwt and refused by name for a format that discloses every
// claim, never as an unknown option.
func TestIssueMandatoryPointers(t *testing.T) {
	e := newVCEnv(t)
	sd := strings.Replace(credBody, "%s", `,"options":{"format":"dc+sd-jwt","mandatoryPointers":["/credentialSubject/region"]}`, 1)
	if code, resp := e.post(t, "/credentials/issue", issueToken, sd); code != 201 {
		t.Fatalf("dc+sd-jwt: %d %v", code, resp)
	}
	jwt := strings.Replace(credBody, "%s", `,"options":{"mandatoryPointers":["/credentialSubject/region"]}`, 1)
	if code, resp := e.post(t, "/credentials/issue", issueToken, jwt); code != 400 || resp["error"] != "mandatory_pointers_unsupported" {
		t.Fatalf("vc+jwt: %d %v", code, resp)
	}
	bad := strings.Replace(credBody, "%s", `,"options":{"format":"dc+sd-jwt","mandatoryPointers":["/credentialSubject/nope"]}`, 1)
	if code, resp := e.post(t, "/credentials/issue", issueToken, bad); code != 422 || resp["error"] != "invalid_credential" {
		t.Fatalf("pointer to nothing: %d %v", code, resp)
	}
}

// refusingRegistrar answers every PutIssuer with err.
type refusingRegistrar struct{ err error }

func (r refusingRegistrar) PutIssuer(context.Context, chaincode.Issuer) (chaincode.Issuer, error) {
	return chaincode.Issuer{}, r.err
}

// TestAccreditRefusedByTheContract: a record the contract refuses
// (invalid, or forbidden: another region's host) is the caller's error,
// vc.ErrInvalid with the contract's reason; only an unreachable ledger is
// ErrRegistryUnavailable.
func TestAccreditRefusedByTheContract(t *testing.T) {
	dir := t.TempDir()
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := "https://node.example:8443"
	reg := newTrustRegistry(t, base, ks)
	for _, c := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("%w: region 310000 may not write issuer x: it is on the host of region 320000", chaincode.ErrForbidden), vc.ErrInvalid},
		{fmt.Errorf("%w: bad name", chaincode.ErrInvalid), vc.ErrInvalid},
		{ledger.ErrUnavailable, issuer.ErrRegistryUnavailable},
	} {
		is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: st, Registry: reg.view, Registrar: refusingRegistrar{c.err}, IssuerKeys: ks, Region: "310000"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = is.Accredit(context.Background(), issuer.AccreditRequest{Client: "rp-1", Types: []string{"ResidenceCredential"}})
		if !errors.Is(err, c.want) || !errors.Is(err, c.err) {
			t.Errorf("contract %v: %v, want %v", c.err, err, c.want)
		}
	}
}

// switchClients is testClients with other-client disabled once disabled
// is set.
type switchClients struct {
	testClients
	disabled *atomic.Bool
}

func (c switchClients) Get(ctx context.Context, id string) (auth.Client, error) {
	cl, err := c.testClients.Get(ctx, id)
	cl.Disabled = err == nil && id == "other-client" && c.disabled.Load()
	return cl, err
}

// TestSuspendIssuerOfDisabledClient: an operator who disabled a client
// (its tokens refused) can still suspend its issuer record, so that what
// it issued stops verifying everywhere; accrediting it for types is
// still refused with 409 client_disabled. Before, the suspension was
// refused too, and only enabling the client again allowed it.
func TestSuspendIssuerOfDisabledClient(t *testing.T) {
	disabled := new(atomic.Bool)
	e := newVCEnv(t, func(cfg *CredentialsConfig) {
		cfg.Clients = switchClients{testClients{"test-client": "Test client", "other-client": "Other client"}, disabled}
	})
	if code, resp := e.post(t, "/v1/admin/issuers", adminToken, `{"client_id":"other-client","types":["DiplomaCredential"]}`); code != 200 {
		t.Fatalf("accredit: %d %v", code, resp)
	}
	disabled.Store(true)
	if code, resp := e.post(t, "/v1/admin/issuers", adminToken, `{"client_id":"other-client","types":["DiplomaCredential","ResidenceCredential"]}`); code != 409 || resp["error"] != "client_disabled" {
		t.Errorf("accrediting a disabled client: %d %v, want 409 client_disabled", code, resp)
	}
	code, resp := e.post(t, "/v1/admin/issuers", adminToken, `{"client_id":"other-client","types":["DiplomaCredential"],"suspended":true}`)
	if code != 200 || resp["status"] != "suspended" {
		t.Fatalf("suspending the issuer of a disabled client: %d %v, want 200 suspended", code, resp)
	}
	if rec, err := e.iss.ClientIssuer("other-client"); err != nil || rec.Status != "suspended" || !slices.Equal(rec.Types, []string{"DiplomaCredential"}) {
		t.Errorf("record after the suspension: %+v %v", rec, err)
	}
}
