package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/progress"
)

// With -soak the run sends a mix of the node's routes (soakMix) for
// the soak duration at a steady rate (-rate, or half of the capacity a
// short ramp measures first in the same run), samples the node process
// every -sample and asserts that it held: no failed request; the node's
// heap after GC (the live heap the last garbage collection marked,
// go_gc_heap_live_bytes) less the status lists' content
// (trustid_status_list_bytes) not growing soakMaxGrowth or more after the
// warm-up (soakWarmup), compared as medians of soakWindow consecutive
// samples; goroutines within soakGoroutineBound after the warm-up, and
// not rising more than soakGoroutineSlack, compared as medians the same
// way.
//
// Each sample is read at a quiescent point (soakState.pause): the load
// is held, the requests in flight finish, and the sampler scrapes
// /metrics, nothing else running, until collections begun with no
// request in flight have marked the heap (quietMetrics): what they find
// live is what the node retains. Read under load, a collection also marks what the requests in flight hold
// and everything allocated while it marks; with the wallet routes in the
// mix that swung the figure by 2 MiB from one sample to the next, with
// no trend, and failed the bound on noise alone. The schedule moves on
// by each pause, so the rate holds for the time the load ran (the
// achieved rate is counted over it, and the pauses' share reported). The
// status
// lists are the one structure that grows by design with the traffic (a
// new list of a purpose each time the newest is seven-eighths allocated,
// a step of 48 KiB for a revocation or suspension list, 80 KiB for a
// token list, with the ledger): they are sampled and reported apart, as
// is the heap's growth with them. RSS and open files are
// sampled and reported, not bounded: RSS follows the runtime's lazy return
// of freed pages and the file-backed part grows with the ledger's data.

// soakMix is the share of each route in the mix (the routes' names), in
// requests per 100. QR redemption redeems the codes QR issuance made;
// status changes and verifications use credentials the issue route made.
// A request of the mix is one use of its route as the route's run makes
// it, with what must be fresh made in the request: qr-offline's code
// (signed by the holder's device in this process), login's whole
// scan-to-login (7 requests; here with offline_access and one refresh of
// the refresh token it got, 8); token-validate's resource server takes a
// new token of its own once it has kept one soakTokenReuse.
//
// The wallet routes too: oid4vci-credential is a wallet's whole
// pre-authorized flow (the relying party's offer, the token, a c_nonce,
// the credential: 4 requests), oid4vp-response a whole direct_post
// presentation (the transaction opened, its request object fetched, the
// response: 3); verify-di verifies the Data Integrity credentials issued
// before the soak. Not in the mix: baseline and nethttp (the HTTP
// plumbing alone).
var soakMix = []struct {
	name   string
	weight int
}{
	{"token", 4}, {"token-validate", 6}, {"issue", 12}, {"verify", 18}, {"status", 14}, {"enroll", 4},
	{"qr-issue", 15}, {"qr-redeem", 14}, {"qr-offline", 5}, {"login", 2},
	{"verify-di", 3}, {"oid4vci-credential", 2}, {"oid4vp-response", 1},
}

// soakDeck is the mix dealt as 100 routes, each as many times as its
// weight, in an order shuffled once: the mix's n-th request is
// soakDeck()[n%100], so every 100 requests in a row hold the mix exactly
// and a short soak sends every route of the mix.
var soakDeck = sync.OnceValue(func() []string {
	var d []string
	for _, m := range soakMix {
		for range m.weight {
			d = append(d, m.name)
		}
	}
	mrand.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	return d
})

const (
	// soakMaxGrowth bounds the growth of the node's heap after GC from
	// the end of the warm-up to any later window (see soakGrowth).
	soakMaxGrowth = 0.10
	// soakWindow is how many consecutive samples a median is taken over.
	soakWindow = 3
	// soakRampStep is how long the capacity ramp runs the mix closed-loop
	// at each -concurrency.
	soakRampStep = 8 * time.Second
	// soakBudget is the requests each worker sends from one loopback
	// source address: below the smallest per-address limit with no
	// setting (QR issuance, 120 a minute).
	soakBudget = qrIssuePerAddr
	// soakTokenReuse is how long the mix's requests keep one access token
	// before taking the newest the token route got.
	soakTokenReuse = time.Minute
	// soakQuietGCs is how many collections begun in a reading's pause
	// it reads the heap of (quietMetrics); soakSettleLimit bounds its
	// scraping.
	soakQuietGCs    = 3
	soakSettleLimit = 10 * time.Second
)

// soakWarmup is the part of a soak whose samples are not held to the
// growth bound: a quarter of it, at most 5 minutes (30 s of a 2-minute
// soak, 5 minutes of a 30-minute one).
func soakWarmup(d time.Duration) time.Duration { return min(d/4, 5*time.Minute) }

// soakGoroutineBound is the most goroutines the node may run after the
// warm-up with workers connections: 100 for itself plus 4 per connection
// (each connection costs the server 1 or 2).
func soakGoroutineBound(workers int) int { return 100 + 4*workers }

