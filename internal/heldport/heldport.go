// Package heldport holds loopback TCP ports that no other socket can
// take, for a server started (and restarted) at an address that must be
// known beforehand: an issuer URL naming the node's own port, a load
// balancer's front, a peer's address, a redis-server (which cannot bind
// port 0 and report the port). Tests take one through testport.Reserve;
// the load tool (cmd/trustid-bench) calls Hold itself. The package
// imports no testing, so a binary using it does not link the testing
// package.
//
// Asking the kernel for a free port with a listener and closing it
// before the server binds leaves a window in which another process (a
// parallel test package binding port 0, an outgoing connection's
// ephemeral port) takes the port; the same window opens at every
// restart. Instead, Hold keeps a socket bound to the port, with
// SO_REUSEADDR, that never listens. On Linux the kernel then hands the
// port to no bind to port 0 and to no connect (both skip a port in
// use), while a server that binds the address itself with SO_REUSEADDR
// (Go's net.Listen, redis-server and HAProxy set it) may, since the
// holding socket does not listen. Nothing listening on the port, a
// connection to it is refused, as to any closed port.
package heldport

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
)

// Hold returns "127.0.0.1:PORT" with PORT held (see the package comment)
// until release is called. A server can listen there, stop and listen
// there again.
func Hold() (addr string, release func(), err error) {
	// The socket is made close-on-exec under the fork lock, as the net
	// package makes its own, so a child process started meanwhile does
	// not inherit it.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return "", nil, fmt.Errorf("socket: %w", err)
	}
	var sa syscall.Sockaddr
	if err = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		err = fmt.Errorf("SO_REUSEADDR: %w", err)
	} else if err = syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		err = fmt.Errorf("bind: %w", err)
	} else if sa, err = syscall.Getsockname(fd); err != nil {
		err = fmt.Errorf("getsockname: %w", err)
	}
	if err != nil {
		syscall.Close(fd)
		return "", nil, err
	}
	var once sync.Once
	release = func() { once.Do(func() { syscall.Close(fd) }) }
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)), release, nil
}
