// Package attestation checks and makes wallet attestations: OAuth 2.0
// Attestation-Based Client Authentication
// (draft-ietf-oauth-attestation-based-client-auth), as OpenID for
// Verifiable Credential Issuance 1.0 Appendix E profiles it. A wallet
// provider signs a Client Attestation JWT (typ
// oauth-client-attestation+jwt) naming the wallet's client_id (sub) and
// the wallet instance's key (cnf.jwk); the wallet instance proves it holds
// that key with a Client Attestation PoP JWT (typ
// oauth-client-attestation-pop+jwt) for one authorization server (aud),
// once (jti), now (iat), over the server's challenge when it gives one.
// Both travel in the OAuth-Client-Attestation and
// OAuth-Client-Attestation-PoP header fields. Each trusted provider
// attests only the client_ids configured for it. It links no server
// dependency: the node's PAR and token endpoints (package oid4vci) check
// attestations, the wallet SDK makes the PoP. Replay (jti), challenges
// and the attestation's Token Status List entry (its status claim,
// returned in Result.Status; Keys resolves the provider keys that sign
// the list) need state or the network: the caller checks them.
package attestation

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// JOSE typ values.
const (
	TypAttestation = "oauth-client-attestation+jwt"
	TypPoP         = "oauth-client-attestation-pop+jwt"
)

// Header field names.
const (
	HeaderAttestation = "OAuth-Client-Attestation"
	HeaderPoP         = "OAuth-Client-Attestation-PoP"
	// HeaderChallenge carries a server challenge (§6.1, §6.2).
	HeaderChallenge = "OAuth-Client-Attestation-Challenge"
)

// AuthMethod is the token endpoint authentication method of a Client
// Attestation with a Client Attestation PoP JWT; PoPMethod names that PoP
// in client_attestation_pop_methods_supported.
const (
	AuthMethod = "attest_jwt_client_auth"
	PoPMethod  = "attestation_pop_jwt"
)

// MaxJWT bounds each of the two JWTs, in bytes.
const MaxJWT = 8 << 10

// Errors, each with the error code of §7.4. Every error of Verify wraps
// one of them and says which check failed, quoting nothing of the JWTs.
var (
	// ErrInvalid: the attestation or its PoP fails a check
	// (invalid_client_attestation).
	ErrInvalid = errors.New("attestation: invalid client attestation")
	// ErrStale: the attestation has expired or is older than the
	// server's policy (use_fresh_attestation).
	ErrStale = errors.New("attestation: the client attestation is not fresh")
	// ErrChallenge: the PoP lacks the server's current challenge
	// (use_attestation_challenge).
	ErrChallenge = errors.New("attestation: the PoP does not carry a current server challenge")
	// ErrKey: no key of a trusted wallet provider answers an issuer and
	// kid (Keys.ResolveKey).
	ErrKey = errors.New("attestation: no such wallet provider key")
)

// Provider is a wallet provider the server trusts: its identifier (the
// attestation's iss, compared as a simple string), its public keys (a
// kid, when the attestation's header names one, picks the key; kids are
// unique within a provider) and the client_ids it may attest (the
// attestation's sub). OpenID4VCI 1.0 Appendix E makes sub the client_id
// of the Wallet, one value shared by every instance of that wallet
// (§15.4.4), so the list is short; no specification defines patterns of
// client_ids, so each is compared exactly.
type Provider struct {
	Issuer    string
	Keys      []gm.JWK
	ClientIDs []string
}

// Config configures NewVerifier. Zero values: time.Now; PoPs accepted up
// to 5 minutes old and 1 minute ahead; attestations as long as they have
// not expired.
type Config struct {
	// Providers are the trusted wallet providers (at least one).
	Providers []Provider
	// Algorithms of attestations and PoPs (required; asymmetric, e.g.
	// gm.JWTAlgorithms).
	Algorithms []string
	// Audience is the authorization server's issuer identifier (RFC
	// 8414): a PoP's aud must name it.
	Audience string
	Now      func() time.Time
	// PoPMaxAge and Leeway bound a PoP's iat; Leeway is also the clock
	// skew allowed on exp and nbf.
	PoPMaxAge, Leeway time.Duration
	// MaxAge, when set, refuses attestations issued (iat) longer ago
	// (use_fresh_attestation), even if they have not expired.
	MaxAge time.Duration
}

