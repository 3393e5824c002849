package login

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// holdFirstRotation is a Store whose first successful rotation of a
// refresh-token family waits for release, so that the other requests of
// a race run while the winner is between rotating the token and issuing
// its successor. Only that one waits: a second successful rotation (a
// reuse let through) goes on and answers, so the test fails at once
// rather than waiting for the losers' answers that would release it
// (with a sync.Once, which blocks every other caller until the first
// returns, such a mutant hung the package's tests until their timeout).
type holdFirstRotation struct {
	Store
	held    atomic.Bool
	release chan struct{}
}

func (h *holdFirstRotation) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	ok, err := h.Store.CompareAndSwap(ctx, key, old, value, ttl)
	if ok && strings.HasPrefix(key, "login-rtf:") && h.held.CompareAndSwap(false, true) {
		<-h.release
	}
	return ok, err
}

// TestRefreshRace: of concurrent rotations of one refresh token one
// rotates it, and the others, reuses of a rotated token, end the login
// (OAuth 2.0 Security BCP §4.14.2), even while the winner has not
// finished. The winner then finds its login ended (here, where it waits
// for the others) or its new pair revoked with the family: never more than
// one pair, and none that works. On the memory store and Redis.
func TestRefreshRace(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testRefreshRace(t, newTestProvider(t)) })
	t.Run("redis", func(t *testing.T) {
		p := newTestProvider(t)
		useRedis(t, p)
		testRefreshRace(t, p)
	})
}

func testRefreshRace(t *testing.T, p *Provider) {
	ctx := context.Background()
	hold := &holdFirstRotation{Store: p.cfg.Store, release: make(chan struct{})}
	p.cfg.Store = hold
	shop := shopClient(t, p)
	first, err := shopTokens(ctx, p, shop, "family-race")
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
			resp, err := shopRefresh(ctx, p, shop, first.RefreshToken)
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
		if _, err := shopRefresh(ctx, p, shop, resp.RefreshToken); err == nil {
			t.Error("the winner's refresh token refreshes after the reuse")
		}
	}
}

// TestRefreshReuse: the reuse of a rotated refresh token ends its login,
// one rotated by this node (no longer its family record's current token)
// or by an older node (the family it kept under refreshSpentKey); a reuse whose revocation the
// store cannot write is refused as unavailable and ended on the retry.
func TestRefreshReuse(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	refreshWith := func(tok string) (*TokenResponse, error) {
		return shopRefresh(ctx, p, shop, tok)
	}
	first, err := shopTokens(ctx, p, shop, "family-reuse")
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
	down, err := shopTokens(ctx, p, shop, "family-down")
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

// TestRefreshStoreBounded: a login's refresh tokens are two store
// entries however often it refreshes (its family record, which each
// rotation replaces, and its handle named from the login's sid, which
// lets a logout find the record), beside its live access token and the
// login's index of its access tokens; before, each rotation kept the
// rotated token's record for the refresh-token lifetime (100 refreshes:
// 100 entries living 30 days). Once the login ends, all go: the
// revocation marker is what is left. On the memory store and Redis.
func TestRefreshStoreBounded(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		p := newTestProvider(t)
		mem := p.cfg.Store.(*store.Memory)
		testRefreshStoreBounded(t, p, func() int {
			keys, err := mem.StoredKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return len(keys)
		})
	})
	t.Run("redis", func(t *testing.T) {
		p := newTestProvider(t)
		c := useRedis(t, p)
		testRefreshStoreBounded(t, p, func() int {
			keys, err := c.Keys(t.Context(), "*").Result() // live keys only
			if err != nil {
				t.Fatal(err)
			}
			return len(keys)
		})
	})
}

