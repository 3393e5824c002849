package ledger

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/groupcommit"
)

// TestOutboxAnchorGroupCommit: Anchor calls that arrive while a commit
// runs share the next one (one bbolt transaction), none is answered
// before its group's commit returned, and each change is on disk after.
func TestOutboxAnchorGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := OpenOutbox(path, nil, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var mu sync.Mutex
	var groups []int
	o.chunks = groupcommit.New(func(items []*pendingChunk) error {
		mu.Lock()
		first := len(groups) == 0
		groups = append(groups, len(items))
		mu.Unlock()
		if first {
			entered <- struct{}{}
			<-release
		}
		return o.commitChunks(items)
	})
	list := "00000001aaaaaaaa"
	anchor := func(i int) error {
		return o.Anchor(context.Background(), []StatusChange{{List: list, Index: uint64(i), Status: 1}})
	}
	const n = 10
	errs := make(chan error, n+1)
	go func() { errs <- anchor(0) }()
	<-entered // the first commit runs (and is held)
	for i := 1; i <= n; i++ {
		go func() { errs <- anchor(i) }()
	}
	// The n calls queue behind the held commit; none may return yet.
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-errs:
		t.Fatalf("an Anchor returned before its commit: %v", err)
	default:
	}
	close(release)
	for i := 0; i <= n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	// [1 n] unless the machine is so loaded that a call queued only after
	// the held commit returned; never one commit per call.
	total, largest := 0, 0
	for _, g := range groups {
		total += g
		largest = max(largest, g)
	}
	if groups[0] != 1 || total != n+1 || largest < n/2 {
		t.Errorf("groups %v, want [1 %d]", groups, n)
	}
	mu.Unlock()
	got, err := o.Unsent()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, c := range got {
		seen[c.Index] = true
	}
	if len(got) != n+1 || len(seen) != n+1 {
		t.Fatalf("on disk: %d changes, %d distinct, want %d", len(got), len(seen), n+1)
	}
}
