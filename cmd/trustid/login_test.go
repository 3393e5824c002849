package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/qrcode"
	sdkwallet "github.com/trustid-cn/trustid/sdk/wallet"
	"github.com/trustid-cn/trustid/store"
)

// walletHolder enrolls a wallet SDK holder (software keys, alias
// "device") at L4 after a face match at f's terminal, with pin ("" for
// none), and returns it with the node's enrollment answer.
func (f *enrollFixture) walletHolder(t *testing.T, number, name, pin string) (*sdkwallet.Holder, map[string]any) {
	t.Helper()
	keys := sdkwallet.NewSoftwareKeys()
	w, err := sdkwallet.NewHolder(f.base, keys, "device")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateDeviceKey(); err != nil {
		t.Fatal(err)
	}
	doc, err := identity.Parse(residentNumber(number))
	if err != nil {
		t.Fatal(err)
	}
	pubRaw, _ := keys.PublicKey("device")
	devicePub, _ := gm.ParsePublicKeyBytes(pubRaw)
	att, err := f.terminal.Attest(doc, name, devicePub, identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.9}, true)
	if err != nil {
		t.Fatal(err)
	}
	body, err := w.EnrollmentRequest(residentNumber(number), name, pin, att)
	if err != nil {
		t.Fatal(err)
	}
	code, m, _ := f.do("POST", "/v1/enrollments", f.enrollTok, "application/json", string(body))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	raw, _ := json.Marshal(m)
	if err := w.AcceptEnrollment(raw); err != nil {
		t.Fatal(err)
	}
	return w, m
}

// loginRP is a relying party logging people in with a standard OpenID
// Connect client (go-oidc and x/oauth2), registered for ES256 ID tokens.
type loginRP struct {
	id       string
	conf     oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

var clientSecretRE = regexp.MustCompile(`"client_secret":\s*"([^"]+)"`)

func (f *enrollFixture) addLoginRP(id, sector string, extra ...string) *loginRP {
	f.t.Helper()
	redirect := "http://127.0.0.1:9/" + id + "/callback"
	args := append([]string{"clients", "add", "--id", id, "--name", "Web " + id, "--region", "310000", "--scopes", "qr:redeem",
		"--grant-types", "authorization_code", "--redirect-uri", redirect, "--post-logout-redirect-uri", redirect, "--sector", sector, "--claims", "age_over_18", "--secret"}, extra...)
	out := f.cli(args...)
	m := clientSecretRE.FindStringSubmatch(out)
	if m == nil {
		f.t.Fatalf("no client_secret in %s", out)
	}
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, f.base)
	if err != nil {
		f.t.Fatal(err)
	}
	rp := &loginRP{id: id, provider: provider, verifier: provider.Verifier(&oidc.Config{ClientID: id})}
	rp.conf = oauth2.Config{ClientID: id, ClientSecret: m[1], Endpoint: provider.Endpoint(), RedirectURL: redirect,
		Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "age_over_18"}}
	return rp
}

// browser is a user agent that keeps cookies and does not follow
// redirects (the test reads them).
func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 40 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loginAttempt is one authorization request in flight.
type loginAttempt struct {
	browser             *http.Client
	state, nonce, pkce  string
	sessionURL, waitURL string
}

var appLinkRE = regexp.MustCompile(`href="trustid://login\?session=([^"]+)"`)

// moveOnRE finds where a waiting page goes on at once (its instant
// refresh), to collect an answered login.
var moveOnRE = regexp.MustCompile(`<meta http-equiv="refresh" content="0; url=([^"]+)">`)

// start opens the authorization URL in a browser and reads the login
// page.
func (rp *loginRP) start(t *testing.T, opts ...oauth2.AuthCodeOption) *loginAttempt {
	t.Helper()
	a := &loginAttempt{browser: newBrowser(), state: rand.Text(), nonce: rand.Text(), pkce: oauth2.GenerateVerifier()}
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.pkce), oidc.Nonce(a.nonce)}, opts...)
	resp, err := a.browser.Get(rp.conf.AuthCodeURL(a.state, opts...))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The page is in English and says so.
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<html lang="en">`) || !strings.Contains(string(body), `<script nonce="`) || !strings.Contains(string(body), `src="`+api.LoginQRScript+`"`) {
		t.Fatalf("login page: %d %s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("login page CSP: %q", csp)
	}
	m := appLinkRE.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no app link on the login page:\n%s", body)
	}
	a.sessionURL, _ = url.QueryUnescape(strings.ReplaceAll(m[1], "&amp;", "&"))
	a.waitURL = a.sessionURL + "/wait"
	// The page's script draws the QR of the session URL it carries.
	if !strings.Contains(string(body), `data-uri="`+a.sessionURL+`"`) {
		t.Fatalf("the login page's QR is not of its session %s:\n%s", a.sessionURL, body)
	}
	return a
}

// TestLoginPageQRPNG: the login page's PNG (for a browser without
// JavaScript) is the QR of the session URL, for the browser holding the
// session's cookie only, while the session is open; the continue route
// shows that browser the waiting page, then redirects it with the code.
func TestLoginPageQRPNG(t *testing.T) {
	f := newEnrollFixture(t)
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	a := shop.start(t)
	get := func(c *http.Client, u string) (int, []byte, http.Header) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header
	}
	status, png, hdr := get(a.browser, a.sessionURL+"/qr.png")
	if status != 200 || hdr.Get("Content-Type") != "image/png" || !strings.HasPrefix(hdr.Get("Cache-Control"), "private, max-age=") {
		t.Fatalf("the session's PNG: %d %v", status, hdr)
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := scanImage(file); err != nil || got != a.sessionURL {
		t.Errorf("the PNG reads %q (%v), want %s", got, err, a.sessionURL)
	}
	for name, u := range map[string]string{"another browser": a.sessionURL + "/qr.png", "another session": f.base + "/login/sessions/" + strings.Repeat("A", 43) + "/qr.png"} {
		c := newBrowser()
		if name == "another session" {
			c = a.browser
		}
		if status, b, _ := get(c, u); status != 404 || bytes.Contains(b, []byte("\x89PNG")) {
			t.Errorf("%s: %d %.100s", name, status, b)
		}
	}
	// The page's way on without JavaScript: before the approval the
	// waiting page (its link checks again; no script allowed), for the
	// cookie's browser only.
	status, page, hdr := get(a.browser, a.sessionURL+"/continue")
	csp := hdr.Get("Content-Security-Policy")
	if status != 200 || !strings.Contains(string(page), `href="`+strings.TrimPrefix(a.sessionURL, f.base)+`/continue?ui_locales=en"`) || !strings.Contains(string(page), `<html lang="en">`) ||
		!strings.Contains(string(page), `src="`+strings.TrimPrefix(a.sessionURL, f.base)+`/qr.png"`) || strings.Contains(string(page), "<script") ||
		!strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("the waiting page: %d %v\n%s", status, hdr, page)
	}
	// A session this browser has no cookie of, and later one that is
	// finished, is an HTML page saying the login ended (the waiting
	// page's headers), not JSON.
	ended := func(name string, c *http.Client) {
		t.Helper()
		status, page, hdr := get(c, a.sessionURL+"/continue")
		csp := hdr.Get("Content-Security-Policy")
		if status != 404 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(string(page), `<h1 id="ended">This login has ended</h1>`) || !strings.Contains(string(page), `<html lang="en">`) ||
			strings.Contains(string(page), "<script") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") ||
			hdr.Get("Cache-Control") != "no-store" || hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("continue, %s: %d %v\n%s", name, status, hdr, page)
		}
	}
	ended("another browser", newBrowser())
	if status, m := approve(t, a.sessionURL, f.app(alice, ra), ""); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	if status, _, _ := get(a.browser, a.sessionURL+"/qr.png"); status != 404 {
		t.Errorf("the PNG of an approved session: %d", status)
	}
	ended("another browser after the approval", newBrowser())
	status, _, hdr = get(a.browser, a.sessionURL+"/continue")
	loc, _ := url.Parse(hdr.Get("Location"))
	if status != 303 || loc == nil || !strings.HasPrefix(loc.String(), shop.conf.RedirectURL+"?") || loc.Query().Get("state") != a.state {
		t.Fatalf("continue after the approval: %d %v", status, hdr)
	}
	shop.exchange(t, a, loc.Query().Get("code"))
	ended("once the code is out", a.browser)
}

