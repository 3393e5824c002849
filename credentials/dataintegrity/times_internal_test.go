package dataintegrity

import (
	"errors"
	"testing"
	"time"
)

// TestProofTimeBoundaries: a proof's created may be up to the leeway
// ahead; a proof has expired once now minus the leeway is not before its
// expires (at exactly the leeway past it, it has).
func TestProofTimeBoundaries(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	const leeway = 30 * time.Second
	v := &Verifier{cfg: Config{Cryptosuites: Cryptosuites(), Now: func() time.Time { return now }, Leeway: leeway}}
	exp := expect{purpose: PurposeAssertion}
	for _, c := range []struct {
		name             string
		created, expires time.Time
		want             error
	}{
		{"created at the leeway", now.Add(leeway), time.Time{}, nil},
		{"created a second past the leeway", now.Add(leeway + time.Second), time.Time{}, ErrCreated},
		{"expires a second inside the leeway", time.Time{}, now.Add(-leeway + time.Second), nil},
		{"expires at the leeway", time.Time{}, now.Add(-leeway), ErrExpired},
	} {
		p := &parsedProof{suite: SM2RDFC2025, purpose: PurposeAssertion, created: c.created, expires: c.expires}
		if err := v.checkFields(p, exp, "did:web:issuer.example"); (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
