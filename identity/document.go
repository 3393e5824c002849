package identity

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// DocType is the kind of identity document.
type DocType uint8

// Document types. The zero value is no document.
const (
	DocTypeUnknown       DocType = iota
	ResidentID                   // 居民身份证, GB 11643-1999 (15-digit legacy numbers are normalized to 18)
	HMTPermit                    // 港澳台居民居住证: address code 810000, 820000 or 830000
	ForeignPermanent2023         // 外国人永久居留身份证, 2023 version: 18 digits starting with 9
	ForeignPermanent2017         // 外国人永久居留身份证, 2017 version: 3 letters and 12 digits
	Passport                     // ICAO 9303 TD3 passport, read from its MRZ
)

var docTypeNames = [...]string{
	DocTypeUnknown:       "unknown",
	ResidentID:           "resident_id",
	HMTPermit:            "hmt_permit",
	ForeignPermanent2023: "foreign_permanent_2023",
	ForeignPermanent2017: "foreign_permanent_2017",
	Passport:             "passport",
}

// String returns the stable name of t: "resident_id", "hmt_permit",
// "foreign_permanent_2023", "foreign_permanent_2017", "passport".
func (t DocType) String() string {
	if int(t) < len(docTypeNames) {
		return docTypeNames[t]
	}
	return "DocType(" + strconv.Itoa(int(t)) + ")"
}

// Sex as encoded in a document.
type Sex uint8

// SexUnknown is used where the document does not encode sex (foreigners'
// cards) or says it is unspecified (MRZ '<' or 'X').
const (
	SexUnknown Sex = iota
	Male
	Female
)

func (s Sex) String() string {
	switch s {
	case Male:
		return "male"
	case Female:
		return "female"
	}
	return "unknown"
}

// maxNumberLen is the longest normalized number: 18 for ID numbers, 3 + 9
// for passports.
const maxNumberLen = 18

// Document is a parsed and validated identity document, normalized across
// document types.
//
// It is a small handle: the copy is cheap, the data behind it is immutable,
// and the zero Document is no document (IsZero). It cannot be compared with
// == (use Equal, which is constant-time), and no formatting of it (fmt with
// any verb, slog, or reflection-based printing of a struct that holds it)
// shows the full number, the birth date or the name: only the masked number.
// Document deliberately has no JSON or text encoding.
type Document struct {
	_ [0]func() // not comparable
	// h points at the self field of the data. A pointer to a pointer is
	// never followed by fmt's reflection-based printing (which follows a
	// pointer to a struct when, for example, a struct holding a Document in
	// an unexported field is printed with %s), so the data cannot leak that
	// way; and it costs no allocation beyond the data itself.
	h **docData
}

// newDocument wraps parsed data in a Document.
func newDocument(dd *docData) Document {
	dd.self = dd
	return Document{h: &dd.self}
}

type docData struct {
	self   *docData // see Document.h
	typ    DocType
	n      uint8
	num    [maxNumberLen]byte // normalized number
	sex    Sex
	birth  civil
	expiry civil // passports only

	code   uint32 // GB/T 2260 address code (or province*10000 for foreigners)
	region Region // without Code, formatted on demand

	nationality string // ISO 3166-1 alpha-3 where known
	state       string // passports: issuing state, fillers removed
	surname     string // passports
	given       string // passports
	personal    string // passports: optional data, fillers removed
}

// IsZero reports whether d is the zero Document (no document).
func (d Document) IsZero() bool { return d.h == nil }

// none is what the accessors of the zero Document read.
var none docData

// get returns the data, or the empty data of the zero Document.
func (d Document) get() *docData {
	if d.h == nil {
		return &none
	}
	return *d.h
}

// Type returns the document type.
func (d Document) Type() DocType { return d.get().typ }

// Number returns the normalized number, the canonical input for deriving
// an identity symbol together with Type: for ID numbers the 18 (or for the
// 2017 foreigners' card 15) characters with an upper-case X; for passports
// the 3-character issuing state (with its '<' fillers, e.g. "D<<") followed
// by the document number without fillers. It is the full identifier: do
// not log or store it.
func (d Document) Number() string {
	dd := d.get()
	return string(dd.num[:dd.n])
}

// BirthDate returns the birth date the document gives, in full or in
// part: a passport's MRZ may leave the day, the month and day, or the
// whole date unknown (ICAO Doc 9303 Part 3 §4.8); ID numbers always give
// it in full.
func (d Document) BirthDate() Date {
	b := d.get().birth
	return Date{Year: int(b.y), Month: int(b.m), Day: int(b.d)}
}

// Sex returns the sex encoded in the document.
func (d Document) Sex() Sex { return d.get().sex }

// Region returns the place of the address code (resident IDs, HMT
// permits) or of the issuing province (foreigners' cards). Passports have
// none.
func (d Document) Region() Region {
	dd := d.get()
	if dd.code == 0 {
		return Region{}
	}
	r := dd.region
	var b [6]byte
	for i, c := 5, dd.code; i >= 0; i, c = i-1, c/10 {
		b[i] = byte('0' + c%10)
	}
	r.Code = string(b[:])
	return r
}

// RegionKnown reports whether the full address code was found in the
// embedded GB/T 2260 tables (see Region.Known).
func (d Document) RegionKnown() bool { return d.get().region.Known }

// Nationality returns the ISO 3166-1 alpha-3 code of the holder's
// nationality: "CHN" for resident IDs and HMT permits; the card's code for
// foreigners (for a 2023 card whose numeric code is in no table, the
// 3-digit numeric code); for passports the MRZ code without fillers (ICAO
// codes such as "D" or "UTO" included).
func (d Document) Nationality() string { return d.get().nationality }

