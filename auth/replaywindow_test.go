package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

// TestAssertionReplayRefusedUntilExp: a client assertion's jti stays used
// until the assertion's exp plus the leeway (RFC 7523 §3: "the
// authorization server MAY ensure that JWTs are not replayed by
// maintaining the set of used 'jti' values for the length of time for
// which the JWT would be considered valid based on the applicable 'exp'
// instant"), also for one that lives the whole MaxAssertionAge: a replay
// a minute before its exp is refused as replayed.
func TestAssertionReplayRefusedUntilExp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	long := e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) {
		cl.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(DefaultMaxAssertionAge))
	})
	if _, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: long}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultMaxAssertionAge - time.Minute)
	_, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: long})
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != ErrInvalidClient || !strings.Contains(ae.Description, "replayed") {
		t.Errorf("replay a minute before exp: %v, want jti replayed", err)
	}
}

// TestAssertionJTILength: a jti of at most 256 bytes is taken, a longer
// one refused (the replay store keys on it).
func TestAssertionJTILength(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	for n, ok := range map[int]bool{256: true, 257: false} {
		a := e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) { cl.ID = strings.Repeat("j", n) })
		_, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: a})
		var ae *Error
		if ok && err != nil || !ok && (!errors.As(err, &ae) || !strings.Contains(ae.Description, "jti is longer")) {
			t.Errorf("jti of %d bytes: %v, want taken %v", n, err, ok)
		}
	}
}
