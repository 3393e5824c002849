package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
)

// Endpoint paths, relative to the issuer.
const (
	TokenPath         = "/oauth2/token"
	IntrospectionPath = "/oauth2/introspect"
	RevocationPath    = "/oauth2/revoke"
	JWKSPath          = "/.well-known/jwks.json"
)

// Defaults for Config zero values.
const (
	DefaultTokenTTL        = 10 * time.Minute
	DefaultLeeway          = 30 * time.Second
	DefaultMaxAssertionAge = 5 * time.Minute
	DefaultCacheSize       = 10000
	DefaultKeyRefresh      = time.Second
	// DefaultRevocationRecheck bounds how long a token revoked on another
	// node stays usable here through the cache.
	DefaultRevocationRecheck = time.Second
)

// Bounds of Config.TokenTTL.
const (
	MinTokenTTL = time.Minute
	MaxTokenTTL = 24 * time.Hour
)

// AssertionType is the client_assertion_type of private_key_jwt (RFC 7523).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AccessTokenType is the JWT "typ" of access tokens (RFC 9068 §2.1).
const AccessTokenType = "at+jwt"

// maxTokenLen bounds access tokens and assertions read from requests.
const maxTokenLen = 8 << 10

// NodeKeys is the node keystore as auth uses it: the active key signs
// access tokens; the published keys (active and retiring) verify them.
// *keystore.Store satisfies it.
type NodeKeys interface {
	Active(alg string) (keystore.Key, error)
	Published() []keystore.Key
}

// InstanceKeys resolves a key of this node's region that its keystore
// does not hold, from the region's record in the trust registry: another
// instance of the region rotated first (federation.Instances, whose
// contract this is). It returns the key and its JWS algorithm, or why
// not: a key the keystore holds in any state, a kid the record does not
// list, a key retired or revoked there, a region not active. Safe for
// concurrent use.
type InstanceKeys interface {
	InstanceKey(ctx context.Context, kid string) (crypto.PublicKey, string, error)
}

