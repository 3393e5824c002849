package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trustid-cn/trustid/internal/testbrowser"
)

// TestAPIDocsShowEveryPath: the rendered reference shows every path and
// method of api/openapi.json, links every schema it references, and is
// served with a CSP that loads nothing but its stylesheet.
func TestAPIDocsShowEveryPath(t *testing.T) {
	s, _ := newTestServer(t, nil)
	if err := s.MountAPIDocs(); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", APIDocsPath, nil))
	page := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET %s: %d %s", APIDocsPath, rec.Code, rec.Header().Get("Content-Type"))
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "default-src 'none'; style-src 'sha256-") || strings.Contains(csp, "script") || strings.Contains(page, "<script") {
		t.Errorf("CSP %q", csp)
	}
	// The stylesheet's hash is the one the CSP allows.
	if !strings.Contains(page, "<style>"+apiDocsStyle+"</style>") {
		t.Error("the page's stylesheet is not the hashed one")
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage
		Components struct{ Schemas map[string]json.RawMessage }
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range doc.Paths {
		for method := range item {
			if !strings.Contains(page, `<span class="m">`+strings.ToUpper(method)+`</span> <span class="p">`+path+`</span>`) {
				t.Errorf("%s %s is not on the page", strings.ToUpper(method), path)
			}
			n++
		}
	}
	if n < 50 {
		t.Errorf("only %d operations in the document?", n)
	}
	for name := range maps.Keys(doc.Components.Schemas) {
		if !strings.Contains(page, `id="schema-`+anchor(name)+`"`) {
			t.Errorf("schema %s has no section", name)
		}
	}
	for _, m := range regexp.MustCompile(`href="#([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(page, `id="`+m[1]+`"`) {
			t.Errorf("link to #%s has no target", m[1])
		}
	}
	if !strings.Contains(page, `"$ref": <a href="#schema-Redemption">"#/components/schemas/Redemption"</a>`) {
		t.Error("a $ref is not a link to its schema")
	}
}

// TestAPIDocsEscape: text from the document is escaped, never markup.
func TestAPIDocsEscape(t *testing.T) {
	doc := `{"openapi":"3.1.0","info":{"title":"<b>T</b>","version":"1"},"paths":{"/x/{id}":{"post":{"summary":"<script>alert(1)</script>",
	"requestBody":{"content":{"application/json":{"schema":{"type":"string","pattern":"</pre><script>"},"example":"<img src=x>"}}},
	"responses":{"200":{"description":"<i>ok</i>"}}}}},"components":{"schemas":{"A<b>":{"type":"object"}}}}`
	page, err := RenderAPIDocs([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<b>", "<i>", "<img", "</pre><script>"} {
		if strings.Contains(string(page), bad) {
			t.Errorf("the page contains %q unescaped:\n%s", bad, page)
		}
	}
	if _, err := RenderAPIDocs([]byte(`{"paths": 1}`)); err == nil {
		t.Error("a document that is not one rendered")
	}
}

// TestBrowserAPIDocsAccessible: the reference passes the pages'
// accessibility checks (testbrowser.CheckA11y, axe-core's WCAG 2.1 AA
// rules) in Chromium, at the width of a phone too.
func TestBrowserAPIDocsAccessible(t *testing.T) {
	s, _ := newTestServer(t, nil)
	if err := s.MountAPIDocs(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 120*time.Second)
	defer cancel()
	for _, width := range []int64{1280, 320} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(srv.URL+APIDocsPath)); err != nil {
			t.Fatal(err)
		}
		testbrowser.CheckA11y(t, ctx, fmt.Sprintf("API reference at %d px", width))
	}
}
