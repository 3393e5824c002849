package identity

import (
	"strings"
	"time"
)

// MaxInputLen is the largest input, in bytes, that Parse looks at. Longer
// input is refused before any other work with CodeInputTooLarge.
const MaxInputLen = 200

// Validator parses and validates documents. The zero Validator is ready to
// use and is what the package-level Parse and ParseAs use: real clock, and
// unknown county codes and nationalities accepted (reported through
// Region.Known). A Validator is safe for concurrent use if Now is.
type Validator struct {
	// Now returns the current time; nil means time.Now. Birth dates after
	// today (the calendar date at UTC+14, the earliest time zone, so that
	// no one born "today" anywhere is refused) are rejected, and two-digit
	// years are resolved against it.
	Now func() time.Time

	// Strict rejects an address code found in no GB/T 2260 table, current
	// or historical (CodeUnknownAddressCode), and a foreigner's card whose
	// nationality is not in the embedded ISO 3166-1 table
	// (CodeUnknownNationality).
	Strict bool

	// RejectExpired rejects a passport whose date of expiry is before
	// today (UTC) with CodeDocumentExpired.
	RejectExpired bool
}

var defaultValidator Validator

// Parse detects the type of a document and parses it with the zero
// Validator. See Validator.Parse.
func Parse(input string) (Document, error) { return defaultValidator.Parse(input) }

// ParseAs parses input as a document of type t with the zero Validator.
// See Validator.ParseAs.
func ParseAs(t DocType, input string) (Document, error) { return defaultValidator.ParseAs(t, input) }

// Parse detects the type of a document from its shape and parses it:
//
//   - 18 characters: a foreigner's 2023 card if it starts with 9, an HMT
//     residence permit if its address code is 810000, 820000 or 830000,
//     else a resident ID;
//   - 15 digits: a legacy resident ID, normalized to 18;
//   - 3 letters and 12 digits: a foreigner's 2017 card;
//   - two MRZ lines of 44 characters (separated by a line break, or
//     concatenated): a TD3 passport.
//
// Surrounding white space is trimmed; input longer than MaxInputLen bytes
// is refused first. Errors are *FieldError values (see Codes for the
// order of checks: length, characters, check characters, then meaning).
func (v *Validator) Parse(input string) (Document, error) {
	if len(input) > MaxInputLen {
		return Document{}, fieldErr(FieldInput, CodeInputTooLarge)
	}
	s := strings.TrimSpace(input)
	t, err := detect(s)
	if err != nil {
		return Document{}, err
	}
	return v.parse(t, s)
}

// ParseAs parses input as a document of type t, with the same rules as
// Parse. ResidentID accepts 15-digit legacy numbers. A well-formed number
// of another type is refused with CodeWrongDocumentType.
func (v *Validator) ParseAs(t DocType, input string) (Document, error) {
	if len(input) > MaxInputLen {
		return Document{}, fieldErr(FieldInput, CodeInputTooLarge)
	}
	if t == DocTypeUnknown || int(t) >= len(docTypeNames) {
		return Document{}, fieldErr(FieldInput, CodeUnsupportedDocument)
	}
	s := strings.TrimSpace(input)
	got, err := detect(s)
	if err != nil {
		return Document{}, err
	}
	if got != t {
		return Document{}, fieldErr(FieldInput, CodeWrongDocumentType)
	}
	return v.parse(t, s)
}

func (v *Validator) parse(t DocType, s string) (Document, error) {
	switch t {
	case ResidentID:
		if len(s) == 15 {
			return v.parseLegacy(s)
		}
		return v.parse18(ResidentID, s)
	case HMTPermit, ForeignPermanent2023:
		return v.parse18(t, s)
	case ForeignPermanent2017:
		return v.parseForeign2017(s)
	case Passport:
		l1, l2, err := splitMRZ(s)
		if err != nil {
			return Document{}, err
		}
		return v.ParseMRZ(l1, l2)
	}
	return Document{}, fieldErr(FieldInput, CodeUnsupportedDocument)
}

// detect classifies trimmed input by its shape only.
func detect(s string) (DocType, error) {
	switch {
	case len(s) == 18:
		switch {
		case s[0] == '9':
			return ForeignPermanent2023, nil
		case permitCode(s):
			return HMTPermit, nil
		}
		return ResidentID, nil
	case len(s) == 15:
		if isLetter(s[0]) || isLetter(s[1]) || isLetter(s[2]) {
			return ForeignPermanent2017, nil
		}
		return ResidentID, nil
	case strings.IndexByte(s, '\n') >= 0 || len(s) == 2*mrzLineLen:
		return Passport, nil
	}
	return DocTypeUnknown, fieldErr(FieldInput, CodeInvalidLength)
}

