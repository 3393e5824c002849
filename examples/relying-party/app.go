package main

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
)

// Config configures New.
type Config struct {
	// Node is the TrustID node's base URL: the OpenID provider's issuer
	// and the node that redeems online codes; https, or http on a
	// loopback host (the SDK refuses others: sdk.ErrInsecureURL).
	// Required.
	Node string
	// ClientID is this service's registration at the node; Key its
	// private key (SM2 or P-256), whose public half the node has in the
	// client's JWKS. Required.
	ClientID string
	Key      crypto.Signer
	// RedirectURL is this service's /callback, exactly as registered
	// (--redirect-uri of `trustid clients add`). Required. Cookies are
	// Secure unless it is http on a loopback host (local development).
	RedirectURL string
	// Region is the node's region (six digits): offline codes of that
	// region are verified with Node's keys and status lists; codes of
	// other regions are refused. Default 310000.
	Region string
	// Algorithms is the allow-list of JWS algorithms for ID tokens and
	// the node's keys. Required.
	Algorithms []string
	// HTTPClient, Now and Logger default to the SDK's client, time.Now
	// and a logger that discards.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Cookie names and lifetimes.
const (
	loginCookie   = "rp_login"   // a login in progress: its state, nonce and PKCE verifier, server side
	sessionCookie = "rp_session" // a logged-in user
	loginTTL      = 10 * time.Minute
	sessionTTL    = 8 * time.Hour
	maxCodeLen    = 4096
)

// Bounds of the logins in progress.
const (
	// maxPending bounds the logins in progress: anyone may start one (GET
	// /login, no account needed), so without a bound a stream of starts
	// would grow memory by one login each for loginTTL. Over it a start
	// is refused (503) until logins end or expire.
	maxPending = 10_000
	// sweepEvery is the least time between two sweeps of expired logins
	// and sessions (a sweep reads them all).
	sweepEvery = time.Second
)

// App is the sample relying party's HTTP handler.
type App struct {
	cfg    Config
	secure bool // Secure cookies
	login  *sdk.Login
	redeem *sdk.Client
	qr     *qrcode.Verifier
	mux    http.Handler
	log    *slog.Logger

	mu       sync.Mutex
	pending  map[string]pendingLogin // by the SHA-256 of the rp_login cookie
	sessions map[string]session      // by the SHA-256 of the rp_session cookie
	swept    time.Time               // the last sweep
}

type pendingLogin struct {
	start   *sdk.LoginStart
	expires time.Time
}

// session is what the service keeps about a logged-in user: only what
// the ID token said.
type session struct {
	Subject  string // the pairwise sub: this service's ID for the person
	ACR      string
	AMR      []string
	AuthTime time.Time
	expires  time.Time
}

// New checks cfg and returns the service's handler.
func New(cfg Config) (*App, error) {
	if cfg.Node == "" || cfg.ClientID == "" || cfg.Key == nil || cfg.RedirectURL == "" || len(cfg.Algorithms) == 0 {
		return nil, errors.New("relying-party: Config needs Node, ClientID, Key, RedirectURL and Algorithms")
	}
	if cfg.Region == "" {
		cfg.Region = "310000"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ru, err := url.Parse(cfg.RedirectURL)
	if err != nil || ru.Host == "" || ru.Path != "/callback" {
		return nil, fmt.Errorf("relying-party: the redirect URL must be this service's absolute /callback URL, not %q", cfg.RedirectURL)
	}
	a := &App{cfg: cfg, log: cfg.Logger, pending: map[string]pendingLogin{}, sessions: map[string]session{}}
	switch {
	case ru.Scheme == "https":
		a.secure = true
	case ru.Scheme == "http" && isLoopback(ru.Hostname()):
		a.secure = false // local development: browsers drop Secure cookies over http
	default:
		return nil, fmt.Errorf("relying-party: the redirect URL must be https (http only on a loopback host), not %q", cfg.RedirectURL)
	}

	// Scan-to-login: OpenID Connect with PKCE and private_key_jwt.
	if a.login, err = sdk.NewLogin(sdk.LoginConfig{Issuer: cfg.Node, ClientID: cfg.ClientID, RedirectURI: cfg.RedirectURL,
		Key: cfg.Key, Algorithms: cfg.Algorithms, HTTPClient: cfg.HTTPClient, Now: cfg.Now}); err != nil {
		return nil, err
	}
	// Online codes: redeemed at the node with a client-credentials token
	// (private_key_jwt, scope qr:redeem), cached and refreshed by the SDK.
	tokens, err := sdk.NewTokenSource(sdk.ClientConfig{Node: cfg.Node, ClientID: cfg.ClientID, Key: cfg.Key,
		Scopes: []string{"qr:redeem"}, HTTPClient: cfg.HTTPClient, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	a.redeem = &sdk.Client{Node: cfg.Node, Tokens: tokens, HTTPClient: cfg.HTTPClient}
	// Offline codes: verified here with the node's cached keys and its
	// published status lists (fails closed when they cannot be had).
	nodes := &sdk.Nodes{Bases: []string{cfg.Node}, Algorithms: cfg.Algorithms, Client: cfg.HTTPClient, Now: cfg.Now}
	if a.qr, err = sdk.NewQRVerifier(sdk.QRConfig{
		Keys:   &sdk.KeySet{URL: strings.TrimSuffix(cfg.Node, "/") + sdk.JWKSPath, Client: cfg.HTTPClient, Now: cfg.Now},
		Region: cfg.Region,
		Status: &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{cfg.Region: cfg.Node}},
		Now:    cfg.Now,
	}); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.startLogin)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /verify", a.verifyForm)
	mux.HandleFunc("POST /verify", a.verify)
	// Refuse cross-origin POSTs (Sec-Fetch-Site / Origin): the logout and
	// verify forms are this site's own.
	a.mux = http.NewCrossOriginProtection().Handler(mux)
	return a, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeHTTP serves the service with security headers on every answer.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'sha256-"+styleHash+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	a.mux.ServeHTTP(w, r)
}

// home shows the logged-in user (the pairwise sub, acr, amr) or the login
// button.
func (a *App) home(w http.ResponseWriter, r *http.Request) {
	s, _ := a.session(r)
	a.render(w, http.StatusOK, "home", map[string]any{"Session": s})
}

// startLogin begins a login: the SDK makes the state, nonce and PKCE
// verifier, which stay on the server under a fresh cookie, and the
// browser goes to the node.
func (a *App) startLogin(w http.ResponseWriter, r *http.Request) {
	start, err := a.login.Start(r.Context())
	if err != nil {
		a.log.Error("login start", "err", err)
		a.fail(w, http.StatusBadGateway, "The identity service cannot be reached. Try again later.")
		return
	}
	id := rand.Text()
	a.mu.Lock()
	now := a.cfg.Now()
	if now.Sub(a.swept) >= sweepEvery {
		a.sweep()
		a.swept = now
	}
	full := len(a.pending) >= maxPending
	if !full {
		a.pending[hashID(id)] = pendingLogin{start: start, expires: now.Add(loginTTL)}
	}
	a.mu.Unlock()
	if full {
		a.fail(w, http.StatusServiceUnavailable, "Too many logins are in progress. Try again in a few minutes.")
		return
	}
	a.setCookie(w, loginCookie, id, loginTTL)
	http.Redirect(w, r, start.URL, http.StatusFound)
}

// callback finishes a login. The login in progress is taken (removed)
// before anything is checked, so a callback is good once: a replayed or
// forged one finds nothing, or a state that does not match.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		a.fail(w, http.StatusBadRequest, "No login is in progress in this browser (it expired, or this link was already used). Start again.")
		return
	}
	a.mu.Lock()
	p, ok := a.pending[hashID(c.Value)]
	delete(a.pending, hashID(c.Value))
	a.mu.Unlock()
	a.clearCookie(w, loginCookie)
	if !ok || a.cfg.Now().After(p.expires) {
		a.fail(w, http.StatusBadRequest, "No login is in progress in this browser (it expired, or this link was already used). Start again.")
		return
	}
	id, err := a.login.Finish(r.Context(), p.start, r.URL.Query())
	switch {
	case errors.Is(err, sdk.ErrState):
		a.fail(w, http.StatusBadRequest, "This login answer is not for the login this browser started. Start again.")
		return
	case err != nil:
		a.log.Warn("login refused", "err", err)
		a.fail(w, http.StatusForbidden, "The login did not complete. Start again.")
		return
	}
	s := session{Subject: id.Subject, ACR: id.ACR, AuthTime: id.AuthTime, expires: a.cfg.Now().Add(sessionTTL)}
	if amr, ok := id.Claims["amr"].([]any); ok {
		for _, m := range amr {
			if m, ok := m.(string); ok {
				s.AMR = append(s.AMR, m)
			}
		}
	}
	// A fresh session ID at login (no session fixation).
	sid := rand.Text()
	a.mu.Lock()
	a.sessions[hashID(sid)] = s
	a.mu.Unlock()
	a.setCookie(w, sessionCookie, sid, sessionTTL)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends this service's session (not the node's: it keeps none).
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, hashID(c.Value))
		a.mu.Unlock()
	}
	a.clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// session returns the request's logged-in user.
