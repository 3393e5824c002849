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

// TestCheckNoneWithheld: every top-level digest must be matched by a
// presented disclosure; a withheld claim or a decoy is refused, a nested
// one is not looked at.
func TestCheckNoneWithheld(t *testing.T) {
	claims := map[string]any{"a": "x", "b": map[string]any{"c": "y"}}
	is := &Issuer{Rand: rand.Reader}
	for _, c := range []struct {
		name  string
		frame *Frame
		keep  func(*Disclosure) bool
		err   bool
	}{
		{"none concealed", nil, nil, false},
		{"all disclosed", &Frame{SD: []string{"a", "b"}}, func(*Disclosure) bool { return true }, false},
		{"withheld", &Frame{SD: []string{"a", "b"}}, func(d *Disclosure) bool { return d.Name != "a" }, true},
		{"decoy", &Frame{Decoys: 1}, nil, true},
		{"nested withheld", &Frame{Nested: map[string]*Frame{"b": {SD: []string{"c"}}}}, func(*Disclosure) bool { return false }, false},
	} {
		payload, ds, err := is.Conceal(claims, c.frame)
		if err != nil {
			t.Fatal(err)
		}
		v := &Verified{Payload: payload}
		for _, d := range ds {
			if c.keep(d) {
				v.Disclosures = append(v.Disclosures, d)
			}
		}
		if err := v.CheckNoneWithheld(); c.err != errors.Is(err, ErrNotDisclosable) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
