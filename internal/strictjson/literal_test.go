package strictjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzLiteralRun: literalRun, up to thirty-two bytes at a time, stops
// where the byte-by-byte loop stops (a quote, a backslash, a control
// character).
func FuzzLiteralRun(f *testing.F) {
	for _, s := range []string{"", "abc", "0123456789abcdef\"", "é\u2028\xff\x7f\x80 ~", "abcdefg\\h", "abcdefgh\x1f", "\x00", "abcdefghijklmnopqrstuvwxyz\x20\x21\x22", "ab\"cdefghijklmnopqrstuvwxyz", "abcdefghijk\\lmnopqrstuvwxyz", "\xc3\xa9\xff\x80\x1fxxxxxxxxxxxxxxxxxx\"", strings.Repeat("abcdefgh", 9) + "\\" + strings.Repeat("x", 40), strings.Repeat("y", 70) + "\x01",
		"0123456789abcdef", "0123456789abcde\"", "01234567\x1f", "0123456\\89abcdefghijklmnopqrstuvwxyz"} {
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

// FuzzAppendString: AppendString, which copies a run of plain bytes at
// once (plainRun), appends what encoding/json (without HTML escaping)
// writes for any string, invalid UTF-8 included.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", "did:web:node.example%3A8443:issuers:x", "0123456789abcdef\"", "abcdefgh\\ij", "abcdefg\x7f\x80xyz", "é\u2028abcdefgh\xff", "abcdefghij\nklmnopq\x00", "<&>abcdefgh\u2029"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got[1:], want)
		}
	})
}
