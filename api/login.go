package api

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/qrcode"
)

// LoginConfig configures MountLogin.
type LoginConfig struct {
	// Provider is the OpenID Connect provider. Required.
	Provider *login.Provider
	// Limiter and AddrLimit bound the login endpoints per source address;
	// nil Limiter disables the limit.
	Limiter   Limiter
	AddrLimit RateLimit
	// MaxWait bounds one long poll of the login page; zero means 25 s.
	MaxWait time.Duration
}

// MountLogin adds user login (OpenID Connect) on a server where MountOAuth
// is mounted: the token endpoint then serves authorization_code and
// refresh_token too, and the OpenID configuration is complete. The login
// page draws its QR with LoginQRScript, served by MountUI; without it the
// page shows the session's PNG.
//
//	GET, POST /oauth2/authorize             the login page (QR), or an error redirect
//	GET  /login/sessions/{id}               what the session asks (the holder's app)
//	POST /login/sessions/{id}/approve       the holder's signed approval
//	POST /login/sessions/{id}/counter-approve a counter terminal's approval (static code)
//	POST /login/sessions/{id}/deny          the holder's signed refusal (access_denied)
//	GET  /login/sessions/{id}/wait          the page's long poll (its cookie)
//	POST /login/sessions/{id}/extend        more time for the session, asked by the page (its cookie)
//	GET  /login/sessions/{id}/qr.png        the session's QR as a PNG, for a page without JavaScript (its cookie)
//	GET  /login/sessions/{id}/continue      the page without JavaScript: the code once approved, else the waiting page (its cookie)
//	GET  /login/sessions/{id}/page          the login page again, in the language ui_locales names (its cookie)
//	POST /login/sessions/{id}/restart       another protocol's expired login started again: a new session's page (its cookie)
//	GET, POST /oauth2/userinfo              claims for a login access token
//	GET, POST /oauth2/logout                RP-initiated logout
func (s *Server) MountLogin(cfg LoginConfig) error {
	if cfg.Provider == nil {
		return errors.New("api: LoginConfig.Provider is required")
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 25 * time.Second
	}
	cfg.AddrLimit.Name = "login-addr"
	l := &loginHandlers{s: s, cfg: cfg, p: cfg.Provider}
	s.login = cfg.Provider
	limited := func(h func(http.ResponseWriter, *http.Request) error) http.Handler {
		return s.rateLimit(cfg.Limiter, cfg.AddrLimit, ClientAddress, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				l.fail(w, r, err)
			}
		}))
	}
	// The pages a browser navigates to: over the limit, a page too
	// (refusePage).
	page := func(h func(http.ResponseWriter, *http.Request) error) http.Handler {
		return s.rateLimitPage(cfg.Limiter, cfg.AddrLimit, ClientAddress, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				l.fail(w, r, err)
			}
		}), func(w http.ResponseWriter, r *http.Request, err error) { refusePage(w, r, s, err) })
	}
	s.handleNoHead("GET "+login.AuthorizePath, page(noHead(l.authorize, http.MethodGet, http.MethodPost)))
	s.handle("POST "+login.AuthorizePath, page(l.authorize))
	s.handle("GET "+login.SessionPath, limited(l.describe))
	s.handle("POST "+login.SessionPath+"/approve", limited(l.approve))
	s.handle("POST "+login.SessionPath+"/counter-approve", limited(l.counterApprove))
	s.handle("POST "+login.SessionPath+"/deny", limited(l.deny))
	s.handleNoHead("GET "+login.SessionPath+"/wait", limited(noHead(l.wait, http.MethodGet)))
	s.handle("POST "+login.SessionPath+"/extend", page(l.extend))
	s.handle("GET "+login.SessionPath+"/qr.png", limited(l.qrPNG))
	s.handleNoHead("GET "+login.SessionPath+"/continue", page(noHead(l.continueNoJS, http.MethodGet)))
	s.handle("GET "+login.SessionPath+"/page", page(l.resume))
	s.handle("POST "+login.SessionPath+"/restart", page(l.restart))
	s.handle("GET "+login.UserInfoPath, limited(l.userinfo))
	s.handle("POST "+login.UserInfoPath, limited(l.userinfo))
	s.handleNoHead("GET "+login.LogoutPath, page(noHead(l.logout, http.MethodGet, http.MethodPost)))
	s.handle("POST "+login.LogoutPath, page(l.logout))
	return nil
}

type loginHandlers struct {
	s   *Server
	cfg LoginConfig
	p   *login.Provider
}

