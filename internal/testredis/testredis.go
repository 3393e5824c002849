// Package testredis starts a throwaway redis-server for tests: Debian's
// redis-server binary on a loopback port reserved for the test
// (testport.Reserve: no other process takes it before the server binds
// it or between restarts), in a temporary directory, with persistence
// off, stopped when the test ends. Nothing depends on a system-wide Redis.
//
// A missing redis-server is reported with testenv.Require: the test fails
// when the environment variable CI is set, and is skipped (saying how to
// install it; scripts/test.sh does) otherwise. Start costs a few
// milliseconds, so start one server per top-level test and separate
// subtests with key prefixes (or FLUSHALL between them). StartCluster
// starts a Redis Cluster of such servers. StartRelay puts a TCP relay
// before a server that the test can make go silent (Relay.Hang), as a
// peer gone without closing its connections.
package testredis

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testport"
)

// Binary is the name of the server executable looked up on PATH.
const Binary = "redis-server"

// startTimeout bounds how long Start waits for the server to answer PING.
const startTimeout = 10 * time.Second

// Start starts a redis-server for the calling test and returns its address
// ("127.0.0.1:PORT"). The server is killed and its directory removed by
// tb.Cleanup. When redis-server is not on PATH, testenv.Require fails the
// test under CI and skips it elsewhere.
//
// The server has one database; args are appended to its command line and
// override that (args "--databases", "16" for a test that needs more).
func Start(tb testing.TB, args ...string) string {
	tb.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		err = fmt.Errorf("%w: run scripts/test.sh (it installs Debian's redis-server) or apt-get install redis-server", err)
	}
	testenv.Require(tb, Binary, err)
	addr, _, err := startOn(tb, bin, reservePort(tb), tb.TempDir(), args)
	if err != nil {
		tb.Fatalf("testredis: %v", err)
	}
	return addr
}

// Client returns a go-redis client for addr, closed by tb.Cleanup.
func Client(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// StartClient starts a server with Start and returns a client for it.
func StartClient(tb testing.TB) *redis.Client {
	tb.Helper()
	return Client(tb, Start(tb))
}

// startOn launches one server on port with its files in dir and returns
// its address and a function that kills it (also run by tb.Cleanup); it
// returns an error (and cleans up) if the server exits or does not answer
// in time.
func startOn(tb testing.TB, bin string, port int, dir string, args []string) (string, func(), error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
		"--databases", "1",
	}, args...)...)
	cmd.Dir = dir
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
	}

	deadline := time.Now().Add(startTimeout)
	for {
		if err := ping(addr); err == nil {
			break
		} else if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server on %s did not answer PING within %v: %v\n%s", addr, startTimeout, err, out.String())
		}
		select {
		case err := <-exited:
			exited <- err // let stop() see it
			return "", nil, fmt.Errorf("redis-server on %s exited early (%v):\n%s", addr, err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	tb.Cleanup(stop)
	return addr, stop, nil
}

// Server is a redis-server a test can kill and start again on the same
// address, as an operator's restart would.
type Server struct {
	// Addr is "127.0.0.1:PORT", the same across restarts.
	Addr string
	tb   testing.TB
	bin  string
	port int
	dir  string
	args []string
	stop func()
	// cluster: the server is a node of a StartCluster; Restart waits
	// until it reports cluster_state:ok again.
	cluster bool
}

// StartServer is Start for a server the test restarts. Its files (an RDB
// or AOF when args turn persistence on) stay in one directory across
// restarts.
func StartServer(tb testing.TB, args ...string) *Server {
	tb.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		err = fmt.Errorf("%w: run scripts/test.sh (it installs Debian's redis-server) or apt-get install redis-server", err)
	}
	testenv.Require(tb, Binary, err)
	s := &Server{tb: tb, bin: bin, port: reservePort(tb), dir: tb.TempDir(), args: args}
	if s.Addr, s.stop, err = startOn(tb, bin, s.port, s.dir, args); err != nil {
		tb.Fatalf("testredis: %v", err)
	}
	return s
}

// Kill kills the server (SIGKILL: nothing is saved on the way down).
func (s *Server) Kill() { s.stop() }

// Restart kills the server and starts it again on the same port and
// directory; it fails the test if the server does not come back.
func (s *Server) Restart() {
	s.tb.Helper()
	s.stop()
	var err error
	if _, s.stop, err = startOn(s.tb, s.bin, s.port, s.dir, s.args); err != nil {
		s.tb.Fatalf("testredis: restart: %v", err)
	}
	if s.cluster {
		if err := waitClusterOK(s.Addr); err != nil {
			s.tb.Fatalf("testredis: restart: %v", err)
		}
	}
}

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// StartCluster starts a Redis Cluster of masters nodes, no replicas, for
// the calling test: each node a StartServer in cluster mode (its
// nodes.conf in its directory, so a Restart keeps its identity and slots
// and loses only its data) with its cluster bus on a reserved port of its
// own (--cluster-port; by default the bus takes PORT+10000, which nothing
// reserves), the 16384 slots split into masters ranges in order (CLUSTER
// ADDSLOTSRANGE), the nodes joined (CLUSTER MEET, naming the bus port).
// It returns when every node reports cluster_state:ok; the nodes' Addr
// are the Cluster's seed addresses.
func StartCluster(tb testing.TB, masters int) []*Server {
	tb.Helper()
	if masters < 1 || masters > 64 {
		tb.Fatalf("testredis: StartCluster(%d): want 1 to 64 masters", masters)
	}
	nodes, buses := make([]*Server, masters), make([]string, masters)
	for i := range nodes {
		buses[i] = strconv.Itoa(reservePort(tb))
		nodes[i] = StartServer(tb, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", buses[i])
		nodes[i].cluster = true
	}
	ctx := context.Background()
	first := Client(tb, nodes[0].Addr)
	for i, n := range nodes {
		c := Client(tb, n.Addr)
		lo, hi := i*clusterSlots/masters, (i+1)*clusterSlots/masters-1
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			tb.Fatalf("testredis: CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, n.Addr, err)
		}
		if i > 0 {
			host, port, _ := net.SplitHostPort(n.Addr)
			if err := first.Do(ctx, "CLUSTER", "MEET", host, port, buses[i]).Err(); err != nil {
				tb.Fatalf("testredis: CLUSTER MEET %s: %v", n.Addr, err)
			}
		}
	}
	for _, n := range nodes {
		if err := waitClusterOK(n.Addr); err != nil {
			tb.Fatalf("testredis: %v", err)
		}
	}
	return nodes
}

// waitClusterOK waits until the node at addr reports cluster_state:ok.
func waitClusterOK(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	var info string
	for deadline := time.Now().Add(clusterTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if info, err = c.ClusterInfo(context.Background()).Result(); err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
	}
	return fmt.Errorf("cluster node %s not ok within %v:\n%s", addr, clusterTimeout, info)
}

// clusterTimeout bounds how long a Cluster takes to agree it is ok.
const clusterTimeout = 30 * time.Second

// reservePort reserves a loopback TCP port for the test (testport.Reserve).
func reservePort(tb testing.TB) int {
	_, port, _ := net.SplitHostPort(testport.Reserve(tb))
	n, _ := strconv.Atoi(port)
	return n
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return errors.New("unexpected reply " + strconv.Quote(line))
	}
	return nil
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil // keep the first 64 KiB only
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
