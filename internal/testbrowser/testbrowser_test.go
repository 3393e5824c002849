package testbrowser

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestFind looks for each name Chromium has, in order, and for
// $TRUSTID_CHROMIUM first; with none on PATH it says so.
func TestFind(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	t.Setenv("TRUSTID_CHROMIUM", "")
	if p, err := Find(); err == nil {
		t.Fatalf("found %s on an empty PATH", p)
	}
	exe := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	browser := exe("chromium-browser")
	if p, err := Find(); err != nil || p != browser {
		t.Errorf("Find() = %q, %v; want %s", p, err, browser)
	}
	chromium := exe("chromium")
	if p, err := Find(); err != nil || p != chromium {
		t.Errorf("Find() = %q, %v; want %s (chromium comes first)", p, err, chromium)
	}
	other := exe("my-chrome")
	t.Setenv("TRUSTID_CHROMIUM", other)
	if p, err := Find(); err != nil || p != other {
		t.Errorf("with TRUSTID_CHROMIUM: Find() = %q, %v", p, err)
	}
	t.Setenv("TRUSTID_CHROMIUM", filepath.Join(dir, "missing"))
	if p, err := Find(); err == nil {
		t.Errorf("a missing TRUSTID_CHROMIUM found %s", p)
	}
}

// TestAxe: the pinned axe-core runs in the browser and finds what WCAG
// 2.1 AA forbids (a field without a label, grey text of 2.3:1, an image
// without a text alternative, no lang), and nothing on a page that has
// none of them.
func TestAxe(t *testing.T) {
	ctx := New(t)
	bad := `<!doctype html><title>bad</title><main><h1>x</h1><input type=text><p style="color:#999;background:#fff">grey</p><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main>`
	good := `<!doctype html><html lang="en"><title>good</title><main><h1>x</h1><label for=f>Name</label><input id=f type=text><p>text</p></main></html>`
	for _, c := range []struct {
		page string
		want []string
	}{
		{bad, []string{"html-has-lang", "label", "color-contrast", "image-alt"}},
		{good, nil},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate("data:text/html;charset=utf-8,"+url.PathEscape(c.page))); err != nil {
			t.Fatal(err)
		}
		got, err := AxeViolations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(got, "\n")
		for _, w := range c.want {
			if !strings.Contains(all, "axe "+w+" ") {
				t.Errorf("%s: no %s in %q", c.page, w, all)
			}
		}
		if c.want == nil && len(got) > 0 {
			t.Errorf("good page: %q", got)
		}
	}
}
