package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite the generated parts of the docs")

// globalFlagsTable is the Markdown table of the root command's persistent
// flags, the "Global Flags" of every command's help.
func globalFlagsTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment variable | default | meaning |\n| --- | --- | --- | --- |\n")
	newRootCmd().PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "--" + f.Name
		if t := f.Value.Type(); t != "bool" {
			name += " " + t
		}
		name = "`" + name + "`"
		if f.Shorthand != "" {
			name = "`-" + f.Shorthand + "`, " + name
		}
		def := "`" + f.DefValue + "`"
		if f.DefValue == "" {
			def = "none"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", name, envName(f.Name), def, strings.ReplaceAll(f.Usage, "|", `\|`))
	})
	return b.String()
}

// TestDocsGlobalFlags: docs/operations.md lists the CLI's global flags as
// they are (with -update it rewrites its table), and every command's help
// shows exactly those under "Global Flags" (the commands with persistent
// flags of their own add theirs).
func TestDocsGlobalFlags(t *testing.T) {
	const path = "../../docs/operations.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile(`(?s)(<!-- global-flags:begin -->\n)(.*?)(<!-- global-flags:end -->)`)
	m := section.FindSubmatch(raw)
	if m == nil {
		t.Fatal("docs/operations.md has no global-flags table")
	}
	want := globalFlagsTable()
	if *update {
		out := section.ReplaceAll(raw, []byte("${1}"+strings.ReplaceAll(want, "$", "$$")+"${3}"))
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(m[2]) != want {
		t.Errorf("docs/operations.md, Global Flags, is out of date (go test ./cmd/trustid -run TestDocsGlobalFlags -update):\n%s\nwant:\n%s", m[2], want)
	}

	root := newRootCmd()
	var names []string
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if len(names) == 0 {
		t.Fatal("the root command has no persistent flags")
	}
	walkCommands(root, func(c *cobra.Command) {
		if c == root {
			return
		}
		for _, n := range names {
			if f := c.InheritedFlags().Lookup(n); f == nil || f.Hidden {
				t.Errorf("%s: global flag --%s is not inherited", c.CommandPath(), n)
			}
		}
	})
	help, _, err := run(t, t.Context(), "keys", "list", "--help")
	if err != nil {
		t.Fatal(err)
	}
	_, global, ok := strings.Cut(help, "Global Flags:\n")
	if !ok {
		t.Fatalf("keys list --help has no Global Flags:\n%s", help)
	}
	var shown []string
	for _, l := range strings.Split(strings.TrimSpace(global), "\n") {
		if f := regexp.MustCompile(`^\s*(?:-\w, )?--([\w-]+)`).FindStringSubmatch(l); f != nil {
			shown = append(shown, f[1])
		}
	}
	if strings.Join(shown, " ") != strings.Join(names, " ") {
		t.Errorf("keys list --help shows global flags %v, want %v", shown, names)
	}
}

// TestDocsServeFlags: every row of README's configuration table is a flag
// of `trustid serve` with the default it says, and every flag of serve is
// documented: in that table or, as `--name`, in docs/*.md.
func TestDocsServeFlags(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "| setting | default | meaning |\n| --- | --- | --- |\n")
	if !ok {
		t.Fatal("README.md has no configuration table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	serve, _, err := newRootCmd().Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	inTable := map[string]bool{}
	for _, row := range strings.Split(table, "\n") {
		cells := strings.Split(row, " | ")
		if len(cells) < 3 {
			t.Errorf("README.md configuration table: bad row %q", row)
			continue
		}
		names := regexp.MustCompile("`--([a-z0-9-]+)`").FindAllStringSubmatch(cells[0], -1)
		defs := regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(cells[1], -1)
		for i, n := range names {
			f := serve.Flags().Lookup(n[1])
			if f == nil {
				f = serve.InheritedFlags().Lookup(n[1])
			}
			if f == nil {
				t.Errorf("README.md documents --%s, which trustid serve does not have", n[1])
				continue
			}
			inTable[f.Name] = true
			switch def := strings.TrimSpace(cells[1]); {
			case len(defs) == len(names) && !strings.Contains(defs[i][1], "<"):
				if defs[i][1] != f.DefValue {
					t.Errorf("README.md: --%s defaults to %q, the flag to %q", f.Name, defs[i][1], f.DefValue)
				}
			case def == "off":
				if f.DefValue != "false" {
					t.Errorf("README.md: --%s defaults to off, the flag to %q", f.Name, f.DefValue)
				}
			default: // none, empty, or made at run time
				if f.DefValue != "" && f.DefValue != "[]" {
					t.Errorf("README.md: --%s defaults to %s, the flag to %q", f.Name, def, f.DefValue)
				}
			}
		}
	}
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, p := range docs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	serve.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" || inTable[f.Name] {
			return
		}
		if !regexp.MustCompile(`--` + regexp.QuoteMeta(f.Name) + `\b[^-]`).MatchString(all.String()) {
			t.Errorf("trustid serve --%s is documented neither in README.md's configuration table nor in docs/*.md", f.Name)
		}
	})
}

