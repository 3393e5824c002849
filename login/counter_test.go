package login

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
)

// validStatus answers valid for every entry: the static codes the fuzzer
// makes carry no real status entry.
type validStatus struct{}

func (validStatus) Status(context.Context, qrcode.StatusRef) (qrcode.Status, error) {
	return qrcode.StatusValid, nil
}

// anyPIN accepts every PIN: the fuzzer must not get an approval even so.
type anyPIN struct{}

func (anyPIN) CheckStatic(context.Context, *qrcode.Static, string) error { return nil }

// FuzzCounterApproval: any static code, attestation and PIN, even signed
// by the registered terminal and with a PIN checker that accepts every
// PIN, is refused with an *Error unless every check passes; the fuzzer
// cannot forge the issuer's signature on a static code, so nothing is
// ever approved.
func FuzzCounterApproval(f *testing.F) {
	p := newTestProvider(f)
	term, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tm, err := identity.NewTerminal("t-1", "counter 1", "310104", term.Public(), time.Now())
	if err != nil {
		f.Fatal(err)
	}
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{Keys: qrcode.StaticKeys{{Kid: "k1", Public: issuerKey.Public()}}, Status: validStatus{}})
	if err != nil {
		f.Fatal(err)
	}
	p.cfg.Terminals, p.cfg.StaticCodes, p.cfg.StaticPINs = oneTerminal{tm}, v, anyPIN{}
	st, err := p.Authorize(context.Background(), goodQuery())
	if err != nil {
		f.Fatal(err)
	}
	sign := func(claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(gm.SigningMethodSM2, claims)
		tok.Header["typ"] = CounterAttestationType
		s, _ := tok.SignedString(term)
		return s
	}
	now := time.Now().Unix()
	f.Add("TIDST1:ABC", sign(jwt.MapClaims{"iss": "t-1", "aud": "https://node.example", "iat": now, "exp": now + 60,
		"jti": "0123456789abcdef", "login_session": st.ID, "code_hash": CodeHash("TIDST1:ABC"), "method": "face"}), "")
	f.Add("TIDST1:ABC", sign(jwt.MapClaims{"iss": "t-1", "aud": "https://node.example", "iat": now, "exp": now + 60,
		"jti": "0123456789abcdeg", "login_session": st.ID, "code_hash": CodeHash("TIDST1:ABC"), "method": "pin"}), "135790")
	f.Add("", "a.b.c", "")
	f.Add("TIDST1:", sign(jwt.MapClaims{"iss": "t-2"}), "1")
	f.Fuzz(func(t *testing.T, static, attestation, pin string) {
		err := p.ApproveAtCounter(context.Background(), st.ID, &CounterApproval{StaticCode: static, Attestation: attestation, PIN: pin})
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("approved, or not an *Error: %v", err)
		}
	})
}

// oneTerminal is a terminal directory holding one terminal.
type oneTerminal struct{ t identity.Terminal }

func (o oneTerminal) Terminal(_ context.Context, id string) (identity.Terminal, error) {
	if id != o.t.ID {
		return identity.Terminal{}, identity.ErrUnknownTerminal
	}
	return o.t, nil
}

// refusedStatic refuses every static code with its error.
type refusedStatic struct{ err error }

func (r refusedStatic) VerifyStatic(context.Context, string) (*qrcode.Result, error) {
	return nil, r.err
}

// TestCounterStaticCodeRefusalsNamed: a printed code the node refuses at
// a counter login is named as the static code, with why, so the counter
// can tell the person what to do (a lost card revoked: enroll again for
// a new one); it is not described as a device binding or a device's
// signature, which a person without a phone has none of. Unavailable
// status is a retry, not a refusal (docs/login.md).
func TestCounterStaticCodeRefusalsNamed(t *testing.T) {
	for _, c := range []struct {
		err        error
		code, says string
	}{
		{fmt.Errorf("%w: static code", qrcode.ErrRevoked), CodeApprovalRefused, "static code is revoked"},
		{fmt.Errorf("%w: static code", qrcode.ErrSuspended), CodeApprovalRefused, "static code is suspended"},
		{qrcode.ErrBindingExpired, CodeApprovalRefused, "static code has expired"},
		{fmt.Errorf("static code: %w", qrcode.ErrSignature), CodeApprovalRefused, "static code does not verify"},
		{fmt.Errorf("static code: %w", qrcode.ErrUnknownKey), CodeApprovalRefused, "static code does not verify"},
		{qrcode.ErrMalformed, CodeApprovalRefused, "static code does not verify"},
		{fmt.Errorf("%w: static code: down", qrcode.ErrStatusUnavailable), CodeTemporarilyUnavailable, "static code's status cannot be checked now"},
	} {
		a := newAnswering(t, newTestProvider(t))
		a.cfg.StaticCodes = refusedStatic{c.err}
		st, err := a.Authorize(context.Background(), goodQuery())
		if err != nil {
			t.Fatal(err)
		}
		err = a.ApproveAtCounter(context.Background(), st.ID, a.counter(t, st.ID))
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code || !strings.Contains(e.Description, c.says) || strings.Contains(e.Description, "binding") || strings.Contains(e.Description, "device") {
			t.Errorf("%v: refused as %v; want %s saying %q, with no device binding", c.err, err, c.code, c.says)
		}
	}
}

