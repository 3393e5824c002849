package testenv

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestRequire runs TestRequireChild in a child test binary with and
// without CI and checks the outcome: a pass when the component is there,
// a skip without CI, a failure with CI.
func TestRequire(t *testing.T) {
	for _, c := range []struct {
		ci, missing string
		fail        bool
		want        string
	}{
		{ci: "", missing: "", want: "--- PASS: TestRequireChild"},
		{ci: "true", missing: "", want: "--- PASS: TestRequireChild"},
		{ci: "", missing: "1", want: "--- SKIP: TestRequireChild"},
		{ci: "true", missing: "1", fail: true, want: "--- FAIL: TestRequireChild"},
	} {
		out, err := RunChild("TestRequireChild", "CI="+c.ci, "TESTENV_MISSING="+c.missing)
		if (err != nil) != c.fail || !strings.Contains(string(out), c.want) {
			t.Errorf("CI=%q missing=%q: exit %v, want %q in:\n%s", c.ci, c.missing, err, c.want, out)
		}
		if c.missing != "" && (!strings.Contains(string(out), "fabric network") || !strings.Contains(string(out), "no profile")) {
			t.Errorf("CI=%q: the reason is not in the output:\n%s", c.ci, out)
		}
		if strings.Contains(string(out), "after Require") == (c.missing != "") {
			t.Errorf("CI=%q missing=%q: the test went on (or stopped) wrongly:\n%s", c.ci, c.missing, out)
		}
	}
}

func TestRequireChild(t *testing.T) {
	if !IsChild() {
		t.Skip("run by TestRequire")
	}
	var err error
	if os.Getenv("TESTENV_MISSING") != "" {
		err = errors.New("no profile")
	}
	Require(t, "fabric network", err)
	t.Log("after Require")
}
