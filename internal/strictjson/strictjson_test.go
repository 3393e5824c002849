package strictjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		in   string
		want error
	}{
		{`{"a":1,"b":[1,2,{"c":"d"}],"e":null,"f":true,"g":-1.5e3}`, nil},
		{` [] `, nil},
		{`"x\u00e9\n"`, nil},
		{`{"a":1,"a":2}`, ErrDuplicateKey},
		{`{"a":{"b":1,"b":1}}`, ErrDuplicateKey},
		{`[{"x":1},{"x":1,"y":2,"x":3}]`, ErrDuplicateKey},
		{`{"a":1,"\u0061":2}`, ErrDuplicateKey},
		{`{"name":"A","NAME":"B"}`, ErrDuplicateKey},
		{`{"x":{"name":"A","Name":"B"}}`, ErrDuplicateKey},
		{`[{"k":1},{"id":1,"y":2,"iD":3}]`, ErrDuplicateKey},
		{`{"s":1,"ſ":2}`, ErrDuplicateKey},      // long s folds like s in encoding/json
		{`{"k":1,"K":2}`, ErrDuplicateKey},      // Kelvin sign folds like k
		{`{"a":1,"\u0041":2}`, ErrDuplicateKey}, // escaped upper case
		{`{"name":1,"nam":2,"names":3,"na me":4}`, nil},
		{`{"é":1,"Éx":2}`, nil},
		{`{"a":1} {"b":2}`, ErrTrailingData},
		{`{"a":1}x`, ErrTrailingData},
		{`{"a":01}`, ErrSyntax},
		{`01`, ErrTrailingData},
		{`{"a":1,}`, ErrSyntax},
		{`{"a" 1}`, ErrSyntax},
		{`{'a':1}`, ErrSyntax},
		{`[1,2`, ErrSyntax},
		{`"abc`, ErrSyntax},
		{"\"a\x01\"", ErrSyntax},
		{`"\x"`, ErrSyntax},
		{`tru`, ErrSyntax},
		{``, ErrSyntax},
		{"\xff", ErrSyntax},
		{strings.Repeat("[", 65) + strings.Repeat("]", 65), ErrTooDeep},
	}
	for _, c := range cases {
		err := Check([]byte(c.in), 1<<20)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Check(%q) = %v, want %v", c.in, err, c.want)
		}
	}
	if err := Check([]byte(`{"a":1}`), 3); !errors.Is(err, ErrTooLarge) {
		t.Errorf("size limit: %v", err)
	}
}

// TestManyKeys crosses the switch from linear comparison to a set.
func TestManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 40; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	ok := b.String() + "}"
	if err := Check([]byte(ok), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := Check([]byte(b.String()+`,"kxxxxx":2}`), 1<<20); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("late duplicate: %v", err)
	}
	if err := Check([]byte(b.String()+`,"KXXXXX":2}`), 1<<20); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("late case-folded duplicate: %v", err)
	}
	// Around the switch from comparing keys linearly to the set (16
	// keys), on both decoding paths: a repeat of the first and of the
	// last key before it is refused, n distinct keys are not.
	for n := 14; n <= 19; n++ {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = `"k` + strconv.Itoa(i) + `":1`
		}
		obj := "{" + strings.Join(keys, ",")
		var m map[string]any
		var v any
		if err := Decode([]byte(obj+"}"), &m, 1<<20); err != nil || len(m) != n {
			t.Fatalf("%d keys into a map: %d, %v", n, len(m), err)
		}
		for _, dup := range []string{`"K0":2`, `"k` + strconv.Itoa(n-1) + `":2`} {
			doc := []byte(obj + "," + dup + "}")
			m = nil
			if err := Check(doc, 1<<20); !errors.Is(err, ErrDuplicateKey) {
				t.Errorf("%d keys then %s, Check: %v", n, dup, err)
			}
			if err := Decode(doc, &m, 1<<20); !errors.Is(err, ErrDuplicateKey) {
				t.Errorf("%d keys then %s, into a map: %v", n, dup, err)
			}
			if err := Decode(doc, &v, 1<<20); !errors.Is(err, ErrDuplicateKey) {
				t.Errorf("%d keys then %s, into an interface: %v", n, dup, err)
			}
		}
	}
}

