package login

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testredis"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// readCounting is a real store that counts the reads of login sessions
// and tells read of each.
type readCounting struct {
	Store
	reads atomic.Int32
	read  chan int32
}

func (c *readCounting) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, "login-session:") {
		n := c.reads.Add(1)
		select {
		case c.read <- n:
		default:
		}
	}
	return c.Store.Get(ctx, key)
}

// waitStores runs f on a provider over the memory store and over a real
// Redis, each wrapped to count session reads.
func waitStores(t *testing.T, f func(t *testing.T, a answering, c *readCounting)) {
	t.Run("memory", func(t *testing.T) {
		p := newTestProvider(t)
		c := &readCounting{Store: p.cfg.Store, read: make(chan int32, 64)}
		p.cfg.Store = c
		f(t, newAnswering(t, p), c)
	})
	t.Run("redis", func(t *testing.T) {
		p := newTestProvider(t)
		r, err := redisstore.New(testredis.StartClient(t), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if _, err := r.InitEpoch(t.Context()); err != nil {
			t.Fatal(err)
		}
		c := &readCounting{Store: r, read: make(chan int32, 64)}
		p.cfg.Store = c
		f(t, newAnswering(t, p), c)
	})
}

// TestWaitReadsBounded: a long poll of a session nobody answers reads it
// at once and then after pauses doubling from 200 ms: 5 reads in 3 s
// (at 0, 0.2, 0.6, 1.4 and 3 s), at most 16 in the page's 25 s. It read
// it every 200 ms before: 16 reads in 3 s, 125 in 25 s.
func TestWaitReadsBounded(t *testing.T) {
	waitStores(t, func(t *testing.T, a answering, c *readCounting) {
		ctx := context.Background()
		st, err := a.Authorize(ctx, goodQuery())
		if err != nil {
			t.Fatal(err)
		}
		c.reads.Store(0)
		out, err := a.Wait(ctx, st.ID, st.Browser, 3*time.Second)
		if out != nil || err != nil {
			t.Fatalf("pending session: %+v %v", out, err)
		}
		if n := c.reads.Load(); n > 6 {
			t.Errorf("a 3 s poll read the session %d times, want at most 6", n)
		}
	})
}

// TestWaitWokenByAnswer: an answer wakes the long poll of its session,
// given at the poll's instance or at another instance of the region: a
// provider over its own connection to the same Redis (over the memory
// store, one process's, the same store). The poll's reads are an hour
// apart: it reads the session once, is woken by the answer, reads it
// again and returns the code (two reads, counted at another instance,
// which reads the session itself for the answer). An answer at another
// instance was seen only at the poll's next read, up to 2 s later.
func TestWaitWokenByAnswer(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		for _, where := range []string{"here", "at another instance"} {
			t.Run(backend+"/"+where, func(t *testing.T) {
				p := newTestProvider(t)
				other := p.cfg.Store
				if backend == "redis" {
					addr := testredis.Start(t)
					p.cfg.Store, other = instanceStore(t, addr), instanceStore(t, addr)
				}
				c := &readCounting{Store: p.cfg.Store, read: make(chan int32, 64)}
				p.cfg.Store = c
				p.firstPause, p.maxPause = time.Hour, time.Hour
				a := newAnswering(t, p)
				at := a
				if where != "here" {
					cfg := p.cfg
					cfg.Store = other
					q, err := New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					at = answering{q, a.term}
				}
				testWaitWokenByAnswer(t, a, at, c)
			})
		}
	}
}

// instanceStore is an instance's store: its own connection to the
// Redis at addr.
func instanceStore(t *testing.T, addr string) *redisstore.Store {
	r, err := redisstore.New(testredis.Client(t, addr), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.InitEpoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Subscribed before the test's first poll, which does not wait
	// for it (Watch).
	if err := r.Subscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r
}

// testWaitWokenByAnswer waits at a for a session at's holder approves.
func testWaitWokenByAnswer(t *testing.T, a, at answering, c *readCounting) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st, err := a.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	c.reads.Store(0)
	for len(c.read) > 0 {
		<-c.read
	}
	done := make(chan *Outcome, 1)
	go func() {
		out, err := a.Wait(ctx, st.ID, st.Browser, time.Hour)
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	<-c.read // the poll watches the session, and read it pending
	if err := at.Approve(ctx, st.ID, at.holder(t, st.ID)); err != nil {
		t.Fatal(err)
	}
	var out *Outcome
	select {
	case out = <-done:
	case <-time.After(time.Minute): // not a timing bound: the next read is an hour away
		cancel()
		out = <-done
	}
	if out == nil || !strings.Contains(out.Redirect, "code=") {
		t.Errorf("the poll was not woken by the answer: %+v, want the redirect with its code", out)
	}
	// At another instance every read of this one's store is the poll's.
	if n := c.reads.Load(); at.Provider != a.Provider && n != 2 {
		t.Errorf("the poll read the session %d times, want 2 (at once, and when woken)", n)
	}
}
