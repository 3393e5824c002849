package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// sources hands out loopback source addresses, never the same one twice
// in a run: 127.x.y.z with x from 1, z from 1 to 254. Linux routes all of
// 127.0.0.0/8 to the loopback interface, so each is a distinct client to
// the node's per-address rate limits.
type sources struct{ n atomic.Uint32 }

func (s *sources) next() net.IP {
	n := s.n.Add(1) - 1
	return net.IPv4(127, byte(1+n/(254*256)), byte(n/254%256), byte(1+n%254))
}

// conn is one worker's HTTP client: one keep-alive connection from one
// loopback source address. With a budget, it moves to a new source
// address (and connection) after that many requests, so a route with a
// per-address limit is reached by many clients that each stay within it.
type conn struct {
	base   string
	client *http.Client
	tr     *http.Transport
	src    atomic.Pointer[net.IP]
	srcs   *sources
	w      *wire // the timed windows' client (-client wire); nil: Go's http.Client
	budget int
	used   int
	addrs  int // source addresses used
}

func newConn(base string, srcs *sources, budget int) *conn {
	c := &conn{base: base, srcs: srcs, budget: budget}
	c.tr = &http.Transport{
		MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, IdleConnTimeout: time.Minute, DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: *c.src.Load()}, Timeout: 5 * time.Second}
			return d.DialContext(ctx, network, addr)
		},
	}
	c.client = &http.Client{Transport: c.tr, Timeout: 30 * time.Second}
	c.move()
	return c
}

// newTimedConn is the client of a route's timed window: newConn, with
// the hand-written HTTP/1.1 client unless -client go.
func (b *bench) newTimedConn(budget int) *conn {
	c := newConn(b.node.base, &b.srcs, budget)
	if b.o.client == clientWire {
		w, err := newWire(b.node.base, func() net.IP { return *c.src.Load() })
		if err != nil {
			panic(err) // the node's base URL is made by this program
		}
		c.w = w
	}
	return c
}

// move switches to a fresh source address.
func (c *conn) move() {
	c.tr.CloseIdleConnections()
	if c.w != nil {
		c.w.close()
	}
	ip := c.srcs.next()
	c.src.Store(&ip)
	c.used = 0
	c.addrs++
}

func (c *conn) close() {
	c.tr.CloseIdleConnections()
	if c.w != nil {
		c.w.close()
	}
}

// statusError is an answer with an unexpected HTTP status.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %.300s", e.status, e.body) }

// do sends one request and reads the whole answer; an answer other than
// want is a *statusError.
func (c *conn) do(method, path, bearer string, contentType string, body []byte, want int) ([]byte, error) {
	h := http.Header{"Content-Type": {contentType}}
	if bearer != "" {
		h.Set("Authorization", "Bearer "+bearer)
	}
	out, _, err := c.exchange(method, path, h, body, want, false)
	return out, err
}

// send is do with the request's headers given, and the answer's returned.
func (c *conn) send(method, path string, h http.Header, body []byte, want int) ([]byte, http.Header, error) {
	return c.exchange(method, path, h, body, want, true)
}

