package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type gmVectors struct {
	ResidentID struct {
		Valid             []string `json:"valid"`
		InvalidCheckDigit []string `json:"invalid_check_digit"`
		Legacy            []struct {
			Legacy     string `json:"legacy"`
			Normalized string `json:"normalized"`
		} `json:"legacy_15_to_18"`
	} `json:"resident_id"`
	MRZCheckDigit struct {
		Examples []struct {
			Field string `json:"field"`
			Check string `json:"check"`
		} `json:"examples"`
	} `json:"mrz_check_digit"`
}

func loadGM(t *testing.T) gmVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/gm.json")
	if err != nil {
		t.Fatal(err)
	}
	var v gmVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.ResidentID.Valid) == 0 || len(v.ResidentID.InvalidCheckDigit) == 0 ||
		len(v.ResidentID.Legacy) == 0 || len(v.MRZCheckDigit.Examples) == 0 {
		t.Fatal("testdata/gm.json: missing vectors")
	}
	return v
}

func TestGMVectors(t *testing.T) {
	gm := loadGM(t)
	v := testValidator()
	for _, n := range gm.ResidentID.Valid {
		d, err := v.Parse(n)
		if err != nil {
			t.Errorf("valid vector %d: %v", len(n), err)
			continue
		}
		if d.Number() != n {
			t.Errorf("valid vector: Number() differs from input")
		}
		want := ResidentID
		if strings.HasPrefix(n, "810000") || strings.HasPrefix(n, "830000") {
			want = HMTPermit
		}
		if d.Type() != want {
			t.Errorf("valid vector: type %v, want %v", d.Type(), want)
		}
		if Mod112(n[:17]) != n[17] {
			t.Errorf("Mod112 disagrees with a valid vector")
		}
	}
	for _, n := range gm.ResidentID.InvalidCheckDigit {
		_, err := v.Parse(n)
		if !errors.Is(err, ErrCheckDigit) {
			t.Errorf("invalid check digit vector: got %v", err)
		}
	}
	for _, l := range gm.ResidentID.Legacy {
		d, err := v.Parse(l.Legacy)
		if err != nil {
			t.Fatalf("legacy vector: %v", err)
		}
		if d.Number() != l.Normalized || d.Type() != ResidentID {
			t.Errorf("legacy vector: normalized to %s %s, want %s", d.Type(), d.Masked(), MaskNumber(l.Normalized))
		}
	}
	for _, e := range gm.MRZCheckDigit.Examples {
		if got := ICAOCheckDigit(e.Field); string(got) != e.Check {
			t.Errorf("ICAOCheckDigit(%q) = %q, want %q", e.Field, got, e.Check)
		}
	}
}

