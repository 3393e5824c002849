// Package testbrowser starts a real headless Chromium for browser tests,
// driven with chromedp. The binary is Debian's chromium (scripts/test.sh
// installs it when missing); when it is not found, testenv.Require skips
// the test on a developer's machine and fails it under CI.
package testbrowser

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/trustid-cn/trustid/internal/testenv"
)

// Names are the names Chromium's binary has on the distributions we meet
// (Debian: chromium; Ubuntu and older Debian: chromium-browser; Google's
// build: google-chrome), in the order they are looked for on PATH.
var Names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Find returns the path of the first of Names found on PATH, or of
// $TRUSTID_CHROMIUM when it is set.
func Find() (string, error) {
	if p := os.Getenv("TRUSTID_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, n := range Names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("none of chromium, chromium-browser, google-chrome on PATH (apt-get install -y chromium)")
}

// New starts a headless Chromium with a fresh profile (no cookies, no
// cache) and returns a context for chromedp actions in its first tab. The
// browser ends with the test (t.Cleanup). Each call is a separate browser:
// nothing is shared between two of them.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := Find()
	testenv.Require(t, "Chromium", err)
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(800, 900))
	// Chromium refuses to start its sandbox as root (it needs an
	// unprivileged user namespace, and as root it would sandbox nothing
	// from root anyway). Containers and CI machines often run tests as
	// root: only there is the sandbox turned off; as any other user the
	// browser keeps it.
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, so a broken installation is reported here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	return ctx
}

// A11yCheck is the pages' basic accessibility check, run in the browser:
// the document has a lang; every form field has a label (a <label for>, or
// aria-label or aria-labelledby); every image has a non-empty alt; every
// button and link has a name; a video has a label; one h1; unique ids;
// no positive tabindex. It returns the problems found.
const A11yCheck = `(() => {
  const problems = [];
  if (!document.documentElement.getAttribute("lang")) problems.push("html has no lang");
  document.querySelectorAll("input, textarea, select").forEach(e => {
    if (e.type === "hidden") return;
    if (!((e.labels && e.labels.length) || e.getAttribute("aria-label") || e.getAttribute("aria-labelledby"))) problems.push("unlabelled " + e.outerHTML.slice(0, 80));
  });
  document.querySelectorAll("img").forEach(e => { if (!(e.getAttribute("alt") || "").trim()) problems.push("image without alt " + e.outerHTML.slice(0, 80)); });
  document.querySelectorAll("button, a[href]").forEach(e => { if (!(e.textContent.trim() || e.getAttribute("aria-label"))) problems.push("unnamed " + e.outerHTML.slice(0, 80)); });
  document.querySelectorAll("video").forEach(e => { if (!e.getAttribute("aria-label")) problems.push("video without a label"); });
  if (document.querySelectorAll("h1").length !== 1) problems.push("not one h1");
  const ids = {};
  document.querySelectorAll("[id]").forEach(e => { if (ids[e.id]) problems.push("duplicate id " + e.id); ids[e.id] = true; });
  document.querySelectorAll("[tabindex]").forEach(e => { if (+e.getAttribute("tabindex") > 0) problems.push("positive tabindex on " + e.id); });
  if (window.cspViolations && window.cspViolations.length) problems.push("CSP violations " + window.cspViolations.join(", "));
  return problems;
})()`

// CheckA11y runs A11yCheck and then axe-core (Axe) on the page ctx shows
// and reports each problem as an error of t, named by page.
func CheckA11y(t testing.TB, ctx context.Context, page string) {
	t.Helper()
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](A11yCheck))
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", page, p)
	}
	Axe(t, ctx, page)
}

// AxeTags are the axe-core rule tags Axe runs: WCAG 2.0 and 2.1, levels A
// and AA (GB/T 37668-2019 follows WCAG 2.0 AA).
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// axeScript is axe-core's axe.min.js from testdata/axe/node_modules: the
// exact version pinned in testdata/axe/package-lock.json, which
// scripts/interop.sh installs with npm ci.
func axeScript() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("no source path for testbrowser")
	}
	dir := filepath.Join(filepath.Dir(file), "testdata", "axe")
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return "", err
	}
	stamp, err := os.ReadFile(filepath.Join(dir, "node_modules", ".trustid-lock.sha256"))
	if err != nil || string(bytes.TrimSpace(stamp)) != fmt.Sprintf("%x", sha256.Sum256(lock)) {
		return "", fmt.Errorf("axe-core is not installed from %s/package-lock.json (run scripts/interop.sh)", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js"))
	return string(b), err
}

// axeViolation is one rule axe-core found broken, with the elements.
type axeViolation struct {
	ID    string `json:"id"`
	Help  string `json:"help"`
	Nodes []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// AxeViolations runs axe-core (the AxeTags rules) on the page ctx shows,
// as it is now, and returns one line for each element of each violation.
func AxeViolations(ctx context.Context) ([]string, error) {
	src, err := axeScript()
	if err != nil {
		return nil, err
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](src+";true")); err != nil {
		return nil, fmt.Errorf("loading axe-core: %w", err)
	}
	tags, _ := json.Marshal(AxeTags)
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](fmt.Sprintf(
		`axe.run(document, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"]}).then(r => r.violations)`, tags), chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range violations {
		for _, n := range v.Nodes {
			out = append(out, fmt.Sprintf("axe %s (%s) at %v: %s", v.ID, v.Help, n.Target, n.Summary))
		}
	}
	return out, nil
}

// Axe runs AxeViolations and reports each as an error of t, named by
// page. An engine not installed is a failure, never a skip: the browser
// that runs the page is there.
func Axe(t testing.TB, ctx context.Context, page string) {
	t.Helper()
	problems, err := AxeViolations(ctx)
	if err != nil {
		t.Fatalf("%s: axe-core: %v", page, err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", page, p)
	}
}

// CheckA11yNoScript is CheckA11y for a page ctx loaded with script
// execution disabled (emulation.SetScriptExecutionDisabled): axe-core
// needs timers, so scripts are on for the check (the page's own, which
// did not run when it loaded, do not run now) and off again after it.
func CheckA11yNoScript(t testing.TB, ctx context.Context, page string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	CheckA11y(t, ctx, page)
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("%s: %v", page, err)
	}
}
