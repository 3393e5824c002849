// Package progress draws the one-line progress report of the command-line
// tools' long work (trustid id derive-batch, trustid-bench): a bar when
// the total is known, the count, the rate and the time left, redrawn in
// place on a terminal's standard error.
//
// It draws only on a terminal (or when Options.Terminal says to, for
// tests); callers also leave it off when they print machine-readable
// output, so that nothing but the result reaches a script.
package progress

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Status is what a progress line shows at one moment.
type Status struct {
	// Label names the work in progress, e.g. "token c=16"; may be empty.
	Label string
	// Done counts what is done, in Options.Unit.
	Done int64
	// Fraction is the share of the work done, 0 to 1, or negative when
	// the total is unknown (no bar, no time left).
	Fraction float64
}

// Options configure a progress line. The zero value draws every 200 ms on
// a terminal only, counting "items".
type Options struct {
	Unit     string        // what Done counts, e.g. "lines"; default "items"
	Interval time.Duration // between redraws; default 200 ms
	// Terminal draws even when the writer is not a terminal (tests).
	Terminal bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// barWidth is the width of the bar, in characters.
const barWidth = 30

// Render formats one progress line (without the carriage return and the
// erase sequence Line adds): "[####......]  42.0%  1234 lines  2.5k/s  ETA 12s",
// or without bar and ETA when the fraction is unknown.
func Render(s Status, unit string, elapsed time.Duration) string {
	if unit == "" {
		unit = "items"
	}
	var b strings.Builder
	if s.Label != "" {
		b.WriteString(s.Label)
		b.WriteString("  ")
	}
	frac := s.Fraction
	if frac >= 0 {
		frac = min(frac, 1)
		filled := int(frac * barWidth)
		fmt.Fprintf(&b, "[%s%s] %5.1f%%  ", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), 100*frac)
	}
	fmt.Fprintf(&b, "%d %s", s.Done, unit)
	if secs := elapsed.Seconds(); secs > 0 {
		fmt.Fprintf(&b, "  %s/s", humanRate(float64(s.Done)/secs))
	}
	if frac > 0 && frac < 1 && elapsed > 0 {
		left := time.Duration(float64(elapsed) * (1 - frac) / frac)
		fmt.Fprintf(&b, "  ETA %s", left.Round(time.Second))
	}
	return b.String()
}

// humanRate writes a rate with a k or M suffix above a thousand.
func humanRate(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "-"
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// Line is a running progress line. Its Write method lets other output
// (log lines) go to the same stream: it erases the line first, and the
// next tick draws it again below.
type Line struct {
	w     io.Writer
	o     Options
	read  func() Status
	start time.Time

	mu    sync.Mutex
	drawn bool
	done  chan struct{}
	wg    sync.WaitGroup
}

// Start draws read's status on w every interval until Stop, when w is a
// terminal (or o.Terminal is set). Otherwise the Line draws nothing and
// Write passes through.
func Start(w io.Writer, o Options, read func() Status) *Line {
	if o.Interval <= 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Line{w: w, o: o, read: read, start: o.Now()}
	if !o.Terminal && !IsTerminal(w) {
		return l
	}
	l.done = make(chan struct{})
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(o.Interval)
		defer tick.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-tick.C:
				l.Draw()
			}
		}
	}()
	return l
}

// Draw draws the line now.
func (l *Line) Draw() {
	if l.done == nil {
		return
	}
	s := l.read()
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "\r%s\033[K", Render(s, l.o.Unit, l.o.Now().Sub(l.start)))
	l.drawn = true
}

// Write erases the line, if drawn, and writes p.
func (l *Line) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.erase()
	return l.w.Write(p)
}

func (l *Line) erase() {
	if l.drawn {
		fmt.Fprint(l.w, "\r\033[K")
		l.drawn = false
	}
}

// Stop stops drawing and erases the line. It may be called more than once.
func (l *Line) Stop() {
	if l.done == nil {
		return
	}
	l.mu.Lock()
	select {
	case <-l.done:
		l.mu.Unlock()
		return
	default:
		close(l.done)
	}
	l.mu.Unlock()
	l.wg.Wait()
	l.mu.Lock()
	l.erase()
	l.mu.Unlock()
}