func TestDecodeNumbers(t *testing.T) {
	m, err := Object([]byte(`{"n":12345678901234567890}`), 100)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := m["n"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Fatalf("number %#v", m["n"])
	}
	if _, err := Object([]byte(`[1]`), 100); err == nil {
		t.Fatal("array accepted as object")
	}
	if _, err := Object([]byte(`null`), 100); err == nil {
		t.Fatal("null accepted as object")
	}
}

// FuzzCheck: Check never panics, and whatever it accepts encoding/json
// accepts too.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,"x",{"b":null}]`, `{"a":1,"a":2}`, `"\ud800"`, `1e5`, `-0.5`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if Check(data, 1<<16) == nil && !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
	})
}

// TestObjectMatchesEncodingJSON: Object builds what encoding/json with
// UseNumber builds.
func TestObjectMatchesEncodingJSON(t *testing.T) {
	doc := `{"a":[1,-2.5e3,"x\u00e9\"\\/",true,false,null,{}],"b":{"c":[],"d":"\ud83d\ude00"},"e\n":0}`
	got, err := Object([]byte(doc), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := Decode([]byte(doc), &want, 1<<10); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Object\n%#v\nencoding/json\n%#v", got, want)
	}
}

// FuzzObject: Object builds what encoding/json with UseNumber builds, and
// no value it returns shares memory with data (its strings are
// substrings of one copy): the document is overwritten before comparing.
func FuzzObject(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"\u0041"}],"c":null}`))
	f.Add([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2","https://x.example"],"type":["VerifiableCredential","X"],"n":[1,2,3,4,5,6,7,8,9],"e":[],"k":"v"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Object(data, 1<<16)
		if err != nil {
			return
		}
		var want map[string]any
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		if err := d.Decode(&want); err != nil {
			t.Fatalf("Object accepted what encoding/json rejects: %v", err)
		}
		in := string(data)
		for i := range data {
			data[i] = 'x'
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("mismatch for %q", in)
		}
		if !capped(got) {
			t.Fatalf("an array of %q has room past its length", in)
		}
	})
}

// capped reports whether every array in v has its length as capacity:
// appending to one of the arrays Object cuts from one allocation copies
// it, not writes over the next.
func capped(v any) bool {
	switch v := v.(type) {
	case []any:
		if cap(v) != len(v) {
			return false
		}
		for _, e := range v {
			if !capped(e) {
				return false
			}
		}
	case map[string]any:
		for _, e := range v {
			if !capped(e) {
				return false
			}
		}
	}
	return true
}

// TestArraysShareAllocation: the arrays of a document are cut from one
// allocation (four arrays, one allocation for their elements), each
// its own: appending to one or setting its elements leaves the others.
func TestArraysShareAllocation(t *testing.T) {
	doc := []byte(`{"a":[[true],[false],[null,true]]}`)
	allocs := testing.AllocsPerRun(100, func() { Object(doc, 1<<10) })
	// The map and its group, the copy of the document, each array's
	// slice header in its interface value, and the elements.
	if allocs > 8 {
		t.Errorf("Object made %v allocations, want at most 8", allocs)
	}
	m, err := Object(doc, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	a := m["a"].([]any)
	first, second := a[0].([]any), a[1].([]any)
	_ = append(first, "x")
	first[0] = "y"
	if second[0] != false || len(second) != 1 || a[2].([]any)[0] != nil {
		t.Fatalf("changing one array changed another: %v", m)
	}
}

// TestMarshalMatchesEncodingJSON: Marshal writes what encoding/json writes
// with HTML escaping off.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	docs := []any{
		map[string]any{"b": []any{1, int64(-2), json.Number("3.5e1"), "x\"y\\z\n\t\x01\u2028<&>", true, false, nil}, "a": map[string]any{}, "é": []any{}},
		"\xff invalid",
		map[string]any{"f": 1.5, "s": []string{"typed <&>"}, "k\xfe": "v\xff\xc3("},
	}
	for _, d := range docs {
		got, err := Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(d)
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if !bytes.Equal(got, want) {
			t.Errorf("Marshal\n%s\nencoding/json\n%s", got, want)
		}
	}
	for _, n := range []json.Number{"1x", " 1", "1 ", "true", `"1"`, "[1]", "01", "-", "1.", "+1", ".5", json.Number("1" + strings.Repeat("0", 80) + ".")} {
		if _, err := Marshal(map[string]any{"n": n}); err == nil {
			t.Errorf("invalid json.Number %q accepted", n)
		}
		if _, err := json.Marshal(n); err == nil {
			t.Errorf("encoding/json encodes json.Number %q", n)
		}
	}
	long := json.Number("1" + strings.Repeat("0", 80) + ".5e-7")
	if got, err := Marshal(long); err != nil || string(got) != string(long) {
		t.Errorf("a long json.Number: %s, %v", got, err)
	}
}

func FuzzMarshal(f *testing.F) {
	f.Add([]byte(`{"a":[1,"\u2028",{"b":null}],"c":"\ud83d\ude00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Object(data, 1<<16)
		if err != nil {
			return
		}
		got, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(m)
		if want := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
			t.Fatalf("Marshal %s\nencoding/json %s", got, want)
		}
	})
}

