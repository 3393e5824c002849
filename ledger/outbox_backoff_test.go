package ledger_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// failingChain fails the first fails submissions of each kind as a ledger
// that is down does (a transient error), and records when each
// submission of status heads came.
type failingChain struct {
	ledger.Client
	fails int

	mu         sync.Mutex
	batches    int
	headsTimes []time.Time
}

func (f *failingChain) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	f.mu.Lock()
	f.batches++
	n := f.batches
	f.mu.Unlock()
	if n <= f.fails {
		return chaincode.BatchResult{}, errInjected
	}
	return f.Client.AnchorBatch(ctx, in)
}

func (f *failingChain) PutStatusHeads(ctx context.Context, heads []ledger.StatusHeadInput) (chaincode.HeadsEvent, error) {
	f.mu.Lock()
	f.headsTimes = append(f.headsTimes, time.Now())
	n := len(f.headsTimes)
	f.mu.Unlock()
	if n <= f.fails {
		return chaincode.HeadsEvent{}, errInjected
	}
	return f.Client.PutStatusHeads(ctx, heads)
}

// backoffLog records the backoff attribute of every log record.
type backoffLog struct {
	mu       sync.Mutex
	backoffs []time.Duration
}

func (h *backoffLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *backoffLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *backoffLog) WithGroup(string) slog.Handler            { return h }
func (h *backoffLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "backoff" {
			h.mu.Lock()
			h.backoffs = append(h.backoffs, a.Value.Duration())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

// TestOutboxBatchBackoffDoublesToCap: a batch the ledger keeps failing
// is retried after MinBackoff, doubled after each failure up to
// MaxBackoff and no further (OutboxOptions), so a long outage is retried
// every MaxBackoff, not ever more rarely; MaxBackoff unset is 5 s, not
// zero (a retry loop without pause).
func TestOutboxBatchBackoffDoublesToCap(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		max   time.Duration
		fails int
		want  []time.Duration
	}{
		{"MaxBackoff 4ms", 4 * ms, 6, []time.Duration{ms, 2 * ms, 4 * ms, 4 * ms, 4 * ms, 4 * ms}},
		{"MaxBackoff unset", 0, 4, []time.Duration{ms, 2 * ms, 4 * ms, 8 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &backoffLog{}
			// The outbox's clock moves an hour at each reading, so that
			// every retry's failure is logged (the same error is logged
			// again after an hour at most: TestOutboxLogsRepeatsRarely).
			var mu sync.Mutex
			now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
			hourly := func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				now = now.Add(time.Hour)
				return now
			}
			n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
				return &failingChain{Client: c, fails: tc.fails}
			}, ledger.OutboxOptions{Window: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: tc.max,
				Logger: slog.New(log), Now: hourly})
			defer n.close()
			stop := n.run(t)
			defer stop()
			ctx := context.Background()
			if err := n.ob.Anchor(ctx, []ledger.StatusChange{{List: "00000001aaaaaaaa", Index: 1, Status: 1}}); err != nil {
				t.Fatal(err)
			}
			if err := n.ob.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if st := n.ob.Stats(); st.CommittedBatches != 1 || st.Replayed != 0 || st.Retries != tc.fails {
				t.Errorf("stats %+v, want 1 batch committed, none replayed, %d retries", st, tc.fails)
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			if !slices.Equal(log.backoffs, tc.want) {
				t.Fatalf("backoffs %v, want %v (doubled from MinBackoff, capped at MaxBackoff)", log.backoffs, tc.want)
			}
		})
	}
}

