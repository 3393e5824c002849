package login

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode/redeem"
	"github.com/trustid-cn/trustid/store"
)

const testRedirect = "https://shop.example/cb"

// newTestProvider is a provider on real components (a client registry
// file, a keystore, the memory store, pairwise IDs under a test key) with
// one client, "shop". Holders is an authenticator without a verifier: the
// tests here never approve (cmd/trustid's end-to-end test does).
func newTestProvider(t testing.TB) *Provider {
	t.Helper()
	dir := t.TempDir()
	clients := auth.NewMemoryStore(nil)
	c, _, err := auth.NewClient(auth.Registration{ID: "shop", Name: "Shop", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		GrantTypes: []string{auth.GrantAuthorizationCode}, RedirectURIs: []string{testRedirect}, Claims: []string{"age_over_18"},
		AuthMethod: auth.AuthClientSecretBasic}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := clients.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(filepath.Join(dir, "keys.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	pd, err := identity.NewPairwiseDeriver(identity.VersionedKey{Version: 1, Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := identity.NewBindingSubjects(pd)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Issuer: "https://node.example", Clients: clients, Holders: &redeem.BindingAuthenticator{},
		Pairwise: subjects, Keys: ks, Store: mem})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func goodQuery() url.Values {
	return url.Values{"client_id": {"shop"}, "redirect_uri": {testRedirect}, "response_type": {"code"},
		"scope": {"openid age_over_18"}, "state": {"s1"}, "nonce": {"n1"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
}

// TestAuthorizeRefusals: each bad request gets its error code, sent back
// to the redirect URI only once client_id and redirect_uri are good.
func TestAuthorizeRefusals(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	st, err := p.Authorize(ctx, goodQuery())
	if err != nil || len(st.ID) != 43 || st.Browser == "" || !slices.Equal(st.Claims, []string{"age_over_18"}) || st.Level != identity.L2 {
		t.Fatalf("good request: %+v %v", st, err)
	}
	for _, c := range []struct {
		name     string
		edit     func(q url.Values)
		code     string
		redirect bool
	}{
		{"no client", func(q url.Values) { q.Del("client_id") }, CodeInvalidRequest, false},
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }, CodeInvalidClient, false},
		{"two client IDs", func(q url.Values) { q.Add("client_id", "shop") }, CodeInvalidRequest, false},
		{"no redirect", func(q url.Values) { q.Del("redirect_uri") }, CodeInvalidRequest, false},
		{"unregistered redirect", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, CodeInvalidRequest, false},
		{"redirect prefix", func(q url.Values) { q.Set("redirect_uri", testRedirect+"/x") }, CodeInvalidRequest, false},
		{"redirect with query", func(q url.Values) { q.Set("redirect_uri", testRedirect+"?next=https://evil.example") }, CodeInvalidRequest, false},
		{"token response", func(q url.Values) { q.Set("response_type", "token") }, CodeUnsupportedResponseType, true},
		// RFC 6749 §4.1.2.1: invalid_request, "The request is missing a
		// required parameter"; §4.1.1: response_type REQUIRED.
		{"no response type", func(q url.Values) { q.Del("response_type") }, CodeInvalidRequest, true},
		{"empty response type", func(q url.Values) { q.Set("response_type", "") }, CodeInvalidRequest, true},
		{"no openid", func(q url.Values) { q.Set("scope", "age_over_18") }, CodeInvalidScope, true},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge") }, CodeInvalidRequest, true},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, CodeInvalidRequest, true},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, CodeInvalidRequest, true},
		{"prompt none", func(q url.Values) { q.Set("prompt", "none") }, CodeLoginRequired, true},
		{"prompt none and login", func(q url.Values) { q.Set("prompt", "none login") }, CodeInvalidRequest, true},
		{"bad max_age", func(q url.Values) { q.Set("max_age", "-1") }, CodeInvalidRequest, true},
		{"request object", func(q url.Values) { q.Set("request", "eyJ") }, "request_not_supported", true},
		{"request object by reference", func(q url.Values) { q.Set("request_uri", "https://shop.example/r") }, "request_uri_not_supported", true},
		{"two scopes", func(q url.Values) { q.Add("scope", "openid") }, CodeInvalidRequest, true},
		{"fragment mode", func(q url.Values) { q.Set("response_mode", "fragment") }, CodeInvalidRequest, true},
	} {
		q := goodQuery()
		c.edit(q)
		_, err := p.Authorize(ctx, q)
		var ae *AuthorizeError
		if !errors.As(err, &ae) || ae.Err.Code != c.code || (ae.RedirectURI != "") != c.redirect {
			t.Errorf("%s: %v (%+v)", c.name, err, ae)
			continue
		}
		if c.redirect && (ae.RedirectURI != testRedirect || ae.State != "s1") {
			t.Errorf("%s: redirect to %q with state %q", c.name, ae.RedirectURI, ae.State)
		}
	}
	// acr_values: the first known value, never below L2.
	for acr, want := range map[string]identity.Level{"L4": identity.L4, "foo L3 L4": identity.L3, "L1": identity.L2, "urn:x": identity.L2} {
		q := goodQuery()
		q.Set("acr_values", acr)
		if st, err := p.Authorize(ctx, q); err != nil || st.Level != want {
			t.Errorf("acr_values %q: %v %v", acr, st, err)
		}
	}
}

// TestAuthorizeEmptyRequestObject: request and request_uri sent without
// a value are as if omitted (RFC 6749 §3.1: "Parameters sent without a
// value MUST be treated as if they were omitted from the request"), so
// the request goes on; one with a value is refused, also after an empty
// one. (An empty one was refused, request_not_supported.)
func TestAuthorizeEmptyRequestObject(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	for _, name := range []string{"request", "request_uri"} {
		q := goodQuery()
		q.Set(name, "")
		if _, err := p.Authorize(ctx, q); err != nil {
			t.Errorf("%s empty: %v", name, err)
		}
		q["request"] = []string{"", "eyJ"}
		var ae *AuthorizeError
		if _, err := p.Authorize(ctx, q); !errors.As(err, &ae) || ae.Err.Code != "request_not_supported" || ae.RedirectURI != testRedirect {
			t.Errorf("%s empty, then request with a value: %v", name, err)
		}
	}
}

// TestSessionBoundToBrowser: only the browser that started a session may
// wait on it; unknown and malformed session IDs are not found.
func TestSessionBoundToBrowser(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	st, err := p.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := p.Wait(ctx, st.ID, st.Browser, 0); err != nil || out != nil {
		t.Errorf("pending session: %v %v", out, err)
	}
	// Change one character of each to one it does not have already.
	other := func(s string) string {
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	for name, c := range map[string][2]string{
		"other browser": {st.ID, other(st.Browser)},
		"unknown":       {other(st.ID), st.Browser},
		"malformed":     {"../" + st.ID, st.Browser},
	} {
		var e *Error
		if _, err := p.Wait(ctx, c[0], c[1], 0); !errors.As(err, &e) || e.Code != CodeSessionNotFound {
			t.Errorf("%s: %v", name, err)
		}
	}
	if r, err := p.Describe(ctx, st.ID); err != nil || r.ClientName != "Shop" || r.ACR != "L2" || len(r.Challenge) != 43 {
		t.Errorf("describe: %+v %v", r, err)
	}
}

// FuzzAuthorize: any query gets a session or an *AuthorizeError, and an
// error is redirected only to the registered URI. A session keeps the
// essential acr values its claims parameter asks, as encoding/json reads
// them (refEssentialACR), and its level is at least the least of them.
func FuzzAuthorize(f *testing.F) {
	f.Add(goodQuery().Encode())
	f.Add("client_id=shop&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&response_type=code&scope=openid&prompt=none")
	f.Add("client_id=shop&client_id=shop")
	f.Add("%zz&&=;")
	for _, claims := range []string{
		`{"id_token":{"acr":{"essential":true,"values":["urn:x","L3"]}}}`,
		`{"id_token":{"acr":{"essential":true,"value":"L4","values":["L3","L3"]}}}`,
		`{"id_token":{"acr":{"essential":true,"values":["L1"]}},"userinfo":{"acr":{"essential":true,"values":["L4"]}}}`,
		`{"id_token":{"acr":{"essential":false,"values":["L4"]}}}`,
		`{"id_token":{"acr":{"essential":true,"values":["urn:x"]}}}`,
		`{"id_token":{"acr":{"essential":true,"value":null,"values":[]}}}`,
		`{"id_token":{"acr":{"essential":true,"values":["L4"]},"acr":null}}`,
	} {
		q := goodQuery()
		q.Set("claims", claims)
		f.Add(q.Encode())
	}
	q := goodQuery()
	q.Set("acr_values", "L3")
	q.Set("claims", `{"id_token":{"acr":{"essential":true,"values":["L2"]}}}`)
	f.Add(q.Encode())
	p := newTestProvider(f)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		st, err := p.Authorize(context.Background(), q)
		if err == nil {
			if st == nil || len(st.ID) != 43 {
				t.Fatalf("session %+v", st)
			}
			s, _, err := p.readSession(context.Background(), st.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := refEssentialACR(t, q.Get("claims"))
			if !slices.Equal(s.ACRValues, want) || st.Level < minLevel || len(want) > 0 && st.Level < want[0] {
				t.Fatalf("claims %q: session at %v asking %v, want %v", q.Get("claims"), st.Level, s.ACRValues, want)
			}
			return
		}
		var ae *AuthorizeError
		if !errors.As(err, &ae) {
			t.Fatalf("not an AuthorizeError: %v", err)
		}
		if ae.RedirectURI != "" && ae.RedirectURI != testRedirect {
			t.Fatalf("redirects to %q", ae.RedirectURI)
		}
	})
}

// refEssentialACR reads the essential acr values of claims as
// encoding/json does, for a claims Authorize took: its known levels,
// ascending and once each; nil when no essential acr with values is
// asked.
func refEssentialACR(t *testing.T, claims string) []identity.Level {
	if claims == "" {
		return nil
	}
	var c, idToken map[string]json.RawMessage
	var acr *struct {
		Essential bool
		Value     *string
		Values    []string
	}
	if err := json.Unmarshal([]byte(claims), &c); err != nil {
		t.Fatalf("claims %q taken, but encoding/json refuses it: %v", claims, err)
	}
	if err := json.Unmarshal(orNull(c["id_token"]), &idToken); err != nil {
		t.Fatalf("claims %q taken, but encoding/json refuses its id_token: %v", claims, err)
	}
	if err := json.Unmarshal(orNull(idToken["acr"]), &acr); err != nil {
		t.Fatalf("claims %q taken, but encoding/json refuses its acr: %v", claims, err)
	}
	if acr == nil || !acr.Essential {
		return nil
	}
	values := acr.Values
	if acr.Value != nil {
		values = append(values, *acr.Value)
	}
	if len(values) == 0 {
		return nil
	}
	var out []identity.Level
	for _, v := range values {
		if l, err := identity.ParseLevel(v); err == nil {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// orNull is b, or JSON null for a member that is not there.
func orNull(b json.RawMessage) []byte {
	if b == nil {
		return []byte("null")
	}
	return b
}

// FuzzLogout: any query is refused with an *Error (no ID token of this
// node can be forged), never a redirect.
func FuzzLogout(f *testing.F) {
	f.Add("id_token_hint=eyJhbGciOiJFUzI1NiJ9.e30.sig&post_logout_redirect_uri=https%3A%2F%2Fshop.example%2Fcb")
	f.Add("id_token_hint=a.b.c&id_token_hint=d")
	p := newTestProvider(f)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		out, err := p.Logout(context.Background(), q)
		var e *Error
		if out != (LoggedOut{}) || !errors.As(err, &e) {
			t.Fatalf("logout without a valid hint: %+v %v", out, err)
		}
	})
}

// FuzzToken: any token request form from a registered client is refused
// with an *Error when no code or refresh token was issued.
func FuzzToken(f *testing.F) {
	f.Add("authorization_code", "abc", "https://shop.example/cb", "verifier-verifier-verifier-verifier-verifier", "")
	f.Add("refresh_token", "", "", "", "xyz")
	f.Add("password", "", "", "", "")
	p := newTestProvider(f)
	c, err := p.cfg.Clients.Get(context.Background(), "shop")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, grant, code, redirect, verifier, rt string) {
		form := map[string]string{"grant_type": grant, "code": code, "redirect_uri": redirect, "code_verifier": verifier, "refresh_token": rt}
		resp, err := p.Token(context.Background(), c, form)
		var e *Error
		if resp != nil || !errors.As(err, &e) {
			t.Fatalf("token without a grant: %+v %v", resp, err)
		}
	})
}

// TestDiscoveryScopes: the OpenID Provider configuration lists the login
// scopes and, merged, the authorization server's service scopes.
func TestDiscoveryScopes(t *testing.T) {
	p := newTestProvider(t)
	got, _ := p.Discovery(auth.Metadata{ScopesSupported: []string{auth.ScopeQRRedeem, auth.ScopeCredentialsIssue, ScopeOpenID}})["scopes_supported"].([]string)
	for _, want := range []string{ScopeOpenID, ScopeOfflineAccess, auth.ScopeQRRedeem, auth.ScopeCredentialsIssue} {
		if n := len(slices.DeleteFunc(slices.Clone(got), func(s string) bool { return s != want })); n != 1 {
			t.Errorf("scopes_supported lists %s %d times: %v", want, n, got)
		}
	}
}

// TestOlderNodeSessionPurpose: a session an older node stored with its
// purpose in words ("purpose", before login.Purpose) is refused as not
// found, never described or shown without its purpose.
func TestOlderNodeSessionPurpose(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	st, err := p.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.cfg.Store.Get(ctx, sessionKey(st.ID))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["purpose"] = "receive ResidenceCredential from https://node.example"
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := p.cfg.Store.Set(ctx, sessionKey(st.ID), b, time.Minute); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if r, err := p.Describe(ctx, st.ID); !errors.As(err, &e) || e.Code != CodeSessionNotFound {
		t.Errorf("describe: %+v %v", r, err)
	}
}

// TestResume: the login page's words come back for the browser that
// started the session only, while it is open and its client enabled.
func TestResume(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	q := goodQuery()
	q.Set("acr_values", "L3")
	st, err := p.Authorize(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Resume(ctx, st.ID, st.Browser)
	if err != nil || got.ID != st.ID || got.Browser != "" || got.ClientName != "Shop" || !slices.Equal(got.Claims, st.Claims) ||
		got.Level != identity.L3 || got.Purpose != nil {
		t.Fatalf("Resume: %+v %v", got, err)
	}
	var e *Error
	another := "A" + st.ID[1:]
	if another == st.ID {
		another = "B" + st.ID[1:]
	}
	for name, c := range map[string][2]string{"another browser": {st.ID, rand.Text()}, "no browser": {st.ID, ""},
		"another session": {another, st.Browser}, "malformed ID": {"x", st.Browser}} {
		if _, err := p.Resume(ctx, c[0], c[1]); !errors.As(err, &e) || e.Code != CodeSessionNotFound {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := p.cfg.Clients.(*auth.MemoryStore).Update(ctx, "shop", func(c *auth.Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Resume(ctx, st.ID, st.Browser); !errors.As(err, &e) || e.Code != CodeInvalidClient {
		t.Errorf("a disabled client's session: %v", err)
	}
}

// TestEssentialACRClaim: an acr asked as an essential claim of the ID
// token with values (OpenID Connect Core §5.5.1.1: "the Authorization
// Server MUST return an acr Claim Value that matches one of the
// requested values ... If this is an Essential Claim and the requirement
// cannot be met, then the Authorization Server MUST treat that outcome
// as a failed authentication attempt") is the least level the login
// takes, and the ID token's acr is one of the values: the highest the
// login met. A voluntary acr claim is as acr_values' preference would
// be without them. A claims that is not a JSON object, or names a member
// twice or in another case, is refused. (The claims parameter was
// ignored: an essential L4 logged the person in at L2.)
func TestEssentialACRClaim(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	for claims, want := range map[string]identity.Level{
		`{"id_token":{"acr":{"essential":true,"values":["L4"]}}}`:                                                                   identity.L4,
		`{"id_token":{"acr":{"essential":true,"value":"L3"}}}`:                                                                      identity.L3,
		`{"id_token":{"acr":{"essential":true,"values":["urn:x","L3","L4"]}}}`:                                                      identity.L3,
		`{"id_token":{"acr":{"essential":true,"values":["L1"]}}}`:                                                                   identity.L2,
		`{"id_token":{"acr":{"values":["L4"]}}}`:                                                                                    identity.L2,
		`{"id_token":{"acr":{"essential":true}},"userinfo":null}`:                                                                   identity.L2,
		`{"id_token":{"email":{"essential":true},"acr":{"essential":true,"values":["L4"],"purpose":"x"}},"userinfo":{"name":null}}`: identity.L4,
		`{"userinfo":{"acr":{"essential":true,"values":["L4"]}}}`:                                                                   identity.L2,
	} {
		q := goodQuery()
		q.Set("claims", claims)
		if st, err := p.Authorize(ctx, q); err != nil || st.Level != want {
			t.Errorf("claims %s: %+v %v, want %v", claims, st, err, want)
		}
	}
	for claims, code := range map[string]string{
		`{"id_token":{"acr":{"essential":true,"values":["urn:x"]}}}`: CodeAccessDenied,
		`{"id_token":{"acr":{"essential":true,"values":"L4"}}}`:      CodeInvalidRequest,
		`not json`: CodeInvalidRequest,
		`null`:     CodeInvalidRequest,
		`{"id_token":{"acr":{"essential":true,"values":["L4"]},"acr":null}}`: CodeInvalidRequest,
		`{"id_token":{"ACR":{"essential":true,"values":["L4"]}}}`:            CodeInvalidRequest,
	} {
		q := goodQuery()
		q.Set("claims", claims)
		var ae *AuthorizeError
		if _, err := p.Authorize(ctx, q); !errors.As(err, &ae) || ae.Err.Code != code || ae.RedirectURI != testRedirect {
			t.Errorf("claims %s: %v, want %s redirected", claims, err, code)
		}
	}

	// The ID token's acr is a requested value: an L4 approval of a login
	// that asked for L2 or L3 says L3, and one that asked for L4 says L4.
	a := newAnswering(t, p)
	p.cfg.StaticCodes = staticCodeAt(identity.L4)
	for claims, want := range map[string]string{
		`{"id_token":{"acr":{"essential":true,"values":["L2","L3"]}}}`: "L3",
		`{"id_token":{"acr":{"essential":true,"values":["L4","L2"]}}}`: "L4",
		``: "L4",
	} {
		q := goodQuery()
		q.Set("claims", claims)
		st, err := p.Authorize(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.ApproveAtCounter(ctx, st.ID, a.counter(t, st.ID)); err != nil {
			t.Fatal(err)
		}
		s, _, err := p.readSession(ctx, st.ID)
		if err != nil || s.Approved == nil || s.Approved.ACR != want {
			t.Errorf("claims %s: approved %+v %v, want acr %s", claims, s, err, want)
		}
	}
}

// TestAuthorizeClientWithoutCodeGrant: a client not registered for the
// authorization_code grant (a service with client credentials only) is
// refused with unauthorized_client (RFC 6749 §4.1.2.1), at the
// authorization endpoint and at the token endpoint.
func TestAuthorizeClientWithoutCodeGrant(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	svc, _, err := auth.NewClient(auth.Registration{ID: "svc", Name: "Svc", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		GrantTypes: []string{auth.GrantClientCredentials}, RedirectURIs: []string{testRedirect}, AuthMethod: auth.AuthClientSecretBasic}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cfg.Clients.(*auth.MemoryStore).Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	q := goodQuery()
	q.Set("client_id", "svc")
	var ae *AuthorizeError
	if _, err := p.Authorize(ctx, q); !errors.As(err, &ae) || ae.Err.Code != CodeUnauthorizedClient || ae.RedirectURI != testRedirect {
		t.Errorf("authorize: %v", err)
	}
	if _, err := p.Token(ctx, svc, map[string]string{"grant_type": auth.GrantAuthorizationCode, "code": "x"}); !isCode(err, CodeUnauthorizedClient) {
		t.Errorf("token: %v", err)
	}
}

// sectorsHeld is a SectorRegistry in which other parties hold the
// sectors named in taken; claims counts the claims made.
type sectorsHeld struct {
	taken  []string
	claims int
}

func (s *sectorsHeld) ClaimSector(_ context.Context, _ string, sector identity.Sector) error {
	s.claims++
	if slices.Contains(s.taken, sector.Name) {
		return errors.New("sector held by another party")
	}
	return nil
}

// TestAuthorizeSectorHeldByAnother: a client whose pairwise sector
// another party holds in the registry gets no login (its pairwise IDs
// would be that party's: docs/SECURITY.md, "Take another party's
// sector"), and the error is not sent to its redirect URI; a sector it
// holds is claimed once, then remembered.
func TestAuthorizeSectorHeldByAnother(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	held := &sectorsHeld{taken: []string{"shop.example"}}
	p.cfg.Sectors = held
	var ae *AuthorizeError
	if _, err := p.Authorize(ctx, goodQuery()); !errors.As(err, &ae) || ae.Err.Code != CodeInvalidClient || ae.RedirectURI != "" {
		t.Errorf("held sector: %v", err)
	}
	held.taken = nil
	for range 2 {
		if _, err := p.Authorize(ctx, goodQuery()); err != nil {
			t.Fatal(err)
		}
	}
	if held.claims != 2 {
		t.Errorf("%d claims, want 2 (the refused one, then one remembered)", held.claims)
	}
}

// TestKeptRequestHoldsNoLoginHint: the authorization request a session
// keeps for its page's "Get a new code" leaves out login_hint, which the
// node reads past and which names the person (a phone number, an e-mail
// address): the store holds no such value, and the page does not send
// it again.
func TestKeptRequestHoldsNoLoginHint(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	q := goodQuery()
	const hint = "13800138000"
	q.Set("login_hint", hint)
	st, err := p.Authorize(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := p.cfg.Store.Get(ctx, sessionKey(st.ID)); err != nil || strings.Contains(string(b), hint) {
		t.Errorf("the session's record: %v, login_hint in it: %v", err, strings.Contains(string(b), hint))
	}
	again, err := p.Resume(ctx, st.ID, st.Browser)
	if err != nil {
		t.Fatal(err)
	}
	if again.Request.Has("login_hint") || again.Request.Get("state") != q.Get("state") {
		t.Errorf("the request kept for the page: %v; want its state, no login_hint", again.Request)
	}
}

// TestRegisteredRedirect: user login matches a redirect URI exactly
// (OpenID Connect Core §3.1.2.1: "MUST exactly match ... (Simple String
// Comparison)"), a loopback one too; with anyPort (an extension for
// native apps' public clients), a loopback IP redirect URI differs from a
// registered one in its port alone (RFC 8252 §7.3), IPv4 and IPv6, with a
// port registered or not.
func TestRegisteredRedirect(t *testing.T) {
	uris := []string{"https://rp.example/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb?app=1"}
	for _, tc := range []struct {
		uri             string
		exact, loopback bool
	}{
		{"https://rp.example/cb", true, true},
		{"http://127.0.0.1/cb", true, true},
		{"http://127.0.0.1:51004/cb", false, true},
		{"http://[::1]/cb?app=1", false, true},
		{"http://[::1]:61023/cb?app=1", false, true},
		{"https://rp.example:8443/cb", false, false},
		{"http://[::1]:61023/cb", false, false},
		{"http://127.0.0.1:51004/cb?app=1", false, false},
		{"http://[0:0:0:0:0:0:0:1]:61023/cb?app=1", false, false},
		{"http://localhost:51004/cb", false, false},
	} {
		if got := registeredRedirect(uris, tc.uri, false); got != tc.exact {
			t.Errorf("%s exactly: %v, want %v", tc.uri, got, tc.exact)
		}
		if got := registeredRedirect(uris, tc.uri, true); got != tc.loopback {
			t.Errorf("%s on any loopback port: %v, want %v", tc.uri, got, tc.loopback)
		}
	}
}
