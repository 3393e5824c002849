package statuslist_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/store"
)

// heldBatches is a ledger whose status batches do not commit until
// release is closed (an outage).
type heldBatches struct {
	ledger.Ledger
	armed   atomic.Bool
	release chan struct{}
}

func (h *heldBatches) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	if fn == "AnchorBatch" && h.armed.Load() {
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	return h.Ledger.Submit(ctx, fn, args...)
}

// slowMarkers is a Markers whose Claim takes delay once armed (a store
// round trip; what many of them in a row add up to).
type slowMarkers struct {
	statuslist.Markers
	armed atomic.Bool
	delay time.Duration
}

func (m *slowMarkers) Claim(ctx context.Context, value, free []byte, ttl time.Duration, keys ...string) ([]store.Claimed, error) {
	if m.armed.Load() {
		time.Sleep(m.delay)
	}
	return m.Markers.Claim(ctx, value, free, ttl, keys...)
}

// TestSharedRefreshOutlastsBacklog: RunMarkers refreshes an instance's
// markers at most every MarkerTTL/3. When the changes the outbox holds
// are many (a ledger outage's backlog) and the refresh took a store call
// per marker, a pass outlasted MarkerTTL, markers expired between two
// refreshes with their changes still in the outbox, and another
// instance's change of such an entry was accepted before them. A pass
// makes one call per markerRefreshChunk markers. Scaled down: 40
// entries, 15 ms a store call, a ttl of 300 ms (one call a marker: a
// 600 ms pass).
func TestSharedRefreshOutlastsBacklog(t *testing.T) {
	const ttl, n = 300 * time.Millisecond, 40
	mem := sharedStores()["memory"](t)
	slow := &slowMarkers{Markers: mem, delay: 15 * time.Millisecond}
	l := openLedger(t)
	sl := &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}
	a := startInstanceAnchor(t, sl, t.TempDir(), "a", nil, func(o *statuslist.SharedOptions) { o.Markers, o.MarkerTTL = slow, ttl })
	b := startInstanceAnchor(t, l, t.TempDir(), "b", nil, func(o *statuslist.SharedOptions) {
		o.Markers, o.MarkerTTL, o.MarkerWait = mem, ttl, 3*time.Second
	})
	ctx := context.Background()
	purposes := make([]string, n)
	for i := range purposes {
		purposes[i] = status.PurposeSuspension
	}
	refs, err := a.shared.AllocateMany(ctx, purposes...)
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]status.Entry, n)
	for i, r := range refs {
		entries[i] = status.Entry{ListID: r.ListID, Index: r.Index, Value: 1}
	}
	sl.armed.Store(true)
	if err := a.shared.SetMany(ctx, entries); err != nil { // its commit is held
		t.Fatal(err)
	}
	<-sl.held
	defer close(sl.release)
	slow.armed.Store(true)
	time.Sleep(time.Second)
	// a's suspensions are not committed: b must wait for them (and be
	// refused after MarkerWait).
	err = b.shared.Set(ctx, refs[0].ListID, refs[0].Index, 0)
	if !errors.Is(err, status.ErrChangePending) {
		t.Fatalf("b's change of an entry a's outbox still holds: %v, want ErrChangePending (a's marker expired between refreshes)", err)
	}
}

// passMarkers counts the Claim calls and the keys of those that
// returned, and closes done when the keys reach want.
type passMarkers struct {
	statuslist.Markers
	armed             atomic.Bool
	calls, keys, want atomic.Int64
	done              chan struct{}
}

func (m *passMarkers) Claim(ctx context.Context, value, free []byte, ttl time.Duration, keys ...string) ([]store.Claimed, error) {
	held, err := m.Markers.Claim(ctx, value, free, ttl, keys...)
	if m.armed.Load() {
		m.calls.Add(1)
		if n := int64(len(keys)); m.keys.Add(n) == m.want.Load() {
			close(m.done)
		}
	}
	return held, err
}