// soakGoroutineSlack is how far the node's goroutines may rise after the
// warm-up with workers connections (the largest median of soakWindow
// samples after it less the median at its end, as for the heap): the
// load's own churn, 1 per connection (each costs the server 1 goroutine
// idle and 2 while it serves a request, and one moving to a new source
// address is briefly two), and 16 for the node's own goroutines that come
// and go. 32 with 16 connections: a node leaking a goroutine every 2 s
// crosses it about a minute after the warm-up, where the ceiling
// (soakGoroutineBound, 164) let it leak for 4 minutes.
func soakGoroutineSlack(workers int) int { return 16 + workers }

// soakSample is one reading of the node process.
type soakSample struct {
	At float64 `json:"seconds"`
	// RSSKiB is VmRSS; AnonKiB its anonymous part (RssAnon: heap,
	// stacks, runtime), FileKiB its file-backed part (RssFile: mapped
	// files, the ledger's bbolt database among them, which grows with the
	// data written and is page cache the kernel can reclaim).
	RSSKiB     int64 `json:"rss_kib"`
	AnonKiB    int64 `json:"rss_anon_kib"`
	FileKiB    int64 `json:"rss_file_kib"`
	Goroutines int   `json:"goroutines"`
	// HeapKiB is go_memstats_heap_inuse_bytes: what of the RSS is live
	// heap (or garbage not yet collected).
	HeapKiB int64 `json:"heap_inuse_kib"`
	// LiveKiB is go_gc_heap_live_bytes: the heap the last garbage
	// collection found live; less ListKiB, the figure the growth bound
	// holds.
	LiveKiB int64 `json:"heap_live_after_gc_kib"`
	// Lists and ListKiB are trustid_status_lists and
	// trustid_status_list_bytes: the status lists the node holds and the
	// size of their content, which grow by design with allocation.
	Lists   int   `json:"status_lists"`
	ListKiB int64 `json:"status_list_kib"`
	FDs     int   `json:"fds"`
	OK      int64 `json:"ok"`
	Errors  int64 `json:"errors"`
	// PauseMS is how long the load was held for the reading; Scrapes
	// the /metrics scrapes it took (quietMetrics).
	PauseMS int64 `json:"pause_ms"`
	Scrapes int   `json:"scrapes"`
}

// soakReport is a soak's outcome, as written to soak.json.
type soakReport struct {
	Duration       string         `json:"duration"`
	Warmup         string         `json:"warmup"`
	Workers        int            `json:"workers"`
	Mix            map[string]int `json:"mix_per_100"`
	CapacityPerSec float64        `json:"capacity_per_second,omitempty"` // 0 with -rate
	RatePerSec     float64        `json:"rate_per_second"`
	// AchievedPerSec is counted over the time the load ran, the soak's
	// less Paused (its readings' pauses).
	AchievedPerSec float64        `json:"achieved_per_second"`
	Paused         string         `json:"paused"`
	Requests       map[string]int `json:"requests"`
	Errors         map[string]int `json:"errors,omitempty"`
	FirstError     string         `json:"first_error,omitempty"`
	Samples        []soakSample   `json:"samples"`
	RSSGrowth      float64        `json:"rss_anon_growth_after_warmup"`
	// HeapGrowth is the growth of the heap after GC less the status
	// lists' content: the figure bounded. HeapGrowthWithLists counts the
	// lists too, reported only; ListsWarmup and ListsEnd are the lists
	// held at the end of the warm-up and of the soak.
	HeapGrowth          float64 `json:"heap_live_less_status_lists_growth_after_warmup"`
	HeapGrowthWithLists float64 `json:"heap_live_growth_after_warmup"`
	ListsWarmup         int     `json:"status_lists_at_warmup_end"`
	ListsEnd            int     `json:"status_lists_at_end"`
	// Profiles are the heap profiles saved with -pprof.
	Profiles       []string `json:"heap_profiles,omitempty"`
	MaxGoroutines  int      `json:"max_goroutines_after_warmup"`
	GoroutineBound int      `json:"goroutine_bound"`
	// GoroutineRise is the rise of the goroutines after the warm-up
	// (soakMedians), bounded by GoroutineSlack; GoroutinesWarmup the
	// median at the warm-up's end it is counted from.
	GoroutinesWarmup int `json:"goroutines_at_warmup_end"`
	GoroutineRise    int `json:"goroutine_rise_after_warmup"`
	GoroutineSlack   int `json:"goroutine_rise_bound"`
	MaxFDs           int `json:"max_fds_after_warmup"`
}

