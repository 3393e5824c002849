package ledger_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// goroutinesIn returns the stacks of the goroutines running a function
// whose name contains fn (a hand-written leak check).
func goroutinesIn(fn string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			out = append(out, g)
		}
	}
	return out
}

// runOutbox starts ob.Run and returns its result channel.
func runOutbox(ctx context.Context, ob *ledger.Outbox) <-chan error {
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	return done
}

// waitRun waits (at most 5 s) for Run to return, then checks that no
// goroutine of the outbox is left. A goroutine that has called wg.Done
// may still be listed for a moment while it exits (Run's wg.Wait has
// returned), so the check allows 1 s for that; a goroutine that is really
// left behind (blocked) is still there after it.
func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		left := goroutinesIn("ledger.(*Outbox)")
		for deadline := time.Now().Add(time.Second); len(left) > 0 && time.Now().Before(deadline); left = goroutinesIn("ledger.(*Outbox)") {
			time.Sleep(10 * time.Millisecond)
		}
		if len(left) > 0 {
			t.Errorf("%d outbox goroutines left after Run returned:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("Run has not returned after 5 s; its goroutines:\n%s", strings.Join(goroutinesIn("ledger.(*Outbox)"), "\n\n"))
		return nil
	}
}

// switchable wraps the real chain client: while down is set, transactions
// fail as when the ledger cannot be reached.
type switchable struct {
	ledger.Client
	down atomic.Bool
}

var errInjected = fmt.Errorf("%w: injected: peer 10.9.8.7:7051 unreachable", ledger.ErrUnavailable)

func (s *switchable) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	if s.down.Load() {
		return chaincode.BatchResult{}, errInjected
	}
	return s.Client.AnchorBatch(ctx, in)
}

func (s *switchable) PutStatusHeads(ctx context.Context, heads []ledger.StatusHeadInput) (chaincode.HeadsEvent, error) {
	if s.down.Load() {
		return chaincode.HeadsEvent{}, errInjected
	}
	return s.Client.PutStatusHeads(ctx, heads)
}

// TestOutboxHoldsWhileLedgerFails: while every transaction fails, Run
// keeps retrying (it does not return), holds the changes and heads, and
// Stats shows the error, the backlog and its age; once the ledger answers,
// everything drains exactly once and Run stops promptly on cancel with no
// goroutine left.
func TestOutboxHoldsWhileLedgerFails(t *testing.T) {
	var sw *switchable
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer { sw = &switchable{Client: c}; return sw },
		ledger.OutboxOptions{MaxBatch: 100, Window: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	defer n.close()
	sw.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runOutbox(ctx, n.ob)

	// Heads alone age too.
	d := chaincode.ListDigest([]byte("v1"))
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "0000000faaaaaaaa", Version: 1, Digest: d}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if st := n.ob.Stats(); st.OldestAge < 300*time.Millisecond || st.HeadsPending != 1 || !errors.Is(st.LastError, ledger.ErrUnavailable) {
		t.Fatalf("heads waiting 300 ms on a failing ledger: %+v", st)
	}
	start := time.Now()
	if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("F"), 0, 250)); err != nil {
		t.Fatal(err)
	}
	retries := n.ob.Stats().Retries
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st := n.ob.Stats(); st.Frozen >= 2 && st.Retries >= retries+10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batches not retried: %+v", n.ob.Stats())
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned on a transient ledger error: %v", err)
	default:
	}
	st := n.ob.Stats()
	if st.Backlog != 250 || st.Frozen == 0 || st.CommittedChanges != 0 {
		t.Errorf("backlog while failing: %+v", st)
	}
	if !errors.Is(st.LastError, ledger.ErrUnavailable) || st.LastErrorAt.Before(start) {
		t.Errorf("last error while failing: %v at %v", st.LastError, st.LastErrorAt)
	}
	if st.OldestAge < 300*time.Millisecond {
		t.Errorf("oldest age %v, want the heads' wait (over 300 ms)", st.OldestAge)
	}

	sw.down.Store(false)
	fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
	defer fcancel()
	if err := n.ob.Flush(fctx); err != nil {
		t.Fatalf("flush after the ledger came back: %v (%+v)", err, n.ob.Stats())
	}
	st = n.ob.Stats()
	if st.LastError != nil || st.OldestAge != 0 || st.Backlog != 0 || st.Frozen != 0 || st.HeadsPending != 0 || st.CommittedChanges != 250 {
		t.Errorf("after recovery: %+v", st)
	}
	checkExactlyOnce(t, ledgertest.Anchored(t, n.l), ledgertest.ListID("F"), 250)
	if h, err := (ledger.Client{L: n.l}).StatusHead(ctx, ledgertest.RegionA, "0000000faaaaaaaa"); err != nil || h.Digest != d {
		t.Errorf("head after recovery: %+v %v", h, err)
	}

	// Down again, then stop: the retrying sends end with Run.
	sw.down.Store(true)
	if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("F"), 1000, 10)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); n.ob.Stats().Frozen == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing frozen: %+v", n.ob.Stats())
		}
	}
	cancel()
	if err := waitRun(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v", err)
	}
}