// ISONationality returns the holder's nationality as an ISO 3166-1
// alpha-3 code, what a credential's nationality member carries, or ""
// when the document names none. An ICAO Doc 9303 Part 3 code that is an
// ISO 3166-1 code is itself; Germany's "D" is "DEU"; ICAO's codes for
// stateless persons and refugees (XXA, XXB, XXC) and for an unspecified
// nationality (XXX), which are ISO 3166-1 user-assigned elements, are
// kept. Any other code is no ISO 3166-1 nationality and gives "": the
// organisations' (UNO, UNA, UNK, EUE, X..), the British categories (GBD,
// GBN, GBO, GBP, GBS), RKS, the specimen UTO, and a foreigner's card's
// numeric or alpha-3 code found in no table (non-Strict).
func (d Document) ISONationality() string {
	switch n := d.get().nationality; n {
	case "D":
		return "DEU"
	case "XXA", "XXB", "XXC", "XXX":
		return n
	default:
		return data().alpha3[n] // "" when not an ISO 3166-1 code
	}
}

// IssuingState returns a passport's issuing state (ICAO code without
// fillers); empty for other documents.
func (d Document) IssuingState() string { return d.get().state }

// Expiry returns a passport's date of expiry at midnight UTC; the zero
// time for other documents.
func (d Document) Expiry() time.Time {
	e := d.get().expiry
	return Date{Year: int(e.y), Month: int(e.m), Day: int(e.d)}.Time()
}

// Surname returns a passport's primary identifier (MRZ fillers as spaces).
// It is personal data: mask it with MaskName before display.
func (d Document) Surname() string { return d.get().surname }

// GivenNames returns a passport's secondary identifier (MRZ fillers as
// spaces). It is personal data: mask it with MaskName before display.
func (d Document) GivenNames() string { return d.get().given }

// PersonalNumber returns a passport's optional data field (often a
// personal number) without fillers. It is personal data.
func (d Document) PersonalNumber() string { return d.get().personal }

// Equal reports whether d and o are the same document: the same type and
// number. The comparison of numbers takes constant time. Two zero
// Documents are equal.
func (d Document) Equal(o Document) bool {
	x, y := d.get(), o.get()
	var a, b [2 + maxNumberLen]byte
	a[0], a[1] = byte(x.typ), x.n
	b[0], b[1] = byte(y.typ), y.n
	copy(a[2:], x.num[:])
	copy(b[2:], y.num[:])
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Masked returns the display form of the number for counters and
// receipts, e.g. "3101**********002X" or, for a passport, "UTO L8*****C3".
func (d Document) Masked() string {
	dd := d.get()
	num := dd.num[:dd.n]
	switch dd.typ {
	case DocTypeUnknown:
		return ""
	case Passport:
		return dd.state + " " + maskPassportNumber(num[3:])
	}
	return maskMiddle(num, 4, 4)
}

// String returns the type and the masked number, e.g.
// "resident_id 3101**********002X". It never contains the full number.
func (d Document) String() string {
	if d.h == nil {
		return "identity.Document(zero)"
	}
	return d.get().typ.String() + " " + d.Masked()
}

// GoString is used by %#v; it shows only the type and the masked number.
func (d Document) GoString() string {
	if d.h == nil {
		return "identity.Document{}"
	}
	return "identity.Document{Type:" + strconv.Quote(d.get().typ.String()) + ", Number:" + strconv.Quote(d.Masked()) + "}"
}

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s,
// %q, %x, ...) prints the masked form only.
func (d Document) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, d.GoString())
	case verb == 'q':
		fmt.Fprintf(f, fmt.FormatString(f, 'q'), d.String())
	default:
		fmt.Fprintf(f, fmt.FormatString(f, 's'), d.String())
	}
}

// LogValue implements slog.LogValuer: the type and the masked number.
func (d Document) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", d.Type().String()),
		slog.String("number", d.Masked()),
	)
}

var (
	_ fmt.Stringer   = Document{}
	_ fmt.GoStringer = Document{}
	_ fmt.Formatter  = Document{}
	_ slog.LogValuer = Document{}
)

// Date is a calendar date known in full or in part: Day is 0 when the
// day is unknown, Month and Day when only the year is known, all three
// when nothing is.
type Date struct{ Year, Month, Day int }

// Full reports whether the whole date is known.
func (t Date) Full() bool { return t.Day != 0 }

// Time is the date at midnight UTC; the zero time unless Full.
func (t Date) Time() time.Time {
	if !t.Full() {
		return time.Time{}
	}
	return time.Date(t.Year, time.Month(t.Month), t.Day, 0, 0, 0, 0, time.UTC)
}

// String is the date in ISO 8601 with as much as is known: 1974-08-12,
// 1974-08, 1974, or "" when nothing is.
func (t Date) String() string {
	switch {
	case t.Full():
		return fmt.Sprintf("%04d-%02d-%02d", t.Year, t.Month, t.Day)
	case t.Month != 0:
		return fmt.Sprintf("%04d-%02d", t.Year, t.Month)
	case t.Year != 0:
		return fmt.Sprintf("%04d", t.Year)
	}
	return ""
}

// civil is a calendar date; in a birth date, m and d may be 0 (unknown,
// see Date).
type civil struct {
	y    int16
	m, d uint8
}

// key orders dates: yyyymmdd.
func (c civil) key() int { return int(c.y)*10000 + int(c.m)*100 + int(c.d) }

func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

func civilOf(t time.Time) civil {
	y, m, d := t.Date()
	return civil{int16(y), uint8(m), uint8(d)}
}
