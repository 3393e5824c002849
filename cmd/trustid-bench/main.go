// Command trustid-bench measures a TrustID node the way its users reach
// it. It starts the real `trustid serve` binary as a separate process on a
// loopback port, with the embedded defaults (in-memory ephemeral store,
// embedded ledger, access log at info level, status checks), provisions it
// through the CLI (`trustid clients keygen` and `clients add` for a
// relying party with an SM2 key, `trustid terminals add` for a
// verification terminal whose key this process holds), and then, from
// this process, drives each route over HTTP for a fixed time at each
// concurrency:
//
//	baseline   GET /healthz, the HTTP baseline, first at each concurrency
//	token      POST /oauth2/token
//	token-validate  POST /oauth2/introspect (a resource server, client
//	           secret; each token presented once: signature checked)
//	issue      POST /credentials/issue (vc+jwt, SM2, status entries)
//	verify     POST /credentials/verify
//	status     POST /v1/credentials/{id}/status
//	enroll     POST /v1/enrollments (attested, with PIN and device key)
//	qr-issue   POST /v1/qr
//	qr-redeem  POST /v1/qr/verify (an online code)
//	qr-offline POST /v1/qr/verify (an offline code, device-signed)
//	login      GET /oauth2/authorize, GET and POST /login/sessions/{id}/…,
//	           POST /oauth2/token, GET /oauth2/userinfo: one whole login
//	verify-di  POST /credentials/verify (Data Integrity, sm2-rdfc-2025)
//	oid4vci-credential  POST /oid4vci/credential (SD-JWT VC, ES256 key proof)
//	oid4vp-response     POST /oid4vp/response/{id} (direct_post)
//
// For each it reports throughput, p50/p99 latency, the node process's CPU
// time per request (user + system from /proc/<pid>/stat, read before and
// after the timed window), and that CPU time as a multiple of the route's
// cryptographic floor: the bare SM2, SM3 and ES256 operations the route
// cannot do without, timed in this process in the same run.
// It writes them as node-bench.md and node-bench.json, and PNG plots of
// requests/s and p99 latency against concurrency (plot.go). With -gobench
// it adds the library comparisons from Go benchmark output (compare.go:
// emmansun/gmsm against tjfoc/gmsm, TrustID's token check against
// golang-jwt ES256).
//
// Requests that need signing by the client (assertions, device proofs,
// attestations, holder requests, OID4VCI key proofs, OID4VP
// presentations) are signed before the clock starts, but for the login
// approval: it signs the session's challenge, known only then. The
// OID4VCI offers, access tokens and c_nonces and the OID4VP transactions
// and request objects are made over HTTP before the clock starts too;
// each timed request spends one. The
// node's configurable rate limits (token and enrollment) are raised in
// its config file; the two that have no setting (credential verification,
// 300 a minute, and code issuance, 120 a minute, per source address) are
// kept, and the load comes from many loopback source addresses, each
// staying under them, as many clients would. With -redis the node uses a
// redis-server this run starts on loopback as its ephemeral store, as
// instances sharing a region do. With -fabric-profile the node and its CLI
// use the Fabric network of that connection profile as their ledger
// (region 310000; the node registers it, genesis on a fresh network). The run only talks to the node it
// started, on 127.0.0.1, and stops by itself.
//
// With -soak DURATION it instead sends a fixed mix of the node's routes
// (soakMix names them) for that long at -rate requests per second, by
// default half of the capacity a short closed-loop ramp of the mix over
// -concurrency measures first, on as many connections as the last
// -concurrency. It samples the node's RSS (anonymous and file-backed),
// heap, goroutines and open files every -sample at a quiescent point
// (the load held for the reading, a fraction of a second its rate does
// not count), prints them as a table and FIGURES lines, writes soak.json,
// and fails on any failed request, on the node's heap after GC growing
// 10 % or more after the warm-up, or on goroutines beyond their ceiling
// or rising after the warm-up (scripts/soak.sh). With -pprof (a trustid
// built with -tags benchpprof) it saves the node's heap profiles at the end of the warm-up
// and of the soak; TRUSTID_PPROF_BLOCK_RATE and TRUSTID_PPROF_MUTEX_FRACTION
// in its environment are passed on to switch on the node's block and
// mutex profiles.
//
//	go build -o bin/ ./cmd/trustid ./cmd/trustid-bench
//	bin/trustid-bench -trustid bin/trustid -duration 5s -concurrency 1,16 -out bench-out
//	bin/trustid-bench -trustid bin/trustid -redis -soak 30m -concurrency 4,16
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/progress"
)

