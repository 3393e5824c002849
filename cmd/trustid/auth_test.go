package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/progress"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
	"github.com/trustid-cn/trustid/ledger/registry"
)

const testKEK = "00112233445566778899aabbccddeeff"

// protectedRoutes is every protected route a node serves and the scope it
// needs, and publicRoutes every route that is public by design.
// TestEveryProtectedRoute fails when the running node serves a route that
// is in neither (or with another scope), or when one listed here is not
// served: whoever adds a route adds its line, and a protected route is then
// run through every credential case.
var protectedRoutes = map[string]string{
	"POST /v1/admin/clients":              auth.ScopeRegistryAdmin,
	"GET /v1/admin/clients":               auth.ScopeRegistryAdmin,
	"GET /v1/admin/clients/{id}":          auth.ScopeRegistryAdmin,
	"PATCH /v1/admin/clients/{id}":        auth.ScopeRegistryAdmin,
	"POST /v1/admin/clients/{id}/keys":    auth.ScopeRegistryAdmin,
	"POST /v1/admin/clients/{id}/disable": auth.ScopeRegistryAdmin,
	"GET /v1/admin/routes":                auth.ScopeRegistryAdmin,
	"GET /v1/admin/registry":              auth.ScopeRegistryAdmin,
	"POST /v1/admin/issuers":              auth.ScopeRegistryAdmin,
	"GET /v1/admin/issuers/{client}":      auth.ScopeRegistryAdmin,
	"POST /credentials/issue":             auth.ScopeCredentialsIssue,
	"POST /presentations":                 auth.ScopeCredentialsIssue,
	"POST /v1/credentials/{id}/status":    auth.ScopeStatusWrite,
	"POST /v1/qr/verify":                  auth.ScopeQRRedeem,
	"POST /v1/enrollments":                auth.ScopeEnroll,
	"POST /v1/enrollments/{id}/status":    auth.ScopeStatusWrite,
	"POST /v1/oid4vp/requests":            auth.ScopePresentationRequest,
	"GET /v1/oid4vp/requests/{id}":        auth.ScopePresentationRequest,
	"POST /oid4vci/offers":                auth.ScopeCredentialsIssue,
}

var publicRoutes = []string{
	// Probes and metrics, for the orchestrator and Prometheus.
	"GET /healthz",
	"GET /readyz",
	"GET /metrics",
	"GET /openapi.json", // the API's description (docs/api.md)
	"GET /api-docs",     // the same, rendered as a browsable page
	// OAuth 2.0: the endpoints authenticate the client themselves (client
	// assertion or secret); discovery metadata and the node's public keys.
	"POST /oauth2/token",
	"POST /oauth2/introspect",
	"POST /oauth2/revoke",
	"GET /.well-known/oauth-authorization-server",
	"GET /.well-known/openid-configuration",
	"GET /.well-known/jwks.json",
	// User login (OpenID Connect): the browser's authorization request,
	// long poll, more time, PNG QR, pages and restart (its cookie), the holder's app reading and approving a
	// session (its device signature), userinfo and logout (a login access
	// token or ID token, checked by package login).
	"GET /oauth2/authorize",
	"POST /oauth2/authorize",
	"GET /login/sessions/{id}",
	"POST /login/sessions/{id}/approve",
	"POST /login/sessions/{id}/counter-approve",
	"POST /login/sessions/{id}/deny",
	"GET /login/sessions/{id}/wait",
	"POST /login/sessions/{id}/extend",
	"GET /login/sessions/{id}/qr.png",
	"GET /login/sessions/{id}/continue",
	"GET /login/sessions/{id}/page",
	"POST /login/sessions/{id}/restart",
	"GET /oauth2/userinfo",
	"POST /oauth2/userinfo",
	"GET /oauth2/logout",
	"POST /oauth2/logout",
	// Credentials: anyone may verify; the issuer's DID document, metadata
	// and status lists are what verifiers fetch.
	"POST /credentials/verify",
	"POST /presentations/verify",
	"GET /.well-known/did.json",
	"GET /issuers/{client}/did.json", // a client issuer's DID document
	"GET /.well-known/jwt-vc-issuer",
	"GET /vct/{type}", // SD-JWT VC Type Metadata of the types the node defines, at their vct
	"GET /status/{listID}",
	"GET /status", // the list index offline QR verifiers read (sdk.QRStatus)
	// QR: the holder proves its binding, a peer node signs an assertion,
	// the static QR image carries its own signature; all rate-limited.
	"POST /v1/qr",
	"POST /v1/qr/peer/redeem",
	"POST /v1/qr/static",
	// Peer introspection: another region's node, authenticated by its
	// node assertion (signed by its registered region key, single-use,
	// body-bound), as at /v1/qr/peer/redeem; rate-limited.
	"POST /oauth2/peer/introspect",
	// PIN check: the holder's binding and device proof authenticate it.
	"POST /v1/bindings/pin",
	// OID4VP: the wallet fetches the signed request object and posts its
	// response (state, nonce and the key binding authenticate it).
	"GET /oid4vp/request/{id}",
	"POST /oid4vp/response/{id}",
	// OID4VCI: metadata, offers by reference (a random reference), the
	// pre-authorized code grant; the credential and notification
	// endpoints take the access token of that grant (checked by oid4vci).
	"GET /.well-known/openid-credential-issuer",
	"GET /.well-known/oauth-authorization-server/oid4vci",
	"GET /oid4vci/offers/{ref}",
	"POST /oid4vci/token",
	// The authorization endpoint of the authorization code flow: the
	// holder logs in (its device signature); the wallet is a public client.
	"GET /oid4vci/authorize",
	// Its pushed authorization requests (RFC 9126), checked as the
	// authorization endpoint checks them; the wallet is a public client.
	"POST /oid4vci/par",
	"POST /oid4vci/nonce",
	// The challenge endpoint: a wallet attestation challenge and a DPoP
	// nonce, both stateless; the wallet is not yet authenticated.
	"POST /oid4vci/challenge",
	"POST /oid4vci/credential",
	"POST /oid4vci/notification",
	// The web pages (docs/ui.md): static files and what they show of the
	// node; the pages call the node's routes with the caller's own token.
	"GET /{$}", // the bare address: a redirect to /ui/
	"GET /ui/{$}",
	"GET /ui/wallet",
	"GET /ui/counter",
	"GET /ui/operator",
	"GET /ui/assets/{file}",
	"GET /ui/config.json",
	// The wallet demo, served only with --demo (which the route tests
	// turn on): made-up identities, rate-limited per address.
	"POST /ui/demo/wallets",
	"POST /ui/demo/wallets/{id}/code-request",
	"POST /ui/demo/wallets/{id}/presentation",
	"POST /ui/demo/wallets/{id}/extend",
}

