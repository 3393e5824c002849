package login

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// holdFirstSpend is a Store whose first successful spending of a refresh
// token waits for release, so that the other requests of a race run while
// the winner is between spending the token and issuing its successor.
type holdFirstSpend struct {
	Store
	once    sync.Once
	release chan struct{}
}

func (h *holdFirstSpend) Spend(ctx context.Context, key string, ttl time.Duration) ([]byte, error) {
	b, err := h.Store.Spend(ctx, key, ttl)
	if err == nil && strings.HasPrefix(key, "login-rt:") {
		h.once.Do(func() { <-h.release })
	}
	return b, err
}

// TestRefreshRace: of concurrent rotations of one refresh token one
// spends it, and the others, reuses of a spent token, end the login
// (OAuth 2.0 Security BCP §4.14.2), even while the winner has not
// finished. The winner then finds its login ended (here, where it waits
// for the others) or its new pair revoked with the family: never more than
// one pair, and none that works.
func TestRefreshRace(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	hold := &holdFirstSpend{Store: p.cfg.Store, release: make(chan struct{})}
	p.cfg.Store = hold
	shop, err := p.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	first, err := p.tokens(ctx, shop, refresh{ClientID: "shop", Scope: "openid offline_access", Family: "family-race",
		Grant: grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	type result struct {
		resp *TokenResponse
		err  error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			resp, err := p.Token(ctx, shop, map[string]string{"grant_type": GrantRefreshToken, "refresh_token": first.RefreshToken})
			results <- result{resp, err}
		}()
	}
	var won []*TokenResponse
	for i := range n {
		if i == n-1 {
			close(hold.release) // the losers answered: the winner goes on
		}
		r := <-results
		var e *Error
		switch {
		case r.err == nil && r.resp != nil:
			won = append(won, r.resp)
		case !errors.As(r.err, &e) || e.Code != CodeInvalidGrant:
			t.Errorf("a losing rotation: %v, want invalid_grant", r.err)
		}
	}
	if len(won) > 1 {
		t.Fatalf("%d of %d concurrent rotations got a new pair, want at most 1", len(won), n)
	}
	if !p.familyRevoked(ctx, "family-race") {
		t.Fatal("the reuse of a spent refresh token did not end its login")
	}
	for _, resp := range won {
		if _, err := p.UserInfo(ctx, resp.AccessToken); err == nil {
			t.Error("the winner's access token works after the reuse")
		}
		if _, err := p.Token(ctx, shop, map[string]string{"grant_type": GrantRefreshToken, "refresh_token": resp.RefreshToken}); err == nil {
			t.Error("the winner's refresh token refreshes after the reuse")
		}
	}
}

// TestRefreshReuse: the reuse of a rotated refresh token ends its login,
// one rotated by this node (its spent record) or by an older node (the
// family it kept under refreshSpentKey); a reuse whose revocation the
// store cannot write is refused as unavailable and ended on the retry.
func TestRefreshReuse(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop, err := p.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	refreshWith := func(tok string) (*TokenResponse, error) {
		return p.Token(ctx, shop, map[string]string{"grant_type": GrantRefreshToken, "refresh_token": tok})
	}
	first, err := p.tokens(ctx, shop, refresh{ClientID: "shop", Scope: "openid offline_access", Family: "family-reuse",
		Grant: grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	next, err := refreshWith(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := refreshWith(first.RefreshToken); !errors.As(err, &e) || e.Code != CodeInvalidGrant {
		t.Fatalf("reuse: %v, want invalid_grant", err)
	}
	if !p.familyRevoked(ctx, "family-reuse") {
		t.Fatal("the reuse did not end the login")
	}
	if _, err := refreshWith(next.RefreshToken); err == nil {
		t.Error("the rotated pair's refresh token still refreshes")
	}

	if err := p.cfg.Store.Set(ctx, refreshSpentKey("rotated-by-an-older-node"), []byte("family-old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := refreshWith("rotated-by-an-older-node"); !errors.As(err, &e) || e.Code != CodeInvalidGrant {
		t.Fatalf("reuse of an older node's rotated token: %v, want invalid_grant", err)
	}
	if !p.familyRevoked(ctx, "family-old") {
		t.Error("the reuse of a token an older node rotated did not end its login")
	}

	// A reuse whose revocation cannot be written is
	// temporarily_unavailable, not invalid_grant as if the login were
	// ended; the spent record stays, so the retry ends it.
	down, err := p.tokens(ctx, shop, refresh{ClientID: "shop", Scope: "openid offline_access", Family: "family-down",
		Grant: grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refreshWith(down.RefreshToken); err != nil {
		t.Fatal(err)
	}
	healthy := p.cfg.Store
	p.cfg.Store = failingRevoke{healthy}
	if _, err := refreshWith(down.RefreshToken); !errors.As(err, &e) || e.Code != CodeTemporarilyUnavailable {
		t.Fatalf("reuse with the revocation unwritable: %v, want %s", err, CodeTemporarilyUnavailable)
	}
	p.cfg.Store = healthy
	if _, err := refreshWith(down.RefreshToken); !errors.As(err, &e) || e.Code != CodeInvalidGrant || !p.familyRevoked(ctx, "family-down") {
		t.Errorf("the retry: %v, revoked %v", err, p.familyRevoked(ctx, "family-down"))
	}
}
