package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/store"
	"github.com/trustid-cn/trustid/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		m, err := store.NewMemory(store.MemoryOptions{Prefix: "trustid:310000:"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}

func newFakeMemory(t *testing.T, opts store.MemoryOptions) (*store.Memory, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	opts.Now = clk.Now
	if opts.SweepInterval == 0 {
		opts.SweepInterval = -1
	}
	m, err := store.NewMemory(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, clk
}

func TestMemoryInjectedClock(t *testing.T) {
	ctx := t.Context()
	m, clk := newFakeMemory(t, store.MemoryOptions{})
	if err := m.Put(ctx, "tok", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.MarkUsed(ctx, "jti", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "sess", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute - time.Nanosecond)
	if _, err := m.Get(ctx, "sess"); err != nil {
		t.Fatalf("Get just before expiry: %v", err)
	}
	if err := m.MarkUsed(ctx, "jti", time.Minute); !errors.Is(err, store.ErrReplayed) {
		t.Fatalf("MarkUsed just before expiry: %v, want ErrReplayed", err)
	}
	clk.Advance(time.Nanosecond)
	if _, err := m.Consume(ctx, "tok"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Consume at expiry: %v, want ErrNotFound", err)
	}
	if _, err := m.Get(ctx, "sess"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get at expiry: %v, want ErrNotFound", err)
	}
	if err := m.MarkUsed(ctx, "jti", time.Minute); err != nil {
		t.Fatalf("MarkUsed at expiry: %v", err)
	}
}

func TestMemoryGCRA(t *testing.T) {
	ctx := t.Context()
	m, clk := newFakeMemory(t, store.MemoryOptions{})
	allow := func() store.Decision {
		t.Helper()
		d, err := m.Allow(ctx, "k", 4, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for i := range 4 {
		if d := allow(); !d.Allowed || d.Remaining != 3-i {
			t.Fatalf("Allow #%d = %+v", i+1, d)
		}
	}
	if d := allow(); d.Allowed || d.RetryAfter != 250*time.Millisecond {
		t.Fatalf("Allow over limit = %+v, want RetryAfter 250ms", d)
	}
	clk.Advance(100 * time.Millisecond)
	if d := allow(); d.Allowed || d.RetryAfter != 150*time.Millisecond {
		t.Fatalf("Allow 100ms later = %+v, want RetryAfter 150ms", d)
	}
	// One emission interval later, exactly one more request is allowed.
	clk.Advance(150 * time.Millisecond)
	if d := allow(); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("Allow after one interval = %+v", d)
	}
	if d := allow(); d.Allowed {
		t.Fatalf("second Allow after one interval = %+v, want denied", d)
	}
	// After a full window of silence, the full burst is back.
	clk.Advance(time.Second)
	if d := allow(); !d.Allowed || d.Remaining != 3 {
		t.Fatalf("Allow after window = %+v", d)
	}
}

func TestMemoryMaxEntries(t *testing.T) {
	ctx := t.Context()
	m, clk := newFakeMemory(t, store.MemoryOptions{MaxEntries: 3})
	for _, k := range []string{"a", "b", "c"} {
		if err := m.Put(ctx, k, nil, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Put(ctx, "d", nil, time.Second); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Put into full store: %v, want ErrFull", err)
	}
	if err := m.MarkUsed(ctx, "d", time.Second); !errors.Is(err, store.ErrFull) {
		t.Fatalf("MarkUsed into full store: %v, want ErrFull", err)
	}
	if err := m.Set(ctx, "d", nil, time.Second); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Set into full store: %v, want ErrFull", err)
	}
	if _, err := m.Allow(ctx, "d", 1, time.Second); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Allow into full store: %v, want ErrFull", err)
	}
	// Consuming frees a slot.
	if _, err := m.Consume(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "d", []byte("1"), time.Second); err != nil {
		t.Fatalf("Set after Consume: %v", err)
	}
	// Replacing an existing key needs no room.
	if err := m.Set(ctx, "d", []byte("2"), time.Second); err != nil {
		t.Fatalf("Set existing key in full store: %v", err)
	}
	// Expired entries are swept when the store is full.
	clk.Advance(2 * time.Second)
	if m.Len() != 3 {
		t.Fatalf("Len = %d before sweep, want 3", m.Len())
	}
	if err := m.MarkUsed(ctx, "e", time.Second); err != nil {
		t.Fatalf("MarkUsed after expiry in full store: %v", err)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d after sweep, want 1", m.Len())
	}
}

func TestMemoryBackgroundSweeper(t *testing.T) {
	ctx := t.Context()
	clk := fakeclock.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	m, err := store.NewMemory(store.MemoryOptions{Now: clk.Now, SweepInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, k := range []string{"a", "b", "c"} {
		if err := m.MarkUsed(ctx, k, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Set(ctx, "live", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("sweeper left %d entries, want 1", m.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMemoryCloseDropsEntries(t *testing.T) {
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Set(t.Context(), "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 0 {
		t.Fatalf("Len after Close = %d", m.Len())
	}
	if _, err := m.StoredKeys(t.Context()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("StoredKeys after Close: %v, want ErrClosed", err)
	}
}

func TestNewMemoryRejectsHashTagPrefix(t *testing.T) {
	if _, err := store.NewMemory(store.MemoryOptions{Prefix: "{trustid}:"}); err == nil {
		t.Fatal("NewMemory accepted a prefix with a hash tag")
	}
}

// TestMemoryAllowCounted: a key already counted is counted again in
// place, without an allocation; its state is one entry, which Reset and
// an expiry (swept) remove.
func TestMemoryAllowCounted(t *testing.T) {
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	m, err := store.NewMemory(store.MemoryOptions{Prefix: "p:", KeySecret: []byte("k"), Now: clk.Now, SweepInterval: -1, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := t.Context()
	if _, err := m.Allow(ctx, "203.0.113.9", 1<<30, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { m.Allow(ctx, "203.0.113.9", 1<<30, time.Minute) }); n != 0 && !raceEnabled {
		t.Errorf("%v allocations for a counted key", n)
	}
	if m.Len() != 1 {
		t.Errorf("Len = %d, want 1", m.Len())
	}
	if err := m.Reset(ctx, "203.0.113.9"); err != nil || m.Len() != 0 {
		t.Errorf("Reset: %v, Len %d", err, m.Len())
	}
	if d, err := m.Allow(ctx, "203.0.113.10", 1, time.Second); err != nil || !d.Allowed {
		t.Fatalf("%+v %v", d, err)
	}
	clk.Advance(2 * time.Second)
	// The store is full of an expired entry: the sweep makes room.
	if d, err := m.Allow(ctx, "203.0.113.11", 1, time.Second); err != nil || !d.Allowed || m.Len() != 1 {
		t.Errorf("after expiry: %+v %v, Len %d", d, err, m.Len())
	}
}

// TestMemoryMaxBytes: the store holds at most MaxBytes of values, however
// few entries they are; a write past it is ErrFull and changes nothing
// (a new key is not added, a value kept is not replaced), and the room
// freed by a consumed, shrunk or expired value takes a new one.
func TestMemoryMaxBytes(t *testing.T) {
	ctx := t.Context()
	m, clk := newFakeMemory(t, store.MemoryOptions{MaxBytes: 10})
	if err := m.Put(ctx, "a", []byte("aaaaaa"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "b", []byte("bbbb"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := m.MarkUsed(ctx, "n", time.Minute); err != nil { // a marker holds no value
		t.Fatalf("MarkUsed in a store full of bytes: %v", err)
	}
	full := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrFull) {
			t.Fatalf("%s past MaxBytes: %v, want ErrFull", what, err)
		}
	}
	full("Put", m.Put(ctx, "c", []byte("c"), time.Minute))
	full("Set", m.Set(ctx, "c", []byte("c"), time.Minute))
	full("Set growing a value", m.Set(ctx, "b", []byte("bbbbb"), time.Second))
	_, err := m.CompareAndSwap(ctx, "b", []byte("bbbb"), []byte("BBBBB"), time.Second)
	full("CompareAndSwap growing a value", err)
	_, err = m.Claim(ctx, []byte("c"), nil, time.Minute, "c")
	full("Claim", err)
	_, err = m.CompareAndReplace(ctx, []byte("bbbb"), []byte("BBBBB"), time.Second, "b")
	full("CompareAndReplace growing a value", err)
	if v, err := m.Get(ctx, "b"); err != nil || string(v) != "bbbb" {
		t.Fatalf("b after the refused writes: %q, %v; want bbbb", v, err)
	}
	if _, err := m.Get(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("c after the refused writes: %v, want ErrNotFound", err)
	}
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3", m.Len())
	}
	// A value shrunk or consumed leaves room.
	if ok, err := m.CompareAndSwap(ctx, "b", []byte("bbbb"), []byte("bbb"), time.Second); err != nil || !ok {
		t.Fatalf("CompareAndSwap shrinking b: %v, %v", ok, err)
	}
	if err := m.Set(ctx, "c", []byte("c"), time.Minute); err != nil {
		t.Fatalf("Set after b shrank: %v", err)
	}
	full("Put", m.Put(ctx, "d", []byte("d"), time.Minute))
	if _, err := m.Consume(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, "d", []byte("dddddd"), time.Minute); err != nil {
		t.Fatalf("Put after a was consumed: %v", err)
	}
	// An expired value is swept to make room (b's 3 bytes).
	clk.Advance(2 * time.Second)
	if err := m.Set(ctx, "e", []byte("eee"), time.Minute); err != nil {
		t.Fatalf("Set after b expired: %v", err)
	}
}