// authNode is a running `trustid serve` with its data directory.
type authNode struct {
	t    *testing.T
	dir  string
	base string
	logs *syncBuffer
	// admin is an operator's registry:admin token (see accredit).
	admin string
	// node is set by tests that stop the node.
	node *testnode.Node
}

// stop stops the node and waits for it.
func (n *authNode) stop() { n.node.Stop() }

func startAuthNode(t *testing.T, extra ...string) *authNode {
	t.Helper()
	t.Setenv("TRUSTID_KEK", testKEK)
	dir := t.TempDir()
	addr := testport.Reserve(t)
	args := append([]string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr}, extra...)
	node := testnode.Start(t, serveMain, args...)
	return &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs, node: node}
}

// cli runs a trustid subcommand on the node's data directory.
func (n *authNode) cli(args ...string) string {
	n.t.Helper()
	out, errOut, err := run(n.t, context.Background(), withFlags(args, "--data", n.dir)...)
	if err != nil {
		n.t.Fatalf("trustid %v: %v\n%s%s", args, err, out, errOut)
	}
	return out
}

// withFlags puts flags after args, but before a "--" that ends them.
func withFlags(args []string, flags ...string) []string {
	i := slices.Index(args, "--")
	if i < 0 {
		return append(slices.Clone(args), flags...)
	}
	return slices.Concat(args[:i], flags, args[i:])
}

// addClient makes a key with `clients keygen` and registers it with
// `clients add`; it returns the key file.
func (n *authNode) addClient(id, alg, scopes string) string {
	n.t.Helper()
	keys := filepath.Join(n.dir, "rp-"+id)
	out := n.cli("clients", "keygen", "--alg", alg, "--out", keys)
	kid := regexp.MustCompile(`kid (\S+)`).FindStringSubmatch(out)[1]
	n.cli("clients", "add", "--id", id, "--name", "RP "+id, "--region", "310000", "--scopes", scopes,
		"--jwks-file", filepath.Join(keys, kid+".jwks.json"))
	return filepath.Join(keys, kid+".key.pem")
}

// accredit accredits client id for types with `trustid issuers
// accredit`, as an operator client (registry:admin) made on first use,
// and returns the command's output (the issuer record).
func (n *authNode) accredit(id string, types ...string) string {
	n.t.Helper()
	if n.admin == "" {
		n.admin = n.tokenFor("ops-console", n.addClient("ops-console", "SM2", auth.ScopeRegistryAdmin))
	}
	return n.cli("issuers", "accredit", "--node", n.base, "--token", n.admin, "--client", id, "--types", strings.Join(types, ","))
}

// token runs `trustid token` and returns the access token.
func (n *authNode) token(id, key string, extra ...string) string {
	n.t.Helper()
	out := n.cli(append([]string{"token", "--node", n.base, "--client-id", id, "--key", key}, extra...)...)
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.AccessToken == "" {
		n.t.Fatalf("token output %q: %v", out, err)
	}
	return resp.AccessToken
}

func (n *authNode) do(method, path, token, contentType, body string) (int, map[string]any, http.Header) {
	n.t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return n.doWith(method, path, h, body)
}

