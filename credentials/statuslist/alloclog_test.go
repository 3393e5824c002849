package statuslist

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// logRecords splits the store's allocation log into its records'
// payloads, failing t on a torn or bad record.
func logRecords(t *testing.T, dir string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, allocLogName))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(data) > 0 {
		n := int(binary.BigEndian.Uint32(data))
		p := data[8 : 8+n]
		if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(data[4:]) {
			t.Fatal("bad checksum")
		}
		out = append(out, p)
		data = data[8+n:]
	}
	return out
}

// record encodes one allocation log record of the given lists' indices.
func record(lists map[string][]uint32) []byte {
	var p []byte
	for id, idx := range lists {
		p = append(p, byte(len(id)))
		p = append(p, id...)
		p = binary.BigEndian.AppendUint32(p, uint32(len(idx)))
		for _, i := range idx {
			p = binary.BigEndian.AppendUint32(p, i)
		}
	}
	h := binary.BigEndian.AppendUint32(nil, uint32(len(p)))
	h = binary.BigEndian.AppendUint32(h, crc32.Checksum(p, crcTable))
	return append(h, p...)
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestAllocationAppendsToLog: once a list exists, allocating in it does
// not rewrite its file (the bytes stay the same): the allocations of
// every purpose go to the store's one allocation log, and after a
// restart every allocation is there and none is handed out again.
func TestAllocationAppendsToLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.AllocateMany(ctx, status.PurposeRevocation, status.PurposeSuspension)
	if err != nil {
		t.Fatal(err)
	}
	var before [][]byte
	for _, r := range first {
		b, err := os.ReadFile(filepath.Join(dir, r.ListID+".json"))
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, b)
	}
	if _, err := os.Stat(filepath.Join(dir, allocLogName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("allocations in new lists went to the log: %v", err)
	}
	const n = 200
	got := make([][]status.Ref, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			refs, err := s.AllocateMany(ctx, status.PurposeRevocation, status.PurposeSuspension)
			if err != nil || refs[0].ListID != first[0].ListID || refs[1].ListID != first[1].ListID {
				t.Errorf("allocation in %v: %v", refs, err)
			}
			got[i] = refs
		})
	}
	wg.Wait()
	for k, r := range first {
		after, err := os.ReadFile(filepath.Join(dir, r.ListID+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before[k], after) {
			t.Fatal("allocations rewrote a list file")
		}
	}
	if legacy, _ := filepath.Glob(filepath.Join(dir, "*"+legacyAllocSuffix)); len(legacy) != 0 {
		t.Fatalf("per-list logs written: %v", legacy)
	}
	recs := logRecords(t, dir)
	if len(recs) == 0 || len(recs) > n {
		t.Fatalf("%d log records for %d requests", len(recs), n)
	}
	t.Logf("%d allocations of two purposes in %d log records", 2*n, len(recs))
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range first {
		l, _ := s2.lookup(r.ListID)
		seen := map[int]bool{r.Index: true}
		for _, refs := range got {
			i := refs[k].Index
			if seen[i] {
				t.Fatalf("index %d of %s allocated twice", i, r.Purpose)
			}
			seen[i] = true
		}
		for i := range seen {
			if !l.isAllocated(i) {
				t.Fatalf("allocation %d lost at restart", i)
			}
		}
		if l.count != n+1 {
			t.Fatalf("%d allocated after restart, want %d", l.count, n+1)
		}
	}
}

// TestAllocateManyOneRecord: the entries of one AllocateMany, of two
// purposes, are made durable by one log record (one write, one fsync).
func TestAllocateManyOneRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AllocateMany(ctx, status.PurposeRevocation, status.PurposeSuspension); err != nil {
		t.Fatal(err)
	}
	refs, err := s.AllocateMany(ctx, status.PurposeRevocation, status.PurposeSuspension, status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	if refs[2].Purpose != status.PurposeToken || refs[0].ListID == refs[1].ListID {
		t.Fatalf("refs %v", refs)
	}
	recs := logRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	for _, r := range refs[:2] {
		if !bytes.Contains(recs[0], []byte(r.ListID)) {
			t.Fatalf("the record does not name %s", r.ListID)
		}
	}
	if _, err := s.AllocateMany(ctx, status.PurposeRevocation, "nonsense"); !errors.Is(err, ErrPurpose) {
		t.Fatalf("unknown purpose: %v", err)
	}
}

