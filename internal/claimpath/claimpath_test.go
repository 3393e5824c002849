package claimpath

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestKeep: OID4VCI 1.0 Appendix C.1 selection, keeping the structure:
// members of objects, elements of arrays (null: every one; an index: that
// one), each selected element whole; nothing selected is reported.
func TestKeep(t *testing.T) {
	var v any
	if err := json.Unmarshal([]byte(`{"name":"Arthur Dent","address":{"street_address":"42 Market Street","locality":"Milliways"},
		"degrees":[{"type":"BSc","university":"Betelgeuse"},{"type":"MSc","university":"Betelgeuse"}],"nationalities":["British","Betelgeusian"]}`), &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		paths string
		want  string // "": nothing selected
	}{
		{`[["name"]]`, `{"name":"Arthur Dent"}`},
		{`[["address"]]`, `{"address":{"locality":"Milliways","street_address":"42 Market Street"}}`},
		{`[["address","locality"],["name"]]`, `{"address":{"locality":"Milliways"},"name":"Arthur Dent"}`},
		{`[["degrees",null,"type"]]`, `{"degrees":[{"type":"BSc"},{"type":"MSc"}]}`},
		{`[["nationalities",1]]`, `{"nationalities":["Betelgeusian"]}`},
		{`[["degrees",1,"type"],["degrees",null,"university"]]`, `{"degrees":[{"university":"Betelgeuse"},{"type":"MSc","university":"Betelgeuse"}]}`},
		{`[["nickname"]]`, ``},
		{`[["name","first"]]`, ``},
		{`[["nationalities",7]]`, ``},
		{`[[null]]`, ``},
	} {
		var paths []Path
		if err := json.Unmarshal([]byte(c.paths), &paths); err != nil {
			t.Fatal(err)
		}
		got, found := Keep(v, paths)
		raw, _ := json.Marshal(got)
		if found != (c.want != "") || (found && string(raw) != c.want) {
			t.Errorf("Keep %s: %s (found %v), want %q", c.paths, raw, found, c.want)
		}
	}
}

// TestParse: Appendix B.1 and B.3. Other members of a claims description
// object are ignored; the processing aborts on a claim named twice, null
// and an index into one array, and one claim taken as an array and an
// object.
func TestParse(t *testing.T) {
	got, err := Parse(json.RawMessage(`[{"path":["a",null,"b"],"mandatory":true,"display":[]},{"path":["a",null,"c"]},{"path":["d",0]},{"path":["d",1]}]`))
	want := []Description{{Path: Path{"a", nil, "b"}, Mandatory: true}, {Path: Path{"a", nil, "c"}}, {Path: Path{"d", 0}}, {Path: Path{"d", 1}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse: %#v, %v", got, err)
	}
	if got, err := Parse(nil); got != nil || err != nil {
		t.Fatalf("no claims: %v, %v", got, err)
	}
	for _, bad := range []string{`null`, `[]`, `{}`, `[1]`, `[{}]`, `[{"path":[]}]`, `[{"path":["a"],"mandatory":1}]`,
		`[{"path":["a"]},{"path":["a"]}]`, `[{"path":["a",null]},{"path":["a",2]}]`, `[{"path":["a","b"]},{"path":["a",null]}]`,
		`[{"path":["a"],"path":["b"]}]`, `[{"path":["a",-1]}]`} {
		if _, err := Parse(json.RawMessage(bad)); err == nil {
			t.Errorf("Parse %s: accepted", bad)
		}
	}
}
