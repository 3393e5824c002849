package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testport"
)

// lbConfig is the committed deploy/haproxy/haproxy.cfg made to run here:
// the Compose resolvers dropped, bound to front, one server: backend.
func lbConfig(t *testing.T, front, backend string) string {
	t.Helper()
	f, err := os.Open("../../deploy/haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	section, servers := "", 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			section = fields[0]
		}
		switch {
		case section == "resolvers":
			continue
		case fields[0] == "bind":
			line = "    bind " + front
		case fields[0] == "server":
			if servers++; servers > 1 {
				continue
			}
			line = "    server " + fields[1] + " " + backend + " " + strings.Join(fields[3:], " ")
		case fields[0] == "default-server":
			line, _, _ = strings.Cut(line, " resolvers ")
		}
		b.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// runHAProxy checks config with `haproxy -c` and runs HAProxy on it until
// the test ends; what HAProxy prints goes to the returned log.
func runHAProxy(t *testing.T, haproxy, config string) *strings.Builder {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hp := exec.CommandContext(ctx, haproxy, "-db", "-f", cfg)
	hlog := new(strings.Builder)
	hp.Stdout, hp.Stderr = hlog, hlog
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); hp.Wait() })
	return hlog
}

// waitServing waits (10 s at most) until HAProxy at front answers
// /healthz with 200 from the node behind it; hlog is its output.
func waitServing(t *testing.T, front string, hlog *strings.Builder) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + front + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy not serving on %s: %v\n%s", front, err, hlog.String())
		}
	}
}

// clientFrom is an HTTP client whose connections come from the loopback
// address src, as a separate machine would.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// TestTrustedProxyThroughHAProxy: behind the committed HAProxy
// configuration and --trusted-proxies, two clients get a per-address
// limit each; a forged X-Forwarded-For, through the balancer or straight
// to the node, does not move a client to another counter.
func TestTrustedProxyThroughHAProxy(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	testenv.Require(t, "haproxy", err)
	t.Setenv("TRUSTID_KEK", "")
	base, _ := startServe(t, "--data", t.TempDir(), "--trusted-proxies", "127.0.0.1/32", "--token-rate-addr", "2/1h")
	node := strings.TrimPrefix(base, "http://")

	front := testport.Reserve(t)
	hlog := runHAProxy(t, haproxy, lbConfig(t, front, node))

	token := func(src, via, forged string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+via+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if forged != "" {
			req.Header.Set("X-Forwarded-For", forged)
		}
		resp, err := clientFrom(src).Do(req)
		if err != nil {
			t.Fatalf("from %s via %s: %v\n%s", src, via, err, hlog.String())
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// HAProxy is up once it answers with the node's health-checked backend.
	waitServing(t, front, hlog)

	// /metrics is the operators' (read from each instance), not
	// published through the balancer, in any spelling the node's router
	// would take for it; the node itself still serves it.
	for _, path := range []string{"/metrics", "/%6Detrics", "/metric%73", "//metrics", "/./metrics"} {
		resp, err := clientFrom("127.0.0.5").Get("http://" + front + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "trustid_http_requests_total") {
			t.Errorf("GET %s through the balancer: %d, the node's metrics", path, resp.StatusCode)
		}
	}
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics at the node: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Client A: two unauthenticated calls (401), then its limit (429).
	for i, want := range []int{401, 401, 429} {
		if got := token("127.0.0.2", front, ""); got != want {
			t.Fatalf("client A call %d through HAProxy: %d, want %d", i+1, got, want)
		}
	}
	// Client B, behind the same balancer: a limit of its own, forged
	// headers or not.
	for i, c := range []struct {
		forged string
		want   int
	}{{"203.0.113.50", 401}, {"203.0.113.51", 401}, {"127.0.0.9", 429}} {
		if got := token("127.0.0.3", front, c.forged); got != c.want {
			t.Fatalf("client B call %d through HAProxy (forged %q): %d, want %d", i+1, c.forged, got, c.want)
		}
	}
	// Straight to the node from an untrusted address, each call forging
	// a new client: all count against the peer.
	for i, want := range []int{401, 401, 429} {
		if got := token("127.0.0.4", node, "198.51.100."+string(rune('1'+i))); got != want {
			t.Fatalf("direct call %d with a forged header: %d, want %d", i+1, got, want)
		}
	}
}

func TestServeRejectsBadTrustedProxies(t *testing.T) {
	t.Setenv("TRUSTID_TRUSTED_PROXIES", "10.0.0.0/8,lb.example")
	_, _, err := run(t, context.Background(), "serve", "--data", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--trusted-proxies") || !strings.Contains(err.Error(), `"lb.example"`) {
		t.Fatalf("bad --trusted-proxies: %v", err)
	}
}

// TestLBCheckWaitsForReadiness: the committed HAProxy configuration keeps
// an instance whose /readyz answers 200 in 800 ms (a slow peer; the
// node's checks may take up to 2 s) in the pool, rather than timing the
// check out at its 500 ms interval and answering 503 for a ready region.
func TestLBCheckWaitsForReadiness(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	testenv.Require(t, "haproxy", err)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			time.Sleep(800 * time.Millisecond)
		}
		io.WriteString(w, `{"status":"ready"}`)
	}))
	defer backend.Close()
	front := testport.Reserve(t)
	hlog := runHAProxy(t, haproxy, lbConfig(t, front, strings.TrimPrefix(backend.URL, "http://")))
	// Several check intervals: two timed-out checks would have taken the
	// instance out.
	time.Sleep(4 * time.Second)
	for i := 0; i < 3; i++ {
		resp, err := http.Get("http://" + front + "/lb-probe") // no node route: not checked against the OpenAPI document
		if err != nil {
			t.Fatalf("through HAProxy: %v\n%s", err, hlog.String())
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("through HAProxy: %d, the ready instance was taken out\n%s", resp.StatusCode, hlog.String())
		}
	}
}

