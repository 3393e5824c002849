//go:build unix

package jsonld

import (
	"syscall"
	"testing"
	"time"
)

// cpuMeter reports the process CPU time (user + system, all threads,
// including the garbage collector) per operation as "cpu-ns/op", steadier
// than wall time on a shared machine.
func cpuMeter(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
