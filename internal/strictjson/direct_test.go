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

type kind string

// direct is a type decodeDirect fills: every kind it handles.
type direct struct {
	Kind     kind              `json:"kind"`
	Flags    map[string]bool   `json:"flags"`
	Name     string            `json:"name"`
	OK       bool              `json:"ok"`
	Ptr      *string           `json:"ptr"`
	Raw      json.RawMessage   `json:"raw"`
	Docs     []inner           `json:"documents"`
	PDocs    []*inner          `json:"pdocs"`
	ByID     map[string]*inner `json:"by_id"`
	M        map[string]string `json:"m"`
	Extra    any               `json:"extra"`
	Tags     []string          `json:"tags"`
	Next     *direct           `json:"next"`
	Self     selfDecoded       `json:"self"`
	PSelf    *selfDecoded      `json:"pself"`
	Untagged string
	Skipped  string `json:"-"`
	hidden   string
}

func TestDirectOK(t *testing.T) {
	type embeds struct{ Embedded }
	type stringOpt struct {
		N string `json:"n,string"`
	}
	type twice struct { // two fields named B (encoding/json takes the tagged one): the two-pass path
		A string `json:"B"`
		B string
	}
	for _, c := range []struct {
		v    any
		want bool
	}{
		{direct{}, true}, {directTop{}, true}, {selfDecoded{}, true}, {selfList{}, true}, {struct{ T time.Time }{}, true}, {inner{}, true}, {map[string]any{}, true}, {[]string{}, true}, {json.RawMessage{}, true}, {(*any)(nil), true}, {(**[]json.RawMessage)(nil), true},
		{target{}, false}, {plain{}, false}, {embeds{}, false}, {stringOpt{}, false}, {twice{}, false},
		{struct{ N int }{}, false}, {struct{ B []byte }{}, false}, {struct{ E error }{}, false}, {struct{ N json.Number }{}, false},
	} {
		if got := directOK(reflect.TypeOf(c.v)); got != c.want {
			t.Errorf("directOK(%T) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestDecodeDirect(t *testing.T) {
	doc := `{"name":"A\u00e9","ok":true,"ptr":"p","raw": [1, {"a":2}] ,"documents":[{"number":"1"}],"pdocs":[null,{"type":"t"}],` +
		`"by_id":{"x":{"number":"2"},"y":null},"m":{"a":"b","n":null},"extra":{"n":1.50,"l":[true,null]},"tags":[],"next":{"name":"B","next":null},"Untagged":"u"}`
	var v direct
	if err := Decode([]byte(doc), &v, 1<<12); err != nil {
		t.Fatal(err)
	}
	var std direct
	if err := decodeTwice([]byte(doc), &std, reflect.TypeOf(&std), 1<<12, false); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, std) {
		t.Fatalf("one pass %+v\ntwo passes %+v", v, std)
	}
	if string(v.Raw) != `[1, {"a":2}]` || v.Extra.(map[string]any)["n"] != json.Number("1.50") || v.Tags == nil || v.Next.Name != "B" {
		t.Fatalf("decoded %+v", v)
	}
	for _, c := range []struct {
		doc  string
		want error
	}{
		{`{"name":1}`, ErrType},
		{`{"name":1,"Name":"x"}`, ErrDuplicateKey},
		{`{"name":1,"NAME2":"x"}`, ErrUnknownField},
		{`{"name":1,"Ok":true}`, ErrFieldCase},
		{`{"next":{"Ok":true},"x":1,"ok":"no"} `, ErrFieldCase},
		{`{"ok":"no","x":1} x`, ErrTrailingData},
		{`{"ok":"no","x":1,"raw":[1,]}`, ErrSyntax},
		{`{"tags":"x"}`, ErrType},
		{`[]`, ErrType},
		{`{"m":{"a":"\ud83d\ude00","a":"b"}}`, ErrDuplicateKey},
		{`{"m":{"a":"\ud800"}}`, ErrSurrogate},
		{`{"m":{"\udc00":"b"},"x":1}`, ErrSurrogate},
		{`{"extra":{"a":["\ud800\u0041"]}}`, ErrSurrogate},
	} {
		var v direct
		err := Decode([]byte(c.doc), &v, 1<<12)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.doc, err, c.want)
		}
	}
	var ke *KeyError
	if err := Decode([]byte(`{"next":{"documents":[{"Number":"1"}]}}`), &v, 1<<12); !errors.As(err, &ke) || ke.Key != "next.documents[0].Number" || ke.Want != "next.documents[0].number" {
		t.Errorf("key error %v", err)
	}
}

