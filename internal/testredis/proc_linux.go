package testredis

import (
	"os/exec"
	"syscall"
)

// setPdeathsig asks the kernel to kill the server if the test binary dies
// without running its cleanups (a crash, a timeout panic).
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
