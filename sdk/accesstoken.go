package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/accessclaims"
	"github.com/trustid-cn/trustid/internal/authheader"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Errors of access token verification.
var (
	// ErrInvalidToken: a missing, malformed, expired, wrongly signed or
	// otherwise invalid access token.
	ErrInvalidToken = errors.New("sdk: invalid access token")
	// ErrInsufficientScope: a valid token without a scope the route needs.
	ErrInsufficientScope = errors.New("sdk: insufficient scope")
)

// accessTokenType is the typ of access tokens (RFC 9068).
const accessTokenType = "at+jwt"

// maxTokenLen bounds an access token (the node's bound).
const maxTokenLen = 8 << 10

// AccessTokenConfig configures NewAccessTokenVerifier.
type AccessTokenConfig struct {
	// Issuer is the node's base URL, the iss of its tokens: https, or
	// http to a loopback host (ErrInsecureURL). Required.
	Issuer string
	// Audience is the identifier of the API the verifier protects, which
	// a token's aud must name (RFC 9068 §4): the resource URI the
	// relying party registered for its API (`trustid clients add
	// --resource`), for which the node issues tokens that name that API
	// alone. Required, and never the node's own URL (Issuer, in any
	// spelling of its scheme's and host's case, default port or a
	// trailing slash): NewAccessTokenVerifier refuses it, since the
	// verifier would then take every token the node issued to any
	// client for the node, so a party that holds one could replay it
	// here (token confusion, RFC 9700 §2.3).
	Audience string
	// Algorithms is the allow-list of JWS algorithms (required), e.g.
	// []string{gm.AlgSM2}.
	Algorithms []string
	// Keys are the node's keys (default: a KeySet of Issuer's
	// /.well-known/jwks.json with HTTPClient and Now).
	Keys       *KeySet
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Leeway is the clock skew allowed on exp, nbf and iat, as the
	// node's: zero means DefaultLeeway, and at most MaxLeeway.
	Leeway time.Duration
}

// Principal is a verified access token: the client it was issued to and
// its scopes.
type Principal struct {
	ClientID string
	Scopes   []string
	TokenID  string
	Expires  time.Time
}

// HasScope reports whether the token carries scope.
func (p *Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// AccessTokenVerifier verifies a node's at+jwt access tokens offline, with
// the node's cached keys. Offline verification cannot see a token revoked
// at the node before it expires (tokens are short-lived); call the node's
// introspection endpoint where that matters. Safe for concurrent use.
type AccessTokenVerifier struct {
	cfg    AccessTokenConfig
	claims *jwt.Validator
}

// NewAccessTokenVerifier checks cfg and returns a verifier.
func NewAccessTokenVerifier(cfg AccessTokenConfig) (*AccessTokenVerifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("sdk: AccessTokenConfig needs Issuer")
	}
	if cfg.Audience == "" {
		return nil, errors.New("sdk: AccessTokenConfig needs Audience, the resource URI registered for the API it protects")
	}
	if err := checkBase(cfg.Issuer); err != nil {
		return nil, err
	}
	if namesNode(cfg.Audience, cfg.Issuer) {
		return nil, errors.New("sdk: AccessTokenConfig.Audience is the node's URL (Issuer): the verifier would take every client's token for the node; give the resource URI registered for the API it protects (trustid clients add --resource)")
	}
	if len(cfg.Algorithms) == 0 {
		return nil, fmt.Errorf("sdk: %w", gm.ErrAlgorithms)
	}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(gm.JWTVerifyAlgorithms, a) {
			return nil, fmt.Errorf("sdk: %w: %q", gm.ErrAlgorithms, a)
		}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("sdk: leeway %v is outside [0, MaxLeeway]", cfg.Leeway)
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	cfg.Issuer = trimBase(cfg.Issuer)
	cfg.Now = nowOr(cfg.Now)
	if cfg.Keys == nil {
		cfg.Keys = &KeySet{URL: cfg.Issuer + JWKSPath, Client: cfg.HTTPClient, Now: cfg.Now}
	}
	claims := jwt.NewValidator(jwt.WithIssuer(cfg.Issuer), jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(cfg.Now), jwt.WithLeeway(cfg.Leeway))
	return &AccessTokenVerifier{cfg: cfg, claims: claims}, nil
}

