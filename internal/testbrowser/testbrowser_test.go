package testbrowser

import (
	"os"
	"path/filepath"
	"testing"
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
