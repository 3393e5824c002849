package credentials

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSetStatusAnchor measures the API path of a status change,
// Issuer.SetStatus (suspend / reinstate, alternating, over 256 vc+jwt
// credentials sharing one suspension list), until it returns: the status
// store's atomic file replacement with its journal entry, then — with the
// ledger — the change and the list's new head on disk in the ledger
// outbox (bbolt, fsync). The outbox runs and commits to a real embedded
// ledger meanwhile, as in a node (200 ms window). "changes/s" is SetStatus
// calls per second of wall time; parallel runs 16 callers per core;
// "changes/batch" is how many changes each chain transaction carried.
func BenchmarkSetStatusAnchor(b *testing.B) {
	for _, anchored := range []bool{false, true} {
		for _, parallel := range []bool{false, true} {
			name := map[bool]string{false: "store-only", true: "store+outbox"}[anchored] + "/" +
				map[bool]string{false: "serial", true: "parallel"}[parallel]
			b.Run(name, func(b *testing.B) { benchSetStatus(b, anchored, parallel) })
		}
	}
}

func benchSetStatus(b *testing.B, anchored, parallel bool) {
	ctx := context.Background()
	n := newNode(b, testBase)
	var ch *chain
	if anchored {
		defer func(w time.Duration) { outboxWindow = w }(outboxWindow)
		outboxWindow = 200 * time.Millisecond // the node's default
		ch = openChain(b, b.TempDir(), false)
		registerRegion(b, ch.l, anchorRegion, n.issuer.DID(), testBase, n.keys)
		anchorIssuer(b, n, ch, testBase)
	}
	const creds = 256
	ids := make([]string, creds)
	for i := range ids {
		ids[i] = mustIssue(b, n, sampleCredential(), IssueOptions{}).ID
	}
	var next atomic.Int64
	op := func() {
		i := next.Add(1) - 1
		action := ActionSuspend
		if (i/creds)%2 == 1 {
			action = ActionReinstate
		}
		if err := n.issuer.SetStatus(ctx, ids[i%creds], action); err != nil {
			b.Error(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	stop := cpuMeter(b)
	if parallel {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op()
			}
		})
	} else {
		for b.Loop() {
			op()
		}
	}
	stop()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "changes/s")
	b.StopTimer()
	if anchored {
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := ch.ob.Flush(fctx); err != nil {
			b.Fatal(err)
		}
		st := ch.ob.Stats()
		if st.Dead != 0 {
			b.Fatalf("dead batches: %+v", st)
		}
		if st.CommittedBatches > 0 {
			b.ReportMetric(float64(st.CommittedChanges)/float64(st.CommittedBatches), "changes/batch")
		}
	}
}
