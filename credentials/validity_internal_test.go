package credentials

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestValidityLeewayBoundaries: validFrom and validUntil hold to the
// second, the leeway included and not a second more.
func TestValidityLeewayBoundaries(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	const leeway = 30 * time.Second
	v := &Verifier{cfg: VerifierConfig{Now: func() time.Time { return now }, Leeway: leeway}}
	for _, c := range []struct {
		name        string
		from, until time.Time
		want        error
	}{
		{"validFrom at the leeway", now.Add(leeway), time.Time{}, nil},
		{"validFrom a second past the leeway", now.Add(leeway + time.Second), time.Time{}, ErrNotYetValid},
		{"validUntil at the leeway", time.Time{}, now.Add(-leeway), nil},
		{"validUntil a second past the leeway", time.Time{}, now.Add(-leeway - time.Second), ErrExpired},
	} {
		if err := v.checkValidity(c.from, c.until); (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestPresentationIssuedAtLeeway: a presentation's iat may be up to the
// leeway ahead, and VPMaxAge plus the leeway old; a second more either
// way is refused.
func TestPresentationIssuedAtLeeway(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	const leeway = 30 * time.Second
	v := &Verifier{cfg: VerifierConfig{Now: func() time.Time { return now }, Leeway: leeway, VPMaxAge: DefaultVPMaxAge}}
	for _, c := range []struct {
		name string
		iat  time.Time
		want error
	}{
		{"iat at the leeway ahead", now.Add(leeway), nil},
		{"iat a second past the leeway ahead", now.Add(leeway + time.Second), ErrNotYetValid},
		{"iat VPMaxAge and the leeway ago", now.Add(-DefaultVPMaxAge - leeway), nil},
		{"iat a second older", now.Add(-DefaultVPMaxAge - leeway - time.Second), ErrExpired},
	} {
		if err := v.checkIssuedAt(json.Number(strconv.FormatInt(c.iat.Unix(), 10))); (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestTokenStatusRefRefusals: an SD-JWT VC's status claim needs a uri and
// a whole idx in [0, 2^31); anything else is ErrInvalid before any list
// is fetched.
func TestTokenStatusRefRefusals(t *testing.T) {
	ref := func(sl map[string]any) any { return map[string]any{"status_list": sl} }
	const uri = "https://sh.trustid.example/status/0000000000000001"
	if u, idx, err := tokenStatusRef(ref(map[string]any{"uri": uri, "idx": json.Number("7")})); err != nil || u != uri || idx != 7 {
		t.Fatalf("valid reference: %q %d %v", u, idx, err)
	}
	for name, st := range map[string]any{
		"no idx":         ref(map[string]any{"uri": uri}),
		"negative idx":   ref(map[string]any{"uri": uri, "idx": json.Number("-1")}),
		"idx 2^31":       ref(map[string]any{"uri": uri, "idx": json.Number("2147483648")}),
		"fractional idx": ref(map[string]any{"uri": uri, "idx": 1.5}),
		"idx a string":   ref(map[string]any{"uri": uri, "idx": "7"}),
		"no uri":         ref(map[string]any{"idx": json.Number("7")}),
		"no status_list": map[string]any{},
	} {
		if _, _, err := tokenStatusRef(st); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