type options struct {
	trustid     string
	duration    time.Duration
	concurrency []int
	paths       []string
	out         string
	keep        bool
	// redis runs the node with a Redis ephemeral store (a redis-server
	// this run starts) instead of the in-memory default.
	redis bool
	// soak, when set, runs the mixed soak (soak.go) for that long instead
	// of measuring each route; rate is its requests per second (0: half
	// of the capacity measured first); sample the interval between
	// readings of the node.
	soak   time.Duration
	rate   float64
	sample time.Duration
	// pprof: the trustid is built with -tags benchpprof; its profiling
	// listener binds a loopback port of its own choosing (node.pprofAddr)
	// and the soak saves heap profiles from it (soak.go).
	pprof bool
	// gobench are files of Go benchmark output holding the library
	// comparisons (compare.go).
	gobench []string
	// fabricProfile, when set, runs the node (and its CLI) on the Fabric
	// network of this connection profile instead of the embedded ledger.
	fabricProfile string
	// client is the timed windows' HTTP client: clientWire or clientGo.
	client string
}

const (
	clientWire = "wire"
	clientGo   = "go"
)

// clientWhat names each -client in the report.
var clientWhat = map[string]string{
	clientWire: "hand-written HTTP/1.1 keep-alive client (wire.go)",
	clientGo:   "Go's net/http client",
}

// maxRun bounds a whole run, whatever the flags (a soak adds its duration).
const maxRun = 20 * time.Minute

// maxSoak bounds -soak.
const maxSoak = 2 * time.Hour