func testRefreshStoreBounded(t *testing.T, p *Provider, entries func() int) {
	ctx := context.Background()
	p.cfg.AccessTokenTTL = 50 * time.Millisecond
	shop := shopClient(t, p)
	before := entries()
	first, err := shopTokens(ctx, p, shop, "family-bounded")
	if err != nil {
		t.Fatal(err)
	}
	tok := first.RefreshToken
	for i := range 30 {
		time.Sleep(60 * time.Millisecond) // the access token expires, as between a relying party's refreshes
		resp, err := shopRefresh(ctx, p, shop, tok)
		if err != nil {
			t.Fatalf("refresh %d: %v", i+1, err)
		}
		tok = resp.RefreshToken
		if n := entries() - before; n > 4 {
			t.Fatalf("after %d refreshes of one login the store holds %d entries for it, want at most 4 (its family record, its handle, its live access token and their index)", i+1, n)
		}
	}
	// Reuse detection holds for every rotated token.
	var e *Error
	if _, err := shopRefresh(ctx, p, shop, first.RefreshToken); !errors.As(err, &e) || e.Code != CodeInvalidGrant {
		t.Fatalf("reuse of the first refresh token: %v, want invalid_grant", err)
	}
	if !p.familyRevoked(ctx, "family-bounded") {
		t.Error("the reuse of the first refresh token did not end its login")
	}
	if n := entries() - before; n > 1 {
		t.Errorf("the ended login leaves %d store entries, want at most 1 (its revocation marker)", n)
	}
}

// TestOlderNodeRefreshToken: a refresh token an older node issued (its
// single-use record) refreshes once more, into a family record of this
// node's form; its reuse after that ends the login.
func TestOlderNodeRefreshToken(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	refreshWith := func(tok string) (*TokenResponse, error) {
		return shopRefresh(ctx, p, shop, tok)
	}
	old := putOlderRefresh(ctx, t, p)
	next, err := refreshWith(old)
	if err != nil {
		t.Fatal(err)
	}
	if len(next.RefreshToken) != 48 { // a family's handle and secret
		t.Fatalf("the older token refreshed into %d characters, not a token of a family record", len(next.RefreshToken))
	}
	if next, err = refreshWith(next.RefreshToken); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := refreshWith(old); !errors.As(err, &e) || e.Code != CodeInvalidGrant || !p.familyRevoked(ctx, "family-older") {
		t.Fatalf("reuse of the older token: %v, want invalid_grant and the login ended", err)
	}
	if _, err := refreshWith(next.RefreshToken); err == nil {
		t.Error("the login's current refresh token refreshes after the reuse")
	}
}

// useRedis puts p's tokens in a new real Redis, whose client it returns.
func useRedis(t *testing.T, p *Provider) *goredis.Client {
	t.Helper()
	c := testredis.StartClient(t)
	r, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	p.cfg.Store = r
	return c
}

// TestRefreshAfterStoreFailure: a refresh whose access token the store
// cannot write is temporarily_unavailable and rotates nothing, so its
// retry with the same token refreshes (before, the token was spent
// first, and the retry, a reuse, ended the login).
func TestRefreshAfterStoreFailure(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	first, err := shopTokens(ctx, p, shop, "family-retry")
	if err != nil {
		t.Fatal(err)
	}
	form := map[string]string{"grant_type": GrantRefreshToken, "refresh_token": first.RefreshToken}
	healthy := p.cfg.Store
	p.cfg.Store = &failOnce{Store: healthy, prefix: "login-at:"}
	if _, err := p.Token(ctx, shop, form); !isCode(err, CodeTemporarilyUnavailable) {
		t.Fatalf("refresh with the access token unwritable: %v, want %s", err, CodeTemporarilyUnavailable)
	}
	p.cfg.Store = healthy
	if _, err := p.Token(ctx, shop, form); err != nil || p.familyRevoked(ctx, "family-retry") {
		t.Fatalf("its retry: %v, login ended %v", err, p.familyRevoked(ctx, "family-retry"))
	}
}

