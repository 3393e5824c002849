// Package testenv decides what a test does when a real component it needs
// (a Fabric network, a redis-server binary, ...) is missing: on a developer's
// machine the test is skipped with the reason; under CI (the environment
// variable CI is set, as CI services and .ci/run set it) the test fails, so
// a missing component can never pass for a green run. It also runs a
// test of the test binary in a child process (RunChild, KillChild), for
// tests that must watch a process end or kill it mid-write, and measures
// the process's CPU time for benchmarks (CPUTime, CPUMeter).
package testenv

import (
	"os"
	"testing"
)

// Require does nothing when err is nil. Otherwise err says why component is
// not available: the test fails (t.Fatal) when the environment variable CI
// is non-empty, and is skipped (t.Skip) when it is not.
func Require(t testing.TB, component string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required (CI is set): %v", component, err)
	}
	t.Skipf("%s is not available: %v (set CI=1 to make this a failure)", component, err)
}
