package cose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/trustid-cn/trustid/credentials"
)

// TestSignVerifyCredential issues and verifies a vc+cose with each
// algorithm, and checks the wire form independently of go-cose: a tagged
// COSE_Sign1 whose protected header holds alg, kid, typ and content type
// and whose payload is the credential JSON.
func TestSignVerifyCredential(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	want := map[string]Algorithm{"ES256": -7, "ES384": -35, "ES512": -36, "EdDSA": -8, "SM2": AlgSM2}
	for name, p := range f.parties {
		t.Run(name, func(t *testing.T) {
			doc := credentialDoc(p.did)
			data, err := SignCredential(doc, p.kid, p.key)
			if err != nil {
				t.Fatal(err)
			}
			var tag cbor.Tag
			if err := cbor.Unmarshal(data, &tag); err != nil || tag.Number != 18 {
				t.Fatalf("not a tagged COSE_Sign1: %v %d", err, tag.Number)
			}
			arr := tag.Content.([]any)
			var prot map[int64]any
			if err := cbor.Unmarshal(arr[0].([]byte), &prot); err != nil {
				t.Fatal(err)
			}
			if prot[1] != int64(want[name]) || string(prot[4].([]byte)) != p.kid || prot[16] != MediaTypeVC || prot[3] != ContentTypeVC {
				t.Fatalf("protected header %v", prot)
			}
			if u := arr[1].(map[any]any); len(u) != 0 {
				t.Fatalf("unprotected header %v, want empty", u)
			}
			var payload map[string]any
			if err := json.Unmarshal(arr[2].([]byte), &payload); err != nil || payload["issuer"] != p.did {
				t.Fatalf("payload %v: %v", payload, err)
			}
			c, err := f.v.VerifyCredential(ctx, data)
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != p.did || c.Types[1] != "ExampleDegreeCredential" {
				t.Fatalf("verified %+v", c)
			}
		})
	}
}

// TestVerifyHandBuilt verifies vc+cose built without go-cose (see
// handSign1) for every algorithm: the structure is RFC 9052's, not
// merely what this package's signer produces. Untagged COSE_Sign1 and
// absent typ/content type (both SHOULDs in VC-JOSE-COSE) are accepted.
func TestVerifyHandBuilt(t *testing.T) {
	f := newFixture(t)
	for name, alg := range map[string]Algorithm{"ES256": AlgES256, "ES384": AlgES384, "ES512": AlgES512, "EdDSA": AlgEdDSA, "SM2": AlgSM2} {
		p := f.parties[name]
		payload, _ := json.Marshal(credentialDoc(p.did))
		data := handSign1(t, vcHeaders(alg, p.kid), nil, payload, p.key, alg)
		if _, err := f.v.VerifyCredential(context.Background(), data); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		minimal := handSign1(t, map[int64]any{1: int64(alg)}, map[int64]any{4: []byte(p.kid)}, payload, p.key, alg) // kid unprotected: RFC 9052 §3 allows it
		if _, err := f.v.VerifyCredential(context.Background(), minimal[1:]); err != nil {                          // untagged
			t.Fatalf("%s untagged, no typ: %v", name, err)
		}
	}
}