// refusedDelegation refuses every delegation with its error.
type refusedDelegation struct{ err error }

func (r refusedDelegation) VerifyDelegation(context.Context, []byte, []byte, string, time.Time) (*qrcode.Delegation, error) {
	return nil, r.err
}

// TestGuardianRefusalsNamed: a guardian logging in for an elderly
// principal whose delegation is refused is told it is the delegation
// (revoked, suspended, expired, out of scope), not their own device
// binding, which is fine: the app shows the node's description, and
// "your binding is revoked" would send the guardian to re-enroll their
// own phone rather than to ask for a new delegation.
func TestGuardianRefusalsNamed(t *testing.T) {
	for _, c := range []struct {
		err        error
		code, says string
	}{
		{fmt.Errorf("%w: delegation", qrcode.ErrRevoked), CodeApprovalRefused, "delegation is revoked"},
		{fmt.Errorf("%w: delegation", qrcode.ErrSuspended), CodeApprovalRefused, "delegation is suspended"},
		{qrcode.ErrDelegationExpired, CodeApprovalRefused, "delegation has expired or is not valid yet"},
		{fmt.Errorf("%w: %q", qrcode.ErrDelegationScope, "login"), CodeApprovalRefused, "delegation's scope does not include login"},
		{fmt.Errorf("%w: the presenter is not the delegation's actor", qrcode.ErrDelegation), CodeApprovalRefused, "delegation does not let this holder log in"},
		{fmt.Errorf("delegation: %w", qrcode.ErrSignature), CodeApprovalRefused, "delegation does not let this holder log in"},
		{fmt.Errorf("%w: delegation: down", qrcode.ErrStatusUnavailable), CodeTemporarilyUnavailable, "delegation's status cannot be checked now"},
	} {
		a := newAnswering(t, newTestProvider(t))
		a.cfg.Delegations = refusedDelegation{c.err}
		st, err := a.Authorize(context.Background(), goodQuery())
		if err != nil {
			t.Fatal(err)
		}
		ap := a.holder(t, st.ID)
		ap.Delegation = []byte("delegation")
		err = a.Approve(context.Background(), st.ID, ap)
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code || !strings.Contains(e.Description, c.says) || strings.Contains(e.Description, "binding") {
			t.Errorf("%v: refused as %v; want %s saying %q, not the guardian's binding", c.err, err, c.code, c.says)
		}
	}
}

// acceptedDelegation accepts every delegation for principal.
type acceptedDelegation struct{ principal []byte }

func (d acceptedDelegation) VerifyDelegation(context.Context, []byte, []byte, string, time.Time) (*qrcode.Delegation, error) {
	return &qrcode.Delegation{Principal: d.principal, Scope: []string{qrcode.ActionLogin}}, nil
}

