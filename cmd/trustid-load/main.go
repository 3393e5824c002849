// Command trustid-load drives a node's token endpoint from a separate
// process: N concurrent workers post client-credentials requests (an SM2
// client assertion in, an SM2 access token out) for a bounded time and it
// reports tokens per second and latency percentiles, beside the floor set
// by the node's cryptography (one SM2 verification and one SM2 signature
// per token) measured on the same machine just before the run.
//
// The load generator shares the machine with the node, so it does not
// sign during the run: it signs every assertion before the clock starts
// (each with its own jti, valid for five minutes) and sends pre-encoded
// form bodies. It only talks to loopback addresses, and stops by itself.
//
//	trustid-load --node http://127.0.0.1:8080 --client-id rp-load --key rp.key.pem \
//	    --workers 32 --duration 10s
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
)

type options struct {
	node, clientID, keyFile, kid, scope string
	workers, assertions, warmup         int
	duration, assertionTTL              time.Duration
	jsonOut                             bool
}

func main() {
	var o options
	flag.StringVar(&o.node, "node", "http://127.0.0.1:8080", "base URL of the node (loopback only)")
	flag.StringVar(&o.clientID, "client-id", "", "registered client_id (private_key_jwt)")
	flag.StringVar(&o.keyFile, "key", "", "the client's private key PEM (SM2 or P-256)")
	flag.StringVar(&o.kid, "kid", "", "kid of the key (default: its JWK thumbprint)")
	flag.StringVar(&o.scope, "scope", "", "scope parameter (default: all the client may have)")
	flag.IntVar(&o.workers, "workers", 32, "concurrent workers (one keep-alive connection each)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send requests (at most 4m)")
	flag.IntVar(&o.assertions, "assertions", 0, "assertions to pre-sign (default: 12,000 per second of duration)")
	flag.IntVar(&o.warmup, "warmup", 500, "requests sent before measuring")
	flag.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	flag.Parse()
	rep, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trustid-load:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	if rep.OK == 0 {
		os.Exit(1)
	}
}

// report is the outcome of a run.
type report struct {
	Workers      int                `json:"workers"`
	Duration     float64            `json:"duration_s"`
	Requests     int                `json:"requests"`
	OK           int                `json:"ok"`
	Errors       map[string]int     `json:"errors,omitempty"`
	TokensPerSec float64            `json:"tokens_per_s"`
	P50, P95     float64            `json:"-"`
	P99, Max     float64            `json:"-"`
	Latency      map[string]float64 `json:"latency_ms"`
	PoolOut      bool               `json:"assertion_pool_exhausted"`
	Floor        floor              `json:"floor"`
	TokenAlg     string             `json:"access_token_alg"`
	CPUs         int                `json:"cpus"`
}

// floor is the node's unavoidable cryptography per token.
type floor struct {
	SignMicros   float64 `json:"sm2_sign_us"`
	VerifyMicros float64 `json:"sm2_verify_us"`
	// TokensPerSec is the most tokens all CPUs could sign and verify if
	// they did nothing else: CPUs / (sign + verify).
	TokensPerSec float64 `json:"tokens_per_s"`
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "workers %d, %.1f s, %d requests, %d tokens, errors %v\n", r.Workers, r.Duration, r.Requests, r.OK, r.Errors)
	fmt.Fprintf(w, "tokens/s %.0f   latency ms p50 %.2f  p95 %.2f  p99 %.2f  max %.2f\n", r.TokensPerSec, r.P50, r.P95, r.P99, r.Max)
	fmt.Fprintf(w, "floor (one SM2 verify + one SM2 sign per token, %d CPUs): sign %.1f µs + verify %.1f µs = %.0f tokens/s; reached %.0f%%\n",
		r.CPUs, r.Floor.SignMicros, r.Floor.VerifyMicros, r.Floor.TokensPerSec, 100*r.TokensPerSec/r.Floor.TokensPerSec)
	fmt.Fprintf(w, "access tokens: alg %s, signature checked against the node's JWKS\n", r.TokenAlg)
	if r.PoolOut {
		fmt.Fprintln(w, "the pre-signed assertions ran out before the duration: raise --assertions")
	}
}

