package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trustid-cn/trustid/login"
)

// Check is a readiness probe of one dependency (the ephemeral store, the
// ledger). It returns nil when the dependency can serve.
type Check func(ctx context.Context) error

// Details returns figures about a dependency for /readyz (a backlog, an
// age in seconds). Numbers only, so no internal error text reaches the body.
type Details func() map[string]float64

// Config configures a Server. Zero values: a discarding logger, the
// access log on Logger, a fresh Prometheus registry, a 1 MiB body limit,
// no readiness checks.
type Config struct {
	Logger *slog.Logger
	// AccessLog takes the one "http" line of each request (instrument);
	// the node's is buffered (docs/operations.md). With a TextHandler
	// (NewTextHandler) the line is written without slog's formatting.
	AccessLog *slog.Logger
	Registry  *prometheus.Registry
	// Checks are run by /readyz, at most once per ReadyFor; the map key
	// names the dependency.
	Checks map[string]Check
	// ReadyFor is how long /readyz answers from the checks' last outcome
	// (1 s when zero): the route is public, and a check may cost a
	// ledger evaluation at the region's peer.
	ReadyFor time.Duration
	// Now is the clock of ReadyFor; time.Now when nil.
	Now func() time.Time
	// MaxBody bounds request bodies, in bytes.
	MaxBody int64
	// TrustedProxies are the load balancers whose X-Forwarded-For the
	// node believes (ClientAddress); none by default.
	TrustedProxies TrustedProxies
}

// Server routes TrustID's HTTP API. Build it with New, add features with
// their Mount functions, then serve Handler().
type Server struct {
	log     *slog.Logger
	access  *slog.Logger
	reg     *prometheus.Registry
	metrics *metrics
	checks  map[string]Check
	ready   readiness
	details map[string]Details
	maxBody int64
	proxies TrustedProxies
	// router is the mux; every route is registered and recorded through
	// it (routes.go).
	router *router
	authz  Authorizer
	// unrouted answers requests that match no route.
	unrouted http.Handler
	// ui: MountUI ran, so unrouted answers under UIPrefix carry the
	// pages' headers (uiHeaders) as every /ui/ response does.
	ui bool
	// noHead holds the GET patterns whose handlers refuse HEAD
	// (handleNoHead): another method's 405 leaves HEAD out of their Allow.
	noHead map[string]bool
	// login serves user login's grants at the token endpoint and completes
	// the OpenID configuration; set by MountLogin.
	login *login.Provider
	// draining ends when Drain is called: the node is stopping.
	draining context.Context
	drain    context.CancelFunc
}

// New returns a server with /healthz, /readyz and /metrics.
func New(cfg Config) *Server {
	s := &Server{log: cfg.Logger, access: cfg.AccessLog, reg: cfg.Registry, checks: cfg.Checks, maxBody: cfg.MaxBody, proxies: cfg.TrustedProxies, router: newRouter(),
		ready: readiness{ttl: cfg.ReadyFor, now: cfg.Now}}
	if s.ready.ttl <= 0 {
		s.ready.ttl = time.Second
	}
	if s.ready.now == nil {
		s.ready.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.access == nil {
		s.access = s.log
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	s.draining, s.drain = context.WithCancel(context.Background())
	s.metrics = newMetrics(s.reg)
	s.handle("GET /healthz", http.HandlerFunc(s.healthz))
	s.handle("GET /readyz", http.HandlerFunc(s.readyz))
	s.router.handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.unrouted = s.instrument("unrouted", http.HandlerFunc(s.notRouted))
	s.router.serve.Handle("/", s.unrouted)
	return s
}

// Handler returns the root handler. A request for a route of a method
// and literal path is found in router.exact; any other is routed once, by
// router.serve, whose catch-all "/" takes what no route matches. Only
// when ServeMux might redirect to a cleaned path (a path not starting
// with "/", or with "//" or a segment starting with ".", such as "..",
// "." and also /.well-known/) or for CONNECT does router.mux look first,
// as Handler always did: a request whose cleaned path matches no route
// is unrouted, not redirected.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e, ok := s.router.lookup(r); ok {
			r.Pattern = e.pattern // as ServeMux sets it
			e.h.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodConnect || mayRedirect(r.URL.EscapedPath()) {
			if _, pattern := s.router.mux.Handler(r); pattern == "" {
				s.unrouted.ServeHTTP(w, r)
				return
			}
		}
		s.router.serve.ServeHTTP(w, r)
	})
}

// mayRedirect reports whether ServeMux might redirect p to a cleaned
// path: p does not start with "/", or holds "//" or "/.".
func mayRedirect(p string) bool {
	if len(p) == 0 || p[0] != '/' {
		return true
	}
	for i := 1; i < len(p); i++ {
		if p[i-1] == '/' && (p[i] == '/' || p[i] == '.') {
			return true
		}
	}
	return false
}

