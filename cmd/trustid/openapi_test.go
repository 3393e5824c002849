package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/apispec"
)

// conformance validates every response a node sends to this package's
// tests, and every request body it accepts, against the OpenAPI document:
// TestMain routes http.DefaultTransport
// through it, so each end-to-end test (enrollment, QR, credentials, login,
// the SDK) also checks the document against real bodies.
var conformance = &specTransport{next: http.DefaultTransport, seen: map[string]map[int]bool{}}

type specTransport struct {
	next http.RoundTripper
	spec *apispec.Spec

	mu       sync.Mutex
	failures []string
	seen     map[string]map[int]bool // pattern → statuses answered
}

func (t *specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pattern := ""
	if strings.HasPrefix(req.URL.Host, "127.0.0.1:") {
		pattern = t.spec.Match(req)
	}
	if pattern == "" {
		return t.next.RoundTrip(req) // not a node's documented route; TestOpenAPIMatchesRouter covers the router
	}
	if req.Method == http.MethodHead {
		return t.next.RoundTrip(req) // no content to check (RFC 9110 §9.3.2)
	}
	var sent []byte
	if req.Body != nil {
		var err error
		if sent, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(sent))
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if pattern == "GET /{$}" && resp.Header.Get("X-Request-Id") == "" {
		// Not a node's answer (its / sets it, as its routes do but
		// /metrics): another local server of a test, a relying party's
		// page.
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil
	}
	verr := t.spec.ValidateResponse(pattern, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	if verr == nil && resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		// docs/api.md, "Errors": a 401 carries WWW-Authenticate.
		verr = fmt.Errorf("%s: 401 without WWW-Authenticate", pattern)
	}
	if resp.StatusCode < 300 && verr == nil {
		// A request the node accepted must match the documented request
		// body (refused ones are the tests' deliberate bad input).
		verr = t.spec.ValidateRequest(pattern, req.Header.Get("Content-Type"), sent)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[pattern] == nil {
		t.seen[pattern] = map[int]bool{}
	}
	t.seen[pattern][resp.StatusCode] = true
	if verr != nil {
		t.failures = append(t.failures, fmt.Sprintf("%v\n    body: %.300s", verr, body))
	}
	return resp, nil
}

func TestMain(m *testing.M) {
	spec, err := apispec.Load(api.OpenAPI())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conformance.spec = spec
	http.DefaultTransport = conformance
	code := m.Run()
	conformance.mu.Lock()
	defer conformance.mu.Unlock()
	if len(conformance.failures) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d responses do not match api/openapi.json:\n", len(conformance.failures))
		for _, f := range slices.Compact(slices.Sorted(slices.Values(conformance.failures))) {
			fmt.Fprintln(os.Stderr, "  "+f)
		}
		code = 1
	}
	// A documented route no test reached is a gap in the conformance
	// check, when the whole package ran (not with -run, -skip or -list).
	if wholePackageRan() && code == 0 {
		for _, p := range spec.Patterns() {
			if len(conformance.seen[p]) == 0 {
				fmt.Fprintf(os.Stderr, "FAIL: no test got a response from %s; add one to TestOpenAPIConformance\n", p)
				code = 1
			}
		}
	}
	if testing.Verbose() {
		for _, p := range spec.Patterns() {
			fmt.Fprintf(os.Stderr, "openapi: %-45s answered %v\n", p, slices.Sorted(mapKeys(conformance.seen[p])))
		}
	}
	os.Exit(code)
}

// wholePackageRan reports whether m.Run ran every test of the package.
func wholePackageRan() bool {
	for _, name := range []string{"test.run", "test.skip", "test.list"} {
		f := flag.Lookup(name)
		if f == nil || f.Value.String() == "" || name == "test.skip" && f.Value.String() == fabricTests {
			continue
		}
		return false
	}
	return true
}

// fabricTests is the -skip of scripts/test.sh's go test runs (its
// FABRIC_TESTS, CI's runs): the Fabric network's tests, which
// scripts/fabric/test.sh runs apart and which skip themselves without
// the network, so no route is reached by them alone. A run that skips
// only them ran the whole package.
const fabricTests = "^TestFabric"