func TestResidentID(t *testing.T) {
	v := testValidator()
	d, err := v.Parse("  11010519491231002x\n")
	if err != nil {
		t.Fatal(err)
	}
	if d.Number() != "11010519491231002X" {
		t.Errorf("x not upper-cased")
	}
	if got := d.BirthDate(); !got.Time().Equal(time.Date(1949, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("BirthDate = %v", got)
	}
	if d.Sex() != Female {
		t.Errorf("Sex = %v, want female (sequence 002)", d.Sex())
	}
	r := d.Region()
	want := Region{Code: "110105", Province: "北京市", County: "朝阳区", Known: true}
	if r != want {
		t.Errorf("Region = %+v, want %+v", r, want)
	}
	if !d.RegionKnown() || d.Nationality() != "CHN" {
		t.Errorf("RegionKnown %v Nationality %q", d.RegionKnown(), d.Nationality())
	}
	if d.Masked() != "1101**********002X" {
		t.Errorf("Masked = %q", d.Masked())
	}

	d, err = v.Parse(id18("32010219931104001"))
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Region(); r.Province != "江苏省" || r.City != "南京市" || r.County != "玄武区" {
		t.Errorf("Region = %+v", r)
	}
	if d.Sex() != Male {
		t.Errorf("Sex = %v, want male (sequence 001)", d.Sex())
	}
}

func TestRegionHistory(t *testing.T) {
	v := testValidator()
	strict := testValidator()
	strict.Strict = true

	// 110103 崇文区 was abolished in 2010: only in the historical timeline.
	abolished := id18("11010319800101001")
	for _, vv := range []*Validator{v, strict} {
		d, err := vv.Parse(abolished)
		if err != nil {
			t.Fatalf("abolished code (strict=%v): %v", vv.Strict, err)
		}
		if r := d.Region(); !r.Known || r.County != "崇文区" || r.Province != "北京市" {
			t.Errorf("abolished code: Region = %+v", r)
		}
	}

	// 110199 was never a county code: accepted as unknown, refused when strict.
	madeUp := id18("11019919800101001")
	d, err := v.Parse(madeUp)
	if err != nil {
		t.Fatalf("made-up county code: %v", err)
	}
	if d.RegionKnown() || d.Region().Known || d.Region().Province != "北京市" || d.Region().County != "" {
		t.Errorf("made-up county code: Region = %+v", d.Region())
	}
	_, err = strict.Parse(madeUp)
	if !errors.Is(err, ErrUnknownAddressCode) || err.Error() != "identity: address_code: unknown address code" {
		t.Errorf("made-up county code, strict: %v", err)
	}

	// 19 is no province.
	_, err = v.Parse(id18("19010519800101001"))
	if fe := fieldError(t, err); fe.Code != CodeUnknownProvince || fe.Field != FieldAddressCode {
		t.Errorf("invalid province: %+v", fe)
	}

	// A code renamed over time takes the name in force around the birth
	// year: 430102 城东区 (to 1982), 东区 (1983-1995), 芙蓉区 (from 1996).
	for _, c := range []struct{ year, want string }{
		{"1975", "城东区"}, {"1990", "东区"}, {"2001", "芙蓉区"},
	} {
		d, err := v.Parse(id18("430102" + c.year + "0101001"))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Region().County; got != c.want {
			t.Errorf("430102 born %s: county %s, want %s", c.year, got, c.want)
		}
	}
	// A code created after the birth year: 310115 浦东新区 (from 1992).
	d, err = v.Parse("31011519850214002X")
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Region(); r.County != "浦东新区" || !r.Known {
		t.Errorf("310115: %+v", r)
	}
}

func TestProvinces(t *testing.T) {
	tb := data()
	for _, p := range []uint32{11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
		41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82} {
		if !tb.provinceKnown(p) {
			t.Errorf("province %d unknown", p)
		}
	}
	for _, p := range []uint32{10, 16, 19, 24, 66, 70, 72, 80, 83, 84, 99} {
		if tb.provinceKnown(p) {
			t.Errorf("province %d known", p)
		}
	}
	if len(tb.divisions[830000]) == 0 {
		t.Error("830000 missing")
	}
	if len(tb.divisions) < 5000 {
		t.Errorf("only %d codes loaded", len(tb.divisions))
	}
	if tb.numeric[156] != "CHN" || tb.alpha3["SAU"] != "SAU" || tb.numeric[682] != "SAU" {
		t.Error("ISO 3166 table incomplete")
	}
}

func TestHMTPermit(t *testing.T) {
	v := testValidator()
	for _, c := range []struct{ n, province string }{
		{"810000199408230021", "香港特别行政区"},
		{id18("82000019900101001"), "澳门特别行政区"},
		{"830000199201300022", "台湾省"},
	} {
		d, err := v.Parse(c.n)
		if err != nil {
			t.Fatal(err)
		}
		if d.Type() != HMTPermit || d.Region().Province != c.province || !d.RegionKnown() {
			t.Errorf("%s: %v %+v", c.province, d.Type(), d.Region())
		}
		if _, err := v.ParseAs(ResidentID, c.n); !errors.Is(err, ErrWrongDocumentType) {
			t.Errorf("ParseAs(ResidentID, permit): %v", err)
		}
		if _, err := v.ParseAs(HMTPermit, c.n); err != nil {
			t.Errorf("ParseAs(HMTPermit): %v", err)
		}
	}
}

func TestForeignPermanent2023(t *testing.T) {
	v := testValidator()
	// Published example of the 2023 layout: 9, province 32, nationality 682
	// (Saudi Arabia), 1985-01-01, sequence 001, check 7.
	d, err := v.Parse("932682198501010017")
	if err != nil {
		t.Fatal(err)
	}
	if d.Type() != ForeignPermanent2023 || d.Nationality() != "SAU" || d.Sex() != SexUnknown {
		t.Errorf("got %v %q %v", d.Type(), d.Nationality(), d.Sex())
	}
	if r := d.Region(); r.Code != "320000" || r.Province != "江苏省" || !r.Known {
		t.Errorf("Region = %+v", r)
	}
	if !d.BirthDate().Time().Equal(time.Date(1985, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("BirthDate = %v", d.BirthDate())
	}
	// Unknown numeric nationality: kept as digits, refused when strict.
	n := id18("91199919850101001")
	d, err = v.Parse(n)
	if err != nil || d.Nationality() != "999" {
		t.Fatalf("unknown nationality: %v %q", err, d.Nationality())
	}
	strict := testValidator()
	strict.Strict = true
	if _, err := strict.Parse(n); !errors.Is(err, ErrUnknownNationality) {
		t.Errorf("strict unknown nationality: %v", err)
	}
}

func TestForeignPermanent2017(t *testing.T) {
	v := testValidator()
	// Published example of the 2017 layout (see parseForeign2017).
	d, err := v.Parse("KAZ110090123105")
	if err != nil {
		t.Fatal(err)
	}
	if d.Type() != ForeignPermanent2017 || d.Nationality() != "KAZ" || d.Number() != "KAZ110090123105" {
		t.Errorf("got %v %q", d.Type(), d.Nationality())
	}
	if !d.BirthDate().Time().Equal(time.Date(1990, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("BirthDate = %v", d.BirthDate())
	}
	if r := d.Region(); r.Province != "北京市" || r.Code != "110000" {
		t.Errorf("Region = %+v", r)
	}
	// Lower-case letters are normalized.
	d2, err := v.Parse("kaz110090123105")
	if err != nil || !d2.Equal(d) {
		t.Errorf("lower case: %v", err)
	}
	// Two-digit year pivot: 25 → 2025 when not after today, 26-12-01 → 1926.
	d, err = v.Parse(pr2017("USA3100250101" + "1"))
	if err != nil || d.BirthDate().Year != 2025 {
		t.Errorf("pivot 25: %v %v", err, d.BirthDate())
	}
	d, err = v.Parse(pr2017("USA3100261201" + "1"))
	if err != nil || d.BirthDate().Year != 1926 {
		t.Errorf("pivot 26-12: %v %v", err, d.BirthDate())
	}
}

func TestPassportSpecimen(t *testing.T) {
	v := testValidator()
	for name, in := range map[string]string{
		"lf":     specimenLine1 + "\n" + specimenLine2,
		"crlf":   specimenLine1 + "\r\n" + specimenLine2 + "\r\n",
		"joined": specimenLine1 + specimenLine2,
	} {
		d, err := v.Parse(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.Type() != Passport || d.Number() != "UTOL898902C3" || d.IssuingState() != "UTO" || d.Nationality() != "UTO" {
			t.Errorf("%s: %v %q %q", name, d.Type(), d.IssuingState(), d.Nationality())
		}
		if d.Surname() != "ERIKSSON" || d.GivenNames() != "ANNA MARIA" || d.Sex() != Female {
			t.Errorf("%s: name %q %q sex %v", name, d.Surname(), d.GivenNames(), d.Sex())
		}
		if !d.BirthDate().Time().Equal(time.Date(1974, 8, 12, 0, 0, 0, 0, time.UTC)) ||
			!d.Expiry().Equal(time.Date(2012, 4, 15, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: dates %v %v", name, d.BirthDate(), d.Expiry())
		}
		if d.PersonalNumber() != "ZE184226B" || d.Region() != (Region{}) {
			t.Errorf("%s: personal number / region", name)
		}
		if d.Masked() != "UTO L8*****C3" {
			t.Errorf("%s: Masked = %q", name, d.Masked())
		}
	}
	v.RejectExpired = true
	if _, err := v.ParseMRZ(specimenLine1, specimenLine2); !errors.Is(err, ErrDocumentExpired) {
		t.Errorf("RejectExpired: %v", err)
	}
	// A passport without optional data, '<' as its check digit, filler in
	// the issuing state, and a long-lived expiry year.
	l2 := mrzLine2("C01X00T47", "D<<", "640812", "M", "310101", "")
	l2 = l2[:42] + "<" + l2[43:]
	l2 = l2[:43] + string(ICAOCheckDigit(l2[0:10]+l2[13:20]+l2[21:43]))
	d, err := v.ParseMRZ(mrzLine1("P<D<<MUSTERMANN<<ERIKA"), l2)
	if err != nil {
		t.Fatal(err)
	}
	if d.Number() != "D<<C01X00T47" || d.IssuingState() != "D" || d.Expiry().Year() != 2031 || d.Sex() != Male {
		t.Errorf("got %q %q %v %v", d.Masked(), d.IssuingState(), d.Expiry(), d.Sex())
	}
}

// TestPassportPartialBirthDate: ICAO Doc 9303 Part 3 §4.8 lets an issuer
// fill the unknown part of a birth date with '<': the day, the month and
// day, or all of it. Such a passport parses; what is known is kept, and
// the date is not Full.
func TestPassportPartialBirthDate(t *testing.T) {
	v := testValidator()
	for _, c := range []struct {
		field string
		want  Date
		iso   string
	}{
		{"7408<<", Date{Year: 1974, Month: 8}, "1974-08"},
		{"74<<<<", Date{Year: 1974}, "1974"},
		{"<<<<<<", Date{}, ""},
		{"740812", Date{Year: 1974, Month: 8, Day: 12}, "1974-08-12"},
		// The century puts the earliest possible day not after today
		// (testNow): a year of this century whose first day is past is
		// this century's.
		{fmt.Sprintf("%02d<<<<", testNow.Year()%100), Date{Year: testNow.Year()}, strconv.Itoa(testNow.Year())},
		{fmt.Sprintf("%02d<<<<", testNow.Year()%100+1), Date{Year: testNow.Year() - 99}, strconv.Itoa(testNow.Year() - 99)},
	} {
		d, err := v.ParseMRZ(specimenLine1, mrzLine2("L898902C3", "UTO", c.field, "F", "120415", "ZE184226B"))
		if err != nil {
			t.Errorf("%s: %v", c.field, err)
			continue
		}
		b := d.BirthDate()
		if b != c.want || b.String() != c.iso || b.Full() != (c.want.Day != 0) || b.Full() == b.Time().IsZero() {
			t.Errorf("%s: %+v %q full %v, want %+v %q", c.field, b, b.String(), b.Full(), c.want, c.iso)
		}
		// The birth date as a PIN is trivial only where it is known.
		if err := ValidatePIN(c.field, d); errors.Is(err, ErrPINTrivial) != b.Full() && c.field != "<<<<<<" {
			t.Errorf("%s: PIN %s: %v", c.field, c.field, err)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	type tc struct {
		name  string
		as    DocType // 0: Parse
		in    string
		code  Code
		field string
		mod   func(*Validator)
	}
	strict := func(v *Validator) { v.Strict = true }
	line2 := specimenLine2
	set := func(s string, i int, c byte) string { return s[:i] + string(c) + s[i+1:] }
	recompose := func(l string) string {
		return l[:43] + string(ICAOCheckDigit(l[0:10]+l[13:20]+l[21:43]))
	}
	cases := []tc{
		{name: "too large", in: strings.Repeat("1", MaxInputLen+1), code: CodeInputTooLarge, field: FieldInput},
		{name: "too large as", as: ResidentID, in: strings.Repeat(" ", MaxInputLen+1), code: CodeInputTooLarge, field: FieldInput},
		{name: "empty", in: "   ", code: CodeInvalidLength, field: FieldInput},
		{name: "short", in: "1101051949", code: CodeInvalidLength, field: FieldInput},
		{name: "letter in body", in: "1101051949123A002X", code: CodeInvalidCharacter, field: FieldNumber},
		{name: "bad check char", in: "11010519491231002Y", code: CodeInvalidCharacter, field: FieldNumber},
		{name: "full-width digit", in: "110105194912310０", code: CodeInvalidCharacter, field: FieldNumber},
		{name: "legacy letter", in: "1101054912310X2", code: CodeInvalidCharacter, field: FieldNumber},
		{name: "check mismatch", in: "110105194912310021", code: CodeCheckDigitMismatch, field: FieldCheckCharacter},
		{name: "unknown province", in: id18("19010519900101001"), code: CodeUnknownProvince, field: FieldAddressCode},
		{name: "province 83 outside permits", in: id18("83010119900101001"), code: CodeUnknownProvince, field: FieldAddressCode},
		{name: "province 00", in: id18("00000019900101001"), code: CodeUnknownProvince, field: FieldAddressCode},
		{name: "Feb 30", in: id18("11010519900230001"), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "Feb 29 1900", in: id18("11010519000229001"), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "month 00", in: id18("11010519900001001"), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "day 00", in: id18("11010519900100001"), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "month 13", in: id18("11010519901301001"), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "future", in: id18("11010520260617001"), code: CodeFutureBirthDate, field: FieldBirthDate},
		{name: "before 1900", in: id18("11010518991231001"), code: CodeBirthDateBefore1900, field: FieldBirthDate},
		{name: "legacy bad date", in: "110105491331002", code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "legacy permit code", in: "810000900101001", code: CodeUnknownAddressCode, field: FieldAddressCode},
		{name: "unknown address strict", in: id18("11019919900101001"), code: CodeUnknownAddressCode, field: FieldAddressCode, mod: strict},
		{name: "permit bad date", in: id18("81000019901301001"), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "permit check", in: "810000199408230022", code: CodeCheckDigitMismatch, field: FieldCheckCharacter},
		{name: "2023 check", in: "932682198501010018", code: CodeCheckDigitMismatch, field: FieldCheckCharacter},
		{name: "2023 province", in: id18("91968219850101001"), code: CodeUnknownProvince, field: FieldProvince},
		{name: "2023 future", in: id18("93268220300101001"), code: CodeFutureBirthDate, field: FieldBirthDate},
		{name: "2023 nationality strict", in: id18("93299919850101001"), code: CodeUnknownNationality, field: FieldNationality, mod: strict},
		{name: "2017 check", in: "KAZ110090123104", code: CodeCheckDigitMismatch, field: FieldCheckCharacter},
		{name: "2017 digit in letters", in: "KA1110090123105", code: CodeInvalidCharacter, field: FieldNumber},
		{name: "2017 letter in digits", in: "KAZ11009012310A", code: CodeInvalidCharacter, field: FieldNumber},
		{name: "2017 province", in: pr2017("KAZ1900901231" + "0"), code: CodeUnknownProvince, field: FieldProvince},
		{name: "2017 date", in: pr2017("KAZ1100901331" + "0"), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "2017 nationality strict", in: pr2017("QQQ1100901231" + "0"), code: CodeUnknownNationality, field: FieldNationality, mod: strict},
		{name: "wrong type permit", as: ResidentID, in: "810000199408230021", code: CodeWrongDocumentType, field: FieldInput},
		{name: "wrong type 2017", as: ForeignPermanent2023, in: "KAZ110090123105", code: CodeWrongDocumentType, field: FieldInput},
		{name: "wrong type mrz", as: ResidentID, in: specimenLine1 + specimenLine2, code: CodeWrongDocumentType, field: FieldInput},
		{name: "unknown type", as: DocType(42), in: "11010519491231002X", code: CodeUnsupportedDocument, field: FieldInput},
		{name: "mrz short line", in: specimenLine1 + "\n" + specimenLine2[:43], code: CodeInvalidLength, field: FieldInput},
		{name: "mrz three lines", in: specimenLine1 + "\n" + specimenLine2 + "\n" + specimenLine2, code: CodeInvalidLength, field: FieldInput},
		{name: "mrz lower case", in: strings.ToLower(specimenLine1) + specimenLine2, code: CodeInvalidCharacter, field: FieldInput},
		{name: "mrz visa", in: "V" + specimenLine1[1:] + specimenLine2, code: CodeUnsupportedDocument, field: FieldDocumentCode},
		{name: "mrz state", in: "P<U<O" + specimenLine1[5:] + specimenLine2, code: CodeInvalidCharacter, field: FieldIssuingState},
		{name: "mrz empty name", in: mrzLine1("P<UTO") + specimenLine2, code: CodeInvalidName, field: FieldName},
		{name: "mrz name starts with filler", in: mrzLine1("P<UTO<<ANNA") + specimenLine2, code: CodeInvalidName, field: FieldName},
		{name: "mrz doc number check", in: specimenLine1 + set(line2, 9, '7'), code: CodeCheckDigitMismatch, field: FieldDocumentNumber},
		{name: "mrz empty doc number", in: specimenLine1 + recompose(mrzLine2("", "UTO", "740812", "F", "120415", "")), code: CodeInvalidCharacter, field: FieldDocumentNumber},
		{name: "mrz nationality", in: specimenLine1 + mrzLine2("L898902C3", "1TO", "740812", "F", "120415", ""), code: CodeInvalidCharacter, field: FieldNationality},
		{name: "mrz birth check", in: specimenLine1 + set(line2, 19, '3'), code: CodeCheckDigitMismatch, field: FieldBirthDate},
		{name: "mrz expiry check", in: specimenLine1 + set(line2, 27, '0'), code: CodeCheckDigitMismatch, field: FieldExpiryDate},
		{name: "mrz optional check", in: specimenLine1 + set(line2, 42, '2'), code: CodeCheckDigitMismatch, field: FieldOptionalData},
		{name: "mrz composite", in: specimenLine1 + set(line2, 43, '1'), code: CodeMRZCompositeMismatch, field: FieldComposite},
		{name: "mrz birth date", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "740231", "F", "120415", ""), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "mrz birth day unknown, month not", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "74<<12", "F", "120415", ""), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "mrz birth year unknown", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "<<0812", "F", "120415", ""), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "mrz birth half a month", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "7408<1", "F", "120415", ""), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "mrz birth half a year", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "7<<<<<", "F", "120415", ""), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "mrz birth month 13, day unknown", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "7413<<", "F", "120415", ""), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "mrz birth month 00, day unknown", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "7400<<", "F", "120415", ""), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "mrz birth letters", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "74O812", "F", "120415", ""), code: CodeInvalidBirthDate, field: FieldBirthDate},
		{name: "mrz sex", in: specimenLine1 + set(line2, 20, 'Q'), code: CodeInvalidSex, field: FieldSex},
		{name: "mrz expiry date", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "740812", "F", "121315", ""), code: CodeInvalidExpiryDate, field: FieldExpiryDate},
		{name: "mrz expiry letters", in: specimenLine1 + mrzLine2("L898902C3", "UTO", "740812", "F", "1204A5", ""), code: CodeInvalidExpiryDate, field: FieldExpiryDate},
		{name: "mrz expired", in: specimenLine1 + specimenLine2, code: CodeDocumentExpired, field: FieldExpiryDate, mod: func(v *Validator) { v.RejectExpired = true }},
	}
	seen := map[Code]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := testValidator()
			if c.mod != nil {
				c.mod(v)
			}
			var err error
			if c.as == 0 {
				_, err = v.Parse(c.in)
			} else {
				_, err = v.ParseAs(c.as, c.in)
			}
			if err == nil {
				t.Fatalf("accepted, want %s", c.code)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not a *FieldError", err)
			}
			if fe.Code != c.code || fe.Field != c.field {
				t.Fatalf("got %s/%s (%v), want %s/%s", fe.Code, fe.Field, err, c.code, c.field)
			}
			if !errors.Is(err, c.code.Sentinel()) {
				t.Errorf("errors.Is(err, sentinel of %s) is false", c.code)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "identity: ") {
				t.Errorf("message %q lacks the package prefix", msg)
			}
			trimmed := strings.TrimSpace(c.in)
			if len(trimmed) >= 6 && strings.Contains(msg, trimmed[:6]) || len(trimmed) > 0 && strings.Contains(msg, trimmed) {
				t.Errorf("message %q contains the input", msg)
			}
			seen[c.code] = true
		})
	}
	for _, code := range Codes() {
		if !seen[code] {
			t.Errorf("no test case for code %s", code)
		}
		if code.Sentinel() == nil {
			t.Errorf("code %s has no sentinel", code)
		}
	}
	if Code("nope").Sentinel() != nil {
		t.Error("unknown code has a sentinel")
	}
}