// soakState is what the mix's requests share.
type soakState struct {
	b *bench
	// token is the relying party's access token, rsToken the resource
	// server's (token-validate introspects it), rsBasic its client
	// authentication.
	token, rsToken heldToken
	rsBasic        string
	// drawn counts the routes drawn from soakDeck.
	drawn atomic.Int64
	// gate holds the load for a reading (pause): each request of the
	// soak holds it shared. paused is the time held so far (ns), by
	// which the schedule moves on.
	gate   sync.RWMutex
	paused atomic.Int64
	mu     sync.Mutex
	// verifyPool holds credentials only verified (never suspended);
	// statusPool credentials whose status changes, each taken by one
	// request at a time.
	verifyPool []credential
	statusPool chan *statusItem
	codes      chan waitingCode
	holders    []holder
	okBy       sync.Map // route -> *atomic.Int64
	errBy      sync.Map // route + " " + error kind -> *atomic.Int64
	ok, failed atomic.Int64
	firstErr   atomic.Pointer[string]
}

// heldToken is an access token the mix keeps using for soakTokenReuse
// before taking a newer one, as a client reuses its token.
type heldToken struct {
	tok atomic.Pointer[string]
	at  atomic.Int64 // when tok was taken (Unix nanoseconds)
}

func (h *heldToken) get() string { return *h.tok.Load() }

func (h *heldToken) set(tok string) {
	h.tok.Store(&tok)
	h.at.Store(time.Now().UnixNano())
}

// due reports that the token has been kept soakTokenReuse, to one caller
// at a time: that caller is to set a newer one.
func (h *heldToken) due() bool {
	at, now := h.at.Load(), time.Now().UnixNano()
	return now-at >= int64(soakTokenReuse) && h.at.CompareAndSwap(at, now)
}

type statusItem struct {
	path      string
	suspended bool
}

func count(m *sync.Map, key string) {
	v, _ := m.LoadOrStore(key, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func snapshot(m *sync.Map) map[string]int {
	out := map[string]int{}
	m.Range(func(k, v any) bool { out[k.(string)] = int(v.(*atomic.Int64).Load()); return true })
	return out
}

// soak runs the capacity ramp (without -rate), then the soak.
func (b *bench) soak(ctx context.Context, log io.Writer) (*soakReport, error) {
	if _, err := b.setupIssuer(ctx); err != nil {
		return nil, err
	}
	s := &soakState{b: b, rsBasic: b.rsBasic(), statusPool: make(chan *statusItem, 4096), codes: make(chan waitingCode, 8192)}
	s.token.set(b.token)
	c := newConn(b.node.base, &b.srcs, 0)
	rsToken, err := b.rsToken(c)
	c.close()
	if err != nil {
		return nil, err
	}
	s.rsToken.set(rsToken)
	if err := b.ensureHolders(8); err != nil {
		return nil, err
	}
	s.holders = b.holders
	if err := b.ensureCreds(64); err != nil {
		return nil, err
	}
	if err := b.ensureDICreds(50); err != nil {
		return nil, err
	}
	if err := b.ensureVPHolder(); err != nil {
		return nil, err
	}
	for i, cr := range b.creds {
		s.addCred(cr, i%2 == 0)
	}
	workers := b.o.concurrency[len(b.o.concurrency)-1]
	rep := &soakReport{Duration: b.o.soak.String(), Warmup: soakWarmup(b.o.soak).String(), Workers: workers,
		Mix: map[string]int{}, GoroutineBound: soakGoroutineBound(workers), GoroutineSlack: soakGoroutineSlack(workers)}
	for _, m := range soakMix {
		rep.Mix[m.name] = m.weight
	}
	rate := b.o.rate
	if rate <= 0 {
		for _, c := range b.o.concurrency {
			n, elapsed, err := s.closedLoop(ctx, c, soakRampStep)
			if err != nil {
				return nil, fmt.Errorf("capacity ramp at concurrency %d: %w", c, err)
			}
			perSec := float64(n) / elapsed.Seconds()
			fmt.Fprintf(log, "capacity ramp: mix at concurrency %d: %.0f requests/s\n", c, perSec)
			rep.CapacityPerSec = max(rep.CapacityPerSec, perSec)
		}
		rate = rep.CapacityPerSec / 2
		// The ramp's requests are not the soak's: count afresh.
		s.okBy, s.errBy = sync.Map{}, sync.Map{}
		s.ok.Store(0)
		s.failed.Store(0)
		s.firstErr.Store(nil)
	}
	if rate <= 0 {
		return nil, errors.New("soak: no rate (the capacity ramp answered nothing)")
	}
	rep.RatePerSec = rate
	fmt.Fprintf(log, "soak: %v of the mix at %.0f requests/s on %d connections (warm-up %v)\n", b.o.soak, rate, workers, rep.Warmup)

	start := time.Now()
	stop := start.Add(b.o.soak)
	// A progress line on a terminal: requests sent, rate, time left; the
	// sample lines print above it.
	line := progress.Start(log, progress.Options{Unit: "requests"}, func() progress.Status {
		return progress.Status{Label: "soak", Done: s.ok.Load() + s.failed.Load(), Fraction: float64(time.Since(start)) / float64(b.o.soak)}
	})
	defer line.Stop()
	log = line
	interval := time.Duration(float64(time.Second) / rate)
	var slot atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			c := newConn(b.node.base, &b.srcs, soakBudget)
			defer c.close()
			for ctx.Err() == nil {
				if !s.send(start.Add(time.Duration(slot.Add(1)-1)*interval), stop, func() { s.one(c) }) {
					return
				}
			}
		})
	}
	// The sampler reads the node every -sample until the workers are
	// done, then once more.
	var sampleErr error
	take := func() {
		x, err := s.sample(start)
		if err != nil {
			sampleErr = cmp.Or(sampleErr, err)
			return
		}
		rep.Samples = append(rep.Samples, x)
		fmt.Fprintf(log, "soak %5.0fs  rss %7d KiB (anon %7d, file %7d)  heap %7d KiB (after GC %7d, status lists %d in %d KiB)  goroutines %4d  fds %4d  ok %8d  errors %d  paused %d ms (%d scrapes)\n", x.At, x.RSSKiB, x.AnonKiB, x.FileKiB, x.HeapKiB, x.LiveKiB, x.Lists, x.ListKiB, x.Goroutines, x.FDs, x.OK, x.Errors, x.PauseMS, x.Scrapes)
	}
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(b.o.sample)
		defer tick.Stop()
		for {
			take()
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	})
	var profErr error
	if b.o.pprof {
		sampler.Go(func() {
			select {
			case <-time.After(time.Until(start.Add(soakWarmup(b.o.soak)))):
				profErr = s.pause(func() error { return s.heapProfile("heap-warmup.pb.gz", &rep.Profiles) })
			case <-done:
			}
		})
	}
	wg.Wait()
	close(done)
	sampler.Wait()
	take()
	if b.o.pprof {
		profErr = cmp.Or(profErr, s.heapProfile("heap-end.pb.gz", &rep.Profiles))
	}
	if profErr != nil {
		return nil, profErr
	}
	if sampleErr != nil {
		return nil, sampleErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	paused := time.Duration(s.paused.Load())
	rep.Paused = paused.Round(time.Millisecond).String()
	rep.AchievedPerSec = float64(s.ok.Load()+s.failed.Load()) / (time.Since(start) - paused).Seconds()
	rep.Requests, rep.Errors = snapshot(&s.okBy), snapshot(&s.errBy)
	if p := s.firstErr.Load(); p != nil {
		rep.FirstError = *p
	}
	rep.assess(soakWarmup(b.o.soak).Seconds())
	return rep, nil
}

