package qrcode

import (
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/trustid-cn/trustid/gm"
)

// StatusRef locates an entry in a region's status list: the binding, static
// code or delegation is revoked by setting that entry.
type StatusRef struct {
	Region uint32 // the issuing region, e.g. 310000
	List   uint32 // the region's list number
	Index  uint32 // the entry in the list
}

// Size bounds of issued and decoded fields.
const (
	MinSubjectSize = 16
	MaxSubjectSize = 32
	MaxClaims      = 8
	MaxClaimLen    = 32 // names and values
	MaxScope       = 8
	MaxAudienceLen = 32
	MaxChallenge   = 32
	MaxMaskedLen   = 64 // bytes of UTF-8
)

// Assurance levels, as proven at enrollment.
const (
	AssuranceDocument  = 1 // document checked
	AssuranceDevice    = 2 // + bound device
	AssurancePIN       = 3 // + PIN
	AssuranceBiometric = 4 // + biometric attestation by a terminal
)

// Issuer signs device bindings, delegations and static codes with a node's
// SM2 key. It is safe for concurrent use if its Signer is.
type Issuer struct {
	// Signer is the node's SM2 signing key (any crypto.Signer holding one,
	// such as a keystore key or a KMS handle).
	Signer crypto.Signer
	// Kid is the key's ID (keystore.Key.Kid); payloads carry KidHint(Kid).
	Kid string
	// Region is the issuing region, e.g. 310000.
	Region uint32
	// Rand is the signing randomness; nil means crypto/rand.
	Rand io.Reader
}

func (is *Issuer) rand() io.Reader {
	if is.Rand == nil {
		return rand.Reader
	}
	return is.Rand
}

func (is *Issuer) check() error {
	if is == nil || is.Signer == nil || is.Kid == "" {
		return fmt.Errorf("%w: issuer needs a signer and a kid", ErrInvalidArgument)
	}
	if !gm.IsSM2PublicKey(is.Signer.Public()) {
		return fmt.Errorf("%w: issuer key is not SM2", ErrInvalidArgument)
	}
	if !validRegionCode(is.Region) {
		return fmt.Errorf("%w: issuer region %d", ErrInvalidArgument, is.Region)
	}
	return nil
}

// sign wraps payload in the signed envelope.
func (is *Issuer) sign(context string, payload []byte) ([]byte, error) {
	kid := KidHint(is.Kid)
	sig, err := gm.SignWith(is.rand(), is.Signer, sigInput(context, kid, payload))
	if err != nil {
		return nil, fmt.Errorf("qrcode: sign: %w", err)
	}
	return marshal(signed{Kid: kid, Payload: payload, Sig: sig}), nil
}

// Binding is the issuer-signed device binding: it ties a device key to a
// symbol-derived subject, with the assurance level, validity and status
// entry. The holder's app keeps it and presents it inside offline codes.
type Binding struct {
	Subject   []byte // symbol-derived subject, 16 to 32 bytes
	DeviceKey *gm.PublicKey
	Assurance int // AssuranceDocument .. AssuranceBiometric
	Region    uint32
	IssuedAt  time.Time
	Expiry    time.Time
	Status    StatusRef
	// Claims are attested, non-identifying attributes the holder may
	// release (e.g. "age_over_18": "true"); at most MaxClaims.
	Claims map[string]string
}

type bindingWire struct {
	Subject     []byte            `cbor:"1,keyasint"`
	Device      []byte            `cbor:"2,keyasint"`
	Assurance   *uint8            `cbor:"3,keyasint"`
	Region      *uint32           `cbor:"4,keyasint"`
	IssuedAt    *uint64           `cbor:"5,keyasint"`
	Expiry      *uint64           `cbor:"6,keyasint"`
	StatusList  *uint32           `cbor:"7,keyasint"`
	StatusIndex *uint32           `cbor:"8,keyasint"`
	Claims      map[string]string `cbor:"9,keyasint,omitempty"`
}