// docCommandLines returns the trustid command lines of a Markdown file's
// code (fenced blocks and indented ones), with the line each starts on:
// the words after "trustid" to the end of its shell command, as in help
// examples (exampleCommandLines), where trustid is the command word. A
// "$ " prompt marks the commands of a block that shows their output; "$("
// opens a command of its own.
func docCommandLines(md string) (lines [][]string, at []int, err error) {
	fence, prevBlank, indented := false, true, false
	var block []string
	var starts []int
	for i, line := range strings.Split(md, "\n") {
		code := false
		switch t := strings.TrimSpace(line); {
		case strings.HasPrefix(t, "```"):
			fence = !fence
		case fence:
			code = true
		case strings.HasPrefix(line, "    ") && (prevBlank || indented):
			code, indented = true, true
		case t != "":
			indented = false
		}
		prevBlank = strings.TrimSpace(line) == ""
		if !code {
			continue
		}
		line = strings.TrimSpace(line)
		if len(block) > 0 && strings.HasSuffix(block[len(block)-1], "\\") {
			block[len(block)-1] = strings.TrimSuffix(block[len(block)-1], "\\") + " " + line
			continue
		}
		block = append(block, line)
		starts = append(starts, i+1)
	}
	for j, line := range block {
		line = strings.TrimPrefix(line, "$ ")
		line = strings.NewReplacer("$(", " ; ", ")", " ; ", "go run ./cmd/trustid ", "trustid ").Replace(line)
		line = regexp.MustCompile(`<[A-Za-z_-]+>`).ReplaceAllString(line, "X") // a placeholder
		words, err := shellWords(line)
		if err != nil {
			if strings.HasPrefix(line, "trustid ") {
				return nil, nil, fmt.Errorf("line %d: %w", starts[j], err)
			}
			continue // output, or not shell
		}
		// trustid (or a path to it) as the command word: at the start of
		// a command, after environment assignments.
		var cur []string
		in, first := false, true
		for _, w := range append(words, ";") {
			switch {
			case slices.Contains([]string{"|", "||", ";", "&", "&&", "#", "(", "do", "then"}, w) || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<") || w == "2>":
				if in {
					lines, at = append(lines, cur), append(at, starts[j])
				}
				cur, in, first = nil, false, true
			case in:
				cur = append(cur, w)
			case first && (w == "trustid" || strings.HasSuffix(w, "/trustid")):
				in = true
			case first && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(w):
			default:
				first = false
			}
		}
	}
	return lines, at, nil
}

// markdownDocs are the repository's Markdown files a user reads: README.md,
// docs/*.md and the packages' READMEs.
func markdownDocs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, g := range []string{"../../*.md", "../../docs/*.md", "../../*/README.md", "../../*/*/README.md"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}

// TestDocsCommandLines: every trustid command line in the Markdown docs
// names a real command with flags it has, valid flag values and the
// arguments it takes (as TestCLIExamples holds the help).
func TestDocsCommandLines(t *testing.T) {
	n := 0
	for _, p := range markdownDocs(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines, at, err := docCommandLines(string(b))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		for i, args := range lines {
			if len(args) > 0 && args[0] == "completion" {
				continue // cobra's, added when the CLI runs (TestCLICompletion)
			}
			n++
			if _, err := parseExample(args); err != nil && !isSynopsis(t, args) {
				t.Errorf("%s:%d: `trustid %s`: %v", strings.TrimPrefix(p, "../../"), at[i], strings.Join(args, " "), err)
			}
		}
	}
	t.Logf("%d command lines", n)
}

