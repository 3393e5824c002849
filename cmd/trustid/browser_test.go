package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/testbrowser"
	"github.com/trustid-cn/trustid/webui"
)

// webRP is a relying party website: /login sends the browser to the
// node's authorization endpoint, /callback exchanges the code with go-oidc
// and x/oauth2 and greets the user with the pairwise sub.
type webRP struct {
	srv      *httptest.Server
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier

	mu      sync.Mutex
	pending map[string][2]string // state → PKCE verifier, nonce
	subs    []string             // the subjects logged in
	errs    []string
}

func (f *enrollFixture) startWebRP(id, sector string) *webRP {
	f.t.Helper()
	rp := &webRP{pending: map[string][2]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", rp.login)
	mux.HandleFunc("GET /callback", rp.callback)
	rp.srv = httptest.NewServer(mux)
	f.t.Cleanup(rp.srv.Close)
	redirect := rp.srv.URL + "/callback"
	out := f.cli("clients", "add", "--id", id, "--name", "Web "+id, "--region", "310000", "--scopes", "qr:redeem",
		"--grant-types", "authorization_code", "--redirect-uri", redirect, "--sector", sector, "--claims", "age_over_18",
		"--id-token-alg", "ES256", "--secret")
	m := clientSecretRE.FindStringSubmatch(out)
	if m == nil {
		f.t.Fatalf("no client_secret in %s", out)
	}
	provider, err := oidc.NewProvider(context.Background(), f.base)
	if err != nil {
		f.t.Fatal(err)
	}
	rp.verifier = provider.Verifier(&oidc.Config{ClientID: id})
	rp.conf = oauth2.Config{ClientID: id, ClientSecret: m[1], Endpoint: provider.Endpoint(), RedirectURL: redirect,
		Scopes: []string{oidc.ScopeOpenID, "age_over_18"}}
	return rp
}

func (rp *webRP) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, pkce := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = [2]string{pkce, nonce}
	rp.mu.Unlock()
	http.Redirect(w, r, rp.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(pkce), oidc.Nonce(nonce)), http.StatusFound)
}