// IssueBinding signs a device binding. b.Region is set to the issuer's
// region. It returns the binding in its wire form (CBOR bytes), which the
// holder's app stores and passes to NewOffline.
func (is *Issuer) IssueBinding(b Binding) ([]byte, error) {
	if err := is.check(); err != nil {
		return nil, err
	}
	b.Region = is.Region
	b.Status.Region = is.Region
	if b.DeviceKey == nil {
		return nil, fmt.Errorf("%w: binding without a device key", ErrInvalidArgument)
	}
	w := bindingWire{
		Subject: b.Subject, Device: CompressKey(b.DeviceKey),
		Assurance: ptr(uint8(b.Assurance)), Region: ptr(b.Region),
		IssuedAt: ptr(unix(b.IssuedAt)), Expiry: ptr(unix(b.Expiry)),
		StatusList: ptr(b.Status.List), StatusIndex: ptr(b.Status.Index),
		Claims: b.Claims,
	}
	if _, err := w.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return is.sign(ctxBinding, marshal(w))
}

func ptr[T any](v T) *T { return &v }

// check validates a decoded (or to-be-issued) binding and converts it.
func (w *bindingWire) check() (Binding, error) {
	if w.Assurance == nil || w.Region == nil || w.IssuedAt == nil || w.Expiry == nil || w.StatusList == nil || w.StatusIndex == nil || w.Device == nil {
		return Binding{}, malformed("binding: missing field")
	}
	if err := checkSubject(w.Subject); err != nil {
		return Binding{}, fmt.Errorf("binding: %w", err)
	}
	if *w.Assurance < AssuranceDocument || *w.Assurance > AssuranceBiometric {
		return Binding{}, malformed("binding: assurance level %d out of range", *w.Assurance)
	}
	if !validRegionCode(*w.Region) {
		return Binding{}, malformed("binding: region %d", *w.Region)
	}
	if *w.IssuedAt == 0 || *w.IssuedAt > maxTime || *w.Expiry <= *w.IssuedAt || *w.Expiry > maxTime {
		return Binding{}, malformed("binding: validity out of range")
	}
	if err := checkClaims(w.Claims); err != nil {
		return Binding{}, fmt.Errorf("binding: %w", err)
	}
	if len(w.Device) != CompressedKeySize {
		return Binding{}, malformed("binding: device key must be %d bytes", CompressedKeySize)
	}
	return Binding{
		Subject: w.Subject, Assurance: int(*w.Assurance), Region: *w.Region,
		IssuedAt: fromUnix(*w.IssuedAt), Expiry: fromUnix(*w.Expiry),
		Status: StatusRef{Region: *w.Region, List: *w.StatusList, Index: *w.StatusIndex},
		Claims: w.Claims,
	}, nil
}

func checkSubject(s []byte) error {
	if len(s) < MinSubjectSize || len(s) > MaxSubjectSize {
		return malformed("subject must be %d to %d bytes", MinSubjectSize, MaxSubjectSize)
	}
	return nil
}

// checkToken accepts short tokens of [a-z0-9_.:-] (claim names, scope
// actions).
func checkToken(s string) bool {
	if len(s) == 0 || len(s) > MaxClaimLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func checkClaims(m map[string]string) error {
	if len(m) > MaxClaims {
		return malformed("more than %d claims", MaxClaims)
	}
	for k, v := range m {
		if !checkToken(k) {
			return malformed("claim name is not a short token")
		}
		if len(v) > MaxClaimLen || !utf8.ValidString(v) {
			return malformed("claim value longer than %d bytes", MaxClaimLen)
		}
	}
	return nil
}

// ParseBinding decodes a binding's wire form WITHOUT verifying it (for a
// wallet showing what it holds). Verifiers use Verifier.
func ParseBinding(raw []byte) (Binding, error) {
	b, _, err := decodeBinding(raw)
	return b, err
}

// decodeBinding decodes the envelope and the claims, and the device key.
func decodeBinding(raw []byte) (Binding, signed, error) {
	s, err := decodeSigned(raw, "binding")
	if err != nil {
		return Binding{}, s, err
	}
	var w bindingWire
	if err := unmarshal(s.Payload, &w, "binding claims"); err != nil {
		return Binding{}, s, err
	}
	b, err := w.check()
	if err != nil {
		return Binding{}, s, err
	}
	if b.DeviceKey, err = ParseCompressedKey(w.Device); err != nil {
		return Binding{}, s, err
	}
	return b, s, nil
}
