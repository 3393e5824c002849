package testnode

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// miniServe is a stand-in command line with trustid serve's contract: it
// listens on --addr, logs "serving" with the address as JSON, answers
// /readyz 503 for --ready-after (a ledger view still loading) and 200
// then, and returns nil when ctx is cancelled.
func miniServe(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "serve" {
		return errors.New("no serve command")
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "", "")
	fs.String("log-format", "", "")
	fail := fs.Bool("fail", false, "")
	readyAfter := fs.Duration("ready-after", 0, "")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *fail {
		return errors.New("refused to start")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ready := time.Now().Add(*readyAfter)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && time.Now().Before(ready) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		io.WriteString(w, "ok")
	})}
	slog.New(slog.NewJSONHandler(stderr, nil)).Info("serving", "addr", ln.Addr().String())
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func TestStartServesAndStops(t *testing.T) {
	n := Start(t, miniServe)
	resp, err := http.Get(n.Base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body = %q", body)
	}
	n.Stop()
	n.Stop() // a second Stop does nothing
	if _, err := http.Get(n.Base + "/"); err == nil {
		t.Fatal("node still serving after Stop")
	}
}

// TestStartWaitsUntilReady: a node that serves before it is ready
// (trustid serve's ledger view loads after it listens) is returned only
// once /readyz answers 200, so a test's first request is not answered
// 503.
func TestStartWaitsUntilReady(t *testing.T) {
	n := Start(t, miniServe, "--ready-after", "300ms")
	resp, err := http.Get(n.Base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz right after Start: %d, want 200", resp.StatusCode)
	}
}

func TestStartFailsWhenServeExits(t *testing.T) {
	var failed bool
	ft := &fatalRecorder{TB: t, failed: &failed}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(ft, miniServe, "--fail")
	}()
	<-done
	if !failed {
		t.Fatal("Start did not fail the test when serve exited")
	}
}

// fatalRecorder records Fatalf instead of failing the enclosing test.
type fatalRecorder struct {
	testing.TB
	failed *bool
}

func (f *fatalRecorder) Fatalf(string, ...any) { *f.failed = true; runtime.Goexit() }
func (f *fatalRecorder) Helper()               {}
func (f *fatalRecorder) Cleanup(func())        {}

// TestCheckLogLines: a JSON log line with a key given twice (a log
// call repeating an attribute its logger's With already has) is
// reported; text lines and strict lines are not.
func TestCheckLogLines(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&b, nil)).With(slog.String("region", "310000"))
	log.Info("fine", slog.String("did", "did:web:x"))
	b.WriteString("panic: a text line\n")
	if err := CheckLogLines(b.String()); err != nil {
		t.Fatalf("strict lines reported: %v", err)
	}
	log.Warn("moved", slog.String("region", "310000"))
	if err := CheckLogLines(b.String()); err == nil || !strings.Contains(err.Error(), "moved") {
		t.Fatalf("a repeated key: %v, want the line reported", err)
	}
}
