package fabric_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/fabric"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
	"github.com/trustid-cn/trustid/ledger/registry/registrytest"
)

// fabricEnv returns the connection profiles of the two regions of a
// running development network and the scripts folder (scripts/fabric/up.sh
// writes the env file that sets these variables). Without them the test
// skips, or fails under CI.
func fabricEnv(t *testing.T) (profileA, profileB, scripts string) {
	t.Helper()
	var missing []string
	for _, k := range []string{"TRUSTID_FABRIC_PROFILE_310000", "TRUSTID_FABRIC_PROFILE_320000", "TRUSTID_FABRIC_SCRIPTS"} {
		if os.Getenv(k) == "" {
			missing = append(missing, k)
		}
	}
	var err error
	if len(missing) > 0 {
		err = fmt.Errorf("%s unset: run scripts/fabric/test.sh, or scripts/fabric/up.sh and source scripts/fabric/work/run/env", strings.Join(missing, ", "))
	}
	testenv.Require(t, "the Fabric development network", err)
	return os.Getenv("TRUSTID_FABRIC_PROFILE_310000"), os.Getenv("TRUSTID_FABRIC_PROFILE_320000"), os.Getenv("TRUSTID_FABRIC_SCRIPTS")
}

func openFabric(t *testing.T, profile string) *fabric.Ledger {
	t.Helper()
	return openFabricLogged(t, profile, nil)
}

