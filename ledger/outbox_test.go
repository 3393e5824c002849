package ledger_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// node is one embedded node: ledger (RegionA, consortium set up) and outbox.
type node struct {
	l   *embedded.Ledger
	b   *embedded.Ledger
	ob  *ledger.Outbox
	dir string
}

func openNode(t testing.TB, dir string, chain func(ledger.Client) ledger.BatchAnchorer, opts ledger.OutboxOptions) *node {
	t.Helper()
	l, err := embedded.Open(filepath.Join(dir, "ledger.db"), embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.As(chaincode.RegionMSP(ledgertest.RegionB))
	if err != nil {
		t.Fatal(err)
	}
	ledgertest.EnsureConsortium(context.Background(), t, l, b)
	var ch ledger.BatchAnchorer = ledger.Client{L: l}
	if chain != nil {
		ch = chain(ledger.Client{L: l})
	}
	ob, err := ledger.OpenOutbox(filepath.Join(dir, "outbox.db"), ch, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &node{l: l, b: b, ob: ob, dir: dir}
}

func (n *node) close() {
	n.ob.Close()
	n.b.Close()
	n.l.Close()
}

func (n *node) run(t testing.TB) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.ob.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}
}

// anchored reads the batch events of the chain from block from (until the
// height at the call, or 5 s without an event) and counts each change.
func checkExactlyOnce(t *testing.T, counts map[chaincode.StatusChange]int, list string, acked int) {
	t.Helper()
	for c, n := range counts {
		if n != 1 {
			t.Errorf("%v anchored %d times", c, n)
		}
	}
	for i := 0; i < acked; i++ {
		if counts[ledger.StatusChange{List: list, Index: uint64(i), Status: 1}] != 1 {
			t.Fatalf("accepted change %d is not on the chain", i)
		}
	}
}

func TestOutboxBatchesAndFlush(t *testing.T) {
	n := openNode(t, t.TempDir(), nil, ledger.OutboxOptions{MaxBatch: 1000, Window: 20 * time.Millisecond})
	defer n.close()
	stop := n.run(t)
	defer stop()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("L"), (w*10+i)*250, 250)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, ledgertest.Anchored(t, n.l), ledgertest.ListID("L"), 10000)
	st := n.ob.Stats()
	if st.CommittedChanges != 10000 || st.CommittedBatches < 10 || st.Pending != 0 || st.Frozen != 0 {
		t.Errorf("stats %+v", st)
	}
	// A small tail goes out after the window, without Flush.
	if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("L"), 10000, 3)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n.ob.Stats().CommittedChanges != 10003 {
		if time.Now().After(deadline) {
			t.Fatalf("tail not sent after the window: %+v", n.ob.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A list ID other than nodes make (16 lower-case hex digits), which
	// the contract refuses, is refused here, not acknowledged and then
	// lost in a batch the chain refuses for good.
	for _, id := range []string{"bad list", "L1", "https://310000.trustid.example/status/1", "00000001AAAAAAAA", "00000001aaaaaaa"} {
		if err := n.ob.Anchor(ctx, []ledger.StatusChange{{List: id, Index: 1}}); !errors.Is(err, chaincode.ErrBadList) {
			t.Errorf("list ID %q: %v", id, err)
		}
		h := ledger.StatusHeadInput{List: id, Version: 1, Digest: chaincode.ListDigest([]byte(id))}
		if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{h}); !errors.Is(err, chaincode.ErrBadList) {
			t.Errorf("head of list ID %q: %v", id, err)
		}
	}
	if st := n.ob.Stats(); st.Pending != 0 || st.HeadsPending != 0 || st.Dead != 0 {
		t.Errorf("refused list IDs held: %+v", st)
	}
}

// TestOutboxSurvivesRestart: changes accepted by an outbox that never ran
// (or was closed mid-way) are sent by the next one.
func TestOutboxSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := openNode(t, dir, nil, ledger.OutboxOptions{MaxBatch: 300})
	for i := 0; i < 10; i++ {
		if err := n.ob.Anchor(context.Background(), ledgertest.SeqChanges(ledgertest.ListID("R"), i*100, 100)); err != nil {
			t.Fatal(err)
		}
	}
	id := n.ob.NodeID()
	n.close() // no Run: nothing sent
	n = openNode(t, dir, nil, ledger.OutboxOptions{MaxBatch: 300})
	defer n.close()
	if n.ob.NodeID() != id || n.ob.Stats().Pending != 1000 {
		t.Fatalf("after reopen: node %s stats %+v", n.ob.NodeID(), n.ob.Stats())
	}
	stop := n.run(t)
	defer stop()
	if err := n.ob.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, ledgertest.Anchored(t, n.l), ledgertest.ListID("R"), 1000)
}

