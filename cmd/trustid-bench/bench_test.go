package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testredis"
)

func TestParseStat(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime 250 and stime 50
	// ticks are fields 14 and 15.
	line := "4242 (trust id) (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0\n"
	d, err := parseStat(line)
	if err != nil || d != 3*time.Second {
		t.Fatalf("parseStat = %v, %v; want 3s", d, err)
	}
	for _, bad := range []string{"", "4242 no parens", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 -5 6 7"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	before, err := cpuTime("self")
	if err != nil {
		t.Fatal(err)
	}
	// Spin for 300 ms of wall time: at least one tick of CPU must show,
	// however busy the machine.
	x := 0
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		x++
	}
	after, err := cpuTime("self")
	if err != nil {
		t.Fatal(err)
	}
	if after-before < time.Second/userHZ || after-before > 10*time.Second {
		t.Errorf("CPU time went from %v to %v over a 300 ms spin (%d)", before, after, x)
	}
}

func TestPerRequest(t *testing.T) {
	for _, c := range []struct {
		before, after time.Duration
		n             int
		want          float64
	}{
		{time.Second, 3 * time.Second, 4000, 500}, // 2 s over 4,000 requests
		{0, 10 * time.Millisecond, 1, 10000},
		{0, time.Second, 0, 0},
		{time.Second, 0, 10, 0},
	} {
		if got := perRequest(c.before, c.after, c.n); got != c.want {
			t.Errorf("perRequest(%v, %v, %d) = %v, want %v", c.before, c.after, c.n, got, c.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 200; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]float64{50: 100, 99: 198, 100: 200, 0: 1} {
		if got := percentile(lat, p); got != want {
			t.Errorf("p%v = %v ms, want %v", p, got, want)
		}
	}
	if percentile(nil, 50) != 0 || percentile(lat[:1], 99) != 1 {
		t.Error("edge cases")
	}
}

// TestResultFigures: a row's figures are what report.go's fields say:
// requests/s count the successful requests, p50 and p99 are of their
// latencies, node CPU per request divides the window's CPU time by every
// request answered, and the floor's figures derive from the floor timed
// after the window: node CPU ÷ floor, and the throughput its all-CPU
// timing allows on the CPUs the generator leaves.
func TestResultFigures(t *testing.T) {
	floors, err := newFloorTimer()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{floors: floors}
	m := measure{elapsed: 2 * time.Second, errors: map[string]int{"HTTP 503": 100}, serverCPU: 600 * time.Millisecond,
		genCPU: 500 * time.Millisecond, raced: 100, doubles: 3}
	for i := 1; i <= 1000; i++ { // 1 ms .. 1000 ms
		m.lat = append(m.lat, time.Duration(i)*time.Millisecond)
	}
	x := b.result(route{name: "verify", route: "POST /v1/credentials/verify", floor: floorOps{Verifies: 1}}, 4, m)
	near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-9*max(1, math.Abs(want)) }
	if x.Requests != 1100 || x.OK != 1000 || !near(x.PerSecond, 500) || x.P50 != 500 || x.P99 != 990 || x.Max != 1000 {
		t.Errorf("requests %d, ok %d, ok/s %v, p50 %v, p99 %v, max %v; want 1100, 1000, 500, 500, 990, 1000", x.Requests, x.OK, x.PerSecond, x.P50, x.P99, x.Max)
	}
	if !near(x.NodeCPUMicros, 600e3/1100) || !near(x.NodeCPUs, 0.3) || !near(x.GeneratorCPUs, 0.25) {
		t.Errorf("node CPU %v µs/req, node CPUs %v, generator CPUs %v; want %v, 0.3, 0.25", x.NodeCPUMicros, x.NodeCPUs, x.GeneratorCPUs, 600e3/1100)
	}
	p := x.FloorPrimitives
	if x.Floor != "1 SM2 verify" || p.SM2VerifyMicros <= 0 || p.SM2SignMicros != 0 || !near(x.FloorMicros, p.SM2VerifyMicros) || !near(x.FloorRatio, x.NodeCPUMicros/x.FloorMicros) {
		t.Errorf("floor %q, %v µs (primitives %+v), node CPU ÷ floor %v", x.Floor, x.FloorMicros, p, x.FloorRatio)
	}
	left := float64(runtime.NumCPU()) - 0.25
	if x.FloorAllCoresMicros <= 0 || !near(x.FloorPerSecond, left*1e6/x.FloorAllCoresMicros) || !near(x.FloorShare, 500/x.FloorPerSecond) {
		t.Errorf("floor on all CPUs %v µs, %v/s on %v CPUs, share %v", x.FloorAllCoresMicros, x.FloorPerSecond, left, x.FloorShare)
	}
	if x.RacedCodes != 100 || x.DoubleRedemptions != 3 {
		t.Errorf("raced %d, redeemed twice %d; want 100, 3", x.RacedCodes, x.DoubleRedemptions)
	}
}

func TestFloor(t *testing.T) {
	p := primitives{SM2SignMicros: 10, SM2VerifyMicros: 40, SM3BlockMicros: 0.5, ES256VerifyMicros: 60}
	f := floorOps{Signs: 3, Verifies: 2, SM3Blocks: 4, ES256Verifies: 2}
	if got := f.micros(p); got != 3*10+2*40+4*0.5+2*60 {
		t.Errorf("micros = %v", got)
	}
	if s := f.String(); s != "2 SM2 verify + 3 SM2 sign + 4 SM3 blocks + 2 ES256 verify" {
		t.Errorf("String = %q", s)
	}
	// SM3(Z || M) pads 32 + n bytes with at least 9: 400 bytes are 7
	// blocks, 407 still 7, 408 eight.
	for n, want := range map[int]int{0: 1, 23: 1, 24: 2, 400: 7, 407: 7, 408: 8} {
		if got := sm2Blocks(n); got != want {
			t.Errorf("sm2Blocks(%d) = %d, want %d", n, got, want)
		}
	}
	if n, err := signingInput(json.RawMessage(`{"id":"data:application/vc+jwt,aGVhZA.cGF5bG9hZA.c2ln"}`)); n != len("aGVhZA.cGF5bG9hZA") || err != nil {
		t.Errorf("signingInput = %d, %v", n, err)
	}
	for _, bad := range []string{`{"id":"data:application/vc+jwt,nodot"}`, `{"id":"https://example.com/a.b"}`, `[]`} {
		if _, err := signingInput(json.RawMessage(bad)); err == nil {
			t.Errorf("signingInput(%s): no error", bad)
		}
	}
}

// TestBudgetsUnderNodeLimits keeps the per-address budgets below the
// node's limits that have no setting: if a default is lowered, the load
// would be refused (or would have to be raised past it).
func TestBudgetsUnderNodeLimits(t *testing.T) {
	if verifyPerAddr >= api.DefaultVerifyLimit.Limit {
		t.Errorf("verify budget %d, node limit %v", verifyPerAddr, api.DefaultVerifyLimit)
	}
	if qrIssuePerAddr >= api.DefaultQRLimits.Issue.Limit {
		t.Errorf("QR issue budget %d, node limit %v", qrIssuePerAddr, api.DefaultQRLimits.Issue)
	}
}

// TestEnrollInputsCoverTarget: the prepared enrollments last a whole
// window at the target rate with room to spare, so a run that meets the
// target is not cut short by "inputs ran out".
func TestEnrollInputsCoverTarget(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 5 * time.Second, time.Minute} {
		if n := poolSize(enrollRateCap, d, 64); float64(n) < 1.5*enrollTarget*d.Seconds()+64*warm {
			t.Errorf("%v: %d inputs prepared, want at least 1.5 × %d/s of it plus the warm-up", d, n, enrollTarget)
		}
	}
}

