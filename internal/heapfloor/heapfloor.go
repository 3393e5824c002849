// Package heapfloor keeps the garbage collector's heap goal from falling
// below a floor. Go sets the next goal at the live heap times (1 +
// GOGC/100): a node whose live heap is a few MiB collects many times a
// second under load, each time paying the collector's fixed costs
// (stacks, globals, mark workers) for little garbage. With a floor, the
// goal is at least the floor while the live heap is small; once the live
// heap is large enough, GOGC governs alone. A memory limit (GOMEMLIMIT)
// still applies, below the floor too.
//
// The floor is kept by retuning GOGC after every collection: a cleanup on
// a sentinel object runs once the collection that freed it has ended,
// reads the live heap that collection marked (runtime/metrics
// /gc/heap/live:bytes) and sets GOGC so the next goal reaches the floor.
package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// goMinHeap is the runtime's minimum heap goal at GOGC=100 (its
// defaultHeapMinimum, scaled by GOGC/100): a GOGC above floor/goMinHeap ×
// 100 would raise that minimum, and the goal, beyond the floor.
const goMinHeap = 4 << 20

// active is set while a Floor runs: GOGC is the process's, so one at a
// time (tests start several nodes in one process).
var active atomic.Bool

// Floor retunes GOGC after each collection. Stop ends it.
type Floor struct {
	floor   uint64
	base    int // GOGC when Start was called: the percent never goes below it
	stopped atomic.Bool
	mu      sync.Mutex // serializes tune and Stop's restore
	sample  []metrics.Sample
	// tunes counts the retunings, percent is the last GOGC set (for tests).
	tunes, percent atomic.Int64
}

// sentinel is the object whose collection marks a garbage collection's end.
// It holds a pointer so it is not put in a tiny-allocation block, which
// would be freed only together with its neighbours.
type sentinel struct {
	_ *byte
	_ [8]byte
}

// Start keeps the heap goal at or above floor bytes until Stop. It does
// nothing (and returns a Floor whose Stop does nothing) when floor is 0,
// the collector is off (GOGC=off) or another Floor runs.
func Start(floor uint64) *Floor {
	f := &Floor{floor: floor, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	if floor == 0 || !active.CompareAndSwap(false, true) {
		f.stopped.Store(true)
		return f
	}
	f.base = debug.SetGCPercent(100)
	debug.SetGCPercent(f.base)
	if f.base < 0 {
		f.stopped.Store(true)
		active.Store(false)
		return f
	}
	f.tune()
	return f
}

// Stop restores the GOGC that Start found.
func (f *Floor) Stop() {
	if f.stopped.Swap(true) {
		return
	}
	f.mu.Lock()
	debug.SetGCPercent(f.base)
	f.mu.Unlock()
	active.Store(false)
}

// tune sets GOGC for the live heap the last collection marked and arms a
// sentinel for the next collection.
func (f *Floor) tune() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped.Load() {
		return
	}
	metrics.Read(f.sample)
	var live uint64
	if f.sample[0].Value.Kind() == metrics.KindUint64 {
		live = f.sample[0].Value.Uint64()
	}
	p := Percent(f.floor, live, f.base)
	debug.SetGCPercent(p)
	f.percent.Store(int64(p))
	f.tunes.Add(1)
	runtime.AddCleanup(&sentinel{}, func(f *Floor) { f.tune() }, f)
}

// Percent is the GOGC that makes the heap goal after a collection that
// found live bytes live about floor bytes (not less while the live heap is
// below the floor), and never below base.
func Percent(floor, live uint64, base int) int {
	if live >= floor {
		return base
	}
	p := floor * 100 / goMinHeap
	if live > 0 {
		p = min(p, (floor-live)*100/live)
	}
	return max(base, int(p))
}