// lossyAck commits on the chain but reports a failure the first time for
// each batch, as when the connection drops after the commit: the outbox
// must send the batch again and the chain must apply it once.
type lossyAck struct {
	ledger.Client
	seen  sync.Map
	fails atomic.Int32
}

func (l *lossyAck) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	res, err := l.Client.AnchorBatch(ctx, in)
	if _, again := l.seen.LoadOrStore(in.ID, true); !again && err == nil {
		l.fails.Add(1)
		return res, fmt.Errorf("%w: connection reset after commit", ledger.ErrUnavailable)
	}
	return res, err
}

// Watch's done is told each replayed batch with the block that first
// committed it, as a committed batch, not 0 as a refused one.
func TestOutboxLostAckAppliedOnce(t *testing.T) {
	var la *lossyAck
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer { la = &lossyAck{Client: c}; return la },
		ledger.OutboxOptions{MaxBatch: 500, MinBackoff: time.Millisecond})
	defer n.close()
	var mu sync.Mutex
	blocks := map[string]uint64{}
	if err := n.ob.Watch(func([]ledger.StatusChange) {}, func(_ []ledger.StatusChange, batch string, block uint64) {
		mu.Lock()
		blocks[batch] = block
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	stop := n.run(t)
	defer stop()
	for i := 0; i < 4; i++ {
		if err := n.ob.Anchor(context.Background(), ledgertest.SeqChanges(ledgertest.ListID("A"), i*500, 500)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.ob.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, ledgertest.Anchored(t, n.l), ledgertest.ListID("A"), 2000)
	st := n.ob.Stats()
	if la.fails.Load() != 4 || st.Replayed != 4 || st.Retries != 4 {
		t.Errorf("lost acks %d, stats %+v", la.fails.Load(), st)
	}
	committed := committedBatches(t, n.l)
	mu.Lock()
	defer mu.Unlock()
	if len(committed) != 4 || !maps.Equal(blocks, committed) {
		t.Errorf("done was told the replayed batches' blocks %v, want the chain's %v", blocks, committed)
	}
}

// TestOutboxDeadBatch: a batch the chain refuses for good (another batch
// holds its ID) is set aside, not retried forever, and the rest flows.
// Watch's done is told each batch with its ID, and the block that
// committed it (0 for the dead one).
func TestOutboxDeadBatch(t *testing.T) {
	n := openNode(t, t.TempDir(), nil, ledger.OutboxOptions{MaxBatch: 100})
	defer n.close()
	squatter, _ := chaincode.NewBatchInput(n.ob.NodeID()+"-1", ledgertest.SeqChanges(ledgertest.ListID("other"), 0, 1))
	if _, err := (ledger.Client{L: n.l}).AnchorBatch(context.Background(), squatter); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reported []ledger.StatusChange
	blocks := map[string]uint64{}
	if err := n.ob.Watch(func([]ledger.StatusChange) {}, func(cs []ledger.StatusChange, batch string, block uint64) {
		mu.Lock()
		reported = append(reported, cs...)
		blocks[batch] = block
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	stop := n.run(t)
	defer stop()
	if err := n.ob.Anchor(context.Background(), ledgertest.SeqChanges(ledgertest.ListID("D"), 0, 150)); err != nil {
		t.Fatal(err)
	}
	if err := n.ob.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	dead, err := n.ob.DeadBatches()
	if err != nil || len(dead) != 1 || dead[0].ID != n.ob.NodeID()+"-1" || !strings.Contains(dead[0].Reason, "different batch") ||
		!slices.Equal(dead[0].Changes, ledgertest.SeqChanges(ledgertest.ListID("D"), 0, 100)) {
		t.Fatalf("dead batches: %+v %v", dead, err)
	}
	if st := n.ob.Stats(); st.Dead != 1 || st.CommittedChanges != 50 {
		t.Errorf("stats %+v", st)
	}
	// Watch's done is told of every change, committed or dead, once.
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(reported, func(a, b ledger.StatusChange) int { return cmp.Compare(a.Index, b.Index) })
	if !slices.Equal(reported, ledgertest.SeqChanges(ledgertest.ListID("D"), 0, 150)) {
		t.Errorf("done was told %d changes, want the 150 anchored", len(reported))
	}
	committed := committedBatches(t, n.l)
	want := map[string]uint64{n.ob.NodeID() + "-1": 0, n.ob.NodeID() + "-2": committed[n.ob.NodeID()+"-2"]}
	if want[n.ob.NodeID()+"-2"] == 0 || !maps.Equal(blocks, want) {
		t.Errorf("done was told the batches' blocks %v, want %v (the chain's %v)", blocks, want, committed)
	}
}

func TestOutboxHeads(t *testing.T) {
	n := openNode(t, t.TempDir(), nil, ledger.OutboxOptions{})
	defer n.close()
	ctx := context.Background()
	d := func(s string) string { return chaincode.ListDigest([]byte(s)) }
	// Queue v1 and v3 (v3 replaces v1 while waiting), then v2 (older: ignored).
	for _, v := range []uint64{1, 3, 2} {
		if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "00000011aaaaaaaa", Version: v, Digest: d(fmt.Sprint(v))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "00000012aaaaaaaa", Version: 1, Digest: "xx"}}); !errors.Is(err, chaincode.ErrInvalid) {
		t.Errorf("bad digest: %v", err)
	}
	stop := n.run(t)
	defer stop()
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := (ledger.Client{L: n.l}).StatusHead(ctx, ledgertest.RegionA, "00000011aaaaaaaa")
	if err != nil || h.Version != 3 || h.Digest != d("3") {
		t.Fatalf("head %+v %v", h, err)
	}
	// A head older than the chain's is refused by the chain and dropped.
	if err := n.ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: "00000011aaaaaaaa", Version: 2, Digest: d("2")}, {List: "00000013aaaaaaaa", Version: 1, Digest: d("k")}}); err != nil {
		t.Fatal(err)
	}
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if k, err := (ledger.Client{L: n.l}).StatusHead(ctx, ledgertest.RegionA, "00000013aaaaaaaa"); err != nil || k.Version != 1 {
		t.Errorf("K next to a stale head: %+v %v", k, err)
	}
	if st := n.ob.Stats(); st.HeadsPending != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestOutboxSIGKILL runs a node in a child process that accepts changes
