package api

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const requestIDKey ctxKey = iota

func requestID(ctx context.Context) string {
	if x, ok := ctx.Value(requestIDKey).(*exchange); ok {
		return x.id
	}
	return ""
}

// exchange is what instrument keeps of one request, in one allocation:
// the request's context, which answers requestIDKey, the request ID and
// the X-Request-Id header's value, the writer that records the status,
// and the client's address when a trusted proxy forwarded the request
// (ClientAddress).
type exchange struct {
	context.Context
	id     string
	header [1]string
	w      statusWriter
	client netip.Addr
}

// forwardedClient is the access line's client: the address a trusted
// proxy's X-Forwarded-For gave when it is not the TCP peer, else the
// zero Addr.
func (x *exchange) forwardedClient(r *http.Request) netip.Addr {
	if !x.client.IsValid() {
		return netip.Addr{}
	}
	if peer, _ := peerAddr(r); peer == x.client {
		return netip.Addr{}
	}
	return x.client
}

// Value answers requestIDKey with the exchange itself, any other key as
// the request's context does.
func (x *exchange) Value(key any) any {
	if key == requestIDKey {
		return x
	}
	return x.Context.Value(key)
}

// metrics are the HTTP server's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trustid_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trustid_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// routeCounters are one route's request counters, each looked up in the
// CounterVec (which hashes the label values) once, then kept by method
// and status in a map that is copied to add one (a few per route), read
// without a lock.
type routeCounters struct {
	vec    *prometheus.CounterVec // curried with the route
	mu     sync.Mutex             // held to add a counter
	byCode atomic.Pointer[map[methodCode]prometheus.Counter]
}

type methodCode struct {
	method string
	code   int
}

// inc counts one request.
func (c *routeCounters) inc(method string, code int) {
	k := methodCode{method, code}
	if m := c.byCode.Load(); m != nil {
		if ctr, ok := (*m)[k]; ok {
			ctr.Inc()
			return
		}
	}
	c.add(k).Inc()
}

// add returns k's counter, adding it to byCode.
func (c *routeCounters) add(k methodCode) prometheus.Counter {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[methodCode]prometheus.Counter{}
	if old := c.byCode.Load(); old != nil {
		if ctr, ok := (*old)[k]; ok {
			return ctr
		}
		m = maps.Clone(*old)
	}
	ctr := c.vec.WithLabelValues(k.method, strconv.Itoa(k.code))
	m[k] = ctr
	c.byCode.Store(&m)
	return ctr
}

// metricMethod is the method label of a request: a standard method's
// name, or "other" for any other token a client may send, which would
// otherwise add a series (and a routeCounters entry) each.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument wraps one route: request ID, panic recovery, a body limit,
// metrics and an access log line (logAccess).
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	requests := &routeCounters{vec: s.metrics.requests.MustCurryWith(prometheus.Labels{"route": route})}
	duration := s.metrics.duration.WithLabelValues(route)
	line := newAccessRoute(route)
	return instrumented{inner: h, HandlerFunc: func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The header maps of net/http's server and of http.Header.Set
		// have canonical keys: indexing skips Get's canonicalization.
		var id string
		if v := r.Header["X-Request-Id"]; len(v) > 0 {
			id = v[0]
		}
		if len(id) == 0 || len(id) > 64 || !isToken(id) {
			id = newRequestID()
		}
		x := &exchange{Context: r.Context(), id: id, header: [1]string{id}, w: statusWriter{ResponseWriter: w}}
		w.Header()["X-Request-Id"] = x.header[:]
		if len(s.proxies) > 0 {
			if peer, ok := peerAddr(r); ok {
				x.client = s.proxies.ClientIP(peer, r.Header["X-Forwarded-For"])
			}
		}
		r = r.WithContext(x)
		if r.Body != http.NoBody { // a request without a body has none to bound
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		}
		sw := &x.w
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic", slog.String("request_id", id), slog.String("route", route), slog.Any("panic", p))
				if sw.status == 0 {
					writeJSONStatus(sw, http.StatusInternalServerError, errorBody{Error: CodeServerError, Description: "internal error"})
				}
			}
			if sw.status == 0 { // nothing written: net/http sends 200
				sw.status = http.StatusOK
			}
			// One reading of the clock: the line's time is start's
			// wall clock advanced by the monotonic elapsed time.
			elapsed := time.Since(start)
			method := metricMethod(r.Method) // a made-up method, of any length, is "other"
			requests.inc(method, sw.status)
			duration.Observe(elapsed.Seconds())
			logAccess(r.Context(), s.access.Handler(), &accessRecord{time: start.Add(elapsed), id: id, method: method,
				route: line, status: sw.status, elapsed: elapsed, remote: r.RemoteAddr, client: x.forwardedClient(r)})
		}()
		h.ServeHTTP(sw, r)
	}}
}

// instrumented is the handler instrument returns. Unwrap lets the router
// find the protect wrapper inside, to record the route's scope.
type instrumented struct {
	http.HandlerFunc
	inner http.Handler
}

func (x instrumented) Unwrap() http.Handler { return x.inner }

// newRequestID returns a fresh request ID: 16 hex digits of math/rand/v2's
// generator (ChaCha8 per thread, seeded by the operating system, without
// crypto/rand's system call or lock). An ID correlates log lines and is no
// secret (a client may choose its own); what it needs is to be unique,
// which 64 random bits are as well as crypto/rand's, and to say nothing
// about other requests, which a counter would (how many came between).
func newRequestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// isToken reports whether s is safe to echo and log: letters, digits, - _ .
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
