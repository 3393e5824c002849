package dcql

import (
	"encoding/json"
	"errors"
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
		"empty credentials":     `{"credentials": []}`,
		"no meta":               `{"credentials": [{"id": "a", "format": "dc+sd-jwt"}]}`,
		"no vct_values":         `{"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {}}]}`,
		"bad id":                `{"credentials": [{"id": "a b", "format": "x", "meta": {}}]}`,
		"repeated id":           `{"credentials": [{"id": "a", "format": "x", "meta": {}}, {"id": "a", "format": "x", "meta": {}}]}`,
		"empty path":            `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": []}]}]}`,
		"negative index":        `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x", -1]}]}]}`,
		"float index":           `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x", 1.5]}]}]}`,
		"object in path":        `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": [{}]}]}]}`,
		"sd-jwt path index":     `{"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["v"]}, "claims": [{"path": [0]}]}]}`,
		"object value":          `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x"], "values": [{}]}]}]}`,
		"empty values":          `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x"], "values": []}]}]}`,
		"claim_sets no ids":     `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claims": [{"path": ["x"]}], "claim_sets": [["x"]]}]}`,
		"claim_sets no claims":  `{"credentials": [{"id": "a", "format": "x", "meta": {}, "claim_sets": [["x"]]}]}`,
		"empty credential_sets": `{"credentials": [{"id": "a", "format": "x", "meta": {}}], "credential_sets": []}`,
		"empty option":          `{"credentials": [{"id": "a", "format": "x", "meta": {}}], "credential_sets": [{"options": [[]]}]}`,
		"unknown member":        `{"credentials": [{"id": "a", "format": "x", "meta": {}, "colour": 1}]}`,
		"repeated member":       `{"credentials": [{"id": "a", "id": "b", "format": "x", "meta": {}}]}`,
		"trailing data":         `{"credentials": [{"id": "a", "format": "x", "meta": {}}]} {}`,
		"oversized":             `{"credentials": [` + strings.Repeat(" ", MaxSize) + `]}`,
		"not an object":         `[]`,
	} {
		if _, err := Parse([]byte(q)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
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
