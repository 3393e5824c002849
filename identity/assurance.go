package identity

import (
	"crypto"
	"strconv"

	"github.com/trustid-cn/trustid/gm"
)

// Level is an identity assurance level: how much was proven when an
// identity was enrolled on a device. Levels are cumulative: each includes
// everything the lower ones require. See docs/identity.md for how they map
// onto national practice.
type Level uint8

// The levels. The zero Level is LevelNone: nothing proven.
const (
	LevelNone Level = iota
	// L1: a valid legal identity document and the holder's name were
	// checked (document number rules, region, birth date; name present).
	L1
	// L2: L1, and a device key held by the holder is bound to the identity
	// (possession of the device, proven by its signature).
	L2
	// L3: L2, and a PIN is set on the device binding (knowledge): the
	// sealed PIN verifier travels in the binding.
	L3
	// L4: L3, and an accredited verification terminal attested a
	// biometric match of the person with the document (face match with
	// liveness, usually with the ID card's chip read).
	L4
)

// String returns "L1".."L4", or "none".
func (l Level) String() string {
	if l >= L1 && l <= L4 {
		return "L" + strconv.Itoa(int(l))
	}
	if l == LevelNone {
		return "none"
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

// Valid reports whether l is L1..L4.
func (l Level) Valid() bool { return l >= L1 && l <= L4 }

// AtLeast reports whether l meets min (both valid, l >= min).
func (l Level) AtLeast(min Level) bool { return l.Valid() && min.Valid() && l >= min }

// ParseLevel parses "L1".."L4" (upper case, as String writes them).
func ParseLevel(s string) (Level, error) {
	if len(s) == 2 && s[0] == 'L' && s[1] >= '1' && s[1] <= '4' {
		return Level(s[1] - '0'), nil
	}
	return LevelNone, ErrInvalidLevel
}

// MarshalText writes "L1".."L4"; other values are an error.
func (l Level) MarshalText() ([]byte, error) {
	if !l.Valid() {
		return nil, ErrInvalidLevel
	}
	return []byte(l.String()), nil
}

// UnmarshalText reads what MarshalText writes.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Proof is what was established at enrollment.
type Proof struct {
	// Document is the parsed, validated document (zero: none).
	Document Document
	// Name is the holder's name as given (checked with CanonicalName).
	Name string
	// DeviceKey is the holder's device public key (SM2 or P-256) whose
	// possession the caller has verified, e.g. by a signature over the
	// enrollment request; nil when no device is bound.
	DeviceKey crypto.PublicKey
	// PIN is the sealed PIN verifier set on the binding; empty for none.
	PIN SealedPIN
	// Attestation is the verified terminal attestation, or nil.
	Attestation *Attestation
}

// Assess returns the assurance level that p reaches: LevelNone without a
// document and a valid name; L1 with them; L2 with a device key as well;
// L3 with a PIN too; L4 when, in addition, a verified attestation of a
// biometric match of this document and name is present. An attestation
// without a device and a PIN does not raise the level (levels are
// cumulative), and an Attestation not made by AttestationVerifier.Verify,
// or made for another document, name or device key, counts for nothing.
func Assess(p Proof) Level {
	if p.Document.IsZero() {
		return LevelNone
	}
	if _, err := CanonicalName(p.Name); err != nil {
		return LevelNone
	}
	if !deviceKey(p.DeviceKey) {
		return L1
	}
	if p.PIN == "" {
		return L2
	}
	if !p.Attestation.Biometric() || !p.Attestation.binds(p.Document, p.Name, p.DeviceKey) {
		return L3
	}
	return L4
}

func deviceKey(pub crypto.PublicKey) bool {
	if pub == nil {
		return false
	}
	alg, err := gm.Alg(pub)
	if err != nil || (alg != gm.AlgSM2 && alg != gm.AlgES256) {
		return false
	}
	_, err = gm.NormalizePublicKey(pub)
	return err == nil
}

// AssessStatic returns the level a static printed code reaches, for a
// holder enrolled without a device: the issuer-signed code, handed over
// at the counter, stands for the device. LevelNone without a document and
// a valid name; L2 with them (the code is the possession factor); L3 with
// a PIN sealed into the code; L4 when, in addition, a verified
// attestation of a biometric match of this document and name, made for
// no device, is present. p.DeviceKey must be nil.
//
// A printed code can be copied where a device key cannot, so what a code
// proves at login time is capped by the login rules, not here: a PIN typed
// at a counter terminal proves at most L3; only a face match at the
// counter reaches the code's L4 (docs/login.md).
func AssessStatic(p Proof) Level {
	if p.Document.IsZero() || p.DeviceKey != nil {
		return LevelNone
	}
	if _, err := CanonicalName(p.Name); err != nil {
		return LevelNone
	}
	if p.PIN == "" {
		return L2
	}
	if !p.Attestation.Biometric() || !p.Attestation.binds(p.Document, p.Name, nil) {
		return L3
	}
	return L4
}
