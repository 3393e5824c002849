package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Number string `json:"number"`
	Type   string `json:"type,omitempty"`
}

type Embedded struct {
	Region string `json:"region"`
}

type target struct {
	Embedded
	Name    string            `json:"name"`
	Doc     inner             `json:"document"`
	Docs    []inner           `json:"documents"`
	ByID    map[string]*inner `json:"by_id"`
	Extra   any               `json:"extra"`
	Raw     json.RawMessage   `json:"raw"`
	When    time.Time         `json:"when"`
	Count   int               `json:"count"`
	Untaged string
	Skipped string `json:"-"`
}

// TestEncodingJSONFoldsKeys shows the hole Decode closes: encoding/json
// fills a field from a key that matches it only case-insensitively, and
// of two such keys the last wins.
func TestEncodingJSONFoldsKeys(t *testing.T) {
	var v target
	if err := json.Unmarshal([]byte(`{"name":"A","NAME":"B"}`), &v); err != nil || v.Name != "B" {
		t.Fatalf("encoding/json: %q, %v", v.Name, err)
	}
	v = target{}
	err := Decode([]byte(`{"name":"A","NAME":"B"}`), &v, 1<<10)
	if !errors.Is(err, ErrDuplicateKey) || v.Name != "" {
		t.Fatalf("Decode: %q, %v", v.Name, err)
	}
}

