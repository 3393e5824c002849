package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/store"
)

// TestNoClientAuthenticationIsNamed: a request with neither HTTP Basic
// nor a client assertion is told that client authentication is required,
// not that its (absent) client_assertion_type is wrong.
func TestNoClientAuthenticationIsNamed(t *testing.T) {
	e := newEnv(t)
	c := e.register("svc-a", gm.AlgSM2)
	_, err := e.svc.AuthenticateClient(context.Background(), Credentials{ClientID: c.ID})
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != ErrInvalidClient || !strings.Contains(ae.Description, "client authentication is required") {
		t.Errorf("no authentication: %v, want invalid_client saying client authentication is required", err)
	}
}

// TestAssertionNoKeyOfAlgIsClientAuthFailed: an assertion without kid,
// signed with an alg the client has no key of, gets the answer of an
// unknown client's assertion (clientAuthFailed), so that it does not tell
// which algs a registered client's keys have.
func TestAssertionNoKeyOfAlgIsClientAuthFailed(t *testing.T) {
	e := newEnv(t)
	es := e.register("svc-es", gm.AlgES256)
	attacker := e.register("svc-attacker", gm.AlgSM2)
	forged := testClient{Client: es.Client, signer: attacker.signer}
	a := e.assertion(forged, func(h map[string]any, _ *jwt.RegisteredClaims) { delete(h, "kid") })
	_, err := e.svc.AuthenticateClient(context.Background(), Credentials{AssertionType: AssertionType, Assertion: a})
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != ErrInvalidClient || ae.Description != clientAuthFailed {
		t.Errorf("SM2 assertion for an ES256-only client: %v, want %q", err, clientAuthFailed)
	}
}

// TestAssertionJTIPerClient: the replay marker is per client, so one
// client's jti does not spend another client's assertion with the same
// jti (RFC 7523 §3: jti identifies the JWT of its issuer).
func TestAssertionJTIPerClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, id := range []string{"svc-a", "svc-b"} {
		c := e.register(id, gm.AlgSM2)
		a := e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) { cl.ID = "shared-jti" })
		if _, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: a}); err != nil {
			t.Errorf("%s with a jti another client used: %v", id, err)
		}
	}
}

// TestAssertionReplayRefusedWithinLeeway: an assertion is accepted until
// its exp plus the leeway, so its jti stays used until then too: a replay
// 15 s after exp (leeway 30 s) is refused as replayed.
func TestAssertionReplayRefusedWithinLeeway(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	a := e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) {
		cl.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(4 * time.Minute))
	})
	if _, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: a}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(4*time.Minute + DefaultLeeway/2)
	_, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: a})
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != ErrInvalidClient || !strings.Contains(ae.Description, "replayed") {
		t.Errorf("replay within the leeway after exp: %v, want jti replayed", err)
	}
}

// markerStore records MarkUsed's ttl and answers it with err.
type markerStore struct {
	Ephemeral
	ttl time.Duration
	err error
}

func (m *markerStore) MarkUsed(ctx context.Context, key string, ttl time.Duration) error {
	m.ttl = ttl
	if m.err != nil {
		return m.err
	}
	return m.Ephemeral.MarkUsed(ctx, key, ttl)
}

// TestAssertionMarkerCoversWindow: the jti marker's ttl covers the time
// since the assertion could first have been accepted (exp - maxAge -
// leeway), as store.MarkUsed requires so that a store that lost its
// markers refuses for that long; a store that cannot tell (ErrHistoryLost)
// or fails makes authentication unavailable, never accepted unchecked.
func TestAssertionMarkerCoversWindow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	st := &markerStore{Ephemeral: e.store}
	svc := e.service(st)
	a := e.assertion(c, nil) // exp one minute ahead
	if _, err := svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: a}); err != nil {
		t.Fatal(err)
	}
	if want := DefaultMaxAssertionAge + DefaultLeeway - time.Minute; st.ttl < want {
		t.Errorf("marker ttl %v, want at least %v (since exp - maxAge - leeway)", st.ttl, want)
	}
	for _, fault := range []error{store.ErrHistoryLost, errors.New("connection refused")} {
		st.err = fault
		_, err := svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: e.assertion(c, nil)})
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("MarkUsed fails with %v: %v, want unavailable", fault, err)
		}
	}
}

// TestScopeRefusalsNamed: each scope refusal says what is wrong with the
// scope parameter (RFC 6749 §5.2 invalid_scope: "invalid, unknown,
// malformed, or exceeds the scope granted"), and a client with no scope
// this node knows (a record of another version) gets invalid_scope, not
// a token without scope.
func TestScopeRefusalsNamed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem, ScopeEnroll)
	for scope, want := range map[string]string{
		"qr:redeem  identity:enroll": "single spaces",
		"qr:redeem nonsense":         "unknown scope 'nonsense'",
		"registry:admin":             "not allowed scope 'registry:admin'",
	} {
		_, err := e.svc.Token(ctx, c.Client, TokenRequest{GrantType: GrantClientCredentials, Scope: scope})
		var ae *Error
		if !errors.As(err, &ae) || ae.Kind != ErrInvalidScope || !strings.Contains(ae.Description, want) {
			t.Errorf("scope %q: %v, want invalid_scope saying %s", scope, err, want)
		}
	}
	none := c.Client
	none.Scopes = []string{"scope:retired"}
	if resp, err := e.svc.Token(ctx, none, TokenRequest{GrantType: GrantClientCredentials}); !errors.Is(err, ErrInvalidScope) {
		t.Errorf("a client with no known scope: %+v, %v, want invalid_scope", resp, err)
	}
}

// TestTokenResourceChecked: a resource that is not this node nor an
// active region is invalid_target (RFC 8707 §2), never an audience of the
// token; this node named as a resource is its one audience, once.
func TestTokenResourceChecked(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	if resp, err := e.svc.Token(ctx, c.Client, TokenRequest{GrantType: GrantClientCredentials, Resources: []string{"https://rogue.example"}}); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("a resource not in the registry: %+v, %v, want invalid_target", resp, err)
	}
	resp, err := e.svc.Token(ctx, c.Client, TokenRequest{GrantType: GrantClientCredentials, Resources: []string{testIssuer, testIssuer}})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Aud any `json:"aud"`
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(resp.AccessToken, ".")[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("payload %q: %v", payload, err)
	}
	if b, _ := json.Marshal(claims.Aud); string(b) != `"`+testIssuer+`"` && string(b) != `["`+testIssuer+`"]` {
		t.Errorf("aud %s, want this node once", b)
	}
}
