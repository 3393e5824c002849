//go:build unix

package federation_test

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time so far (user + system, all threads):
// a benchmark's CPU per operation is less disturbed than its wall time by
// other processes sharing the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
