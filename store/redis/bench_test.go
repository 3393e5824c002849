package redisstore_test

import (
	"testing"

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