// as fast as it can, kills it with SIGKILL mid-batch, restarts on the same
// data directory and checks the chain: every change the child reported as
// accepted is anchored, and no change is anchored twice.
func TestOutboxSIGKILL(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	dir := t.TempDir()
	outstanding := 0
	defer func() {
		if outstanding == 0 {
			t.Error("the child was never killed mid-batch: no frozen batch was left to send")
		}
	}()
	for round := 0; round < 2; round++ {
		acked := -1
		env := []string{"TRUSTID_OUTBOX_CHILD=" + dir, "TRUSTID_OUTBOX_CHILD_FROM=" + strconv.Itoa(round*1_000_000)}
		testenv.KillChild(t, "TestOutboxChild", env, func(v string) bool {
			acked, _ = strconv.Atoi(v)
			return acked < 30_000+round*7_000
		})
		if acked < 0 {
			t.Fatal("child accepted nothing")
		}
		func() {
			n := openNode(t, dir, nil, ledger.OutboxOptions{MaxBatch: 2000})
			defer n.close()
			st := n.ob.Stats()
			t.Logf("round %d: child killed after %d accepted changes; left %d pending changes and %d frozen batches", round, acked, st.Pending, st.Frozen)
			outstanding += st.Frozen
			stop := n.run(t)
			defer stop()
			if err := n.ob.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			counts := ledgertest.Anchored(t, n.l)
			for c, k := range counts {
				if k != 1 {
					t.Fatalf("%v anchored %d times", c, k)
				}
			}
			t.Logf("round %d: after restart %+v", round, n.ob.Stats())
			for i := 0; i < acked; i++ {
				if counts[ledger.StatusChange{List: ledgertest.ListID("K"), Index: uint64(round*1_000_000 + i), Status: 1}] != 1 {
					t.Fatalf("round %d: accepted change %d lost", round, i)
				}
			}
			if err := n.l.Verify(); err != nil {
				t.Fatal(err)
			}
		}()
	}
}

