//go:build !unix

package dataintegrity_test

import "testing"

func cpuMeter(*testing.B) func() { return func() {} }
