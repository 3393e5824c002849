package jose

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/trustid-cn/trustid/internal/b64url"
)

// FuzzAppendDecode holds appendDecode to b64url's decoder (the standard
// library's strict one, refusing line breaks): the same bytes appended,
// the same error, and dst's bytes left as they were.
func FuzzAppendDecode(f *testing.F) {
	for _, s := range []string{"", "A", "AA", "AB", "AAA", "AAB", "AAAA", "eyJhbGciOiJTTTIifQ", "_-_-", "AA==", "AAAA\nAAAA", "AAAA\r\n", "AA\nA", "a+/b", "AAAAA", "eyJhbGciOiJTTTIiLCJ0eXAiOiJ2Yytqd3QifQ", "AAAAAAAAAAAAAAAAAAAA\nAAAA", "AAAAAAAAAAAAAAA=AAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"} {
		f.Add([]byte("pre"), []byte(s))
	}
	f.Add([]byte{}, []byte(base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff, 0x00}, 40))))
	f.Fuzz(func(t *testing.T, dst, src []byte) {
		want, wantErr := b64url.AppendDecode(bytes.Clone(dst), src)
		got, err := appendDecode(bytes.Clone(dst), src)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("appendDecode(%q): error %v, want %v", src, err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("appendDecode(%q) = %x, want %x", src, got, want)
		}
		if err == nil && !bytes.Equal(got[:len(dst)], dst) {
			t.Fatalf("appendDecode changed dst")
		}
	})
}

// TestAppendDecodeInPlace: with room in dst, appendDecode writes there
// (Parse decodes the three parts into one buffer).
func TestAppendDecodeInPlace(t *testing.T) {
	buf := make([]byte, 2, 64)
	got, err := appendDecode(buf, []byte("eyJhbGciOiJTTTIifQ"))
	if err != nil || string(got[2:]) != `{"alg":"SM2"}` || &got[0] != &buf[0] {
		t.Fatalf("%q %v", got, err)
	}
}

func BenchmarkAppendDecode(b *testing.B) {
	src := []byte(base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), 64)))
	dst := make([]byte, 0, len(src))
	b.Run("jose", func(b *testing.B) {
		for b.Loop() {
			appendDecode(dst, src)
		}
	})
	b.Run("std", func(b *testing.B) {
		for b.Loop() {
			base64.RawURLEncoding.Strict().AppendDecode(dst, src)
		}
	})
}
