package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// TestAuthorizeAndLogoutByPost: the authorization and logout endpoints
// take POST with the parameters as a form body as they take GET with
// them in the query (OpenID Connect Core §3.1.2.1: "Authorization
// Servers MUST support the use of the HTTP GET and POST methods ... at
// the Authorization Endpoint"; RP-Initiated Logout §2, the same at the
// Logout Endpoint): the login page, an error sent back to the client
// with iss and state, an error shown on the node, a logout redirected
// with state. A POST with parameters in its URL, or a body of another
// type, is refused (400 invalid_request). (POST was 405.)
func TestAuthorizeAndLogoutByPost(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	const cb, bye = "https://shop.example/cb", "https://shop.example/bye"
	p := shopLogin(t, e, nil, cb, bye)
	if err := e.srv.MountLogin(LoginConfig{Provider: p}); err != nil {
		t.Fatal(err)
	}
	e.h = e.srv.Handler()
	post := func(path, body, contentType string) (int, string, map[string]any) {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		resp, m := e.send(req)
		return resp.StatusCode, resp.Header.Get("Location"), m
	}
	const form = "application/x-www-form-urlencoded"
	good := url.Values{"client_id": {"shop"}, "redirect_uri": {cb}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s 1"},
		"nonce": {"n1"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}

	req := httptest.NewRequest("POST", login.AuthorizePath, strings.NewReader(good.Encode()))
	req.Header.Set("Content-Type", form+"; charset=UTF-8")
	resp, _ := e.send(req)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || len(resp.Cookies()) != 1 {
		t.Errorf("POST authorize: %d %s, cookies %v", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Cookies())
	}
	q := url.Values{}
	for k, v := range good {
		q[k] = v
	}
	q.Set("scope", "profile")
	back := url.Values{"error": {"invalid_scope"}, "error_description": {"scope must include openid"}, "iss": {oauthIssuer}, "state": {"s 1"}}
	if code, loc, m := post(login.AuthorizePath, q.Encode(), form); code != 302 || loc != cb+"?"+back.Encode() {
		t.Errorf("POST authorize without openid: %d %q %v", code, loc, m)
	}
	q.Set("scope", "openid")
	q.Add("client_id", "shop")
	if code, loc, m := post(login.AuthorizePath, q.Encode(), form); code != 400 || loc != "" || m["error"] != "invalid_request" {
		t.Errorf("POST authorize with client_id twice: %d %q %v", code, loc, m)
	}
	for name, c := range map[string]struct{ path, contentType string }{
		"parameters in the URL": {login.AuthorizePath + "?client_id=shop", form},
		"a JSON body":           {login.AuthorizePath, "application/json"},
		"no content type":       {login.AuthorizePath, ""},
	} {
		if code, loc, m := post(c.path, good.Encode(), c.contentType); code != 400 || loc != "" || m["error"] != "invalid_request" {
			t.Errorf("POST authorize, %s: %d %q %v", name, code, loc, m)
		}
	}

	signed := idTokenHint(t, e, "shop")
	logout := url.Values{"id_token_hint": {signed}, "post_logout_redirect_uri": {bye}, "state": {"st"}}
	if code, loc, m := post(login.LogoutPath, logout.Encode(), form); code != 302 || loc != bye+"?state=st" {
		t.Errorf("POST logout: %d %q %v", code, loc, m)
	}
	if code, loc, m := post(login.LogoutPath+"?state=st", logout.Encode(), form); code != 400 || loc != "" || m["error"] != "invalid_request" {
		t.Errorf("POST logout with parameters in the URL: %d %q %v", code, loc, m)
	}
}

// TestLoginPageLifetimeLeft: the page's script stops retrying (and says
// the login expired) when the session's lifetime is over (docs/login.md),
// so the page in the other language, shown partway through, is given
// what is left of the session, not a whole new lifetime: a person who
// switched language while the node was unavailable waited on a page
// saying "Waiting for approval…" long after the login had ended.
func TestLoginPageLifetimeLeft(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	const cb = "https://shop.example/cb"
	now := time.Now()
	p := shopLogin(t, e, func() time.Time { return now }, cb, "")
	if err := e.srv.MountLogin(LoginConfig{Provider: p}); err != nil {
		t.Fatal(err)
	}
	h := e.srv.Handler()
	lifetime := func(req *http.Request) (int64, *httptest.ResponseRecorder) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		m := regexp.MustCompile(`end = Date\.now\(\) \+\s*(\d+)`).FindStringSubmatch(rec.Body.String())
		if rec.Code != 200 || m == nil {
			t.Fatalf("%s: %d, no lifetime in the page", req.URL.Path, rec.Code)
		}
		ms, _ := strconv.ParseInt(m[1], 10, 64)
		return ms, rec
	}
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {cb}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"},
		"nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	ms, rec := lifetime(httptest.NewRequest("GET", login.AuthorizePath+"?"+q.Encode(), nil))
	if ms != p.SessionTTL().Milliseconds() {
		t.Errorf("a new login's page: lifetime %d ms, want %d", ms, p.SessionTTL().Milliseconds())
	}
	cookie := rec.Result().Cookies()[0]
	switchPath := regexp.MustCompile(`id="language" [^>]*href="([^"]+)"`).FindStringSubmatch(rec.Body.String())
	if switchPath == nil {
		t.Fatal("no language switch on the page")
	}
	now = now.Add(p.SessionTTL() - 20*time.Second)
	req := httptest.NewRequest("GET", strings.ReplaceAll(switchPath[1], "&amp;", "&"), nil)
	req.AddCookie(cookie)
	if ms, _ := lifetime(req); ms > 20000 {
		t.Errorf("the page in the other language, 20 s before the session ends: lifetime %d ms", ms)
	}
}

