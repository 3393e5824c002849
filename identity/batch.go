package identity

// DeriveInput parses input with v (nil means the zero Validator) and
// returns the symbol of the document under the current key: the same
// result, symbol or error, as v.Parse followed by Derive, for any input.
//
// It is the path of bulk derivation (trustid id derive-batch): an 18-digit
// resident ID number, the overwhelmingly common case, is checked in place
// without allocating; anything else, and any number the fast path does not
// accept, goes through the full parser, which also gives the precise error.
func (d *Deriver) DeriveInput(v *Validator, input []byte) (Symbol, error) {
	if v == nil {
		v = &defaultValidator
	}
	if len(input) <= MaxInputLen {
		s := trimASCIISpace(input)
		if len(s) == 18 {
			var num [18]byte
			if v.fastResident18(s, &num) {
				return d.derive(&d.keys[0], ResidentID, num[:]), nil
			}
		}
	}
	doc, err := v.Parse(string(input))
	if err != nil {
		return Symbol{}, err
	}
	return d.Derive(doc)
}

// fastResident18 accepts s only when Parse would accept it as a resident
// ID (ResidentID, not a permit or a foreigner's card), writing the
// normalized number to num. It returns false, without saying why, for
// anything else; the caller then runs the full parser.
func (v *Validator) fastResident18(s []byte, num *[18]byte) bool {
	if s[0] == '9' || string(s[:6]) == "810000" || string(s[:6]) == "820000" || string(s[:6]) == "830000" {
		return false // a foreigner's card or an HMT residence permit
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		sum += int(c-'0') * mod112Weights[i]
		num[i] = c
	}
	last := s[17]
	if last == 'x' {
		last = 'X'
	}
	if mod112Chars[sum%11] != last {
		return false
	}
	num[17] = last
	tb := data()
	code := uint32(atoi6(num[:6]))
	if !tb.provinceKnown(code / 10000) {
		return false
	}
	y := int(num[6]-'0')*1000 + int(num[7]-'0')*100 + int(num[8]-'0')*10 + int(num[9]-'0')
	m := int(num[10]-'0')*10 + int(num[11]-'0')
	dd := int(num[12]-'0')*10 + int(num[13]-'0')
	if _, err := checkBirth(y, m, dd, birthToday(v.now())); err != nil {
		return false
	}
	if v.Strict && !tb.region(code, y).Known {
		return false
	}
	return true
}

func atoi6(b []byte) int {
	n := 0
	for _, c := range b[:6] {
		n = n*10 + int(c-'0')
	}
	return n
}

// trimASCIISpace trims the ASCII white space that strings.TrimSpace also
// trims. Other (Unicode) white space is left, so such input falls through
// to the full parser, which trims it exactly as Parse does.
func trimASCIISpace(b []byte) []byte {
	for len(b) > 0 && asciiSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && asciiSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
