package cose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	gocose "github.com/veraison/go-cose"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Media types (the typ header) and content types of VC-JOSE-COSE.
const (
	MediaTypeVC   = "application/vc+cose"
	MediaTypeVP   = "application/vp+cose"
	ContentTypeVC = "application/vc"
	ContentTypeVP = "application/vp"
)

// Algorithm is a COSE algorithm identifier (the alg header parameter).
type Algorithm = gocose.Algorithm

// The algorithms this package signs and verifies with. AlgSM2 is
// TrustID's private-use identifier (the IANA COSE Algorithms registry
// leaves integers less than -65536 for private use): SM2 with SM3 over
// Z_A (default user ID) ‖ ToBeSigned, the signature as the 64-byte r‖s
// (docs/credentials.md, "SM2 in COSE").
const (
	AlgES256 Algorithm = gocose.AlgorithmES256
	AlgES384 Algorithm = gocose.AlgorithmES384
	AlgES512 Algorithm = gocose.AlgorithmES512
	AlgEdDSA Algorithm = gocose.AlgorithmEdDSA
	AlgSM2   Algorithm = -65537
)

// algNames are the names verifiers list their allowed algorithms by (the
// JOSE names, as in credentials.VerifierConfig.Algorithms).
var algNames = map[string]Algorithm{gm.AlgES256: AlgES256, gm.AlgES384: AlgES384, gm.AlgES512: AlgES512, gm.AlgEdDSA: AlgEdDSA, gm.AlgSM2: AlgSM2}

// MaxMessage bounds a COSE_Sign1: a credential document
// (credentials.MaxDocument) and room for headers and signature.
const MaxMessage = credentials.MaxDocument + 4096

// Errors. Each also matches the credentials sentinel an HTTP layer already
// maps (errors.Is).
var (
	// ErrMalformed: not a well-formed COSE_Sign1 (CBOR syntax, nesting,
	// size, detached payload, header types).
	ErrMalformed = fmt.Errorf("%w: cose", credentials.ErrMalformed)
	// ErrUnprotectedAlgorithm: alg is missing from the protected header
	// (or also appears unprotected).
	ErrUnprotectedAlgorithm = fmt.Errorf("%w: cose: alg must be a protected header parameter", credentials.ErrAlgorithm)
	// ErrKeyIDInBothBuckets: kid is in both the protected and the
	// unprotected header (RFC 9052 §3: malformed).
	ErrKeyIDInBothBuckets = fmt.Errorf("%w: cose: kid in both the protected and the unprotected header", credentials.ErrUnknownKey)
	// ErrAlgorithm: alg is unknown, not allowed, or does not fit the key.
	ErrAlgorithm = fmt.Errorf("%w: cose", credentials.ErrAlgorithm)
	// ErrType: typ or content type is not the one of the media type.
	ErrType = fmt.Errorf("%w: cose", credentials.ErrType)
	// ErrSignature: the signature does not verify.
	ErrSignature = fmt.Errorf("%w: cose", credentials.ErrSignature)
)

// algOf returns the COSE algorithm of a public key.
func algOf(pub crypto.PublicKey) (Algorithm, error) {
	if gm.IsSM2PublicKey(pub) {
		return AlgSM2, nil
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return AlgES256, nil
		case elliptic.P384():
			return AlgES384, nil
		case elliptic.P521():
			return AlgES512, nil
		}
	case ed25519.PublicKey:
		return AlgEdDSA, nil
	}
	return 0, fmt.Errorf("%w: no COSE algorithm for a %T key", credentials.ErrUnsupported, pub)
}

// sm2Signer is SM2 as a go-cose Signer: r‖s over SM3(Z_A ‖ ToBeSigned).
type sm2Signer struct{ key crypto.Signer }

func (sm2Signer) Algorithm() Algorithm { return AlgSM2 }

func (s sm2Signer) Sign(rand io.Reader, content []byte) ([]byte, error) {
	return gm.SignWith(rand, s.key, content)
}

// sm2Verifier is SM2 as a go-cose Verifier.
type sm2Verifier struct{ pub *gm.PublicKey }

