package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxNameRunes bounds a name, in characters (after normalization).
const MaxNameRunes = 100

// The repertoire of a name. The documents the package accepts print a
// holder's name in Han characters (resident IDs, the Chinese name on
// Hong Kong, Macau and Taiwan permits and on permanent-residence cards,
// minority names transliterated into Han with a middle dot) or in Latin
// letters (the English or Portuguese name on permits, foreigners' names on
// permanent-residence cards, the name of an ICAO passport). So a name is
// made of:
//
//   - letters of the Han script (ideographs, including the CJK extensions,
//     〇 and 々);
//   - Latin letters (upper, lower or title case, with precomposed accents
//     such as é or ü; combining marks are refused after NFC);
//   - the middle dot U+00B7 between the parts of a minority or foreign
//     name; U+30FB (katakana middle dot), U+FF65 (its half-width form) and
//     U+2022 (bullet), which input methods produce for it, are read as it;
//   - a space, a hyphen-minus and an apostrophe U+0027 (U+2019 is read as
//     it) between the parts of a Latin name.
//
// A name starts and ends with a letter, and no two separators (dot,
// space, hyphen, apostrophe) follow each other; a space, hyphen or
// apostrophe has a Latin letter on each side. Everything else — control
// and format characters (bidirectional overrides, zero-width characters,
// the byte order mark, tag characters), combining marks, private-use and
// unassigned code points, digits, symbols and markup — is refused with
// CodeInvalidName.
const (
	middleDot  = '\u00b7'
	apostrophe = '\''
)

// nameSep returns the separator r stands for in a name, or 0.
func nameSep(r rune) rune {
	switch r {
	case middleDot, '\u30fb', '\uff65', '\u2022':
		return middleDot
	case ' ':
		return ' '
	case '-':
		return '-'
	case apostrophe, '\u2019':
		return apostrophe
	}
	return 0
}

// nameLetter reports whether r is a letter a name may hold.
func nameLetter(r rune) bool {
	if r >= 0xff00 && r <= 0xffef { // full- and half-width forms
		return false
	}
	if unicode.Is(unicode.Han, r) {
		return unicode.IsLetter(r) || r == '\u3007'
	}
	return unicode.Is(unicode.Latin, r) && (unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r))
}

// NormalizeName returns a holder's name in the form the node keeps and
// issues in credentials: NFC-normalized, leading and trailing white space
// removed, every inner run of white space one space, the middle-dot and
// apostrophe variants replaced by U+00B7 and U+0027, case kept. It refuses,
// with a *FieldError of CodeInvalidName, a name outside the repertoire
// above, empty, or longer than MaxNameRunes characters or MaxNameLen bytes,
// in this form or in upper case (CanonicalName's form: a few Latin letters,
// such as ɐ U+0250 → Ɐ U+2C6F, take more bytes in upper case), so that
// every name it accepts has a canonical form.
func NormalizeName(name string) (string, error) {
	if len(name) > 4*MaxNameLen || !utf8.ValidString(name) {
		return "", fieldErr(FieldName, CodeInvalidName)
	}
	var b strings.Builder
	prevSep, space, n := true, false, 0
	// prevLatin: the last letter was Latin; needLatin: the last separator
	// was a space, hyphen or apostrophe, which only join Latin letters.
	prevLatin, needLatin := false, false
	for _, r := range norm.NFC.String(name) {
		if r == '\t' || r == '\n' || r == '\r' || r == ' ' || r == '\u3000' {
			space = true
			continue
		}
		sep := nameSep(r)
		if space {
			if prevSep || sep != 0 {
				if n == 0 { // leading white space
					space = false
				} else {
					return "", fieldErr(FieldName, CodeInvalidName)
				}
			} else {
				if !prevLatin {
					return "", fieldErr(FieldName, CodeInvalidName)
				}
				b.WriteByte(' ')
				prevSep, needLatin, n = true, true, n+1
			}
			space = false
		}
		switch {
		case sep != 0:
			if prevSep || sep != middleDot && !prevLatin {
				return "", fieldErr(FieldName, CodeInvalidName)
			}
			b.WriteRune(sep)
			prevSep, needLatin = true, sep != middleDot
		case nameLetter(r):
			latin := !unicode.Is(unicode.Han, r)
			if needLatin && !latin {
				return "", fieldErr(FieldName, CodeInvalidName)
			}
			b.WriteRune(r)
			prevSep, prevLatin, needLatin = false, latin, false
		default:
			return "", fieldErr(FieldName, CodeInvalidName)
		}
		n++
	}
	out := b.String()
	if out == "" || prevSep || n > MaxNameRunes || len(out) > MaxNameLen || upperLen(out) > MaxNameLen {
		return "", fieldErr(FieldName, CodeInvalidName)
	}
	return out, nil
}

// upperLen is the length in bytes of s upper-cased as CanonicalName does.
func upperLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf8.RuneLen(unicode.ToUpper(r))
	}
	return n
}