// TestRefreshByAnotherClient: a refresh token is refused to any client
// but the one it was issued to (RFC 6749 §6: the server MUST "validate
// the refresh token" and that it "was issued to the authenticated
// client"), this node's and an older node's alike, and the login it
// leaked from ends (revokeAndRefuse).
func TestRefreshByAnotherClient(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	other := shop
	other.ID = "other"
	resp, err := shopTokens(ctx, p, shop, "family-a")
	if err != nil {
		t.Fatal(err)
	}
	old := putOlderRefresh(ctx, t, p)
	for tok, family := range map[string]string{resp.RefreshToken: "family-a", old: "family-older"} {
		if _, err := p.Token(ctx, other, map[string]string{"grant_type": GrantRefreshToken, "refresh_token": tok}); !isCode(err, CodeInvalidGrant) {
			t.Errorf("%.8s refreshed by another client: %v", tok, err)
		}
		if !p.familyRevoked(ctx, family) {
			t.Errorf("%.8s: the login goes on", tok)
		}
	}
}

// TestOlderNodeRefreshTokenEnded: an older node's refresh token of a
// login ended since (its family revoked: a logout, a replay) or whose
// approver expired does not refresh, as this node's tokens do not.
func TestOlderNodeRefreshTokenEnded(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	if err := p.revokeFamily(ctx, "family-ended"); err != nil {
		t.Fatal(err)
	}
	for tok, rec := range map[string]string{
		"N2Lr0bGqQk1Zx9mT5cY8wE3vU7aH4sD6fJ0pK2iL1oB": `{"client_id":"shop","scope":"openid offline_access","family":"family-ended","grant":{"sub":"pairwise-1","acr":"L2","amr":["hwk"]}}`,
		"P3Ms1cHrRl2Ay0nU6dZ9xF4wV8bI5tE7gK1qL3jM2pC": `{"client_id":"shop","scope":"openid offline_access","family":"family-b","grant":{"sub":"pairwise-1","acr":"L2","amr":["hwk"],"status":{"region":310000,"list":3,"index":1,"until":1}}}`,
	} {
		if err := p.cfg.Store.Put(ctx, refreshKey(tok), []byte(rec), time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := shopRefresh(ctx, p, shop, tok); !isCode(err, CodeInvalidGrant) {
			t.Errorf("%.8s: %v, want invalid_grant", tok, err)
		}
	}
}

// TestOlderRefreshMarkerUnreadable: the reuse of a refresh token an
// older node rotated (consumed, its family kept under refreshSpentKey) is
// caught by that marker alone; one whose marker cannot be read is
// temporarily_unavailable, not an invalid_grant that leaves the login it
// should end going (OAuth 2.0 Security BCP §4.14.2), and its retry ends
// the login, as for a code (TestCodeReplayMarkerUnreadable).
func TestOlderRefreshMarkerUnreadable(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	refreshWith := func(tok string) (*TokenResponse, error) {
		return shopRefresh(ctx, p, shop, tok)
	}
	if err := p.cfg.Store.Set(ctx, refreshSpentKey("rotated-by-an-older-node"), []byte("family-old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	healthy := p.cfg.Store
	p.cfg.Store = failingGet{healthy, "login-rt-spent:"}
	if _, err := refreshWith("rotated-by-an-older-node"); !isCode(err, CodeTemporarilyUnavailable) {
		t.Errorf("a reuse whose marker cannot be read: %v, want %s", err, CodeTemporarilyUnavailable)
	}
	p.cfg.Store = healthy
	if p.familyRevoked(ctx, "family-old") {
		t.Fatal("revoked before the marker was read")
	}
	if _, err := refreshWith("rotated-by-an-older-node"); !isCode(err, CodeInvalidGrant) || !p.familyRevoked(ctx, "family-old") {
		t.Errorf("its retry: %v, login ended %v", err, p.familyRevoked(ctx, "family-old"))
	}
}

// keysDown is Keys whose Active fails while down is set (a signer, an
// HSM, that cannot sign now).
type keysDown struct {
	Keys
	down *bool
}

func (k keysDown) Active(alg string) (keystore.Key, error) {
	if *k.down {
		return keystore.Key{}, errors.New("signer unavailable")
	}
	return k.Keys.Active(alg)
}

// TestRefreshSigningFailureKeepsLogin: a refresh whose ID token cannot
// be signed now is temporarily_unavailable, which asks the client to
// retry (RFC 6749 §5.2, OpenID Connect Core §3.1.2.6); the family record
// must not have been rotated then, or the retry with the refresh token
// the client still holds is a reuse that ends the login (OAuth 2.0
// Security BCP §4.14.2). The ID token is signed before the rotation.
func TestRefreshSigningFailureKeepsLogin(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	resp, err := shopTokens(ctx, p, shop, "family-sign")
	if err != nil {
		t.Fatal(err)
	}
	down := true
	p.cfg.Keys = keysDown{p.cfg.Keys, &down}
	form := map[string]string{"grant_type": GrantRefreshToken, "refresh_token": resp.RefreshToken}
	if _, err := p.Token(ctx, shop, form); !isCode(err, CodeTemporarilyUnavailable) {
		t.Fatalf("a refresh that cannot be signed: %v, want %s", err, CodeTemporarilyUnavailable)
	}
	down = false
	if next, err := p.Token(ctx, shop, form); err != nil || next.IDToken == "" || p.familyRevoked(ctx, "family-sign") {
		t.Errorf("its retry: %v, login ended %v", err, p.familyRevoked(ctx, "family-sign"))
	}
}

// TestOlderRefreshRotatedKeepsFamilyOnly: once an older node's refresh
// token has refreshed here, only its family is kept for the refresh
// token's lifetime (refreshSpentKey, as older nodes kept it), its record,
// which holds the pairwise sub and the released claims (PIPL Art. 19,
// 47), no longer than olderSpentTTL; it was kept whole for
// RefreshTokenTTL (30 days). A replay, one after another or racing,
// still ends the login.
func TestOlderRefreshRotatedKeepsFamilyOnly(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		p := newTestProvider(t)
		now := time.Now()
		var mu sync.Mutex
		mem, err := store.NewMemory(store.MemoryOptions{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
		if err != nil {
			t.Fatal(err)
		}
		p.cfg.Store = mem
		testOlderRefreshRotatedKeepsFamilyOnly(t, p, func() {
			mu.Lock()
			now = now.Add(olderSpentTTL + time.Second)
			mu.Unlock()
		})
	})
	t.Run("redis", func(t *testing.T) {
		p := newTestProvider(t)
		c := useRedis(t, p)
		testOlderRefreshRotatedKeepsFamilyOnly(t, p, func() {
			// Spent records are hashes (store/redis spendScript): each
			// expires within olderSpentTTL; expire them now.
			ctx := context.Background()
			keys, err := c.Keys(ctx, "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if c.Type(ctx, k).Val() != "hash" {
					continue
				}
				if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 || ttl > olderSpentTTL {
					t.Errorf("a spent record is kept for %v, want at most %v", ttl, olderSpentTTL)
				}
				c.Del(ctx, k)
			}
		})
	})
}

// testOlderRefreshRotatedKeepsFamilyOnly runs the test on p, whose
// store's spent records past olderSpentTTL expire() ends.
func testOlderRefreshRotatedKeepsFamilyOnly(t *testing.T, p *Provider, expire func()) {
	ctx := context.Background()
	shop := shopClient(t, p)
	refreshWith := func(tok string) (*TokenResponse, error) {
		return shopRefresh(ctx, p, shop, tok)
	}
	const old = "N2Lr0bGqQk1Zx9mT5cY8wE3vU7aH4sD6fJ0pK2iL1oB"
	rec := `{"client_id":"shop","scope":"openid offline_access","family":"family-older","grant":{"sub":"pairwise-1","acr":"L2","amr":["hwk"]}}`
	if err := p.cfg.Store.Put(ctx, refreshKey(old), []byte(rec), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := refreshWith(old); err != nil {
		t.Fatal(err)
	}
	expire()
	// Spend reads a spent record (store.ErrReplayed) and changes nothing.
	if b, err := p.cfg.Store.Spend(ctx, refreshKey(old), time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the rotated token's record is kept past %v: %s %v", olderSpentTTL, b, err)
	}
	if fam, err := p.cfg.Store.Get(ctx, refreshSpentKey(old)); err != nil || string(fam) != "family-older" {
		t.Errorf("the rotated token's family: %q %v", fam, err)
	}
	if _, err := refreshWith(old); !isCode(err, CodeInvalidGrant) || !p.familyRevoked(ctx, "family-older") {
		t.Errorf("a replay: %v, login ended %v", err, p.familyRevoked(ctx, "family-older"))
	}

	// Racing uses: at most one refreshes (none when a replay revoked
	// the login first), every other is a replay that ends the login.
	const racing = "P3Ms1cHrRl2Ay0nU6dZ9xF4wV8bI5tE7gK1qL3jM2pC"
	if err := p.cfg.Store.Put(ctx, refreshKey(racing), []byte(strings.Replace(rec, "family-older", "family-racing", 1)), time.Hour); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := refreshWith(racing); err == nil {
				ok.Add(1)
			} else if !isCode(err, CodeInvalidGrant) {
				t.Errorf("a racing use: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() > 1 || !p.familyRevoked(ctx, "family-racing") {
		t.Errorf("racing uses: %d refreshed, login ended %v", ok.Load(), p.familyRevoked(ctx, "family-racing"))
	}
}

// TestRevokeOlderRotatedRefreshToken: RFC 7009 §2.1 ("If the particular
// token is a refresh token ... the authorization server SHOULD also
// invalidate all access tokens based on the same authorization grant"):
// revoking a refresh token an older node rotated (only its family kept,
// under refreshSpentKey) ends that login, as revoking one rotated here
// does; it was taken for an unknown token and the login went on.
func TestRevokeOlderRotatedRefreshToken(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[redis], func(t *testing.T) {
			p := newTestProvider(t)
			if redis {
				useRedis(t, p)
			}
			ctx := context.Background()
			shop := shopClient(t, p)
			if err := p.cfg.Store.Set(ctx, refreshSpentKey("rotated-by-an-older-node"), []byte("family-old"), time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := p.Revoke(ctx, shop, "rotated-by-an-older-node"); err != nil || !p.familyRevoked(ctx, "family-old") {
				t.Errorf("revoking a token an older node rotated: %v, login ended %v", err, p.familyRevoked(ctx, "family-old"))
			}
			healthy := p.cfg.Store
			p.cfg.Store = failingGet{healthy, "login-rt-spent:"}
			if err := p.Revoke(ctx, shop, "rotated-by-another-older-node"); !isCode(err, CodeTemporarilyUnavailable) {
				t.Errorf("a revocation whose marker cannot be read: %v, want %s", err, CodeTemporarilyUnavailable)
			}
		})
	}
}

// failingSpentMarker is a Store whose write of a spent refresh token's
// family (refreshSpentKey) fails.
type failingSpentMarker struct{ Store }

func (f failingSpentMarker) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if strings.HasPrefix(key, "login-rt-spent:") {
		return store.ErrUnavailable
	}
	return f.Store.Set(ctx, key, v, ttl)
}

// TestOlderRefreshMarkerUnwritable: an older node's refresh token whose
// family cannot be kept (its spent record lasts olderSpentTTL only) gives
// no tokens, temporarily_unavailable: tokens given then would leave a
// reuse past olderSpentTTL undetected. The retry, a reuse, ends the
// login, as for a code.
func TestOlderRefreshMarkerUnwritable(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	old := putOlderRefresh(ctx, t, p)
	form := map[string]string{"grant_type": GrantRefreshToken, "refresh_token": old}
	healthy := p.cfg.Store
	p.cfg.Store = failingSpentMarker{healthy}
	if res, err := p.Token(ctx, shop, form); !isCode(err, CodeTemporarilyUnavailable) {
		t.Fatalf("a refresh whose family cannot be kept: %+v %v", res, err)
	}
	p.cfg.Store = healthy
	if _, err := p.Token(ctx, shop, form); !isCode(err, CodeInvalidGrant) || !p.familyRevoked(ctx, "family-older") {
		t.Errorf("its retry: %v, login ended %v", err, p.familyRevoked(ctx, "family-older"))
	}
}

// accessWrites is a Store that remembers the keys of the access-token
// records written through it.
type accessWrites struct {
	Store
	keys []string
}

func (s *accessWrites) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if strings.HasPrefix(key, "login-at:") {
		s.keys = append(s.keys, key)
	}
	return s.Store.Set(ctx, key, value, ttl)
}

// TestFailedIssueKeepsNoAccessToken: an issue that fails after it wrote
// its access token's record (here its ID token cannot be signed) gives
// the token to no one, and so does not keep its record, which holds the
// pairwise sub and the released claims, to its expiry (PIPL Art. 19).
func TestFailedIssueKeepsNoAccessToken(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	resp, err := shopTokens(ctx, p, shop, "family-sign")
	if err != nil {
		t.Fatal(err)
	}
	writes := &accessWrites{Store: p.cfg.Store}
	p.cfg.Store = writes
	down := true
	p.cfg.Keys = keysDown{p.cfg.Keys, &down}
	if _, err := shopRefresh(ctx, p, shop, resp.RefreshToken); !isCode(err, CodeTemporarilyUnavailable) {
		t.Fatalf("a refresh that cannot be signed: %v, want %s", err, CodeTemporarilyUnavailable)
	}
	if len(writes.keys) == 0 {
		t.Fatal("the failed refresh wrote no access token's record")
	}
	for _, key := range writes.keys {
		if b, err := p.cfg.Store.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the record of an access token never given is kept: %d bytes, %v", len(b), err)
		}
	}
}

