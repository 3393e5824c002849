package identity

import "strings"

// mrzLineLen is the length of a TD3 (passport) MRZ line.
const mrzLineLen = 44

// splitMRZ splits trimmed input into two MRZ lines: separated by a line
// break (\n or \r\n, white space around each line trimmed) or concatenated
// as 88 characters.
func splitMRZ(s string) (string, string, error) {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		l1, l2 := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		if strings.IndexByte(l2, '\n') >= 0 {
			return "", "", fieldErr(FieldInput, CodeInvalidLength)
		}
		return l1, l2, nil
	}
	if len(s) == 2*mrzLineLen {
		return s[:mrzLineLen], s[mrzLineLen:], nil
	}
	return "", "", fieldErr(FieldInput, CodeInvalidLength)
}

// ParseMRZ parses the two lines of the machine-readable zone of a TD3
// passport (ICAO Doc 9303 Part 4), with the rules of the Validator.
//
// Line 1: document code P and a type character, issuing state, name
// (primary and secondary identifiers separated by "<<"). Line 2: document
// number and check digit, nationality, birth date YYMMDD and check digit,
// sex, expiry date YYMMDD and check digit, optional data (personal number)
// and check digit, composite check digit over positions 1-10, 14-20 and
// 22-43. Every check digit is verified (weights 7, 3, 1; see
// ICAOCheckDigit); an empty optional data field may have '<' as its check
// digit. Only the characters 0-9, A-Z and < are allowed.
//
// Two-digit birth years take the latest century that does not put the
// birth date after today; expiry years take the century that puts the
// year within 50 years of today.
func (v *Validator) ParseMRZ(line1, line2 string) (Document, error) {
	if len(line1)+len(line2) > MaxInputLen {
		return Document{}, fieldErr(FieldInput, CodeInputTooLarge)
	}
	if len(line1) != mrzLineLen || len(line2) != mrzLineLen {
		return Document{}, fieldErr(FieldInput, CodeInvalidLength)
	}
	for i := 0; i < mrzLineLen; i++ {
		if icaoValue(line1[i]) < 0 || icaoValue(line2[i]) < 0 {
			return Document{}, fieldErr(FieldInput, CodeInvalidCharacter)
		}
	}
	if line1[0] != 'P' {
		return Document{}, fieldErr(FieldDocumentCode, CodeUnsupportedDocument)
	}
	state := line1[2:5]
	if !mrzCode(state) {
		return Document{}, fieldErr(FieldIssuingState, CodeInvalidCharacter)
	}
	surname, given, ok := mrzName(line1[5:])
	if !ok {
		return Document{}, fieldErr(FieldName, CodeInvalidName)
	}

	docNum, docCheck := line2[0:9], line2[9]
	nat := line2[10:13]
	birthF, birthCheck := line2[13:19], line2[19]
	sexC := line2[20]
	expF, expCheck := line2[21:27], line2[27]
	opt, optCheck := line2[28:42], line2[42]
	composite := line2[43]

	num := strings.TrimRight(docNum, "<")
	if num == "" || strings.IndexByte(num, '<') >= 0 {
		return Document{}, fieldErr(FieldDocumentNumber, CodeInvalidCharacter)
	}
	if ICAOCheckDigit(docNum) != docCheck {
		return Document{}, fieldErr(FieldDocumentNumber, CodeCheckDigitMismatch)
	}
	if !mrzCode(nat) {
		return Document{}, fieldErr(FieldNationality, CodeInvalidCharacter)
	}
	if ICAOCheckDigit(birthF) != birthCheck {
		return Document{}, fieldErr(FieldBirthDate, CodeCheckDigitMismatch)
	}
	if ICAOCheckDigit(expF) != expCheck {
		return Document{}, fieldErr(FieldExpiryDate, CodeCheckDigitMismatch)
	}
	personal := strings.TrimRight(opt, "<")
	if !(ICAOCheckDigit(opt) == optCheck || personal == "" && optCheck == '<') {
		return Document{}, fieldErr(FieldOptionalData, CodeCheckDigitMismatch)
	}
	sum, w, _ := icaoSum(line2[0:10], 0, 0)
	sum, w, _ = icaoSum(line2[13:20], sum, w)
	sum, _, _ = icaoSum(line2[21:43], sum, w)
	if byte('0'+sum%10) != composite {
		return Document{}, fieldErr(FieldComposite, CodeMRZCompositeMismatch)
	}

	now := v.now()
	today := birthToday(now)
	birth, err := mrzBirth(birthF, today)
	if err != nil {
		return Document{}, err
	}
	var sex Sex
	switch sexC {
	case 'M':
		sex = Male
	case 'F':
		sex = Female
	case '<', 'X':
	default:
		return Document{}, fieldErr(FieldSex, CodeInvalidSex)
	}
	if !allDigits(expF) {
		return Document{}, fieldErr(FieldExpiryDate, CodeInvalidExpiryDate)
	}
	utcToday := civilOf(now.UTC())
	ey, em, ed := pivotNear(atoi(expF[0:2]), utcToday), atoi(expF[2:4]), atoi(expF[4:6])
	if !validDate(ey, em, ed) {
		return Document{}, fieldErr(FieldExpiryDate, CodeInvalidExpiryDate)
	}
	expiry := civil{int16(ey), uint8(em), uint8(ed)}
	if v.RejectExpired && expiry.key() < utcToday.key() {
		return Document{}, fieldErr(FieldExpiryDate, CodeDocumentExpired)
	}

	d := &docData{
		typ:         Passport,
		n:           uint8(3 + len(num)),
		sex:         sex,
		birth:       birth,
		expiry:      expiry,
		nationality: strings.TrimRight(nat, "<"),
		state:       strings.TrimRight(state, "<"),
		surname:     surname,
		given:       given,
		personal:    personal,
	}
	copy(d.num[:], state)
	copy(d.num[3:], num)
	// The strings above are substrings of the caller's lines; clone them so
	// that a Document does not keep the whole MRZ alive.
	d.nationality = strings.Clone(d.nationality)
	d.state = strings.Clone(d.state)
	d.personal = strings.Clone(d.personal)
	d.surname = strings.Clone(d.surname)
	d.given = strings.Clone(d.given)
	return newDocument(d), nil
}

