package webui_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
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
// Reflow: a person who zooms to 400% sees a 320 px wide page), and
// passes the pages' accessibility checks there.
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
			testbrowser.CheckA11y(t, ctx, page+" "+lang+" at 320 px")
		}
	}
}

// offlineRefusals are the refusals POST /v1/qr/verify gives an offline
// code (TIDOFF2:, which the counter page sends as it sends online ones):
// api's qrErrors as redeem.Service.VerifyOffline returns them, and as
// api/openapi.json describes the route.
var offlineRefusals = map[string]int{
	"qr_stale": 400, "qr_audience_mismatch": 400, "qr_too_large": 413,
	"qr_unknown_key": 403, "qr_bad_signature": 403,
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
		testbrowser.CheckA11y(t, ctx, "counter "+lang+" with a refusal")
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

// TestBrowserFieldErrorsTied: a field left empty is named in words next
// to it and tied to it (WCAG 2.2 SC 3.3.1 Error Identification, with
// aria-invalid and aria-describedby, techniques ARIA21 and ARIA1): the
// counter's token and code, the operator's admin token. Focus goes to
// the field, so a screen reader reads the error with the field's label;
// the error follows the language switch, and goes once the field is
// filled. The operator's empty admin token used to move focus silently.
func TestBrowserFieldErrorsTied(t *testing.T) {
	base := servePages(t, func(mux *http.ServeMux) {
		mux.HandleFunc("POST /v1/qr/verify", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(409)
			json.NewEncoder(w).Encode(map[string]string{"error": "qr_code_used"})
		})
	})
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	// fieldError clicks button (when given) and returns, for field:
	// whether it is focused, aria-invalid, and the visible text of what
	// describes it beyond its help.
	const fieldError = `(([field, button, help]) => {
  if (button) document.getElementById(button).click();
  const f = document.getElementById(field);
  const said = (f.getAttribute("aria-describedby") || "").split(/\s+/).filter(id => id && id !== help).map(id => {
    const e = document.getElementById(id);
    return e && !e.closest("[hidden]") && e.getClientRects().length ? e.textContent.trim() : "";
  }).join(" ").trim();
  return [String(document.activeElement === f), f.getAttribute("aria-invalid") || "", said];
})`
	check := func(page, field, button, help, want string) {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fieldError+`(`+jsonArray(field, button, help)+`)`))
		if err != nil {
			t.Fatalf("%s %s: %v", page, field, err)
		}
		if want == "" {
			if got[1] == "true" || got[2] != "" {
				t.Errorf("%s: %s filled in is still marked in error: aria-invalid %q, described as %q", page, field, got[1], got[2])
			}
			return
		}
		if (button != "" && got[0] != "true") || got[1] != "true" || got[2] != want {
			t.Errorf("%s: %s left empty: focused %s, aria-invalid %q, described as %q; want focused, \"true\", %q", page, field, got[0], got[1], got[2], want)
		}
	}
	// open waits for the page's script too: the operator's starts once
	// config.json is read (op-issuer filled with the test's issuer).
	open := func(page, lang string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+page+"?lang="+lang),
			chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "`+lang+`" && (!document.getElementById("op-issuer") || document.getElementById("op-issuer").textContent === "https://id.example")`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ lang, needToken, needCode, needAdmin, other, needTokenOther string }{
		{"zh-CN", "请先粘贴访问令牌。", "请先扫描、上传或粘贴身份码。", "请先粘贴管理令牌。", "en", "Paste the access token first."},
		{"en", "Paste the access token first.", "Scan, upload or paste a code first.", "Paste the admin token first.", "zh-CN", "请先粘贴访问令牌。"},
	} {
		open("/ui/counter", c.lang)
		check("counter "+c.lang, "token", "verify", "token-help", c.needToken)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("lang"))); err != nil {
			t.Fatal(err)
		}
		check("counter switched to "+c.other, "token", "", "token-help", c.needTokenOther)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("lang")), chromedp.SetValue(chromedp.ID("token"), "tok")); err != nil {
			t.Fatal(err)
		}
		check("counter "+c.lang, "code", "verify", "", c.needCode)
		check("counter "+c.lang, "token", "", "token-help", "")
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("code"), "TIDON1:used"), chromedp.Click(chromedp.ID("verify")),
			chromedp.WaitVisible(chromedp.ID("reason"))); err != nil {
			t.Fatal(err)
		}
		check("counter "+c.lang, "code", "", "", "")
		testbrowser.CheckA11y(t, ctx, "counter "+c.lang+" after errors")

		open("/ui/operator", c.lang)
		check("operator "+c.lang, "admin-token", "load-registry", "admin-help", c.needAdmin)
		testbrowser.CheckA11y(t, ctx, "operator "+c.lang+" after an error")
	}
}

// jsonArray is strs as a JSON array.
func jsonArray(strs ...string) string {
	b, _ := json.Marshal(strs)
	return string(b)
}

// waitPageReady waits until the page (wallet, operator) has its strings
// and the node's config, when its buttons start to work: a click before
// then does nothing.
func waitPageReady(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`Promise.all([TID.ready, TID.config]).then(() => new Promise(r => setTimeout(() => r(true), 0)))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserWalletForgotten: when the node no longer has the demo
// wallet (kept an hour, forgotten on a restart: 404 not_found from its
// routes), the wallet page says so in words and asks to enroll again, as
// docs/ui.md says, in both languages, not "not_found" (WCAG 2.2 SC
// 3.3.1, 3.3.3); it forgets the wallet (its buttons are off) and focus
// goes to the enroll button. The node's answers are played by the test.
func TestBrowserWalletForgotten(t *testing.T) {
	base := servePages(t, func(mux *http.ServeMux) {
		mux.HandleFunc("GET /ui/config.json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"region":"310000","issuer":"https://id.example","demo":true}`))
		})
		mux.HandleFunc("POST /ui/demo/wallets", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"wallet":"w1","name":"张*","document":"3101**********0011","assurance_level":"L3","region":"310000","consent":["age_over_18"],"disclosable":["age_over_18"],"expires_at":"2026-01-01T01:00:00Z","expires_in":3600}`))
		})
		gone := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not_found","error_description":"no such demo wallet (it expired, or the node restarted): enroll again"}`))
		}
		mux.HandleFunc("POST /ui/demo/wallets/{id}/code-request", gone)
		mux.HandleFunc("POST /ui/demo/wallets/{id}/presentation", gone)
	})
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	for _, c := range []struct{ lang, want string }{
		{"zh-CN", "请按“登记测试身份”重新登记"},
		{"en", "Press “Enroll a test identity” to enroll again"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/wallet?lang="+c.lang),
			chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "`+c.lang+`"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatal(err)
		}
		waitPageReady(t, ctx)
		for _, step := range []struct{ button, status string }{{"show-code", "code-status"}, {"present", "present-result"}} {
			got, err := chromedp.Run(ctx, chromedp.PollFunction[[]string](`(button, status) => {
  if (window.step !== button) { window.step = button; document.getElementById(status).textContent = ""; document.getElementById("enroll").click(); return null; }
  const b = document.getElementById(button), s = document.getElementById(status);
  if (b.disabled && !window.pressed) return null;
  if (!window.pressed) { window.pressed = true; b.click(); return null; }
  if (!s.textContent) return null;
  window.pressed = false;
  return [s.textContent, String(document.getElementById("identity").hidden && b.disabled), document.activeElement.id];
}`, chromedp.WithPollingArgs(step.button, step.status), chromedp.WithPollingTimeout(20*time.Second)))
			if err != nil {
				t.Fatalf("%s %s: %v", c.lang, step.button, err)
			}
			if !strings.Contains(got[0], c.want) || strings.Contains(got[0], "not_found") || got[1] != "true" || got[2] != "enroll" {
				t.Errorf("%s, %s on a forgotten wallet: says %q, identity hidden and button off %s, focus on #%s; want %q, true, #enroll", c.lang, step.button, got[0], got[1], got[2], c.want)
			}
		}
		testbrowser.CheckA11y(t, ctx, "wallet "+c.lang+" after the node forgot it")
	}
}

