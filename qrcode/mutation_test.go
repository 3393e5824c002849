package qrcode

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVerifyDelegationWindow: a delegation is used from its NotBefore
// (inclusive) to its Expiry (exclusive), and refused outside.
func TestVerifyDelegationWindow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v := f.verifier(t, nil)
	nbf, exp := testNow.Add(-time.Hour), testNow.Add(time.Hour)
	d, err := f.issuer.IssueDelegation(Delegation{
		Actor: f.guardSubj, Principal: f.subject, Relationship: RelGuardian, Scope: []string{ActionLogin},
		NotBefore: nbf, Expiry: exp, Status: StatusRef{List: 4, Index: 13},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		at   time.Time
		want error
	}{
		{"before nbf", nbf.Add(-time.Second), ErrDelegationExpired},
		{"at nbf", nbf, nil},
		{"just before exp", exp.Add(-time.Second), nil},
		{"at exp", exp, ErrDelegationExpired},
		{"after exp", exp.Add(time.Second), ErrDelegationExpired},
	} {
		if _, err := v.VerifyDelegation(ctx, d, f.guardSubj, ActionLogin, c.at); !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestOfflineEmptyChallenge: a challenge, when given, is 1 to MaxChallenge
// bytes; an empty one is refused, not taken as "no challenge".
func TestOfflineEmptyChallenge(t *testing.T) {
	f := newFixture(t)
	if _, err := NewOffline(constReader(0x5a), f.device, f.binding, nil, Presentation{Time: f.now, Counter: 1, Challenge: []byte{}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty challenge: %v, want ErrInvalidArgument", err)
	}
	if _, err := NewOffline(constReader(0x5a), f.device, f.binding, nil, Presentation{Time: f.now, Counter: 1, Challenge: []byte{1}}); err != nil {
		t.Fatalf("one-byte challenge: %v", err)
	}
}

// TestVersionLeadingZero: the version is written without leading zeros;
// "TIDST01:" is not version 1.
func TestVersionLeadingZero(t *testing.T) {
	f := newFixture(t)
	prefix := "TIDST" + strconv.Itoa(KindStatic.Version()) + ":"
	if !strings.HasPrefix(f.static, prefix) {
		t.Fatalf("static code %.10q does not start with %q", f.static, prefix)
	}
	if _, err := DecodeStatic(f.static); err != nil {
		t.Fatal(err)
	}
	padded := "TIDST0" + strings.TrimPrefix(f.static, "TIDST")
	if _, err := DecodeStatic(padded); !errors.Is(err, ErrVersion) {
		t.Fatalf("%.10q: %v, want ErrVersion", padded, err)
	}
}

// TestDelegationToSelf: a delegation whose actor is its principal is
// refused.
func TestDelegationToSelf(t *testing.T) {
	f := newFixture(t)
	_, err := f.issuer.IssueDelegation(Delegation{
		Actor: f.subject, Principal: f.subject, Relationship: RelGuardian, Scope: []string{ActionPresent},
		NotBefore: testNow.Add(-time.Hour), Expiry: testNow.Add(time.Hour), Status: StatusRef{List: 4, Index: 13},
	})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("self-delegation: %v, want ErrInvalidArgument", err)
	}
}

// TestDelegationEmptyWindow: a delegation must expire after it starts; an
// Expiry equal to NotBefore is refused.
func TestDelegationEmptyWindow(t *testing.T) {
	f := newFixture(t)
	_, err := f.issuer.IssueDelegation(Delegation{
		Actor: f.guardSubj, Principal: f.subject, Relationship: RelGuardian, Scope: []string{ActionPresent},
		NotBefore: testNow, Expiry: testNow, Status: StatusRef{List: 4, Index: 13},
	})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Expiry == NotBefore: %v, want ErrInvalidArgument", err)
	}
}
