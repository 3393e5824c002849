package strictjson

import "testing"

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

// FuzzEqualFold: equalFold compares as fold does, rune by rune.
func FuzzEqualFold(f *testing.F) {
	for _, p := range [][2]string{{"name", "NAME"}, {"k", "\u212a"}, {"@", "`"}, {"[", "{"}, {"s", "\u017f"}, {"a\xff", "A\xff"}, {"ab", "a"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := equalFold(a, b), fold(a) == fold(b); got != want {
			t.Fatalf("equalFold(%q, %q) = %v, fold says %v", a, b, got, want)
		}
	})
}
