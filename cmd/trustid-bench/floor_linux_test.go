package main

import (
	"sync"
	"syscall"
	"testing"
)

// TestBestOfThreads: bestOf runs its function on as many OS threads at
// once as it is asked for, and gives a cost per call.
func TestBestOfThreads(t *testing.T) {
	var mu sync.Mutex
	tids := map[int]bool{}
	x := 0
	us := bestOf(3, func() {
		mu.Lock()
		tids[syscall.Gettid()] = true
		mu.Unlock()
		for i := range 1000 {
			x += i
		}
	})
	if len(tids) < 3 || us <= 0 {
		t.Errorf("bestOf(3): %d threads, %v µs a call", len(tids), us)
	}
}
