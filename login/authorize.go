package login

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// Scopes and grant types of user login besides auth's.
const (
	ScopeOpenID        = "openid"
	ScopeOfflineAccess = "offline_access"
	GrantRefreshToken  = "refresh_token"
)

// Limits of authorization request parameters.
const (
	maxStateLen = 512
	maxNonceLen = 255
	maxParamLen = 2048
)

// minLevel is the lowest assurance of a scan login: a bound device key.
const minLevel = identity.L2

// authorizeParams are the parameters Authorize reads; any other is
// ignored (RFC 6749 §3.1), except request and request_uri, refused.
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "acr_values", "claims", "response_mode", "login_hint", "ui_locales", "display"}

// Started is a login session just created for an authorization request:
// its ID (a capability the login QR carries), the secret of the browser
// that started it (set as a cookie; only that browser receives the code)
// and what the login page shows.
type Started struct {
	ID         string
	Browser    string
	ClientName string
	Claims     []string
	Level      identity.Level
	// Purpose is what another protocol's login is for (AuthorizeFor);
	// nil for a login to the client.
	Purpose *Purpose
	// UILocales is the request's ui_locales (OpenID Connect Core
	// §3.1.2.1), the languages its login page is asked in; for a pushed
	// request (RFC 9126), the pushed one's. Empty from Resume.
	UILocales string
	// Left is what is left of the session's lifetime: all of it from
	// Authorize, the rest from Resume.
	Left time.Duration
	// Request, from Resume, is the session's authorization request (the
	// parameters Authorize reads), which its login page may send again
	// once the session has expired (a new session, WCAG 2.2.1); nil for
	// another protocol's login, whose request is spent, and from
	// Authorize (the caller has the request).
	Request url.Values
	// Restartable: another protocol's login, which Restart starts again
	// once it has expired, for the browser that started it.
	Restartable bool
}

// Authorize checks an authorization request (the query of GET
// AuthorizePath) and starts its login session. Errors are *AuthorizeError:
// with RedirectURI set once client_id and redirect_uri are known good.
func (p *Provider) Authorize(ctx context.Context, q url.Values) (*Started, error) {
	r, err := p.checkRequest(ctx, q, authorizeParams, false)
	if err != nil {
		return nil, err
	}
	c, redirect, state, back := r.client, r.redirect, r.state, r.back
	scopes := strings.Fields(q.Get("scope"))
	if !slices.Contains(scopes, ScopeOpenID) {
		return nil, back(CodeInvalidScope, "scope must include openid")
	}
	var claims []string
	for _, s := range scopes {
		if slices.Contains(c.Claims, s) && !slices.Contains(claims, s) {
			claims = append(claims, s)
		}
	}
	challenge := r.challenge
	nonce := q.Get("nonce")
	if len(nonce) > maxNonceLen {
		return nil, back(CodeInvalidRequest, "nonce is too long")
	}
	prompts := strings.Fields(q.Get("prompt"))
	for _, pr := range prompts {
		switch pr {
		case "none":
			if len(prompts) > 1 {
				return nil, back(CodeInvalidRequest, "prompt none cannot be combined")
			}
			// The node keeps no browser session: every login is an
			// approval on the holder's device.
			return nil, back(CodeLoginRequired, "the holder must approve the login on their device")
		case "login", "consent", "select_account":
		default:
			return nil, back(CodeInvalidRequest, "unknown prompt value")
		}
	}
	if ma := q.Get("max_age"); ma != "" {
		// Every login is a fresh approval, so any max_age is met; auth_time
		// is always in the ID token.
		if n, err := strconv.Atoi(ma); err != nil || n < 0 {
			return nil, back(CodeInvalidRequest, "max_age must be a non-negative integer")
		}
	}
	level := minLevel
	if acr := q.Get("acr_values"); acr != "" {
		// The first value the node knows is the one asked for (OpenID
		// Connect Core §3.1.2.1: in order of preference).
		for _, v := range strings.Fields(acr) {
			if l, err := identity.ParseLevel(v); err == nil {
				level = max(l, minLevel)
				break
			}
		}
	}
	acrs, err := essentialACR(q.Get("claims"))
	if err != nil {
		return nil, back(CodeInvalidRequest, "claims is not a claims request (OpenID Connect Core 5.5)")
	}
	if acrs != nil && len(acrs) == 0 {
		return nil, back(CodeAccessDenied, "the essential acr asked for names no level this node gives (L1 to L4)")
	}
	if len(acrs) > 0 {
		level = max(level, acrs[0], minLevel)
	}
	// Kept for the page's "Get a new code": the request but login_hint,
	// which the node reads past and which names the person.
	request := url.Values{}
	for _, name := range authorizeParams {
		if v, ok := q[name]; ok && name != "login_hint" {
			request[name] = v
		}
	}
	st, err := p.start(ctx, c, &session{
		ClientID: c.ID, RedirectURI: redirect, State: state, Nonce: nonce, CodeChallenge: challenge,
		Scope: grantedScope(scopes, claims), Claims: claims, Level: int(level), ACRValues: acrs, Request: request,
	}, nil)
	if err != nil {
		return nil, err
	}
	st.UILocales = q.Get("ui_locales")
	return st, nil
}

