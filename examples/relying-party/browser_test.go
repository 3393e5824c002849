package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testbrowser"
)

// TestBrowserSampleRelyingParty drives a real headless Chromium through
// scan-to-login with the sample: the browser, whose user prefers Chinese
// (Accept-Language), opens the sample's /login and lands on the node's
// login page, in Chinese (its script draws the QR and long-polls); the
// holder's app approves the session the page shows, and the page takes
// the browser back to the sample, whose home page then shows the pairwise
// sub and acr. Both pages pass the accessibility check
// (testbrowser.A11yCheck); their screenshots go to the test's artifact
// directory (go test -artifacts keeps them).
func TestBrowserSampleRelyingParty(t *testing.T) {
	n := startNode(t) // skipped with -short
	ctx := testbrowser.New(t)
	var app atomic.Pointer[App]
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { app.Load().ServeHTTP(w, r) }))
	defer rp.Close()
	key := n.client("sample-rp", "--name", "Sample RP", "--scopes", "qr:redeem",
		"--grant-types", "client_credentials,authorization_code", "--redirect-uri", rp.URL+"/callback",
		"--sector", "sample-rp.example", "--claims", "age_over_18")
	a, err := New(Config{Node: n.base, ClientID: "sample-rp", Key: key, RedirectURL: rp.URL + "/callback", Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		t.Fatal(err)
	}
	app.Store(a)
	n.token("sample-rp", key)
	backend := n.client("app-backend", "--name", "App back end", "--scopes", "identity:enroll")
	holder := n.enroll(n.token("app-backend", backend), residentNumber("11010519900307123"), "张三")

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}}); err != nil {
		t.Fatal(err)
	}
	// The sample's home, its login link, the node's login page with the
	// QR drawn by its script.
	if err := chromedp.Do(ctx, chromedp.Navigate(rp.URL+"/"), chromedp.Click(`a[href="/login"]`), chromedp.WaitVisible(chromedp.ID("qr"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.getElementById("qr").complete && document.getElementById("qr").naturalWidth > 0`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the login page's QR: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasPrefix(loc, n.base+"/oauth2/authorize?") {
		t.Fatalf("the login link led to %s", loc)
	}
	lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	if h1, _ := chromedp.Run(ctx, chromedp.Text(`h1`)); lang != "zh-CN" || h1 != "登录 Sample RP" {
		t.Errorf("the login page: lang %q, heading %q; want it in Chinese", lang, h1)
	}
	testbrowser.CheckA11y(t, ctx, "the login page in Chinese")
	shot("sample-login-page.png")

	// The app reads the session the page shows (its app link carries the
	// same session URL as the QR) and approves.
	sessionURL, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("qr").getAttribute("data-uri")`))
	if err != nil || !strings.HasPrefix(sessionURL, n.base+"/login/sessions/") {
		t.Fatalf("the page's session: %q %v", sessionURL, err)
	}
	lr, err := holder.DescribeLogin(sessionURL)
	if err != nil || lr.ClientName != "Sample RP" {
		t.Fatalf("the app reads the session: %+v %v", lr, err)
	}
	if err := holder.ApproveLogin(sessionURL, lr.Challenge, "", ""); err != nil {
		t.Fatalf("the app approves: %v", err)
	}

	// The page's long poll brings the browser back to the sample, logged
	// in.
	sub, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("sub")))
	if err != nil {
		t.Fatalf("the browser did not land on the sample logged in: %v", err)
	}
	if !isPairwiseID(sub) {
		t.Errorf("the landed page shows sub %q", sub)
	}
	if acr, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("acr"))); acr != "L2" {
		t.Errorf("acr %q", acr)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != rp.URL+"/" {
		t.Errorf("landed at %s", loc)
	}
	testbrowser.CheckA11y(t, ctx, "the sample's page, logged in")
	shot("sample-logged-in.png")
}