func (rp *webRP) callback(w http.ResponseWriter, r *http.Request) {
	sub, err := rp.finish(r)
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if err != nil {
		rp.errs = append(rp.errs, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rp.subs = append(rp.subs, sub)
	fmt.Fprintf(w, `<!doctype html><title>Shop</title><p>Welcome, <span id="who">%s</span></p>`, html.EscapeString(sub))
}

// finish checks state and iss, redeems the code with its PKCE verifier and
// verifies the ID token and its nonce with go-oidc.
func (rp *webRP) finish(r *http.Request) (string, error) {
	q := r.URL.Query()
	rp.mu.Lock()
	p, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	rp.mu.Unlock()
	if !ok || q.Get("code") == "" {
		return "", fmt.Errorf("callback without a known state or a code: %v", q)
	}
	tok, err := rp.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p[0]))
	if err != nil {
		return "", fmt.Errorf("exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(r.Context(), raw)
	if err != nil {
		return "", fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != p[1] {
		return "", fmt.Errorf("nonce %q", idt.Nonce)
	}
	return idt.Subject, nil
}

// netLog records what a tab asks of the network.
type netLog struct {
	mu       sync.Mutex
	requests []string            // URLs, in order
	csp      map[string]string   // document URL → its Content-Security-Policy header
	failed   []string            // requests that failed: the error and any blocking reason
	waiting  map[string]struct{} // long polls sent and not yet answered, by request ID
	blocked  int                 // requests the test's block list stopped
}

func watchNetwork(t *testing.T, ctx context.Context) *netLog {
	t.Helper()
	n := &netLog{csp: map[string]string{}, waiting: map[string]struct{}{}}
	err := chromedp.Listen(ctx, func(ev any) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			n.requests = append(n.requests, ev.Request.URL)
			if strings.HasSuffix(ev.Request.URL, "/wait") {
				n.waiting[string(ev.RequestID)] = struct{}{}
			}
		case *network.EventResponseReceived:
			delete(n.waiting, string(ev.RequestID))
			if ev.Type == network.ResourceTypeDocument {
				for k, v := range ev.Response.Headers {
					if strings.EqualFold(k, "Content-Security-Policy") {
						n.csp[ev.Response.URL], _ = v.(string)
					}
				}
			}
		case *network.EventLoadingFailed:
			delete(n.waiting, string(ev.RequestID))
			n.failed = append(n.failed, ev.ErrorText+" "+string(ev.BlockedReason))
			if ev.BlockedReason != "" {
				n.blocked++
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every page reports its CSP violations into a list the test reads
	// (a script the browser adds, not subject to the page's CSP).
	_, err = chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.cspViolations = []; document.addEventListener("securitypolicyviolation", function (e) { window.cspViolations.push(e.violatedDirective + " " + e.blockedURI); });`,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pollWaiting is how many long polls the page has open.
func (n *netLog) pollWaiting() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.waiting)
}

// TestBrowserScanToLogin drives a real headless Chromium through the login
// page: a relying party website sends it to the node, the page shows the
// login QR and long-polls, the holder's phone approves with its device
// key, and the page takes the browser to the party's callback, where the
// party redeems the code with go-oidc. The page loads nothing but itself
// and the QR script (it draws the QR from the session URL, which the test
// decodes from the pixels with jsQR) and violates its own strict CSP in nothing; a
// second browser without the session's cookie cannot collect the code,
// even while it waits uncollected. Screenshots go to the test's artifact
// directory (go test -artifacts keeps them).
func TestBrowserScanToLogin(t *testing.T) {
	browser := testbrowser.New(t)
	f := newEnrollFixture(t)
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	phone := f.app(alice, ra)
	rp := f.startWebRP("shop-web", "shopweb.example")
	shot := func(ctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	netlog := watchNetwork(t, ctx)

	// The browser starts at the party, lands on the login page, which
	// shows the QR and starts waiting.
	if err := chromedp.Do(ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
		t.Fatal(err)
	}
	sessionURL := loginPageSession(t, ctx)
	testbrowser.CheckA11y(t, ctx, "login page")
	shot(ctx, "login-page.png")
	waitFor(t, func() bool { return netlog.pollWaiting() == 1 }, "the page's long poll")
	// The poll is a long one: still open a moment later.
	time.Sleep(500 * time.Millisecond)
	if netlog.pollWaiting() != 1 {
		t.Fatal("the page's poll did not stay open")
	}

	// The phone approves; the open poll answers and the browser follows
	// it to the party, which redeems the code.
	approved := time.Now()
	if status, m := approve(t, sessionURL, phone, "", "age_over_18"); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who")))
	if err != nil {
		t.Fatalf("the browser did not land at the party: %v (party errors %v)", err, rp.errs)
	}
	// The poll open before the approval brought the code: one poll in all.
	netlog.mu.Lock()
	polls := 0
	for _, u := range netlog.requests {
		if strings.HasSuffix(u, "/wait") {
			polls++
		}
	}
	netlog.mu.Unlock()
	if polls != 1 {
		t.Errorf("the page polled %d times, want one long poll", polls)
	}
	t.Logf("from the approval to the party's page: %v", time.Since(approved))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	shot(ctx, "logged-in.png")
	rp.mu.Lock()
	if len(rp.subs) != 1 || rp.subs[0] != who || len(rp.errs) != 0 {
		t.Errorf("party: subs %v, errors %v; page shows %q", rp.subs, rp.errs, who)
	}
	rp.mu.Unlock()
	if !strings.HasPrefix(loc, rp.conf.RedirectURL+"?") || !strings.Contains(loc, "iss="+url.QueryEscape(f.base)) {
		t.Errorf("landed at %s", loc)
	}

	// Nothing outside the node and the party was asked for (the QR is
	// drawn in the page: Chromium reports its data: URL as a request), the
	// page's CSP is the strict one, and nothing broke it.
	netlog.mu.Lock()
	for _, u := range netlog.requests {
		if !strings.HasPrefix(u, f.base+"/") && !strings.HasPrefix(u, rp.srv.URL+"/") && !strings.HasPrefix(u, "data:image/gif;") {
			t.Errorf("the browser asked for %s", u)
		}
	}
	if len(netlog.failed) != 0 {
		t.Errorf("requests failed: %v", netlog.failed)
	}
	var csp string
	for doc, c := range netlog.csp {
		if strings.HasPrefix(doc, f.base+"/oauth2/authorize?") {
			csp = c
		}
	}
	netlog.mu.Unlock()
	for _, want := range []string{"default-src 'none'", "script-src 'nonce-", "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("login page CSP %q lacks %q", csp, want)
		}
	}

	// A second login, and a second browser that learned the session URL
	// (from the QR over a shoulder). The first browser's polls are held
	// back until the approval is in, so the code waits uncollected; the
	// second browser cannot collect it, with no cookie or a made-up one.
	block := func(on bool) {
		t.Helper()
		p := network.SetBlockedURLsParams{}
		if on {
			p.URLPatterns = []*network.BlockPattern{{URLPattern: f.base + "/login/sessions/*/wait", Block: true}}
		}
		if _, err := chromedp.Call(ctx, network.SetBlockedURLs, p); err != nil {
			t.Fatal(err)
		}
	}
	block(true)
	if err := chromedp.Do(ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
		t.Fatal(err)
	}
	session2 := loginPageSession(t, ctx)
	waitFor(t, func() bool { netlog.mu.Lock(); defer netlog.mu.Unlock(); return netlog.blocked > 0 }, "a blocked poll")
	if status, m := approve(t, session2, phone, ""); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	thief := testbrowser.New(t)
	thiefCtx, cancelThief := context.WithTimeout(thief, 15*time.Second)
	defer cancelThief()
	if err := chromedp.Do(thiefCtx, chromedp.Navigate(f.base+"/.well-known/openid-configuration")); err != nil {
		t.Fatal(err)
	}
	sessionPath := strings.TrimPrefix(session2, f.base)
	steal := func() (int, string) {
		t.Helper()
		r, err := chromedp.Run(thiefCtx, chromedp.Evaluate[[]any](
			`fetch(`+jsString(sessionPath+"/wait")+`, {credentials: "same-origin"}).then(r => r.text().then(b => [r.status, b]))`,
			chromedp.EvalAwaitPromise))
		if err != nil || len(r) != 2 {
			t.Fatalf("the thief's fetch: %v %v", r, err)
		}
		status, _ := r[0].(float64)
		body, _ := r[1].(string)
		return int(status), body
	}
	if status, body := steal(); status != 404 || strings.Contains(body, "code=") {
		t.Errorf("a browser without the cookie: %d %s", status, body)
	}
	if r, err := chromedp.Run(thiefCtx, chromedp.Evaluate[float64](`fetch(`+jsString(sessionPath+"/qr.png")+`).then(r => r.status)`,
		chromedp.EvalAwaitPromise)); err != nil || r != 404 {
		t.Errorf("the session's PNG for a browser without the cookie: %v %v", r, err)
	}
	if _, err := chromedp.Run(thiefCtx, chromedp.Evaluate[string](
		`document.cookie = "tid_login=`+rand.Text()+rand.Text()+`; path=`+sessionPath+`"`)); err != nil {
		t.Fatal(err)
	}
	if status, body := steal(); status != 404 || strings.Contains(body, "code=") {
		t.Errorf("a browser with a made-up cookie: %d %s", status, body)
	}
	// The holder's browser still gets its code: its retry follows.
	block(false)
	if _, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who"))); err != nil {
		t.Fatalf("the holder's browser did not land at the party after the thief's tries: %v (party errors %v)", err, rp.errs)
	}
	rp.mu.Lock()
	if len(rp.subs) != 2 || rp.subs[1] != rp.subs[0] {
		t.Errorf("party: subs %v, errors %v", rp.subs, rp.errs)
	}
	rp.mu.Unlock()
	netlog.mu.Lock()
	for _, u := range netlog.requests {
		if strings.HasSuffix(u, "/qr.png") {
			t.Errorf("a page with JavaScript fetched the PNG QR: %s", u)
		}
	}
	netlog.mu.Unlock()

	// Without JavaScript the page shows the node's PNG of the session
	// (its <noscript> image), which a QR reader decodes to a session URL.
	noJS, cancelNoJS := chromedp.NewContext(browser)
	defer cancelNoJS()
	noJS, cancelNoJSTimeout := context.WithTimeout(noJS, 15*time.Second)
	defer cancelNoJSTimeout()
	if _, err := chromedp.Call(noJS, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(noJS, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr-png"))); err != nil {
		t.Fatal(err)
	}
	testbrowser.CheckA11yNoScript(t, noJS, "login page without JavaScript")
	png, err := chromedp.Run(noJS, chromedp.Screenshot(chromedp.ID("qr-png")))
	if err != nil {
		t.Fatal(err)
	}
	pngFile := filepath.Join(t.ArtifactDir(), "login-page-noscript-qr.png")
	if err := os.WriteFile(pngFile, png, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := scanImage(pngFile)
	if err != nil || !strings.HasPrefix(got, f.base+"/login/sessions/") || got == session2 {
		t.Fatalf("the page without JavaScript shows a QR of %q (%v)", got, err)
	}

	// Without JavaScript the page's link continues: a holder enrolled
	// with the wallet SDK scans and approves, the browser follows the
	// link and lands at the party with its code.
	bob, _ := f.walletHolder(t, "11010519750612008", "李四", "")
	approveWallet := func(sessionURL string) {
		t.Helper()
		lr, err := bob.DescribeLogin(sessionURL)
		if err != nil {
			t.Fatal(err)
		}
		if err := bob.ApproveLogin(sessionURL, lr.Challenge, "age_over_18", ""); err != nil {
			t.Fatal(err)
		}
	}
	approveWallet(got)
	// The link alone is no way in: a browser without the cookie gets 404.
	if resp, err := http.Get(got + "/continue"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("continue without the session's cookie: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if err := chromedp.Do(noJS, chromedp.Click(chromedp.ID("continue"))); err != nil {
		t.Fatal(err)
	}
	who3, err := chromedp.Run(noJS, chromedp.Text(chromedp.ID("who")))
	if err != nil {
		t.Fatalf("the browser without JavaScript did not land at the party: %v (party errors %v)", err, rp.errs)
	}
	shot(noJS, "logged-in-noscript.png")
	// The finished session's link again: a page saying the login ended.
	if err := chromedp.Do(noJS, chromedp.Navigate(got+"/continue"), chromedp.WaitVisible(chromedp.ID("ended"))); err != nil {
		t.Fatalf("the finished session's continue page: %v", err)
	}
	if ended, err := chromedp.Run(noJS, chromedp.Text(chromedp.ID("ended"))); err != nil || ended != "This login has ended" {
		t.Fatalf("the finished session's continue page says %q (%v)", ended, err)
	}
	testbrowser.CheckA11yNoScript(t, noJS, "login ended page")
	shot(noJS, "login-ended-noscript.png")

	// Continuing before the approval shows the waiting page (the QR and
	// the link to check again, under a CSP without scripts), which stays
	// as it is until the person, having approved, checks again.
	if err := chromedp.Do(noJS, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr-png")),
		chromedp.Click(chromedp.ID("continue")), chromedp.WaitVisible(chromedp.ID("waiting"))); err != nil {
		t.Fatal(err)
	}
	loc, _ = chromedp.Run(noJS, chromedp.Location())
	session4 := strings.TrimSuffix(loc, "/continue?ui_locales=en")
	if !strings.HasPrefix(loc, f.base+"/login/sessions/") || !strings.HasSuffix(loc, "/continue?ui_locales=en") || session4 == got {
		t.Fatalf("the waiting page is at %s", loc)
	}
	png, err = chromedp.Run(noJS, chromedp.Screenshot(chromedp.ID("qr-png")))
	if err != nil {
		t.Fatal(err)
	}
	pngFile = filepath.Join(t.ArtifactDir(), "waiting-page-qr.png")
	if err := os.WriteFile(pngFile, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if scanned, err := scanImage(pngFile); err != nil || scanned != session4 {
		t.Fatalf("the waiting page shows a QR of %q (%v), want %s", scanned, err, session4)
	}
	testbrowser.CheckA11yNoScript(t, noJS, "login waiting page")
	shot(noJS, "waiting-noscript.png")
	approveWallet(session4)
	time.Sleep(500 * time.Millisecond)
	if again, err := chromedp.Run(noJS, chromedp.Location()); err != nil || again != loc {
		t.Fatalf("the waiting page moved by itself, to %s (%v)", again, err)
	}
	if err := chromedp.Do(noJS, chromedp.Click(chromedp.ID("continue"))); err != nil {
		t.Fatal(err)
	}
	who4, err := chromedp.Run(noJS, chromedp.Text(chromedp.ID("who")))
	if err != nil {
		t.Fatalf("the waiting page did not land at the party: %v (party errors %v)", err, rp.errs)
	}
	rp.mu.Lock()
	if len(rp.subs) != 4 || who3 != rp.subs[2] || who4 != rp.subs[3] || who3 != who4 || who3 == rp.subs[0] || len(rp.errs) != 0 {
		t.Errorf("party: subs %v, errors %v; pages show %q, %q", rp.subs, rp.errs, who3, who4)
	}
	rp.mu.Unlock()
}

// loginPageSession checks the login page in the tab: its script drew
// the QR, which the vendored jsQR (injected by the test, not the page)
// decodes from the image's pixels to the session URL the app link names,
// and the page broke no CSP rule. It returns the decoded session URL
// (what the phone reads from the QR).
func loginPageSession(t *testing.T, ctx context.Context) string {
	t.Helper()
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("app"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	link, err := url.Parse(href.Value)
	if err != nil || link.Scheme != "trustid" {
		t.Fatalf("app link %q", href.Value)
	}
	jsqr, err := fs.ReadFile(webui.Files(), "jsqr.js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](string(jsqr)+"\n;typeof jsQR === \"function\"")); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`new Promise((done, fail) => {
  const q = document.getElementById("qr");
  const read = () => {
    const c = document.createElement("canvas");
    c.width = q.naturalWidth; c.height = q.naturalHeight;
    const g = c.getContext("2d");
    g.drawImage(q, 0, 0);
    const code = jsQR(g.getImageData(0, 0, c.width, c.height).data, c.width, c.height);
    done({text: code ? code.data : "", version: code ? code.version : 0, src: q.src.slice(0, 22), width: c.width, violations: window.cspViolations});
  };
  if (q.complete && q.naturalWidth > 0) { read(); } else { q.addEventListener("load", read); q.addEventListener("error", () => fail("the QR image did not load")); }
})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := res["violations"].([]any); len(v) != 0 {
		t.Errorf("CSP violations on the login page: %v", v)
	}
	// The page drew the QR itself (a GIF data: URL from qrcode-generator),
	// not the node's PNG.
	if src, _ := res["src"].(string); src != "data:image/gif;base64," {
		t.Errorf("the QR image is %q, not drawn by the page", src)
	}
	text, _ := res["text"].(string)
	if text == "" || text != link.Query().Get("session") {
		t.Fatalf("jsQR read %q from the page's QR (%v px, version %v); the app link names %q", text, res["width"], res["version"], link.Query().Get("session"))
	}
	return text
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestBrowserLoginPollRetries: the login page's poll rides out a node
// unavailable for a while (503 temporarily_unavailable, as during a Redis
// restart) and a rate limit (429), waiting at least their Retry-After,
// and still follows the approval to the party; only a real refusal (the
// session ended: 404) stops it, saying the login expired. The answers
// are the browser's own (DevTools Fetch interception): the node's long
// polls are not touched.
func TestBrowserLoginPollRetries(t *testing.T) {
	browser := testbrowser.New(t)
	f := newEnrollFixture(t)
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	rp := f.startWebRP("shop-web", "shopweb.example")
	ctx, cancel := context.WithTimeout(browser, 40*time.Second)
	defer cancel()
	netlog := watchNetwork(t, ctx)

	// answers are the statuses the intercepted polls get, in order; a
	// 0 lets the poll through to the node.
	var (
		mu      sync.Mutex
		answers []int
		polls   []time.Time
	)
	err := chromedp.Listen(ctx, func(ev any) {
		p, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		mu.Lock()
		polls = append(polls, time.Now())
		status := 0
		if len(answers) > 0 {
			status, answers = answers[0], answers[1:]
		}
		mu.Unlock()
		go func() {
			if status == 0 {
				chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: p.RequestID})
				return
			}
			code := map[int]string{503: "temporarily_unavailable", 429: "rate_limited", 404: "session_not_found"}[status]
			chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: p.RequestID, ResponseCode: int64(status),
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}, {Name: "Retry-After", Value: "1"}},
				Body:            []byte(`{"error":"` + code + `","error_description":"test"}`)})
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	answer := func(statuses ...int) {
		mu.Lock()
		answers, polls = statuses, nil
		mu.Unlock()
	}
	pollTimes := func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(polls)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: f.base + "/login/sessions/*/wait"}}}); err != nil {
		t.Fatal(err)
	}

	// Unavailable, then over a limit, then the node's own long poll,
	// which the approval answers.
	answer(503, 429)
	if err := chromedp.Do(ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
		t.Fatal(err)
	}
	sessionURL := loginPageSession(t, ctx)
	waitFor(t, func() bool { return len(pollTimes()) == 3 && netlog.pollWaiting() == 1 }, "the third poll, at the node")
	p := pollTimes()
	for i := 1; i < 3; i++ {
		if gap := p[i].Sub(p[i-1]); gap < 900*time.Millisecond {
			t.Errorf("poll %d came %v after a refusal with Retry-After: 1", i+1, gap)
		}
	}
	if status, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status"))); err != nil || status != "Waiting for approval…" {
		t.Errorf("the page says %q (%v) while the node is unavailable", status, err)
	}
	if status, m := approve(t, sessionURL, f.app(alice, ra), "", "age_over_18"); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	if _, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who"))); err != nil {
		t.Fatalf("the browser did not land at the party after the node came back: %v (party errors %v)", err, rp.errs)
	}

	// A session that ended (404) stops the poll: the page says so and
	// asks no more (and takes the ended session's QR away, so the test
	// waits for the page, not for the QR).
	answer(404)
	if err := chromedp.Do(ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitReady(chromedp.ID("status"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		s, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		return s == "This login expired. Press “Get a new code” to start it again here."
	}, "the page saying the login expired")
	time.Sleep(1500 * time.Millisecond)
	if n := len(pollTimes()); n != 1 {
		t.Errorf("the page polled %d times after the session ended", n)
	}
}