// TestNoLeak formats documents and errors in every way a caller might and
// checks that the full number never appears.
func TestNoLeak(t *testing.T) {
	v := testValidator()
	inputs := []string{
		"11010519491231002X",
		"110105491231002",
		"810000199408230021",
		"932682198501010017",
		"KAZ110090123105",
		specimenLine1 + "\n" + specimenLine2,
	}
	type holder struct {
		Doc     Document
		doc     Document
		ptr     *Document
		private struct{ d Document }
	}
	for _, in := range inputs {
		d, err := v.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		num := d.Number()
		secrets := []string{num, num[4 : len(num)-4]}
		if d.Type() == Passport {
			secrets = []string{"L898902C3", "ERIKSSON", "ANNA", "ZE184226B", "740812"}
		} else {
			secrets = append(secrets, d.BirthDate().Time().Format("20060102"))
		}
		h := holder{Doc: d, doc: d, ptr: &d}
		h.private.d = d
		var outs []string
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-30v", "%T"} {
			outs = append(outs, fmt.Sprintf(f, d), fmt.Sprintf(f, &d), fmt.Sprintf(f, h), fmt.Sprintf(f, &h), fmt.Sprintf(f, []Document{d}))
		}
		outs = append(outs, d.String(), d.GoString(), d.Masked(), fmt.Sprint(d), fmt.Sprintln(d))
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		logger.Info("enrolled", "doc", d, "ptr", &d, slog.Any("holder", h))
		slog.New(slog.NewTextHandler(&buf, nil)).Info("enrolled", "doc", d)
		outs = append(outs, buf.String())
		js, _ := json.Marshal(h)
		outs = append(outs, string(js))
		for _, o := range outs {
			for _, s := range secrets {
				if strings.Contains(o, s) {
					t.Errorf("%s: output %q contains %q", d.Type(), o, s)
				}
			}
		}
		if !strings.Contains(buf.String(), `"number":"`+d.Masked()+`"`) {
			t.Errorf("slog JSON lacks the masked number: %s", buf.String())
		}
	}
	// Errors from bad input never contain it.
	for _, in := range []string{"110105194912310021", id18("11019919800101001"), "KAZ110090123104", id18("11010520300101001")} {
		strict := testValidator()
		strict.Strict = true
		_, err := strict.Parse(in)
		if err == nil {
			t.Fatal("accepted")
		}
		for _, o := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(o, in) || strings.Contains(o, in[:10]) {
				t.Errorf("error output %q contains the input", o)
			}
		}
	}
	var zero Document
	if zero.String() != "identity.Document(zero)" || fmt.Sprintf("%#v", zero) != "identity.Document{}" || !zero.IsZero() {
		t.Errorf("zero Document formats as %v / %#v", zero, zero)
	}
}

