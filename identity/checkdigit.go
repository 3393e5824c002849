package identity

// mod112Weights are the ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 for the
// 17 body digits of a GB 11643-1999 number.
var mod112Weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// mod112Chars maps the weighted sum mod 11 to the check character.
const mod112Chars = "10X98765432"

// Mod112 returns the ISO 7064 MOD 11-2 check character ('0'-'9' or 'X')
// of the 17 digits of a GB 11643-1999 number body, or 0 if body is not 17
// ASCII digits.
func Mod112(body string) byte {
	if len(body) != 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := body[i]
		if c < '0' || c > '9' {
			return 0
		}
		sum += int(c-'0') * mod112Weights[i]
	}
	return mod112Chars[sum%11]
}

// icaoValue is the ICAO 9303 value of an MRZ character: 0-9 as themselves,
// A-Z as 10-35, '<' as 0; -1 for any other byte.
func icaoValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c == '<':
		return 0
	}
	return -1
}

// icaoSum adds the weighted values (weights 7, 3, 1 repeating, from the
// first character) of s to sum, starting at weight index w. It returns the
// new sum and weight index, or ok false for a character outside 0-9, A-Z, <.
func icaoSum(s string, sum, w int) (int, int, bool) {
	weights := [3]int{7, 3, 1}
	for i := 0; i < len(s); i++ {
		v := icaoValue(s[i])
		if v < 0 {
			return 0, 0, false
		}
		sum += v * weights[w]
		w = (w + 1) % 3
	}
	return sum, w, true
}

// ICAOCheckDigit returns the ICAO 9303 check digit ('0'-'9') of an MRZ
// field (weights 7, 3, 1; 0-9, A-Z as 10-35, '<' as 0; sum mod 10), or 0
// if field holds another character. ICAOCheckDigit("L898902C3") == '6'.
func ICAOCheckDigit(field string) byte {
	sum, _, ok := icaoSum(field, 0, 0)
	if !ok {
		return 0
	}
	return byte('0' + sum%10)
}
