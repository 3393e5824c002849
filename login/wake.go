package login

import (
	"sync"
	"time"
)

// The long poll (Wait) reads its session at once, then again after
// pauses doubling from firstPollPause to maxPollPause, so a 25 s poll
// reads it at most 16 times (it read it every 200 ms, 125 times, before):
// an answer given at another instance of the region (through the shared
// store) is seen within maxPollPause. An answer given at this instance
// wakes the polls of its session at once (wakes).
const (
	firstPollPause = 200 * time.Millisecond
	maxPollPause   = 2 * time.Second
)

// wakes tells the long polls of a session on this instance that it was
// answered here. The zero value is ready. Safe for concurrent use.
type wakes struct {
	mu sync.Mutex
	m  map[string]*wake // by session ID, while a poll watches it
}

// wake is the signal of one session: ch is closed when it is answered.
type wake struct {
	ch       chan struct{}
	watchers int
}

// watch returns the channel closed at the session's next answer here,
// and the function that stops watching it (to be called once).
func (w *wakes) watch(id string) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]*wake)
	}
	x := w.m[id]
	if x == nil {
		x = &wake{ch: make(chan struct{})}
		w.m[id] = x
	}
	x.watchers++
	return x.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if x.watchers--; x.watchers == 0 && w.m[id] == x {
			delete(w.m, id)
		}
	}
}

// answered wakes the polls watching session id.
func (w *wakes) answered(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x := w.m[id]; x != nil {
		close(x.ch)
		delete(w.m, id)
	}
}