// TestOutboxLogsRepeatsRarely: a ledger failing 40 submissions of a
// batch the same way, retried every millisecond, is logged once, not at
// every retry (the same error is logged again after a quiet interval of
// a minute, doubling to an hour: internal/retrylog); so are its next 40
// failures of heads, the first logged at once since the batch went
// through meanwhile.
func TestOutboxLogsRepeatsRarely(t *testing.T) {
	var logs testnode.Buffer
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
		return &failingChain{Client: c, fails: 40}
	}, ledger.OutboxOptions{Window: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	defer n.close()
	stop := n.run(t)
	defer stop()
	ctx := context.Background()
	if err := n.ob.Anchor(ctx, []ledger.StatusChange{{List: "00000001aaaaaaaa", Index: 1, Status: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "00000011aaaaaaaa", Version: 1, Digest: chaincode.ListDigest([]byte("1"))}}); err != nil {
		t.Fatal(err)
	}
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := n.ob.Stats(); st.Retries != 80 || st.CommittedBatches != 1 || st.HeadsPending != 0 {
		t.Fatalf("stats %+v, want 80 retries, the batch and the heads sent", st)
	}
	out := logs.String()
	if strings.Count(out, `"level":"WARN"`) != 2 || strings.Count(out, `"msg":"status batch not anchored yet; retrying"`) != 1 ||
		strings.Count(out, `"msg":"status heads not anchored yet; retrying"`) != 1 {
		t.Errorf("80 failures logged other than once for the batch and once for the heads:\n%.2000s", out)
	}
}

// TestOutboxHeadsBackoffCapped: status heads the ledger keeps failing
// are retried at most MaxBackoff apart too. Twelve failures with
// MaxBackoff 2 ms are retried in well under a second; uncapped, the
// last wait alone would be 2^11 ms.
func TestOutboxHeadsBackoffCapped(t *testing.T) {
	var chain *failingChain
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
		chain = &failingChain{Client: c, fails: 14}
		return chain
	}, ledger.OutboxOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	defer n.close()
	ctx := context.Background()
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "00000011aaaaaaaa", Version: 1, Digest: chaincode.ListDigest([]byte("1"))}}); err != nil {
		t.Fatal(err)
	}
	stop := n.run(t)
	defer stop()
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	chain.mu.Lock()
	defer chain.mu.Unlock()
	if len(chain.headsTimes) != 15 {
		t.Fatalf("%d submissions of the heads, want 15 (14 failed)", len(chain.headsTimes))
	}
	// 14 retries at most 2 ms apart take ~30 ms; the bound leaves a loaded
	// machine's scheduling delays seconds of room. An uncapped backoff
	// (1 ms doubling) waits 16.4 s in all.
	if took := chain.headsTimes[14].Sub(chain.headsTimes[0]); took > 8*time.Second {
		t.Errorf("14 retries took %v with MaxBackoff 2ms", took)
	}
}

// refusingChain refuses every batch and every head with its error, as
// the contract refuses what no retry can cure.
type refusingChain struct {
	ledger.Client
	batchErr, headsErr error
}

func (r refusingChain) AnchorBatch(context.Context, chaincode.BatchInput) (chaincode.BatchResult, error) {
	return chaincode.BatchResult{}, r.batchErr
}

func (r refusingChain) PutStatusHeads(context.Context, []ledger.StatusHeadInput) (chaincode.HeadsEvent, error) {
	return chaincode.HeadsEvent{}, r.headsErr
}

// TestOutboxPermanentRefusals: a batch the contract refuses as invalid
// is set aside in the dead bucket, and a head it refuses as conflicting
// is dropped, rather than retried forever (permanent): Flush returns.
func TestOutboxPermanentRefusals(t *testing.T) {
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
		return refusingChain{Client: c, batchErr: fmt.Errorf("%w: injected", chaincode.ErrInvalid),
			headsErr: fmt.Errorf("%w: injected", chaincode.ErrHeadConflict)}
	}, ledger.OutboxOptions{Window: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	defer n.close()
	stop := n.run(t)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.ob.Anchor(ctx, []ledger.StatusChange{{List: "00000001aaaaaaaa", Index: 1, Status: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "00000011aaaaaaaa", Version: 1, Digest: chaincode.ListDigest([]byte("1"))}}); err != nil {
		t.Fatal(err)
	}
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v (a refusal retried as if transient)", err)
	}
	if dead, err := n.ob.DeadBatches(); err != nil || len(dead) != 1 {
		t.Errorf("dead batches %+v %v, want the refused one", dead, err)
	}
	if st := n.ob.Stats(); st.HeadsPending != 0 {
		t.Errorf("heads pending %d, want the refused head dropped", st.HeadsPending)
	}
}

