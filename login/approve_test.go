package login

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
	"github.com/trustid-cn/trustid/store"
)

// holderWith checks every request as its holder's, spending no nonce.
type holderWith redeem.Holder

func (h holderWith) CheckHolder(context.Context, *qrcode.HolderRequest, string) (redeem.Holder, error) {
	return redeem.Holder(h), nil
}

func (holderWith) SpendHolder(context.Context, *qrcode.HolderRequest, string, redeem.Holder) error {
	return nil
}

// pinFor checks every PIN as right, for a binding at a level whose
// subject handle is empty (another holder's than holderAt's).
type pinFor int

func (l pinFor) Check(context.Context, *enrollment.PINCheckRequest) (*enrollment.Binding, error) {
	return &enrollment.Binding{ID: "b-1", Level: int(l)}, nil
}

// approved is session id's stored grant (nil when it is not approved).
func approved(t *testing.T, p *Provider, id string) *grant {
	t.Helper()
	s, _, err := p.readSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Approved
}

// refusedSaying reports whether err is CodeApprovalRefused saying says.
func refusedSaying(err error, says string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeApprovalRefused && strings.Contains(e.Description, says)
}

// TestApprovalWithoutPINAtMostL2: an approval without a PIN proves
// possession of the bound device only, so the login's acr is L2 and
// its amr hwk even when the holder's binding is at L3 or L4 (a login
// without the PIN must not reach L3).
func TestApprovalWithoutPINAtMostL2(t *testing.T) {
	for _, l := range []identity.Level{identity.L3, identity.L4} {
		a := newAnswering(t, newTestProvider(t))
		a.cfg.Holders = holderAt(l)
		st, err := a.Authorize(context.Background(), goodQuery())
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Approve(context.Background(), st.ID, a.holder(t, st.ID)); err != nil {
			t.Fatal(err)
		}
		if g := approved(t, a.Provider, st.ID); g == nil || g.ACR != "L2" || !slices.Equal(g.AMR, []string{"hwk"}) {
			t.Errorf("binding at %v approved without a PIN: %+v; want acr L2, amr [hwk]", l, g)
		}
	}
}

