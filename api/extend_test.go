package api

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/login"
)

// extendEnv is a node serving login with the test's clock, and one
// login started: its page's cookie and session path.
type extendEnv struct {
	t      *testing.T
	p      *login.Provider
	h      http.Handler
	clock  *fakeclock.Clock
	cookie *http.Cookie
}

func newExtendEnv(t *testing.T, limit RateLimit) *extendEnv {
	t.Helper()
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	x := &extendEnv{t: t, clock: fakeclock.New(time.Now())}
	x.p = shopLogin(t, e, x.clock.Now, "https://shop.example/cb", "")
	if err := e.srv.MountLogin(LoginConfig{Provider: x.p, Limiter: e.store, AddrLimit: limit}); err != nil {
		t.Fatal(err)
	}
	x.h = e.srv.Handler()
	return x
}

// start opens the login page of a new session and keeps its cookie.
func (x *extendEnv) start() {
	x.t.Helper()
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {"https://shop.example/cb"}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s"}, "nonce": {"n"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	rec := httptest.NewRecorder()
	x.h.ServeHTTP(rec, httptest.NewRequest("GET", login.AuthorizePath+"?"+q.Encode(), nil))
	cookies := rec.Result().Cookies()
	if rec.Code != 200 || len(cookies) != 1 {
		x.t.Fatalf("the login page: %d, cookies %v", rec.Code, cookies)
	}
	x.cookie = cookies[0]
	extend := x.cookie.Path + "/extend?ui_locales=en"
	if body := rec.Body.String(); !strings.Contains(body, `fetch("`+extend+`"`) ||
		!strings.Contains(body, `<form method="post" action="`+extend+`">`) {
		x.t.Fatalf("the login page asks for more time nowhere at %s:\n%s", extend, body)
	}
	if want := (1 + login.SessionExtensions) * x.p.SessionTTL(); x.cookie.MaxAge != int(want/time.Second) {
		x.t.Errorf("the cookie lives %d s, want as long as the session may be extended to (%v)", x.cookie.MaxAge, want)
	}
}

// extend asks for more time with cookie (nil: none) as the page's script
// (accept "application/json") or its form ("text/html") does.
func (x *extendEnv) extend(cookie *http.Cookie, accept string) (*http.Response, string) {
	x.t.Helper()
	req := httptest.NewRequest("POST", x.cookie.Path+"/extend?ui_locales=en", nil)
	req.Header.Set("Accept", accept)
	if accept == "text/html" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	x.h.ServeHTTP(rec, req)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// expires is the session's expiry as the holder's app reads it.
func (x *extendEnv) expires() time.Time {
	x.t.Helper()
	r, err := x.p.Describe(context.Background(), strings.TrimPrefix(x.cookie.Path, "/login/sessions/"))
	if err != nil {
		x.t.Fatal(err)
	}
	return r.ExpiresAt
}

// TestLoginExtendRoute: POST /login/sessions/{id}/extend gives the open
// session of the browser holding its cookie a whole lifetime again
// (WCAG 2.2 SC 2.2.1 Extend), as JSON to the page's script and as the
// waiting page to its form without JavaScript, at least ten times and up
// to 1+login.SessionExtensions lifetimes from the start, then 409
// login_session_limit; without the cookie, with another, or for an
// expired session, 404, and a refusal changes nothing.
func TestLoginExtendRoute(t *testing.T) {
	x := newExtendEnv(t, RateLimit{})
	x.start()
	ttl := x.p.SessionTTL()
	start := x.expires().Add(-ttl)
	first := x.expires()
	for name, c := range map[string]*http.Cookie{"no cookie": nil, "another browser's": {Name: loginCookie, Value: rand.Text()}} {
		resp, body := x.extend(c, "application/json")
		if resp.StatusCode != 404 || !strings.Contains(body, `"error":"login_session_not_found"`) || !x.expires().Equal(first) {
			t.Errorf("%s: %d %s, expiry %v", name, resp.StatusCode, body, x.expires())
		}
	}
	n := 0
	for {
		x.clock.Advance(x.expires().Add(-20 * time.Second).Sub(x.clock.Now()))
		was := x.expires()
		resp, body := x.extend(x.cookie, "application/json")
		if resp.StatusCode == 409 {
			if !strings.Contains(body, `"error":"login_session_limit"`) || !x.expires().Equal(was) {
				t.Errorf("at the limit: %s, expiry %v (was %v)", body, x.expires(), was)
			}
			break
		}
		n++
		want := min(x.clock.Now().Add(ttl).Unix(), start.Add((1+login.SessionExtensions)*ttl).Unix())
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || x.expires().Unix() != want ||
			!strings.Contains(body, `"expires_in":`+strconv.FormatInt(want-x.clock.Now().Unix(), 10)) {
			t.Fatalf("extension %d: %d %v %s, expiry %v, want %v", n, resp.StatusCode, resp.Header, body, x.expires(), time.Unix(want, 0))
		}
		if n > 100 {
			t.Fatal("the session extends without end")
		}
	}
	if n < 10 || !x.expires().Equal(start.Add((1+login.SessionExtensions)*ttl)) {
		t.Errorf("%d extensions, to %v from the start", n, x.expires().Sub(start))
	}
	// Without JavaScript: the waiting page at the limit says so (409).
	resp, body := x.extend(x.cookie, "text/html")
	if resp.StatusCode != 409 || !strings.Contains(body, `<p id="notice" role="status">This login cannot be extended again.`) {
		t.Errorf("the form at the limit: %d\n%s", resp.StatusCode, body)
	}
	x.clock.Advance(x.expires().Sub(x.clock.Now()))
	if resp, body := x.extend(x.cookie, "application/json"); resp.StatusCode != 404 || !strings.Contains(body, "login_session_not_found") {
		t.Errorf("an expired session: %d %s", resp.StatusCode, body)
	}
	resp, body = x.extend(x.cookie, "text/html")
	if resp.StatusCode != 404 || !strings.Contains(body, `<h1 id="ended">This login has ended</h1>`) {
		t.Errorf("the form of an expired session: %d\n%s", resp.StatusCode, body)
	}

	// The form of a page without JavaScript gets the waiting page again,
	// saying how long it now waits; its form may post to the node only.
	x.start()
	x.clock.Advance(ttl - 20*time.Second)
	resp, body = x.extend(x.cookie, "text/html")
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(body, `<p id="notice" role="status">Time extended: the login now waits about 2 min.</p>`) ||
		!strings.Contains(body, `<button id="extend" class="button" type="submit">More time</button>`) || strings.Contains(body, "<script") ||
		!strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "script-src") || resp.Header.Get("Location") != "" ||
		!x.expires().Equal(x.clock.Now().Add(ttl).Truncate(time.Second)) {
		t.Errorf("the form: %d %v, expiry %v\n%s", resp.StatusCode, resp.Header, x.expires(), body)
	}
}