// isSynopsis reports whether args is a synopsis ("id derive NUMBER
// [--all]") rather than a command line, and if so checks that its
// command and every flag it names exist.
func isSynopsis(t *testing.T, args []string) bool {
	placeholder := regexp.MustCompile(`^\[|^[A-Z][A-Z0-9_]*$|\|`)
	cmdWords, synopsis := args, false
	for i, w := range args {
		if strings.HasPrefix(w, "-") || placeholder.MatchString(w) {
			cmdWords = args[:i]
			break
		}
	}
	for _, w := range args {
		synopsis = synopsis || placeholder.MatchString(w)
	}
	if !synopsis {
		return false
	}
	c, _, err := newRootCmd().Find(cmdWords)
	if err != nil || !c.Runnable() {
		t.Errorf("synopsis `trustid %s`: no command %q", strings.Join(args, " "), strings.Join(cmdWords, " "))
		return true
	}
	for _, m := range regexp.MustCompile(`--([a-z0-9-]+)`).FindAllStringSubmatch(strings.Join(args, " "), -1) {
		if c.Flags().Lookup(m[1]) == nil && c.InheritedFlags().Lookup(m[1]) == nil {
			t.Errorf("synopsis `trustid %s`: %s has no flag --%s", strings.Join(args, " "), c.CommandPath(), m[1])
		}
	}
	return true
}

// headingAnchors returns the anchors GitHub gives a Markdown file's
// headings: lower case, punctuation but "-" and "_" dropped, spaces as
// "-", "-1", "-2" after a repeated one.
func headingAnchors(md string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fence := false
	heading := regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*$`)
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
		}
		m := heading.FindStringSubmatch(line)
		if fence || m == nil {
			continue
		}
		a := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				return unicode.ToLower(r)
			}
			return -1
		}, m[1])
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// TestDocsLinks: every relative link of the Markdown docs names a file of
// the repository, and its #fragment a heading of that file.
func TestDocsLinks(t *testing.T) {
	link, scheme := regexp.MustCompile(`\]\(([^)\s]+)\)`), regexp.MustCompile(`^[a-z]+:`)
	anchors := map[string]map[string]bool{}
	n := 0
	for _, p := range markdownDocs(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if scheme.MatchString(target) {
				continue
			}
			n++
			file, frag, _ := strings.Cut(target, "#")
			path := p
			if file != "" {
				path = filepath.Join(filepath.Dir(p), file)
			}
			doc, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, syscall.EISDIR) {
				t.Errorf("%s: link %s: %v", strings.TrimPrefix(p, "../../"), target, err)
				continue
			}
			if frag == "" || !strings.HasSuffix(path, ".md") {
				continue
			}
			if anchors[path] == nil {
				anchors[path] = headingAnchors(string(doc))
			}
			if !anchors[path][frag] {
				t.Errorf("%s: link %s: %s has no heading #%s", strings.TrimPrefix(p, "../../"), target, strings.TrimPrefix(path, "../../"), frag)
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d relative links found", n)
	}
}

// TestDocsQuickStartAnswers: each `curl -s http://127.0.0.1:8080/…` of the
// README's quick start answers, on a node started on embedded defaults,
// the JSON its comment shows: the same members, each with the value
// shown ({...} stands for any object).
func TestDocsQuickStartAnswers(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, start, _ := strings.Cut(string(readme), "## Quick start\n")
	start, _, _ = strings.Cut(start, "\n## ")
	lines := regexp.MustCompile(`(?m)^\s+curl -s http://127\.0\.0\.1:8080(/\S*)\s+# (\{.*\})$`).FindAllStringSubmatch(start, -1)
	if len(lines) < 2 {
		t.Fatalf("README.md's quick start shows %d curl answers, want /healthz and /readyz at least", len(lines))
	}
	n := startAuthNode(t)
	for _, l := range lines {
		path, shown := l[1], strings.ReplaceAll(l[2], "{...}", "{}")
		var want map[string]any
		if err := json.Unmarshal([]byte(shown), &want); err != nil {
			t.Errorf("README.md: the answer shown for %s is no JSON object: %v", path, err)
			continue
		}
		resp, err := http.Get(n.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("GET %s: %d %s: not a JSON object", path, resp.StatusCode, body)
			continue
		}
		if !sameShape(want, got) {
			t.Errorf("GET %s answers %s; README.md shows %s", path, strings.TrimSpace(string(body)), l[2])
		}
	}
}

// sameShape reports whether got has exactly want's members with want's
// values, an empty object in want matching any object.
func sameShape(want, got any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(want, got)
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	if len(w) == 0 {
		return true
	}
	if len(w) != len(g) {
		return false
	}
	for k, v := range w {
		if gv, ok := g[k]; !ok || !sameShape(v, gv) {
			return false
		}
	}
	return true
}
