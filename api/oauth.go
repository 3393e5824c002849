package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/authheader"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// Error codes of OAuth 2.0 (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2).
const (
	CodeInvalidClient          = "invalid_client"
	CodeInvalidGrant           = "invalid_grant"
	CodeUnauthorizedClient     = "unauthorized_client"
	CodeUnsupportedGrantType   = "unsupported_grant_type"
	CodeInvalidScope           = "invalid_scope"
	CodeInvalidToken           = "invalid_token"
	CodeInsufficientScope      = "insufficient_scope"
	CodeInvalidClientMetadata  = "invalid_client_metadata"
	CodeClientExists           = "client_exists"
	CodeUnsupportedContentType = "unsupported_media_type"
)

// authErrors maps package auth's error kinds; see errorTables.
var authErrors = []mapping{
	{auth.ErrInvalidRequest, http.StatusBadRequest, CodeInvalidRequest, ""},
	{auth.ErrInvalidClient, http.StatusUnauthorized, CodeInvalidClient, ""},
	{auth.ErrInvalidGrant, http.StatusBadRequest, CodeInvalidGrant, ""},
	{auth.ErrUnauthorizedClient, http.StatusBadRequest, CodeUnauthorizedClient, ""},
	{auth.ErrUnsupportedGrantType, http.StatusBadRequest, CodeUnsupportedGrantType, ""},
	{auth.ErrInvalidScope, http.StatusBadRequest, CodeInvalidScope, ""},
	{auth.ErrInvalidTarget, http.StatusBadRequest, "invalid_target", ""},
	{auth.ErrInvalidToken, http.StatusUnauthorized, CodeInvalidToken, ""},
	{auth.ErrInsufficientScope, http.StatusForbidden, CodeInsufficientScope, ""},
	{auth.ErrInvalidClientMetadata, http.StatusBadRequest, CodeInvalidClientMetadata, ""},
	{auth.ErrClientNotFound, http.StatusNotFound, CodeNotFound, "no such client"},
	{auth.ErrClientExists, http.StatusConflict, CodeClientExists, "a client with this client_id exists"},
	{auth.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable, "temporarily unavailable; retry later"},
}

// authError turns an error from package auth into a response, with the
// auth.Error's description (safe to show) as the message.
func authError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, m := range authErrors {
		if errors.Is(err, m.err) {
			msg := m.message
			var ae *auth.Error
			if errors.As(err, &ae) && m.status < 500 {
				msg = ae.Description
			}
			if msg == "" {
				msg = m.err.Error()
			}
			return &Error{Status: m.status, Code: m.code, Message: msg, Err: err}
		}
	}
	return mapError(err)
}

// OAuthConfig configures MountOAuth.
type OAuthConfig struct {
	// Auth issues and checks tokens. Required.
	Auth *auth.Service
	// Limiter counts rate limits; nil disables them.
	Limiter Limiter
	// AddrLimit applies per source address (ClientAddress) to the token,
	// introspection and revocation endpoints, before any other work.
	AddrLimit RateLimit
	// ClientLimit applies per authenticated client on the same endpoints.
	// It counts only after authentication, so nobody can use up another
	// client's allowance with forged requests.
	ClientLimit RateLimit
	// MaxForm bounds a form body in bytes; zero means 16 KiB.
	MaxForm int64
	// Peers, when set, authenticates other regions' nodes (node
	// assertions) at POST /oauth2/peer/introspect, where they ask about
	// this node's tokens (auth.Service.IntrospectForPeer); nil mounts no
	// such route. PeerAnswers signs the answers to them
	// (redeem.PeerAnswerHeader); required with Peers.
	Peers       redeem.PeerAuthenticator
	PeerAnswers redeem.PeerAnswerSigner
	// PeerLimit applies per source address to POST /oauth2/peer/introspect.
	PeerLimit RateLimit
	// OnPeerRefuse, if set, is told of every peer introspection refused
	// for the token asked about (metrics); a refused assertion is the
	// authenticator's to report. It must not block.
	OnPeerRefuse func(error)
}

// DefaultPeerIntrospectLimit: 3000 a minute per address (one node asks
// for all the relying parties of its region), as peer redemptions.
var DefaultPeerIntrospectLimit = RateLimit{Limit: 3000, Window: time.Minute}

