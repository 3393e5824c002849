package gm

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
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

// TestJWKUse: a JWK verifies signatures only when it is meant to. RFC 7517
// §4.2: "The "use" (public key use) parameter identifies the intended use
// of the public key" ("sig" signature, "enc" encryption); §4.3: "The
// "key_ops" (key operations) parameter identifies the operation(s) for
// which the key is intended to be used" ("verify": verify digital
// signature or MAC). A key with neither member verifies; one for
// encryption, or whose key_ops lack "verify", is ErrJWKUse (and ErrJWK).
// A set holding an encryption key still parses, the key kept.
func TestJWKUse(t *testing.T) {
	key, _ := GenerateSigner(AlgSM2, rand.Reader)
	j, _ := NewJWK(key.Public(), "k1")
	raw, _ := json.Marshal(j)
	with := func(members string) string { return string(raw[:len(raw)-1]) + members + "}" }
	noUse := strings.Replace(string(raw), `,"use":"sig"`, "", 1)
	for _, c := range []struct {
		jwk      string
		verifies bool
	}{
		{noUse, true},
		{string(raw), true},
		{with(`,"key_ops":["verify"]`), true},
		{with(`,"key_ops":["sign","verify"]`), true},
		{strings.Replace(string(raw), `"use":"sig"`, `"use":"enc"`, 1), false},
		{strings.Replace(string(raw), `"use":"sig"`, `"use":"other"`, 1), false},
		{with(`,"key_ops":["encrypt","wrapKey"]`), false},
		{with(`,"key_ops":["sign"]`), false},
		{with(`,"key_ops":[]`), false},
	} {
		var k JWK
		if err := json.Unmarshal([]byte(c.jwk), &k); err != nil {
			t.Fatalf("%s: %v", c.jwk, err)
		}
		pub, err := k.PublicKey()
		if c.verifies != (err == nil) || err != nil && (!errors.Is(err, ErrJWKUse) || !errors.Is(err, ErrJWK) || pub != nil) {
			t.Errorf("%s: %v %v, want verifies %v (else ErrJWKUse)", c.jwk, pub, err, c.verifies)
		}
		set, err := ParseJWKS([]byte(`{"keys":[` + c.jwk + `]}`))
		if err != nil || len(set.Keys) != 1 || set.Keys[0] != k {
			t.Errorf("%s: the set: %+v %v, want it kept", c.jwk, set, err)
		}
		if back, _ := json.Marshal(k); !strings.Contains(c.jwk, `"key_ops"`) && strings.Contains(string(back), "key_ops") ||
			strings.Contains(c.jwk, `"key_ops"`) && !strings.Contains(string(back), `"key_ops":`) {
			t.Errorf("%s: written back as %s", c.jwk, back)
		}
	}
	// A JWS header's jwk (a DPoP proof's, a key proof's) likewise.
	var m map[string]any
	json.Unmarshal([]byte(strings.Replace(string(raw), `"use":"sig"`, `"use":"enc"`, 1)), &m)
	if _, pub, err := HeaderJWK(m, AlgSM2); pub != nil || !errors.Is(err, ErrJWKUse) {
		t.Errorf("header jwk for encryption: %v %v, want ErrJWKUse", pub, err)
	}
	for _, bad := range []string{`"verify"`, `null`, `[1]`} {
		var k JWK
		if err := json.Unmarshal([]byte(with(`,"key_ops":`+bad)), &k); !errors.Is(err, ErrJWK) {
			t.Errorf("key_ops %s: %v, want ErrJWK", bad, err)
		}
	}
}