func TestEqual(t *testing.T) {
	v := testValidator()
	a, _ := v.Parse("11010519491231002X")
	b, _ := v.Parse("110105491231002")
	c, _ := v.Parse("110101199003070038")
	p, _ := v.Parse(specimenLine1 + specimenLine2)
	if !a.Equal(b) || !b.Equal(a) {
		t.Error("legacy and normalized numbers differ")
	}
	if a.Equal(c) || a.Equal(p) || a.Equal(Document{}) || (Document{}).Equal(a) {
		t.Error("different documents are equal")
	}
	if !(Document{}).Equal(Document{}) {
		t.Error("zero documents differ")
	}
	// Same digits, different type: an 18-digit HMT permit never equals a
	// resident ID, but check that the type is part of equality anyway.
	d := newDocument(&docData{typ: HMTPermit, n: a.get().n, num: a.get().num})
	if a.Equal(d) {
		t.Error("type ignored by Equal")
	}
}

func TestMasking(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"张三", "张*"},
		{"李小龙", "李**"},
		{"欧阳修远", "欧阳**"},
		{"欧阳娜", "欧阳*"},
		{"欧阳", "欧*"},
		{"王", "*"},
		{"买买提·艾力", "买**·**"},
		{"John Smith", "J*** S****"},
		{"ANNA MARIA", "A*** M****"},
		{"Jean-Luc O'Neil", "J***-L** O*****"},
		{"  Zoë Ångström ", "Z** Å*******"},
		{"X", "*"},
		{"J R", "J *"},
		{"弼,", "*,"},
		{"·张三", "·**"},
		{"A-", "*-"},
		{"张  0", "张  *"},
		{"", ""},
	} {
		if got := MaskName(c.in); got != c.want {
			t.Errorf("MaskName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"31011519850214002X", "3101**********002X"},
		{"KAZ110090123105", "KAZ1********105"},
		{"L898902C3", "L8*****C3"},
		{"12", "**"},
	} {
		if got := MaskNumber(c.in); got != c.want {
			t.Errorf("MaskNumber(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"L898902C3", "L8*****C3"},
		{"AB12345", "A****45"},
		{"A1234", "A***4"},
		{"AB", "A*"},
		{"A", "*"},
	} {
		if got := maskPassportNumber([]byte(c.in)); got != c.want {
			t.Errorf("maskPassportNumber(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestMaskNumberCutsAtCharacters: MaskNumber, which takes a number
// without parsing it, keeps and masks characters, as its doc says, not
// bytes: a number typed with full-width digits (an input method's
// full-width mode) keeps its first and last four characters whole, and
// the mask is valid UTF-8. Before, it kept four bytes at each end, one
// digit and a third of the next, and the output was not UTF-8.
func TestMaskNumberCutsAtCharacters(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"３１０１１５１９８５０２１４００２Ｘ", "３１０１**********００２Ｘ"},
		{"ＫＡＺ１１００９０１２３１０５", "ＫＡＺ１********１０５"},
		{"Ｌ８９８９０２Ｃ３", "Ｌ８*****Ｃ３"},
		{"3101１５19850214002X", "3101**********002X"},
	} {
		if got := MaskNumber(c.in); got != c.want {
			t.Errorf("MaskNumber(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, in := range []string{strings.Repeat("名", MaxInputLen), "\xff\xfe12345678", "é" + strings.Repeat("1", MaxInputLen)} {
		if got := MaskNumber(in); !utf8.ValidString(got) || !strings.Contains(got, "*") {
			t.Errorf("MaskNumber(%q) = %q: not UTF-8, or nothing masked", in, got)
		}
	}
}

func TestDocTypeAndSexStrings(t *testing.T) {
	want := map[DocType]string{
		ResidentID: "resident_id", HMTPermit: "hmt_permit", ForeignPermanent2023: "foreign_permanent_2023",
		ForeignPermanent2017: "foreign_permanent_2017", Passport: "passport", DocTypeUnknown: "unknown", DocType(9): "DocType(9)",
	}
	for dt, s := range want {
		if dt.String() != s {
			t.Errorf("%d: %q", dt, dt.String())
		}
	}
	if Male.String() != "male" || Female.String() != "female" || SexUnknown.String() != "unknown" {
		t.Error("Sex strings")
	}
}

func TestPackageLevelAndClock(t *testing.T) {
	// The zero Validator uses the real clock.
	if _, err := Parse("11010519491231002X"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseAs(ResidentID, "110105491231002"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseMRZ(specimenLine1, specimenLine2); err != nil {
		t.Fatal(err)
	}
	// Born "today" at UTC+14 is accepted even when it is still yesterday in UTC.
	v := &Validator{Now: func() time.Time { return time.Date(2026, 6, 14, 11, 0, 0, 0, time.UTC) }}
	if _, err := v.Parse(id18("11010520260615001")); err != nil {
		t.Errorf("born today at UTC+14: %v", err)
	}
	if _, err := v.Parse(id18("11010520260616001")); !errors.Is(err, ErrFutureBirthDate) {
		t.Errorf("born tomorrow: %v", err)
	}
}

func TestFieldErrorMessage(t *testing.T) {
	e := &FieldError{Field: FieldBirthDate, Code: CodeFutureBirthDate, Err: ErrFutureBirthDate}
	if e.Error() != "identity: birth_date: birth date in the future" {
		t.Errorf("%q", e.Error())
	}
	if (&FieldError{Err: ErrCheckDigit}).Error() != "identity: check character mismatch" {
		t.Error("no field")
	}
	if (&FieldError{}).Error() != "identity: invalid document" {
		t.Error("empty")
	}
}

// TestISONationality: the credential's ISO 3166-1 alpha-3 nationality
// from each document's code (ICAO Doc 9303 Part 3 for passports).
func TestISONationality(t *testing.T) {
	v := testValidator()
	for code, want := range map[string]string{
		"D<<": "DEU", "CHN": "CHN", "XXA": "XXA", "XXB": "XXB", "XXC": "XXC", "XXX": "XXX",
		"UTO": "", "UNO": "", "UNA": "", "UNK": "", "EUE": "", "GBD": "", "GBN": "", "GBO": "", "GBP": "", "GBS": "", "RKS": "",
	} {
		d, err := v.ParseMRZ(specimenLine1, mrzLine2("L898902C3", code, "740812", "F", "320415", ""))
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if got := d.ISONationality(); got != want {
			t.Errorf("%s: ISONationality %q, want %q", code, got, want)
		}
	}
	for n, want := range map[string]string{"932682198501010017": "SAU", id18("91199919850101001"): "", id18("11010519900307123"): "CHN"} {
		if d, err := v.Parse(n); err != nil || d.ISONationality() != want {
			t.Errorf("%s: %v, ISONationality %q, want %q", d.Masked(), err, d.ISONationality(), want)
		}
	}
}
