package api

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/qrcode"
)

// The ended page shows, for every kind of error, only text of the page's
// language: a catalogue message or the generic one, and the stable
// error code, never the error's own description.
func TestEndedPageInPageLanguage(t *testing.T) {
	l := &loginHandlers{s: New(Config{Logger: slog.New(slog.DiscardHandler)})}
	const secret = "ledger peer 10.0.0.3 reset"
	errs := []error{
		&login.Error{Code: login.CodeSessionNotFound, Description: "no login session for this browser " + secret},
		&login.Error{Code: login.CodeAccessDenied, Description: "the holder refused " + secret},
		&login.AuthorizeError{Err: &login.Error{Code: login.CodeInvalidClient, Description: "unknown client_id " + secret}},
		&login.Error{Code: login.CodeApprovalRefused, Description: "the approval was refused " + secret},
		&login.Error{Code: login.CodeInvalidRequest, Description: "bad request " + secret},
		&login.Error{Code: login.CodeLoginRequired, Description: "login required " + secret},
		&login.Error{Code: login.CodeInvalidGrant, Description: "the code was already redeemed " + secret},
		&login.Error{Code: login.CodeTemporarilyUnavailable, Description: "the session store is unavailable " + secret},
		&login.Error{Code: login.CodeServerError, Description: "internal " + secret},
		&Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Message: "too many requests " + secret},
		fmt.Errorf("binding: %w", qrcode.ErrRevoked),
		errors.New(secret),
	}
	word := regexp.MustCompile(`[A-Za-z]{2,}`)
	style, tag := regexp.MustCompile(`(?s)<style.*?</style>`), regexp.MustCompile(`<[^>]*>`)
	for _, err := range errs {
		code := loginError(err).Code
		for _, lang := range []string{"zh-CN", "en"} {
			req := httptest.NewRequest("GET", "/login/sessions/x/continue", nil)
			req.Header.Set("Accept-Language", map[string]string{"zh-CN": "zh-CN,zh;q=0.9,en;q=0.8", "en": "en-GB"}[lang])
			rec := httptest.NewRecorder()
			if e := l.endedPage(rec, req, err); e != nil {
				t.Fatal(e)
			}
			page := rec.Body.String()
			if !strings.Contains(page, `<html lang="`+lang+`">`) || strings.Contains(page, secret) {
				t.Errorf("%s, %s: a page in another language or with internal detail:\n%s", code, lang, page)
			}
			if code != login.CodeSessionNotFound && !strings.Contains(page, "<code>"+code+"</code>") {
				t.Errorf("%s, %s: the page does not show the error code:\n%s", code, lang, page)
			}
			if lang != "zh-CN" {
				continue
			}
			text := tag.ReplaceAllString(style.ReplaceAllString(page, " "), " ")
			text = strings.NewReplacer("TrustID", "", code, "", "<!doctype html>", "").Replace(text)
			if w := word.FindAllString(text, -1); w != nil {
				t.Errorf("%s: English on the Chinese page: %q\n%s", code, w, page)
			}
		}
	}
}

// Both languages explain the same error codes, word the same purposes
// and label every claim a login can ask for.
func TestLoginTextsComplete(t *testing.T) {
	for _, l := range login.UILocales {
		if tx := loginTexts[l]; tx == nil || tx.Lang != l || loginTexts[tx.Other] == nil || loginTexts[tx.Other].Other != l {
			t.Errorf("%s: no text, or no other language to switch to", l)
		}
	}
	if len(loginTexts) != len(login.UILocales) {
		t.Errorf("texts for %d languages, %d advertised", len(loginTexts), len(login.UILocales))
	}
	// Every language fills every text (the "More time" ones came later).
	for l, tx := range loginTexts {
		v := reflect.ValueOf(tx).Elem()
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.String && f.String() == "" {
				t.Errorf("%s: no %s", l, v.Type().Field(i).Name)
			}
		}
	}
	en, zh := loginTexts["en"], loginTexts["zh-CN"]
	if !slices.Equal(slices.Sorted(maps.Keys(en.Errors)), slices.Sorted(maps.Keys(zh.Errors))) {
		t.Errorf("error catalogues differ: %v, %v", slices.Sorted(maps.Keys(en.Errors)), slices.Sorted(maps.Keys(zh.Errors)))
	}
	if !slices.Equal(slices.Sorted(maps.Keys(en.Purposes)), slices.Sorted(maps.Keys(zh.Purposes))) || zh.Purposes[login.PurposeReceive] == "" {
		t.Errorf("purposes differ: %v, %v", en.Purposes, zh.Purposes)
	}
	for _, c := range auth.Claims {
		if en.Claims[c] == "" || zh.Claims[c] == "" {
			t.Errorf("claim %s has no label in both languages", c)
		}
	}
}

// langCached returns the cached answer for accept, and how many values
// the cache holds and their bytes.
func langCached(accept string) (t *loginText, n, size int) {
	for i := range langSlots {
		if e := langSlots[i].Load(); e != nil {
			n, size = n+1, size+len(e.accept)
			if e.accept == accept {
				t = e.t
			}
		}
	}
	return t, n, size
}

