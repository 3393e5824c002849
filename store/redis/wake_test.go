package redisstore_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/store"
)

// TestWatchAfterRestart: a store's subscription outlives a Redis
// restart. While Redis is down, Notify fails (ErrUnavailable) but still
// wakes its own store's watches; once Redis is back, the subscription is
// made again on its own and another store's notifications wake the
// watches again. A notification sent before it is made again is lost:
// the watcher's own reads see what it named.
func TestWatchAfterRestart(t *testing.T) {
	srv := testredis.StartServer(t)
	ctx := t.Context()
	a := newRedis(t, testredis.Client(t, srv.Addr), "trustid:310000:")
	b := newRedis(t, testredis.Client(t, srv.Addr), "trustid:310000:")
	_, stop, err := a.Watch(ctx, "session-0") // subscribes
	if err != nil {
		t.Fatal(err)
	}
	stop()
	srv.Kill()
	here, stop, err := a.Watch(ctx, "session-1")
	if err != nil {
		t.Fatalf("Watch with Redis down, subscribed before: %v", err)
	}
	defer stop()
	if err := a.Notify(ctx, "session-1"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Notify with Redis down: %v, want ErrUnavailable", err)
	}
	select {
	case <-here:
	default:
		t.Error("Notify with Redis down did not wake its own store's watch")
	}
	srv.Restart()
	for i := 2; ; i++ {
		if i == 300 {
			t.Fatal("no notification of another store reached the watches after the restart")
		}
		key := fmt.Sprintf("session-%d", i)
		ch, stop, err := a.Watch(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Notify(ctx, key) // may fail while b's client connects again
		select {
		case <-ch:
			stop()
			if err != nil {
				t.Fatalf("a failed Notify woke another store's watch: %v", err)
			}
			return
		case <-time.After(100 * time.Millisecond): // then notify again
		}
		stop()
	}
}