// doWith sends a request with the header fields h and returns its
// status, JSON body and header.
func (n *authNode) doWith(method, path string, h http.Header, body string) (int, map[string]any, http.Header) {
	n.t.Helper()
	req, _ := http.NewRequest(method, n.base+path, strings.NewReader(body))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m, resp.Header
}

// assertion signs a client assertion with the key file for the node.
func (n *authNode) assertion(id, keyFile string) string {
	n.t.Helper()
	pemBytes, _ := os.ReadFile(keyFile)
	signer, err := gm.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		n.t.Fatal(err)
	}
	kid, _ := auth.KeyID(signer.Public())
	a, err := auth.NewClientAssertion(signer, kid, id, n.base+auth.TokenPath, time.Now(), time.Minute, rand.Reader)
	if err != nil {
		n.t.Fatal(err)
	}
	return a
}

// forge signs an access token with the node's own SM2 key (or signer),
// claims edited by edit: the way to make expired, wrong-audience and
// wrong-issuer tokens that are otherwise perfect.
func (n *authNode) forge(signer crypto.Signer, kid string, edit func(h map[string]any, c jwt.MapClaims)) string {
	n.t.Helper()
	if signer == nil {
		ks, err := keystore.Open(filepath.Join(n.dir, keystoreFile), mustKEK(n.t), keystore.Options{})
		if err != nil {
			n.t.Fatal(err)
		}
		k, err := ks.Active(gm.AlgSM2)
		if err != nil {
			n.t.Fatal(err)
		}
		signer, kid = k.Signer, k.Kid
	}
	now := time.Now()
	claims := jwt.MapClaims{"iss": n.base, "sub": "rp-admin", "aud": []string{n.base}, "client_id": "rp-admin",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": rand.Text(), "scope": strings.Join(auth.Scopes, " ")}
	m, _ := gm.SigningMethod(signer)
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = kid
	if edit != nil {
		edit(tok.Header, claims)
	}
	s, err := tok.SignedString(signer)
	if err != nil {
		n.t.Fatal(err)
	}
	return s
}

func mustKEK(t *testing.T) []byte {
	k, err := keystore.ParseKEK(testKEK)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// routes returns every route the node serves, as its router recorded them.
func (n *authNode) routes(adminToken string) []api.Route {
	n.t.Helper()
	req, _ := http.NewRequest("GET", n.base+"/v1/admin/routes", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Routes []api.Route }
	if err := json.NewDecoder(resp.Body).Decode(&body); resp.StatusCode != 200 || err != nil || len(body.Routes) == 0 {
		n.t.Fatalf("routes: %d %v %v", resp.StatusCode, err, body)
	}
	return body.Routes
}

// requestFor fills a route pattern's wildcards with a plausible value.
func requestFor(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(path, "rp-target")
	return method, path
}

// TestEveryProtectedRoute checks every route a real node serves, with all
// its features mounted by serve (--demo included) (listed by the node's router at
// /v1/admin/routes), against protectedRoutes and publicRoutes; then it runs
// every protected route through every kind of credential: only a valid
// token with the route's scope gets past authorization; everything else is
// 401 invalid_token or 403 insufficient_scope.
func TestEveryProtectedRoute(t *testing.T) {
	n := startAuthNode(t, "--demo") // every feature, the wallet demo's routes too
	adminKey := n.addClient("rp-admin", "SM2", strings.Join(auth.Scopes, ","))
	offKey := n.addClient("rp-off", "ES256", strings.Join(auth.Scopes, ","))
	n.addClient("rp-target", "SM2", "qr:redeem") // the {id} of routes that take one
	admin := n.token("rp-admin", adminKey)

	// Every route the node serves against the tables.
	all := n.routes(admin)
	if err := api.CheckRoutes(all, protectedRoutes, publicRoutes); err != nil {
		t.Errorf("the node's routes and the tables differ (add the route to protectedRoutes, or to publicRoutes if it is public by design):\n%v", err)
	}
	served := map[string]string{}
	for _, r := range all {
		if r.Scope != "" {
			served[r.Pattern] = r.Scope
		}
	}

	// Credentials, each made once and used on every route.
	offToken := n.token("rp-off", offKey)
	if code, m, _ := n.do("POST", "/v1/admin/clients/rp-off/disable", admin, "", ""); code != 200 {
		t.Fatalf("disable: %d %v", code, m)
	}
	revoked := n.token("rp-admin", adminKey)
	form := url.Values{"token": {revoked}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {n.assertion("rp-admin", adminKey)}}
	if code, m, _ := n.do("POST", auth.RevocationPath, "", "application/x-www-form-urlencoded", form.Encode()); code != 200 {
		t.Fatalf("revoke: %d %v", code, m)
	}
	foreign, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	ks, _ := keystore.Open(filepath.Join(n.dir, keystoreFile), mustKEK(t), keystore.Options{})
	active, _ := ks.Active(gm.AlgSM2)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": n.base, "sub": "rp-admin", "aud": n.base,
		"client_id": "rp-admin", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "jti": "n",
		"scope": strings.Join(auth.Scopes, " ")})
	none.Header["typ"] = "at+jwt"
	none.Header["kid"] = active.Kid
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	scoped := map[string]string{}
	for _, s := range auth.Scopes {
		scoped[s] = n.token("rp-admin", adminKey, "--scope", s)
	}

	type credential struct {
		name   string
		token  func(scope string) string
		status int
		code   string
	}
	otherScope := func(scope string) string {
		for _, s := range auth.Scopes {
			if s != scope {
				return scoped[s]
			}
		}
		panic("one scope only")
	}
	creds := []credential{
		{"anonymous", func(string) string { return "" }, 401, "invalid_token"},
		{"wrong scope", otherScope, 403, "insufficient_scope"},
		{"expired", func(string) string {
			return n.forge(nil, "", func(_ map[string]any, c jwt.MapClaims) {
				c["iat"], c["exp"] = time.Now().Add(-20*time.Minute).Unix(), time.Now().Add(-10*time.Minute).Unix()
			})
		}, 401, "invalid_token"},
		{"wrong audience", func(string) string {
			return n.forge(nil, "", func(_ map[string]any, c jwt.MapClaims) { c["aud"] = []string{"https://bj.trustid.example"} })
		}, 401, "invalid_token"},
		{"wrong issuer", func(string) string {
			return n.forge(nil, "", func(_ map[string]any, c jwt.MapClaims) { c["iss"] = "https://bj.trustid.example" })
		}, 401, "invalid_token"},
		{"alg none", func(string) string { return noneTok }, 401, "invalid_token"},
		{"unknown kid", func(string) string { return n.forge(active.Signer, "kid-from-nowhere", nil) }, 401, "invalid_token"},
		{"disabled client", func(string) string { return offToken }, 401, "invalid_token"},
		{"revoked token", func(string) string { return revoked }, 401, "invalid_token"},
		{"non-node key", func(string) string { return n.forge(foreign, active.Kid, nil) }, 401, "invalid_token"},
		{"valid", func(scope string) string { return scoped[scope] }, 0, ""},
	}
	routes := make([]string, 0, len(served))
	for r := range served {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	// Bodies a valid caller's request goes through with, so that a refused
	// one is seen to change nothing (the registry, read before and after);
	// any other route gets {}.
	bodies := map[string]string{
		"POST /v1/admin/clients": `{"client_id": "rp-new", "client_name": "new", "region": "310000", "scopes": ["qr:redeem"], "token_endpoint_auth_method": "client_secret_basic"}`,
	}
	registry := func() string {
		code, m, _ := n.do("GET", "/v1/admin/clients", scoped[auth.ScopeRegistryAdmin], "", "")
		if code != 200 {
			t.Fatalf("list clients: %d %v", code, m)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, route := range routes {
		scope := served[route]
		method, path := requestFor(route)
		body, ok := bodies[route]
		if !ok {
			body = "{}"
		}
		before := registry()
		for _, c := range creds {
			if c.status == 0 {
				if after := registry(); after != before {
					t.Errorf("%s: refused requests changed the registry:\n%s\n%s", route, before, after)
				}
			}
			code, m, hdr := n.do(method, path, c.token(scope), "application/json", body)
			if c.status == 0 {
				if code == 401 || code == 403 || code == 503 || code >= 500 {
					t.Errorf("%s with a valid %s token: %d %v", route, scope, code, m)
				}
				continue
			}
			if code != c.status || m["error"] != c.code {
				t.Errorf("%s, %s: got %d %v, want %d %s", route, c.name, code, m, c.status, c.code)
			}
			// RFC 6750 §3: no error without authentication information;
			// insufficient_scope names the scope the route needs.
			want := `Bearer realm="trustid", error="invalid_token", error_description=`
			switch c.name {
			case "anonymous":
				want = `Bearer realm="trustid"`
			case "wrong scope":
				want = `Bearer realm="trustid", error="insufficient_scope", scope="` + scope + `"`
			}
			if got := hdr.Get("WWW-Authenticate"); got != want && (c.code != "invalid_token" || c.name == "anonymous" || !strings.HasPrefix(got, want)) {
				t.Errorf("%s, %s: WWW-Authenticate %q, want %q", route, c.name, got, want)
			}
		}
	}
	if code, m, _ := n.do("GET", "/v1/admin/clients/rp-new", admin, "", ""); code != 200 {
		t.Errorf("the valid registration: %d %v", code, m)
	}
	// Stopped first: the access log is buffered and written out at shutdown,
	// so the scan reads every line the node wrote.
	n.stop()
	scan := leakcheck.New(t, admin, revoked, offToken, noneTok)
	scan.PlantLog(n.logs)
	if hits := scan.Log([]byte(n.logs.String())); len(hits) > 0 {
		t.Errorf("tokens in the node's logs: %v", hits)
	}
}

// TestClientsCLIAndLiveReload: `trustid clients` edits the registry of a
// running node, which picks changes up within a second (it re-reads
// clients.json when its modification time changes).
func TestClientsCLIAndLiveReload(t *testing.T) {
	n := startAuthNode(t)
	key := n.addClient("rp-live", "ES256", "qr:redeem,identity:enroll")
	tok := n.token("rp-live", key, "--scope", "qr:redeem")
	if tok == "" {
		t.Fatal("no token")
	}

	// A client_secret_basic client: the secret is printed once and stored
	// only as a salted hash.
	out, errOut, err := run(t, context.Background(), "clients", "add", "--id", "rp-basic", "--name", "基础服务 RP",
		"--region", "310000", "--scopes", "qr:redeem", "--secret", "--data", n.dir)
	if err != nil {
		t.Fatal(err, errOut)
	}
	var added struct {
		ClientSecret string `json:"client_secret"`
	}
	json.Unmarshal([]byte(out), &added)
	if len(added.ClientSecret) != 43 || !strings.Contains(errOut, "shown once") {
		t.Fatalf("add --secret: %s %s", out, errOut)
	}
	scan := leakcheck.New(t, added.ClientSecret)
	scan.PlantDir(n.dir)
	if hits := scan.Dir(n.dir); len(hits) > 0 {
		t.Errorf("client secret stored in clear: %v", hits)
	}
	if show := n.cli("clients", "show", "rp-basic"); strings.Contains(show, "hmac-sm3") || strings.Contains(show, "secret_hash") || strings.Contains(show, "null") {
		t.Errorf("show prints secret material: %s", show)
	}
	t.Setenv("TRUSTID_CLIENT_SECRET", added.ClientSecret)
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _, err := run(t, context.Background(), "token", "--node", n.base, "--client-id", "rp-basic", "--data", n.dir)
		if err == nil && strings.Contains(out, `"access_token"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not pick up the new client: %v %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Setenv("TRUSTID_CLIENT_SECRET", "")

	// Key rotation with the CLI: add a new key, retire the old one.
	newKeys := filepath.Join(n.dir, "rp-live-2")
	kid2 := regexp.MustCompile(`kid (\S+)`).FindStringSubmatch(n.cli("clients", "keygen", "--alg", "SM2", "--out", newKeys))[1]
	oldKid := strings.TrimSuffix(filepath.Base(key), ".key.pem")
	n.cli("clients", "rotate-key", "rp-live", "--add-jwks-file", filepath.Join(newKeys, kid2+".jwks.json"))
	n.cli("clients", "rotate-key", "rp-live", "--retire", oldKid)
	list := n.cli("clients", "list")
	if !strings.Contains(list, kid2) || strings.Contains(list, oldKid) || !strings.Contains(list, "rp-basic") {
		t.Errorf("list after rotation:\n%s", list)
	}
	checkAligned(t, list) // rp-basic's name is in Chinese
	newKey := filepath.Join(newKeys, kid2+".key.pem")
	waitFor(t, func() bool {
		_, _, err := run(t, context.Background(), "token", "--node", n.base, "--client-id", "rp-live", "--key", newKey, "--data", n.dir)
		return err == nil
	}, "the new key to be accepted")
	if out, _, err := run(t, context.Background(), "token", "--node", n.base, "--client-id", "rp-live", "--key", key, "--data", n.dir); err == nil || !strings.Contains(out, "invalid_client") {
		t.Errorf("retired key still accepted: %v %s", err, out)
	}

	// Disable: new tokens are refused and the existing one stops working.
	n.cli("clients", "disable", "rp-live")
	waitFor(t, func() bool {
		code, _, _ := n.do("GET", "/v1/admin/clients", tok, "", "")
		return code == 401
	}, "the disabled client's token to be refused")

	// Refusals of the CLI itself.
	for _, args := range [][]string{
		{"clients", "add", "--name", "x", "--region", "310000", "--scopes", "qr:redeem"},
		{"clients", "add", "--name", "x", "--region", "310100", "--scopes", "qr:redeem", "--secret"},
		{"clients", "add", "--id", "rp-basic", "--name", "x", "--region", "310000", "--scopes", "qr:redeem", "--secret"},
		{"clients", "show", "rp-nobody"},
		{"clients", "rotate-key", "rp-basic", "--retire", "x"},
		{"clients", "keygen", "--alg", "EdDSA", "--out", n.dir},
		{"token", "--node", n.base, "--client-id", "rp-live"},
	} {
		if _, _, err := run(t, context.Background(), append(args, "--data", n.dir)...); err == nil {
			t.Errorf("trustid %v succeeded", args)
		}
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestServeAuthFlags(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	for _, args := range [][]string{
		{"--access-token-ttl", "10s"},
		{"--token-rate-addr", "lots"},
		{"--token-rate-client", "5/0s"},
	} {
		_, _, err := run(t, context.Background(), append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, args...)...)
		if err == nil {
			t.Errorf("serve %v started", args)
		}
	}
	// The token endpoint honours --token-rate-addr.
	n := startAuthNode(t, "--token-rate-addr", "2/1h", "--access-token-ttl", "2m")
	key := n.addClient("rp-a", "SM2", "qr:redeem")
	out := n.cli("token", "--node", n.base, "--client-id", "rp-a", "--key", key)
	if !strings.Contains(out, `"expires_in": 120`) {
		t.Errorf("ttl flag ignored: %s", out)
	}
	// The token command's metadata request was not counted; the token
	// request was. One more passes, then 429.
	n.cli("token", "--node", n.base, "--client-id", "rp-a", "--key", key)
	_, _, err := run(t, context.Background(), "token", "--node", n.base, "--client-id", "rp-a", "--key", key, "--data", n.dir)
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("third token in an hour: %v", err)
	}
	if !slices.ContainsFunc(strings.Split(n.logs.String(), "\n"), func(l string) bool { return strings.Contains(l, `"rate_addr":"2/1h0m0s"`) }) {
		t.Errorf("start-up log does not show the limits")
	}
	_ = fmt.Sprint
}

// TestRegistryCLIBadInput: registry writes with a malformed key, an
// unknown region, a duplicate ID or an unknown scope are refused with a
// specific error, and the registry on the ledger is unchanged.
func TestRegistryCLIBadInput(t *testing.T) {
	n := startAuthNode(t)
	n.addClient("rp-one", "SM2", "qr:redeem")
	badJWKS := filepath.Join(n.dir, "bad.jwks.json")
	os.WriteFile(badJWKS, []byte(`{"keys":[{"kty":"EC","crv":"SM2","x":"AAAA","y":"AAAA","kid":"k"}]}`), 0o600)
	goodJWKS, _ := filepath.Glob(filepath.Join(n.dir, "rp-rp-one", "*.jwks.json"))
	otherKeys := filepath.Join(n.dir, "other")
	kid := regexp.MustCompile(`kid (\S+)`).FindStringSubmatch(n.cli("clients", "keygen", "--out", otherKeys))[1]
	otherJWKS := filepath.Join(otherKeys, kid+".jwks.json")
	badPEM := filepath.Join(n.dir, "bad.pem")
	os.WriteFile(badPEM, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 0o600)

	goodPEM := filepath.Join(n.dir, "good.pem")
	os.WriteFile(goodPEM, testTerminalKeyPEM(t), 0o600)
	n.cli("terminals", "add", "--id", "t-1", "--name", "徐汇 counter 3", "--region", "310104", "--public-key", goodPEM)
	checkAligned(t, n.cli("terminals", "list"))
	goodPEM2 := filepath.Join(n.dir, "good2.pem")
	os.WriteFile(goodPEM2, testTerminalKeyPEM(t), 0o600)
	before := n.cli("clients", "export")
	termsBefore := n.cli("terminals", "list", "--json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"clients", "add", "--id", "rp-two", "--name", "x", "--scopes", "qr:redeem", "--jwks-file", badJWKS}, "jwks is not a valid public JWK set"},
		{[]string{"clients", "add", "--id", "rp-two", "--name", "x", "--home-region", "440000", "--scopes", "qr:redeem", "--jwks-file", otherJWKS}, "no such region in the consortium"},
		{[]string{"clients", "add", "--id", "rp-two", "--name", "x", "--region", "440000", "--scopes", "qr:redeem", "--jwks-file", otherJWKS}, "this node acts as Region310000MSP"},
		{[]string{"clients", "add", "--id", "rp-two", "--name", "x", "--home-region", "990000", "--scopes", "qr:redeem", "--jwks-file", otherJWKS}, "is not a GB/T 2260"},
		{[]string{"clients", "add", "--id", "rp-one", "--name", "x", "--scopes", "qr:redeem", "--jwks-file", otherJWKS}, "client already exists"},
		{[]string{"clients", "add", "--id", "rp-two", "--name", "x", "--scopes", "qr:redeem,no:such-scope", "--jwks-file", otherJWKS}, "'no:such-scope' is not one of"},
		{[]string{"clients", "rotate-key", "rp-one", "--add-jwks-file", goodJWKS[0]}, "already registered"},
		{[]string{"terminals", "add", "--id", "t-2", "--name", "x", "--region", "310104", "--public-key", badPEM}, "public"},
		{[]string{"terminals", "add", "--id", "t-2", "--name", "x", "--region", "440104", "--public-key", goodPEM2}, "this node acts as Region310000MSP"},
		{[]string{"terminals", "add", "--id", "t-1", "--name", "x", "--region", "310104", "--public-key", goodPEM2}, "already registered"},
	} {
		out, errOut, err := run(t, context.Background(), append(tc.args, "--data", n.dir)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("trustid %v: %v\n%s%s", tc.args, err, out, errOut)
		}
	}
	// The contract refuses an unknown region (its own check, behind the
	// CLI's): asking for 440000, the node of 310000 writes nothing.
	if after := n.cli("clients", "export"); after != before {
		t.Errorf("refused writes changed the client registry:\n%s\n%s", before, after)
	}
	if after := n.cli("terminals", "list", "--json"); after != termsBefore {
		t.Errorf("refused writes changed the terminal registry: %s", after)
	}
}

// TestMigratesRegistryFiles: a node finding clients.json and
// terminals.json left by an older version imports them into the ledger
// once and renames them; the clients then authenticate, the terminals
// are listed (a revoked one revoked).
func TestMigratesRegistryFiles(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	kid := regexp.MustCompile(`kid (\S+)`).FindStringSubmatch(mustRun(t, "clients", "keygen", "--out", keys))[1]
	set, err := readJWKSFile(filepath.Join(keys, kid+".jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := auth.NewClient(auth.Registration{ID: "rp-old", Name: "Old RP", Region: "310000", Scopes: []string{auth.ScopeQRRedeem}, JWKS: &set}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := auth.MarshalClientsFile([]auth.Client{c})
	os.WriteFile(filepath.Join(dir, clientsFile), file, 0o600)
	var terms []identity.Terminal
	for _, id := range []string{"t-old-1", "t-old-2"} {
		k, _ := gm.GenerateKey(rand.Reader)
		term, _ := identity.NewTerminal(id, "old counter", "310104", k.Public(), time.Now())
		terms = append(terms, term)
	}
	terms[1].State, terms[1].Revoked = identity.TerminalRevoked, time.Now()
	tfile, err := identity.MarshalTerminalsFile(terms)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, terminalsFile), tfile, 0o600)

	addr := testport.Reserve(t)
	node := testnode.Start(t, serveMain, "--data", dir, "--addr", addr, "--issuer", "http://"+addr)
	n := &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs, node: node}
	waitFor(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, clientsFile+".imported"))
		_, err2 := os.Stat(filepath.Join(dir, terminalsFile+".imported"))
		return err == nil && err2 == nil
	}, "the registry files to be imported")
	if tok := n.token("rp-old", filepath.Join(keys, kid+".key.pem"), "--scope", "qr:redeem"); tok == "" {
		t.Error("the imported client gets no token")
	}
	list := n.cli("terminals", "list")
	if !regexp.MustCompile(`t-old-1 .* active`).MatchString(list) || !regexp.MustCompile(`t-old-2 .* revoked`).MatchString(list) {
		t.Errorf("imported terminals:\n%s", list)
	}
	if _, err := os.Stat(filepath.Join(dir, clientsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("clients.json is still in place")
	}
}

// TestMigratesOlderClientsFileInPart: testdata/clients-9087416.json is
// the clients.json `trustid clients add` wrote at commit 9087416 (before
// clients moved to the ledger): rp-long's name, 144 characters, was
// within that version's 200 bytes but is over the 128 characters the
// contract takes. The node registers rp-ok, which then gets a token,
// logs one error naming rp-long, and leaves the file in place to be
// corrected (it refused the whole file, and every client with it, and
// retried every 5 s).
func TestMigratesOlderClientsFileInPart(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir := t.TempDir()
	file, err := os.ReadFile(filepath.Join("testdata", "clients-9087416.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, clientsFile), file, 0o600)
	addr := testport.Reserve(t)
	node := testnode.Start(t, serveMain, "--data", dir, "--addr", addr, "--issuer", "http://"+addr)
	waitFor(t, func() bool { return strings.Contains(node.Logs.String(), "imported in part") }, "the import's error")
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"qr:redeem"}}
	req, _ := http.NewRequest("POST", node.Base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("rp-ok", "Cu4BtPCYrlx63IaRZBrplhwIZ0ziIiI3sKNDWjAhqNQ") // printed by that version's clients add
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("rp-ok of the older file: token %d, want 200", resp.StatusCode)
	}
	logs := node.Logs.String()
	if !strings.Contains(logs, `client_id \"rp-long\"`) || !strings.Contains(logs, "at most 128 characters") {
		t.Errorf("the error does not name rp-long and why:\n%s", logs)
	}
	if strings.Count(logs, "imported in part") != 1 || strings.Contains(logs, "retrying in 5s") {
		t.Errorf("a refusal for good logged more than once, or retried:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, clientsFile)); err != nil {
		t.Errorf("clients.json not left in place: %v", err)
	}
}

// revokeFails is the terminal registry on the ledger whose Revoke fails
// while fail is set, as a ledger that stopped answering would; it counts
// the calls of Revoke.
type revokeFails struct {
	identity.TerminalRegistry
	fail    bool
	revokes int
}

func (r *revokeFails) Revoke(ctx context.Context, id string, at time.Time) error {
	r.revokes++
	if r.fail {
		return errors.New("identity: terminal registry on the ledger: ledger: unavailable: injected")
	}
	return r.TerminalRegistry.Revoke(ctx, id, at)
}

// TestImportKeepsRevokedTerminalsRevoked: importing terminals.json never
// leaves a terminal the file lists as revoked (its key compromised)
// active on the ledger, where its attestations would raise enrollments to
// L4: a new one is registered revoked in one transaction (no revocation
// to fail after it), and one an import of an older node registered active
// and stopped before revoking is revoked, also when the first try fails
// and migrate runs the import again.
func TestImportKeepsRevokedTerminalsRevoked(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	reg := registry.NewTerminals(ledger.Client{L: a}, nil, ledgertest.RegionA)
	revoked := func(id string) identity.Terminal {
		k, err := gm.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		term, err := identity.NewTerminal(id, "old counter", "310104", k.Public(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		term.State, term.Revoked = identity.TerminalRevoked, time.Now()
		return term
	}
	fresh, halfway := revoked("t-fresh"), revoked("t-halfway")
	active := halfway
	active.State, active.Revoked = identity.TerminalActive, time.Time{}
	if err := reg.Add(ctx, active); err != nil {
		t.Fatal(err)
	}
	raw, err := identity.MarshalTerminalsFile([]identity.Terminal{fresh, halfway})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), terminalsFile)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	state := func(id string) identity.TerminalState {
		got, err := reg.Terminal(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return got.State
	}

	flaky := &revokeFails{TerminalRegistry: reg, fail: true}
	if _, _, err := importTerminals(ctx, flaky, path); err == nil {
		t.Fatal("the first import did not report the failed revocation")
	}
	if s := state(fresh.ID); s != identity.TerminalRevoked || flaky.revokes != 1 {
		t.Errorf("a new revoked terminal: %s after %d revocations, want revoked after the one of %s", s, flaky.revokes, halfway.ID)
	}
	// migrate runs the import again (every 5 s) until it returns nil.
	flaky.fail = false
	if added, kept, err := importTerminals(ctx, flaky, path); err != nil || added != 0 || kept != 2 {
		t.Fatalf("the import again: added %d, kept %d, %v", added, kept, err)
	}
	if s := state(halfway.ID); s != identity.TerminalRevoked {
		t.Errorf("the terminal the file lists as revoked is %s on the ledger after the import", s)
	}
	flaky.revokes = 0
	if _, _, err := importTerminals(ctx, flaky, path); err != nil || flaky.revokes != 0 {
		t.Errorf("a third import: %d revocations, %v", flaky.revokes, err)
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, context.Background(), args...)
	if err != nil {
		t.Fatalf("trustid %v: %v %s", args, err, errOut)
	}
	return out
}

// TestClientsImportProgress: `trustid clients import` counts the file's
// clients as it registers them, on a progress line (drawn here as on a
// terminal), and draws nothing when standard error is not a terminal.
func TestClientsImportProgress(t *testing.T) {
	var cs []auth.Client
	for _, id := range []string{"rp-a", "rp-b", "rp-c", "rp-d"} {
		c, _, err := auth.NewClient(auth.Registration{ID: id, Name: id, Region: "310000", Scopes: []string{auth.ScopeQRRedeem}, AuthMethod: auth.AuthClientSecretBasic}, time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	file, err := auth.MarshalClientsFile(cs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clients.json")
	os.WriteFile(path, file, 0o600)
	store := auth.NewMemoryStore(nil)
	if err := store.Create(context.Background(), cs[0]); err != nil {
		t.Fatal(err)
	}

	var p importProgress
	var line bytes.Buffer
	l := p.start(&line, progress.Options{Terminal: true, Interval: time.Hour})
	l.Draw()
	if got := line.String(); !strings.Contains(got, "0 clients") || strings.Contains(got, "%") {
		t.Errorf("before the import: %q, want 0 clients and no bar", got)
	}
	added, kept, err := importClients(context.Background(), store, path, &p)
	if err != nil || added != 3 || kept != 1 {
		t.Fatalf("import: added %d, kept %d, %v", added, kept, err)
	}
	line.Reset()
	l.Draw()
	if got := line.String(); !strings.Contains(got, "100.0%") || !strings.Contains(got, "4 clients") {
		t.Errorf("after the import: %q, want 100%% and 4 clients", got)
	}
	l.Stop()
	if !strings.HasSuffix(line.String(), "\r\033[K") {
		t.Errorf("Stop did not erase the line: %q", line.String())
	}

	var quiet bytes.Buffer
	l = (&importProgress{}).start(&quiet, progress.Options{Interval: time.Millisecond})
	time.Sleep(20 * time.Millisecond)
	l.Stop()
	if quiet.Len() != 0 {
		t.Errorf("drew on a non-terminal: %q", quiet.String())
	}
}

// TestServeDiscoveryAndGrants: a serving node (user login mounted) lists
// its service scopes beside the login ones in both metadata documents,
// and an unsupported grant_type names every grant the token endpoint
// serves.
func TestServeDiscoveryAndGrants(t *testing.T) {
	n := startAuthNode(t)
	for _, doc := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		_, _, body := n.get(doc)
		var m struct {
			Scopes []string `json:"scopes_supported"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(doc, err)
		}
		for _, want := range append([]string{"openid", "offline_access"}, auth.Scopes...) {
			if !slices.Contains(m.Scopes, want) {
				t.Errorf("%s: scopes_supported lacks %s: %v", doc, want, m.Scopes)
			}
		}
	}
	resp, err := http.PostForm(n.base+"/oauth2/token", url.Values{"grant_type": {"password"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 400 || !strings.Contains(e.Description, "(supported: client_credentials, authorization_code, refresh_token)") {
		t.Errorf("grant_type=password: %d %+v", resp.StatusCode, e)
	}
}