func (a *App) session(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[hashID(c.Value)]
	if !ok || a.cfg.Now().After(s.expires) {
		return nil, false
	}
	return &s, true
}

// sweep drops expired logins and sessions; a.mu is held.
func (a *App) sweep() {
	now := a.cfg.Now()
	for k, p := range a.pending {
		if now.After(p.expires) {
			delete(a.pending, k)
		}
	}
	for k, s := range a.sessions {
		if now.After(s.expires) {
			delete(a.sessions, k)
		}
	}
}

func (a *App) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

func (a *App) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

// hashID is the key a cookie's value is kept under: a copy of the
// service's memory (or a log of its keys) holds no usable cookie.
func hashID(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// verification is what the counter screen shows of a scanned code:
// nothing that identifies the person beyond what the code released.
type verification struct {
	Kind      string // "online" or "offline"
	Holder    string // masked: the pairwise ID's ends, or the masked name
	Assurance int
	Region    string
	Claims    [][2]string // sorted claim name, value
	Summary   string
}

func (a *App) verifyForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "verify", nil)
}

// verify checks a code counter staff pasted from their scanner: an
// online code (TIDON1:) is redeemed at the node, once; an offline or
// static code (TIDOFF2:, TIDST1:) is verified here.
func (a *App) verify(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxCodeLen+1024)
	code := strings.TrimSpace(r.PostFormValue("code"))
	var (
		v   verification
		err error
	)
	switch {
	case code == "" || len(code) > maxCodeLen:
		a.renderVerify(w, http.StatusBadRequest, nil, "Paste the text of a TrustID QR code.")
		return
	case strings.HasPrefix(code, qrcode.KindOnline.Prefix()):
		var red *sdk.Redemption
		if red, err = a.redeem.RedeemQR(r.Context(), code); err == nil {
			v = verification{Kind: "online", Holder: maskID(red.PairwiseID), Assurance: red.AssuranceLevel, Region: red.Region, Claims: sortedClaims(red.Claims)}
		}
	case strings.HasPrefix(code, qrcode.KindOffline.Prefix()), strings.HasPrefix(code, qrcode.KindStatic.Prefix()):
		var res *qrcode.Result
		if res, err = a.qr.Verify(r.Context(), code, qrcode.VerifyOptions{}); err == nil {
			v = verification{Kind: "offline", Holder: res.Presenter.String(), Assurance: res.Assurance, Region: res.Region, Claims: sortedClaims(res.Claims), Summary: res.Summary()}
		}
	default:
		a.renderVerify(w, http.StatusBadRequest, nil, "This is not a TrustID QR code.")
		return
	}
	if err != nil {
		status, msg := refusal(err)
		a.log.Info("code refused", "err", err)
		a.renderVerify(w, status, nil, msg)
		return
	}
	a.renderVerify(w, http.StatusOK, &v, "")
}

