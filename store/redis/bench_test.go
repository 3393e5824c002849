package redisstore_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/internal/testredis"
	redisstore "github.com/trustid-cn/trustid/store/redis"
	"github.com/trustid-cn/trustid/store/storetest"
)

func BenchmarkRedisConsume(b *testing.B) {
	r, err := redisstore.New(testredis.StartClient(b), redisstore.Options{Prefix: "trustid:310000:"})
	if err != nil {
		b.Fatal(err)
	}
	storetest.BenchConsume(b, r)
}

func BenchmarkRedisAllow(b *testing.B) {
	r, err := redisstore.New(testredis.StartClient(b), redisstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	storetest.BenchAllow(b, r)
}

// BenchmarkRedisMarkUsed marks distinct nonces on one server and on a
// 3-master Cluster (where the marker key carries its epoch bucket's tag).
func BenchmarkRedisMarkUsed(b *testing.B) {
	nodes := testredis.StartCluster(b, 3)
	seeds := make([]string, len(nodes))
	for i, n := range nodes {
		seeds[i] = n.Addr
	}
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: seeds})
	b.Cleanup(func() { cluster.Close() })
	for _, tc := range []struct {
		name string
		c    redis.UniversalClient
	}{{"server", testredis.StartClient(b)}, {"cluster", cluster}} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := redisstore.New(tc.c, redisstore.Options{Prefix: "trustid:310000:", KeySecret: []byte("secret")})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.InitEpoch(b.Context()); err != nil {
				b.Fatal(err)
			}
			var buf []byte
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				buf = strconv.AppendInt(append(buf[:0], "jti-"...), int64(i), 10)
				if err := r.MarkUsed(b.Context(), string(buf), time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
