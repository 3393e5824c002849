package statuslist_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/ledger"
)

// failingHeads is the outbox whose AnchorHeads fails with err while it is
// set (the outbox's file failing its writes).
type failingHeads struct {
	*ledger.Outbox
	err   atomic.Pointer[error]
	calls atomic.Int64 // AnchorHeads calls
}

func (f *failingHeads) AnchorHeads(ctx context.Context, heads []chaincode.HeadInput) error {
	f.calls.Add(1)
	if err := f.err.Load(); err != nil {
		return *err
	}
	return f.Outbox.AnchorHeads(ctx, heads)
}

// TestSharedHeadsFailureLogsRepeatsRarely: heads the outbox refuses for
// two hours, retried every second on a clock the test drives, are logged
// 7 times at error level (at 0, 1, 3, 7, 15, 31 and 63 minutes:
// internal/retrylog), not 7,200; once heads are handed again, the same
// failure is logged at once, and so is another.
func TestSharedHeadsFailureLogsRepeatsRarely(t *testing.T) {
	ctx := context.Background()
	logs := new(testnode.Buffer)
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano())
	fh := new(failingHeads)
	l := openLedger(t)
	a := startInstanceAnchor(t, l, t.TempDir(), "a", func(o *ledger.Outbox) statuslist.Anchorer { fh.Outbox = o; return fh }, func(o *statuslist.SharedOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	refs, err := a.shared.AllocateMany(ctx, status.PurposeSuspension) // its list's first head handed over
	if err != nil {
		t.Fatal(err)
	}
	diskFull := errors.New("outbox: write failed (disk full)")
	set := func(v uint8) {
		t.Helper()
		if err := a.shared.SetMany(ctx, []status.Entry{{ListID: refs[0].ListID, Index: refs[0].Index, Value: v}}); err != nil {
			t.Fatal(err)
		}
		if err := a.ob.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const line = `"level":"ERROR","msg":"status: heads not handed to the outbox; retrying"`
	lines := func() int {
		return strings.Count(logs.String(), `"msg":"status: heads not handed to the outbox; retrying"`)
	}

	fh.err.Store(&diskFull)
	set(1)
	// SettleHeads hands the heads over as RunHeads's retries do (both may
	// try at one time of the clock: one line at most). Each second of the
	// clock has a try: RunHeads, retrying on the real clock, holds the
	// heads while it hands them, and a SettleHeads meanwhile finds none
	// (on a busy machine, for long enough that the driven clock passed
	// the 63rd minute with no try, and its line was missing).
	for range 2 * 3600 {
		before := fh.calls.Load()
		for a.shared.SettleHeads(ctx); fh.calls.Load() == before; a.shared.SettleHeads(ctx) {
			time.Sleep(time.Millisecond)
		}
		now.Add(int64(time.Second))
	}
	if got := lines(); got != 7 || strings.Count(logs.String(), line) != got {
		t.Fatalf("the outbox's failure logged %d times over two hours, want 7 at error level:\n%.3000s", got, logs.String())
	}

	fh.err.Store(nil)
	converged(t, l, a) // the heads handed over and anchored
	waitLines := func(want int, what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); lines() < want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not logged at once:\n%s", what, logs.String())
			}
			a.shared.SettleHeads(ctx)
		}
		if got := lines(); got != want {
			t.Fatalf("%s: %d lines, want %d:\n%s", what, got, want, logs.String())
		}
	}
	fh.err.Store(&diskFull)
	set(0)
	waitLines(8, "the same failure after heads were handed over")
	other := errors.New("outbox: closed")
	fh.err.Store(&other)
	waitLines(9, "another failure")
	if !strings.Contains(logs.String(), `"failed_attempts":1,`) || !strings.Contains(logs.String(), "disk full") {
		t.Errorf("the lines do not count the attempts or name the error:\n%.2000s", logs.String())
	}
}