// MountOAuth adds the OAuth 2.0 endpoints and installs the Bearer token
// authorizer for protected routes:
//
//	POST /oauth2/token                          client credentials (RFC 6749 §4.4, RFC 7523)
//	POST /oauth2/introspect                     RFC 7662
//	POST /oauth2/revoke                         RFC 7009
//	POST /oauth2/peer/introspect                other regions' nodes (with Peers)
//	GET  /.well-known/oauth-authorization-server RFC 8414
//	GET  /.well-known/openid-configuration      its token-related members
//	GET  /.well-known/jwks.json                 the node's active and retiring keys
func (s *Server) MountOAuth(cfg OAuthConfig) error {
	if cfg.Auth == nil {
		return errors.New("api: OAuthConfig.Auth is required")
	}
	if cfg.Peers != nil && cfg.PeerAnswers == nil {
		return errors.New("api: OAuthConfig.PeerAnswers is required with Peers")
	}
	if cfg.MaxForm <= 0 {
		cfg.MaxForm = 16 << 10
	}
	cfg.AddrLimit.Name = "oauth-addr"
	cfg.ClientLimit.Name = "oauth-client"
	o := &oauth{s: s, cfg: cfg, svc: cfg.Auth}
	byAddr := func(h http.HandlerFunc) http.Handler {
		return s.rateLimit(cfg.Limiter, cfg.AddrLimit, ClientAddress, h)
	}
	s.handle("POST "+auth.TokenPath, byAddr(o.token))
	s.handle("POST "+auth.IntrospectionPath, byAddr(o.introspect))
	s.handle("POST "+auth.RevocationPath, byAddr(o.revoke))
	if cfg.Peers != nil {
		cfg.PeerLimit.Name = "oauth-peer-addr"
		o.cfg.PeerLimit = cfg.PeerLimit
		s.handle("POST "+auth.PeerIntrospectionPath, s.rateLimit(cfg.Limiter, cfg.PeerLimit, ClientAddress, http.HandlerFunc(o.peerIntrospect)))
	}
	s.handle("GET /.well-known/oauth-authorization-server", http.HandlerFunc(o.openIDConfiguration))
	s.handle("GET /.well-known/openid-configuration", http.HandlerFunc(o.openIDConfiguration))
	s.handleFunc("GET "+auth.JWKSPath, o.jwks)
	s.SetAuthorizer(bearer{svc: cfg.Auth})
	return nil
}

type oauth struct {
	s   *Server
	cfg OAuthConfig
	svc *auth.Service
}

// basicChallenge is the challenge of a 401 from the token, introspection
// and revocation endpoints: HTTP Basic (client_secret_basic) is their one
// HTTP authentication scheme (auth.AuthMethods; private_key_jwt is sent in
// the body).
const basicChallenge = `Basic realm="trustid", charset="UTF-8"`

// fail writes an OAuth error response, its description made safe
// (auth.SafeDescription). A 401 carries basicChallenge, however the
// client authenticated (RFC 9110 §15.5.2: a 401 has a challenge; RFC 6749
// §5.2: the scheme of a client that tried Basic), unless a challenge is
// set already (peer introspection's Bearer).
func (o *oauth) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := authError(err)
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	o.s.log.LogAttrs(r.Context(), level, "request failed",
		slog.String("request_id", requestID(r.Context())),
		slog.String("code", e.Code), slog.Int("status", e.Status), slog.Any("cause", e.Err))
	if e.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", basicChallenge)
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSONStatus(w, e.Status, errorBody{Error: e.Code, Description: auth.SafeDescription(e.Message)})
}

// readForm reads an application/x-www-form-urlencoded body strictly: the
// right content type, no parameters in the URL, no content coding, at
// most max bytes, valid encoding and no repeated parameter (RFC 6749
// §3.2). Empty values count as absent (§3.1).
func readForm(r *http.Request, max int64) (map[string]string, error) {
	const formType = "application/x-www-form-urlencoded"
	if ct := headerValue(r.Header, "Content-Type"); !strings.EqualFold(ct, formType) {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != formType {
			return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the body must be application/x-www-form-urlencoded"}
		}
	}
	if r.URL.RawQuery != "" {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "parameters must be sent in the body, not the URL"}
	}
	if contentCoded(r) {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the form must be sent without Content-Encoding"}
	}
	body, err := readAll(io.LimitReader(r.Body, max+1), r.ContentLength, int(max))
	var tooBig *http.MaxBytesError
	if int64(len(body)) > max || errors.As(err, &tooBig) {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeInvalidRequest, Message: "the form is larger than " + strconv.FormatInt(max, 10) + " bytes"}
	}
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the body could not be read", Err: err}
	}
	// The form's values are read from the body in place: nothing writes
	// to it after this (a token is most of a form's bytes).
	return parseForm(unsafe.String(unsafe.SliceData(body), len(body)))
}

