// Package linebuf is a buffered writer for log lines: the node's access
// log writes one line a request, and a write system call each costs more
// than formatting the line. Lines collect in memory and reach the
// underlying writer in batches: when the buffer would overflow, on a
// timer, and on Flush or Close. Each Write is kept whole (one record of
// a slog handler): it is never split across two writes of the underlying
// writer, so lines written to the same file by other, unbuffered loggers
// never land inside one of these.
//
// What a crash loses: the lines written since the last flush, at most
// one interval's worth (or a buffer's). Do not use it for a log whose
// lines must survive a crash (the audit log is a separate, synced file).
package linebuf

import (
	"io"
	"sync"
	"time"
)

// Writer buffers whole writes for an underlying writer. Safe for
// concurrent use.
type Writer struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []byte
	err      error // the last failed flush's, returned by the next Write or Flush
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	closed   bool // after Close, writes go straight through
}

// New returns a Writer over w holding up to size bytes, flushed every
// interval by a goroutine of its own until Close. Writes longer than size
// go to w at once (after what is buffered).
func New(w io.Writer, size int, interval time.Duration) *Writer {
	b := &Writer{w: w, buf: make([]byte, 0, size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run(interval)
	return b
}

func (b *Writer) run(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Write buffers p, first writing out what is buffered when p does not fit.
// An error of an earlier flush is returned once, with p buffered anyway.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.buf)+len(p) > cap(b.buf) {
		b.flushLocked()
		if b.closed || len(p) > cap(b.buf) {
			if _, err := b.w.Write(p); err != nil {
				return 0, err
			}
			return len(p), b.takeErr()
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), b.takeErr()
}

// Flush writes out what is buffered.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	return b.takeErr()
}

// Close stops the timer and flushes. Writes after Close go to w at once
// (a request that outlives the server's drain still has its line logged).
func (b *Writer) Close() error {
	b.stopOnce.Do(func() { close(b.stop) })
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.flushLocked()
	return b.takeErr()
}

func (b *Writer) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	if _, err := b.w.Write(b.buf); err != nil {
		b.err = err
	}
	b.buf = b.buf[:0]
}

func (b *Writer) takeErr() error {
	err := b.err
	b.err = nil
	return err
}
