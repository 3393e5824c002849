package gm

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
)

// TestHeaderJWK: a jwk header member of each key type is read for its
// algorithm; a private member, another algorithm, or no object is refused.
func TestHeaderJWK(t *testing.T) {
	asMap := func(j JWK) map[string]any {
		raw, _ := json.Marshal(j)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return m
	}
	for _, alg := range []string{AlgSM2, AlgES256, AlgEdDSA} {
		k, err := GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := NewJWK(k.Public(), "")
		got, pub, err := HeaderJWK(asMap(j), alg)
		if err != nil || got.X != j.X || pub == nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if _, _, err := HeaderJWK(asMap(j), map[string]string{AlgSM2: AlgES256, AlgES256: AlgSM2, AlgEdDSA: AlgES256}[alg]); !errors.Is(err, ErrJWKAlg) {
			t.Errorf("%s under another alg: %v", alg, err)
		}
		priv := asMap(j)
		priv["d"] = "AAAA"
		if _, _, err := HeaderJWK(priv, alg); !errors.Is(err, ErrPrivateJWK) {
			t.Errorf("%s with d: %v", alg, err)
		}
	}
	for name, v := range map[string]any{"absent": nil, "a string": "jwk", "bad curve": map[string]any{"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"}} {
		if _, _, err := HeaderJWK(v, AlgES256); !errors.Is(err, ErrJWK) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
