package identity

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/store"
)

// AttestationType is the JWS "typ" header of an attestation.
const AttestationType = "trustid-attestation+jwt"

// Attestation limits and defaults.
const (
	// MaxAttestationLen bounds the compact JWS, in bytes.
	MaxAttestationLen = 4096
	// DefaultAttestationTTL is the lifetime an Attester gives its
	// attestations: long enough for the holder's app to submit it.
	DefaultAttestationTTL = 2 * time.Minute
	// DefaultAttestationLeeway is the clock skew AttestationVerifier allows.
	DefaultAttestationLeeway = 30 * time.Second
	// DefaultAttestationMaxLifetime is the longest exp - iat accepted.
	DefaultAttestationMaxLifetime = 10 * time.Minute
	// MaxNameLen bounds a canonical name, in bytes of UTF-8.
	MaxNameLen = 200
	// MaxAudienceLen bounds an attestation's audience (the enrolling
	// node's issuer URL), in bytes.
	MaxAudienceLen = 512
)

// bindingDomain separates the binding digest from every other SM3 use.
// Version 2 added the audience and the device key.
const bindingDomain = "TrustID/attestation-binding/v2\x00"

// noDevice is what the binding digest takes in place of a device key's
// thumbprint for an enrollment without a device (at a counter).
const noDevice = "no device"

// Liveness methods: how the terminal checked that the person in front of
// it is the document's holder.
const (
	// LivenessFaceMatch: the live face was compared with the photo on the
	// ID card chip or in the authoritative database, with liveness
	// detection; Score is the matcher's similarity in [0, 1]. This is the
	// biometric check of assurance level L4.
	LivenessFaceMatch = "face_match"
	// LivenessOfficer: an officer compared the person with the document
	// photo. Not biometric; no score.
	LivenessOfficer = "officer_check"
)

// Liveness is the outcome of a terminal's person check.
type Liveness struct {
	Method string  `json:"method"`          // LivenessFaceMatch or LivenessOfficer
	Passed bool    `json:"passed"`          // the terminal's verdict
	Score  float64 `json:"score,omitempty"` // face_match only, in [0, 1]
}

func (l Liveness) validate() error {
	switch l.Method {
	case LivenessFaceMatch:
		if math.IsNaN(l.Score) || l.Score < 0 || l.Score > 1 {
			return errors.New("liveness score must be in [0, 1]")
		}
	case LivenessOfficer:
		if l.Score != 0 {
			return errors.New("an officer check has no score")
		}
	default:
		return errors.New("unknown liveness method")
	}
	return nil
}

// CanonicalName returns the form of a name that attestation digests bind:
// NormalizeName's form (NFC, white space collapsed, middle-dot and
// apostrophe variants unified), upper-cased (Unicode simple case mapping).
// A name outside NormalizeName's repertoire is refused with a *FieldError
// of CodeInvalidName, so terminal and node bind the same text.
func CanonicalName(name string) (string, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return "", err
	}
	// NormalizeName refused a name longer than MaxNameLen in upper case.
	return strings.Map(unicode.ToUpper, n), nil
}

// bindingDigest is SM3 over the length-prefixed encoding of the domain,
// the jti (a per-attestation salt), the document type name, the normalized
// number, the canonical name, the audience (the enrolling node) and the
// device key's RFC 7638 thumbprint (noDevice without one). Neither the
// number nor the name travels in the attestation.
func bindingDigest(jti string, doc Document, canonName, audience, device string) [gm.SM3Size]byte {
	dd := doc.get()
	msg := make([]byte, 0, len(bindingDomain)+2+len(jti)+1+32+1+maxNumberLen+2+len(canonName)+2+len(audience)+1+len(device))
	msg = append(msg, bindingDomain...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(jti)))
	msg = append(msg, jti...)
	t := dd.typ.String()
	msg = append(msg, byte(len(t)))
	msg = append(msg, t...)
	msg = append(msg, dd.n)
	msg = append(msg, dd.num[:dd.n]...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(canonName)))
	msg = append(msg, canonName...)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(audience)))
	msg = append(msg, audience...)
	msg = append(msg, byte(len(device)))
	msg = append(msg, device...)
	sum := gm.SM3(msg)
	clear(msg)
	return sum
}

// DeviceThumbprint returns the RFC 7638 SHA-256 thumbprint (base64url) of
// a device public key, SM2 or P-256: what an attestation's cnf.jkt names.
func DeviceThumbprint(pub crypto.PublicKey) (string, error) {
	if !deviceKey(pub) {
		return "", fmt.Errorf("%w: the device key must be a public SM2 or P-256 key", ErrAttestationDevice)
	}
	norm, err := gm.NormalizePublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrAttestationDevice, err)
	}
	j, err := gm.NewJWK(norm, "")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrAttestationDevice, err)
	}
	return j.Thumbprint()
}

