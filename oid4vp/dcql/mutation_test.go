package dcql

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestValuesCompareExactlyAcrossTypes: a values entry matches only an
// equal claim value, whatever Go type the claim was decoded to (a
// float64 or int as well as a json.Number), and a string or a boolean
// only its equal.
func TestValuesCompareExactlyAcrossTypes(t *testing.T) {
	three := ClaimQuery{Path: Path{"n"}, Values: []any{json.Number("3")}}
	for _, c := range []struct {
		claim any
		want  bool
	}{
		{json.Number("3"), true}, {json.Number("4"), false}, {json.Number("2"), false},
		{float64(3), true}, {float64(4), false}, {float64(2), false},
		{3, true}, {4, false}, {int64(3), true}, {int64(4), false},
		{"3", false}, {true, false},
	} {
		if got := three.Matches(map[string]any{"n": c.claim}); got != c.want {
			t.Errorf("values [3], claim %#v: %v, want %v", c.claim, got, c.want)
		}
	}
	for _, c := range []struct {
		q     ClaimQuery
		claim any
		want  bool
	}{
		{ClaimQuery{Path: Path{"n"}, Values: []any{"CHN"}}, "CHN", true},
		{ClaimQuery{Path: Path{"n"}, Values: []any{"CHN"}}, "HKG", false},
		{ClaimQuery{Path: Path{"n"}, Values: []any{true}}, true, true},
		{ClaimQuery{Path: Path{"n"}, Values: []any{true}}, false, false},
		{ClaimQuery{Path: Path{"n"}, Values: []any{false}}, true, false},
	} {
		if got := c.q.Matches(map[string]any{"n": c.claim}); got != c.want {
			t.Errorf("values %v, claim %#v: %v, want %v", c.q.Values, c.claim, got, c.want)
		}
	}
}

// TestParseBounds: an identifier of 64 characters is accepted and one of
// 65 refused; a query of MaxSize bytes is read and one byte more refused.
func TestParseBounds(t *testing.T) {
	query := func(id string) string {
		return `{"credentials": [{"id": "` + id + `", "format": "dc+sd-jwt", "meta": {"vct_values": ["IdentityCredential"]}}]}`
	}
	if _, err := Parse([]byte(query(strings.Repeat("a", 64)))); err != nil {
		t.Errorf("id of 64 characters: %v", err)
	}
	if _, err := Parse([]byte(query(strings.Repeat("a", 65)))); !errors.Is(err, ErrInvalid) {
		t.Errorf("id of 65 characters: %v, want ErrInvalid", err)
	}
	q := query("pid")
	at := q + strings.Repeat(" ", MaxSize-len(q))
	if _, err := Parse([]byte(at)); err != nil {
		t.Errorf("query of MaxSize bytes: %v", err)
	}
	if _, err := Parse([]byte(at + " ")); !errors.Is(err, ErrInvalid) {
		t.Errorf("query of MaxSize+1 bytes: %v, want ErrInvalid", err)
	}
}