// TestDirectErrorPaths: the one-pass decoder's errors name where they
// are as the two-pass path's do.
func TestDirectErrorPaths(t *testing.T) {
	for doc, want := range map[string]string{
		`{"next":{"documents":[{"number":"1"},{"Number":"2"}]}}`: `"next.documents[1].Number" for "next.documents[1].number"`,
		`{"next":{"documents":[{"number":1}]}}`:                  `"next.documents[0].number" is not a number`,
		`{"by_id":{"":{"type":[]}}}`:                             `"by_id..type" is not a array`,
		`{"pdocs":[null,{"x":1}]}`:                               `"pdocs[1].x"`,
		`{"self":{}}`:                                            `"self": selfDecoded`,
		`[]`:                                                     `the document is a array`,
	} {
		var v direct
		if err := Decode([]byte(doc), &v, 1<<12); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s", doc, err, want)
		}
	}
	// Deeper than decoder.path's steps on the stack: a type error and a
	// key error.
	type node struct {
		N *node  `json:"n"`
		S string `json:"s"`
	}
	for depth := range 16 {
		prefix, suffix, path := "", "", ""
		for range depth {
			prefix, suffix, path = prefix+`{"n":`, suffix+`}`, path+"n."
		}
		var v node
		if err := Decode([]byte(prefix+`{"s":1}`+suffix), &v, 1<<12); err == nil || !strings.Contains(err.Error(), `"`+path+`s" is not a number`) {
			t.Errorf("depth %d: %v, want %ss", depth, err, path)
		}
		v = node{}
		if err := Decode([]byte(prefix+`{"S":"x"}`+suffix), &v, 1<<12); !errors.As(err, new(*KeyError)) || !strings.Contains(err.Error(), `"`+path+`S"`) {
			t.Errorf("depth %d: %v, want %sS", depth, err, path)
		}
	}
	var s selfDecoded
	if err := Decode([]byte(`{}`), &s, 1<<12); !errors.Is(err, ErrType) || !strings.Contains(err.Error(), "the document: selfDecoded") {
		t.Errorf("a document that decodes itself: %v", err)
	}
}

// TestDecodeOpen: DecodeOpen skips a key that names no field, at any
// depth, after checking its value, and keeps every other refusal.
func TestDecodeOpen(t *testing.T) {
	var v direct
	if err := DecodeOpen([]byte(`{"name":"A","x":{"y":[1,"\u0041"]},"next":{"z":null,"name":"B"},"self":5}`), &v, 1<<12); err != nil {
		t.Fatal(err)
	}
	if v.Name != "A" || v.Next.Name != "B" || v.Self.text != "5" {
		t.Fatalf("decoded %+v", v)
	}
	for _, c := range []struct {
		doc  string
		want error
	}{
		{`{"x":1,"X":2}`, ErrDuplicateKey},
		{`{"x":1,"Name":"A"}`, ErrFieldCase},
		{`{"next":{"x":1,"OK":true}}`, ErrFieldCase},
		{`{"x":"\udc00"}`, ErrSurrogate},
		{`{"x":"\xff"}`, ErrSyntax},
		{"{\"x\":\"\xff\"}", ErrSyntax},
		{`{"x":[1,]}`, ErrSyntax},
		{`{"x":1} {}`, ErrTrailingData},
		{`{"self":{},"x":1}`, ErrType},
		{`{"name":1,"x":1}`, ErrType},
	} {
		var v direct
		if err := DecodeOpen([]byte(c.doc), &v, 1<<12); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.doc, err, c.want)
		}
	}
	if err := DecodeOpen([]byte(`{"x":"`+strings.Repeat("a", 100)+`"}`), &v, 64); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

