package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
)

// countingDemo is a DemoWallets that counts its enrollments.
type countingDemo struct{ enrolled atomic.Int64 }

func (d *countingDemo) Enroll(context.Context) (*DemoWallet, error) {
	d.enrolled.Add(1)
	return &DemoWallet{ID: "w1", AssuranceLevel: "L3"}, nil
}

func (d *countingDemo) CodeRequest(context.Context, string, []string) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}

func (d *countingDemo) Present(context.Context, string, []string, string, string) (string, error) {
	return "", nil
}

func (d *countingDemo) Extend(context.Context, string) (time.Duration, error) {
	return time.Hour, nil
}

// TestUIDemoRefusesCrossOrigin: another site's page cannot make its
// visitors' browsers enroll demo identities (docs/ui.md). A browser that
// sends Fetch Metadata is judged by Sec-Fetch-Site; one that sends none
// (Safari before 16.4, Firefox before 90) by its Origin, which must be
// the node's own: a cross-site body-less POST needs no CORS preflight,
// so without the Origin check such a visitor's browser enrolled one
// (201). A client that is no browser (neither header) is served.
func TestUIDemoRefusesCrossOrigin(t *testing.T) {
	page := &fstest.MapFile{Data: []byte("<!doctype html>")}
	demo := &countingDemo{}
	s := New(Config{})
	if err := s.MountUI(UIConfig{Files: fstest.MapFS{"index.html": page, "wallet.html": page, "counter.html": page, "operator.html": page},
		Demo: demo}); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, c := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"no browser", nil, http.StatusCreated},
		{"same-origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://node.example"}, http.StatusCreated},
		{"the node's own origin, no Fetch Metadata", map[string]string{"Origin": "http://node.example"}, http.StatusCreated},
		{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"same-site", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.node.example"}, http.StatusForbidden},
		{"another origin, no Fetch Metadata", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"an opaque origin, no Fetch Metadata", map[string]string{"Origin": "null"}, http.StatusForbidden},
	} {
		before := demo.enrolled.Load()
		req := httptest.NewRequest("POST", "http://node.example/ui/demo/wallets", nil)
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		enrolled := demo.enrolled.Load() - before
		if rec.Code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, rec.Code, rec.Body, c.want)
		}
		if c.want == http.StatusForbidden && (enrolled != 0 || rec.Header().Get("Content-Security-Policy") != UICSP) {
			t.Errorf("%s: refused, but %d enrolled; headers %v", c.name, enrolled, rec.Header())
		}
	}
}

// TestUIAssetsIgnoreRange: a page asset is sent whole whatever Range
// asks (Accept-Ranges: none), as the documents listing keys are: a Range
// past its end got a 416 in text/plain, which neither api/openapi.json
// documents for the route nor docs/api.md allows (every error body is
// JSON), and a satisfiable one a 206 piece the document does not name.
func TestUIAssetsIgnoreRange(t *testing.T) {
	page := &fstest.MapFile{Data: []byte("<!doctype html>")}
	css := []byte("body { color: black }\n")
	s := New(Config{})
	if err := s.MountUI(UIConfig{Files: fstest.MapFS{"index.html": page, "wallet.html": page, "counter.html": page, "operator.html": page,
		"ui.css": &fstest.MapFile{Data: css}}}); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, rg := range []string{"", "bytes=0-3", "bytes=999999-", "bytes=0-1,4-5"} {
		req := httptest.NewRequest("GET", "/ui/assets/ui.css", nil)
		if rg != "" {
			req.Header.Set("Range", rg)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.String() != string(css) || rec.Header().Get("Accept-Ranges") != "none" ||
			rec.Header().Get("Content-Type") != "text/css; charset=utf-8" || rec.Header().Get("ETag") == "" {
			t.Errorf("Range %q: %d %q, headers %v; want 200 with the whole asset, Accept-Ranges: none", rg, rec.Code, rec.Body, rec.Header())
		}
		// Its ETag still makes revalidation a 304.
		req = httptest.NewRequest("GET", "/ui/assets/ui.css", nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		if rg != "" {
			req.Header.Set("Range", rg)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified {
			t.Errorf("Range %q, If-None-Match: %d, want 304", rg, rec.Code)
		}
	}
	// An If-Match naming another version is 412 as a JSON error.
	req := httptest.NewRequest("GET", "/ui/assets/ui.css", nil)
	req.Header.Set("If-Match", `"another-version"`)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusPreconditionFailed || rec.Header().Get("Content-Type") != "application/json" ||
		!strings.Contains(rec.Body.String(), `"error":"precondition_failed"`) {
		t.Errorf("If-Match another version: %d %q %q, want 412 precondition_failed as JSON", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
}
