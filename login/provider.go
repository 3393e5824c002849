package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// Endpoint paths, relative to the issuer.
const (
	AuthorizePath = "/oauth2/authorize"
	UserInfoPath  = "/oauth2/userinfo"
	LogoutPath    = "/oauth2/logout"
	// SessionPath is the login session resource the holder's app reads
	// (GET), approves (POST SessionPath/approve) and the login page waits
	// on (GET SessionPath/wait); {id} is the session ID.
	SessionPath = "/login/sessions/{id}"
)

// Defaults of Config zero values.
const (
	DefaultSessionTTL      = 2 * time.Minute
	DefaultCodeTTL         = 60 * time.Second
	DefaultAccessTokenTTL  = 10 * time.Minute
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	DefaultIDTokenTTL      = 10 * time.Minute
)

// Clients looks up registered relying parties; auth.FileStore satisfies
// it. Get returns an error matching auth.ErrClientNotFound for an unknown
// client ID.
type Clients interface {
	Get(ctx context.Context, id string) (auth.Client, error)
}

// Holders checks a holder's signed request for purpose (its device key
// over the request, which names the purpose, its binding checked for
// signature, validity and status) without spending its nonce, and
// SpendHolder spends the nonce of a request checked, for its binding and
// purpose (an error matching qrcode.ErrHolderAuth when spent already);
// redeem.BindingAuthenticator satisfies it. A login answer is spent only
// once it is taken: a refused one leaves the challenge to every other
// holder, and to its own holder's next answer.
type Holders interface {
	CheckHolder(ctx context.Context, r *qrcode.HolderRequest, purpose string) (redeem.Holder, error)
	SpendHolder(ctx context.Context, r *qrcode.HolderRequest, purpose string, h redeem.Holder) error
}

// Pairwise derives a relying party's pairwise subject from a holder's
// symbol-derived subject and the party's sector; identity.BindingSubjects
// satisfies it.
type Pairwise interface {
	Pairwise(subject []byte, sector identity.Sector) (string, error)
}

// SectorRegistry claims a relying party's pairwise sector in the
// consortium registry (the ledger), so that no two parties share one; it
// returns an error for a sector another party holds. Optional.
type SectorRegistry interface {
	ClaimSector(ctx context.Context, clientID string, sector identity.Sector) error
}

// PINChecker checks a holder's PIN against the verifier sealed in its
// binding credential, counting attempts; *enrollment.PINChecker satisfies
// it. Its errors: enrollment.PINMismatchError (wrong PIN),
// identity.ErrPINLocked, and the binding and device proof errors.
type PINChecker interface {
	Check(ctx context.Context, req *enrollment.PINCheckRequest) (*enrollment.Binding, error)
}

// Delegations verifies a delegation presented by an authenticated holder
// (the actor) for an action; *qrcode.Verifier satisfies it.
type Delegations interface {
	VerifyDelegation(ctx context.Context, raw, actor []byte, action string, now time.Time) (*qrcode.Delegation, error)
}

// Keys are the node's keys: Active signs ID tokens, Published (active
// and retiring) verifies an id_token_hint (and Config.Instances a key
// they lack). *keystore.Store satisfies it.
type Keys interface {
	Active(alg string) (keystore.Key, error)
	Published() []keystore.Key
}

// Store is the ephemeral state of logins: sessions, codes and tokens.
// store.Memory and redisstore.Store satisfy it. Put never overwrites a
// live value (store.ErrExists); MarkUsed spends a single-use ID
// (store.ErrReplayed when already spent); Consume returns and deletes atomically (of
// concurrent callers one wins, the others get store.ErrNotFound); Peek
// reads what Put stored without consuming it; Spend marks it spent
// atomically and keeps it for a ttl (of concurrent callers one wins, the
// others, and later callers, get its value with store.ErrReplayed); Get
// returns store.ErrNotFound for a missing or expired key. Put, Consume,
// Peek and Spend keep values apart from Set, Get, CompareAndSwap and
// Delete: Get does not read what Put stored. CompareAndSwap replaces what
// Set stored only if it is still the value given, atomically (false when
// it is not). Delete removes what Set stored (a missing key is no error);
// CompareAndDelete only if it is still the value given, atomically, and
// returns how many keys it deleted. Watch and Notify wake the long
// polls of a session when it is answered, at any instance sharing the
// store (a hint that may be lost: the polls read on their own schedule
// too). Keys are hashed by the store, so the secrets used in them never
// reach it in clear.
type Store interface {
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Consume(ctx context.Context, key string) ([]byte, error)
	Peek(ctx context.Context, key string) ([]byte, error)
	Spend(ctx context.Context, key string, ttl time.Duration) ([]byte, error)
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	CompareAndDelete(ctx context.Context, old []byte, keys ...string) (int, error)
	MarkUsed(ctx context.Context, key string, ttl time.Duration) error
	Watch(ctx context.Context, key string) (<-chan struct{}, func(), error)
	Notify(ctx context.Context, key string) error
}

