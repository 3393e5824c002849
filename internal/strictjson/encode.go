package strictjson

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Marshal encodes v as encoding/json does (object keys sorted), without
// HTML escaping, and without reflection for the values JSON documents are
// made of: map[string]any, []any, string, json.Number, bool, nil and
// integers. Other values are encoded by encoding/json.
func Marshal(v any) ([]byte, error) {
	return appendValue(make([]byte, 0, 1024), v)
}

// Append appends Marshal's encoding of v to b.
func Append(b []byte, v any) ([]byte, error) {
	return appendValue(b, v)
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return AppendString(b, t), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case int:
		return strconv.AppendInt(b, int64(t), 10), nil
	case int64:
		return strconv.AppendInt(b, t, 10), nil
	case json.Number:
		if t == "" {
			return append(b, '0'), nil
		}
		if !isNumber(string(t)) {
			return nil, &json.UnsupportedValueError{Str: string(t)}
		}
		return append(b, t...), nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, t[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, x := range t {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, x); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	// Not json.Marshal: it escapes <, > and & for HTML.
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimSuffix(out.Bytes(), []byte("\n"))...), nil
}

// isNumber reports whether n is one JSON number and nothing else (no
// space, no other kind of value: json.Valid would take " 1", "true" or
// "\"x\""), as encoding/json requires of a json.Number it encodes.
func isNumber(n string) bool {
	if n == "" || !(n[0] == '-' || n[0] >= '0' && n[0] <= '9') {
		return false
	}
	s := scanner{data: []byte(n)}
	return s.numberGrammar() == nil && s.pos == len(n)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, as Append does for a string
// (without boxing it in an interface, so without an allocation): quotes, backslashes and control
// characters escaped, each invalid UTF-8 byte replaced by the character
// U+FFFD, U+2028 and U+2029 escaped (as encoding/json does).
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := plainRun(s); i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...) // the character, as encoding/json since Go 1.27
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainRun returns how many bytes at the start of s AppendString copies
// as they are without a look at each (printable ASCII but a quote or a
// backslash), eight at a time: a string of such bytes, as most are, is
// appended at once.
func plainRun(s string) int {
	i := 0
	for ; i <= len(s)-8; i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if (special(w)|w)&highs != 0 { // a byte to escape, or not ASCII
			break
		}
	}
	return i
}
