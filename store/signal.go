package store

import "sync"

// Signals are the watches of one process ([Store.Watch]) by stored key:
// where a store's notifications end, from its own Notify or (for a
// shared backend) from another process's. The zero value is ready. Safe
// for concurrent use.
type Signals struct {
	mu sync.Mutex
	m  map[string]*signal // by stored key, while a watch is on it
}

// signal is the watches of one key: ch is closed at the key's next
// notification.
type signal struct {
	ch       chan struct{}
	watchers int
}

// Watch returns the channel closed at the next Notify of key, and the
// function that stops watching it (to be called once).
func (s *Signals) Watch(key string) (<-chan struct{}, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*signal)
	}
	x := s.m[key]
	if x == nil {
		x = &signal{ch: make(chan struct{})}
		s.m[key] = x
	}
	x.watchers++
	return x.ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if x.watchers--; x.watchers == 0 && s.m[key] == x {
			delete(s.m, key)
		}
	}
}

// Notify closes the channel of every watch of key; a later Watch gets a
// new one.
func (s *Signals) Notify(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.m[key]; x != nil {
		close(x.ch)
		delete(s.m, key)
	}
}
