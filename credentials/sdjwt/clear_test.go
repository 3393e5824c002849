package sdjwt

import (
	"crypto/rand"
	"errors"
	"testing"
)

// TestCheckClear: a claim required in the clear is refused when a
// disclosure gives it or when it holds digests (an object's _sd, an
// array's {"...": digest}), disclosed or withheld; the same name nested
// in another claim, and the claim in the clear, are fine.
func TestCheckClear(t *testing.T) {
	claims := map[string]any{
		"status":  map[string]any{"idx": 1.0, "uri": "https://s.example"},
		"exp":     2e9,
		"address": map[string]any{"exp": "x", "street": "1 Main St"},
		"list":    []any{"a", "b"},
	}
	is := &Issuer{Rand: rand.Reader}
	for _, c := range []struct {
		name  string
		frame *Frame
		keep  bool // present every disclosure (else none)
		err   bool
	}{
		{"in the clear", &Frame{SD: []string{"address"}}, true, false},
		{"same name nested", &Frame{Nested: map[string]*Frame{"address": {SD: []string{"exp"}}}}, true, false},
		{"disclosed", &Frame{SD: []string{"exp"}}, true, true},
		{"member disclosed", &Frame{Nested: map[string]*Frame{"status": {SD: []string{"idx"}}}}, true, true},
		{"member withheld", &Frame{Nested: map[string]*Frame{"status": {SD: []string{"idx"}}}}, false, true},
		{"element withheld", &Frame{Nested: map[string]*Frame{"list": {Elements: []int{1}}}}, false, true},
	} {
		payload, ds, err := is.Conceal(claims, c.frame)
		if err != nil {
			t.Fatal(err)
		}
		if !c.keep {
			ds = nil
		}
		v := &Verified{Payload: payload}
		if v.Claims, err = Process(payload, ds); err != nil {
			t.Fatal(err)
		}
		err = v.CheckClear([]string{"status", "exp", "list"})
		if c.err != errors.Is(err, ErrNotDisclosable) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
