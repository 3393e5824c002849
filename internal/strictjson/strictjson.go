// Package strictjson is TrustID's one decoder for untrusted JSON: HTTP
// request bodies, chaincode arguments, credentials, JOSE headers, DID
// documents and configuration files. It refuses what encoding/json lets
// through and two parsers of one document could read differently:
// oversized input, deep nesting, invalid UTF-8, an escaped unpaired
// UTF-16 surrogate (RFC 7493 §2.1), trailing data, an object
// key given twice, and two keys of one object that differ only in case
// (encoding/json matches struct fields case-insensitively, so
// {"name":"A","NAME":"B"} would decode as "B"). Decode also refuses keys
// that match no field of the target struct and keys that match a field
// only case-insensitively. Error messages name keys (truncated), never
// values.
package strictjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"reflect"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Errors. Each is wrapped with detail (key names, never values).
var (
	ErrTooLarge     = errors.New("json: document too large")
	ErrTooDeep      = errors.New("json: nesting too deep")
	ErrDuplicateKey = errors.New("json: duplicate object key")
	ErrTrailingData = errors.New("json: trailing data after the document")
	ErrSyntax       = errors.New("json: malformed")
	// ErrSurrogate: a string escapes a UTF-16 surrogate that is not half
	// of a pair ("\ud800"), which I-JSON (RFC 7493 §2.1) forbids. It
	// comes wrapped in ErrSyntax.
	ErrSurrogate = errors.New("json: unpaired surrogate in a \\u escape")
	// ErrUnknownField: Decode met a key that names no field of its struct.
	ErrUnknownField = errors.New("json: unknown object key")
	// ErrFieldCase: Decode met a key that names a field of its struct
	// only when case is ignored ("Name" for "name").
	ErrFieldCase = errors.New("json: object key differs in case from the field name")
	// ErrType: a value does not fit its Go type (a string for a number),
	// or the type's own UnmarshalJSON refused it (that error is wrapped
	// too).
	ErrType = errors.New("json: value of the wrong type")
)

// KeyError is an ErrUnknownField or ErrFieldCase naming the key: its path
// from the top object ("a.b"), at most 40 bytes of it.
type KeyError struct {
	Err  error  // ErrUnknownField or ErrFieldCase
	Key  string // the refused key's path
	Want string // ErrFieldCase: the documented name's path
}

func (e *KeyError) Error() string {
	if e.Want != "" {
		return fmt.Sprintf("%v: %q for %q", e.Err, e.Key, e.Want)
	}
	return fmt.Sprintf("%v: %q", e.Err, e.Key)
}

// Unwrap returns Err, for errors.Is.
func (e *KeyError) Unwrap() error { return e.Err }

// MaxDepth bounds object and array nesting.
const MaxDepth = 64

// Check validates data without building values.
func Check(data []byte, max int) error {
	_, err := parse(data, max, false)
	return err
}

// Decode checks data (see Check) and decodes it into v, which must be a
// non-nil pointer, as encoding/json does (in one pass for a zero value of
// the types most bodies are made of, see direct.go). Every object decoded into a struct
// must use the struct's field names exactly and no other keys. Numbers
// decode as json.Number where v has an interface value, so integers stay
// exact. For a map[string]any prefer Object, which is faster.
func Decode(data []byte, v any, max int) error { return decode(data, v, max, false) }

// DecodeOpen is Decode for an object whose unknown members must be
// ignored, such as a JOSE header (RFC 7515 §4) or a JWT claims set (RFC
// 7519 §4): a key that names no field of its struct is checked and
// skipped. Every other refusal stays, a key that names a field only
// case-insensitively too (encoding/json would fill the field from it).
func DecodeOpen(data []byte, v any, max int) error { return decode(data, v, max, true) }

// decode is Decode, or DecodeOpen when open is set.
func decode(data []byte, v any, max int, open bool) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || reflect.ValueOf(v).IsNil() {
		return fmt.Errorf("strictjson: Decode needs a non-nil pointer, not %v", t)
	}
	if rv, d := reflect.ValueOf(v), directOf(t.Elem()); d.ok && zeroValue(rv.Elem()) {
		if err := precheck(data, max); err != nil {
			return err
		}
		return decodeDirect(data, rv, open, d.self)
	}
	return decodeTwice(data, v, t, max, open)
}

