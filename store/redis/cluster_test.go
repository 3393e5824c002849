package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
	"github.com/trustid-cn/trustid/store/storetest"
)

// startCluster starts a 3-master Redis Cluster and returns its nodes and
// a ClusterClient seeded with every node.
func startCluster(t *testing.T) ([]*testredis.Server, *redis.ClusterClient) {
	t.Helper()
	nodes := testredis.StartCluster(t, 3)
	seeds := make([]string, len(nodes))
	for i, n := range nodes {
		seeds[i] = n.Addr
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: seeds})
	t.Cleanup(func() { c.Close() })
	return nodes, c
}

// nodeKeys returns the keys matching pattern on each node.
func nodeKeys(t *testing.T, nodes []*testredis.Server, pattern string) [][]string {
	t.Helper()
	keys := make([][]string, len(nodes))
	for i, n := range nodes {
		var err error
		if keys[i], err = testredis.Client(t, n.Addr).Keys(t.Context(), pattern).Result(); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestRedisClusterConformance runs the store suite on a 3-master Redis
// Cluster through a ClusterClient. Before the per-bucket replay epoch,
// MarkUsed refused every marker on a Cluster up for less than the
// marker's ttl (a minute in the suite).
func TestRedisClusterConformance(t *testing.T) {
	t.Parallel()
	nodes, c := startCluster(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		return newRedis(t, c, fmt.Sprintf("trustid:test%d:", n.Add(1)))
	})
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		return instances(t, c, fmt.Sprintf("trustid:test%d:", n.Add(1)))
	})
	// Markers go to every master.
	ctx := t.Context()
	r := newRedis(t, c, "trustid:spread:")
	for i := range 100 {
		if err := r.MarkUsed(ctx, fmt.Sprintf("jti-%d", i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for i, keys := range nodeKeys(t, nodes, "trustid:spread:nonce:*") {
		if len(keys) == 0 {
			t.Errorf("node %d holds none of 100 markers: markers do not spread over the Cluster", i)
		}
	}
	// Every key the suite left has a TTL but the epochs.
	for _, keys := range nodeKeys(t, nodes, "*") {
		for _, k := range keys {
			if strings.HasPrefix(k, redisstore.EpochKey+":{epoch-") {
				continue
			}
			if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl == -1 {
				t.Errorf("key %q: PTTL %v, %v; want an expiry", k, ttl, err)
			}
			if !strings.HasPrefix(k, "trustid:") {
				t.Errorf("key %q outside the configured prefixes", k)
			}
		}
	}
}

// TestRedisClusterKeys: on a Cluster a marker's key is its digest (keyed
// with the store's secret) followed by the hash tag of the bucket named by
// the digest's first character, and the only keys outside the prefix are
// the 64 buckets' epochs: no caller data in any key.
func TestRedisClusterKeys(t *testing.T) {
	nodes, c := startCluster(t)
	const prefix = "trustid:310000:"
	secret := []byte("store key secret")
	r, err := redisstore.New(c, redisstore.Options{Prefix: prefix, KeySecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if fresh, err := r.InitEpoch(ctx); err != nil || !fresh {
		t.Fatalf("InitEpoch on a new Cluster = %v, %v; want true", fresh, err)
	}
	keyer, err := store.NewKeyer(prefix, secret)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := range 200 {
		jti := fmt.Sprintf("client-assertion-jti-%d", i)
		if err := r.MarkUsed(ctx, jti, time.Hour); err != nil {
			t.Fatalf("MarkUsed %s right after InitEpoch: %v", jti, err)
		}
		sk := keyer.Key(store.NamespaceNonce, jti)
		digest := sk[len(prefix+store.NamespaceNonce+":"):]
		want[sk+"{epoch-"+digest[:1]+"}"] = true
	}
	epochs := 0
	for _, keys := range nodeKeys(t, nodes, "*") {
		for _, k := range keys {
			switch {
			case want[k]:
				delete(want, k)
			case strings.HasPrefix(k, redisstore.EpochKey+":{epoch-") && len(k) == len(redisstore.EpochKey+":{epoch-A}"):
				epochs++
			default:
				t.Errorf("unexpected key %q", k)
			}
		}
	}
	if len(want) != 0 || epochs != 64 {
		t.Errorf("%d markers missing, %d epoch keys (want 64)", len(want), epochs)
	}
}

// TestMarkUsedAfterClusterNodeRestart is TestMarkUsedAfterRestart on a
// Cluster: a node restarted empty lost its markers, so its buckets refuse
// markers for their ttl (InitEpoch at an instance's start does not reopen
// them), while the other nodes' buckets carry on.
func TestMarkUsedAfterClusterNodeRestart(t *testing.T) {
	nodes, c := startCluster(t)
	r := newRedis(t, c, "trustid:310000:")
	ctx := t.Context()
	const ttl = 1500 * time.Millisecond
	if err := r.MarkUsed(ctx, "jti-1", ttl); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := r.MarkUsed(ctx, "jti-1", ttl); !errors.Is(err, store.ErrReplayed) {
		t.Fatalf("replay before the restart: %v, want ErrReplayed", err)
	}
	holder := -1
	for i, keys := range nodeKeys(t, nodes, "trustid:310000:nonce:*") {
		if len(keys) == 1 {
			holder = i
		}
	}
	if holder < 0 {
		t.Fatal("no node holds the marker")
	}
	nodes[holder].Restart()
	if err := r.MarkUsed(ctx, "jti-1", ttl); !errors.Is(err, store.ErrHistoryLost) {
		t.Fatalf("replay after the restart: %v, want ErrHistoryLost", err)
	}
	if fresh, err := r.InitEpoch(ctx); err != nil || fresh {
		t.Fatalf("InitEpoch after the restart = %v, %v; want false", fresh, err)
	}
	if err := r.MarkUsed(ctx, "jti-1", ttl); !errors.Is(err, store.ErrHistoryLost) {
		t.Fatalf("replay after InitEpoch: %v, want ErrHistoryLost", err)
	}
	// Markers of the restarted node's buckets are refused, the others'
	// accepted.
	refused := 0
	for i := range 100 {
		err := r.MarkUsed(ctx, fmt.Sprintf("other-%d", i), time.Hour)
		switch {
		case errors.Is(err, store.ErrHistoryLost):
			refused++
		case err != nil:
			t.Fatal(err)
		}
	}
	placed := nodeKeys(t, nodes, "trustid:310000:nonce:*")
	if refused == 0 || refused == 100 || len(placed[holder]) != 0 {
		t.Fatalf("%d of 100 markers refused, %d written on the restarted node; want only that node's refused", refused, len(placed[holder]))
	}
	deadline := time.Now().Add(ttl + 2*time.Second)
	for {
		err := r.MarkUsed(ctx, "jti-1", ttl)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrHistoryLost) || time.Now().After(deadline) {
			t.Fatalf("MarkUsed %v after the restart: %v", ttl+2*time.Second, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := r.MarkUsed(ctx, "jti-1", ttl); !errors.Is(err, store.ErrReplayed) {
		t.Fatalf("replay in the new epoch: %v, want ErrReplayed", err)
	}
}

// TestInitEpochOnCluster: a new Cluster (no bucket has an epoch) is
// declared complete by InitEpoch once; a Cluster one of whose nodes was
// flushed is not, and that node's buckets refuse long-lived markers.
func TestInitEpochOnCluster(t *testing.T) {
	nodes, c := startCluster(t)
	r, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := r.MarkUsed(ctx, "n", time.Hour); !errors.Is(err, store.ErrHistoryLost) {
		t.Fatalf("MarkUsed on a Cluster with no epoch: %v, want ErrHistoryLost", err)
	}
	flushAll := func(nodes ...*testredis.Server) {
		for _, n := range nodes {
			if err := testredis.Client(t, n.Addr).FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	flushAll(nodes...)
	if fresh, err := r.InitEpoch(ctx); err != nil || !fresh {
		t.Fatalf("first InitEpoch = %v, %v; want true", fresh, err)
	}
	if fresh, err := r.InitEpoch(ctx); err != nil || fresh {
		t.Fatalf("second InitEpoch = %v, %v; want false", fresh, err)
	}
	for i := range 100 {
		if err := r.MarkUsed(ctx, fmt.Sprintf("n-%d", i), time.Hour); err != nil {
			t.Fatalf("MarkUsed after InitEpoch: %v", err)
		}
	}
	flushAll(nodes[0])
	if fresh, err := r.InitEpoch(ctx); err != nil || fresh {
		t.Fatalf("InitEpoch after a node was flushed = %v, %v; want false", fresh, err)
	}
	refused := 0
	for i := range 100 {
		err := r.MarkUsed(ctx, fmt.Sprintf("n-%d", i), time.Hour)
		switch {
		case errors.Is(err, store.ErrHistoryLost):
			refused++
		case !errors.Is(err, store.ErrReplayed):
			t.Fatalf("MarkUsed after a node was flushed: %v", err)
		}
	}
	if refused == 0 || refused == 100 {
		t.Fatalf("%d of 100 markers refused after one node of 3 was flushed", refused)
	}
}

// TestMarkUsedAfterClusterFailover: when a replica takes over a master's
// slots, the buckets it now owns start a new epoch (its run ID differs
// from the one their epochs name), so markers are refused for their ttl
// even though this replica had every write: a promoted replica cannot
// tell which writes it lacks.
func TestMarkUsedAfterClusterFailover(t *testing.T) {
	nodes, c := startCluster(t)
	r := newRedis(t, c, "trustid:310000:")
	ctx := t.Context()
	if err := r.MarkUsed(ctx, "jti-1", time.Hour); err != nil {
		t.Fatalf("first use: %v", err)
	}
	var master *redis.Client
	var marker string
	for i, keys := range nodeKeys(t, nodes, "trustid:310000:nonce:*") {
		if len(keys) == 1 {
			master, marker = testredis.Client(t, nodes[i].Addr), keys[0]
		}
	}
	if master == nil {
		t.Fatal("no node holds the marker")
	}
	id, err := master.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	replica := testredis.StartServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	rc := testredis.Client(t, replica.Addr)
	host, port, _ := net.SplitHostPort(replica.Addr)
	if err := master.ClusterMeet(ctx, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	// REPLICATE fails until the replica has learnt of the master.
	waitUntil(t, "the replica knows the master", func() bool { return rc.ClusterReplicate(ctx, id).Err() == nil })
	waitUntil(t, "the replica follows the master", func() bool {
		info, _ := rc.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	if n, err := master.Wait(ctx, 1, 10*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT for the replica: %d, %v", n, err)
	}
	if err := rc.ClusterFailover(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the replica is master", func() bool {
		info, _ := rc.Info(ctx, "replication").Result()
		return strings.Contains(info, "role:master")
	})
	if n, err := rc.Exists(ctx, marker).Result(); err != nil || n != 1 {
		t.Fatalf("marker on the promoted replica: %d, %v; want it replicated", n, err)
	}
	if err := r.MarkUsed(ctx, "jti-1", time.Hour); !errors.Is(err, store.ErrHistoryLost) {
		t.Fatalf("replay after the failover: %v, want ErrHistoryLost", err)
	}
}

// waitUntil polls ok for up to 30 s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// TestPingClusterNodeDown: /readyz's store check on a Redis Cluster fails
// while any master does not answer (the keys of its slots cannot be
// served), on every call, and passes again once it is back. Before, PING
// went to one master picked at random: the check passed two times in
// three with a master of three down.
func TestPingClusterNodeDown(t *testing.T) {
	nodes, c := startCluster(t)
	r := newRedis(t, c, "trustid:ping:")
	if err := r.Ping(t.Context()); err != nil {
		t.Fatalf("Ping with every node up: %v", err)
	}
	nodes[1].Kill()
	for i := range 12 {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := r.Ping(ctx)
		cancel()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Ping %d with a master down: %v, want ErrUnavailable", i+1, err)
		}
	}
	nodes[1].Restart()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := r.Ping(t.Context())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping 10 s after the master came back: %v", err)
		}
	}
}