// TestRefreshTokenTooLong: a refresh_token longer than any refresh token
// (64 characters) is invalid_grant (RFC 6749 §5.2: the refresh token "is
// invalid"), before any lookup; a missing one is invalid_request.
func TestRefreshTokenTooLong(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	spends := &countSpends{Store: p.cfg.Store}
	p.cfg.Store = spends
	for tok, want := range map[string]string{"": CodeInvalidRequest, strings.Repeat("a", 65): CodeInvalidGrant} {
		if _, err := shopRefresh(ctx, p, shop, tok); !isCode(err, want) {
			t.Errorf("refresh_token of %d characters: %v, want %s", len(tok), err, want)
		}
	}
	if spends.n != 0 {
		t.Errorf("the refused refresh tokens were looked up (%d Spend)", spends.n)
	}
}

// countSpends counts the store's Spend calls.
type countSpends struct {
	Store
	n int
}

func (c *countSpends) Spend(ctx context.Context, key string, ttl time.Duration) ([]byte, error) {
	c.n++
	return c.Store.Spend(ctx, key, ttl)
}

// TestEndedWithoutHandleIndexDeletesRecord: a login whose handle index
// is gone (a login of a node before the index) ended by a reused refresh
// token, or by the revocation of its refresh token, still has its
// family record deleted: revokeFamily cannot find it, the token's handle
// names it.
func TestEndedWithoutHandleIndexDeletesRecord(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	for _, end := range []string{"reuse", "revoke"} {
		family := "family-no-index-" + end
		old, err := shopTokens(ctx, p, shop, family)
		if err != nil {
			t.Fatal(err)
		}
		next, err := shopRefresh(ctx, p, shop, old.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.cfg.Store.Delete(ctx, familyHandleKey(family)); err != nil {
			t.Fatal(err)
		}
		if end == "reuse" {
			if _, err := shopRefresh(ctx, p, shop, old.RefreshToken); !isCode(err, CodeInvalidGrant) {
				t.Fatalf("reuse: %v, want invalid_grant", err)
			}
		} else if err := p.Revoke(ctx, shop, next.RefreshToken); err != nil {
			t.Fatal(err)
		}
		handle, _ := tokenHandle(old.RefreshToken)
		if _, _, err := p.family(ctx, handle); !errors.Is(err, errNoToken) {
			t.Errorf("%s: the family record of the ended login is still there: %v", end, err)
		}
	}
}

// TestRevokeOlderTokenRotatedHere: revoking an older node's refresh
// token that this node rotated a moment ago (its spent record still
// kept: Spend answers store.ErrReplayed with it) ends the login the
// rotation continued, and is no error.
func TestRevokeOlderTokenRotatedHere(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	const old = "Q3Mr1bGqQk1Zx9mT5cY8wE3vU7aH4sD6fJ0pK2iL1oC" // 32 random bytes, as older nodes issued
	rec := `{"client_id":"shop","scope":"openid offline_access","family":"family-older-revoked","grant":{"sub":"pairwise-1","acr":"L2","amr":["hwk"]}}`
	if err := p.cfg.Store.Put(ctx, refreshKey(old), []byte(rec), time.Hour); err != nil {
		t.Fatal(err)
	}
	next, err := shopRefresh(ctx, p, shop, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Revoke(ctx, shop, old); err != nil {
		t.Fatalf("revoking the rotated older token: %v", err)
	}
	if !p.familyRevoked(ctx, "family-older-revoked") {
		t.Error("the login the rotation continued was not ended")
	}
	if _, err := shopRefresh(ctx, p, shop, next.RefreshToken); err == nil {
		t.Error("the rotation's refresh token still refreshes")
	}
}

// TestRefreshScopeBeyondGrant: a refresh request whose scope names a
// scope the login was not granted is invalid_scope and changes nothing:
// the refresh token stays good, this node's and an older node's alike
// (RFC 6749 §6: "The requested scope MUST NOT include any scope not
// originally granted by the resource owner"; §5.2: invalid_scope, "The
// requested scope is invalid, unknown, malformed, or exceeds the scope
// granted by the resource owner"). A scope within the grant refreshes,
// and the response names the scope the tokens carry (§3.3).
func TestRefreshScopeBeyondGrant(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	resp, err := shopTokens(ctx, p, shop, "family-a")
	if err != nil {
		t.Fatal(err)
	}
	old := putOlderRefresh(ctx, t, p)
	refresh := func(tok, scope string) (*TokenResponse, error) {
		return p.Token(ctx, shop, map[string]string{"grant_type": GrantRefreshToken, "refresh_token": tok, "scope": scope})
	}
	for _, tok := range []string{resp.RefreshToken, old} {
		for _, scope := range []string{"openid offline_access age_over_18", "openid profile"} {
			if _, err := refresh(tok, scope); !isCode(err, CodeInvalidScope) {
				t.Fatalf("refresh asking %q beyond the grant: %v, want invalid_scope", scope, err)
			}
		}
		next, err := refresh(tok, "openid")
		if err != nil {
			t.Fatalf("the refresh token after the refused scope: %v", err)
		}
		if next.Scope != "openid offline_access" {
			t.Errorf("scope %q, want the grant's", next.Scope)
		}
	}
}

// putOlderRefresh stores, in p's store, a refresh token of shop in the
// form older nodes issued (32 random bytes, its record without the
// fields newer nodes add; family family-older) and returns it.
func putOlderRefresh(ctx context.Context, t *testing.T, p *Provider) string {
	t.Helper()
	const old = "N2Lr0bGqQk1Zx9mT5cY8wE3vU7aH4sD6fJ0pK2iL1oB"
	rec := `{"client_id":"shop","scope":"openid offline_access","family":"family-older","grant":{"sub":"pairwise-1","acr":"L2","amr":["hwk"]}}`
	if err := p.cfg.Store.Put(ctx, refreshKey(old), []byte(rec), time.Hour); err != nil {
		t.Fatal(err)
	}
	return old
}

// TestOlderRefreshExpiredIsNoReuse: an older node's refresh token at or
// past its exp is invalid_grant each time it is presented, at the token
// endpoint as at revocation, and ends nothing: its first refusal spent
// it, and the second was taken as a reuse that revoked its family (with
// a scope beyond its grant, it was invalid_scope); its revocation spent
// it, keeping its record (pairwise sub, released claims) for
// RefreshTokenTTL, and revoked its family. A token rotated before its
// exp, here or by an older node (which kept its spent record, and no
// family marker), still ends its login when presented again after it.
func TestOlderRefreshExpiredIsNoReuse(t *testing.T) {
	p, clock := subSecondProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	exp := clock.Now().Add(time.Hour).Unix()
	put := func(tok, family string) {
		t.Helper()
		rec, _ := json.Marshal(map[string]any{"client_id": "shop", "scope": "openid offline_access", "family": family,
			"grant": grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}, "iat": exp - 3600, "exp": exp})
		if err := p.cfg.Store.Put(ctx, refreshKey(tok), rec, 2*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	put("expired-refresh-token", "family-expired")
	put("revoked-expired-token", "family-revoked-expired")
	put("rotated-refresh-token", "family-rotated")
	if _, err := shopRefresh(ctx, p, shop, "rotated-refresh-token"); err != nil {
		t.Fatal(err)
	}
	put("rotated-by-an-older-node", "family-rotated-older")
	if _, err := p.cfg.Store.Spend(ctx, refreshKey("rotated-by-an-older-node"), p.cfg.RefreshTokenTTL); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Unix(exp, 0).Sub(clock.Now()))
	// Asking a scope beyond the grant changes nothing: it is expired.
	if _, err := p.Token(ctx, shop, map[string]string{"grant_type": GrantRefreshToken, "refresh_token": "expired-refresh-token", "scope": "openid profile"}); !isCode(err, CodeInvalidGrant) {
		t.Errorf("the expired token with a scope beyond its grant: %v, want invalid_grant", err)
	}
	for i := range 2 {
		if _, err := shopRefresh(ctx, p, shop, "expired-refresh-token"); !isCode(err, CodeInvalidGrant) {
			t.Errorf("presentation %d of the expired token: %v, want invalid_grant", i+1, err)
		}
		if err := p.Revoke(ctx, shop, "revoked-expired-token"); err != nil {
			t.Errorf("revocation %d of the expired token: %v", i+1, err)
		}
	}
	for _, family := range []string{"family-expired", "family-revoked-expired"} {
		if p.familyRevoked(ctx, family) {
			t.Errorf("an expired token presented twice revoked %s", family)
		}
	}
	for tok, family := range map[string]string{"rotated-refresh-token": "family-rotated", "rotated-by-an-older-node": "family-rotated-older"} {
		if _, err := shopRefresh(ctx, p, shop, tok); !isCode(err, CodeInvalidGrant) || !p.familyRevoked(ctx, family) {
			t.Errorf("%s presented past its exp: %v, login ended %v", tok, err, p.familyRevoked(ctx, family))
		}
	}
	// The revoked expired token's record ends with its entry.
	clock.Advance(time.Hour + time.Second)
	if b, err := p.cfg.Store.Spend(ctx, refreshKey("revoked-expired-token"), time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the revoked expired token's record is kept past its entry's expiry: %s %v", b, err)
	}
}
