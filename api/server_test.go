package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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
	clock := time.Unix(1764900000, 0)
	s.ready.now = func() time.Time { return clock }
	if resp, m := do(t, s.Handler(), "GET", "/healthz", nil); resp.StatusCode != 200 || m["status"] != "ok" {
		t.Errorf("healthz: %d %v", resp.StatusCode, m)
	}
	if resp, m := do(t, s.Handler(), "GET", "/readyz", nil); resp.StatusCode != 200 || m["store"] != "ok" {
		t.Errorf("readyz: %d %v", resp.StatusCode, m)
	}
	fail = errors.New("dial tcp 10.0.0.7:6379: connection refused")
	clock = clock.Add(time.Second)
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

// TestRoutingAnswers pins what the server answers for requests around its
// routes: a route's own answer (path values set), the JSON 404 and 405
// (with the mux's Allow) of unrouted requests, each with a request ID and
// an access line of route "unrouted", HEAD served by a GET route, and the
// mux's own redirects (a cleaned path, a subtree's trailing slash), which
// pass by the instrumentation.
func TestRoutingAnswers(t *testing.T) {
	var access bytes.Buffer
	s := New(Config{AccessLog: slog.New(slog.NewJSONHandler(&access, nil))})
	echo := func(w http.ResponseWriter, r *http.Request) error {
		w.Write([]byte(r.Pattern + " " + r.PathValue("id")))
		return nil
	}
	s.handleFunc("GET /items/{id}", echo)
	s.handleFunc("DELETE /items/{id}", echo)
	s.handleFunc("GET /dir/", echo)
	s.handleFunc("POST /form", echo)
	s.handleFunc("GET /{$}", echo)
	for _, c := range []struct {
		method, target string
		status         int
		// body is the answer's body, or its JSON error code; route is the
		// access line's.
		body, route, allow, location string
	}{
		{"GET", "/healthz", 200, "{\"status\":\"ok\"}\n", "GET /healthz", "", ""},
		{"HEAD", "/healthz", 200, "{\"status\":\"ok\"}\n", "GET /healthz", "", ""},
		{"GET", "/items/7", 200, "GET /items/{id} 7", "GET /items/{id}", "", ""},
		{"HEAD", "/items/7", 200, "GET /items/{id} 7", "GET /items/{id}", "", ""},
		{"DELETE", "/items/7", 200, "DELETE /items/{id} 7", "DELETE /items/{id}", "", ""},
		{"GET", "/dir/a/b", 200, "GET /dir/ ", "GET /dir/", "", ""},
		{"GET", "/", 200, "GET /{$} ", "GET /{$}", "", ""},
		{"GET", "/nope", 404, CodeNotFound, "unrouted", "", ""},
		{"HEAD", "/nope", 404, CodeNotFound, "unrouted", "", ""},
		{"POST", "/nope", 404, CodeNotFound, "unrouted", "", ""},
		{"GET", "/items/", 404, CodeNotFound, "unrouted", "", ""},
		{"GET", "/items/7/x", 404, CodeNotFound, "unrouted", "", ""},
		{"GET", "/form/", 404, CodeNotFound, "unrouted", "", ""},
		{"POST", "/healthz", 405, CodeMethod, "unrouted", "GET, HEAD", ""},
		{"OPTIONS", "/healthz", 405, CodeMethod, "unrouted", "GET, HEAD", ""},
		{"PUT", "/items/7", 405, CodeMethod, "unrouted", "DELETE, GET, HEAD", ""},
		{"GET", "/form", 405, CodeMethod, "unrouted", "POST", ""},
		{"POST", "/", 405, CodeMethod, "unrouted", "GET, HEAD", ""},
		{"POST", "/dir/a", 405, CodeMethod, "unrouted", "GET, HEAD", ""},
		{"POST", "/dir", 405, CodeMethod, "unrouted", "GET, HEAD", ""},
		{"GET", "/dir", 307, "", "", "", "/dir/"},
		{"GET", "/dir?q=1", 307, "", "", "", "/dir/?q=1"},
		{"GET", "//healthz", 307, "", "", "", "/healthz"},
		{"GET", "/x/../healthz", 307, "", "", "", "/healthz"},
		{"GET", "/./healthz", 307, "", "", "", "/healthz"},
		{"GET", "/x/../dir", 307, "", "", "", "/dir/"},
		// A path the mux would clean into one no route serves for the
		// method is not redirected: it is unrouted, and a 404.
		{"POST", "/x/../nope", 404, CodeNotFound, "unrouted", "", ""},
		{"GET", "/x/../nope", 404, CodeNotFound, "unrouted", "", ""},
		{"GET", "//nope", 404, CodeNotFound, "unrouted", "", ""},
		{"POST", "/x/../healthz", 404, CodeNotFound, "unrouted", "", ""},
		{"GET", "*", 404, CodeNotFound, "unrouted", "", ""},
		{"CONNECT", "node.example:443", 405, CodeMethod, "unrouted", "GET, HEAD", ""},
	} {
		access.Reset()
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(c.method, c.target, nil))
		name := c.method + " " + c.target
		body := rec.Body.String()
		if rec.Code >= 400 {
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Errorf("%s: %d %q is not a JSON error", name, rec.Code, body)
			}
			body = e.Error
		}
		if rec.Code/100 == 3 {
			body = ""
		}
		if rec.Code != c.status || body != c.body || rec.Header().Get("Allow") != c.allow || rec.Header().Get("Location") != c.location {
			t.Errorf("%s: %d %q Allow %q Location %q, want %d %q Allow %q Location %q", name,
				rec.Code, body, rec.Header().Get("Allow"), rec.Header().Get("Location"), c.status, c.body, c.allow, c.location)
		}
		var line struct {
			RequestID string `json:"request_id"`
			Route     string `json:"route"`
		}
		if access.Len() > 0 {
			if err := json.Unmarshal(access.Bytes(), &line); err != nil {
				t.Fatalf("%s: access log %q: %v", name, access.String(), err)
			}
		}
		if id := rec.Header().Get("X-Request-Id"); line.Route != c.route || line.RequestID != id || (id == "") != (c.route == "") {
			t.Errorf("%s: request ID %q, access log %s, want route %q", name, id, access.String(), c.route)
		}
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`trustid_http_requests_total{code="404",method="GET",route="unrouted"} 7`,
		`trustid_http_requests_total{code="405",method="POST",route="unrouted"} 4`,
		`trustid_http_requests_total{code="200",method="HEAD",route="GET /items/{id}"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics: no %s in\n%s", want, rec.Body.String())
		}
	}
	// The header values every JSON answer shares are as they were.
	if fmt.Sprint(jsonContentType, noStore) != "[application/json] [no-store]" || cap(jsonContentType) != 1 || cap(noStore) != 1 {
		t.Errorf("shared header values now %q %q", jsonContentType, noStore)
	}
}

// TestRequestID: a request's ID is the client's X-Request-Id when that is
// 1-64 letters, digits, "-", "_" or "."; otherwise a fresh one, 16 hex
// digits, unique. Either is echoed in X-Request-Id, logged, and found by
// requestID in the handler's context and in contexts derived from it,
// which still end with the request's.
func TestRequestID(t *testing.T) {
	var access bytes.Buffer
	s := New(Config{AccessLog: slog.New(slog.NewJSONHandler(&access, nil))})
	var inHandler string
	s.handleFunc("GET /id", func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithCancel(context.WithValue(r.Context(), ctxKey(99), "other"))
		defer cancel()
		inHandler = requestID(ctx)
		if requestID(r.Context()) != inHandler || ctx.Value(ctxKey(99)) != "other" {
			t.Errorf("requestID: %q in the request's context, %q in a derived one", requestID(r.Context()), inHandler)
		}
		if s, _ := w.(interface{ Unwrap() http.ResponseWriter }); s == nil {
			t.Errorf("the writer %T has no Unwrap", w)
		}
		return nil
	})
	get := func(id string) string {
		t.Helper()
		access.Reset()
		inHandler = ""
		r := httptest.NewRequest("GET", "/id", nil)
		if id != "" {
			r.Header.Set("X-Request-Id", id)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, r)
		got := rec.Header().Get("X-Request-Id")
		if got != inHandler || !strings.Contains(access.String(), `"request_id":"`+got+`"`) {
			t.Errorf("X-Request-Id %q, in the handler %q, access log %s", got, inHandler, access.String())
		}
		return got
	}
	for _, id := range []string{"abc-DEF_1.2", strings.Repeat("x", 64)} {
		if got := get(id); got != id {
			t.Errorf("client's ID %q: answered %q", id, got)
		}
	}
	seen := map[string]bool{}
	for _, id := range []string{"", "a b", "a\"b", "é", strings.Repeat("x", 65), "", "", ""} {
		got := get(id)
		if len(got) != 16 || strings.Trim(got, "0123456789abcdef") != "" || seen[got] {
			t.Errorf("client's ID %q: answered %q, want 16 fresh hex digits", id, got)
		}
		seen[got] = true
	}
	for range 10000 {
		id := newRequestID()
		if seen[id] {
			t.Fatalf("request ID %s twice", id)
		}
		seen[id] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "/id", nil).WithContext(ctx)
	s.handleFunc("GET /cancel", func(w http.ResponseWriter, r *http.Request) error {
		cancel()
		<-r.Context().Done()
		derived, stop := context.WithTimeout(r.Context(), time.Hour)
		defer stop()
		<-derived.Done()
		if !errors.Is(derived.Err(), context.Canceled) {
			t.Errorf("derived context: %v", derived.Err())
		}
		return nil
	})
	r.URL.Path = "/cancel"
	s.Handler().ServeHTTP(httptest.NewRecorder(), r)
}

// FuzzRoutingMatchesTwoLookups: Handler, which routes most requests once
// and those of a method and literal path by router.exact, answers every
// request (parsed as the HTTP server parses it) as routing twice did:
// router.mux.Handler to find whether a route matches, then router.mux to
// serve it, or the unrouted handler.
func FuzzRoutingMatchesTwoLookups(f *testing.F) {
	for _, seed := range []string{"GET /healthz", "HEAD /healthz", "POST /healthz", "GET /items/7", "PUT /items/7",
		"GET /dir", "GET /dir/a/b", "POST /dir", "GET //healthz", "GET /x/../healthz", "POST /x/../nope", "GET /./dir",
		"GET *", "CONNECT node.example:443", "OPTIONS *", "GET /", "POST /", "GET /.well-known/x", "GET /items/%2F",
		"GET /dir%2Fa", "GET http://node.example/healthz", "GET /form?x=1", "GET /items/7/../8", "DELETE /items/",
		"GET /items/new", "HEAD /items/new", "POST /items/new", "GET /items/ne%77", "PUT /any", "GET /any", "HEAD /any",
		"POST /form/", "POST /form/.", "POST /Form", "GET /.well-known/x?y", "GET /healthz#x", "get /healthz"} {
		f.Add(seed)
	}
	s := New(Config{})
	echo := func(w http.ResponseWriter, r *http.Request) error {
		w.Write([]byte(r.Pattern + " " + r.PathValue("id")))
		return nil
	}
	s.handleFunc("GET /items/{id}", echo)
	s.handleFunc("DELETE /items/{id}", echo)
	s.handleFunc("GET /dir/", echo)
	s.handleFunc("POST /form", echo)
	s.handleFunc("GET /{$}", echo)
	s.handleFunc("GET /.well-known/x", echo)
	s.handleFunc("GET /items/new", echo)
	s.handleFunc("/any", echo)
	s.handleFunc("GET /any", echo)
	twice := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.router.mux.Handler(r); pattern == "" {
			s.unrouted.ServeHTTP(w, r)
			return
		}
		s.router.mux.ServeHTTP(w, r)
	})
	f.Fuzz(func(t *testing.T, line string) {
		answer := func(h http.Handler) *httptest.ResponseRecorder {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(line + " HTTP/1.1\r\nHost: node.example\r\n\r\n")))
			if err != nil {
				t.Skip()
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		got, want := answer(s.Handler()), answer(twice)
		for _, h := range []string{"X-Request-Id", "Date"} {
			if (got.Header().Get(h) == "") != (want.Header().Get(h) == "") {
				t.Fatalf("%q: %s %q, routing twice %q", line, h, got.Header().Get(h), want.Header().Get(h))
			}
			got.Header().Del(h)
			want.Header().Del(h)
		}
		if got.Code != want.Code || got.Body.String() != want.Body.String() || fmt.Sprint(got.Header()) != fmt.Sprint(want.Header()) {
			t.Fatalf("%q: %d %v %q, routing twice %d %v %q", line, got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
	})
}

// TestMetricsMethodsBounded: a client chooses the request method (any
// token the HTTP server parses), so the request counters name the
// standard methods and count every other as "other": a client sending
// many made-up methods adds no series.
func TestMetricsMethodsBounded(t *testing.T) {
	s := New(Config{})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for i := range 50 {
		for _, path := range []string{"/nope", "/healthz"} {
			req, err := http.NewRequest(fmt.Sprintf("M%d", i), ts.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	resp, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	series := 0
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "trustid_http_requests_total{") {
			series++
		}
	}
	for _, want := range []string{
		`trustid_http_requests_total{code="404",method="other",route="unrouted"} 50`,
		`trustid_http_requests_total{code="405",method="other",route="unrouted"} 50`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %s", want)
		}
	}
	if series != 2 {
		t.Errorf("%d request series for 100 requests of made-up methods, want 2:\n%s", series, b)
	}
}

// TestAccessLineStatusAndMethod: a handler that writes nothing is logged
// and counted with the 200 net/http sends, not 0; a made-up method, of
// any length, is logged as "other", as /metrics counts it.
func TestAccessLineStatusAndMethod(t *testing.T) {
	var access bytes.Buffer
	s := New(Config{AccessLog: slog.New(slog.NewJSONHandler(&access, nil))})
	s.handle("GET /silent", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	long := "M" + strings.Repeat("X", 4096)
	for _, m := range []string{"GET", long} {
		req, err := http.NewRequest(m, ts.URL+"/silent", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	lines := strings.Split(strings.TrimSpace(access.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d access lines: %s", len(lines), access.String())
	}
	if !strings.Contains(lines[0], `"method":"GET","route":"GET /silent","status":200`) {
		t.Errorf("silent handler logged as %s", lines[0])
	}
	if !strings.Contains(lines[1], `"method":"other"`) || strings.Contains(lines[1], "XXXX") {
		t.Errorf("made-up method logged as %.200s", lines[1])
	}
	resp, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want := `trustid_http_requests_total{code="200",method="GET",route="GET /silent"} 1`; !strings.Contains(string(b), want) {
		t.Errorf("no %s in /metrics", want)
	}
}

// FuzzMayRedirect holds mayRedirect to the strings functions Handler
// used before.
func FuzzMayRedirect(f *testing.F) {
	for _, p := range []string{"", "/", "/healthz", "//x", "/a/./b", "/.well-known/x", "a/b", "/a/b/", "/a/b/.", "/a.b/c"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		want := !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, "/.")
		if got := mayRedirect(p); got != want {
			t.Errorf("mayRedirect(%q) = %v, want %v", p, got, want)
		}
	})
}

// TestExactRoutes: router.exact serves the routes of a method and literal
// path (FuzzRoutingMatchesTwoLookups holds it to ServeMux), and no
// request once a pattern names a host.
func TestExactRoutes(t *testing.T) {
	s := New(Config{})
	s.handleFunc("GET /items/{id}", func(http.ResponseWriter, *http.Request) error { return nil })
	s.handleFunc("/any", func(http.ResponseWriter, *http.Request) error { return nil })
	for target, want := range map[string]string{"GET /healthz": "GET /healthz", "GET /readyz": "GET /readyz",
		"HEAD /healthz": "", "GET /healthz/": "", "GET /health%7A": "", "GET /items/1": "", "GET /any": "", "CONNECT /healthz": ""} {
		method, path, _ := strings.Cut(target, " ")
		e, ok := s.router.lookup(httptest.NewRequest(method, path, nil))
		if e.pattern != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", target, e.pattern, ok, want)
		}
	}
	s.handleFunc("GET node.example/healthz", func(http.ResponseWriter, *http.Request) error { return nil })
	if e, ok := s.router.lookup(httptest.NewRequest("GET", "/healthz", nil)); ok {
		t.Errorf("with a host's pattern: %q", e.pattern)
	}
}

// TestRequestCountersConcurrent: requests of several statuses and
// methods, served at once, are each counted once (routeCounters adds a
// counter while others are read).
func TestRequestCountersConcurrent(t *testing.T) {
	s := New(Config{})
	s.handle("/code", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("c"))
		w.WriteHeader(code)
	}))
	codes, methods := []int{200, 201, 404, 500, 503}, []string{"GET", "POST", "PUT"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 60 {
				r := httptest.NewRequest(methods[(g+i)%len(methods)], "/code?c="+strconv.Itoa(codes[i%len(codes)]), nil)
				s.Handler().ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
	wg.Wait()
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	total := 0
	for line := range strings.Lines(w.Body.String()) {
		if strings.HasPrefix(line, `trustid_http_requests_total{code="`) && strings.Contains(line, `route="/code"`) {
			n, err := strconv.Atoi(strings.TrimSpace(line[strings.LastIndexByte(line, ' '):]))
			if err != nil {
				t.Fatal(line)
			}
			total += n
		}
	}
	want := `trustid_http_requests_total{code="503",method="PUT",route="/code"} 16`
	if total != 240 || !strings.Contains(w.Body.String(), want) {
		t.Errorf("%d requests counted, want 240 (and %s):\n%s", total, want, w.Body)
	}
}
