package groupcommit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testenv"
)

// fileLog is a real durable log for the tests: commit appends the group's
// numbers, one a line, in one write and fsyncs, then marks them durable.
type fileLog struct {
	f *os.File

	mu      sync.Mutex
	durable map[int]bool
	groups  [][]int
	fail    func(items []int) bool // fail a group before writing it
}

func openLog(t testing.TB, path string) *fileLog {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fileLog{f: f, durable: map[int]bool{}}
}

var errInjected = errors.New("injected failure")

func (l *fileLog) commit(items []int) error {
	if l.fail != nil && l.fail(items) {
		return errInjected
	}
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "%d\n", it)
	}
	if _, err := l.f.WriteString(b.String()); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, it := range items {
		l.durable[it] = true
	}
	l.groups = append(l.groups, items)
	return nil
}

func (l *fileLog) isDurable(it int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable[it]
}

// readLog returns the numbers in the file at path (complete lines only).
func readLog(t *testing.T, path string) map[int]bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for line := range strings.Lines(string(raw)) {
		if !strings.HasSuffix(line, "\n") {
			break // torn tail
		}
		n, err := strconv.Atoi(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		got[n] = true
	}
	return got
}

// queued waits until n items are queued behind the running commit.
func queued[T any](t *testing.T, c *Committer[T], n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c.mu.Lock()
		k := 0
		if c.next != nil {
			k = len(c.next.items)
		}
		c.mu.Unlock()
		if k == n {
			return
		}
	}
	t.Fatalf("%d items never queued", n)
}

// TestConcurrentWriters: every Do returns only after its item is on disk,
// every item is written once, and concurrent writers share fsyncs.
func TestConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l := openLog(t, path)
	c := New(l.commit)
	const writers, each = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				it := w*each + i
				if err := c.Do(it); err != nil {
					errs <- err
					return
				}
				if !l.isDurable(it) {
					errs <- fmt.Errorf("item %d acknowledged before its fsync", it)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := readLog(t, path)
	if len(got) != writers*each {
		t.Fatalf("%d items on disk, want %d", len(got), writers*each)
	}
	t.Logf("%d items in %d commits", writers*each, len(l.groups))
	if len(l.groups) >= writers*each {
		t.Fatalf("no grouping: %d commits for %d items", len(l.groups), writers*each)
	}
}

// TestGroupIsWhatQueuedDuringCommit: the items that arrive while a commit
// runs form exactly the next group, in arrival order; nothing waits for a
// timer.
func TestGroupIsWhatQueuedDuringCommit(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var groups [][]int
	c := New(func(items []int) error {
		if items[0] == 0 {
			close(started)
			<-release
		}
		mu.Lock()
		groups = append(groups, append([]int(nil), items...))
		mu.Unlock()
		return nil
	})
	done := make(chan error, 6)
	go func() { done <- c.Do(0) }()
	<-started // 0 is committing, nothing queued
	for i := 1; i <= 5; i++ {
		go func() { done <- c.Do(i) }()
		queued(t, c, i)
	}
	close(release)
	for range 6 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(groups) != "[[0] [1 2 3 4 5]]" {
		t.Fatalf("groups %v, want [[0] [1 2 3 4 5]]", groups)
	}
	// A lone write after that is committed at once, alone.
	start := time.Now()
	if err := c.Do(6); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 3 || time.Since(start) > time.Second {
		t.Fatalf("groups %v after %v", groups, time.Since(start))
	}
}

