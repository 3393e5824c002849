package main

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testredis"
)

// TestStartRedisHoldsItsPort: the port startRedis runs redis-server on is
// held by the run from before the server binds it until stop: with the
// server gone, a socket asking for the port (as the kernel's pick for a
// bind to port 0 or an outgoing connection does) still cannot have it;
// after stop it can.
func TestStartRedisHoldsItsPort(t *testing.T) {
	_, err := exec.LookPath(testredis.Binary)
	testenv.Require(t, testredis.Binary, err)
	addr, pid, stop, err := startRedis(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	n, _ := strconv.Atoi(pid)
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break // redis-server has closed its listener
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("redis-server still answers 10 s after SIGKILL")
		}
	}
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	if err := bindPlain(port); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("port %d with redis-server gone, before stop: %v, want EADDRINUSE (held)", port, err)
	}
	stop()
	if err := bindPlain(port); err != nil {
		t.Fatalf("port %d after stop: %v, want it released", port, err)
	}
}

// bindPlain binds a socket, without SO_REUSEADDR, to port on loopback and
// closes it.
func bindPlain(port int) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	return syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
}