// setupIssuer gets the node ready for the routes: its metadata and the
// relying party accredited as an issuer (the operator's step, through the
// CLI, as docs/relying-party.md shows), and an access token.
func (b *bench) setupIssuer(ctx context.Context) (string, error) {
	meta, err := b.metadata()
	if err != nil {
		return "", err
	}
	b.tokenEndpoint = meta.TokenEndpoint
	admin, err := b.accessToken()
	if err != nil {
		return "", err
	}
	if _, err := b.node.cli(ctx, "issuers", "accredit", "--node", b.node.base, "--token", admin,
		"--client", clientID, "--types", "ResidenceCredential,AgeCredential"); err != nil {
		return "", err
	}
	b.token = admin
	return admin, nil
}

// closedLoop runs the mix on conc connections, each sending its next
// request as soon as the last is answered, for d; it returns the requests
// answered and the time taken.
func (s *soakState) closedLoop(ctx context.Context, conc int, d time.Duration) (int64, time.Duration, error) {
	before := s.ok.Load()
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			c := newConn(s.b.node.base, &s.b.srcs, soakBudget)
			defer c.close()
			for time.Since(start) < d && ctx.Err() == nil {
				s.one(c)
			}
		})
	}
	wg.Wait()
	if p := s.firstErr.Load(); p != nil {
		return 0, 0, errors.New(*p)
	}
	return s.ok.Load() - before, time.Since(start), ctx.Err()
}

// send sends the mix's next request (one) when its slot comes: at on
// the soak's schedule, moved on by the time paused so far; false,
// sending nothing, if that is at or after stop.
func (s *soakState) send(at, stop time.Time, one func()) bool {
	for {
		s.gate.RLock()
		due := at.Add(time.Duration(s.paused.Load()))
		if !due.Before(stop) {
			s.gate.RUnlock()
			return false
		}
		if d := time.Until(due); d > 0 {
			s.gate.RUnlock()
			time.Sleep(d)
			continue
		}
		one()
		s.gate.RUnlock()
		return true
	}
}

// pause runs read with the load held: it waits for the requests in
// flight to be answered and holds the next ones until read returns; the
// time held, the wait included, moves the schedule on (send).
func (s *soakState) pause(read func() error) error {
	t := time.Now()
	s.gate.Lock()
	defer s.gate.Unlock()
	defer func() { s.paused.Add(int64(time.Since(t))) }()
	return read()
}

