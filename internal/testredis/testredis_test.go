package testredis_test

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

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

// TestMissingServer runs Start in a child test process whose PATH has no
// redis-server: without CI the child test is skipped, saying why; with CI
// set it fails.
func TestMissingServer(t *testing.T) {
	if os.Getenv("TESTREDIS_CHILD") != "" {
		testredis.Start(t)
		t.Fatal("Start returned without redis-server on PATH")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range []string{"", "1"} {
		cmd := exec.Command(exe, "-test.run=^TestMissingServer$", "-test.count=1", "-test.v")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "PATH=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "TESTREDIS_CHILD=1", "PATH="+t.TempDir(), "CI="+ci)
		out, err := cmd.CombinedOutput()
		failed := err != nil
		switch {
		case ci == "" && (failed || !strings.Contains(string(out), "--- SKIP") || !strings.Contains(string(out), "redis-server is not available")):
			t.Errorf("without CI: want a skip naming redis-server, got %v:\n%s", err, out)
		case ci == "1" && (!failed || !strings.Contains(string(out), "--- FAIL") || !strings.Contains(string(out), "redis-server is required")):
			t.Errorf("with CI: want a failure naming redis-server, got %v:\n%s", err, out)
		}
	}
}

// TestCluster: a Cluster from StartCluster spreads keys over every master
// (a ClusterClient follows MOVED), and a node restarted keeps its slots
// and loses its data.
func TestCluster(t *testing.T) {
	nodes := testredis.StartCluster(t, 3)
	seeds := make([]string, len(nodes))
	for i, n := range nodes {
		seeds[i] = n.Addr
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: seeds})
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	for i := range 100 {
		if err := c.Set(ctx, "k"+strconv.Itoa(i), "v", 0).Err(); err != nil {
			t.Fatalf("SET through the cluster: %v", err)
		}
	}
	sizes := make([]int64, len(nodes))
	for i, n := range nodes {
		var err error
		if sizes[i], err = testredis.Client(t, n.Addr).DBSize(ctx).Result(); err != nil {
			t.Fatal(err)
		}
	}
	if sizes[0] == 0 || sizes[1] == 0 || sizes[2] == 0 || sizes[0]+sizes[1]+sizes[2] != 100 {
		t.Fatalf("keys per node %v, want 100 spread over all three", sizes)
	}
	nodes[1].Restart()
	if n, err := testredis.Client(t, nodes[1].Addr).DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("restarted node holds %d keys (%v), want 0", n, err)
	}
	for i := range 100 {
		if err := c.Set(ctx, "k"+strconv.Itoa(i), "v", 0).Err(); err != nil {
			t.Fatalf("SET after the restart: %v", err)
		}
	}
	if n, err := testredis.Client(t, nodes[1].Addr).DBSize(ctx).Result(); err != nil || n != sizes[1] {
		t.Fatalf("restarted node holds %d keys (%v), want its %d again", n, err, sizes[1])
	}
}
