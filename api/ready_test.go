package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestReadinessDetails: /readyz shows each dependency's figures, ready or
// not, next to its status; Registerer's metrics are served by /metrics.
func TestReadinessDetails(t *testing.T) {
	var fail error
	backlog := 0.0
	s, _ := newTestServer(t, nil)
	s.AddCheck("ledger", func(context.Context) error { return fail })
	s.AddDetails("ledger", func() map[string]float64 { return map[string]float64{"backlog": backlog} })
	s.Registerer().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "test_backlog", Help: "h"}, func() float64 { return backlog }))

	resp, m := do(t, s.Handler(), "GET", "/readyz", nil)
	if d, _ := m["details"].(map[string]any)["ledger"].(map[string]any); resp.StatusCode != 200 || m["ledger"] != "ok" || d["backlog"] != 0.0 {
		t.Errorf("ready: %d %v", resp.StatusCode, m)
	}
	fail, backlog = errors.New("stalled"), 42
	resp, m = do(t, s.Handler(), "GET", "/readyz", nil)
	if d, _ := m["details"].(map[string]any)["ledger"].(map[string]any); resp.StatusCode != 503 || m["ledger"] != "unavailable" || d["backlog"] != 42.0 {
		t.Errorf("not ready: %d %v", resp.StatusCode, m)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "\ntest_backlog 42\n") {
		t.Errorf("metrics:\n%s", rec.Body.String())
	}
}
