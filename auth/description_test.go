package auth

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSafeDescription: what RFC 6749 §5.2 allows in an error_description
// passes unchanged; every other character, and each byte of invalid
// UTF-8, becomes one '?'. A caller's value quoted in a description is cut
// at a character boundary and quoted without '"'.
func TestSafeDescription(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"grant_type 'x' is not supported": "grant_type 'x' is not supported",
		" !#[]~":                          " !#[]~",
		`say "hi"`:                        "say ?hi?",
		`a\b`:                             "a?b",
		"a\x01b\x7fc\td\ne":               "a?b?c?d?e",
		"密码":                              "??",
		"\xe5\xaf":                        "??", // a cut character: one '?' a byte
		"ok\xffok":                        "ok?ok",
		"…":                               "?",
	} {
		if got := SafeDescription(in); got != want {
			t.Errorf("SafeDescription(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("密", 20)
	if got, want := quoted(long), "'"+strings.Repeat("?", 13)+"...'"; got != want {
		t.Errorf("quoted(%q) = %q, want %q", long, got, want)
	}
	if got := truncate(long); !utf8.ValidString(got) || len(got) > 43 {
		t.Errorf("truncate cut a character: %q", got)
	}
	if got := quoted(`"x"`); got != "'?x?'" {
		t.Errorf("quoted: %q", got)
	}
}

// FuzzSafeDescription: SafeDescription is strings.Map turning each
// character outside %x20-21 / %x23-5B / %x5D-7E into '?', and what it
// returns is all inside that set.
func FuzzSafeDescription(f *testing.F) {
	for _, s := range []string{"", "plain text", `"quoted" \ back`, "密码\x00\x7f", "\xff\xe5\xaf", "grant_type 'a' (supported: b)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeDescription(s)
		want := strings.Map(func(r rune) rune {
			if r >= 0x20 && r <= 0x7e && r != '"' && r != '\\' {
				return r
			}
			return '?'
		}, s)
		if got != want {
			t.Fatalf("SafeDescription(%q) = %q, want %q", s, got, want)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Fatalf("SafeDescription(%q) = %q holds %q", s, got, c)
			}
		}
	})
}
