package strictjson

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestLimitsAreExact: a document of exactly max bytes, a number of 64
// bytes and nesting of MaxDepth objects or arrays pass; one byte or one
// level more is refused, by the scanner and by the one-pass decoder.
func TestLimitsAreExact(t *testing.T) {
	doc := []byte(`{"a":"xyz"}`)
	if err := Check(doc, len(doc)); err != nil {
		t.Errorf("a document of exactly max bytes: %v", err)
	}
	if err := Check(doc, len(doc)-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a document of max+1 bytes: %v, want %v", err, ErrTooLarge)
	}
	if err := Check([]byte(strings.Repeat("1", 64)), 1<<10); err != nil {
		t.Errorf("a number of 64 bytes: %v", err)
	}
	if err := Check([]byte(strings.Repeat("1", 65)), 1<<10); !errors.Is(err, ErrSyntax) {
		t.Errorf("a number of 65 bytes: %v, want %v", err, ErrSyntax)
	}
	objects := func(n int) []byte {
		return []byte(strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1))
	}
	if err := Check(objects(MaxDepth), 1<<12); err != nil {
		t.Errorf("%d nested objects: %v", MaxDepth, err)
	}
	if err := Check(objects(MaxDepth+1), 1<<12); !errors.Is(err, ErrTooDeep) {
		t.Errorf("%d nested objects: %v, want %v", MaxDepth+1, err, ErrTooDeep)
	}

	// The one-pass decoder counts its own depth: objects and arrays
	// alternate, so the innermost value is an object or an array as the
	// top one and the count choose.
	type node struct {
		A []node `json:"a"`
	}
	nested := func(n int, top byte) []byte {
		var b strings.Builder
		open, end := []string{}, []string{}
		for i := range n {
			if (i%2 == 0) == (top == '{') {
				if i == n-1 {
					open, end = append(open, `{`), append(end, `}`)
				} else {
					open, end = append(open, `{"a":`), append(end, `}`)
				}
			} else {
				open, end = append(open, `[`), append(end, `]`)
			}
		}
		for _, s := range open {
			b.WriteString(s)
		}
		for i := len(end) - 1; i >= 0; i-- {
			b.WriteString(end[i])
		}
		return []byte(b.String())
	}
	for _, top := range []byte{'{', '['} {
		decode := func(d []byte) error {
			if top == '{' {
				var v node
				return Decode(d, &v, 1<<12)
			}
			var v []node
			return Decode(d, &v, 1<<12)
		}
		if err := decode(nested(MaxDepth, top)); err != nil {
			t.Errorf("Decode, top %c, %d levels: %v", top, MaxDepth, err)
		}
		// Odd MaxDepth+1 levels end in a value of the top's kind.
		if err := decode(nested(MaxDepth+1, top)); !errors.Is(err, ErrTooDeep) {
			t.Errorf("Decode, top %c, %d levels: %v, want %v", top, MaxDepth+1, err, ErrTooDeep)
		}
	}
}

// TestMalformedIsSyntaxError: documents cut short inside an escape, keys
// without their quotes or colon, escapes JSON does not have, an exponent
// without digits, control characters and surrogates just outside their
// ranges are ErrSyntax, never accepted and never a panic.
func TestMalformedIsSyntaxError(t *testing.T) {
	for _, bad := range []string{
		`"abc\`, `"\u12`, `"\u`, `"\ud800\u12`,
		`{a":1}`, `{"a"x1}`, `{"a"`,
		`"\a"`, "\"\\\x00\"", `"\U0041"`,
		`1e`, `1E+`, `1e-}`, `[1e]`,
		"\"\x1f\"", "{\"\x1f\":1}",
		`"\udc00\udc00"`, `"\udfff\udc00"`, // a low surrogate first
		`"\ud800\udbff"`, `"\ud800\ue000"`, // a high one, then no low one
	} {
		d := []byte(bad)
		if err := Check(d[:len(d):len(d)], 1<<10); !errors.Is(err, ErrSyntax) { // no room to read past the end
			t.Errorf("Check(%q) = %v, want %v", bad, err, ErrSyntax)
		}
		var v struct {
			A string `json:"a"`
		}
		if err := Decode([]byte(`{"a":`+bad+`}`), &v, 1<<10); !errors.Is(err, ErrSyntax) {
			t.Errorf("Decode(%q) = %v, want %v", bad, err, ErrSyntax)
		}
	}
	for _, good := range []string{"\"\x20\x7f\"", `1e5`, `1E+5`, `"\/\b\f\n\r\t\"\\"`} {
		if err := Check([]byte(good), 1<<10); err != nil {
			t.Errorf("Check(%q) = %v", good, err)
		}
	}
}

// upperKey is a map key that decodes itself, as encoding/json allows.
type upperKey string

func (k *upperKey) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty key")
	}
	*k = upperKey(strings.ToUpper(string(b)))
	return nil
}

// TestDecodeMapKeyUnmarshalText: a map key type with its own
// UnmarshalText gets every key, as in encoding/json (the one-pass path
// leaves such maps to it): its refusal is kept.
func TestDecodeMapKeyUnmarshalText(t *testing.T) {
	var m map[upperKey]string
	if err := Decode([]byte(`{"ab":"x"}`), &m, 1<<10); err != nil || m["AB"] != "x" || len(m) != 1 {
		t.Errorf("Decode = %v, %v; want key AB", m, err)
	}
	m = nil
	if err := Decode([]byte(`{"":"x"}`), &m, 1<<10); err == nil {
		t.Errorf("a key its UnmarshalText refuses decoded: %v", m)
	}
}

// TestDecodeReportsFirstTypeError: of two values of the wrong type the
// error names the first.
func TestDecodeReportsFirstTypeError(t *testing.T) {
	var v struct {
		A string `json:"a"`
		B string `json:"b"`
	}
	err := Decode([]byte(`{"a":1,"b":true}`), &v, 1<<10)
	if !errors.Is(err, ErrType) || !strings.Contains(err.Error(), `"a" is not a number`) {
		t.Errorf("Decode = %v, want %q is not a number", err, "a")
	}
}

// TaggedA and TaggedB name a field alike; embedded together they fill
// nothing. (The type is made with reflect: vet refuses it written out.)
type TaggedA struct {
	ID string `json:"id"`
}
type TaggedB struct {
	ID string `json:"id"`
}
type taggedUpper struct {
	ID string `json:"ID"`
}

// TestDecodeEmbeddedTaggedNames: of two embedded fields named alike at
// one depth, a tagged one wins over an untagged one (as in
// encoding/json), and two tagged ones fill nothing: the key is unknown.
func TestDecodeEmbeddedTaggedNames(t *testing.T) {
	two := reflect.New(reflect.StructOf([]reflect.StructField{
		{Name: "TaggedA", Type: reflect.TypeFor[TaggedA](), Anonymous: true},
		{Name: "TaggedB", Type: reflect.TypeFor[TaggedB](), Anonymous: true},
		{Name: "N", Type: reflect.TypeFor[int](), Tag: `json:"n"`}, // the two-pass path: encoding/json would skip the key
	})).Interface()
	if err := Decode([]byte(`{"id":"x"}`), two, 100); !errors.Is(err, ErrUnknownField) {
		t.Errorf("two tagged fields of one name: %v, want %v", err, ErrUnknownField)
	}
	type untagged struct {
		ID string
	}
	var one struct {
		taggedUpper
		untagged
	}
	if err := Decode([]byte(`{"ID":"x"}`), &one, 100); err != nil || one.taggedUpper.ID != "x" {
		t.Errorf("the tagged field of one name: %v, %+v", err, one)
	}
}