// slowCommit commits on the chain, then answers only after 300 ms (or
// when its context ends) — a transaction in flight.
type slowCommit struct {
	ledger.Client
	calls, cancelled atomic.Int32
}

func (s *slowCommit) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	s.calls.Add(1)
	res, err := s.Client.AnchorBatch(context.WithoutCancel(ctx), in)
	select {
	case <-ctx.Done():
		s.cancelled.Add(1)
	case <-time.After(300 * time.Millisecond):
	}
	return res, err
}

// TestOutboxRunFatalErrorStopsSends: when the outbox file fails (here a
// corrupted pending chunk behind two good batches), Run cancels the
// transactions in flight and returns the error promptly, with no goroutine
// left (before, it waited for sends that blocked on an unbuffered channel
// until the caller's context ended). The batches stay frozen for the next
// Run, and the error is in Stats.
func TestOutboxRunFatalErrorStopsSends(t *testing.T) {
	dir := t.TempDir()
	var sc *slowCommit
	chain := func(c ledger.Client) ledger.BatchAnchorer { sc = &slowCommit{Client: c}; return sc }
	opts := ledger.OutboxOptions{MaxBatch: 100, Window: time.Millisecond}
	n := openNode(t, dir, chain, opts)
	for i := 0; i < 2; i++ {
		if err := n.ob.Anchor(context.Background(), ledgertest.SeqChanges(ledgertest.ListID("C"), i*100, 100)); err != nil {
			t.Fatal(err)
		}
	}
	n.close()
	// A chunk that says two changes and holds half of one.
	db, err := bolt.Open(filepath.Join(dir, "outbox.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("pending"))
		if b == nil {
			return errors.New("no pending bucket in the outbox file")
		}
		return b.Put(binary.BigEndian.AppendUint64(nil, 1<<40), []byte{0, 0, 0, 2, 5, 'x'})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	n = openNode(t, dir, chain, opts)
	defer n.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // the old Run returned only then
	start := time.Now()
	err = waitRun(t, runOutbox(ctx, n.ob))
	if err == nil || errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "corrupted chunk") {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("Run returned after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if sc.calls.Load() != 2 || sc.cancelled.Load() != 2 {
		t.Errorf("%d transactions sent, %d cancelled by Run's return; want 2 and 2", sc.calls.Load(), sc.cancelled.Load())
	}
	st := n.ob.Stats()
	if st.Frozen != 2 || st.Backlog != 202 || st.LastError == nil || !strings.Contains(st.LastError.Error(), "corrupted chunk") {
		t.Errorf("after a fatal error: %+v", st)
	}
}

// flakyLedger wraps the real ledger: while reads is set, every read
// (Height, Evaluate, Events) fails as when the peer is unreachable.
type flakyLedger struct {
	ledger.Ledger
	reads atomic.Bool
}

func (f *flakyLedger) Height(ctx context.Context) (uint64, error) {
	if f.reads.Load() {
		return 0, errInjected
	}
	return f.Ledger.Height(ctx)
}

func (f *flakyLedger) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	if f.reads.Load() {
		return nil, errInjected
	}
	return f.Ledger.Evaluate(ctx, fn, args...)
}

func (f *flakyLedger) Events(ctx context.Context, from uint64) (<-chan ledger.Event, error) {
	if f.reads.Load() {
		return nil, errInjected
	}
	return f.Ledger.Events(ctx, from)
}

// TestViewRecordsErrors: View.Run records and logs the error that stops
// it following the ledger, keeps the time of the last refresh, clears the
// error once it follows again, and keeps answering from memory.
func TestViewRecordsErrors(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	fl := &flakyLedger{Ledger: a}
	fl.reads.Store(true)
	var logs testnode.Buffer
	v := ledger.NewView(fl, ledger.ViewOptions{Reconcile: 20 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.Run(vctx) }()
	eventually := func(what string, ok func(ledger.ViewHealth) bool) ledger.ViewHealth {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			h := v.Health()
			if ok(h) {
				return h
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v", what, h)
			}
		}
	}

	h := eventually("no error recorded while the ledger fails", func(h ledger.ViewHealth) bool { return h.LastError != nil })
	if !errors.Is(h.LastError, ledger.ErrUnavailable) || h.Ready || !h.LastRefresh.IsZero() || h.LastErrorAt.IsZero() {
		t.Errorf("while failing from the start: %+v", h)
	}
	if s := logs.String(); !strings.Contains(s, "ledger view: lost the ledger") || !strings.Contains(s, "unreachable") {
		t.Errorf("error not logged:\n%s", s)
	}
	// Retried every second, the same error is logged again only after a
	// minute (internal/retrylog), not at every retry.
	first := h.LastErrorAt
	eventually("the ledger not retried twice more", func(h ledger.ViewHealth) bool { return h.LastErrorAt.Sub(first) >= 1500*time.Millisecond })
	if n := strings.Count(logs.String(), "ledger view: lost the ledger"); n != 1 {
		t.Errorf("the same failure logged %d times in its first seconds, want once:\n%s", n, logs.String())
	}

	fl.reads.Store(false)
	h = eventually("view did not recover", func(h ledger.ViewHealth) bool { return h.Ready && h.LastError == nil })
	if h.LastRefresh.IsZero() {
		t.Errorf("after recovery: %+v", h)
	}
	// It follows the ledger again once its stream has applied an event.
	list := ledgertest.ListID("view records errors")
	if _, err := (ledger.Client{L: a}).PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: list, Version: 1, Digest: chaincode.ListDigest([]byte(list))}}); err != nil {
		t.Fatal(err)
	}
	eventually("the view did not apply the event", func(ledger.ViewHealth) bool { _, ok := v.StatusHead(ledgertest.RegionA, list); return ok })

	// Failing while following: the next reconcile fails; the view keeps
	// its data and the time of its last refresh.
	fl.reads.Store(true)
	h = eventually("reconcile failure not recorded", func(h ledger.ViewHealth) bool { return h.LastError != nil })
	if !h.Ready || h.LastRefresh.IsZero() || !h.LastErrorAt.After(h.LastRefresh) {
		t.Errorf("failing after a refresh: %+v", h)
	}
	if _, ok := v.Region(ledgertest.RegionA); !ok {
		t.Error("the view dropped its data when the ledger failed")
	}
	if n := strings.Count(logs.String(), "ledger view: lost the ledger"); n != 2 {
		t.Errorf("the same failure after a recovery: %d lines, want it logged again at once:\n%s", n, logs.String())
	}
	fl.reads.Store(false)
	eventually("view did not recover again", func(h ledger.ViewHealth) bool { return h.LastError == nil })

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("View.Run did not return after cancel")
	}
}