// TestBrowserLoginExpiredSaysWhatWorks: when a login session's time is
// up, the page takes its QR and app link away (a person, often elderly,
// scanning it would only meet an error on the phone) and says what works
// from the way the page was reached (WCAG 2.2 SC 3.3.3 Error
// Suggestion): the authorization endpoint's page offers a new code (its
// form sends the request again, TestBrowserLoginNewCode), and so does the
// page in the other language (GET /login/sessions/{id}/page, from the
// request its session keeps), which said to go back to the site and
// start again. "Reload the page" did not work from the page in the other
// language (the ended page), nor from a POSTed or pushed request.
func TestBrowserLoginExpiredSaysWhatWorks(t *testing.T) {
	browser := testbrowser.New(t)
	f := newEnrollFixture(t, "--login-session-ttl", "3s")
	rp := f.startWebRP("shop-web", "shopweb.example")
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	watchNetwork(t, ctx)
	for _, c := range []struct {
		name, lang, says string
		switched         bool
	}{
		{"English page", "en", "Press “Get a new code” to start it again here.", false},
		{"Chinese page after the switch", "zh-CN", "请按“获取新的二维码”在此重新开始。", true},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
			t.Fatal(err)
		}
		if c.switched {
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("language")), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
				t.Fatal(err)
			}
		}
		state, err := chromedp.Run(ctx, chromedp.PollFunction[[]string](`(lang) => {
  const s = document.getElementById("status");
  if (document.documentElement.lang !== lang || !s || s.textContent.indexOf("…") >= 0) return null;
  const shown = id => { const e = document.getElementById(id); return !!e && !e.closest("[hidden]") && e.getClientRects().length > 0; };
  return [s.textContent, String(shown("qr")), String(shown("app"))];
}`, chromedp.WithPollingArgs(c.lang), chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("%s: the page never said the login expired: %v", c.name, err)
		}
		if !strings.Contains(state[0], c.says) {
			t.Errorf("%s: the expired login says %q, not what works (%q)", c.name, state[0], c.says)
		}
		if state[1] != "false" || state[2] != "false" {
			t.Errorf("%s: the expired login still shows its QR (%s) or app link (%s)", c.name, state[1], state[2])
		}
		testbrowser.CheckA11y(t, ctx, c.name+" after expiry")
	}
}

