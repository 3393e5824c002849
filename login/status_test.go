package login

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// entries is a qrcode.StatusChecker over a map, changed by the test.
type entries struct {
	mu   sync.Mutex
	st   map[qrcode.StatusRef]qrcode.Status
	down bool
}

func (e *entries) Status(_ context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return 0, qrcode.ErrStatusUnavailable
	}
	return e.st[ref], nil
}

func (e *entries) set(ref qrcode.StatusRef, st qrcode.Status, down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st[ref], e.down = st, down
}

// statusProvider is a test provider whose status checker the test sets,
// its client "shop", and the status entry of the tests' binding.
func statusProvider(t *testing.T) (*Provider, *entries, auth.Client, qrcode.StatusRef) {
	t.Helper()
	p := newTestProvider(t)
	status := &entries{st: map[qrcode.StatusRef]qrcode.Status{}}
	p.cfg.Status = status
	shop, err := p.cfg.Clients.Get(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	return p, status, shop, qrcode.StatusRef{Region: 310000, List: 7, Index: 42}
}

// TestLoginEndsWithItsBinding: a login's tokens answer for the device
// binding (or printed code) that approved it, as an online code does:
// once it is revoked or suspended (a phone reported lost), its refresh
// token no longer refreshes (invalid_grant), its access token is refused
// at userinfo (invalid_token) and both are inactive at introspection;
// a status that cannot be read is temporarily_unavailable and ends
// nothing; reinstated, the login goes on. A login of an older node
// (no status entry kept) is not checked.
func TestLoginEndsWithItsBinding(t *testing.T) {
	p, status, shop, ref := statusProvider(t)
	ctx := context.Background()
	login := func(family string, entry *StatusEntry) *TokenResponse {
		t.Helper()
		resp, err := p.tokens(ctx, shop, refresh{ClientID: shop.ID, Scope: "openid offline_access", Family: family,
			Grant: grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}, Status: entry}}, "")
		if err != nil || resp.RefreshToken == "" {
			t.Fatalf("tokens: %+v %v", resp, err)
		}
		return resp
	}
	refresh := func(tok string) (*TokenResponse, string) {
		t.Helper()
		resp, err := shopRefresh(ctx, p, shop, tok)
		if err != nil {
			return nil, asError(err).Code
		}
		return resp, ""
	}
	userinfo := func(tok string) string {
		if _, err := p.UserInfo(ctx, tok); err != nil {
			return asError(err).Code
		}
		return ""
	}
	active := func(tok string) bool {
		t.Helper()
		res, err := p.Introspect(ctx, shop, tok)
		if err != nil {
			t.Fatal(err)
		}
		return res.Active
	}

	tok := login("family-a", entryOf(ref, time.Time{}))
	next, code := refresh(tok.RefreshToken)
	if code != "" || userinfo(next.AccessToken) != "" || !active(next.AccessToken) || !active(next.RefreshToken) {
		t.Fatalf("valid binding: refresh %q", code)
	}
	for _, c := range []struct {
		name string
		st   qrcode.Status
	}{{"suspended", qrcode.StatusSuspended}, {"revoked", qrcode.StatusRevoked}} {
		status.set(ref, c.st, false)
		if _, code := refresh(next.RefreshToken); code != CodeInvalidGrant {
			t.Errorf("%s binding: refresh %q, want %s", c.name, code, CodeInvalidGrant)
		}
		if code := userinfo(next.AccessToken); code != CodeInvalidToken {
			t.Errorf("%s binding: userinfo %q, want %s", c.name, code, CodeInvalidToken)
		}
		if active(next.AccessToken) || active(next.RefreshToken) {
			t.Errorf("%s binding: a token of its login is active at introspection", c.name)
		}
		if c.st == qrcode.StatusSuspended {
			// Reinstated, the same refresh token goes on: a refusal
			// for a suspension rotates and revokes nothing.
			status.set(ref, qrcode.StatusValid, false)
			if next, code = refresh(next.RefreshToken); code != "" {
				t.Fatalf("reinstated binding: refresh %q", code)
			}
		}
	}

	// A status that cannot be read fails closed without ending the login.
	other := qrcode.StatusRef{Region: 310000, List: 7, Index: 43}
	tok = login("family-b", entryOf(other, time.Time{}))
	status.set(other, qrcode.StatusValid, true)
	if _, code := refresh(tok.RefreshToken); code != CodeTemporarilyUnavailable {
		t.Errorf("status down: refresh %q, want %s", code, CodeTemporarilyUnavailable)
	}
	if _, err := p.Introspect(ctx, shop, tok.AccessToken); asError(err).Code != CodeTemporarilyUnavailable {
		t.Errorf("status down: introspection %v", err)
	}
	if code := userinfo(tok.AccessToken); code != CodeTemporarilyUnavailable {
		t.Errorf("status down: userinfo %q", code)
	}
	status.set(other, qrcode.StatusValid, false)
	if _, code := refresh(tok.RefreshToken); code != "" {
		t.Errorf("status back: refresh %q", code)
	}

	// An older node's login kept no status entry: it refreshes as before.
	status.set(ref, qrcode.StatusRevoked, true)
	if _, code := refresh(login("family-c", nil).RefreshToken); code != "" {
		t.Errorf("login without a status entry: refresh %q", code)
	}
}