// attestationCnf is the confirmation claim (as RFC 7800 and RFC 9449
// §6.1 write it): the thumbprint of the device key being enrolled.
type attestationCnf struct {
	JKT string `json:"jkt"`
}

// attestationClaims is the payload of an attestation.
type attestationClaims struct {
	Issuer   string           `json:"iss"`
	Audience string           `json:"aud"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	Expiry   *jwt.NumericDate `json:"exp"`
	ID       string           `json:"jti"`
	Binding  string           `json:"binding"`
	Cnf      *attestationCnf  `json:"cnf,omitempty"`
	Liveness *Liveness        `json:"liveness"`
	ChipRead bool             `json:"chip_read"`
}

// UnmarshalJSON decodes strictly: no unknown or repeated members, every
// claim present and well-formed.
func (c *attestationClaims) UnmarshalJSON(raw []byte) error {
	type plain attestationClaims
	var p plain
	if err := strictjson.Decode(raw, &p, MaxAttestationLen); err != nil {
		return err
	}
	switch {
	case !validTerminalID(p.Issuer):
		return errors.New("iss must be a terminal ID")
	case !validAudience(p.Audience):
		return errors.New("aud must be the enrolling node's issuer URL, one string")
	case p.Cnf != nil && !validThumbprint(p.Cnf.JKT):
		return errors.New("cnf.jkt must be a base64url SHA-256 thumbprint")
	case p.IssuedAt == nil || p.Expiry == nil:
		return errors.New("iat and exp are required")
	case !validJTI(p.ID):
		return errors.New("jti must be 16-128 base64url characters")
	case p.Liveness == nil:
		return errors.New("liveness is required")
	}
	if b, err := b64url.DecodeString(p.Binding); err != nil || len(b) != gm.SM3Size {
		return errors.New("binding must be a base64url SM3 digest")
	}
	if err := p.Liveness.validate(); err != nil {
		return err
	}
	*c = attestationClaims(p)
	return nil
}

// validAudience: 1 to MaxAudienceLen bytes of UTF-8 without control
// characters or white space.
func validAudience(s string) bool {
	if s == "" || len(s) > MaxAudienceLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func validThumbprint(s string) bool {
	b, err := b64url.DecodeString(s)
	return err == nil && len(b) == 32
}

func validJTI(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && !isLetter(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// jwt.Claims, for the parser; times are checked by the verifier itself.
func (c *attestationClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Expiry, nil }
func (c *attestationClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *attestationClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *attestationClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *attestationClaims) GetSubject() (string, error)                  { return "", nil }
func (c *attestationClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// Attester creates attestations for one terminal. The terminal (and tests,
// and tools) use it; the node only verifies.
type Attester struct {
	// TerminalID is the registered ID of the terminal.
	TerminalID string
	// Audience is the issuer URL of the node the terminal enrolls people
	// at (its --issuer): attestations are accepted by that node only.
	// Required.
	Audience string
	// Signer is the terminal's private key: an SM2 key (*gm.PrivateKey or
	// any crypto.Signer holding one) or, for ES256, an *ecdsa.PrivateKey
	// on P-256.
	Signer crypto.Signer
	// TTL is the attestation's lifetime; zero means DefaultAttestationTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of the jti; nil means crypto/rand.
	Rand io.Reader
}

// Attest signs an attestation that the person holding doc, named name,
// passed the check described by lv at this terminal, and that the
// document's chip was read when chipRead is true, for the enrollment of
// the device key device (SM2 or P-256; nil for an enrollment without a
// device) at the node a.Audience. The attestation is good for that
// device and that node only.
func (a *Attester) Attest(doc Document, name string, device crypto.PublicKey, lv Liveness, chipRead bool) (string, error) {
	if doc.IsZero() {
		return "", fmt.Errorf("%w: zero document", ErrUnsupportedDocument)
	}
	if !validTerminalID(a.TerminalID) {
		return "", fmt.Errorf("%w: terminal ID", ErrInvalidTerminal)
	}
	if !validAudience(a.Audience) {
		return "", fmt.Errorf("%w: the audience must be the enrolling node's issuer URL", ErrInvalidTerminal)
	}
	thumb, cnf := noDevice, (*attestationCnf)(nil)
	if device != nil {
		t, err := DeviceThumbprint(device)
		if err != nil {
			return "", err
		}
		thumb, cnf = t, &attestationCnf{JKT: t}
	}
	canon, err := CanonicalName(name)
	if err != nil {
		return "", err
	}
	if err := lv.validate(); err != nil {
		return "", fmt.Errorf("%w: %v", ErrAttestationMalformed, err)
	}
	if a.Signer == nil {
		return "", fmt.Errorf("%w: no signer", ErrInvalidTerminal)
	}
	method, err := gm.SigningMethod(a.Signer)
	if err != nil || (method.Alg() != gm.AlgSM2 && method.Alg() != gm.AlgES256) {
		return "", fmt.Errorf("%w: the key must be SM2 or P-256", ErrInvalidTerminal)
	}
	r := a.Rand
	if r == nil {
		r = rand.Reader
	}
	var nonce [16]byte
	if _, err := io.ReadFull(r, nonce[:]); err != nil {
		return "", fmt.Errorf("identity: attestation nonce: %w", err)
	}
	jti := base64.RawURLEncoding.EncodeToString(nonce[:])
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	ttl := a.TTL
	if ttl <= 0 {
		ttl = DefaultAttestationTTL
	}
	iat := now().Truncate(time.Second)
	digest := bindingDigest(jti, doc, canon, a.Audience, thumb)
	claims := &attestationClaims{
		Issuer:   a.TerminalID,
		Audience: a.Audience,
		IssuedAt: jwt.NewNumericDate(iat),
		Expiry:   jwt.NewNumericDate(iat.Add(ttl)),
		ID:       jti,
		Binding:  base64.RawURLEncoding.EncodeToString(digest[:]),
		Cnf:      cnf,
		Liveness: &lv,
		ChipRead: chipRead,
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = AttestationType
	tok.Header["kid"] = a.TerminalID
	s, err := tok.SignedString(a.Signer)
	if err != nil {
		return "", fmt.Errorf("identity: signing attestation: %w", err)
	}
	return s, nil
}

// ReplayGuard records single-use markers; *store.Memory and *redisstore.Store
// implement it. MarkUsed returns nil the first time key is marked and an
// error matching store.ErrReplayed while the marker lives (ttl); exactly
// one of concurrent first calls succeeds. Any other error is a failure of
// the store. It must be safe for concurrent use.
type ReplayGuard interface {
	MarkUsed(ctx context.Context, key string, ttl time.Duration) error
}

// AttestationVerifier checks attestations presented at enrollment. Its
// fields are set once; it is then safe for concurrent use.
type AttestationVerifier struct {
	// Terminals finds the terminal named by the attestation (required).
	// A node's holds only the terminals its own region accredited
	// (ledger/registry.Terminals).
	Terminals TerminalDirectory
	// Replay makes each attestation single-use (required).
	Replay ReplayGuard
	// Audience is this node's issuer URL: attestations must name it in
	// aud (required).
	Audience string
	// Region is this node's region, a GB/T 2260 code such as "310000"
	// (required). A terminal is accepted only when it is installed inside
	// it: its region code starts with Region less its trailing "00"
	// pairs ("31" for 310000, so 310104 passes and 320102 does not).
	Region string
	// Algorithms are the JWS algorithms accepted: gm.AlgSM2 and/or
	// gm.AlgES256 (required; no default).
	Algorithms []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Leeway is the clock skew allowed; zero means DefaultAttestationLeeway.
	Leeway time.Duration
	// MaxLifetime is the longest exp - iat accepted; zero means
	// DefaultAttestationMaxLifetime.
	MaxLifetime time.Duration
	// MinFaceScore, when positive, is the least face_match score accepted
	// on top of the terminal's own verdict; zero trusts the verdict.
	MinFaceScore float64
}

// Attestation is a verified attestation: what the terminal vouched for.
// Only AttestationVerifier.Verify makes one that counts as verified (see
// Verified and Assess).
type Attestation struct {
	TerminalID     string
	TerminalRegion string
	// Audience is the node the attestation was made for.
	Audience string
	// DeviceThumbprint is the RFC 7638 thumbprint of the device key it
	// was made for; empty for an enrollment without a device.
	DeviceThumbprint string
	ID               string // jti
	IssuedAt         time.Time
	Expiry           time.Time
	Liveness         Liveness
	ChipRead         bool
	verified         bool
	binding          [gm.SM3Size]byte // the digest it was verified against
}

// binds reports whether a was verified for doc, name and the device key
// device (nil: none).
func (a *Attestation) binds(doc Document, name string, device crypto.PublicKey) bool {
	canon, err := CanonicalName(name)
	if err != nil || doc.IsZero() || !a.Verified() {
		return false
	}
	thumb := noDevice
	if device != nil {
		if thumb, err = DeviceThumbprint(device); err != nil {
			return false
		}
	}
	d := bindingDigest(a.ID, doc, canon, a.Audience, thumb)
	return subtle.ConstantTimeCompare(d[:], a.binding[:]) == 1
}

// inRegion reports whether the terminal region code term lies inside the
// node region node: node less its trailing "00" pairs is a prefix of term.
func inRegion(term, node string) bool {
	prefix := node
	for len(prefix) >= 2 && strings.HasSuffix(prefix, "00") {
		prefix = prefix[:len(prefix)-2]
	}
	return prefix != "" && strings.HasPrefix(term, prefix)
}

// Verified reports whether a came from AttestationVerifier.Verify.
func (a *Attestation) Verified() bool { return a != nil && a.verified }

// Biometric reports whether a is a verified attestation of a passed face
// match: the evidence of assurance level L4.
func (a *Attestation) Biometric() bool {
	return a.Verified() && a.Liveness.Method == LivenessFaceMatch && a.Liveness.Passed
}

// Verify checks an attestation for doc and name presented with the device
// key device (the key being enrolled, whose possession the caller checks;
// nil for an enrollment without a device), in this order: the device key
// (ErrAttestationDevice if it is not SM2 or P-256), size and form
// (ErrAttestationMalformed), the algorithm (allowed, and the terminal's:
// ErrAttestationSignature), the terminal (ErrUnknownTerminal,
// ErrTerminalRevoked), the signature (ErrAttestationSignature), time
// (ErrAttestationEarly, ErrAttestationExpired), the audience: this node
// (ErrAttestationAudience), the terminal's region: inside this node's
// (ErrAttestationRegion), the device: cnf.jkt is device's thumbprint, or
// both absent (ErrAttestationDevice), the binding digest over document,
// name, audience and device (ErrAttestationPerson), the person check
// (ErrAttestationLiveness), and last marks its jti used
// (ErrAttestationReplayed), so that a failed check does not use it up.
// Errors that match none of these (a store or registry failure, a
// misconfigured verifier) are not the caller's fault.
func (v *AttestationVerifier) Verify(ctx context.Context, doc Document, name string, device crypto.PublicKey, token string) (*Attestation, error) {
	if v.Terminals == nil || v.Replay == nil {
		return nil, errors.New("identity: AttestationVerifier needs Terminals and Replay")
	}
	if !validAudience(v.Audience) || !validRegionCode(v.Region) {
		return nil, errors.New("identity: AttestationVerifier needs the node's Audience and Region")
	}
	for _, alg := range v.Algorithms {
		if alg != gm.AlgSM2 && alg != gm.AlgES256 {
			return nil, fmt.Errorf("identity: AttestationVerifier: algorithm %q is not one terminals use", alg)
		}
	}
	parser, err := gm.NewJWTParser(v.Algorithms, jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	if err != nil {
		return nil, err
	}
	if doc.IsZero() {
		return nil, fmt.Errorf("%w: zero document", ErrUnsupportedDocument)
	}
	canon, err := CanonicalName(name)
	if err != nil {
		return nil, err
	}
	thumb := noDevice
	if device != nil {
		if thumb, err = DeviceThumbprint(device); err != nil {
			return nil, err
		}
	}
	if len(token) > MaxAttestationLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrAttestationMalformed, MaxAttestationLen)
	}
	kid, err := checkAttestationHeader(token)
	if err != nil {
		return nil, err
	}

	var term Terminal
	claims := &attestationClaims{}
	_, err = parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if claims.Issuer != kid {
			return nil, fmt.Errorf("%w: iss differs from kid", ErrAttestationMalformed)
		}
		tm, err := v.Terminals.Terminal(ctx, kid)
		if err != nil {
			return nil, err
		}
		if tm.State != TerminalActive {
			return nil, ErrTerminalRevoked
		}
		if t.Method.Alg() != tm.Alg() {
			return nil, fmt.Errorf("%w: algorithm is not the terminal's", ErrAttestationSignature)
		}
		term = tm
		return tm.PublicKey, nil
	})
	if err != nil {
		return nil, attestationParseError(err)
	}

	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	leeway := v.Leeway
	if leeway <= 0 {
		leeway = DefaultAttestationLeeway
	}
	maxLife := v.MaxLifetime
	if maxLife <= 0 {
		maxLife = DefaultAttestationMaxLifetime
	}
	iat, exp := claims.IssuedAt.Time, claims.Expiry.Time
	switch {
	case !exp.After(iat) || exp.Sub(iat) > maxLife:
		return nil, fmt.Errorf("%w: lifetime must be positive and at most %v", ErrAttestationMalformed, maxLife)
	case iat.After(now.Add(leeway)):
		return nil, ErrAttestationEarly
	case !exp.After(now.Add(-leeway)):
		return nil, ErrAttestationExpired
	}

	if subtle.ConstantTimeCompare([]byte(claims.Audience), []byte(v.Audience)) != 1 {
		return nil, ErrAttestationAudience
	}
	if !inRegion(term.Region, v.Region) {
		return nil, ErrAttestationRegion
	}
	switch {
	case claims.Cnf == nil && thumb != noDevice:
		return nil, fmt.Errorf("%w: it was made for an enrollment without a device key", ErrAttestationDevice)
	case claims.Cnf != nil && thumb == noDevice:
		return nil, fmt.Errorf("%w: it was made for a device key and none was given", ErrAttestationDevice)
	case claims.Cnf != nil && subtle.ConstantTimeCompare([]byte(claims.Cnf.JKT), []byte(thumb)) != 1:
		return nil, fmt.Errorf("%w: it was made for another device key", ErrAttestationDevice)
	}
	want := bindingDigest(claims.ID, doc, canon, claims.Audience, thumb)
	got, _ := b64url.DecodeString(claims.Binding) // checked when decoded
	if subtle.ConstantTimeCompare(want[:], got) != 1 {
		return nil, ErrAttestationPerson
	}

	lv := *claims.Liveness
	if !lv.Passed || lv.Method == LivenessFaceMatch && v.MinFaceScore > 0 && lv.Score < v.MinFaceScore {
		return nil, ErrAttestationLiveness
	}

	// The marker covers the attestation's whole window of use (from
	// iat - leeway to exp + leeway), as store.MarkUsed requires.
	ttl := max(exp.Sub(now)+leeway, now.Sub(iat)+leeway, time.Second)
	if err := v.Replay.MarkUsed(ctx, "attestation:"+kid+":"+claims.ID, ttl); err != nil {
		if errors.Is(err, store.ErrReplayed) {
			return nil, ErrAttestationReplayed
		}
		return nil, fmt.Errorf("identity: attestation replay check: %w", err)
	}
	devThumb := ""
	if thumb != noDevice {
		devThumb = thumb
	}
	return &Attestation{
		TerminalID: term.ID, TerminalRegion: term.Region, Audience: claims.Audience, DeviceThumbprint: devThumb, ID: claims.ID,
		IssuedAt: iat.UTC(), Expiry: exp.UTC(), Liveness: lv, ChipRead: claims.ChipRead,
		verified: true, binding: want,
	}, nil
}

// checkAttestationHeader decodes the protected header strictly: exactly
// the members alg, typ and kid, each a string, typ AttestationType and kid
// a terminal ID. It returns the kid.
func checkAttestationHeader(token string) (string, error) {
	head, rest, ok := strings.Cut(token, ".")
	if !ok || strings.Count(rest, ".") != 1 {
		return "", fmt.Errorf("%w: not a compact JWS", ErrAttestationMalformed)
	}
	raw, err := b64url.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("%w: header encoding", ErrAttestationMalformed)
	}
	var h struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}
	if err := strictjson.Decode(raw, &h, MaxAttestationLen); err != nil {
		return "", fmt.Errorf("%w: header: %v", ErrAttestationMalformed, err)
	}
	if h.Typ != AttestationType {
		return "", fmt.Errorf("%w: typ must be %s", ErrAttestationMalformed, AttestationType)
	}
	if h.Alg == "" || !validTerminalID(h.Kid) {
		return "", fmt.Errorf("%w: header needs alg and a terminal kid", ErrAttestationMalformed)
	}
	return h.Kid, nil
}

// attestationParseError maps the jwt parser's errors onto this package's.
func attestationParseError(err error) error {
	for _, e := range []error{ErrAttestationMalformed, ErrUnknownTerminal, ErrTerminalRevoked, ErrAttestationSignature} {
		if errors.Is(err, e) {
			return e
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: %v", ErrAttestationMalformed, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrAttestationSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// A keyfunc error not of this package: the registry failed.
		var je interface{ Unwrap() []error }
		if errors.As(err, &je) {
			for _, e := range je.Unwrap() {
				if !errors.Is(e, jwt.ErrTokenUnverifiable) {
					return fmt.Errorf("identity: terminal lookup: %w", e)
				}
			}
		}
		return fmt.Errorf("%w: %v", ErrAttestationMalformed, err)
	}
	return fmt.Errorf("%w: %v", ErrAttestationMalformed, err)
}