// zeroValue reports whether v is its type's zero value: its memory
// compared with zeros at once when it is small (~40 instructions for a
// request body's struct, where reflect's IsZero walks its fields for
// ~1,000). Memory all zeros is the zero value of every type; any other
// memory (a zero value's too: an empty string that points somewhere) is
// left to reflect's IsZero.
func zeroValue(v reflect.Value) bool {
	if n := v.Type().Size(); n <= uintptr(len(zeros)) && v.CanAddr() {
		if string(unsafe.Slice((*byte)(v.Addr().UnsafePointer()), n)) == string(zeros[:n]) {
			return true
		}
	}
	return v.IsZero()
}

// zeros is zeroValue's memory of zeros.
var zeros [512]byte

// decodeTwice is Decode's general path: parse checks data and builds the
// tree checkFields walks, then encoding/json decodes data again.
func decodeTwice(data []byte, v any, t reflect.Type, max int, open bool) error {
	tree, err := parse(data, max, hasStructs(t.Elem()))
	if err != nil {
		return err
	}
	if tree != nil {
		if err := checkFields(tree, t.Elem(), "", open); err != nil {
			return err
		}
	}
	if hasInterfaces(t.Elem()) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if !open {
			dec.DisallowUnknownFields()
		}
		err = dec.Decode(v)
	} else {
		// Without an interface value to fill, UseNumber changes nothing,
		// and checkFields has refused every key DisallowUnknownFields
		// would (fieldsOf leaves out ambiguous names): Unmarshal decodes
		// the same, without a Decoder's buffers (4x faster on a small
		// body).
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%w: %s", ErrType, fieldOf(te))
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			// A name two embedded structs both claim at one depth:
			// encoding/json uses neither.
			return ErrUnknownField
		}
		return fmt.Errorf("%w: %w", ErrType, err)
	}
	return nil
}

// fieldOf names the field of a type error, or the value's JSON kind.
func fieldOf(te *json.UnmarshalTypeError) string {
	if te.Field != "" {
		return fmt.Sprintf("%q is not a %s", truncate(te.Field), te.Value)
	}
	return "the document is a " + te.Value
}

// Object checks and decodes data, which must be a JSON object, in one
// pass into map[string]any, []any, string, json.Number, bool and nil —
// the values encoding/json produces with UseNumber. Its strings are
// substrings of one copy of data: one kept alone holds all of it, so a
// cache that keeps a few of them must copy them (strings.Clone).
func Object(data []byte, max int) (map[string]any, error) {
	v, err := parse(data, max, true)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: want an object", ErrSyntax)
	}
	return m, nil
}

// ObjectCanonical is Object, and reports whether data is already
// Marshal's encoding of the map it returns: no whitespace, the keys of
// each object in increasing byte order, and strings without escapes or
// U+2028/U+2029 (which Marshal escapes). Such bytes can be sent where
// Marshal's would be, without building them again (the vc+jwt payloads
// this node signs are in this form). A document with an escape Marshal
// would write the same way is reported as not canonical.
//
// Unlike Object's, its strings are cut from data itself, not from a copy:
// the caller must not modify data afterwards (a JWS payload just decoded
// into a buffer of its own).
func ObjectCanonical(data []byte, max int) (map[string]any, bool, error) {
	s := scanner{checkCanonical: true, shared: true}
	v, err := s.parse(data, max, true)
	if err != nil {
		return nil, false, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false, fmt.Errorf("%w: want an object", ErrSyntax)
	}
	return m, !s.notCanonical, nil
}

// parse checks data and, when build is set, returns its value.
func parse(data []byte, max int, build bool) (any, error) {
	var s scanner
	return s.parse(data, max, build)
}

// parse is the package's parse, with s's options.
func (s *scanner) parse(data []byte, max int, build bool) (any, error) {
	if err := precheck(data, max); err != nil {
		return nil, err
	}
	s.data, s.build = data, build
	if build {
		// One copy of the document (or data itself, when shared): the
		// strings built are substrings of it, not an allocation each.
		if s.shared {
			s.text = unsafe.String(unsafe.SliceData(data), len(data))
		} else {
			s.text = string(data)
		}
	}
	s.ws()
	if err := s.value(0); err != nil {
		return nil, err
	}
	s.ws()
	if s.pos != len(s.data) {
		return nil, ErrTrailingData
	}
	if s.checkCanonical && !s.notCanonical && lineSeparator(data) {
		s.notCanonical = true
	}
	return s.out, nil
}