// TestApprovalPINOfAnotherBinding: at L3 the PIN must be checked for
// the binding that approves; a right PIN of another binding is refused.
func TestApprovalPINOfAnotherBinding(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	a.cfg.Holders, a.cfg.PINs = holderAt(identity.L3), pinFor(identity.L3)
	q := goodQuery()
	q.Set("acr_values", "L3")
	st, err := a.Authorize(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	ap := a.holder(t, st.ID)
	ap.PINCheck = &enrollment.PINCheckRequest{PIN: "135792"}
	if err := a.Approve(context.Background(), st.ID, ap); !refusedSaying(err, "another binding") {
		t.Errorf("approval with another binding's PIN: %v; want refused", err)
	}
	if g := approved(t, a.Provider, st.ID); g != nil {
		t.Errorf("session approved: %+v", g)
	}
}

// TestApprovalAtL3AsksForPIN: a login at L3 without pin_check is refused
// for the PIN before the holder's request is checked, leaving the
// challenge unspent; with the PIN of the same binding (here both
// subject handles empty) it is approved at L3 with amr hwk and pin.
func TestApprovalAtL3AsksForPIN(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	a.cfg.Holders, a.cfg.PINs = holderWith{Assurance: int(identity.L3)}, pinFor(identity.L3)
	q := goodQuery()
	q.Set("acr_values", "L3")
	ctx := context.Background()
	st, err := a.Authorize(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	ap := a.holder(t, st.ID)
	if err := a.Approve(ctx, st.ID, ap); !refusedSaying(err, "pin_check") {
		t.Errorf("approval at L3 without a PIN: %v; want refused for pin_check", err)
	}
	ap.PINCheck = &enrollment.PINCheckRequest{PIN: "135792"}
	if err := a.Approve(ctx, st.ID, ap); err != nil {
		t.Fatalf("approval with the PIN on the same challenge: %v", err)
	}
	if g := approved(t, a.Provider, st.ID); g == nil || g.ACR != "L3" || !slices.Equal(g.AMR, []string{"hwk", "pin"}) {
		t.Errorf("approved %+v; want acr L3, amr [hwk pin]", g)
	}
}

// extensionQuery is an authorization request as another protocol
// passes it to AuthorizeFor: goodQuery's OAuth members alone.
func extensionQuery() url.Values {
	q := url.Values{}
	for _, k := range []string{"client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method"} {
		q.Set(k, goodQuery().Get(k))
	}
	return q
}

// startExtension starts on p an OID4VCI authorization's login for q
// whose check grants g.
func startExtension(t *testing.T, p *Provider, q url.Values, g ExtensionGrant) *Started {
	t.Helper()
	st, err := p.AuthorizeFor(context.Background(), q, Extension{Audience: "oid4vci", Issuer: "https://node.example/oid4vci",
		Check: func(context.Context, auth.Client, url.Values) (*ExtensionGrant, error) {
			grant := g
			return &grant, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestGuardianRefusedForExtension: a guardian cannot approve another
// protocol's login (a credential issued to the principal's wallet).
func TestGuardianRefusedForExtension(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	a.cfg.Delegations = acceptedDelegation{[]byte("principal")}
	ctx := context.Background()
	st := startExtension(t, a.Provider, extensionQuery(), ExtensionGrant{})
	ap := a.holder(t, st.ID)
	ap.Delegation = []byte("delegation")
	if err := a.Approve(ctx, st.ID, ap); !refusedSaying(err, "guardian cannot approve") {
		t.Errorf("guardian's approval of an extension login: %v; want refused", err)
	}
	if g := approved(t, a.Provider, st.ID); g != nil {
		t.Errorf("session approved: %+v", g)
	}
}

// TestGuardianReleasesNoClaim: a guardian's approval that consents to a
// claim is refused (the principal's claims are not the guardian's to
// release).
func TestGuardianReleasesNoClaim(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	a.cfg.Holders = holderWith{Subject: []byte("guardian"), Assurance: int(identity.L2), Claims: map[string]string{"age_over_18": "true"}}
	a.cfg.Delegations = acceptedDelegation{[]byte("principal")}
	ctx := context.Background()
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	ap := a.holder(t, st.ID)
	ap.Delegation, ap.Request.Consent = []byte("delegation"), []string{"age_over_18"}
	if err := a.Approve(ctx, st.ID, ap); !refusedSaying(err, "releases no claim") {
		t.Errorf("guardian's approval with consent: %v; want refused", err)
	}
	if g := approved(t, a.Provider, st.ID); g != nil {
		t.Errorf("session approved: %+v", g)
	}
}

// TestReleasedClaimsRegisteredNow: the claims an approval releases are
// those the client is registered for when the holder approves: a claim
// removed from its registration after the login started is not released.
func TestReleasedClaimsRegisteredNow(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	a.cfg.Holders = holderWith{Subject: []byte("holder"), Assurance: int(identity.L2), Claims: map[string]string{"age_over_18": "true"}}
	ctx := context.Background()
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.cfg.Clients.(*auth.MemoryStore).Update(ctx, "shop", func(c *auth.Client) error { c.Claims = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	ap := a.holder(t, st.ID)
	ap.Request.Consent = []string{"age_over_18"}
	if err := a.Approve(ctx, st.ID, ap); err != nil {
		t.Fatal(err)
	}
	if g := approved(t, a.Provider, st.ID); g == nil || len(g.Claims) != 0 {
		t.Errorf("approved %+v; want no claim released", g)
	}
}

// TestPINErrorsCountAttempts: a wrong PIN at an approval or at a counter
// tells the attempts left in words that fit the count ("1 attempt left",
// not "1 attempts left").
func TestPINErrorsCountAttempts(t *testing.T) {
	for _, c := range []struct {
		remaining      int
		approve, count string
	}{
		{4, "wrong PIN; 4 attempts left", "wrong PIN; 4 attempts left before the code is locked"},
		{1, "wrong PIN; 1 attempt left", "wrong PIN; 1 attempt left before the code is locked"},
		{0, "wrong PIN; 0 attempts left", "wrong PIN; 0 attempts left before the code is locked"},
	} {
		mismatch := &enrollment.PINMismatchError{Remaining: c.remaining}
		var e *Error
		if err := pinError(mismatch); !errors.As(err, &e) || e.Description != c.approve {
			t.Errorf("approval, %d left: %v, want %q", c.remaining, err, c.approve)
		}
		if err := staticPINError(mismatch); !errors.As(err, &e) || e.Description != c.count {
			t.Errorf("counter, %d left: %v, want %q", c.remaining, err, c.count)
		}
	}
}

// TestPINErrorsSayWhat: each error of the PIN check of an approval is
// answered with what was refused, and a failure of the store or of the
// binding's status or issuer keys as temporarily unavailable, which the
// app retries. Before, a replayed or invalid device proof (an answer
// sent again after a refusal, an expired proof), a binding credential
// that did not verify and a store that did not answer (Redis down, its
// replay history lost) were all approval_refused "the PIN check failed".
func TestPINErrorsSayWhat(t *testing.T) {
	for _, c := range []struct {
		err        error
		code, says string
	}{
		{enrollment.ErrDeviceReplay, CodeApprovalRefused, "the PIN check's device proof was already used: each answer takes a fresh one (no PIN attempt was counted)"},
		{fmt.Errorf("%w: exp before now", enrollment.ErrDeviceProof), CodeApprovalRefused, "the PIN check's device proof is invalid (malformed, expired, for another node or not signed by the binding's device key)"},
		{identity.ErrPINVerifier, CodeApprovalRefused, "the binding's PIN verifier cannot be opened by this node"},
		{&enrollment.BindingVerifyError{Err: vc.ErrRevoked}, CodeApprovalRefused, "the PIN check's binding credential does not verify (revoked, suspended, expired or not its issuer's)"},
		{&enrollment.BindingVerifyError{Err: vc.ErrStatusUnavailable}, CodeTemporarilyUnavailable, "the PIN check is unavailable; retry"},
		{&enrollment.BindingVerifyError{Err: fmt.Errorf("%w: issuer DID", vc.ErrResolve)}, CodeTemporarilyUnavailable, "the PIN check is unavailable; retry"},
		{fmt.Errorf("device proof marker: %w", store.ErrUnavailable), CodeTemporarilyUnavailable, "the PIN check is unavailable; retry"},
		{fmt.Errorf("device proof marker: %w", store.ErrHistoryLost), CodeTemporarilyUnavailable, "the PIN check is unavailable; retry"},
		{fmt.Errorf("identity: PIN attempt limit: %w", store.ErrUnavailable), CodeTemporarilyUnavailable, "the PIN check is unavailable; retry"},
		{&identity.LockedError{RetryAfter: time.Minute}, CodeApprovalRefused, "too many wrong PINs; the binding is locked for now"},
	} {
		var e *Error
		if err := pinError(c.err); !errors.As(err, &e) || e.Code != c.code || e.Description != c.says || !errors.Is(err, c.err) {
			t.Errorf("%v: %v, want %s %q", c.err, err, c.code, c.says)
		}
	}
}

// TestRestartExtensionLogin: another protocol's login (an OID4VCI
// authorization, whose pushed request or issuer_state is spent) is
// started again by Restart for the browser that started it, once per
// session: a new session (ID, browser secret) with the same request and
// data, itself restartable, the old one ended; another browser's
// restart changes nothing; none after the first session's longest life
// (1+SessionExtensions lifetimes), nor once answered on the phone.
// Before, such a login, expired, could only be started again from the
// wallet (WCAG 2.2.1).
func TestRestartExtensionLogin(t *testing.T) {
	a := newAnswering(t, newTestProvider(t))
	p := a.Provider
	now := time.Now()
	p.cfg.Now = func() time.Time { return now }
	ctx := context.Background()
	q := extensionQuery()
	st := startExtension(t, p, q, ExtensionGrant{Data: []byte("offer data"), RequiredSub: "pairwise-1"})
	if !st.Restartable {
		t.Fatal("an extension's login is not restartable")
	}
	if _, err := p.Restart(ctx, st.ID, "another browser"); !isCode(err, CodeSessionNotFound) {
		t.Fatalf("another browser's restart: %v, want %s", err, CodeSessionNotFound)
	}
	again, err := p.Restart(ctx, st.ID, st.Browser)
	if err != nil {
		t.Fatalf("the browser's restart (after another's was refused): %v", err)
	}
	if again.ID == st.ID || again.Browser == st.Browser || !again.Restartable {
		t.Errorf("the restart gave session %s browser %s restartable %v; want new ones, restartable", again.ID, again.Browser, again.Restartable)
	}
	if _, _, err := p.readSession(ctx, st.ID); err == nil {
		t.Error("the restarted session is still open")
	}
	s, _, err := p.readSession(ctx, again.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := p.open("session", again.ID, s.Data)
	if err != nil || string(data) != "offer data" || s.RequiredSub != "pairwise-1" || s.Audience != "oid4vci" || s.State != q.Get("state") {
		t.Errorf("the new session: data %q (%v), %+v", data, err, s)
	}
	if _, err := p.Restart(ctx, st.ID, st.Browser); !isCode(err, CodeSessionNotFound) {
		t.Errorf("a second restart of one session: %v, want %s", err, CodeSessionNotFound)
	}
	answered := startExtension(t, p, q, ExtensionGrant{})
	if err := a.Approve(ctx, answered.ID, a.holder(t, answered.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Restart(ctx, answered.ID, answered.Browser); !isCode(err, CodeSessionNotFound) || approved(t, p, answered.ID) == nil {
		t.Errorf("a restart of an approved session: %v, want %s and the approval kept", err, CodeSessionNotFound)
	}
	now = now.Add((1 + SessionExtensions) * p.cfg.SessionTTL)
	if _, err := p.Restart(ctx, again.ID, again.Browser); !isCode(err, CodeSessionNotFound) {
		t.Errorf("a restart past the first session's longest life: %v, want %s", err, CodeSessionNotFound)
	}
}

// TestRestartKeepsFirstLife: a session Restart starts lives no longer
// than the first session of its login could have (1+SessionExtensions
// lifetimes from its start), however late it is started, and is not
// extended past that: a restart does not outlive the authorization.
func TestRestartKeepsFirstLife(t *testing.T) {
	p := newTestProvider(t)
	now := time.Now()
	p.cfg.Now = func() time.Time { return now }
	ctx := context.Background()
	st := startExtension(t, p, extensionQuery(), ExtensionGrant{Data: []byte("offer data")})
	first, _, err := p.readSession(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add((1+SessionExtensions)*p.cfg.SessionTTL - time.Minute)
	again, err := p.Restart(ctx, st.ID, st.Browser)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := p.readSession(ctx, again.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Expires > first.Until || s.Until > first.Until || again.Left > time.Minute {
		t.Errorf("restarted a minute before the first session's longest life: expires %+ds, until %+ds past it, %v left; want neither past it, 1m0s left",
			s.Expires-first.Until, s.Until-first.Until, again.Left)
	}
	if ext, err := p.Extend(ctx, again.ID, again.Browser); err == nil && ext.Extendable {
		t.Errorf("the restarted session extends past the first's longest life: %+v", ext)
	}
}

// approveOnRestart is a Store on which the phone's approval of a login
// lands while Restart is between its checks and ending the session: as
// Restart takes the session's kept copy.
type approveOnRestart struct {
	Store
	approve func()
}

func (s *approveOnRestart) Consume(ctx context.Context, key string) ([]byte, error) {
	if approve := s.approve; approve != nil && strings.HasPrefix(key, "login-session-restart:") {
		s.approve = nil
		approve()
	}
	return s.Store.Consume(ctx, key)
}

// TestRestartRacingApproval: an approval stored while Restart runs is
// kept, and the restart refused as of an answered session (the page
// collects the answer); Restart did not delete a session it had not
// read. On the memory store and Redis.
func TestRestartRacingApproval(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testRestartRacingApproval(t, false) })
	t.Run("redis", func(t *testing.T) { testRestartRacingApproval(t, true) })
}

func testRestartRacingApproval(t *testing.T, redis bool) {
	a := newAnswering(t, newTestProvider(t))
	p := a.Provider
	if redis {
		useRedis(t, p)
	}
	ctx := context.Background()
	st := startExtension(t, p, extensionQuery(), ExtensionGrant{})
	racing := &approveOnRestart{Store: p.cfg.Store}
	racing.approve = func() {
		if err := a.Approve(ctx, st.ID, a.holder(t, st.ID)); err != nil {
			t.Errorf("the racing approval: %v", err)
		}
	}
	p.cfg.Store = racing
	if _, err := p.Restart(ctx, st.ID, st.Browser); !errors.Is(err, ErrAnswered) {
		t.Errorf("a restart racing the approval: %v, want %v", err, ErrAnswered)
	}
	if s, _, err := p.readSession(ctx, st.ID); err != nil || s.Approved == nil {
		t.Errorf("the session approved during the restart: %v (approved %v), want its approval kept", err, s != nil && s.Approved != nil)
	}
}

// noRestartCopy is a Store that cannot write a session's copy for
// Restart.
type noRestartCopy struct{ Store }

func (s noRestartCopy) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if strings.HasPrefix(key, "login-session-restart:") {
		return errors.New("store down")
	}
	return s.Store.Put(ctx, key, value, ttl)
}

// TestResumeRestartableAsStarted: the page shown again (in the other
// language) offers "Get a new code" only where the page it replaces did:
// a login whose copy for Restart could not be written is not restartable
// there either (its page says to go back to the site).
func TestResumeRestartableAsStarted(t *testing.T) {
	p := newTestProvider(t)
	p.cfg.Store = noRestartCopy{p.cfg.Store}
	ctx := context.Background()
	st := startExtension(t, p, extensionQuery(), ExtensionGrant{})
	again, err := p.Resume(ctx, st.ID, st.Browser)
	if err != nil {
		t.Fatal(err)
	}
	if st.Restartable || again.Restartable {
		t.Errorf("a login without its copy for Restart: restartable %v, shown again %v; want neither", st.Restartable, again.Restartable)
	}
}
