package api

import (
	"net/http/httptest"
	"testing"
)

func TestPrefersHTML(t *testing.T) {
	for accept, want := range map[string]bool{
		// Browsers navigating to a page.
		"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8":                                                   true, // Chromium, Firefox
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8":                                                                         true, // Safari
		"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7": true, // Chromium 13x
		"TEXT/HTML":               true,
		"text/*":                  true,
		"text/html;charset=UTF-8": true,
		`text/html;charset="utf-8";, application/json;q=0.9`: true,
		"text/html;;q=0.5, application/json;q=0.4":           true, // an empty parameter
		// API clients.
		"":                               false,
		"*/*":                            false, // curl, Go
		"application/json":               false,
		"application/json, text/html":    false,
		"text/html;q=0.5, application/*": false,
		"text/html;q=0, */*":             false,
		"text/html;q=1.5":                false, // invalid q: ignored
		"text/html;q=0.9999, application/json;q=0.9":  false,
		"text/html;q=0.901, application/json;q=0.9":   true,
		"text/html;q=0.5, */*;q=0.4, text/html;q=0.6": true,
		"text/plain, */*;q=0.1":                       false,
		// A range with parameters rates only what carries them (RFC 9110
		// §12.5.1: text/html;level=1 is not text/html's quality).
		"text/html;level=1, text/html;q=0.3, */*;q=0.5":                    false,
		"text/html;level=1;q=0.5, application/json;q=0.4":                  false,
		"text/html;charset=utf-8;q=0.2, text/html, application/json;q=0.5": false,
		"application/json; charset=utf-8, text/html;q=0.9":                 false,
		// Commas and semicolons in a quoted value separate nothing.
		`text/html;foo="a,b";q=0, application/json;q=0.5`:   false,
		`text/html;foo="a;q=1",text/*;q=0.1, */*;q=0.2`:     false,
		`text/html;foo="a\",b";q=0, application/json;q=0.5`: false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := prefersHTML(r); got != want {
			t.Errorf("%q: prefersHTML = %v, want %v", accept, got, want)
		}
	}
	// Two header lines are one list.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Accept", "application/json;q=0.5")
	r.Header.Add("Accept", "text/html")
	if !prefersHTML(r) {
		t.Error("text/html on a second Accept line not seen")
	}
}

// FuzzAcceptQualities: never a panic, qualities within [0, 1000], and the
// most specific text/html range, with no q, added on a line of its own
// gives text/html the full quality.
func FuzzAcceptQualities(f *testing.F) {
	for _, s := range []string{"", "*/*", "text/html,*/*;q=0.8", "text/html;q=0.5;level=1", "a/b;q=1.000", ";;,,/", "text/html;q=", `text/html;a="x,y\\"`, "text/html;charset=utf-8;q=0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		html, json := acceptQualities([]string{accept})
		if html < 0 || html > 1000 || json < 0 || json > 1000 {
			t.Fatalf("%q: qualities %d, %d", accept, html, json)
		}
		if html, _ := acceptQualities([]string{accept, "text/html;charset=utf-8"}); html != 1000 {
			t.Fatalf("%q + text/html;charset=utf-8: html quality %d", accept, html)
		}
	})
}
