package ledger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/atomicfile"
)

// AuditLogContinued is the first entry of a segment after a rotation
// (AuditOptions.SegmentSize): its details name the node and the previous
// segment's last entry (from_seq, from_hash), which its prev is too.
const AuditLogContinued = "log_continued"

// auditSegment is a sealed segment of the log at path: the file
// path.<first>-<last>, holding entries first to last.
type auditSegment struct {
	path        string
	first, last uint64
}

// nextSuffix names the next active segment while a rotation writes it.
const nextSuffix = ".next"

// auditSegments returns the sealed segments of the log at path, oldest
// first. Other files beside it (an operator's copy, audit.log.next) are
// not segments.
func auditSegments(path string) ([]auditSegment, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
	}
	var segs []auditSegment
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), filepath.Base(path)+".")
		a, b, dash := strings.Cut(rest, "-")
		if !ok || !dash || !e.Type().IsRegular() {
			continue
		}
		first, err1 := strconv.ParseUint(a, 10, 64)
		last, err2 := strconv.ParseUint(b, 10, 64)
		if err1 != nil || err2 != nil || strconv.FormatUint(first, 10) != a || strconv.FormatUint(last, 10) != b || first == 0 || last < first {
			continue
		}
		segs = append(segs, auditSegment{path: filepath.Join(filepath.Dir(path), e.Name()), first: first, last: last})
	}
	slices.SortFunc(segs, func(x, y auditSegment) int { return compareUint(x.first, y.first) })
	return segs, nil
}

