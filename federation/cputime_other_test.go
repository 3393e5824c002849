//go:build !unix

package federation_test

import "time"

// cpuTime is not measured off unix; benchmarks then report 0.
func cpuTime() time.Duration { return 0 }