// TestLoginHeadEndsNothing: the router sends HEAD to the GET routes
// wait and continue, but HEAD is safe (RFC 9110 §9.2.1) and carries no
// content (§9.3.2): a HEAD (a link checker's, a prefetch) of an
// approved session's continue or wait ended the session, its code sent
// nowhere the browser would follow, and the browser's GET then found the
// login ended. Both are 405 (Allow: GET); the GET after them redirects
// with the code.
func TestLoginHeadEndsNothing(t *testing.T) {
	f := newEnrollFixture(t)
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	a := shop.start(t)
	if status, m := approve(t, a.sessionURL, f.app(alice, ra), ""); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	for _, u := range []string{a.sessionURL + "/continue", a.waitURL} {
		resp, err := a.browser.Head(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
			t.Errorf("HEAD %s: %d Allow %q", u, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	resp, err := a.browser.Get(a.sessionURL + "/continue")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 303 || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("continue after the HEADs: %d %v", resp.StatusCode, resp.Header)
	}
	shop.exchange(t, a, loc.Query().Get("code"))
}

// holderApp is what a holder's phone keeps after enrollment.
type holderApp struct {
	device     *gm.PrivateKey
	binding    []byte // the QR binding
	credential string // the binding credential (vc+jwt)
	node       string
}

func (f *enrollFixture) app(p *person, r enrollResult) holderApp {
	return holderApp{device: p.device, binding: r.QRBinding, credential: r.BindingCredential.Credential, node: f.base}
}

// approve is the holder's app: it reads the session and approves it by
// signing the challenge with its device key over its binding, with a PIN
// check when pin is set.
func approve(t *testing.T, sessionURL string, h holderApp, pin string, consent ...string) (int, map[string]any) {
	t.Helper()
	extra := map[string]any{}
	if pin != "" {
		extra["pin_check"] = pinCheck(t, h, pin)
	}
	return holderAnswer(t, sessionURL, sessionURL+"/approve", h, consent, extra)
}

// pinCheck is the holder app's pin_check with pin: its binding
// credential and a fresh device proof.
func pinCheck(t *testing.T, h holderApp, pin string) map[string]string {
	t.Helper()
	proof, err := holder.NewDeviceProof(h.device, h.node, time.Now(), rand.Text())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"binding_credential": h.credential, "device_proof": proof, "pin": pin}
}

// holderAnswer is the holder's app answering a login session: it reads
// the session's challenge, signs it (a qrcode.HolderRequest with consent,
// for the purpose of target) with its device key over its binding and posts {"request": …} and the
// members of extra to target (the session's approve or deny). A session
// that cannot be read gives its status and no body.
func holderAnswer(t *testing.T, sessionURL, target string, h holderApp, consent []string, extra map[string]any) (int, map[string]any) {
	t.Helper()
	status, nonce := sessionChallenge(t, sessionURL)
	if status != 200 {
		return status, nil
	}
	return postAnswer(t, target, holderAnswerBody(t, target, h, nonce, consent, extra))
}

// sessionChallenge reads a login session as the holder's app does: its
// status and, when 200, its challenge (never empty).
func sessionChallenge(t *testing.T, sessionURL string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(sessionURL)
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Challenge string `json:"challenge"`
	}
	json.NewDecoder(resp.Body).Decode(&req)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil
	}
	nonce, err := base64.RawURLEncoding.DecodeString(req.Challenge)
	if err != nil || len(nonce) == 0 {
		t.Fatalf("challenge %q: %v", req.Challenge, err)
	}
	return resp.StatusCode, nonce
}

// holderAnswerBody is the body of the holder app's answer to target (a
// session's approve or deny) over the challenge nonce: the signed
// request with consent, and the members of extra.
func holderAnswerBody(t *testing.T, target string, h holderApp, nonce []byte, consent []string, extra map[string]any) []byte {
	t.Helper()
	purpose := qrcode.PurposeLoginApprove
	if strings.HasSuffix(target, "/deny") {
		purpose = qrcode.PurposeLoginDeny
	}
	hr := qrcode.HolderRequest{Purpose: purpose, Binding: h.binding, Time: time.Now().Unix(), Nonce: nonce, Region: "310000", Consent: consent}
	if err := qrcode.SignHolderRequest(rand.Reader, h.device, &hr); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"request": hr}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	return b
}