// TestContentionEnv: only the two contention settings are passed on to
// the node, as given.
func TestContentionEnv(t *testing.T) {
	env := map[string]string{"TRUSTID_PPROF_MUTEX_FRACTION": "5", "TRUSTID_KEK": "secret", "TRUSTID_PPROF_ADDR": "127.0.0.1:1"}
	got := contentionEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if len(got) != 1 || got[0] != "TRUSTID_PPROF_MUTEX_FRACTION=5" {
		t.Fatalf("passed on %q", got)
	}
}

// TestConnMovesSourceAddress sends seven requests with a budget of three
// and checks the server saw three loopback source addresses, each for at
// most three requests, none of them 127.0.0.1.
func TestConnMovesSourceAddress(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		seen[host]++
		mu.Unlock()
	}))
	defer ts.Close()
	var srcs sources
	c := newConn(ts.URL, &srcs, 3)
	defer c.close()
	for range 7 {
		if _, err := c.do("GET", "/", "", ctJSON, nil, 200); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 3 || c.addrs != 3 {
		t.Fatalf("sources %v (conn counted %d)", seen, c.addrs)
	}
	for ip, n := range seen {
		if a := net.ParseIP(ip); a == nil || !a.IsLoopback() || ip == "127.0.0.1" || n > 3 {
			t.Errorf("source %s used %d times", ip, n)
		}
	}
	// Addresses never repeat and skip .0 and .255.
	all := map[string]bool{}
	for range 600 {
		ip := srcs.next().To4()
		if all[ip.String()] || ip[3] == 0 || ip[3] == 255 || ip[0] != 127 {
			t.Fatalf("source %v", ip)
		}
		all[ip.String()] = true
	}
}

