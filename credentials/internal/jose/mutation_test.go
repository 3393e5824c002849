package jose

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
)

// TestHeaderNoneRefusedEvenIfAllowed: alg "none" (in any case) and an
// empty alg are refused even when a caller's allow-list names them.
func TestHeaderNoneRefusedEvenIfAllowed(t *testing.T) {
	for _, alg := range []string{"none", "NONE", "None", ""} {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `"}`))
		tok := h + ".e30."
		if _, err := ParseHeader(tok, []string{alg}); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("ParseHeader alg %q: %v, want ErrAlgorithm", alg, err)
		}
		if _, err := Parse(tok, []string{alg}, 1024); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("Parse alg %q: %v, want ErrAlgorithm", alg, err)
		}
	}
}

// TestNumericDateBound: a NumericDate is taken up to 1e11 seconds and
// refused one second beyond.
func TestNumericDateBound(t *testing.T) {
	if _, ok, err := NumericDate(map[string]any{"exp": json.Number("100000000000")}, "exp"); !ok || err != nil {
		t.Fatalf("1e11: %v", err)
	}
	if _, _, err := NumericDate(map[string]any{"exp": json.Number("100000000001")}, "exp"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("1e11+1: %v, want ErrMalformed", err)
	}
}

// TestParseFourParts: a token of four dot-separated parts is malformed,
// refused before its header is read (not reported as a bad algorithm).
func TestParseFourParts(t *testing.T) {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256"}`))
	if _, err := Parse(h+".e30.c2ln.c2ln", []string{"ES256"}, 1024); !errors.Is(err, ErrMalformed) || errors.Is(err, ErrAlgorithm) {
		t.Fatalf("four parts: %v, want ErrMalformed", err)
	}
}
