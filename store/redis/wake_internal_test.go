package redisstore

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testredis"
)

// syncLog is a log the store's wake goroutine writes while the test
// reads it.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWakeRecoveryLogged: a subscription that fails (Redis down) is
// logged; once one has held for wake.settled (a minute, here none)
// after failures, the store logs that it works again.
func TestWakeRecoveryLogged(t *testing.T) {
	srv := testredis.StartServer(t)
	logs := &syncLog{}
	r, err := New(testredis.Client(t, srv.Addr), Options{Prefix: "trustid:310000:", Log: slog.New(slog.NewJSONHandler(logs, nil)), WakeCheck: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	r.wake.settled = 0
	srv.Kill()
	const failed, again = `"msg":"redis: the wake subscription failed`, `"msg":"redis: the wake subscription works again"`
	waitLogged := func(msg string, n int) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); strings.Count(logs.String(), msg) < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%s not logged %d times in 30 s:\n%s", msg, n, logs.String())
			}
		}
	}
	_ = r.startWake()
	waitLogged(failed, 1)
	srv.Restart()
	if err := r.Subscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitLogged(again, 1)
}
