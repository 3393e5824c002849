package ledger_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// segmentClock is a clock the test moves: each reading is 1 s on.
type segmentClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *segmentClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func (c *segmentClock) skip(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ledgerDown closes the embedded ledger of segmentedLog (both regions'
// handles): its calls fail as a ledger that does not answer.
var ledgerDown func()

// segmentedLog opens a log with segments of 2 KiB (about 8 entries) on
// a fresh embedded ledger.
func segmentedLog(t *testing.T) (dir string, a *ledger.AuditLog, c ledger.Client, clock *segmentClock, reopen func() *ledger.AuditLog) {
	t.Helper()
	return segmentedLogOf(t, 2<<10)
}

// segmentedLogOf is segmentedLog with segments of size bytes.
func segmentedLogOf(t *testing.T, size int64) (dir string, a *ledger.AuditLog, c ledger.Client, clock *segmentClock, reopen func() *ledger.AuditLog) {
	t.Helper()
	dir = t.TempDir()
	l, lb := embeddedtest.Open(t, filepath.Join(dir, "ledger.db"))
	ledgertest.EnsureConsortium(context.Background(), t, l, lb)
	ledgerDown = func() { lb.Close(); l.Close() }
	clock = &segmentClock{now: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
	reopen = func() *ledger.AuditLog {
		t.Helper()
		a, err := ledger.OpenAuditLog(filepath.Join(dir, "audit.log"), ledger.AuditOptions{Node: "node-a", Now: clock.Now, SegmentSize: size})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	return dir, reopen(), ledger.Client{L: l}, clock, reopen
}

// files returns the names in dir that begin with audit.log, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "audit.log") {
			out = append(out, e.Name())
		}
	}
	// Segments in order: shorter names first (audit.log.9-16 before
	// audit.log.17-24).
	slices.SortFunc(out, func(x, y string) int { return cmp.Or(cmp.Compare(len(x), len(y)), cmp.Compare(x, y)) })
	return out
}

// fillAndAnchor appends until the active segment is past 2 KiB, then
// anchors (and so rotates).
func fillAndAnchor(t *testing.T, dir string, a *ledger.AuditLog, c ledger.Client) {
	t.Helper()
	for {
		st, err := os.Stat(filepath.Join(dir, "audit.log"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 2<<10 {
			break
		}
		appendN(t, a, 1)
	}
	if _, _, err := a.Anchor(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// TestAuditLogRotatesAtSize: past the segment size the log is rotated
// only once its head is anchored; the new audit.log begins with
// log_continued naming the sealed segment's last entry, and the whole
// log verifies and reopens.
func TestAuditLogRotatesAtSize(t *testing.T) {
	ctx := context.Background()
	dir, a, c, _, reopen := segmentedLog(t)
	appendN(t, a, 20) // past 2 KiB, not anchored
	if got := files(t, dir); !slices.Equal(got, []string{"audit.log"}) {
		t.Fatalf("rotated before an anchor: %v", got)
	}
	if _, _, err := a.Anchor(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"audit.log", "audit.log.1-21"}) {
		t.Fatalf("after the anchor: %v", got)
	}
	data, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	var first ledger.AuditEntry
	if err := json.Unmarshal(bytes.SplitN(data, []byte("\n"), 2)[0], &first); err != nil {
		t.Fatal(err)
	}
	an, _ := c.AuditAnchor(ctx, ledgertest.RegionA, "node-a")
	if first.Seq != 22 || first.Kind != ledger.AuditLogContinued || first.Prev != an.Head || an.Seq != 21 ||
		first.Details["node"] != "node-a" || first.Details["from_seq"] != "21" || first.Details["from_hash"] != an.Head {
		t.Fatalf("first entry of the new segment: %+v (anchor %+v)", first, an)
	}
	if seq, _ := a.Head(); seq != 22 {
		t.Fatalf("head after rotation: %d", seq)
	}
	appendN(t, a, 3)
	a.Close()
	b := reopen()
	if seq, _ := b.Head(); seq != 25 {
		t.Fatalf("reopened: head %d", seq)
	}
	sum, err := ledger.VerifyAuditLog(filepath.Join(dir, "audit.log"), 21)
	if err != nil || sum.First != 1 || sum.Segments != 2 || sum.Seq != 25 || sum.HeadAt != an.Head {
		t.Fatalf("verify: %+v %v", sum, err)
	}
	if _, sent, err := b.Anchor(ctx, c); !sent || err != nil {
		t.Fatalf("anchor after reopen: %v %v", sent, err)
	}
}

// TestAuditLogIdleDoesNotRotate: under a segment size smaller than one
// entry, an anchor seals the segment holding entries past its first, but
// an idle log, whose audit.log holds its log_continued alone, is anchored
// once and then neither anchored nor rotated again; the next entry
// appended is sealed at the next anchor.
func TestAuditLogIdleDoesNotRotate(t *testing.T) {
	ctx := context.Background()
	dir, a, c, _, _ := segmentedLogOf(t, 1)
	appendN(t, a, 1)
	if _, _, err := a.Anchor(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"audit.log", "audit.log.1-2"}) {
		t.Fatalf("after the first anchor: %v", got)
	}
	for i, want := range []bool{true, false, false} {
		if _, sent, err := a.Anchor(ctx, c); sent != want || err != nil {
			t.Fatalf("idle anchor %d: sent %v, want %v (%v)", i, sent, want, err)
		}
		if got := files(t, dir); !slices.Equal(got, []string{"audit.log", "audit.log.1-2"}) {
			t.Fatalf("idle anchor %d rotated: %v", i, got)
		}
	}
	appendN(t, a, 1)
	if _, _, err := a.Anchor(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"audit.log", "audit.log.1-2", "audit.log.3-4"}) {
		t.Fatalf("after an entry: %v", got)
	}
	if sum, err := ledger.VerifyAuditLog(filepath.Join(dir, "audit.log"), 4); err != nil || sum.Seq != 5 || sum.Segments != 3 {
		t.Fatalf("verify: %+v %v", sum, err)
	}
}

// TestAuditLogRotationUnderAppends: rotations while appends run lose,
// duplicate and fork nothing: every acknowledged entry is in exactly one
// segment, and the segments chain. VerifyAuditLog meanwhile (as
// audit-verify beside a running node) finds the log sound each time.
func TestAuditLogRotationUnderAppends(t *testing.T) {
	ctx := context.Background()
	dir, a, c, _, _ := segmentedLog(t)
	const writers, each = 4, 100
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := a.Append(ledger.AuditEnrollment, "", map[string]string{"level": "L3"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	verified := make(chan int)
	go func() {
		n := 0
		defer func() { verified <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := ledger.VerifyAuditLog(filepath.Join(dir, "audit.log"), 0); err != nil {
				t.Errorf("verify while rotating: %v", err)
				return
			}
			n++
		}
	}()
	rotations := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		if _, _, err := a.Anchor(ctx, c); err != nil {
			t.Fatal(err)
		}
		rotations = len(files(t, dir)) - 1
	}
	t.Logf("%d verifications meanwhile", <-verified)
	sum, err := ledger.VerifyAuditLog(filepath.Join(dir, "audit.log"), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Entry 1 (log_created), the appends, one log_continued a rotation.
	if rotations < 2 || sum.Segments != rotations+1 || sum.Seq != uint64(1+writers*each+rotations) {
		t.Fatalf("%d rotations: %+v", rotations, sum)
	}
}

// TestAuditLogPruneOnlyAnchored: pruning deletes a sealed segment only
// once its last entry is older than the retention and the ledger's
// anchor is past it; the segment holding the anchor stays, a ledger that
// does not answer prunes nothing, and what remains verifies, reopens and
// anchors.
func TestAuditLogPruneOnlyAnchored(t *testing.T) {
	ctx := context.Background()
	dir, a, c, clock, reopen := segmentedLog(t)
	const retention = 180 * 24 * time.Hour
	fillAndAnchor(t, dir, a, c) // audit.log.1-N sealed, anchored at N
	fillAndAnchor(t, dir, a, c) // a second segment, anchored at its end
	segs := files(t, dir)[1:]
	if len(segs) != 2 {
		t.Fatalf("segments: %v", segs)
	}
	if gone, err := a.Prune(ctx, c, retention); err != nil || len(gone) != 0 {
		t.Fatalf("pruned segments younger than the retention: %v %v", gone, err)
	}
	clock.skip(retention)
	// The ledger's anchor is the second segment's last entry: that
	// segment holds it and stays; the first goes.
	gone, err := a.Prune(ctx, c, retention)
	if err != nil || len(gone) != 1 || filepath.Base(gone[0]) != segs[0] {
		t.Fatalf("pruned %v %v, want %s", gone, err, segs[0])
	}
	if got := files(t, dir); !slices.Equal(got, []string{"audit.log", segs[1]}) {
		t.Fatalf("left: %v", got)
	}
	an, _ := c.AuditAnchor(ctx, ledgertest.RegionA, "node-a")
	sum, err := ledger.VerifyAuditLog(filepath.Join(dir, "audit.log"), an.Seq)
	if err != nil || sum.First == 1 || sum.Segments != 2 {
		t.Fatalf("verify after pruning: %+v %v", sum, err)
	}
	if err := ledger.CheckAnchor(sum, an); err != nil {
		t.Fatal(err)
	}

	// Anchored past the second segment (its log_continued), but the
	// ledger is down: nothing is pruned.
	appendN(t, a, 1)
	if _, _, err := a.Anchor(ctx, c); err != nil {
		t.Fatal(err)
	}
	clock.skip(retention)
	ledgerDown()
	if gone, err := a.Prune(ctx, c, retention); err == nil || len(gone) != 0 {
		t.Fatalf("pruned with the ledger down: %v %v", gone, err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"audit.log", segs[1]}) {
		t.Fatalf("left with the ledger down: %v", got)
	}

	// A restart after pruning: the log opens and extends.
	seq, head := a.Head()
	a.Close()
	b := reopen()
	if s, h := b.Head(); s != seq || h != head {
		t.Fatalf("reopened at %d, was %d", s, seq)
	}
	appendN(t, b, 1)
	if _, err := ledger.VerifyAuditLog(filepath.Join(dir, "audit.log"), 0); err != nil {
		t.Fatal(err)
	}
}

// TestAuditLogPruneNeedsOwnAnchor: an AuditLog that has not anchored
// yet (a restart, the ledger past a copy of it) prunes nothing, though
// the ledger's anchor is past its segments.
func TestAuditLogPruneNeedsOwnAnchor(t *testing.T) {
	ctx := context.Background()
	dir, a, c, clock, reopen := segmentedLog(t)
	fillAndAnchor(t, dir, a, c)
	appendN(t, a, 1)
	if _, _, err := a.Anchor(ctx, c); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b := reopen()
	clock.skip(time.Hour)
	if gone, err := b.Prune(ctx, c, time.Minute); err != nil || len(gone) != 0 {
		t.Fatalf("pruned before anchoring: %v %v", gone, err)
	}
	appendN(t, b, 1)
	if _, _, err := b.Anchor(ctx, c); err != nil {
		t.Fatal(err)
	}
	if gone, err := b.Prune(ctx, c, time.Minute); err != nil || len(gone) != 1 {
		t.Fatalf("after anchoring: %v %v", gone, err)
	}
}

// TestAuditLogVerifyNamesBrokenSegments: a sealed segment edited, one
// missing between two that remain, or an audit.log that does not
// continue the newest sealed segment is corrupt, named; an audit.log
// emptied or removed beside sealed segments is refused, not begun anew.
func TestAuditLogVerifyNamesBrokenSegments(t *testing.T) {
	for name, tc := range map[string]struct {
		edit   func(t *testing.T, dir string, segs []string)
		open   bool   // OpenAuditLog refuses it too (it reads only the newest segment)
		want   string // in VerifyAuditLog's error (and OpenAuditLog's)
		opened string // in OpenAuditLog's error, if not want
	}{
		"edited": {func(t *testing.T, dir string, segs []string) {
			p := filepath.Join(dir, segs[0])
			data, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(data, []byte(`"L3"`), []byte(`"L4"`), 1), 0o600)
		}, false, "line 2: hash does not match", ""},
		"middle missing": {func(t *testing.T, dir string, segs []string) {
			os.Remove(filepath.Join(dir, segs[1]))
		}, false, "entries missing", ""},
		"newest missing": {func(t *testing.T, dir string, segs []string) {
			os.Remove(filepath.Join(dir, segs[2]))
		}, true, "begins at", ""},
		"renamed": {func(t *testing.T, dir string, segs []string) {
			os.Rename(filepath.Join(dir, segs[0]), filepath.Join(dir, "audit.log.1-3"))
		}, false, "not what its name says", ""},
		"active emptied": {func(t *testing.T, dir string, segs []string) {
			os.WriteFile(filepath.Join(dir, "audit.log"), nil, 0o600)
		}, true, "line 1: no complete entry", "holds no entry"},
		"active removed": {func(t *testing.T, dir string, segs []string) {
			os.Remove(filepath.Join(dir, "audit.log"))
		}, true, "no such file", "holds no entry"},
	} {
		t.Run(name, func(t *testing.T) {
			dir, a, c, _, _ := segmentedLog(t)
			for i := 0; i < 3; i++ {
				fillAndAnchor(t, dir, a, c)
			}
			a.Close()
			segs := files(t, dir)[1:]
			if len(segs) != 3 {
				t.Fatalf("segments: %v", segs)
			}
			tc.edit(t, dir, segs)
			_, err := ledger.VerifyAuditLog(filepath.Join(dir, "audit.log"), 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("verify: %v, want %q", err, tc.want)
			}
			opened := cmp.Or(tc.opened, tc.want)
			_, err = ledger.OpenAuditLog(filepath.Join(dir, "audit.log"), ledger.AuditOptions{Node: "node-a"})
			if tc.open != (err != nil) || tc.open && (!errors.Is(err, ledger.ErrAuditCorrupt) || !strings.Contains(err.Error(), opened)) {
				t.Errorf("open: %v, want %q", err, opened)
			}
			if name == "active removed" && ledger.AuditLogExists(filepath.Join(dir, "audit.log")) {
				t.Error("open refused, but made an empty audit.log")
			}
		})
	}
}

// TestAuditLogCrashMidRotation: a rotation cut short by a crash is
// finished (or undone) by the next open: the new segment written but the
// active one not sealed yet is dropped; the active one sealed but the new
// one not in place yet is put in place. Either way nothing is lost and
// the chain verifies.
func TestAuditLogCrashMidRotation(t *testing.T) {
	t.Run("before sealing", func(t *testing.T) {
		dir, a, c, _, reopen := segmentedLog(t)
		appendN(t, a, 20)
		before, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
		seq, head := a.Head()
		fillAndAnchor(t, dir, a, c)
		a.Close()
		next, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
		// Back to the moment audit.log.next was written: the active
		// segment whole, not sealed.
		os.Remove(filepath.Join(dir, "audit.log.1-21"))
		os.WriteFile(filepath.Join(dir, "audit.log"), before, 0o600)
		os.WriteFile(filepath.Join(dir, "audit.log.next"), next, 0o600)
		os.WriteFile(filepath.Join(dir, ".audit.log.next.123.tmp"), next[:10], 0o600)
		b := reopen()
		if s, h := b.Head(); s != seq || h != head {
			t.Fatalf("head %d, want %d", s, seq)
		}
		if got := files(t, dir); !slices.Equal(got, []string{"audit.log"}) {
			t.Fatalf("left: %v", got)
		}
		if _, err := os.Stat(filepath.Join(dir, ".audit.log.next.123.tmp")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("temporary file left: %v", err)
		}
	})
	t.Run("after sealing", func(t *testing.T) {
		dir, a, c, _, reopen := segmentedLog(t)
		fillAndAnchor(t, dir, a, c)
		seq, head := a.Head()
		a.Close()
		// The moment after audit.log was sealed, before audit.log.next
		// took its name.
		if err := os.Rename(filepath.Join(dir, "audit.log"), filepath.Join(dir, "audit.log.next")); err != nil {
			t.Fatal(err)
		}
		b := reopen()
		if s, h := b.Head(); s != seq || h != head {
			t.Fatalf("head %d, want %d", s, seq)
		}
		appendN(t, b, 1)
		if got := files(t, dir); len(got) != 2 || got[0] != "audit.log" {
			t.Fatalf("files: %v", got)
		}
		if _, err := ledger.VerifyAuditLog(filepath.Join(dir, "audit.log"), 0); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuditLogVerifyDuringFirstRotation: VerifyAuditLog beside a node
// making its first rotation (no sealed segment yet when it lists them)
// reports the log from entry 1 whichever steps of the rotation happen
// between its listing of the segments and its reading of audit.log:
// audit.log.next written, audit.log sealed, audit.log.next renamed.
func TestAuditLogVerifyDuringFirstRotation(t *testing.T) {
	dir, a, c, _, _ := segmentedLog(t)
	fillAndAnchor(t, dir, a, c)
	a.Close()
	got := files(t, dir)
	if len(got) != 2 {
		t.Fatalf("files after the rotation: %v", got)
	}
	sealedName := got[1]
	sealed, err := os.ReadFile(filepath.Join(dir, sealedName))
	if err != nil {
		t.Fatal(err)
	}
	next, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	whole, err := ledger.VerifyAuditLog(filepath.Join(dir, "audit.log"), 0)
	if err != nil || whole.First != 1 || whole.Segments != 2 {
		t.Fatalf("rotated log: %+v, %v", whole, err)
	}
	for from := 0; from <= 3; from++ {
		for to := from; to <= 3; to++ {
			d := t.TempDir()
			path := filepath.Join(d, "audit.log")
			steps := []func() error{
				func() error { return os.WriteFile(path, sealed, 0o600) },
				func() error { return os.WriteFile(path+".next", next, 0o600) },
				func() error { return os.Rename(path, filepath.Join(d, sealedName)) },
				func() error { return os.Rename(path+".next", path) },
			}
			done := -1
			stepTo := func(n int) {
				for ; done < n; done++ {
					if err := steps[done+1](); err != nil {
						t.Fatal(err)
					}
				}
			}
			stepTo(from)
			calls := 0
			restore := ledger.SetAfterSegmentsListed(func() {
				if calls++; calls == 1 {
					stepTo(to)
				} else {
					stepTo(3)
				}
			})
			sum, err := ledger.VerifyAuditLog(path, 0)
			restore()
			// Read before it was sealed, audit.log is the whole log;
			// after, the sealed segment and audit.log are.
			wantSeq, wantSegments := whole.Seq-1, 1
			if to >= 2 {
				wantSeq, wantSegments = whole.Seq, 2
			}
			if err != nil || sum.First != 1 || sum.Seq != wantSeq || sum.Segments != wantSegments {
				t.Errorf("listed at step %d, audit.log read at step %d: %+v, %v; want entries 1 to %d in %d files", from, to, sum, err, wantSeq, wantSegments)
			}
		}
	}
}

// TestAuditLogVerifyRotatingOnEveryReading: a log caught mid-rotation
// (audit.log sealed, audit.log.next not renamed yet) on every one of
// VerifyAuditLog's readings is refused as a rotation in progress, to
// retry, not as corrupt or missing; audit.log gone without a rotation is
// refused as missing.
func TestAuditLogVerifyRotatingOnEveryReading(t *testing.T) {
	dir, a, _, _, _ := segmentedLog(t)
	appendN(t, a, 3)
	a.Close()
	path := filepath.Join(dir, "audit.log")
	for _, away := range []string{path + ".next", path + ".held"} {
		restore := ledger.SetAfterSegmentsListed(func() {
			if err := os.Rename(path, away); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		})
		_, err := ledger.VerifyAuditLog(path, 0)
		restore()
		rotating := errors.Is(err, ledger.ErrUnavailable) && strings.Contains(err.Error(), "rotation") && strings.Contains(err.Error(), "retry")
		if missing := errors.Is(err, os.ErrNotExist); rotating == missing || rotating != (away == path+".next") {
			t.Fatalf("audit.log renamed %s on every reading: %v", filepath.Base(away), err)
		}
		if err := os.Rename(away, path); err != nil {
			t.Fatal(err)
		}
	}
	if sum, err := ledger.VerifyAuditLog(path, 0); err != nil || sum.Seq != 4 {
		t.Fatalf("audit.log back: %+v, %v", sum, err)
	}
}

// TestAuditLogRestoredRotatedCopyNotAnchored: a copy of a rotated log
// (its segments and audit.log) put back after the log moved on and
// rotated again is refused by the anchor check once grown past the
// anchor, as an unrotated one is (TestAuditLogRestoredCopyNotAnchored).
func TestAuditLogRestoredRotatedCopyNotAnchored(t *testing.T) {
	ctx := context.Background()
	dir, a, c, _, reopen := segmentedLog(t)
	fillAndAnchor(t, dir, a, c)
	appendN(t, a, 2)
	backup := map[string][]byte{}
	for _, name := range files(t, dir) {
		backup[name], _ = os.ReadFile(filepath.Join(dir, name))
	}
	fillAndAnchor(t, dir, a, c)
	fillAndAnchor(t, dir, a, c)
	a.Close()
	anchored, _ := c.AuditAnchor(ctx, ledgertest.RegionA, "node-a")
	for _, name := range files(t, dir) {
		os.Remove(filepath.Join(dir, name))
	}
	for name, data := range backup {
		os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}
	b := reopen()
	for seq, _ := b.Head(); seq <= anchored.Seq; seq, _ = b.Head() {
		appendN(t, b, 1)
	}
	if _, _, err := b.Anchor(ctx, c); !errors.Is(err, ledger.ErrAuditAnchor) {
		t.Errorf("restored rotated copy grown past the anchor: %v, want ErrAuditAnchor", err)
	}
	if now, _ := c.AuditAnchor(ctx, ledgertest.RegionA, "node-a"); now != anchored {
		t.Errorf("anchor moved to the restored copy: %+v, was %+v", now, anchored)
	}
}

// TestAuditLogPruneRecordedOnTheLedger: before pruning deletes sealed
// segments the ledger records the log pruned through the last entry
// deleted (its seq and hash, the deleted entries' time range); the log
// left then checks against that record (CheckPruned). A segment deleted
// by hand after it makes the log begin later than recorded: CheckPruned
// names the entries missing, and the node prunes no more.
func TestAuditLogPruneRecordedOnTheLedger(t *testing.T) {
	ctx := context.Background()
	dir, a, c, clock, _ := segmentedLog(t)
	path := filepath.Join(dir, "audit.log")
	const retention = time.Hour
	for range 4 {
		fillAndAnchor(t, dir, a, c)
	}
	segs := files(t, dir)[1:] // four sealed; the anchor is the fourth's last entry
	var ends []uint64
	for _, s := range segs {
		var first, last uint64
		if _, err := fmt.Sscanf(strings.TrimPrefix(s, "audit.log."), "%d-%d", &first, &last); err != nil {
			t.Fatal(s, err)
		}
		ends = append(ends, last)
	}
	whole, err := ledger.VerifyAuditLog(path, ends[2])
	if err != nil {
		t.Fatal(err)
	}
	clock.skip(retention)
	gone, err := a.Prune(ctx, c, retention)
	if err != nil || len(gone) != 3 {
		t.Fatalf("pruned %v %v, want the three segments before the anchor's", gone, err)
	}
	an, err := c.AuditAnchor(ctx, ledgertest.RegionA, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	p := an.Pruned
	if p.Seq != ends[2] || p.Head != whole.HeadAt || p.From.IsZero() || !p.From.Before(p.To) || !p.To.Before(clock.Now().Add(-retention)) {
		t.Fatalf("pruning recorded: %+v, want through %d (%s)", p, ends[2], whole.HeadAt)
	}
	sum, err := ledger.VerifyAuditLog(path, an.Seq)
	if err != nil || sum.First != ends[2]+1 {
		t.Fatalf("left: %+v %v", sum, err)
	}
	if err := ledger.CheckPruned(sum, an); err != nil {
		t.Fatalf("a log pruned as recorded: %v", err)
	}

	// Two more segments; the older is deleted by hand, not pruned. The
	// log verifies as a chain, but begins later than the ledger says.
	fillAndAnchor(t, dir, a, c)
	fillAndAnchor(t, dir, a, c)
	left := files(t, dir)[1:]
	if err := os.Remove(filepath.Join(dir, left[0])); err != nil {
		t.Fatal(err)
	}
	an, _ = c.AuditAnchor(ctx, ledgertest.RegionA, "node-a")
	if sum, err = ledger.VerifyAuditLog(path, an.Seq); err != nil {
		t.Fatal(err)
	}
	err = ledger.CheckPruned(sum, an)
	if !errors.Is(err, ledger.ErrAuditAnchor) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a segment deleted early: %v, want %v naming the entries missing", err, ledger.ErrAuditAnchor)
	}
	clock.skip(retention)
	if gone, err := a.Prune(ctx, c, retention); !errors.Is(err, ledger.ErrAuditAnchor) || len(gone) != 0 {
		t.Fatalf("pruning a log missing segments: %v %v", gone, err)
	}
	if an2, _ := c.AuditAnchor(ctx, ledgertest.RegionA, "node-a"); an2.Pruned != an.Pruned {
		t.Fatalf("the record moved past the missing segment: %+v", an2.Pruned)
	}
}

// TestAuditLogPruneNotRecordedNotDeleted: a ledger that refuses the
// record of a pruning (a contract that predates it, or any failure to
// commit) leaves every segment in place.
func TestAuditLogPruneNotRecordedNotDeleted(t *testing.T) {
	ctx := context.Background()
	dir, a, c, clock, _ := segmentedLog(t)
	fillAndAnchor(t, dir, a, c)
	fillAndAnchor(t, dir, a, c)
	before := files(t, dir)
	clock.skip(time.Hour)
	refusing := ledger.Client{L: refusePrune{c.L}}
	if gone, err := a.Prune(ctx, refusing, time.Minute); err == nil || len(gone) != 0 {
		t.Fatalf("pruned without the record: %v %v", gone, err)
	}
	if got := files(t, dir); !slices.Equal(got, before) {
		t.Fatalf("left %v, want %v", got, before)
	}
}

// refusePrune is a ledger whose AnchorAudit refuses a pruning record as a
// contract from before it does (an unknown member).
type refusePrune struct{ ledger.Ledger }

func (l refusePrune) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	if fn == "AnchorAudit" && strings.Contains(strings.Join(args, ""), `"pruned"`) {
		return nil, 0, fmt.Errorf("%w: unknown member pruned", chaincode.ErrInvalid)
	}
	return l.Ledger.Submit(ctx, fn, args...)
}