// Verifier checks wallet attestations. It is safe for concurrent use:
// build it once.
type Verifier struct {
	cfg    Config
	keys   *Keys
	parser *gm.JWTParser
}

// Keys are the trusted wallet providers' keys and client_ids. It is
// safe for concurrent use.
type Keys struct {
	all       map[string][]jwt.VerificationKey
	kids      map[string]map[string]jwt.VerificationKey
	clientIDs map[string]map[string]bool
}

// NewKeys checks providers (each with an issuer, keys, kids unique
// within its keys, and at least one client_id) and parses their keys.
func NewKeys(providers []Provider) (*Keys, error) {
	if len(providers) == 0 {
		return nil, errors.New("attestation: no trusted wallet provider")
	}
	k := &Keys{all: map[string][]jwt.VerificationKey{}, kids: map[string]map[string]jwt.VerificationKey{}, clientIDs: map[string]map[string]bool{}}
	for _, pr := range providers {
		if pr.Issuer == "" || len(pr.Keys) == 0 {
			return nil, errors.New("attestation: a wallet provider needs an issuer and keys")
		}
		if _, dup := k.all[pr.Issuer]; dup {
			return nil, fmt.Errorf("attestation: wallet provider %q listed twice", pr.Issuer)
		}
		if len(pr.ClientIDs) == 0 {
			return nil, fmt.Errorf("attestation: wallet provider %q names no client_id it may attest", pr.Issuer)
		}
		k.clientIDs[pr.Issuer] = map[string]bool{}
		for _, id := range pr.ClientIDs {
			if id == "" || len(id) > maxClientID {
				return nil, fmt.Errorf("attestation: wallet provider %q: a client_id must be 1 to %d bytes", pr.Issuer, maxClientID)
			}
			if k.clientIDs[pr.Issuer][id] {
				return nil, fmt.Errorf("attestation: wallet provider %q: client_id %q listed twice", pr.Issuer, id)
			}
			k.clientIDs[pr.Issuer][id] = true
		}
		k.kids[pr.Issuer] = map[string]jwt.VerificationKey{}
		for _, j := range pr.Keys {
			pub, err := j.PublicKey()
			if err != nil {
				return nil, fmt.Errorf("attestation: wallet provider %q: %w", pr.Issuer, err)
			}
			k.all[pr.Issuer] = append(k.all[pr.Issuer], pub)
			if j.Kid == "" {
				continue
			}
			if _, dup := k.kids[pr.Issuer][j.Kid]; dup {
				return nil, fmt.Errorf("attestation: wallet provider %q: kid %q names two keys", pr.Issuer, j.Kid)
			}
			k.kids[pr.Issuer][j.Kid] = pub
		}
	}
	return k, nil
}

// maxClientID bounds a client_id (the attestation's sub), in bytes.
const maxClientID = 256

// ResolveKey returns the key of wallet provider issuer named kid, or
// its only key when kid is "" (a provider with several keys must name
// one): the key of a Token Status List the provider signs. An unknown
// issuer or kid is an error wrapping ErrKey.
func (k *Keys) ResolveKey(_ context.Context, issuer, kid string) (crypto.PublicKey, error) {
	keys, ok := k.all[issuer]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: not a trusted wallet provider", ErrKey)
	case kid != "":
		pub, ok := k.kids[issuer][kid]
		if !ok {
			return nil, fmt.Errorf("%w: the kid is not a key of the wallet provider", ErrKey)
		}
		return pub, nil
	case len(keys) != 1:
		return nil, fmt.Errorf("%w: the wallet provider has several keys: the JWT must name one (kid)", ErrKey)
	}
	return keys[0], nil
}

