package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNPMInstalled: the packages count as installed only with a stamp of
// the lock file's own digest.
func TestNPMInstalled(t *testing.T) {
	dir := t.TempDir()
	if err := npmInstalled(dir); err == nil {
		t.Fatal("no package-lock.json: installed")
	}
	if err := os.WriteFile(filepath.Join(dir, "package-lock.json"), []byte(`{"lockfileVersion":3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := npmInstalled(dir); err == nil {
		t.Fatal("no node_modules: installed")
	}
	if err := os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	stamp := filepath.Join(dir, "node_modules", ".trustid-lock.sha256")
	if err := os.WriteFile(stamp, []byte("00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := npmInstalled(dir); err == nil || !strings.Contains(err.Error(), "another package-lock.json") {
		t.Fatalf("stale stamp: %v", err)
	}
	// sha256sum of {"lockfileVersion":3}, as scripts/interop.sh writes it.
	if err := os.WriteFile(stamp, []byte("2086223f909ecaf4b063cfc7e8187ab73e8e8a24ec7029d54e0403dee55a3265\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := npmInstalled(dir); err != nil {
		t.Fatal(err)
	}
}