func TestParseLists(t *testing.T) {
	cs, ps, err := parseLists("1, 16", "token,qr-redeem")
	if err != nil || len(cs) != 2 || cs[1] != 16 || len(ps) != 2 || ps[1] != "qr-redeem" {
		t.Fatalf("%v %v %v", cs, ps, err)
	}
	for _, c := range [][2]string{{"0", "token"}, {"x", "token"}, {"1", "tokens"}, {"1,,2", "token"}} {
		if _, _, err := parseLists(c[0], c[1]); err == nil {
			t.Errorf("parseLists(%q, %q) accepted", c[0], c[1])
		}
	}
}

func TestProblems(t *testing.T) {
	ok := result{Name: "token", Concurrency: 1, Requests: 10, OK: 10}
	r := &report{Results: []result{ok}, AccessLogLines: 10}
	if err := r.problems(); err != nil {
		t.Errorf("clean run: %v", err)
	}
	r.AccessLogLines = 9
	if err := r.problems(); err == nil || !strings.Contains(err.Error(), "access log") {
		t.Errorf("missing access-log lines: %v", err)
	}
	// The net/http row's server is not the node: its requests are not
	// in the node's log.
	r = &report{Results: []result{ok, {Name: netHTTPName, Concurrency: 1, Requests: 50, OK: 50}}, AccessLogLines: 10}
	if err := r.problems(); err != nil {
		t.Errorf("the net/http row counted as the node's: %v", err)
	}
	bad := ok
	bad.Errors, bad.FirstError = map[string]int{"HTTP 429": 2}, "HTTP 429: rate_limited"
	r = &report{Results: []result{bad}, AccessLogLines: 100}
	if err := r.problems(); err == nil || !strings.Contains(err.Error(), "HTTP 429 ×2") {
		t.Errorf("failed requests: %v", err)
	}
	double := ok
	double.RacedCodes, double.DoubleRedemptions = 100, 1
	r = &report{Results: []result{double}, AccessLogLines: 100}
	if err := r.problems(); err == nil || !strings.Contains(err.Error(), "redeemed twice") {
		t.Errorf("double redemption: %v", err)
	}
}