// pick draws the mix's next route.
func (s *soakState) pick() string {
	d := soakDeck()
	return d[(s.drawn.Add(1)-1)%int64(len(d))]
}

// one sends one request of the mix (two when a redemption finds no code
// waiting: it issues one first) and counts the outcome.
func (s *soakState) one(c *conn) {
	name := s.pick()
	if name == "qr-redeem" {
		if code, ok := s.freshCode(); ok {
			s.done(name, s.redeem(c, code))
			return
		}
		name = "qr-issue"
	}
	var err error
	switch name {
	case "token":
		err = s.tokenOne(c)
	case "token-validate":
		err = s.tokenValidate(c)
	case "issue":
		var cr credential
		if cr, err = s.b.issueOneWith(c, s.token.get()); err == nil {
			s.addCred(cr, mrand.IntN(2) == 0)
		}
	case "verify":
		err = s.verify(c)
	case "status":
		err = s.status(c)
	case "enroll":
		err = s.enroll(c)
	case "qr-issue":
		err = s.qrIssue(c)
	case "qr-offline":
		err = s.qrOffline(c)
	case "login":
		err = s.login(c)
	case "verify-di":
		err = verifyOnce(c, s.b.diBodies[mrand.IntN(len(s.b.diBodies))])
	case "oid4vci-credential":
		var r vciRequest
		if r, err = s.b.vciPrepareWith(c, s.token.get()); err == nil {
			err = vciCredential(c, r)
		}
	case "oid4vp-response":
		var r vpResponse
		if r, err = s.b.vpPrepareWith(c, s.token.get()); err == nil {
			err = vpRespond(c, r)
		}
	default:
		err = fmt.Errorf("route %q is not in the soak", name)
	}
	s.done(name, err)
}

func (s *soakState) done(route string, err error) {
	if err == nil {
		s.ok.Add(1)
		count(&s.okBy, route)
		return
	}
	s.failed.Add(1)
	count(&s.errBy, route+" "+errorKey(err))
	msg := route + ": " + err.Error()
	s.firstErr.CompareAndSwap(nil, &msg)
}

// addCred puts a fresh credential in the verify pool (up to 2,000) or
// the status pool (when it has room).
func (s *soakState) addCred(cr credential, forVerify bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if forVerify || len(s.verifyPool) < 16 {
		if len(s.verifyPool) < 2000 {
			s.verifyPool = append(s.verifyPool, cr)
		}
		return
	}
	select {
	case s.statusPool <- &statusItem{path: "/v1/credentials/" + url.PathEscape(cr.id) + "/status"}:
	default:
	}
}

func (s *soakState) tokenOne(c *conn) error {
	a, err := auth.NewClientAssertion(s.b.node.clientKey, s.b.node.kid, clientID, s.b.tokenEndpoint, time.Now(), auth.DefaultMaxAssertionAge, rand.Reader)
	if err != nil {
		return err
	}
	body := url.Values{"grant_type": {auth.GrantClientCredentials}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a}}.Encode()
	out, err := c.do("POST", auth.TokenPath, "", ctForm, []byte(body), 200)
	if err != nil {
		return err
	}
	var resp auth.TokenResponse
	if err := json.Unmarshal(out, &resp); err != nil || resp.AccessToken == "" {
		return fmt.Errorf("token response without access_token: %.200s", out)
	}
	// Like a relying party, the mix keeps using a token for a while
	// rather than switching to every new one: each token a request
	// presents stays in the node's validated-token cache until it expires
	// (10 minutes), which is bounded (auth.Config.CacheSize) but would
	// otherwise fill for the first 10 minutes of any soak.
	if s.token.due() {
		s.token.set(resp.AccessToken)
	}
	return nil
}

// tokenValidate has the resource server introspect its access token,
// first getting a new one (a request more) once it has kept it
// soakTokenReuse.
func (s *soakState) tokenValidate(c *conn) error {
	if s.rsToken.due() {
		tok, err := s.b.rsToken(c)
		if err != nil {
			return err
		}
		s.rsToken.set(tok)
	}
	return introspect(c, s.rsBasic, introspectBody(s.rsToken.get()))
}

func (s *soakState) verify(c *conn) error {
	s.mu.Lock()
	cr := s.verifyPool[mrand.IntN(len(s.verifyPool))]
	s.mu.Unlock()
	return verifyOnce(c, verifyBody(cr.envelope))
}

// status suspends or reinstates a credential of the status pool: one
// request at a time per credential, so each change is valid.
func (s *soakState) status(c *conn) error {
	var it *statusItem
	select {
	case it = <-s.statusPool:
	default:
		return s.verify(c) // none yet: the pool fills as credentials are issued
	}
	body := []byte(`{"action":"suspend"}`)
	if it.suspended {
		body = []byte(`{"action":"reinstate"}`)
	}
	_, err := c.do("POST", it.path, s.token.get(), ctJSON, body, 200)
	if err == nil {
		it.suspended = !it.suspended
	}
	// Back into the pool, unless issuances filled it meanwhile: a blocking
	// send would stop this worker for good once the pool is full (it did
	// at 574 requests/s).
	select {
	case s.statusPool <- it:
	default:
	}
	return err
}

