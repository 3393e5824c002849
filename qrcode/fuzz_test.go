package qrcode

import (
	"context"
	"testing"
)

// Fuzz targets of every decoder of untrusted input. Run each briefly:
//
//	go test -run '^$' -fuzz FuzzDecodeOffline -fuzztime 15s ./qrcode/

func seeds(f *testing.F) *fixture {
	fx := newFixture(f)
	online, _ := NewOnlineCode(constReader(1), 310000)
	for _, s := range []string{fx.offline(f, 1, []byte("challenge")), fx.delegated(f, 2), fx.static, fx.staticPIN, online.String(), "TIDOFF2:", "TIDOFF1:", "TIDON2:00", ""} {
		f.Add(s)
	}
	// Other encodings of valid codes (refused as non-canonical).
	for _, code := range []string{fx.offline(f, 3, nil), fx.delegated(f, 4), fx.static} {
		for _, b := range variants(f, body(f, code)) {
			f.Add(reencode(code, b))
		}
	}
	return fx
}

func FuzzDecodeOffline(f *testing.F) {
	fx := seeds(f)
	v := fx.verifier(f, &MemoryCounters{})
	f.Fuzz(func(t *testing.T, s string) {
		b, d, p, err := DecodeOffline(s)
		if err != nil {
			return
		}
		if b.DeviceKey == nil || p.Time.IsZero() || (d != nil && len(d.Scope) == 0) {
			t.Fatal("decoded without required parts")
		}
		v.Verify(context.Background(), s, VerifyOptions{})
	})
}

func FuzzDecodeOnline(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeOnline(s)
		if err != nil {
			return
		}
		if c.String() != s {
			t.Fatalf("online code is not canonical: %q vs %q", s, c.String())
		}
	})
}

func FuzzDecodeStatic(f *testing.F) {
	fx := seeds(f)
	v := fx.verifier(f, nil)
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := DecodeStatic(s); err != nil {
			return
		}
		v.Verify(context.Background(), s, VerifyOptions{})
	})
}

func FuzzParseBindingDelegation(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.binding)
	f.Add(fx.delegation)
	f.Add([]byte{0x83, 0x48})
	for _, raw := range [][]byte{fx.binding, fx.delegation} {
		for _, b := range variants(f, raw) {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseBinding(b)
		ParseDelegation(b)
	})
}
