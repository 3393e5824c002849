package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/internal/retrylog"
	"github.com/trustid-cn/trustid/store"
)

// Wake timing.
const (
	// subscribeTimeout bounds one attempt to subscribe: the connection,
	// the SUBSCRIBE and Redis's confirmation.
	subscribeTimeout = 5 * time.Second
	// wakeRetry is the first pause after a failed attempt or a lost
	// subscription; it doubles up to maxWakeRetry while they keep
	// failing, and starts again from wakeRetry after a subscription
	// that held for wakeSettled.
	wakeRetry    = time.Second
	maxWakeRetry = 30 * time.Second
	// wakeSettled is how long a subscription must hold for the wake to
	// count as working again: its failures are then logged at once
	// again, and a recovery is logged. A subscription that is lost
	// sooner (a link that fails after each attempt) leaves the failures
	// logged rarely.
	wakeSettled = time.Minute
	// defaultWakeCheck is Options.WakeCheck's default.
	defaultWakeCheck = 5 * time.Second
)

// errMissedPong ends a subscription whose connection did not answer a
// PING in time.
var errMissedPong = errors.New("the subscription's connection did not answer a PING in time")

// wake is a store's subscription to its wake channel, made and kept by
// one goroutine (follow) from the store's first Watch until Close, and
// the log of its failures and of Notify's.
type wake struct {
	log   *slog.Logger
	check time.Duration // Options.WakeCheck
	// settled is wakeSettled (a test shortens it).
	settled time.Duration
	// stop is closed by Close: follow ends.
	stop chan struct{}

	// mu guards started (follow runs), sub (the subscription follow
	// holds, which Close closes), up (closed while a subscription is
	// confirmed; a fresh one while there is none) and err (why the last
	// attempt failed or the last subscription ended).
	mu      sync.Mutex
	started bool
	sub     *redis.PubSub
	up      chan struct{}
	err     error

	// publishMu guards published, the log of Notify's failures.
	publishMu sync.Mutex
	published retrylog.Log
}

func (w *wake) init(opts Options) {
	w.log = opts.Log
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.check = opts.WakeCheck
	if w.check <= 0 {
		w.check = defaultWakeCheck
	}
	w.settled = wakeSettled
	w.stop = make(chan struct{})
	w.up = make(chan struct{})
}

// wakeChannel is the Pub/Sub channel of the prefix's notifications
// (Notify, Watch): the prefix followed by store.NamespaceWake. Each
// message is the publishing store's origin, a space and the stored key
// of what it names (a digest: no caller key in clear). Each store
// subscribes once, from its first Watch, and wakes its own watches of
// the key a message names: the watches of many keys cost one
// subscription, and every instance receives the notifications of all
// keys of the prefix (a few bytes each).
func (r *Store) wakeChannel() string { return r.keys.Prefix() + store.NamespaceWake }

// Watch implements [store.Store.Watch] with the store's one subscription
// to its wake channel (wakeChannel). It never waits for Redis: the
// first Watch starts the subscription in the background (follow), and a
// Notify from another store is lost until Redis confirmed it, as it is
// while the subscription's connection is down or being made again (the
// watcher's own reads see what it named); [Store.Subscribe] waits for
// it. Notify through this store always wakes its watches.
func (r *Store) Watch(ctx context.Context, key string) (<-chan struct{}, func(), error) {
	sk, err := r.begin(ctx, store.NamespaceWake, key)
	if err != nil {
		return nil, nil, err
	}
	r.startWake()
	ch, stop := r.signals.Watch(sk)
	return ch, stop, nil
}

// Subscribe starts the store's subscription to its wake channel, as
// Watch does, and waits until Redis confirmed it: from then on a Notify
// from any store sharing the prefix reaches this store's watches, until
// the subscription's connection is lost. When ctx ends first it returns
// an ErrUnavailable error naming why the last attempt failed; when the
// store is closed, ErrClosed.
func (r *Store) Subscribe(ctx context.Context) error {
	if r.closed.Load() {
		return store.ErrClosed
	}
	up := r.startWake()
	select {
	case <-up:
		return nil
	case <-r.wake.stop:
		return store.ErrClosed
	case <-ctx.Done():
	}
	r.wake.mu.Lock()
	defer r.wake.mu.Unlock()
	if r.wake.err != nil {
		return wrap("subscribe", r.wake.err)
	}
	return wrap("subscribe", ctx.Err())
}

// startWake starts follow unless it runs, and returns the channel
// closed once the subscription is confirmed (wake.up).
func (r *Store) startWake() <-chan struct{} {
	r.wake.mu.Lock()
	defer r.wake.mu.Unlock()
	if !r.wake.started {
		r.wake.started = true
		go r.follow()
	}
	return r.wake.up
}

