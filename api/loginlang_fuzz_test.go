package api

import (
	"net/http/httptest"
	"slices"
	"testing"

	"golang.org/x/text/language"

	"github.com/trustid-cn/trustid/login"
)

// FuzzPageText: whatever a browser's Accept-Language and a relying
// party's ui_locales say, the login pages get one of their languages,
// named in Content-Language; the cached answer to a header is the
// matcher's own, asked again or not.
func FuzzPageText(f *testing.F) {
	f.Add("zh-CN,zh;q=0.9,en;q=0.8", "")
	f.Add("en-US,en;q=0.5", "zh-TW en")
	f.Add("*;q=0,zh-Hant-x-abc;q=0.001", "x-y-z fr-CA zh")
	f.Add("de-CH-1996;q=.5, und-u-co-phonebk", "i-klingon en-GB-oed")
	f.Fuzz(func(t *testing.T, accept, uiLocales string) {
		r := httptest.NewRequest("GET", "/login", nil)
		r.Header.Set("Accept-Language", accept)
		w := httptest.NewRecorder()
		text := pageTextFor(w, r, uiLocales)
		if text == nil || !slices.Contains(login.UILocales, text.Lang) || w.Header().Get("Content-Language") != text.Lang {
			t.Fatalf("text %v, Content-Language %q", text, w.Header().Get("Content-Language"))
		}
		_, i := language.MatchStrings(loginLanguages, accept)
		for range 2 {
			if got := matchText(accept); got != textAt(i) {
				t.Fatalf("matchText(%q) = %s, the matcher says %s", accept, got.Lang, textAt(i).Lang)
			}
		}
	})
}
