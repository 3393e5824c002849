package webui

import (
	"encoding/json"
	"io/fs"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// strings returns the string table: language → key → text.
func stringTable(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := fs.ReadFile(Files(), "i18n.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]map[string]string
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

var (
	attrKeyRE = regexp.MustCompile(`data-i18n(?:-label|-alt)?="([^"]+)"`)
	jsKeyRE   = regexp.MustCompile(`(?:\bt\(|\bfieldError\("[^"]*", )"([a-zA-Z0-9_.]+)"`)
)

// TestStringsInBothLanguages: Chinese and English have the same keys, no
// empty text, and every key a page or script names is in the table.
func TestStringsInBothLanguages(t *testing.T) {
	d := stringTable(t)
	zh, en := d["zh-CN"], d["en"]
	if len(d) != 2 || zh == nil || en == nil {
		t.Fatalf("languages %v, want zh-CN and en", slices.Collect(func(yield func(string) bool) {
			for k := range d {
				yield(k)
			}
		}))
	}
	for k, v := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("%s: no English text", k)
		}
		if strings.TrimSpace(v) == "" {
			t.Errorf("%s: empty Chinese text", k)
		}
	}
	for k, v := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("%s: no Chinese text", k)
		}
		if strings.TrimSpace(v) == "" {
			t.Errorf("%s: empty English text", k)
		}
	}
	used := 0
	fs.WalkDir(Files(), ".", func(name string, e fs.DirEntry, err error) error {
		if e.IsDir() || name == "jsqr.js" || name == "qrcode-generator.js" {
			return nil
		}
		b, _ := fs.ReadFile(Files(), name)
		var re *regexp.Regexp
		switch {
		case strings.HasSuffix(name, ".html"):
			re = attrKeyRE
		case strings.HasSuffix(name, ".js"):
			re = jsKeyRE
		default:
			return nil
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			used++
			if _, ok := zh[m[1]]; !ok {
				t.Errorf("%s names string %q, which is not in i18n.json", name, m[1])
			}
		}
		return nil
	})
	if used < 50 {
		t.Errorf("only %d string uses found: the patterns no longer match the pages", used)
	}
}

// TestPagesStatic: the pages have a lang attribute, a title, load their
// scripts and styles from /ui/assets/ only and carry no inline script,
// style or event handler (the CSP would block them); every image has an
// alt and every form field a label.
func TestPagesStatic(t *testing.T) {
	pages, _ := fs.Glob(Files(), "*.html")
	if len(pages) != 4 {
		t.Fatalf("pages %v", pages)
	}
	for _, p := range pages {
		b, _ := fs.ReadFile(Files(), p)
		s := string(b)
		if !strings.Contains(s, `<html lang="zh-CN">`) || !strings.Contains(s, "<title") {
			t.Errorf("%s: no lang or no title", p)
		}
		for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(s, -1) {
			if !regexp.MustCompile(`src="/ui/assets/[a-z-]+\.js"`).MatchString(m) {
				t.Errorf("%s: %s is not a script file of /ui/assets/", p, m)
			}
		}
		if regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=|javascript:`).MatchString(s) {
			t.Errorf("%s: inline style, event handler or javascript: URL", p)
		}
		for _, m := range regexp.MustCompile(`<img[^>]*>`).FindAllString(s, -1) {
			if !strings.Contains(m, " alt=") {
				t.Errorf("%s: %s has no alt", p, m)
			}
		}
		for _, m := range regexp.MustCompile(`<(input|textarea|select)[^>]*>`).FindAllString(s, -1) {
			id := regexp.MustCompile(`id="([^"]+)"`).FindStringSubmatch(m)
			if id == nil || !strings.Contains(s, `for="`+id[1]+`"`) {
				t.Errorf("%s: %s has no label", p, m)
			}
		}
	}
}

// TestContrast: every text colour of ui.css on the background it is used
// on is at least 4.5:1 (WCAG 2.x AA for normal text).
func TestContrast(t *testing.T) {
	b, _ := fs.ReadFile(Files(), "ui.css")
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-f]{6});`).FindAllStringSubmatch(string(b), -1) {
		vars[m[1]] = m[2]
	}
	pairs := [][2]string{
		{"fg", "bg"}, {"muted", "bg"}, {"accent", "bg"}, {"accent-fg", "accent"}, {"fg", "panel"}, {"muted", "panel"},
		{"accent", "panel"}, {"ok", "ok-bg"}, {"fg", "ok-bg"}, {"bad", "bad-bg"}, {"fg", "bad-bg"}, {"bad", "bg"},
		{"fg", "note-bg"}, {"accent-fg", "accent"},
	}
	for _, p := range pairs {
		fg, bg := vars[p[0]], vars[p[1]]
		if fg == "" || bg == "" {
			t.Errorf("ui.css lacks --%s or --%s", p[0], p[1])
			continue
		}
		if r := contrast(fg, bg); r < 4.5 {
			t.Errorf("--%s on --%s: %.2f:1, want ≥ 4.5:1", p[0], p[1], r)
		}
	}
	// The focus outline stands out from the background (WCAG 1.4.11: 3:1).
	if r := contrast(vars["focus"], vars["bg"]); r < 3 {
		t.Errorf("focus outline: %.2f:1, want ≥ 3:1", r)
	}
}

// contrast is the WCAG contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func TestContrastKnownAnswer(t *testing.T) {
	if r := contrast("#000000", "#ffffff"); math.Abs(r-21) > 0.01 {
		t.Errorf("black on white %.2f, want 21", r)
	}
	if r := contrast("#777777", "#ffffff"); math.Abs(r-4.48) > 0.01 {
		t.Errorf("#777 on white %.2f, want 4.48", r)
	}
}

// TestCounterSendsOfflineCodes: POST /v1/qr/verify verifies offline codes
// too (cmd/trustid.TestTwoRegionOfflineCodes), so the counter page sends
// them to the node like online ones; only static codes, which the node
// does not redeem, are answered in the page.
func TestCounterSendsOfflineCodes(t *testing.T) {
	b, err := fs.ReadFile(Files(), "counter.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`/\^TID[^/]*/\.test\(code\)`).FindAllString(string(b), -1) {
		if strings.Contains(m, "OFF") {
			t.Errorf("counter.js refuses offline codes before sending them to the node: %s", m)
		}
	}
}
