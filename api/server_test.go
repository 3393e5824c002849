package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestServer(t *testing.T, checks map[string]Check) (*Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s := New(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Checks: checks, MaxBody: 1024})
	return s, &logs
}

func do(t *testing.T, h http.Handler, method, target string, body io.Reader) (*http.Response, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, body))
	resp := rec.Result()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

func TestHealthAndReadiness(t *testing.T) {
	var fail error
	s, _ := newTestServer(t, map[string]Check{"store": func(context.Context) error { return fail }})
	if resp, m := do(t, s.Handler(), "GET", "/healthz", nil); resp.StatusCode != 200 || m["status"] != "ok" {
		t.Errorf("healthz: %d %v", resp.StatusCode, m)
	}
	if resp, m := do(t, s.Handler(), "GET", "/readyz", nil); resp.StatusCode != 200 || m["store"] != "ok" {
		t.Errorf("readyz: %d %v", resp.StatusCode, m)
	}
	fail = errors.New("dial tcp 10.0.0.7:6379: connection refused")
	resp, m := do(t, s.Handler(), "GET", "/readyz", nil)
	if resp.StatusCode != 503 || m["store"] != "unavailable" {
		t.Errorf("readyz when failing: %d %v", resp.StatusCode, m)
	}
	b, _ := json.Marshal(m)
	if strings.Contains(string(b), "10.0.0.7") {
		t.Error("readyz body leaks the internal error")
	}
}

// TestHealthzBody: the body /healthz writes as fixed bytes is what
// writeJSON would write, headers included.
func TestHealthzBody(t *testing.T) {
	s, _ := newTestServer(t, nil)
	got := httptest.NewRecorder()
	s.Handler().ServeHTTP(got, httptest.NewRequest("GET", "/healthz", nil))
	want := httptest.NewRecorder()
	writeJSON(want, map[string]string{"status": "ok"})
	if got.Body.String() != want.Body.String() || got.Code != 200 {
		t.Errorf("healthz: %d %q, writeJSON: %q", got.Code, got.Body, want.Body)
	}
	for _, h := range []string{"Content-Type", "Cache-Control"} {
		if got.Header().Get(h) != want.Header().Get(h) {
			t.Errorf("%s: %q, writeJSON: %q", h, got.Header().Get(h), want.Header().Get(h))
		}
	}
}

// TestAccessLogApart: with Config.AccessLog, the request lines go there
// and the rest (a handler's error) to Logger.
func TestAccessLogApart(t *testing.T) {
	var logs, access bytes.Buffer
	s := New(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), AccessLog: slog.New(slog.NewJSONHandler(&access, nil))})
	s.handleFunc("POST /fail", func(http.ResponseWriter, *http.Request) error { return errors.New("secret detail") })
	do(t, s.Handler(), "GET", "/healthz", nil)
	do(t, s.Handler(), "POST", "/fail", nil)
	if n := strings.Count(access.String(), `"msg":"http"`); n != 2 || strings.Contains(access.String(), "secret detail") {
		t.Errorf("access log: %d request lines in %s", n, access.String())
	}
	if strings.Contains(logs.String(), `"msg":"http"`) || !strings.Contains(logs.String(), "secret detail") {
		t.Errorf("main log: %s", logs.String())
	}
}

func TestErrorsAreJSONAndLogsCarryNoQuery(t *testing.T) {
	s, logs := newTestServer(t, nil)
	s.handleFunc("POST /boom", func(http.ResponseWriter, *http.Request) error { panic("boom") })
	s.handleFunc("POST /fail", func(http.ResponseWriter, *http.Request) error { return errors.New("secret detail") })
	s.handleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := io.ReadAll(r.Body); err != nil {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "body too large", Err: err}
		}
		writeJSON(w, map[string]string{"ok": "yes"})
		return nil
	})

	resp, m := do(t, s.Handler(), "GET", "/nope?access_token=SECRET-TOKEN", nil)
	if resp.StatusCode != 404 || m["error"] != CodeNotFound {
		t.Errorf("404: %d %v", resp.StatusCode, m)
	}
	resp, m = do(t, s.Handler(), "POST", "/boom", nil)
	if resp.StatusCode != 500 || m["error"] != CodeServerError {
		t.Errorf("panic: %d %v", resp.StatusCode, m)
	}
	resp, m = do(t, s.Handler(), "POST", "/fail", nil)
	if resp.StatusCode != 500 || m["error_description"] != "internal error" {
		t.Errorf("unmapped error: %d %v", resp.StatusCode, m)
	}
	resp, m = do(t, s.Handler(), "POST", "/echo", strings.NewReader(strings.Repeat("x", 2048)))
	if resp.StatusCode != 413 || m["error"] != CodeTooLarge {
		t.Errorf("body limit: %d %v", resp.StatusCode, m)
	}
	if resp, _ := do(t, s.Handler(), "GET", "/boom", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("wrong method: %d", resp.StatusCode)
	}
	if strings.Contains(logs.String(), "SECRET-TOKEN") {
		t.Error("a query string reached the log")
	}
	if !strings.Contains(logs.String(), "secret detail") {
		t.Error("the cause of a 500 is not logged")
	}
}

func TestProtectFailsClosedWithoutAuthorizer(t *testing.T) {
	s, _ := newTestServer(t, nil)
	reached := false
	s.handle("GET /x", s.protect("any", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true })))
	if resp, m := do(t, s.Handler(), "GET", "/x", nil); resp.StatusCode != 503 || reached || m["error"] != CodeUnavailable {
		t.Errorf("no authorizer: %d %v reached=%v", resp.StatusCode, m, reached)
	}
}

func TestMetricsCountRoutes(t *testing.T) {
	s, _ := newTestServer(t, nil)
	do(t, s.Handler(), "GET", "/healthz", nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `trustid_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`) {
		t.Errorf("metrics:\n%s", rec.Body.String())
	}
}
