package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstanceID: without --instance a data directory gets an instance ID
// on first start and keeps it; --instance wins; a malformed one is refused.
func TestInstanceID(t *testing.T) {
	dir := t.TempDir()
	cmd := newServeCmd()
	first, err := instanceID(cmd, dir)
	if err != nil || !strings.HasPrefix(first, "i") || len(first) != 9 {
		t.Fatalf("default instance %q: %v", first, err)
	}
	again, err := instanceID(newServeCmd(), dir)
	if err != nil || again != first {
		t.Fatalf("instance changed across starts: %q then %q (%v)", first, again, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, instanceFile)); strings.TrimSpace(string(b)) != first {
		t.Fatalf("kept %q", b)
	}
	cmd = newServeCmd()
	cmd.Flags().Set("instance", "sh-a")
	if got, err := instanceID(cmd, dir); err != nil || got != "sh-a" {
		t.Fatalf("--instance sh-a: %q %v", got, err)
	}
	for _, bad := range []string{"-a", "A", "a_b", strings.Repeat("a", 33)} {
		cmd = newServeCmd()
		cmd.Flags().Set("instance", bad)
		if _, err := instanceID(cmd, dir); err == nil || !strings.Contains(err.Error(), "--instance") {
			t.Fatalf("--instance %q: %v", bad, err)
		}
	}
}
