package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// netHTTPEnv, set to 1, makes this program the net/http row's server
// instead of the load tool (see serveNetHTTP).
const netHTTPEnv = "TRUSTID_BENCH_NETHTTP"

// serveNetHTTP is Go's net/http with nothing of TrustID: the server
// settings of `trustid serve` (cmd/trustid/serve.go: timeouts, header
// limit) and a handler writing /healthz's 15-byte JSON answer, no
// middleware, no log. It prints its base URL on stdout and serves until
// stdin closes (the load tool exited).
func serveNetHTTP() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	answer := []byte(`{"status":"ok"}`)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(answer)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		srv.Close()
	}()
	fmt.Printf("http://%s\n", ln.Addr())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// runNetHTTP drives GET /healthz of serveNetHTTP's process like the
// baseline drives the node's: what of the baseline is Go's HTTP server
// and the kernel's loopback TCP, the part no change in TrustID can
// remove.
func (b *bench) runNetHTTP(ctx context.Context, conc int) (measure, error) {
	self, err := os.Executable()
	if err != nil {
		return measure{}, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), netHTTPEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return measure{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return measure{}, err
	}
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return measure{}, err
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	base, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(base, "http://127.0.0.1:") {
		return measure{}, fmt.Errorf("net/http server: no address (%v)", err)
	}
	n := b.node
	nodeBase, nodePID := n.base, n.pid
	n.base, n.pid = strings.TrimSpace(base), strconv.Itoa(cmd.Process.Pid)
	defer func() { n.base, n.pid = nodeBase, nodePID }()
	b.profile = "" // the pprof listener is the node's
	return b.runBaseline(ctx, conc)
}