type slowAck struct{ ledger.Client }

func (s slowAck) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	res, err := s.Client.AnchorBatch(ctx, in)
	time.Sleep(30 * time.Millisecond)
	return res, err
}

// TestOutboxChild is the child of TestOutboxSIGKILL (the Fabric one is in
// package ledger/fabric).
func TestOutboxChild(t *testing.T) {
	dir := os.Getenv("TRUSTID_OUTBOX_CHILD")
	if dir == "" {
		t.Skip("run by TestOutboxSIGKILL")
	}
	from, _ := strconv.Atoi(os.Getenv("TRUSTID_OUTBOX_CHILD_FROM"))
	// Each commit is acknowledged 30 ms late, so the kill usually lands
	// between a batch's commit and its removal from the outbox.
	n := openNode(t, dir, func(c ledger.Client) ledger.BatchAnchorer { return slowAck{c} },
		ledger.OutboxOptions{MaxBatch: 2000, Window: 5 * time.Millisecond})
	n.run(t)
	for i := 0; ; i += 500 {
		if err := n.ob.Anchor(context.Background(), ledgertest.SeqChanges(ledgertest.ListID("K"), from+i, 500)); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("acked %d\n", i+500)
	}
}

// BenchmarkOutboxEmbedded measures status changes anchored per second on
// the embedded ledger, end to end: Anchor (fsync) by 4 writers in chunks of
// 1,000, batching, Merkle roots, the contract, the block log, and Flush.
func BenchmarkOutboxEmbedded(b *testing.B) {
	n := openNode(b, b.TempDir(), nil, ledger.OutboxOptions{MaxBatch: 10000, Window: 20 * time.Millisecond})
	defer n.close()
	stop := n.run(b)
	defer stop()
	ctx := context.Background()
	const chunk = 1000
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				if err := n.ob.Anchor(ctx, ledgertest.SeqChanges("00000001aaaaaaaa", i*chunk, chunk)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := n.ob.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.ReportMetric(float64(b.N*chunk)/el.Seconds(), "changes/s")
	b.ReportMetric(float64(el.Nanoseconds())/float64(b.N*chunk), "ns/change")
}

// firstTryFails wraps the real chain client: the first submission of the
// outbox's first batch (ID "<node>-1") fails as a transient ledger error
// would (a peer timeout, an endorsement mismatch), and is retried by the
// outbox after its backoff; every other submission goes through.
type firstTryFails struct {
	ledger.Client
	failed   atomic.Bool
	attempts chan string
}

func (f *firstTryFails) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	select {
	case f.attempts <- in.ID:
	default:
	}
	if strings.HasSuffix(in.ID, "-1") && f.failed.CompareAndSwap(false, true) {
		return chaincode.BatchResult{}, errInjected
	}
	return f.Client.AnchorBatch(ctx, in)
}