// loginStatus is the HTTP status of a login error code. invalid_client
// is 400: login names its client in a parameter or a session, and no
// route that answers it (authorization, logout, the session routes, PAR)
// takes an HTTP authentication scheme whose challenge a 401 could carry
// (RFC 9110 §15.5.2; the token endpoint's client authentication is
// package auth's).
func loginStatus(code string) int {
	switch code {
	case login.CodeInvalidToken:
		return http.StatusUnauthorized
	case login.CodeSessionNotFound:
		return http.StatusNotFound
	case login.CodeSessionLimit:
		return http.StatusConflict
	case login.CodeApprovalRefused, login.CodePINMismatch:
		return http.StatusForbidden
	case login.CodePINLocked:
		return http.StatusTooManyRequests
	case login.CodePINNotSet:
		return http.StatusUnprocessableEntity
	case login.CodeServerError:
		return http.StatusInternalServerError
	case login.CodeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// loginError turns an error of package login into a response; a
// response already made is kept.
func loginError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	var e *login.Error
	if errors.As(err, &e) {
		return &Error{Status: loginStatus(e.Code), Code: e.Code, Message: e.Description, Err: err}
	}
	return mapError(err)
}

func (l *loginHandlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Cache-Control", "no-store")
	writeError(w, r, l.s.log, loginError(err))
}

// loginCSP allows the page's own inline script and style and the QR
// drawing script (by nonce), its QR as a data: image drawn in the page or
// the node's PNG (without JavaScript), requests to the node, and its
// form asking for more time (without JavaScript) posted to the node;
// nothing else.
func loginCSP(nonce string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'nonce-" + nonce + "'; img-src 'self' data:; connect-src 'self'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// LoginQRScript is the script the login page draws its QR with: the web
// pages' vendored qrcode-generator (package webui, served by MountUI).
// Where it does not load, the page shows the session's PNG instead.
const LoginQRScript = UIPrefix + "assets/qrcode-generator.js"

// authorize is the authorization endpoint: the login page, an error
// sent back to the client's redirect URI, or, for an error that cannot
// be (refusePage), a page for a browser and JSON for another client.
func (l *loginHandlers) authorize(w http.ResponseWriter, r *http.Request) error {
	q, err := requestParams(r)
	if err != nil {
		refusePage(w, r, l.s, err)
		return nil
	}
	st, err := l.p.Authorize(r.Context(), q)
	if err != nil {
		if err := redirectAuthorizeError(w, r, l.s, err, l.p.Issuer()); err != nil {
			refusePage(w, r, l.s, err)
		}
		return nil
	}
	return renderLoginPage(w, r, l.p, st, restartOf(r.Method, q))
}

// restartForm is the login page's form that sends its authorization
// request again once the session has expired: a new session, a fresh QR,
// with one press (WCAG 2.2.1), where "go back to the site" is many.
type restartForm struct {
	Method, Action string
	Params         []restartParam
}

type restartParam struct{ Name, Value string }

// restartOf is the restart form of an authorization request to
// login.AuthorizePath sent with method and parameters q, the same way.
func restartOf(method string, q url.Values) *restartForm {
	f := &restartForm{Method: "get", Action: login.AuthorizePath}
	if method == http.MethodPost {
		f.Method = "post"
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		for _, v := range q[name] {
			f.Params = append(f.Params, restartParam{name, v})
		}
	}
	return f
}

// maxPostedParams bounds the body of a POST to the authorization or
// logout endpoint.
const maxPostedParams = 32 << 10

// requestParams reads the parameters of a request to the authorization
// or logout endpoint, which take GET and POST alike (OpenID Connect Core
// §3.1.2.1, RP-Initiated Logout §2: the OP "MUST support the use of the
// HTTP GET and POST methods"): a GET's URL query; a POST's
// application/x-www-form-urlencoded body (Form Serialization), with
// nothing in the URL's query. Either is read whole or refused
// (invalid_request, RFC 6749 §4.1.2.1: "or is otherwise malformed"): a
// pair that does not decode (a bad escape, a ';') is not dropped, which
// would take the request without it (a state or nonce the client sent
// read as none).
func requestParams(r *http.Request) (url.Values, error) {
	bad := func(msg string) error {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: msg}
	}
	if r.Method != http.MethodPost {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, bad("the query is not valid application/x-www-form-urlencoded")
		}
		return q, nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, bad("the parameters of a POST must be an application/x-www-form-urlencoded body")
	}
	if r.URL.RawQuery != "" {
		return nil, bad("the parameters of a POST must be in its body, not the URL")
	}
	if contentCoded(r) {
		return nil, bad("the form must be sent without Content-Encoding")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPostedParams+1))
	var tooBig *http.MaxBytesError
	if len(body) > maxPostedParams || errors.As(err, &tooBig) {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeInvalidRequest, Message: "the form is larger than " + strconv.Itoa(maxPostedParams) + " bytes"}
	}
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the body could not be read", Err: err}
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, bad("the form is not valid application/x-www-form-urlencoded")
	}
	return q, nil
}

// refusePage answers an error of a page a browser navigates to (the
// authorization endpoints' errors that must not be redirected, RFC 6749
// §4.1.2.1: unknown client, a redirect URI missing or not registered;
// the page routes' rate limits): the ended page, in the login pages'
// language with the stable error code, when Accept prefers text/html,
// else the JSON error. The status is the same either way.
func refusePage(w http.ResponseWriter, r *http.Request, s *Server, err error) {
	w.Header().Add("Vary", "Accept")
	if prefersHTML(r) {
		if err := endedPage(w, r, s, err); err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelError, "writing an error page", slog.String("request_id", requestID(r.Context())), slog.Any("cause", err))
		}
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeError(w, r, s.log, loginError(err))
}