// NewVerifier checks cfg and parses the providers' keys (NewKeys).
func NewVerifier(cfg Config) (*Verifier, error) {
	keys, err := NewKeys(cfg.Providers)
	if err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		return nil, errors.New("attestation: no audience")
	}
	p, err := gm.NewJWTParser(cfg.Algorithms, jwt.WithoutClaimsValidation())
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PoPMaxAge <= 0 {
		cfg.PoPMaxAge = 5 * time.Minute
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = time.Minute
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	return &Verifier{cfg: cfg, parser: p, keys: keys}, nil
}

// Keys returns the trusted providers' keys: the KeyResolver of their
// Token Status Lists.
func (v *Verifier) Keys() *Keys { return v.keys }

// Result is a verified attestation and PoP.
type Result struct {
	// ClientID is the attestation's sub: the wallet's client_id.
	ClientID string
	// Provider is the wallet provider (the attestation's iss).
	Provider string
	// WalletName and WalletLink are the optional claims of OID4VCI
	// Appendix E.
	WalletName, WalletLink string
	// JKT is the RFC 7638 thumbprint of the wallet instance key (cnf.jwk).
	JKT string
	// JTI is the PoP's identifier: the caller refuses a second use while
	// the PoP would be accepted (PoPMaxAge + 2 Leeway).
	JTI string
	// Challenge is the PoP's challenge claim, if any: the caller checks
	// it is one it gave.
	Challenge string
	// Expires is the attestation's exp.
	Expires time.Time
	// Status, when the attestation has a status claim, is its Token
	// Status List entry: the caller checks it (a list signed by the
	// wallet provider, Keys) before it trusts the attestation.
	Status *StatusListRef
}

// StatusListRef is the status_list member of a status claim
// (draft-ietf-oauth-status-list): the index of the token's entry in the
// Status List Token at URI.
type StatusListRef struct {
	Index int    `json:"idx"`
	URI   string `json:"uri"`
}

type attestationClaims struct {
	Iss        string          `json:"iss"`
	Sub        string          `json:"sub"`
	Exp        *float64        `json:"exp"`
	Iat        *float64        `json:"iat"`
	Nbf        *float64        `json:"nbf"`
	Cnf        json.RawMessage `json:"cnf"`
	WalletName any             `json:"wallet_name"`
	WalletLink any             `json:"wallet_link"`
	Status     json.RawMessage `json:"status"`
}

type popClaims struct {
	Aud       any      `json:"aud"`
	JTI       any      `json:"jti"`
	Iat       *float64 `json:"iat"`
	Exp       *float64 `json:"exp"`
	Nbf       *float64 `json:"nbf"`
	Challenge any      `json:"challenge"`
}