// precheck refuses data over max bytes or not UTF-8.
func precheck(data []byte, max int) error {
	if len(data) > max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), max)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: invalid UTF-8", ErrSyntax)
	}
	return nil
}

// scanner is a small validating JSON scanner. It checks the grammar of
// RFC 8259 and records object keys to find duplicates; it allocates only
// for keys that contain escapes and for the key sets of large objects.
type scanner struct {
	data  []byte
	pos   int
	build bool // build values; the last one is in out
	out   any
	// With build, from parse: a copy of data, whose substrings are the
	// strings built (one allocation for all of them).
	text string

	// decodeDirect's first key error and first type error
	keyErr, typeErr error

	// checkCanonical (ObjectCanonical) sets notCanonical when the
	// document is not Marshal's encoding of what it builds: whitespace
	// or an escape (always recorded), a key not after the one before it,
	// or U+2028/U+2029 in a string.
	checkCanonical, notCanonical bool
	// shared (ObjectCanonical): text is data itself, not a copy.
	shared bool
	// elems holds the elements of the arrays built (cut).
	elems []any
}

func (s *scanner) errorf(msg string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, msg, s.pos)
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
			s.notCanonical = true
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) error {
	if s.pos >= len(s.data) {
		return s.errorf("unexpected end")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		if depth >= MaxDepth {
			return ErrTooDeep
		}
		return s.object(depth + 1)
	case c == '[':
		if depth >= MaxDepth {
			return ErrTooDeep
		}
		return s.array(depth + 1)
	case c == '"':
		start := s.pos
		raw, err := s.str()
		if err == nil && s.build {
			if v, ok := common(raw); ok {
				s.out = v // boxed already: no allocation
			} else {
				s.out, err = s.newString(raw, start)
			}
		}
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.pos
		err := s.number()
		if s.build {
			if s.text != "" {
				s.out = json.Number(s.text[start:s.pos])
			} else {
				s.out = json.Number(s.data[start:s.pos])
			}
		}
		return err
	case c == 't':
		s.out = true
		return s.literal("true")
	case c == 'f':
		s.out = false
		return s.literal("false")
	case c == 'n':
		s.out = nil
		return s.literal("null")
	}
	return s.errorf("unexpected character")
}

func (s *scanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return s.errorf("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) number() error {
	start := s.pos
	if err := s.numberGrammar(); err != nil {
		return err
	}
	if s.pos-start > 64 {
		return s.errorf("number too long")
	}
	return nil
}

// numberGrammar scans a number of RFC 8259's grammar, any length.
func (s *scanner) numberGrammar() error {
	if s.data[s.pos] == '-' {
		s.pos++
	}
	digits := func() int {
		n := 0
		for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	if s.pos < len(s.data) && s.data[s.pos] == '0' {
		s.pos++
	} else if digits() == 0 {
		return s.errorf("invalid number")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return s.errorf("invalid number")
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return s.errorf("invalid number")
		}
	}
	return nil
}

// str scans a string and returns its raw bytes between the quotes, and
// whether they contain escapes (reported by returning nil raw).
func (s *scanner) str() (raw []byte, err error) {
	s.pos++ // opening quote
	start := s.pos
	escaped := false
	for s.pos < len(s.data) {
		s.pos += literalRun(s.data[s.pos:])
		if s.pos >= len(s.data) {
			break
		}
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw = s.data[start:s.pos]
			s.pos++
			if escaped {
				return nil, nil
			}
			return raw, nil
		case c == '\\':
			escaped = true
			s.pos++
			if s.pos >= len(s.data) {
				return nil, s.errorf("unterminated string")
			}
			switch s.data[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				r, ok := s.hex4(s.pos + 1)
				if !ok {
					return nil, s.errorf("bad unicode escape")
				}
				s.pos += 5
				if r >= 0xd800 && r <= 0xdfff {
					// RFC 7493 §2.1: a high surrogate must be followed by
					// an escaped low one; anything else is refused (Go
					// would decode it as U+FFFD).
					lo, ok := rune(0), false
					if r <= 0xdbff && s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
						lo, ok = s.hex4(s.pos + 2)
					}
					if !ok || lo < 0xdc00 || lo > 0xdfff {
						return nil, fmt.Errorf("%w: %w at offset %d", ErrSyntax, ErrSurrogate, s.pos-6)
					}
					s.pos += 6
				}
			default:
				return nil, s.errorf("bad escape")
			}
		case c < 0x20:
			return nil, s.errorf("control character in string")
		default:
			s.pos++
		}
	}
	return nil, s.errorf("unterminated string")
}

