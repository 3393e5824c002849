package enrollment

import (
	"errors"
	"testing"
)

// FuzzUnverifiedIssuer: the unverified issuer reader never panics, and
// every error carries ErrBindingCredential.
func FuzzUnverifiedIssuer(f *testing.F) {
	for _, s := range []string{
		"eyJhbGciOiJTTTIifQ.eyJpc3N1ZXIiOiJkaWQ6d2ViOngifQ.AA",
		"a.eyJpc3N1ZXIiOnsiaWQiOiJ4In19.c", "a.b", "", "a.e30.c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		_, err := unverifiedIssuer(token)
		if err != nil && !errors.Is(err, ErrBindingCredential) {
			t.Fatalf("issuer error without its sentinel: %v", err)
		}
	})
}
