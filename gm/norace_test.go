//go:build !race

package gm

const raceEnabled = false
