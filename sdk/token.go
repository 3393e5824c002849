package sdk

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

// Paths of a node's OAuth 2.0 endpoints (package auth serves them; the
// SDK does not link it).
const (
	TokenPath = "/oauth2/token"
	JWKSPath  = "/.well-known/jwks.json"
)

// ErrToken: the node did not issue an access token (the cause is wrapped:
// a *NodeError for an error answer).
var ErrToken = errors.New("sdk: token request failed")

// DefaultRefreshBefore is how long before its expiry a cached access token
// is replaced.
const DefaultRefreshBefore = 30 * time.Second

// ClientConfig configures NewTokenSource.
type ClientConfig struct {
	// Node is the node's base URL, e.g. "https://trustid.example":
	// https, or http to a loopback host (ErrInsecureURL). Required.
	Node string
	// ClientID is the registered client ID. Required.
	ClientID string
	// Key is the client's private key, SM2 or P-256 (ES256). Required.
	Key crypto.Signer
	// KeyID is the kid of Key in the registered JWKS; empty means its RFC
	// 7638 thumbprint (what `trustid clients keygen` names it).
	KeyID string
	// Scopes asks for these scopes; empty means all the client's scopes.
	Scopes []string
	// Resource, when set, asks for a token for this resource (RFC 8707):
	// the resource URI a relying party registered for its API, whose
	// tokens name that API alone, or another region's node's issuer URL.
	// Empty: a token for Node. A source's tokens are for one resource;
	// use a source for each.
	Resource string
	// RefreshBefore: a cached token is replaced this long before it
	// expires (default DefaultRefreshBefore), or halfway through its
	// life when it lives no longer than RefreshBefore.
	RefreshBefore time.Duration
	// HTTPClient, Now and Rand default to a 10 s client, time.Now and
	// crypto/rand.
	HTTPClient *http.Client
	Now        func() time.Time
	Rand       io.Reader
}

// TokenSource obtains access tokens with the OAuth 2.0 client credentials
// grant, authenticating with private_key_jwt (RFC 7523), and caches each
// until RefreshBefore its expiry. Safe for concurrent use: concurrent
// callers share one request, its failure included; it runs apart from
// them, so a caller whose context ends stops waiting without failing the
// others (it gives up after tokenRequestTimeout).
type TokenSource struct {
	cfg      ClientConfig
	mu       sync.Mutex
	token    string
	expires  time.Time
	renew    time.Time // when the cached token is replaced
	inflight *tokenRequest
}

// tokenRequest is one token request, shared by the callers that wait for
// it; done is closed when it has ended, with token or err set.
type tokenRequest struct {
	done  chan struct{}
	token string
	err   error
}

// tokenRequestTimeout bounds a token request, which no caller's
// cancellation stops.
const tokenRequestTimeout = 30 * time.Second

// NewTokenSource checks cfg and returns a token source.
func NewTokenSource(cfg ClientConfig) (*TokenSource, error) {
	if cfg.Node == "" || cfg.ClientID == "" || cfg.Key == nil {
		return nil, errors.New("sdk: ClientConfig needs Node, ClientID and Key")
	}
	if err := checkBase(cfg.Node); err != nil {
		return nil, err
	}
	cfg.Node = trimBase(cfg.Node)
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
	cfg.RefreshBefore = durOr(cfg.RefreshBefore, DefaultRefreshBefore)
	return &TokenSource{cfg: cfg}, nil
}

// Token returns a cached access token, or a new one when the cached one
// expires within RefreshBefore (or is past half its life, for a token
// that lives no longer than RefreshBefore).
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	now := ts.cfg.Now()
	if ts.token != "" && now.Before(ts.renew) {
		defer ts.mu.Unlock()
		return ts.token, nil
	}
	r := ts.inflight
	if r == nil {
		r = &tokenRequest{done: make(chan struct{})}
		ts.inflight = r
		go ts.request(context.WithoutCancel(ctx), now, r)
	}
	ts.mu.Unlock()
	select {
	case <-r.done:
		return r.token, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrToken, ctx.Err())
	}
}

