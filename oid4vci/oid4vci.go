package oid4vci

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/contexts"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
	"github.com/trustid-cn/trustid/store"
)

// Protocol identifiers.
const (
	GrantPreAuthorized = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
	FormatSDJWT        = "dc+sd-jwt"
	FormatJWTVC        = "jwt_vc_json"
	// FormatLDPVC is a W3C credential secured with an embedded Data
	// Integrity proof (OID4VCI 1.0 Appendix A.1.2): the credential
	// endpoint returns it as a JSON object.
	FormatLDPVC = "ldp_vc"
	// ProofTyp is the typ of a jwt key proof.
	ProofTyp = "openid4vci-proof+jwt"
	// OfferScheme is the scheme of credential offer links.
	OfferScheme = "openid-credential-offer://"
)

// Paths of the endpoints, relative to the issuer's base URL.
const (
	PathMetadata     = "/.well-known/openid-credential-issuer"
	PathASMetadata   = "/.well-known/oauth-authorization-server/oid4vci"
	PathAS           = "/oid4vci"
	PathToken        = "/oid4vci/token"
	PathNonce        = "/oid4vci/nonce"
	PathCredential   = "/oid4vci/credential"
	PathNotification = "/oid4vci/notification"
	PathOffers       = "/oid4vci/offers"
)