// Verify checks an access token as the node does (auth.Service): three
// segments of strict base64url (internal/b64url); a header and claims
// that are JSON objects decoded by strictjson.DecodeOpen (no member given
// twice or differing only in case from another or from one read here);
// typ at+jwt, no crit, an allowed algorithm, a signature by a key of the
// node whose algorithm is the header's; iss, aud (Audience among the
// token's audiences), exp and iat (whole
// seconds, iat required) and the client_id, sub and jti claims. The scope
// is split on single spaces. Errors match ErrInvalidToken (or
// ErrKeysUnavailable when the node's keys cannot be had).
func (v *AccessTokenVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if token == "" || len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: empty or longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	h, rest, ok := strings.Cut(token, ".")
	c, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") {
		return nil, fmt.Errorf("%w: not three segments", ErrInvalidToken)
	}
	var hd tokenHeader
	if err := decodeSegment(h, &hd); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrInvalidToken, err)
	}
	var claims accessclaims.Claims
	if err := decodeSegment(c, &claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	alg := string(hd.Alg)
	method := jwt.GetSigningMethod(alg)
	if method == nil || !slices.Contains(v.cfg.Algorithms, alg) {
		return nil, fmt.Errorf("%w: algorithm %q is not allowed", ErrInvalidToken, alg)
	}
	sigBytes, err := b64url.DecodeString(sig)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrInvalidToken, err)
	}
	if typ := string(hd.Typ); !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
		return nil, fmt.Errorf("%w: typ is not at+jwt", ErrInvalidToken)
	}
	if hd.Crit {
		return nil, fmt.Errorf("%w: critical header parameters", ErrInvalidToken)
	}
	pub, err := v.cfg.Keys.Key(ctx, string(hd.Kid))
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			err = fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
		return nil, err
	}
	if a, err := gm.Alg(pub); err != nil || a != alg {
		return nil, fmt.Errorf("%w: the key of kid is not a %s key", ErrInvalidToken, alg)
	}
	if err := method.Verify(token[:len(h)+1+len(c)], sigBytes, pub); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := v.claims.Validate(&claims); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.ClientID == "" || claims.Subject != claims.ClientID || claims.ID == "" || !claims.IssuedAt.Set() {
		return nil, fmt.Errorf("%w: lacks client_id, sub, jti or iat", ErrInvalidToken)
	}
	p := &Principal{ClientID: claims.ClientID, TokenID: claims.ID, Expires: claims.Expires.Time()}
	if claims.Scope != "" {
		p.Scopes = strings.Split(claims.Scope, " ")
	}
	return p, nil
}

// decodeSegment decodes a JWS segment, strict base64url, into v, a JSON
// object read by strictjson.DecodeOpen.
func decodeSegment(seg string, v any) error {
	b, err := b64url.DecodeString(seg)
	if err != nil {
		return err
	}
	if err := strictjson.DecodeOpen(b, v, maxTokenLen); err != nil {
		return err
	}
	if bytes.TrimLeft(b, " \t\n\r")[0] != '{' {
		return fmt.Errorf("%w: not an object", strictjson.ErrType)
	}
	return nil
}

// tokenHeader is the JOSE header members Verify reads; the others are
// ignored (RFC 7515 §4).
type tokenHeader struct {
	Alg  headerString `json:"alg"`
	Typ  headerString `json:"typ"`
	Kid  headerString `json:"kid"`
	Crit present      `json:"crit"`
}

// headerString is a header member read only as a string: a value of
// another JSON type reads as absent, as at the node.
type headerString string

func (h *headerString) UnmarshalJSON(b []byte) error {
	if b[0] != '"' {
		*h = ""
		return nil
	}
	return json.Unmarshal(b, (*string)(h))
}

