//go:build unix

package testenv

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime is the process's CPU time so far (user + system, all threads,
// the garbage collector included): a benchmark's CPU per operation is
// less disturbed than its wall time by other processes on the machine.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPUMeter starts measuring; the function it returns reports the CPU time
// per operation since then as "cpu-ns/op".
func CPUMeter(b *testing.B) func() {
	start := CPUTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(CPUTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
