//go:build benchpprof

package main

import (
	"strings"
	"testing"
)

// TestContentionRates: unset means off, a number is taken, anything else
// is refused naming the variable (go test -tags benchpprof).
func TestContentionRates(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if b, m, err := contentionRates(env(nil)); b != 0 || m != 0 || err != nil {
		t.Errorf("unset: %d %d %v", b, m, err)
	}
	if b, m, err := contentionRates(env(map[string]string{"TRUSTID_PPROF_BLOCK_RATE": "10000", "TRUSTID_PPROF_MUTEX_FRACTION": "5"})); b != 10000 || m != 5 || err != nil {
		t.Errorf("set: %d %d %v", b, m, err)
	}
	for k, v := range map[string]string{"TRUSTID_PPROF_BLOCK_RATE": "-1", "TRUSTID_PPROF_MUTEX_FRACTION": "five"} {
		if _, _, err := contentionRates(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming it", k, v, err)
		}
	}
}