// Config configures New. Issuer, Clients, Holders, Pairwise, Keys and
// Store are required; zero durations take the defaults above, nil Now and
// Rand take time.Now and crypto/rand.
type Config struct {
	// Issuer is the node's public base URL, the iss of ID tokens.
	Issuer   string
	Clients  Clients
	Holders  Holders
	Pairwise Pairwise
	Sectors  SectorRegistry
	// Terminals and StaticCodes let accredited counter terminals approve
	// logins for holders of static printed codes; nil refuses such
	// approvals.
	Terminals   Terminals
	StaticCodes StaticCodes
	// StaticPINs checks the PIN of counter approvals with method pin; nil
	// refuses them.
	StaticPINs StaticPINs
	// Delegations verifies the delegation of a guardian approving for the
	// person they act for; nil refuses such approvals.
	Delegations Delegations
	// PINs checks the PIN of approvals at L3 and above; nil means such
	// logins cannot be approved.
	PINs PINChecker
	// Status reads the status entry of what approved a login (the
	// holder's device binding, a counter login's printed code), checked
	// again at the code's exchange, each refresh, userinfo and
	// introspection: once it is revoked or suspended the login's tokens
	// stop working (the phone reported lost ends its logins too). Pass
	// the checker the holder authenticator's verifier uses. Nil: not
	// checked (tests of other things).
	Status qrcode.StatusChecker
	Keys   Keys
	// Instances verifies an id_token_hint signed by a key of the region
	// that Keys does not hold (another instance rotated first;
	// federation.Instances); nil: Keys only.
	Instances auth.InstanceKeys
	Store     Store
	// SessionTTL is how long a login session waits for its approval;
	// each extension (Extend) gives it this long again from then.
	SessionTTL time.Duration
	// CodeTTL is how long an authorization code can be exchanged.
	CodeTTL                    time.Duration
	AccessTokenTTL, IDTokenTTL time.Duration
	RefreshTokenTTL            time.Duration
	Now                        func() time.Time
	Rand                       io.Reader
}

// Provider is the OpenID Connect provider. It is safe for concurrent use.
type Provider struct {
	cfg  Config
	held sync.Map // client ID + sector → struct{}: sector claims that succeeded
	// firstPause and maxPause are Wait's pauses between its reads
	// (firstPollPause, maxPollPause; tests lengthen them).
	firstPause, maxPause time.Duration
}

// New checks cfg and returns a Provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Clients == nil || cfg.Holders == nil || cfg.Pairwise == nil || cfg.Keys == nil || cfg.Store == nil {
		return nil, errors.New("login: Config needs Clients, Holders, Pairwise, Keys and Store")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.HasSuffix(cfg.Issuer, "/") {
		return nil, fmt.Errorf("login: issuer %q must be an http(s) URL without trailing slash", cfg.Issuer)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.SessionTTL, DefaultSessionTTL)
	def(&cfg.CodeTTL, DefaultCodeTTL)
	def(&cfg.AccessTokenTTL, DefaultAccessTokenTTL)
	def(&cfg.IDTokenTTL, DefaultIDTokenTTL)
	def(&cfg.RefreshTokenTTL, DefaultRefreshTokenTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	for _, alg := range IDTokenAlgorithms {
		if _, err := cfg.Keys.Active(alg); err != nil {
			return nil, fmt.Errorf("login: no %s signing key: %w", alg, err)
		}
	}
	return &Provider{cfg: cfg, firstPause: firstPollPause, maxPause: maxPollPause}, nil
}

// IDTokenAlgorithms are the algorithms ID tokens are signed with: SM2 by
// default, ES256 for relying parties registered for it (mainstream JOSE
// libraries cannot verify SM2).
var IDTokenAlgorithms = auth.IDTokenAlgorithms

// random returns n random bytes as base64url.
func (p *Provider) random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(p.cfg.Rand, b); err != nil {
		return "", &Error{Code: CodeTemporarilyUnavailable, Description: "randomness unavailable", Err: err}
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// UILocales are the languages of the login pages (the ui_locales they
// honour), the default first.
var UILocales = []string{"en", "zh-CN"}

// Discovery is the OpenID Provider configuration (OpenID Connect
// Discovery 1.0 §3): the authorization server metadata m, every member
// kept, with user login's members added and its grant types, response
// types and scopes joined to m's.
// userinfo_signing_alg_values_supported is left out: it names the
// algorithms "supported by the UserInfo Endpoint to encode the Claims in
// a JWT" (§3), and userinfo answers plain JSON only.
func (p *Provider) Discovery(m auth.Metadata) map[string]any {
	// m's members by their JSON names: strings and lists of strings,
	// which encode and decode without error.
	doc := map[string]any{}
	b, _ := json.Marshal(m)
	_ = json.Unmarshal(b, &doc)
	iss := p.cfg.Issuer
	for k, v := range map[string]any{
		"authorization_endpoint":                         iss + AuthorizePath,
		"userinfo_endpoint":                              iss + UserInfoPath,
		"end_session_endpoint":                           iss + LogoutPath,
		"scopes_supported":                               scopesSupported(m.ScopesSupported),
		"response_types_supported":                       union([]string{"code"}, m.ResponseTypesSupported),
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          union(Grants, m.GrantTypesSupported),
		"subject_types_supported":                        []string{"pairwise"},
		"id_token_signing_alg_values_supported":          IDTokenAlgorithms,
		"code_challenge_methods_supported":               []string{"S256"},
		"claims_supported":                               append([]string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "azp"}, auth.Claims...),
		"acr_values_supported":                           []string{"L1", "L2", "L3", "L4"},
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"ui_locales_supported":                           UILocales,
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"frontchannel_logout_supported":                  false,
		"authorization_response_iss_parameter_supported": true, // RFC 9207 §2.3
	} {
		doc[k] = v
	}
	return doc
}

// scopesSupported is the login scopes, then the service scopes of the
// authorization server metadata, each once.
func scopesSupported(service []string) []string {
	return union(append([]string{ScopeOpenID, ScopeOfflineAccess}, auth.Claims...), service)
}

// union is a, then the values of b not in a.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Issuer returns the node's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// SessionTTL returns how long a login session waits for its approval.
func (p *Provider) SessionTTL() time.Duration { return p.cfg.SessionTTL }
