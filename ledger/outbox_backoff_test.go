package ledger_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
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
// every MaxBackoff, not ever more rarely.
func TestOutboxBatchBackoffDoublesToCap(t *testing.T) {
	log := &backoffLog{}
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
		return &failingChain{Client: c, fails: 6}
	}, ledger.OutboxOptions{Window: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		Logger: slog.New(log)})
	defer n.close()
	stop := n.run(t)
	defer stop()
	ctx := context.Background()
	if err := n.ob.Anchor(ctx, []ledger.StatusChange{{List: "https://310000.trustid.example/status/tsl-1", Index: 1, Status: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	want := []time.Duration{ms, 2 * ms, 4 * ms, 4 * ms, 4 * ms, 4 * ms}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.backoffs) != len(want) {
		t.Fatalf("backoffs %v, want %v", log.backoffs, want)
	}
	for i := range want {
		if log.backoffs[i] != want[i] {
			t.Fatalf("backoffs %v, want %v (doubled from MinBackoff, capped at MaxBackoff)", log.backoffs, want)
		}
	}
}

// TestOutboxHeadsBackoffCapped: status heads the ledger keeps failing
// are retried at most MaxBackoff apart too. Twelve failures with
// MaxBackoff 2 ms are retried in well under a second; uncapped, the
// last wait alone would be 2^11 ms.
func TestOutboxHeadsBackoffCapped(t *testing.T) {
	var chain *failingChain
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
		chain = &failingChain{Client: c, fails: 12}
		return chain
	}, ledger.OutboxOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	defer n.close()
	ctx := context.Background()
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "H", Version: 1, Digest: chaincode.ListDigest([]byte("1"))}}); err != nil {
		t.Fatal(err)
	}
	stop := n.run(t)
	defer stop()
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	chain.mu.Lock()
	defer chain.mu.Unlock()
	if len(chain.headsTimes) != 13 {
		t.Fatalf("%d submissions of the heads, want 13 (12 failed)", len(chain.headsTimes))
	}
	for i := 1; i < len(chain.headsTimes); i++ {
		// The bound leaves a loaded machine's scheduling delays room; an
		// uncapped backoff waits 1024 ms before the 12th try and 2048 ms
		// before the 13th.
		if gap := chain.headsTimes[i].Sub(chain.headsTimes[i-1]); gap > time.Second {
			t.Errorf("retry %d came %v after the one before, with MaxBackoff 2ms", i, gap)
		}
	}
}
