package qrcode

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Static is the content of a static printable code for people without a
// smartphone: long-lived, issuer-signed, revocable through its status
// entry, showing only masked data. Counter staff check it together with a
// face comparison against the photo named by PhotoHint.
type Static struct {
	Subject      []byte // symbol-derived subject
	MaskedName   string // identity.MaskName output, e.g. "张*"
	MaskedNumber string // Document.Masked output, e.g. "3101**********002X"
	DocType      uint8  // identity.DocType of the document
	// PhotoHint tells staff what to compare the face with (e.g. "ID card
	// photo"); at most 32 bytes.
	PhotoHint string
	Assurance int
	Region    uint32
	IssuedAt  time.Time
	Expiry    time.Time
	Status    StatusRef
	// SealedPIN is the holder's PIN verifier sealed by the issuing node
	// (identity.PINSealer, raw bytes, at most MaxSealedPINLen): only the
	// region's nodes can open it, to check a PIN typed at a counter
	// terminal. Nil for a code without a PIN. Wire key 12, optional: a code
	// without it is byte for byte what verifiers before key 12 read.
	SealedPIN []byte
}

// MaxSealedPINLen bounds the sealed PIN verifier of a static code (an
// identity.PINSealer verifier is 79 bytes, 63 in format 1).
const MaxSealedPINLen = 96

type staticWire struct {
	Subject      []byte  `cbor:"1,keyasint"`
	MaskedName   string  `cbor:"2,keyasint"`
	MaskedNumber string  `cbor:"3,keyasint"`
	DocType      *uint8  `cbor:"4,keyasint"`
	PhotoHint    string  `cbor:"5,keyasint,omitempty"`
	Assurance    *uint8  `cbor:"6,keyasint"`
	Region       *uint32 `cbor:"7,keyasint"`
	IssuedAt     *uint64 `cbor:"8,keyasint"`
	Expiry       *uint64 `cbor:"9,keyasint"`
	StatusList   *uint32 `cbor:"10,keyasint"`
	StatusIndex  *uint32 `cbor:"11,keyasint"`
	SealedPIN    []byte  `cbor:"12,keyasint,omitempty"`
}

// IssueStatic signs a static code and returns its text form (prefix
// "TIDST1:"), ready to render.
func (is *Issuer) IssueStatic(st Static) (string, error) {
	if err := is.check(); err != nil {
		return "", err
	}
	w := staticWire{
		Subject: st.Subject, MaskedName: st.MaskedName, MaskedNumber: st.MaskedNumber,
		DocType: ptr(st.DocType), PhotoHint: st.PhotoHint, Assurance: ptr(uint8(st.Assurance)),
		Region: ptr(is.Region), IssuedAt: ptr(unix(st.IssuedAt)), Expiry: ptr(unix(st.Expiry)),
		StatusList: ptr(st.Status.List), StatusIndex: ptr(st.Status.Index), SealedPIN: st.SealedPIN,
	}
	if st.SealedPIN != nil && len(st.SealedPIN) == 0 {
		return "", fmt.Errorf("%w: static: empty sealed PIN (nil for none)", ErrInvalidArgument)
	}
	if _, err := w.check(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	raw, err := is.sign(ctxStatic, marshal(w))
	if err != nil {
		return "", err
	}
	return sealText(KindStatic, raw), nil
}

func (w *staticWire) check() (Static, error) {
	if w.DocType == nil || w.Assurance == nil || w.Region == nil || w.IssuedAt == nil || w.Expiry == nil || w.StatusList == nil || w.StatusIndex == nil {
		return Static{}, malformed("static: missing field")
	}
	if err := checkSubject(w.Subject); err != nil {
		return Static{}, fmt.Errorf("static: %w", err)
	}
	// Masked data only: the number must be masked, and both must be short.
	if w.MaskedName == "" || len(w.MaskedName) > MaxMaskedLen || !utf8.ValidString(w.MaskedName) || !strings.Contains(w.MaskedName, "*") {
		return Static{}, malformed("static: name must be masked and at most %d bytes", MaxMaskedLen)
	}
	if w.MaskedNumber == "" || len(w.MaskedNumber) > MaxMaskedLen || !utf8.ValidString(w.MaskedNumber) || strings.Count(w.MaskedNumber, "*") < len(w.MaskedNumber)/2 {
		return Static{}, malformed("static: number must be at least half masked")
	}
	if len(w.PhotoHint) > MaxClaimLen || !utf8.ValidString(w.PhotoHint) {
		return Static{}, malformed("static: photo hint longer than %d bytes", MaxClaimLen)
	}
	if *w.Assurance < AssuranceDocument || *w.Assurance > AssuranceBiometric {
		return Static{}, malformed("static: assurance level %d out of range", *w.Assurance)
	}
	if w.SealedPIN != nil && (len(w.SealedPIN) == 0 || len(w.SealedPIN) > MaxSealedPINLen) {
		return Static{}, malformed("static: sealed PIN must be 1 to %d bytes", MaxSealedPINLen)
	}
	if !validRegionCode(*w.Region) {
		return Static{}, malformed("static: region %d", *w.Region)
	}
	if *w.IssuedAt == 0 || *w.Expiry <= *w.IssuedAt || *w.Expiry > maxTime {
		return Static{}, malformed("static: validity out of range")
	}
	return Static{
		Subject: w.Subject, MaskedName: w.MaskedName, MaskedNumber: w.MaskedNumber,
		DocType: *w.DocType, PhotoHint: w.PhotoHint, Assurance: int(*w.Assurance), Region: *w.Region,
		IssuedAt: fromUnix(*w.IssuedAt), Expiry: fromUnix(*w.Expiry),
		Status:    StatusRef{Region: *w.Region, List: *w.StatusList, Index: *w.StatusIndex},
		SealedPIN: w.SealedPIN,
	}, nil
}

// DecodeStatic decodes a static code's text WITHOUT verifying it.
func DecodeStatic(text string) (Static, error) {
	st, _, err := decodeStatic(text)
	return st, err
}

func decodeStatic(text string) (Static, signed, error) {
	raw, err := openText(text, KindStatic)
	if err != nil {
		return Static{}, signed{}, err
	}
	s, err := decodeSigned(raw, "static code")
	if err != nil {
		return Static{}, s, err
	}
	var w staticWire
	if err := unmarshal(s.Payload, &w, "static claims"); err != nil {
		return Static{}, s, err
	}
	st, err := w.check()
	return st, s, err
}