// TestBrowserLoginLanguageSwitch: the login page's language switch shows
// the same login (the same session's QR, the same long poll) in Chinese,
// which passes the accessibility check and its CSP, and the login goes
// on from there to the party.
func TestBrowserLoginLanguageSwitch(t *testing.T) {
	browser := testbrowser.New(t)
	f := newEnrollFixture(t)
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	rp := f.startWebRP("shop-web", "shopweb.example")
	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	watchNetwork(t, ctx)
	lang := func() string {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
		t.Fatal(err)
	}
	session := loginPageSession(t, ctx)
	if l := lang(); l != "en" {
		t.Fatalf("the login page is in %q", l)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("language")), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return lang() == "zh-CN" }, "the page in Chinese")
	if got := loginPageSession(t, ctx); got != session {
		t.Fatalf("the switched page shows a QR of %s, want the same session %s", got, session)
	}
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || h1 != "登录 Web shop-web" {
		t.Errorf("the switched page's heading: %q %v", h1, err)
	}
	testbrowser.CheckA11y(t, ctx, "Chinese login page after the switch")
	if status, m := approve(t, session, f.app(alice, ra), "", "age_over_18"); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	if _, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who"))); err != nil {
		t.Fatalf("the browser did not land at the party from the switched page: %v (party errors %v)", err, rp.errs)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.subs) != 1 || len(rp.errs) != 0 {
		t.Errorf("party: subs %v, errors %v", rp.subs, rp.errs)
	}
}