func compareUint(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// AuditLogExists reports whether a log is at path: the file, or the next
// segment of a rotation a crash cut short, which OpenAuditLog puts in
// its place.
func AuditLogExists(path string) bool {
	for _, p := range []string{path, path + nextSuffix} {
		if _, err := os.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

// finishRotation completes a rotation a crash interrupted (AuditLog.rotate):
// a next segment written while the active one is still in place is
// dropped (the rotation had not sealed it); one written after the active
// segment was sealed becomes the active segment.
func finishRotation(path string) error {
	next := path + nextSuffix
	if err := atomicfile.RemoveTemps(next); err != nil {
		return fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
	}
	if _, err := os.Lstat(next); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		err = os.Remove(next)
	case errors.Is(err, fs.ErrNotExist):
		err = os.Rename(next, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("%w: audit log: finish a rotation: %v", ErrUnavailable, err)
	}
	return nil
}

// syncDir makes the renames and removals in dir durable (Windows cannot
// sync a directory handle; there they are left to the file system).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// rotate seals the active segment when it is over the segment size and
// holds an entry past its first (a segment of its log_continued alone is
// not sealed again: under a segment size smaller than one entry, an idle
// log would else rotate at every anchor): the file is renamed
// path.<first>-<last> and a new one begins with a log_continued entry
// chained to its last entry. Crash-safe: the new segment is written whole
// as path.next first (finishRotation). a.mu is held.
func (a *AuditLog) rotate() error {
	if a.closed || a.segmentSize <= 0 || a.size <= a.segmentSize || a.seq == a.first {
		return nil
	}
	seq := a.seq + 1
	now, err := jsonTime(a.now())
	if err != nil {
		return err
	}
	body, err := auditBodyOf(AuditLogContinued, "", map[string]string{
		"node": a.node, "from_seq": strconv.FormatUint(a.seq, 10), "from_hash": a.head,
	})
	if err != nil {
		return err
	}
	line := appendAuditLine(nil, seq, now, body, a.head)
	next := a.path + nextSuffix
	if err := atomicfile.WriteFile(next, line, 0o600); err != nil {
		return fmt.Errorf("%w: audit log rotation: %v", ErrUnavailable, err)
	}
	sealed := fmt.Sprintf("%s.%d-%d", a.path, a.first, a.seq)
	if err := os.Rename(a.path, sealed); err != nil {
		os.Remove(next)
		return fmt.Errorf("%w: audit log rotation: %v", ErrUnavailable, err)
	}
	// Sealed: from here the old file takes no more entries. A failure
	// closes the log to appends; the next open finishes the rotation.
	fail := func(err error) error {
		err = fmt.Errorf("%w: audit log rotation: %w", ErrUnavailable, err)
		a.closed, a.broken = true, err
		return err
	}
	if err := os.Rename(next, a.path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(a.path)); err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(a.path, os.O_RDWR, 0)
	if err == nil {
		_, err = f.Seek(0, io.SeekEnd)
	}
	if err != nil {
		return fail(err)
	}
	a.f.Close()
	a.f, a.size, a.first, a.seq = f, int64(len(line)), seq, seq
	a.head = string(line[len(line)-3-64 : len(line)-3])
	return nil
}

// checkSegmentLink checks, at open, that the active segment (whose first
// entry is first, chained to prev; 0 when it has none) continues the
// newest sealed segment, if any remains: it must end at first-1 with the
// hash prev. An active segment emptied or missing beside sealed ones is
// refused, not started afresh.
func checkSegmentLink(path string, first uint64, prev string) error {
	segs, err := auditSegments(path)
	if err != nil || len(segs) == 0 {
		return err
	}
	s := segs[len(segs)-1]
	if first == 0 {
		return fmt.Errorf("%w: %s holds no entry, but the sealed segment %s is there: put %s back from a copy of the data directory", ErrAuditCorrupt, path, filepath.Base(s.path), filepath.Base(path))
	}
	if s.last+1 != first {
		return fmt.Errorf("%w: %s ends at entry %d, and %s begins at %d", ErrAuditCorrupt, s.path, s.last, path, first)
	}
	e, err := lastAuditEntry(s.path)
	if err != nil {
		return err
	}
	if e.Seq != s.last || e.Hash != prev {
		return fmt.Errorf("%w: %s does not continue %s (its first entry's prev is not the hash of entry %d there)", ErrAuditCorrupt, path, s.path, s.last)
	}
	return nil
}

// lastAuditEntry parses the last line of the sealed segment at path
// without verifying the rest (the chain is verified by VerifyAuditLog).
func lastAuditEntry(path string) (AuditEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return AuditEntry{}, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
	}
	n := min(st.Size(), maxAuditLine+2)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, st.Size()-n); err != nil {
		return AuditEntry{}, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
	}
	line, ok := bytes.CutSuffix(buf, []byte("\n"))
	if !ok {
		return AuditEntry{}, fmt.Errorf("%w: %s: sealed segment without a complete last line", ErrAuditCorrupt, path)
	}
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	} else if n < st.Size() {
		return AuditEntry{}, fmt.Errorf("%w: %s: last line longer than %d bytes", ErrAuditCorrupt, path, maxAuditLine)
	}
	e, err := parseAuditLine(line)
	if err != nil {
		return e, fmt.Errorf("%w: %s: last line: %v", ErrAuditCorrupt, path, err)
	}
	return e, nil
}

// firstAuditEntry parses the first line of the sealed segment at path
// without verifying the rest (the chain is verified by VerifyAuditLog).
func firstAuditEntry(path string) (AuditEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, maxAuditLine+2).ReadSlice('\n')
	if err != nil {
		return AuditEntry{}, fmt.Errorf("%w: %s: no complete first line of at most %d bytes", ErrAuditCorrupt, path, maxAuditLine)
	}
	e, err := parseAuditLine(line[:len(line)-1])
	if err != nil {
		return e, fmt.Errorf("%w: %s: first line: %v", ErrAuditCorrupt, path, err)
	}
	return e, nil
}

