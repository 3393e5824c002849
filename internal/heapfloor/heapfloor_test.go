package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		floor, live uint64
		base, want  int
	}{
		{64 * mib, 0, 100, 1600},        // no collection yet: the runtime minimum reaches the floor
		{64 * mib, 2 * mib, 100, 1600},  // a small live heap: the minimum 4 MiB × 16 is the floor
		{64 * mib, 8 * mib, 100, 700},   // 8 MiB × 8 = 64 MiB
		{64 * mib, 32 * mib, 100, 100},  // the floor is GOGC=100's own goal
		{64 * mib, 48 * mib, 100, 100},  // never below GOGC
		{64 * mib, 64 * mib, 100, 100},  // at the floor: GOGC alone
		{64 * mib, 900 * mib, 50, 50},   // above it: GOGC alone
		{64 * mib, 8 * mib, 1000, 1000}, // an operator's higher GOGC stands
		{1 << 40, 1, 100, 26_214_400},   // a huge floor: its runtime minimum
	} {
		if got := Percent(c.floor, c.live, c.base); got != c.want {
			t.Errorf("Percent(%d MiB, %d B, %d) = %d, want %d", c.floor/mib, c.live, c.base, got, c.want)
		}
	}
}

// readUint64 reads a uint64 runtime metric.
func readUint64(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestFloorRaisesGoal: the test's live heap is a few MiB, so GOGC=100
// alone sets the heap goal a few MiB above it; with a 64 MiB floor, once
// a collection has retuned GOGC, the goal is the floor. The goal is what
// the floor sets, and the runtime reports it exactly (how many collections
// some garbage costs depends on how fast the collector keeps up on a busy
// machine: on two CPUs 512 MiB took from 6 to 127 collections at GOGC=100).
func TestFloorRaisesGoal(t *testing.T) {
	const floor = 64 << 20
	runtime.GC()
	without := readUint64("/gc/heap/goal:bytes")
	if without >= floor/2 {
		t.Fatalf("a heap goal of %d MiB without the floor: the test's live heap is too large to show the floor", without>>20)
	}
	f := Start(floor)
	defer f.Stop()
	runtime.GC()
	waitTune(t, f, 1)
	with := readUint64("/gc/heap/goal:bytes")
	t.Logf("heap goal %d MiB without the floor, %d MiB with a 64 MiB floor (GOGC %d)", without>>20, with>>20, f.percent.Load())
	// Percent rounds down: the goal may fall short of the floor by a
	// percent of the live heap.
	if with < floor-floor/64 {
		t.Errorf("heap goal %d bytes with a %d-byte floor", with, floor)
	}
	if with > 2*floor {
		t.Errorf("heap goal %d bytes with a %d-byte floor: far above it", with, floor)
	}
}

// TestLargeLiveHeap: a live heap above the floor leaves GOGC as it was.
func TestLargeLiveHeap(t *testing.T) {
	live := make([][]byte, 0, 96)
	for range 96 {
		live = append(live, make([]byte, 1<<20))
	}
	f := Start(64 << 20)
	defer f.Stop()
	runtime.GC()
	waitTune(t, f, 1)
	if p := f.percent.Load(); p != 100 {
		t.Errorf("GOGC set to %d with a live heap above the floor, want 100", p)
	}
	runtime.KeepAlive(live)
}

// waitTune waits until f has retuned after n collections since Start.
func waitTune(t *testing.T, f *Floor, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.tunes.Load() < 1+n {
		if time.Now().After(deadline) {
			t.Fatalf("%d retunings after %d collections, want %d", f.tunes.Load()-1, n, n)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

func TestStopRestores(t *testing.T) {
	old := debug.SetGCPercent(150)
	defer debug.SetGCPercent(old)
	f := Start(64 << 20)
	runtime.GC()
	f.Stop()
	f.Stop() // a second Stop does nothing
	runtime.GC()
	runtime.GC()
	if p := debug.SetGCPercent(150); p != 150 {
		t.Errorf("GOGC %d after Stop, want the 150 Start found", p)
	}
}

func TestOffAndZero(t *testing.T) {
	old := debug.SetGCPercent(-1)
	f := Start(64 << 20)
	runtime.GC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("GOGC=off became %d", p)
	}
	f.Stop()
	debug.SetGCPercent(old)

	f = Start(0)
	runtime.GC()
	runtime.GC()
	if p := debug.SetGCPercent(old); p != old {
		t.Errorf("a zero floor changed GOGC to %d", p)
	}
	f.Stop()
}

// TestOneAtATime: a second Floor while one runs does nothing, and its Stop
// leaves the first running.
func TestOneAtATime(t *testing.T) {
	first := Start(64 << 20)
	defer first.Stop()
	second := Start(1 << 30)
	second.Stop()
	runtime.GC()
	waitTune(t, first, 1)
	if p := first.percent.Load(); p <= 100 || p > 1600 {
		t.Errorf("GOGC %d with the first floor of 64 MiB running, want 101–1600", p)
	}
	if !second.stopped.Load() || second.tunes.Load() != 0 {
		t.Error("the second Floor ran")
	}
}
