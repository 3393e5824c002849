package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		s       Status
		unit    string
		elapsed time.Duration
		want    string
	}{
		{Status{Done: 500, Fraction: 0.25}, "lines", 2 * time.Second,
			"[#######.......................]  25.0%  500 lines  250/s  ETA 6s"},
		{Status{Done: 2_500_000, Fraction: 0.5}, "lines", time.Second,
			"[###############...............]  50.0%  2500000 lines  2.50M/s  ETA 1s"},
		{Status{Done: 42, Fraction: -1}, "", 2 * time.Second,
			"42 items  21/s"},
		{Status{Label: "token c=16", Done: 3, Fraction: 1}, "steps", 10 * time.Second,
			"token c=16  [##############################] 100.0%  3 steps  0/s"},
		{Status{Done: 20_000, Fraction: 1.5}, "requests", time.Second,
			"[##############################] 100.0%  20000 requests  20.0k/s"},
		{Status{Done: 0, Fraction: 0}, "lines", 0, "[..............................]   0.0%  0 lines"},
	} {
		if got := Render(tc.s, tc.unit, tc.elapsed); got != tc.want {
			t.Errorf("Render(%+v, %q, %v)\n got %q\nwant %q", tc.s, tc.unit, tc.elapsed, got, tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the drawing goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestLineOnFakeTerminal: with Terminal set the line is drawn in place
// (carriage return, erase to end of line), log lines written through it
// erase it first, and Stop leaves the line erased.
func TestLineOnFakeTerminal(t *testing.T) {
	var buf syncBuffer
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	l := Start(&buf, Options{Unit: "lines", Interval: time.Hour, Terminal: true, Now: clock},
		func() Status { return Status{Done: 10, Fraction: 0.5} })
	now = now.Add(time.Second)
	l.Draw()
	if got, want := buf.String(), "\r[###############...............]  50.0%  10 lines  10/s  ETA 1s\033[K"; got != want {
		t.Fatalf("drawn %q, want %q", got, want)
	}
	l.Write([]byte("a log line\n"))
	if !strings.HasSuffix(buf.String(), "\033[K\r\033[Ka log line\n") {
		t.Errorf("log line did not erase the progress line first: %q", buf.String())
	}
	l.Draw()
	l.Stop()
	l.Stop()
	if !strings.HasSuffix(buf.String(), "\r\033[K") {
		t.Errorf("Stop left the line: %q", buf.String())
	}
}

// TestLineOffTerminal: a writer that is not a terminal gets no progress,
// only what is written through the Line.
func TestLineOffTerminal(t *testing.T) {
	var buf syncBuffer
	l := Start(&buf, Options{Interval: time.Millisecond}, func() Status { return Status{Done: 1, Fraction: -1} })
	time.Sleep(10 * time.Millisecond)
	l.Draw()
	l.Write([]byte("x\n"))
	l.Stop()
	if got := buf.String(); got != "x\n" {
		t.Errorf("off a terminal: %q", got)
	}
	if IsTerminal(&buf) {
		t.Error("a buffer is a terminal")
	}
}