// redirectAuthorizeError sends an authorization error back to the
// client's redirect URI when that is safe (RFC 6749 §4.1.2.1), with the
// authorization server's issuer iss (RFC 9207 §2: error responses too)
// and a safe description (auth.SafeDescription), and returns nil; any
// other error it returns, to be shown on the node.
func redirectAuthorizeError(w http.ResponseWriter, r *http.Request, s *Server, err error, iss string) error {
	var ae *login.AuthorizeError
	if errors.As(err, &ae) && ae.RedirectURI != "" {
		s.log.Info("authorization refused", "request_id", requestID(r.Context()), "code", ae.Err.Code)
		q := url.Values{"error": {ae.Err.Code}, "error_description": {auth.SafeDescription(ae.Err.Description)}, "iss": {iss}}
		if ae.State != "" {
			q.Set("state", ae.State)
		}
		sep := "?"
		if strings.Contains(ae.RedirectURI, "?") {
			sep = "&"
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, ae.RedirectURI+sep+q.Encode(), http.StatusFound)
		return nil
	}
	if errors.As(err, &ae) {
		return ae.Err
	}
	return err
}

// renderLoginPage serves the login page of a login session just started,
// in the language of its request's ui_locales (for a pushed request, the
// pushed one's) or the browser's, and sets the session's browser cookie.
func renderLoginPage(w http.ResponseWriter, r *http.Request, p *login.Provider, st *login.Started, restart *restartForm) error {
	// The cookie lasts as long as the session may be extended to.
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: st.Browser, Path: sessionPath(st.ID),
		MaxAge: int((1 + login.SessionExtensions) * p.SessionTTL() / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: httpsURL(p.Issuer()),
	})
	return writeLoginPage(w, p, st, pageTextFor(w, r, st.UILocales), restart)
}

// httpsURL reports whether s is an https URL, its scheme in any case
// (RFC 3986 §3.1).
func httpsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https"
}

// writeLoginPage writes the login page of session st in t: the session URL
// for the page's script to draw as a QR (with the PNG endpoint for a
// browser without JavaScript), the app link, the long poll, and the
// links on (without JavaScript, and to the page in the other language),
// which carry the page's language in ui_locales, and restart, the form
// its script shows once the session has expired; for another protocol's
// login (st.Restartable) without one, the form that starts the session
// again (POST .../restart). No QR is encoded here.
func writeLoginPage(w http.ResponseWriter, p *login.Provider, st *login.Started, t *loginText, restart *restartForm) error {
	path := sessionPath(st.ID)
	sessionURL := p.Issuer() + path
	nonce := pageNonce()
	if restart == nil && st.Restartable {
		restart = &restartForm{Method: "post", Action: path + "/restart?ui_locales=" + t.Lang}
	}
	return writePage(w, loginCSP(nonce), loginPage, loginPageData{
		T: t, Nonce: nonce, ClientName: st.ClientName, Claims: t.claimLabels(st.Claims), Level: st.Level.String(), Purpose: t.purpose(st.Purpose),
		SessionURL: sessionURL, QRScript: LoginQRScript, PNGPath: path + "/qr.png",
		AppLink:      template.URL("trustid://login?session=" + url.QueryEscape(sessionURL)),
		WaitPath:     path + "/wait",
		ContinuePath: path + "/continue?ui_locales=" + t.Lang,
		SwitchPath:   path + "/page?ui_locales=" + t.Other,
		ExtendPath:   path + "/extend?ui_locales=" + t.Lang,
		Lifetime:     st.Left.Milliseconds(),
		WarnBefore:   warnBefore.Milliseconds(),
		Restart:      restart,
	})
}

// sessionPath is the path of login session id.
func sessionPath(id string) string {
	return strings.Replace(login.SessionPath, "{id}", id, 1)
}

// resume shows the login page of a session again to the browser that
// started it (its cookie), in the language its ui_locales names: the
// page's language switch. Its restart form sends the session's
// authorization request (login.Started.Request) again in that language,
// by POST whichever way it first came (the endpoint takes both alike,
// and what was posted does not go into a URL). Its refusals are HTML
// pages (endedPage).
func (l *loginHandlers) resume(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return l.endedPage(w, r, &login.Error{Code: login.CodeSessionNotFound, Description: "no login session for this browser"})
	}
	st, err := l.p.Resume(r.Context(), r.PathValue("id"), c.Value)
	if err != nil {
		return l.endedPage(w, r, err)
	}
	t := pageText(w, r)
	var restart *restartForm
	if st.Request != nil {
		q := maps.Clone(st.Request)
		q.Set("ui_locales", t.Lang)
		restart = restartOf(http.MethodPost, q)
	}
	return writeLoginPage(w, l.p, st, t, restart)
}

