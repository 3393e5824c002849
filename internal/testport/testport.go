// Package testport hands tests loopback TCP ports that no other socket
// can take while the test runs, for a server the test starts (and
// restarts) at an address it must know beforehand: Reserve is
// heldport.Hold (see there why a port merely free when asked does not
// do) released when the test ends.
package testport

import (
	"testing"

	"github.com/trustid-cn/trustid/internal/heldport"
)

// Reserve returns "127.0.0.1:PORT" with PORT held for the test until it
// ends (heldport.Hold). A server can listen there, stop and listen
// there again.
func Reserve(t testing.TB) string {
	t.Helper()
	addr, release, err := heldport.Hold()
	if err != nil {
		t.Fatalf("testport: %v", err)
	}
	t.Cleanup(release)
	return addr
}