// request runs token request r, caches its token and closes r.done.
func (ts *TokenSource) request(ctx context.Context, now time.Time, r *tokenRequest) {
	ctx, cancel := context.WithTimeout(ctx, tokenRequestTimeout)
	defer cancel()
	tok, life, err := ts.fetch(ctx, now)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err == nil {
		ts.token, ts.expires, ts.renew = tok, now.Add(life), now.Add(life-ts.cfg.RefreshBefore)
		if life <= ts.cfg.RefreshBefore {
			// Such a token would never be reused: a node whose tokens
			// live 20 s would be asked for one on every call.
			ts.renew = now.Add(life / 2)
		}
	}
	r.token, r.err = tok, err
	ts.inflight = nil
	close(r.done)
}

// fetch asks the node for a token, returning it and its lifetime.
func (ts *TokenSource) fetch(ctx context.Context, now time.Time) (string, time.Duration, error) {
	assertion, err := clientAssertion(ts.cfg.Key, ts.cfg.KeyID, ts.cfg.ClientID, ts.cfg.Node+TokenPath, now, ts.cfg.Rand)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrToken, err)
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	if len(ts.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(ts.cfg.Scopes, " "))
	}
	if ts.cfg.Resource != "" {
		form.Set("resource", ts.cfg.Resource)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.cfg.Node+TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrToken, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := do(ts.cfg.HTTPClient, req, http.StatusOK)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrToken, err)
	}
	var resp struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.AccessToken == "" || resp.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("%w: the node's answer has no access token and lifetime", ErrToken)
	}
	if !bearerType(resp.TokenType) {
		return "", 0, fmt.Errorf("%w: the node's access token is not a Bearer token", ErrToken)
	}
	// Seconds past what a Duration holds (about 292 years) are cut to it:
	// the product would wrap negative and the token never be reused.
	life := time.Duration(min(resp.ExpiresIn, int64(math.MaxInt64/time.Second))) * time.Second
	return resp.AccessToken, life, nil
}

// bearerType reports whether a token response's token_type is Bearer,
// the only type the SDK sends (RFC 6750): RFC 6749 §7.1, "The client
// MUST NOT use an access token if it does not understand the token
// type"; the value is case-insensitive (§5.1).
func bearerType(t string) bool { return strings.EqualFold(t, "Bearer") }

// drop forgets the cached token if it is tok (the node refused it), so
// that the next Token asks for a new one.
func (ts *TokenSource) drop(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == tok {
		ts.token, ts.expires, ts.renew = "", time.Time{}, time.Time{}
	}
}

// Expires returns when the cached token expires (zero before the first).
func (ts *TokenSource) Expires() time.Time {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.expires
}

// clientAssertion signs a private_key_jwt client assertion (RFC 7523
// §3): iss = sub = the client ID, aud = the token endpoint, a one-minute
// life and a random jti.
func clientAssertion(key crypto.Signer, kid, clientID, aud string, now time.Time, rnd io.Reader) (string, error) {
	method, err := gm.SigningMethod(key)
	if err != nil {
		return "", err
	}
	if alg := method.Alg(); alg != gm.AlgSM2 && alg != gm.AlgES256 {
		return "", fmt.Errorf("client keys are SM2 or ES256, not %s", alg)
	}
	var jti [16]byte
	if _, err := io.ReadFull(rnd, jti[:]); err != nil {
		return "", err
	}
	now = now.Truncate(time.Second)
	t := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	t.Header["kid"] = kid
	return t.SignedString(key)
}

// keyID is the kid TrustID tools give a client key: its RFC 7638
// thumbprint.
func keyID(pub crypto.PublicKey) (string, error) {
	j, err := gm.NewJWK(pub, "")
	if err != nil {
		return "", err
	}
	return j.Thumbprint()
}