// TestLoginPageRestartForm: the login page carries its authorization
// request in a form, sent the way the request came (GET or POST), which
// its script shows once the session has expired (WCAG 2.2.1: a new code
// with one press; TestBrowserLoginNewCode): sent, it starts a new
// session. The page in the other language carries the session's request
// (the parameters the endpoint reads, kept with the session) in that
// language, by POST; before, it carried none, and an expired login
// there said to go back to the site and start again.
func TestLoginPageRestartForm(t *testing.T) {
	const cb = "https://shop.example/cb"
	e, _ := shopLoginEnv(t, cb)
	h := e.h
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {cb}, "response_type": {"code"}, "scope": {"openid"}, "state": {`s 1&"<x>`},
		"nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	formRE := regexp.MustCompile(`<form id="restart" method="([a-z]+)" action="([^"]+)" hidden>(.*?)</form>`)
	inputRE := regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	send := func(method string, params url.Values) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(strings.ToUpper(method), login.AuthorizePath+"?"+params.Encode(), nil)
		if method == "post" {
			req = httptest.NewRequest("POST", login.AuthorizePath, strings.NewReader(params.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || len(rec.Result().Cookies()) != 1 {
			t.Fatalf("%s authorize: %d %s", method, rec.Code, rec.Body)
		}
		return rec
	}
	for _, method := range []string{"get", "post"} {
		rec := send(method, q)
		f := formRE.FindStringSubmatch(rec.Body.String())
		if f == nil {
			t.Fatalf("%s: no restart form on the login page", method)
		}
		got := url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(f[3], -1) {
			got.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		if f[1] != method || f[2] != login.AuthorizePath || got.Encode() != q.Encode() {
			t.Errorf("%s: the restart form is %s %s with %v, want %s %s with %v", method, f[1], f[2], got, method, login.AuthorizePath, q)
		}
		again := send(f[1], got)
		if first, second := rec.Result().Cookies()[0].Path, again.Result().Cookies()[0].Path; first == second {
			t.Errorf("%s: the restart form gave the same session %s", method, first)
		}
		// The page in the other language has one too: the request
		// again in that language, by POST (nothing posted goes into a
		// URL), which gives a new session in that language.
		switchPath := regexp.MustCompile(`id="language" [^>]*href="([^"]+)"`).FindStringSubmatch(rec.Body.String())
		req := httptest.NewRequest("GET", strings.ReplaceAll(switchPath[1], "&amp;", "&"), nil)
		req.AddCookie(rec.Result().Cookies()[0])
		other := httptest.NewRecorder()
		h.ServeHTTP(other, req)
		f = formRE.FindStringSubmatch(other.Body.String())
		if other.Code != 200 || f == nil {
			t.Fatalf("%s: the page in the other language: %d, no restart form", method, other.Code)
		}
		got = url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(f[3], -1) {
			got.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		want := maps.Clone(q)
		want.Set("ui_locales", "zh-CN")
		if f[1] != "post" || f[2] != login.AuthorizePath || got.Encode() != want.Encode() {
			t.Errorf("%s: the other language's restart form is %s %s with %v, want post %s with %v", method, f[1], f[2], got, login.AuthorizePath, want)
		}
		again = send(f[1], got)
		if again.Header().Get("Content-Language") != "zh-CN" || again.Result().Cookies()[0].Path == rec.Result().Cookies()[0].Path {
			t.Errorf("%s: the other language's restart gave a page in %q, session %s (first %s)", method, again.Header().Get("Content-Language"),
				again.Result().Cookies()[0].Path, rec.Result().Cookies()[0].Path)
		}
	}
}