// hex4 decodes the four hex digits at i.
func (s *scanner) hex4(i int) (rune, bool) {
	if i+4 > len(s.data) {
		return 0, false
	}
	var r rune
	for _, h := range s.data[i : i+4] {
		switch {
		case h >= '0' && h <= '9':
			h -= '0'
		case h >= 'a' && h <= 'f':
			h -= 'a' - 10
		case h >= 'A' && h <= 'F':
			h -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	return r, true
}

// literalRun returns how many bytes at the start of b a string holds as
// they are (literalByte): sixteen once, then thirty-two, sixteen then
// eight at a time while it can (~1.9 instructions a byte of a long string, cachegrind; 2.3
// sixteen at a time, 3.0 eight at a time with special's three &^). The
// first byte special marks is the first one not literal, so the step
// that meets it says where it is (the step of thirty-two leaves it to
// the step of sixteen). It is not inlined: in its own frame the loop
// keeps its values in registers (inlined into str, it spilled and
// reloaded five of them a step).
//
//go:noinline
func literalRun(b []byte) int {
	i := 0
	if len(b) >= 16 {
		// Most keys and many values end within sixteen bytes: a first
		// step of sixteen finds their end without a step of thirty-two
		// (~1,600 instructions less a credential verification; steps of
		// sixteen up to thirty-two bytes gave less).
		lo, hi := special(binary.LittleEndian.Uint64(b))&highs, special(binary.LittleEndian.Uint64(b[8:]))&highs
		if lo != 0 {
			return bits.TrailingZeros64(lo) >> 3
		}
		if hi != 0 {
			return 8 + bits.TrailingZeros64(hi)>>3
		}
		i = 16
	}
	for ; i <= len(b)-32; i += 32 {
		w := b[i : i+32 : i+32]
		if (special(binary.LittleEndian.Uint64(w))|special(binary.LittleEndian.Uint64(w[8:]))|
			special(binary.LittleEndian.Uint64(w[16:]))|special(binary.LittleEndian.Uint64(w[24:])))&highs != 0 {
			break
		}
	}
	for ; i <= len(b)-16; i += 16 {
		lo, hi := special(binary.LittleEndian.Uint64(b[i:]))&highs, special(binary.LittleEndian.Uint64(b[i+8:]))&highs
		if lo != 0 {
			return i + bits.TrailingZeros64(lo)>>3
		}
		if hi != 0 {
			return i + 8 + bits.TrailingZeros64(hi)>>3
		}
	}
	for ; i <= len(b)-8; i += 8 {
		if m := special(binary.LittleEndian.Uint64(b[i:])) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(b) && literalByte[b[i]] {
		i++
	}
	return i
}

const ones, highs = 0x0101010101010101, 0x8080808080808080

// special has, under highs, a high bit for each of w's eight bytes
// (little-endian) that is a quote, a backslash or below 0x20, and perhaps
// for bytes after one (a subtraction's borrow), never before: the lowest
// bit marks the first such byte.
func special(w uint64) uint64 {
	q, bs := w^(ones*'"'), w^(ones*'\\')
	// (x-ones)&^x marks x's zero bytes (and <0x20 for w); the high bits
	// of q and bs are w's, so one &^w serves all three.
	return ((q - ones) | (bs - ones) | (w - ones*0x20)) &^ w
}

// literalByte marks the bytes a string holds as they are: not a quote, a
// backslash or a control character.
var literalByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// key scans an object key and returns it decoded.
func (s *scanner) key() (string, error) {
	start := s.pos
	raw, err := s.str()
	if err != nil {
		return "", err
	}
	if raw != nil && s.text != "" {
		// A substring of the document's text costs nothing: common
		// would only find a shared copy of it.
		return s.text[start+1 : start+1+len(raw)], nil
	}
	return s.decodeString(raw, start)
}

// decodeString returns the string scanned from start; raw is its bytes
// when it had no escapes (nil otherwise).
func (s *scanner) decodeString(raw []byte, start int) (string, error) {
	if k, ok := common(raw); ok {
		return k.(string), nil
	}
	return s.newString(raw, start)
}

// newString is decodeString for a string that common does not hold.
func (s *scanner) newString(raw []byte, start int) (string, error) {
	if raw != nil {
		if s.text != "" {
			return s.text[start+1 : start+1+len(raw)], nil
		}
		return string(raw), nil
	}
	s.notCanonical = true // Marshal writes no escape as it was
	var k string
	if err := json.Unmarshal(s.data[start:s.pos], &k); err != nil {
		return "", s.errorf("bad string")
	}
	return k, nil
}

// lineSeparator reports whether data holds U+2028 or U+2029 (E2 80 A8
// and E2 80 A9), which Marshal escapes. In a document the scanner
// accepted they can only be in a string (a key or a value), so one search
// of the whole document tells ObjectCanonical what a search of each
// string would (~40 instructions a string less on a credential).
func lineSeparator(data []byte) bool {
	for rest := data; ; {
		i := bytes.IndexByte(rest, 0xe2)
		if i < 0 {
			return false
		}
		if i+2 < len(rest) && rest[i+1] == 0x80 && (rest[i+2] == 0xa8 || rest[i+2] == 0xa9) {
			return true
		}
		rest = rest[i+1:]
	}
}

// memberKey reads an object member's key and the ':' after it, refusing
// a key that keys already holds.
func (s *scanner) memberKey(keys *keySet) (string, error) {
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return "", s.errorf("want object key")
	}
	k, err := s.key()
	if err != nil {
		return "", err
	}
	if err := keys.add(k); err != nil {
		return "", err
	}
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return "", s.errorf("want ':'")
	}
	s.pos++
	s.ws()
	return k, nil
}

func (s *scanner) object(depth int) error {
	s.pos++ // {
	s.ws()
	var obj map[string]any
	if s.build {
		obj = map[string]any{}
	}
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.out = obj
		return nil
	}
	var keys keySet
	prev := ""
	for first := true; ; first = false {
		k, err := s.memberKey(&keys)
		if err != nil {
			return err
		}
		if s.checkCanonical {
			// Marshal writes the keys in increasing byte order (an
			// escaped key has made the document not canonical already).
			if !first && k <= prev {
				s.notCanonical = true
			}
			prev = k
		}
		if err := s.value(depth); err != nil {
			return err
		}
		if s.build {
			obj[k] = s.out
		}
		done, err := s.separator('}')
		if err != nil {
			return err
		}
		if done {
			s.out = obj
			return nil
		}
	}
}

