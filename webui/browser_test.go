package webui_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// TestBrowserCounterDelegatedCode: a guardian's offline code, carrying a
// delegation from an elderly holder, verifies at the counter for the
// matter chosen there, and the result says who is acting (the guardian)
// and for what, beside the holder. POST /v1/qr/verify verifies a
// delegated code only for a named action (redeem.Service.VerifyOffline:
// without one it is 403 qr_delegation_scope) and refuses an action with
// an online code (400); the node's answers are played by the test.
func TestBrowserCounterDelegatedCode(t *testing.T) {
	sent := make(chan map[string]any, 4)
	base := servePages(t, func(mux *http.ServeMux) {
		mux.HandleFunc("POST /v1/qr/verify", func(w http.ResponseWriter, r *http.Request) {
			var req map[string]any
			json.NewDecoder(r.Body).Decode(&req)
			sent <- req
			code, _ := req["code"].(string)
			action, hasAction := req["action"].(string)
			w.Header().Set("Content-Type", "application/json")
			switch {
			case strings.HasPrefix(code, "TIDON1:") && hasAction:
				w.WriteHeader(400)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request"})
			case strings.HasPrefix(code, "TIDON1:"):
				json.NewEncoder(w).Encode(map[string]any{"pairwise_id": "pw-holder-0123456789", "assurance_level": 3, "region": "310000", "claims": map[string]any{}})
			case action != "pickup":
				w.WriteHeader(403)
				json.NewEncoder(w).Encode(map[string]string{"error": "qr_delegation_scope"})
			default:
				json.NewEncoder(w).Encode(map[string]any{"pairwise_id": "pw-principal-0123456789", "assurance_level": 2, "region": "310000",
					"action": "pickup", "act": map[string]string{"pairwise_id": "pw-guardian-9876543210", "relationship": "guardian"}})
			}
		})
	})
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/counter"),
		chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "zh-CN"`, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.SetValue(chromedp.ID("token"), "tok")); err != nil {
		t.Fatal(err)
	}
	verify := func(code, action string) (verdict, result string) {
		t.Helper()
		if action != "" {
			found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.getElementById("action"); if (s) s.value = `+strconv.Quote(action)+`; return !!s; })()`))
			if err != nil || !found {
				t.Errorf("the counter has no field for the matter (%v)", err)
			}
		}
		res, err := chromedp.Run(ctx, chromedp.PollFunction[[]string](`(code) => {
  if (!window.sent) { window.sent = true; document.getElementById("result").hidden = true; document.getElementById("code").value = code; document.getElementById("verify").click(); return null; }
  const box = document.getElementById("result");
  if (box.hidden || !document.getElementById("verdict")) return null;
  window.sent = false;
  return [document.getElementById("verdict").textContent, box.textContent];
}`, chromedp.WithPollingArgs(code), chromedp.WithPollingTimeout(10*time.Second)))
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		return res[0], res[1]
	}

	// The guardian's code for collecting a parcel.
	verdict, result := verify("TIDOFF2:guardian", "pickup")
	if req := <-sent; req["action"] != "pickup" {
		t.Errorf("the delegated code was sent as %v, without the matter chosen", req)
	}
	if !strings.Contains(verdict, "有效") || strings.Contains(verdict, "无效") {
		t.Fatalf("the guardian's code for a parcel: %q %q", verdict, result)
	}
	if !strings.Contains(result, "监护人") || !strings.Contains(result, "pw-g…3210") || !strings.Contains(result, "代领") {
		t.Errorf("the result does not say a guardian acts, and for what: %q", result)
	}
	// An online code carries no action.
	verdict, result = verify("TIDON1:holder", "")
	if req := <-sent; req["action"] != nil {
		t.Errorf("an online code was sent with an action: %v", req)
	}
	if !strings.Contains(verdict, "有效") || strings.Contains(verdict, "无效") || strings.Contains(result, "监护人") {
		t.Errorf("the holder's own online code: %q %q", verdict, result)
	}
}