// BenchmarkRunMarkersPass: one RunMarkers pass over 10,000 held markers
// (a ledger outage's backlog: the changes wait in the outbox) in a real
// Redis; ns/op is the pass's time, store-calls/op its calls.
func BenchmarkRunMarkersPass(b *testing.B) {
	const n = 10000
	pm := &passMarkers{Markers: sharedStores()["redis"](b)}
	hl := &heldBatches{Ledger: openLedger(b), release: make(chan struct{})}
	a := startInstanceAnchor(b, hl, b.TempDir(), "a", nil, func(o *statuslist.SharedOptions) { o.Markers, o.MarkerTTL = pm, time.Hour })
	ctx := context.Background()
	purposes := make([]string, n)
	for i := range purposes {
		purposes[i] = status.PurposeSuspension
	}
	refs, err := a.shared.AllocateMany(ctx, purposes...)
	if err != nil {
		b.Fatal(err)
	}
	if err := a.ob.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	entries := make([]status.Entry, n)
	for i, r := range refs {
		entries[i] = status.Entry{ListID: r.ListID, Index: r.Index, Value: 1}
	}
	hl.armed.Store(true)
	defer close(hl.release)
	if err := a.shared.SetMany(ctx, entries); err != nil {
		b.Fatal(err)
	}
	pm.want.Store(n)
	pm.armed.Store(true)
	b.ResetTimer()
	for range b.N {
		pm.keys.Store(0)
		pm.calls.Store(0)
		pm.done = make(chan struct{})
		ctx, cancel := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); a.shared.RunMarkers(ctx) }()
		<-pm.done
		cancel()
		<-stopped
	}
	b.ReportMetric(float64(pm.calls.Load()), "store-calls/op")
}

// failingMarkers is a Markers whose Claim fails once armed.
type failingMarkers struct {
	statuslist.Markers
	armed atomic.Bool
}

var errMarkersDown = errors.New("markers down")

func (m *failingMarkers) Claim(ctx context.Context, value, free []byte, ttl time.Duration, keys ...string) ([]store.Claimed, error) {
	if m.armed.Load() {
		return nil, errMarkersDown
	}
	return m.Markers.Claim(ctx, value, free, ttl, keys...)
}

// TestSharedRefreshFailure: a refresh the store fails is logged (at
// warning level, with how many markers it tried), and the instance
// forgets the markers it could not refresh: its next change of such an
// entry claims the marker again.
func TestSharedRefreshFailure(t *testing.T) {
	const ttl = 3 * time.Second // a pass every second
	fm := &failingMarkers{Markers: sharedStores()["memory"](t)}
	logs := new(testnode.Buffer)
	l := openLedger(t)
	sl := &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}
	a := startInstanceAnchor(t, sl, t.TempDir(), "a", nil, func(o *statuslist.SharedOptions) {
		o.Markers, o.MarkerTTL = fm, ttl
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	ctx := context.Background()
	refs, err := a.shared.AllocateMany(ctx, status.PurposeSuspension, status.PurposeSuspension)
	if err != nil {
		t.Fatal(err)
	}
	sl.armed.Store(true)
	if err := a.shared.SetMany(ctx, []status.Entry{{ListID: refs[0].ListID, Index: refs[0].Index, Value: 1}, {ListID: refs[1].ListID, Index: refs[1].Index, Value: 1}}); err != nil {
		t.Fatal(err)
	}
	<-sl.held
	defer close(sl.release)
	fm.armed.Store(true)
	const refreshFailed = `"level":"WARN","msg":"status: change pending markers not refreshed; retrying (they expire after marker_ttl)","entries":2,`
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), refreshFailed); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a failed refresh of the 2 markers was not logged:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), errMarkersDown.Error()) {
		t.Errorf("the refresh's failure logged without the store's error:\n%s", logs.String())
	}
	// Its claim 1 s old, well within ttl/2, the marker would be kept.
	if err := a.shared.Set(ctx, refs[0].ListID, refs[0].Index, 0); !errors.Is(err, errMarkersDown) {
		t.Fatalf("a change of an entry whose marker's refresh failed: %v, want its claim tried (and failed)", err)
	}
}
