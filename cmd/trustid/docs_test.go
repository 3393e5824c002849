package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