// TestLoginExtendRateLimited: the route counts against the login
// routes' limit per source address, as JSON to the script and as a page
// to the form.
func TestLoginExtendRateLimited(t *testing.T) {
	x := newExtendEnv(t, RateLimit{Limit: 2, Window: time.Hour})
	x.start() // the first request of the address
	if resp, body := x.extend(x.cookie, "application/json"); resp.StatusCode != 200 {
		t.Fatalf("within the limit: %d %s", resp.StatusCode, body)
	}
	was := x.expires()
	x.clock.Advance(time.Minute)
	resp, body := x.extend(x.cookie, "application/json")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, `"error":"rate_limited"`) || !x.expires().Equal(was) {
		t.Errorf("over the limit: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp, body := x.extend(x.cookie, "text/html"); resp.StatusCode != 429 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("the form over the limit: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
}

// TestLoginExtendCrossOrigin: POST /login/sessions/{id}/extend from a
// page of another origin, even of the node's own site (its SameSite=Lax
// cookie sent along; Sec-Fetch-Site, or Origin where a browser sends no
// Fetch Metadata), is refused (403 cross_site_request, JSON to a script,
// a page to a form) and changes nothing: the session's expiry and its
// extensions stay; the node's own page then extends it.
func TestLoginExtendCrossOrigin(t *testing.T) {
	x := newExtendEnv(t, RateLimit{})
	x.start()
	first := x.expires()
	x.clock.Advance(time.Minute)
	extend := func(accept string, header ...string) (*http.Response, string) {
		req := httptest.NewRequest("POST", x.cookie.Path+"/extend?ui_locales=en", nil)
		req.Header.Set("Accept", accept)
		req.Header.Set(header[0], header[1])
		req.AddCookie(x.cookie)
		rec := httptest.NewRecorder()
		x.h.ServeHTTP(rec, req)
		return rec.Result(), rec.Body.String()
	}
	for _, h := range [][]string{{"Sec-Fetch-Site", "same-site"}, {"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://other.example.com"}} {
		resp, body := extend("application/json", h...)
		if resp.StatusCode != 403 || !strings.Contains(body, `"error":"`+CodeCrossSiteRequest+`"`) || !x.expires().Equal(first) {
			t.Errorf("the script of a page with %s: %s: %d %s, expiry %v (was %v)", h[0], h[1], resp.StatusCode, body, x.expires(), first)
		}
		resp, body = extend("text/html", h...)
		if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "<code>"+CodeCrossSiteRequest+"</code>") || !x.expires().Equal(first) {
			t.Errorf("the form of a page with %s: %s: %d\n%s\nexpiry %v (was %v)", h[0], h[1], resp.StatusCode, body, x.expires(), first)
		}
	}
	resp, body := extend("application/json", "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != 200 || !x.expires().Equal(x.clock.Now().Add(x.p.SessionTTL()).Truncate(time.Second)) {
		t.Errorf("the login page's own script after the refused ones: %d %s, expiry %v", resp.StatusCode, body, x.expires())
	}
}
