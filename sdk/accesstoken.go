package sdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
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

// maxTokenLen bounds an access token.
const maxTokenLen = 8 << 10

// AccessTokenConfig configures NewAccessTokenVerifier.
type AccessTokenConfig struct {
	// Issuer is the node's base URL, the iss of its tokens. Required.
	Issuer string
	// Audience is the expected aud (default Issuer: TrustID access
	// tokens name the node that issued them).
	Audience string
	// Algorithms is the allow-list of JWS algorithms (required), e.g.
	// []string{gm.AlgSM2}.
	Algorithms []string
	// Keys are the node's keys (default: a KeySet of Issuer's
	// /.well-known/jwks.json with HTTPClient and Now).
	Keys       *KeySet
	HTTPClient *http.Client
	// Now is the clock (default time.Now); Leeway the clock skew allowed.
	Now    func() time.Time
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
	parser *gm.JWTParser
}

// NewAccessTokenVerifier checks cfg and returns a verifier.
func NewAccessTokenVerifier(cfg AccessTokenConfig) (*AccessTokenVerifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("sdk: AccessTokenConfig needs Issuer")
	}
	cfg.Issuer = trimBase(cfg.Issuer)
	if cfg.Audience == "" {
		cfg.Audience = cfg.Issuer
	}
	cfg.Now = nowOr(cfg.Now)
	if cfg.Keys == nil {
		cfg.Keys = &KeySet{URL: cfg.Issuer + JWKSPath, Client: cfg.HTTPClient, Now: cfg.Now}
	}
	p, err := gm.NewJWTParser(cfg.Algorithms, jwt.WithIssuer(cfg.Issuer), jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(cfg.Now), jwt.WithLeeway(cfg.Leeway))
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	return &AccessTokenVerifier{cfg: cfg, parser: p}, nil
}

type accessClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// Verify checks an access token: typ at+jwt, an allowed algorithm, a
// signature by a key of the node whose algorithm is the header's, iss,
// aud, exp and iat, and the client_id, sub and jti claims. Errors match
// ErrInvalidToken (or ErrKeysUnavailable when the node's keys cannot be
// had).
func (v *AccessTokenVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if token == "" || len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: empty or longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	var c accessClaims
	var keyErr error
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
			keyErr = fmt.Errorf("%w: typ is not at+jwt", ErrInvalidToken)
			return nil, keyErr
		}
		if _, ok := t.Header["crit"]; ok {
			keyErr = fmt.Errorf("%w: critical header parameters", ErrInvalidToken)
			return nil, keyErr
		}
		kid, _ := t.Header["kid"].(string)
		pub, err := v.cfg.Keys.Key(ctx, kid)
		if err != nil {
			if errors.Is(err, ErrUnknownKey) {
				err = fmt.Errorf("%w: %w", ErrInvalidToken, err)
			}
			keyErr = err
			return nil, err
		}
		if alg, err := gm.Alg(pub); err != nil || alg != t.Method.Alg() {
			keyErr = fmt.Errorf("%w: the key of kid is not a %s key", ErrInvalidToken, t.Method.Alg())
			return nil, keyErr
		}
		return pub, nil
	})
	if keyErr != nil {
		return nil, keyErr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.ClientID == "" || c.Subject != c.ClientID || c.ID == "" {
		return nil, fmt.Errorf("%w: lacks client_id, sub or jti", ErrInvalidToken)
	}
	p := &Principal{ClientID: c.ClientID, TokenID: c.ID, Expires: c.ExpiresAt.Time}
	if c.Scope != "" {
		p.Scopes = strings.Fields(c.Scope)
	}
	return p, nil
}

type principalKey struct{}

// PrincipalFrom returns the principal Middleware put in a request's
// context.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

// Middleware protects a handler: a request must carry a valid access token
// in "Authorization: Bearer" holding every one of scopes. A missing or
// invalid token gets 401 with WWW-Authenticate error="invalid_token" (RFC
// 6750), a token lacking a scope 403 error="insufficient_scope", keys that
// cannot be fetched 503; the body is a JSON {"error", "error_description"}
// that never echoes the token. The handler finds the principal with
// PrincipalFrom.
func (v *AccessTokenVerifier) Middleware(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
				deny(w, http.StatusUnauthorized, "invalid_token", "a bearer access token is required", scopes)
				return
			}
			p, err := v.Verify(r.Context(), strings.TrimSpace(h[7:]))
			switch {
			case errors.Is(err, ErrKeysUnavailable):
				deny(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token issuer's keys cannot be fetched", nil)
				return
			case err != nil:
				deny(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired", scopes)
				return
			}
			for _, s := range scopes {
				if !p.HasScope(s) {
					deny(w, http.StatusForbidden, "insufficient_scope", "the access token lacks scope "+s, scopes)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		})
	}
}

func deny(w http.ResponseWriter, status int, code, msg string, scopes []string) {
	if status != http.StatusServiceUnavailable {
		h := `Bearer error="` + code + `", error_description="` + msg + `"`
		if len(scopes) > 0 {
			h += `, scope="` + strings.Join(scopes, " ") + `"`
		}
		w.Header().Set("WWW-Authenticate", h)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q,"error_description":%q}`+"\n", code, msg)
}
