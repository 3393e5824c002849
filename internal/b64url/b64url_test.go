package b64url

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

func TestRefusesWhatTheStandardLibrarySkips(t *testing.T) {
	for _, in := range []string{
		"aGVs\nbG8", "aGVs\r\nbG8", "\naGVsbG8", "aGVsbG8\n", "aGVsbG8\r",
	} {
		if b, err := base64.RawURLEncoding.Strict().DecodeString(in); err != nil || string(b) != "hello" {
			t.Fatalf("%q: the standard library no longer skips line breaks (%q, %v): this package may be unneeded", in, b, err)
		}
		var corrupt base64.CorruptInputError
		if _, err := DecodeString(in); !errors.As(err, &corrupt) {
			t.Errorf("DecodeString(%q) = %v, want a CorruptInputError", in, err)
		}
		if _, err := Decode(make([]byte, 16), []byte(in)); !errors.As(err, &corrupt) {
			t.Errorf("Decode(%q) = %v, want a CorruptInputError", in, err)
		}
		if out, err := AppendDecode([]byte("x"), []byte(in)); !errors.As(err, &corrupt) || string(out) != "x" {
			t.Errorf("AppendDecode(%q) = %q, %v, want x and a CorruptInputError", in, out, err)
		}
	}
}

func TestStrictOtherwise(t *testing.T) {
	for _, in := range []string{"aGVsbG8=", "aGVsbG9", "aGVs bG8", "aGVs+G8", "a", "aGVsbG8gd29ybGQ*"} {
		if _, err := DecodeString(in); err == nil {
			t.Errorf("DecodeString(%q) accepted", in)
		}
		if out, err := AppendDecode([]byte("x"), []byte(in)); err == nil || string(out) != "x" {
			t.Errorf("AppendDecode(x, %q) = %q, %v, want x and an error", in, out, err)
		}
	}
	for in, want := range map[string]string{"": "", "aGVsbG8": "hello", "_-8": "\xff\xef"} {
		got, err := DecodeString(in)
		if err != nil || string(got) != want {
			t.Errorf("DecodeString(%q) = %q, %v, want %q", in, got, err, want)
		}
		n, err := Decode(make([]byte, DecodedLen(len(in))), []byte(in))
		if err != nil || n != len(want) {
			t.Errorf("Decode(%q) = %d, %v", in, n, err)
		}
	}
}

// FuzzDecode holds the three functions to one rule: the standard
// library's strict decoder on input without line breaks, a refusal with
// them, and one encoding for each value.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "aGVsbG8", "aGVs\nbG8", "_-8", "aGVsbG8="} {
		f.Add(s)
	}
	std := base64.RawURLEncoding.Strict()
	f.Fuzz(func(t *testing.T, s string) {
		got, err := DecodeString(s)
		b, err2 := AppendDecode(nil, []byte(s))
		dst := make([]byte, DecodedLen(len(s)))
		n, err3 := Decode(dst, []byte(s))
		if (err == nil) != (err2 == nil) || (err == nil) != (err3 == nil) {
			t.Fatalf("%q: DecodeString %v, AppendDecode %v, Decode %v", s, err, err2, err3)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(got, b) || !bytes.Equal(got, dst[:n]) {
			t.Fatalf("%q: the three disagree", s)
		}
		want, werr := std.DecodeString(s)
		if werr != nil || !bytes.Equal(got, want) {
			t.Fatalf("%q: %x, the standard library %x, %v", s, got, want, werr)
		}
		if enc := base64.RawURLEncoding.EncodeToString(got); enc != s {
			t.Fatalf("%q decodes to %x, which encodes as %q: two encodings of one value", s, got, enc)
		}
	})
}

// TestLineBreakOffset: the error's offset is that of the first line
// break, '\n' or '\r', as the standard library's is that of the first
// byte it refuses.
func TestLineBreakOffset(t *testing.T) {
	for in, want := range map[string]base64.CorruptInputError{"aGVs\nbG8\r": 4, "aGVs\rbG8\n": 4, "aG\r\nVs": 2, "aGVsbG8\n": 7} {
		if _, err := DecodeString(in); err != want {
			t.Errorf("DecodeString(%q) = %v, want %v", in, err, want)
		}
		if _, err := Decode(make([]byte, 16), []byte(in)); err != want {
			t.Errorf("Decode(%q) = %v, want %v", in, err, want)
		}
		if _, err := AppendDecode(nil, []byte(in)); err != want {
			t.Errorf("AppendDecode(%q) = %v, want %v", in, err, want)
		}
	}
}