// restart is the "Get a new code" form of another protocol's login
// (login.Provider.Restart), whose request is spent: the page of a new
// session for the same request, in the language ui_locales names, with
// its own cookie. Only the node's own page sends it (crossOrigin): a
// page of another origin, even of the same site, whose requests carry
// the cookie, cannot end the session and spend its restart. A session
// the phone has answered meanwhile (its page's poll gave up first) is
// not started again: the answer is collected, as the poll would, by the
// waiting page moving on to continue at once (writeWaitingPage). Its
// other refusals are HTML pages (endedPage).
func (l *loginHandlers) restart(w http.ResponseWriter, r *http.Request) error {
	if crossOrigin.Check(r) != nil {
		return l.endedPage(w, r, &Error{Status: http.StatusForbidden, Code: CodeCrossSiteRequest, Message: "only the login page may start its login again"})
	}
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return l.endedPage(w, r, &login.Error{Code: login.CodeSessionNotFound, Description: "no login session for this browser"})
	}
	st, err := l.p.Restart(r.Context(), r.PathValue("id"), c.Value)
	if errors.Is(err, login.ErrAnswered) {
		t := pageText(w, r)
		return writeWaitingPage(w, r, t, http.StatusOK, t.Answered, true)
	}
	if err != nil {
		return l.endedPage(w, r, err)
	}
	st.UILocales = r.URL.Query().Get("ui_locales")
	return renderLoginPage(w, r, l.p, st, nil)
}

// pageNonce is a fresh CSP nonce for one page.
func pageNonce() string {
	var nb [16]byte
	rand.Read(nb[:])
	return base64.RawURLEncoding.EncodeToString(nb[:])
}

// writePage renders a login HTML page under the CSP csp, uncached.
func writePage(w http.ResponseWriter, csp string, t *template.Template, data any) error {
	return writePageStatus(w, http.StatusOK, csp, t, data)
}

// writePageStatus is writePage with a status.
func writePageStatus(w http.ResponseWriter, status int, csp string, t *template.Template, data any) error {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page is rendered whole, then written once with its length: the
	// response writer's 4 KB buffer would send it in chunks, a write
	// system call each.
	page := pageBuffers.Get().(*bytes.Buffer)
	defer pageBuffers.Put(page)
	page.Reset()
	if err := t.Execute(page, data); err != nil {
		return err
	}
	h.Set("Content-Length", strconv.Itoa(page.Len()))
	w.WriteHeader(status)
	_, err := w.Write(page.Bytes())
	return err
}

// noHead refuses HEAD (405, Allow: allow) on a GET route that changes
// state, registered with handleNoHead: the authorization endpoints start
// a login session (OID4VCI's spends a pushed request_uri, RFC 9126 §4,
// and the offer's issuer_state), wait and continue end an answered
// session and give its code, logout ends a login. The router sends HEAD
// to GET routes, but HEAD is safe (RFC 9110 §9.2.1) and carries no
// content (§9.3.2), so it must not be that GET: a link checker's HEAD
// ended the login the browser's GET then found ended, its code never
// seen.
func noHead(h func(http.ResponseWriter, *http.Request) error, allow ...string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method == http.MethodHead {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethod, Message: "this request changes state: use " + strings.Join(allow, " or ")}
		}
		return h(w, r)
	}
}

// continueNoJS is the login page's way on without JavaScript: for the
// browser holding the session's cookie, the redirect with the code (or
// the refusal) once the holder has answered; before that, the waiting
// page (the PNG QR and a link to check again). The waiting page does not
// reload itself (WCAG 2.2.1: a timed reload moves a screen reader or a
// magnifier back to the top): the person says when they have approved.
//
// It answers a browser, so its refusals are HTML pages (endedPage): a
// session that is finished, expired, unknown or another browser's is a
// 404 saying the login has ended.
func (l *loginHandlers) continueNoJS(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return l.endedPage(w, r, &login.Error{Code: login.CodeSessionNotFound, Description: "no login session for this browser"})
	}
	out, err := l.p.Wait(r.Context(), r.PathValue("id"), c.Value, 0)
	if err != nil {
		return l.endedPage(w, r, err)
	}
	if out != nil {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, out.Redirect, http.StatusSeeOther)
		return nil
	}
	return writeWaitingPage(w, r, pageText(w, r), http.StatusOK, "", false)
}

// writeWaitingPage writes the waiting page of the request's session in
// t, with a notice ("" for none) and status; with moveOn, a page that
// goes on to its link (continue) at once, to collect an answer. It moves
// on by an instant refresh (WCAG technique H76), not a redirect: as the
// answer of a form (restart's, extend's), continue's redirect to the
// client would be part of the form's submission, whose every redirect a
// browser checks against the form's page's form-action ('self'):
// Chromium stops the chain before the client.
func writeWaitingPage(w http.ResponseWriter, r *http.Request, t *loginText, status int, notice string, moveOn bool) error {
	nonce := pageNonce()
	path := sessionPath(r.PathValue("id"))
	return writePageStatus(w, status, waitingCSP(nonce), waitingPage, waitingPageData{
		T: t, Nonce: nonce, PNGPath: path + "/qr.png", Notice: notice, MoveOn: moveOn,
		ContinuePath: path + "/continue?ui_locales=" + t.Lang, SwitchPath: path + "/continue?ui_locales=" + t.Other,
		ExtendPath: path + "/extend?ui_locales=" + t.Lang,
	})
}

// warnBefore is how long before its session ends the login page warns
// and offers more time (WCAG 2.2 SC 2.2.1: "at least 20 seconds").
const warnBefore = 60 * time.Second

