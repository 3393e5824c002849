package strictjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzLiteralRun: literalRun, eight bytes at a time, stops where the
// byte-by-byte loop stops (a quote, a backslash, a control character).
func FuzzLiteralRun(f *testing.F) {
	for _, s := range []string{"", "abc", "0123456789abcdef\"", "é\u2028\xff\x7f\x80 ~", "abcdefg\\h", "abcdefgh\x1f", "\x00", "abcdefghijklmnopqrstuvwxyz\x20\x21\x22"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := 0
		for want < len(b) && literalByte[b[want]] {
			want++
		}
		if got := literalRun(b); got != want {
			t.Fatalf("literalRun(%q) = %d, want %d", b, got, want)
		}
	})
}

// FuzzEqualFold: equalFold compares as fold does, rune by rune, and
// asciiApart, of their first or last bytes, tells apart only keys that
// fold apart (keySet.add).
func FuzzEqualFold(f *testing.F) {
	for _, p := range [][2]string{{"name", "NAME"}, {"k", "\u212a"}, {"@", "`"}, {"[", "{"}, {"s", "\u017f"}, {"a\xff", "A\xff"}, {"ab", "a"}, {"statusPurpose", "statusListIndex"}, {"xs", "X\u017f"}, {"a\xc3", "A\xc3"}, {"\xc3A", "\xc3a"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		want := fold(a) == fold(b)
		if got := equalFold(a, b); got != want {
			t.Fatalf("equalFold(%q, %q) = %v, fold says %v", a, b, got, want)
		}
		if want && a != "" && b != "" && (asciiApart(a[0], b[0]) || asciiApart(a[len(a)-1], b[len(b)-1])) {
			t.Fatalf("asciiApart parts %q and %q, which fold alike", a, b)
		}
	})
}

// TestManyEscapes: a string of many escapes is scanned in linear time
// (each byte searched once for the closing quote): 200,000 escapes of a
// quote or a newline would take minutes otherwise.
func TestManyEscapes(t *testing.T) {
	for _, esc := range []string{`\"`, `\n`, `\u00e9`} {
		doc := []byte(`{"a":"` + strings.Repeat(esc, 200000) + `"}`)
		if err := Check(doc, len(doc)); err != nil {
			t.Fatalf("%s: %v", esc, err)
		}
	}
}

// FuzzAppendString: AppendString writes what encoding/json writes for a
// string without HTML escaping, whatever the bytes (plainRun's eight at a
// time stop where the byte-by-byte loop did), and plainRun stops at the
// first byte plainByte does not mark.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", "https://sh.trustid.example", "0123456789abcdef\"", "é\u2028\u2029\xff\x7f\x80 ~", "abcdefg\\h", "abcdefgh\x1f", "\x00", "qr:redeem credentials:issue", "abcdefgh\xe2\x80\xa8ijklmnop", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := 0
		for want < len(s) && plainByte[s[want]] {
			want++
		}
		if got := plainRun(s); got != want {
			t.Fatalf("plainRun(%q) = %d, want %d", s, got, want)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got, want := AppendString([]byte("x"), s), append([]byte("x"), bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}