// Prune deletes the oldest sealed segments whose last entry is older
// than retention and which the ledger's anchor for the node has passed,
// read from the ledger now (a ledger that cannot answer: nothing is
// deleted), once this AuditLog has anchored (its log then holds the
// ledger's anchor, see Anchor). The segment holding the anchored entry
// is kept, so a restored or copied log is still compared with it.
// Segments are deleted oldest first only: one too recent, or not
// anchored past, stops the pruning.
//
// Before a file is deleted the ledger records, with the anchored head,
// that the log is pruned through its last entry (Client.RecordAuditPrune:
// that entry's seq and hash and the deleted entries' time range), and
// the files go only once that record is committed: a log that begins
// later than the ledger says it was pruned to lost segments the node did
// not delete (CheckPruned). Such a log is not pruned further
// (ErrAuditAnchor). It returns the files deleted.
func (a *AuditLog) Prune(ctx context.Context, c Client, retention time.Duration) ([]string, error) {
	if retention <= 0 {
		return nil, nil
	}
	a.anchorMu.Lock()
	defer a.anchorMu.Unlock()
	a.mu.Lock()
	anchored, cutoff := a.anchored > 0, a.now().Add(-retention)
	a.mu.Unlock()
	if !anchored {
		return nil, nil // the log is not known to hold the ledger's anchor yet
	}
	segs, err := auditSegments(a.path)
	if err != nil {
		return nil, err
	}
	var old []auditSegment
	var last AuditEntry
	for _, s := range segs {
		e, err := lastAuditEntry(s.path)
		if err != nil {
			return nil, err
		}
		if e.Seq != s.last {
			return nil, fmt.Errorf("%w: %s: last entry %d, not %d", ErrAuditCorrupt, s.path, e.Seq, s.last)
		}
		if !e.Time.Before(cutoff) {
			break
		}
		old, last = append(old, s), e
	}
	if len(old) == 0 {
		return nil, nil
	}
	region, err := chaincode.RegionOfMSP(c.L.MSPID())
	if err != nil {
		return nil, err
	}
	an, err := c.AuditAnchor(ctx, region, a.node)
	if err != nil {
		return nil, err
	}
	for len(old) > 0 && old[len(old)-1].last >= an.Seq {
		old = old[:len(old)-1]
		if len(old) > 0 {
			if last, err = lastAuditEntry(old[len(old)-1].path); err != nil {
				return nil, err
			}
		}
	}
	if len(old) == 0 {
		return nil, nil
	}
	first, err := firstAuditEntry(old[0].path)
	if err != nil {
		return nil, err
	}
	begins := AuditSummary{Node: a.node, First: first.Seq, from: first.Prev}
	if err := CheckPruned(begins, an); err != nil {
		return nil, err
	}
	if last.Seq > an.Pruned.Seq {
		p := chaincode.AuditPrune{Seq: last.Seq, Head: last.Hash, From: first.Time, To: last.Time}
		if _, err := c.RecordAuditPrune(ctx, a.node, an.Seq, an.Head, p); err != nil {
			return nil, err
		}
	}
	var gone []string
	for _, s := range old {
		if err := os.Remove(s.path); err != nil {
			return gone, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
		}
		gone = append(gone, s.path)
	}
	if err := syncDir(filepath.Dir(a.path)); err != nil {
		return gone, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
	}
	return gone, nil
}

// CheckPruned compares where a verified log begins with the ledger's
// record of its pruning (chaincode.AuditAnchor.Pruned): a log that
// begins past the entry after the one it was recorded pruned through
// lost segments that were not pruned (deleted early, or by hand), and
// one that begins right after it must continue the recorded hash. A log
// that begins earlier holds segments the record covers but whose
// deletion did not happen (or a copy put back): it is not missing
// anything. Without a record (an older chain or node, or nothing pruned
// yet) a log that begins past its first entry cannot be told from a
// pruned one: nil.
func CheckPruned(sum AuditSummary, an chaincode.AuditAnchor) error {
	p := an.Pruned
	switch {
	case p.Seq == 0:
		return nil
	case sum.First > p.Seq+1:
		return fmt.Errorf("%w: the ledger records the log pruned through entry %d (entries of %s to %s), but it begins at entry %d: the segments holding entries %d to %d are missing (deleted, not pruned)",
			ErrAuditAnchor, p.Seq, p.From.Format(time.RFC3339), p.To.Format(time.RFC3339), sum.First, p.Seq+1, sum.First-1)
	case sum.First == p.Seq+1 && sum.from != p.Head:
		return fmt.Errorf("%w: the ledger records the log pruned through entry %d, but the log's first entry does not follow it (its prev is not the recorded hash: log rewritten)", ErrAuditAnchor, p.Seq)
	}
	return nil
}
