package identity

import (
	"strings"
	"testing"
	"time"
)

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func testValidator() *Validator {
	return &Validator{Now: func() time.Time { return testNow }}
}

// id18 completes a synthetic 17-digit body with its MOD 11-2 check
// character.
func id18(body string) string {
	c := Mod112(body)
	if c == 0 {
		panic("id18: bad body " + body)
	}
	return body + string(c)
}

// pr2017 completes a synthetic 14-character body of a 2017 foreigners'
// card with its 7-3-1 check digit.
func pr2017(body string) string {
	sum, _, ok := icaoSum(body, 0, 0)
	if !ok || len(body) != 14 {
		panic("pr2017: bad body " + body)
	}
	return body + string(rune('0'+sum%10))
}

// mrzLine1 pads a name field to a full line 1.
func mrzLine1(prefix string) string {
	return prefix + strings.Repeat("<", mrzLineLen-len(prefix))
}

// mrzLine2 builds line 2 with correct check digits from its fields.
func mrzLine2(docNum, nat, birth, sex, expiry, opt string) string {
	docNum += strings.Repeat("<", 9-len(docNum))
	opt += strings.Repeat("<", 14-len(opt))
	optCheck := string(ICAOCheckDigit(opt))
	l := docNum + string(ICAOCheckDigit(docNum)) + nat + birth + string(ICAOCheckDigit(birth)) +
		sex + expiry + string(ICAOCheckDigit(expiry)) + opt + optCheck
	comp := ICAOCheckDigit(l[0:10] + l[13:20] + l[21:43])
	return l + string(comp)
}

// ICAO Doc 9303 Part 4 specimen (Anna Maria Eriksson, Utopia).
const (
	specimenLine1 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
	specimenLine2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
)

func fieldError(t *testing.T, err error) *FieldError {
	t.Helper()
	fe, ok := err.(*FieldError)
	if !ok {
		t.Fatalf("error %v (%T) is not a *FieldError", err, err)
	}
	return fe
}