// TestSurrogates: an escaped UTF-16 surrogate must be half of a pair
// (RFC 7493 §2.1), in keys and values, on every path; encoding/json
// alone would decode "\ud800" as U+FFFD.
func TestSurrogates(t *testing.T) {
	type target struct {
		Name string `json:"name"`
		Tag  any    `json:"tag"`
	}
	type twoPass struct { // an int field: Decode's two-pass path
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	decoders := map[string]func([]byte) error{
		"Check":  func(d []byte) error { return Check(d, 1<<10) },
		"Object": func(d []byte) error { _, err := Object(d, 1<<10); return err },
		"Decode one pass": func(d []byte) error {
			var v target
			return Decode(d, &v, 1<<10)
		},
		"Decode two passes": func(d []byte) error {
			var v twoPass
			return Decode(d, &v, 1<<10)
		},
		"Decode map": func(d []byte) error {
			var v map[string]any
			return Decode(d, &v, 1<<10)
		},
	}
	for _, bad := range []string{
		`"\ud800"`, `"\uDBFF"`, `"\udc00"`, `"\uDFFF"`, `"x\ud800y"`, `"\ud800\u0041"`, `"\ud800\ud800"`,
		`"\udc00\ud800"`, `"\ud800\n"`, `"\ud800\"`, `"\ud800\u"`, `"\ud800\udc0"`, `"\ud800\\udc00"`,
	} {
		for _, doc := range []string{`{"name":` + bad + `}`, `{` + bad + `:"x"}`, `{"tag":{"a":[` + bad + `]}}`} {
			for name, decode := range decoders {
				err := decode([]byte(doc))
				if !errors.Is(err, ErrSurrogate) || !errors.Is(err, ErrSyntax) {
					t.Errorf("%s(%s): %v, want %v", name, doc, err, ErrSurrogate)
				}
			}
		}
	}
	for _, good := range []string{`"\ud83d\ude00"`, `"\uD83D\uDE00"`, `"\ud800\udc00"`, `"\udbff\udfff"`, `"\ud7ff\ue000"`, `"😀"`} {
		doc := `{"name":` + good + `}`
		for name, decode := range decoders {
			if err := decode([]byte(doc)); err != nil {
				t.Errorf("%s(%s): %v", name, doc, err)
			}
		}
		var v struct {
			Name string `json:"name"`
		}
		if err := Decode([]byte(doc), &v, 1<<10); err != nil || strings.ContainsRune(v.Name, utf8.RuneError) {
			t.Errorf("%s decoded as %q, %v", good, v.Name, err)
		}
	}
}

// TestLiteralRunWords: literalRun's eight-byte test finds the first
// quote, backslash or control character wherever it sits, among any
// other bytes (it agrees with literalByte on every word tried).
func TestLiteralRunWords(t *testing.T) {
	check := func(x uint64) {
		t.Helper()
		want := 8 // the first byte literalByte does not mark
		for i := range 8 {
			if !literalByte[byte(x>>(8*i))] {
				want = i
				break
			}
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		if got := literalRun(w[:]); got != want {
			t.Fatalf("literalRun(%#016x) finds byte %d, want %d", x, got, want)
		}
	}
	for c := range 256 {
		for p := range 8 {
			for _, fill := range []byte{'a', 0x80, 0xff, 0x21, 0x5d} {
				x := uint64(0)
				for i := range 8 {
					b := fill
					if i == p {
						b = byte(c)
					}
					x |= uint64(b) << (8 * i)
				}
				check(x)
			}
		}
	}
	// Random words, and words of the bytes next to the special ones.
	near := []byte{0, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7f, 0x80, 0xa2, 0xdc, 0xff}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		x, y := r.Uint64(), uint64(0)
		for i := range 8 {
			y |= uint64(near[r.IntN(len(near))]) << (8 * i)
		}
		check(x)
		check(y)
	}
}
