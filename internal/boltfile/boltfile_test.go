package boltfile_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trustid-cn/trustid/internal/boltfile"
	"github.com/trustid-cn/trustid/internal/testenv"
)

var (
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")
	keyCount   = []byte("count")
)

// opener opens path with the options the ledger uses (NoSync when fast
// is set) and creates the test's buckets; fail, when set, makes it fail.
func opener(path string, fast bool, fail *atomic.Bool) func() (*bolt.DB, error) {
	return func() (*bolt.DB, error) {
		if fail != nil && fail.Load() {
			return nil, errors.New("open refused by the test")
		}
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType, NoSync: fast})
		if err != nil {
			return nil, err
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketLog, bucketMeta} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	}
}

// appendEntry appends one entry to the log and counts it in meta, in one
// transaction: a reader that sees a count different from the log's
// length saw half a commit.
func appendEntry(tx *bolt.Tx, value []byte) error {
	log, meta := tx.Bucket(bucketLog), tx.Bucket(bucketMeta)
	seq, err := log.NextSequence()
	if err != nil {
		return err
	}
	if err := log.Put(binary.BigEndian.AppendUint64(nil, seq), value); err != nil {
		return err
	}
	return meta.Put(keyCount, binary.BigEndian.AppendUint64(nil, seq))
}

func checkConsistent(tx *bolt.Tx) (uint64, error) {
	n := uint64(tx.Bucket(bucketLog).Stats().KeyN)
	var count uint64
	if v := tx.Bucket(bucketMeta).Get(keyCount); v != nil {
		count = binary.BigEndian.Uint64(v)
	}
	if n != count {
		return 0, fmt.Errorf("log holds %d entries, count says %d", n, count)
	}
	return n, nil
}