func (s *scanner) array(depth int) error {
	s.pos++ // [
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		if s.build {
			s.out = []any{}
		}
		return nil
	}
	// A short array's elements are gathered on the stack, then copied
	// once, at their number, to s.elems (appending to an empty slice
	// allocated at 1, 2, 4...).
	var short [4]any
	arr := short[:0]
	for {
		s.ws()
		if err := s.value(depth); err != nil {
			return err
		}
		if s.build {
			arr = append(arr, s.out)
		}
		done, err := s.separator(']')
		if err != nil {
			return err
		}
		if done {
			if s.build {
				s.out = s.cut(arr)
			}
			return nil
		}
	}
}

// cut returns a copy of arr's elements in s.elems, where the arrays of a
// document are cut one after another (one allocation for several):
// capped at its length, so that appending to it copies.
func (s *scanner) cut(arr []any) []any {
	if cap(s.elems)-len(s.elems) < len(arr) {
		s.elems = make([]any, 0, max(len(arr), 8))
	}
	n := len(s.elems)
	s.elems = append(s.elems, arr...)
	return s.elems[n:len(s.elems):len(s.elems)]
}

// separator reads what follows a member or an element: a ',' or the
// closing end ('}' or ']'), which makes done.
func (s *scanner) separator(end byte) (done bool, err error) {
	s.ws()
	if s.pos >= len(s.data) {
		if end == '}' {
			return false, s.errorf("unterminated object")
		}
		return false, s.errorf("unterminated array")
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		return false, nil
	case end:
		s.pos++
		return true, nil
	}
	if end == '}' {
		return false, s.errorf("want ',' or '}'")
	}
	return false, s.errorf("want ',' or ']'")
}