// TestAllocationLogTorn: a torn last record (short, its length past the
// end, a wrong checksum with nothing after it, a zero-filled tail) is cut
// off at open and allocation goes on after it; a bad record before the
// last, or a whole record naming an unknown list or an index out of
// range, is corruption.
func TestAllocationLogTorn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid, _, _ := s.Allocate(ctx, status.PurposeSuspension)
	_, idx, err := s.Allocate(ctx, status.PurposeSuspension)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, allocLogName)
	good, _ := os.ReadFile(path)
	badSum := record(map[string][]uint32{lid: {7}})
	badSum[5] ^= 1
	rec := record(map[string][]uint32{lid: {7}})
	// maxRecord is the longest record payload the store could write:
	// every index of every list.
	maxRecord := 0
	for id, l := range s.lists {
		maxRecord += 1 + len(id) + 4 + 4*l.size()
	}
	tornList := [][]byte{
		{0, 0, 0, 9, 1, 2, 3, 4, 5},
		badSum,
		make([]byte, 16),
		// A torn record, then a zero-filled tail.
		append(bytes.Clone(rec[:12]), make([]byte, 16)...),
		// The longest record the store could write, torn.
		append(binary.BigEndian.AppendUint32(nil, uint32(maxRecord)), 1, 2, 3, 4, 5),
		// A torn record of a length past the end, then a record one
		// byte longer than what is left: no whole record follows.
		append([]byte{0, 0, 0, 60, 1, 2, 3, 4}, lengthen(rec, 1)...),
	}
	for n := 1; n < len(rec); n++ {
		tornList = append(tornList, rec[:n])
	}
	for _, torn := range tornList {
		appendFile(t, path, torn)
		s, err = OpenFileStore(dir, FileStoreOptions{})
		if err != nil {
			t.Fatalf("torn record %x: %v", torn, err)
		}
		if raw, _ := os.ReadFile(path); !bytes.Equal(raw, good) {
			t.Fatalf("torn record %x not cut: %d bytes", torn, len(raw))
		}
		if l, _ := s.lookup(lid); !l.isAllocated(idx) {
			t.Fatal("acknowledged allocation lost")
		}
	}
	if _, _, err := s.Allocate(ctx, status.PurposeSuspension); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileStore(dir, FileStoreOptions{}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	frame := func(p []byte) []byte {
		h := binary.BigEndian.AppendUint32(nil, uint32(len(p)))
		return append(binary.BigEndian.AppendUint32(h, crc32.Checksum(p, crcTable)), p...)
	}
	countPast := binary.BigEndian.AppendUint32(append([]byte{byte(len(lid))}, lid...), 5)
	countPast = binary.BigEndian.AppendUint32(countPast, 1)
	countOnePast := binary.BigEndian.AppendUint32(append([]byte{byte(len(lid))}, lid...), 2)
	countOnePast = binary.BigEndian.AppendUint32(countOnePast, 1)
	for name, bad := range map[string][]byte{
		"bad checksum inside":         append(append([]byte{}, badSum...), raw...),
		"zeros inside":                append(make([]byte, 8), raw...),
		"zeros then data":             append(append(append([]byte{}, raw...), make([]byte, 8)...), raw...),
		"unknown list":                append(record(map[string][]uint32{"0123456789abcdef": {1}}), raw...),
		"index out of range":          append(record(map[string][]uint32{lid: {1 << 30}}), raw...),
		"count past the end":          append(frame(countPast), raw...),
		"ID past the end":             append(frame([]byte{40, 'a'}), raw...),
		"count one past":              append(frame(countOnePast), raw...),
		"count cut short":             append(frame(countPast[:len(countPast)-5]), raw...),
		"empty record last":           append(bytes.Clone(raw), 0, 0, 0, 0, 1, 2, 3, 4),
		"header past any record last": append(bytes.Clone(raw), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0),
		// A damaged length followed at once by a whole record, or by a
		// whole record of one byte: not a torn append.
		"length past the end, a record after":       append(append(bytes.Clone(raw), 0, 0, 0, 60, 1, 2, 3, 4), rec...),
		"length past the end, a short record after": append(append(bytes.Clone(raw), 0, 0, 0, 20, 1, 2, 3, 4), frame([]byte{1})...),
		// A damaged length of the first record: cutting it as a torn tail
		// would free every acknowledged allocation after it.
		"length past any record": flip(raw, 0, 0x01),
		"length past the end":    append(lengthen(frame(countPast[:len(countPast)-4]), len(raw)+1), raw...),
	} {
		os.WriteFile(path, bad, 0o600)
		if _, err := OpenFileStore(dir, FileStoreOptions{}); !errors.Is(err, ErrCorrupted) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// flip returns a copy of b with bit mask of byte i flipped.
func flip(b []byte, i int, mask byte) []byte {
	c := append([]byte{}, b...)
	c[i] ^= mask
	return c
}

// lengthen returns rec with its length field raised by n.
func lengthen(rec []byte, n int) []byte {
	c := append([]byte{}, rec...)
	binary.BigEndian.PutUint32(c, binary.BigEndian.Uint32(c)+uint32(n))
	return c
}

// TestAllocationLogCompaction: past its limit the log is emptied after
// the lists it names are written with their allocations; nothing is
// lost or handed out twice across restarts.
func TestAllocationLogCompaction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.logLimit = 200
	seen := map[status.Ref]bool{}
	for round := range 3 {
		for range 150 {
			refs, err := s.AllocateMany(ctx, status.PurposeRevocation, status.PurposeSuspension)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range refs {
				if seen[r] {
					t.Fatalf("%v allocated twice", r)
				}
				seen[r] = true
			}
			if fi, err := os.Stat(filepath.Join(dir, allocLogName)); err == nil && fi.Size() > 200+100 {
				t.Fatalf("log of %d bytes past a limit of 200", fi.Size())
			}
		}
		if s, err = OpenFileStore(dir, FileStoreOptions{}); err != nil {
			t.Fatal(err)
		}
		s.logLimit = 200
		for r := range seen {
			l, err := s.lookup(r.ListID)
			if err != nil || !l.isAllocated(r.Index) {
				t.Fatalf("round %d: allocation %v lost (%v)", round, r, err)
			}
		}
	}
	// The files alone (the log removed) hold all but the allocations
	// since the last compaction: fewer than the limit's worth.
	os.Remove(filepath.Join(dir, allocLogName))
	s, err = OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for r := range seen {
		if l, _ := s.lookup(r.ListID); !l.isAllocated(r.Index) {
			missing++
		}
	}
	if missing > 200/8 {
		t.Fatalf("%d allocations only in the log after compactions", missing)
	}
}

// TestAllocationLogReopens: an append that fails (the log's file closed
// under the store) fails its group; the next group opens the log again,
// cuts off what the failed append wrote, and works, and what it
// acknowledged survives a restart.
func TestAllocationLogReopens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Allocate(ctx, status.PurposeRevocation); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Allocate(ctx, status.PurposeRevocation); err != nil {
		t.Fatal(err)
	}
	s.logFile.Close()
	if _, _, err := s.Allocate(ctx, status.PurposeRevocation); err == nil {
		t.Fatal("allocation succeeded without its log")
	}
	// What a failed append wrote is cut off before the next append.
	appendFile(t, filepath.Join(dir, allocLogName), []byte{1, 2, 3})
	lid, idx, err := s.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := s2.lookup(lid); !l.isAllocated(idx) || l.count != 3 {
		t.Fatalf("after a reopened log: allocated %v, count %d, want 3", l.isAllocated(idx), l.count)
	}
}