func TestDecode(t *testing.T) {
	ok := `{"region":"310000","name":"A","document":{"number":"1","type":"t"},"documents":[{"number":"2"}],` +
		`"by_id":{"X":{"number":"3"},"y":null},"extra":{"Any":{"Thing":1}},"raw":{"Raw":1},"when":"2024-01-02T03:04:05Z","count":7,"Untaged":"u"}`
	var v target
	if err := Decode([]byte(ok), &v, 1<<10); err != nil {
		t.Fatal(err)
	}
	if v.Region != "310000" || v.Doc.Number != "1" || v.Docs[0].Number != "2" || v.ByID["X"].Number != "3" || v.Count != 7 || v.Untaged != "u" {
		t.Fatalf("decoded %+v", v)
	}
	if n := v.Extra.(map[string]any)["Any"].(map[string]any)["Thing"]; n != json.Number("1") {
		t.Fatalf("interface number %#v", n)
	}
	cases := []struct {
		in   string
		want error
	}{
		{`{"NAME":"B"}`, ErrFieldCase},
		{`{"Name":"B"}`, ErrFieldCase},
		{`{"n\u0041me":"B"}`, ErrFieldCase},
		{`{"REGION":"1"}`, ErrFieldCase},  // promoted from the embedded struct
		{`{"untaged":"u"}`, ErrFieldCase}, // Go name, no tag
		{`{"document":{"NUMBER":"1"}}`, ErrFieldCase},
		{`{"documents":[{"number":"1"},{"Number":"1"}]}`, ErrFieldCase},
		{`{"by_id":{"a":{"Type":"t"}}}`, ErrFieldCase},
		{`{"document":{"number":"1","number":"2"}}`, ErrDuplicateKey},
		{`{"document":{"number":"1","NUMBER":"2"}}`, ErrDuplicateKey},
		{`{"extra":{"a":1,"A":2}}`, ErrDuplicateKey}, // also inside values of no fixed shape
		{`{"by_id":{"a":null,"A":null}}`, ErrDuplicateKey},
		{`{"raw":{"a":1,"A":2}}`, ErrDuplicateKey},
		{`{"nickname":"B"}`, ErrUnknownField},
		{`{"Skipped":"x"}`, ErrUnknownField},
		{`{"Embedded":{"region":"1"}}`, ErrUnknownField},
		{`{"document":{"number":"1","color":"red"}}`, ErrUnknownField},
		{`{"count":"7"}`, ErrType},
		{`{"document":[]}`, ErrType},
		{`[]`, ErrType},
		{`{"when":"yesterday"}`, ErrType},
		{`{"name":"A"} {}`, ErrTrailingData},
		{`{"name":"A"}]`, ErrTrailingData},
		{`{"name":}`, ErrSyntax},
		{`{"name":"A",}`, ErrSyntax},
		{`{"name":"` + strings.Repeat("x", 2000) + `"}`, ErrTooLarge},
		{`{"extra":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, ErrTooDeep},
	}
	for _, c := range cases {
		var v target
		err := Decode([]byte(c.in), &v, 1<<10)
		if !errors.Is(err, c.want) {
			t.Errorf("Decode(%.60s) = %v, want %v", c.in, err, c.want)
		}
		if !reflect.DeepEqual(v, target{}) {
			t.Errorf("Decode(%.60s) filled the target before refusing: %+v", c.in, v)
		}
	}
}

// TestDecodeErrorsNameNoValues: error messages carry key names, never
// the document's values.
func TestDecodeErrorsNameNoValues(t *testing.T) {
	for _, in := range []string{
		`{"name":"SECRETVALUE","NAME":"SECRETVALUE"}`, `{"count":"SECRETVALUE"}`, `{"Name":"SECRETVALUE"}`,
		`{"document":{"number":"SECRETVALUE","colour":"SECRETVALUE"}}`, `{"name":"SECRETVALUE"`,
	} {
		var v target
		err := Decode([]byte(in), &v, 1<<10)
		if err == nil || strings.Contains(err.Error(), "SECRETVALUE") {
			t.Errorf("Decode(%s): %v", in, err)
		}
	}
}

// TestDecodeErrorsHideNumbersInKeys: a key is the client's data too; an
// ID number or PIN used as one (a careless client's map keyed by ID
// number) is hidden in every message that names keys, which reach error
// bodies and logs; the rest of the key is named.
func TestDecodeErrorsHideNumbersInKeys(t *testing.T) {
	for _, in := range []string{
		`{"11010519491231002X":"x"}`, `{"zz_11010519491231002x":"x"}`, `{"document":{"pin135790":"x"}}`,
		`{"by_id":{"11010519491231002X":{"Type":"t"}}}`, `{"by_id":{"11010519491231002X":1}}`,
		`{"extra":{"11010519491231002X":1,"11010519491231002x":2}}`, `{"NAME135790":"x"}`,
	} {
		var v target
		err := Decode([]byte(in), &v, 1<<10)
		if err == nil || strings.Contains(err.Error(), "135790") || strings.Contains(err.Error(), "1101051949") {
			t.Errorf("Decode(%s): %v", in, err)
		}
	}
	var v target
	if err := Decode([]byte(`{"zz_11010519491231002X_1234":"x"}`), &v, 1<<10); err == nil || !strings.Contains(err.Error(), `"zz_***_1234"`) {
		t.Errorf("the key is not named with its number hidden: %v", err)
	}
}

// TestDecodeAmbiguousEmbedded: a name two embedded structs claim at one
// depth fills nothing in encoding/json; Decode refuses it.
func TestDecodeAmbiguousEmbedded(t *testing.T) {
	type A struct{ ID string }
	type B struct{ ID string }
	type both struct {
		A
		B
		Own string `json:"own"`
	}
	var v both
	if err := Decode([]byte(`{"ID":"x"}`), &v, 100); !errors.Is(err, ErrUnknownField) {
		t.Fatalf("ambiguous field: %v", err)
	}
	if err := Decode([]byte(`{"own":"x"}`), &v, 100); err != nil || v.Own != "x" {
		t.Fatalf("own field: %v", err)
	}
	// A shallower field hides a deeper one of the same name.
	type outer struct {
		inner
		Number json.RawMessage `json:"number"`
	}
	var o outer
	if err := Decode([]byte(`{"number":{"any":1},"type":"t"}`), &o, 100); err != nil || string(o.Number) != `{"any":1}` || o.Type != "t" {
		t.Fatalf("shadowed field: %v %+v", err, o)
	}
}

func TestDecodeNeedsPointer(t *testing.T) {
	var v target
	if err := Decode([]byte(`{}`), v, 10); err == nil {
		t.Error("non-pointer accepted")
	}
	if err := Decode([]byte(`{}`), (*target)(nil), 10); err == nil {
		t.Error("nil pointer accepted")
	}
}

// FuzzFold: Decode's case folding is encoding/json's. Whenever
// encoding/json fills field "name" from a key, the key is "name" or folds
// like it, and Decode says so (ErrFieldCase) or accepts it (exact).
func FuzzFold(f *testing.F) {
	for _, k := range []string{"name", "NAME", "nAmE", "na\u212ae", "\u017fname", "ñame", "NAMEs", "K", "\u212a"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		key, _ := json.Marshal(k)
		doc := []byte(`{` + string(key) + `:"v"}`)
		var std struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(doc, &std) != nil {
			return
		}
		filled := std.Name == "v"
		err := Decode(doc, &std, 1<<20)
		switch {
		case filled && k == "name":
			if err != nil {
				t.Fatalf("exact key refused: %v", err)
			}
		case filled:
			if !errors.Is(err, ErrFieldCase) {
				t.Fatalf("key %q fills the field in encoding/json; Decode: %v", k, err)
			}
		default:
			if !errors.Is(err, ErrUnknownField) && !errors.Is(err, ErrSyntax) {
				t.Fatalf("key %q fills nothing; Decode: %v", k, err)
			}
			if equalFold(k, "name") {
				t.Fatalf("key %q folds like name but encoding/json does not fill the field", k)
			}
		}
		// Two keys in one object: a duplicate for Check exactly when
		// encoding/json would treat them as one field name.
		pair := []byte(`{"name":1,` + string(key) + `:2}`)
		if dup := errors.Is(Check(pair, 1<<20), ErrDuplicateKey); dup != (filled || k == "name") && utf8ValidKey(k) {
			t.Fatalf("key %q with name: duplicate=%v, encoding/json fills=%v", k, dup, filled)
		}
	})
}

func utf8ValidKey(k string) bool { return strings.ToValidUTF8(k, "\ufffd") == k }

// FuzzDecode: Decode never panics; it refuses only with its sentinels;
// what it accepts encoding/json decodes to the same value, and the value
// re-encoded decodes again to itself.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"region":"1","name":"A","document":{"number":"1"},"documents":[{"number":"2","type":"t"}],"by_id":{"k":{"number":"3"}},"extra":[1,{"a":null}],"raw":[true],"when":"2024-01-02T03:04:05Z","count":1}`,
		`{"name":"A","NAME":"B"}`, `{"Name":"A"}`, `{"document":{"Number":"1"}}`, `{"count":1e400}`, `{"x":1}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	sentinels := []error{ErrTooLarge, ErrTooDeep, ErrDuplicateKey, ErrTrailingData, ErrSyntax, ErrUnknownField, ErrFieldCase, ErrType}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v target
		err := Decode(data, &v, 1<<12)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error without a sentinel: %v", err)
		}
		var std target
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("Decode accepted what encoding/json refuses: %v", err)
		}
		if !reflect.DeepEqual(v, std) {
			t.Fatalf("Decode %+v, encoding/json %+v", v, std)
		}
		out, err := json.Marshal(v)
		if err != nil {
			return // e.g. a time outside what encoding/json writes
		}
		var again target
		if err := Decode(out, &again, 1<<16); err != nil {
			t.Fatalf("re-encoded value refused: %v\n%s", err, out)
		}
		out2, _ := json.Marshal(again)
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}

// plain is target without an interface value: Decode takes its
// json.Unmarshal path for it.
type plain struct {
	Embedded
	Name    string            `json:"name"`
	Doc     inner             `json:"document"`
	Docs    []inner           `json:"documents"`
	ByID    map[string]*inner `json:"by_id"`
	Raw     json.RawMessage   `json:"raw"`
	When    time.Time         `json:"when"`
	Count   int               `json:"count"`
	Untaged string
}

func TestHasInterfaces(t *testing.T) {
	type deep struct{ M map[string][]*struct{ X any } }
	type self struct {
		Next *self
		N    int
	}
	for _, c := range []struct {
		v    any
		want bool
	}{
		{target{}, true}, {plain{}, false}, {deep{}, true}, {self{}, false}, {map[string]any{}, true},
		{[]string{}, false}, {json.RawMessage{}, false}, {time.Time{}, false},
	} {
		if got := hasInterfaces(reflect.TypeOf(c.v)); got != c.want {
			t.Errorf("hasInterfaces(%T) = %v, want %v", c.v, got, c.want)
		}
	}
}

// FuzzDecodePlain: for a type without interface values Decode (through
// json.Unmarshal) accepts and fills exactly what a Decoder with
// UseNumber and DisallowUnknownFields does after the strict checks.
func FuzzDecodePlain(f *testing.F) {
	for _, s := range []string{
		`{"region":"1","name":"A","document":{"number":"1"},"documents":[{"number":"2","type":"t"}],"by_id":{"k":{"number":"3"},"n":null},"raw":[true],"when":"2024-01-02T03:04:05Z","count":1,"Untaged":"u"}`,
		`{"name":"A","NAME":"B"}`, `{"count":"1"}`, `{"count":1.5}`, `{"document":[]}`, `{"when":"x"}`, `{"extra":1}`, `[]`, `null`, `{"count":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v plain
		err := Decode(data, &v, 1<<12)
		var std plain
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		dec.DisallowUnknownFields()
		stdErr := dec.Decode(&std)
		if err != nil {
			if errors.Is(err, ErrType) && stdErr == nil {
				t.Fatalf("Decode refused as a type error what the Decoder accepts: %v", err)
			}
			return
		}
		if stdErr != nil {
			t.Fatalf("Decode accepted what the Decoder refuses: %v", stdErr)
		}
		if !reflect.DeepEqual(v, std) {
			t.Fatalf("Decode %+v, Decoder %+v", v, std)
		}
	})
}

// BenchmarkDecodeSmall decodes a status change's body ({"action":...})
// into its struct: the json.Unmarshal path.
func BenchmarkDecodeSmall(b *testing.B) {
	type req struct {
		Action string `json:"action"`
	}
	data := []byte(`{"action":"suspend"}`)
	b.ReportAllocs()
	for b.Loop() {
		var r req
		if err := Decode(data, &r, 1<<16); err != nil {
			b.Fatal(err)
		}
	}
}