// TestReopenUnderConcurrentUse: writers (Update and Batch) and readers
// run while the file is reopened every few allocations; every commit
// acknowledged is in the file, once, and no reader sees a commit in part
// or a closed file.
func TestReopenUnderConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	d, err := boltfile.Open(path, opener(path, true, nil), boltfile.Options{ReopenAfter: 16})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter, readers = 6, 150, 4
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	var acked sync.Map // value -> true, for every acknowledged write
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				v := fmt.Appendf(nil, "w%d-%d", w, i)
				write := d.Update
				if i%3 == 0 {
					write = d.Batch
				}
				if err := write(func(tx *bolt.Tx) error { return appendEntry(tx, v) }); err != nil {
					errs <- err
					return
				}
				acked.Store(string(v), true)
			}
		}()
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	var reads atomic.Int64
	for range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := d.View(func(tx *bolt.Tx) error {
					n, err := checkConsistent(tx)
					if err == nil && n < last {
						err = fmt.Errorf("log went back from %d to %d entries", last, n)
					}
					last = n
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if d.Reopens() < 10 {
		t.Fatalf("%d reopens over %d commits: the test did not exercise reopening", d.Reopens(), writers*perWriter)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// Every acknowledged value, once, in the file as bbolt itself reads it.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seen := map[string]bool{}
	if err := db.View(func(tx *bolt.Tx) error {
		if _, err := checkConsistent(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketLog).ForEach(func(_, v []byte) error {
			if seen[string(v)] {
				return fmt.Errorf("%s twice", v)
			}
			seen[string(v)] = true
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		if !seen[k.(string)] {
			t.Errorf("acknowledged %s is not in the file", k)
		}
		return true
	})
	if n != writers*perWriter || len(seen) != n {
		t.Fatalf("%d acknowledged, %d in the file, want %d", n, len(seen), writers*perWriter)
	}
	t.Logf("%d commits, %d reads, %d reopens", n, reads.Load(), d.Reopens())
}

// TestReopenFailure: a reopen that fails (the file locked by another
// process in between) loses nothing: the commit that triggered it stands,
// later transactions report ErrReopen, and the file is used again once
// it can be opened.
func TestReopenFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	var fail atomic.Bool
	d, err := boltfile.Open(path, opener(path, true, &fail), boltfile.Options{ReopenAfter: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fail.Store(true)
	if err := d.Update(func(tx *bolt.Tx) error { return appendEntry(tx, []byte("a")) }); err != nil {
		t.Fatalf("the commit before a failed reopen: %v", err)
	}
	if err := d.View(func(*bolt.Tx) error { return nil }); !errors.Is(err, boltfile.ErrReopen) {
		t.Fatalf("View after a failed reopen = %v, want ErrReopen", err)
	}
	if err := d.Update(func(*bolt.Tx) error { return nil }); !errors.Is(err, boltfile.ErrReopen) {
		t.Fatalf("Update after a failed reopen = %v, want ErrReopen", err)
	}
	fail.Store(false)
	if err := d.Update(func(tx *bolt.Tx) error { return appendEntry(tx, []byte("b")) }); err != nil {
		t.Fatal(err)
	}
	if err := d.View(func(tx *bolt.Tx) error {
		n, err := checkConsistent(tx)
		if err == nil && n != 2 {
			err = fmt.Errorf("%d entries, want 2", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestClose: Close waits for the transaction in progress; later ones get
// ErrClosed.
func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	d, err := boltfile.Open(path, opener(path, true, nil), boltfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- d.Update(func(tx *bolt.Tx) error {
			close(inside)
			<-release
			return appendEntry(tx, []byte("x"))
		})
	}()
	<-inside
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) during a transaction", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := d.View(func(*bolt.Tx) error { return nil }); !errors.Is(err, boltfile.ErrClosed) {
		t.Fatalf("View after Close = %v, want ErrClosed", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

// TestReopenRebuiltFreelistScales: a file whose free list is rebuilt at
// open by walking every page (NoFreelistSync, as the binding index) is
// reopened only after as many page allocations as it has pages, not
// every reopenAfter allocations: a walk of a large file at every few
// hundred commits held every transaction back (about 360 ms a reopen for
// an index of a million bindings).
func TestReopenRebuiltFreelistScales(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rebuilt.db")
	d, err := boltfile.Open(path, func() (*bolt.DB, error) {
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
		if err != nil {
			return nil, err
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bucketLog)
			return err
		}); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	}, boltfile.Options{ReopenAfter: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// About 2,000 pages at once: the file is reopened after this commit.
	big := make([]byte, 6000)
	if err := d.Update(func(tx *bolt.Tx) error {
		for range 1000 {
			if err := appendLog(tx, big); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := d.Reopens(); n != 1 {
		t.Fatalf("%d reopens after the first commit, want 1", n)
	}
	// 200 small commits allocate a few hundred pages: fewer than the
	// file has, so no walk.
	for range 200 {
		if err := d.Update(func(tx *bolt.Tx) error { return appendLog(tx, []byte("small")) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.Reopens(); n != 1 {
		t.Fatalf("%d reopens of a 2,000-page file after a few hundred page allocations, want 1", n)
	}
	// Enough allocations reopen it again.
	for range 2 {
		if err := d.Update(func(tx *bolt.Tx) error {
			for range 1000 {
				if err := appendLog(tx, big); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.Reopens(); n < 2 {
		t.Fatalf("%d reopens after more page allocations than the file has pages, want 2 or more", n)
	}
}

func appendLog(tx *bolt.Tx, v []byte) error {
	log := tx.Bucket(bucketLog)
	seq, err := log.NextSequence()
	if err != nil {
		return err
	}
	return log.Put(binary.BigEndian.AppendUint64(nil, seq), v)
}

// TestReopenFailureSharedByWaiters: the transactions that waited behind a
// reopen that failed report its failure; they do not each try to open
// the file again in turn under the exclusive lock (each try can wait
// bbolt's Timeout for a file another process locked, so the last of n
// waiters waited n times that).
func TestReopenFailureSharedByWaiters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	var fail atomic.Bool
	var opens atomic.Int64
	open := opener(path, true, &fail)
	d, err := boltfile.Open(path, func() (*bolt.DB, error) { opens.Add(1); return open() }, boltfile.Options{ReopenAfter: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Free pages for the commit below, so it need not grow the file (a
	// remap would wait for the reader, and the waiters run before it).
	big := make([]byte, 4000)
	if err := d.Update(func(tx *bolt.Tx) error {
		for range 100 {
			if err := appendEntry(tx, big); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketLog); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketLog)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A reader holds the file while a commit's reopen waits for it.
	inside, release := make(chan struct{}), make(chan struct{})
	go d.View(func(*bolt.Tx) error { close(inside); <-release; return nil })
	<-inside
	fail.Store(true)
	committed := make(chan error, 1)
	go func() { committed <- d.Update(func(tx *bolt.Tx) error { return appendEntry(tx, []byte("a")) }) }()
	time.Sleep(200 * time.Millisecond) // the reopen waits for the reader
	const waiters = 20
	errs := make(chan error, waiters)
	for range waiters {
		go func() { errs <- d.View(func(*bolt.Tx) error { return nil }) }()
	}
	time.Sleep(200 * time.Millisecond) // the waiters queue behind the reopen
	before := opens.Load()
	close(release)
	if err := <-committed; err != nil {
		t.Fatalf("the commit before the failed reopen: %v", err)
	}
	for range waiters {
		if err := <-errs; !errors.Is(err, boltfile.ErrReopen) {
			t.Fatalf("a transaction that waited behind the failed reopen = %v, want ErrReopen", err)
		}
	}
	if n := opens.Load() - before; n != 1 {
		t.Fatalf("%d openings for one failed reopen and %d waiters, want 1", n, waiters)
	}
	// The next transaction tries again, and succeeds once it can.
	fail.Store(false)
	if err := d.View(func(*bolt.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestReopenKeepsOthersOut: while a DB reopens its file after every
// commit, another opener trying all the time (a CLI command on the data
// directory of a running node) never gets the file: the companion lock
// is held across each reopen. bbolt's own lock is released for an
// instant at each one, and an opener that waited only for it got in
// there, failing the node's reopen until it let go.
func TestReopenKeepsOthersOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	d, err := boltfile.Open(path, opener(path, true, nil), boltfile.Options{ReopenAfter: 1})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var tries, in atomic.Int64
	done := make(chan error, 1)
	go func() {
		// One try of each lock per attempt, no waiting.
		intruder := func() (*bolt.DB, error) {
			return bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Nanosecond, NoSync: true})
		}
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			tries.Add(1)
			o, err := boltfile.Open(path, intruder, boltfile.Options{LockWait: time.Nanosecond})
			if err == nil {
				in.Add(1)
				o.Close()
				continue
			}
			// Refused by the companion lock, or by bbolt's.
			if !errors.Is(err, boltfile.ErrLocked) && !errors.Is(err, bolt.ErrTimeout) {
				done <- err
				return
			}
		}
	}()
	const commits = 1500
	for i := range commits {
		if err := d.Update(func(tx *bolt.Tx) error { return appendEntry(tx, fmt.Appendf(nil, "v%d", i)) }); err != nil {
			close(stop)
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("the other opener: %v", err)
	}
	if n := in.Load(); n != 0 {
		t.Fatalf("the other opener got the file %d times in %d tries during %d reopens", n, tries.Load(), d.Reopens())
	}
	if d.Reopens() < commits/2 {
		t.Fatalf("%d reopens: the test did not exercise reopening", d.Reopens())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// Once closed, the file is anyone's.
	o, err := boltfile.Open(path, opener(path, true, nil), boltfile.Options{LockWait: time.Nanosecond})
	if err != nil {
		t.Fatalf("opening after Close: %v", err)
	}
	o.Close()
	t.Logf("%d tries during %d reopens", tries.Load(), d.Reopens())
}

// TestReopenKeepsOtherProcessesOut is TestReopenKeepsOthersOut with the
// other opener in another process (the CLI beside a running node), as
// the companion lock must hold across processes, not only between two
// opens in one: the child tries all the time, without waiting, while
// this process reopens the file after every commit, and gets it only
// once this one has closed it.
func TestReopenKeepsOtherProcessesOut(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("a child process")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f.db")
	d, err := boltfile.Open(path, opener(path, true, nil), boltfile.Options{ReopenAfter: 1})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		out []byte
		err error
	}
	child := make(chan result, 1)
	go func() {
		out, err := testenv.RunChild("TestReopenKeepsOtherProcessesOutChild", "BOLTFILE_CHILD_DIR="+dir)
		child <- result{out, err}
	}()
	// The child is trying before the commits start.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "trying")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child did not start trying")
		}
	}
	const commits = 1500
	for i := range commits {
		if err := d.Update(func(tx *bolt.Tx) error { return appendEntry(tx, fmt.Appendf(nil, "v%d", i)) }); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	reopens := d.Reopens()
	// Once "closing" exists, the child may get in.
	if err := os.WriteFile(filepath.Join(dir, "closing"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "closed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := <-child
	if r.err != nil {
		t.Fatalf("the child: %v\n%s", r.err, r.out)
	}
	var tries, in, refused int
	var final string
	for line := range strings.Lines(string(r.out)) {
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "result %d %d %d %s", &tries, &in, &refused, &final); err == nil {
			break
		}
	}
	if in != 0 {
		t.Fatalf("the other process got the file %d times in %d tries during %d reopens", in, tries, reopens)
	}
	if refused == 0 || reopens < commits/2 {
		t.Fatalf("%d refusals in %d tries, %d reopens: the test did not exercise the lock\n%s", refused, tries, reopens, r.out)
	}
	if final != "open" {
		t.Fatalf("the other process after Close: %s\n%s", final, r.out)
	}
	t.Logf("%d tries (%d refused) during %d reopens", tries, refused, reopens)
}

// TestReopenKeepsOtherProcessesOutChild is the other process of
// TestReopenKeepsOtherProcessesOut: it tries both locks once per
// attempt until the parent has closed the file, then opens it waiting.
// A try counts as getting in when it holds the file before the parent
// began to close it.
func TestReopenKeepsOtherProcessesOutChild(t *testing.T) {
	dir := os.Getenv("BOLTFILE_CHILD_DIR")
	if !testenv.IsChild() || dir == "" {
		t.Skip("the child of TestReopenKeepsOtherProcessesOut")
	}
	path := filepath.Join(dir, "f.db")
	intruder := func() (*bolt.DB, error) {
		return bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Nanosecond, NoSync: true})
	}
	var tries, in, refused int
	for {
		_, statErr := os.Stat(filepath.Join(dir, "closed"))
		tries++
		o, err := boltfile.Open(path, intruder, boltfile.Options{LockWait: time.Nanosecond})
		switch {
		case err == nil:
			// Holding the file, and the parent had not begun to close it.
			if _, err := os.Stat(filepath.Join(dir, "closing")); err != nil {
				in++
			}
			o.Close()
		case errors.Is(err, boltfile.ErrLocked) || errors.Is(err, bolt.ErrTimeout):
			refused++
		default:
			t.Fatal(err)
		}
		if tries == 1 {
			if err := os.WriteFile(filepath.Join(dir, "trying"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if statErr == nil {
			break // this try began after the parent's Close
		}
	}
	final := "open"
	o, err := boltfile.Open(path, intruder, boltfile.Options{LockWait: 10 * time.Second})
	if err != nil {
		final = "refused"
	} else {
		o.Close()
	}
	fmt.Printf("result %d %d %d %s\n", tries, in, refused, final)
}

// TestLockReleasedOnEveryExit: the companion lock is let go when the
// first opening fails (an Open that fails leaves nothing held), and by a
// Close after a failed reopen (no file open then); a second Close does
// not release a lock another DB took meanwhile.
func TestLockReleasedOnEveryExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	free := func(when string) {
		t.Helper()
		o, err := boltfile.Open(path, opener(path, true, nil), boltfile.Options{LockWait: time.Nanosecond})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var fail atomic.Bool
	fail.Store(true)
	if _, err := boltfile.Open(path, opener(path, true, &fail), boltfile.Options{}); err == nil {
		t.Fatal("Open with a failing opener succeeded")
	}
	free("after a failed Open")

	fail.Store(false)
	d, err := boltfile.Open(path, opener(path, true, &fail), boltfile.Options{ReopenAfter: 1})
	if err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := d.Update(func(tx *bolt.Tx) error { return appendEntry(tx, []byte("a")) }); err != nil {
		t.Fatal(err)
	}
	if err := d.View(func(*bolt.Tx) error { return nil }); !errors.Is(err, boltfile.ErrReopen) {
		t.Fatalf("View after a failed reopen = %v, want ErrReopen", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	free("after Close following a failed reopen")

	other, err := boltfile.Open(path, opener(path, true, nil), boltfile.Options{LockWait: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if o, err := boltfile.Open(path, opener(path, true, nil), boltfile.Options{LockWait: time.Nanosecond}); !errors.Is(err, boltfile.ErrLocked) {
		if o != nil {
			o.Close()
		}
		t.Fatalf("Open while another DB holds the file, after a second Close of the first = %v, want ErrLocked", err)
	}
}

// TestOpenRefusesCutShort: a file cut short (a partial copy) or not a
// bbolt file is refused by Open with ErrDamaged naming it, not a panic.
func TestOpenRefusesCutShort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.db")
	db, err := boltfile.Open(path, opener(path, false, nil), boltfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if err := db.Update(func(tx *bolt.Tx) error { return appendEntry(tx, make([]byte, 1000)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"half", whole[:len(whole)/2]},
		{"a quarter", whole[:len(whole)/4]},
		{"the first page", whole[:4096]},
		{"not a bbolt file", []byte(strings.Repeat("not a bbolt file\n", 1000))},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".db")
		if err := os.WriteFile(p, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: Open panicked: %v", c.name, r)
				}
			}()
			db, err := boltfile.Open(p, opener(p, false, nil), boltfile.Options{})
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, boltfile.ErrDamaged) || !strings.Contains(err.Error(), p) {
				t.Errorf("%s: Open: %v, want ErrDamaged naming %s", c.name, err, p)
			}
		}()
	}
	db, err = boltfile.Open(path, opener(path, false, nil), boltfile.Options{})
	if err != nil {
		t.Fatalf("the whole file: %v", err)
	}
	db.Close()
}
