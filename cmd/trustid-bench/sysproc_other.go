//go:build !linux

package main

import (
	"os/exec"
	"time"
)

// dieWithParent has no portable equivalent; the run stops the node itself.
func dieWithParent(*exec.Cmd) {}

// threadCPU is not available: the floor falls back to wall time.
func threadCPU() (time.Duration, bool) { return 0, false }