// permitCode reports whether s starts with the address code of an HMT
// residence permit: 810000 (Hong Kong), 820000 (Macau), 830000 (Taiwan).
func permitCode(s string) bool {
	return s[:6] == "810000" || s[:6] == "820000" || s[:6] == "830000"
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// now returns the Validator's current time.
func (v *Validator) now() time.Time {
	if v != nil && v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// birthToday is the date birth dates are checked against: the calendar
// date at UTC+14, where the day starts first.
func birthToday(now time.Time) civil {
	return civilOf(now.UTC().Add(14 * time.Hour))
}

// checkBirth applies the birth date rules: a calendar date, from
// 1900-01-01, not after today.
func checkBirth(y, m, d int, today civil) (civil, error) {
	if !validDate(y, m, d) {
		return civil{}, fieldErr(FieldBirthDate, CodeInvalidBirthDate)
	}
	c := civil{int16(y), uint8(m), uint8(d)}
	if y < 1900 {
		return civil{}, fieldErr(FieldBirthDate, CodeBirthDateBefore1900)
	}
	if c.key() > today.key() {
		return civil{}, fieldErr(FieldBirthDate, CodeFutureBirthDate)
	}
	return c, nil
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// parse18 parses the GB 11643-1999 shape shared by resident IDs, HMT
// permits and the 2023 foreigners' card: 17 digits and a MOD 11-2 check
// character.
func (v *Validator) parse18(t DocType, s string) (Document, error) {
	for i := 0; i < 17; i++ {
		if !isDigit(s[i]) {
			return Document{}, fieldErr(FieldNumber, CodeInvalidCharacter)
		}
	}
	last := s[17]
	if last == 'x' {
		last = 'X'
	}
	if !isDigit(last) && last != 'X' {
		return Document{}, fieldErr(FieldNumber, CodeInvalidCharacter)
	}
	if Mod112(s[:17]) != last {
		return Document{}, fieldErr(FieldCheckCharacter, CodeCheckDigitMismatch)
	}
	dd := &docData{typ: t, n: 18}
	copy(dd.num[:], s)
	dd.num[17] = last

	tb := data()
	switch t {
	case ForeignPermanent2023:
		// 9, issuing province (2), nationality ISO 3166-1 numeric (3),
		// birth date (8), sequence (3), MOD 11-2 check.
		prov := uint32(atoi(s[1:3]))
		if !tb.provinceKnown(prov) {
			return Document{}, fieldErr(FieldProvince, CodeUnknownProvince)
		}
		birth, err := checkBirth(atoi(s[6:10]), atoi(s[10:12]), atoi(s[12:14]), birthToday(v.now()))
		if err != nil {
			return Document{}, err
		}
		dd.birth = birth
		num := uint16(atoi(s[3:6]))
		if a3, ok := tb.numeric[num]; ok {
			dd.nationality = a3
		} else if v.Strict {
			return Document{}, fieldErr(FieldNationality, CodeUnknownNationality)
		} else {
			dd.nationality = s[3:6]
		}
		dd.code = prov * 10000
		dd.region.Province, _ = tb.name(dd.code, int(birth.y))
		dd.region.Known = true
		return newDocument(dd), nil
	}

	code := uint32(atoi(s[:6]))
	if t == ResidentID && !tb.provinceKnown(code/10000) {
		return Document{}, fieldErr(FieldAddressCode, CodeUnknownProvince)
	}
	birth, err := checkBirth(atoi(s[6:10]), atoi(s[10:12]), atoi(s[12:14]), birthToday(v.now()))
	if err != nil {
		return Document{}, err
	}
	dd.birth = birth
	dd.code = code
	dd.region = tb.region(code, int(birth.y))
	if !dd.region.Known && v.Strict {
		return Document{}, fieldErr(FieldAddressCode, CodeUnknownAddressCode)
	}
	if (s[16]-'0')%2 == 1 {
		dd.sex = Male
	} else {
		dd.sex = Female
	}
	dd.nationality = "CHN"
	return newDocument(dd), nil
}

// parseLegacy normalizes a 15-digit first-generation number (address code,
// YYMMDD birth date in the 1900s, 3-digit sequence) to 18 digits: "19" is
// inserted before the year and the MOD 11-2 check character appended.
func (v *Validator) parseLegacy(s string) (Document, error) {
	for i := 0; i < 15; i++ {
		if !isDigit(s[i]) {
			return Document{}, fieldErr(FieldNumber, CodeInvalidCharacter)
		}
	}
	if permitCode(s) {
		// Residence permits were never issued with 15 digits, and an 18-digit
		// number with this address code is a permit, not a resident ID.
		return Document{}, fieldErr(FieldAddressCode, CodeUnknownAddressCode)
	}
	var b [18]byte
	copy(b[:6], s[:6])
	b[6], b[7] = '1', '9'
	copy(b[8:17], s[6:15])
	b[17] = Mod112(string(b[:17]))
	return v.parse18(ResidentID, string(b[:]))
}

// parseForeign2017 parses the 15-character number of the 2017 foreigners'
// permanent residence ID card:
//
//	positions  1-3   nationality, ISO 3166-1 alpha-3 letters
//	           4-7   issuing-place code; its first two digits are the GB/T
//	                 2260 province of issue (the last two are kept in the
//	                 number but not interpreted)
//	           8-13  birth date YYMMDD
//	           14    sequence
//	           15    check digit: weights 7, 3, 1 repeating over positions
//	                 1-14, letters A-Z valued 10-35 (as in ICAO 9303),
//	                 sum mod 10
//
// No official specification was found. The layout and algorithm follow
// public implementers' notes on the National Immigration Administration's
// adaptation guide: "外国人永久居留身份证15位校验c#版",
// https://blog.csdn.net/qq_40127027/article/details/134637596 (7-3-1
// weights, letters as 10-35, mod 10) and
// https://blog.csdn.net/weixin_47180815/article/details/134553563 (layout
// [A-Z]{3} + 4 digits + YYMMDD + 2 digits, and the example
// KAZ110090123105, which satisfies that check). The 2023 guide
// (http://www.eastcoms.com/service/pro/840.html) confirms 3 letters + 12
// digits. Whether the sequence encodes sex is not documented: Sex is
// SexUnknown. The two-digit birth year is the latest century that does not
// put the birth date after today.
func (v *Validator) parseForeign2017(s string) (Document, error) {
	var b [15]byte
	for i := 0; i < 15; i++ {
		c := s[i]
		if i < 3 {
			if !isLetter(c) {
				return Document{}, fieldErr(FieldNumber, CodeInvalidCharacter)
			}
			c &^= 0x20 // upper case
		} else if !isDigit(c) {
			return Document{}, fieldErr(FieldNumber, CodeInvalidCharacter)
		}
		b[i] = c
	}
	sum, _, _ := icaoSum(string(b[:14]), 0, 0)
	if byte('0'+sum%10) != b[14] {
		return Document{}, fieldErr(FieldCheckCharacter, CodeCheckDigitMismatch)
	}
	tb := data()
	prov := uint32(atoi(string(b[3:5])))
	if !tb.provinceKnown(prov) {
		return Document{}, fieldErr(FieldProvince, CodeUnknownProvince)
	}
	today := birthToday(v.now())
	yy, mm, d := atoi(string(b[7:9])), atoi(string(b[9:11])), atoi(string(b[11:13]))
	birth, err := checkBirth(pivotPast(yy, mm, d, today), mm, d, today)
	if err != nil {
		return Document{}, err
	}
	dd := &docData{typ: ForeignPermanent2017, n: 15, birth: birth, code: prov * 10000}
	copy(dd.num[:], b[:])
	a3, ok := tb.alpha3[string(b[:3])]
	if !ok {
		if v.Strict {
			return Document{}, fieldErr(FieldNationality, CodeUnknownNationality)
		}
		a3 = string(b[:3])
	}
	dd.nationality = a3
	dd.region.Province, _ = tb.name(dd.code, int(birth.y))
	dd.region.Known = true
	return newDocument(dd), nil
}

// pivotPast resolves a two-digit year to the latest year ending in yy
// whose date mm-dd is not after today.
func pivotPast(yy, mm, dd int, today civil) int {
	y := int(today.y) - (int(today.y)%100-yy+100)%100
	if y*10000+mm*100+dd > today.key() {
		y -= 100
	}
	return y
}
