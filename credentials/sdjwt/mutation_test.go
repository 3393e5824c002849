package sdjwt

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// TestSplitSizeBound: Max bytes are taken, one more is refused (the bound
// is exact, not off by one).
func TestSplitSizeBound(t *testing.T) {
	if _, err := Split(strings.Repeat("a", Max-1) + "~"); err != nil {
		t.Fatalf("Max bytes: %v", err)
	}
	if _, err := Split(strings.Repeat("a", Max) + "~"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Max+1 bytes: %v, want ErrMalformed", err)
	}
}

// TestConcealElementBound: a frame naming the element one past the end of
// an array is refused, not a panic (the bound is i < len, not <=).
func TestConcealElementBound(t *testing.T) {
	is := &Issuer{Rand: rand.Reader}
	claims := map[string]any{"nationalities": []any{"CN", "HK"}}
	for _, i := range []int{-1, 2} {
		if _, _, err := is.Conceal(claims, &Frame{Nested: map[string]*Frame{"nationalities": {Elements: []int{i}}}}); err == nil {
			t.Errorf("element %d of 2 concealed", i)
		}
	}
	if _, ds, err := is.Conceal(claims, &Frame{Nested: map[string]*Frame{"nationalities": {Elements: []int{1}}}}); err != nil || len(ds) != 1 {
		t.Fatalf("last element: %v, %d disclosures", err, len(ds))
	}
}