// essentialACR reads what the node takes of a claims parameter (OpenID
// Connect Core §5.5): the ID token's acr asked as an essential claim with
// a value or values (§5.5.1.1), whose levels it returns in ascending
// order; an empty, non-nil slice when none of them is L1..L4 (the
// requirement cannot be met), nil when no such acr is asked. Every other
// member is ignored, as claims_parameter_supported false allows; an
// essential acr ignored would log a person in below what the party
// requires.
func essentialACR(raw string) ([]identity.Level, error) {
	if raw == "" {
		return nil, nil
	}
	// A pointer: null is no JSON object (§5.5), and is refused.
	var c *struct {
		IDToken *struct {
			ACR *struct {
				Essential bool     `json:"essential"`
				Value     *string  `json:"value"`
				Values    []string `json:"values"`
			} `json:"acr"`
		} `json:"id_token"`
	}
	// Strictly: a member given twice, or in another case, would be read
	// by other parsers as another request.
	if err := strictjson.DecodeOpen([]byte(raw), &c, maxParamLen); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("claims is null, not a JSON object")
	}
	if c.IDToken == nil || c.IDToken.ACR == nil || !c.IDToken.ACR.Essential {
		return nil, nil
	}
	values := c.IDToken.ACR.Values
	if v := c.IDToken.ACR.Value; v != nil {
		values = append(values, *v)
	}
	if len(values) == 0 {
		return nil, nil
	}
	levels := []identity.Level{}
	for _, v := range values {
		if l, err := identity.ParseLevel(v); err == nil && !slices.Contains(levels, l) {
			levels = append(levels, l)
		}
	}
	slices.Sort(levels)
	return levels, nil
}

// start stores session s for client c, freshly made: its ID, the
// browser secret (stored as its digest), the challenge the holder signs
// and its expiry; data, when set, is sealed under the session ID. Both
// Authorize and AuthorizeFor start their sessions here, and Restart,
// which sets s.Until to the first session's: a session then lives and
// extends no later than that.
func (p *Provider) start(ctx context.Context, c auth.Client, s *session, data []byte) (*Started, error) {
	id, err := p.random(32)
	if err != nil {
		return nil, err
	}
	browser, err := p.random(32)
	if err != nil {
		return nil, err
	}
	if s.Challenge, err = p.random(32); err != nil {
		return nil, err
	}
	if s.Data, err = p.seal("session", id, data); err != nil {
		return nil, err
	}
	s.Browser = digest(browser)
	now := p.cfg.Now()
	until := now.Add((1 + SessionExtensions) * p.cfg.SessionTTL).Unix()
	if s.Until != 0 {
		until = min(until, s.Until)
	}
	s.Expires, s.Until = min(now.Add(p.cfg.SessionTTL).Unix(), until), until
	if err := p.putSession(ctx, id, s); err != nil {
		return nil, err
	}
	left := min(p.cfg.SessionTTL, time.Unix(until, 0).Sub(now))
	return &Started{ID: id, Browser: browser, ClientName: c.Name, Claims: s.Claims, Level: identity.Level(s.Level), Purpose: s.Purpose, Left: left}, nil
}

