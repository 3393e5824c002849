package sdk

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Errors of login.
var (
	// ErrLogin: the login could not complete (discovery, a refused
	// authorization, the token exchange).
	ErrLogin = errors.New("sdk: login failed")
	// ErrIDToken: an ID token that does not verify (signature, algorithm,
	// iss, aud, azp, exp, iat, nonce).
	ErrIDToken = errors.New("sdk: invalid ID token")
	// ErrState: the callback's state is not the one the login started
	// with (a forged or mixed-up callback).
	ErrState = errors.New("sdk: login state mismatch")
)

// LoginConfig configures a Login.
type LoginConfig struct {
	// Issuer is the provider's issuer URL (the node's base URL): https,
	// or http to a loopback host (ErrInsecureURL). Required.
	Issuer string
	// ClientID and RedirectURI are the relying party's registration.
	// Required.
	ClientID, RedirectURI string
	// Key is the client's SM2 or P-256 key for private_key_jwt at the
	// token endpoint (KeyID defaults to its thumbprint). Required.
	Key   crypto.Signer
	KeyID string
	// Scopes are asked besides "openid" (e.g. "age_over_18").
	Scopes []string
	// Algorithms is the allow-list of ID token algorithms. Required.
	Algorithms []string
	// MaxAge bounds the age of an ID token's iat (default 10 minutes).
	MaxAge time.Duration
	// Registry, when set, is where ID token keys come from: the keys the
	// issuer's region registered on the consortium ledger (package
	// sdk/ledgeranchors gives one), never the provider's JWKS. ID tokens
	// then verify with no call to the provider, also while it is down,
	// and a key its region retired or revoked, or a region the
	// consortium suspended, verifies nothing. Nil: the provider's JWKS.
	Registry RegistryKeys
	// HTTPClient, Now and Rand default to a 10 s client, time.Now and
	// crypto/rand. Leeway is the clock skew allowed (default
	// DefaultLeeway, a node's; negative: none; at most MaxLeeway).
	HTTPClient *http.Client
	Now        func() time.Time
	Rand       io.Reader
	Leeway     time.Duration
}

// Login is the relying party's side of OpenID Connect with TrustID
// (scan-to-login): discovery, the authorization code flow with PKCE (S256)
// and a nonce, the code exchange authenticated with private_key_jwt, and
// the ID token checks of OpenID Connect Core §3.1.3.7. Safe for concurrent
// use.
type Login struct {
	cfg  LoginConfig
	mu   sync.Mutex
	disc *discovery // the latest: in flight, succeeded (kept) or failed
}

type providerMetadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	// IssParameter: the provider puts iss in every authorization
	// response (RFC 9207 §2.3).
	IssParameter bool `json:"authorization_response_iss_parameter_supported"`
}

// Discovery's bounds: a fetch gives up after discoveryTimeout; after a
// failed one, the next starts no sooner than discoveryRetry later.
const (
	discoveryTimeout = 30 * time.Second
	discoveryRetry   = 5 * time.Second
)

// discovery is one fetch of the provider's metadata, shared by the
// callers that wait for it. done is closed when it has ended, with meta
// and keys set or err.
type discovery struct {
	done  chan struct{}
	meta  providerMetadata
	keys  *KeySet
	err   error
	ended time.Time
}

// NewLogin checks cfg and returns a Login; discovery happens on first use.
func NewLogin(cfg LoginConfig) (*Login, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURI == "" || cfg.Key == nil || len(cfg.Algorithms) == 0 {
		return nil, errors.New("sdk: LoginConfig needs Issuer, ClientID, RedirectURI, Key and Algorithms")
	}
	if _, err := gm.NewJWTParser(cfg.Algorithms); err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	if err := checkBase(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("sdk: LoginConfig.Leeway %v is over MaxLeeway (%v)", cfg.Leeway, MaxLeeway)
	}
	cfg.Issuer = trimBase(cfg.Issuer)
	if cfg.KeyID == "" {
		kid, err := keyID(cfg.Key.Public())
		if err != nil {
			return nil, fmt.Errorf("sdk: client key: %w", err)
		}
		cfg.KeyID = kid
	}
	cfg.Now = nowOr(cfg.Now)
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.MaxAge = durOr(cfg.MaxAge, 10*time.Minute)
	cfg.Leeway = leewayOr(cfg.Leeway)
	return &Login{cfg: cfg}, nil
}

