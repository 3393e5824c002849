package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
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
	if err := a.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
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

// logBuffer collects a store's log (Options.Log), written by its wake
// goroutine while the test reads it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logged returns a logger writing JSON lines to a buffer the test reads.
func logged() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, nil)), b
}

// TestWakeFailuresLogged: a Redis user whose ACL forbids the wake
// channel can neither subscribe nor publish; the store says so in its
// log, each cause once however often it fails (the subscription is
// tried again in the background, every Notify publishes), and names the
// channel but neither the key nor its digest.
func TestWakeFailuresLogged(t *testing.T) {
	srv := testredis.StartServer(t)
	ctx := t.Context()
	admin := testredis.Client(t, srv.Addr)
	if err := admin.Do(ctx, "ACL", "SETUSER", "nowake", "on", ">secret", "~*", "resetchannels", "&other", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "nowake", Password: "secret"})
	t.Cleanup(func() { client.Close() })
	log, logs := logged()
	r, err := redisstore.New(client, redisstore.Options{Prefix: "trustid:310000:", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	const key = "session-4f1d9a"
	if _, stop, err := r.Watch(ctx, key); err != nil {
		t.Fatalf("Watch: %v (a subscription that fails leaves the watch to the store's own Notify)", err)
	} else {
		defer stop()
	}
	// Three attempts: at once, 1 s and 3 s later.
	wait, cancel := context.WithTimeout(ctx, 3500*time.Millisecond)
	defer cancel()
	if err := r.Subscribe(wait); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("Subscribe with the channel forbidden: %v, want ErrUnavailable naming NOPERM", err)
	}
	for range 20 {
		if err := r.Notify(ctx, key); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Notify with the channel forbidden: %v, want ErrUnavailable", err)
		}
	}
	out := logs.String()
	for _, msg := range []string{"redis: the wake subscription failed", "redis: a wake could not be published"} {
		if n := strings.Count(out, msg); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", msg, n, out)
		}
	}
	if n := strings.Count(out, "NOPERM"); n != 2 {
		t.Errorf("the cause (NOPERM) named in %d lines, want 2:\n%s", n, out)
	}
	if n := strings.Count(out, `"channel":"trustid:310000:wake"`); n != 2 {
		t.Errorf("the channel named in %d lines, want 2:\n%s", n, out)
	}
	keyer, err := store.NewKeyer("trustid:310000:", nil)
	if err != nil {
		t.Fatal(err)
	}
	sk := keyer.Key(store.NamespaceWake, key)
	if strings.Contains(out, key) || strings.Contains(out, sk[strings.LastIndexByte(sk, ':')+1:]) {
		t.Errorf("the log names the key or its digest:\n%s", out)
	}
}

// wakeCheck is the tests' Options.WakeCheck: a dead connection is found
// within two of it.
const wakeCheck = 100 * time.Millisecond

// wokenAcross watches key after key through a and notifies each through
// b until a watch is woken (true), or gives up after 30 s (not a timing
// bound: a subscription that never works again).
func wokenAcross(t *testing.T, a, b *redisstore.Store) bool {
	t.Helper()
	ctx := t.Context()
	for i, end := 0, time.Now().Add(30*time.Second); time.Now().Before(end); i++ {
		key := fmt.Sprintf("session-%d", i)
		ch, stop, err := a.Watch(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Notify(ctx, key); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
			stop()
			return true
		case <-time.After(100 * time.Millisecond):
		}
		stop()
	}
	return false
}

// TestWakeHalfOpen: the wake subscription's connection goes silent
// without being closed (a relay between the store and a real Redis
// drops everything and never closes it, as a peer gone without FIN or
// RST; TCP would take many minutes to say so). The store's PING on it
// goes unanswered, it takes the connection for dead, logs it and
// subscribes again on a new connection: another store's notifications
// wake its watches again. Without the health check they never would.
func TestWakeHalfOpen(t *testing.T) {
	srv := testredis.StartServer(t)
	relay := testredis.StartRelay(t, srv.Addr)
	log, logs := logged()
	a, err := redisstore.New(testredis.Client(t, relay.Addr), redisstore.Options{Prefix: "trustid:310000:", Log: log, WakeCheck: wakeCheck})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := newRedis(t, testredis.Client(t, srv.Addr), "trustid:310000:")
	if err := a.Subscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !wokenAcross(t, a, b) {
		t.Fatal("no notification reached the watches before the connection went silent")
	}
	relay.Hang()   // the subscription's connection: silent for good
	relay.Resume() // new connections work
	if !wokenAcross(t, a, b) {
		t.Fatalf("no notification reached the watches in 30 s after the subscription's connection went silent; log:\n%s", logs.String())
	}
	if out := logs.String(); !strings.Contains(out, "did not answer a PING in time") {
		t.Errorf("the dead connection is not logged:\n%s", out)
	}
}

// TestWatchDoesNotWaitForRedis: with Redis hanging (a relay that
// accepts connections and carries nothing), Watch returns at once,
// every one of concurrent long polls': none waits for the subscription,
// which the store makes in the background (the polls read on their own
// schedule meanwhile). Once Redis answers again the subscription is
// made and another store's notifications wake the watches. Watch waited
// up to 5 s for the subscription, and failed.
func TestWatchDoesNotWaitForRedis(t *testing.T) {
	srv := testredis.StartServer(t)
	relay := testredis.StartRelay(t, srv.Addr)
	relay.Hang()
	a, err := redisstore.New(testredis.Client(t, relay.Addr), redisstore.Options{Prefix: "trustid:310000:", WakeCheck: wakeCheck})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := newRedis(t, testredis.Client(t, srv.Addr), "trustid:310000:")

	const polls = 8
	done := make(chan error, polls)
	for i := range polls {
		go func() {
			_, stop, err := a.Watch(t.Context(), fmt.Sprintf("session-%d", i))
			if err == nil {
				stop()
			}
			done <- err
		}()
	}
	// Far below the 5 s a subscription attempt may take, far above
	// what Watch takes.
	timeout := time.After(2 * time.Second)
	for range polls {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Watch with Redis hanging: %v", err)
			}
		case <-timeout:
			t.Fatal("Watch waited for a Redis that hangs")
		}
	}
	for end := time.Now().Add(30 * time.Second); relay.Conns() == 0; { // the subscription's first attempt, hanging
		if time.Now().After(end) {
			t.Fatal("the store made no connection to subscribe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	relay.Resume()
	if !wokenAcross(t, a, b) {
		t.Fatal("no notification reached the watches once Redis answered again")
	}
}
