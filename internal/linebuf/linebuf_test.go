package linebuf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// calls records each Write it gets, to check that lines stay whole.
type calls struct {
	mu  sync.Mutex
	got []string
	err error
}

func (c *calls) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.got = append(c.got, string(p))
	return len(p), nil
}

func (c *calls) writes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func TestBuffersUntilFullAndKeepsWritesWhole(t *testing.T) {
	var c calls
	b := New(&c, 32, time.Hour)
	defer b.Close()
	for _, l := range []string{"0123456789\n", "abcdefghij\n"} {
		if n, err := b.Write([]byte(l)); n != len(l) || err != nil {
			t.Fatal(n, err)
		}
	}
	if w := c.writes(); len(w) != 0 {
		t.Fatalf("written before the buffer filled: %q", w)
	}
	b.Write([]byte("ABCDEFGHIJ\n")) // 33 bytes: the first two go out first
	if w := c.writes(); len(w) != 1 || w[0] != "0123456789\nabcdefghij\n" {
		t.Fatalf("after overflow: %q", w)
	}
	long := strings.Repeat("x", 40) + "\n"
	b.Write([]byte(long)) // longer than the buffer: buffered line, then it, each whole
	if w := c.writes(); len(w) != 3 || w[1] != "ABCDEFGHIJ\n" || w[2] != long {
		t.Fatalf("a long line: %q", w)
	}
}

func TestFlushesOnTimerAndClose(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := New(f, 4096, 20*time.Millisecond)
	b.Write([]byte("one\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := os.ReadFile(f.Name())
		if string(got) == "one\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not flushed by the timer: %q", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b2 := New(f, 4096, time.Hour)
	b2.Write([]byte("two\n"))
	if got, _ := os.ReadFile(f.Name()); string(got) != "one\n" {
		t.Fatalf("written before Close: %q", got)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b2.Close(); err != nil { // a second Close is harmless
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.Name()); string(got) != "one\ntwo\n" {
		t.Fatalf("after Close: %q", got)
	}
	b.Close()
}

func TestFlushErrorReported(t *testing.T) {
	boom := errors.New("disk gone")
	c := calls{err: boom}
	b := New(&c, 64, time.Hour)
	defer b.Close()
	if _, err := b.Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush: %v", err)
	}
	if err := b.Flush(); err != nil {
		t.Fatalf("the error twice: %v", err)
	}
	if _, err := b.Write(bytes.Repeat([]byte("y"), 100)); !errors.Is(err, boom) {
		t.Fatalf("a direct write's error: %v", err)
	}
}

// TestConcurrentLinesWhole writes lines from many goroutines through a
// small buffer and checks every line arrives once, whole.
func TestConcurrentLinesWhole(t *testing.T) {
	var c calls
	b := New(&c, 100, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				b.Write(fmt.Appendf(nil, "g%d-line-%03d\n", g, i))
			}
		})
	}
	wg.Wait()
	b.Close()
	seen := map[string]bool{}
	for _, w := range c.writes() {
		if !strings.HasSuffix(w, "\n") {
			t.Fatalf("a write ends mid-line: %q", w)
		}
		for _, l := range strings.Split(strings.TrimSuffix(w, "\n"), "\n") {
			if seen[l] || len(l) != len("g0-line-000") {
				t.Fatalf("line %q twice or cut", l)
			}
			seen[l] = true
		}
	}
	if len(seen) != 8*200 {
		t.Fatalf("%d lines, want %d", len(seen), 8*200)
	}
}

// TestWriteAfterClose: a line written after Close (a request still
// running when the drain time ran out) reaches the writer, with no Flush
// to come.
func TestWriteAfterClose(t *testing.T) {
	var c calls
	b := New(&c, 64, time.Hour)
	b.Write([]byte("before\n"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Write([]byte("late\n")); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	if w := c.writes(); len(w) != 2 || w[0] != "before\n" || w[1] != "late\n" {
		t.Fatalf("writes %q", w)
	}
}
