package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
)

// serveProcessArgs is the environment variable that makes
// TestServeProcess run the command line, as the trustid binary does.
const serveProcessArgs = "TRUSTID_TEST_PROCESS_ARGS"

// TestServeProcess is not a test: started by startProcess, it runs the
// command line in its own process (main's execute and exit status), so
// that a test can send it signals.
func TestServeProcess(t *testing.T) {
	args := os.Getenv(serveProcessArgs)
	if args == "" {
		t.Skip("run by startProcess only")
	}
	os.Exit(execute(newRootCmd(), strings.Split(args, "\n"), os.Stdout, os.Stderr))
}

// process is `trustid serve` running in a child process.
type process struct {
	cmd  *exec.Cmd
	logs *testnode.Buffer
	// lines has each log line as it is written; closed at end of output.
	lines chan string
	done  chan struct{}
	err   error
}

// startProcess starts `trustid serve --addr 127.0.0.1:0 --log-format
// json` with args in a child process (this test binary, through
// TestServeProcess) and returns at once; the child is killed when the
// test ends.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(exe, "-test.run=^TestServeProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), serveProcessArgs+"="+strings.Join(args, "\n"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: &testnode.Buffer{}, lines: make(chan string, 1024), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.logs.Write([]byte(sc.Text() + "\n"))
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, stderr)
		close(p.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits up to d for the process to exit and returns its exit
// status, or -1 if it was ended by a signal.
func (p *process) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("the node did not exit within %v:\n%s", d, p.logs.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

var servingAddr = regexp.MustCompile(`"msg":"serving".*?"addr":"([^"]+)"`)

// TestSIGHUPDuringStartup: SIGHUP asks a node to reload its keystore
// (README, docs/operations.md "Rotating a region's keys"), also while it
// is still starting (an operator's script that copies a keystore to every
// instance and signals each, one of them restarting): the node must not
// die of it, must come up and serve, and stops on SIGTERM with exit
// status 0. SIGHUP's default action ends the process, so it is caught
// before start-up writes its first log line.
func TestSIGHUPDuringStartup(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	p := startProcess(t, "--data", t.TempDir())
	base := ""
	hup := time.NewTicker(5 * time.Millisecond)
	defer hup.Stop()
	started := false // the node wrote its first log line
	for base == "" {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("the node exited while starting (%v): a SIGHUP killed it\n%s", p.err, p.logs.String())
			}
			started = true
			if m := servingAddr.FindStringSubmatch(line); m != nil {
				base = "http://" + m[1]
			}
		case <-hup.C:
			if started {
				p.cmd.Process.Signal(syscall.SIGHUP)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the node did not start:\n%s", p.logs.String())
		}
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("healthz: %v\n%s", err, p.logs.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.logs.String(), `"msg":"keystore reloaded"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.logs.String(), `"msg":"keystore reloaded"`) {
		t.Errorf("a SIGHUP sent while the node started was not acted on once it served:\n%s", p.logs.String())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0\n%s", code, p.logs.String())
	}
}

// TestDrainRunOutSaysWhatIsLeft: a request that holds the drain past
// --shutdown-timeout leaves the node's background work no time: the
// process ends with the acknowledged status change still in its outbox.
// The log must say so, as the outbox's own flush would have
// (docs/operations.md, "Stopping an instance" and "Backups": the line
// `ledger outbox not sent before stopping` says what an instance held),
// and say that the requests, not the ledger, took the time.
func TestDrainRunOutSaysWhatIsLeft(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir, addr := t.TempDir(), testport.Reserve(t)
	p := startProcess(t, "--data", dir, "--addr", addr, "--issuer", "http://"+addr, "--anchor-window", "1h", "--shutdown-timeout", "1s")
	for deadline := time.Now().Add(30 * time.Second); !servingAddr.MatchString(p.logs.String()); time.Sleep(20 * time.Millisecond) {
		select {
		case <-p.done:
			t.Fatalf("the node exited: %v\n%s", p.err, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not start:\n%s", p.logs.String())
		}
	}
	n := &authNode{t: t, dir: dir, base: "http://" + addr}
	n.issueAndRevoke()
	// A request whose body never ends holds the drain.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /oauth2/introspect HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntoken=")
	time.Sleep(200 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	logs := p.logs.String()
	for _, want := range []string{`"msg":"requests still running when the drain time ran out are cut off`,
		`"msg":"ledger outbox not sent before stopping`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log line %s:\n%s", want, logs)
		}
	}
	// The next start on the data directory sends what was left.
	base, _ := startServe(t, "--data", dir, "--addr", addr, "--issuer", "http://"+addr)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body := get(t, base+"/readyz")
		if strings.Contains(body, `"outbox_backlog_changes":0,`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted node did not send what its outbox held: %s", body)
		}
	}
}
