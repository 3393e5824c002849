package login

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// clockedProvider is an answering provider whose clock, and its memory
// store's, is the test's; on Redis (whose clock is its own) when redis
// is set.
func clockedProvider(t *testing.T, redis bool) (answering, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(time.Unix(1_800_000_000, 0))
	p := newTestProvider(t)
	p.cfg.Now = clock.Now
	if redis {
		r, err := redisstore.New(testredis.StartClient(t), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if _, err := r.InitEpoch(t.Context()); err != nil {
			t.Fatal(err)
		}
		p.cfg.Store = r
		return newAnswering(t, p), clock
	}
	mem, err := store.NewMemory(store.MemoryOptions{Now: clock.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	p.cfg.Store = mem
	return newAnswering(t, p), clock
}

// TestExtendTenTimes: a person who needs more time extends the login
// session each time the page warns (20 s before it ends), at least ten
// times (WCAG 2.2 SC 2.2.1 Extend: "the user is allowed to extend the
// time limit at least ten times"), each time to a whole lifetime from
// then, and never past 1+SessionExtensions lifetimes from its start;
// the session so extended is still approved and its code collected
// (its once key lives as long), long after its first lifetime. On the
// memory store and Redis (the store's CompareAndSwap with its new TTL).
func TestExtendTenTimes(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testExtendTenTimes(t, false) })
	t.Run("redis", func(t *testing.T) { testExtendTenTimes(t, true) })
}

func testExtendTenTimes(t *testing.T, redis bool) {
	a, clock := clockedProvider(t, redis)
	ctx := context.Background()
	ttl := a.SessionTTL()
	start := clock.Now()
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	before, err := a.Describe(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	expires, limit := start.Add(ttl), start.Add((1+SessionExtensions)*ttl)
	n := 0
	for {
		clock.Set(expires.Add(-20 * time.Second))
		out, err := a.Extend(ctx, st.ID, st.Browser)
		if isCode(err, CodeSessionLimit) {
			break
		}
		if err != nil {
			t.Fatalf("extension %d: %v", n+1, err)
		}
		n++
		want := clock.Now().Add(ttl)
		if want.After(limit) {
			want = limit
		}
		if out.Left != want.Sub(clock.Now()) || out.Extendable != want.Before(limit) {
			t.Fatalf("extension %d: %+v, want %v left, extendable %v", n, out, want.Sub(clock.Now()), want.Before(limit))
		}
		r, err := a.Describe(ctx, st.ID)
		if err != nil || !r.ExpiresAt.Equal(want) || r.Challenge != before.Challenge {
			t.Fatalf("after extension %d: %+v %v, want expiry %v and the same challenge", n, r, err, want)
		}
		expires = want
		if n > 100 {
			t.Fatal("the session extends without end")
		}
	}
	if n < 10 || !expires.Equal(limit) {
		t.Fatalf("%d extensions, to %v; want at least 10, to %v", n, expires.Sub(start), limit.Sub(start))
	}
	// Long past its first lifetime, the session is approved and its code
	// collected.
	if err := a.Approve(ctx, st.ID, a.holder(t, st.ID)); err != nil {
		t.Fatal(err)
	}
	out, err := a.Wait(ctx, st.ID, st.Browser, 0)
	if err != nil || out == nil || !strings.Contains(out.Redirect, "code=") {
		t.Fatalf("the browser after %v: %+v %v, want the redirect with its code", clock.Now().Sub(start), out, err)
	}
	if _, err := a.Extend(ctx, st.ID, st.Browser); !isCode(err, CodeSessionNotFound) {
		t.Errorf("a completed session extended: %v", err)
	}
}

// TestExtendRefusals: Extend is only for the browser that started the
// session (its cookie), while the session waits for its answer; an
// answered session is refused with ErrAnswered, one at its limit (or
// started by a node that set none) with CodeSessionLimit, and no refusal
// changes the stored session.
func TestExtendRefusals(t *testing.T) {
	a, clock := clockedProvider(t, false)
	ctx := context.Background()
	start := clock.Now()
	open := func() *Started {
		t.Helper()
		clock.Set(start)
		st, err := a.Authorize(ctx, goodQuery())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	stored := func(id string) []byte {
		b, _ := a.cfg.Store.Get(ctx, sessionKey(id))
		return b
	}
	refused := func(name, id, browser, code string, cause error) {
		t.Helper()
		was := stored(id)
		_, err := a.Extend(ctx, id, browser)
		if !isCode(err, code) || (cause != nil && !errors.Is(err, cause)) || (cause == nil && errors.Is(err, ErrAnswered)) {
			t.Errorf("%s: %v, want %s (%v)", name, err, code, cause)
		}
		if now := stored(id); !bytes.Equal(now, was) {
			t.Errorf("%s: the refusal changed the session:\n%s\n%s", name, was, now)
		}
	}
	st := open()
	refused("another browser", st.ID, rand.Text(), CodeSessionNotFound, nil)
	refused("no browser", st.ID, "", CodeSessionNotFound, nil)
	refused("another session", strings.Repeat("A", 43), st.Browser, CodeSessionNotFound, nil)
	refused("a malformed ID", "x", st.Browser, CodeSessionNotFound, nil)
	clock.Set(start.Add(a.SessionTTL()))
	refused("an expired session", st.ID, st.Browser, CodeSessionNotFound, nil)

	st = open()
	if err := a.Approve(ctx, st.ID, a.holder(t, st.ID)); err != nil {
		t.Fatal(err)
	}
	refused("an approved session", st.ID, st.Browser, CodeSessionNotFound, ErrAnswered)
	refused("an approved session, another browser", st.ID, rand.Text(), CodeSessionNotFound, nil)

	st = open()
	if err := a.Deny(ctx, st.ID, a.holder(t, st.ID)); err != nil {
		t.Fatal(err)
	}
	refused("a refused session", st.ID, st.Browser, CodeSessionNotFound, ErrAnswered)

	// A session an older node started has no limit stored: it is not
	// extended (its once key lives only its first lifetime).
	st = open()
	b := stored(st.ID)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "until")
	if b, err := json.Marshal(m); err != nil {
		t.Fatal(err)
	} else if err := a.cfg.Store.Set(ctx, sessionKey(st.ID), b, a.SessionTTL()); err != nil {
		t.Fatal(err)
	}
	refused("an older node's session", st.ID, st.Browser, CodeSessionLimit, nil)
}

// TestOnceKeyLivesAsTheSession: the single-use key that lets a session's
// code be issued once lives as long as the session's current life, not
// as long as it could be extended to (an anonymous /login/authorize left
// a key for 22 minutes, eleven times its session's 2): each extension
// puts a fresh key for the new life, which the record names, and the
// key of the life before expires with it.
func TestOnceKeyLivesAsTheSession(t *testing.T) {
	a, clock := clockedProvider(t, false)
	ctx := context.Background()
	ttl := a.SessionTTL()
	live := func(key string) bool {
		t.Helper()
		_, err := a.cfg.Store.Peek(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	start := clock.Now()
	abandoned, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	if !live(onceKey(abandoned.ID, 0)) {
		t.Fatal("no once key for a session just started")
	}
	clock.Set(start.Add(ttl - 20*time.Second))
	if _, err := a.Extend(ctx, st.ID, st.Browser); err != nil {
		t.Fatal(err)
	}
	if !live(onceKey(st.ID, 1)) {
		t.Fatal("no once key for the extended life")
	}
	clock.Set(start.Add(ttl))
	if live(onceKey(abandoned.ID, 0)) {
		t.Fatal("an abandoned session's once key outlives the session")
	}
	if live(onceKey(st.ID, 0)) || !live(onceKey(st.ID, 1)) {
		t.Fatal("after an extension, the key of the first life outlives it, or the new one is gone")
	}
	// The extended session is approved and its code collected once.
	if err := a.Approve(ctx, st.ID, a.holder(t, st.ID)); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Wait(ctx, st.ID, st.Browser, 0); err != nil || out == nil || !strings.Contains(out.Redirect, "code=") {
		t.Fatalf("the extended session: %+v %v, want the redirect with its code", out, err)
	}
	if live(onceKey(st.ID, 1)) {
		t.Fatal("the once key was not spent")
	}
}
