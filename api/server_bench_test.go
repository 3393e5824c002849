package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkServeHealthz is what the server's own plumbing costs a request
// (routing, request ID, body limit, metrics, the access line formatted and
// discarded), in process: GET /healthz served to a writer that keeps
// nothing (oauth_bench_test.go). BenchmarkNoopHTTP is the same route over loopback.
func BenchmarkServeHealthz(b *testing.B) {
	s := New(Config{AccessLog: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := s.Handler()
	r := httptest.NewRequest("GET", "/healthz", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}
