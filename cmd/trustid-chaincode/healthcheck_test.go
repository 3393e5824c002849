package main

import (
	"net"
	"testing"

	"github.com/trustid-cn/trustid/internal/testport"
)

// TestHealthcheck: the healthcheck passes while the server's port accepts
// (0.0.0.0 and an empty host mean loopback), and fails once it is closed
// or when the address is not host:port.
func TestHealthcheck(t *testing.T) {
	// The port stays reserved once closed, so nothing else listens there.
	l, err := net.Listen("tcp", testport.Reserve(t))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	for _, addr := range []string{"127.0.0.1:" + port, "0.0.0.0:" + port, ":" + port} {
		if err := healthcheck(addr); err != nil {
			t.Errorf("healthcheck(%q) with the port open: %v", addr, err)
		}
	}
	l.Close()
	if err := healthcheck("0.0.0.0:" + port); err == nil {
		t.Error("healthcheck passed with the port closed")
	}
	if err := healthcheck("9999"); err == nil {
		t.Error("healthcheck passed with an address that is not host:port")
	}
}
