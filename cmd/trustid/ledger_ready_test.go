package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// faultyLedger wraps the real embedded ledger: while submits is set every
// transaction fails (an orderer that is down: reads still work); while
// reads is set every contract query fails (the chaincode is down; the
// block height still answers).
type faultyLedger struct {
	ledger.Ledger
	submits, reads atomic.Bool
}

var errFault = fmt.Errorf("%w: injected: orderer 10.9.8.7:7050 unreachable", ledger.ErrUnavailable)

func (f *faultyLedger) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	if f.submits.Load() {
		return nil, 0, errFault
	}
	return f.Ledger.Submit(ctx, fn, args...)
}

func (f *faultyLedger) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	if f.reads.Load() {
		return nil, errFault
	}
	return f.Ledger.Evaluate(ctx, fn, args...)
}

type readyBody struct {
	Status  string
	Ledger  string
	Details map[string]map[string]float64
}

// TestLedgerReadiness: /readyz turns 503, with the outbox's backlog and
// its age in the body, when the ledger stops committing (reads still
// answer, so the old check said ready), and 200 again once the backlog
// drains; it turns 503 when the view has failed for longer than the limit
// and 200 when it follows again. The body never carries the error; the
// figures are Prometheus gauges too.
func TestLedgerReadiness(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	l, err := embedded.Open(filepath.Join(dir, ledgerFile), embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := l.As(chaincode.RegionMSP(ledgertest.RegionB))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ledgertest.EnsureConsortium(ctx, t, l, b)
	fl := &faultyLedger{Ledger: l}
	ob, err := ledger.OpenOutbox(filepath.Join(dir, outboxFile), ledger.Client{L: fl},
		ledger.OutboxOptions{Window: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	view := ledger.NewView(fl, ledger.ViewOptions{Reconcile: 20 * time.Millisecond})
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	srv := api.New(api.Config{Logger: log})
	const limit = 300 * time.Millisecond
	addLedgerReadiness(srv, fl, ob, view, limit)
	done := make(chan struct{}, 2)
	go func() { runOutbox(ctx, log, ob, 10*time.Millisecond, 100*time.Millisecond); done <- struct{}{} }()
	go func() { view.Run(ctx); done <- struct{}{} }()
	defer func() {
		cancel()
		for range 2 {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Error("the outbox or the view did not stop")
				return
			}
		}
	}()

	readyz := func() (int, readyBody, string) {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var body readyBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("readyz body %q: %v", rec.Body, err)
		}
		return rec.Code, body, rec.Body.String()
	}
	// waitFor polls /readyz until it answers want and, when settled is
	// not nil, the body satisfies it: the figures are read apart from
	// the check, so a body may show the state a moment before or after
	// the code does (the view clears its error only once it follows the
	// events again, just after a refresh the check already counts).
	waitFor := func(want int, what string, settled func(map[string]float64) bool) readyBody {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			code, body, raw := readyz()
			if strings.Contains(raw, "10.9.8.7") || strings.Contains(raw, "injected") {
				t.Errorf("readyz body leaks the ledger's error: %s", raw)
			}
			if code == want && (settled == nil || settled(body.Details["ledger"])) {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: readyz %d %s\n%s", what, code, raw, logs.String())
			}
		}
	}
	metric := func(name string) float64 {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(rec.Body.String())
		if m == nil {
			t.Fatalf("no metric %s in /metrics", name)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	body := waitFor(200, "a healthy ledger", nil)
	if d := body.Details["ledger"]; body.Ledger != "ok" || d == nil || d["outbox_backlog_changes"] != 0 || d["outbox_oldest_age_seconds"] != 0 || d["view_failing"] != 0 {
		t.Fatalf("healthy: %+v", body)
	}

	// The ledger stops committing: changes wait, and past the limit the
	// node is not ready, with the backlog shown.
	fl.submits.Store(true)
	changes := []ledger.StatusChange{{List: "00000001aaaaaaaa", Index: 1, Status: 1}, {List: "00000001aaaaaaaa", Index: 2, Status: 1}, {List: "00000001aaaaaaaa", Index: 3, Status: 1}}
	if err := ob.Anchor(ctx, changes); err != nil {
		t.Fatal(err)
	}
	if err := ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "00000014aaaaaaaa", Version: 1, Digest: chaincode.ListDigest([]byte("R1"))}}); err != nil {
		t.Fatal(err)
	}
	body = waitFor(503, "outbox stuck", nil)
	d := body.Details["ledger"]
	if body.Ledger != "unavailable" || body.Status != "not ready" || d["outbox_backlog_changes"] != float64(len(changes)) ||
		d["outbox_pending_heads"] != 1 || d["outbox_oldest_age_seconds"] <= limit.Seconds() || d["outbox_failing"] != 1 || d["view_failing"] != 0 {
		t.Errorf("stuck outbox: %+v", body)
	}
	if !strings.Contains(logs.String(), "has waited longer than --ledger-stall-limit") {
		t.Errorf("the reason is not logged:\n%s", logs.String())
	}
	if v := metric("trustid_ledger_outbox_oldest_age_seconds"); v <= limit.Seconds() {
		t.Errorf("trustid_ledger_outbox_oldest_age_seconds %v", v)
	}
	if v := metric("trustid_ledger_outbox_backlog_changes"); v != float64(len(changes)) {
		t.Errorf("trustid_ledger_outbox_backlog_changes %v", v)
	}
	if v := metric("trustid_ledger_outbox_pending_heads"); v != 1 {
		t.Errorf("trustid_ledger_outbox_pending_heads %v", v)
	}

	// The ledger commits again: the backlog drains and the node is ready.
	fl.submits.Store(false)
	body = waitFor(200, "outbox drained", func(d map[string]float64) bool { return d["outbox_failing"] == 0 })
	if d := body.Details["ledger"]; d["outbox_backlog_changes"] != 0 || d["outbox_pending_heads"] != 0 || d["outbox_failing"] != 0 {
		t.Errorf("drained: %+v", body)
	}
	if st := ob.Stats(); st.CommittedChanges != len(changes) {
		t.Errorf("outbox after recovery: %+v", st)
	}

	// The view loses the ledger: past the limit the node is not ready.
	fl.reads.Store(true)
	body = waitFor(503, "view failing", nil)
	if d := body.Details["ledger"]; d["view_failing"] != 1 || d["view_refresh_age_seconds"] <= limit.Seconds() || d["outbox_oldest_age_seconds"] != 0 {
		t.Errorf("failing view: %+v", body)
	}
	if v := metric("trustid_ledger_view_failing"); v != 1 {
		t.Errorf("trustid_ledger_view_failing %v", v)
	}
	fl.reads.Store(false)
	body = waitFor(200, "view following again", func(d map[string]float64) bool { return d["view_failing"] == 0 })
	if d := body.Details["ledger"]; d["view_failing"] != 0 {
		t.Errorf("view back: %+v", body)
	}
}

