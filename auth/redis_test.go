package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testredis"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// TestReplayAndRevocationAcrossNodesOnRedis: two nodes of one region share
// a real Redis. An assertion used at one is refused at the other, of many
// concurrent presentations exactly one wins, and a token revoked at one is
// refused at the other.
func TestReplayAndRevocationAcrossNodesOnRedis(t *testing.T) {
	client := testredis.StartClient(t)
	rs, err := redisstore.New(client, redisstore.Options{Prefix: "trustid:310000:"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.InitEpoch(t.Context()); err != nil { // a new server: its replay history is complete
		t.Fatal(err)
	}
	e := newEnv(t)
	ctx := context.Background()
	// Redis expires keys by its own clock: run this test on real time.
	e.clock.Set(time.Now())
	nodeA, nodeB := e.service(rs), e.service(rs, func(c *Config) { c.RevocationRecheck = -1 })
	c := e.register("svc-a", gm.AlgSM2)

	a := e.assertion(c, nil)
	if _, err := nodeA.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodeB.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: a}); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("replay at the other node: %v", err)
	}

	race := e.assertion(c, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := nodeA
			if i%2 == 1 {
				svc = nodeB
			}
			if _, err := svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: race}); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of 16 concurrent presentations of one assertion accepted, want 1", wins)
	}

	cl, _ := nodeA.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: e.assertion(c, nil)})
	resp, err := nodeA.Token(ctx, cl, TokenRequest{GrantType: GrantClientCredentials})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodeB.Authorize(ctx, resp.AccessToken, ScopeQRRedeem); err != nil {
		t.Fatal(err)
	}
	if err := nodeA.Revoke(ctx, cl, resp.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := nodeB.Authorize(ctx, resp.AccessToken, ScopeQRRedeem); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("revoked at A, accepted at B: %v", err)
	}
	// A failing store is a 503, never a silent accept.
	client.Close()
	if _, err := nodeB.Authorize(ctx, resp.AccessToken, ScopeQRRedeem); !errors.Is(err, ErrUnavailable) {
		t.Errorf("store down: %v", err)
	}
}
