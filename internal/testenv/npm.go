package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NPM returns the path of node for a test that runs the npm packages of
// dir, which scripts/interop.sh installs with npm ci from dir's committed
// package-lock.json. Without node, or when dir's node_modules was not
// installed from that lock file, the test fails under CI and is skipped
// elsewhere (Require).
func NPM(t testing.TB, dir string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	Require(t, "Node.js (scripts/interop.sh installs it)", err)
	Require(t, "the npm packages of "+dir+" (scripts/interop.sh installs them)", npmInstalled(dir))
	return node
}

// npmInstalled reports why dir's node_modules does not hold the packages
// of its package-lock.json, or nil.
func npmInstalled(dir string) error {
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err
	}
	stamp, err := os.ReadFile(filepath.Join(dir, "node_modules", ".trustid-lock.sha256"))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(lock)
	if strings.TrimSpace(string(stamp)) != hex.EncodeToString(sum[:]) {
		return errors.New("node_modules was installed from another package-lock.json")
	}
	return nil
}
