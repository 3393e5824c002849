// Package testnode starts a real TrustID node for tests, the way an
// operator does: `trustid serve` on a free loopback port, with JSON logs
// collected, run in-process through the command line's own entry point
// and stopped (and waited for) when the test ends.
package testnode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Main runs the trustid command line with args until ctx is cancelled,
// writing its logs to stderr (cmd/trustid passes its root command).
type Main func(ctx context.Context, args []string, stderr io.Writer) error

// Node is a running node.
type Node struct {
	// Base is the node's base URL, "http://127.0.0.1:PORT".
	Base string
	// Logs holds the node's log lines (JSON).
	Logs *Buffer

	t       testing.TB
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// startTimeout bounds how long Start waits for the node to listen and be
// ready, and Stop for it to shut down.
const startTimeout = 10 * time.Second

var serving = regexp.MustCompile(`"msg":"serving".*?"addr":"([^"]+)"`)

// Start runs `serve --addr 127.0.0.1:0 --log-format json` followed by args
// and waits until the node logs the address it serves on and then, as a
// load balancer does, until its /readyz answers 200: a node serves
// before it is ready (its ledger view loads in the background) and
// answers 503 meanwhile. The node is stopped by t.Cleanup; serve
// returning an error then fails the test.
func Start(t testing.TB, main Main, args ...string) *Node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{Logs: &Buffer{}, t: t, cancel: cancel, done: make(chan error, 1)}
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	go func() { n.done <- main(ctx, args, n.Logs) }()
	t.Cleanup(n.Stop)
	deadline := time.Now().Add(startTimeout)
	for ; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if n.Base == "" {
			if m := serving.FindStringSubmatch(n.Logs.String()); m != nil {
				n.Base = "http://" + m[1]
			}
		}
		if n.Base != "" && n.ready(deadline) {
			return n
		}
		select {
		case err := <-n.done:
			n.stopped = true
			t.Fatalf("serve exited: %v\n%s", err, n.Logs.String())
		default:
		}
	}
	if n.Base != "" {
		t.Fatalf("serve did not become ready (/readyz 200):\n%s", n.Logs.String())
	}
	t.Fatalf("serve did not start:\n%s", n.Logs.String())
	return nil
}

// ready reports whether the node's /readyz answers 200 before deadline.
func (n *Node) ready(deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.Base+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop stops the node and waits for serve to return; it fails the test if
// serve returns an error or takes longer than 10 s. Calling it again does
// nothing.
func (n *Node) Stop() {
	if n.stopped {
		return
	}
	n.stopped = true
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("serve: %v", err)
		}
		if err := CheckLogLines(n.Logs.String()); err != nil {
			n.t.Error(err)
		}
	case <-time.After(startTimeout):
		n.t.Error("serve did not shut down")
	}
}

// CheckLogLines reports the first JSON log line (a line starting with
// "{") that is not one strict JSON object: a key given twice (a logger
// whose attributes repeat one of its With's) is read differently by
// different log processors.
func CheckLogLines(logs string) error {
	for line := range strings.Lines(logs) {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		if err := strictjson.Check([]byte(line), len(line)); err != nil {
			return fmt.Errorf("log line %.300s: %w", line, err)
		}
	}
	return nil
}

// Buffer is an io.Writer that collects output and is safe for concurrent
// use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
