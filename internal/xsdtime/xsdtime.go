// Package xsdtime checks the lexical form of XML Schema dateTimeStamp
// values, which VC 2.0 (validFrom, validUntil) and VC Data Integrity 1.0
// (a proof's created and expires) require. time.Parse with
// time.RFC3339Nano alone is looser: it takes a comma before the fraction
// and any time zone offset below 24 hours.
package xsdtime

// IsDateTimeStamp reports whether s is an xsd:dateTimeStamp (XML Schema
// 1.1 Part 2 §3.4.28, a dateTime with a mandatory time zone) of the form
// YYYY-MM-DDThh:mm:ss[.f+](Z|(+|-)hh:mm) with the
// ranges of the XSD lexical space (day-of-month is checked by time.Parse),
// less year 0000 and 24:00:00, which the callers refuse as unusable.
func IsDateTimeStamp(s string) bool {
	digits := func(from, n int) (int, bool) {
		if from+n > len(s) {
			return 0, false
		}
		v := 0
		for i := from; i < from+n; i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			v = v*10 + int(s[i]-'0')
		}
		return v, true
	}
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	y, ok1 := digits(0, 4)
	mo, ok2 := digits(5, 2)
	d, ok3 := digits(8, 2)
	h, ok4 := digits(11, 2)
	mi, ok5 := digits(14, 2)
	sec, ok6 := digits(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || y == 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 {
		return false
	}
	i := 19
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	switch {
	case i == len(s)-1 && s[i] == 'Z':
		return true
	case i == len(s)-6 && (s[i] == '+' || s[i] == '-') && s[i+3] == ':':
		zh, ok1 := digits(i+1, 2)
		zm, ok2 := digits(i+4, 2)
		return ok1 && ok2 && (zh < 14 && zm <= 59 || zh == 14 && zm == 0)
	}
	return false
}