// checked is an authorization request whose client, redirect URI, state,
// response type and PKCE challenge are good; back makes an error that is
// sent back to the redirect URI.
type checked struct {
	client          auth.Client
	redirect, state string
	challenge       string
	back            func(code, desc string) error
}

// checkRequest runs the checks every authorization request of the node
// shares (RFC 6749 §4.1.1, RFC 7636): client_id and redirect_uri first
// (their errors are never redirected), then the parameters named in
// params (not repeated, not too long), no request objects, the client's
// grant, response_type code, response_mode query and an S256 challenge.
// anyPort takes a loopback redirect URI on any port (registeredRedirect).
func (p *Provider) checkRequest(ctx context.Context, q url.Values, params []string, anyPort bool) (*checked, error) {
	direct := func(code, desc string) error { return &AuthorizeError{Err: fail(code, desc)} }
	for _, name := range []string{"client_id", "redirect_uri"} {
		if len(q[name]) > 1 {
			return nil, direct(CodeInvalidRequest, name+" is repeated")
		}
	}
	c, err := p.client(ctx, q.Get("client_id"))
	if err != nil {
		return nil, &AuthorizeError{Err: asError(err)}
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" || !registeredRedirect(c.RedirectURIs, redirect, anyPort) {
		return nil, direct(CodeInvalidRequest, "redirect_uri is missing or not registered for the client")
	}
	state := q.Get("state")
	back := func(code, desc string) error {
		return &AuthorizeError{Err: fail(code, desc), RedirectURI: redirect, State: state}
	}
	// The session keeps state and nonce as JSON, which holds UTF-8 only:
	// other bytes would come back as U+FFFD, not the exact value sent
	// (RFC 6749 §4.1.2, OpenID Connect Core §2).
	if len(q["state"]) > 1 || len(state) > maxStateLen || !utf8.ValidString(state) {
		return nil, &AuthorizeError{Err: fail(CodeInvalidRequest, "state is repeated, too long or not UTF-8"), RedirectURI: redirect}
	}
	for _, name := range params {
		if len(q[name]) > 1 {
			return nil, back(CodeInvalidRequest, name+" is repeated")
		}
		if len(q.Get(name)) > maxParamLen {
			return nil, back(CodeInvalidRequest, name+" is too long")
		}
		if !utf8.ValidString(q.Get(name)) {
			return nil, back(CodeInvalidRequest, name+" is not UTF-8")
		}
	}
	// An empty value is no parameter (RFC 6749 §3.1); each has its
	// error code (OpenID Connect Core §3.1.2.6).
	for _, r := range [...]struct{ name, code string }{
		{"request", CodeRequestNotSupported}, {"request_uri", CodeRequestURINotSupported},
	} {
		if slices.ContainsFunc(q[r.name], func(v string) bool { return v != "" }) {
			return nil, back(r.code, r.name+" (a request object) is not supported")
		}
	}
	if !slices.Contains(c.GrantTypes, auth.GrantAuthorizationCode) {
		return nil, back(CodeUnauthorizedClient, "the client is not registered for the authorization_code grant")
	}
	// RFC 6749 §4.1.2.1: a missing required parameter is invalid_request;
	// unsupported_response_type is for a value the server does not serve.
	switch q.Get("response_type") {
	case "code":
	case "":
		return nil, back(CodeInvalidRequest, "response_type is missing (code)")
	default:
		return nil, back(CodeUnsupportedResponseType, "response_type must be code")
	}
	if m := q.Get("response_mode"); m != "" && m != "query" {
		return nil, back(CodeInvalidRequest, "response_mode must be query")
	}
	challenge := q.Get("code_challenge")
	if q.Get("code_challenge_method") != "S256" || !validChallenge(challenge) {
		return nil, back(CodeInvalidRequest, "PKCE is required: code_challenge (43 base64url characters) with code_challenge_method S256")
	}
	return &checked{client: c, redirect: redirect, state: state, challenge: challenge, back: back}, nil
}

