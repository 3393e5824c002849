package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/store"
)

// BenchmarkServeHealthz is what the server's own plumbing costs a request
// (routing, request ID, body limit, metrics, the access line formatted and
// discarded, by the node's TextHandler), in process: GET /healthz served to a writer that keeps
// nothing (oauth_bench_test.go). BenchmarkNoopHTTP is the same route over loopback.
//
// behind-proxy is the same request from a trusted load balancer, the
// client's address in X-Forwarded-For.
func BenchmarkServeHealthz(b *testing.B) {
	for _, c := range []struct {
		name    string
		proxies string
	}{{"direct", ""}, {"behind-proxy", "10.0.0.0/8"}} {
		b.Run(c.name, func(b *testing.B) {
			s := New(Config{AccessLog: slog.New(NewTextHandler(io.Discard, nil)), TrustedProxies: mustProxies(b, c.proxies)})
			h := s.Handler()
			r := httptest.NewRequest("GET", "/healthz", nil)
			if c.proxies != "" {
				r.RemoteAddr = "10.0.0.5:4000"
				r.Header.Set("X-Forwarded-For", "203.0.113.9")
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkServeRateLimited is BenchmarkServeHealthz's plumbing with a
// rate limit by client address in front of the handler, counted in a
// store.Memory keyed as the node's (HMAC of the key), as POST
// /credentials/verify and POST /oauth2/introspect are: limited,
// checkRate, ClientAddress, store.Memory.Allow, errorHandler.
func BenchmarkServeRateLimited(b *testing.B) {
	mem, err := store.NewMemory(store.MemoryOptions{Prefix: "trustid:310000:", KeySecret: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	defer mem.Close()
	s := New(Config{AccessLog: slog.New(NewTextHandler(io.Discard, nil))})
	rl := RateLimit{Name: "bench-addr", Limit: 1 << 30, Window: time.Minute}
	s.handle("GET /limited", s.rateLimit(mem, rl, ClientAddress, errorHandler(s, func(w http.ResponseWriter, r *http.Request) error {
		s.healthz(w, r)
		return nil
	})))
	h := s.Handler()
	r := httptest.NewRequest("GET", "/limited", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}