func run(ctx context.Context, o options) (report, error) {
	u, err := url.Parse(o.node)
	if err != nil || u.Host == "" {
		return report{}, fmt.Errorf("--node %q is not a URL", o.node)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return report{}, fmt.Errorf("--node must be a loopback address (127.0.0.0/8, ::1 or localhost), not %s", u.Hostname())
	}
	if o.clientID == "" || o.keyFile == "" {
		return report{}, errors.New("--client-id and --key are required")
	}
	if o.workers < 1 || o.duration <= 0 || o.duration > 4*time.Minute {
		return report{}, errors.New("--workers must be positive and --duration in (0, 4m]")
	}
	if o.assertions == 0 {
		o.assertions = int(12000*o.duration.Seconds()) + o.warmup
	}
	pemBytes, err := os.ReadFile(o.keyFile)
	if err != nil {
		return report{}, err
	}
	signer, err := gm.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		return report{}, fmt.Errorf("%s: %w", o.keyFile, err)
	}
	if o.kid == "" {
		if o.kid, err = auth.KeyID(signer.Public()); err != nil {
			return report{}, err
		}
	}
	node := strings.TrimSuffix(o.node, "/")
	transport := &http.Transport{MaxIdleConns: o.workers, MaxIdleConnsPerHost: o.workers, MaxConnsPerHost: o.workers,
		DisableCompression: true, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	defer transport.CloseIdleConnections()

	meta, err := getJSON[auth.Metadata](ctx, client, node+"/.well-known/oauth-authorization-server")
	if err != nil {
		return report{}, fmt.Errorf("node metadata: %w", err)
	}
	rep := report{Workers: o.workers, CPUs: runtime.NumCPU(), Errors: map[string]int{}}
	rep.Floor = measureFloor()

	fmt.Fprintf(os.Stderr, "pre-signing %d assertions...\n", o.assertions)
	bodies, err := presign(signer, o, meta.TokenEndpoint)
	if err != nil {
		return report{}, err
	}

	var next atomic.Int64
	send := func(stop time.Time, lat *[]time.Duration, errs map[string]int) (sample []byte) {
		for {
			i := next.Add(1) - 1
			if i >= int64(len(bodies)) || (!stop.IsZero() && time.Now().After(stop)) {
				return sample
			}
			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, node+auth.TokenPath, bytes.NewReader(bodies[i]))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := client.Do(req)
			if err != nil {
				errs["transport"]++
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			d := time.Since(start)
			switch {
			case err != nil:
				errs["read"]++
			case resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"access_token"`)):
				errs[resp.Status]++
			default:
				if lat != nil {
					*lat = append(*lat, d)
				}
				if sample == nil {
					sample = body
				}
			}
		}
	}

	// Warm-up: connections, the node's caches, the Go runtime.
	bodiesAll := bodies
	bodies = bodiesAll[:min(o.warmup, len(bodiesAll))]
	var wg sync.WaitGroup
	warmErrs := make([]map[string]int, min(o.workers, max(1, o.warmup)))
	for w := range warmErrs {
		warmErrs[w] = map[string]int{}
		wg.Add(1)
		go func() { defer wg.Done(); send(time.Time{}, nil, warmErrs[w]) }()
	}
	wg.Wait()
	warm := map[string]int{}
	for _, m := range warmErrs {
		for k, v := range m {
			warm[k] += v
		}
	}
	if len(warm) > 0 {
		return report{}, fmt.Errorf("warm-up requests failed: %v (is the client registered, and are rate limits off?)", warm)
	}
	bodies = bodiesAll

	lats := make([][]time.Duration, o.workers)
	errs := make([]map[string]int, o.workers)
	samples := make([][]byte, o.workers)
	start := time.Now()
	stop := start.Add(o.duration)
	for w := range o.workers {
		errs[w] = map[string]int{}
		lats[w] = make([]time.Duration, 0, len(bodies)/o.workers+1)
		wg.Add(1)
		go func() { defer wg.Done(); samples[w] = send(stop, &lats[w], errs[w]) }()
	}
	wg.Wait()
	elapsed := time.Since(start)
	rep.PoolOut = next.Load() >= int64(len(bodies)) && time.Now().Before(stop)

	var all []time.Duration
	for w := range o.workers {
		all = append(all, lats[w]...)
		for k, v := range errs[w] {
			rep.Errors[k] += v
		}
	}
	slices.Sort(all)
	rep.OK = len(all)
	rep.Requests = rep.OK
	for _, v := range rep.Errors {
		rep.Requests += v
	}
	rep.Duration = elapsed.Seconds()
	rep.TokensPerSec = float64(rep.OK) / elapsed.Seconds()
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	rep.P50, rep.P95, rep.P99 = pct(0.50), pct(0.95), pct(0.99)
	if len(all) > 0 {
		rep.Max = float64(all[len(all)-1].Microseconds()) / 1000
	}
	rep.Latency = map[string]float64{"p50": rep.P50, "p95": rep.P95, "p99": rep.P99, "max": rep.Max}
	for _, s := range samples {
		if s != nil {
			if rep.TokenAlg, err = checkToken(ctx, client, node, meta, s); err != nil {
				return rep, err
			}
			break
		}
	}
	return rep, nil
}

// presign signs n assertions on every CPU and form-encodes each request.
func presign(signer crypto.Signer, o options, aud string) ([][]byte, error) {
	bodies := make([][]byte, o.assertions)
	now := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(bodies); i += workers {
				a, err := auth.NewClientAssertion(signer, o.kid, o.clientID, aud, now, auth.DefaultMaxAssertionAge, rand.Reader)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				form := url.Values{"grant_type": {auth.GrantClientCredentials}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a}}
				if o.scope != "" {
					form.Set("scope", o.scope)
				}
				bodies[i] = []byte(form.Encode())
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, err
	}
	return bodies, nil
}

// measureFloor times SM2 signing and verification of a token-sized
// message on one goroutine: the best of five 100 ms rounds each, since
// other work on a shared machine only ever makes a round slower.
func measureFloor() floor {
	k, _ := gm.GenerateKey(rand.Reader)
	msg := bytes.Repeat([]byte("a"), 400)
	sig, _ := k.SignRaw(rand.Reader, msg)
	pub := k.PublicKey()
	timeIt := func(f func()) float64 {
		best := 0.0
		for range 5 {
			n, start := 0, time.Now()
			for time.Since(start) < 100*time.Millisecond {
				f()
				n++
			}
			if us := float64(time.Since(start).Microseconds()) / float64(n); best == 0 || us < best {
				best = us
			}
		}
		return best
	}
	f := floor{
		SignMicros:   timeIt(func() { k.SignRaw(rand.Reader, msg) }),
		VerifyMicros: timeIt(func() { pub.Verify(msg, sig) }),
	}
	f.TokensPerSec = float64(runtime.NumCPU()) * 1e6 / (f.SignMicros + f.VerifyMicros)
	return f
}

// checkToken verifies one issued access token against the node's JWKS
// with the SM2 allow-list and returns its alg.
func checkToken(ctx context.Context, client *http.Client, node string, meta auth.Metadata, body []byte) (string, error) {
	var resp auth.TokenResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", fmt.Errorf("token response: %w", err)
	}
	set, err := getJSON[gm.JWKS](ctx, client, node+auth.JWKSPath)
	if err != nil {
		return "", fmt.Errorf("node JWKS: %w", err)
	}
	p, err := gm.NewJWTParser([]string{gm.AlgSM2}, jwt.WithIssuer(meta.Issuer), jwt.WithAudience(meta.Issuer))
	if err != nil {
		return "", err
	}
	tok, err := p.Parse(resp.AccessToken, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		j, ok := set.Key(kid)
		if !ok {
			return nil, fmt.Errorf("kid %q not in the node's JWKS", kid)
		}
		return j.PublicKey()
	})
	if err != nil {
		return "", fmt.Errorf("issued access token does not verify: %w", err)
	}
	return tok.Method.Alg(), nil
}

func getJSON[T any](ctx context.Context, client *http.Client, u string) (T, error) {
	var v T
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return v, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%s: %s", u, resp.Status)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v)
	return v, err
}