// endingStreams is the real ledger whose event streams end at once after
// each subscription (a link that fails right after it): subscriptions
// counts them.
type endingStreams struct {
	ledger.Ledger
	subscriptions atomic.Int32
}

func (l *endingStreams) Events(ctx context.Context, from uint64) (<-chan ledger.Event, error) {
	if _, err := l.Ledger.Events(ctx, from); err != nil {
		return nil, err
	}
	l.subscriptions.Add(1)
	out := make(chan ledger.Event)
	close(out)
	return out, nil
}

// TestViewLogsEndingStreamsRarely: a view whose every stream ends at once
// after it subscribed has not followed the ledger again, so the same
// failure repeating is logged once, not at each subscription (as
// ledger.Follow counts a recovery; it was logged every second).
func TestViewLogsEndingStreamsRarely(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	l := &endingStreams{Ledger: a}
	var logs testnode.Buffer
	v := ledger.NewView(l, ledger.ViewOptions{Reconcile: time.Hour, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(vctx) }()
	for deadline := time.Now().Add(15 * time.Second); l.subscriptions.Load() < 4 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := l.subscriptions.Load(); n < 4 {
		t.Fatalf("%d subscriptions, want 4", n)
	}
	if n := strings.Count(logs.String(), "ledger view: lost the ledger"); n != 1 {
		t.Errorf("%d subscriptions that ended at once logged %d times, want once:\n%s", l.subscriptions.Load(), n, logs.String())
	}
}

// listFaults wraps the real chain client: a batch holding a change of a
// list in fail is refused as when the ledger cannot be reached.
type listFaults struct {
	ledger.Client
	fail sync.Map // list ID → true
}

func (l *listFaults) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	for _, list := range in.Lists {
		if _, ok := l.fail.Load(list); ok {
			return chaincode.BatchResult{}, errInjected
		}
	}
	return l.Client.AnchorBatch(ctx, in)
}