// newerHeadChain anchors heads on the chain and, during the first
// submission, has a newer head of the same list queued (the issuer
// published again while the older head was in flight).
type newerHeadChain struct {
	ledger.Client
	ob    **ledger.Outbox
	newer ledger.StatusHeadInput
	once  sync.Once
}

func (c *newerHeadChain) PutStatusHeads(ctx context.Context, heads []ledger.StatusHeadInput) (chaincode.HeadsEvent, error) {
	ev, err := c.Client.PutStatusHeads(ctx, heads)
	c.once.Do(func() {
		if err := (*c.ob).AnchorHeads(ctx, []ledger.StatusHeadInput{c.newer}); err != nil {
			panic(err)
		}
	})
	return ev, err
}

// TestOutboxNewerHeadKeptWhileOlderSent: a head queued while an older
// head of its list is being sent is not removed with the older one; it
// reaches the chain next.
func TestOutboxNewerHeadKeptWhileOlderSent(t *testing.T) {
	var ob *ledger.Outbox
	newer := ledger.StatusHeadInput{List: "00000011aaaaaaaa", Version: 2, Digest: chaincode.ListDigest([]byte("2"))}
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
		return &newerHeadChain{Client: c, ob: &ob, newer: newer}
	}, ledger.OutboxOptions{})
	defer n.close()
	ob = n.ob
	ctx := context.Background()
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "00000011aaaaaaaa", Version: 1, Digest: chaincode.ListDigest([]byte("1"))}}); err != nil {
		t.Fatal(err)
	}
	stop := n.run(t)
	defer stop()
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := (ledger.Client{L: n.l}).StatusHead(ctx, ledgertest.RegionA, "00000011aaaaaaaa")
	if err != nil || h.Version != 2 {
		t.Fatalf("head on the chain %+v %v, want version 2 (queued while 1 was sent)", h, err)
	}
}

// quotaChain refuses, as a region whose quota is full, every
// submission of status heads that names list full while refuse is set.
type quotaChain struct {
	ledger.Client
	full   string
	refuse atomic.Bool
}

func (c *quotaChain) PutStatusHeads(ctx context.Context, heads []ledger.StatusHeadInput) (chaincode.HeadsEvent, error) {
	if c.refuse.Load() && slices.ContainsFunc(heads, func(h ledger.StatusHeadInput) bool { return h.List == c.full }) {
		return chaincode.HeadsEvent{}, fmt.Errorf("%w: injected", chaincode.ErrQuota)
	}
	return c.Client.PutStatusHeads(ctx, heads)
}

// TestOutboxHeadsPastTheQuota: the head of a new list the contract
// refuses past the region's quota (ErrQuota) is kept and sent again,
// while the heads of the lists anchored already, queued with it or
// after it, go on being anchored (a revocation in them reaches the
// chain); once the quota allows, the new list's head is anchored too.
func TestOutboxHeadsPastTheQuota(t *testing.T) {
	const old, full = "00000011aaaaaaaa", "00000012aaaaaaaa"
	chain := &quotaChain{full: full}
	chain.refuse.Store(true)
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
		chain.Client = c
		return chain
	}, ledger.OutboxOptions{MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	defer n.close()
	ctx := context.Background()
	head := func(list string, v uint64) ledger.StatusHeadInput {
		return ledger.StatusHeadInput{List: list, Version: v, Digest: chaincode.ListDigest(fmt.Appendf(nil, "%s %d", list, v))}
	}
	anchored := func(list string, v uint64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			h, err := (ledger.Client{L: n.l}).StatusHead(ctx, ledgertest.RegionA, list)
			if err == nil && h.Version == v {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("head of %s on the chain %+v %v, want version %d", list, h, err, v)
			}
		}
	}
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{head(old, 1), head(full, 1)}); err != nil {
		t.Fatal(err)
	}
	stop := n.run(t)
	defer stop()
	anchored(old, 1)
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{head(old, 2)}); err != nil {
		t.Fatal(err)
	}
	anchored(old, 2)
	// The outbox records the heads sent once the chain has them.
	for deadline := time.Now().Add(10 * time.Second); n.ob.Stats().HeadsPending != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("heads pending %d, want the new list's kept", n.ob.Stats().HeadsPending)
		}
	}
	chain.refuse.Store(false)
	anchored(full, 1)
}
