package cose

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// TestMessageSizeBound: a well-formed, validly signed COSE_Sign1 of
// exactly MaxMessage bytes verifies; one byte more is refused (padded in
// an unprotected header parameter, which the signature does not cover).
func TestMessageSizeBound(t *testing.T) {
	f := newFixture(t)
	es := f.parties["ES256"]
	payload, _ := json.Marshal(credentialDoc(es.did))
	sized := func(pad int) []byte {
		return handSign1(t, vcHeaders(AlgES256, es.kid), map[int64]any{99: make([]byte, pad)}, payload, es.key, AlgES256)
	}
	const pad0 = 100_000
	pad := pad0 + MaxMessage - len(sized(pad0))
	at := sized(pad)
	if len(at) != MaxMessage {
		t.Fatalf("built %d bytes, want %d", len(at), MaxMessage)
	}
	if _, err := f.v.VerifyCredential(context.Background(), at); err != nil {
		t.Fatalf("MaxMessage bytes: %v", err)
	}
	if _, err := f.v.VerifyCredential(context.Background(), sized(pad+1)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("MaxMessage+1 bytes: %v, want ErrMalformed", err)
	}
}

// TestKidNotUTF8: a kid byte string that is not UTF-8 is malformed.
func TestKidNotUTF8(t *testing.T) {
	f := newFixture(t)
	es := f.parties["ES256"]
	payload, _ := json.Marshal(credentialDoc(es.did))
	data := handSign1(t, vcHeaders(AlgES256, "\xff\xfe"), nil, payload, es.key, AlgES256)
	if _, err := f.v.VerifyCredential(context.Background(), data); !errors.Is(err, ErrMalformed) {
		t.Fatalf("kid not UTF-8: %v, want ErrMalformed", err)
	}
}
