package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/testredis"
)

// TestServeOnRedisCluster (review h16-deploy M2): `trustid serve
// --redis-cluster` with --redis-url naming three seed nodes uses the
// 3-master Cluster: token requests from many addresses, whose rate-limit
// keys spread over every node, never answer 503 (a single-node client
// answered 503 for those of the other nodes' slots, MOVED); a per-address
// limit holds across it; and a client assertion is accepted right after
// start (the new Cluster's replay epoch; before, a Cluster refused every
// marker while its nodes had been up for less than the marker's window)
// and refused when replayed.
func TestServeOnRedisCluster(t *testing.T) {
	nodes := testredis.StartCluster(t, 3)
	redisURL := "redis://" + nodes[0].Addr + "?addr=" + nodes[1].Addr + "&addr=" + nodes[2].Addr
	n := startAuthNode(t, "--redis-url", redisURL, "--redis-cluster", "--token-rate-addr", "2/1h")
	if !strings.Contains(n.logs.String(), "redis: replay epoch started") {
		t.Errorf("no log of the new Cluster's replay epoch:\n%s", n.logs.String())
	}
	post := func(src string, form url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", n.base+auth.TokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := clientFrom(src).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	anonymous := url.Values{"grant_type": {auth.GrantClientCredentials}}
	for i := range 20 {
		if code, m := post("127.0.0."+strconv.Itoa(10+i), anonymous); code != http.StatusUnauthorized {
			t.Errorf("token request from address %d: %d %v, want 401", i, code, m)
		}
	}
	for i, want := range []int{401, 401, 429} {
		if code, m := post("127.0.0.50", anonymous); code != want {
			t.Errorf("request %d from one address (limit 2/1h): %d %v, want %d", i+1, code, m, want)
		}
	}

	key := n.addClient("rp-a", "SM2", auth.ScopeQRRedeem)
	form := func(assertion string) url.Values {
		return url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeQRRedeem},
			"client_assertion_type": {auth.AssertionType}, "client_assertion": {assertion}}
	}
	// The node reloads its clients shortly after `clients add`: until it
	// knows rp-a, the answer is 401 invalid_client.
	var assertion string
	deadline := time.Now().Add(10 * time.Second)
	for {
		assertion = n.assertion("rp-a", key)
		code, m := post("127.0.0.60", form(assertion))
		if code == http.StatusOK {
			break
		}
		if code != http.StatusUnauthorized || time.Now().After(deadline) {
			t.Fatalf("token with a client assertion right after start: %d %v", code, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, m := post("127.0.0.60", form(assertion)); code != http.StatusUnauthorized || !strings.Contains(m["error_description"].(string), "replayed") {
		t.Errorf("replayed client assertion: %d %v, want 401 (jti replayed)", code, m)
	}
	// The rate-limit keys of 21 addresses went to more than one node, so
	// the requests above crossed the Cluster.
	holding := 0
	for _, node := range nodes {
		keys, err := testredis.Client(t, node.Addr).Keys(context.Background(), "trustid:310000:rate:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			holding++
		}
	}
	if holding < 2 {
		t.Errorf("rate-limit keys on %d node(s), want them spread", holding)
	}
}

// TestServeRedisURLErrorsHideThePassword: a malformed --redis-url, for one
// server or a Cluster, is refused without printing its password.
func TestServeRedisURLErrorsHideThePassword(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	for _, args := range [][]string{
		{"--redis-url", "redis://user:s3cret-pw@127.0.0.1:port"},
		{"--redis-url", "redis://user:s3cret-pw@127.0.0.1:port", "--redis-cluster"},
		{"--redis-url", "redis://user:s3cret-pw@127.0.0.1:6379/%zz", "--redis-cluster"},
		{"--redis-url", "redis://user:s3cret-pw@127.0.0.1:1?addr=127.0.0.1:2&dial_timeout=100ms", "--redis-cluster"},
		// Reserved characters not percent-encoded in the password: the
		// parser reads part of it as a host and port and quotes that.
		{"--redis-url", "redis://user:s3cret/pw@127.0.0.1:6379"},
		{"--redis-url", "redis://user:s3cret/pw@127.0.0.1:6379", "--redis-cluster"},
		{"--redis-url", "redis://user:s3cret#pw@127.0.0.1:6379"},
		{"--redis-url", "redis://user:s3cret?pw@127.0.0.1:6379", "--redis-cluster"},
		{"--redis-url", "redis://user:s3%zzcret@127.0.0.1:6379"},
	} {
		out, errOut, err := run(t, context.Background(), append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, args...)...)
		if err == nil {
			t.Errorf("serve %v started", args)
			continue
		}
		if msg := err.Error() + out + errOut; strings.Contains(msg, "s3cret") || strings.Contains(msg, "zzcret") || strings.Contains(msg, "s3%") || !strings.Contains(msg, "redis") {
			t.Errorf("serve %v: %v\n%s%s", args, err, out, errOut)
		}
	}
}