// TestBrowserLoginNewCode: a login left to expire (the node's sessions
// live 8 s here) leaves the page with a plain message and one button,
// given focus, that sends the same authorization request again: the
// space bar on it gives a new session and a fresh QR here, which logs in
// to the party (WCAG 2.2.1: the person gets a new code with one simple
// action rather than going back to the site to start again). In Chinese
// too, for a browser that asks for it, and on the page switched to
// Chinese from the English one, whose new code comes in Chinese. Before,
// the page only said to go back to the site, and the switched page did
// still.
func TestBrowserLoginNewCode(t *testing.T) {
	browser := testbrowser.New(t)
	f := newEnrollFixture(t, "--login-session-ttl", "8s")
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	rp := f.startWebRP("shop-web", "shopweb.example")
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	watchNetwork(t, ctx)
	for _, c := range []struct {
		lang, expired, button string
		switched              bool
	}{
		{"en", "This login expired. Press “Get a new code” to start it again here.", "Get a new code", false},
		{"zh-CN", "本次登录已过期。请按“获取新的二维码”在此重新开始。", "获取新的二维码", false},
		{"zh-CN", "本次登录已过期。请按“获取新的二维码”在此重新开始。", "获取新的二维码", true},
	} {
		browserLang := c.lang
		if c.switched {
			browserLang = "en"
		}
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": browserLang}}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
			t.Fatal(err)
		}
		if c.switched {
			// The page in the other language (its link at the top),
			// which has the session's request again.
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("language")), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool {
				l, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
				return l == c.lang
			}, "the page in the other language")
		}
		first := loginPageSession(t, ctx)
		got, err := chromedp.Run(ctx, chromedp.PollFunction[[]string](`() => {
  const r = document.getElementById("restart");
  if (r.hidden) return null;
  return [document.getElementById("status").textContent, document.getElementById("new-code").textContent, document.activeElement.id,
    String(document.getElementById("qr").hidden), document.documentElement.lang];
}`, chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			t.Fatalf("%s: the expired page offers no new code: %v", c.lang, err)
		}
		if got[0] != c.expired || got[1] != c.button || got[2] != "new-code" || got[3] != "true" || got[4] != c.lang {
			t.Errorf("%s, expired: says %q, button %q, focus on #%s, QR hidden %s, lang %s; want %q, %q, #new-code, true", c.lang, got[0], got[1], got[2], got[3], got[4], c.expired, c.button)
		}
		testbrowser.CheckA11y(t, ctx, "login page expired "+c.lang)
		if err := chromedp.Do(ctx, chromedp.KeyEvent(" ")); err != nil {
			t.Fatal(err)
		}
		// The form loads another page: wait for it to show its QR.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const q = document.getElementById("qr"), r = document.getElementById("restart");
  return !!(q && !q.hidden && q.complete && q.naturalWidth && r && r.hidden); })()`))
			if err == nil && shown {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: after the space bar on the new code, no new QR: %v", c.lang, err)
			}
		}
		second := loginPageSession(t, ctx)
		if second == first {
			t.Fatalf("%s: the new code is the expired session's %s", c.lang, first)
		}
		if l, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`)); err != nil || l != c.lang {
			t.Errorf("%s (switched %v): the new code's page is in %q (%v)", c.lang, c.switched, l, err)
		}
		if c.lang != "en" {
			continue
		}
		if status, m := approve(t, second, f.app(alice, ra), "", "age_over_18"); status != 204 {
			t.Fatalf("approve the new code: %d %v", status, m)
		}
		if _, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who"))); err != nil {
			t.Fatalf("the browser did not land at the party from the new code: %v (party errors %v)", err, rp.errs)
		}
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.subs) != 1 || len(rp.errs) != 0 {
		t.Errorf("party: subs %v, errors %v", rp.subs, rp.errs)
	}
}