// chainOrderOf returns the statuses the chain's batches hold for one
// entry, in commit order.
func chainOrderOf(t *testing.T, l *embedded.Ledger, list string, index uint64) []uint8 {
	t.Helper()
	var out []uint8
	err := l.Blocks(0, func(b embedded.Block) error {
		if b.Event != chaincode.EventStatusBatch {
			return nil
		}
		var bt chaincode.Batch
		if err := json.Unmarshal(b.Payload, &bt); err != nil {
			return err
		}
		cs, err := chaincode.DecodeBatch(bt)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.List == list && c.Index == index {
				out = append(out, c.Status)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOutboxKeepsOrderOfOneEntry: an issuer reinstates a suspended entry (token status 0) and, a moment later,
// suspends it again (2); both calls were acknowledged in that order. The
// first change's batch meets one transient failure and is retried after
// the backoff, while the second batch, sent concurrently (Concurrency 4),
// commits at once. Every instance materializes the list from the chain in
// commit order (statuslist.Shared.ApplyEvent: "the later one wins"), so
// the entry ends valid: the suspension is lost. The outbox must not let a
// later batch overtake an earlier one that changes the same entry.
func TestOutboxKeepsOrderOfOneEntry(t *testing.T) {
	var chain *firstTryFails
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
		chain = &firstTryFails{Client: c, attempts: make(chan string, 16)}
		return chain
	}, ledger.OutboxOptions{Window: 5 * time.Millisecond, MinBackoff: 300 * time.Millisecond})
	defer n.close()
	stop := n.run(t)
	defer stop()
	ctx := context.Background()
	const list = "00000001aaaaaaaa"
	if err := n.ob.Anchor(ctx, []ledger.StatusChange{{List: list, Index: 7, Status: 0}}); err != nil {
		t.Fatal(err)
	}
	<-chain.attempts // the first batch was sent (and failed)
	if err := n.ob.Anchor(ctx, []ledger.StatusChange{{List: list, Index: 7, Status: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := chainOrderOf(t, n.l, list, 7)
	if len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Fatalf("the chain holds the entry's changes in the order %v, want [0 2] (the order Anchor accepted them): the last status on the chain is %v, not the suspension the issuer made last", got, got[len(got)-1])
	}
}

// gatedChain holds the submissions of the outbox's batch ID "<node>-<n>"
// (n < 10) until release is closed (or the send is stopped), and records
// every submission.
type gatedChain struct {
	ledger.Client
	n       string
	held    chan struct{} // closed at the gated batch's first submission
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	sent    []string // batch sequence numbers, in the order submitted
}

func newGatedChain(c ledger.Client, n string) *gatedChain {
	return &gatedChain{Client: c, n: n, held: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedChain) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	seq := in.ID[strings.LastIndexByte(in.ID, '-')+1:]
	g.mu.Lock()
	g.sent = append(g.sent, seq)
	g.mu.Unlock()
	if seq == g.n {
		g.once.Do(func() { close(g.held) })
		select {
		case <-g.release:
		case <-ctx.Done():
			return chaincode.BatchResult{}, ctx.Err()
		}
	}
	return g.Client.AnchorBatch(ctx, in)
}

func (g *gatedChain) submitted() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sent)
}

// waitStats polls the outbox's stats until ok holds (5 s at most).
func waitStats(t *testing.T, ob *ledger.Outbox, what string, ok func(ledger.OutboxStats) bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(ob.Stats()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, ob.Stats())
		}
	}
}

// TestOutboxOrdersOnlyOverlappingBatches: while a batch's transaction
// is held, a later batch of other entries commits beside it, and a later
// batch that changes one of its entries waits for it.
func TestOutboxOrdersOnlyOverlappingBatches(t *testing.T) {
	var chain *gatedChain
	n := openNode(t, t.TempDir(), func(c ledger.Client) ledger.BatchAnchorer {
		chain = newGatedChain(c, "1")
		return chain
	}, ledger.OutboxOptions{Window: 5 * time.Millisecond})
	defer n.close()
	stop := n.run(t)
	defer stop()
	ctx := context.Background()
	const list = "00000001aaaaaaaa"
	anchor := func(index uint64, status uint8) {
		t.Helper()
		if err := n.ob.Anchor(ctx, []ledger.StatusChange{{List: list, Index: index, Status: status}}); err != nil {
			t.Fatal(err)
		}
	}
	anchor(7, 0)
	<-chain.held
	anchor(8, 1) // another entry: goes beside batch 1
	waitStats(t, n.ob, "batch 2 beside the held batch 1", func(s ledger.OutboxStats) bool { return s.CommittedBatches == 1 })
	anchor(7, 2) // batch 1's entry: waits for it
	waitStats(t, n.ob, "batch 3 frozen", func(s ledger.OutboxStats) bool { return s.Frozen == 2 })
	time.Sleep(100 * time.Millisecond)
	if got := chain.submitted(); slices.Contains(got, "3") {
		t.Fatalf("batch 3 was submitted while batch 1, which changes the same entry, was held: %v", got)
	}
	close(chain.release)
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := chainOrderOf(t, n.l, list, 7); !slices.Equal(got, []uint8{0, 2}) {
		t.Fatalf("entry 7 on the chain: %v, want [0 2]", got)
	}
	if got := chain.submitted(); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Errorf("submissions %v, want [1 2 3]", got)
	}
}

// downChain fails every batch transaction, as a ledger that is down.
type downChain struct{ ledger.Client }