func wrap(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

func invalid(format string, args ...any) error { return wrap(ErrInvalid, format, args...) }

// decodePart decodes one base64url JSON part of a compact JWS strictly
// (no duplicate members, no trailing data) into v.
func decodePart(part string, v any) error {
	raw, err := b64url.DecodeString(part)
	if err != nil || strictjson.Check(raw, MaxJWT) != nil {
		return errors.New("not base64url JSON")
	}
	return json.Unmarshal(raw, v)
}

// split checks the header fields of one of the two JWTs: exactly one,
// within MaxJWT, a compact JWS with a JSON header and claims.
func split(name string, fields []string) (string, []string, error) {
	if len(fields) != 1 {
		return "", nil, invalid("send exactly one %s header field", name)
	}
	s := strings.TrimSpace(fields[0])
	if len(s) > MaxJWT {
		return "", nil, invalid("the %s JWT is over %d bytes", name, MaxJWT)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return "", nil, invalid("the %s field is not a compact JWS", name)
	}
	return s, parts, nil
}

// Verify checks a request's OAuth-Client-Attestation and
// OAuth-Client-Attestation-PoP header fields (§7.1, §7.2): exactly one
// of each; the attestation of typ oauth-client-attestation+jwt, with an
// allowed alg, signed by a trusted wallet provider (iss), with sub, exp
// (not passed), iat (not ahead; within MaxAge when set), nbf (if any,
// passed) and a public cnf.jwk; the PoP of typ
// oauth-client-attestation-pop+jwt, signed by that cnf.jwk, with aud
// naming the Audience, jti, and iat within the window. When clientID is
// set (the request's client_id) it must be the attestation's sub. The
// caller checks the jti (once) and the challenge (its own).
func (v *Verifier) Verify(attestations, pops []string, clientID string) (*Result, error) {
	att, attParts, err := split(HeaderAttestation, attestations)
	if err != nil {
		return nil, err
	}
	pop, popParts, err := split(HeaderPoP, pops)
	if err != nil {
		return nil, err
	}
	var ac attestationClaims
	if err := decodePart(attParts[1], &ac); err != nil {
		return nil, invalid("the attestation's claims are not a JSON object of the right types")
	}
	var ahdr struct {
		Alg string `json:"alg"`
	}
	if decodePart(attParts[0], &ahdr) != nil {
		return nil, invalid("the attestation's header is not a JSON object")
	}
	if !slices.Contains(v.cfg.Algorithms, ahdr.Alg) {
		return nil, invalid("the attestation's alg is not one allowed (%s)", strings.Join(v.cfg.Algorithms, ", "))
	}
	_, err = v.parser.ParseWithClaims(att, jwt.MapClaims{}, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != TypAttestation {
			return nil, invalid("the attestation's typ must be %s", TypAttestation)
		}
		keys, ok := v.keys.all[ac.Iss]
		if !ok {
			return nil, invalid("the attestation's iss is not a trusted wallet provider")
		}
		if kid, has := t.Header["kid"]; has {
			s, _ := kid.(string)
			k, ok := v.keys.kids[ac.Iss][s]
			if !ok {
				return nil, invalid("the attestation's kid is not a key of its wallet provider")
			}
			return k, nil
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	})
	if err != nil {
		return nil, jwtError("attestation", err)
	}
	now := v.cfg.Now()
	switch {
	case ac.Sub == "" || len(ac.Sub) > 256:
		return nil, invalid("the attestation's sub (the client_id) is required, at most 256 bytes")
	case ac.Exp == nil:
		return nil, invalid("the attestation's exp is required")
	case ac.Iat == nil:
		return nil, invalid("the attestation's iat is required")
	case !now.Before(unix(*ac.Exp).Add(v.cfg.Leeway)): // RFC 7519 §4.1.4: not on or after exp
		return nil, wrap(ErrStale, "the attestation has expired: ask the wallet provider for a new one")
	case unix(*ac.Iat).After(now.Add(v.cfg.Leeway)):
		return nil, invalid("the attestation's iat is in the future")
	case ac.Nbf != nil && unix(*ac.Nbf).After(now.Add(v.cfg.Leeway)):
		return nil, invalid("the attestation is not valid yet (nbf)")
	case v.cfg.MaxAge > 0 && unix(*ac.Iat).Before(now.Add(-v.cfg.MaxAge)):
		return nil, wrap(ErrStale, "the attestation was issued over %s ago: ask the wallet provider for a new one", v.cfg.MaxAge)
	case !v.keys.clientIDs[ac.Iss][ac.Sub]:
		return nil, invalid("the wallet provider is not trusted to attest this client_id (sub)")
	case clientID != "" && clientID != ac.Sub:
		return nil, invalid("client_id is not the attestation's sub")
	}
	var ref *StatusListRef
	if ac.Status != nil {
		if ref, err = ParseStatus(ac.Status); err != nil {
			return nil, err
		}
	}
	name, okName := ac.WalletName.(string)
	link, okLink := ac.WalletLink.(string)
	if (ac.WalletName != nil && !okName) || (ac.WalletLink != nil && !okLink) {
		return nil, invalid("wallet_name and wallet_link must be strings")
	}
	var cnf struct {
		JWK map[string]any `json:"jwk"`
	}
	if len(ac.Cnf) == 0 || json.Unmarshal(ac.Cnf, &cnf) != nil || cnf.JWK == nil {
		return nil, invalid("the attestation's cnf must hold a jwk")
	}

	// The PoP, by the instance key of cnf.jwk.
	var pc popClaims
	var phdr map[string]any
	if decodePart(popParts[0], &phdr) != nil {
		return nil, invalid("the PoP's header is not a JSON object")
	}
	if err := decodePart(popParts[1], &pc); err != nil {
		return nil, invalid("the PoP's claims are not a JSON object of the right types")
	}
	var instance gm.JWK
	_, err = v.parser.ParseWithClaims(pop, jwt.MapClaims{}, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != TypPoP {
			return nil, invalid("the PoP's typ must be %s", TypPoP)
		}
		k, pub, err := gm.HeaderJWK(cnf.JWK, t.Method.Alg())
		switch {
		case errors.Is(err, gm.ErrPrivateJWK):
			return nil, invalid("the attestation's cnf.jwk holds private key material")
		case errors.Is(err, gm.ErrJWKAlg):
			return nil, invalid("the PoP's alg does not match the cnf.jwk key type")
		case err != nil:
			return nil, invalid("the attestation's cnf.jwk is not an SM2, P-256 or Ed25519 public key")
		}
		instance = k
		return pub, nil
	})
	if err != nil {
		return nil, jwtError("PoP", err)
	}
	jti, _ := pc.JTI.(string)
	challenge, okChallenge := pc.Challenge.(string)
	switch {
	case !audience(pc.Aud, v.cfg.Audience):
		return nil, invalid("the PoP's aud must be this authorization server's issuer identifier")
	case jti == "" || len(jti) > 256:
		return nil, invalid("the PoP's jti is required (a string of at most 256 bytes)")
	case pc.Iat == nil:
		return nil, invalid("the PoP's iat is required")
	case unix(*pc.Iat).After(now.Add(v.cfg.Leeway)) || unix(*pc.Iat).Before(now.Add(-v.cfg.PoPMaxAge)):
		return nil, invalid("the PoP's iat is outside the accepted window")
	case pc.Exp != nil && !now.Before(unix(*pc.Exp).Add(v.cfg.Leeway)):
		return nil, invalid("the PoP has expired")
	case pc.Nbf != nil && unix(*pc.Nbf).After(now.Add(v.cfg.Leeway)):
		return nil, invalid("the PoP is not valid yet (nbf)")
	case pc.Challenge != nil && !okChallenge:
		return nil, invalid("the PoP's challenge must be a string")
	}
	jkt, err := instance.Thumbprint()
	if err != nil {
		return nil, invalid("the cnf.jwk has no thumbprint")
	}
	return &Result{ClientID: ac.Sub, Provider: ac.Iss, WalletName: name, WalletLink: link, JKT: jkt, JTI: jti,
		Challenge: challenge, Expires: unix(*ac.Exp), Status: ref}, nil
}

