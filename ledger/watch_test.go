package ledger_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/ledger"
)

// TestOutboxWatchTellsOnlyWhatUnsentHad: Watch is called while the
// outbox runs (cmd/trustid starts it with the ledger). A batch that leaves
// the outbox while a Watch reads Unsent is either in what unsent is given
// (and told to done after) or not told to that done at all: a status store
// told of a change it never counted would uncount a later change of the
// same entry and clear its marker while that change is still unsent
// (review finding, session 19: done recorded the batch, then took the
// watch lock, so a Watch in between missed the batch in Unsent and was
// then told of it). Watch is called in a loop to land calls in that
// window; each call is checked on its own.
func TestOutboxWatchTellsOnlyWhatUnsentHad(t *testing.T) {
	g := (*gatedChain)(nil)
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer { g = newGatedChain(c, "1"); return g },
		ledger.OutboxOptions{Window: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	defer n.close()
	stop := n.run(t) // the outbox runs before Watch, as in cmd/trustid
	defer stop()
	ctx := context.Background()
	first := ledger.StatusChange{List: "00000001aaaaaaaa", Index: 5, Status: 1}
	later := ledger.StatusChange{List: "00000001aaaaaaaa", Index: 5, Status: 0}
	if err := n.ob.Anchor(ctx, []ledger.StatusChange{first}); err != nil {
		t.Fatal(err)
	}
	<-g.held // batch 1 (first) is being sent
	if err := n.ob.Anchor(ctx, []ledger.StatusChange{later}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var lastUnsent []ledger.StatusChange
	violation := make(chan []ledger.StatusChange, 1)
	stopWatch := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			if err := n.ob.Watch(func(cs []ledger.StatusChange) {
				mu.Lock()
				lastUnsent = slices.Clone(cs)
				mu.Unlock()
			}, func(cs []ledger.StatusChange, _ string, _ uint64) {
				mu.Lock()
				defer mu.Unlock()
				for _, c := range cs {
					if !slices.Contains(lastUnsent, c) {
						select {
						case violation <- slices.Clone(lastUnsent):
						default:
						}
					}
				}
			}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	close(g.release)
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	close(stopWatch)
	wg.Wait()
	select {
	case u := <-violation:
		t.Fatalf("done was told %v though the Watch that set it handed unsent only %v: the caller uncounts a change it never counted (Shared.Done releases the later change's marker count)", first, u)
	default:
	}
}