// TestSlowHeadersThroughHAProxy: a client that sends its request's
// headers a line a second (slowloris) is cut off within the node's
// header timeout (5 s, ReadHeaderTimeout) whether it talks to the node
// or to the committed HAProxy configuration in front of it. HAProxy
// forwards only complete headers, so the node's own timeout never sees
// such a client, and `timeout client` is an inactivity timeout that each
// line restarts: only `timeout http-request` bounds it.
func TestSlowHeadersThroughHAProxy(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	testenv.Require(t, "haproxy", err)
	t.Setenv("TRUSTID_KEK", "")
	base, _ := startServe(t, "--data", t.TempDir())
	node := strings.TrimPrefix(base, "http://")
	front := testport.Reserve(t)
	hlog := runHAProxy(t, haproxy, lbConfig(t, front, node))
	waitServing(t, front, hlog)

	// slow sends a header line a second to addr until the peer answers
	// or closes, and says after how long and with what first line.
	slow := func(addr string) (time.Duration, string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: trustid.example\r\n")
		buf := make([]byte, 64)
		for time.Since(start) < 10*time.Second {
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if n > 0 || err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
				return time.Since(start), line
			}
			if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
				return time.Since(start), err.Error()
			}
		}
		return time.Since(start), "still open"
	}
	for _, c := range []struct{ name, addr string }{{"node", node}, {"balancer", front}} {
		took, first := slow(c.addr)
		if took > 8*time.Second || strings.Contains(first, " 200 ") {
			t.Errorf("slow headers to the %s: %q after %v, want the connection cut within about 5 s", c.name, first, took.Round(100*time.Millisecond))
		}
	}
}

// TestNoSmugglingThroughHAProxy: requests whose framing two parsers might
// read apart (Content-Length with Transfer-Encoding, two lengths, a
// disguised or folded Transfer-Encoding, a length with a sign) carry, as
// their body by one reading, a GET /metrics that the committed HAProxy
// configuration refuses when it sees it as a request. HAProxy and the
// node's net/http read each the same way, so no such GET reaches the node
// (its access log), and the balancer serves on.
func TestNoSmugglingThroughHAProxy(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	testenv.Require(t, "haproxy", err)
	t.Setenv("TRUSTID_KEK", "")
	base, logs := startServe(t, "--data", t.TempDir(), "--access-log-flush", "0")
	front := testport.Reserve(t)
	hlog := runHAProxy(t, haproxy, lbConfig(t, front, strings.TrimPrefix(base, "http://")))
	waitServing(t, front, hlog)
	const smuggled = "GET /metrics HTTP/1.1\r\nHost: n\r\n\r\n"
	chunk := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled)
	post := "POST /oauth2/token HTTP/1.1\r\nHost: n\r\nContent-Type: application/x-www-form-urlencoded\r\n"
	for name, req := range map[string]string{
		"CL.TE":              post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"TE.CL":              post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk,
		"two lengths":        post + "Content-Length: 0\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled,
		"length list":        post + "Content-Length: 0, " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled,
		"signed length":      post + "Content-Length: +0\r\n\r\n" + smuggled,
		"TE xchunked":        post + "Content-Length: 0\r\nTransfer-Encoding: xchunked\r\n\r\n" + chunk,
		"TE space":           post + "Content-Length: 0\r\nTransfer-Encoding : chunked\r\n\r\n" + chunk,
		"TE tab":             post + "Content-Length: 0\r\nTransfer-Encoding:\tchunked\r\n\r\n" + chunk,
		"TE folded":          post + "Content-Length: 0\r\nTransfer-Encoding:\r\n chunked\r\n\r\n" + chunk,
		"TE twice":           post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n" + chunk,
		"TE chunked,chunked": post + "Transfer-Encoding: chunked, chunked\r\n\r\n" + chunk,
		"TE in HTTP/1.0":     "POST /oauth2/token HTTP/1.0\r\nHost: n\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n" + chunk,
	} {
		c, err := net.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req+"GET /healthz HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n")
		answers, _ := io.ReadAll(c)
		c.Close()
		if strings.Contains(string(answers), "trustid_http_requests_total") {
			t.Errorf("%s: the node's metrics came back through the balancer:\n%s", name, answers)
		}
	}
	resp, err := http.Get("http://" + front + "/healthz")
	if err != nil {
		t.Fatalf("HAProxy no longer serving: %v\n%s", err, hlog.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HAProxy no longer serving: %s\n%s", resp.Status, hlog.String())
	}
	if strings.Contains(logs.String(), `"route":"GET /metrics"`) {
		t.Errorf("a request hidden in another's body reached the node:\n%s", logs.String())
	}
}