// TestBrowserTokenExpiredExplained: the token the counter or the
// operator pastes has its own lifetime (a security limit the page cannot
// extend; docs/ui.md "Time limits"): a token that outlived it is
// refused, and the page says so in words, with what to do, in both
// languages, not as the bare code "invalid_token" (the operator view
// did); what was entered stays in its field, so a new token is all it
// takes. The node's refusals are played by the test.
func TestBrowserTokenExpiredExplained(t *testing.T) {
	base := servePages(t, func(mux *http.ServeMux) {
		expired := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_token","error_description":"token expired"}`))
		}
		mux.HandleFunc("GET /v1/admin/clients", expired)
		mux.HandleFunc("GET /v1/admin/registry", expired)
		mux.HandleFunc("POST /v1/qr/verify", expired)
	})
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	for _, c := range []struct{ lang, want, counter string }{
		{"zh-CN", "读取失败：访问令牌无效或已过期，请重新取得。", "访问令牌无效或已过期，请重新取得。"},
		{"en", "Could not load: The access token is invalid or expired: get a new one.", "The access token is invalid or expired: get a new one."},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/operator?lang="+c.lang),
			chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "`+c.lang+`"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatal(err)
		}
		waitPageReady(t, ctx)
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("admin-token"), "eyJ.expired.token"), chromedp.Click(chromedp.ID("load-registry"))); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.PollFunction[[]string](`() => {
  const s = document.getElementById("registry-status").textContent;
  return s && s.indexOf("…") < 0 ? [s, document.getElementById("admin-token").value] : null;
}`, chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("%s: %v", c.lang, err)
		}
		if got[0] != c.want || got[1] != "eyJ.expired.token" {
			t.Errorf("%s, an expired admin token: says %q, token field %q; want %q and the token kept", c.lang, got[0], got[1], c.want)
		}
		testbrowser.CheckA11y(t, ctx, "operator "+c.lang+" with an expired token")

		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/counter?lang="+c.lang),
			chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "`+c.lang+`"`, chromedp.WithPollingTimeout(10*time.Second)),
			chromedp.SendKeys(chromedp.ID("token"), "eyJ.expired.token"), chromedp.SendKeys(chromedp.ID("code"), "TIDON1:ABC"),
			chromedp.Click(chromedp.ID("verify"))); err != nil {
			t.Fatal(err)
		}
		got, err = chromedp.Run(ctx, chromedp.PollFunction[[]string](`() => {
  const r = document.getElementById("reason");
  return r ? [r.textContent, document.getElementById("code").value, document.getElementById("token").value] : null;
}`, chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("counter %s: %v", c.lang, err)
		}
		if got[0] != c.counter || got[1] != "TIDON1:ABC" || got[2] != "eyJ.expired.token" {
			t.Errorf("counter %s, an expired token: says %q, code %q, token %q; want %q and both kept", c.lang, got[0], got[1], got[2], c.counter)
		}
		testbrowser.CheckA11y(t, ctx, "counter "+c.lang+" with an expired token")
	}
}

// TestBrowserWalletTimeLimit: the node keeps a demo wallet an hour
// (docs/ui.md), a time limit on the person (WCAG 2.2.1 Timing
// Adjustable). A minute before it ends (here the played node gives 30 s
// at once) the page says so in its alert region and gives focus to one
// "Keep it" button, which the space bar presses: the node keeps the
// wallet another hour and the page says so; a wallet left to its end
// (2 s here) is forgotten with a plain message, focus on the enroll
// button, and enrolled again keeps the person's choices. In both
// languages. Before, the page said nothing until a later request was
// refused. The node's answers are played by the test.
func TestBrowserWalletTimeLimit(t *testing.T) {
	var life, extended atomic.Int64
	base := servePages(t, func(mux *http.ServeMux) {
		mux.HandleFunc("GET /ui/config.json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"region":"310000","issuer":"https://id.example","demo":true}`))
		})
		mux.HandleFunc("POST /ui/demo/wallets", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"wallet":"w1","name":"张*","document":"3101**********0011","assurance_level":"L3","region":"310000","consent":["age_over_18","region"],"disclosable":["age_over_18"],"expires_at":"2026-01-01T01:00:00Z","expires_in":` + strconv.FormatInt(life.Load(), 10) + `}`))
		})
		mux.HandleFunc("POST /ui/demo/wallets/w1/extend", func(w http.ResponseWriter, r *http.Request) {
			extended.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"expires_in":3600}`))
		})
	})
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	// state is what the page shows of the wallet's time: the alert
	// region's text and role, the keep button shown, the focused element,
	// the identity shown, the first consent ticked.
	const state = `[document.getElementById("wallet-time").textContent, document.getElementById("wallet-time").getAttribute("role"),
  String(!document.getElementById("keep").hidden), document.activeElement.id, String(!document.getElementById("identity").hidden),
  String(!!document.getElementById("consent-0") && document.getElementById("consent-0").checked)]`
	waitFor := func(what, cond string) []string {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.PollFunction[[]string](`() => { const s = `+state+`; return (`+cond+`) ? s : null; }`,
			chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			st, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](state))
			t.Fatalf("%s: %v (the page shows %q)", what, err, st)
		}
		return got
	}
	enroll := func(seconds int64) {
		t.Helper()
		life.Store(seconds)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("enroll"))); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ lang, warn, kept, ended string }{
		{"zh-CN", "节点将在", "已保留：节点将再保存这个测试身份约 60 分钟。", "这个测试身份已到期"},
		{"en", "The node deletes this test identity in", "Kept: the node keeps this test identity about 60 more minutes.", "This test identity has ended"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/wallet?lang="+c.lang),
			chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "`+c.lang+`"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatal(err)
		}
		waitPageReady(t, ctx)
		enroll(30)
		got := waitFor(c.lang+": the warning", `s[2] === "true"`)
		if !strings.HasPrefix(got[0], c.warn) || got[1] != "alert" || got[3] != "keep" {
			t.Errorf("%s, 30 s before the end: says %q (role %s), focus on #%s; want %q…, alert, #keep", c.lang, got[0], got[1], got[3], c.warn)
		}
		var left int
		if _, err := fmt.Sscanf(strings.TrimPrefix(strings.TrimPrefix(got[0], c.warn), " "), "%d", &left); err != nil || left < 20 || left > 30 {
			t.Errorf("%s: the warning %q gives %d s (%v), want 20 to 30", c.lang, got[0], left, err)
		}
		testbrowser.CheckA11y(t, ctx, "wallet "+c.lang+" warning")
		before := extended.Load()
		if err := chromedp.Do(ctx, chromedp.KeyEvent(" ")); err != nil {
			t.Fatal(err)
		}
		got = waitFor(c.lang+": kept", `s[2] === "false" && s[0] !== "" && s[0].indexOf("`+c.warn+`") !== 0`)
		if got[0] != c.kept || got[3] == "keep" || got[4] != "true" || extended.Load() != before+1 {
			t.Errorf("%s, after the space bar: says %q, focus on #%s, identity shown %s, extensions %d; want %q, the identity kept, one extension",
				c.lang, got[0], got[3], got[4], extended.Load()-before, c.kept)
		}
		// The person's choice, then a wallet left to its end.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("consent-0"))); err != nil {
			t.Fatal(err)
		}
		enroll(2)
		got = waitFor(c.lang+": the end", `s[4] === "false"`)
		if !strings.HasPrefix(got[0], c.ended) || got[2] != "false" || got[3] != "enroll" {
			t.Errorf("%s, at the end: says %q, keep shown %s, focus on #%s; want %q…, focus on #enroll", c.lang, got[0], got[2], got[3], c.ended)
		}
		testbrowser.CheckA11y(t, ctx, "wallet "+c.lang+" ended")
		enroll(3600)
		got = waitFor(c.lang+": enrolled again", `s[4] === "true"`)
		if got[0] != "" || got[2] != "false" || got[5] != "false" {
			t.Errorf("%s, enrolled again: says %q, keep shown %s, first consent ticked %s; want nothing, hidden, the choice kept (false)", c.lang, got[0], got[2], got[5])
		}
	}
}

