package strictjson

import (
	"bytes"
	"reflect"
	"testing"
)

// TestCanonical: what Marshal writes again as it is, and what it would
// write otherwise.
func TestCanonical(t *testing.T) {
	for _, c := range []struct {
		doc  string
		want bool
	}{
		{`{}`, true},
		{`{"a":[1,-2.5e3,"x",true,false,null,{},[]],"b":{"c":"é"},"é":0}`, true},
		{`{"@context":["https://www.w3.org/ns/credentials/v2"],"credentialSubject":{"id":"did:example:1"},"type":"VerifiableCredential"}`, true},
		{`{"b":1,"a":2}`, false},           // keys out of order
		{`{"a":1,"a":1}`, false},           // (Object refuses it anyway)
		{`{"a": 1}`, false},                // whitespace
		{`{"a":[1 ,2]}`, false},            // whitespace
		{`{"a":1} `, false},                // whitespace after
		{"{\"a\":\"x\u2028\"}", false},     // Marshal escapes U+2028
		{"{\"a\":\"x\u2029\"}", false},     // and U+2029
		{`{"a":"\"","b":"\u00e9"}`, false}, // an escape (even one Marshal writes)
		{`{"a\u0062":1}`, false},           // an escaped key
		{`{"ab":1,"b":2,"ba":3}`, true},    // byte order
		{`{"B":1,"a":2}`, true},            // upper case first
		{`{"a":1,"ab":2}`, true},           // a prefix first
		{`{"a":1.50,"b":1E2}`, true},       // numbers as written
		{"{\"a\":\"\xe2\x80\xa7\"}", true}, // U+2027 is not escaped
		// U+2028 and U+2029 are found wherever they are (lineSeparator
		// searches the document once, not each string).
		{"{\"x\u2028\":1}", false},                           // in a key
		{"{\"a\":[{\"b\":[\"\u2029\"]}]}", false},            // deep in a value
		{"{\"a\":\"\u20ac\u2030\",\"b\":\"\u2028\"}", false}, // after other E2 bytes
		{"{\"a\":\"\u20ac\u2027\u2030\u20ac\"}", true},       // E2 80 without A8/A9
		{"{\"a\":\"\\u0041\u2028\"}", false},                 // with an escape too
	} {
		_, got, err := ObjectCanonical([]byte(c.doc), 1<<10)
		if err != nil {
			if c.want {
				t.Fatalf("%s: %v", c.doc, err)
			}
			continue
		}
		if got != c.want {
			t.Errorf("ObjectCanonical(%s) = %v, want %v", c.doc, got, c.want)
		}
	}
}

// FuzzCanonical: ObjectCanonical builds what Object builds and reports
// what canonical, the second walk it replaces, reports; a document it
// reports canonical is Marshal's encoding of what it builds; and one
// without escapes that Marshal writes again as it is, it reports
// canonical.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"c"}],"c":null}`, `{"b":1,"a":2}`, `{"a": 1}`, "{\"a\":\"\u2028\"}", `{"a":"\n"}`, `{"a":[[],{}],"b":-0.0e+1}`,
		"{\"\u2029\":{\"b\":\"\u20ac\"}}", "{\"a\":\"\u20ac\",\"b\":[\"x\u2028\"]}", "{\"a\":\"\u20ac\u2027\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, got, err := ObjectCanonical(data, 1<<16)
		want, werr := Object(data, 1<<16)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Fatalf("%q: error %v, Object's %v", data, err, werr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("%q: %v, Object builds %v", data, m, want)
		}
		if oracle := canonical(data); got != oracle {
			t.Fatalf("ObjectCanonical(%q) says %v, the second walk %v", data, got, oracle)
		}
		enc, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		same := bytes.Equal(enc, data)
		if got && !same {
			t.Fatalf("ObjectCanonical(%q), but Marshal writes %q", data, enc)
		} else if !got && same && !bytes.Contains(data, []byte(`\`)) {
			t.Fatalf("Marshal writes %q as it is, not canonical", data)
		}
	})
}

// TestObjectCanonicalShares: ObjectCanonical's strings are cut from data
// itself, not from a copy (its doc: the caller must not modify data).
func TestObjectCanonicalShares(t *testing.T) {
	data := []byte(`{"k":"value"}`)
	m, _, err := ObjectCanonical(data, 64)
	if err != nil {
		t.Fatal(err)
	}
	copy(data[6:], "VALUE")
	if m["k"] != "VALUE" {
		t.Fatalf("ObjectCanonical copied data: %q", m["k"])
	}
	if allocs := testing.AllocsPerRun(100, func() { ObjectCanonical(data, 64) }); allocs > 3 {
		t.Errorf("ObjectCanonical made %v allocations, want at most 3 (the map and its group, the value's box)", allocs)
	}
}
