package dcql

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const sample = `{"credentials": [
  {"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["IdentityCredential"]},
   "claims": [{"id": "a", "path": ["age_over_18"], "values": [true]}, {"id": "b", "path": ["age_over_60"]},
              {"id": "c", "path": ["address", "locality"]}, {"id": "d", "path": ["nationalities", null]}],
   "claim_sets": [["a", "c"], ["b"]]},
  {"id": "alt", "format": "dc+sd-jwt", "meta": {"vct_values": ["AgeCredential"]}}],
 "credential_sets": [{"options": [["pid"], ["alt"]]}]}`

func TestParseAndEvaluate(t *testing.T) {
	q, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(q.ClaimNames(), ","); got != "address,age_over_18,age_over_60,nationalities" {
		t.Fatalf("claim names %s", got)
	}
	pid, _ := q.Credential("pid")
	claims := map[string]any{"age_over_18": true, "age_over_60": false, "address": map[string]any{"locality": "上海"},
		"nationalities": []any{"CHN", "HKG"}}
	met, ok := pid.Satisfied(claims)
	if !ok || len(met) != 2 || met[0].ID != "a" || met[1].ID != "c" {
		t.Fatalf("first claim set: %v %v", met, ok)
	}
	// Without the locality the second claim set is used.
	delete(claims["address"].(map[string]any), "locality")
	if met, ok = pid.Satisfied(claims); !ok || len(met) != 1 || met[0].ID != "b" {
		t.Fatalf("second claim set: %v %v", met, ok)
	}
	// A value outside values does not match.
	claims["age_over_18"] = false
	if (ClaimQuery{Path: Path{"age_over_18"}, Values: []any{true}}).Matches(claims) {
		t.Fatal("false matched values [true]")
	}
	if got := Select(claims, Path{"nationalities", nil}); len(got) != 2 {
		t.Fatalf("null selects every element: %v", got)
	}
	if got := Select(claims, Path{"nationalities", 1}); len(got) != 1 || got[0] != "HKG" {
		t.Fatalf("index: %v", got)
	}
	if !q.SetsSatisfied(map[string]bool{"alt": true}) || q.SetsSatisfied(map[string]bool{}) {
		t.Fatal("credential sets")
	}
	if !q.Allowed("alt") || q.Allowed("nope") {
		t.Fatal("allowed")
	}
	// Integers compare exactly.
	var n ClaimQuery
	json.Unmarshal([]byte(`{"path": ["n"], "values": [3]}`), &n)
	n.Values = []any{json.Number("3")}
	if !n.Matches(map[string]any{"n": json.Number("3")}) || n.Matches(map[string]any{"n": json.Number("4")}) {
		t.Fatal("integer values")
	}
}