// parseForm reads a form body as url.ParseQuery does (pairs split at
// '&', each key and value unescaped by url.QueryUnescape, empty pairs
// skipped, a ';' an error), in one pass into one value per parameter. A
// syntax error anywhere comes first; then a repeated parameter or a
// resource with a space, the first one met. The resource parameters are
// joined with spaces. FuzzParseForm holds it to the url.ParseQuery path
// it replaced.
func parseForm(body string) (map[string]string, error) {
	form := make(map[string]string, 4)
	var resource []string
	var syntax bool
	var refusal error
	for rest := body; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if strings.Contains(pair, ";") {
			syntax = true
			continue
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := queryUnescape(k)
		v, err2 := queryUnescape(v)
		switch {
		case err1 != nil || err2 != nil:
			syntax = true
		case syntax || refusal != nil: // the answer is decided
		case k == "resource":
			// RFC 8707 §2: one resource parameter per resource, repeated
			// for several; joined with spaces, so a value with one (no
			// absolute URI has any) would read as several.
			if strings.Contains(v, " ") {
				refusal = &Error{Status: http.StatusBadRequest, Code: "invalid_target", Message: "resource must be an absolute URI"}
			}
			resource = append(resource, v)
		default:
			if _, dup := form[k]; dup {
				name := k
				if len(name) > 40 || !isToken(name) {
					name = "a parameter"
				}
				refusal = &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "parameter " + name + " is repeated"}
			}
			form[k] = v
		}
	}
	if syntax {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the form is not valid application/x-www-form-urlencoded"}
	}
	if refusal != nil {
		return nil, refusal
	}
	for k, v := range form {
		if v == "" {
			delete(form, k) // empty values count as absent (RFC 6749 §3.1)
		}
	}
	if r := strings.Join(resource, " "); r != "" {
		form["resource"] = r
	}
	return form, nil
}

// queryUnescape is url.QueryUnescape, which reads s byte by byte even
// when there is nothing to unescape; a token, most of a form, has no '%'
// or '+', and two IndexByte calls find that out at once.
func queryUnescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// resources are the resource parameters readForm joined, in order; none
// for an empty form value.
func resources(joined string) []string {
	if joined == "" {
		return nil
	}
	return strings.Split(joined, " ")
}

// clientCredentials collects the client authentication of a request.
func clientCredentials(r *http.Request, form map[string]string) (auth.Credentials, error) {
	cred := auth.Credentials{
		ClientID: form["client_id"], ClientSecret: form["client_secret"],
		AssertionType: form["client_assertion_type"], Assertion: form["client_assertion"],
	}
	hs := r.Header["Authorization"] // canonical, as Values would look it up
	if len(hs) == 0 {
		return cred, nil
	}
	if len(hs) > 1 {
		return cred, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "more than one Authorization header"}
	}
	scheme, _, _ := strings.Cut(hs[0], " ")
	if !strings.EqualFold(scheme, "Basic") {
		// RFC 6749 §5.2: another scheme is an "unsupported authentication
		// method", invalid_client, and a client that "attempted to
		// authenticate via the Authorization request header field" MUST
		// get a 401; beside credentials in the body it is one method too
		// many, invalid_request.
		if cred.Assertion != "" || cred.AssertionType != "" || cred.ClientSecret != "" {
			return cred, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "use exactly one client authentication method"}
		}
		return cred, &Error{Status: http.StatusUnauthorized, Code: CodeInvalidClient, Message: "the Authorization scheme must be Basic at this endpoint"}
	}
	cred.Basic = true
	id, secret, ok := parseBasicAuth(hs[0])
	if ok {
		var err1, err2 error
		id, err1 = queryUnescape(id)
		secret, err2 = queryUnescape(secret)
		ok = err1 == nil && err2 == nil
	}
	if !ok {
		return cred, &Error{Status: http.StatusUnauthorized, Code: CodeInvalidClient, Message: "malformed Basic credentials"}
	}
	cred.BasicID, cred.BasicSecret = id, secret
	return cred, nil
}

// parseBasicAuth is net/http's Request.BasicAuth for the header value
// auth: "Basic " in any ASCII case, then standard base64 of
// "id:secret". The two strings share the decoded bytes, one allocation
// (BasicAuth copies them into a second). FuzzParseBasicAuth holds it to
// BasicAuth.
func parseBasicAuth(auth string) (id, secret string, ok bool) {
	const prefix = "Basic "
	if len(auth) < len(prefix) || !asciiEqualFold(auth[:len(prefix)], prefix) {
		return "", "", false
	}
	c, err := base64.StdEncoding.DecodeString(auth[len(prefix):])
	if err != nil {
		return "", "", false
	}
	// Nothing writes to c after this.
	id, secret, ok = strings.Cut(unsafe.String(unsafe.SliceData(c), len(c)), ":")
	if !ok {
		return "", "", false
	}
	return id, secret, true
}