// refusal maps a verification error to a status and a message for staff.
func refusal(err error) (int, string) {
	var ne *sdk.NodeError
	switch {
	case errors.Is(err, qrcode.ErrCodeUsed):
		return http.StatusConflict, "Refused: this code was already used. Ask for a new one."
	case errors.Is(err, qrcode.ErrCodeExpired):
		return http.StatusUnprocessableEntity, "Refused: this code has expired. Ask for a new one."
	case errors.Is(err, qrcode.ErrRevoked), errors.Is(err, qrcode.ErrSuspended):
		return http.StatusUnprocessableEntity, "Refused: this identity is revoked or suspended."
	case errors.Is(err, qrcode.ErrStatusUnavailable), errors.Is(err, sdk.ErrToken), errors.Is(err, sdk.ErrKeysUnavailable):
		return http.StatusBadGateway, "Cannot check the code now: the identity service cannot be reached."
	case errors.As(err, &ne) && ne.Status >= 500:
		return http.StatusBadGateway, "Cannot check the code now: the identity service cannot be reached."
	default:
		return http.StatusUnprocessableEntity, "Refused: this code is not valid."
	}
}

// maskID shows the ends of a pairwise ID: enough for staff to compare
// with the account on file, not to copy it.
func maskID(id string) string {
	if len(id) <= 10 {
		return strings.Repeat("•", len(id))
	}
	return id[:4] + "…" + id[len(id)-4:]
}

