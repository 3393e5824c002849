// Package retrylog logs the failures of a retry loop without flooding
// the log: a loop retrying every few seconds against a ledger that is
// down, or a region pending admission for days, would otherwise write a
// warning at every attempt.
package retrylog

import (
	"context"
	"log/slog"
	"time"
)

// Log logs the failures of one retry loop: a failure whose error differs
// from the one before is logged at once; the same error again only once
// a quiet interval has passed since it was last logged, the interval
// doubling from a minute to an hour, with how many attempts failed with
// it and for how long. The zero value is ready (on time.Now); it is not
// safe for concurrent use.
type Log struct {
	// Now is the clock of the retries (nil: time.Now); a test drives its
	// own.
	Now func() time.Time

	err      string    // the error failing now
	since    time.Time // when it first failed
	attempts int       // the attempts failed with it
	next     time.Time // when it is logged again
	quiet    time.Duration
}

// Warn counts a failure with err and logs it with msg and attrs at
// warning level when due: a dependency that fails (a ledger that is
// down) and is retried until it answers.
func (r *Log) Warn(log *slog.Logger, msg string, err error, attrs ...any) {
	r.log(log, slog.LevelWarn, msg, err, attrs)
}

// Error is Warn at error level: a fault of the node's own that an
// operator must mend (a local disk that fails writes).
func (r *Log) Error(log *slog.Logger, msg string, err error, attrs ...any) {
	r.log(log, slog.LevelError, msg, err, attrs)
}

func (r *Log) log(log *slog.Logger, level slog.Level, msg string, err error, attrs []any) {
	now := r.now()
	if text := err.Error(); text != r.err {
		*r = Log{Now: r.Now, err: text, since: now, next: now, quiet: time.Minute}
	}
	r.attempts++
	if now.Before(r.next) {
		return
	}
	r.next = now.Add(r.quiet)
	r.quiet = min(2*r.quiet, time.Hour)
	log.Log(context.Background(), level, msg, append(attrs, slog.Int("failed_attempts", r.attempts), slog.Duration("failing_for", now.Sub(r.since)),
		slog.Duration("same_error_logged_again_after", r.next.Sub(now)), slog.Any("error", err))...)
}

// Failing reports whether a failure was counted since the loop last
// succeeded (Reset).
func (r *Log) Failing() bool { return r.err != "" }

// Reset records a success: the next failure is logged at once, even with
// the error of the failures before.
func (r *Log) Reset() { *r = Log{Now: r.Now} }

func (r *Log) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}