// Store is the part of the node's store (package store: memory or Redis)
// the issuer uses: sealed records (Set, Get, Delete), single-use entries
// (Put, Consume: exactly one of concurrent consumers gets the value;
// Peek reads one without consuming it), replay markers (MarkUsed) and
// the transaction code counter (Allow). It hashes every key before
// storing it; values are sealed here. Errors: store.ErrNotFound for a
// missing, expired or consumed entry.
type Store interface {
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Get(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Consume(ctx context.Context, key string) ([]byte, error)
	Peek(ctx context.Context, key string) ([]byte, error)
	MarkUsed(ctx context.Context, key string, ttl time.Duration) error
	Allow(ctx context.Context, key string, limit int, window time.Duration) (store.Decision, error)
}

// Signer signs one credential for the client that made the offer (in
// TrustID: the credential issuer's IssueAsClient, which checks the
// client's accreditation, adds status entries and records its ownership).
// It returns the credential as the format's compact serialization, or for
// FormatLDPVC the secured credential document as JSON. An error wrapping
// ErrSignerUnavailable or store.ErrUnavailable (or a context error) is a
// passing failure, answered temporarily_unavailable (503) with the
// configuration left issuable under the access token; any other error is
// a refusal, credential_request_denied.
type Signer interface {
	Sign(ctx context.Context, req SignRequest) (string, error)
}

// ErrSignerUnavailable is wrapped by a Signer's error when it cannot sign
// now but may later: a store, the ledger or the trust registry is
// unavailable, or the ledger has not confirmed a binding yet.
var ErrSignerUnavailable = errors.New("oid4vci: the signer is temporarily unavailable")

// OfferChecker is implemented by a Signer that can tell, when an offer is
// made, whether it will sign the credential for the client (its
// accreditation for the types), so that no holder gets an offer that
// cannot be redeemed. CreateOffer returns its error as is.
type OfferChecker interface {
	CheckOffer(ctx context.Context, client string, credential map[string]any) error
}

// SignRequest is what Signer signs.
type SignRequest struct {
	// Client is the OAuth client ID of the relying party that made the offer.
	Client string
	// Credential is the unsigned W3C credential the offer carried (for
	// jwt_vc_json and ldp_vc, with credentialSubject.id set to the holder
	// key's DID: did:jwk, or the did:key or did:jwk the key proof named).
	Credential map[string]any
	// Format is FormatSDJWT, FormatJWTVC or FormatLDPVC.
	Format string
	// Cryptosuite is the Data Integrity cryptosuite of FormatLDPVC (e.g.
	// "sm2-rdfc-2025").
	Cryptosuite string
	// VCT is the SD-JWT VC type (FormatSDJWT) when it is not the
	// credential's last type (empty then).
	VCT string
	// HolderKey is the key the credential is bound to (cnf.jwk for
	// FormatSDJWT).
	HolderKey gm.JWK
}

// Display is a localized name.
type Display struct {
	Name        string `json:"name"`
	Locale      string `json:"locale"`
	Description string `json:"description,omitempty"`
}

// Claim describes one subject claim for wallets: its path in the
// credential subject (the metadata of jwt_vc_json and ldp_vc
// configurations puts "credentialSubject" before it), whether the type
// requires it, and its names.
type Claim struct {
	Path []string `json:"path"`
	// Mandatory: every credential of the type has the claim, also when
	// the wallet asked for other claims only (OID4VCI 1.0 Appendix B.2).
	Mandatory bool      `json:"mandatory,omitempty"`
	Display   []Display `json:"display,omitempty"`
}

// CredentialType is a credential type the node offers: configuration IDs
// <Type>_sd_jwt (dc+sd-jwt), <Type>_jwt_vc_json and, per cryptosuite,
// <Type>_ldp_vc_<cryptosuite> (ldp_vc).
type CredentialType struct {
	// Type is the W3C credential type, e.g. "ResidenceCredential".
	Type string
	// VCT is the SD-JWT VC type; empty means Type under the issuer's
	// URL, credentials.TypeVCT(Issuer, Type).
	VCT string
	// Cryptosuites are the Data Integrity cryptosuites (of
	// dataintegrity.Cryptosuites) it is offered in as ldp_vc, one
	// configuration each, since a credential request names only the
	// configuration. None: no ldp_vc configuration.
	Cryptosuites []string
	// Contexts is the @context of its ldp_vc configurations'
	// credential_definition, which an offered credential must begin
	// with; it must define every term (Data Integrity issuers refuse the
	// issuer-dependent vocabulary). Nil: the VC 2.0 context alone.
	Contexts []string
	Display  []Display
	Claims   []Claim
}

// Config configures New. Zero values: crypto/rand, time.Now, offers live
// 10 minutes, access tokens 5 minutes, nonces 5 minutes, proofs are
// accepted up to 5 minutes old, transaction codes have 6 digits and 5
// tries, batches hold up to 10 proofs, proofs may be signed with any of
// gm.JWTAlgorithms, DPoP nonces are on under a random key of this
// instance, no wallet attestations are taken.
type Config struct {
	// Issuer is the credential issuer identifier: the node's public base
	// URL (https, no path, query or fragment).
	Issuer  string
	Types   []CredentialType
	Display []Display
	Signer  Signer
	Store   Store
	// Login is the node's user login; with it the issuer serves the
	// authorization code flow (PathAuthorize). Nil: pre-authorized codes
	// only.
	Login Login
	// SigningAlgorithms are advertised as credential_signing_alg_values_supported.
	SigningAlgorithms []string
	ProofAlgorithms   []string
	Rand              io.Reader
	Now               func() time.Time
	OfferTTL          time.Duration
	TokenTTL          time.Duration
	NonceTTL          time.Duration
	ProofMaxAge       time.Duration
	TxCodeLength      int
	// TxCodeTries is how many wrong transaction codes an offer takes over
	// its life (default 5); the last voids it.
	TxCodeTries int
	BatchSize   int
	// DPoPAlgorithms are the algorithms of DPoP proofs accepted at the
	// token and credential endpoints (RFC 9449; default ProofAlgorithms),
	// advertised as dpop_signing_alg_values_supported. A token request
	// with a DPoP proof gets an access token bound to its key.
	DPoPAlgorithms []string
	// DPoPWithoutNonce turns off server DPoP nonces (RFC 9449 §8). By
	// default every DPoP proof must carry a nonce the node gave
	// (DPoP-Nonce), so a proof made ahead of time is refused.
	DPoPWithoutNonce bool
	// NonceKey (32 bytes or more, secret) seals the c_nonces, the DPoP
	// nonces and the wallet attestation challenges (dpop.Nonces, under a
	// key derived for each: giving one stores nothing); every instance
	// of a region needs the same key to accept each other's. Nil: a
	// random key of this instance alone. Nonces and challenges live at
	// most NonceTTL.
	NonceKey []byte
	// WalletProviders are the wallet providers whose wallet attestations
	// (package attestation) the PAR and token endpoints take, signed with
	// ProofAlgorithms' algorithms (PoPs too). None: the
	// attestation header fields are ignored.
	WalletProviders []attestation.Provider
	// RequireWalletAttestation refuses PAR and token requests without a
	// wallet attestation (invalid_client), and authorization requests
	// not pushed (PAR) with one.
	RequireWalletAttestation bool
	// AttestationMaxAge, when set, refuses attestations issued longer
	// ago (use_fresh_attestation) even before they expire.
	AttestationMaxAge time.Duration
	// AttestationStatus checks the Token Status List entry of a wallet
	// attestation that has a status claim (OID4VCI 1.0 Appendix E): a
	// list fetched over HTTPS and signed by the wallet provider's keys
	// (attestation.Keys). Without it, an attestation with a status claim
	// is refused (its status cannot be checked).
	AttestationStatus AttestationStatus
	// AttestationWithoutChallenge takes PoPs without a challenge (their
	// freshness then rests on iat and the single-use jti), for wallets
	// that cannot fetch one; a challenge a PoP carries must still be one
	// the node gave. By default every PoP needs one.
	AttestationWithoutChallenge bool
}

// configuration is one entry of credential_configurations_supported.
type configuration struct {
	id     string
	typ    string
	format string
	vct    string // as advertised
	// signVCT is the vct the Signer is asked for: empty when it is the
	// type name (the issuer's default).
	signVCT string
	// suite and contexts are an ldp_vc configuration's cryptosuite and
	// credential_definition @context.
	suite    string
	contexts []string
	// required are the subject paths of the type's mandatory claims.
	required []ClaimPath
}

// Service is the credential issuer. It is safe for concurrent use.
type Service struct {
	cfg    Config
	dpop   *dpop.Verifier
	nonces *dpop.Nonces
	// cnonces are the c_nonces of the nonce endpoint: stateless, so a
	// public endpoint writes nothing; a credential request marks the one
	// it spends.
	cnonces *dpop.Nonces
	// attest and challenges are nil without wallet providers.
	attest     *attestation.Verifier
	challenges *dpop.Nonces
	configs    map[string]configuration
	metadata   []byte
	asMeta     []byte
}

var typeRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{2,63}$`)

// New checks cfg and precomputes the metadata.
func New(cfg Config) (*Service, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("oid4vci: Issuer must be an https URL without path, query or fragment")
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.Signer == nil || cfg.Store == nil {
		return nil, errors.New("oid4vci: a signer and a store are required")
	}
	if len(cfg.Types) == 0 {
		return nil, errors.New("oid4vci: no credential type to offer")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.OfferTTL, 10*time.Minute)
	def(&cfg.TokenTTL, 5*time.Minute)
	def(&cfg.NonceTTL, 5*time.Minute)
	def(&cfg.ProofMaxAge, 5*time.Minute)
	if cfg.TxCodeLength <= 0 {
		cfg.TxCodeLength = 6
	}
	if cfg.TxCodeLength < 4 || cfg.TxCodeLength > 12 {
		return nil, errors.New("oid4vci: TxCodeLength must be 4..12")
	}
	if cfg.TxCodeTries <= 0 {
		cfg.TxCodeTries = 5
	}
	if cfg.TxCodeTries > store.MaxLimit || cfg.OfferTTL > store.MaxWindow/time.Duration(cfg.TxCodeTries) {
		return nil, errors.New("oid4vci: TxCodeTries times OfferTTL must be at most a year (the transaction code limiter's window)")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 10
	}
	if len(cfg.ProofAlgorithms) == 0 {
		cfg.ProofAlgorithms = slices.Clone(gm.JWTAlgorithms)
	}
	if len(cfg.SigningAlgorithms) == 0 {
		cfg.SigningAlgorithms = slices.Clone(gm.JWTAlgorithms)
	}
	if len(cfg.DPoPAlgorithms) == 0 {
		cfg.DPoPAlgorithms = slices.Clone(cfg.ProofAlgorithms)
	}
	for _, a := range slices.Concat(cfg.ProofAlgorithms, cfg.SigningAlgorithms, cfg.DPoPAlgorithms) {
		if !slices.Contains(gm.JWTAlgorithms, a) {
			return nil, fmt.Errorf("oid4vci: unknown algorithm %q", a)
		}
	}
	s := &Service{cfg: cfg, configs: map[string]configuration{}}
	if s.dpop, err = dpop.NewVerifier(cfg.DPoPAlgorithms); err != nil {
		return nil, fmt.Errorf("oid4vci: %w", err)
	}
	key := cfg.NonceKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := io.ReadFull(cfg.Rand, key); err != nil {
			return nil, fmt.Errorf("oid4vci: nonce key: %w", err)
		}
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("oid4vci: %w", dpop.ErrNonceKey)
	}
	if s.cnonces, err = dpop.NewNonces(subkey(key, "c_nonce"), cfg.NonceTTL, cfg.Now, cfg.Rand); err != nil {
		return nil, fmt.Errorf("oid4vci: %w", err)
	}
	if !cfg.DPoPWithoutNonce {
		if s.nonces, err = dpop.NewNonces(subkey(key, "dpop nonce"), cfg.NonceTTL, cfg.Now, cfg.Rand); err != nil {
			return nil, fmt.Errorf("oid4vci: %w", err)
		}
	}
	if len(cfg.WalletProviders) > 0 {
		if s.challenges, err = dpop.NewNonces(subkey(key, "attestation challenge"), cfg.NonceTTL, cfg.Now, cfg.Rand); err != nil {
			return nil, fmt.Errorf("oid4vci: %w", err)
		}
		if s.attest, err = attestation.NewVerifier(attestation.Config{Providers: cfg.WalletProviders, Algorithms: cfg.ProofAlgorithms,
			Audience: cfg.Issuer + PathAS, Now: cfg.Now, PoPMaxAge: cfg.ProofMaxAge, Leeway: attestLeeway, MaxAge: cfg.AttestationMaxAge}); err != nil {
			return nil, fmt.Errorf("oid4vci: %w", err)
		}
	} else if cfg.RequireWalletAttestation {
		return nil, errors.New("oid4vci: RequireWalletAttestation needs WalletProviders")
	}
	for _, t := range cfg.Types {
		if !typeRE.MatchString(t.Type) || t.Type == "VerifiableCredential" {
			return nil, fmt.Errorf("oid4vci: credential type %q is not a CamelCase type name", t.Type)
		}
		vct := t.VCT
		if vct == "" {
			vct = credentials.TypeVCT(cfg.Issuer, t.Type)
		}
		ctxs := t.Contexts
		if ctxs == nil {
			ctxs = []string{contexts.CredentialsV2}
		}
		if len(ctxs) == 0 || ctxs[0] != contexts.CredentialsV2 {
			return nil, fmt.Errorf("oid4vci: %s: Contexts must begin with %s", t.Type, contexts.CredentialsV2)
		}
		var required []ClaimPath
		for _, c := range t.Claims {
			if len(c.Path) == 0 || slices.Contains(c.Path, "") {
				return nil, fmt.Errorf("oid4vci: %s: a claim has an empty path", t.Type)
			}
			if c.Mandatory {
				p := make(ClaimPath, len(c.Path))
				for i, k := range c.Path {
					p[i] = k
				}
				required = append(required, p)
			}
		}
		cs := []configuration{
			{id: t.Type + "_sd_jwt", typ: t.Type, format: FormatSDJWT, vct: vct, signVCT: t.VCT, required: required},
			{id: t.Type + "_jwt_vc_json", typ: t.Type, format: FormatJWTVC, required: required},
		}
		for _, suite := range t.Cryptosuites {
			if !slices.Contains(dataintegrity.Cryptosuites(), suite) {
				return nil, fmt.Errorf("oid4vci: %s: unknown cryptosuite %q", t.Type, suite)
			}
			cs = append(cs, configuration{id: t.Type + "_ldp_vc_" + suite, typ: t.Type, format: FormatLDPVC, suite: suite, contexts: slices.Clone(ctxs), required: required})
		}
		for _, c := range cs {
			if _, dup := s.configs[c.id]; dup {
				return nil, fmt.Errorf("oid4vci: credential type %q listed twice", t.Type)
			}
			s.configs[c.id] = c
		}
	}
	if s.metadata, err = json.Marshal(s.issuerMetadata()); err != nil {
		return nil, err
	}
	if s.asMeta, err = json.Marshal(s.authorizationServerMetadata()); err != nil {
		return nil, err
	}
	return s, nil
}

// Issuer returns the credential issuer identifier.
func (s *Service) Issuer() string { return s.cfg.Issuer }

// DPoPAlgorithms returns the algorithms of DPoP proofs accepted.
func (s *Service) DPoPAlgorithms() []string { return slices.Clone(s.cfg.DPoPAlgorithms) }

// Metadata returns the credential issuer metadata document (JSON).
func (s *Service) Metadata() []byte { return s.metadata }

// AuthorizationServerMetadata returns the RFC 8414 metadata of the
// issuer's authorization server (JSON), served at PathASMetadata.
func (s *Service) AuthorizationServerMetadata() []byte { return s.asMeta }

func (s *Service) issuerMetadata() map[string]any {
	configs := map[string]any{}
	for _, t := range s.cfg.Types {
		// display, when present, is "A non-empty array" (OID4VCI 1.0
		// §12.2.4), as is the issuer's.
		meta := map[string]any{}
		if len(t.Display) > 0 {
			meta["display"] = t.Display
		}
		w3cMeta := maps.Clone(meta)
		if len(t.Claims) > 0 {
			// Appendix B.2: paths into the credential; a W3C credential's
			// subject claims sit under credentialSubject.
			meta["claims"] = t.Claims
			w3c := make([]Claim, len(t.Claims))
			for i, c := range t.Claims {
				w3c[i] = c
				w3c[i].Path = append([]string{"credentialSubject"}, c.Path...)
			}
			w3cMeta["claims"] = w3c
		}
		proofs := map[string]any{"jwt": map[string]any{"proof_signing_alg_values_supported": s.cfg.ProofAlgorithms}}
		sd := s.configs[t.Type+"_sd_jwt"]
		configs[sd.id] = map[string]any{
			"format": FormatSDJWT,
			"vct":    sd.vct,
			"scope":  sd.id,
			"cryptographic_binding_methods_supported": []string{"jwk"},
			"credential_signing_alg_values_supported": s.cfg.SigningAlgorithms,
			"proof_types_supported":                   proofs,
			"credential_metadata":                     meta,
		}
		configs[t.Type+"_jwt_vc_json"] = map[string]any{
			"format":                FormatJWTVC,
			"scope":                 t.Type + "_jwt_vc_json",
			"credential_definition": map[string]any{"type": []string{"VerifiableCredential", t.Type}},
			"cryptographic_binding_methods_supported": []string{"did:jwk"},
			"credential_signing_alg_values_supported": s.cfg.SigningAlgorithms,
			"proof_types_supported":                   proofs,
			"credential_metadata":                     w3cMeta,
		}
		for _, suite := range t.Cryptosuites {
			c := s.configs[t.Type+"_ldp_vc_"+suite]
			configs[c.id] = map[string]any{
				"format":                FormatLDPVC,
				"scope":                 c.id,
				"credential_definition": map[string]any{"@context": c.contexts, "type": []string{"VerifiableCredential", t.Type}},
				// The node binds to the key of the jwt proof: did:jwk for a
				// proof with jwk, or the did:key/did:jwk URL its kid names.
				"cryptographic_binding_methods_supported": []string{"did:jwk", "did:key"},
				// For ldp_vc these name Data Integrity cryptosuites.
				"credential_signing_alg_values_supported": []string{suite},
				"proof_types_supported":                   proofs,
				"credential_metadata":                     w3cMeta,
			}
		}
	}
	m := map[string]any{
		"credential_issuer":                   s.cfg.Issuer,
		"authorization_servers":               []string{s.cfg.Issuer + PathAS},
		"credential_endpoint":                 s.cfg.Issuer + PathCredential,
		"nonce_endpoint":                      s.cfg.Issuer + PathNonce,
		"notification_endpoint":               s.cfg.Issuer + PathNotification,
		"credential_configurations_supported": configs,
	}
	// batch_size "MUST be 2 or greater" (§12.2.4): a batch of one is no
	// batch issuance.
	if s.cfg.BatchSize >= 2 {
		m["batch_credential_issuance"] = map[string]any{"batch_size": s.cfg.BatchSize}
	}
	if len(s.cfg.Display) > 0 {
		m["display"] = s.cfg.Display
	}
	return m
}

func (s *Service) authorizationServerMetadata() map[string]any {
	m := s.asMetadata()
	if s.attest != nil {
		// draft-ietf-oauth-attestation-based-client-auth §8, §7.6.
		methods, pops := []string{attestation.AuthMethod, "none"}, []string{attestation.PoPMethod, "none"}
		if s.cfg.RequireWalletAttestation {
			methods, pops = methods[:1], pops[:1]
			m["pre-authorized_grant_anonymous_access_supported"] = false
			if s.cfg.Login != nil {
				m["require_pushed_authorization_requests"] = true
			}
		}
		m["token_endpoint_auth_methods_supported"] = methods
		m["client_attestation_pop_methods_supported"] = pops
		m["client_attestation_signing_alg_values_supported"] = s.cfg.ProofAlgorithms
		m["client_attestation_pop_signing_alg_values_supported"] = s.cfg.ProofAlgorithms
		m["challenge_endpoint"] = s.cfg.Issuer + PathChallenge
	}
	return m
}

func (s *Service) asMetadata() map[string]any {
	if s.cfg.Login != nil {
		scopes := make([]string, 0, len(s.configs))
		for id := range s.configs {
			scopes = append(scopes, id)
		}
		slices.Sort(scopes)
		return map[string]any{
			"issuer":                                          s.cfg.Issuer + PathAS,
			"authorization_endpoint":                          s.cfg.Issuer + PathAuthorize,
			"pushed_authorization_request_endpoint":           s.cfg.Issuer + PathPAR,
			"require_pushed_authorization_requests":           false,
			"token_endpoint":                                  s.cfg.Issuer + PathToken,
			"grant_types_supported":                           []string{GrantAuthorizationCode, GrantPreAuthorized},
			"token_endpoint_auth_methods_supported":           []string{"none"},
			"response_types_supported":                        []string{"code"},
			"response_modes_supported":                        []string{"query"},
			"code_challenge_methods_supported":                []string{"S256"},
			"scopes_supported":                                scopes,
			"authorization_details_types_supported":           []string{DetailsType},
			"authorization_response_iss_parameter_supported":  true,
			"pre-authorized_grant_anonymous_access_supported": true,
			"dpop_signing_alg_values_supported":               s.cfg.DPoPAlgorithms,
		}
	}
	return map[string]any{
		"issuer":                                          s.cfg.Issuer + PathAS,
		"token_endpoint":                                  s.cfg.Issuer + PathToken,
		"grant_types_supported":                           []string{GrantPreAuthorized},
		"token_endpoint_auth_methods_supported":           []string{"none"},
		"response_types_supported":                        []string{},
		"authorization_details_types_supported":           []string{DetailsType},
		"pre-authorized_grant_anonymous_access_supported": true,
		"dpop_signing_alg_values_supported":               s.cfg.DPoPAlgorithms,
	}
}

// random returns n random bytes, base64url.
func (s *Service) random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", &Error{Code: CodeServerError, Description: "no randomness", Err: err}
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// subkey derives the key of one purpose from the nonce key.
func subkey(key []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, key, nil, "trustid oid4vci "+purpose, 32)
	if err != nil {
		panic(err) // only for lengths out of range, which are constant here
	}
	return k
}

// sealKey derives the SM4 key that seals the record stored under secret.
func sealKey(purpose, secret string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(secret), nil, "trustid oid4vci "+purpose, gm.SM4KeySize)
	if err != nil {
		panic(err) // only for lengths out of range, which are constant here
	}
	return k
}

// put seals v under a key derived from secret and stores it under
// purpose+secret (which the store hashes).
func (s *Service) put(ctx context.Context, purpose, secret string, v any, ttl time.Duration) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return &Error{Code: CodeServerError, Description: "record", Err: err}
	}
	sealed, err := gm.Seal(s.cfg.Rand, sealKey(purpose, secret), plain, []byte(purpose))
	if err != nil {
		return &Error{Code: CodeServerError, Description: "seal", Err: err}
	}
	if err := s.cfg.Store.Set(ctx, "oid4vci:"+purpose+":"+secret, sealed, ttl); err != nil {
		return unavailable(err)
	}
	return nil
}

// drop deletes what put stored under secret when what was to go with it
// could not be stored: no one was given the secret, and the record (the
// credential's claims, a pushed request) is not kept to its expiry for
// nothing. A failed deletion leaves it to expire.
func (s *Service) drop(ctx context.Context, purpose, secret string) {
	_ = s.cfg.Store.Delete(context.WithoutCancel(ctx), "oid4vci:"+purpose+":"+secret)
}

// get reads and opens what put stored; store.ErrNotFound when missing.
func (s *Service) get(ctx context.Context, purpose, secret string, v any) error {
	sealed, err := s.cfg.Store.Get(ctx, "oid4vci:"+purpose+":"+secret)
	if err != nil {
		return err
	}
	plain, err := gm.Open(sealKey(purpose, secret), sealed, []byte(purpose))
	if err != nil {
		return &Error{Code: CodeServerError, Description: "stored record", Err: err}
	}
	if err := decode(plain, v); err != nil {
		return &Error{Code: CodeServerError, Description: "stored record", Err: err}
	}
	return nil
}

// decode unmarshals JSON keeping numbers exact (json.Number), as the
// credential issuer reads them.
func decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// unavailable wraps a store failure.
func unavailable(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: CodeTemporarilyUnavailable, Description: "the issuer's store is unavailable; try again", Err: err}
}