// TestRunOutboxRestarts: when Run fails (here: the outbox is closed),
// serve's loop logs the error and starts Run again after a backoff, and
// stops when the context ends.
func TestRunOutboxRestarts(t *testing.T) {
	dir := t.TempDir()
	l, err := embedded.Open(filepath.Join(dir, ledgerFile), embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ob, err := ledger.OpenOutbox(filepath.Join(dir, outboxFile), ledger.Client{L: l}, ledger.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ob.Close()
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		runOutbox(ctx, slog.New(slog.NewJSONHandler(&logs, nil)), ob, time.Millisecond, 20*time.Millisecond)
		close(done)
	}()
	for deadline := time.Now().Add(5 * time.Second); strings.Count(logs.String(), `"msg":"ledger outbox stopped; restarting it"`) < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Run's error not logged and retried:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "after Close") {
		t.Errorf("log:\n%s", logs.String())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("runOutbox did not stop")
	}
}

// TestLedgerDeadBatchesShown: a status batch the ledger refuses for good
// (its ID taken) is counted in /readyz's body and on /metrics, the node
// staying ready for the changes that still flow, and named in the log at
// each start.
func TestLedgerDeadBatchesShown(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := embedded.Open(filepath.Join(dir, ledgerFile), embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := l.As(chaincode.RegionMSP(ledgertest.RegionB))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ledgertest.EnsureConsortium(ctx, t, l, b)
	ob, err := ledger.OpenOutbox(filepath.Join(dir, outboxFile), ledger.Client{L: l}, ledger.OutboxOptions{Window: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	squatter, _ := chaincode.NewBatchInput(ob.NodeID()+"-1", ledgertest.SeqChanges(ledgertest.ListID("other"), 0, 1))
	if _, err := (ledger.Client{L: l}).AnchorBatch(ctx, squatter); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- ob.Run(runCtx) }()
	if err := ob.Anchor(ctx, []ledger.StatusChange{{List: "00000001aaaaaaaa", Index: 1, Status: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	<-ran

	srv := api.New(api.Config{Logger: slog.New(slog.DiscardHandler)})
	view := ledger.NewView(l, ledger.ViewOptions{})
	viewCtx, stopView := context.WithCancel(ctx)
	viewDone := make(chan struct{})
	go func() { view.Run(viewCtx); close(viewDone) }()
	defer func() { stopView(); <-viewDone }()
	addLedgerReadiness(srv, l, ob, view, time.Minute)
	var rec *httptest.ResponseRecorder
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rec = httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code == 200 || time.Now().After(deadline) {
			break
		}
	}
	var body readyBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if got := body.Details["ledger"]["outbox_dead_batches"]; rec.Code != 200 || got != 1 {
		t.Errorf("readyz %d, outbox_dead_batches %v: %s", rec.Code, got, rec.Body)
	}
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !regexp.MustCompile(`(?m)^trustid_ledger_outbox_dead_batches 1$`).MatchString(rec.Body.String()) {
		t.Errorf("no trustid_ledger_outbox_dead_batches 1 in /metrics")
	}
	var logs syncBuffer
	logDeadBatches(slog.New(slog.NewJSONHandler(&logs, nil)), ob)
	if !strings.Contains(logs.String(), `"batch":"`+ob.NodeID()+`-1"`) || !strings.Contains(logs.String(), "refused for good") {
		t.Errorf("start log: %s", logs.String())
	}
	// With the node stopped, the CLI lists the lost changes.
	ob.Close()
	out, errOut, err := run(t, ctx, "ledger", "dead-batches", "--data", dir, "-o", "json")
	var dead []ledger.DeadBatch
	if err != nil || json.Unmarshal([]byte(out), &dead) != nil || len(dead) != 1 || dead[0].ID != ob.NodeID()+"-1" ||
		!strings.Contains(dead[0].Reason, "different batch") || !slices.Equal(dead[0].Changes, []ledger.StatusChange{{List: "00000001aaaaaaaa", Index: 1, Status: 1}}) {
		t.Errorf("ledger dead-batches: %v %s %s", err, out, errOut)
	}
}
