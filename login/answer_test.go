package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// heldWrites is a sessionWrites before that holds the first n writes
// until all n have come (or five seconds pass), so that n answers all
// read the session before any of them writes it.
func heldWrites(n int32) func() {
	var arrived atomic.Int32
	all := make(chan struct{})
	return func() {
		switch k := arrived.Add(1); {
		case k == n:
			close(all)
		case k < n:
			select {
			case <-all:
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// answering is a provider whose holders and counter terminal answer
// every session: holder approvals and refusals at L2 (the holder
// authenticator spends no nonce, so several may answer one challenge)
// and counter approvals by terminal t-1, each with a fresh attestation.
type answering struct {
	*Provider
	term *gm.PrivateKey
}

func newAnswering(t *testing.T, p *Provider) answering {
	t.Helper()
	term, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := identity.NewTerminal("t-1", "counter 1", "310104", term.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.cfg.Holders, p.cfg.Pairwise = holderAt(identity.L2), onePairwise{}
	p.cfg.Terminals, p.cfg.StaticCodes = oneTerminal{tm}, staticCodeAt(identity.L2)
	return answering{p, term}
}

// counter is a counter approval of session id by terminal t-1.
func (a answering) counter(t *testing.T, id string) *CounterApproval {
	t.Helper()
	const static = "TIDST1:printed"
	now := time.Now().Unix()
	tok := jwt.NewWithClaims(gm.SigningMethodSM2, jwt.MapClaims{"iss": "t-1", "aud": "https://node.example", "iat": now, "exp": now + 60,
		"jti": rand.Text(), "login_session": id, "code_hash": CodeHash(static), "method": MethodFace})
	tok.Header["typ"] = CounterAttestationType
	attestation, err := tok.SignedString(a.term)
	if err != nil {
		t.Fatal(err)
	}
	return &CounterApproval{StaticCode: static, Attestation: attestation}
}

// holder is a holder's answer to session id's current challenge.
func (a answering) holder(t *testing.T, id string) *Approval {
	t.Helper()
	req, err := a.Describe(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := base64.RawURLEncoding.DecodeString(req.Challenge)
	return &Approval{Request: qrcode.HolderRequest{Nonce: nonce}}
}

// TestAnswersRace: of answers racing on one session (holder approvals,
// refusals and counter approvals, all read before any is stored),
// exactly one is stored and the others are refused as already
// answered; the browser gets the one stored. (Each answer overwrote the
// session before: every one succeeded and the last write won.)
func TestAnswersRace(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testAnswersRace(t, newTestProvider(t)) })
	t.Run("redis", func(t *testing.T) {
		p := newTestProvider(t)
		r, err := redisstore.New(testredis.StartClient(t), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if _, err := r.InitEpoch(t.Context()); err != nil { // a new server: its replay history is complete
			t.Fatal(err)
		}
		p.cfg.Store = r
		testAnswersRace(t, p)
	})
}

func testAnswersRace(t *testing.T, p *Provider) {
	a := newAnswering(t, p)
	ctx := context.Background()
	for round := range 5 {
		st, err := a.Authorize(ctx, goodQuery())
		if err != nil {
			t.Fatal(err)
		}
		kinds := []string{"approve", "deny", "counter", "approve", "deny", "counter"}
		answers := make([]func() error, len(kinds))
		for i, kind := range kinds {
			switch kind {
			case "approve":
				h := a.holder(t, st.ID)
				answers[i] = func() error { return a.Approve(ctx, st.ID, h) }
			case "deny":
				h := a.holder(t, st.ID)
				answers[i] = func() error { return a.Deny(ctx, st.ID, h) }
			case "counter":
				c := a.counter(t, st.ID)
				answers[i] = func() error { return a.ApproveAtCounter(ctx, st.ID, c) }
			}
		}
		plain := p.cfg.Store
		p.cfg.Store = &sessionWrites{Store: plain, before: heldWrites(int32(len(kinds)))}
		errs := make([]error, len(kinds))
		var wg sync.WaitGroup
		for i := range answers {
			wg.Go(func() { errs[i] = answers[i]() })
		}
		wg.Wait()
		p.cfg.Store = plain

		winner := ""
		for i, err := range errs {
			var e *Error
			switch {
			case err == nil && winner != "":
				t.Fatalf("round %d: answers %s and %s were both stored", round, winner, kinds[i])
			case err == nil:
				winner = kinds[i]
			case !errors.As(err, &e) || e.Code != CodeSessionNotFound || e.Description != "the login session was already answered":
				t.Fatalf("round %d: a losing %s: %v, want %s (already answered)", round, kinds[i], err, CodeSessionNotFound)
			}
		}
		s, err := a.getSession(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case winner == "":
			t.Fatalf("round %d: no answer was stored", round)
		case winner == "deny" && !s.Denied,
			winner == "approve" && (s.Approved == nil || s.Approved.Act != ""),
			winner == "counter" && (s.Approved == nil || s.Approved.Act != "terminal:t-1"):
			t.Fatalf("round %d: the %s stored, the session holds %+v", round, winner, s)
		}
		out, err := a.Wait(ctx, st.ID, st.Browser, 0)
		if want := map[bool]string{true: "error=access_denied", false: "code="}[winner == "deny"]; err != nil || out == nil || !strings.Contains(out.Redirect, want) {
			t.Fatalf("round %d: the browser after the %s: %+v %v, want %s", round, winner, out, err, want)
		}
	}
}

// TestCounterApprovalAfterExtension: a counter approval whose session
// was extended (the login page's "More time") between its read and its
// write is stored on the extended session, not refused as answered.
// (A refused approval's new challenge changed the session so before;
// a refused approval writes nothing now: TestRefusedAnswerWritesNothing.)
func TestCounterApprovalAfterExtension(t *testing.T) {
	p := newTestProvider(t)
	a := newAnswering(t, p)
	ctx := context.Background()
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	before, err := a.getSession(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	var extended error
	hooked, ran := beforeFirstSessionWrite(p.cfg.Store, func() {
		later := time.Now().Add(5 * time.Second)
		p.cfg.Now = func() time.Time { return later }
		_, extended = a.Extend(ctx, st.ID, st.Browser)
	})
	p.cfg.Store = hooked
	if err := a.ApproveAtCounter(ctx, st.ID, a.counter(t, st.ID)); err != nil {
		t.Fatalf("the counter approval after an extension: %v", err)
	}
	if !*ran || extended != nil {
		t.Fatalf("the extension during the counter approval: ran %v, %v", *ran, extended)
	}
	s, err := a.getSession(ctx, st.ID)
	if err != nil || s.Approved == nil || s.Approved.Act != "terminal:t-1" || s.Expires <= before.Expires {
		t.Fatalf("the session after both: %+v %v", s, err)
	}
}

// TestCompleteAfterStoreFailure: a browser's wait whose code cannot be
// stored (the store failing for that write) is temporarily_unavailable,
// and its retry gets the code: the holder's approval is not lost to a
// failure after the session was marked complete. (The session's once
// key was spent first, and the retry found the session "already
// complete".)
func TestCompleteAfterStoreFailure(t *testing.T) {
	p := newTestProvider(t)
	a := newAnswering(t, p)
	ctx := context.Background()
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Approve(ctx, st.ID, a.holder(t, st.ID)); err != nil {
		t.Fatal(err)
	}
	healthy := p.cfg.Store
	p.cfg.Store = &failOnce{Store: healthy, prefix: "login-code:"}
	if out, err := a.Wait(ctx, st.ID, st.Browser, 0); !isCode(err, CodeTemporarilyUnavailable) {
		t.Fatalf("wait with the code unwritable: %+v %v, want %s", out, err, CodeTemporarilyUnavailable)
	}
	p.cfg.Store = healthy
	out, err := a.Wait(ctx, st.ID, st.Browser, 0)
	if err != nil || out == nil || !strings.Contains(out.Redirect, "code=") {
		t.Fatalf("its retry: %+v %v, want the code", out, err)
	}
	if out, err := a.Wait(ctx, st.ID, st.Browser, 0); !isCode(err, CodeSessionNotFound) {
		t.Errorf("a wait after the code: %+v %v, want %s", out, err, CodeSessionNotFound)
	}
}

// TestFinishedSessionDeleted: a login session the browser has completed
// (a code issued, or the holder's refusal passed on) is deleted from the
// store: its record holds the approved grant (pairwise sub, released
// claims), which has no use once the code carries it. (It was kept until
// the session's expiry, up to 22 minutes with extensions.) On the memory
// store and Redis.
func TestFinishedSessionDeleted(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testFinishedSessionDeleted(t, newTestProvider(t)) })
	t.Run("redis", func(t *testing.T) {
		p := newTestProvider(t)
		useRedis(t, p)
		if _, err := p.cfg.Store.(*redisstore.Store).InitEpoch(t.Context()); err != nil { // a new server: its replay history is complete
			t.Fatal(err)
		}
		testFinishedSessionDeleted(t, p)
	})
}

func testFinishedSessionDeleted(t *testing.T, p *Provider) {
	a := newAnswering(t, p)
	ctx := context.Background()
	for _, kind := range []string{"approve", "deny", "counter"} {
		st, err := a.Authorize(ctx, goodQuery())
		if err != nil {
			t.Fatal(err)
		}
		switch kind {
		case "approve":
			err = a.Approve(ctx, st.ID, a.holder(t, st.ID))
		case "deny":
			err = a.Deny(ctx, st.ID, a.holder(t, st.ID))
		case "counter":
			err = a.ApproveAtCounter(ctx, st.ID, a.counter(t, st.ID))
		}
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if out, err := a.Wait(ctx, st.ID, st.Browser, 0); err != nil || out == nil {
			t.Fatalf("%s: the browser's wait: %+v %v", kind, out, err)
		}
		if b, err := p.cfg.Store.Get(ctx, sessionKey(st.ID)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the finished session's record is still stored (%d bytes, %v)", kind, len(b), err)
		}
		if out, err := a.Wait(ctx, st.ID, st.Browser, 0); !isCode(err, CodeSessionNotFound) {
			t.Errorf("%s: a wait after the end: %+v %v, want %s", kind, out, err, CodeSessionNotFound)
		}
	}
}
