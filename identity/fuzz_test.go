package identity

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", "110105491231002", "110105194912310021",
		"810000199408230021", "830000199201300022", "932682198501010017", "KAZ110090123105",
		id18("11010319800101001"), id18("11019919800101001"), id18("19010519800101001"),
		specimenLine1 + "\n" + specimenLine2, specimenLine1 + specimenLine2,
		"", " ", "X", strings.Repeat("9", 18), strings.Repeat("<", 88),
	} {
		f.Add(s)
	}
}

// checkParsed asserts the invariants of any accepted document: it
// round-trips through its normalized number, and formatting never shows
// that number.
func checkParsed(t *testing.T, v *Validator, in string, d Document) {
	t.Helper()
	if d.IsZero() || d.Type() == DocTypeUnknown {
		t.Fatalf("accepted a zero document")
	}
	num := d.Number()
	if strings.Contains(d.String(), num) || strings.Contains(d.GoString(), num) {
		t.Fatalf("String shows the number")
	}
	if b := d.BirthDate(); b.Full() && b.Year < 1900 || !b.Full() && d.Type() != Passport ||
		b.Day != 0 && b.Month == 0 || b.Month != 0 && b.Year == 0 {
		t.Fatalf("bad birth date %v", b)
	}
	var again Document
	var err error
	if d.Type() == Passport {
		again, err = v.Parse(in) // the number alone is not an MRZ
	} else {
		again, err = v.ParseAs(d.Type(), num)
	}
	if err != nil {
		t.Fatalf("round trip of %s: %v", d.Type(), err)
	}
	if !again.Equal(d) || again.Number() != num || again.BirthDate() != d.BirthDate() ||
		again.Sex() != d.Sex() || again.Region() != d.Region() || again.Nationality() != d.Nationality() {
		t.Fatalf("round trip of %s changed the document", d.Type())
	}
	if d.Type() != Passport {
		again, err = v.Parse(num)
		if err != nil || !again.Equal(d) {
			t.Fatalf("Parse(Number()) of %s: %v", d.Type(), err)
		}
	}
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("%v is not a *FieldError", err)
	}
	if fe.Code.Sentinel() == nil || !errors.Is(err, fe.Code.Sentinel()) || fe.Field == "" {
		t.Fatalf("inconsistent error %+v", fe)
	}
}

func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	v := testValidator()
	strict := testValidator()
	strict.Strict = true
	f.Fuzz(func(t *testing.T, in string) {
		for _, vv := range []*Validator{v, strict} {
			d, err := vv.Parse(in)
			if err != nil {
				checkErr(t, err)
				continue
			}
			checkParsed(t, vv, in, d)
		}
	})
}

func FuzzParseAs(f *testing.F) {
	fuzzSeeds(f)
	v := testValidator()
	f.Fuzz(func(t *testing.T, in string) {
		for dt := DocTypeUnknown; dt <= Passport+1; dt++ {
			d, err := v.ParseAs(dt, in)
			if err != nil {
				checkErr(t, err)
				continue
			}
			if d.Type() != dt {
				t.Fatalf("ParseAs(%v) gave %v", dt, d.Type())
			}
			checkParsed(t, v, in, d)
		}
	})
}

func FuzzParseMRZ(f *testing.F) {
	f.Add(specimenLine1, specimenLine2)
	f.Add(mrzLine1("P<D<<MUSTERMANN<<ERIKA"), mrzLine2("C01X00T47", "D<<", "640812", "M", "310101", ""))
	f.Add(mrzLine1("P<UTO"), specimenLine2)
	f.Add(strings.Repeat("<", 44), strings.Repeat("0", 44))
	v := testValidator()
	f.Fuzz(func(t *testing.T, l1, l2 string) {
		d, err := v.ParseMRZ(l1, l2)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkParsed(t, v, l1+"\n"+l2, d)
		if !strings.HasPrefix(d.Number(), l1[2:5]) || d.Surname() == "" {
			t.Fatalf("number or name lost")
		}
		if strings.Contains(d.String(), d.Number()[3:]) {
			t.Fatalf("String shows the document number")
		}
	})
}

