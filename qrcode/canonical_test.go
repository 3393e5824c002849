package qrcode

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// longHead re-encodes the head of the CBOR item b one size longer (a
// non-minimal integer, length or count), keeping its content.
func longHead(b []byte) []byte {
	mt, ai := b[0]&0xe0, b[0]&0x1f
	switch {
	case ai < 24:
		return append([]byte{mt | 24, ai}, b[1:]...)
	case ai == 24:
		return append([]byte{mt | 25, 0, b[1]}, b[2:]...)
	case ai == 25:
		return append([]byte{mt | 26, 0, 0, b[1], b[2]}, b[3:]...)
	}
	panic("longHead: head too long for the test")
}

// variants returns other encodings of the same content as raw, a
// canonical CBOR map with small integer keys or an array: a longer head,
// and for a map its keys in reverse order, a longer key and a longer head
// of each value; for an array a longer head of each element. A plain
// (non-strict) decoder reads each to the same content.
func variants(t testing.TB, raw []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{"long outer head": longHead(raw)}
	switch raw[0] >> 5 {
	case 5:
		var m map[int]cbor.RawMessage
		if err := cbor.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		keys := slices.Sorted(func(yield func(int) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
		build := func(order []int, key func(int) []byte, val func(int) []byte) []byte {
			b := []byte{raw[0]}
			for _, k := range order {
				b = append(append(b, key(k)...), val(k)...)
			}
			return b
		}
		plainKey := func(k int) []byte { return []byte{byte(k)} }
		plainVal := func(k int) []byte { return m[k] }
		rev := slices.Clone(keys)
		slices.Reverse(rev)
		out["keys in reverse order"] = build(rev, plainKey, plainVal)
		out["long key"] = build(keys, func(k int) []byte { return longHead([]byte{byte(k)}) }, plainVal)
		for _, lk := range keys {
			out["long head of value "+string(rune('0'+lk))] = build(keys, plainKey, func(k int) []byte {
				if k == lk {
					return longHead(m[k])
				}
				return m[k]
			})
		}
	case 4:
		var a []cbor.RawMessage
		if err := cbor.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		for i := range a {
			b := []byte{raw[0]}
			for j, e := range a {
				if j == i {
					e = longHead(e)
				}
				b = append(b, e...)
			}
			out["long head of element "+string(rune('0'+i))] = b
		}
	default:
		t.Fatalf("variants: not a map or an array: %x", raw[0])
	}
	for name, v := range out {
		var x, y any
		if bytes.Equal(v, raw) || cbor.Unmarshal(v, &x) != nil || cbor.Unmarshal(raw, &y) != nil {
			t.Fatalf("variant %q is not another encoding of the same content", name)
		}
	}
	return out
}

// TestNonCanonicalRefused: every decoder of a wire structure (offline
// code, holder binding and the binding it carries, delegation, static
// code) refuses another encoding of a valid structure's content (keys
// out of order, longer heads) with ErrNonCanonical, which is malformed:
// the outer encoding of an offline code is not covered by the device's
// signature, so it must not be free to change.
func TestNonCanonicalRefused(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	ctx := context.Background()
	want := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNonCanonical) || !errors.Is(err, ErrMalformed) || ErrorCode(err) != "qr_malformed" {
			t.Errorf("%s: %v, want %v", what, err, ErrNonCanonical)
		}
	}
	for _, code := range []string{f.offline(t, 1, nil), f.delegated(t, 2)} {
		raw := body(t, code)
		if _, err := v.Verify(ctx, code, VerifyOptions{Action: ActionPresent}); err != nil {
			t.Fatalf("canonical code: %v", err)
		}
		for name, b := range variants(t, raw) {
			text := reencode(code, b)
			_, _, _, err := DecodeOffline(text)
			want("offline code, "+name, err)
			_, err = v.Verify(ctx, text, VerifyOptions{})
			want("verify offline code, "+name, err)
		}
		// The binding the code carries (key 1), re-encoded inside a
		// canonical outer map.
		var m map[int]cbor.RawMessage
		if err := cbor.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		for name, b := range variants(t, m[1]) {
			m[1] = b
			_, _, _, err := DecodeOffline(reencode(code, marshal(m)))
			want("carried binding, "+name, err)
		}
	}
	for name, b := range variants(t, f.binding) {
		_, err := ParseBinding(b)
		want("holder binding, "+name, err)
	}
	for name, b := range variants(t, f.delegation) {
		_, err := ParseDelegation(b)
		want("delegation, "+name, err)
		_, err = v.VerifyDelegation(ctx, b, f.guardSubj, ActionPresent, f.now)
		want("verify delegation, "+name, err)
	}
	for name, b := range variants(t, body(t, f.static)) {
		text := reencode(f.static, b)
		_, err := DecodeStatic(text)
		want("static code, "+name, err)
		_, err = v.Verify(ctx, text, VerifyOptions{})
		want("verify static code, "+name, err)
	}
}

// TestPresentationID: the ID of an offline code is that of what the
// device signed: the same content signed again (another signature, so
// another text) has the same ID; another presentation has another.
func TestPresentationID(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	ctx := context.Background()
	p := Presentation{Time: f.now, Counter: 7, Audience: "hotel-310115", Claims: []string{"age_over_18"}}
	id := func(r byte, p Presentation) []byte {
		t.Helper()
		c, err := NewOffline(constReader(r), f.device, f.binding, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(ctx, c, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.PresentationID
	}
	a, b := id(1, p), id(2, p)
	if len(a) != 32 || !bytes.Equal(a, b) {
		t.Errorf("same signed content, two signatures: %x %x", a, b)
	}
	p.Counter++
	if c := id(1, p); bytes.Equal(a, c) {
		t.Error("another presentation has the same ID")
	}
}