// idTokenHint is an ID token of e's login provider for client aud, as a
// logout's id_token_hint.
func idTokenHint(t *testing.T, e *oauthEnv, aud string) string {
	t.Helper()
	key, err := e.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	hint := jwt.NewWithClaims(jwt.GetSigningMethod(gm.AlgSM2), jwt.MapClaims{"iss": oauthIssuer, "sub": "pairwise-1", "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "sid": "family-1"})
	hint.Header["kid"] = key.Kid
	signed, err := hint.SignedString(key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// shopLoginEnv is a new OAuth environment with user login mounted for
// the client shop (shopLogin, redirect URI cb), its handler in e.h.
func shopLoginEnv(t *testing.T, cb string) (*oauthEnv, *login.Provider) {
	t.Helper()
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	p := shopLogin(t, e, nil, cb, "")
	if err := e.srv.MountLogin(LoginConfig{Provider: p}); err != nil {
		t.Fatal(err)
	}
	e.h = e.srv.Handler()
	return e, p
}

// shopLogin registers the relying party "shop" (its redirect URI cb and,
// if not empty, its post-logout redirect URI bye) and returns a login
// provider over e's clients, keys and store, on the clock now (nil: the
// wall clock).
func shopLogin(t *testing.T, e *oauthEnv, now func() time.Time, cb, bye string) *login.Provider {
	t.Helper()
	reg := auth.Registration{ID: "shop", Name: "Shop", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		GrantTypes: []string{auth.GrantAuthorizationCode}, RedirectURIs: []string{cb}, AuthMethod: auth.AuthClientSecretBasic}
	if bye != "" {
		reg.PostLogoutRedirectURIs = []string{bye}
	}
	c, _, err := auth.NewClient(reg, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.clients.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	pd, err := identity.NewPairwiseDeriver(identity.VersionedKey{Version: 1, Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := identity.NewBindingSubjects(pd)
	if err != nil {
		t.Fatal(err)
	}
	p, err := login.New(login.Config{Issuer: oauthIssuer, Clients: e.clients, Holders: &redeem.BindingAuthenticator{},
		Pairwise: subjects, Keys: e.keys, Store: e.store, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoginCookieSecureOnHTTPS: the login page's cookie is Secure when
// the node's public URL is https (docs/login.md), whatever the case of
// its scheme (RFC 3986 §3.1: "schemes are case-insensitive"): a node
// whose --issuer was written HTTPS://… set the cookie without Secure, so
// a browser would send the session's secret over plain http to the same
// host. An http URL (development) gets no Secure.
func TestLoginCookieSecureOnHTTPS(t *testing.T) {
	for issuer, secure := range map[string]bool{
		oauthIssuer:                  true,
		"HTTPS://sh.trustid.example": true,
		"Https://sh.trustid.example": true,
		"http://127.0.0.1:8080":      false,
		"HTTP://localhost:8080":      false,
	} {
		e := newOAuthEnv(t, OAuthConfig{}, nil)
		const cb = "https://shop.example/cb"
		shopLogin(t, e, nil, cb, "") // registers the client
		pd, err := identity.NewPairwiseDeriver(identity.VersionedKey{Version: 1, Secret: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		subjects, err := identity.NewBindingSubjects(pd)
		if err != nil {
			t.Fatal(err)
		}
		p, err := login.New(login.Config{Issuer: issuer, Clients: e.clients, Holders: &redeem.BindingAuthenticator{},
			Pairwise: subjects, Keys: e.keys, Store: e.store})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.srv.MountLogin(LoginConfig{Provider: p}); err != nil {
			t.Fatal(err)
		}
		q := url.Values{"client_id": {"shop"}, "redirect_uri": {cb}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"},
			"nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", login.AuthorizePath+"?"+q.Encode(), nil))
		cookies := rec.Result().Cookies()
		if rec.Code != 200 || len(cookies) != 1 {
			t.Fatalf("%s: the login page: %d, cookies %v", issuer, rec.Code, cookies)
		}
		if c := cookies[0]; c.Secure != secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("%s: cookie %q, want Secure %v, HttpOnly, SameSite=Lax", issuer, c.String(), secure)
		}
	}
}

// TestLoginInvalidClientNoChallenge: an unknown or disabled client at
// the login routes is 400 invalid_client, without WWW-Authenticate:
// none of them takes an HTTP authentication scheme (the client is named
// in a parameter, a session or an ID token hint; the user agent is a
// browser or the holder's app), so a 401 could carry no "challenge
// applicable to the target resource" (RFC 9110 §15.5.2). RFC 6749
// §4.1.2.1 asks only that the resource owner be told, not redirected.
// (Each was 401 with WWW-Authenticate: Bearer error="invalid_client".)
func TestLoginInvalidClientNoChallenge(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	const cb, bye = "https://shop.example/cb", "https://shop.example/bye"
	p := shopLogin(t, e, nil, cb, bye)
	if err := e.srv.MountLogin(LoginConfig{Provider: p}); err != nil {
		t.Fatal(err)
	}
	e.h = e.srv.Handler()
	check := func(name string, req *http.Request, html bool) {
		t.Helper()
		resp, m := e.send(req)
		if resp.StatusCode != 400 || resp.Header.Get("WWW-Authenticate") != "" || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d, WWW-Authenticate %q, Location %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Location"))
		}
		if html {
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("%s: %s, not a page", name, ct)
			}
		} else if m["error"] != "invalid_client" {
			t.Errorf("%s: %v", name, m)
		}
	}
	q := url.Values{"client_id": {"nobody"}, "redirect_uri": {cb}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"},
		"nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	for _, accept := range []string{"text/html", "application/json"} {
		req := httptest.NewRequest("GET", login.AuthorizePath+"?"+q.Encode(), nil)
		req.Header.Set("Accept", accept)
		check("authorize, unknown client, "+accept, req, accept == "text/html")
	}

	// A logout whose ID token hint names an unknown client.
	signed := idTokenHint(t, e, "nobody")
	check("logout, unknown client", httptest.NewRequest("GET", login.LogoutPath+"?"+url.Values{"id_token_hint": {signed}}.Encode(), nil), false)

	// A login started by shop, which is then disabled.
	q.Set("client_id", "shop")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("GET", login.AuthorizePath+"?"+q.Encode(), nil))
	page := regexp.MustCompile(`"(/login/sessions/[A-Za-z0-9_-]+)/page`).FindStringSubmatch(rec.Body.String())
	if rec.Code != 200 || page == nil || len(rec.Result().Cookies()) != 1 {
		t.Fatalf("the login page: %d, session %v", rec.Code, page)
	}
	session, cookie := page[1], rec.Result().Cookies()[0]
	resp, m := e.send(httptest.NewRequest("GET", session, nil))
	challenge, _ := m["challenge"].(string)
	if resp.StatusCode != 200 || challenge == "" {
		t.Fatalf("the session: %d %v", resp.StatusCode, m)
	}
	if _, err := e.clients.Update(t.Context(), "shop", func(c *auth.Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	check("the session, read by the app", httptest.NewRequest("GET", session, nil), false)
	req := httptest.NewRequest("GET", session+"/page", nil)
	req.AddCookie(cookie)
	req.Header.Set("Accept", "text/html")
	check("the session's page", req, true)
	nonce, _ := base64.RawURLEncoding.DecodeString(challenge)
	for _, answer := range []string{"approve", "deny"} {
		purpose := map[string]string{"approve": qrcode.PurposeLoginApprove, "deny": qrcode.PurposeLoginDeny}[answer]
		body, _ := json.Marshal(login.Approval{Request: qrcode.HolderRequest{Purpose: purpose, Nonce: nonce}})
		req := httptest.NewRequest("POST", session+"/"+answer, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		check("the session, "+answer, req, false)
	}
}

// TestAuthorizeHeadStartsNothing: the router sends HEAD to the GET
// authorization endpoint, but HEAD is safe (RFC 9110 §9.2.1): a HEAD of a
// login link (a link checker's, a preview's) started a login session, a
// record in the store and a cookie for a page nobody sees. It is 405
// (Allow: GET, POST); the GET starts the login.
func TestAuthorizeHeadStartsNothing(t *testing.T) {
	const cb = "https://shop.example/cb"
	e, _ := shopLoginEnv(t, cb)
	path := login.AuthorizePath + "?" + url.Values{"client_id": {"shop"}, "redirect_uri": {cb}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s"}, "nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode()
	before := e.store.Len()
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("HEAD", path, nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, POST" || rec.Header().Get("Set-Cookie") != "" || e.store.Len() != before {
		t.Errorf("HEAD authorize: %d Allow %q, Set-Cookie %q, stored %d entries, had %d", rec.Code, rec.Header().Get("Allow"),
			rec.Header().Get("Set-Cookie"), e.store.Len(), before)
	}
	rec = httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != 200 || rec.Header().Get("Set-Cookie") == "" || e.store.Len() == before {
		t.Errorf("GET authorize: %d, Set-Cookie %q, stored %d entries, had %d", rec.Code, rec.Header().Get("Set-Cookie"), e.store.Len(), before)
	}
}

// TestAllowLeavesOutRefusedHead: a 405 lists the methods the resource
// supports (RFC 9110 §15.5.6, §10.2.1); the routes that refuse HEAD
// (noHead) listed it to another method (ServeMux adds HEAD to a GET
// route), so a client following Allow got a second 405. Their Allow is
// the one their HEAD's 405 gives.
func TestAllowLeavesOutRefusedHead(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	p := shopLogin(t, e, nil, "https://shop.example/cb", "")
	if err := e.srv.MountLogin(LoginConfig{Provider: p}); err != nil {
		t.Fatal(err)
	}
	e.h = e.srv.Handler()
	session := strings.Replace(login.SessionPath, "{id}", "x", 1)
	for path, want := range map[string]string{
		login.AuthorizePath: "GET, POST", login.LogoutPath: "GET, POST",
		session + "/wait": "GET", session + "/continue": "GET",
		// A route that serves HEAD still lists it.
		session + "/page": "GET, HEAD",
	} {
		resp, _ := e.send(httptest.NewRequest("PUT", path, nil))
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != want {
			t.Errorf("PUT %s: %d Allow %q, want %q", path, resp.StatusCode, resp.Header.Get("Allow"), want)
		}
	}
}

// TestLogoutHeadEndsNothing: the router sends HEAD to the GET logout
// route, but HEAD is safe (RFC 9110 §9.2.1): a HEAD with an
// id_token_hint ended its login. It is 405 (Allow: GET, POST); the GET
// ends it.
func TestLogoutHeadEndsNothing(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	p := shopLogin(t, e, nil, "https://shop.example/cb", "")
	if err := e.srv.MountLogin(LoginConfig{Provider: p}); err != nil {
		t.Fatal(err)
	}
	e.h = e.srv.Handler()
	path := login.LogoutPath + "?" + url.Values{"id_token_hint": {idTokenHint(t, e, "shop")}}.Encode()
	ended := func() bool {
		_, err := e.store.Get(context.Background(), "login-family-revoked:family-1")
		return err == nil
	}
	resp, _ := e.send(httptest.NewRequest("HEAD", path, nil))
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST" || ended() {
		t.Errorf("HEAD logout: %d Allow %q, login ended %v", resp.StatusCode, resp.Header.Get("Allow"), ended())
	}
	if resp, _ := e.send(httptest.NewRequest("GET", path, nil)); resp.StatusCode != 200 || !ended() {
		t.Errorf("GET logout: %d, login ended %v", resp.StatusCode, ended())
	}
}

// TestCounterApprovalBodyFitsItsFields: a counter terminal's approval
// with a static code and an attestation of the lengths api/openapi.json
// allows (4096 and 8192 bytes, login.CounterApproval's bounds) is read
// as a short one is, not refused 413 by the route's body limit (it was the 8 KiB of a QR
// request); a body over the limit still is.
func TestCounterApprovalBodyFitsItsFields(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	p := shopLogin(t, e, nil, "https://shop.example/cb", "")
	if err := e.srv.MountLogin(LoginConfig{Provider: p}); err != nil {
		t.Fatal(err)
	}
	h := e.srv.Handler()
	post := func(body string) int {
		req := httptest.NewRequest("POST", strings.Replace(login.SessionPath, "{id}", strings.Repeat("A", 43), 1)+"/counter-approve", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	full := `{"static_code":"TIDST1:` + strings.Repeat("A", 4096-7) + `","attestation":"` + strings.Repeat("A", 8192) + `","pin":"123456"}`
	short := post(`{"static_code":"TIDST1:A","attestation":"A","pin":"123456"}`)
	if code := post(full); code == http.StatusRequestEntityTooLarge || code != short {
		t.Errorf("an approval of the documented lengths: %d, want %d as a short one", code, short)
	}
	if code := post(`{"static_code":"` + strings.Repeat("A", maxCounterBody) + `"}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over %d bytes: %d, want 413", maxCounterBody, code)
	}
}

// TestLoginRestartCrossOrigin: POST /login/sessions/{id}/restart from a
// page of another origin, even of the node's own site (its SameSite=Lax
// cookie sent along), is refused (403 cross_site_request, an HTML page)
// and changes nothing: the node's own page then starts the login again.
func TestLoginRestartCrossOrigin(t *testing.T) {
	const cb = "https://shop.example/cb"
	e, p := shopLoginEnv(t, cb)
	h := e.h
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {cb}, "response_type": {"code"}, "state": {"s"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	st, err := p.AuthorizeFor(context.Background(), q, login.Extension{Audience: "oid4vci", Issuer: oauthIssuer + "/oid4vci",
		Check: func(context.Context, auth.Client, url.Values) (*login.ExtensionGrant, error) {
			return &login.ExtensionGrant{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	restart := func(site string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", login.SessionPath[:strings.Index(login.SessionPath, "{")]+st.ID+"/restart", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		req.AddCookie(&http.Cookie{Name: loginCookie, Value: st.Browser})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, site := range []string{"same-site", "cross-site"} {
		if rec := restart(site); rec.Code != http.StatusForbidden || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(rec.Body.String(), CodeCrossSiteRequest) || len(rec.Result().Cookies()) != 0 {
			t.Errorf("a restart from a %s page: %d %q, cookies %v; want 403 %s as a page, no new session", site, rec.Code,
				rec.Header().Get("Content-Type"), rec.Result().Cookies(), CodeCrossSiteRequest)
		}
	}
	if rec := restart("same-origin"); rec.Code != 200 || len(rec.Result().Cookies()) != 1 {
		t.Errorf("the login page's own restart after the refused ones: %d, want the new session's page", rec.Code)
	}
}

// TestAuthorizeMalformedQuery: a GET authorization or logout request
// whose query does not decode (a bad escape, a ';' separator) is refused
// as a whole, 400 invalid_request, never redirected and nothing started
// (RFC 6749 §4.1.2.1: invalid_request, "or is otherwise malformed"), as
// such a POST body is: the pair was dropped, and the request taken
// without it (a state the client sent answered with none).
func TestAuthorizeMalformedQuery(t *testing.T) {
	const cb = "https://shop.example/cb"
	e, _ := shopLoginEnv(t, cb)
	good := url.Values{"client_id": {"shop"}, "redirect_uri": {cb}, "response_type": {"code"}, "scope": {"openid"},
		"nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode()
	before := e.store.Len()
	for _, path := range []string{
		login.AuthorizePath + "?" + good + "&state=%zz",
		login.AuthorizePath + "?" + good + ";state=s",
		login.LogoutPath + "?id_token_hint=%zz",
	} {
		resp, m := e.send(httptest.NewRequest("GET", path, nil))
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || resp.Header.Get("Set-Cookie") != "" || m["error"] != "invalid_request" {
			t.Errorf("GET %s: %d Location %q, %v", path, resp.StatusCode, resp.Header.Get("Location"), m)
		}
	}
	if e.store.Len() != before {
		t.Errorf("the refused requests stored %d entries", e.store.Len()-before)
	}
	if resp, _ := e.send(httptest.NewRequest("GET", login.AuthorizePath+"?"+good+"&state=s%20t", nil)); resp.StatusCode != 200 {
		t.Errorf("the well-formed request: %d", resp.StatusCode)
	}
}

// TestUserInfoBearerChallenges: userinfo reads its access token as the
// protected routes do (bearerToken): no header, or another scheme, is 401
// with a challenge without error; two Authorization headers, or "Bearer"
// without a token, are 400 invalid_request with its challenge (RFC 6750
// §3.1: a request that "repeats the same parameter ... or is otherwise
// malformed", "HTTP 400 (Bad Request)"). Both were 401 invalid_token.
func TestUserInfoBearerChallenges(t *testing.T) {
	e, _ := shopLoginEnv(t, "https://shop.example/cb")
	checkChallenges(t, e, login.UserInfoPath, []challengeCase{
		{"no header", nil, 401, `Bearer realm="trustid"`},
		{"Basic", []string{"Basic c2hvcDpzZWNyZXQ="}, 401, `Bearer realm="trustid"`},
		{"Bearer without a token", []string{"Bearer "}, 400, `Bearer realm="trustid", error="invalid_request"`},
		{"two headers", []string{"Bearer a", "Bearer a"}, 400, `Bearer realm="trustid", error="invalid_request"`},
		{"an unknown token", []string{"Bearer not-a-token"}, 401, `Bearer realm="trustid", error="invalid_token", `},
	})
}
