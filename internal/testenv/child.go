package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// childVar is set, to the name of the test the child runs, in the
// environment of every child process RunChild and KillChild start.
const childVar = "TESTENV_CHILD"

// IsChild reports whether this test binary is a child process started by
// RunChild or KillChild. A test that starts children skips itself in one,
// so a child never starts children of its own.
func IsChild() bool { return os.Getenv(childVar) != "" }

// childCommand runs test (a test of this test binary) verbosely in a child
// process, with env added to this process's environment.
func childCommand(test string, env []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(append(os.Environ(), childVar+"="+test), env...)
	return cmd
}

// RunChild runs test in a child process of this test binary with env added
// to the environment, waits for it to end, and returns its combined output
// and exit error.
func RunChild(test string, env ...string) ([]byte, error) {
	return childCommand(test, env).CombinedOutput()
}

// KillChild runs test in a child process of this test binary with env
// added to the environment. It hands ack the rest of each line the child
// prints to standard output after "acked ", until ack returns false or the
// output ends, then kills the child with SIGKILL and waits for it. The
// child's standard error goes to this process's.
func KillChild(t testing.TB, test string, env []string, ack func(string) bool) {
	t.Helper()
	cmd := childCommand(test, env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Signal(syscall.SIGKILL)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "acked "); ok && !ack(v) {
			return
		}
	}
}