// Ephemeral is the ephemeral state auth keeps: single-use assertion IDs
// (MarkUsed, which returns an error matching store.ErrReplayed for a seen
// key) and revoked access-token IDs (Set, and Get which returns an error
// matching store.ErrNotFound for a missing key). store.Memory and
// redisstore.Store satisfy it; with Redis every node of a region sees the same
// replays and revocations. Keys passed in are hashed by the store.
type Ephemeral interface {
	MarkUsed(ctx context.Context, key string, ttl time.Duration) error
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Config configures New. Issuer, Keys, Clients and Store are required; the
// other zero values take the defaults above, time.Now and crypto/rand.
type Config struct {
	// Issuer is the node's public base URL (no trailing slash): the iss and
	// aud of access tokens, and an accepted aud of client assertions.
	Issuer  string
	Keys    NodeKeys
	Clients ClientStore
	Store   Ephemeral
	// TokenTTL is the lifetime of access tokens, in [MinTokenTTL,
	// MaxTokenTTL].
	TokenTTL time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat, at most a
	// minute.
	Leeway time.Duration
	// MaxAssertionAge is how far ahead a client assertion's exp may be (at
	// most 5 minutes, the default).
	MaxAssertionAge time.Duration
	// CacheSize bounds the validated-token cache; negative disables it.
	CacheSize int
	// KeyRefresh is how often the node's published keys are re-read, so a
	// rotation or retirement reloaded by the keystore takes effect; a new
	// active key is read at once, when the node first signs with it.
	KeyRefresh time.Duration
	// RevocationRecheck is how often a cached token is looked up again in
	// the revocation list and the registry, for changes made by other
	// nodes or processes; zero means DefaultRevocationRecheck, negative
	// means on every request (another region's token keeps its registry
	// check while Federation.RegistryGeneration is unchanged, which is
	// the same answer: see Authorize).
	RevocationRecheck time.Duration
	Now               func() time.Time
	Rand              io.Reader

	// Federation, when set, makes the node accept access tokens of other
	// regions' nodes that name it as an audience, verified from the trust
	// registry alone, and lets clients ask (RFC 8707 resource) for tokens
	// another region accepts. Nil: this node's own tokens only.
	Federation Federation
	// Instances, when set with Federation, verifies a token of this
	// node's issuer signed by a key the keystore does not hold (another
	// instance of the region rotated first; see parseRegion). Nil: the
	// keystore's keys only.
	Instances InstanceKeys
	// Peers, when set with Federation, lets Introspect answer for another
	// region's token by asking its node (node to node); nil: such a token
	// introspects as inactive.
	Peers PeerIntrospector
	// Visitors, when set, is every region's relying parties (Clients is
	// this node's region's only): AuthenticateIntrospector takes another
	// region's party from it, so that the party can introspect here its
	// own token of its home region that names this node. Nothing else
	// authenticates a party of another region.
	Visitors ClientStore
}

// Service issues, validates, introspects and revokes access tokens, and
// authenticates clients at the token endpoint. It is safe for concurrent
// use.
type Service struct {
	issuer, tokenEndpoint string
	instances             InstanceKeys
	keys                  NodeKeys
	clients, visitors     ClientStore
	store                 Ephemeral
	ttl, leeway, maxAge   time.Duration
	keyRefresh, recheck   time.Duration
	now                   func() time.Time
	rand                  io.Reader

	tokenClaims     *jwt.Validator // access tokens' claims: iss and aud this node
	issuedClaims    *jwt.Validator // this node's access tokens' claims, any aud: iss this node
	foreignClaims   *jwt.Validator // other regions' access tokens' claims: aud this node
	fed             Federation
	peers           PeerIntrospector
	assertionParser *gm.JWTParser // client assertions: SM2, ES256

	nodeKeys   atomic.Pointer[nodeKeySet]
	nextKeys   atomic.Int64 // unix nanoseconds of the next refresh
	cache      *tokenCache
	clientKey  parsedCache[gm.JWK, crypto.PublicKey]
	secrets    parsedCache[SecretHash, *secretVerifier]
	clientsGen atomic.Uint64
	apis       atomic.Pointer[apiIndex] // currentAPIs's last read
	apisMu     sync.Mutex               // guards apisRead
	apisRead   *apiRead                 // the list of the registry being read, nil when none
	decoy      decoyCredentials
}

// decoyCredentials are what the credentials of a client the registry
// refuses are checked against, so that its refusal costs what a registered
// client's does: a secret hash of a discarded secret, and per assertion
// algorithm a public key whose private half was discarded.
type decoyCredentials struct {
	secret *secretVerifier
	keys   map[string]any // by JWS alg
}

func newDecoyCredentials(rand io.Reader) (decoyCredentials, error) {
	_, hash, err := NewSecret(rand)
	if err != nil {
		return decoyCredentials{}, err
	}
	secret, err := hash.verifier()
	if err != nil {
		return decoyCredentials{}, err
	}
	sm2Key, err := gm.GenerateKey(rand)
	if err != nil {
		return decoyCredentials{}, err
	}
	p256Key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return decoyCredentials{}, err
	}
	d := decoyCredentials{secret: secret, keys: map[string]any{}}
	for _, pub := range []crypto.PublicKey{sm2Key.Public(), p256Key.Public()} {
		j, err := gm.NewJWK(pub, "decoy")
		if err != nil {
			return decoyCredentials{}, err
		}
		// Parsed as a registered key is, so that verifying costs the same.
		if pub, err = j.PublicKey(); err != nil {
			return decoyCredentials{}, err
		}
		d.keys[keyAlg(pub)] = pub
	}
	return d, nil
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Keys == nil || cfg.Clients == nil || cfg.Store == nil {
		return nil, errors.New("auth: Config needs Keys, Clients and Store")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(cfg.Issuer, "/") {
		return nil, fmt.Errorf("auth: issuer %q must be an http(s) URL without query, fragment or trailing slash", cfg.Issuer)
	}
	s := &Service{
		issuer: cfg.Issuer, tokenEndpoint: cfg.Issuer + TokenPath, instances: cfg.Instances,
		keys: cfg.Keys, clients: cfg.Clients, visitors: cfg.Visitors, store: cfg.Store,
		ttl: cfg.TokenTTL, leeway: cfg.Leeway, maxAge: cfg.MaxAssertionAge, keyRefresh: cfg.KeyRefresh, recheck: cfg.RevocationRecheck,
		now: cfg.Now, rand: cfg.Rand,
	}
	if s.ttl == 0 {
		s.ttl = DefaultTokenTTL
	}
	if s.ttl < MinTokenTTL || s.ttl > MaxTokenTTL {
		return nil, fmt.Errorf("auth: access token lifetime %v is outside [%v, %v]", s.ttl, MinTokenTTL, MaxTokenTTL)
	}
	if s.leeway == 0 {
		s.leeway = DefaultLeeway
	}
	if s.leeway < 0 || s.leeway > time.Minute {
		return nil, fmt.Errorf("auth: leeway %v is outside [0, 1m]", s.leeway)
	}
	if s.maxAge == 0 {
		s.maxAge = DefaultMaxAssertionAge
	}
	if s.maxAge < 0 || s.maxAge > DefaultMaxAssertionAge {
		return nil, fmt.Errorf("auth: maximum assertion lifetime %v is outside (0, 5m]", s.maxAge)
	}
	if s.keyRefresh <= 0 {
		s.keyRefresh = DefaultKeyRefresh
	}
	if s.recheck == 0 {
		s.recheck = DefaultRevocationRecheck
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		s.cache = newTokenCache(size)
	}
	common := []jwt.ParserOption{jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(s.leeway),
		jwt.WithTimeFunc(s.now), jwt.WithStrictDecoding()}
	// Access tokens are split and decoded once (parseAccessJWS), then
	// verified with golang-jwt's signing method and validator.
	s.tokenClaims = jwt.NewValidator(append(common, jwt.WithIssuer(s.issuer), jwt.WithAudience(s.issuer))...)
	s.issuedClaims = jwt.NewValidator(append(common, jwt.WithIssuer(s.issuer))...)
	s.fed, s.peers = cfg.Federation, cfg.Peers
	s.foreignClaims = jwt.NewValidator(append(common, jwt.WithAudience(s.issuer))...)
	s.assertionParser, err = gm.NewJWTParser(AssertionAlgorithms,
		append(common, jwt.WithAudience(s.tokenEndpoint, s.issuer))...)
	if err != nil {
		return nil, err
	}
	if _, err := s.keys.Active(gm.AlgSM2); err != nil {
		return nil, fmt.Errorf("auth: no SM2 signing key: %w", err)
	}
	if s.decoy, err = newDecoyCredentials(s.rand); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.refreshKeys(s.now())
	return s, nil
}

// Issuer returns the node's issuer URL.
func (s *Service) Issuer() string { return s.issuer }

// TokenTTL returns the access-token lifetime.
func (s *Service) TokenTTL() time.Duration { return s.ttl }

// nodeKeySet is the node's published verification keys by kid, and the
// header segments of the tokens it signs with them, decoded
// (issuedHeader), for parseAccessJWS.
type nodeKeySet struct {
	keys    map[string]nodeKey
	headers map[string]accessHeader
}

type nodeKey struct {
	alg string
	pub any
}

// refreshKeys rebuilds the node key set from the keystore.
func (s *Service) refreshKeys(now time.Time) {
	set := &nodeKeySet{keys: map[string]nodeKey{}, headers: map[string]accessHeader{}}
	for _, k := range s.keys.Published() {
		set.keys[k.Kid] = nodeKey{alg: k.Alg, pub: k.Public}
		if seg, hd, err := issuedHeader(k); err == nil {
			set.headers[seg] = hd
		}
	}
	s.nodeKeys.Store(set)
	s.nextKeys.Store(now.Add(s.keyRefresh).UnixNano())
}

// currentKeys returns the node key set, refreshing it when it is due.
func (s *Service) currentKeys(now time.Time) *nodeKeySet {
	next := s.nextKeys.Load()
	if now.UnixNano() >= next && s.nextKeys.CompareAndSwap(next, now.Add(s.keyRefresh).UnixNano()) {
		s.refreshKeys(now)
	}
	return s.nodeKeys.Load()
}

// JWKS returns the node's published keys (active and retiring) as a JWK
// set, for /.well-known/jwks.json.
func (s *Service) JWKS() (gm.JWKS, error) {
	set := gm.JWKS{Keys: []gm.JWK{}}
	for _, k := range s.keys.Published() {
		j, err := k.JWK()
		if err != nil {
			return gm.JWKS{}, err
		}
		set.Keys = append(set.Keys, j)
	}
	return set, nil
}

// Metadata is the authorization server metadata (RFC 8414), also the
// token-related members of the OpenID Provider configuration.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	TokenEndpointAuthMethods          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethods  []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigning  []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationEndpointAuthSigningAlgs []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	AccessTokenSigningAlgs            []string `json:"access_token_signing_alg_values_supported"`
}

