package strictjson

import (
	"bytes"
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
	} {
		if _, err := Object([]byte(c.doc), 1<<10); err != nil && c.want {
			t.Fatalf("%s: %v", c.doc, err)
		}
		if got := Canonical([]byte(c.doc)); got != c.want {
			t.Errorf("Canonical(%s) = %v, want %v", c.doc, got, c.want)
		}
	}
}

// FuzzCanonical: a document Canonical takes is Marshal's encoding of what
// Object builds from it; and one without escapes that Marshal writes
// again as it is, Canonical takes.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"c"}],"c":null}`, `{"b":1,"a":2}`, `{"a": 1}`, "{\"a\":\"\u2028\"}", `{"a":"\n"}`, `{"a":[[],{}],"b":-0.0e+1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Object(data, 1<<16)
		if err != nil {
			return
		}
		enc, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		same := bytes.Equal(enc, data)
		if got := Canonical(data); got && !same {
			t.Fatalf("Canonical(%q), but Marshal writes %q", data, enc)
		} else if !got && same && !bytes.Contains(data, []byte(`\`)) {
			t.Fatalf("Marshal writes %q as it is, not Canonical", data)
		}
	})
}