// present records that a member is there, whatever its value.
type present bool

func (p *present) UnmarshalJSON([]byte) error {
	*p = true
	return nil
}

type principalKey struct{}

// PrincipalFrom returns the principal Middleware put in a request's
// context.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

// Middleware protects a handler: a request must carry a valid access token
// in "Authorization: Bearer" holding every one of scopes. A request
// without one (no Authorization header, or another scheme) gets 401 with
// a Bearer challenge that has no error code (RFC 6750 §3), two
// Authorization headers or "Bearer" without a token 400
// error="invalid_request" (RFC 6750 §3.1), an invalid token 401 with
// error="invalid_token", a token lacking a scope 403
// error="insufficient_scope", keys that cannot be fetched 503; the body
// is a JSON {"error", "error_description"} that never echoes the token.
// The handler finds the principal with PrincipalFrom.
func (v *AccessTokenVerifier) Middleware(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The node's one reader of the header (the scheme in any
			// case, RFC 9110 §11.1), as the node's own routes read it.
			_, tok, err := authheader.Credential(r.Header, "Bearer")
			switch {
			case errors.Is(err, authheader.ErrNone):
				// No Bearer authentication at all: no error in the
				// challenge (RFC 6750 §3).
				deny(w, http.StatusUnauthorized, "invalid_token", "a bearer access token is required", challenge("", "", scopes))
				return
			case err != nil:
				// A repeated header, or "Bearer" without a token, is
				// malformed: invalid_request, 400 (RFC 6750 §3.1).
				const msg = "the Authorization header must be one Bearer token"
				deny(w, http.StatusBadRequest, "invalid_request", msg, challenge("invalid_request", msg, scopes))
				return
			}
			p, err := v.Verify(r.Context(), tok)
			switch {
			case errors.Is(err, ErrKeysUnavailable):
				deny(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token issuer's keys cannot be fetched", "")
				return
			case err != nil:
				const msg = "the access token is invalid or expired"
				deny(w, http.StatusUnauthorized, "invalid_token", msg, challenge("invalid_token", msg, scopes))
				return
			}
			for _, s := range scopes {
				if !p.HasScope(s) {
					msg := "the access token lacks scope " + s
					deny(w, http.StatusForbidden, "insufficient_scope", msg, challenge("insufficient_scope", msg, scopes))
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		})
	}
}

// challenge is a Bearer WWW-Authenticate value (RFC 6750 §3): with the
// error code and description when code is set, and the scopes.
func challenge(code, msg string, scopes []string) string {
	var attrs []string
	if code != "" {
		attrs = append(attrs, `error="`+code+`"`, `error_description="`+msg+`"`)
	}
	if len(scopes) > 0 {
		attrs = append(attrs, `scope="`+strings.Join(scopes, " ")+`"`)
	}
	if len(attrs) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(attrs, ", ")
}

// deny writes the error code and msg as JSON with status, and
// authenticate as WWW-Authenticate unless it is empty.
func deny(w http.ResponseWriter, status int, code, msg, authenticate string) {
	if authenticate != "" {
		w.Header().Set("WWW-Authenticate", authenticate)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"error_description":%q}`+"\n", code, msg)
}

// namesNode reports whether aud names the node at issuer (a base URL
// checkBase took): the same URL but for the case of the scheme and host,
// a default port or a trailing slash.
func namesNode(aud, issuer string) bool {
	a, errA := url.Parse(aud)
	n, errN := url.Parse(issuer)
	if errA != nil || errN != nil {
		return trimBase(aud) == trimBase(issuer)
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		switch strings.ToLower(u.Scheme) {
		case "http":
			return "80"
		case "https":
			return "443"
		}
		return ""
	}
	return strings.EqualFold(a.Scheme, n.Scheme) && strings.EqualFold(a.Hostname(), n.Hostname()) && port(a) == port(n) &&
		trimBase(a.EscapedPath()) == trimBase(n.EscapedPath()) && a.RawQuery == "" && a.Fragment == "" && a.User == nil
}
