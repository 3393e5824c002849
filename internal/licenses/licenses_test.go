package licenses

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/LICENSES.md")

// repoRoot is the module root, two levels up from this package.
const repoRoot = "../.."

// TestLicenses lists the dependencies, fails on any whose license is not
// recognized or not allowed, and compares docs/LICENSES.md with what it
// would generate (-update rewrites it).
func TestLicenses(t *testing.T) {
	linked, testOnly, err := List(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(linked) == 0 {
		t.Fatal("go list found no dependency of cmd/...")
	}
	// The list is of our real dependencies: the GM crypto library is linked
	// into the node, and the old one serves only as a test oracle.
	if i := slices.IndexFunc(linked, func(m Module) bool { return m.Path == "github.com/emmansun/gmsm" }); i < 0 || !slices.Contains(linked[i].UsedBy, "trustid") {
		t.Errorf("github.com/emmansun/gmsm is not listed as linked into trustid: %+v", linked)
	}
	if !slices.ContainsFunc(testOnly, func(m Module) bool { return m.Path == "github.com/tjfoc/gmsm" }) {
		t.Errorf("github.com/tjfoc/gmsm is not listed as test-only: %+v", testOnly)
	}
	for _, m := range append(slices.Clone(linked), testOnly...) {
		if !m.Allowed() {
			t.Errorf("%s %s: license %s (files %v) is not on the allowed list %v", m.Path, m.Version, m.License, m.Files, Allowed)
		}
	}
	var got bytes.Buffer
	if err := Render(&got, linked, testOnly); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(repoRoot, "docs", "LICENSES.md")
	if *update {
		if err := os.WriteFile(doc, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(doc)
	if err != nil {
		t.Fatalf("%v (go test ./internal/licenses -update writes it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("docs/LICENSES.md is out of date: run go test ./internal/licenses -update\n--- generated:\n%s", got.String())
	}
}

func TestClassify(t *testing.T) {
	const (
		mit = `Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal`
		apache = `                                 Apache License
                           Version 2.0, January 2004`
		bsd = `Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:`
		endorse = `   * Neither the name of Google Inc. nor the names of its
contributors may be used to endorse or promote products derived from`
		advertising = `3. All advertising materials mentioning features or use of this software`
		isc         = `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above`
		mpl    = `Mozilla Public License Version 2.0`
		gpl    = `GNU GENERAL PUBLIC LICENSE  Version 3, 29 June 2007`
		lgpl   = `GNU LESSER GENERAL PUBLIC LICENSE`
		random = `All rights reserved. Do not copy.`
		ftl    = `Use of the Freetype-Go software is subject to your choice of exactly one of
the following two licenses:
  * The FreeType License, which is similar to the original BSD license with
    an advertising clause, or
  * The GNU General Public License (GPL), version 2 or later.`
		ccby = `Creative Commons Attribution 4.0 International Public License`
	)
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		{"MIT", mit, []string{"MIT"}},
		{"Apache", apache, []string{"Apache-2.0"}},
		{"BSD-2", bsd, []string{"BSD-2-Clause"}},
		{"BSD-3", bsd + "\n" + endorse, []string{"BSD-3-Clause"}},
		{"BSD-4", bsd + "\n" + advertising + "\n" + endorse, []string{"BSD-4-Clause"}},
		{"ISC", isc, []string{"ISC"}},
		{"MPL", mpl, []string{"MPL-2.0"}},
		{"MPL naming its secondary licenses", mpl + "\n1.12. \"Secondary License\"\n    means either the GNU General Public License, Version 2.0, the GNU\n    Lesser General Public License, Version 2.1, the GNU Affero General\n    Public License, Version 3.0, or any later versions of those\n    licenses.", []string{"MPL-2.0"}},
		{"GPL", gpl, []string{"GPL"}},
		{"LGPL", lgpl, []string{"LGPL"}},
		{"FTL or GPL: FTL", ftl, []string{"FTL"}},
		{"CC-BY-4.0", ccby, []string{"CC-BY-4.0"}},
		{"MIT and Apache in one file", mit + "\n\n" + apache, []string{"Apache-2.0", "MIT"}},
		{"unrecognized", random, nil},
		{"empty", "", nil},
		// A phrase split across words is not a match: "apache licenses" is
		// not "apache license".
		{"word boundaries", "apache licenses version 2.0", nil},
	} {
		if got := Classify([]byte(c.text)); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	for _, c := range []struct {
		license string
		usedBy  []string
		want    bool
	}{
		{"MIT", nil, true},
		{"Apache-2.0 AND MIT", nil, true},
		{"MPL-2.0", nil, true},
		{"GPL", nil, false},
		{"Apache-2.0 AND GPL", nil, false},
		{"BSD-4-Clause", nil, false},
		{Unknown, nil, false},
		// Attribution licenses only in the benchmark tool, never shipped.
		{"FTL", []string{"trustid-bench"}, true},
		{"CC-BY-4.0", []string{"trustid-bench"}, true},
		{"FTL", []string{"trustid", "trustid-bench"}, false},
		{"CC-BY-4.0", nil, false},
		{"GPL", []string{"trustid-bench"}, false},
	} {
		if got := (Module{License: c.license, UsedBy: c.usedBy}).Allowed(); got != c.want {
			t.Errorf("%s in %v: %v", c.license, c.usedBy, got)
		}
	}
}

// TestClassifyDir: license files are found by name at the module root; a
// module with none, or with text no rule knows, is Unknown.
func TestClassifyDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if lic, files, err := classifyDir(dir); err != nil || lic != Unknown || len(files) != 0 {
		t.Errorf("no file: %s %v %v", lic, files, err)
	}
	write("README.md", "Permission is hereby granted, free of charge, to any person obtaining a copy")
	write("LICENSE-APACHE", "Apache License\nVersion 2.0")
	write("LICENCE.txt", "some words")
	lic, files, err := classifyDir(dir)
	if err != nil || lic != "Apache-2.0" || strings.Join(files, ",") != "LICENCE.txt,LICENSE-APACHE" {
		t.Errorf("got %s %v %v", lic, files, err)
	}
	write("COPYING", "Permission is hereby granted, free of charge, to any person obtaining a copy")
	if lic, _, _ := classifyDir(dir); lic != "Apache-2.0 AND MIT" {
		t.Errorf("two files: %s", lic)
	}
}