// TestGuardianLoginNoRefreshToken: a guardian's login is as good as the
// delegation checked at its approval, so it gets no refresh token (one
// rotated every 30 days would outlive the delegation's expiry and its
// revocation): the token response grants no offline_access, and the
// next login checks the delegation again.
func TestGuardianLoginNoRefreshToken(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	a.cfg.Delegations = acceptedDelegation{[]byte("principal")}
	ctx := context.Background()
	q := goodQuery()
	q.Set("scope", "openid offline_access")
	st, err := a.Authorize(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	ap := a.holder(t, st.ID)
	ap.Delegation = []byte("delegation")
	if err := a.Approve(ctx, st.ID, ap); err != nil {
		t.Fatal(err)
	}
	out, err := a.Wait(ctx, st.ID, st.Browser, 0)
	if err != nil || out == nil {
		t.Fatalf("wait: %v %v", out, err)
	}
	u, _ := url.Parse(out.Redirect)
	shop, err := a.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Token(ctx, shop, map[string]string{"grant_type": "authorization_code", "code": u.Query().Get("code"),
		"redirect_uri": testRedirect, "code_verifier": rfcVerifier})
	if err != nil {
		t.Fatal(err)
	}
	if resp.RefreshToken != "" || strings.Contains(resp.Scope, ScopeOfflineAccess) {
		t.Errorf("a guardian's login got a refresh token %q, scope %q", resp.RefreshToken, resp.Scope)
	}
	if resp.IDToken == "" || resp.AccessToken == "" {
		t.Errorf("no ID or access token: %+v", resp)
	}
}

// TestCounterAttestationCrit: RFC 7515 §4.1.11, "If any of the listed
// extension Header Parameters are not understood and supported by the
// recipient, then the JWS is invalid." A counter terminal's attestation
// with crit is refused and leaves the session unanswered: the same
// approval without crit is then taken.
func TestCounterAttestationCrit(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	st, err := a.Authorize(context.Background(), goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	const static = "TIDST1:printed"
	attest := func(header map[string]any) *CounterApproval {
		now := time.Now().Unix()
		tok := jwt.NewWithClaims(gm.SigningMethodSM2, jwt.MapClaims{"iss": "t-1", "aud": "https://node.example", "iat": now, "exp": now + 60,
			"jti": rand.Text(), "login_session": st.ID, "code_hash": CodeHash(static), "method": MethodFace})
		tok.Header["typ"] = CounterAttestationType
		for n, v := range header {
			tok.Header[n] = v
		}
		s, err := tok.SignedString(a.term)
		if err != nil {
			t.Fatal(err)
		}
		return &CounterApproval{StaticCode: static, Attestation: s}
	}
	err = a.ApproveAtCounter(context.Background(), st.ID, attest(map[string]any{"crit": []string{"urn:example:x"}, "urn:example:x": true}))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeApprovalRefused {
		t.Fatalf("an attestation with crit: %v, want %s", err, CodeApprovalRefused)
	}
	if err := a.ApproveAtCounter(context.Background(), st.ID, attest(nil)); err != nil {
		t.Fatalf("the same approval without crit: %v", err)
	}
}

// terminals is a terminal directory of several terminals.
type terminals []identity.Terminal

func (ts terminals) Terminal(_ context.Context, id string) (identity.Terminal, error) {
	for _, t := range ts {
		if t.ID == id {
			return t, nil
		}
	}
	return identity.Terminal{}, identity.ErrUnknownTerminal
}

// TestCounterJTIPerTerminal: an attestation's jti is spent for its
// terminal, as enrollment spends a terminal attestation's under its key:
// RFC 7519 §4.1.7 leaves uniqueness to each issuer ("if the application
// uses multiple issuers, collisions MUST be prevented among values
// produced by different issuers as well"). One terminal's jti, the same
// as another's, no longer refuses the other's approval (nor can a
// terminal spend another's predictable jti first); a terminal's own jti
// is still refused the second time.
func TestCounterJTIPerTerminal(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	k2, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	t1, err := identity.NewTerminal("t-1", "counter 1", "310104", a.term.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t2, err := identity.NewTerminal("t-2", "counter 2", "310104", k2.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a.cfg.Terminals = terminals{t1, t2}
	const static, jti = "TIDST1:printed", "counter-0000000001"
	approval := func(iss string, key *gm.PrivateKey, id string) *CounterApproval {
		now := time.Now().Unix()
		tok := jwt.NewWithClaims(gm.SigningMethodSM2, jwt.MapClaims{"iss": iss, "aud": "https://node.example", "iat": now, "exp": now + 60,
			"jti": jti, "login_session": id, "code_hash": CodeHash(static), "method": MethodFace})
		tok.Header["typ"] = CounterAttestationType
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return &CounterApproval{StaticCode: static, Attestation: s}
	}
	ctx := context.Background()
	start := func() string {
		st, err := a.Authorize(ctx, goodQuery())
		if err != nil {
			t.Fatal(err)
		}
		return st.ID
	}
	if err := a.ApproveAtCounter(ctx, start(), approval("t-1", a.term, "")); err == nil {
		t.Fatal("an attestation for another session was taken")
	}
	s1 := start()
	if err := a.ApproveAtCounter(ctx, s1, approval("t-1", a.term, s1)); err != nil {
		t.Fatalf("terminal t-1: %v", err)
	}
	s2 := start()
	if err := a.ApproveAtCounter(ctx, s2, approval("t-2", k2, s2)); err != nil {
		t.Errorf("terminal t-2, with the jti t-1 used: %v", err)
	}
	s3 := start()
	var e *Error
	if err := a.ApproveAtCounter(ctx, s3, approval("t-1", a.term, s3)); !errors.As(err, &e) || !strings.Contains(e.Description, "already used") {
		t.Errorf("terminal t-1's jti again: %v", err)
	}
}