// MaxStatusURI bounds a status_list uri, in bytes.
const MaxStatusURI = 2048

// ParseStatus reads a status claim (draft-ietf-oauth-status-list §6.1):
// a JSON object with a status_list member {"idx": a non-negative
// integer, "uri": an https URL}. Status mechanisms other than
// status_list are not checked here, so a claim without status_list is
// refused (fail closed); other members of the object are ignored, as
// other mechanisms may sit beside status_list. Errors wrap ErrInvalid.
func ParseStatus(raw json.RawMessage) (*StatusListRef, error) {
	var st struct {
		StatusList json.RawMessage `json:"status_list"`
	}
	if strictjson.Check(raw, MaxJWT) != nil || !isObject(raw) || json.Unmarshal(raw, &st) != nil {
		return nil, invalid("the attestation's status must be a JSON object")
	}
	if st.StatusList == nil {
		return nil, invalid("the attestation's status names no status_list: its status cannot be checked")
	}
	var sl struct {
		Idx json.RawMessage `json:"idx"`
		URI *string         `json:"uri"`
	}
	if !isObject(st.StatusList) || json.Unmarshal(st.StatusList, &sl) != nil || sl.Idx == nil || sl.URI == nil {
		return nil, invalid("the attestation's status.status_list must be an object with idx and uri")
	}
	// A JSON integer: digits only (no sign, fraction, exponent or quotes).
	idx, err := strconv.ParseUint(string(sl.Idx), 10, 31)
	if err != nil || (len(sl.Idx) > 1 && sl.Idx[0] == '0') {
		return nil, invalid("the attestation's status.status_list.idx must be a non-negative integer below 2^31")
	}
	u, err := url.Parse(*sl.URI)
	if len(*sl.URI) > MaxStatusURI || err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, invalid("the attestation's status.status_list.uri must be an https URL of at most %d bytes", MaxStatusURI)
	}
	return &StatusListRef{Index: int(idx), URI: *sl.URI}, nil
}