// TestCodeEndsWithItsBinding: a code a holder's approval gave just
// before the binding was revoked (or suspended) is refused at its
// exchange, at /oauth2/token and for an extension (OID4VCI) alike, as an
// online code issued before a revocation is refused at redemption.
func TestCodeEndsWithItsBinding(t *testing.T) {
	p, status, shop, ref := statusProvider(t)
	ctx := context.Background()
	approved := &grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}, Status: entryOf(ref, time.Time{})}
	exchange := func() string {
		t.Helper()
		c, err := p.issueCode(ctx, &session{ClientID: "shop", RedirectURI: testRedirect, CodeChallenge: rfcChallenge,
			Scope: "openid offline_access", Approved: approved})
		if err != nil {
			t.Fatal(err)
		}
		if _, err = p.Token(ctx, shop, map[string]string{"grant_type": "authorization_code", "code": c,
			"redirect_uri": testRedirect, "code_verifier": rfcVerifier}); err != nil {
			return asError(err).Code
		}
		return ""
	}
	redeem := func() string {
		t.Helper()
		c, err := p.issueExtensionCode(ctx, "sessionsessionsessionsessionsessionsession0", &session{ClientID: "wallet",
			RedirectURI: testRedirect, CodeChallenge: rfcChallenge, Audience: "oid4vci", Approved: approved})
		if err != nil {
			t.Fatal(err)
		}
		if _, err = p.Redeem(ctx, "oid4vci", Redemption{Code: c, ClientID: "wallet", RedirectURI: testRedirect, Verifier: rfcVerifier}); err != nil {
			return asError(err).Code
		}
		return ""
	}
	if a, b := exchange(), redeem(); a != "" || b != "" {
		t.Fatalf("valid binding: %q %q", a, b)
	}
	for _, st := range []qrcode.Status{qrcode.StatusSuspended, qrcode.StatusRevoked} {
		status.set(ref, st, false)
		if a, b := exchange(), redeem(); a != CodeInvalidGrant || b != CodeInvalidGrant {
			t.Errorf("status %d: exchange %q, extension %q, want %s", st, a, b, CodeInvalidGrant)
		}
	}
	status.set(ref, qrcode.StatusValid, true)
	if a, b := exchange(), redeem(); a != CodeTemporarilyUnavailable || b != CodeTemporarilyUnavailable {
		t.Errorf("status down: exchange %q, extension %q", a, b)
	}
}