// registeredRedirect reports whether redirect is one of the registered
// redirect URIs: exactly (RFC 6749 §3.1.2.3, OpenID Connect Core
// §3.1.2.1: simple string comparison), or, with anyPort, a loopback IP
// redirect URI that differs from a registered one in its port alone (RFC
// 8252 §7.3: "The authorization server MUST allow any port to be
// specified at the time of the request for loopback IP redirect URIs";
// RFC 9700 §4.1.3: the only exception to exact matching, for native
// apps). The code then goes to the port asked for, and the token request
// must name that same URI.
func registeredRedirect(uris []string, redirect string, anyPort bool) bool {
	if slices.Contains(uris, redirect) {
		return true
	}
	if !anyPort {
		return false
	}
	host, rest, ok := loopbackParts(redirect)
	if !ok {
		return false
	}
	return slices.ContainsFunc(uris, func(u string) bool {
		h, r, ok := loopbackParts(u)
		return ok && h == host && r == rest
	})
}

// loopbackParts splits a loopback IP redirect URI (RFC 8252 §7.3:
// http://, a loopback IP literal, IPv6 in brackets, any port or none)
// into its host and what follows its authority (path, query); ok is
// false for any other URI, localhost by name included (§8.3: NOT
// RECOMMENDED).
func loopbackParts(uri string) (host, rest string, ok bool) {
	after, ok := strings.CutPrefix(uri, "http://")
	if !ok {
		return "", "", false
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	host, rest = after[:end], after[end:]
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		port := host[i+1:]
		if n, err := strconv.ParseUint(port, 10, 16); port != "" && (err != nil || n == 0) {
			return "", "", false
		}
		host = host[:i]
	}
	literal, bracketed := strings.CutPrefix(host, "[")
	if bracketed {
		literal, bracketed = strings.CutSuffix(literal, "]")
		if !bracketed {
			return "", "", false
		}
	}
	ip := net.ParseIP(literal)
	if ip == nil || !ip.IsLoopback() || (ip.To4() == nil) != bracketed {
		return "", "", false
	}
	return host, rest, true
}

// grantedScope is openid, offline_access when asked for, and the claims.
func grantedScope(asked, claims []string) string {
	out := []string{ScopeOpenID}
	if slices.Contains(asked, ScopeOfflineAccess) {
		out = append(out, ScopeOfflineAccess)
	}
	return strings.Join(append(out, claims...), " ")
}

// client returns an enabled registered client whose sector is claimed.
func (p *Provider) client(ctx context.Context, id string) (auth.Client, error) {
	if id == "" || !auth.ValidClientID(id) {
		return auth.Client{}, fail(CodeInvalidRequest, "client_id is missing or malformed")
	}
	c, err := p.cfg.Clients.Get(ctx, id)
	if errors.Is(err, auth.ErrClientNotFound) {
		return auth.Client{}, fail(CodeInvalidClient, "unknown client_id")
	}
	if err != nil {
		return auth.Client{}, failWith(CodeTemporarilyUnavailable, "the client registry is unavailable", err)
	}
	if c.Disabled {
		return auth.Client{}, fail(CodeInvalidClient, "the client is disabled")
	}
	if p.cfg.Sectors != nil {
		sector := sectorOf(c)
		key := c.ID + "\x00" + string(rune(sector.Kind)) + sector.Name
		if _, ok := p.held.Load(key); !ok {
			if err := p.cfg.Sectors.ClaimSector(ctx, c.ID, sector); err != nil {
				return auth.Client{}, failWith(CodeInvalidClient, "the client's pairwise sector is not held by it", err)
			}
			p.held.Store(key, struct{}{})
		}
	}
	return c, nil
}

// sectorOf is the client's pairwise sector, the one QR redemption uses,
// so a party gets one pairwise ID per person from either.
func sectorOf(c auth.Client) identity.Sector {
	return redeem.RelyingParty{ClientID: c.ID, Sector: c.SectorIdentifier}.PairwiseSector()
}

// validChallenge accepts a base64url SHA-256 digest: 43 characters.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	return isBase64URL(s)
}

// validVerifier accepts a PKCE code_verifier as RFC 7636 §4.1 defines
// it: 43 to 128 characters from A-Z a-z 0-9 - . _ ~ (unreserved).
func validVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// asError returns err as an *Error, wrapping an unknown error as a
// server error.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return failWith(CodeServerError, "internal error", err)
}