// openFabricLogged is openFabric with the ledger's logger.
func openFabricLogged(t *testing.T, profile string, log *slog.Logger) *fabric.Ledger {
	t.Helper()
	cfg, err := fabric.LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = log
	f, err := fabric.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFabricConformance(t *testing.T) {
	pa, pb, _ := fabricEnv(t)
	ledgertest.Run(t, func(t *testing.T) (ledger.Ledger, ledger.Ledger) {
		return openFabric(t, pa), openFabric(t, pb)
	})
}

// TestFabricSIGKILL: a node writing to Fabric is killed with SIGKILL
// mid-batch and restarted on the same outbox: every accepted change is on
// the chain, none twice (read from the other region's peer).
func TestFabricSIGKILL(t *testing.T) {
	pa, pb, _ := fabricEnv(t)
	a, b := openFabric(t, pa), openFabric(t, pb)
	ctx := context.Background()
	ledgertest.EnsureConsortium(ctx, t, a, b)
	from, err := b.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	list := ledgertest.ListID(fmt.Sprintf("kill-%d", time.Now().UnixNano()))
	acked := -1
	env := []string{"TRUSTID_OUTBOX_CHILD=" + dir, "TRUSTID_OUTBOX_CHILD_FABRIC=" + pa, "TRUSTID_OUTBOX_CHILD_LIST=" + list}
	testenv.KillChild(t, "TestOutboxChild", env, func(v string) bool {
		acked, _ = strconv.Atoi(v)
		return acked < 20000
	})
	ob, err := ledger.OpenOutbox(filepath.Join(dir, "outbox.db"), ledger.Client{L: a}, ledger.OutboxOptions{MaxBatch: 2000, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	st := ob.Stats()
	t.Logf("killed after %d accepted changes; left %d pending changes, %d frozen batches", acked, st.Pending, st.Frozen)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ob.Run(rctx) }()
	defer func() { cancel(); <-done }()
	fctx, fcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer fcancel()
	if err := ob.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("after restart: %+v", ob.Stats())
	counts := ledgertest.Anchored(t, b, from)
	n := 0
	for c, k := range counts {
		if c.List != list {
			continue
		}
		n++
		if k != 1 {
			t.Fatalf("%v anchored %d times", c, k)
		}
	}
	for i := 0; i < acked; i++ {
		if counts[ledger.StatusChange{List: list, Index: uint64(i), Status: 1}] != 1 {
			t.Fatalf("accepted change %d lost (%d of the list on the chain)", i, n)
		}
	}
	t.Logf("%d changes of %s on the chain, each once", n, list)
}

// TestFabricPeerDown: the writing region's peer is stopped for 30 s while
// changes keep coming; the outbox keeps accepting, and once the peer is
// back every change is on the chain exactly once. An event stream from
// that peer breaks with it: the ledger logs the break and the recovery,
// and delivers the changes made meanwhile.
func TestFabricPeerDown(t *testing.T) {
	pa, pb, scripts := fabricEnv(t)
	a, b := openFabric(t, pa), openFabric(t, pb)
	ctx := context.Background()
	ledgertest.EnsureConsortium(ctx, t, a, b)
	from, err := b.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	down := 30 * time.Second
	if s := os.Getenv("TRUSTID_FABRIC_PEER_DOWN"); s != "" {
		if down, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	ob, err := ledger.OpenOutbox(filepath.Join(t.TempDir(), "outbox.db"), ledger.Client{L: a},
		ledger.OutboxOptions{MaxBatch: 4000, Window: 100 * time.Millisecond, MinBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ob.Run(rctx) }()
	defer func() { cancel(); <-done }()

	var streamLog testnode.Buffer
	events, err := openFabricLogged(t, pa, slog.New(slog.NewTextHandler(&streamLog, nil))).Events(rctx, from)
	if err != nil {
		t.Fatal(err)
	}
	var lastBlock atomic.Uint64 // the block of the last event the stream delivered
	go func() {
		for ev := range events {
			lastBlock.Store(ev.Block)
		}
	}()

	peer := func(cmd string) {
		out, err := exec.Command(filepath.Join(scripts, "peer.sh"), cmd, ledgertest.RegionA).CombinedOutput()
		if err != nil {
			t.Fatalf("peer.sh %s: %v %s", cmd, err, out)
		}
	}
	list := ledgertest.ListID(fmt.Sprintf("down-%d", time.Now().UnixNano()))
	total := 0
	start := time.Now()
	stopped, restarted := false, false
	var afterRestart uint64 // the chain's height when the peer started again
	defer func() {
		if stopped && !restarted {
			peer("start")
		}
	}()
	for tick := time.NewTicker(100 * time.Millisecond); time.Since(start) < down+15*time.Second; <-tick.C {
		if !stopped && time.Since(start) > 5*time.Second {
			peer("stop")
			stopped = true
			t.Logf("peer %s stopped at %v with %d changes accepted", ledgertest.RegionA, time.Since(start).Round(time.Millisecond), total)
		}
		if stopped && !restarted && time.Since(start) > 5*time.Second+down {
			peer("start")
			restarted = true
			if afterRestart, err = b.Height(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("peer %s started at %v; outbox %+v", ledgertest.RegionA, time.Since(start).Round(time.Millisecond), ob.Stats())
		}
		if err := ob.Anchor(ctx, ledgertest.SeqChanges(list, total, 200)); err != nil {
			t.Fatalf("Anchor while the peer is down: %v", err)
		}
		total += 200
	}
	fctx, fcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer fcancel()
	if err := ob.Flush(fctx); err != nil {
		t.Fatalf("flush after the peer came back: %v (%+v)", err, ob.Stats())
	}
	st := ob.Stats()
	t.Logf("all committed %v after the start: %+v", time.Since(start).Round(time.Millisecond), st)
	if st.Retries == 0 {
		t.Error("no retries: the outage was not felt")
	}
	counts := ledgertest.Anchored(t, b, from)
	for i := 0; i < total; i++ {
		if k := counts[ledger.StatusChange{List: list, Index: uint64(i), Status: 1}]; k != 1 {
			t.Fatalf("change %d anchored %d times", i, k)
		}
	}
	for wait := time.Now(); lastBlock.Load() < afterRestart || !strings.Contains(streamLog.String(), "event stream is back"); time.Sleep(100 * time.Millisecond) {
		if time.Since(wait) > time.Minute {
			t.Fatalf("event stream of the stopped peer: last block %d, the chain at %d when the peer started again; its log:\n%s", lastBlock.Load(), afterRestart, streamLog.String())
		}
	}
	logs := streamLog.String()
	if i, j := strings.Index(logs, "event stream broke"), strings.Index(logs, "event stream is back"); i < 0 || j < i {
		t.Errorf("the break and recovery not logged in order:\n%s", logs)
	}
	t.Logf("event stream log:\n%s", logs)
}

// testLogger sends the outbox's warnings to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

// TestFabricLoad is the load test behind the Fabric figures in
// docs/BENCHMARKS.md (TRUSTID_FABRIC_LOAD=1; TRUSTID_FABRIC_LOAD_SECONDS,
// default 60; TRUSTID_FABRIC_LOAD_RATE changes/s, default 10000). Region
// 310000 accepts changes at the rate through its outbox; every 100 ms one
// of them is a probe revocation whose arrival is timed on region 320000's
// peer (its chaincode events). It checks that every change is anchored once,
// that no transaction had to be retried (no MVCC conflicts), and reports
// the accepted and anchored rates and the probe latency.
func TestFabricLoad(t *testing.T) {
	pa, pb, _ := fabricEnv(t)
	if os.Getenv("TRUSTID_FABRIC_LOAD") != "1" {
		t.Skip("set TRUSTID_FABRIC_LOAD=1 to run the 60 s load test")
	}
	seconds, rate := 60, 10000
	if s := os.Getenv("TRUSTID_FABRIC_LOAD_SECONDS"); s != "" {
		seconds, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("TRUSTID_FABRIC_LOAD_RATE"); s != "" {
		rate, _ = strconv.Atoi(s)
	}
	a, b := openFabric(t, pa), openFabric(t, pb)
	ctx := context.Background()
	ledgertest.EnsureConsortium(ctx, t, a, b)
	from, err := b.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := ledger.OpenOutbox(filepath.Join(t.TempDir(), "outbox.db"), ledger.Client{L: a},
		ledger.OutboxOptions{MaxBatch: 5000, Window: 100 * time.Millisecond, Concurrency: 4, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ob.Run(rctx) }()
	defer func() { cancel(); <-done }()

	run := fmt.Sprintf("%d", time.Now().UnixNano())
	list, probeList := ledgertest.ListID("load-"+run), ledgertest.ListID("probe-"+run)
	var mu sync.Mutex
	probeSent := map[uint64]time.Time{}
	var latencies []time.Duration
	seen := map[uint64]int{}
	var lastSeen time.Time
	ectx, ecancel := context.WithCancel(ctx)
	defer ecancel()
	events, err := b.Events(ectx, from)
	if err != nil {
		t.Fatal(err)
	}
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range events {
			if ev.Name != chaincode.EventStatusBatch {
				continue
			}
			now := time.Now()
			var bt chaincode.Batch
			if json.Unmarshal(ev.Payload, &bt) != nil {
				continue
			}
			cs, err := chaincode.DecodeBatch(bt)
			if err != nil {
				continue
			}
			mu.Lock()
			for _, c := range cs {
				switch c.List {
				case list:
					seen[c.Index]++
					lastSeen = now
				case probeList:
					if t0, ok := probeSent[c.Index]; ok {
						latencies = append(latencies, now.Sub(t0))
						delete(probeSent, c.Index)
					}
				}
			}
			mu.Unlock()
		}
	}()

	// Probes: one revocation every 100 ms, timed from its acceptance.
	const tick = 10 * time.Millisecond
	start := time.Now()
	var probes uint64
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		pt := time.NewTicker(100 * time.Millisecond)
		defer pt.Stop()
		for time.Since(start) < time.Duration(seconds)*time.Second {
			<-pt.C
			if err := ob.Anchor(ctx, []ledger.StatusChange{{List: probeList, Index: probes, Status: 1}}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			probeSent[probes] = time.Now()
			mu.Unlock()
			probes++
		}
	}()
	// Load: every tick, accept what the rate asks for since the start (one
	// Anchor call, so a slow fsync is caught up at the next tick).
	total := 0
	tk := time.NewTicker(tick)
	for time.Since(start) < time.Duration(seconds)*time.Second {
		<-tk.C
		want := int(time.Since(start).Seconds() * float64(rate))
		if n := want - total; n > 0 {
			if err := ob.Anchor(ctx, ledgertest.SeqChanges(list, total, n)); err != nil {
				t.Fatal(err)
			}
			total += n
		}
	}
	<-probeDone
	tk.Stop()
	accepted := time.Since(start)
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer fcancel()
	if err := ob.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == total || time.Now().After(deadline) {
			break
		}
	}
	ecancel()
	<-evDone
	mu.Lock()
	defer mu.Unlock()
	st := ob.Stats()
	for i := 0; i < total; i++ {
		if seen[uint64(i)] != 1 {
			t.Fatalf("change %d seen %d times on %s (of %d)", i, seen[uint64(i)], ledgertest.RegionB, total)
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(p*float64(len(latencies)-1))].Round(time.Millisecond)
	}
	anchoredFor := lastSeen.Sub(start)
	t.Logf("FIGURES: %d changes accepted in %v (%.0f/s); all anchored and seen on %s %v after the start (%.0f/s sustained); %d batches, %d retries (MVCC or other), %d dead",
		total, accepted.Round(time.Millisecond), float64(total)/accepted.Seconds(), ledgertest.RegionB,
		anchoredFor.Round(time.Millisecond), float64(total)/anchoredFor.Seconds(), st.CommittedBatches, st.Retries, st.Dead)
	t.Logf("FIGURES: revocation probes 310000 → seen on 320000: n=%d p50=%v p90=%v p99=%v max=%v (lost %d)",
		len(latencies), pct(0.5), pct(0.9), pct(0.99), pct(1), len(probeSent))
	if st.Retries != 0 || st.Dead != 0 {
		t.Errorf("retries %d, dead %d: transactions failed under load", st.Retries, st.Dead)
	}
	if len(probeSent) != 0 {
		t.Errorf("%d probes never seen", len(probeSent))
	}
}

// TestOutboxChild is the child of TestFabricSIGKILL: it anchors changes
// through an outbox on Fabric, printing each acknowledged count, until it is
// killed.
func TestOutboxChild(t *testing.T) {
	dir := os.Getenv("TRUSTID_OUTBOX_CHILD")
	if dir == "" {
		t.Skip("run by TestFabricSIGKILL")
	}
	from, _ := strconv.Atoi(os.Getenv("TRUSTID_OUTBOX_CHILD_FROM"))
	list := os.Getenv("TRUSTID_OUTBOX_CHILD_LIST")
	f := openFabric(t, os.Getenv("TRUSTID_OUTBOX_CHILD_FABRIC"))
	ob, err := ledger.OpenOutbox(filepath.Join(dir, "outbox.db"), slowAck{ledger.Client{L: f}}, ledger.OutboxOptions{MaxBatch: 2000, Window: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go ob.Run(context.Background())
	for i := 0; ; i += 500 {
		if err := ob.Anchor(context.Background(), ledgertest.SeqChanges(list, from+i, 500)); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("acked %d\n", i+500)
		time.Sleep(10 * time.Millisecond)
	}
}

// slowAck acknowledges each commit 30 ms late, so the kill usually lands
// between a batch's commit and its removal from the outbox.
type slowAck struct{ ledger.Client }

func (s slowAck) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	res, err := s.Client.AnchorBatch(ctx, in)
	time.Sleep(30 * time.Millisecond)
	return res, err
}

// TestFabricRegistry runs the registry suite (the ClientStore conformance
// suite, terminals, two instances of one region) over the network; a
// change must reach the other instance's view within one block (2 s).
func TestFabricRegistry(t *testing.T) {
	pa, pb, _ := fabricEnv(t)
	registrytest.Run(t, func(t *testing.T) (ledger.Ledger, ledger.Ledger) {
		return openFabric(t, pa), openFabric(t, pb)
	}, 2*time.Second)
}