func (sm2Verifier) Algorithm() Algorithm { return AlgSM2 }

func (v sm2Verifier) Verify(content, sig []byte) error {
	if err := v.pub.Verify(content, sig); err != nil {
		return gocose.ErrVerification
	}
	return nil
}

// NewSigner returns the go-cose Signer for key, and its algorithm.
func NewSigner(key crypto.Signer) (gocose.Signer, error) {
	alg, err := algOf(key.Public())
	if err != nil {
		return nil, err
	}
	if alg == AlgSM2 {
		return sm2Signer{key}, nil
	}
	return gocose.NewSigner(alg, key)
}

// newVerifier returns the go-cose Verifier for alg and pub, refusing a key
// of another algorithm.
func newVerifier(alg Algorithm, pub crypto.PublicKey) (gocose.Verifier, error) {
	got, err := algOf(pub)
	if err != nil || got != alg {
		return nil, fmt.Errorf("%w: the key is not a %v key", ErrAlgorithm, alg)
	}
	if alg == AlgSM2 {
		p, err := gm.NormalizePublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAlgorithm, err)
		}
		return sm2Verifier{p.(*gm.PublicKey)}, nil
	}
	return gocose.NewVerifier(alg, pub)
}

// Sign secures doc (a credential or presentation, already valid) as a
// tagged COSE_Sign1 of mediaType (MediaTypeVC or MediaTypeVP): the payload
// is doc's JSON; the protected header holds alg (from the key), kid (a DID
// URL of the signing key), typ mediaType and content type application/vc
// (or application/vp).
func Sign(doc map[string]any, mediaType, kid string, key crypto.Signer) ([]byte, error) {
	cty := ContentTypeVC
	switch mediaType {
	case MediaTypeVC:
	case MediaTypeVP:
		cty = ContentTypeVP
	default:
		return nil, fmt.Errorf("%w: COSE media type %q", credentials.ErrUnsupported, mediaType)
	}
	if kid == "" {
		return nil, fmt.Errorf("%w: a kid is required", credentials.ErrUnknownKey)
	}
	signer, err := NewSigner(key)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("cose: encode document: %w", err)
	}
	msg := gocose.NewSign1Message()
	msg.Headers.Protected = gocose.ProtectedHeader{
		gocose.HeaderLabelAlgorithm:   signer.Algorithm(),
		gocose.HeaderLabelKeyID:       []byte(kid),
		gocose.HeaderLabelType:        mediaType,
		gocose.HeaderLabelContentType: cty,
	}
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		return nil, fmt.Errorf("cose: sign: %w", err)
	}
	return msg.MarshalCBOR()
}

// SignCredential validates doc as a credential and secures it as
// application/vc+cose; kid must be absolute (Sign writes no CWT iss:
// credentials.CheckKid).
func SignCredential(doc map[string]any, kid string, key crypto.Signer) ([]byte, error) {
	c, err := credentials.NewCredential(doc)
	if err != nil {
		return nil, err
	}
	if err := credentials.CheckKid(c.Issuer, kid, nil); err != nil {
		return nil, err
	}
	return Sign(doc, MediaTypeVC, kid, key)
}

// message is a parsed COSE_Sign1 whose headers passed the checks of parse.
type message struct {
	msg     *gocose.Sign1Message
	alg     Algorithm
	kid     string
	payload map[string]any
	claims  cwtClaims
}

// cwtClaims are the claims of a message's CWT Claims header parameter
// (RFC 9597, label 15) that verification applies. VC-JOSE-COSE §3.3.3:
// "The normative statements in ... [RFC 8392 §3] Claims, and CBOR Web
// Token (CWT) Claims in COSE Headers apply to securing credentials and
// presentations", and §4.1.2: iss, "if present, MUST match issuer"; RFC 8392
// §3.1.4 and §3.1.5: the current time "MUST be before" exp and "MUST be
// after or equal to" nbf. Other claims are ignored ("If they are not
// understood, they MUST be ignored").
type cwtClaims struct {
	iss      string // "" when absent
	exp, nbf time.Time
}

// CWT claim keys (RFC 8392 §4).
const (
	cwtIss = 1
	cwtExp = 4
	cwtNbf = 5
)