// truncate keeps key names short in error messages, and hides what a key
// may hold of a person's: each run of six or more digits (with an X check
// digit after it), the length of a PIN, an ID or a passport number, is
// "***". A key is the client's data: {"11010519491231002X": ...} is a
// careless request, not a reason to echo the number.
func truncate(k string) string {
	k = hideDigits(k)
	if len(k) > 40 {
		return k[:40] + "..."
	}
	return k
}

// hideDigits replaces each run of six or more ASCII digits in k, and an
// 'X' or 'x' right after it, with "***".
func hideDigits(k string) string {
	var b strings.Builder
	done := 0 // k[:done] is in b
	for i := 0; i < len(k); {
		j := i
		for j < len(k) && k[j] >= '0' && k[j] <= '9' {
			j++
		}
		if j-i < 6 {
			i = max(j, i+1)
			continue
		}
		if j < len(k) && (k[j] == 'X' || k[j] == 'x') {
			j++
		}
		b.WriteString(k[done:i])
		b.WriteString("***")
		done, i = j, j
	}
	if done == 0 {
		return k
	}
	b.WriteString(k[done:])
	return b.String()
}

// common returns a shared copy of strings that recur in every credential
// and JWS (member names and a few values), boxed in an interface already:
// a value saves the allocation of its box, a key (a string again) that of
// its bytes when the document is not copied.
func common(b []byte) (any, bool) {
	switch string(b) { // the compiler does not allocate for this switch
	case "@context":
		return "@context", true
	case "id":
		return "id", true
	case "type":
		return "type", true
	case "issuer":
		return "issuer", true
	case "credentialSubject":
		return "credentialSubject", true
	case "credentialStatus":
		return "credentialStatus", true
	case "validFrom":
		return "validFrom", true
	case "validUntil":
		return "validUntil", true
	case "statusPurpose":
		return "statusPurpose", true
	case "statusListIndex":
		return "statusListIndex", true
	case "statusListCredential":
		return "statusListCredential", true
	case "BitstringStatusListEntry":
		return "BitstringStatusListEntry", true
	case "revocation":
		return "revocation", true
	case "suspension":
		return "suspension", true
	case "VerifiableCredential":
		return "VerifiableCredential", true
	case "EnvelopedVerifiableCredential":
		return "EnvelopedVerifiableCredential", true
	case "verifiableCredential":
		return "verifiableCredential", true
	case "credentialId":
		return "credentialId", true
	case "https://www.w3.org/ns/credentials/v2":
		return "https://www.w3.org/ns/credentials/v2", true
	case "alg":
		return "alg", true
	case "typ":
		return "typ", true
	case "cty":
		return "cty", true
	case "kid":
		return "kid", true
	case "iss":
		return "iss", true
	case "sub":
		return "sub", true
	case "iat":
		return "iat", true
	case "exp":
		return "exp", true
	case "nbf":
		return "nbf", true
	case "aud":
		return "aud", true
	case "jti":
		return "jti", true
	case "client_id":
		return "client_id", true
	case "scope":
		return "scope", true
	case "vct":
		return "vct", true
	case "cnf":
		return "cnf", true
	case "jwk":
		return "jwk", true
	case "_sd":
		return "_sd", true
	case "_sd_alg":
		return "_sd_alg", true
	case "...":
		return "...", true
	case "status":
		return "status", true
	case "status_list":
		return "status_list", true
	case "idx":
		return "idx", true
	case "uri":
		return "uri", true
	case "SM2":
		return "SM2", true
	case "vc+jwt":
		return "vc+jwt", true
	case "vc":
		return "vc", true
	}
	return "", false
}