func (s *soakState) enroll(c *conn) error {
	in, err := s.b.enrollBodyAt(int(s.b.enrolled.Add(1) - 1))
	if err != nil {
		return err
	}
	h, err := s.b.enrollOneWith(c, in, s.token.get())
	if err == nil {
		s.mu.Lock()
		if len(s.holders) < 64 {
			s.holders = append(s.holders, h)
		}
		s.mu.Unlock()
	}
	return err
}

// holder picks an enrolled holder.
func (s *soakState) holder() holder {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holders[mrand.IntN(len(s.holders))]
}

func (s *soakState) qrIssue(c *conn) error {
	body, err := holderRequest(s.holder(), time.Now())
	if err != nil {
		return err
	}
	code, err := s.b.issueCode(c, body)
	if err == nil {
		select {
		case s.codes <- waitingCode{code: code, issued: time.Now()}:
		default:
		}
	}
	return err
}

// waitingCode is an online code issued by the mix, waiting for its
// redemption.
type waitingCode struct {
	code   string
	issued time.Time
}

// maxCodeWait is how old a waiting code may be when it is redeemed: well
// within the node's code lifetime (1 minute by default). The mix issues
// slightly more codes than it redeems, so codes pile up; in a long soak
// the oldest would outlive their lifetime and every redemption would
// answer 410 (a 30-minute soak did, after 16 minutes).
const maxCodeWait = 20 * time.Second

// freshCode takes the next waiting code that is young enough, dropping
// older ones (they are not requests: nothing is sent for them).
func (s *soakState) freshCode() (string, bool) {
	for {
		select {
		case w := <-s.codes:
			if time.Since(w.issued) <= maxCodeWait {
				return w.code, true
			}
		default:
			return "", false
		}
	}
}

func (s *soakState) redeem(c *conn, code string) error {
	body, _ := json.Marshal(map[string]string{"code": code})
	return qrVerify(c, s.token.get(), body, "redemption")
}

// qrOffline has the relying party verify an offline code a holder's
// device makes now.
func (s *soakState) qrOffline(c *conn) error {
	body, err := s.b.offlineBody(s.holder(), time.Now())
	if err != nil {
		return err
	}
	return qrVerify(c, s.token.get(), body, "offline verification")
}

// login is one user login asking for offline_access, then one refresh
// of the refresh token it got (rotated), as a website keeping the user
// logged in does.
func (s *soakState) login(c *conn) error {
	rt, err := s.b.loginOnce(c, s.holder(), loginScope+" offline_access")
	if err != nil {
		return err
	}
	_, err = s.b.refreshLogin(c, rt)
	return err
}

// sample reads the node at a quiescent point (pause): its goroutines,
// heap and status lists from /metrics once a collection has marked the
// heap with no request in flight (quietMetrics), then its RSS and open
// files from /proc.
func (s *soakState) sample(start time.Time) (soakSample, error) {
	var x soakSample
	err := s.pause(func() error {
		t := time.Now()
		x = soakSample{At: t.Sub(start).Round(time.Second).Seconds(), OK: s.ok.Load(), Errors: s.failed.Load()}
		m, live, scrapes, err := quietMetrics(s.b.node.base, "go_goroutines", "go_memstats_heap_inuse_bytes", "trustid_status_lists", "trustid_status_list_bytes")
		if err != nil {
			return err
		}
		x.Goroutines, x.HeapKiB, x.Lists, x.ListKiB = int(m[0]), int64(m[1]/1024), int(m[2]), int64(m[3]/1024)
		x.LiveKiB, x.Scrapes = int64(live/1024), scrapes
		rss, err := procStatusKiB(s.b.node.pid, "VmRSS", "RssAnon", "RssFile")
		if err != nil {
			return err
		}
		x.RSSKiB, x.AnonKiB, x.FileKiB = rss["VmRSS"], rss["RssAnon"], rss["RssFile"]
		fds, err := os.ReadDir(filepath.Join("/proc", s.b.node.pid, "fd"))
		x.FDs = len(fds)
		x.PauseMS = time.Since(t).Milliseconds()
		return err
	})
	return x, err
}

