package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/trustid-cn/trustid/internal/testbrowser"
)

// chromiumAccept is the Accept header of a Chromium navigation.
const chromiumAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"

// TestAuthorizeErrorPages: an authorization request whose error must not
// be redirected (RFC 6749 §4.1.2.1: unknown client, a redirect URI
// missing or not registered) is answered, with the same status, by an
// HTML page in the login pages' language showing the stable error code
// (never the error's description) when the request is a browser's
// navigation, by JSON otherwise; so is the page routes' rate limit, 429
// with Retry-After.
func TestAuthorizeErrorPages(t *testing.T) {
	f := newEnrollFixture(t, "--login-rate-addr", "30/1m")
	shop := f.addLoginRP("shop-web", "shopweb.example")
	challenge := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())
	evil, none, unknown := shop.conf, shop.conf, shop.conf
	evil.RedirectURL = "https://evil.example/cb"
	none.RedirectURL = ""
	unknown.ClientID = "nobody"
	get := func(u, accept, lang string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		resp, err := newBrowser().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	vci := f.base + "/oid4vci/authorize?" + url.Values{"client_id": {"nobody"}, "redirect_uri": {"https://evil.example/cb"}, "response_type": {"code"}}.Encode()
	cases := []struct {
		name, url    string
		status       int
		code, secret string // secret: the description, which no page shows
	}{
		{"unregistered redirect URI", evil.AuthCodeURL("st1", challenge), 400, "invalid_request", "redirect_uri"},
		{"no redirect URI", none.AuthCodeURL("st2", challenge), 400, "invalid_request", "redirect_uri"},
		{"unknown client", unknown.AuthCodeURL("st3", challenge), 400, "invalid_client", "unknown client_id"},
		{"OID4VCI, unknown client", vci, 400, "invalid_client", "unknown client_id"},
		// RFC 6749 §4.1.2.1: "or is otherwise malformed" (a pair that
		// does not decode was dropped, and the request read without it).
		{"OID4VCI, malformed query", vci + "&state=%zz", 400, "invalid_request", "x-www-form-urlencoded"},
	}
	for _, c := range cases {
		status, page, hdr := get(c.url, chromiumAccept, "")
		if status != c.status || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || hdr.Get("Location") != "" ||
			!strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, "<code>"+c.code+"</code>") || strings.Contains(page, c.secret) {
			t.Errorf("%s, a browser: %d %v\n%s", c.name, status, hdr, page)
		}
		if !strings.Contains(strings.Join(hdr.Values("Vary"), ","), "Accept") || hdr.Get("Cache-Control") != "no-store" || hdr.Get("Content-Security-Policy") == "" {
			t.Errorf("%s, a browser: headers %v", c.name, hdr)
		}
		if hdr.Get("WWW-Authenticate") != "" {
			// The routes take no HTTP authentication scheme: no 401,
			// no challenge (RFC 9110 §15.5.2).
			t.Errorf("%s, a browser: WWW-Authenticate %q", c.name, hdr.Get("WWW-Authenticate"))
		}
		for _, accept := range []string{"", "*/*", "application/json"} {
			status, body, hdr := get(c.url, accept, "")
			var e struct{ Error string }
			if status != c.status || hdr.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Error != c.code || hdr.Get("Location") != "" {
				t.Errorf("%s, Accept %q: %d %v %s", c.name, accept, status, hdr, body)
			}
		}
	}
	// In Chinese, with the catalogue's message.
	status, page, _ := get(cases[2].url, chromiumAccept, "zh-CN,zh;q=0.9")
	if status != 400 || !strings.Contains(page, `<html lang="zh-CN">`) || !strings.Contains(page, "未在 TrustID 登记") || !strings.Contains(page, "错误代码：<code>invalid_client</code>") {
		t.Errorf("the Chinese page: %d\n%s", status, page)
	}

	// 30 requests a minute per address, 17 used: a browser over the
	// limit gets a page, another client JSON, both with Retry-After.
	var limited bool
	for range 30 {
		status, page, hdr := get(cases[0].url, chromiumAccept, "")
		if status == 400 {
			continue
		}
		limited = true
		if status != 429 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || hdr.Get("Retry-After") == "" || !strings.Contains(page, "<code>rate_limited</code>") || !strings.Contains(page, "Too many attempts") {
			t.Fatalf("a browser over the limit: %d %v\n%s", status, hdr, page)
		}
		break
	}
	if !limited {
		t.Fatal("the limit was never reached")
	}
	status, body, hdr := get(cases[0].url, "application/json", "")
	if status != 429 || hdr.Get("Content-Type") != "application/json" || hdr.Get("Retry-After") == "" || !strings.Contains(body, `"rate_limited"`) {
		t.Errorf("a client over the limit: %d %v %s", status, hdr, body)
	}
	// The page without JavaScript's way on is a page route too.
	status, page, hdr = get(f.base+"/login/sessions/"+strings.Repeat("A", 43)+"/continue", chromiumAccept, "")
	if status != 429 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || hdr.Get("Retry-After") == "" || !strings.Contains(page, "<code>rate_limited</code>") {
		t.Errorf("continue over the limit: %d %v\n%s", status, hdr, page)
	}
}

// TestBrowserAuthorizeErrorPage: Chromium sent to the authorization
// endpoint with a redirect URI the client did not register stays on the
// node, on an accessible page showing the error code.
func TestBrowserAuthorizeErrorPage(t *testing.T) {
	browser := testbrowser.New(t)
	f := newEnrollFixture(t)
	shop := f.addLoginRP("shop-web", "shopweb.example")
	evil := shop.conf
	evil.RedirectURL = "https://evil.example/cb"
	u := evil.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.ID("ended"))); err != nil {
		t.Fatal(err)
	}
	code, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("code")))
	if err != nil || !strings.Contains(code, "invalid_request") {
		t.Errorf("the page's code: %q (%v)", code, err)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || loc != u {
		t.Errorf("the browser left the node: %q (%v)", loc, err)
	}
	testbrowser.CheckA11y(t, ctx, "authorization error page")
}