// FuzzDecodeDirect: the one-pass decoder accepts exactly what the
// two-pass path accepts, fills the same value, and refuses with the
// same sentinel (a key error for a key error).
func FuzzDecodeDirect(f *testing.F) {
	for _, s := range []string{
		`{"name":"A","ok":true,"ptr":"p","raw":[1],"documents":[{"number":"1"}],"pdocs":[null],"by_id":{"x":{"number":"2"},"y":null},"m":{"a":"b"},"extra":{"n":1},"tags":["a"],"next":{"name":"B"},"Untagged":"u"}`,
		`{"name":"A","NAME":"B"}`, `{"Name":"A"}`, `{"documents":[{"Number":"1"}]}`, `{"ok":1}`, `{"x":1}`, `[]`, `null`, `{"raw":null,"ptr":null,"tags":null}`,
		`{"name":1,"x":2}`, `{"next":{"next":{"ok":"x"}}}`, `{"kind":"k","flags":{"a":true,"b":null}}`, `{"m":{"a":1}}`, `{"extra":[1e400]}`,
		`{"name":"\ud800"}`, `{"pp":"a","mm":{"a":{"b":[1]}},"rs":[1,{"a":null}],"pa":{"x":1},"ss":[["a"],null],"mp":{"k":{"name":"n"}},"opt":"","-":{"a":{"b":"c"}}}`, `{"pp":null,"PP":1}`, `{"m":{"\udc00x":"y"}}`, `{"extra":["\ud83d\ude00\ud83d"]}`, `{"raw":"\udbff\udfff"}`,
		`{"self":1,"pself":null,"selves":["a",null,2],"mself":{"a":null,"b":"\u0041"},"list":"x","plist":["a","b"]}`, `{"self":{},"x":1}`, `{"self":[1],"name":2}`,
		`{"list":[1],"Self":2}`, `{"self":"\ud800"}`, `{"unknown":{"a":[1]},"name":"n"}`, `{"unknown":1,"UNKNOWN":2}`, `{"pself":true,"list":null}`,
	} {
		f.Add([]byte(s))
	}
	sentinels := []error{ErrSurrogate, ErrTooLarge, ErrTooDeep, ErrDuplicateKey, ErrTrailingData, ErrSyntax, ErrUnknownField, ErrFieldCase, ErrType}
	class := func(err error) error {
		var ke *KeyError
		if errors.As(err, &ke) {
			// Of several refused keys, the two-pass path reports one
			// in map order, the one-pass decoder the first.
			return ErrUnknownField
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return s
			}
		}
		return err
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compare := func(one, two any, open bool) {
			// The one-pass decoder reads a copy it then overwrites: what
			// it filled must not alias the request buffer.
			buf := bytes.Clone(data)
			err1 := decode(buf, one, 1<<12, open)
			clear(buf)
			err2 := decodeTwice(data, two, reflect.TypeOf(two), 1<<12, open)
			if (err1 == nil) != (err2 == nil) || class(err1) != class(err2) {
				t.Fatalf("%T (open %v): one pass: %v; two passes: %v", one, open, err1, err2)
			}
			if err1 == nil && !reflect.DeepEqual(one, two) {
				t.Fatalf("one pass %+v\ntwo passes %+v", one, two)
			}
		}
		for _, open := range []bool{false, true} {
			compare(new(direct), new(direct), open)
			compare(new(directTop), new(directTop), open)
			compare(new(map[string]any), new(map[string]any), open)
			compare(new(any), new(any), open)
			compare(new(**[]json.RawMessage), new(**[]json.RawMessage), open)
		}
	})
}

// directTop has the shapes direct lacks: pointers to pointers, maps of
// maps, slices of raw values, a pointer to an interface.
type directTop struct {
	PP  **string                     `json:"pp"`
	MM  map[string]map[string]any    `json:"mm"`
	RS  []json.RawMessage            `json:"rs"`
	PA  *any                         `json:"pa"`
	SS  [][]string                   `json:"ss"`
	MP  map[string]**direct          `json:"mp"`
	Opt string                       `json:"opt,omitempty"`
	Dup map[string]map[string]string `json:"-,"`
	SS2 []selfDecoded                `json:"selves"`
	MS  map[string]selfDecoded       `json:"mself"`
	L   selfList                     `json:"list"`
	PL  *selfList                    `json:"plist"`
}

// selfDecoded decodes itself (the one-pass decoder hands UnmarshalJSON
// the value's bytes as encoding/json does): a string or a number kept as
// written, null remembered; anything else refused.
type selfDecoded struct {
	text string
	null bool
}

var errSelfDecoded = errors.New("selfDecoded: want a string or a number")

func (d *selfDecoded) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*d = selfDecoded{null: true}
	case b[0] == '"' || b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*d = selfDecoded{text: string(b)}
	default:
		return errSelfDecoded
	}
	return nil
}

// selfList is a list that decodes itself from one string or an array of
// strings (as a JWT's aud).
type selfList []string

