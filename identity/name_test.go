package identity

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"张三":                        "张三",
		"  张三\t":                    "张三",
		"欧阳娜娜":                      "欧阳娜娜",
		"阿卜杜热合曼·买买提":                "阿卜杜热合曼·买买提",
		"阿卜杜热合曼・买买提":                "阿卜杜热合曼·买买提", // U+30FB
		"阿卜杜热合曼･买买提":                "阿卜杜热合曼·买买提", // U+FF65
		"阿卜杜热合曼•买买提":                "阿卜杜热合曼·买买提", // U+2022
		"〇一":                        "〇一",
		"Eriksson  Anna\nMaria":     "Eriksson Anna Maria",
		"O'Neil-Smith":              "O'Neil-Smith",
		"O’Neil":                    "O'Neil",
		"Müller":                    "Müller",
		"Mu\u0308ller":              "Müller", // NFC composes the diaeresis
		"José María García Márquez": "José María García Márquez",
		"ZHANG WEI":                 "ZHANG WEI",
		"𠀀𪚥":                        "𠀀𪚥", // CJK extension B
	} {
		if got, err := NormalizeName(in); err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestNameRepertoire refuses the fourteen hostile names a relying party
// had enrolled and signed, and other names outside the repertoire.
func TestNameRepertoire(t *testing.T) {
	hostile := []string{
		"张\u202e三",               // right-to-left override
		"\u202eAnna",             // right-to-left override at the start
		"张\u200e三",               // left-to-right mark
		"张\u200f三",               // right-to-left mark
		"张\u200b三",               // zero-width space
		"张\u200d三",               // zero-width joiner
		"张\u200c三",               // zero-width non-joiner
		"\ufeff张三",               // byte order mark
		"张三\U000E0041\U000E007F", // tag characters
		"\u0301\u0308",           // combining marks only
		"张\ue000三",               // private use
		"张\U000F0000",            // supplementary private use
		"张\u0378三",               // unassigned
		"<script>alert(1)</script>",
	}
	other := []string{
		"", "   ", "a\x00b", "a\x7fb", "\xff",
		"张三1", "Anna!", "·张三", "张三·", "张··三", "Anna - Maria", "O''Neil", "Ａｎｎａ", // full-width
		"Иван", "محمد", "김철수", "やまだ", "a\u2028b", "张\u3000\u0301",
		// A space, hyphen or apostrophe joins parts of a Latin name only:
		// "张 三" is not the name a resident ID prints, and would bind
		// another canonical name than "张三".
		"张 三", "张\u3000三", "张-三", "张'三", "张’三", "Anna 张", "张 Anna", "欧阳-Anna", "Anna-张",
	}
	for _, in := range append(hostile, other...) {
		_, err := NormalizeName(in)
		var fe *FieldError
		if !errors.Is(err, ErrInvalidName) || !errors.As(err, &fe) || fe.Code != CodeInvalidName {
			t.Errorf("NormalizeName(%q): %v, want invalid_name", in, err)
		}
		if _, err := CanonicalName(in); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CanonicalName(%q): %v, want invalid_name", in, err)
		}
	}
	if len(hostile) != 14 {
		t.Fatalf("%d hostile names", len(hostile))
	}
	// The bounds: MaxNameRunes characters and MaxNameLen bytes.
	for _, in := range []string{strings.Repeat("a", MaxNameRunes), strings.Repeat("名", MaxNameLen/3)} {
		if _, err := NormalizeName(in); err != nil {
			t.Errorf("longest name %q: %v", in, err)
		}
	}
	for _, in := range []string{strings.Repeat("a", MaxNameRunes+1), strings.Repeat("名", MaxNameLen/3+1)} {
		if _, err := NormalizeName(in); !errors.Is(err, ErrInvalidName) {
			t.Errorf("too long %q: %v", in, err)
		}
	}
}

// TestNameBoundInUpperCase: the byte bound holds for the canonical
// (upper-case) form too, so a name NormalizeName accepts always has one:
// ɐ (U+0250, 2 bytes) is Ɐ (U+2C6F, 3 bytes) in upper case. Before,
// NormalizeName took 67 of them (134 bytes) and CanonicalName refused
// them (201 bytes), so enrollment, which checks the name with the first
// and assesses it with the second, failed with an internal error after
// spending the device proofs.
func TestNameBoundInUpperCase(t *testing.T) {
	for _, in := range []string{strings.Repeat("ɐ", 66), strings.Repeat("ɐ", 67), strings.Repeat("ɐ", 100), "A" + strings.Repeat("ɐ", 66)} {
		_, nerr := NormalizeName(in)
		canon, cerr := CanonicalName(in)
		if (nerr == nil) != (cerr == nil) {
			t.Errorf("%d bytes: NormalizeName %v, CanonicalName %v: they must agree", len(in), nerr, cerr)
		}
		if want := len(strings.Map(unicode.ToUpper, in)) <= MaxNameLen; (nerr == nil) != want {
			t.Errorf("%d bytes (%d in upper case): NormalizeName %v", len(in), len(canon), nerr)
		}
	}
}