// follow keeps the store subscribed to its wake channel until Close:
// each subscription (listen) ends when its connection is lost or does
// not answer a PING in time, and the store subscribes again after a
// pause. Failures are logged with retrylog: a cause at once, the same
// cause again a minute later at the soonest.
func (r *Store) follow() {
	var failed retrylog.Log
	pause := wakeRetry
	for {
		held, err := r.listen(&failed)
		if r.closed.Load() {
			return
		}
		r.wake.mu.Lock()
		r.wake.err = err
		r.wake.mu.Unlock()
		if held >= r.wake.settled {
			pause = wakeRetry
		}
		failed.Warn(r.wake.log, "redis: the wake subscription failed: notifications from the other stores sharing the prefix are lost until it is made again (watchers see what they name at their next read)",
			cause(err), slog.String("channel", r.wakeChannel()), slog.Duration("retry_in", pause))
		t := time.NewTimer(pause)
		select {
		case <-r.wake.stop:
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, maxWakeRetry)
	}
}

// listen makes one subscription to the wake channel, on a connection of
// its own, and relays its messages to the store's watches until it
// ends: Close, the connection lost, or a PING not answered within
// wake.check after the connection was silent for as long. It returns
// how long the subscription held (0 when it was not made) and why it
// ended. Once it has held for wakeSettled after failures, it logs the
// recovery and resets failed.
func (r *Store) listen(failed *retrylog.Log) (time.Duration, error) {
	sub := r.c.Subscribe(context.Background()) // no channel yet: no connection
	defer sub.Close()
	r.wake.mu.Lock()
	if r.closed.Load() {
		r.wake.mu.Unlock()
		return 0, store.ErrClosed
	}
	r.wake.sub = sub
	r.wake.mu.Unlock()
	defer func() {
		r.wake.mu.Lock()
		r.wake.sub = nil
		select {
		case <-r.wake.up: // it was confirmed: no longer
			r.wake.up = make(chan struct{})
		default:
		}
		r.wake.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	err := sub.Subscribe(ctx, r.wakeChannel())
	if err == nil {
		// The confirmation: once Redis sent it, it relays every later
		// message of the channel to this connection.
		_, err = sub.ReceiveTimeout(ctx, subscribeTimeout)
	}
	cancel()
	if err != nil {
		return 0, err
	}
	since := time.Now()
	r.wake.mu.Lock()
	close(r.wake.up)
	r.wake.mu.Unlock()

	pinged := false
	for {
		msg, err := sub.ReceiveTimeout(context.Background(), r.wake.check)
		switch {
		case err == nil:
			pinged = false // anything received shows the connection alive
			if m, ok := msg.(*redis.Message); ok {
				origin, sk, ok := strings.Cut(m.Payload, " ")
				if ok && origin != r.origin {
					r.signals.Notify(sk)
				}
			}
		case isTimeout(err) && !pinged:
			ctx, cancel := context.WithTimeout(context.Background(), r.wake.check)
			err = sub.Ping(ctx)
			cancel()
			pinged = true
		case isTimeout(err):
			err = errMissedPong
		}
		held := time.Since(since)
		if err != nil {
			return held, err
		}
		if failed.Failing() && held >= r.wake.settled {
			r.wake.log.Info("redis: the wake subscription works again", slog.String("channel", r.wakeChannel()))
			failed.Reset()
		}
	}
}

// stopWake ends follow and the subscription it holds (Close).
func (r *Store) stopWake() {
	close(r.wake.stop)
	r.wake.mu.Lock()
	sub := r.wake.sub
	r.wake.mu.Unlock()
	if sub != nil {
		sub.Close() // its blocked read returns: listen ends
	}
}

// Notify implements [store.Store.Notify]: it wakes this store's watches
// of key, then publishes the key's stored key on the wake channel for
// the other stores sharing the prefix (this one skips its own messages:
// a watch begun after Notify returned is not woken by it). A publish
// that fails is logged (Options.Log, rarely: see retrylog) besides
// being returned, as a caller has nothing to do about it.
func (r *Store) Notify(ctx context.Context, key string) error {
	sk, err := r.begin(ctx, store.NamespaceWake, key)
	if err != nil {
		return err
	}
	r.signals.Notify(sk)
	if err := r.c.Publish(ctx, r.wakeChannel(), r.origin+" "+sk).Err(); err != nil {
		if ctx.Err() == nil {
			r.wake.publishMu.Lock()
			r.wake.published.Warn(r.wake.log, "redis: a wake could not be published: the other stores sharing the prefix do not receive this notification (their watchers see what it names at their next read)",
				cause(err), slog.String("channel", r.wakeChannel()))
			r.wake.publishMu.Unlock()
		}
		return wrap("notify", err)
	}
	return nil
}

// isTimeout reports whether err is a read's deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// cause is err without the connection's addresses: a network error
// names the local port, new at every connection, so the same failure
// repeated would read as a new one and be logged each time.
func cause(err error) error {
	if oe, ok := errors.AsType[*net.OpError](err); ok {
		return fmt.Errorf("%s: %w", oe.Op, oe.Err)
	}
	return err
}