func (l *selfList) UnmarshalJSON(b []byte) error {
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = selfList{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// BenchmarkDecodeVerifyBody decodes a credential verification's body
// (an enveloped credential and options) into a struct of
// json.RawMessage: one pass against two.
func BenchmarkDecodeVerifyBody(b *testing.B) {
	type options struct {
		Challenge string   `json:"challenge"`
		Checks    []string `json:"checks"`
	}
	type req struct {
		VC      json.RawMessage `json:"verifiableCredential"`
		ID      json.RawMessage `json:"credentialId"`
		Options options         `json:"options"`
	}
	data := []byte(`{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"id":"data:application/vc+jwt,` +
		string(make([]byte, 0)) + `eyJhbGciOiJTTTIiLCJ0eXAiOiJ2Yytqd3QiLCJjdHkiOiJ2YyIsImtpZCI6ImRpZDp3ZWI6dHJ1c3RpZC5leGFtcGxlOjMxMDAwMCNrZXktMSJ9.` +
		`eyJAY29udGV4dCI6WyJodHRwczovL3d3dy53My5vcmcvbnMvY3JlZGVudGlhbHMvdjIiXSwidHlwZSI6WyJWZXJpZmlhYmxlQ3JlZGVudGlhbCJdfQ.c2ln","type":"EnvelopedVerifiableCredential"},"options":{"checks":["status"]}}`)
	for _, c := range []struct {
		name   string
		decode func(*req) error
	}{
		{"one-pass", func(r *req) error { return Decode(data, r, 1<<16) }},
		{"two-pass", func(r *req) error { return decodeTwice(data, r, reflect.TypeOf(r), 1<<16, false) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var r req
				if err := c.decode(&r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// valueMember records how Decode handed it its member; it wants the
// value built unless the member's JSON starts with "raw".
type valueMember struct {
	v    any
	raw  string
	json bool // UnmarshalJSON was called
}

func (m *valueMember) WantsValue(rest []byte) bool { return !bytes.HasPrefix(rest, []byte(`"raw`)) }

func (m *valueMember) UnmarshalJSON(b []byte) error {
	m.json, m.raw = true, string(b)
	return nil
}

func (m *valueMember) UnmarshalJSONValue(v any, raw []byte) error {
	m.v, m.raw = v, string(raw)
	return nil
}

// TestValueUnmarshaler: the one-pass path hands a ValueUnmarshaler the
// value Object builds and its JSON, sharing no memory with the document,
// or, when it wants no value, only the JSON, checked, to UnmarshalJSON;
// the general path (a destination not zero) calls its UnmarshalJSON.
func TestValueUnmarshaler(t *testing.T) {
	type body struct {
		M valueMember `json:"m"`
		S []string    `json:"s"`
	}
	// "x\u00e9" has an escape, so it is a new string whatever the
	// decoder does; "plainvalue" has none, and would be a substring of the
	// document if the built value shared its memory.
	doc := []byte(`{"m":{"a":["x\u00e9",1.5,null,true],"b":{},"c":"plainvalue"},"s":[]}`)
	var one body
	if err := Decode(doc, &one, 1<<10); err != nil {
		t.Fatal(err)
	}
	want, err := Object([]byte(`{"a":["x\u00e9",1.5,null,true],"b":{},"c":"plainvalue"}`), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if one.M.json || !reflect.DeepEqual(one.M.v, want) || one.M.raw != `{"a":["x\u00e9",1.5,null,true],"b":{},"c":"plainvalue"}` {
		t.Fatalf("one pass: %+v", one.M)
	}
	for i := range doc {
		doc[i] = 'Z'
	}
	if !reflect.DeepEqual(one.M.v, want) {
		t.Fatalf("the built value shares the document's memory: %q", one.M.v)
	}
	if one.M.raw != `{"a":["x\u00e9",1.5,null,true],"b":{},"c":"plainvalue"}` {
		t.Fatalf("the raw JSON kept shares the document's memory: %q", one.M.raw)
	}
	var raw body
	if err := Decode([]byte(`{"m":"raw\u0041","s":[]}`), &raw, 1<<10); err != nil {
		t.Fatal(err)
	}
	if !raw.M.json || raw.M.v != nil || raw.M.raw != `"raw\u0041"` {
		t.Fatalf("one pass, no value wanted: %+v", raw.M)
	}
	if err := Decode([]byte(`{"m":"raw\x","s":[]}`), &raw, 1<<10); !errors.Is(err, ErrSyntax) {
		t.Fatalf("a value not wanted is checked all the same: %v", err)
	}
	two := body{S: []string{"not zero"}}
	if err := Decode([]byte(`{"m":"t","s":[]}`), &two, 1<<10); err != nil {
		t.Fatal(err)
	}
	if !two.M.json || two.M.raw != `"t"` {
		t.Fatalf("two passes: %+v", two.M)
	}
}
