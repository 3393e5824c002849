// Package licenses lists the third-party Go modules linked into the TrustID
// binaries (cmd/...) and those used only by tests, classifies each one's
// license from the license files in the module cache, and renders the list
// as docs/LICENSES.md. Its test fails when a module's license is unknown or
// not on the allowed list, or when docs/LICENSES.md is out of date
// (`go test ./internal/licenses -update` rewrites it).
package licenses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Allowed are the SPDX identifiers a dependency may be under: permissive
// licenses, and MPL-2.0 (file-level copyleft: changes to its files stay
// open, our code is not affected).
var Allowed = []string{"Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "MIT", "MPL-2.0"}

// ToolOnly are binaries built from source by whoever runs them and never
// shipped (the benchmark tool, whose plots need gonum.org/v1/plot).
// ToolAllowed are the licenses a module linked only into them may also be
// under: permissive licenses that ask for attribution, FTL (the FreeType
// License, chosen from golang/freetype's FTL-or-GPL offer) and CC-BY-4.0
// (ajstarks/svgo). A module linked into any other binary is held to
// Allowed.
var (
	ToolOnly    = []string{"trustid-bench"}
	ToolAllowed = []string{"FTL", "CC-BY-4.0"}
)

// Unknown is the classification of a text no rule recognizes.
const Unknown = "unknown"

// rule recognizes one license by phrases that must all occur in the
// normalized text (lower case, punctuation dropped, white space collapsed).
type rule struct {
	id  string
	all []string
	not []string // phrases that exclude the rule
}

var rules = []rule{
	{id: "Apache-2.0", all: []string{"apache license", "version 2 0"}},
	{id: "MIT", all: []string{"permission is hereby granted free of charge to any person obtaining a copy"}},
	{id: "BSD-4-Clause", all: []string{"redistribution and use in source and binary forms", "all advertising materials mentioning features"}},
	{id: "BSD-3-Clause", all: []string{"redistribution and use in source and binary forms", "may be used to endorse or promote products"},
		not: []string{"all advertising materials mentioning features"}},
	{id: "BSD-2-Clause", all: []string{"redistribution and use in source and binary forms"},
		not: []string{"may be used to endorse or promote products", "all advertising materials mentioning features"}},
	{id: "ISC", all: []string{"permission to use copy modify and", "distribute this software for any purpose with or without fee is hereby granted"}},
	{id: "MPL-2.0", all: []string{"mozilla public license", "2 0"}},
	// The MPL-2.0 text names the GPL family as its "Secondary Licenses"
	// (section 1.12): naming them there grants nothing under them.
	{id: "AGPL-3.0", all: []string{"gnu affero general public license"}, not: []string{"secondary license means"}},
	{id: "LGPL", all: []string{"gnu lesser general public license"}, not: []string{"secondary license means"}},
	// A choice of the FreeType License or the GPL: the FreeType License
	// is taken.
	{id: "FTL", all: []string{"your choice of exactly one of", "the freetype license"}},
	{id: "CC-BY-4.0", all: []string{"creative commons attribution 4 0 international public license"}},
	{id: "GPL", all: []string{"gnu general public license"}, not: []string{"gnu lesser general public license", "gnu affero general public license", "the freetype license", "secondary license means"}},
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

func normalize(text []byte) string {
	return " " + strings.TrimSpace(nonWord.ReplaceAllString(strings.ToLower(string(text)), " ")) + " "
}

func contains(norm, phrase string) bool { return strings.Contains(norm, " "+phrase+" ") }

// Classify returns the SPDX identifiers of the licenses a license file's
// text states, sorted ("Apache-2.0", "MIT"), or nil when it recognizes
// none. A file granting under two licenses (gopkg.in/yaml's MIT parts and
// Apache remainder) gives both.
func Classify(text []byte) []string {
	norm := normalize(text)
	var ids []string
	for _, r := range rules {
		ok := true
		for _, p := range r.all {
			ok = ok && contains(norm, p)
		}
		for _, p := range r.not {
			ok = ok && !contains(norm, p)
		}
		if ok {
			ids = append(ids, r.id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Module is one dependency and what it is under.
type Module struct {
	Path, Version string
	// License is the SPDX expression: identifiers joined by " AND " (every
	// license found applies), or Unknown.
	License string
	// Files are the license files read, relative to the module root.
	Files []string
	// UsedBy names the binaries that link it (cmd/<name>); empty for a
	// test-only module.
	UsedBy []string
}

// Allowed reports whether every license of m is on the allowed list, or,
// for a module linked only into ToolOnly binaries, on it or ToolAllowed.
func (m Module) Allowed() bool {
	if m.License == Unknown {
		return false
	}
	tool := len(m.UsedBy) > 0
	for _, b := range m.UsedBy {
		tool = tool && slices.Contains(ToolOnly, b)
	}
	for _, id := range strings.Split(m.License, " AND ") {
		if !slices.Contains(Allowed, id) && !(tool && slices.Contains(ToolAllowed, id)) {
			return false
		}
	}
	return true
}

// licenseFile matches the names license files go by at a module's root.
var licenseFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|unlicense)([-._].*)?$`)

// classifyDir reads the license files at the root of a module directory.
func classifyDir(dir string) (license string, files []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() || !licenseFile.MatchString(e.Name()) {
			continue
		}
		text, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", nil, err
		}
		files = append(files, e.Name())
		for _, id := range Classify(text) {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return Unknown, files, nil
	}
	sort.Strings(ids)
	return strings.Join(ids, " AND "), files, nil
}

// goPackage is what `go list -json` says of a package that we use.
type goPackage struct {
	ImportPath string
	Name       string
	Standard   bool
	Deps       []string
	Module     *goModule
}

type goModule struct {
	Path, Version, Dir string
	Main               bool
	Replace            *goModule
}

// goList runs `go list -deps -json` with extra flags in the module at root.
func goList(root string, args ...string) ([]goPackage, error) {
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json=ImportPath,Name,Standard,Deps,Module"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("licenses: go list %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("licenses: go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}

// List returns the third-party modules linked into the binaries under
// root/cmd (for the platform go list builds for) and, apart, those that
// only tests of root/... use, each sorted by path.
func List(root string) (linked, testOnly []Module, err error) {
	pkgs, err := goList(root, "./cmd/...")
	if err != nil {
		return nil, nil, err
	}
	modOf := map[string]*goModule{} // import path → module
	for _, p := range pkgs {
		if p.Module != nil && !p.Module.Main {
			m := p.Module
			if m.Replace != nil {
				m = m.Replace
			}
			modOf[p.ImportPath] = m
		}
	}
	byPath := map[string]*Module{}
	dirs := map[string]string{}
	for _, p := range pkgs {
		if p.Name != "main" || p.Module == nil || !p.Module.Main {
			continue
		}
		bin := path.Base(p.ImportPath)
		for _, dep := range p.Deps {
			m := modOf[dep]
			if m == nil {
				continue
			}
			if byPath[m.Path] == nil {
				byPath[m.Path] = &Module{Path: m.Path, Version: m.Version}
				dirs[m.Path] = m.Dir
			}
			if mod := byPath[m.Path]; !slices.Contains(mod.UsedBy, bin) {
				mod.UsedBy = append(mod.UsedBy, bin)
			}
		}
	}
	tests, err := goList(root, "-test", "./...")
	if err != nil {
		return nil, nil, err
	}
	testMods := map[string]*Module{}
	for _, p := range tests {
		if p.Module == nil || p.Module.Main {
			continue
		}
		m := p.Module
		if m.Replace != nil {
			m = m.Replace
		}
		if byPath[m.Path] == nil && testMods[m.Path] == nil {
			testMods[m.Path] = &Module{Path: m.Path, Version: m.Version}
			dirs[m.Path] = m.Dir
		}
	}
	finish := func(set map[string]*Module) ([]Module, error) {
		var out []Module
		for _, m := range set {
			if dirs[m.Path] == "" {
				return nil, fmt.Errorf("licenses: %s %s is not in the module cache (go mod download)", m.Path, m.Version)
			}
			var err error
			if m.License, m.Files, err = classifyDir(dirs[m.Path]); err != nil {
				return nil, fmt.Errorf("licenses: %s: %w", m.Path, err)
			}
			sort.Strings(m.UsedBy)
			out = append(out, *m)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
		return out, nil
	}
	if linked, err = finish(byPath); err != nil {
		return nil, nil, err
	}
	if testOnly, err = finish(testMods); err != nil {
		return nil, nil, err
	}
	return linked, testOnly, nil
}

// Render writes docs/LICENSES.md.
func Render(w io.Writer, linked, testOnly []Module) error {
	var b bytes.Buffer
	b.WriteString(`# Dependency licenses

Generated by ` + "`go test ./internal/licenses -update`" + ` from ` + "`go list -deps ./cmd/...`" + `
(linux/amd64) and the license files of each module in the module cache; do
not edit by hand. ` + "`go test ./internal/licenses`" + ` fails when this file is out of
date, or when a module's license is not recognized or not allowed
(allowed: ` + strings.Join(Allowed, ", ") + `; for a module linked only into
` + strings.Join(ToolOnly, ", ") + `, a tool built from source and not shipped, also
` + strings.Join(ToolAllowed, ", ") + `). "A AND B": the license file
puts parts of the module under each.

The Go standard library, linked into every binary, is under BSD-3-Clause.

## Linked into the binaries

| module | version | license | file | binaries |
| --- | --- | --- | --- | --- |
`)
	for _, m := range linked {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", m.Path, m.Version, m.License, strings.Join(m.Files, ", "), strings.Join(m.UsedBy, ", "))
	}
	b.WriteString(`
## Used only by tests

Not shipped: linked only into test binaries.

| module | version | license | file |
| --- | --- | --- | --- |
`)
	for _, m := range testOnly {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", m.Path, m.Version, m.License, strings.Join(m.Files, ", "))
	}
	_, err := w.Write(b.Bytes())
	return err
}