// quietMetrics reads the named gauges from the node's /metrics with
// the load paused, and the node's retained heap: it scrapes /metrics,
// which allocates and is all the node serves meanwhile, until
// soakQuietGCs collections have run that began after the first scrape
// (go_gc_duration_seconds_count; one that had begun before it may have
// marked requests in flight). live is the least go_gc_heap_live_bytes
// they marked: each marks all the node retains, and besides it only what
// the scrape in flight held and allocated while it marked, up to a
// scrape's allocation (a few hundred KiB); the least is the closest to what
// is retained. gauges are the last scrape's.
func quietMetrics(base string, names ...string) (gauges []float64, live float64, scrapes int, err error) {
	names = append(slices.Clip(names), "go_gc_heap_live_bytes", "go_gc_duration_seconds_count")
	deadline := time.Now().Add(soakSettleLimit)
	var first, last float64
	for scrapes = 1; ; scrapes++ {
		m, err := nodeMetrics(base, names...)
		if err != nil {
			return nil, 0, scrapes, err
		}
		n := len(names)
		gcs := m[n-1]
		if scrapes == 1 {
			first, last = gcs, gcs
		}
		// A collection that began after the first scrape has ended.
		if gcs > last && gcs >= first+2 {
			if live == 0 || m[n-2] < live {
				live = m[n-2]
			}
		}
		last = gcs
		if gcs >= first+1+soakQuietGCs {
			return m[:n-2], live, scrapes, nil
		}
		if time.Now().After(deadline) {
			return nil, 0, scrapes, fmt.Errorf("soak: the node completed %.0f garbage collections in %v of /metrics scrapes (%d) with the load paused, want %d", gcs-first, soakSettleLimit, scrapes, 1+soakQuietGCs)
		}
	}
}

// heapProfile saves the node's heap profile, after a garbage collection,
// in the -out directory as name (-pprof); under load, in a pause.
func (s *soakState) heapProfile(name string, saved *[]string) error {
	resp, err := http.Get("http://" + s.b.node.pprofAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	p := filepath.Join(s.b.o.out, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return err
	}
	*saved = append(*saved, p)
	return nil
}

// procStatusKiB reads the named kB fields of /proc/<pid>/status.
func procStatusKiB(pid string, names ...string) (map[string]int64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if ok && slices.Contains(names, name) {
			if out[name], err = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err != nil {
				return nil, fmt.Errorf("/proc/%s/status %s: %w", pid, name, err)
			}
		}
	}
	if len(out) != len(names) {
		return nil, fmt.Errorf("/proc/%s/status lacks one of %v", pid, names)
	}
	return out, sc.Err()
}

// nodeMetrics reads the named gauges from the node's /metrics,
// uncompressed: a gzipped answer would have the node allocate a gzip
// writer (about 0.8 MB, pooled) for the sampler, which is the measuring
// tool's footprint, not the node's, and showed in the heap profiles.
func nodeMetrics(base string, names ...string) ([]float64, error) {
	req, err := http.NewRequest("GET", base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := make([]float64, len(names))
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for i, name := range names {
			if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
				if out[i], err = strconv.ParseFloat(v, 64); err != nil {
					return nil, fmt.Errorf("/metrics %s: %w", name, err)
				}
				found++
			}
		}
	}
	if found != len(names) {
		return nil, fmt.Errorf("/metrics lacks one of %v", names)
	}
	return out, sc.Err()
}

// assess works out the figures held against the bounds.
func (r *soakReport) assess(warmup float64) {
	var base, after int64
	for _, x := range r.Samples {
		if x.At <= warmup {
			base = max(base, x.AnonKiB)
			continue
		}
		after = max(after, x.AnonKiB)
		r.MaxGoroutines = max(r.MaxGoroutines, x.Goroutines)
		r.MaxFDs = max(r.MaxFDs, x.FDs)
	}
	if base > 0 {
		r.RSSGrowth = float64(after-base) / float64(base)
	}
	r.HeapGrowth = soakGrowth(r.Samples, warmup, func(x soakSample) int64 { return x.LiveKiB - x.ListKiB })
	r.HeapGrowthWithLists = soakGrowth(r.Samples, warmup, func(x soakSample) int64 { return x.LiveKiB })
	base, top, _ := soakMedians(r.Samples, warmup, func(x soakSample) int64 { return int64(x.Goroutines) })
	r.GoroutinesWarmup, r.GoroutineRise = int(base), int(top-base)
	r.ListsWarmup, r.ListsEnd = 0, 0
	for _, x := range r.Samples {
		if x.At <= warmup {
			r.ListsWarmup = x.Lists
		}
		r.ListsEnd = x.Lists
	}
}

// soakGrowth is the growth of heap (of a sample: the heap after GC, with
// or without the status lists) from the end of the warm-up: top over base
// (soakMedians), minus 1.
func soakGrowth(samples []soakSample, warmup float64, heap func(soakSample) int64) float64 {
	base, top, ok := soakMedians(samples, warmup, heap)
	if !ok || base <= 0 {
		return 0
	}
	return float64(top-base) / float64(base)
}