// notRouted answers requests no route matched, as JSON: 405 with Allow when
// the path exists for other methods (and Accept-Patch when they include
// PATCH), else 404. The server has no OPTIONS routes: OPTIONS is such a
// 405, whose Allow lists the methods.
func (s *Server) notRouted(w http.ResponseWriter, r *http.Request) {
	if s.ui && strings.HasPrefix(r.URL.Path, UIPrefix) {
		uiHeaders(w)
	}
	probe := &headerProbe{header: http.Header{}}
	h, _ := s.router.mux.Handler(r)
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		allow := probe.header.Get("Allow")
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		if _, pattern := s.router.mux.Handler(get); s.noHead[pattern] {
			methods := strings.Split(allow, ", ")
			allow = strings.Join(slices.DeleteFunc(methods, func(m string) bool { return m == http.MethodHead }), ", ")
		}
		w.Header().Set("Allow", allow)
		if slices.Contains(strings.Split(allow, ", "), http.MethodPatch) {
			// RFC 5789 §3.1: a resource PATCH changes names its formats,
			// in the answer to OPTIONS (this 405) as to any method.
			w.Header().Set("Accept-Patch", mergePatchType)
		}
		writeError(w, r, s.log, &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethod, Message: "method not allowed"})
		return
	}
	writeError(w, r, s.log, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such endpoint"})
}

// headerProbe captures what the mux's own 404/405 handler would send.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }

// Drain makes the long polls in flight answer at once, as when their
// wait runs out, so that a stopping node's requests drain without
// waiting for them (the client polls again, through the balancer, on
// another instance). Call it when shutdown begins
// (http.Server.RegisterOnShutdown).
func (s *Server) Drain() { s.drain() }

// untilDrain returns a copy of ctx that also ends when Drain is called.
func (s *Server) untilDrain(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.draining, cancel)
	return ctx, func() { stop(); cancel() }
}

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// AddCheck adds a readiness check run by /readyz, for a dependency a
// feature opens in its mount function. Call it before serving.
func (s *Server) AddCheck(name string, c Check) {
	if s.checks == nil {
		s.checks = map[string]Check{}
	}
	s.checks[name] = c
}

// AddDetails shows d's figures under "details" → name in /readyz. Call
// it before serving.
func (s *Server) AddDetails(name string, d Details) {
	if s.details == nil {
		s.details = map[string]Details{}
	}
	s.details[name] = d
}

// Registerer is where features register their Prometheus metrics (served
// by /metrics).
func (s *Server) Registerer() prometheus.Registerer { return s.reg }

// handle registers an instrumented route.
func (s *Server) handle(pattern string, h http.Handler) {
	s.router.handle(pattern, s.instrument(pattern, h))
}

// handleNoHead registers a GET route whose handler refuses HEAD
// (noHead), so that the Allow of a 405 to another method does not list
// HEAD (RFC 9110 §15.5.6: the methods the resource supports).
func (s *Server) handleNoHead(pattern string, h http.Handler) {
	if s.noHead == nil {
		s.noHead = map[string]bool{}
	}
	s.noHead[pattern] = true
	s.handle(pattern, h)
}

// handleFunc registers a handler that returns an error, rendered by
// writeError.
func (s *Server) handleFunc(pattern string, h func(http.ResponseWriter, *http.Request) error) {
	s.handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	}))
}

// healthzBody is what writeJSON makes of {"status": "ok"}, written as is:
// the route is the HTTP baseline of every other.
var healthzBody = []byte(`{"status":"ok"}` + "\n")

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	setJSONHeaders(w.Header())
	w.Write(healthzBody)
}

// readyz answers from the checks' outcome (readiness.results). The body
// names each dependency and whether it is ready, never the error text
// (which may name internal hosts; the log has it), and the figures of
// AddDetails.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	status, body := http.StatusOK, map[string]any{}
	for name, ok := range s.ready.results(r.Context(), s.checks, s.log) {
		if !ok {
			status, body[name] = http.StatusServiceUnavailable, "unavailable"
			continue
		}
		body[name] = "ok"
	}
	if len(s.details) > 0 {
		details := map[string]map[string]float64{}
		for name, d := range s.details {
			details[name] = d()
		}
		body["details"] = details
	}
	if status == http.StatusOK {
		body["status"] = "ready"
	} else {
		body["status"] = "not ready"
	}
	writeJSONStatus(w, status, body)
}

// readiness is the outcome of the readiness checks, made at most once
// per ttl: requests in that time, and those waiting while a check runs,
// share it.
type readiness struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex // held while the checks run
	at      time.Time  // when ok was made; zero before the first run
	ok      map[string]bool
	failing map[string]bool // the checks that failed last time
}

// results returns each check's outcome (true: ready), running the checks
// at once with a 2 s deadline when the last outcome is older than ttl:
// one dependency that hangs until the deadline fails its own check, not
// the others'. A check that starts failing or recovers is logged once,
// not on every request. The checks run apart from ctx's cancellation:
// the requests waiting share them.
func (rd *readiness) results(ctx context.Context, checks map[string]Check, log *slog.Logger) map[string]bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.at.IsZero() && rd.now().Sub(rd.at) < rd.ttl {
		return rd.ok
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Strings(names)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			// Off the request's goroutine, instrument's recover does not
			// see a panic: it fails the check instead of the process.
			defer func() {
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("api: readiness check %s panicked: %v", name, p)
				}
			}()
			errs[i] = checks[name](ctx)
		})
	}
	wg.Wait()
	ok, failing := make(map[string]bool, len(names)), make(map[string]bool)
	for i, name := range names {
		err := errs[i]
		ok[name] = err == nil
		switch {
		case err != nil && !rd.failing[name]:
			log.Warn("not ready", slog.String("check", name), slog.Any("error", err))
		case err == nil && rd.failing[name]:
			log.Info("ready again", slog.String("check", name))
		}
		failing[name] = err != nil
	}
	rd.ok, rd.failing, rd.at = ok, failing, rd.now()
	return ok
}