// extend gives the browser's open login session more time
// (login.Provider.Extend): the login page's script asks for JSON
// ({"expires_in": seconds, "extendable": bool}); a page without
// JavaScript posts its form (Accept prefers text/html) and gets the
// waiting page again, saying how long the login now waits, or that it
// cannot be extended again (409); a session the phone has answered
// meanwhile gets the waiting page saying so, which goes on at once to
// continue to collect the answer, as restart's does. Other refusals are
// as continue's. The answer is never a redirect: a browser checks a
// form's redirects against the page's form-action. Only the node's own
// page asks
// (crossOrigin): a page of another origin, even of the same site, whose
// requests carry the cookie, cannot spend the session's extensions (403
// cross_site_request, nothing changed).
func (l *loginHandlers) extend(w http.ResponseWriter, r *http.Request) error {
	w.Header().Add("Vary", "Accept")
	html := prefersHTML(r)
	var out *login.Extended
	c, err := r.Cookie(loginCookie)
	switch {
	case crossOrigin.Check(r) != nil:
		err = &Error{Status: http.StatusForbidden, Code: CodeCrossSiteRequest, Message: "only the login page may ask for more time"}
	case err != nil:
		err = &login.Error{Code: login.CodeSessionNotFound, Description: "no login session for this browser"}
	default:
		out, err = l.p.Extend(r.Context(), r.PathValue("id"), c.Value)
	}
	if !html {
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, loginExtended{ExpiresIn: int64(out.Left / time.Second), Extendable: out.Extendable})
		return nil
	}
	t := pageText(w, r)
	var e *login.Error
	switch {
	case err == nil:
		return writeWaitingPage(w, r, t, http.StatusOK, strings.Replace(t.Extended, "{m}", strconv.Itoa(max(1, int((out.Left+30*time.Second)/time.Minute))), 1), false)
	case errors.As(err, &e) && e.Code == login.CodeSessionLimit:
		return writeWaitingPage(w, r, t, http.StatusConflict, t.NoMoreTime, false)
	case errors.Is(err, login.ErrAnswered):
		return writeWaitingPage(w, r, t, http.StatusOK, t.Answered, true)
	}
	return l.endedPage(w, r, err)
}

// loginExtended is the answer of extend to the page's script.
type loginExtended struct {
	ExpiresIn  int64 `json:"expires_in"`
	Extendable bool  `json:"extendable"`
}

// endedPage answers the page without JavaScript with err as an HTML
// page (logged as writeError logs), under the waiting page's policy, in
// the page's language only: for a session that is no more, that the
// login has ended and how to start again; for a 5xx, that the service is
// unavailable; for any other error, the language's message of its code,
// or a generic one. Both show the stable error code; the error's own
// description (English, internal) never reaches the page.
func (l *loginHandlers) endedPage(w http.ResponseWriter, r *http.Request, err error) error {
	return endedPage(w, r, l.s, err)
}

// endedPage is loginHandlers.endedPage for any page route; a refused
// logout (other than by a rate limit or a 5xx) says the logout was not
// accepted. A browser's page route takes no HTTP authentication scheme:
// no challenge is made up for it.
func endedPage(w http.ResponseWriter, r *http.Request, s *Server, err error) error {
	e := loginError(err)
	logError(r, s.log, e)
	t := pageText(w, r)
	d := endedPageData{T: t, Nonce: pageNonce(), Title: t.Failed, Message: t.Generic, Code: e.Code}
	switch {
	case e.Code == login.CodeSessionNotFound:
		d.Title, d.Message, d.Code = t.Ended, t.EndedMessage, ""
	case e.Status >= 500:
		d.Title, d.Message = t.Unavailable, t.UnavailableMessage
	default:
		if m, ok := t.Errors[e.Code]; ok {
			d.Message = m
		}
		if r.URL.Path == login.LogoutPath && e.Code != CodeRateLimited {
			d.Title, d.Message = t.LogoutFailed, t.LogoutFailedMessage
		}
	}
	return writePageStatus(w, e.Status, endedCSP(d.Nonce), endedPageTemplate, d)
}

type endedPageData struct {
	T                     *loginText
	Nonce, Title, Message string
	// Code is the stable error code shown beside the message ("" for
	// none).
	Code string
}

// pageStyle is the login pages' style: large type, for elderly users
// too, and the link on as a large button.
const pageStyle = `body{font-family:sans-serif;font-size:1.25rem;line-height:1.5;max-width:30rem;margin:2rem auto;padding:0 1rem;text-align:center}` +
	`img{width:16rem;height:16rem;image-rendering:pixelated}` +
	`.button{display:inline-block;padding:.75rem 1.5rem;border:2px solid #0b57d0;border-radius:.5rem;color:#0b57d0;background:#fff;font:inherit;font-weight:bold;text-decoration:none;cursor:pointer}` +
	`a:focus-visible,button:focus-visible{outline:3px solid #0b57d0;outline-offset:3px}`

// endedPageTemplate tells a browser without JavaScript that its login
// cannot go on.
var endedPageTemplate = template.Must(template.New("ended").Parse(`<!doctype html>
<html lang="{{.T.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.Title}}</title>
<style nonce="{{.Nonce}}">` + pageStyle + `</style>
</head><body>
<h1 id="ended">{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .Code}}<p id="code">{{.T.ErrorCode}}<code>{{.Code}}</code></p>{{end}}
</body></html>
`))

