package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/store"
)

// TestRoutesRecordEveryRegistration: Routes lists every pattern on the
// mux, protected or not, with the scope of a protect wrapper found through
// the middleware around it; /metrics, registered without instrumentation,
// is listed too.
func TestRoutesRecordEveryRegistration(t *testing.T) {
	s, _ := newTestServer(t, nil)
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	lim, _ := ParseRateLimit("test", "5/1m")
	closed := s.protect(auth.ScopeEnroll, http.NotFoundHandler())
	s.handle("GET /v1/open", http.NotFoundHandler())
	s.handle("POST /v1/closed", closed)
	s.handle("POST /v1/limited", s.rateLimit(mem, lim, ClientAddress, s.protect(auth.ScopeQRRedeem, http.NotFoundHandler())))
	s.handleFunc("GET /v1/func", func(http.ResponseWriter, *http.Request) error { return nil })
	// protect hidden in a wrapper without Unwrap cannot be seen: the route
	// is listed as public, so a route table check flags it.
	s.handle("POST /v1/hidden", http.HandlerFunc(closed.ServeHTTP))
	want := []Route{
		{"GET /healthz", ""}, {"GET /readyz", ""}, {"GET /metrics", ""},
		{"GET /v1/open", ""}, {"POST /v1/closed", auth.ScopeEnroll}, {"POST /v1/limited", auth.ScopeQRRedeem},
		{"GET /v1/func", ""}, {"POST /v1/hidden", ""},
	}
	if got := s.Routes(); !slices.Equal(got, want) {
		t.Errorf("routes\n got %v\nwant %v", got, want)
	}
}

// TestCheckRoutesReportsUnlistedRoute: a route registered on a server
// without protect and without a place in the public allow-list makes
// CheckRoutes fail, naming it.
func TestCheckRoutesReportsUnlistedRoute(t *testing.T) {
	s, _ := newTestServer(t, nil)
	s.handle("POST /v1/closed", s.protect(auth.ScopeEnroll, http.NotFoundHandler()))
	protected := map[string]string{"POST /v1/closed": auth.ScopeEnroll}
	public := []string{"GET /healthz", "GET /readyz", "GET /metrics"}
	if err := CheckRoutes(s.Routes(), protected, public); err != nil {
		t.Fatalf("declared routes: %v", err)
	}
	s.handle("GET /v1/debug/vars", http.NotFoundHandler())
	err := CheckRoutes(s.Routes(), protected, public)
	if err == nil || err.Error() != `route "GET /v1/debug/vars" is served without protect and is not in the public allow-list` {
		t.Errorf("unlisted public route: %v", err)
	}
}

// TestCheckRoutes: each way served routes and their declarations can
// disagree is one specific error.
func TestCheckRoutes(t *testing.T) {
	served := []Route{{"GET /healthz", ""}, {"POST /v1/a", auth.ScopeEnroll}}
	for _, c := range []struct {
		name      string
		served    []Route
		protected map[string]string
		public    []string
		want      string
	}{
		{"agree", served, map[string]string{"POST /v1/a": auth.ScopeEnroll}, []string{"GET /healthz"}, ""},
		{"public route not allowed", served, map[string]string{"POST /v1/a": auth.ScopeEnroll}, nil,
			`route "GET /healthz" is served without protect and is not in the public allow-list`},
		{"protected route not in the table", served, nil, []string{"GET /healthz"},
			`protected route "POST /v1/a" (scope identity:enroll) is not in the protected table`},
		{"other scope", served, map[string]string{"POST /v1/a": auth.ScopeQRRedeem}, []string{"GET /healthz"},
			`route "POST /v1/a" is served with scope identity:enroll, but the table says qr:redeem`},
		{"unprotected route the table protects", served,
			map[string]string{"POST /v1/a": auth.ScopeEnroll, "GET /healthz": auth.ScopeRegistryAdmin}, []string{"GET /healthz"},
			`route "GET /healthz" is served without protect, but needs scope registry:admin`},
		{"protected route listed as public", served, map[string]string{"POST /v1/a": auth.ScopeEnroll}, []string{"GET /healthz", "POST /v1/a"},
			`protected route "POST /v1/a" (scope identity:enroll) is in the public allow-list`},
		{"protected route not served", served, map[string]string{"POST /v1/a": auth.ScopeEnroll, "POST /v1/b": auth.ScopeEnroll}, []string{"GET /healthz"},
			`route "POST /v1/b" is declared but not served`},
		{"public route not served", served, map[string]string{"POST /v1/a": auth.ScopeEnroll}, []string{"GET /healthz", "GET /gone"},
			`route "GET /gone" is declared but not served`},
	} {
		err := CheckRoutes(c.served, c.protected, c.public)
		if c.want == "" && err != nil || c.want != "" && (err == nil || err.Error() != c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	err := CheckRoutes(append(served, Route{"GET /x", ""}, Route{"GET /y", ""}), nil, nil)
	if err == nil || strings.Count(err.Error(), "\n") != 3 {
		t.Errorf("every difference: %v", err)
	}
}
