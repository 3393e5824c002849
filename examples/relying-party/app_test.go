package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
	"github.com/trustid-cn/trustid/sdk/wallet"
)

// node is a real `trustid serve`, built from cmd/trustid and run as a
// process, the way an integrator runs one next to the sample.
type node struct {
	t         *testing.T
	bin, data string
	env       []string
	base      string
}

// startNode builds the trustid command and starts `trustid serve` on a
// free loopback port with a fresh data directory and KEK.
func startNode(t *testing.T) *node {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs trustid serve")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "trustid")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/trustid-cn/trustid/cmd/trustid").CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/trustid: %v\n%s", err, out)
	}
	kek := make([]byte, 16)
	rand.Read(kek)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTID_") {
			env = append(env, kv)
		}
	}
	n := &node{t: t, bin: bin, data: filepath.Join(dir, "data"), env: append(env, "TRUSTID_KEK="+hex.EncodeToString(kek))}
	addr := testport.Reserve(t)
	tn := testnode.Start(t, n.serve, "--data", n.data, "--addr", addr, "--issuer", "http://"+addr)
	n.base = tn.Base
	return n
}

// serve is a testnode.Main running the built binary; cancelling ctx
// stops it with SIGTERM (a graceful shutdown, exit status 0).
func (n *node) serve(ctx context.Context, args []string, stderr io.Writer) error {
	cmd := exec.Command(n.bin, args...)
	cmd.Env, cmd.Stderr = n.env, stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		return <-done
	}
}

// cli runs a trustid subcommand on the node's data directory, as the
// operator does.
func (n *node) cli(args ...string) string {
	n.t.Helper()
	cmd := exec.Command(n.bin, append(args, "--data", n.data)...)
	cmd.Env = n.env
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		n.t.Fatalf("trustid %v: %v\n%s%s", args, err, out, ee.Stderr)
	}
	return string(out)
}

var kidRE = regexp.MustCompile(`kid (\S+)`)

// client makes a key with `trustid clients keygen`, registers it with
// `trustid clients add` and the given flags, and returns the key.
func (n *node) client(id string, flags ...string) *gm.PrivateKey {
	n.t.Helper()
	keys := filepath.Join(n.t.TempDir(), id)
	kid := kidRE.FindStringSubmatch(n.cli("clients", "keygen", "--alg", "SM2", "--out", keys))[1]
	n.cli(append([]string{"clients", "add", "--id", id, "--region", "310000", "--jwks-file", filepath.Join(keys, kid+".jwks.json")}, flags...)...)
	pemBytes, err := os.ReadFile(filepath.Join(keys, kid+".key.pem"))
	if err != nil {
		n.t.Fatal(err)
	}
	key, err := gm.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		n.t.Fatal(err)
	}
	return key.(*gm.PrivateKey)
}

// token gets an access token for a client just registered, waiting until
// the node has read it from its ledger view.
func (n *node) token(id string, key *gm.PrivateKey) string {
	n.t.Helper()
	ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: n.base, ClientID: id, Key: key})
	if err != nil {
		n.t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		tok, err := ts.Token(context.Background())
		if err == nil {
			return tok
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("no token for %s: %v", id, err)
		}
	}
}

// residentNumber appends the GB 11643 check character to 17 digits.
func residentNumber(body string) string {
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, c := range body {
		sum += int(c-'0') * weights[i]
	}
	return body + string("10X98765432"[sum%11])
}

// enroll enrolls a person with the wallet SDK through an app back end
// (a client with identity:enroll), without a terminal attestation or a
// PIN: an L2 binding (document and device key).
func (n *node) enroll(backendToken, number, name string) *wallet.Holder {
	n.t.Helper()
	h, err := wallet.NewHolder(n.base, wallet.NewSoftwareKeys(), "device")
	if err != nil {
		n.t.Fatal(err)
	}
	if _, err := h.CreateDeviceKey(); err != nil {
		n.t.Fatal(err)
	}
	body, err := h.EnrollmentRequest(number, name, "", "")
	if err != nil {
		n.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", n.base+"/v1/enrollments", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+backendToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		n.t.Fatalf("enroll: %d %s", resp.StatusCode, answer)
	}
	if err := h.AcceptEnrollment(answer); err != nil {
		n.t.Fatal(err)
	}
	return h
}

