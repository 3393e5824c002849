package qrcode

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestStaticSealedPIN: key 12 round-trips; a code without it decodes with
// no verifier and carries no key 12; a verifier that predates key 12 (a
// strict decoder of keys 1 to 11) refuses a code with it as an unknown
// field, and still reads one without it.
func TestStaticSealedPIN(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	res, err := v.VerifyStatic(context.Background(), f.staticPIN)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Static.SealedPIN, bytes.Repeat([]byte{0xc3}, 63)) || res.Static.Status.Index != 10 {
		t.Errorf("sealed PIN %x, status %+v", res.Static.SealedPIN, res.Static.Status)
	}
	plain, err := DecodeStatic(f.static)
	if err != nil || plain.SealedPIN != nil {
		t.Fatalf("static code without a PIN: %v, %x", err, plain.SealedPIN)
	}

	// The decoder of keys 1 to 11 that verifiers used before key 12.
	type oldStaticWire struct {
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
	}
	old := func(text string) error {
		s, err := decodeSigned(body(t, text), "static code")
		if err != nil {
			t.Fatal(err)
		}
		var w oldStaticWire
		return unmarshal(s.Payload, &w, "static claims")
	}
	if err := old(f.static); err != nil {
		t.Errorf("an old verifier refuses a code without key 12: %v", err)
	}
	if err := old(f.staticPIN); !errors.Is(err, ErrUnknownField) {
		t.Errorf("an old verifier reading a code with key 12: %v, want ErrUnknownField", err)
	}

	for name, pin := range map[string][]byte{"empty": {}, "too long": make([]byte, MaxSealedPINLen+1)} {
		st, _ := DecodeStatic(f.static)
		st.SealedPIN = pin
		if _, err := f.issuer.IssueStatic(st); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s sealed PIN: %v", name, err)
		}
	}
}
