package api

import (
	"context"
	"image"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trustid-cn/trustid/internal/testbrowser"
	"github.com/trustid-cn/trustid/login"
)

// TestBrowserLoginEndPagesAccessible: the pages that end or hold up a
// login (ended for each kind of refusal, unavailable, the waiting page
// with each of its notices, logged out), in both languages, pass the
// pages' accessibility checks (testbrowser.CheckA11y, axe-core's WCAG
// 2.1 AA rules) and reflow at 320 CSS px without scrolling sideways
// (WCAG 1.4.10: a 400% zoom), the longest error code too.
func TestBrowserLoginEndPagesAccessible(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	l := &loginHandlers{s: s}
	pages := map[string]func(http.ResponseWriter, *http.Request) error{
		"ended": func(w http.ResponseWriter, r *http.Request) error {
			return l.endedPage(w, r, &login.Error{Code: login.CodeSessionNotFound})
		},
		"refused": func(w http.ResponseWriter, r *http.Request) error {
			return l.endedPage(w, r, &login.Error{Code: login.CodeAccessDenied})
		},
		"long code": func(w http.ResponseWriter, r *http.Request) error {
			return l.endedPage(w, r, &login.Error{Code: "unsupported_response_type"})
		},
		"unavailable": func(w http.ResponseWriter, r *http.Request) error {
			return l.endedPage(w, r, &login.Error{Code: login.CodeTemporarilyUnavailable})
		},
		"waiting": func(w http.ResponseWriter, r *http.Request) error {
			return writeWaitingPage(w, r, pageText(w, r), http.StatusOK, "", false)
		},
		"no more time": func(w http.ResponseWriter, r *http.Request) error {
			t := pageText(w, r)
			return writeWaitingPage(w, r, t, http.StatusConflict, t.NoMoreTime, false)
		},
		"logged out": func(w http.ResponseWriter, r *http.Request) error {
			t, nonce := pageText(w, r), pageNonce()
			return writePage(w, endedCSP(nonce), loggedOutPage, loggedOutPageData{T: t, Nonce: nonce, Message: t.LoggedOutNoReturn})
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/sessions/{id}/qr.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		png.Encode(w, image.NewGray(image.Rect(0, 0, loginQRSize, loginQRSize)))
	})
	mux.HandleFunc("GET /login/sessions/{id}/{page}", func(w http.ResponseWriter, r *http.Request) {
		if err := pages[r.PathValue("page")](w, r); err != nil {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	browser := testbrowser.New(t)
	ctx, cancel := context.WithTimeout(browser, 180*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(320, 640)); err != nil {
		t.Fatal(err)
	}
	for name := range pages {
		for _, lang := range []string{"zh-CN", "en"} {
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/login/sessions/s1/"+name+"?ui_locales="+lang)); err != nil {
				t.Fatal(err)
			}
			page := name + " " + lang
			testbrowser.CheckA11y(t, ctx, page)
			over, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
  const w = document.documentElement.clientWidth, out = [];
  if (document.documentElement.scrollWidth <= w) return out;
  out.push("document " + document.documentElement.scrollWidth + " px wide");
  document.querySelectorAll("body *").forEach(e => { if (e.getBoundingClientRect().right > w + 0.5) out.push(e.tagName.toLowerCase() + " " + JSON.stringify(e.textContent.trim().slice(0, 40))); });
  return out;
})()`))
			if err != nil {
				t.Fatal(err)
			}
			if len(over) > 0 {
				t.Errorf("%s at 320 px scrolls sideways: %v", page, over)
			}
		}
	}
}