// waitingCSP is the waiting page's policy: its own style by nonce, the
// node's PNG and its form asking for more time, posted to the node; no
// script, no fetch.
func waitingCSP(nonce string) string {
	return "default-src 'none'; style-src 'nonce-" + nonce + "'; img-src 'self'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// endedCSP is the policy of the pages that end a login (ended, logged
// out): waitingCSP without a form.
func endedCSP(nonce string) string {
	return strings.Replace(waitingCSP(nonce), "form-action 'self'", "form-action 'none'", 1)
}

type waitingPageData struct {
	T                     *loginText
	Nonce                 string
	PNGPath, ContinuePath string
	// SwitchPath is this page in the other language; ExtendPath its
	// form's, asking for more time.
	SwitchPath, ExtendPath string
	// Notice says what the form did ("" for none).
	Notice string
	// MoveOn makes the page go on to ContinuePath at once.
	MoveOn bool
}

// waitingPage is the page a browser without JavaScript waits on, until
// the person, having approved, checks again.
var waitingPage = template.Must(template.New("waiting").Parse(`<!doctype html>
<html lang="{{.T.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.Title}}</title>
{{if .MoveOn}}<meta http-equiv="refresh" content="0; url={{.ContinuePath}}">
{{end}}<style nonce="{{.Nonce}}">` + pageStyle + `</style>
</head><body>
<p><a id="language" lang="{{.T.Other}}" hreflang="{{.T.Other}}" href="{{.SwitchPath}}">{{.T.Switch}}</a></p>
<h1 id="waiting">{{.T.WaitingH1}}</h1>
{{if .Notice}}<p id="notice" role="status">{{.Notice}}</p>{{end}}
<p id="not-yet">{{.T.NotYet}}</p>
<img id="qr-png" alt="{{.T.QRAlt}}" src="{{.PNGPath}}">
<p><a id="continue" class="button" href="{{.ContinuePath}}">{{.T.CheckAgain}}</a></p>
<form method="post" action="{{.ExtendPath}}"><p><button id="extend" class="button" type="submit">{{.T.MoreTime}}</button></p></form>
</body></html>
`))

// loginQRSize is the side in pixels of the session's PNG QR.
const loginQRSize = 320

// qrPNG is the session's QR as a PNG, encoded only when fetched: the
// login page's image where JavaScript does not run. Only the browser
// holding the session's cookie gets it, while the session is open.
func (l *loginHandlers) qrPNG(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return &Error{Status: http.StatusNotFound, Code: login.CodeSessionNotFound, Message: "no login session for this browser"}
	}
	id := r.PathValue("id")
	if err := l.p.Pending(r.Context(), id, c.Value); err != nil {
		return err
	}
	code, err := qrcode.Encode(l.p.Issuer()+strings.Replace(login.SessionPath, "{id}", id, 1), qrcode.Medium)
	if err != nil {
		return err
	}
	body, err := code.PNG(loginQRSize)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	// A session's QR never changes: the waiting page, shown again at each
	// check, takes it from the browser's cache, not from a new encoding.
	h.Set("Cache-Control", "private, max-age="+strconv.Itoa(int(l.p.SessionTTL()/time.Second)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, err = w.Write(body)
	return err
}

// pageBuffers hold login pages being rendered (about 2.5 KB each).
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// loginCookie carries the browser secret of a login session, scoped to
// the session's path.
const loginCookie = "tid_login"

func (l *loginHandlers) describe(w http.ResponseWriter, r *http.Request) error {
	req, err := l.p.Describe(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, req)
	return nil
}

func (l *loginHandlers) approve(w http.ResponseWriter, r *http.Request) error {
	var req login.Approval
	if err := decodeQRBody(r, &req); err != nil {
		return err
	}
	if err := l.p.Approve(r.Context(), r.PathValue("id"), &req); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (l *loginHandlers) deny(w http.ResponseWriter, r *http.Request) error {
	var req login.Approval
	if err := decodeQRBody(r, &req); err != nil {
		return err
	}
	if err := l.p.Deny(r.Context(), r.PathValue("id"), &req); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxCounterBody bounds a counter approval's body: a static code of up
// to 4096 bytes and an attestation of up to 8192 (login.CounterApproval's
// bounds, as api/openapi.json documents them), and a PIN.
const maxCounterBody = 16 << 10

func (l *loginHandlers) counterApprove(w http.ResponseWriter, r *http.Request) error {
	var req login.CounterApproval
	if err := decodeBody(r, maxCounterBody, &req, invalidRequest, "with the documented fields"); err != nil {
		return err
	}
	if err := l.p.ApproveAtCounter(r.Context(), r.PathValue("id"), &req); err != nil {
		return counterPINError(w, r, l.s, err)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// counterPINError answers a wrong PIN with the attempts left (as POST
// /v1/bindings/pin does) and a locked code with Retry-After; other errors
// are returned to the caller. Neither answer nor log line has the PIN.
func counterPINError(w http.ResponseWriter, r *http.Request, s *Server, err error) error {
	var locked *identity.LockedError
	if errors.As(err, &locked) {
		secs := int64((locked.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		return err
	}
	var mm *enrollment.PINMismatchError
	if !errors.As(err, &mm) {
		return err
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request failed", slog.String("request_id", requestID(r.Context())),
		slog.String("code", login.CodePINMismatch), slog.Int("status", http.StatusForbidden), slog.Int("attempts_remaining", mm.Remaining))
	writeJSONStatus(w, http.StatusForbidden, pinMismatchBody{Error: login.CodePINMismatch,
		Description: "wrong PIN; " + mm.AttemptsLeft() + " before the code is locked", AttemptsRemaining: mm.Remaining})
	return nil
}

func (l *loginHandlers) wait(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return &Error{Status: http.StatusNotFound, Code: login.CodeSessionNotFound, Message: "no login session for this browser"}
	}
	// A stopping node answers "pending" now rather than hold its drain.
	ctx, cancel := l.s.untilDrain(r.Context())
	defer cancel()
	out, err := l.p.Wait(ctx, r.PathValue("id"), c.Value, l.cfg.MaxWait)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	if out == nil {
		writeJSON(w, map[string]string{"status": "pending"})
		return nil
	}
	writeJSON(w, map[string]string{"status": "approved", "redirect": out.Redirect})
	return nil
}

func (l *loginHandlers) userinfo(w http.ResponseWriter, r *http.Request) error {
	tok, err := bearerToken(r)
	if err != nil {
		var c challenger
		if errors.As(err, &c) {
			w.Header().Set("WWW-Authenticate", c.challenge())
		}
		return err
	}
	claims, err := l.p.UserInfo(r.Context(), tok)
	if err != nil {
		e := loginError(err)
		e.Message = auth.SafeDescription(e.Message)
		if e.Code == login.CodeInvalidToken {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trustid", error="invalid_token", error_description="`+e.Message+`"`)
		}
		return e
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, claims)
	return nil
}

// logout is RP-initiated logout: the redirect to the client's
// post-logout URI, or a page saying the person is logged out, in the
// language of ui_locales or the browser. A refusal is a page for a
// browser, JSON for another client (refusePage).
func (l *loginHandlers) logout(w http.ResponseWriter, r *http.Request) error {
	q, err := requestParams(r)
	if err != nil {
		refusePage(w, r, l.s, err)
		return nil
	}
	out, err := l.p.Logout(r.Context(), q)
	t := pageText(w, r)
	message := t.LoggedOutMessage
	switch {
	case err != nil:
		refusePage(w, r, l.s, err)
		return nil
	case out.NoReturn != nil && !prefersHTML(r):
		refusePage(w, r, l.s, out.NoReturn)
		return nil
	case out.NoReturn != nil:
		// The login is ended; only the way back is refused: the person
		// is told so, not that the logout failed.
		w.Header().Add("Vary", "Accept")
		message = t.LoggedOutNoReturn
	case out.Redirect != "":
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, out.Redirect, http.StatusFound)
		return nil
	}
	nonce := pageNonce()
	return writePage(w, endedCSP(nonce), loggedOutPage, loggedOutPageData{T: t, Nonce: nonce, Message: message})
}

type loggedOutPageData struct {
	T              *loginText
	Nonce, Message string
}

// loggedOutPage ends a logout that has no post-logout redirect URI.
var loggedOutPage = template.Must(template.New("logged-out").Parse(`<!doctype html>
<html lang="{{.T.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.Title}}</title>
<style nonce="{{.Nonce}}">` + pageStyle + `</style>
</head><body>
<h1 id="logged-out">{{.T.LoggedOut}}</h1>
<p id="message">{{.Message}}</p>
</body></html>
`))

type loginPageData struct {
	T                                 *loginText
	Nonce, ClientName, Level, Purpose string
	Claims                            []string // labels, in T's language
	// SessionURL is what the QR encodes; the page's script draws it with
	// QRScript. PNGPath is the session's PNG, for a page without it.
	SessionURL, QRScript, PNGPath string
	AppLink                       template.URL
	// WaitPath is the script's long poll; ContinuePath the way on
	// without a script; SwitchPath the page in the other language;
	// ExtendPath asks for more time.
	WaitPath, ContinuePath, SwitchPath, ExtendPath string
	// Lifetime bounds, in milliseconds, how long the script retries
	// polls the node refused for a while: what is left of the session's
	// lifetime. WarnBefore is how long before its end the page warns.
	Lifetime, WarnBefore int64
	// Restart sends the authorization request again once the session
	// has expired; nil where it cannot be (a pushed request is spent,
	// the page in the other language no longer has it).
	Restart *restartForm
}

// loginPage is the server-rendered login page: the QR to scan (drawn by
// the page's script from data-uri, or the node's PNG without JavaScript
// or when the drawing script did not load), the link for the app on the
// same device, and a long poll that follows the redirect once the holder
// approves (without JavaScript, a link to the continue route).
var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="{{.T.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.Title}}</title>
<style nonce="{{.Nonce}}">` + pageStyle + `</style>
</head><body>
<p><a id="language" lang="{{.T.Other}}" hreflang="{{.T.Other}}" href="{{.SwitchPath}}">{{.T.Switch}}</a></p>
<h1>{{.T.LoginTo}}{{.ClientName}}</h1>
{{if .Purpose}}<p id="purpose">{{.T.For}}{{.Purpose}}</p>{{end}}
<p>{{.T.Scan}}{{.T.AssuranceAsked}}{{.Level}}</p>
{{if .Claims}}<p id="claims">{{.T.SharedBefore}}{{.ClientName}}{{.T.SharedAfter}}{{range $i, $c := .Claims}}{{if $i}}, {{end}}{{$c}}{{end}}</p>{{end}}
<img id="qr" alt="{{.T.QRAlt}}" data-uri="{{.SessionURL}}" data-png="{{.PNGPath}}" hidden>
<noscript><img id="qr-png" alt="{{.T.QRAlt}}" src="{{.PNGPath}}">
<p><a id="continue" class="button" href="{{.ContinuePath}}">{{.T.Continue}}</a></p>
<form method="post" action="{{.ExtendPath}}"><p><button class="button" type="submit">{{.T.MoreTime}}</button></p></form></noscript>
<p><a id="app" href="{{.AppLink}}">{{.T.OpenApp}}</a></p>
<p id="status" role="status">{{.T.Waiting}}</p>
<p id="warning" role="alert"></p>
<p><button id="extend" class="button" type="button" hidden>{{.T.MoreTime}}</button></p>
{{with .Restart}}<form id="restart" method="{{.Method}}" action="{{.Action}}" hidden>{{range .Params}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}<p><button id="new-code" class="button" type="submit">{{$.T.NewCode}}</button></p></form>{{end}}
<script nonce="{{.Nonce}}" src="{{.QRScript}}"></script>
<script nonce="{{.Nonce}}">
(function () {
  var img = document.getElementById("qr");
  if (window.qrcode) {
    var q = window.qrcode(0, "M");
    q.addData(img.getAttribute("data-uri"), "Byte");
    q.make();
    img.src = q.createDataURL(8);
  } else {
    img.src = img.getAttribute("data-png");
  }
  img.hidden = false;
  var path = {{.WaitPath}}, end = Date.now() + {{.Lifetime}}, pause = 1000;
  var warning = document.getElementById("warning"), more = document.getElementById("extend");
  var extendable = true, timer = 0, over = false;
  // An ended session's QR and app link would only lead to an error on
  // the phone: they go, and the page says what works from any way here:
  // where it can, one button, given focus, that starts the login again.
  function expired() {
    over = true;
    clearTimeout(timer);
    img.hidden = true;
    more.hidden = true;
    warning.textContent = "";
    document.getElementById("app").parentNode.hidden = true;
    var restart = document.getElementById("restart");
    document.getElementById("status").textContent = restart ? {{.T.ExpiredNew}} : {{.T.Expired}};
    if (restart) { restart.hidden = false; document.getElementById("new-code").focus(); }
  }
  // WarnBefore the session ends, the page says so in its alert region
  // and offers more time (WCAG 2.2 SC 2.2.1): one button, given focus,
  // so a key press extends the session to a whole lifetime again.
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(warn, Math.max(0, end - {{.WarnBefore}} - Date.now()));
  }
  function warn() {
    if (over) { return; }
    var s = String(Math.max(0, Math.round((end - Date.now()) / 1000)));
    warning.textContent = (extendable ? {{.T.Warning}} : {{.T.LastWarning}}).replace("{s}", s);
    if (extendable) { more.hidden = false; more.focus(); }
  }
  more.addEventListener("click", function () {
    more.disabled = true;
    fetch({{.ExtendPath}}, {method: "POST", credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}}).then(function (r) {
      return r.json().then(function (b) {
        more.disabled = false;
        if (over) { return; }
        if (r.ok) {
          end = Date.now() + b.expires_in * 1000;
          extendable = b.extendable;
          more.hidden = true;
          warning.textContent = {{.T.Extended}}.replace("{m}", String(Math.max(1, Math.round(b.expires_in / 60))));
          schedule();
        } else if (r.status === 409) {
          extendable = false;
          more.hidden = true;
          warning.textContent = {{.T.NoMoreTime}};
        } else if (r.status === 404) {
          // Answered (the poll follows it) or ended (the poll says so).
          more.hidden = true;
        } else {
          warning.textContent = {{.T.ExtendFailed}};
        }
      });
    }).catch(function () {
      more.disabled = false;
      warning.textContent = {{.T.ExtendFailed}};
    });
  });
  schedule();
  // A node unavailable for a while (503) or a limit (429) is retried
  // after Retry-After (at most 30 s) or the pause, whichever is longer,
  // the pause doubling to 8 s; a network failure after the pause; never
  // past the session's lifetime. Any other refusal ends it.
  function retry(after) {
    var wait = Math.max(pause, Math.min((parseInt(after, 10) || 0) * 1000, 30000));
    pause = Math.min(pause * 2, 8000);
    if (Date.now() + wait >= end) { expired(); return; }
    setTimeout(poll, wait);
  }
  function poll() {
    fetch(path, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (r.status === 503 || r.status === 429) { retry(r.headers.get("Retry-After")); return; }
      return r.json().then(function (b) {
        if (r.ok && b.status === "approved") { window.location.assign(b.redirect); return; }
        if (!r.ok) { expired(); return; }
        pause = 1000;
        poll();
      });
    }).catch(function () { retry(null); });
  }
  poll();
})();
</script>
</body></html>
`))