func (downChain) AnchorBatch(context.Context, chaincode.BatchInput) (chaincode.BatchResult, error) {
	return chaincode.BatchResult{}, errInjected
}

// slowFirst delays the first submission of the outbox's batch "<node>-1".
type slowFirst struct {
	ledger.Client
	once sync.Once
}

func (s *slowFirst) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	if strings.HasSuffix(in.ID, "-1") {
		s.once.Do(func() { time.Sleep(300 * time.Millisecond) })
	}
	return s.Client.AnchorBatch(ctx, in)
}

// TestOutboxKeepsOrderAfterOutageAndRestart: two batches changing one
// entry are frozen while the ledger is down, and the node restarts
// before it is back. The restarted outbox resends them in the order they
// were accepted, though the first one's transaction is slow.
func TestOutboxKeepsOrderAfterOutageAndRestart(t *testing.T) {
	dir := t.TempDir()
	const list = "00000001aaaaaaaa"
	ctx := context.Background()
	n := openNode(t, dir, func(c ledger.Client) ledger.BatchAnchorer { return downChain{c} },
		ledger.OutboxOptions{Window: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	stop := n.run(t)
	for i, status := range []uint8{0, 2} {
		if err := n.ob.Anchor(ctx, []ledger.StatusChange{{List: list, Index: 7, Status: status}}); err != nil {
			t.Fatal(err)
		}
		waitStats(t, n.ob, "frozen while the ledger is down", func(s ledger.OutboxStats) bool { return s.Frozen == i+1 })
	}
	stop()
	n.close()

	n = openNode(t, dir, func(c ledger.Client) ledger.BatchAnchorer { return &slowFirst{Client: c} }, ledger.OutboxOptions{})
	defer n.close()
	if st := n.ob.Stats(); st.Frozen != 2 {
		t.Fatalf("after restart: %+v", st)
	}
	stop = n.run(t)
	defer stop()
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := chainOrderOf(t, n.l, list, 7); !slices.Equal(got, []uint8{0, 2}) {
		t.Fatalf("entry 7 on the chain: %v, want [0 2]", got)
	}
}

// txBlockFails is a ledger whose TxBlock answers err.
type txBlockFails struct {
	ledger.Ledger
	err error
}

func (l txBlockFails) TxBlock(context.Context, string) (uint64, error) { return 0, l.err }

// TestAnchorBatchReplayBlockUnknown: a replay whose transaction the
// ledger knows no block of (a Fabric peer started from a later snapshot)
// is done with block 0, as before replays told their block, not sent
// again for ever; one the ledger cannot answer about now is unavailable,
// to be sent again.
func TestAnchorBatchReplayBlockUnknown(t *testing.T) {
	n := openNode(t, t.TempDir(), nil, ledger.OutboxOptions{})
	defer n.close()
	ctx := context.Background()
	in, err := chaincode.NewBatchInput(n.ob.NodeID()+"-1", ledgertest.SeqChanges(ledgertest.ListID("A"), 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (ledger.Client{L: n.l}).AnchorBatch(ctx, in); err != nil {
		t.Fatal(err)
	}
	unknown := ledger.Client{L: txBlockFails{Ledger: n.l, err: fmt.Errorf("%w: no block", chaincode.ErrNotFound)}}
	if res, err := unknown.AnchorBatch(ctx, in); err != nil || !res.Replayed || res.Block != 0 {
		t.Errorf("replay whose block is unknown: %+v, %v; want replayed, block 0", res, err)
	}
	down := ledger.Client{L: txBlockFails{Ledger: n.l, err: fmt.Errorf("%w: peer down", ledger.ErrUnavailable)}}
	if _, err := down.AnchorBatch(ctx, in); !errors.Is(err, ledger.ErrUnavailable) {
		t.Errorf("replay whose block cannot be read now: %v, want ledger.ErrUnavailable", err)
	}
}

// committedBatches is the block of each status batch of region A on l.
func committedBatches(t *testing.T, l *embedded.Ledger) map[string]uint64 {
	committed := map[string]uint64{}
	if err := l.Blocks(0, func(b embedded.Block) error {
		var batch chaincode.Batch
		if b.Event == chaincode.EventStatusBatch && json.Unmarshal(b.Payload, &batch) == nil && batch.Region == ledgertest.RegionA {
			committed[batch.ID] = b.Number
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return committed
}