// TestOutboxOldestAge: OldestAge is the wait of the oldest change not on
// the chain, counted from its arrival, through freezing and whatever
// committed before it (on an injected clock).
func TestOutboxOldestAge(t *testing.T) {
	var clock atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(clock.Load())) }
	var lf *listFaults
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer { lf = &listFaults{Client: c}; return lf },
		ledger.OutboxOptions{MaxBatch: 100, Concurrency: 1, MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, Now: now})
	defer n.close()
	lf.fail.Store(ledgertest.ListID("A"), true)
	lf.fail.Store(ledgertest.ListID("B"), true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runOutbox(ctx, n.ob)
	eventually := func(what string, ok func(ledger.OutboxStats) bool) ledger.OutboxStats {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			st := n.ob.Stats()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v", what, st)
			}
		}
	}

	if st := n.ob.Stats(); st.OldestAge != 0 {
		t.Fatalf("empty outbox: %+v", st)
	}
	if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("A"), 0, 100)); err != nil { // t=0, frozen at once (full)
		t.Fatal(err)
	}
	eventually("A not frozen", func(st ledger.OutboxStats) bool { return st.Frozen == 1 && st.Retries > 0 })
	clock.Store(int64(10 * time.Second))
	if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("B"), 0, 100)); err != nil { // t=10, waits: one transaction at a time
		t.Fatal(err)
	}
	clock.Store(int64(15 * time.Second))
	if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("C"), 0, 50)); err != nil { // t=15
		t.Fatal(err)
	}
	clock.Store(int64(20 * time.Second))
	if st := n.ob.Stats(); st.OldestAge != 20*time.Second || st.Backlog != 250 || st.Pending != 150 {
		t.Errorf("A frozen since 0, B and C pending since 10 and 15, at 20: %+v", st)
	}
	lf.fail.Delete(ledgertest.ListID("A"))
	st := eventually("A not committed, or B not frozen", func(st ledger.OutboxStats) bool {
		return st.CommittedChanges == 100 && st.Frozen == 1 && st.Pending == 50
	})
	if st.OldestAge != 10*time.Second || st.Backlog != 150 {
		t.Errorf("B frozen (arrived at 10), C pending, at 20: %+v", st)
	}
	// C is half a batch in a window that has not ended (the clock stands).
	lf.fail.Delete(ledgertest.ListID("B"))
	st = eventually("B not committed", func(st ledger.OutboxStats) bool { return st.CommittedChanges == 200 })
	if st.OldestAge != 5*time.Second || st.Backlog != 50 || st.Pending != 50 {
		t.Errorf("C pending (arrived at 15), at 20: %+v", st)
	}
	fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
	defer fcancel()
	if err := n.ob.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	// Flush returns once the chunks are committed on disk; the counters
	// follow a moment later.
	eventually("drained", func(st ledger.OutboxStats) bool {
		return st.OldestAge == 0 && st.Backlog == 0 && st.CommittedChanges == 250
	})
	cancel()
	if err := waitRun(t, done); !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
}

// TestOutboxCountsUnderConcurrentAnchors: with writers racing the batching,
// the outbox's counts end at zero once everything is committed (a freeze
// must never take a chunk its Anchor has not counted yet, or the pending
// count, and with it OldestAge, would stay wrong).
func TestOutboxCountsUnderConcurrentAnchors(t *testing.T) {
	n := openNode(t, t.TempDir(), nil, ledger.OutboxOptions{MaxBatch: 20, Window: time.Microsecond, Concurrency: 2})
	defer n.close()
	stop := n.run(t)
	defer stop()
	ctx := context.Background()
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("N"), w*each+i, 1)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := n.ob.Stats(); st.Pending != 0 || st.Backlog != 0 || st.OldestAge != 0 || st.CommittedChanges != writers*each {
		t.Errorf("after flush: %+v", st)
	}
}