func FuzzMaskName(f *testing.F) {
	for _, s := range []string{"张三", "欧阳修远", "John Smith", "买买提·艾力", "", "a", "\xff\xfe", "Jean-Luc O'Neil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := MaskName(name)
		trimmed := strings.TrimSpace(name)
		if utf8.ValidString(trimmed) && utf8.RuneCountInString(got) != utf8.RuneCountInString(trimmed) {
			t.Fatalf("MaskName changed the length: %d -> %d", utf8.RuneCountInString(trimmed), utf8.RuneCountInString(got))
		}
		if utf8.RuneCountInString(trimmed) > 0 && !strings.Contains(got, "*") {
			// only separators
			for _, r := range trimmed {
				if !nameSeparator(r) {
					t.Fatalf("nothing masked")
				}
			}
		}
	})
}

// FuzzNormalizeName: a name NormalizeName takes (untrusted text from an
// enrollment) comes out NFC, within the bounds, as NormalizeName's own
// form (normalizing it again changes nothing), with the canonical form
// CanonicalName gives, itself canonical, and a mask with a '*' (what a
// printed code requires). The seeds are the cases the repertoire names:
// CJK extensions beyond the BMP, the middle dot and its look-alikes,
// NFD, full-width letters, zero-width and bidirectional controls, tag
// characters, letters longer in upper case, invalid UTF-8.
func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{
		"张三", "欧阳娜娜", "𠀀𪚥", "\U00030000\U00031350\U0002EBF0", "阿卜杜热合曼・买买提", "阿卜杜热合曼･买买提", "阿卜杜热合曼•买买提",
		"Mu\u0308ller", "O’Neil-Smith", "  Eriksson \t Anna\nMaria ", "Ａｎｎａ", "ZHANG\u3000WEI", "张\u202e三", "张\u200d三",
		"\ufeff张三", "张三\U000E0041", "\u0301", strings.Repeat("ɐ", 67), "ǅemal", "\u0130lkay", "\uf900", "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeName(in)
		canon, cerr := CanonicalName(in)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("NormalizeName %v, CanonicalName %v: they must agree", err, cerr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("refused with %v, want invalid_name", err)
			}
			return
		}
		if !norm.NFC.IsNormalString(out) || utf8.RuneCountInString(out) > MaxNameRunes || len(out) > MaxNameLen || len(canon) > MaxNameLen {
			t.Fatalf("%q: not NFC or over the bounds", out)
		}
		if again, err := NormalizeName(out); err != nil || again != out {
			t.Fatalf("%q normalized again: %q, %v", out, again, err)
		}
		if c, err := CanonicalName(canon); err != nil || c != canon {
			t.Fatalf("canonical form %q is not canonical: %q, %v", canon, c, err)
		}
		if !strings.Contains(MaskName(out), "*") {
			t.Fatalf("%q masked shows it all: %q", out, MaskName(out))
		}
	})
}

// FuzzMaskNumber: MaskNumber's output is UTF-8 of as many characters as
// its (valid, trimmed, not too long) input, at least half of them '*'.
func FuzzMaskNumber(f *testing.F) {
	for _, s := range []string{"31011519850214002X", "３１０１１５１９８５０２１４００２Ｘ", "L898902C3", "\xff\xfe12345678", " 12 ", "", "名"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := MaskNumber(in)
		n := utf8.RuneCountInString(got)
		if !utf8.ValidString(got) || strings.Count(got, "*") < n-n/2 {
			t.Fatalf("MaskNumber(%q) = %q", in, got)
		}
		if trimmed := strings.TrimSpace(in); utf8.ValidString(trimmed) && utf8.RuneCountInString(trimmed) <= MaxInputLen && n != utf8.RuneCountInString(trimmed) {
			t.Fatalf("MaskNumber(%q) = %q: another length", in, got)
		}
	})
}
