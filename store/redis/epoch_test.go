package redisstore_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// TestMarkUsedAfterRestart proves that no replay marker lost by a Redis
// restart lets a nonce through twice: after the restart (empty, or with
// persistence from a snapshot older than the marker) MarkUsed refuses with
// ErrHistoryLost, writing nothing, until the epoch is older than the
// marker's ttl, and then works again. Before the epoch check the old code
// accepted the nonce a second time.
func TestMarkUsedAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"empty", nil},
		// A snapshot taken before the marker: the restart reloads the epoch
		// key but not the marker.
		{"stale snapshot", []string{"--save", "3600 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testredis.StartServer(t, tc.args...)
			c := testredis.Client(t, srv.Addr)
			r := newRedis(t, c, "trustid:310000:")
			ctx := t.Context()
			if tc.args != nil {
				if err := c.Save(ctx).Err(); err != nil {
					t.Fatal(err)
				}
			}
			const ttl = 1500 * time.Millisecond
			if err := r.MarkUsed(ctx, "jti-1", ttl); err != nil {
				t.Fatalf("first use: %v", err)
			}
			if err := r.MarkUsed(ctx, "jti-1", ttl); !errors.Is(err, store.ErrReplayed) {
				t.Fatalf("replay before the restart: %v, want ErrReplayed", err)
			}
			srv.Restart()
			// The replay right after the restart: refused, not accepted.
			err := r.MarkUsed(ctx, "jti-1", ttl)
			if !errors.Is(err, store.ErrHistoryLost) {
				t.Fatalf("replay after the restart: %v, want ErrHistoryLost", err)
			}
			// A restart on an instance's startup does not reopen the window.
			if fresh, err := r.InitEpoch(ctx); err != nil || fresh {
				t.Fatalf("InitEpoch after the restart = %v, %v; want false (an epoch was started)", fresh, err)
			}
			if err := r.MarkUsed(ctx, "jti-1", ttl); !errors.Is(err, store.ErrHistoryLost) {
				t.Fatalf("replay after InitEpoch: %v, want ErrHistoryLost", err)
			}
			// A shorter-lived marker is refused only for its own ttl.
			deadline := time.Now().Add(ttl + 2*time.Second)
			for {
				err = r.MarkUsed(ctx, "jti-2", ttl)
				if err == nil {
					break
				}
				if !errors.Is(err, store.ErrHistoryLost) || time.Now().After(deadline) {
					t.Fatalf("MarkUsed %v after the restart: %v", ttl+2*time.Second, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := r.MarkUsed(ctx, "jti-2", ttl); !errors.Is(err, store.ErrReplayed) {
				t.Fatalf("replay in the new epoch: %v, want ErrReplayed", err)
			}
		})
	}
}

// TestInitEpochOnlyOnce proves InitEpoch declares a new server complete
// once: the first call sets the epoch, later calls change nothing, and a
// marker of any ttl is accepted on a server so initialised.
func TestInitEpochOnlyOnce(t *testing.T) {
	c := testredis.StartClient(t)
	r, err := redisstore.New(c, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := r.MarkUsed(ctx, "n", time.Hour); !errors.Is(err, store.ErrHistoryLost) {
		t.Fatalf("MarkUsed on a server with no epoch: %v, want ErrHistoryLost (it cannot tell a new server from an emptied one)", err)
	}
	c.Del(ctx, redisstore.EpochKey)
	if fresh, err := r.InitEpoch(ctx); err != nil || !fresh {
		t.Fatalf("first InitEpoch = %v, %v; want true", fresh, err)
	}
	if fresh, err := r.InitEpoch(ctx); err != nil || fresh {
		t.Fatalf("second InitEpoch = %v, %v; want false", fresh, err)
	}
	if err := r.MarkUsed(ctx, "n", time.Hour); err != nil {
		t.Fatalf("MarkUsed after InitEpoch: %v", err)
	}
}

// TestCheckKeySecret: nodes sharing a prefix with one key secret pass;
// one with another secret is refused (its stored keys would match none
// of theirs); another prefix has its own check; the stored check value is
// not the secret.
func TestCheckKeySecret(t *testing.T) {
	c := testredis.StartClient(t)
	ctx := t.Context()
	open := func(prefix string, secret []byte) *redisstore.Store {
		r, err := redisstore.New(c, redisstore.Options{Prefix: prefix, KeySecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := bytes.Repeat([]byte{0xa1}, 32)
	b := bytes.Repeat([]byte{0xb2}, 32)
	for i := range 2 {
		if err := open("trustid:310000:", a).CheckKeySecret(ctx); err != nil {
			t.Fatalf("node %d, same secret: %v", i+1, err)
		}
	}
	if err := open("trustid:310000:", b).CheckKeySecret(ctx); !errors.Is(err, redisstore.ErrKeySecret) {
		t.Errorf("another secret on the same prefix: %v, want ErrKeySecret", err)
	}
	if err := open("trustid:320000:", b).CheckKeySecret(ctx); err != nil {
		t.Errorf("another secret on another prefix: %v", err)
	}
	v, err := c.Get(ctx, "trustid:310000:"+redisstore.KeyCheckKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(v, a) || bytes.Contains(v, []byte(hex.EncodeToString(a))) || bytes.Contains(v, []byte(base64.RawURLEncoding.EncodeToString(a))) {
		t.Errorf("the check value %q holds the secret", v)
	}
	if ttl := c.TTL(ctx, "trustid:310000:"+redisstore.KeyCheckKey).Val(); ttl != -1 {
		t.Errorf("check value TTL %v, want none", ttl)
	}
	// Deleted (a flush): the next node records its own again.
	c.FlushAll(ctx)
	if err := open("trustid:310000:", b).CheckKeySecret(ctx); err != nil {
		t.Errorf("after a flush: %v", err)
	}
}
