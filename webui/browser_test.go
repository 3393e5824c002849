package webui_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/internal/testbrowser"
	"github.com/trustid-cn/trustid/webui"
)

// servePages serves the pages as a node does (api.MountUI), without the
// wallet demo.
func servePages(t *testing.T) string {
	t.Helper()
	s := api.New(api.Config{})
	if err := s.MountUI(api.UIConfig{Files: webui.Files(), Region: "310000", Issuer: "https://id.example"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBrowserReflow: every page, in both languages, fits a viewport 320
// CSS pixels wide without horizontal scrolling (WCAG 2.2 SC 1.4.10
// Reflow: a person who zooms to 400% sees a 320 px wide page).
func TestBrowserReflow(t *testing.T) {
	base := servePages(t)
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(320, 640)); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"zh-CN", "en"} {
		for _, page := range []string{"/ui/", "/ui/wallet", "/ui/counter", "/ui/operator"} {
			if err := chromedp.Do(ctx, chromedp.Navigate(base+page+"?lang="+lang),
				chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "`+lang+`"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
				t.Fatalf("%s %s: %v", page, lang, err)
			}
			// What overflows the viewport: the document's width, and the
			// innermost elements that reach past its right edge.
			over, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
  const w = document.documentElement.clientWidth, out = [];
  if (document.documentElement.scrollWidth <= w) return out;
  out.push("document " + document.documentElement.scrollWidth + " px wide");
  document.querySelectorAll("main *").forEach(e => {
    const past = el => el.getBoundingClientRect().right > w + 0.5 || el.scrollWidth > el.clientWidth + 1;
    if (past(e) && ![...e.children].some(past))
      out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " " + JSON.stringify(e.textContent.trim().slice(0, 40)));
  });
  return out;
})()`))
			if err != nil {
				t.Fatal(err)
			}
			if len(over) > 0 {
				t.Errorf("%s in %s at 320 px scrolls sideways: %v", page, lang, over)
			}
		}
	}
}