// Metadata describes the node as an authorization server.
func (s *Service) Metadata() Metadata {
	return Metadata{
		Issuer:                            s.issuer,
		TokenEndpoint:                     s.tokenEndpoint,
		JWKSURI:                           s.issuer + JWKSPath,
		IntrospectionEndpoint:             s.issuer + IntrospectionPath,
		RevocationEndpoint:                s.issuer + RevocationPath,
		GrantTypesSupported:               []string{GrantClientCredentials},
		ResponseTypesSupported:            []string{},
		TokenEndpointAuthMethods:          AuthMethods,
		TokenEndpointAuthSigningAlgs:      AssertionAlgorithms,
		IntrospectionEndpointAuthMethods:  AuthMethods,
		IntrospectionEndpointAuthSigning:  AssertionAlgorithms,
		RevocationEndpointAuthMethods:     AuthMethods,
		RevocationEndpointAuthSigningAlgs: AssertionAlgorithms,
		ScopesSupported:                   Scopes,
		AccessTokenSigningAlgs:            AccessTokenAlgorithms,
	}
}

// parsedCache keeps values parsed from a client's stored text (its JWKs,
// an SM2 key's Z_A computed once; its secret hash, the HMAC key state of
// its salt), keyed by the whole text so a changed one is parsed again. It
// holds at most maxParsed and then starts afresh.
type parsedCache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

const maxParsed = 4096

// get returns k parsed, calling parse the first time; the map keeps k,
// or keep(k) when keep is not nil (to clone a key that may share memory).
func (c *parsedCache[K, V]) get(k K, parse func(K) (V, error), keep func(K) K) (V, error) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := parse(k)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxParsed {
		c.m = map[K]V{}
	}
	if keep != nil {
		k = keep(k)
	}
	c.m[k] = v
	c.mu.Unlock()
	return v, nil
}