// TestBadInput: each malformed or unacceptable COSE_Sign1 is refused with
// its own error, and nothing panics.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	es, ed := f.parties["ES256"], f.parties["EdDSA"]
	payload, _ := json.Marshal(credentialDoc(es.did))
	good := handSign1(t, vcHeaders(AlgES256, es.kid), nil, payload, es.key, AlgES256)
	if _, err := f.v.VerifyCredential(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	noAlg := vcHeaders(AlgES256, es.kid)
	delete(noAlg, 1)
	withHdr := func(k int64, v any) map[int64]any {
		h := vcHeaders(AlgES256, es.kid)
		h[k] = v
		return h
	}
	tampered := bytes.Replace(good, []byte("Bachelor"), []byte("Master!!"), 1)
	deep := append([]byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa1, 0x18, 0x63}, bytes.Repeat([]byte{0x81}, 5000)...)
	deep = append(deep, 0x00, 0x40, 0x40)
	expired := credentialDoc(es.did)
	expired["validUntil"] = "2026-02-01T00:00:00Z"
	early := credentialDoc(es.did)
	early["validFrom"] = "2026-12-01T00:00:00Z"
	enc := func(m map[string]any) []byte { b, _ := json.Marshal(m); return b }
	otherIssuer := credentialDoc(ed.did) // issuer ed, kid es

	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"alg only unprotected", handSign1(t, noAlg, map[int64]any{1: int64(AlgES256)}, payload, es.key, AlgES256), ErrUnprotectedAlgorithm},
		{"no alg at all", handSign1(t, noAlg, nil, payload, es.key, AlgES256), ErrUnprotectedAlgorithm},
		{"alg protected and unprotected", handSign1(t, vcHeaders(AlgES256, es.kid), map[int64]any{1: int64(AlgES256)}, payload, es.key, AlgES256), ErrUnprotectedAlgorithm},
		{"unknown alg", handSign1(t, vcHeaders(-65538, es.kid), nil, payload, es.key, -65538), ErrAlgorithm},
		{"alg as text", handSign1(t, withHdr(1, "ES256"), nil, payload, es.key, AlgES256), ErrAlgorithm},
		{"alg not in allow-list (RS256)", handSign1(t, vcHeaders(-257, es.kid), nil, payload, es.key, -257), ErrAlgorithm},
		{"wrong typ", handSign1(t, withHdr(16, "application/vc+jwt"), nil, payload, es.key, AlgES256), ErrType},
		{"vp typ on a credential", handSign1(t, withHdr(16, MediaTypeVP), nil, payload, es.key, AlgES256), ErrType},
		{"typ as a number", handSign1(t, withHdr(16, int64(60)), nil, payload, es.key, AlgES256), ErrType},
		{"wrong content type", handSign1(t, withHdr(3, "application/json"), nil, payload, es.key, AlgES256), ErrType},
		{"crit", handSign1(t, withHdr(2, []any{int64(4)}), nil, payload, es.key, AlgES256), credentials.ErrUnsupported},
		{"kid as text", handSign1(t, withHdr(4, es.kid), nil, payload, es.key, AlgES256), ErrMalformed},
		{"no kid", handSign1(t, map[int64]any{1: int64(-7)}, nil, payload, es.key, AlgES256), credentials.ErrUnknownKey},
		{"kid protected and unprotected", handSign1(t, vcHeaders(AlgES256, es.kid), map[int64]any{4: []byte(es.kid + "x")}, payload, es.key, AlgES256), ErrKeyIDInBothBuckets},
		{"kid protected and the same unprotected", handSign1(t, vcHeaders(AlgES256, es.kid), map[int64]any{4: []byte(es.kid)}, payload, es.key, AlgES256), ErrKeyIDInBothBuckets},
		{"typ protected, another typ unprotected", handSign1(t, vcHeaders(AlgES256, es.kid), map[int64]any{16: MediaTypeVP}, payload, es.key, AlgES256), ErrMalformed},
		{"typ protected and the same unprotected", handSign1(t, vcHeaders(AlgES256, es.kid), map[int64]any{16: MediaTypeVC}, payload, es.key, AlgES256), ErrMalformed},
		{"content type in both", handSign1(t, vcHeaders(AlgES256, es.kid), map[int64]any{3: "application/vp"}, payload, es.key, AlgES256), ErrMalformed},
		{"private label in both", handSign1(t, withHdr(-70000, "a"), map[int64]any{-70000: "b"}, payload, es.key, AlgES256), ErrMalformed},
		{"tampered payload", tampered, ErrSignature},
		{"signature by another key", handSign1(t, vcHeaders(AlgES256, es.kid), nil, payload, newKey(t, "ES256"), AlgES256), ErrSignature},
		{"key of another issuer", handSign1(t, vcHeaders(AlgES256, es.kid), nil, enc(otherIssuer), es.key, AlgES256), credentials.ErrIssuerMismatch},
		{"alg does not fit the key", handSign1(t, vcHeaders(AlgES256, ed.kid), nil, enc(credentialDoc(ed.did)), es.key, AlgES256), ErrAlgorithm},
		{"payload not JSON", handSign1(t, vcHeaders(AlgES256, es.kid), nil, []byte("\xa1\x01\x02"), es.key, AlgES256), ErrMalformed},
		{"payload duplicate key", handSign1(t, vcHeaders(AlgES256, es.kid), nil, []byte(`{"issuer":"a","issuer":"b"}`), es.key, AlgES256), credentials.ErrDuplicateKey},
		{"payload not a credential", handSign1(t, vcHeaders(AlgES256, es.kid), nil, []byte(`{"issuer":"`+es.did+`"}`), es.key, AlgES256), credentials.ErrInvalid},
		{"expired", handSign1(t, vcHeaders(AlgES256, es.kid), nil, enc(expired), es.key, AlgES256), credentials.ErrExpired},
		{"not yet valid", handSign1(t, vcHeaders(AlgES256, es.kid), nil, enc(early), es.key, AlgES256), credentials.ErrNotYetValid},
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("eyJhbGciOiJFUzI1NiJ9.e30.sig"), ErrMalformed},
		{"truncated", good[:len(good)-10], ErrMalformed},
		{"trailing bytes", append(append([]byte{}, good...), 0x00), ErrMalformed},
		{"COSE_Sign (tag 98)", append([]byte{0xd8, 0x62}, good[1:]...), ErrMalformed},
		{"three elements", []byte{0xd2, 0x83, 0x40, 0xa0, 0x40}, ErrMalformed},
		{"detached payload", []byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xf6, 0x41, 0x00}, ErrMalformed},
		{"huge declared length", []byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x5a, 0x7f, 0xff, 0xff, 0xff, 0x00}, ErrMalformed},
		{"deeply nested header", deep, ErrMalformed},
		{"oversized", make([]byte, MaxMessage+1), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.v.VerifyCredential(context.Background(), c.data)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestAllowList: the verifier accepts only the algorithms it names.
func TestAllowList(t *testing.T) {
	f := newFixture(t)
	if _, err := NewVerifier(f.cv, nil); err == nil {
		t.Fatal("an empty allow-list was accepted")
	}
	if _, err := NewVerifier(f.cv, []string{"ES256", "none"}); err == nil {
		t.Fatal("an unknown algorithm name was accepted")
	}
	onlyES, err := NewVerifier(f.cv, []string{"ES256"})
	if err != nil {
		t.Fatal(err)
	}
	sm := f.parties["SM2"]
	data, err := SignCredential(credentialDoc(sm.did), sm.kid, sm.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onlyES.VerifyCredential(context.Background(), data); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("SM2 under an ES256-only verifier: %v", err)
	}
	if _, err := f.v.VerifyCredential(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

// TestSignRefuses: Sign refuses unknown media types, a missing kid and an
// invalid credential.
func TestSignRefuses(t *testing.T) {
	p := newFixture(t).parties["ES256"]
	if _, err := Sign(credentialDoc(p.did), "application/vc+jwt", p.kid, p.key); !errors.Is(err, credentials.ErrUnsupported) {
		t.Fatal(err)
	}
	if _, err := Sign(credentialDoc(p.did), MediaTypeVC, "", p.key); !errors.Is(err, credentials.ErrUnknownKey) {
		t.Fatal(err)
	}
	bad := credentialDoc(p.did)
	delete(bad, "credentialSubject")
	if _, err := SignCredential(bad, p.kid, p.key); !errors.Is(err, credentials.ErrInvalid) {
		t.Fatal(err)
	}
}
