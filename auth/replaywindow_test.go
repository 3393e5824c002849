package auth

import (
	"context"
	"crypto/rand"
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

// TestAssertionRefusedForSecretClient: a client registered for
// client_secret_basic does not authenticate with private_key_jwt (RFC
// 7591 §2: token_endpoint_auth_method is the client's one method), even
// when its record still lists keys (a client moved from private_key_jwt
// to a secret, which Validate allows).
func TestAssertionRefusedForSecretClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	_, hash, err := NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.clients.Update(ctx, c.ID, func(cl *Client) error {
		cl.AuthMethod, cl.SecretHash = AuthClientSecretBasic, hash
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: e.assertion(c, nil)})
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != ErrInvalidClient || ae.Description != clientAuthFailed {
		t.Errorf("assertion of a client_secret_basic client: %v, want %q", err, clientAuthFailed)
	}
}
