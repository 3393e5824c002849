package testredis

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Relay is a TCP relay to a server that a test can make go silent, as a
// network path or a host that stops answering without closing anything:
// no FIN, no RST, the connections stay open and carry nothing. A client
// of the relay sees its writes succeed and no reply ever come.
type Relay struct {
	// Addr is the relay's loopback address, where clients connect.
	Addr string

	ln     net.Listener
	target string

	mu     sync.Mutex
	hung   bool
	closed bool              // close has begun: a connection accepted meanwhile is closed
	frozen map[*relayed]bool // the connections accepted so far, true once silenced
	wg     sync.WaitGroup
}

// relayed is one client connection and its connection to the server.
type relayed struct{ client, server net.Conn }

// StartRelay starts a relay to target (host:port), closed when the test
// ends.
func StartRelay(tb testing.TB, target string) *Relay {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testredis: relay: %v", err)
	}
	r := &Relay{Addr: ln.Addr().String(), ln: ln, target: target, frozen: make(map[*relayed]bool)}
	r.wg.Add(1)
	go r.accept()
	tb.Cleanup(r.close)
	return r
}

// Hang silences every connection open now, for good (they never carry a
// byte again, and are never closed by the relay while the test runs),
// and every connection accepted until Resume: a server gone without a
// word, or hanging.
func (r *Relay) Hang() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hung = true
	for c := range r.frozen {
		r.frozen[c] = true
	}
}

// Conns returns how many connections the relay accepted.
func (r *Relay) Conns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frozen)
}

// Resume relays the connections accepted from now on again; those
// silenced stay silent.
func (r *Relay) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hung = false
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		client, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		server, err := net.Dial("tcp", r.target)
		if err != nil {
			client.Close()
			continue
		}
		c := &relayed{client, server}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		r.frozen[c] = r.hung
		r.mu.Unlock()
		r.wg.Add(2)
		go r.copy(c, server, client)
		go r.copy(c, client, server)
	}
}

// copy relays src to dst until either ends, dropping what it reads once
// c is silenced. A connection that ends while silenced is left open at
// the other end, as a peer gone without a word leaves it.
func (r *Relay) copy(c *relayed, dst, src net.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		r.mu.Lock()
		silent := r.frozen[c]
		r.mu.Unlock()
		if n > 0 && !silent {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if !silent || err != io.EOF {
				dst.Close()
			}
			src.Close()
			return
		}
	}
}

// close stops the relay and closes every connection.
func (r *Relay) close() {
	r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.frozen {
		c.client.Close()
		c.server.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