// parseCWTClaims reads the CWT Claims header parameter's value: a map
// whose iss, when present, is a non-empty text string and whose exp and
// nbf are NumericDates (RFC 8392 §2: numbers of seconds, without tag 1).
func parseCWTClaims(v any) (cwtClaims, error) {
	var c cwtClaims
	m, ok := v.(map[any]any)
	if !ok {
		return c, fmt.Errorf("%w: the CWT Claims header parameter is not a map", ErrMalformed)
	}
	for k, x := range m {
		key, ok := k.(int64)
		if !ok {
			continue // a text claim name: none is applied
		}
		var err error
		switch key {
		case cwtIss:
			if c.iss, _ = x.(string); c.iss == "" {
				return c, fmt.Errorf("%w: the CWT claim iss is not a text string", ErrMalformed)
			}
		case cwtExp:
			c.exp, err = numericDate(x)
		case cwtNbf:
			c.nbf, err = numericDate(x)
		}
		if err != nil {
			return c, fmt.Errorf("%w: the CWT claim %d: %v", ErrMalformed, key, err)
		}
	}
	return c, nil
}

// numericDate reads a CWT NumericDate: an integer or a float of seconds
// since 1970, in the range a JWT's is read in (0 to 1e11).
func numericDate(v any) (time.Time, error) {
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case float64:
		f = n
	default:
		return time.Time{}, errors.New("not a number")
	}
	if math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, errors.New("out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// checkClaims applies m's CWT claims: exp and nbf through cv's clock, and
// iss, when present, must be issuer (a credential's; "" for a
// presentation, whose holder signs).
func (m *message) checkClaims(cv *credentials.Verifier, issuer string) error {
	if issuer != "" && m.claims.iss != "" && m.claims.iss != issuer {
		return fmt.Errorf("%w: the CWT claim iss is not the credential's issuer", credentials.ErrIssuerMismatch)
	}
	return cv.CheckSignatureTimes(m.claims.exp, m.claims.nbf)
}

// decode decodes a COSE_Sign1 (tagged or not) strictly: size, CBOR
// well-formedness (go-cose refuses duplicate map keys, indefinite lengths,
// nesting beyond 32 levels and malformed header parameters), an attached
// payload, alg protected and in allow, and no crit. It returns the message
// and its alg.
func decode(data []byte, allow []Algorithm) (*gocose.Sign1Message, Algorithm, error) {
	if len(data) == 0 {
		return nil, 0, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(data) > MaxMessage {
		return nil, 0, fmt.Errorf("%w: over %d bytes", ErrMalformed, MaxMessage)
	}
	msg := gocose.NewSign1Message()
	var err error
	if data[0] == 0xd2 { // tag 18, COSE_Sign1
		err = msg.UnmarshalCBOR(data)
	} else {
		err = (*gocose.UntaggedSign1Message)(msg).UnmarshalCBOR(data)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: not a COSE_Sign1: %v", ErrMalformed, err)
	}
	if msg.Payload == nil {
		return nil, 0, fmt.Errorf("%w: detached payload", ErrMalformed)
	}
	prot, unprot := msg.Headers.Protected, msg.Headers.Unprotected
	if _, ok := unprot[gocose.HeaderLabelAlgorithm]; ok {
		return nil, 0, ErrUnprotectedAlgorithm
	}
	alg, err := prot.Algorithm()
	if errors.Is(err, gocose.ErrAlgorithmNotFound) {
		return nil, 0, ErrUnprotectedAlgorithm
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: alg: %v", ErrAlgorithm, err)
	}
	if !slices.Contains(allow, alg) {
		return nil, 0, fmt.Errorf("%w: %v is not allowed", ErrAlgorithm, alg)
	}
	if _, ok := prot[gocose.HeaderLabelCritical]; ok {
		return nil, 0, fmt.Errorf("%w: crit header parameters are not supported", credentials.ErrUnsupported)
	}
	return msg, alg, nil
}

// parse decodes a COSE_Sign1 of mediaType (see decode) and checks the rest
// of what VC-JOSE-COSE asks: no header parameter in both buckets; typ and
// content type, when present, those of mediaType; a kid byte string holding a UTF-8 DID URL; a payload that is
// a strict JSON object.
func parse(data []byte, mediaType string, allow []Algorithm) (*message, error) {
	msg, alg, err := decode(data, allow)
	if err != nil {
		return nil, err
	}
	// RFC 9052 §3: "Applications SHOULD verify that the same label does
	// not occur in both the protected and unprotected header parameters.
	// If the message is not rejected as malformed, attributes MUST be
	// obtained from the protected bucket, and only if an attribute is not
	// found in the protected bucket can that attribute be obtained from the
	// unprotected bucket." A label in both buckets is refused as
	// malformed (a kid with its own error, alg already by decode): a typ
	// or content type in both would give the message two media types, one
	// for readers that take the protected value and one for readers that
	// take the other. A kid in either bucket alone is taken (VC-JOSE-COSE
	// applies RFC 9052 §3.1 and says no more of kid). The signature binds
	// the key, not the kid: a kid only unprotected selects among the
	// issuer's methods, each of which must still resolve to the key that
	// signed.
	_, protected := msg.Headers.Protected[gocose.HeaderLabelKeyID]
	if _, unprotected := msg.Headers.Unprotected[gocose.HeaderLabelKeyID]; protected && unprotected {
		return nil, ErrKeyIDInBothBuckets
	}
	for label := range msg.Headers.Unprotected {
		if _, dup := msg.Headers.Protected[label]; dup {
			return nil, fmt.Errorf("%w: a header parameter in both the protected and the unprotected header", ErrMalformed)
		}
	}
	cty := ContentTypeVC
	if mediaType == MediaTypeVP {
		cty = ContentTypeVP
	}
	for _, h := range []struct {
		label int64
		name  string
		want  string
	}{{gocose.HeaderLabelType, "typ", mediaType}, {gocose.HeaderLabelContentType, "content type", cty}} {
		v, ok := header(msg, h.label)
		if !ok {
			continue // both SHOULD be present; a verifier accepts their absence
		}
		// Media type names are case-insensitive (RFC 6838 §4.2, which
		// RFC 9052 §3.1 and RFC 9596 §2 take the text values' syntax
		// from), as the JOSE paths compare typ and cty.
		if s, isStr := v.(string); !isStr || !strings.EqualFold(s, h.want) {
			return nil, fmt.Errorf("%w: %s is not %s", ErrType, h.name, h.want)
		}
	}
	kv, ok := header(msg, gocose.HeaderLabelKeyID)
	kidBytes, isBytes := kv.([]byte)
	if !ok || (isBytes && len(kidBytes) == 0) {
		return nil, fmt.Errorf("%w: the COSE header has no kid", credentials.ErrUnknownKey)
	}
	if !isBytes || !utf8.Valid(kidBytes) {
		return nil, fmt.Errorf("%w: kid must be a byte string holding a UTF-8 DID URL", ErrMalformed)
	}
	var claims cwtClaims
	if v, ok := header(msg, gocose.HeaderLabelCWTClaims); ok {
		if claims, err = parseCWTClaims(v); err != nil {
			return nil, err
		}
	}
	doc, err := strictjson.Object(msg.Payload, credentials.MaxDocument)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	return &message{msg: msg, alg: alg, kid: string(kidBytes), payload: doc, claims: claims}, nil
}

// header returns a header parameter, protected first.
func header(msg *gocose.Sign1Message, label int64) (any, bool) {
	if v, ok := msg.Headers.Protected[label]; ok {
		return v, true
	}
	v, ok := msg.Headers.Unprotected[label]
	return v, ok
}

// verify checks the signature of m with pub.
func (m *message) verify(pub crypto.PublicKey) error {
	return verifySign1(m.msg, m.alg, pub)
}

// verifySign1 checks the signature of msg, of alg, with pub.
func verifySign1(msg *gocose.Sign1Message, alg Algorithm, pub crypto.PublicKey) error {
	ver, err := newVerifier(alg, pub)
	if err != nil {
		return err
	}
	if err := msg.Verify(nil, ver); err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return nil
}