func mapKeys(m map[int]bool) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestOpenAPIMatchesRouter: every route a node serves with all its
// features (--demo included) is in api/openapi.json with the scope it needs, every
// documented route is served, and GET /openapi.json serves the document.
func TestOpenAPIMatchesRouter(t *testing.T) {
	n := startAuthNode(t, "--demo") // the wallet demo's routes too
	admin := n.token("rp-admin", n.addClient("rp-admin", "SM2", "registry:admin"))
	if err := conformance.spec.CheckRoutes(n.routes(admin)); err != nil {
		t.Errorf("api/openapi.json and the router differ:\n%v", err)
	}
	resp, err := http.Get(n.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(got, api.OpenAPI()) {
		t.Errorf("GET /openapi.json: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
	}
	// The browsable reference: every documented route on it, under a CSP
	// that loads nothing.
	resp, err = http.Get(n.base + api.APIDocsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("GET /api-docs: %d, CSP %q", resp.StatusCode, csp)
	}
	for _, p := range conformance.spec.Patterns() {
		method, path, _ := strings.Cut(p, " ")
		path = strings.TrimSuffix(path, "{$}") // the pattern of the exact path "/"
		if !bytes.Contains(page, []byte(`<span class="m">`+method+`</span> <span class="p">`+path+`</span>`)) {
			t.Errorf("GET /api-docs does not show %s", p)
		}
	}
}

// TestOpenAPIConformance reaches the routes the package's other tests do
// not, so that every documented route answers at least once to the
// validating transport (TestMain): introspection, userinfo by POST, the
// SD-JWT VC issuer metadata, static QR rendering, peer redemption, the
// authorization and logout endpoints by POST (their refusals).
func TestOpenAPIConformance(t *testing.T) {
	n := startAuthNode(t)
	key := n.addClient("rp-a", "SM2", "qr:redeem")
	tok := n.token("rp-a", key)
	form := url.Values{"token": {tok}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {n.assertion("rp-a", key)}}
	// Introspection of a live token; then the other routes.
	if code, m, _ := n.do("POST", auth.IntrospectionPath, "", "application/x-www-form-urlencoded", form.Encode()); code != 200 || m["active"] != true {
		t.Errorf("introspect: %d %v", code, m)
	}
	// The registry counts, after one accreditation.
	n.accredit("rp-a", "ExampleCredential")
	if code, m, _ := n.do("GET", "/v1/admin/registry", n.admin, "", ""); code != 200 || m["region"] != "310000" ||
		fmt.Sprint(m["issuers"]) != "map[active:1]" || fmt.Sprint(m["terminals"]) != "map[]" {
		t.Errorf("registry counts: %d %v", code, m)
	}
	for _, c := range []struct {
		method, path, ctype, body string
		want                      int
	}{
		{"GET", "/v1/admin/registry", "", "", 401},
		{"POST", auth.IntrospectionPath, "application/x-www-form-urlencoded", "token=x", 401},
		{"POST", "/oauth2/userinfo", "", "", 401},
		{"GET", "/.well-known/jwt-vc-issuer", "", "", 200},
		{"POST", "/v1/qr/static", "application/x-www-form-urlencoded", "code=TIDST1:nonsense", 400},
		{"POST", "/v1/qr/peer/redeem", "application/json", `{}`, 401},
		{"POST", auth.PeerIntrospectionPath, "application/json", `{"token":"x"}`, 401},
		// The authorization and logout endpoints by POST (their refusals).
		{"POST", "/oauth2/authorize", "application/x-www-form-urlencoded",
			"client_id=nobody&redirect_uri=https%3A%2F%2Frp.example%2Fcb&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", 400},
		{"POST", "/oauth2/logout", "application/x-www-form-urlencoded", "state=x", 400},
	} {
		if code, m, _ := n.do(c.method, c.path, "", c.ctype, c.body); code != c.want {
			t.Errorf("%s %s: %d %v, want %d", c.method, c.path, code, m, c.want)
		}
	}
}

// TestWholePackageUnderCI: the go test runs of scripts/test.sh (CI's),
// which skips only the Fabric network's tests, counts as the whole
// package, so TestMain's check that every documented route got a
// response runs in CI (before, its -skip turned the check off in every
// CI run); a -run, a -list or another -skip does not count.
func TestWholePackageUnderCI(t *testing.T) {
	script, err := os.ReadFile("../../scripts/test.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FABRIC_TESTS='([^']*)'$`).FindSubmatch(script)
	if m == nil || !bytes.Contains(script, []byte(`-skip "$FABRIC_TESTS"`)) {
		t.Fatal("scripts/test.sh: no FABRIC_TESTS='...' that its go test runs skip")
	}
	// The testing package read these flags when it started; TestMain
	// reads them again only after every test.
	names := []string{"test.run", "test.skip", "test.list"}
	saved := make([]string, len(names))
	for i, name := range names {
		saved[i] = flag.Lookup(name).Value.String()
	}
	defer func() {
		for i, name := range names {
			flag.Set(name, saved[i])
		}
	}()
	for _, c := range []struct {
		run, skip, list string
		whole           bool
	}{
		{"", "", "", true},
		{"", string(m[1]), "", true},
		{"TestX", "", "", false},
		{"", "TestOpenAPIConformance", "", false},
		{"", string(m[1]) + "|TestLogin", "", false},
		{"", "", ".", false},
	} {
		for i, v := range []string{c.run, c.skip, c.list} {
			if err := flag.Set(names[i], v); err != nil {
				t.Fatal(err)
			}
		}
		if got := wholePackageRan(); got != c.whole {
			t.Errorf("go test -run %q -skip %q -list %q: whole package %v, want %v", c.run, c.skip, c.list, got, c.whole)
		}
	}
}
