//go:build !unix

package testenv

import (
	"testing"
	"time"
)

// CPUTime is not measured here: always 0.
func CPUTime() time.Duration { return 0 }

// CPUMeter reports nothing here.
func CPUMeter(*testing.B) func() { return func() {} }