// discover returns the provider's metadata, read on first use: its
// issuer must be the configured one, and it must name the endpoints and
// support S256. A success is kept. A failure is not: a call at least
// discoveryRetry after it fetches again (calls before then get the
// failure). Concurrent callers share one fetch, which no caller's
// cancellation stops: a caller whose ctx ends stops waiting, the others
// still get the answer.
func (l *Login) discover(ctx context.Context) (*discovery, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", ErrLogin, err)
	}
	l.mu.Lock()
	d := l.disc
	if d == nil || d.retry(l.cfg.Now()) {
		d = &discovery{done: make(chan struct{})}
		l.disc = d
		go l.fetch(context.WithoutCancel(ctx), d)
	}
	l.mu.Unlock()
	select {
	case <-d.done:
		if d.err != nil {
			return nil, d.err
		}
		return d, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: discovery: %w", ErrLogin, ctx.Err())
	}
}

// retry reports whether d failed at least discoveryRetry before now.
func (d *discovery) retry(now time.Time) bool {
	select {
	case <-d.done:
		return d.err != nil && now.Sub(d.ended) >= discoveryRetry
	default:
		return false
	}
}

// fetch runs discovery d and closes d.done.
func (l *Login) fetch(ctx context.Context, d *discovery) {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	d.err = l.readMetadata(ctx, &d.meta)
	if d.err == nil {
		d.keys = &KeySet{URL: d.meta.JWKSURI, Client: l.cfg.HTTPClient, Now: l.cfg.Now}
	}
	d.ended = l.cfg.Now()
	close(d.done)
}

// readMetadata reads and checks the provider's metadata into m.
func (l *Login) readMetadata(ctx context.Context, m *providerMetadata) error {
	body, err := get(ctx, l.cfg.HTTPClient, l.cfg.Issuer+"/.well-known/openid-configuration", "application/json")
	if err != nil {
		return fmt.Errorf("%w: discovery: %w", ErrLogin, err)
	}
	if err := json.Unmarshal(body, m); err != nil {
		return fmt.Errorf("%w: discovery: %w", ErrLogin, err)
	}
	switch {
	case m.Issuer != l.cfg.Issuer:
		return fmt.Errorf("%w: discovery names issuer %q, not %q", ErrLogin, m.Issuer, l.cfg.Issuer)
	case m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" || m.JWKSURI == "":
		return fmt.Errorf("%w: the provider has no authorization, token or JWKS endpoint (is login enabled on the node?)", ErrLogin)
	case !slices.Contains(m.CodeChallengeMethods, "S256"):
		return fmt.Errorf("%w: the provider does not support PKCE S256", ErrLogin)
	}
	for _, e := range []string{m.AuthorizationEndpoint, m.TokenEndpoint, m.JWKSURI} {
		u, err := url.Parse(e)
		if err != nil {
			return fmt.Errorf("%w: discovery: %w", ErrLogin, err)
		}
		if err := checkURL(u); err != nil {
			return fmt.Errorf("%w: discovery: %w", ErrLogin, err)
		}
	}
	return nil
}

// LoginStart is a login in progress: the URL to send the browser to, and
// the secrets to keep (in the user's session, server side) until the
// callback.
type LoginStart struct {
	URL          string
	State        string
	Nonce        string
	CodeVerifier string
}