// TestBrowserLoginAnsweredNewCode: an OID4VCI login (its issuer_state is
// spent, so its expired page's "Get a new code" posts to the session's
// restart route) whose page's poll gave up while the session still
// waited (here the browser's own 404 to the poll, by DevTools Fetch
// interception, standing in for a network lost until the page's time
// ran out), and which the phone then approved: the space bar on "Get a
// new code" takes the browser to the wallet's redirect URI with a code
// for its request and state, which redeems, not to a page saying the
// login has ended, nor to a new QR with the approval lost.
func TestBrowserLoginAnsweredNewCode(t *testing.T) {
	browser := testbrowser.New(t)
	f := newEnrollFixture(t)
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	phone := f.app(alice, ra)

	// The relying party logs Alice in (her pairwise sub) and offers her
	// a credential.
	bureauRedirect := "http://127.0.0.1:9/bureau/callback"
	out := f.cli("clients", "add", "--id", "bureau", "--name", "Residence bureau", "--region", "310000",
		"--scopes", auth.ScopeCredentialsIssue, "--grant-types", "client_credentials,authorization_code",
		"--redirect-uri", bureauRedirect, "--sector", "bureau.example", "--id-token-alg", "ES256", "--secret")
	secret := clientSecretRE.FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("no client_secret in %s", out)
	}
	f.accredit("bureau", "ResidenceCredential")
	provider, err := oidc.NewProvider(context.Background(), f.base)
	if err != nil {
		t.Fatal(err)
	}
	bureau := &loginRP{id: "bureau", provider: provider, verifier: provider.Verifier(&oidc.Config{ClientID: "bureau"}),
		conf: oauth2.Config{ClientID: "bureau", ClientSecret: secret[1], Endpoint: provider.Endpoint(), RedirectURL: bureauRedirect, Scopes: []string{oidc.ScopeOpenID}}}
	a := bureau.start(t)
	if status, m := approve(t, a.sessionURL, phone, ""); status != 204 {
		t.Fatalf("alice logs in to the bureau: %d %v", status, m)
	}
	_, idt := bureau.exchange(t, a, a.code(t, bureau, f.base))
	status, tok := bureau.post(t, f.base, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {auth.ScopeCredentialsIssue}})
	at, _ := tok["access_token"].(string)
	if status != 200 || at == "" {
		t.Fatalf("the bureau's token: %d %v", status, tok)
	}
	status, o, _ := f.do("POST", "/oid4vci/offers", at, "application/json", `{"grant":"authorization_code","subject":"`+idt.Subject+`",
	  "credential_configuration_ids":["ResidenceCredential_sd_jwt"],
	  "credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],"credentialSubject":{"region":"310000"}}}`)
	var offer struct {
		Grants struct {
			Code struct {
				IssuerState string `json:"issuer_state"`
			} `json:"authorization_code"`
		} `json:"grants"`
	}
	b, _ := json.Marshal(o["credential_offer"])
	if err := json.Unmarshal(b, &offer); status != 201 || err != nil || offer.Grants.Code.IssuerState == "" {
		t.Fatalf("offer: %d %v", status, o)
	}

	// The wallet: its redirect URI is the test's page, where the browser
	// lands.
	var (
		mu     sync.Mutex
		landed []url.Values
	)
	wallet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		landed = append(landed, r.URL.Query())
		mu.Unlock()
		fmt.Fprint(w, `<!doctype html><title>Wallet</title><p id="landed">Back in the wallet</p>`)
	}))
	t.Cleanup(wallet.Close)
	f.cli("clients", "add", "--id", "wallet-app", "--name", "Wallet app", "--region", "310000", "--scopes", auth.ScopeQRRedeem,
		"--grant-types", "authorization_code", "--redirect-uri", wallet.URL+"/cb", "--secret")
	verifier, state := oauth2.GenerateVerifier(), rand.Text()
	authorize := url.Values{"response_type": {"code"}, "client_id": {"wallet-app"}, "redirect_uri": {wallet.URL + "/cb"}, "state": {state},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}, "issuer_state": {offer.Grants.Code.IssuerState},
		"authorization_details": {`[{"type":"openid_credential","credential_configuration_id":"ResidenceCredential_sd_jwt"}]`}}

	ctx, cancel := context.WithTimeout(browser, 40*time.Second)
	defer cancel()
	watchNetwork(t, ctx)
	// The page's poll is answered 404 by the browser: the page gives up
	// at once; the node's session still waits.
	err = chromedp.Listen(ctx, func(ev any) {
		if p, ok := ev.(*fetch.EventRequestPaused); ok {
			go chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: p.RequestID, ResponseCode: 404,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}},
				Body:            []byte(`{"error":"login_session_not_found","error_description":"test"}`)})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: f.base + "/login/sessions/*/wait"}}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/oid4vci/authorize?"+authorize.Encode()), chromedp.WaitReady(chromedp.ID("status"))); err != nil {
		t.Fatal(err)
	}
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("app"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	link, _ := url.Parse(href.Value)
	sessionURL := link.Query().Get("session")
	got, err := chromedp.Run(ctx, chromedp.PollFunction[[]string](`() => {
  const r = document.getElementById("restart");
  if (!r || r.hidden) return null;
  return [document.getElementById("status").textContent, document.activeElement.id];
}`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("the page whose poll gave up offers no new code: %v", err)
	}
	if got[0] != "This login expired. Press “Get a new code” to start it again here." || got[1] != "new-code" {
		t.Errorf("the page whose poll gave up says %q, focus on #%s", got[0], got[1])
	}
	if status, m := approve(t, sessionURL, phone, ""); status != 204 {
		t.Fatalf("the phone approves after the page gave up: %d %v", status, m)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(" ")); err != nil {
		t.Fatal(err)
	}
	land, cancelLand := context.WithTimeout(ctx, 15*time.Second)
	defer cancelLand()
	if err := chromedp.Do(land, chromedp.WaitVisible(chromedp.ID("landed"))); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("\"Get a new code\" after the approval did not land at the wallet: %v, at %s saying %q", err, loc, text)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(landed) != 1 || landed[0].Get("code") == "" || landed[0].Get("state") != state || landed[0].Get("iss") != f.base+"/oid4vci" || landed[0].Has("error") {
		t.Fatalf("the wallet's redirects: %v", landed)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {landed[0].Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {wallet.URL + "/cb"}, "client_id": {"wallet-app"}}
	if status, tok, _ := f.do("POST", "/oid4vci/token", "", "application/x-www-form-urlencoded", form.Encode()); status != 200 || tok["access_token"] == nil {
		t.Errorf("the code's redemption: %d %v", status, tok)
	}
}

// TestBrowserLoginMoreTime: a minute before the login session ends (the
// node's sessions live 64 s here), the login page warns in its alert
// region and gives focus to one "More time" button, and the space bar
// on it extends the session to a whole lifetime again (WCAG 2.2 SC 2.2.1
// Timing Adjustable, Extend: "warned before time expires and given at
// least 20 seconds to extend the time limit with a simple action (for
// example, 'press the space bar')"), under the page's CSP; the session
// so extended logs in. Without JavaScript the waiting page's "More time"
// form, sent with the Enter key, does the same (its CSP lets the form
// post to the node) and the page says how long the login now waits;
// sent again once the phone has approved, it takes the tab to the party.
// Before, the page only said, at the end, that the login had expired,
// and the form pressed after the approval left the tab on a 404 page.
func TestBrowserLoginMoreTime(t *testing.T) {
	browser := testbrowser.New(t)
	f := newEnrollFixture(t, "--login-session-ttl", "64s")
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	rp := f.startWebRP("shop-web", "shopweb.example")
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	watchNetwork(t, ctx)
	expires := func(sessionURL string) time.Time { return sessionExpiry(t, sessionURL) }

	if err := chromedp.Do(ctx, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
		t.Fatal(err)
	}
	sessionURL := loginPageSession(t, ctx)
	first := expires(sessionURL)
	if warning, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("warning"))); err != nil || warning != "" {
		t.Errorf("the page warns at once: %q %v", warning, err)
	}
	warned, err := chromedp.Run(ctx, chromedp.PollFunction[[]string](`() => {
  const w = document.getElementById("warning"), b = document.getElementById("extend");
  if (!w.textContent || b.hidden) return null;
  return [w.textContent, w.getAttribute("role"), String(document.activeElement === b), String(b.getClientRects().length > 0)];
}`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("the page never warned: %v", err)
	}
	var left int
	if _, err := fmt.Sscanf(warned[0], "This login ends in %d seconds.", &left); err != nil || left < 20 || left > 60 ||
		!strings.HasSuffix(warned[0], "If you need longer, press “More time”.") {
		t.Errorf("the warning says %q: want at least 20 s left and the way to more time", warned[0])
	}
	if warned[1] != "alert" || warned[2] != "true" || warned[3] != "true" {
		t.Errorf("the warning: role %s, the button focused %s and shown %s", warned[1], warned[2], warned[3])
	}
	testbrowser.CheckA11y(t, ctx, "login page warning")
	if err := chromedp.Do(ctx, chromedp.KeyEvent(" ")); err != nil {
		t.Fatal(err)
	}
	extended, err := chromedp.Run(ctx, chromedp.PollFunction[string](`() => {
  const w = document.getElementById("warning");
  return document.getElementById("extend").hidden && w.textContent.indexOf("Time extended") === 0 ? w.textContent : null;
}`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || extended != "Time extended: the login now waits about 1 min." {
		t.Fatalf("after the space bar the page says %q (%v)", extended, err)
	}
	if now := expires(sessionURL); !now.After(first) || now.Before(time.Now().Add(60*time.Second)) {
		t.Errorf("the session ends at %v after the extension, %v before", now, first)
	}
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]any](`window.cspViolations`)); err != nil || len(v) != 0 {
		t.Errorf("CSP violations on the login page: %v %v", v, err)
	}
	if status, m := approve(t, sessionURL, f.app(alice, ra), "", "age_over_18"); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	if _, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("who"))); err != nil {
		t.Fatalf("the browser did not land at the party after the extension: %v (party errors %v)", err, rp.errs)
	}

	// Without JavaScript: the waiting page's form.
	noJS, cancelNoJS := chromedp.NewContext(browser)
	defer cancelNoJS()
	noJS, cancelNoJSTimeout := context.WithTimeout(noJS, 20*time.Second)
	defer cancelNoJSTimeout()
	if _, err := chromedp.Call(noJS, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(noJS, chromedp.Navigate(rp.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("qr-png")),
		chromedp.Click(chromedp.ID("continue")), chromedp.WaitVisible(chromedp.ID("waiting"))); err != nil {
		t.Fatal(err)
	}
	loc, _ := chromedp.Run(noJS, chromedp.Location())
	session2 := strings.TrimSuffix(loc, "/continue?ui_locales=en")
	before := expires(session2)
	time.Sleep(time.Second) // a new expiry, in whole seconds
	if err := chromedp.Do(noJS, chromedp.Focus(chromedp.ID("extend")), chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.ID("notice"))); err != nil {
		t.Fatalf("the waiting page's form: %v", err)
	}
	notice, err := chromedp.Run(noJS, chromedp.Text(chromedp.ID("notice")))
	if err != nil || notice != "Time extended: the login now waits about 1 min." {
		t.Errorf("the waiting page after its form says %q (%v)", notice, err)
	}
	if now := expires(session2); !now.After(before) {
		t.Errorf("the form left the session's end at %v (was %v)", now, before)
	}
	testbrowser.CheckA11yNoScript(t, noJS, "waiting page after more time")
	// Pressed once the phone has approved, the form collects the answer:
	// the tab goes on to the party.
	if status, m := approve(t, session2, f.app(alice, ra), "", "age_over_18"); status != 204 {
		t.Fatalf("approve the waiting page's login: %d %v", status, m)
	}
	if err := chromedp.Do(noJS, chromedp.Focus(chromedp.ID("extend")), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	land, cancelLand := context.WithTimeout(noJS, 8*time.Second)
	defer cancelLand()
	if err := chromedp.Do(land, chromedp.WaitVisible(chromedp.ID("who"))); err != nil {
		loc, _ := chromedp.Run(noJS, chromedp.Location())
		t.Fatalf("More time pressed after the approval did not land at the party: %v, at %s", err, loc)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.subs) != 2 || len(rp.errs) != 0 {
		t.Errorf("party: subs %v, errors %v", rp.subs, rp.errs)
	}
}