// exchange is send, the answer's headers returned only with wantHeader.
func (c *conn) exchange(method, path string, h http.Header, body []byte, want int, wantHeader bool) ([]byte, http.Header, error) {
	if c.budget > 0 && c.used >= c.budget {
		c.move()
	}
	c.used++
	if c.w != nil {
		status, out, hdr, err := c.w.roundTrip(method, path, h, body, wantHeader)
		if err != nil {
			return nil, nil, err
		}
		if status != want {
			return nil, nil, &statusError{status: status, body: string(out)}
		}
		return out, hdr, nil
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = h
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != want {
		return nil, nil, &statusError{status: resp.StatusCode, body: string(out)}
	}
	return out, resp.Header, nil
}

// errExhausted reports that a route's prepared inputs (pre-signed
// requests, codes) ran out before the duration.
var errExhausted = errors.New("prepared inputs exhausted")

// op sends worker w's next request on c.
type op func(w int, c *conn) error

// measure is one timed run of one route at one concurrency.
type measure struct {
	elapsed   time.Duration
	lat       []time.Duration // of the successful requests, sorted
	errors    map[string]int
	firstErr  error
	serverCPU time.Duration
	redisCPU  time.Duration // with -redis
	genCPU    time.Duration
	exhausted bool
	addrs     int
	// raced and doubles are the double-redemption probe's codes and
	// codes redeemed twice (qr-redeem only).
	raced, doubles int
	// moreSM3Blocks are the SM3 blocks of the messages the route's SM2
	// verification hashes beyond the floor's 400-byte message (verify:
	// the credentials' signing inputs); they join the floor.
	moreSM3Blocks int
}

func (m measure) requests() int {
	n := len(m.lat)
	for _, v := range m.errors {
		n += v
	}
	return n
}

// errorKey groups failures for the report.
func errorKey(err error) string {
	var se *statusError
	if errors.As(err, &se) {
		return "HTTP " + strconv.Itoa(se.status)
	}
	return "transport"
}

// drive runs op on conc workers: warm requests each first (failures
// there abort the run: the setup is wrong), then for d, timing every
// request and reading the node's CPU time just before and after.
func (b *bench) drive(ctx context.Context, conc, budget, warm int, d time.Duration, o op) (measure, error) {
	conns := make([]*conn, conc)
	for w := range conns {
		conns[w] = b.newTimedConn(budget)
		defer conns[w].close()
	}
	var wg sync.WaitGroup
	warmErr := make([]error, conc)
	for w := range conc {
		wg.Go(func() {
			for range warm {
				if err := o(w, conns[w]); err != nil {
					if !errors.Is(err, errExhausted) {
						warmErr[w] = err
					}
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(warmErr...); err != nil {
		return measure{}, fmt.Errorf("warm-up: %w", err)
	}

	m := measure{errors: map[string]int{}}
	lats := make([][]time.Duration, conc)
	errs := make([]map[string]int, conc)
	firsts := make([]error, conc)
	var exhausted atomic.Bool
	srv0, err := cpuTime(b.node.pid)
	if err != nil {
		return m, err
	}
	gen0, err := cpuTime("self")
	if err != nil {
		return m, err
	}
	redis0, err := b.redisCPU()
	if err != nil {
		return m, err
	}
	profiled := b.startProfile(ctx, d)
	start := time.Now()
	stop := start.Add(d)
	for w := range conc {
		errs[w] = map[string]int{}
		wg.Go(func() {
			for time.Now().Before(stop) && ctx.Err() == nil {
				t := time.Now()
				err := o(w, conns[w])
				took := time.Since(t)
				switch {
				case errors.Is(err, errExhausted):
					exhausted.Store(true)
					return
				case err != nil:
					errs[w][errorKey(err)]++
					if firsts[w] == nil {
						firsts[w] = err
					}
				default:
					lats[w] = append(lats[w], took)
				}
			}
		})
	}
	wg.Wait()
	m.elapsed = time.Since(start)
	srv1, err := cpuTime(b.node.pid)
	if err != nil {
		return m, err
	}
	gen1, _ := cpuTime("self")
	redis1, err := b.redisCPU()
	if err != nil {
		return m, err
	}
	m.serverCPU, m.genCPU, m.redisCPU, m.exhausted = srv1-srv0, gen1-gen0, redis1-redis0, exhausted.Load()
	if err := <-profiled; err != nil {
		return m, err
	}
	for w := range conc {
		m.lat = append(m.lat, lats[w]...)
		for k, v := range errs[w] {
			m.errors[k] += v
		}
		if m.firstErr == nil {
			m.firstErr = firsts[w]
		}
		m.addrs += conns[w].addrs
	}
	slices.Sort(m.lat)
	return m, nil
}

// startProfile, with -pprof, takes a CPU profile of the node over the
// next d (whole seconds, at least one) and saves it as b.profile in
// -out; the channel gets the outcome. Without -pprof, or for d under a
// second, it gets nil at once.
func (b *bench) startProfile(ctx context.Context, d time.Duration) <-chan error {
	done := make(chan error, 1)
	secs := int(d / time.Second)
	if b.node.pprofAddr == "" || b.profile == "" || secs < 1 {
		done <- nil
		return done
	}
	go func() {
		done <- func() error {
			req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.node.pprofAddr, secs), nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("CPU profile: %w", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
			}
			if err != nil {
				return fmt.Errorf("CPU profile: %w", err)
			}
			if err := os.MkdirAll(b.o.out, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(b.o.out, b.profile), body, 0o644)
		}()
	}()
	return done
}

// redisCPU is the CPU time of the run's redis-server, 0 without one.
func (b *bench) redisCPU() (time.Duration, error) {
	if b.redisPID == "" {
		return 0, nil
	}
	return cpuTime(b.redisPID)
}

// parallel runs f(i) for i in [0, n) on conc workers, untimed (setup).
func (b *bench) parallel(conc, budget, n int, f func(i int, c *conn) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, conc)
	for w := range conc {
		wg.Go(func() {
			c := newConn(b.node.base, &b.srcs, budget)
			defer c.close()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i, c); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// percentile is the nearest-rank p-th percentile of sorted durations, in
// milliseconds; 0 for none.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}
