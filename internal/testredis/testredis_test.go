package testredis_test

import (
	"net"
	"testing"

	"github.com/trustid-cn/trustid/internal/testredis"
)

func TestStartAndStop(t *testing.T) {
	var addr string
	t.Run("server", func(t *testing.T) {
		c := testredis.StartClient(t)
		addr = c.Options().Addr
		if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		got, err := c.Get(t.Context(), "k").Result()
		if err != nil || got != "v" {
			t.Fatalf("GET = %q, %v; want %q", got, err, "v")
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("address %q is not on 127.0.0.1", addr)
		}
	})
	// The subtest's cleanup stopped the server.
	if addr == "" {
		return // skipped
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("server on %s still accepts connections after cleanup", addr)
	}
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := testredis.StartClient(t), testredis.StartClient(t)
	if a.Options().Addr == b.Options().Addr {
		t.Fatalf("both servers on %s", a.Options().Addr)
	}
	if err := a.Set(t.Context(), "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Exists(t.Context(), "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS on the other server = %d, %v; want 0", n, err)
	}
}