// postAnswer posts body, a holder app's answer, to target.
func postAnswer(t *testing.T, target string, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(target, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// wait is the login page's long poll.
func (a *loginAttempt) wait(t *testing.T) (int, map[string]string) {
	t.Helper()
	status, m, err := a.poll()
	if err != nil {
		t.Fatal(err)
	}
	return status, m
}

// poll is wait for a goroutine other than the test's, where t.Fatal
// would end only that goroutine: it returns the request's error.
func (a *loginAttempt) poll() (int, map[string]string, error) {
	resp, err := a.browser.Get(a.waitURL)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, nil
}

// code waits for the approval and returns the code the browser lands
// with, checking state and iss.
func (a *loginAttempt) code(t *testing.T, rp *loginRP, base string) string {
	t.Helper()
	status, m := a.wait(t)
	if status != 200 || m["status"] != "approved" {
		t.Fatalf("wait: %d %v", status, m)
	}
	u, err := url.Parse(m["redirect"])
	if err != nil || !strings.HasPrefix(m["redirect"], rp.conf.RedirectURL+"?") {
		t.Fatalf("redirect %q", m["redirect"])
	}
	q := u.Query()
	if q.Get("state") != a.state || q.Get("iss") != base || q.Get("code") == "" {
		t.Fatalf("redirect query: %v", q)
	}
	return q.Get("code")
}

// post sends form to the node at base+path as the party, by its client
// secret (client_secret_basic): the status and the JSON answer.
func (rp *loginRP) post(t *testing.T, base, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(rp.conf.ClientID, rp.conf.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// exchange redeems a code with the library and verifies the ID token with
// it alone.
func (rp *loginRP) exchange(t *testing.T, a *loginAttempt, code string) (*oauth2.Token, *oidc.IDToken) {
	t.Helper()
	ctx := context.Background()
	tok, err := rp.conf.Exchange(ctx, code, oauth2.VerifierOption(a.pkce))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("the library refuses the ID token: %v", err)
	}
	if idt.Nonce != a.nonce {
		t.Errorf("nonce %q, want %q", idt.Nonce, a.nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	return tok, idt
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// TestOIDCLoginWithStandardClient logs people in through a real node with
// go-oidc and x/oauth2 as the relying party: discovery, PKCE, the login
// QR approved by the holder's device key, ES256 ID tokens verified by the
// library, pairwise subjects, userinfo, refresh rotation with reuse
// detection, logout; and every refusal.
// It runs on the memory store and on Redis; no log line, file of the
// data directory or (with Redis) key or value of any Redis database
// holds a code, a token, a session ID, a client secret, the symbol, a
// number, a name or a PIN. Sessions live 10 s (3 s expired the L3 PIN
// attempts at load 8); an expired one is TestOIDCLoginSessionExpires's.
func TestOIDCLoginWithStandardClient(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testOIDCLogin(t, nil) })
	t.Run("redis", func(t *testing.T) {
		addr := testredis.Start(t)
		testOIDCLogin(t, testredis.Client(t, addr), "--redis-url", "redis://"+addr)
	})
}

// TestOIDCLoginSessionExpires: a login session whose time
// (--login-session-ttl) has run out can be neither read by the holder's
// app, nor approved with the challenge the app read before, nor collected
// by the page's wait, on the memory store and on Redis. The session's
// expires_at, as the node states it, is the flag's 2 s after the session
// began, and the test waits until then (the read before takes
// milliseconds): not a fixed sleep, and not the 10 s of
// TestOIDCLoginWithStandardClient's sessions.
func TestOIDCLoginSessionExpires(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testLoginSessionExpires(t) })
	t.Run("redis", func(t *testing.T) { testLoginSessionExpires(t, "--redis-url", "redis://"+testredis.Start(t)) })
}

func testLoginSessionExpires(t *testing.T, extra ...string) {
	f := newEnrollFixture(t, append([]string{"--login-session-ttl", "2s"}, extra...)...)
	bob := newPerson(t, "11010519850101002", "李四")
	code, rb, m := f.enroll(f.enrollBody(bob, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example")
	began := time.Now()
	a := shop.start(t)
	resp, err := http.Get(a.sessionURL)
	if err != nil {
		t.Fatal(err)
	}
	var session struct {
		Challenge string    `json:"challenge"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	json.NewDecoder(resp.Body).Decode(&session)
	resp.Body.Close()
	nonce, err := base64.RawURLEncoding.DecodeString(session.Challenge)
	if resp.StatusCode != 200 || err != nil || len(nonce) == 0 || session.ExpiresAt.IsZero() {
		t.Fatalf("the session read at once: %d %+v", resp.StatusCode, session)
	}
	// Started between began and now, for 2 s, to the second (truncated).
	if !session.ExpiresAt.After(began.Add(time.Second)) || session.ExpiresAt.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("expires_at %v, want 2 s after the session began (at %v or later)", session.ExpiresAt, began)
	}
	time.Sleep(time.Until(session.ExpiresAt))
	target := a.sessionURL + "/approve"
	if status, m := postAnswer(t, target, holderAnswerBody(t, target, f.app(bob, rb), nonce, nil, nil)); status != 404 {
		t.Errorf("approval of an expired session: %d %v", status, m)
	}
	if status, _ := sessionChallenge(t, a.sessionURL); status != 404 {
		t.Errorf("the app reading an expired session: %d", status)
	}
	if status, m := a.wait(t); status != 404 {
		t.Errorf("wait on an expired session: %d %v", status, m)
	}
}

// testOIDCLogin runs the flows on a node started with extra arguments,
// then scans what the node wrote (its logs, its data directory and, when
// rdb is not nil, the Redis it used) for the secrets it saw.
func testOIDCLogin(t *testing.T, rdb *redis.Client, extra ...string) {
	f := newEnrollFixture(t, append([]string{"--login-session-ttl", "10s"}, extra...)...)
	ctx := context.Background()
	alice := newPerson(t, "11010519900307123", "张三")
	att, err := f.terminal.Attest(alice.doc, alice.name, alice.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.93}, true)
	if err != nil {
		t.Fatal(err)
	}
	code, ra, m := f.enroll(f.enrollBody(alice, att, "135790", nil))
	if code != 201 || ra.AssuranceLevel != "L4" {
		t.Fatalf("enroll alice: %d %v", code, m)
	}
	bob := newPerson(t, "11010519850101002", "李四")
	code, rb, m := f.enroll(f.enrollBody(bob, "", "", nil))
	if code != 201 || ra.AssuranceLevel == rb.AssuranceLevel {
		t.Fatalf("enroll bob: %d %v", code, m)
	}

	aliceApp, bobApp := f.app(alice, ra), f.app(bob, rb)
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	bank := f.addLoginRP("bank-web", "bankweb.example", "--id-token-alg", "ES256")

	// Discovery is complete.
	var disco struct {
		AuthorizationEndpoint string   `json:"authorization_endpoint"`
		SubjectTypes          []string `json:"subject_types_supported"`
		Algs                  []string `json:"id_token_signing_alg_values_supported"`
		ResponseTypes         []string `json:"response_types_supported"`
		PKCE                  []string `json:"code_challenge_methods_supported"`
		EndSession            string   `json:"end_session_endpoint"`
		UserInfo              string   `json:"userinfo_endpoint"`
		ACR                   []string `json:"acr_values_supported"`
	}
	if err := shop.provider.Claims(&disco); err != nil {
		t.Fatal(err)
	}
	if disco.AuthorizationEndpoint != f.base+"/oauth2/authorize" || strings.Join(disco.SubjectTypes, ",") != "pairwise" ||
		strings.Join(disco.Algs, ",") != "SM2,ES256" || strings.Join(disco.ResponseTypes, ",") != "code" ||
		strings.Join(disco.PKCE, ",") != "S256" || disco.EndSession == "" || disco.UserInfo == "" || len(disco.ACR) != 4 {
		t.Errorf("discovery: %+v", disco)
	}
	// RFC 8414 metadata says the same.
	if code, body := get(t, f.base+"/.well-known/oauth-authorization-server"); code != 200 || !strings.Contains(body, `"authorization_code"`) || !strings.Contains(body, `"pairwise"`) {
		t.Errorf("authorization server metadata: %d %s", code, body)
	}

	// A full login.
	// The page's long poll is waiting when the holder approves, and
	// notices the approval. L4 is asked: the holder enters the PIN.
	a := shop.start(t, oauth2.SetAuthURLParam("acr_values", "L4"))
	type waited struct {
		status int
		m      map[string]string
		err    error
	}
	// The poll's goroutine reports its error: a t.Fatal there would leave
	// this test waiting for it until the package's timeout.
	waitCh := make(chan waited, 1)
	go func() {
		status, m, err := a.poll()
		waitCh <- waited{status, m, err}
	}()
	time.Sleep(300 * time.Millisecond)
	if status, m := approve(t, a.sessionURL, aliceApp, "135790", "age_over_18"); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	w := <-waitCh
	if w.err != nil || w.status != 200 || w.m["status"] != "approved" {
		t.Fatalf("the waiting page: %d %v (%v)", w.status, w.m, w.err)
	}
	landed, _ := url.Parse(w.m["redirect"])
	if landed.Query().Get("state") != a.state {
		t.Errorf("redirect %v", landed)
	}
	tok, idt := shop.exchange(t, a, landed.Query().Get("code"))
	var claims struct {
		ACR      string   `json:"acr"`
		AMR      []string `json:"amr"`
		AuthTime int64    `json:"auth_time"`
	}
	idt.Claims(&claims)
	if claims.ACR != "L4" || strings.Join(claims.AMR, " ") != "hwk pin" || time.Since(time.Unix(claims.AuthTime, 0)) > time.Minute {
		t.Errorf("ID token claims: %+v", claims)
	}
	if len(idt.Subject) != identity.TextLen || strings.Contains(f.logs.String(), idt.Subject) {
		t.Errorf("sub %q is not a pairwise ID, or it is logged", idt.Subject)
	}
	if hdr := jwtHeader(t, tok.Extra("id_token").(string)); hdr["alg"] != "ES256" {
		t.Errorf("ID token header %v", hdr)
	}
	ui, err := shop.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	var uc map[string]any
	ui.Claims(&uc)
	if ui.Subject != idt.Subject || uc["age_over_18"] != true || len(uc) != 2 {
		t.Errorf("userinfo: %v", uc)
	}

	// Pairwise: stable for one sector, different for another.
	a2 := shop.start(t)
	approve(t, a2.sessionURL, aliceApp, "")
	_, idt2 := shop.exchange(t, a2, a2.code(t, shop, f.base))
	// Without a PIN, an L4 binding proves possession only: acr L2.
	var claims2 struct {
		ACR string `json:"acr"`
	}
	if idt2.Claims(&claims2); claims2.ACR != "L2" {
		t.Errorf("acr %q without a PIN", claims2.ACR)
	}
	a3 := bank.start(t)
	approve(t, a3.sessionURL, aliceApp, "")
	tok3, idt3 := bank.exchange(t, a3, a3.code(t, bank, f.base))
	if idt2.Subject != idt.Subject || idt3.Subject == idt.Subject {
		t.Errorf("pairwise subs: shop %s, %s; bank %s", idt.Subject, idt2.Subject, idt3.Subject)
	}
	// No consent given this time: userinfo releases no claim.
	ui3, err := bank.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok3))
	if err != nil {
		t.Fatal(err)
	}
	uc = nil
	ui3.Claims(&uc)
	if len(uc) != 1 {
		t.Errorf("userinfo without consent: %v", uc)
	}

	// Refresh: rotation, then reuse of the old token revokes the family.
	fresh, err := shop.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v %+v", err, fresh)
	}
	if _, err := shop.verifier.Verify(ctx, fresh.Extra("id_token").(string)); err != nil {
		t.Errorf("refreshed ID token: %v", err)
	}
	_, err = shop.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("reused refresh token: %v", err)
	}
	_, err = shop.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token()
	if oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("the rotated token survived reuse detection: %v", err)
	}
	if _, err := shop.provider.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err == nil {
		t.Error("an access token of a revoked family still works at userinfo")
	}

	// Code replay: refused, and the tokens the code gave are revoked.
	a4 := shop.start(t)
	approve(t, a4.sessionURL, aliceApp, "")
	code4 := a4.code(t, shop, f.base)
	tok4, _ := shop.exchange(t, a4, code4)
	if _, err := shop.conf.Exchange(ctx, code4, oauth2.VerifierOption(a4.pkce)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("code replay: %v", err)
	}
	if _, err := shop.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok4)); err == nil {
		t.Error("tokens of a replayed code still work")
	}
	// The browser cannot collect a second code from one session.
	if status, m := a4.wait(t); status != 404 {
		t.Errorf("second wait: %d %v", status, m)
	}

	// Wrong PKCE verifier, wrong client, wrong redirect URI at the token
	// endpoint: invalid_grant, and the code is spent.
	for name, try := range map[string]func(code string, a *loginAttempt) error{
		"wrong verifier": func(code string, a *loginAttempt) error {
			_, err := shop.conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			return err
		},
		"no verifier": func(code string, a *loginAttempt) error {
			_, err := shop.conf.Exchange(ctx, code)
			return err
		},
		"other client": func(code string, a *loginAttempt) error {
			_, err := bank.conf.Exchange(ctx, code, oauth2.VerifierOption(a.pkce))
			return err
		},
		"other redirect": func(code string, a *loginAttempt) error {
			c := shop.conf
			c.RedirectURL = bank.conf.RedirectURL
			_, err := c.Exchange(ctx, code, oauth2.VerifierOption(a.pkce))
			return err
		},
	} {
		a := shop.start(t)
		approve(t, a.sessionURL, aliceApp, "")
		code := a.code(t, shop, f.base)
		if err := try(code, a); oauthErrorCode(err) != "invalid_grant" && oauthErrorCode(err) != "invalid_request" {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := shop.conf.Exchange(ctx, code, oauth2.VerifierOption(a.pkce)); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("%s: the code survived: %v", name, err)
		}
	}

	// Authorization requests: no PKCE, bad redirect URI, unknown client.
	br := newBrowser()
	get := func(u string) *http.Response {
		resp, err := br.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get(shop.conf.AuthCodeURL("st1"))
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != 302 || !strings.HasPrefix(loc.String(), shop.conf.RedirectURL) ||
		loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st1" {
		t.Errorf("no PKCE: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	evil := shop.conf
	evil.RedirectURL = "https://evil.example/cb"
	if resp := get(evil.AuthCodeURL("st2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("unregistered redirect URI: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	unknown := shop.conf
	unknown.ClientID = "nobody"
	if resp := get(unknown.AuthCodeURL("st3", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("unknown client: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := get(shop.conf.AuthCodeURL("st4", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none"))); !strings.Contains(resp.Header.Get("Location"), "error=login_required") {
		t.Errorf("prompt=none: %q", resp.Header.Get("Location"))
	}

	// Approvals refused: another device key, twice, below the asked level,
	// a session another browser started.
	a5 := shop.start(t)
	stranger, _ := gm.GenerateKey(rand.Reader)
	if status, m := approve(t, a5.sessionURL, holderApp{stranger, ra.QRBinding, "", f.base}, ""); status != 403 || m["error"] != "approval_refused" {
		t.Errorf("approval by another device key: %d %v", status, m)
	}
	if status, _ := approve(t, a5.sessionURL, aliceApp, ""); status != 204 {
		t.Errorf("approval after a refused one: %d", status)
	}
	if status, m := approve(t, a5.sessionURL, aliceApp, ""); status == 204 {
		t.Errorf("second approval: %d %v", status, m)
	}
	thief := *a5
	thief.browser = newBrowser()
	// With a cookie of its own for the session's path.
	waitURL, _ := url.Parse(a5.waitURL)
	thief.browser.Jar.SetCookies(waitURL, []*http.Cookie{{Name: "tid_login", Value: rand.Text() + rand.Text(), Path: waitURL.Path}})
	if status, m := thief.wait(t); status != 404 {
		t.Errorf("another browser collected the code: %d %v", status, m)
	}
	// carol set a PIN but had no face match: L3. Her right PIN does not
	// make an L4 login.
	carol := newPerson(t, "31010419851111002", "王五")
	code, rc, m := f.enroll(f.enrollBody(carol, "", "246810", nil))
	if code != 201 || rc.AssuranceLevel != "L3" {
		t.Fatalf("enroll carol: %d %v", code, m)
	}
	a12 := shop.start(t, oauth2.SetAuthURLParam("acr_values", "L4"))
	if status, m := approve(t, a12.sessionURL, f.app(carol, rc), "246810"); status != 403 || !strings.Contains(m["error_description"].(string), "below") {
		t.Errorf("an L3 binding approved an L4 login: %d %v", status, m)
	}
	a6 := shop.start(t, oauth2.SetAuthURLParam("acr_values", "L4"))
	if status, m := approve(t, a6.sessionURL, bobApp, ""); status != 403 || m["error"] != "approval_refused" {
		t.Errorf("%s binding approved an L4 login: %d %v", rb.AssuranceLevel, status, m)
	}

	// L3 asks for the PIN: none, or a wrong one, is refused (and the
	// holder may try again); then the right one passes, with the acr of
	// alice's binding (L4: its biometric enrollment, and now device and
	// PIN).
	a9 := shop.start(t, oauth2.SetAuthURLParam("acr_values", "L3"))
	if status, m := approve(t, a9.sessionURL, aliceApp, ""); status != 403 || !strings.Contains(m["error_description"].(string), "PIN") {
		t.Errorf("L3 without a PIN: %d %v", status, m)
	}
	if status, m := approve(t, a9.sessionURL, aliceApp, "000000"); status != 403 || !strings.Contains(m["error_description"].(string), "wrong PIN") {
		t.Errorf("wrong PIN: %d %v", status, m)
	}
	if status, m := approve(t, a9.sessionURL, bobApp, "135790"); status != 403 {
		t.Errorf("another holder's PIN check: %d %v", status, m)
	}
	if status, m := approve(t, a9.sessionURL, aliceApp, "135790"); status != 204 {
		t.Errorf("right PIN after a wrong one: %d %v", status, m)
	}
	_, idt9 := shop.exchange(t, a9, a9.code(t, shop, f.base))
	idt9.Claims(&claims)
	if claims.ACR != "L4" {
		t.Errorf("acr %q after a PIN check at L3", claims.ACR)
	}

	// Without a smartphone: an accredited counter terminal scans alice's
	// static printed code, matches her face and approves; the party gets
	// the same pairwise sub as from her phone, amr face, act the terminal.
	static := f.staticCode(t, alice, ra)
	a10 := shop.start(t, oauth2.SetAuthURLParam("acr_values", "L4"))
	counter := func(a *loginAttempt, code string, term *identity.Attester, edit func(jwt.MapClaims)) (int, map[string]any) {
		return counterApprove(t, f.base, a.sessionURL, code, term, edit)
	}
	for name, edit := range map[string]func(jwt.MapClaims){
		"another session":  func(c jwt.MapClaims) { c["login_session"] = "x" },
		"another code":     func(c jwt.MapClaims) { c["code_hash"] = "x" },
		"no person check":  func(c jwt.MapClaims) { c["method"] = "none" },
		"another audience": func(c jwt.MapClaims) { c["aud"] = "https://other.example" },
		"ten minutes long": func(c jwt.MapClaims) { c["exp"] = time.Now().Add(10 * time.Minute).Unix() },
	} {
		if status, m := counter(a10, static, f.terminal, edit); status != 403 {
			t.Errorf("counter approval, %s: %d %v", name, status, m)
		}
	}
	if status, m := counter(a10, static, f.oldTerminal, nil); status != 403 || !strings.Contains(m["error_description"].(string), "revoked") {
		t.Errorf("counter approval by a revoked terminal: %d %v", status, m)
	}
	if status, m := counter(a10, static, f.terminal, nil); status != 204 {
		t.Fatalf("counter approval: %d %v", status, m)
	}
	if status, _ := counter(a10, static, f.terminal, nil); status == 204 {
		t.Error("a second counter approval")
	}
	_, idt10 := shop.exchange(t, a10, a10.code(t, shop, f.base))
	var cc struct {
		ACR string            `json:"acr"`
		AMR []string          `json:"amr"`
		Act map[string]string `json:"act"`
	}
	idt10.Claims(&cc)
	if idt10.Subject != idt.Subject || cc.ACR != "L4" || strings.Join(cc.AMR, " ") != "face" || cc.Act["sub"] != "terminal:t-counter-1" {
		t.Errorf("counter login: sub %s (phone %s), %+v", idt10.Subject, idt.Subject, cc)
	}

	// A guardian: bob holds a delegation to log alice in; approving with
	// his own device, he logs her in: sub hers, act his pairwise ID (the
	// sub he has when he logs in himself). A delegation to present her
	// identity, or to pick up her mail, does not log her in.
	aBob := shop.start(t)
	if status, m := approve(t, aBob.sessionURL, bobApp, ""); status != 204 {
		t.Fatalf("bob's own login: %d %v", status, m)
	}
	_, idtBob := shop.exchange(t, aBob, aBob.code(t, shop, f.base))
	deleg := f.delegation(t, rb, ra, qrcode.ActionLogin)
	for name, d := range map[string][]byte{
		"present": f.delegation(t, rb, ra, qrcode.ActionPresent), "present and pickup": f.delegation(t, rb, ra, qrcode.ActionPresent, qrcode.ActionPickup),
	} {
		a11 := shop.start(t)
		if status, m := approveAs(t, a11.sessionURL, bobApp, d); status != 403 || !strings.Contains(m["error_description"].(string), "scope") {
			t.Errorf("a delegation for %s, without login: %d %v", name, status, m)
		}
	}
	a11 := shop.start(t)
	if status, m := approveAs(t, a11.sessionURL, aliceApp, deleg); status != 403 {
		t.Errorf("a delegation presented by someone other than its actor: %d %v", status, m)
	}
	a11 = shop.start(t)
	if status, m := approveAs(t, a11.sessionURL, bobApp, deleg); status != 204 {
		t.Fatalf("guardian approval: %d %v", status, m)
	}
	_, idt11 := shop.exchange(t, a11, a11.code(t, shop, f.base))
	idt11.Claims(&cc)
	if idt11.Subject != idt.Subject || cc.Act["sub"] != idtBob.Subject || cc.Act["sub"] == idt.Subject || strings.Join(cc.AMR, " ") != "hwk" {
		t.Errorf("guardian login: sub %s (alice %s), act %v (bob %s), %+v", idt11.Subject, idt.Subject, cc.Act, idtBob.Subject, cc)
	}

	// RP-initiated logout revokes the login's tokens and redirects only to
	// a registered URI.
	a8 := shop.start(t)
	approve(t, a8.sessionURL, aliceApp, "")
	tok8, _ := shop.exchange(t, a8, a8.code(t, shop, f.base))
	// With Redis, the access token's record (the pairwise sub, the
	// released claims) is there until the logout, and gone after it: it
	// was kept to the token's expiry, refused by the login's revocation
	// marker alone.
	atRecord := func() int64 {
		t.Helper()
		n, err := rdb.Exists(ctx, storeKey(t, f.dir, "login-at:"+tok8.AccessToken[:16])).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if rdb != nil && atRecord() != 1 {
		t.Fatal("the access token's record is not where the test looks for it")
	}
	q := url.Values{"id_token_hint": {tok8.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://evil.example/"}}
	if resp := get(disco.EndSession + "?" + q.Encode()); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("logout to an unregistered URI: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q.Set("post_logout_redirect_uri", shop.conf.RedirectURL)
	q.Set("state", "bye")
	if resp := get(disco.EndSession + "?" + q.Encode()); resp.StatusCode != 302 || resp.Header.Get("Location") != shop.conf.RedirectURL+"?state=bye" {
		t.Errorf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := shop.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok8)); err == nil {
		t.Error("tokens work after logout")
	}
	if rdb != nil && atRecord() != 0 {
		t.Error("the access token's record is still in Redis after the logout")
	}

	// Nothing secret or personal where the node writes. Stopped first:
	// the access log is buffered and written out at shutdown. A canary
	// planted in each place proves its scan can see.
	f.stop()
	scan := leakcheck.New(t, code4, tok.AccessToken, tok.RefreshToken, tok.Extra("id_token").(string),
		a.sessionURL[strings.LastIndex(a.sessionURL, "/")+1:], shop.conf.ClientSecret, bank.conf.ClientSecret, ra.Symbol,
		alice.number, alice.number[:14], alice.name, bob.number, bob.number[:14], bob.name, carol.number, carol.name)
	scan.PlantLog(f.logs)
	scan.PlantDir(f.dir)
	if hits := scan.Log([]byte(f.logs.String())); len(hits) > 0 {
		t.Errorf("a secret or personal data in the node's logs: %v", hits)
	}
	if hits := scan.Dir(f.dir); len(hits) > 0 {
		t.Errorf("a secret or personal data in the data directory: %v", hits)
	}
	if rdb != nil {
		scan.PlantRedis(rdb)
		if hits := scan.Redis(rdb); len(hits) > 0 {
			t.Errorf("a secret or personal data in Redis: %v", hits)
		}
	}
	pins := leakcheck.NewDelimited(t, "135790", "246810")
	pins.PlantLog(f.logs)
	pins.PlantDir(f.dir)
	if hits := append(pins.Log([]byte(f.logs.String())), pins.Dir(f.dir)...); len(hits) > 0 {
		t.Errorf("a PIN in the node's logs or data directory: %v", hits)
	}
	if rdb != nil {
		pins.PlantRedis(rdb)
		if hits := pins.Redis(rdb); len(hits) > 0 {
			t.Errorf("a PIN in Redis: %v", hits)
		}
	}
}

// staticCode issues a static printed code for p as the node would: its
// subject is p's binding handle, its status entry the binding's.
func (f *enrollFixture) staticCode(t *testing.T, p *person, r enrollResult) string {
	t.Helper()
	b, err := qrcode.ParseBinding(r.QRBinding)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code, err := f.qrIssuer(t).IssueStatic(qrcode.Static{Subject: b.Subject, MaskedName: identity.MaskName(p.name), MaskedNumber: p.doc.Masked(),
		DocType: uint8(p.doc.Type()), PhotoHint: "ID card photo", Assurance: b.Assurance, IssuedAt: now, Expiry: now.AddDate(5, 0, 0), Status: b.Status})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// delegation issues, as the node would, a delegation letting the holder
// of actor act for the holder of principal.
func (f *enrollFixture) delegation(t *testing.T, actor, principal enrollResult, actions ...string) []byte {
	t.Helper()
	a, _ := qrcode.ParseBinding(actor.QRBinding)
	p, _ := qrcode.ParseBinding(principal.QRBinding)
	now := time.Now()
	d, err := f.qrIssuer(t).IssueDelegation(qrcode.Delegation{Actor: a.Subject, Principal: p.Subject, Relationship: qrcode.RelFamily,
		Scope: actions, NotBefore: now.Add(-time.Minute), Expiry: now.Add(time.Hour), Status: p.Status})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// qrIssuer signs QR formats with the node's active SM2 key.
func (f *enrollFixture) qrIssuer(t *testing.T) *qrcode.Issuer {
	t.Helper()
	ks, err := keystore.Open(filepath.Join(f.dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	region, _ := qrcode.ParseRegion("310000")
	return &qrcode.Issuer{Signer: key.Signer, Kid: key.Kid, Region: region}
}

// approveAs is a guardian's app approving with its own device and binding
// and the delegation to act for another.
func approveAs(t *testing.T, sessionURL string, h holderApp, delegation []byte) (int, map[string]any) {
	t.Helper()
	return holderAnswer(t, sessionURL, sessionURL+"/approve", h, nil, map[string]any{"delegation": delegation})
}

// counterApprove is a counter terminal approving a session for the
// holder of a static code, after a face match; edit changes the
// attestation's claims before it is signed.
func counterApprove(t *testing.T, node, sessionURL, static string, term *identity.Attester, edit func(jwt.MapClaims)) (int, map[string]any) {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"iss": term.TerminalID, "aud": node, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": rand.Text(), "login_session": sessionURL[strings.LastIndex(sessionURL, "/")+1:], "code_hash": login.CodeHash(static), "method": "face"}
	if edit != nil {
		edit(claims)
	}
	tok := jwt.NewWithClaims(gm.SigningMethodSM2, claims)
	tok.Header["typ"] = login.CounterAttestationType
	att, err := tok.SignedString(term.Signer)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"static_code": static, "attestation": att})
	resp, err := http.Post(sessionURL+"/counter-approve", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

// TestLoginPagesInChinese: the login pages (the login page, the waiting
// page without JavaScript, the ended page) are in Chinese for a browser
// that prefers it (Accept-Language), in English otherwise, and say which
// (lang, Content-Language, Vary); claims are named by their labels.
func TestLoginPagesInChinese(t *testing.T) {
	f := newEnrollFixture(t)
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	get := func(c *http.Client, u, accept string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	for _, tc := range []struct {
		accept, lang string
		want         []string
	}{
		{"zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", []string{"<title>TrustID 登录</title>", "<h1>登录 Web shop-web</h1>", "已满 18 周岁", "请用 TrustID 应用扫码并确认", "等待确认…"}},
		{"zh", "zh-CN", []string{"<h1>登录 Web shop-web</h1>"}},
		{"en-GB,en;q=0.9,zh;q=0.5", "en", []string{"<h1>Log in to Web shop-web</h1>", "aged 18 or over", "Waiting for approval…"}},
		{"fr-FR", "en", []string{"<h1>Log in to Web shop-web</h1>"}},
		{"", "en", []string{"<h1>Log in to Web shop-web</h1>"}},
	} {
		b := newBrowser()
		u := shop.conf.AuthCodeURL(rand.Text(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oidc.Nonce(rand.Text()))
		status, page, hdr := get(b, u, tc.accept)
		if status != 200 || !strings.Contains(page, `<html lang="`+tc.lang+`">`) || hdr.Get("Content-Language") != tc.lang || !strings.Contains(hdr.Get("Vary"), "Accept-Language") {
			t.Fatalf("Accept-Language %q: %d %v\n%s", tc.accept, status, hdr, page)
		}
		for _, w := range tc.want {
			if !strings.Contains(page, w) {
				t.Errorf("Accept-Language %q: the login page lacks %q:\n%s", tc.accept, w, page)
			}
		}
		if tc.lang != "zh-CN" {
			continue
		}
		m := appLinkRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no app link:\n%s", page)
		}
		session, _ := url.QueryUnescape(strings.ReplaceAll(m[1], "&amp;", "&"))
		if status, page, _ := get(b, session+"/continue", tc.accept); status != 200 || !strings.Contains(page, `<h1 id="waiting">等待确认</h1>`) || !strings.Contains(page, "我已确认，再次检查") || !strings.Contains(page, `alt="登录二维码"`) {
			t.Errorf("the waiting page in Chinese: %d\n%s", status, page)
		}
		if status, page, _ := get(newBrowser(), session+"/continue", tc.accept); status != 404 || !strings.Contains(page, `<h1 id="ended">本次登录已结束</h1>`) || !strings.Contains(page, `<html lang="zh-CN">`) {
			t.Errorf("the ended page in Chinese: %d\n%s", status, page)
		}
	}
}

// TestLoginPagesUILocales: the relying party's ui_locales (OpenID
// Connect Core §3.1.2.1: BCP 47 tags in order of preference) chooses
// the login page's language over the browser's Accept-Language (a
// counter kiosk or a shared computer whose browser asks for English,
// for an elderly Chinese user); the first language the pages have wins,
// else Accept-Language decides. The page's links carry its language
// on, and its switch shows the same session's page in the other
// language, to the browser that started it only.
func TestLoginPagesUILocales(t *testing.T) {
	f := newEnrollFixture(t)
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	get := func(c *http.Client, u string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept-Language", "en-US,en;q=0.9")
		req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	for uiLocales, lang := range map[string]string{"zh-CN": "zh-CN", "fr-CA zh-TW en": "zh-CN", "ja en-GB zh": "en", "fr de": "en", "!! zh": "zh-CN", "": "en"} {
		b := newBrowser()
		u := shop.conf.AuthCodeURL(rand.Text(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oidc.Nonce(rand.Text()),
			oauth2.SetAuthURLParam("ui_locales", uiLocales))
		status, page, hdr := get(b, u)
		if status != 200 || !strings.Contains(page, `<html lang="`+lang+`">`) || hdr.Get("Content-Language") != lang {
			t.Fatalf("ui_locales %q from an English browser: %d %v, want %s\n%.400s", uiLocales, status, hdr, lang, page)
		}
		if lang != "zh-CN" {
			continue
		}
		m := appLinkRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no app link:\n%s", page)
		}
		session, _ := url.QueryUnescape(strings.ReplaceAll(m[1], "&amp;", "&"))
		path := strings.TrimPrefix(session, f.base)
		// The way on without JavaScript keeps the language; the switch
		// names the other.
		if !strings.Contains(page, `href="`+path+`/continue?ui_locales=zh-CN"`) ||
			!strings.Contains(page, `<a id="language" lang="en" hreflang="en" href="`+path+`/page?ui_locales=en">English</a>`) {
			t.Fatalf("the Chinese login page's links:\n%s", page)
		}
		if status, page, _ := get(b, session+"/continue?ui_locales=zh-CN"); status != 200 || !strings.Contains(page, `<h1 id="waiting">等待确认</h1>`) ||
			!strings.Contains(page, `href="`+path+`/continue?ui_locales=en">English</a>`) {
			t.Errorf("the waiting page from the Chinese page: %d\n%s", status, page)
		}
		// The switch: the same session's page, in English.
		status, page, hdr = get(b, session+"/page?ui_locales=en")
		csp := hdr.Get("Content-Security-Policy")
		if status != 200 || !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "<h1>Log in to Web shop-web</h1>") ||
			!strings.Contains(page, `data-uri="`+session+`"`) || !strings.Contains(page, "aged 18 or over") ||
			!strings.Contains(page, `<a id="language" lang="zh-CN" hreflang="zh-CN" href="`+path+`/page?ui_locales=zh-CN">中文</a>`) ||
			!strings.Contains(csp, "script-src 'nonce-") || hdr.Get("Set-Cookie") != "" {
			t.Errorf("the switched page: %d %v\n%s", status, hdr, page)
		}
		// Only for the browser that started the session: another gets
		// the ended page, in the language asked for.
		if status, page, _ := get(newBrowser(), session+"/page?ui_locales=zh-CN"); status != 404 || !strings.Contains(page, `<h1 id="ended">本次登录已结束</h1>`) {
			t.Errorf("the switch in another browser: %d\n%s", status, page)
		}
	}
}

// TestLogoutPages: RP-initiated logout without a post_logout_redirect_uri
// ends on an HTML page (api/openapi.json) under the login pages' headers,
// in the language of ui_locales (RP-Initiated Logout §2) or the browser;
// a refused logout is an HTML page for a browser's navigation, as the
// authorization endpoint's refusals are, and JSON for another client.
func TestLogoutPages(t *testing.T) {
	f := newEnrollFixture(t)
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	a := shop.start(t)
	if status, m := approve(t, a.sessionURL, f.app(alice, ra), ""); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	tok, _ := shop.exchange(t, a, a.code(t, shop, f.base))
	hint := tok.Extra("id_token").(string)
	logout := func(q url.Values, accept, lang string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.base+"/oauth2/logout?"+q.Encode(), nil)
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Language", lang)
		resp, err := newBrowser().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	pageHeaders := func(name string, resp *http.Response, body string) {
		t.Helper()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") ||
			resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			resp.Header.Get("Referrer-Policy") != "no-referrer" || strings.Contains(body, "<script") {
			t.Errorf("%s: %v\n%s", name, resp.Header, body)
		}
	}
	// Refused (an id_token_hint not of this node): a page for a browser,
	// with the logout's words and the error code.
	forged := url.Values{"id_token_hint": {hint[:len(hint)-4] + "AAAA"}}
	resp, body := logout(forged, browser, "zh-CN,zh;q=0.9")
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, `<html lang="zh-CN">`) ||
		!strings.Contains(body, `<h1 id="ended">退出登录未被接受</h1>`) || !strings.Contains(body, "<code>invalid_request</code>") {
		t.Errorf("refused logout, a browser: %d\n%s", resp.StatusCode, body)
	}
	pageHeaders("refused logout", resp, body)
	// An unregistered post_logout_redirect_uri: the login is ended all
	// the same (docs/login.md), only the way back is refused; a browser
	// is told it is logged out and stays, not that the logout failed.
	bad := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example/"}}
	resp, body = logout(bad, browser, "zh-CN,zh;q=0.9")
	if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.Contains(body, `<h1 id="logged-out">您已退出登录</h1>`) ||
		!strings.Contains(body, "请求返回的地址未登记") || strings.Contains(body, "evil.example") {
		t.Errorf("logout with an unregistered return address, a browser: %d\n%s", resp.StatusCode, body)
	}
	pageHeaders("logout without a way back", resp, body)
	// The same refusal to a client that does not prefer HTML: JSON.
	resp, body = logout(bad, "*/*", "")
	if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(body, `"error":"invalid_request"`) {
		t.Errorf("refused logout, another client: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// Logged out: the page in the browser's language, or ui_locales'.
	for _, c := range []struct{ uiLocales, accept, lang, h1 string }{
		{"", "zh-CN,zh;q=0.9", "zh-CN", "您已退出登录"},
		{"", "en-GB", "en", "You are logged out"},
		{"zh-Hans", "en-GB", "zh-CN", "您已退出登录"},
	} {
		q := url.Values{"id_token_hint": {hint}}
		if c.uiLocales != "" {
			q.Set("ui_locales", c.uiLocales)
		}
		resp, body := logout(q, browser, c.accept)
		if resp.StatusCode != 200 || !strings.Contains(body, `<html lang="`+c.lang+`">`) || !strings.Contains(body, `<h1 id="logged-out">`+c.h1+`</h1>`) ||
			resp.Header.Get("Content-Language") != c.lang {
			t.Errorf("logged out, %+v: %d %v\n%s", c, resp.StatusCode, resp.Header, body)
		}
		pageHeaders("logged-out page", resp, body)
	}
}

// TestWaitingPageNoTimedRefresh: the waiting page without JavaScript does
// not reload itself (WCAG 2.x SC 2.2.1 Timing Adjustable, level A; W3C ACT
// rule bc659a, failure technique F41: a reload restarts a screen reader
// or a magnifier at the top of the page, for the elderly users the page
// without JavaScript serves); its link checks again when the person has
// approved.
func TestWaitingPageNoTimedRefresh(t *testing.T) {
	f := newEnrollFixture(t)
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	a := shop.start(t)
	resp, err := a.browser.Get(a.sessionURL + "/continue")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Refresh") != "" {
		t.Fatalf("continue: %d %v %s", resp.StatusCode, resp.Header, page)
	}
	if strings.Contains(strings.ToLower(string(page)), "http-equiv") {
		t.Errorf("the waiting page reloads itself on a timer (WCAG 2.2.1, ACT bc659a):\n%.400s", page)
	}
	if !strings.Contains(string(page), `<a id="continue" class="button" href="`+strings.TrimPrefix(a.sessionURL, f.base)+`/continue?ui_locales=en">I have approved — check again</a>`) {
		t.Errorf("the waiting page has no link to check again:\n%s", page)
	}
}

// startL4WithBystander enrolls alice at L4 (PIN 135790) and carol, the
// bystander, below it (PIN 246810), and starts a login of shop-web asking
// L4, the session on alice's screen.
func startL4WithBystander(t *testing.T) (f *enrollFixture, alice *person, ra enrollResult, carol *person, rc enrollResult, shop *loginRP, a *loginAttempt) {
	t.Helper()
	f = newEnrollFixture(t)
	alice = newPerson(t, "11010519900307123", "张三")
	att, err := f.terminal.Attest(alice.doc, alice.name, alice.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.93}, true)
	if err != nil {
		t.Fatal(err)
	}
	code, ra, m := f.enroll(f.enrollBody(alice, att, "135790", nil))
	if code != 201 || ra.AssuranceLevel != "L4" {
		t.Fatalf("enroll alice: %d %v", code, m)
	}
	carol = newPerson(t, "11010519850101002", "李四")
	code, rc, m = f.enroll(f.enrollBody(carol, "", "246810", nil))
	if code != 201 || rc.AssuranceLevel == "L4" {
		t.Fatalf("enroll carol: %d %s %v", code, rc.AssuranceLevel, m)
	}
	shop = f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	a = shop.start(t, oauth2.SetAuthURLParam("acr_values", "L4"))
	return f, alice, ra, carol, rc, shop, a
}

// TestRefusedAnswerLeavesSessionOpen: an approval or refusal refused (a
// bystander's binding below the level asked, a refusal by a holder who
// could not approve) changes nothing, so the person at the browser still
// approves; a refusal by a holder at the level asked ends the login with
// access_denied.
func TestRefusedAnswerLeavesSessionOpen(t *testing.T) {
	f, alice, ra, carol, rc, shop, a := startL4WithBystander(t)
	// A bystander (carol, below L4) approves, then refuses, the session
	// on alice's screen: both refused.
	if st, m := approve(t, a.sessionURL, f.app(carol, rc), "246810"); st != 403 || m["error"] != "approval_refused" {
		t.Fatalf("bystander's approval: %d %v", st, m)
	}
	if st, m := holderAnswer(t, a.sessionURL, a.sessionURL+"/deny", f.app(carol, rc), nil, nil); st != 403 || m["error"] != "approval_refused" {
		t.Fatalf("bystander's refusal: %d %v", st, m)
	}
	// Alice, the person at the browser, approves.
	if st, m := approve(t, a.sessionURL, f.app(alice, ra), "135790"); st != 204 {
		t.Fatalf("after refused answers, the holder's approval: %d %v", st, m)
	}
	shop.exchange(t, a, a.code(t, shop, f.base))

	// A holder who could approve the session may refuse it.
	a = shop.start(t, oauth2.SetAuthURLParam("acr_values", "L2"))
	if st, m := holderAnswer(t, a.sessionURL, a.sessionURL+"/deny", f.app(carol, rc), nil, nil); st != 204 {
		t.Fatalf("refusal at the level asked: %d %v", st, m)
	}
	if st, m := a.wait(t); st != 200 || !strings.Contains(m["redirect"], "error=access_denied") {
		t.Errorf("after the refusal: %d %v", st, m)
	}
}

// TestLoginChallengeNotSpentByAnOnlineCode: a bystander who reads the
// session URL from the person's screen (the QR) reads its challenge too,
// and signs an online code request over it with their own device
// (POST /v1/qr, 201: a code of their own). The person's approval of the
// session is still taken, and the browser gets its code: the nonce the
// bystander spent is their binding's, for online codes. Before, nonces
// were spent for any binding and purpose, and every approval of the
// session was refused as a reused nonce while it lived.
func TestLoginChallengeNotSpentByAnOnlineCode(t *testing.T) {
	f := newEnrollFixture(t)
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll alice: %d %v", code, m)
	}
	carol := newPerson(t, "11010519850101002", "李四")
	code, rc, m := f.enroll(f.enrollBody(carol, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll carol: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	a := shop.start(t)
	st, nonce := sessionChallenge(t, a.sessionURL)
	if st != 200 {
		t.Fatalf("the login session: %d", st)
	}
	hr := qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: rc.QRBinding, Time: time.Now().Unix(), Nonce: nonce, Region: "310000"}
	if err := qrcode.SignHolderRequest(rand.Reader, carol.device, &hr); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(hr)
	resp, err := http.Post(f.base+"/v1/qr", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("the bystander's online code over the challenge: %d", resp.StatusCode)
	}
	if st, m := approve(t, a.sessionURL, f.app(alice, ra), ""); st != 204 {
		t.Fatalf("the person's approval after the bystander's request: %d %v", st, m)
	}
	shop.exchange(t, a, a.code(t, shop, f.base))
}

// TestRefusedAnswersKeepTheChallenge: a bystander who reads the session
// URL from the person's screen (the QR) and answers it with their own
// binding, below the L4 asked, again and again, before and between the
// person's answers, is refused each time and changes nothing: the
// person's app reads the challenge once, its approval with a mistyped
// PIN is refused, and its approval over the same challenge with the
// right PIN is taken; the browser gets its code. Before, each refused
// answer gave the session a new challenge, and the person's approval was
// refused as not signing it for as long as the bystander kept answering.
func TestRefusedAnswersKeepTheChallenge(t *testing.T) {
	f, alice, ra, carol, rc, shop, a := startL4WithBystander(t)
	st, read := sessionChallenge(t, a.sessionURL)
	if st != 200 {
		t.Fatalf("the login session: %d", st)
	}
	bystander := func() {
		t.Helper()
		for range 3 {
			if st, m := approve(t, a.sessionURL, f.app(carol, rc), "246810"); st != 403 || m["error"] != "approval_refused" {
				t.Fatalf("the bystander's approval: %d %v", st, m)
			}
			if st, m := holderAnswer(t, a.sessionURL, a.sessionURL+"/deny", f.app(carol, rc), nil, nil); st != 403 || m["error"] != "approval_refused" {
				t.Fatalf("the bystander's refusal: %d %v", st, m)
			}
		}
	}
	bystander()
	app := f.app(alice, ra)
	wrongPIN := holderAnswerBody(t, a.sessionURL+"/approve", app, read, nil, map[string]any{"pin_check": pinCheck(t, app, "135791")})
	if st, m := postAnswer(t, a.sessionURL+"/approve", wrongPIN); st != 403 || m["error"] != "approval_refused" || !strings.Contains(m["error_description"].(string), "wrong PIN") {
		t.Fatalf("the person's approval with a mistyped PIN: %d %v", st, m)
	}
	bystander()
	approval := holderAnswerBody(t, a.sessionURL+"/approve", app, read, nil, map[string]any{"pin_check": pinCheck(t, app, "135790")})
	if st, m := postAnswer(t, a.sessionURL+"/approve", approval); st != 204 {
		t.Fatalf("the person's approval over the challenge read before the bystander's answers: %d %v", st, m)
	}
	if st, m := postAnswer(t, a.sessionURL+"/approve", approval); st != 404 || m["error"] != "login_session_not_found" {
		t.Errorf("the approval replayed: %d %v", st, m)
	}
	shop.exchange(t, a, a.code(t, shop, f.base))
}

// TestRefusedPINAnswerSentAgain: an approval refused for its mistyped
// PIN, sent again byte for byte (an app's retry, or a copy someone
// captured), is refused as a device proof already used, and counts no
// PIN attempt: the proof was spent before the PIN was looked at, so
// replaying a refused answer cannot lock the holder out faster than
// their own guesses. The holder's next answer, with a fresh proof, is
// checked as any other: the attempts left are one fewer than after the
// first, and the right PIN approves. Before, the replay was refused as
// "the PIN check failed", which told the app nothing of what to do.
func TestRefusedPINAnswerSentAgain(t *testing.T) {
	f, alice, ra, _, _, shop, a := startL4WithBystander(t)
	app := f.app(alice, ra)
	st, read := sessionChallenge(t, a.sessionURL)
	if st != 200 {
		t.Fatalf("the login session: %d", st)
	}
	wrongPIN := holderAnswerBody(t, a.sessionURL+"/approve", app, read, nil, map[string]any{"pin_check": pinCheck(t, app, "135791")})
	if st, m := postAnswer(t, a.sessionURL+"/approve", wrongPIN); st != 403 || m["error_description"] != "wrong PIN; 4 attempts left" {
		t.Fatalf("a mistyped PIN: %d %v", st, m)
	}
	// As many times as the binding has PIN attempts: counted, they would
	// lock it.
	for range 5 {
		st, m := postAnswer(t, a.sessionURL+"/approve", wrongPIN)
		if desc, _ := m["error_description"].(string); st != 403 || m["error"] != "approval_refused" || !strings.HasPrefix(desc, "the PIN check's device proof was already used") {
			t.Fatalf("the refused answer sent again: %d %v", st, m)
		}
	}
	again := holderAnswerBody(t, a.sessionURL+"/approve", app, read, nil, map[string]any{"pin_check": pinCheck(t, app, "135792")})
	if st, m := postAnswer(t, a.sessionURL+"/approve", again); st != 403 || m["error_description"] != "wrong PIN; 3 attempts left" {
		t.Fatalf("a second mistyped PIN, after the replays: %d %v", st, m)
	}
	if st, m := approve(t, a.sessionURL, app, "135790"); st != 204 {
		t.Fatalf("the right PIN: %d %v", st, m)
	}
	shop.exchange(t, a, a.code(t, shop, f.base))
}

// TestLoginAnswerPurposes: the holder request of an approval, of a
// refusal and of an online code each name their purpose under the
// device's signature, and each endpoint takes only its own: a login
// approval (as a phishing host would relay it) is not an online code
// request at POST /v1/qr, a refusal is not an approval and an approval
// not a refusal; the session stays open for the real answer.
func TestLoginAnswerPurposes(t *testing.T) {
	f := newEnrollFixture(t)
	w, _ := f.walletHolder(t, "11010519900307123", "张三", "135790")
	// The wallet's approval of a challenge, posted to /v1/qr.
	body, err := w.LoginApproval("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "age_over_18", "")
	if err != nil {
		t.Fatal(err)
	}
	var approval struct {
		Request json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(body, &approval); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(f.base+"/v1/qr", "application/json", bytes.NewReader(approval.Request))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 403 || m["error"] != "qr_holder_unauthorized" || m["code"] != nil || resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("a login approval at POST /v1/qr: %d %v", resp.StatusCode, m)
	}
	// The wallet's own online code request still works.
	if online, err := w.RequestOnlineCode("age_over_18"); err != nil || !strings.HasPrefix(online, "TIDON1:") {
		t.Errorf("online code: %.12q %v", online, err)
	}

	bob := newPerson(t, "11010519850101002", "李四")
	code, rb, m2 := f.enroll(f.enrollBody(bob, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll bob: %d %v", code, m2)
	}
	app := f.app(bob, rb)
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	a := shop.start(t)
	// A request signed for one answer, posted as the other.
	for _, c := range []struct{ signed, target string }{{"/deny", "/approve"}, {"/approve", "/deny"}} {
		if st, m := crossAnswer(t, a.sessionURL, a.sessionURL+c.signed, a.sessionURL+c.target, app); st != 403 || m["error"] != "approval_refused" {
			t.Errorf("signed for %s, posted to %s: %d %v", c.signed, c.target, st, m)
		}
	}
	if st, m := approve(t, a.sessionURL, app, ""); st != 204 {
		t.Fatalf("approve: %d %v", st, m)
	}
	shop.exchange(t, a, a.code(t, shop, f.base))
}

// crossAnswer signs the session's answer for signedFor (its approve or
// deny), as holderAnswer does, and posts it to target instead.
func crossAnswer(t *testing.T, sessionURL, signedFor, target string, h holderApp) (int, map[string]any) {
	t.Helper()
	var body []byte
	relay := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		rw.WriteHeader(204)
	}))
	defer relay.Close()
	holderAnswer(t, sessionURL, relay.URL+signedFor[len(sessionURL):], h, nil, nil)
	resp, err := http.Post(target, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestRevokeLoginTokens: RFC 7009 §2 "Implementations MUST support the
// revocation of refresh tokens and SHOULD support the revocation of
// access tokens". A relying party that logs its user out by revoking the
// refresh token ends the login: the token no longer refreshes, and the
// login's access token no longer works at userinfo (§2.1); an access
// token revoked alone stops at once, its refresh token still refreshes.
// Introspection (RFC 7662) shows a live login access token to its client
// as active with its members, to another client as inactive, and to no
// one once revoked; another client's revocation is refused
// (unauthorized_client, §2.1) and revokes nothing.
func TestRevokeLoginTokens(t *testing.T) {
	f := newEnrollFixture(t)
	ctx := context.Background()
	bob := newPerson(t, "11010519850101002", "李四")
	code, rb, m := f.enroll(f.enrollBody(bob, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll bob: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	other := f.addLoginRP("other-web", "other.example", "--id-token-alg", "ES256")
	login := func() (*oauth2.Token, *oidc.IDToken) {
		t.Helper()
		a := shop.start(t)
		if st, m := approve(t, a.sessionURL, f.app(bob, rb), ""); st != 204 {
			t.Fatalf("approve: %d %v", st, m)
		}
		tok, idt := shop.exchange(t, a, a.code(t, shop, f.base))
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		return tok, idt
	}
	revokeAs := func(rp *loginRP, tok, hint string, want int) {
		t.Helper()
		form := url.Values{"token": {tok}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		if st, m := rp.post(t, f.base, "/oauth2/revoke", form); st != want || want != 200 && m["error"] != "unauthorized_client" {
			t.Fatalf("revoke: %d %v, want %d", st, m, want)
		}
	}
	revoke := func(rp *loginRP, tok, hint string) { t.Helper(); revokeAs(rp, tok, hint, 200) }
	introspect := func(rp *loginRP, tok string) map[string]any {
		t.Helper()
		st, m := rp.post(t, f.base, "/oauth2/introspect", url.Values{"token": {tok}})
		if st != 200 {
			t.Fatalf("introspect: %d %v", st, m)
		}
		return m
	}
	inactive := func(m map[string]any) bool { return len(m) == 1 && m["active"] == false }
	works := func(tok *oauth2.Token) bool {
		_, err := shop.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		return err == nil
	}

	tok, idt := login()
	now := float64(time.Now().Unix())
	m = introspect(shop, tok.AccessToken)
	if m["active"] != true || m["client_id"] != "shop-web" || m["sub"] != idt.Subject || m["token_type"] != "Bearer" ||
		m["iss"] != f.base || m["aud"] != f.base || !strings.Contains(m["scope"].(string), "openid") ||
		m["exp"].(float64) < now || m["exp"].(float64) > now+600 || m["exp"].(float64)-m["iat"].(float64) != 600 {
		t.Errorf("introspection of a live access token: %v", m)
	}
	if m = introspect(shop, tok.RefreshToken); m["active"] != true || m["client_id"] != "shop-web" || m["token_type"] != nil {
		t.Errorf("introspection of a live refresh token: %v", m)
	}
	for _, tk := range []string{tok.AccessToken, tok.RefreshToken} {
		if m := introspect(other, tk); !inactive(m) {
			t.Errorf("another client introspects: %v", m)
		}
		revokeAs(other, tk, "", 400)
	}
	if !works(tok) || !introspect(shop, tok.AccessToken)["active"].(bool) {
		t.Fatal("another client's revocation revoked the login")
	}

	// The access token alone.
	revoke(shop, tok.AccessToken, "access_token")
	if works(tok) {
		t.Error("a revoked access token works at userinfo")
	}
	req, _ := http.NewRequest("GET", f.base+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="trustid", error="invalid_token", error_description="the access token is invalid or expired"` {
		t.Errorf("userinfo with a revoked access token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if m := introspect(shop, tok.AccessToken); !inactive(m) {
		t.Errorf("introspection of a revoked access token: %v", m)
	}
	fresh, err := shop.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh after its access token was revoked: %v", err)
	}

	// The refresh token: the login ends.
	revoke(shop, fresh.RefreshToken, "refresh_token")
	if _, err := shop.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("a revoked refresh token refreshes: %v", err)
	}
	if works(fresh) {
		t.Error("the access token of a revoked refresh token works at userinfo")
	}
	for _, tk := range []string{fresh.AccessToken, fresh.RefreshToken, tok.RefreshToken} {
		if m := introspect(shop, tk); !inactive(m) {
			t.Errorf("introspection after revocation: %v", m)
		}
	}
}

// TestIssInAuthorizationErrors: RFC 9207 §2 "In authorization responses
// to the client, including error responses, an authorization server
// supporting this specification MUST indicate its identity by including
// the iss parameter"; §2.3 "The server MUST indicate its support ... by
// setting ... authorization_response_iss_parameter_supported ... to
// true". Both metadata documents say so, and keep every member of the
// authorization server metadata (RFC 8414 §2: a missing
// *_auth_methods_supported means client_secret_basic only).
func TestIssInAuthorizationErrors(t *testing.T) {
	f := newEnrollFixture(t)
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	noOpenID := shop.conf
	noOpenID.Scopes = []string{"age_over_18"}
	pkce := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())
	for _, c := range []struct{ url, code string }{
		{shop.conf.AuthCodeURL("st", oauth2.SetAuthURLParam("prompt", "none"), pkce), "login_required"},
		{noOpenID.AuthCodeURL("st", pkce), "invalid_scope"},
		{shop.conf.AuthCodeURL("st"), "invalid_request"},
	} {
		resp, err := newBrowser().Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || loc.Query().Get("error") != c.code || loc.Query().Get("state") != "st" {
			t.Fatalf("%s: %d %s", c.code, resp.StatusCode, loc)
		}
		if loc.Query().Get("iss") != f.base {
			t.Errorf("%s: error redirect without iss: %s", c.code, loc)
		}
	}
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		_, body := get(t, f.base+p)
		for _, want := range []string{`"authorization_response_iss_parameter_supported":true`,
			`"introspection_endpoint_auth_methods_supported":["private_key_jwt","client_secret_basic"]`,
			`"revocation_endpoint_auth_methods_supported":["private_key_jwt","client_secret_basic"]`,
			`"introspection_endpoint_auth_signing_alg_values_supported":["SM2","ES256"]`,
			`"revocation_endpoint_auth_signing_alg_values_supported":["SM2","ES256"]`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %s", p, want)
			}
		}
	}
}

// sessionExpiry is a login session's expiry as the holder's app reads it
// (GET /login/sessions/{id}).
func sessionExpiry(t *testing.T, sessionURL string) time.Time {
	t.Helper()
	resp, err := http.Get(sessionURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("describe %s: %d %v", sessionURL, resp.StatusCode, err)
	}
	return r.ExpiresAt
}

// TestLoginExtend: POST /login/sessions/{id}/extend on a real node gives
// the session of the browser holding its cookie a whole lifetime again
// ({"expires_in", "extendable"}), and nothing to another browser (404);
// once the phone has approved, it extends nothing (404), and the form of
// a page without JavaScript gets the waiting page saying the phone has
// answered, which goes on at once to continue and so collects the code.
// Before, that page was a 404 that stayed, its link to be found.
func TestLoginExtend(t *testing.T) {
	f := newEnrollFixture(t)
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	a := shop.start(t)
	extend := func(c *http.Client, accept string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", a.sessionURL+"/extend?ui_locales=en", nil)
		req.Header.Set("Accept", accept)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	before := sessionExpiry(t, a.sessionURL)
	if status, body := extend(newBrowser(), "application/json"); status != 404 || !strings.Contains(body, "login_session_not_found") {
		t.Errorf("another browser: %d %s", status, body)
	}
	time.Sleep(time.Second) // a new expiry, in whole seconds
	status, body := extend(a.browser, "application/json")
	var out struct {
		ExpiresIn  int  `json:"expires_in"`
		Extendable bool `json:"extendable"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || status != 200 || out.ExpiresIn < 119 || !out.Extendable {
		t.Fatalf("extend: %d %s", status, body)
	}
	if after := sessionExpiry(t, a.sessionURL); !after.After(before) {
		t.Errorf("the session ends at %v after the extension, %v before", after, before)
	}
	if status, m := approve(t, a.sessionURL, f.app(alice, ra), ""); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	if status, body := extend(a.browser, "application/json"); status != 404 || !strings.Contains(body, "login_session_not_found") {
		t.Errorf("an approved session: %d %s", status, body)
	}
	// The form pressed after the approval collects it, as the poll
	// would: the page goes on to continue at once.
	status, body = extend(a.browser, "text/html")
	moveOn := moveOnRE.FindStringSubmatch(body)
	if status != 200 || moveOn == nil || html.UnescapeString(moveOn[1]) != strings.TrimPrefix(a.sessionURL, f.base)+"/continue?ui_locales=en" ||
		!strings.Contains(body, `<p id="notice" role="status">Your phone has already answered this login.`) {
		t.Fatalf("the form of an approved session: %d, moving on to %v, want %s/continue\n%s", status, moveOn, a.sessionURL, body)
	}
	resp, err := a.browser.Get(f.base + html.UnescapeString(moveOn[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 303 || loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != a.state {
		t.Fatalf("continue after the answered form: %d %v", resp.StatusCode, resp.Header)
	}
	shop.exchange(t, a, loc.Query().Get("code"))
}

// TestLoginEndsWithBindingRevocation: a phone reported lost ends the
// logins it approved, as it ends its online codes (docs/SECURITY.md, "A
// stolen phone"): once the enrolling client revokes the phone's binding
// credential, the relying party's refresh token of a login the phone
// approved gets invalid_grant (RFC 6749 §5.2), its access token is
// refused at userinfo, both are inactive at introspection, and a login
// code the phone's approval gave before the revocation no longer
// redeems. Suspending does the same until the binding is reinstated.
func TestLoginEndsWithBindingRevocation(t *testing.T) {
	f := newEnrollFixture(t)
	ctx := context.Background()
	bob := newPerson(t, "11010519850101002", "李四")
	code, rb, m := f.enroll(f.enrollBody(bob, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll bob: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	setBinding := func(action string) {
		t.Helper()
		sb, _ := json.Marshal(map[string]string{"action": action})
		if c, m, _ := f.do("POST", "/v1/credentials/"+rb.BindingCredential.ID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
			t.Fatalf("%s the binding: %d %v", action, c, m)
		}
	}
	refresh := func(tok string) (int, map[string]any) {
		return shop.post(t, f.base, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}})
	}
	active := func(tok string) bool {
		t.Helper()
		st, m := shop.post(t, f.base, "/oauth2/introspect", url.Values{"token": {tok}})
		if st != 200 {
			t.Fatalf("introspect: %d %v", st, m)
		}
		return m["active"] == true
	}
	works := func(tok *oauth2.Token) bool {
		_, err := shop.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		return err == nil
	}
	a := shop.start(t)
	if st, m := approve(t, a.sessionURL, f.app(bob, rb), ""); st != 204 {
		t.Fatalf("approve: %d %v", st, m)
	}
	tok, _ := shop.exchange(t, a, a.code(t, shop, f.base))
	if tok.RefreshToken == "" || !works(tok) || !active(tok.AccessToken) || !active(tok.RefreshToken) {
		t.Fatal("a live login does not work")
	}

	setBinding("suspend")
	if st, m := refresh(tok.RefreshToken); st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("refresh with a suspended binding: %d %v", st, m)
	}
	if works(tok) || active(tok.AccessToken) || active(tok.RefreshToken) {
		t.Error("a login of a suspended binding still works")
	}
	setBinding("reinstate")
	st, m := refresh(tok.RefreshToken)
	if st != 200 {
		t.Fatalf("refresh with the binding reinstated: %d %v", st, m)
	}
	tok = &oauth2.Token{AccessToken: m["access_token"].(string), RefreshToken: m["refresh_token"].(string), TokenType: "Bearer"}

	// An approval given just before the loss is reported: its code is
	// refused once the binding is revoked.
	pending := shop.start(t)
	if st, m := approve(t, pending.sessionURL, f.app(bob, rb), ""); st != 204 {
		t.Fatalf("approve: %d %v", st, m)
	}
	pendingCode := pending.code(t, shop, f.base)

	setBinding("revoke")
	if st, m := refresh(tok.RefreshToken); st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("refresh with a revoked binding: %d %v", st, m)
	}
	if works(tok) || active(tok.AccessToken) || active(tok.RefreshToken) {
		t.Error("a login of a revoked binding still works")
	}
	if _, err := shop.conf.Exchange(ctx, pendingCode, oauth2.VerifierOption(pending.pkce)); err == nil {
		t.Error("a code the revoked binding's approval gave still redeems")
	}
}

// storeKey is the key under which the node whose data directory is dir
// (region 310000) keeps key in its Redis store: the digest of key under
// the node's store-key secret.
func storeKey(t *testing.T, dir, key string) string {
	t.Helper()
	ks, err := keystore.Open(filepath.Join(dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := nodeSecret(ks, storeKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	k, err := store.NewKeyer("trustid:310000:", secret.Value())
	if err != nil {
		t.Fatal(err)
	}
	return k.Key(store.NamespaceKV, key)
}
