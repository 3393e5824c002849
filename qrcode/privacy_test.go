package qrcode

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// TestOfflinePickedClaims: an offline code shows only the claims the
// holder picked for it; the others travel only as salted digests.
func TestOfflinePickedClaims(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	mk := func(claims ...string) string {
		t.Helper()
		s, err := NewOffline(nil, f.device, f.binding, nil, Presentation{Time: f.now, Counter: 1, Claims: claims})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		pick []string
		want map[string]string
	}{
		{nil, nil},
		{[]string{"age_over_18"}, map[string]string{"age_over_18": "true"}},
		{[]string{"age_over_60"}, map[string]string{"age_over_60": "false"}},
		{[]string{"age_over_60", "age_over_18"}, map[string]string{"age_over_18": "true", "age_over_60": "false"}},
	} {
		code := mk(c.pick...)
		r, err := v.VerifyOffline(context.Background(), code, VerifyOptions{})
		if err != nil {
			t.Fatalf("%v: %v", c.pick, err)
		}
		if len(r.Claims) != len(c.want) {
			t.Errorf("%v: claims %v, want %v", c.pick, r.Claims, c.want)
		}
		for k, val := range c.want {
			if r.Claims[k] != val {
				t.Errorf("%v: claims %v, want %v", c.pick, r.Claims, c.want)
			}
		}
		raw := body(t, code)
		for _, name := range []string{"age_over_18", "age_over_60"} {
			if bytes.Contains(raw, []byte(name)) != slices.Contains(c.pick, name) {
				t.Errorf("%v: the code's bytes contain %s: %v", c.pick, name, !slices.Contains(c.pick, name))
			}
		}
		_, _, p, err := DecodeOffline(code)
		if err != nil || len(p.Claims) != len(c.pick) {
			t.Errorf("%v: decoded presentation claims %v (%v)", c.pick, p.Claims, err)
		}
	}
	for _, bad := range [][]string{{"resident"}, {"age_over_18", "age_over_18"}} {
		if _, err := NewOffline(nil, f.device, f.binding, nil, Presentation{Time: f.now, Counter: 1, Claims: bad}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("picking %v: %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// TestOfflineDisclosureTampering: a disclosure must match a digest the
// issuer signed and be covered by the device signature.
func TestOfflineDisclosureTampering(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	code, err := NewOffline(nil, f.device, f.binding, nil, Presentation{Time: f.now, Counter: 1, Claims: []string{"age_over_18"}})
	if err != nil {
		t.Fatal(err)
	}
	var m map[int]cbor.RawMessage
	if err := cbor.Unmarshal(body(t, code), &m); err != nil {
		t.Fatal(err)
	}
	var ds [][]byte
	if err := cbor.Unmarshal(m[5], &ds); err != nil || len(ds) != 1 {
		t.Fatalf("disclosures: %v %d", err, len(ds))
	}
	// A forged value under the same salt matches no digest.
	var d disclosureWire
	if err := cbor.Unmarshal(ds[0], &d); err != nil {
		t.Fatal(err)
	}
	d.Value = "false"
	m[5] = marshal([][]byte{marshal(d)})
	if _, err := v.VerifyOffline(context.Background(), reencode(code, marshal(m)), VerifyOptions{}); !errors.Is(err, ErrSignature) {
		t.Errorf("forged disclosure: %v, want ErrSignature", err)
	}
	// Stripping the disclosure breaks the device signature.
	delete(m, 5)
	if _, err := v.VerifyOffline(context.Background(), reencode(code, marshal(m)), VerifyOptions{}); !errors.Is(err, ErrSignature) {
		t.Errorf("stripped disclosure: %v, want ErrSignature", err)
	}
	// The same disclosure twice.
	m[5] = marshal([][]byte{ds[0], ds[0]})
	if _, err := v.VerifyOffline(context.Background(), reencode(code, marshal(m)), VerifyOptions{}); !errors.Is(err, ErrDuplicateField) {
		t.Errorf("repeated disclosure: %v, want ErrDuplicateField", err)
	}
}
