package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Node-level fault tests: the real `trustid serve` binary, provisioned
// through the CLI as trustid-bench does, with a fault made from outside
// the process while the load runs.

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// trustidBinary builds cmd/trustid once for the package's tests.
func trustidBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "trustid-fault-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin, buildErr = buildTrustID(context.Background(), dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// startFaultNode provisions and starts a node in a test directory with
// config (the raised limits are always there) and accredits the relying
// party as an issuer.
func startFaultNode(t *testing.T, ctx context.Context, extraConfig string) *bench {
	t.Helper()
	dir := t.TempDir()
	b := &bench{node: &node{bin: trustidBinary(t), dir: dir, data: filepath.Join(dir, "data"), env: childEnv(), config: serveConfig + extraConfig}}
	if err := b.node.provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.node.start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.node.stop() })
	if _, err := b.setupIssuer(ctx); err != nil {
		t.Fatalf("%v\n%s", err, b.node.logTail())
	}
	return b
}

// verifyState verifies cr on the node and returns "active", "suspended"
// or an error.
func verifyState(c *conn, cr credential) (string, error) {
	body, _ := json.Marshal(map[string]json.RawMessage{"verifiableCredential": cr.envelope})
	out, err := c.do("POST", "/credentials/verify", "", ctJSON, body, 200)
	var se *statusError
	switch {
	case err == nil && strings.Contains(string(out), `"verified":true`):
		return "active", nil
	case errors.As(err, &se) && se.status == 400 && strings.Contains(se.body, `"code":"suspended"`):
		return "suspended", nil
	case err == nil:
		return "", errors.New("verify: " + string(out))
	}
	return "", err
}

// TestFaultSIGKILLDuringWrites proves that nothing the node acknowledged
// is lost when it is killed with SIGKILL in the middle of writes: 8
// workers issue credentials and suspend them (each once) as fast as the
// node answers; after 2 s the node gets SIGKILL. It is restarted on the
// same data directory, and every credential whose issuance was answered
// 201 must verify, and every one whose suspension was answered 200 must
// verify as suspended. Unanswered requests (in flight at the kill) may go
// either way.
func TestFaultSIGKILLDuringWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := startFaultNode(t, ctx, "")

	type acked struct {
		cr        credential
		suspended bool
	}
	var mu sync.Mutex
	var got []acked
	var inFlightErrs atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c := newConn(b.node.base, &b.srcs, 0)
			defer c.close()
			for !stop.Load() {
				cr, err := b.issueOne(c)
				if err != nil {
					inFlightErrs.Add(1)
					return
				}
				mu.Lock()
				got = append(got, acked{cr: cr})
				i := len(got) - 1
				mu.Unlock()
				path := "/v1/credentials/" + url.PathEscape(cr.id) + "/status"
				if _, err := c.do("POST", path, b.token, ctJSON, []byte(`{"action":"suspend"}`), 200); err != nil {
					inFlightErrs.Add(1)
					return
				}
				mu.Lock()
				got[i].suspended = true
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second)
	if err := b.node.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.node.exited
	stop.Store(true)
	wg.Wait()
	b.node.cmd = nil

	if err := b.node.start(ctx); err != nil {
		t.Fatalf("restart after SIGKILL: %v", err)
	}
	issued, suspended := 0, 0
	var lost []string
	c := newConn(b.node.base, &b.srcs, verifyPerAddr)
	defer c.close()
	for _, a := range got {
		state, err := verifyState(c, a.cr)
		if err != nil {
			t.Fatalf("reading back %s: %v\n%s", a.cr.id, err, b.node.logTail())
		}
		issued++
		if a.suspended {
			suspended++
			if state != "suspended" {
				lost = append(lost, a.cr.id+" (suspension acknowledged, now "+state+")")
			}
		}
	}
	t.Logf("FIGURES fault=sigkill acknowledged_issuances=%d acknowledged_suspensions=%d in_flight_at_kill=%d lost=%d",
		issued, suspended, inFlightErrs.Load(), len(lost))
	if issued < 10 || suspended < 10 {
		t.Fatalf("only %d issuances and %d suspensions before the kill: the test proved nothing", issued, suspended)
	}
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged writes lost after SIGKILL: %v", len(lost), lost)
	}
}