// TestLegacyAllocationLog: a store written with per-list logs (<list
// ID>.alloc, 4-byte indices) opens with every allocation they record
// (a torn last record dropped), folded into the lists' files, the old
// logs removed; an out-of-range index before the last is corruption.
func TestLegacyAllocationLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid, first, err := s.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(dir, lid+legacyAllocSuffix)
	var old []byte
	want := map[int]bool{first: true}
	for _, i := range []int{3, 500, 9000} {
		if i == first {
			continue
		}
		old = binary.BigEndian.AppendUint32(old, uint32(i))
		want[i] = true
	}
	appendFile(t, legacy, append(old, 0, 1)) // and a torn record
	s, err = OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(legacy); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the old log was not removed: %v", err)
	}
	l, err := readList(filepath.Join(dir, lid+".json"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !l.isAllocated(i) {
			t.Fatalf("entry %d of the old log not in the list's file", i)
		}
	}
	if l.count != len(want) {
		t.Fatalf("%d allocated, want %d", l.count, len(want))
	}
	for range 100 {
		_, i, err := s.Allocate(ctx, status.PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		if want[i] {
			t.Fatalf("index %d of the old log handed out again", i)
		}
	}
	for _, bad := range []uint32{0xffffffff, uint32(l.size())} {
		os.WriteFile(legacy, binary.BigEndian.AppendUint32(nil, bad), 0o600)
		appendFile(t, legacy, old)
		if _, err := OpenFileStore(dir, FileStoreOptions{}); !errors.Is(err, ErrCorrupted) {
			t.Fatalf("out-of-range record %d inside an old log: %v", bad, err)
		}
	}
}

// TestAllocationSIGKILL: a child only allocating, from many goroutines
// (so in allocation-log appends, not list rewrites), is killed
// mid-stream; after a restart every acknowledged allocation is there, and
// the next allocations reuse none of them. The variants allocate two
// purposes at once, and compact the log every few kilobytes.
func TestAllocationSIGKILL(t *testing.T) { allocationSIGKILL(t, 0) }

// TestAllocationSIGKILLSpare: the same with spares (FileStoreOptions.Spare),
// so that the child is also killed during top-ups (and, compacting,
// during compactions with spares reserved): an index handed out from a
// spare is on disk too, and none is allocated again after the restart.
func TestAllocationSIGKILLSpare(t *testing.T) { allocationSIGKILL(t, 64) }

func allocationSIGKILL(t *testing.T, spare int) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	for _, v := range []struct {
		name string
		env  []string
	}{
		{"one", nil},
		{"many", []string{"TRUSTID_STATUS_ALLOC_MANY=1"}},
		{"many-compacting", []string{"TRUSTID_STATUS_ALLOC_MANY=1", "TRUSTID_STATUS_LOG_LIMIT=4096"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			acked := map[status.Ref]bool{}
			env := append([]string{"TRUSTID_STATUS_CHILD=" + dir, "TRUSTID_STATUS_ALLOC_ONLY=1", "TRUSTID_STATUS_SPARE=" + strconv.Itoa(spare)}, v.env...)
			testenv.KillChild(t, "TestGroupCommitChild", env, func(v string) bool {
				if f := strings.Fields(v); len(f) == 4 {
					idx, _ := strconv.Atoi(f[2])
					r := status.Ref{ListID: f[1], Index: idx}
					if acked[r] {
						t.Errorf("%v acknowledged twice", r)
					}
					acked[r] = true
				}
				return len(acked) < 3000
			})
			if len(acked) < 3000 {
				t.Fatalf("the child acknowledged only %d allocations", len(acked))
			}
			s := openSpareStore(t, dir, spare)
			for r := range acked {
				l, err := s.lookup(r.ListID)
				if err != nil || !l.isAllocated(r.Index) {
					t.Fatalf("acknowledged allocation %v lost (%v)", r, err)
				}
			}
			for range 1000 {
				refs, err := s.AllocateMany(context.Background(), status.PurposeRevocation, status.PurposeSuspension)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range refs {
					if acked[status.Ref{ListID: r.ListID, Index: r.Index}] {
						t.Fatalf("%v allocated again after the restart", r)
					}
				}
			}
		})
	}
}