// soakMedians reads value (of a sample) at the end of the warm-up and
// after it: base is the median of the soakWindow samples ending with the
// warm-up's last one, top the largest median of soakWindow consecutive
// samples after the warm-up. A value that rises steadily shows in every
// later window; one sample taken while many requests held memory or
// goroutines does not move a median. Too few samples: 0, 0, false
// (problems says so).
func soakMedians(samples []soakSample, warmup float64, value func(soakSample) int64) (base, top int64, ok bool) {
	end := -1 // the warm-up's last sample
	for i, x := range samples {
		if x.At <= warmup {
			end = i
		}
	}
	if end+1 < soakWindow || end+soakWindow >= len(samples) {
		return 0, 0, false
	}
	median := func(w []soakSample) int64 {
		v := make([]int64, len(w))
		for i, x := range w {
			v[i] = value(x)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	base = median(samples[end+1-soakWindow : end+1])
	for i := end + 1; i+soakWindow <= len(samples); i++ {
		top = max(top, median(samples[i:i+soakWindow]))
	}
	return base, top, true
}

// problems fails a soak that did not hold.
func (r *soakReport) problems() error {
	var errs []error
	if n := sum(r.Errors); n > 0 {
		errs = append(errs, fmt.Errorf("soak: %d failed requests %v; first: %s", n, r.Errors, r.FirstError))
	}
	before, after := 0, 0
	for _, x := range r.Samples {
		if w, _ := time.ParseDuration(r.Warmup); x.At > w.Seconds() {
			after++
		} else {
			before++
		}
	}
	if before < soakWindow || after < soakWindow {
		errs = append(errs, fmt.Errorf("soak: %d samples in the warm-up and %d after it, want at least %d of each (a longer soak or a shorter -sample)", before, after, soakWindow))
	}
	for _, x := range r.Samples {
		if w, _ := time.ParseDuration(r.Warmup); x.At > w.Seconds() && x.LiveKiB <= 0 {
			// go_gc_heap_live_bytes is 0 until the first collection.
			errs = append(errs, fmt.Errorf("soak: no garbage collection by %.0f s: the heap after GC was not measured, and its bound holds for nothing", x.At))
			break
		}
	}
	if r.HeapGrowth >= soakMaxGrowth {
		errs = append(errs, fmt.Errorf("soak: heap after GC less the status lists grew %.1f%% after the warm-up (bound %.0f%%, medians of %d samples; with the lists %.1f%%)", 100*r.HeapGrowth, 100*soakMaxGrowth, soakWindow, 100*r.HeapGrowthWithLists))
	}
	if r.MaxGoroutines > r.GoroutineBound {
		errs = append(errs, fmt.Errorf("soak: %d goroutines after the warm-up (bound %d)", r.MaxGoroutines, r.GoroutineBound))
	}
	if r.GoroutineRise > r.GoroutineSlack {
		errs = append(errs, fmt.Errorf("soak: goroutines rose by %d after the warm-up, from %d (bound %d, medians of %d samples): a leak", r.GoroutineRise, r.GoroutinesWarmup, r.GoroutineSlack, soakWindow))
	}
	if r.AchievedPerSec < 0.9*r.RatePerSec {
		errs = append(errs, fmt.Errorf("soak: %.0f requests/s sent, below 90%% of the rate %.0f/s (the generator fell behind)", r.AchievedPerSec, r.RatePerSec))
	}
	return errors.Join(errs...)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// write saves soak.json in dir and prints the samples as a table and the
// FIGURES lines to w.
func (r *soakReport) write(dir string, w io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "| s | RSS KiB | anon KiB | file KiB | heap in use KiB | heap after GC KiB | status lists | their KiB | goroutines | fds | ok | errors |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Samples {
		fmt.Fprintf(w, "| %.0f | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n", x.At, x.RSSKiB, x.AnonKiB, x.FileKiB, x.HeapKiB, x.LiveKiB, x.Lists, x.ListKiB, x.Goroutines, x.FDs, x.OK, x.Errors)
	}
	fmt.Fprintf(w, "FIGURES soak duration=%s warmup=%s workers=%d capacity_per_s=%.0f rate_per_s=%.0f achieved_per_s=%.0f requests=%d errors=%d\n",
		r.Duration, r.Warmup, r.Workers, r.CapacityPerSec, r.RatePerSec, r.AchievedPerSec, sum(r.Requests), sum(r.Errors))
	fmt.Fprintf(w, "FIGURES soak heap_after_gc_less_status_lists_growth_after_warmup=%.1f%% (bound %.0f%%, medians of %d samples) heap_after_gc_growth=%.1f%% (with the lists, not bounded) status_lists=%d->%d max_goroutines=%d (bound %d) goroutine_rise=%+d from %d (bound %d, medians of %d samples) rss_anon_growth=%.1f%% (not bounded) max_fds=%d\n",
		100*r.HeapGrowth, 100*soakMaxGrowth, soakWindow, 100*r.HeapGrowthWithLists, r.ListsWarmup, r.ListsEnd, r.MaxGoroutines, r.GoroutineBound, r.GoroutineRise, r.GoroutinesWarmup, r.GoroutineSlack, soakWindow, 100*r.RSSGrowth, r.MaxFDs)
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "heap profile: %s\n", p)
	}
	fmt.Fprintf(w, "FIGURES soak requests_by_route=%v mix_per_100=%v\n", r.Requests, r.Mix)
	return nil
}
