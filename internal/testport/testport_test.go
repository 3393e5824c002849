package testport

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
)

// TestReserveHoldsThePort: while reserved, the port cannot be bound by a
// socket that asks for it without SO_REUSEADDR, the check the kernel
// applies when it picks a port for a bind to port 0 (a port merely free
// when asked, released before the server binds it, can); a server
// listens at the address, stops (a dial is then refused) and listens
// there again.
func TestReserveHoldsThePort(t *testing.T) {
	addr := Reserve(t)
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)

	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("another socket binding the reserved port: %v, want EADDRINUSE", err)
	}

	for range 2 {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen at the reserved address: %v", err)
		}
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial the listening server: %v", err)
		}
		c.Close()
		ln.Close()
		if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("dial with the server stopped: %v, want connection refused", err)
		}
	}
}