// TestAllocationLogDirectoryGone: the log stays open between groups, but
// an allocation still fails closed when the status directory is moved
// away (a file in its place) or replaced by an empty one, and works
// again once it is back; nothing acknowledged is lost.
func TestAllocationLogDirectoryGone(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "status")
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var acked []status.Ref
	alloc := func() error {
		refs, err := s.AllocateMany(ctx, status.PurposeRevocation, status.PurposeSuspension)
		acked = append(acked, refs...)
		return err
	}
	for range 3 {
		if err := alloc(); err != nil {
			t.Fatal(err)
		}
	}
	for _, replace := range []func() error{
		func() error { return os.WriteFile(dir, nil, 0o600) },
		func() error { return os.Mkdir(dir, 0o700) },
	} {
		if err := os.Rename(dir, dir+".away"); err != nil {
			t.Fatal(err)
		}
		if err := replace(); err != nil {
			t.Fatal(err)
		}
		if err := alloc(); err == nil {
			t.Fatal("allocation succeeded without its directory")
		}
		os.RemoveAll(dir)
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Fatal(err)
		}
		if err := alloc(); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range acked {
		if l, err := s2.lookup(r.ListID); err != nil || !l.isAllocated(r.Index) {
			t.Fatalf("acknowledged allocation %v lost (%v)", r, err)
		}
	}
}