// browser keeps cookies and does not follow redirects: the test follows
// them, reading each.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 40 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, u string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func (b *browser) get(u string) (*http.Response, string) { return b.do("GET", u, nil) }

var (
	appLinkRE = regexp.MustCompile(`href="trustid://login\?session=([^"]+)"`)
	subRE     = regexp.MustCompile(`<code id="sub">([^<]+)</code>`)
	holderRE  = regexp.MustCompile(`<dd id="holder">([^<]+)</dd>`)
)

// TestSampleRelyingParty runs the sample against a real node: the
// operator registers it with `trustid clients add`, a person enrolled
// with the wallet SDK logs in through it (scan-to-login, the wallet
// approving), the landed page shows the pairwise sub, acr and amr; the
// callback cannot be replayed nor a state forged; counter staff check an
// online code (redeemed once, shown masked, the same person as the
// login) and an offline code.
func TestSampleRelyingParty(t *testing.T) {
	n := startNode(t)

	// The sample runs before it is registered: its redirect URI names its
	// address.
	var app atomic.Pointer[App]
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { app.Load().ServeHTTP(w, r) }))
	defer rp.Close()
	key := n.client("sample-rp", "--name", "Sample RP", "--scopes", "qr:redeem",
		"--grant-types", "client_credentials,authorization_code", "--redirect-uri", rp.URL+"/callback",
		"--sector", "sample-rp.example", "--claims", "age_over_18")
	a, err := New(Config{Node: n.base, ClientID: "sample-rp", Key: key, RedirectURL: rp.URL + "/callback", Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		t.Fatal(err)
	}
	app.Store(a)
	n.token("sample-rp", key) // the node has read the registration

	backend := n.client("app-backend", "--name", "App back end", "--scopes", "identity:enroll")
	holder := n.enroll(n.token("app-backend", backend), residentNumber("11010519900307123"), "张三")

	// Scan-to-login.
	br := newBrowser(t)
	if _, page := br.get(rp.URL + "/"); !strings.Contains(page, `href="/login"`) {
		t.Fatalf("home before login:\n%s", page)
	}
	resp, _ := br.get(rp.URL + "/login")
	authURL := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.HasPrefix(authURL, n.base+"/oauth2/authorize?") {
		t.Fatalf("/login: %d %q", resp.StatusCode, authURL)
	}
	checkCookie(t, resp, loginCookie)
	if q, _ := url.ParseQuery(authURL[strings.Index(authURL, "?")+1:]); q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" {
		t.Errorf("authorization request %v", q)
	}
	resp, page := br.get(authURL)
	m := appLinkRE.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	sessionURL, _ := url.QueryUnescape(strings.ReplaceAll(m[1], "&amp;", "&"))
	lr, err := holder.DescribeLogin(sessionURL)
	if err != nil || lr.ClientName != "Sample RP" {
		t.Fatalf("the app reads the session: %+v %v", lr, err)
	}
	if err := holder.ApproveLogin(sessionURL, lr.Challenge, "", ""); err != nil {
		t.Fatalf("the app approves: %v", err)
	}
	resp, body := br.get(sessionURL + "/wait")
	redirect := regexp.MustCompile(`"redirect":"([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || redirect == nil {
		t.Fatalf("the login page's poll: %d %s", resp.StatusCode, body)
	}
	callback := strings.ReplaceAll(redirect[1], `\u0026`, "&")
	if !strings.HasPrefix(callback, rp.URL+"/callback?") {
		t.Fatalf("redirect to %q", callback)
	}
	oldLoginCookie := cookieValue(br, rp.URL, loginCookie)
	resp, page = br.get(callback)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		t.Fatalf("callback: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	checkCookie(t, resp, sessionCookie)
	_, page = br.get(rp.URL + "/")
	sm := subRE.FindStringSubmatch(page)
	if sm == nil || !isPairwiseID(sm[1]) ||
		!strings.Contains(page, `<dd id="acr">L2</dd>`) || !strings.Contains(page, `<dd id="amr">hwk</dd>`) {
		t.Fatalf("the landed page shows no pairwise sub, acr L2, amr hwk:\n%s", page)
	}
	sub := sm[1]

	// The callback is good once: replayed by the same browser, or with its
	// old login cookie put back, it is refused and logs nobody in.
	for name, b := range map[string]*browser{"same browser": br, "old cookie": withCookie(t, rp.URL, loginCookie, oldLoginCookie)} {
		resp, page := b.get(callback)
		if resp.StatusCode != 400 || setsSession(resp) {
			t.Errorf("replayed callback (%s): %d %v\n%s", name, resp.StatusCode, resp.Header["Set-Cookie"], page)
		}
	}
	// A callback whose state is not the one this browser's login started
	// with (a forged or mixed-up callback) is refused.
	other := newBrowser(t)
	other.get(rp.URL + "/login")
	cb, _ := url.Parse(callback)
	q := cb.Query()
	q.Set("state", rand.Text())
	cb.RawQuery = q.Encode()
	if resp, page := other.get(cb.String()); resp.StatusCode != 400 || !strings.Contains(page, "not for the login this browser started") {
		t.Errorf("forged state: %d\n%s", resp.StatusCode, page)
	}
	if _, page := other.get(rp.URL + "/"); strings.Contains(page, sub) {
		t.Error("a forged callback logged someone in")
	}

	// Counter staff: an online code is redeemed once and shown masked, the
	// same person the login named (one pairwise ID per service).
	online, err := holder.RequestOnlineCode("age_over_18")
	if err != nil {
		t.Fatal(err)
	}
	resp, page = br.do("POST", rp.URL+"/verify", url.Values{"code": {online}})
	hm := holderRE.FindStringSubmatch(page)
	if resp.StatusCode != 200 || hm == nil || hm[1] != maskID(sub) || !strings.Contains(page, "Valid online code") ||
		!strings.Contains(page, `<dt>age_over_18</dt><dd class="claim">true</dd>`) || !strings.Contains(page, `<dd id="level">L2</dd>`) {
		t.Fatalf("online code: %d (want holder %s)\n%s", resp.StatusCode, maskID(sub), page)
	}
	if strings.Contains(page, sub) {
		t.Error("the counter screen shows the whole pairwise ID")
	}
	if resp, page := br.do("POST", rp.URL+"/verify", url.Values{"code": {online}}); resp.StatusCode != 409 || !strings.Contains(page, "already used") {
		t.Errorf("online code again: %d\n%s", resp.StatusCode, page)
	}
	// An offline code, verified by the sample with the node's keys and
	// published status list.
	offline, err := holder.OfflineCode("age_over_18", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, page = br.do("POST", rp.URL+"/verify", url.Values{"code": {offline}})
	if resp.StatusCode != 200 || !strings.Contains(page, "Valid offline code") || !strings.Contains(page, `<dt>age_over_18</dt><dd class="claim">true</dd>`) {
		t.Errorf("offline code: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := br.do("POST", rp.URL+"/verify", url.Values{"code": {"TIDOFF2:" + strings.Repeat("A", 40)}}); resp.StatusCode != 422 {
		t.Errorf("junk offline code: %d", resp.StatusCode)
	}
	if resp, _ := br.do("POST", rp.URL+"/verify", url.Values{"code": {"hello"}}); resp.StatusCode != 400 {
		t.Errorf("not a code: %d", resp.StatusCode)
	}
	// A cross-site form post is refused.
	if resp, _ := br.do("POST", rp.URL+"/verify", url.Values{"code": {online}}, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != 403 {
		t.Errorf("cross-site POST: %d", resp.StatusCode)
	}
	// Every page carries the CSP.
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// Logout ends the session.
	if resp, _ := br.do("POST", rp.URL+"/logout", url.Values{}); resp.StatusCode != 303 {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if _, page := br.get(rp.URL + "/"); strings.Contains(page, sub) {
		t.Error("still logged in after logout")
	}
}

// checkCookie checks the attributes of the cookie name set by resp: a
// loopback sample sets no Secure (browsers would drop it over http).
func checkCookie(t *testing.T, resp *http.Response, name string) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" || c.Value == "" {
				t.Errorf("cookie %s: %+v", name, c)
			}
			return
		}
	}
	t.Errorf("no %s cookie set", name)
}

// setsSession reports whether resp sets a session cookie.
func setsSession(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return true
		}
	}
	return false
}

func cookieValue(b *browser, base, name string) string {
	u, _ := url.Parse(base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func withCookie(t *testing.T, base, name, value string) *browser {
	b := newBrowser(t)
	u, _ := url.Parse(base)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
	return b
}

// TestConfigRefusals: a redirect URL that is not this service's https
// /callback (http only on loopback), a node that is not https (http only
// on loopback: the SDK's ErrInsecureURL), or a missing setting, is
// refused.
func TestConfigRefusals(t *testing.T) {
	key, _ := gm.GenerateKey(rand.Reader)
	good := Config{Node: "https://node.example", ClientID: "c", Key: key, RedirectURL: "https://shop.example/callback", Algorithms: []string{gm.AlgSM2}}
	if a, err := New(good); err != nil || !a.secure {
		t.Fatalf("https config: %v", err)
	}
	if a, err := New(func() Config { c := good; c.RedirectURL = "http://127.0.0.1:8090/callback"; return c }()); err != nil || a.secure {
		t.Errorf("loopback config: %v", err)
	}
	for name, edit := range map[string]func(*Config){
		"http, not loopback": func(c *Config) { c.RedirectURL = "http://shop.example/callback" },
		"http node":          func(c *Config) { c.Node = "http://node.example" },
		"another path":       func(c *Config) { c.RedirectURL = "https://shop.example/cb" },
		"relative":           func(c *Config) { c.RedirectURL = "/callback" },
		"no algorithms":      func(c *Config) { c.Algorithms = nil },
		"no key":             func(c *Config) { c.Key = nil },
	} {
		c := good
		edit(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRefusalMessages: staff are told why a code was refused, whether
// the node refused it (a *sdk.NodeError) or the local verifier did.
func TestRefusalMessages(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		says   string
	}{
		{&sdk.NodeError{Status: 409, Code: "qr_code_used"}, 409, "already used"},
		{&sdk.NodeError{Status: 410, Code: "qr_code_expired"}, 422, "expired"},
		{&sdk.NodeError{Status: 403, Code: "qr_revoked"}, 422, "revoked or suspended"},
		{&sdk.NodeError{Status: 403, Code: "qr_suspended"}, 422, "revoked or suspended"},
		{fmt.Errorf("%w: device binding", qrcode.ErrSuspended), 422, "revoked or suspended"},
		{&sdk.NodeError{Status: 503, Code: "temporarily_unavailable"}, 502, "cannot be reached"},
	} {
		if status, msg := refusal(c.err); status != c.status || !strings.Contains(msg, c.says) {
			t.Errorf("%v: %d %q, want %d saying %q", c.err, status, msg, c.status, c.says)
		}
	}
}

// isPairwiseID reports whether s is a pairwise ID's text (34 characters of
// Crockford base32, the last a mod-37 check character, which may be one
// of "*~$=U").
func isPairwiseID(s string) bool {
	_, err := identity.ParsePairwiseID(s)
	return err == nil && len(s) == identity.TextLen
}

// TestPendingLoginsBounded: anyone may start a login, so the logins in
// progress the service keeps are bounded: past maxPending a start is
// refused with 503 and keeps nothing, and once they expire starts are
// taken again. Before, every start was kept for loginTTL whatever their
// number (and each read every login and session kept).
func TestPendingLoginsBounded(t *testing.T) {
	var node *httptest.Server
	node = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":%q,"token_endpoint":%q,"jwks_uri":%q,"code_challenge_methods_supported":["S256"]}`,
			node.URL, node.URL+"/oauth2/authorize", node.URL+"/oauth2/token", node.URL+"/.well-known/jwks.json")
	}))
	defer node.Close()
	key, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	app, err := New(Config{Node: node.URL, ClientID: "rp", Key: key, RedirectURL: "http://127.0.0.1:1/callback",
		Algorithms: []string{"SM2"}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	start := func() int {
		w := httptest.NewRecorder()
		app.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/login", nil))
		return w.Code
	}
	for i := range maxPending {
		if code := start(); code != http.StatusFound {
			t.Fatalf("start %d: %d, want 302", i+1, code)
		}
		if i%1000 == 0 {
			now = now.Add(2 * sweepEvery) // sweeps run between starts too
		}
	}
	for range 100 {
		if code := start(); code != http.StatusServiceUnavailable {
			t.Fatalf("a start past %d logins in progress: %d, want 503", maxPending, code)
		}
	}
	if n := len(app.pending); n != maxPending {
		t.Fatalf("%d logins in progress kept, want at most %d", n, maxPending)
	}
	now = now.Add(loginTTL + 2*sweepEvery)
	if code := start(); code != http.StatusFound || len(app.pending) != 1 {
		t.Fatalf("a start once the others expired: %d, %d kept, want 302 and 1", code, len(app.pending))
	}
}
