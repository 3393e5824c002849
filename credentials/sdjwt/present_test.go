package sdjwt

import (
	"crypto"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

// TestPresentReachable: a holder presents only disclosures a verifier can
// reach (RFC 9901 §7.2: each selected one's digest is in the
// issuer-signed JWT or in another one selected), so selecting an inner
// claim without its parent is refused (ErrUnmatched) rather than making a
// presentation every verifier must reject; with its parent it verifies.
func TestPresentReachable(t *testing.T) {
	key, _ := gm.GenerateKey(rand.Reader)
	claims := map[string]any{"iss": "https://issuer.example", "residence": map[string]any{"region": "310000", "since": "2019-07-01"}}
	payload, ds, err := (&Issuer{Rand: rand.Reader}).Conceal(claims, &Frame{SD: []string{"residence"},
		Nested: map[string]*Frame{"residence": {SD: []string{"region", "since"}}}})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := Split(signed(t, key, payload, ds))
	if err != nil {
		t.Fatal(err)
	}
	named := func(names ...string) func(*Disclosure) bool {
		return func(d *Disclosure) bool {
			for _, n := range names {
				if d.Name == n {
					return true
				}
			}
			return false
		}
	}
	if pres, err := sd.Present(named("region"), nil); !errors.Is(err, ErrUnmatched) {
		t.Fatalf("an inner claim without its parent: %q, %v", pres, err)
	}
	pres, err := sd.Present(named("residence", "region"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(pres, VerifyOptions{Algorithms: allAlgs, Now: time.Now,
		Key: func(map[string]any, map[string]any) (crypto.PublicKey, error) { return key.Public(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := v.Claims["residence"].(map[string]any); r["region"] != "310000" || r["since"] != nil {
		t.Fatalf("claims %v", v.Claims)
	}
	if _, err := sd.Present(func(*Disclosure) bool { return false }, nil); err != nil {
		t.Fatalf("nothing disclosed: %v", err)
	}
}