// ParseMRZ parses a TD3 passport MRZ with the zero Validator.
func ParseMRZ(line1, line2 string) (Document, error) { return defaultValidator.ParseMRZ(line1, line2) }

// mrzCode reports whether a 3-character state or nationality code is
// letters followed by fillers (e.g. "UTO", "D<<").
func mrzCode(c string) bool {
	if c[0] < 'A' || c[0] > 'Z' {
		return false
	}
	filler := false
	for i := 1; i < len(c); i++ {
		switch {
		case c[i] == '<':
			filler = true
		case c[i] >= 'A' && c[i] <= 'Z' && !filler:
		default:
			return false
		}
	}
	return true
}

// mrzName splits the 39-character name field into primary and secondary
// identifiers, with '<' inside each as a space.
func mrzName(f string) (surname, given string, ok bool) {
	f = strings.TrimRight(f, "<")
	if f == "" || f[0] == '<' {
		return "", "", false
	}
	primary, secondary, _ := strings.Cut(f, "<<")
	if strings.HasPrefix(secondary, "<") || strings.Contains(secondary, "<<") {
		return "", "", false
	}
	return strings.ReplaceAll(primary, "<", " "), strings.ReplaceAll(secondary, "<", " "), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// pivotNear resolves a two-digit year to the year ending in yy within
// [today-50, today+50).
func pivotNear(yy int, today civil) int {
	base := int(today.y) - 50
	return base + ((yy-base)%100+100)%100
}

// mrzBirth reads an MRZ birth date, YYMMDD. An issuer fills what it does
// not know with '<' (ICAO Doc 9303 Part 3 §4.8): the day (YYMM<<), the
// month and day (YY<<<<) or the whole date; a filler anywhere else, or
// any other character, is invalid. The century is the latest that puts
// the date's earliest possible day not after today; the rules of
// checkBirth apply to that day.
func mrzBirth(f string, today civil) (civil, error) {
	known := len(strings.TrimRight(f, "<"))
	if known%2 != 0 || !allDigits(f[:known]) {
		return civil{}, fieldErr(FieldBirthDate, CodeInvalidBirthDate)
	}
	if known == 0 {
		return civil{}, nil
	}
	yy, mm, dd := atoi(f[0:2]), 1, 1
	if known >= 4 {
		mm = atoi(f[2:4])
	}
	if known == 6 {
		dd = atoi(f[4:6])
	}
	c, err := checkBirth(pivotPast(yy, mm, dd, today), mm, dd, today)
	if err != nil {
		return civil{}, err
	}
	if known < 6 {
		c.d = 0
	}
	if known < 4 {
		c.m = 0
	}
	return c, nil
}