// TestBrowserOperatorListsInPageLanguage: the operator view words each
// status list's purpose in the page's language (docs/ui.md: every string
// is in i18n.json in both languages), not in English on the Chinese page
// (WCAG 2.2 SC 3.1.2 Language of Parts): a token status list with its
// bits an entry, a W3C list's statusPurpose. The node's lists are played
// by the test.
func TestBrowserOperatorListsInPageLanguage(t *testing.T) {
	compress := func(w io.WriteCloser, buf *bytes.Buffer) string {
		w.Write(make([]byte, 16))
		w.Close()
		return base64.RawURLEncoding.EncodeToString(buf.Bytes())
	}
	var zbuf, gbuf bytes.Buffer
	lst := compress(zlib.NewWriter(&zbuf), &zbuf)
	encoded := "u" + compress(gzip.NewWriter(&gbuf), &gbuf)
	base := servePages(t, func(mux *http.ServeMux) {
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"lists":["t1","w1"]}`))
		})
		mux.HandleFunc("GET /status/t1", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/statuslist+jwt")
			payload := base64.RawURLEncoding.EncodeToString([]byte(`{"status_list":{"bits":2,"lst":"` + lst + `"}}`))
			w.Write([]byte("eyJhbGciOiJTTTIifQ." + payload + ".c2ln"))
		})
		mux.HandleFunc("GET /status/w1", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/vc+ld+json")
			w.Write([]byte(`{"credentialSubject":{"statusPurpose":"revocation","encodedList":"` + encoded + `"}}`))
		})
	})
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 60*time.Second)
	defer cancel()
	for _, c := range []struct {
		lang string
		want []string
	}{
		{"zh-CN", []string{"令牌状态列表（每条 2 位）", "注销"}},
		{"en", []string{"token status list (2 bits)", "revocation"}},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/operator?lang="+c.lang)); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.PollFunction[[]string](`(lang) => {
  const rows = document.querySelectorAll("#op-statuslists tr");
  if (document.documentElement.lang !== lang || rows.length !== 2) return null;
  return [...rows].map(r => r.children[1].textContent);
}`, chromedp.WithPollingArgs(c.lang), chromedp.WithPollingTimeout(15*time.Second)))
		if err != nil {
			t.Fatalf("%s: %v", c.lang, err)
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: the lists' purposes read %q, want %q", c.lang, got, c.want)
		}
	}
}

// TestBrowserButtonsWaitForConfig: the wallet and the operator view
// attach their buttons' listeners once the node's config has come, so
// until then those buttons are disabled, not buttons whose press does
// nothing (a slow network, a loaded machine); they are enabled, and act,
// once it has come.
func TestBrowserButtonsWaitForConfig(t *testing.T) {
	var release chan struct{}
	pressed := make(chan string, 1)
	base := servePages(t, func(mux *http.ServeMux) {
		mux.HandleFunc("GET /ui/config.json", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"region":"310000","issuer":"https://id.example","demo":true}`))
		})
		mux.HandleFunc("POST /ui/demo/wallets", func(w http.ResponseWriter, r *http.Request) {
			pressed <- "enroll"
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"wallet":"w1","name":"张*","document":"3101**********0011","assurance_level":"L3","region":"310000","consent":["age_over_18"],"disclosable":["age_over_18"],"expires_at":"2026-01-01T01:00:00Z"}`))
		})
	})
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	for _, c := range []struct{ page, button, press string }{
		{"/ui/wallet", "enroll", "enroll"},
		{"/ui/operator", "refresh", ""},
		{"/ui/operator", "load-registry", ""}, // pressed below
	} {
		release = make(chan struct{})
		if err := chromedp.Do(ctx, chromedp.Navigate(base+c.page+"?lang=en"),
			chromedp.Poll[chromedp.Void](`window.TID && document.documentElement.lang === "en"`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatal(err)
		}
		disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById(`+strconv.Quote(c.button)+`).disabled`))
		if err != nil {
			t.Fatal(err)
		}
		if !disabled {
			t.Errorf("%s: #%s is enabled before the page has its config (a press does nothing)", c.page, c.button)
		}
		close(release)
		if err := chromedp.Do(ctx,
			chromedp.Poll[chromedp.Void](`document.getElementById(`+strconv.Quote(c.button)+`).disabled === false`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("%s: #%s: %v", c.page, c.button, err)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(c.button))); err != nil {
			t.Fatal(err)
		}
		if c.button == "load-registry" { // with no token: the field says so
			if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`!!document.getElementById("admin-token-error")`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
				t.Errorf("%s: the enabled #%s did nothing: %v", c.page, c.button, err)
			}
		}
		if c.press == "" {
			continue
		}
		select {
		case got := <-pressed:
			if got != c.press {
				t.Errorf("%s: #%s did %s", c.page, c.button, got)
			}
		case <-ctx.Done():
			t.Fatalf("%s: the enabled #%s did nothing", c.page, c.button)
		}
	}
}