// isObject reports whether raw (valid JSON) is an object.
func isObject(raw []byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// audience reports whether aud (a string, or an array of one string)
// names want.
func audience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return len(a) == 1 && a[0] == want
	}
	return false
}

// unix is the time of a NumericDate, cut to [0, maxDate] seconds: a
// float past int64 converts to the least int64 (on amd64), and a date
// far ahead (an nbf or iat) would read as far behind.
func unix(f float64) time.Time { return time.Unix(int64(min(max(f, 0), maxDate)), 0) }

// maxDate is the latest NumericDate unix keeps as it is (year 5138).
const maxDate = 1e11

// jwtError turns a parse error of one of the JWTs into ErrInvalid.
func jwtError(what string, err error) error {
	if errors.Is(err, ErrInvalid) {
		return err
	}
	switch {
	case errors.Is(err, gm.ErrCritical):
		return invalid("the %s's header has crit: no extension is understood (RFC 7515 §4.1.11)", what)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid("the %s's signature does not verify", what)
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("the %s is malformed or its alg is not allowed", what)
	}
	return invalid("the %s does not verify", what)
}

// Attestation is what a wallet provider attests: the wallet's client_id,
// the instance key, and optional display claims.
type Attestation struct {
	Issuer, ClientID       string
	InstanceKey            crypto.PublicKey
	WalletName, WalletLink string
	IssuedAt, Expires      time.Time
	// Status, when set, is the attestation's entry in a Token Status
	// List of the provider (the status claim).
	Status *StatusListRef
}

// Sign makes a Client Attestation JWT for a, signed with the wallet
// provider's key (kid in the header when set). Wallet providers and tests
// use it; a wallet is given its attestation.
func Sign(provider crypto.Signer, kid string, a Attestation) (string, error) {
	m, err := gm.SigningMethod(provider)
	if err != nil {
		return "", err
	}
	j, err := gm.NewJWK(a.InstanceKey, "")
	if err != nil {
		return "", err
	}
	j.Use, j.Alg = "", ""
	c := jwt.MapClaims{"iss": a.Issuer, "sub": a.ClientID, "iat": a.IssuedAt.Unix(), "exp": a.Expires.Unix(), "cnf": map[string]any{"jwk": j}}
	if a.WalletName != "" {
		c["wallet_name"] = a.WalletName
	}
	if a.WalletLink != "" {
		c["wallet_link"] = a.WalletLink
	}
	if a.Status != nil {
		c["status"] = map[string]any{"status_list": a.Status}
	}
	t := jwt.NewWithClaims(m, c)
	t.Header["typ"] = TypAttestation
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(provider)
}

// NewPoP makes a Client Attestation PoP JWT with the instance key for the
// authorization server audience: a fresh jti (16 bytes of rand), iat now,
// and challenge when set.
func NewPoP(instance crypto.Signer, audience, challenge string, now time.Time, rand io.Reader) (string, error) {
	m, err := gm.SigningMethod(instance)
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := io.ReadFull(rand, jti); err != nil {
		return "", err
	}
	c := jwt.MapClaims{"aud": audience, "jti": base64.RawURLEncoding.EncodeToString(jti), "iat": now.Unix()}
	if challenge != "" {
		c["challenge"] = challenge
	}
	t := jwt.NewWithClaims(m, c)
	t.Header["typ"] = TypPoP
	return t.SignedString(instance)
}