// TestSmokeRun builds cmd/trustid, runs every route against the real
// node for a moment at two concurrencies (the wallet-facing ones, OID4VCI
// credential, OID4VP response and Data Integrity verification,
// included), and checks the report: every
// route answered without an error, the node's CPU time and the floor were
// measured, the access log saw every request, the per-address limits were
// respected from several source addresses, and both files were written.
func TestSmokeRun(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := run(ctx, options{duration: 200 * time.Millisecond, concurrency: []int{1, 3}, paths: routeNames(), out: out}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.write(out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := rep.problems(); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2*len(routes) {
		t.Fatalf("%d results, want %d", len(rep.Results), 2*len(routes))
	}
	// The wallet-facing routes are in the run, with floors naming the
	// operations they cannot avoid.
	wantFloor := map[string]string{"verify-di": "1 SM2 verify", "oid4vci-credential": "1 SM2 sign + 1 ES256 verify", "oid4vp-response": "2 ES256 verify",
		"token-validate": "1 SM2 verify + 2 SM3 blocks", "qr-offline": "2 SM2 verify + 3 SM3 blocks"}
	for _, x := range rep.Results {
		if f, ok := wantFloor[x.Name]; ok {
			if x.Floor != f || x.OK == 0 {
				t.Errorf("%s c=%d: floor %q, %d answered", x.Name, x.Concurrency, x.Floor, x.OK)
			}
			if x.Concurrency == 3 {
				delete(wantFloor, x.Name)
			}
		}
	}
	if len(wantFloor) > 0 {
		t.Errorf("routes missing from the run: %v", wantFloor)
	}
	p := rep.Primitives
	if p.SM2SignMicros <= 0 || p.SM2VerifyMicros <= p.SM3BlockMicros || p.SM3BlockMicros <= 0 || p.ES256VerifyMicros <= p.SM3BlockMicros {
		t.Errorf("primitives %+v", p)
	}
	// CPU time comes in 10 ms ticks: a 0.2 s route on a loaded machine
	// may show none, the run as a whole must.
	nodeCPU := 0.0
	for i, x := range rep.Results {
		// The baseline comes first at each concurrency, has no floor, and
		// the rows after it carry its figure.
		baseline, noFloor := x.Name == baselineName, x.Name == baselineName || x.Name == netHTTPName
		if baseline != (i%len(routes) == 0) || (noFloor && (x.FloorMicros != 0 || x.Floor != "")) || (!noFloor && x.FloorMicros <= 0) {
			t.Errorf("%s c=%d: baseline first, floors after: %+v", x.Name, x.Concurrency, x)
		}
		if base := rep.Results[i-i%len(routes)]; x.BaselineMicros != base.NodeCPUMicros ||
			(x.BaselineMicros > 0 && math.Abs(x.BaselineRatio-x.NodeCPUMicros/(x.FloorMicros+x.BaselineMicros)) > 1e-9) {
			t.Errorf("%s c=%d: baseline %v (ratio %v), want the run's %v", x.Name, x.Concurrency, x.BaselineMicros, x.BaselineRatio, base.NodeCPUMicros)
		}
		if x.OK == 0 || x.PerSecond <= 0 || x.P50 <= 0 || x.P99 < x.P50 || x.NodeCPUMicros < 0 || x.FloorRatio < 0 {
			t.Errorf("%s c=%d: %+v", x.Name, x.Concurrency, x)
		}
		nodeCPU += x.NodeCPUMicros * float64(x.Requests)
		if x.SourceAddresses < x.Concurrency {
			t.Errorf("%s c=%d: %d source addresses", x.Name, x.Concurrency, x.SourceAddresses)
		}
		if x.Name == "qr-redeem" && x.RacedCodes != raceProbeCodes {
			t.Errorf("qr-redeem: %d codes raced", x.RacedCodes)
		}
		if x.Name == "qr-issue" && x.SourceAddresses*qrIssuePerAddr < x.Requests {
			t.Errorf("qr-issue: %d requests from %d addresses", x.Requests, x.SourceAddresses)
		}
	}
	if nodeCPU <= 0 {
		t.Error("no node CPU time counted")
	}
	// Each row's floor is its own operations, timed after its window: the
	// primitives it names are there and match its floor µs, no others.
	for _, x := range rep.Results {
		p := x.FloorPrimitives
		uses := func(op string, v float64) {
			if strings.Contains(x.Floor, op) != (v > 0) {
				t.Errorf("%s c=%d: floor %q, %s timed %v", x.Name, x.Concurrency, x.Floor, op, v)
			}
		}
		uses("SM2 sign", p.SM2SignMicros)
		uses("SM2 verify", p.SM2VerifyMicros)
		uses("SM3 blocks", p.SM3BlockMicros)
		uses("ES256 verify", p.ES256VerifyMicros)
		if x.FloorMicros > 0 && x.FloorMicros < max(p.SM2SignMicros, p.SM2VerifyMicros, p.SM3BlockMicros, p.ES256VerifyMicros) {
			t.Errorf("%s c=%d: floor %v µs below its primitives %+v", x.Name, x.Concurrency, x.FloorMicros, p)
		}
		// The issue's figure: throughput against the floor's on the
		// CPUs the generator leaves, the floor timed on every CPU.
		left := float64(rep.CPUs) - x.GeneratorCPUs
		if (x.FloorMicros > 0) != (x.FloorAllCoresMicros > 0) || (x.FloorMicros > 0 &&
			(math.Abs(x.FloorPerSecond-left*1e6/x.FloorAllCoresMicros) > 1e-6 || math.Abs(x.FloorShare-x.PerSecond/x.FloorPerSecond) > 1e-9)) {
			t.Errorf("%s c=%d: floor on all CPUs %v µs, %v/s on %v CPUs, share %v", x.Name, x.Concurrency, x.FloorAllCoresMicros, x.FloorPerSecond, left, x.FloorShare)
		}
	}
	var back report
	b, err := os.ReadFile(filepath.Join(out, "node-bench.json"))
	if err != nil || json.Unmarshal(b, &back) != nil || len(back.Results) != len(rep.Results) {
		t.Errorf("node-bench.json: %v", errors.Join(err))
	}
	md, err := os.ReadFile(filepath.Join(out, "node-bench.md"))
	if err != nil || !strings.Contains(string(md), "| `POST /v1/credentials/{id}/status` | 3 |") ||
		!strings.Contains(string(md), "| `GET /healthz` | 3 |") || !strings.Contains(string(md), "| `GET /healthz, net/http alone` | 3 |") ||
		!strings.Contains(string(md), "node CPU ÷ (floor + baseline)") || !strings.Contains(string(md), "| ok/s ÷ floor ok/s |") {
		t.Errorf("node-bench.md: %v\n%s", err, md)
	}
}

// TestSmokeRunRedis runs the routes that use the ephemeral store most with
// the node on a redis-server the run starts, and checks that Redis's CPU
// time was counted. A missing redis-server fails the test under CI and
// skips it elsewhere (testenv.Require, as for every Redis test).
func TestSmokeRunRedis(t *testing.T) {
	_, err := exec.LookPath(testredis.Binary)
	testenv.Require(t, testredis.Binary, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := run(ctx, options{duration: 400 * time.Millisecond, concurrency: []int{2}, paths: []string{"token", "qr-issue", "qr-redeem"},
		out: t.TempDir(), redis: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.problems(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Store, "Redis") || !strings.Contains(rep.Config, "redis-url: redis://127.0.0.1:") {
		t.Errorf("store %q, config %q", rep.Store, rep.Config)
	}
	// CPU time comes in 10 ms ticks: a short route may show none, the
	// run as a whole must.
	redisCPU := 0.0
	for _, x := range rep.Results {
		if x.OK == 0 {
			t.Errorf("%s: %+v", x.Name, x)
		}
		redisCPU += x.RedisCPUMicros * float64(x.Requests)
	}
	if redisCPU <= 0 {
		t.Error("no Redis CPU time counted")
	}
}

// TestPprofAddressFromNode: with -pprof, the node (a trustid built with
// -tags benchpprof) binds its pprof listener on a port it picks and
// prints it; the run reads it from the node's log and saves the CPU
// profile of a route's window from there.
func TestPprofAddressFromNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "trustid")
	if out, err := exec.CommandContext(ctx, "go", "build", "-tags", "benchpprof", "-o", bin, "github.com/trustid-cn/trustid/cmd/trustid").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags benchpprof: %v\n%s", err, out)
	}
	out := t.TempDir()
	var log strings.Builder
	_, err := run(ctx, options{trustid: bin, pprof: true, duration: 1100 * time.Millisecond, concurrency: []int{1}, paths: []string{baselineName}, out: out}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "the node serves pprof at http://127.0.0.1:") {
		t.Errorf("run log without the pprof address:\n%s", log.String())
	}
	profile, err := os.ReadFile(filepath.Join(out, "cpu-"+baselineName+"-c1.pb.gz"))
	if err != nil || len(profile) < 2 || profile[0] != 0x1f || profile[1] != 0x8b {
		t.Fatalf("CPU profile of the baseline's window: %v (%d bytes)", err, len(profile))
	}
}

// TestMissingFabricProfile: a -fabric-profile that names no file stops the
// run before it starts a node.
func TestMissingFabricProfile(t *testing.T) {
	_, err := run(context.Background(), options{duration: time.Second, concurrency: []int{1}, paths: []string{"status"},
		out: t.TempDir(), fabricProfile: filepath.Join(t.TempDir(), "none.yaml")}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-fabric-profile") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run with a missing profile: %v", err)
	}
}