func TestParseRefuses(t *testing.T) {
	for name, q := range map[string]string{
		"empty credentials":         `{"credentials": []}`,
		"no meta":                   `{"credentials": [{"id": "a", "format": "dc+sd-jwt"}]}`,
		"no vct_values":             `{"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {}}]}`,
		"bad id":                    `{"credentials": [{"id": "a b", "format": "x", "meta": {}}]}`,
		"repeated id":               `{"credentials": [{"id": "a", "format": "x", "meta": {}}, {"id": "a", "format": "x", "meta": {}}]}`,
		"empty path":                `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": []}]}]}`,
		"negative index":            `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x", -1]}]}]}`,
		"float index":               `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x", 1.5]}]}]}`,
		"object in path":            `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": [{}]}]}]}`,
		"sd-jwt path index":         `{"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}, "claims": [{"path": [0]}]}]}`,
		"object value":              `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x"], "values": [{}]}]}]}`,
		"empty values":              `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x"], "values": []}]}]}`,
		"empty trusted_authorities": `{"credentials": [{"id": "a", "format": "x", "meta": {}, "trusted_authorities": []}]}`,
		"claim_sets no ids":         `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x"]}], "claim_sets": [["x"]]}]}`,
		"claim_sets no claims":      `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claim_sets": [["x"]]}]}`,
		"empty credential_sets":     `{"credentials": [{"id": "a", "format": "x", "meta": {}}], "credential_sets": []}`,
		"empty option":              `{"credentials": [{"id": "a", "format": "x", "meta": {}}], "credential_sets": [{"options": [[]]}]}`,
		"wrong type":                `{"credentials": [{"id": "a", "format": "x", "meta": {}, "multiple": "yes"}]}`,
		"missing format":            `{"credentials": [{"id": "a", "meta": {}}]}`,
		"key case":                  `{"credentials": [{"ID": "a", "format": "x", "meta": {}}]}`,
		"repeated member":           `{"credentials": [{"id": "a", "id": "b", "format": "x", "meta": {}}]}`,
		"trailing data":             `{"credentials": [{"id": "a", "format": "x", "meta": {}}]} {}`,
		"oversized":                 `{"credentials": [` + strings.Repeat(" ", MaxSize) + `]}`,
		"not an object":             `[]`,
	} {
		if _, err := Parse([]byte(q)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestParseIgnoresUnknownMembers: OpenID4VP 1.0 §6, "Implementations
// MUST ignore any unknown properties", at the top level and in the rest of
// the query; a repeated member is still refused.
func TestParseIgnoresUnknownMembers(t *testing.T) {
	q, err := Parse([]byte(`{"x_top": {"a": [1]}, "credentials": [{"id": "a", "format": "dc+sd-jwt", "x_ext": true,
	  "meta": {"vct_values": ["v"], "x_meta": 1}, "claims": [{"path": ["n"], "x_claim": null}],
	  "trusted_authorities": [{"type": "aki", "values": ["k"], "x_ta": 1}]}],
	  "credential_sets": [{"options": [["a"]], "purpose": {"en": "why"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Credentials) != 1 || q.Credentials[0].Meta.VCTValues[0] != "v" || q.Credentials[0].Claims[0].Path[0] != "n" {
		t.Fatalf("parsed %+v", q)
	}
	if _, err := Parse([]byte(`{"credentials": [{"id": "a", "format": "x", "meta": {}, "x": 1, "x": 2}]}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("repeated unknown member: %v", err)
	}
}

// TestSelectAbortsOnWrongType: OpenID4VP 1.0 §7.1.1 step 2: a string
// component over a selected element that is not an object, or a null or
// index component over one that is not an array, aborts with an error
// (nothing selected), though other selected elements would match; a
// missing key or index only removes its element.
func TestSelectAbortsOnWrongType(t *testing.T) {
	claims := map[string]any{
		"degrees": []any{map[string]any{"type": "BSc"}, "not-an-object"},
		"mixed":   []any{[]any{"a"}, map[string]any{"b": 1}},
		"partial": []any{map[string]any{"type": "MSc"}, map[string]any{}},
		"short":   []any{[]any{"a", "b"}, []any{"c"}},
	}
	for _, p := range []Path{{"degrees", nil, "type"}, {"mixed", nil, nil}, {"mixed", nil, 0}, {"degrees", 0, "type", "x"}, {"degrees", 0, nil}} {
		if got := Select(claims, p); got != nil {
			t.Errorf("%v selects %v, want an error", p, got)
		}
	}
	if got := Select(claims, Path{"partial", nil, "type"}); len(got) != 1 || got[0] != "MSc" {
		t.Errorf("missing key: %v", got)
	}
	if got := Select(claims, Path{"short", nil, 1}); len(got) != 1 || got[0] != "b" {
		t.Errorf("missing index: %v", got)
	}
}

// selectOracle is §7.1.1 written recursively, for FuzzSelect: the
// elements v and path p select, or an error.
func selectOracle(v any, p Path) ([]any, error) {
	if len(p) == 0 {
		return []any{v}, nil
	}
	var children []any
	switch e := p[0].(type) {
	case string:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("not an object")
		}
		if x, ok := m[e]; ok {
			children = []any{x}
		}
	case nil:
		a, ok := v.([]any)
		if !ok {
			return nil, errors.New("not an array")
		}
		children = a
	case int:
		a, ok := v.([]any)
		if !ok {
			return nil, errors.New("not an array")
		}
		if e < len(a) {
			children = []any{a[e]}
		}
	}
	var out []any
	for _, c := range children {
		sel, err := selectOracle(c, p[1:])
		if err != nil {
			return nil, err
		}
		out = append(out, sel...)
	}
	return out, nil
}

// FuzzSelect compares Select with selectOracle over arbitrary claims and
// paths.
func FuzzSelect(f *testing.F) {
	f.Add(`{"degrees":[{"type":"BSc"},"x"],"n":["a","b"]}`, `["degrees",null,"type"]`)
	f.Add(`{"a":{"b":[[1,2],[3]]}}`, `["a","b",null,1]`)
	f.Add(`{"a":[{"b":1},{"c":2}]}`, `["a",null,"b"]`)
	f.Add(`{"a":[]}`, `["a",null,"b"]`)
	f.Fuzz(func(t *testing.T, claimsJSON, pathJSON string) {
		var claims map[string]any
		var p Path
		if json.Unmarshal([]byte(claimsJSON), &claims) != nil || claims == nil || json.Unmarshal([]byte(pathJSON), &p) != nil || len(p) == 0 {
			return
		}
		want, err := selectOracle(claims, p)
		if err != nil || len(want) == 0 {
			want = nil // step 3: an empty selection is an error
		}
		if got := Select(claims, p); !reflect.DeepEqual(got, want) {
			t.Fatalf("Select(%s, %s) = %v, want %v", claimsJSON, pathJSON, got, want)
		}
	})
}

// FuzzParse: Parse never panics, refuses with ErrInvalid, and what it
// accepts validates again after a round trip through JSON.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{"credentials":[{"id":"a","format":"dc+sd-jwt","meta":{"vct_values":["v"]},"claims":[{"path":["x",null,0]}]}]}`))
	f.Add([]byte(`{"credentials":[{"id":"a","format":"x","meta":{}}],"credential_sets":[{"options":[["a"]],"required":false}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		raw, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(raw); err != nil {
			t.Fatalf("accepted %s but not its re-encoding %s: %v", data, raw, err)
		}
		for _, c := range q.Credentials {
			for _, cl := range c.Claims {
				Select(map[string]any{"x": []any{map[string]any{"y": 1}}}, cl.Path)
			}
		}
	})
}

// TestRepeatedClaim: a credential query naming one claim path twice is
// parsed (OpenID4VP 1.0 §6.1: "Wallets SHOULD ignore such duplicate claim
// queries") and reported, for the verifier, which "MUST NOT point to the
// same claim more than once in a single query".
func TestRepeatedClaim(t *testing.T) {
	for q, want := range map[string]string{
		sample: "",
		`{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x", null]}, {"path": ["x", 0]}]},
		  {"id": "b", "format": "x", "meta": {}, "claims": [{"path": ["x", null]}, {"path": ["y"]}, {"path": ["x", null], "values": [1]}]}]}`: "b",
	} {
		p, err := Parse([]byte(q))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.RepeatedClaim(); got != want {
			t.Errorf("%s: RepeatedClaim %q, want %q", q, got, want)
		}
	}
}