// TestCodeOutlivesStatusOutage: a status that cannot be read at a code's
// exchange (or an extension's redemption) is temporarily_unavailable and
// no verdict: it leaves the code for the client's retry, which goes on
// once the status can be read. (The code was spent before the status
// was read, so the retry the 503 asks for was invalid_grant and the
// person had to log in again.)
func TestCodeOutlivesStatusOutage(t *testing.T) {
	p, status, shop, ref := statusProvider(t)
	ctx := context.Background()
	approved := &grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}, Status: entryOf(ref, time.Time{})}
	c, err := p.issueCode(ctx, &session{ClientID: "shop", RedirectURI: testRedirect, CodeChallenge: rfcChallenge,
		Scope: "openid", Approved: approved})
	if err != nil {
		t.Fatal(err)
	}
	x, err := p.issueExtensionCode(ctx, "sessionsessionsessionsessionsessionsession0", &session{ClientID: "wallet",
		RedirectURI: testRedirect, CodeChallenge: rfcChallenge, Audience: "oid4vci", Approved: approved})
	if err != nil {
		t.Fatal(err)
	}
	exchange := func() error {
		_, err := p.Token(ctx, shop, map[string]string{"grant_type": "authorization_code", "code": c,
			"redirect_uri": testRedirect, "code_verifier": rfcVerifier})
		return err
	}
	redeem := func() error {
		_, err := p.Redeem(ctx, "oid4vci", Redemption{Code: x, ClientID: "wallet", RedirectURI: testRedirect, Verifier: rfcVerifier})
		return err
	}
	status.set(ref, qrcode.StatusValid, true)
	for name, f := range map[string]func() error{"exchange": exchange, "extension": redeem} {
		if err := f(); asError(err).Code != CodeTemporarilyUnavailable {
			t.Errorf("%s, status down: %v, want %s", name, err, CodeTemporarilyUnavailable)
		}
	}
	status.set(ref, qrcode.StatusValid, false)
	for name, f := range map[string]func() error{"exchange": exchange, "extension": redeem} {
		if err := f(); err != nil {
			t.Errorf("%s retried once the status can be read: %v", name, err)
		}
	}
}

// TestLoginEndsWithItsBindingExpiry: a login lasts no longer than the
// binding that approved it (docs/login.md), its expiry too: past it, the
// refresh token no longer refreshes, the access token is refused at
// userinfo and inactive at introspection, and Standing (an extension's
// tokens) refuses, whatever the status list says. (A refresh token,
// rotated for 30 days at a time, kept a login going for up to 30 days
// past the binding's expiry, as an online code of it no longer does.)
func TestLoginEndsWithItsBindingExpiry(t *testing.T) {
	p, _, shop, ref := statusProvider(t)
	ctx := context.Background()
	now := time.Now()
	p.cfg.Now = func() time.Time { return now }
	entry := entryOf(ref, now.Add(time.Hour))
	tok, err := p.tokens(ctx, shop, refresh{ClientID: shop.ID, Scope: "openid offline_access", Family: "family-x",
		Grant: grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}, Status: entry}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if tok, err = shopRefresh(ctx, p, shop, tok.RefreshToken); err != nil {
		t.Fatalf("before the binding's expiry: %v", err)
	}
	now = now.Add(time.Hour)
	if _, err := shopRefresh(ctx, p, shop, tok.RefreshToken); asError(err).Code != CodeInvalidGrant {
		t.Errorf("refresh at the binding's expiry: %v, want %s", err, CodeInvalidGrant)
	}
	if _, err := p.UserInfo(ctx, tok.AccessToken); asError(err).Code != CodeInvalidToken {
		t.Errorf("userinfo at the binding's expiry: %v, want %s", err, CodeInvalidToken)
	}
	if res, err := p.Introspect(ctx, shop, tok.AccessToken); err != nil || res.Active {
		t.Errorf("introspection at the binding's expiry: %+v %v, want inactive", res, err)
	}
	if err := p.Standing(ctx, entry); asError(err).Code != CodeInvalidGrant {
		t.Errorf("Standing at the binding's expiry: %v, want %s", err, CodeInvalidGrant)
	}
}

// holderUntil authenticates every request as one L2 holder whose binding
// expires at its time.
type holderUntil time.Time

func (h holderUntil) CheckHolder(context.Context, *qrcode.HolderRequest, string) (redeem.Holder, error) {
	return redeem.Holder{Subject: []byte("holder"), Assurance: 2, Expiry: time.Time(h)}, nil
}

func (holderUntil) SpendHolder(context.Context, *qrcode.HolderRequest, string, redeem.Holder) error {
	return nil
}

// TestApprovalKeepsBindingExpiry: a holder's approval keeps its binding's
// expiry with its status entry, for grantLive.
func TestApprovalKeepsBindingExpiry(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	a := newAnswering(t, p)
	until := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	p.cfg.Holders = holderUntil(until)
	st, err := p.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Approve(ctx, st.ID, a.holder(t, st.ID)); err != nil {
		t.Fatal(err)
	}
	s, _, err := p.readSession(ctx, st.ID)
	if err != nil || s.Approved == nil || s.Approved.Status == nil || s.Approved.Status.Until != until.Unix() {
		t.Errorf("approved %+v %v, want the binding's expiry %d kept", s, err, until.Unix())
	}
}
