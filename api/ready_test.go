package api

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestReadinessDetails: /readyz shows each dependency's figures, ready or
// not, next to its status; Registerer's metrics are served by /metrics.
func TestReadinessDetails(t *testing.T) {
	var fail error
	backlog := 0.0
	s, _ := newTestServer(t, nil)
	s.AddCheck("ledger", func(context.Context) error { return fail })
	clock := time.Unix(1764900000, 0)
	s.ready.now = func() time.Time { return clock }
	s.AddDetails("ledger", func() map[string]float64 { return map[string]float64{"backlog": backlog} })
	s.Registerer().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "test_backlog", Help: "h"}, func() float64 { return backlog }))

	resp, m := do(t, s.Handler(), "GET", "/readyz", nil)
	if d, _ := m["details"].(map[string]any)["ledger"].(map[string]any); resp.StatusCode != 200 || m["ledger"] != "ok" || d["backlog"] != 0.0 {
		t.Errorf("ready: %d %v", resp.StatusCode, m)
	}
	fail, backlog = errors.New("stalled"), 42
	clock = clock.Add(time.Second)
	resp, m = do(t, s.Handler(), "GET", "/readyz", nil)
	if d, _ := m["details"].(map[string]any)["ledger"].(map[string]any); resp.StatusCode != 503 || m["ledger"] != "unavailable" || d["backlog"] != 42.0 {
		t.Errorf("not ready: %d %v", resp.StatusCode, m)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "\ntest_backlog 42\n") {
		t.Errorf("metrics:\n%s", rec.Body.String())
	}
}

// TestReadyzSharesChecks: /readyz is public, and a check may be a ledger
// evaluation at the region's peer: the checks run at most once a second
// (ReadyFor), requests meanwhile and those waiting while they run share
// the outcome, and a failing check is logged when it starts failing and
// when it recovers, not on every request.
func TestReadyzSharesChecks(t *testing.T) {
	var calls atomic.Int64
	var fail atomic.Bool
	release := make(chan struct{})
	close(release)
	var gate atomic.Pointer[chan struct{}]
	gate.Store(&release)
	var logs bytes.Buffer
	clock := time.Unix(1764900000, 0)
	s := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return clock },
		Checks: map[string]Check{"ledger": func(context.Context) error {
			calls.Add(1)
			<-*gate.Load()
			if fail.Load() {
				return errors.New("peer unreachable")
			}
			return nil
		}}})
	h := s.Handler()
	get := func() int {
		r := httptest.NewRequest("GET", "/readyz", nil)
		r.RemoteAddr = "203.0.113.9:5555"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	for range 200 {
		if code := get(); code != 200 {
			t.Fatalf("readyz: %d", code)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("200 requests within ReadyFor ran the check %d times, want 1", n)
	}

	// Concurrent requests while the check runs share it.
	clock = clock.Add(time.Second)
	block := make(chan struct{})
	gate.Store(&block)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { get() })
	}
	for calls.Load() != 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	close(block)
	wg.Wait()
	if n := calls.Load(); n != 2 {
		t.Errorf("20 concurrent requests ran the check %d more times, want 1", n-1)
	}

	// Failing for three periods, then recovered: two log lines.
	fail.Store(true)
	for range 3 {
		clock = clock.Add(time.Second)
		if code := get(); code != 503 {
			t.Errorf("failing check: %d", code)
		}
		get()
	}
	fail.Store(false)
	clock = clock.Add(time.Second)
	if code := get(); code != 200 {
		t.Errorf("recovered: %d", code)
	}
	if got := strings.Count(logs.String(), "not ready"); got != 1 {
		t.Errorf("%d \"not ready\" lines for one failure, want 1:\n%s", got, logs.String())
	}
	if got := strings.Count(logs.String(), "ready again"); got != 1 {
		t.Errorf("%d \"ready again\" lines, want 1:\n%s", got, logs.String())
	}
}

// TestReadyzSlowCheckBlamesItself: a dependency that hangs until the
// checks' deadline (a Fabric peer that does not answer) is the one
// /readyz and the log name; the others are still checked within it.
// Before, the checks ran in turn under one 2 s deadline: the ledger's
// ("ledger" sorts first) used it up and the store was reported
// unavailable too, and logged as not ready, while Redis was fine.
//
// The deadline is read from the checks' context, not timed: it is at
// most 2 s after the check began (below the balancer's 3 s check
// timeout), and the store is checked while the ledger hangs, however
// slowly a loaded machine runs either.
func TestReadyzSlowCheckBlamesItself(t *testing.T) {
	var logs bytes.Buffer
	storeChecked := make(chan struct{})
	var deadlineAfter time.Duration
	var storeDuringLedger, hasDeadline bool
	s := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Checks: map[string]Check{
		"ledger": func(ctx context.Context) error {
			began := time.Now()
			var deadline time.Time
			deadline, hasDeadline = ctx.Deadline()
			deadlineAfter = deadline.Sub(began)
			select {
			case <-storeChecked:
				storeDuringLedger = true
			case <-ctx.Done():
			}
			<-ctx.Done()
			return ctx.Err()
		},
		"store": func(ctx context.Context) error { close(storeChecked); return ctx.Err() },
	}})
	resp, m := do(t, s.Handler(), "GET", "/readyz", nil)
	if resp.StatusCode != 503 || m["ledger"] != "unavailable" || m["store"] != "ok" {
		t.Errorf("readyz with the ledger hanging: %d %v, want 503 with the store ok", resp.StatusCode, m)
	}
	if !hasDeadline || deadlineAfter > 2*time.Second {
		t.Errorf("the checks' deadline: set %v, %v after a check began; want at most the checks' 2 s (the balancer's check times out at 3 s)", hasDeadline, deadlineAfter)
	}
	if !storeDuringLedger {
		t.Error("the store was not checked while the ledger's check hung")
	}
	if strings.Contains(logs.String(), "check=store") {
		t.Errorf("the store logged as not ready:\n%s", logs.String())
	}
}

// TestReadyzCheckPanics: a check that panics fails itself, as it did
// when the checks ran on the request's goroutine (instrument recovers),
// and does not stop the process.
func TestReadyzCheckPanics(t *testing.T) {
	s := New(Config{Checks: map[string]Check{
		"ledger": func(context.Context) error { panic("boom") },
		"store":  func(context.Context) error { return nil },
	}})
	resp, m := do(t, s.Handler(), "GET", "/readyz", nil)
	if resp.StatusCode != 503 || m["ledger"] != "unavailable" || m["store"] != "ok" {
		t.Errorf("readyz with a panicking check: %d %v", resp.StatusCode, m)
	}
}