// Start begins a login: a fresh state, nonce and PKCE verifier, and the
// authorization URL (response_type=code, S256 challenge).
func (l *Login) Start(ctx context.Context) (*LoginStart, error) {
	d, err := l.discover(ctx)
	if err != nil {
		return nil, err
	}
	s := &LoginStart{}
	for _, p := range []*string{&s.State, &s.Nonce, &s.CodeVerifier} {
		b := make([]byte, 32)
		if _, err := io.ReadFull(l.cfg.Rand, b); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrLogin, err)
		}
		*p = base64.RawURLEncoding.EncodeToString(b)
	}
	sum := sha256.Sum256([]byte(s.CodeVerifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {l.cfg.ClientID},
		"redirect_uri":          {l.cfg.RedirectURI},
		"scope":                 {strings.Join(append([]string{"openid"}, l.cfg.Scopes...), " ")},
		"state":                 {s.State},
		"nonce":                 {s.Nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(d.meta.AuthorizationEndpoint, "?") {
		sep = "&"
	}
	s.URL = d.meta.AuthorizationEndpoint + sep + q.Encode()
	return s, nil
}

// Identity is a verified login: the pairwise subject, the assurance
// level (acr), and the ID token's other claims.
type Identity struct {
	Subject  string
	ACR      string
	AuthTime time.Time
	Claims   map[string]any
	// AccessToken is the user's access token (for the userinfo endpoint).
	AccessToken string
}

// Finish completes a login from the callback's query: the state must be
// start's (a nil or empty start is ErrState); iss, when there is one or the provider says it sends one,
// must be the provider's issuer, else the answer is refused as another
// server's (RFC 9207 §2.4, mix-up); an error answer is an ErrLogin naming
// the provider's code; the code is exchanged (with the PKCE verifier and
// a client assertion) and the ID token verified.
func (l *Login) Finish(ctx context.Context, start *LoginStart, callback url.Values) (*Identity, error) {
	d, err := l.discover(ctx)
	if err != nil {
		return nil, err
	}
	if start == nil || start.State == "" || subtle.ConstantTimeCompare([]byte(callback.Get("state")), []byte(start.State)) != 1 {
		return nil, ErrState
	}
	if iss, ok := callback["iss"]; ok || d.meta.IssParameter {
		if len(iss) != 1 || iss[0] != d.meta.Issuer {
			return nil, fmt.Errorf("%w: the callback's iss is not the provider's issuer (RFC 9207)", ErrLogin)
		}
	}
	if e := callback.Get("error"); e != "" {
		return nil, fmt.Errorf("%w: the provider answered %s", ErrLogin, e)
	}
	code := callback.Get("code")
	if code == "" {
		return nil, fmt.Errorf("%w: the callback has no code", ErrLogin)
	}
	assertion, err := clientAssertion(l.cfg.Key, l.cfg.KeyID, l.cfg.ClientID, d.meta.TokenEndpoint, l.cfg.Now(), l.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLogin, err)
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {l.cfg.RedirectURI},
		"code_verifier": {start.CodeVerifier}, "client_id": {l.cfg.ClientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.meta.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: code exchange: %w", ErrLogin, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := do(l.cfg.HTTPClient, req, http.StatusOK)
	if err != nil {
		return nil, fmt.Errorf("%w: code exchange: %w", ErrLogin, err)
	}
	var resp struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.IDToken == "" {
		return nil, fmt.Errorf("%w: the token answer has no id_token", ErrLogin)
	}
	if !bearerType(resp.TokenType) {
		// OpenID Connect Core §3.1.3.3: "The OAuth 2.0 token_type
		// response parameter value MUST be Bearer".
		return nil, fmt.Errorf("%w: the token answer's token_type is not Bearer", ErrLogin)
	}
	id, err := l.VerifyIDToken(ctx, resp.IDToken, start.Nonce)
	if err != nil {
		return nil, err
	}
	id.AccessToken = resp.AccessToken
	return id, nil
}

// RegistryKeys is the consortium ledger's trust registry as a verifier of
// the regions' nodes sees it: IssuerKey returns the verifying key kid of
// the active region whose registry record names issuer (its node's base
// URL or DID), if that key is active or retiring, and the key's JWS
// algorithm. *ledgeranchors.Anchors implements it. Implementations answer
// from memory and are safe for concurrent use.
type RegistryKeys interface {
	IssuerKey(issuer, kid string) (crypto.PublicKey, string, error)
}

// VerifyIDToken checks an ID token for this client (OpenID Connect Core
// §3.1.3.7): a header and claims the node's strict JSON decoder takes (no
// member given twice, none differing from another only in case), no
// crit (the SDK understands no extension, RFC 7515 §4.1.11), an
// allowed algorithm and a signature by a key of the
// provider's JWKS (or, with Registry, of its region in the registry) of
// that algorithm, iss, aud naming the client ID and no other audience
// (the SDK trusts none), azp, when present, equal to it, exp, an iat no older than
// MaxAge, a sub, and the nonce of the login. Errors match ErrIDToken,
// or ErrLogin when the provider's discovery (its JWKS URL) cannot be had:
// the token was not checked, rather than found invalid.
func (l *Login) VerifyIDToken(ctx context.Context, token, nonce string) (*Identity, error) {
	var keys *KeySet
	if l.cfg.Registry == nil {
		d, err := l.discover(ctx)
		if err != nil {
			return nil, err
		}
		keys = d.keys
	}
	p, err := gm.NewJWTParser(l.cfg.Algorithms, jwt.WithIssuer(l.cfg.Issuer), jwt.WithAudience(l.cfg.ClientID),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(l.cfg.Now), jwt.WithLeeway(l.cfg.Leeway))
	if err != nil {
		return nil, err
	}
	if err := strictSegments(token); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	claims := jwt.MapClaims{}
	_, err = p.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit header parameter: the SDK understands no extension (RFC 7515 §4.1.11)")
		}
		kid, _ := t.Header["kid"].(string)
		if l.cfg.Registry != nil {
			pub, alg, err := l.cfg.Registry.IssuerKey(l.cfg.Issuer, kid)
			if err != nil {
				return nil, err
			}
			if alg != t.Method.Alg() {
				return nil, fmt.Errorf("the registry key of kid is not a %s key", t.Method.Alg())
			}
			return pub, nil
		}
		pub, err := keys.Key(ctx, kid)
		if err != nil {
			return nil, err
		}
		if alg, err := gm.Alg(pub); err != nil || alg != t.Method.Alg() {
			return nil, fmt.Errorf("the key of kid is not a %s key", t.Method.Alg())
		}
		return pub, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	aud, _ := claims.GetAudience()
	for _, a := range aud {
		// OIDC Core §3.1.3.7 (3): "The ID Token MUST be rejected if ...
		// it contains additional audiences not trusted by the Client."
		if a != l.cfg.ClientID {
			return nil, fmt.Errorf("%w: aud names another audience than this client", ErrIDToken)
		}
	}
	azpClaim, hasAZP := claims["azp"]
	azp, _ := azpClaim.(string)
	if (len(aud) > 1 || hasAZP) && azp != l.cfg.ClientID {
		return nil, fmt.Errorf("%w: azp is not this client", ErrIDToken)
	}
	iat, _ := claims.GetIssuedAt()
	if iat == nil || l.cfg.Now().Sub(iat.Time) > l.cfg.MaxAge+l.cfg.Leeway {
		return nil, fmt.Errorf("%w: iat missing or older than %v", ErrIDToken, l.cfg.MaxAge)
	}
	if n, _ := claims["nonce"].(string); nonce == "" || subtle.ConstantTimeCompare([]byte(n), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: nonce mismatch", ErrIDToken)
	}
	sub, _ := claims.GetSubject()
	if sub == "" {
		return nil, fmt.Errorf("%w: no sub", ErrIDToken)
	}
	id := &Identity{Subject: sub, Claims: claims}
	id.ACR, _ = claims["acr"].(string)
	if at, ok := claims["auth_time"].(float64); ok {
		id.AuthTime = time.Unix(int64(at), 0)
	}
	return id, nil
}

// strictSegments refuses a compact JWS whose header or claims hold a
// member given twice or two differing only in case (strictjson.Check),
// which golang-jwt's encoding/json would read as its last or its
// case-folded match.
func strictSegments(token string) error {
	h, rest, _ := strings.Cut(token, ".")
	c, _, ok := strings.Cut(rest, ".")
	if !ok {
		return errors.New("not three segments")
	}
	for _, seg := range []string{h, c} {
		raw, err := b64url.DecodeString(seg)
		if err != nil {
			return err
		}
		if err := strictjson.Check(raw, maxTokenLen); err != nil {
			return err
		}
	}
	return nil
}
