package retrylog

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestHourly: a failure every 5 s for a day is logged 29 times (at 0, 1,
// 3, 7, 15, 31 and 63 minutes, then hourly), counting the attempts;
// after a success (Reset) the same error is logged at once again, as its
// first attempt; another error is logged at once.
func TestHourly(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	r := Log{Now: func() time.Time { return now }}
	failure := errors.New("ledger: unavailable")
	for end := now.Add(24 * time.Hour); now.Before(end); now = now.Add(5 * time.Second) {
		r.Warn(log, "failed", failure)
	}
	if got := strings.Count(logs.String(), `"msg":"failed"`); got != 29 {
		t.Fatalf("logged %d times in a day, want 29:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), `"failed_attempts":16597,`) { // the last line, at 23 h 3 min
		t.Errorf("the last line does not count the attempts:\n%s", logs.String())
	}
	if !r.Failing() {
		t.Error("Failing() = false after failures")
	}
	logs.Reset()
	r.Reset()
	if r.Failing() {
		t.Error("Failing() = true after Reset")
	}
	r.Warn(log, "failed", failure)
	if !strings.Contains(logs.String(), `"failed_attempts":1,`) {
		t.Errorf("after a success, the same error again: %q", logs.String())
	}
	logs.Reset()
	r.Warn(log, "failed", errors.New("ledger: refused"))
	if !strings.Contains(logs.String(), `"failed_attempts":1,`) {
		t.Errorf("another error: %q", logs.String())
	}
}

// TestErrorLevel: Error paces its lines as Warn does, at error level.
func TestErrorLevel(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	r := Log{Now: func() time.Time { return now }}
	for range 10 {
		r.Error(log, "failed", errors.New("outbox: write failed"))
		now = now.Add(time.Second)
	}
	if got := strings.Count(logs.String(), `"level":"ERROR","msg":"failed"`); got != 1 || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("10 failures in 10 s logged:\n%s\nwant one line at error level", logs.String())
	}
}