// TestErrorFailsWholeGroup: a failed commit fails every waiter of its
// group and only them; nothing of it is on disk, everything acknowledged
// before and after is.
func TestErrorFailsWholeGroup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l := openLog(t, path)
	started, release := make(chan struct{}), make(chan struct{})
	l.fail = func(items []int) bool {
		if items[0] == 0 {
			close(started)
			<-release
		}
		for _, it := range items {
			if it == 13 {
				return true
			}
		}
		return false
	}
	c := New(l.commit)
	errs := map[int]chan error{}
	for _, it := range []int{0, 11, 12, 13, 14} {
		ch := make(chan error, 1)
		errs[it] = ch
		go func() { ch <- c.Do(it) }()
		if it == 0 {
			<-started
		} else {
			queued(t, c, len(errs)-1)
		}
	}
	close(release)
	if err := <-errs[0]; err != nil {
		t.Fatalf("first group: %v", err)
	}
	for _, it := range []int{11, 12, 13, 14} {
		if err := <-errs[it]; !errors.Is(err, errInjected) {
			t.Fatalf("item %d of the failed group: %v", it, err)
		}
	}
	if err := c.Do(20); err != nil {
		t.Fatalf("after the failure: %v", err)
	}
	got := readLog(t, path)
	if fmt.Sprint(got) != fmt.Sprint(map[int]bool{0: true, 20: true}) {
		t.Fatalf("on disk %v, want 0 and 20 only", got)
	}
}

// TestSIGKILL: a child process writing from many goroutines is killed
// mid-stream; every item it acknowledged is in the file.
func TestSIGKILL(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	path := filepath.Join(t.TempDir(), "log")
	acked := map[int]bool{}
	testenv.KillChild(t, "TestChild", []string{"GROUPCOMMIT_CHILD=" + path}, func(v string) bool {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("child said %q", "acked "+v)
		}
		acked[n] = true
		return len(acked) < 3000
	})
	if len(acked) < 3000 {
		t.Fatalf("the child acknowledged only %d items before it ended", len(acked))
	}
	got := readLog(t, path)
	for n := range acked {
		if !got[n] {
			t.Fatalf("acknowledged item %d lost", n)
		}
	}
	t.Logf("killed after %d acknowledged items; %d on disk", len(acked), len(got))
}

// TestChild is the child of TestSIGKILL: 16 writers appending until
// killed, printing each item once Do returned.
func TestChild(t *testing.T) {
	path := os.Getenv("GROUPCOMMIT_CHILD")
	if path == "" {
		t.Skip("run by TestSIGKILL")
	}
	l := openLog(t, path)
	c := New(l.commit)
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				it := i*16 + g
				if err := c.Do(it); err != nil {
					panic(err)
				}
				mu.Lock()
				fmt.Fprintf(w, "acked %d\n", it)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestSpacing: a commit that follows another at once starts at least the
// spacing after it started, and its group took what queued meanwhile; a
// commit after an idle moment starts at once. The test waits for events
// (the first commit started, the second item queued, the first commit
// returned), not for times; the spacing is long enough that a race build
// on a busy machine does the rest of the test within it.
func TestSpacing(t *testing.T) {
	const spacing = time.Second
	var mu sync.Mutex
	var starts []time.Time
	var groups [][]int
	hold := make(chan struct{})
	c := New(func(items []int) error {
		mu.Lock()
		starts = append(starts, time.Now())
		groups = append(groups, items)
		first := len(starts) == 1
		mu.Unlock()
		if first {
			<-hold
		}
		return nil
	})
	c.SetSpacing(spacing)
	until := func(cond func() bool) {
		for !cond() {
			time.Sleep(time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	first := make(chan struct{})
	wg.Go(func() { c.Do(0); close(first) })
	until(func() bool { mu.Lock(); defer mu.Unlock(); return len(starts) == 1 })
	wg.Go(func() { c.Do(1) })
	until(func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.next != nil })
	close(hold) // the second commit follows at once: it must wait
	<-first
	wg.Go(func() { c.Do(2) }) // still within the spacing: joins the group
	wg.Wait()
	mu.Lock()
	if len(starts) != 2 || fmt.Sprint(groups) != "[[0] [1 2]]" {
		t.Fatalf("groups %v", groups)
	}
	// Less a margin: the first start is read in commit, after run notes it.
	if gap := starts[1].Sub(starts[0]); gap < spacing*9/10 {
		t.Fatalf("second commit %v after the first, want the spacing, %v", gap, spacing)
	}
	mu.Unlock()
	time.Sleep(spacing) // idle: the next commit starts at once
	called := time.Now()
	c.Do(3)
	mu.Lock()
	defer mu.Unlock()
	if wait := starts[2].Sub(called); wait >= spacing/2 {
		t.Fatalf("a commit after an idle moment waited %v", wait)
	}
}
