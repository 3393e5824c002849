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

// TestWaitWokenByAnswerHere: a session answered at the poll's instance
// wakes the poll at once, though its pause has grown to 2 s (the fifth
// read, at 3 s, is followed by one at 5 s); and one answered at another
// instance of the region (another provider over the same store) is seen
// at the poll's next read.
func TestWaitWokenByAnswerHere(t *testing.T) {
	waitStores(t, func(t *testing.T, a answering, c *readCounting) {
		ctx := context.Background()
		other, err := New(a.cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []struct {
			name string
			p    answering
			wait time.Duration // for the poll's answer after the session's
		}{{"here", a, time.Second}, {"at another instance", answering{other, a.term}, maxPollPause + 2*time.Second}} {
			st, err := a.Authorize(ctx, goodQuery())
			if err != nil {
				t.Fatal(err)
			}
			for len(c.read) > 0 {
				<-c.read
			}
			c.reads.Store(0)
			done := make(chan *Outcome, 1)
			go func() {
				out, err := a.Wait(ctx, st.ID, st.Browser, 25*time.Second)
				if err != nil {
					t.Error(err)
				}
				done <- out
			}()
			for n := int32(0); n < 5; n = <-c.read {
			}
			if err := at.p.Approve(ctx, st.ID, at.p.holder(t, st.ID)); err != nil {
				t.Fatal(err)
			}
			select {
			case out := <-done:
				if out == nil || !strings.Contains(out.Redirect, "code=") {
					t.Errorf("%s: %+v, want the redirect with its code", at.name, out)
				}
			case <-time.After(at.wait):
				t.Fatalf("%s: the poll did not end %v after the answer", at.name, at.wait)
			}
		}
	})
}