// TestAllocationLogRepeats: log records that repeat allocations (of the
// log or of the list's file, as after a crash between a compaction's
// writes and the emptying of the log) count each entry once.
func TestAllocationLogRepeats(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid, first, _ := s.Allocate(ctx, status.PurposeRevocation)
	_, second, err := s.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, allocLogName), record(map[string][]uint32{lid: {uint32(first), uint32(second), uint32(second)}}))
	s, err = OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := s.lookup(lid); l.count != 2 {
		t.Fatalf("count %d after repeated records, want 2", l.count)
	}
}

// TestAllocationLogCompactionAfterRestart: a compaction writes the lists
// named by records of before a restart too (their allocations then
// survive the log's emptying); the log compacts only once past its limit
// (not at it); and after a compaction a failed append is recovered from
// like any other.
func TestAllocationLogCompactionAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, allocLogName)
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var susp []status.Ref
	for range 2 {
		lid, idx, err := s.Allocate(ctx, status.PurposeSuspension)
		if err != nil {
			t.Fatal(err)
		}
		susp = append(susp, status.Ref{ListID: lid, Index: idx})
	}
	s.Allocate(ctx, status.PurposeRevocation) // the list, in its file
	if s, err = OpenFileStore(dir, FileStoreOptions{}); err != nil {
		t.Fatal(err)
	}
	// The log now holds one record of one index: at the limit, no
	// compaction.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	s.logLimit = fi.Size()
	if _, _, err := s.Allocate(ctx, status.PurposeRevocation); err != nil {
		t.Fatal(err)
	}
	if n := len(logRecords(t, dir)); n != 2 {
		t.Fatalf("%d records in a log at its limit, want 2 (no compaction)", n)
	}
	// Past the limit: the next group compacts.
	if _, _, err := s.Allocate(ctx, status.PurposeRevocation); err != nil {
		t.Fatal(err)
	}
	if n := len(logRecords(t, dir)); n != 1 {
		t.Fatalf("%d records after a compaction, want 1", n)
	}
	s.logFile.Close()
	if _, _, err := s.Allocate(ctx, status.PurposeRevocation); err == nil {
		t.Fatal("allocation succeeded without its log")
	}
	if _, _, err := s.Allocate(ctx, status.PurposeRevocation); err != nil {
		t.Fatalf("after a compaction, the log did not reopen: %v", err)
	}
	os.Remove(path)
	if s, err = OpenFileStore(dir, FileStoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range susp {
		if l, _ := s.lookup(r.ListID); !l.isAllocated(r.Index) {
			t.Fatalf("allocation %v of before the restart lost by the compaction", r)
		}
	}
}