func sortedClaims(m map[string]string) [][2]string {
	var out [][2]string
	for k, v := range m {
		out = append(out, [2]string{k, v})
	}
	slices.SortFunc(out, func(x, y [2]string) int { return strings.Compare(x[0], y[0]) })
	return out
}

func (a *App) renderVerify(w http.ResponseWriter, status int, v *verification, msg string) {
	a.render(w, status, "verify", map[string]any{"Result": v, "Error": msg})
}

func (a *App) fail(w http.ResponseWriter, status int, msg string) {
	a.render(w, status, "error", map[string]any{"Error": msg})
}

func (a *App) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		a.log.Error("render", "page", name, "err", err)
	}
}

// style is the pages' one stylesheet, allowed by its hash in the CSP.
const style = `body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}` +
	`code{word-break:break-all}dt{font-weight:bold}.err{color:#a00}textarea{width:100%}`

var styleHash = func() string {
	sum := sha256.Sum256([]byte(style))
	return base64.StdEncoding.EncodeToString(sum[:])
}()

var pages = template.Must(template.New("").Funcs(template.FuncMap{"style": func() template.CSS { return template.CSS(style) }}).Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sample relying party</title><style>{{style}}</style></head><body>
<p><a href="/">Home</a> · <a href="/verify">Check a QR code</a></p>{{end}}

{{define "home"}}{{template "head"}}
{{with .Session}}
<h1>Logged in with TrustID</h1>
<dl>
<dt>Your ID at this service (pairwise <code>sub</code>)</dt><dd><code id="sub">{{.Subject}}</code></dd>
<dt>Assurance level (<code>acr</code>)</dt><dd id="acr">{{.ACR}}</dd>
<dt>How you proved it (<code>amr</code>)</dt><dd id="amr">{{range $i, $m := .AMR}}{{if $i}} {{end}}{{$m}}{{end}}</dd>
<dt>When</dt><dd>{{.AuthTime.UTC.Format "2006-01-02 15:04:05 UTC"}}</dd>
</dl>
<form method="post" action="/logout"><button>Log out</button></form>
{{else}}
<h1>Sample relying party</h1>
<p><a href="/login">Log in with TrustID</a>: scan the code with the TrustID app.</p>
{{end}}
</body></html>{{end}}

{{define "verify"}}{{template "head"}}
<h1>Check a TrustID QR code</h1>
{{with .Error}}<p class="err" id="error">{{.}}</p>{{end}}
{{with .Result}}
<dl id="result">
<dt>Result</dt><dd>Valid {{.Kind}} code</dd>
<dt>Holder</dt><dd id="holder">{{.Holder}}</dd>
<dt>Assurance level</dt><dd id="level">L{{.Assurance}}</dd>
<dt>Region</dt><dd>{{.Region}}</dd>
{{range .Claims}}<dt>{{index . 0}}</dt><dd class="claim">{{index . 1}}</dd>{{end}}
</dl>
{{end}}
<form method="post" action="/verify">
<p><label for="code">Scanned code (TIDON1:…, TIDOFF2:… or TIDST1:…)</label></p>
<p><textarea id="code" name="code" rows="4" required autofocus></textarea></p>
<p><button>Check</button></p>
</form>
</body></html>{{end}}

{{define "error"}}{{template "head"}}
<h1>Login</h1>
<p class="err" id="error">{{.Error}}</p>
<p><a href="/login">Log in again</a></p>
</body></html>{{end}}
`))