func main() {
	if os.Getenv(netHTTPEnv) == "1" {
		if err := serveNetHTTP(); err != nil {
			fmt.Fprintln(os.Stderr, "trustid-bench: net/http server:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var conc, paths string
	flag.StringVar(&o.trustid, "trustid", "", "the trustid binary to run (default: build cmd/trustid with the go command)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "timed duration of each route at each concurrency (at most 1m)")
	flag.StringVar(&conc, "concurrency", "1,16", "comma-separated numbers of concurrent connections")
	flag.StringVar(&paths, "paths", strings.Join(routeNames(), ","), "comma-separated routes to measure")
	flag.StringVar(&o.out, "out", "bench-out", "directory for node-bench.md and node-bench.json")
	flag.StringVar(&o.client, "client", clientWire, "the timed windows' HTTP client: "+clientWire+" (a hand-written HTTP/1.1 client of wrk's kind, see wire.go) or "+clientGo+" (Go's http.Client)")
	flag.BoolVar(&o.keep, "keep", false, "keep the node's data directory and log")
	flag.BoolVar(&o.redis, "redis", false, "run the node with Redis as its ephemeral store (starts redis-server on loopback)")
	flag.DurationVar(&o.soak, "soak", 0, "run a soak of this duration: the node's routes in a fixed mix (soakMix) at -rate, the node sampled and held to bounds (see soak.go)")
	flag.Float64Var(&o.rate, "rate", 0, "soak rate in requests per second (default: half the capacity a ramp over -concurrency measures first)")
	flag.DurationVar(&o.sample, "sample", 5*time.Second, "soak: interval between readings of the node's RSS, heap, goroutines and open files (each holds the load for a fraction of a second)")
	flag.BoolVar(&o.pprof, "pprof", false, "the trustid is built with -tags benchpprof: its pprof listener binds a loopback port it picks (printed); each route's timed window saves the node's CPU profile in -out (cpu-ROUTE-cCONC.pb.gz), and a soak its heap profiles at the end of the warm-up and of the soak")
	var gobench string
	flag.StringVar(&gobench, "gobench", "", "comma-separated files of Go benchmark output with api's BenchmarkCompare*, ValidateToken and SM2VerifyBaseline: their ratios go into the table")
	flag.StringVar(&o.fabricProfile, "fabric-profile", "", "run the node on the Fabric network of this connection profile (region "+region+", e.g. $TRUSTID_FABRIC_PROFILE_"+region+" after scripts/fabric/up.sh) instead of the embedded ledger")
	flag.Parse()
	if gobench != "" {
		o.gobench = strings.Split(gobench, ",")
	}
	var err error
	if o.concurrency, o.paths, err = parseLists(conc, paths); err == nil {
		err = o.check()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trustid-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o, os.Stderr)
	switch {
	case err != nil:
	case rep.Soak != nil:
		if err = rep.Soak.write(o.out, os.Stdout); err == nil {
			err = rep.Soak.problems()
		}
	default:
		if err = rep.write(o.out, os.Stdout); err == nil {
			err = rep.problems()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trustid-bench:", err)
		os.Exit(1)
	}
}

func routeNames() []string {
	var names []string
	for _, r := range routes {
		names = append(names, r.name)
	}
	return names
}

// parseLists reads the -concurrency and -paths lists.
func parseLists(conc, paths string) ([]int, []string, error) {
	var cs []int
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 256 {
			return nil, nil, fmt.Errorf("-concurrency %q: want numbers from 1 to 256", conc)
		}
		cs = append(cs, n)
	}
	var ps []string
	for _, s := range strings.Split(paths, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(routeNames(), s) {
			return nil, nil, fmt.Errorf("-paths: unknown route %q (routes: %s)", s, strings.Join(routeNames(), ", "))
		}
		ps = append(ps, s)
	}
	return cs, ps, nil
}

func (o options) check() error {
	if o.client != clientWire && o.client != clientGo {
		return fmt.Errorf("-client: want %s or %s", clientWire, clientGo)
	}
	if o.duration <= 0 || o.duration > time.Minute {
		return fmt.Errorf("-duration %v: want (0, 1m]", o.duration)
	}
	if o.soak < 0 || o.soak > maxSoak || o.rate < 0 || (o.soak > 0 && o.sample < time.Second) {
		return fmt.Errorf("-soak %v, -rate %v, -sample %v: want a soak up to %v, a rate >= 0, samples at least 1 s apart", o.soak, o.rate, o.sample, maxSoak)
	}
	if len(o.concurrency) == 0 || len(o.paths) == 0 {
		return errors.New("nothing to measure")
	}
	return nil
}

// bench is one run: the node and what the routes made on it.
type bench struct {
	o             options
	node          *node
	srcs          sources
	floors        *floorTimer // times each route's floor after its window
	token         string      // access token with every scope the run uses
	tokenEndpoint string
	creds         []credential // issued at this concurrency, all active
	holders       []holder
	codes         []string // unredeemed online codes
	enrolled      atomic.Int64
	offlineCodes  atomic.Uint64 // offline codes made in the run: their counters
	diBodies      [][]byte      // verify-di's requests, issued once
	vpHolder      *vpHolder     // oid4vp-response's wallet, made once
	redisPID      string        // with -redis
	// profile names the CPU profile of the node the next timed window
	// saves in -out, with -pprof (drive).
	profile string
	// etags are the ETags of the login page's scripts, by path: the
	// browsers' cache (runLogin).
	etags sync.Map
}

// run measures the primitives, starts and provisions the node, measures
// every route at every concurrency and stops the node. log receives
// progress.
func run(ctx context.Context, o options, log io.Writer) (*report, error) {
	ctx, cancel := context.WithTimeout(ctx, maxRun+o.soak)
	defer cancel()
	var profile string
	if o.fabricProfile != "" {
		p, err := filepath.Abs(o.fabricProfile)
		if err == nil {
			_, err = os.Stat(p)
		}
		if err != nil {
			return nil, fmt.Errorf("-fabric-profile: %w", err)
		}
		profile = p
	}
	dir, err := os.MkdirTemp("", "trustid-bench")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintln(log, "node data and log kept in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	rep := &report{
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Started: time.Now().UTC().Format(time.RFC3339),
		LoadBefore: loadAverage(), Duration: o.duration.String(), Concurrency: o.concurrency,
		Command: strings.Join(os.Args, " "), Client: clientWhat[o.client],
	}
	if len(o.gobench) > 0 {
		if rep.Comparisons, err = compareFiles(o.gobench); err != nil {
			return nil, err
		}
	}
	fmt.Fprintln(log, "timing the cryptographic primitives...")
	floors, err := newFloorTimer()
	if err != nil {
		return nil, err
	}
	rep.Primitives = floors.all()
	b := &bench{o: o, floors: floors, node: &node{bin: o.trustid, dir: dir, data: filepath.Join(dir, "data"), env: childEnv(), config: serveConfig}}
	rep.Store, rep.Ledger = "in-memory", "embedded"
	if o.soak > 0 {
		// The soak bounds the heap the last collection marked. Serve's
		// heap floor (--gc-heap-floor-mib, 64 MiB by default) lets a node
		// with a small live heap allocate that much between collections,
		// which a short or slow soak never does: the figure would stay
		// the first collection's, or 0 (soakReport.problems). The floor
		// changes when the live heap is measured, not what is live.
		b.node.args = append(b.node.args, "--gc-heap-floor-mib", "0")
	}
	if profile != "" {
		b.node.env = append(b.node.env, "TRUSTID_FABRIC_PROFILE="+profile)
		rep.Ledger = "Fabric (" + filepath.Base(profile) + ")"
	}
	if o.pprof {
		b.node.serveEnv = append(b.node.serveEnv, "TRUSTID_PPROF_ADDR=127.0.0.1:0")
		b.node.serveEnv = append(b.node.serveEnv, contentionEnv(os.LookupEnv)...)
	}
	if o.redis {
		addr, pid, stop, err := startRedis(ctx, dir)
		if err != nil {
			return nil, err
		}
		defer stop()
		b.redisPID = pid
		b.node.config += "redis-url: redis://" + addr + "/0\n"
		rep.Store = "Redis (redis-server on loopback, started by the run)"
	}
	rep.Config = strings.TrimSpace(b.node.config)
	if b.node.bin == "" {
		fmt.Fprintln(log, "building cmd/trustid...")
		if b.node.bin, err = buildTrustID(ctx, dir); err != nil {
			return nil, err
		}
	}
	// The registry is on the node's ledger: provision through the running
	// node (its admin socket).
	if err := b.node.start(ctx); err != nil {
		b.node.stop()
		return nil, err
	}
	if profile != "" {
		// On Fabric the node registers its region after it starts serving.
		if err := b.node.waitRegion(ctx); err != nil {
			b.node.stop()
			return nil, err
		}
	}
	if err := b.node.provision(ctx); err != nil {
		b.node.stop()
		return nil, err
	}
	fmt.Fprintf(log, "node %s (pid %s)\n", b.node.base, b.node.pid)
	if o.pprof {
		if b.node.pprofAddr == "" {
			b.node.stop()
			return nil, fmt.Errorf("-pprof: %s serves no pprof listener (build it with -tags benchpprof)", b.node.bin)
		}
		fmt.Fprintf(log, "the node serves pprof at http://%s/debug/pprof/\n", b.node.pprofAddr)
	}
	var runErr error
	if o.soak > 0 {
		rep.Soak, runErr = b.soak(ctx, log)
	} else {
		runErr = b.measureAll(ctx, rep, log)
	}
	stopErr := b.node.stop()
	rep.LoadAfter = loadAverage()
	if runErr != nil {
		return nil, fmt.Errorf("%w\nnode log:\n%s", runErr, b.node.logTail())
	}
	if stopErr != nil {
		return nil, fmt.Errorf("trustid serve: %w\n%s", stopErr, b.node.logTail())
	}
	if rep.AccessLogLines, rep.ErrorLogLines, err = b.node.logCounts(); err != nil {
		return nil, err
	}
	return rep, nil
}

func (b *bench) measureAll(ctx context.Context, rep *report, log io.Writer) error {
	// The relying party issues only what the registry accredits it for.
	if _, err := b.setupIssuer(ctx); err != nil {
		return err
	}
	// A progress line on a terminal: route and concurrency, steps done,
	// time left; the result lines print above it.
	steps := &stepProgress{steps: len(b.o.concurrency) * len(b.o.paths), now: time.Now}
	line := progress.Start(log, progress.Options{Unit: "steps"}, steps.status)
	defer line.Stop()
	log = line
	var err error
	for _, conc := range b.o.concurrency {
		// A fresh access token at each concurrency: tokens live 10 minutes.
		if b.token, err = b.accessToken(); err != nil {
			return err
		}
		b.creds, b.codes = nil, nil
		baseline := 0.0
		for _, r := range routes {
			if !slices.Contains(b.o.paths, r.name) && r.name != baselineName {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			steps.begin(fmt.Sprintf("%s c=%d", r.name, conc), b.o.duration)
			b.profile = fmt.Sprintf("cpu-%s-c%d.pb.gz", r.name, conc)
			m, err := r.run(b, ctx, conc)
			steps.end()
			if err != nil {
				return fmt.Errorf("%s at concurrency %d: %w", r.name, conc, err)
			}
			res := b.result(r, conc, m)
			if r.name == baselineName {
				baseline = res.NodeCPUMicros
			}
			res.BaselineMicros = baseline
			if res.FloorMicros+baseline > 0 {
				res.BaselineRatio = res.NodeCPUMicros / (res.FloorMicros + baseline)
			}
			rep.Results = append(rep.Results, res)
			fmt.Fprintf(log, "%-9s c=%-3d %8.0f/s  p50 %6.2f ms  p99 %7.2f ms  node CPU %7.0f µs/req (%.1f× floor, %.1f× floor + baseline)  errors %v\n",
				r.name, conc, res.PerSecond, res.P50, res.P99, res.NodeCPUMicros, res.FloorRatio, res.BaselineRatio, res.Errors)
		}
	}
	return nil
}

// stepProgress is what the progress line of a measurement shows: the
// route being measured, the steps (route and concurrency) done, and the
// share of the run's timed windows behind it.
type stepProgress struct {
	now   func() time.Time
	mu    sync.Mutex
	label string
	steps int // route × concurrency pairs in the run
	done  int
	start time.Time     // of the current step
	len   time.Duration // its timed window
}

func (p *stepProgress) begin(label string, window time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label, p.start, p.len = label, p.now(), window
}

func (p *stepProgress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.len = 0
}

func (p *stepProgress) status() progress.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	part := 0.0
	if p.len > 0 {
		part = min(1, float64(p.now().Sub(p.start))/float64(p.len))
	}
	frac := -1.0
	if p.steps > 0 {
		frac = (float64(p.done) + part) / float64(p.steps)
	}
	return progress.Status{Label: p.label, Done: int64(p.done), Fraction: frac}
}

// result turns a measure into a report row. The route's floor is timed
// now, right after its window: on a machine whose speed drifts (a shared
// VM) the node's figure and its floor then come from the same minute.
func (b *bench) result(r route, conc int, m measure) result {
	r.floor.SM3Blocks += m.moreSM3Blocks
	var prims, all primitives
	if f := r.floor; f.Signs+f.Verifies+f.SM3Blocks+f.ES256Verifies > 0 {
		prims = b.floors.measure(r.floor)
		all = b.floors.measureOn(r.floor, runtime.NumCPU())
	}
	n := m.requests()
	secs := m.elapsed.Seconds()
	res := result{
		Name: r.name, Route: r.route, What: r.what, Concurrency: conc,
		Seconds: secs, Requests: n, OK: len(m.lat), Errors: m.errors,
		PerSecond: float64(len(m.lat)) / secs,
		P50:       percentile(m.lat, 50), P99: percentile(m.lat, 99), Max: percentile(m.lat, 100),
		NodeCPUMicros: perRequest(0, m.serverCPU, n), NodeCPUs: m.serverCPU.Seconds() / secs,
		RedisCPUMicros: perRequest(0, m.redisCPU, n),
		GeneratorCPUs:  m.genCPU.Seconds() / secs,
		Floor:          r.floor.String(), FloorNote: r.floor.Note, FloorMicros: r.floor.micros(prims), FloorPrimitives: prims,
		Exhausted: m.exhausted, SourceAddresses: m.addrs,
		RacedCodes: m.raced, DoubleRedemptions: m.doubles,
	}
	if res.FloorMicros > 0 {
		res.FloorRatio = res.NodeCPUMicros / res.FloorMicros
		res.FloorAllCoresMicros = r.floor.micros(all)
		if left := float64(runtime.NumCPU()) - res.GeneratorCPUs; left > 0 {
			res.FloorPerSecond = left * 1e6 / res.FloorAllCoresMicros
			res.FloorShare = res.PerSecond / res.FloorPerSecond
		}
	}
	if m.firstErr != nil {
		res.FirstError = m.firstErr.Error()
	}
	return res
}

// metadata reads the node's OAuth metadata.
func (b *bench) metadata() (auth.Metadata, error) {
	var meta auth.Metadata
	c := newConn(b.node.base, &b.srcs, 0)
	defer c.close()
	out, err := c.do("GET", "/.well-known/oauth-authorization-server", "", ctJSON, nil, 200)
	if err != nil {
		return meta, fmt.Errorf("node metadata: %w", err)
	}
	if err := json.Unmarshal(out, &meta); err != nil || meta.TokenEndpoint == "" {
		return meta, fmt.Errorf("node metadata: %.200s", out)
	}
	return meta, nil
}

// accessToken gets an access token for the relying party with every
// scope it has.
func (b *bench) accessToken() (string, error) {
	a, err := auth.NewClientAssertion(b.node.clientKey, b.node.kid, clientID, b.tokenEndpoint, time.Now(), time.Minute, rand.Reader)
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {auth.GrantClientCredentials}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a}}
	c := newConn(b.node.base, &b.srcs, 0)
	defer c.close()
	out, err := c.do("POST", auth.TokenPath, "", ctForm, []byte(form.Encode()), http.StatusOK)
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	var resp auth.TokenResponse
	if err := json.Unmarshal(out, &resp); err != nil || resp.AccessToken == "" {
		return "", fmt.Errorf("access token: %.200s", out)
	}
	return resp.AccessToken, nil
}

// contentionEnv is what the node gets of this process's contention
// profile settings (TRUSTID_PPROF_BLOCK_RATE, TRUSTID_PPROF_MUTEX_FRACTION),
// passed on as given: the node gets no other TRUSTID_* setting of it.
func contentionEnv(lookup func(string) (string, bool)) []string {
	var out []string
	for _, k := range []string{"TRUSTID_PPROF_BLOCK_RATE", "TRUSTID_PPROF_MUTEX_FRACTION"} {
		if v, ok := lookup(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}
