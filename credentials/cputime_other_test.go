//go:build !unix

package credentials_test

import (
	"testing"
)

func cpuMeter(*testing.B) func() { return func() {} }