// The cache of Accept-Language answers gives the matcher's answer, for a
// value seen before too; junk values cannot grow it past its bound, and
// do not keep a browser's value first seen after them out of it (a cache
// that stopped at its bound did: every page of that browser then paid
// for the match).
func TestMatchTextCache(t *testing.T) {
	const browser = "zh-CN,zh;q=0.9,en;q=0.8,x-after-junk"
	for i := range 4 * langCacheMax {
		zh := i%2 == 0
		accept := fmt.Sprintf("en;q=0.%d", i%9+1)
		if zh {
			accept = fmt.Sprintf("zh-CN,en;q=0.%d,x-%d", i%9+1, i)
		} else {
			accept += fmt.Sprintf(",x-%d", i)
		}
		for range 2 {
			if got := matchText(accept).Lang; (got == "zh-CN") != zh {
				t.Fatalf("%q: %s", accept, got)
			}
		}
	}
	if _, n, size := langCached(""); n > langCacheMax || size > langCacheMax*langKeyMax {
		t.Errorf("%d cached values of %d bytes, cap %d values", n, size, langCacheMax)
	}
	if got := matchText(browser); got.Lang != "zh-CN" {
		t.Fatalf("the browser's value after junk: %s", got.Lang)
	}
	if got, _, _ := langCached(browser); got == nil || got.Lang != "zh-CN" {
		t.Error("a browser's value first seen after junk is not cached")
	}
	long := "zh-CN," + strings.Repeat("en;q=0.1,", langKeyMax)
	if matchText(long).Lang != "zh-CN" {
		t.Error("a long value matched wrongly")
	}
	if got, _, _ := langCached(long); got != nil {
		t.Error("a value longer than langKeyMax was cached")
	}
}

// A login's purpose is worded by the page's language; an action a
// language does not word shows nothing rather than another language.
func TestLoginPurposeWords(t *testing.T) {
	p := &login.Purpose{Action: login.PurposeReceive, Objects: []string{"ResidenceCredential", "DriverLicence"}, From: "wallet-app"}
	for lang, want := range map[string]string{
		"en":    "receive ResidenceCredential, DriverLicence from wallet-app",
		"zh-CN": "从 wallet-app 领取 ResidenceCredential、DriverLicence",
	} {
		tx := loginTexts[lang]
		if got := tx.purpose(p); got != want {
			t.Errorf("%s: %q, want %q", lang, got, want)
		}
		if got := tx.purpose(&login.Purpose{Action: "sell", From: "x"}); got != "" {
			t.Errorf("%s: an unknown action worded %q", lang, got)
		}
		if tx.purpose(nil) != "" {
			t.Errorf("%s: no purpose worded", lang)
		}
	}
	if p.String() != "receive ResidenceCredential, DriverLicence from wallet-app" {
		t.Errorf("the app's purpose %q", p.String())
	}
}

// The pages' language is the first of ui_locales (in order of
// preference) the pages have, or come close to, over Accept-Language;
// else Accept-Language decides. Only the first maxUILocales tags count.
func TestPageTextUILocales(t *testing.T) {
	for _, c := range []struct{ uiLocales, accept, want string }{
		{"zh-CN", "en-US,en;q=0.9", "zh-CN"},
		{"en", "zh-CN,zh;q=0.9", "en"},
		{"fr-CA zh-TW en", "en", "zh-CN"},
		{"ja en-GB zh", "zh", "en"},
		{"zh-Hans-CN", "en", "zh-CN"},
		{"fr de", "zh-CN", "zh-CN"},
		{"fr de", "en", "en"},
		{"!!! zh", "en", "zh-CN"},
		{"", "zh-CN", "zh-CN"},
		{strings.Repeat("fr ", maxUILocales) + "zh", "en", "en"},
		{strings.Repeat("fr ", maxUILocales-1) + "zh", "en", "zh-CN"},
	} {
		r := httptest.NewRequest("GET", "/oauth2/authorize?"+url.Values{"ui_locales": {c.uiLocales}}.Encode(), nil)
		r.Header.Set("Accept-Language", c.accept)
		w := httptest.NewRecorder()
		if got := pageText(w, r); got.Lang != c.want || w.Header().Get("Content-Language") != c.want {
			t.Errorf("ui_locales %q, Accept-Language %q: %s, want %s", c.uiLocales, c.accept, got.Lang, c.want)
		}
	}
}

// A refused logout's page words a logout, not a login; its rate limit
// keeps the limit's words.
func TestLogoutRefusedPage(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	for _, c := range []struct {
		err   error
		title string
	}{
		{&login.Error{Code: login.CodeInvalidRequest, Description: "id_token_hint is required"}, "The logout was not accepted"},
		{&Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Message: "too many requests"}, "This login cannot go on"},
		{&login.Error{Code: login.CodeTemporarilyUnavailable, Description: "store"}, "Login unavailable"},
	} {
		r := httptest.NewRequest("GET", login.LogoutPath, nil)
		r.Header.Set("Accept", "text/html")
		w := httptest.NewRecorder()
		refusePage(w, r, s, c.err)
		if code := loginError(c.err).Code; w.Code != loginError(c.err).Status || !strings.Contains(w.Body.String(), `<h1 id="ended">`+c.title+`</h1>`) ||
			!strings.Contains(w.Body.String(), "<code>"+code+"</code>") {
			t.Errorf("%s: %d\n%s", code, w.Code, w.Body)
		}
	}
}
