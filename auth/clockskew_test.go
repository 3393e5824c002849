package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

// TestClockSkewBetweenInstances: two instances of a region share the
// keystore, the client registry and the ephemeral store; B's clock is off
// from A's by skew. An access token A issues is checked at B against B's
// clock, with Leeway (DefaultLeeway, 30 s) on iat; exp has none (the
// region's instances are its tokens' clock). Documented tolerance
// (docs/SECURITY.md): B's clock up to 30 s behind A's, or ahead by less
// than the token's remaining lifetime; beyond that B refuses
// the token with ErrInvalidToken (HTTP 401 invalid_token), the cause
// naming the claim.
func TestClockSkewBetweenInstances(t *testing.T) {
	for _, c := range []struct {
		skew  time.Duration
		cause string // empty: accepted
	}{
		{0, ""},
		{-25 * time.Second, ""},
		{25 * time.Second, ""},
		{DefaultTokenTTL - time.Second, ""},
		{DefaultTokenTTL, "expired"},
		{-35 * time.Second, "iat"},
		{-10 * time.Minute, "iat"},
		{DefaultTokenTTL + 25*time.Second, "expired"},
	} {
		t.Run(fmt.Sprintf("B%+v", c.skew), func(t *testing.T) {
			e := newEnv(t)
			cl := e.register("svc-a", gm.AlgSM2, ScopeStatusWrite)
			tok := e.token(cl, "")
			b := e.service(e.store, func(cfg *Config) {
				cfg.Now = func() time.Time { return e.clock.Now().Add(c.skew) }
				cfg.CacheSize = -1
			})
			_, err := b.Authorize(context.Background(), tok, ScopeStatusWrite)
			switch {
			case c.cause == "" && err != nil:
				t.Fatalf("B, clock %v off, refused A's token: %v", c.skew, err)
			case c.cause != "" && (!errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), c.cause)):
				t.Fatalf("B, clock %v off: %v, want ErrInvalidToken naming %q", c.skew, err, c.cause)
			}
			// A, on its own clock, still accepts it.
			if _, err := e.svc.Authorize(context.Background(), tok, ScopeStatusWrite); err != nil {
				t.Errorf("A: %v", err)
			}
		})
	}
}
