package webui_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/internal/testbrowser"
	"github.com/trustid-cn/trustid/webui"
)

// servePages serves the pages as a node does (api.MountUI), without the
// wallet demo; routes, when given, answer in front of the node's.
func servePages(t *testing.T, routes ...func(*http.ServeMux)) string {
	t.Helper()
	s := api.New(api.Config{})
	if err := s.MountUI(api.UIConfig{Files: webui.Files(), Region: "310000", Issuer: "https://id.example"}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", s.Handler())
	for _, r := range routes {
		r(mux)
	}
	srv := httptest.NewServer(mux)
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

// offlineRefusals are the refusals POST /v1/qr/verify gives an offline
// code (TIDOFF2:, which the counter page sends as it sends online ones):
// api's qrErrors as redeem.Service.VerifyOffline returns them, and as
// api/openapi.json describes the route.
var offlineRefusals = map[string]int{
	"qr_stale": 400, "qr_audience_mismatch": 400, "qr_too_large": 413,
	"qr_unknown_key": 401, "qr_bad_signature": 401,
	"qr_binding_expired": 403, "qr_delegation_scope": 403, "qr_delegation_expired": 403, "qr_delegation_invalid": 403,
	"qr_replayed": 409, "qr_clone_suspected": 409,
	"qr_wrong_region": 422, "qr_unknown_status_list": 422, "qr_peer_failed": 502,
}

// TestBrowserCounterRefusalsExplained: every refusal of an offline code
// is explained at the counter in words, in Chinese and in English, not
// shown as its error code (WCAG 2.2 SC 3.3.1 Error Identification, 3.3.3
// Error Suggestion: "Ask the holder to open the code again"). Staff
// serving an elderly holder, or a guardian presenting for one, read the
// reason aloud. The node's answers are played by the test.
func TestBrowserCounterRefusalsExplained(t *testing.T) {
	base := servePages(t, func(mux *http.ServeMux) {
		mux.HandleFunc("POST /v1/qr/verify", func(w http.ResponseWriter, r *http.Request) {
			var req struct{ Code string }
			json.NewDecoder(r.Body).Decode(&req)
			code := strings.TrimPrefix(req.Code, "TIDOFF2:")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(offlineRefusals[code])
			json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "internal English text"})
		})
	})
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	for _, lang := range []string{"zh-CN", "en"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/counter?lang="+lang),
			chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "`+lang+`"`, chromedp.WithPollingTimeout(10*time.Second)),
			chromedp.SetValue(chromedp.ID("token"), "tok")); err != nil {
			t.Fatal(err)
		}
		for code := range offlineRefusals {
			reason, err := chromedp.Run(ctx, chromedp.PollFunction[string](`(code) => {
  if (!window.sent) { window.sent = code; document.getElementById("result").hidden = true; document.getElementById("code").value = "TIDOFF2:" + code; document.getElementById("verify").click(); return null; }
  const r = document.getElementById("reason");
  if (document.getElementById("result").hidden || !r) return null;
  window.sent = null;
  return r.textContent;
}`, chromedp.WithPollingArgs(code), chromedp.WithPollingTimeout(10*time.Second)))
			if err != nil {
				t.Fatalf("%s %s: %v", lang, code, err)
			}
			if strings.Contains(reason, code) || strings.Contains(reason, "internal") {
				t.Errorf("%s: %s is shown as %q", lang, code, reason)
			}
		}
	}
}