// asciiEqualFold reports whether s and t are equal under ASCII case
// folding only (strings.EqualFold folds Unicode too: 'ſ' matches 's').
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// headerValue is h.Get(key) for a canonical key: h's keys are canonical
// (net/http's server and Header.Set make them so), and Get would
// canonicalize key again on every call.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// authenticate reads the form and authenticates the client with authn,
// applying the per-client limit. On failure it has written the response.
func (o *oauth) authenticate(w http.ResponseWriter, r *http.Request, check func(map[string]string) error,
	authn func(context.Context, auth.Credentials) (auth.Client, error)) (auth.Client, map[string]string, bool) {
	form, err := readForm(r, o.cfg.MaxForm)
	if err != nil {
		o.fail(w, r, err)
		return auth.Client{}, nil, false
	}
	if check != nil {
		if err := check(form); err != nil {
			o.fail(w, r, err)
			return auth.Client{}, nil, false
		}
	}
	cred, err := clientCredentials(r, form)
	if err != nil {
		o.fail(w, r, err)
		return auth.Client{}, nil, false
	}
	c, err := authn(r.Context(), cred)
	if err != nil {
		o.fail(w, r, err)
		return auth.Client{}, nil, false
	}
	if err := o.s.checkRate(w, r, o.cfg.Limiter, o.cfg.ClientLimit, c.ID); err != nil {
		o.fail(w, r, err)
		return auth.Client{}, nil, false
	}
	return c, form, true
}

func (o *oauth) token(w http.ResponseWriter, r *http.Request) {
	userLogin := func(form map[string]string) bool {
		return o.s.login != nil && slices.Contains(login.Grants, form["grant_type"])
	}
	c, form, ok := o.authenticate(w, r, func(form map[string]string) error {
		if userLogin(form) {
			return nil
		}
		if o.s.login != nil {
			return auth.CheckGrantType(form["grant_type"], login.Grants...)
		}
		return auth.CheckGrantType(form["grant_type"])
	}, o.svc.AuthenticateClient)
	if !ok {
		return
	}
	if userLogin(form) {
		resp, err := o.s.login.Token(r.Context(), c, form)
		if err != nil {
			o.fail(w, r, loginError(err))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, resp)
		return
	}
	resp, err := o.svc.Token(r.Context(), c, auth.TokenRequest{GrantType: form["grant_type"], Scope: form["scope"], Resources: resources(form["resource"])})
	if err != nil {
		o.fail(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, resp)
}

// loginToken reports whether token is user login's (an opaque token,
// with user login mounted) rather than an access token of package auth
// (a JWT, which always has a '.').
func (o *oauth) loginToken(token string) bool {
	return o.s.login != nil && !strings.Contains(token, ".")
}

func (o *oauth) introspect(w http.ResponseWriter, r *http.Request) {
	c, form, ok := o.authenticate(w, r, needToken, o.svc.AuthenticateIntrospector)
	if !ok {
		return
	}
	var (
		res auth.Introspection
		err error
	)
	if tok := form["token"]; o.loginToken(tok) {
		// A visiting party (another region's) learns nothing of this
		// node's login tokens, its registry:admin included.
		if !c.Visiting() {
			if res, err = o.s.login.Introspect(r.Context(), c, tok); err != nil {
				err = loginError(err)
			}
		}
	} else {
		res, err = o.svc.Introspect(r.Context(), c, tok)
	}
	if err != nil {
		o.fail(w, r, err)
		return
	}
	writeIntrospection(w, &res)
}

func (o *oauth) revoke(w http.ResponseWriter, r *http.Request) {
	c, form, ok := o.authenticate(w, r, needToken, o.svc.AuthenticateClient)
	if !ok {
		return
	}
	var err error
	if tok := form["token"]; o.loginToken(tok) {
		if err = o.s.login.Revoke(r.Context(), c, tok); err != nil {
			err = loginError(err)
		}
	} else {
		err = o.svc.Revoke(r.Context(), c, tok)
	}
	if err != nil {
		o.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// peerIntrospect answers another region's node about a token of this
// node: the caller's region is the one whose registered key signed the
// node assertion covering the body ({"token": ...}). A token this node
// did not issue is {"active": false}, counted as token_not_issued_here.
func (o *oauth) peerIntrospect(w http.ResponseWriter, r *http.Request) {
	region, err := o.cfg.Peers.AuthenticatePeer(r)
	if e := malformedPeerAuthorization(w, err); e != nil {
		err = e
	} else if errors.Is(err, qrcode.ErrPeerAuth) {
		// The assertion is a Bearer credential in the Authorization
		// header: the 401 challenges that scheme (RFC 6749 §5.2), as
		// the peer redemption route's does (writeError).
		w.Header().Set("WWW-Authenticate", `Bearer error="`+CodeInvalidClient+`"`)
		err = &Error{Status: http.StatusUnauthorized, Code: CodeInvalidClient, Message: "node authentication failed", Err: err}
	}
	if err != nil {
		o.fail(w, r, err)
		return
	}
	o.s.signedPeerAnswer(w, r, o.cfg.PeerAnswers, region, func(w http.ResponseWriter) {
		var req auth.PeerIntrospectRequest
		if err := decodeBody(r, redeem.MaxPeerBody, &req, invalidRequest, "with token"); err != nil {
			o.fail(w, r, err)
			return
		}
		if req.Token == "" {
			o.fail(w, r, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "token is missing"})
			return
		}
		res, err := o.svc.IntrospectForPeer(r.Context(), region, req.Token)
		if err != nil && o.cfg.OnPeerRefuse != nil && !errors.Is(err, auth.ErrUnavailable) {
			o.cfg.OnPeerRefuse(err)
		}
		if errors.Is(err, auth.ErrNotIssuedHere) {
			// RFC 7662 §2.2: a token the server does not know is not
			// active; the asking node then answers so too.
			res, err = auth.Introspection{}, nil
		}
		if err != nil {
			o.fail(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, res)
	})
}

func needToken(form map[string]string) error {
	if form["token"] == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "token is missing"}
	}
	return nil
}

func (o *oauth) metadata(w http.ResponseWriter, r *http.Request) {
	writePublicJSON(w, o.svc.Metadata())
}

// openIDConfiguration is the OpenID Provider configuration: the
// authorization server metadata, completed by user login when mounted
// (then both discovery documents carry it: RFC 8414 §2 allows the OpenID
// members).
func (o *oauth) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	if o.s.login == nil {
		o.metadata(w, r)
		return
	}
	writePublicJSON(w, o.s.login.Discovery(o.svc.Metadata()))
}

