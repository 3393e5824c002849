package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/store"
)

// tokenAuthorizer admits requests whose Authorization is "good".
type tokenAuthorizer struct{}

func (tokenAuthorizer) Authorize(r *http.Request, scope string) (Principal, error) {
	if r.Header.Get("Authorization") == "good" {
		return Principal{ClientID: "c", Scopes: []string{scope}}, nil
	}
	return Principal{}, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "bad token"}
}

// TestProtectCountingFailuresLimitsRefusedRequests: requests refused
// authentication are counted per address and, over the limit, get 429
// with Retry-After instead of 401; authenticated requests from that
// address are neither counted nor limited.
func TestProtectCountingFailuresLimitsRefusedRequests(t *testing.T) {
	s, _ := newTestServer(t, nil)
	s.SetAuthorizer(tokenAuthorizer{})
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	lim, _ := ParseRateLimit("fail", "2/1h")
	s.handle("POST /v1/thing", s.protectCountingFailures("thing:write", mem, lim, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	post := func(token string) *http.Response {
		r := httptest.NewRequest("POST", "/v1/thing", nil)
		r.RemoteAddr = "192.0.2.7:1000"
		if token != "" {
			r.Header.Set("Authorization", token)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w.Result()
	}
	for i := range 2 {
		if resp := post("bad"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("refused request %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	for range 3 {
		if resp := post("good"); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("authenticated request after the refusals: %d, want 204", resp.StatusCode)
		}
	}
	if resp := post("bad"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third refused request: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// stubLimiter answers every Allow with its decision or error.
type stubLimiter struct {
	d   store.Decision
	err error
}

func (l stubLimiter) Allow(context.Context, string, int, time.Duration) (store.Decision, error) {
	return l.d, l.err
}

// TestRateLimitAnswers: a limiter that fails is 503 (not a 429 the
// client would wait out, nor a pass), and Retry-After rounds the wait up
// to whole seconds (a client retrying on the rounded-down second would
// be refused again).
func TestRateLimitAnswers(t *testing.T) {
	lim, _ := ParseRateLimit("t", "1/1m")
	for _, c := range []struct {
		name  string
		l     stubLimiter
		code  int
		retry string
	}{
		{"limiter down", stubLimiter{err: errors.New("redis: connection refused")}, http.StatusServiceUnavailable, ""},
		{"1.5 s to wait", stubLimiter{d: store.Decision{RetryAfter: 1500 * time.Millisecond}}, http.StatusTooManyRequests, "2"},
		{"exactly 3 s", stubLimiter{d: store.Decision{RetryAfter: 3 * time.Second}}, http.StatusTooManyRequests, "3"},
		{"allowed", stubLimiter{d: store.Decision{Allowed: true}}, http.StatusNoContent, ""},
	} {
		s, _ := newTestServer(t, nil)
		s.handle("GET /v1/limited", s.rateLimit(c.l, lim, ClientAddress, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		})))
		resp, _ := do(t, s.Handler(), "GET", "/v1/limited", nil)
		if resp.StatusCode != c.code || resp.Header.Get("Retry-After") != c.retry {
			t.Errorf("%s: %d, Retry-After %q; want %d, %q", c.name, resp.StatusCode, resp.Header.Get("Retry-After"), c.code, c.retry)
		}
	}
}

// TestParseRateLimitBounds: the largest limit and the longest window the
// store accepts parse; one more is refused at configuration, not at the
// first request.
func TestParseRateLimitBounds(t *testing.T) {
	maxWindow := strconv.FormatInt(int64(store.MaxWindow/time.Hour), 10) + "h"
	for _, good := range []string{strconv.Itoa(store.MaxLimit) + "/1m", "1/" + maxWindow, "1/1ms"} {
		if _, err := ParseRateLimit("x", good); err != nil {
			t.Errorf("ParseRateLimit(%q): %v", good, err)
		}
	}
	for _, bad := range []string{strconv.Itoa(store.MaxLimit+1) + "/1m", "1/" + maxWindow + "1ns", "1/999us", "0/1m"} {
		if _, err := ParseRateLimit("x", bad); err == nil || !strings.Contains(err.Error(), "want N/WINDOW") {
			t.Errorf("ParseRateLimit(%q) = %v, want refused", bad, err)
		}
	}
}

// TestClientIPHopBound: a chain of exactly maxForwardedHops entries is
// read to its client; one more entry stops the walk at the last hop
// read.
func TestClientIPHopBound(t *testing.T) {
	trusted := mustProxies(t, "10.0.0.0/8")
	lb := netip.MustParseAddr("10.0.0.5")
	hops := func(n int) []string { // the client, then n-1 trusted hops
		return []string{"203.0.113.9" + strings.Repeat(",10.9.9.9", n-1)}
	}
	if got := trusted.ClientIP(lb, hops(maxForwardedHops)).String(); got != "203.0.113.9" {
		t.Errorf("%d entries: %s, want the client", maxForwardedHops, got)
	}
	if got := trusted.ClientIP(lb, hops(maxForwardedHops+1)).String(); got != "10.9.9.9" {
		t.Errorf("%d entries: %s, want the last hop read", maxForwardedHops+1, got)
	}
}

// TestBodyOverServerLimitIs413: a body over the server's MaxBody is 413
// request_too_large even on a route that would decode more, not a 400
// (the client must send less, not fix its JSON).
func TestBodyOverServerLimitIs413(t *testing.T) {
	s, _ := newTestServer(t, nil) // MaxBody 1024
	s.handle("POST /v1/big", errorHandler(s, func(w http.ResponseWriter, r *http.Request) error {
		var v struct {
			A string `json:"a"`
		}
		if err := decodeBody(r, 1<<20, &v, invalidRequest, "{a}"); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
	body := `{"a":"` + strings.Repeat("x", 2000) + `"}`
	resp, m := do(t, s.Handler(), "POST", "/v1/big", strings.NewReader(body))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || m["error"] != CodeTooLarge {
		t.Errorf("%d %v, want 413 %s", resp.StatusCode, m, CodeTooLarge)
	}
	resp, _ = do(t, s.Handler(), "POST", "/v1/big", strings.NewReader(`{"a":"x"}`))
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("a small body: %d", resp.StatusCode)
	}
}
