package dpop

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestNonces: a nonce is good in its window and the next (at most the
// lifetime), at every instance with the key; an expired nonce, another
// key's, a tampered one and garbage are not.
func TestNonces(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a, err := NewNonces(key, 5*time.Minute, clock, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewNonces(key, 5*time.Minute, clock, rand.Reader) // another instance
	other, _ := NewNonces(bytes.Repeat([]byte{8}, 32), 5*time.Minute, clock, rand.Reader)
	n, err := a.New()
	if err != nil || len(n) != NonceLen {
		t.Fatalf("%q %v", n, err)
	}
	if n2, _ := a.New(); n2 == n {
		t.Error("two nonces are equal")
	}
	if !a.Valid(n) || !b.Valid(n) {
		t.Fatal("a fresh nonce is refused")
	}
	if other.Valid(n) {
		t.Error("another key's instance takes the nonce")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(n)
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 1
		if a.Valid(base64.RawURLEncoding.EncodeToString(bad)) {
			t.Errorf("a nonce with byte %d changed is taken", i)
		}
	}
	for _, s := range []string{"", "x", n[:NonceLen-1], n + "A", n[:NonceLen-1] + "=", "unknown-nonce-unknown-nonce-abcd"} {
		if a.Valid(s) {
			t.Errorf("%q is taken", s)
		}
	}
	// Lifetime: still good 2.5 minutes on (the window after); never
	// after 5 minutes.
	start := now
	now = start.Add(150 * time.Second)
	if !a.Valid(n) {
		t.Error("refused within its lifetime")
	}
	now = start.Add(5 * time.Minute)
	if a.Valid(n) {
		t.Error("taken after its lifetime")
	}
	// A nonce of the next window (another instance's clock a little
	// ahead, at a boundary) is taken; two windows ahead is refused.
	now = start.Add(150 * time.Second)
	next, _ := a.New()
	now = start.Add(5 * time.Minute)
	ahead, _ := a.New()
	now = start
	if !a.Valid(next) {
		t.Error("a nonce of the next window is refused")
	}
	if a.Valid(ahead) {
		t.Error("a nonce two windows ahead is taken")
	}
	if _, err := NewNonces(key[:31], time.Minute, nil, rand.Reader); !errors.Is(err, ErrNonceKey) {
		t.Errorf("short key: %v", err)
	}
}

// FuzzNonceValid: any string is a nonce or not, never a panic; only the
// issued one passes.
func FuzzNonceValid(f *testing.F) {
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	// Fixed randomness: every fuzzing process makes the same nonce.
	ns, _ := NewNonces(bytes.Repeat([]byte{7}, 32), 5*time.Minute, now, strings.NewReader("01234567"))
	good, _ := ns.New()
	f.Add(good)
	f.Add(good[:20])
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if ns.Valid(s) && s != good {
			t.Fatalf("%q passes", s)
		}
	})
}
