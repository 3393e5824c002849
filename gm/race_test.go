//go:build race

package gm

// raceEnabled: the race detector adds allocations (sync.Pool drops what
// is put back), so allocation counts are not checked under it.
const raceEnabled = true