func (o *oauth) jwks(w http.ResponseWriter, r *http.Request) error {
	set, err := o.svc.JWKS()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(set); err != nil {
		return err
	}
	writeKeysDoc(w, r, "application/jwk-set+json", b.Bytes())
	return nil
}

// writePublicJSON sends a public document that may be cached five
// minutes (metadata).
func writePublicJSON(w http.ResponseWriter, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// bearer is the Authorizer of protected routes: RFC 6750 Bearer tokens
// in the Authorization header (never in the URL or body), checked by
// auth.Service.Authorize.
type bearer struct{ svc *auth.Service }

// authzError is a refusal with its WWW-Authenticate challenge.
type authzError struct {
	err    *Error
	header string
}

func (e *authzError) Error() string     { return e.err.Error() }
func (e *authzError) challenge() string { return e.header }
func (e *authzError) Unwrap() error     { return e.err }

// bearerToken reads the one Bearer token of r's Authorization header
// (authheader.Credential, the one reader for every route that takes an
// access token and for the peer routes' node assertion), for the
// protected routes and userinfo alike; its refusals carry their
// challenge (authzError).
func bearerToken(r *http.Request) (string, error) {
	_, token, err := authheader.Credential(r.Header, "Bearer")
	switch {
	case errors.Is(err, authheader.ErrNone):
		return "", &authzError{
			err:    &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Message: "an access token is required (Authorization: Bearer)", Err: err},
			header: `Bearer realm="trustid"`,
		}
	case err != nil:
		return "", &authzError{
			err:    &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the Authorization header must be one Bearer token", Err: err},
			header: `Bearer realm="trustid", error="invalid_request"`,
		}
	}
	return token, nil
}

func (b bearer) Authorize(r *http.Request, scope string) (Principal, error) {
	token, err := bearerToken(r)
	if err != nil {
		return Principal{}, err
	}
	p, err := b.svc.Authorize(r.Context(), token, scope)
	if err != nil {
		e := authError(err)
		switch e.Code {
		case CodeInvalidToken:
			return Principal{}, &authzError{err: e, header: `Bearer realm="trustid", error="invalid_token", error_description="` + auth.SafeDescription(e.Message) + `"`}
		case CodeInsufficientScope:
			return Principal{}, &authzError{err: e, header: `Bearer realm="trustid", error="insufficient_scope", scope="` + scope + `"`}
		}
		return Principal{}, e
	}
	return Principal{ClientID: p.ClientID, Scopes: p.Scopes, Region: p.Region}, nil
}
