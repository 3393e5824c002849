// Package groupcommit makes concurrent writes durable in groups: one
// commit (one write and one fsync) for every write that arrived while the
// previous commit ran, with each writer answered only after the commit of
// its group returned. The status list store and the audit log use it.
//
// There is no timer: a lone write is committed at once; under load a group
// is whatever queued during one fsync, so groups grow with the load and
// the fsync rate stays at what the disk does. A Committer may also space
// back-to-back commits (SetSpacing), so that under load a group is
// whatever queued during at least that time: fewer, larger commits, at
// the cost of that much latency only while commits follow each other.
package groupcommit

import (
	"sync"
	"time"
)

// Committer hands the items passed to Do to its commit function in groups,
// one group at a time, in the order they arrived. It is safe for
// concurrent use; the zero value is not usable (see New).
type Committer[T any] struct {
	commit  func([]T) error
	spacing time.Duration

	mu      sync.Mutex
	next    *group[T] // the group forming; nil when none
	running bool      // a goroutine is committing groups
}

type group[T any] struct {
	items []T
	done  chan struct{}
	err   error
}

// New returns a Committer that makes groups durable with commit. commit is
// never called concurrently with itself and is given the items of one
// group, oldest first. It must return only once everything it wrote is
// durable, and return an error if any of it may not be: that error is
// returned to every Do of the group, so commit must then leave nothing of
// the group visible as done (callers treat the whole group as failed).
// An outcome of one item alone (a refused entry) is recorded by commit in
// the item itself (items are usually pointers), not returned.
func New[T any](commit func(items []T) error) *Committer[T] {
	return &Committer[T]{commit: commit}
}

// SetSpacing makes a commit that follows another one without a pause
// start at least d after the previous one started (0, the default: at
// once). A commit after an idle moment still starts at once. Call it
// before the first Do.
func (c *Committer[T]) SetSpacing(d time.Duration) { c.spacing = d }

// Do adds item to the group forming and returns when that group's commit
// has returned, with its error. It does not stop waiting when its caller
// gives up: once queued, an item is committed or failed with its group.
func (c *Committer[T]) Do(item T) error {
	c.mu.Lock()
	if c.next == nil {
		c.next = &group[T]{done: make(chan struct{})}
	}
	g := c.next
	g.items = append(g.items, item)
	if !c.running {
		c.running = true
		go c.run()
	}
	c.mu.Unlock()
	<-g.done
	return g.err
}

// run commits groups until none is waiting.
func (c *Committer[T]) run() {
	var last time.Time // start of the previous commit of this run
	c.mu.Lock()
	for c.next != nil {
		if wait := c.spacing - time.Since(last); !last.IsZero() && wait > 0 {
			c.mu.Unlock()
			time.Sleep(wait) // the waiting group keeps growing
			c.mu.Lock()
		}
		g := c.next
		c.next = nil
		c.mu.Unlock()
		last = time.Now()
		g.err = c.commit(g.items)
		close(g.done)
		c.mu.Lock()
	}
	c.running = false
	c.mu.Unlock()
}
