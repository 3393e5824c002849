package auth

import "unicode/utf8"

// SafeDescription returns s as an OAuth error_description may carry it:
// RFC 6749 §5.2 and RFC 6750 §3 allow only %x20-21 / %x23-5B / %x5D-7E
// (printable ASCII but '"' and '\'). Every other character, and every
// byte of invalid UTF-8, becomes '?'. Every error_description the node
// sends goes through it.
func SafeDescription(s string) string {
	i := 0
	for i < len(s) && descriptionByte(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, i, len(s))
	copy(b, s)
	for _, r := range s[i:] {
		if r < utf8.RuneSelf && descriptionByte(byte(r)) {
			b = append(b, byte(r))
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}

func descriptionByte(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }

// quoted is a caller's value as a description quotes it: cut short, in
// single quotes, made safe.
func quoted(s string) string { return "'" + SafeDescription(truncate(s)) + "'" }
