package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/internal/testredis"
)

// TestInstanceID: without --instance a data directory gets an instance ID
// on first start and keeps it; --instance wins; a malformed one is refused.
func TestInstanceID(t *testing.T) {
	dir := t.TempDir()
	cmd := newServeCmd()
	first, err := instanceID(cmd, dir)
	if err != nil || !strings.HasPrefix(first, "i") || len(first) != 9 {
		t.Fatalf("default instance %q: %v", first, err)
	}
	again, err := instanceID(newServeCmd(), dir)
	if err != nil || again != first {
		t.Fatalf("instance changed across starts: %q then %q (%v)", first, again, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, instanceFile)); strings.TrimSpace(string(b)) != first {
		t.Fatalf("kept %q", b)
	}
	cmd = newServeCmd()
	cmd.Flags().Set("instance", "sh-a")
	if got, err := instanceID(cmd, dir); err != nil || got != "sh-a" {
		t.Fatalf("--instance sh-a: %q %v", got, err)
	}
	// A bad --instance is refused when set (flagvalues.go), before serve
	// writes anything.
	for _, bad := range []string{"-a", "A", "a_b", strings.Repeat("a", 33)} {
		if err := newServeCmd().Flags().Set("instance", bad); err == nil {
			t.Fatalf("--instance %q: taken", bad)
		}
	}
}

// TestKeystoreCopyAfterKeysList follows docs/operations.md, "Instances":
// a keystore made by `trustid keys list` and copied to a second instance
// holds every secret the node uses (store-key, pin-mac, pin-seal,
// credential-id, ...), so two instances on one Redis key their
// single-use markers, rate limits, sessions and PIN counters alike.
// Shown with the per-address token limit (2/1h): the third call from one
// address is refused whichever instance gets it. Before, `keys list` made
// the signing keys only, each instance made its own secrets at its first
// `serve`, and the third call at instance 2 was a 401.
func TestKeystoreCopyAfterKeysList(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	addr := testredis.Start(t)
	a, b := t.TempDir(), t.TempDir()
	if _, stderr, err := run(t, context.Background(), "keys", "list", "--data", a); err != nil {
		t.Fatalf("keys list: %v\n%s", err, stderr)
	}
	ks, err := os.ReadFile(filepath.Join(a, keystoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, keystoreFile), ks, 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--redis-url", "redis://" + addr, "--token-rate-addr", "2/1h"}
	i1, _ := startServe(t, append([]string{"--data", a, "--instance", "i1"}, common...)...)
	i2, _ := startServe(t, append([]string{"--data", b, "--instance", "i2"}, common...)...)
	// The first serve made no secret the copy lacks.
	after, err := os.ReadFile(filepath.Join(a, keystoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, ks) {
		t.Error("instance 1's first serve changed the keystore `keys list` made")
	}
	token := func(base string) int {
		t.Helper()
		resp, err := http.Post(base+"/oauth2/token", "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 2 {
		if got := token(i1); got != http.StatusUnauthorized {
			t.Fatalf("call %d at instance 1: %d, want 401", i+1, got)
		}
	}
	if got := token(i2); got != http.StatusTooManyRequests {
		t.Errorf("third call, at instance 2 (same Redis, keystore copied after `trustid keys list`): %d, want 429", got)
	}
}

// TestInstancesWithDifferentStoreKeys: an instance whose keystore is not
// a copy of the running instances' (its own store-key) refuses to start
// on their Redis, saying what to copy, rather than share nothing with
// them unnoticed; an instance of another region on the same Redis, and a
// copy of the keystore, start.
func TestInstancesWithDifferentStoreKeys(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	addr := testredis.Start(t)
	redisURL := "redis://" + addr
	a := t.TempDir()
	startServe(t, "--data", a, "--instance", "i1", "--redis-url", redisURL)

	b := t.TempDir()
	_, _, err := run(t, context.Background(), "serve", "--data", b, "--instance", "i2", "--redis-url", redisURL, "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "different store-key secret") || !strings.Contains(err.Error(), "copy keystore.json from a running instance") ||
		!strings.Contains(err.Error(), "trustid:310000:key-secret-check") {
		t.Fatalf("instance with its own keystore on the region's Redis: %v", err)
	}
	startServe(t, "--data", t.TempDir(), "--instance", "j1", "--region", "320000", "--redis-url", redisURL)

	ks, err := os.ReadFile(filepath.Join(a, keystoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, keystoreFile), ks, 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, "--data", b, "--instance", "i2", "--redis-url", redisURL)
}

// TestInstanceFileDamaged: an instance ID kept in the data directory that
// is not one is refused naming the file, not --instance, which the
// operator did not give.
func TestInstanceFileDamaged(t *testing.T) {
	for _, content := range []string{"BAD!\n", "", "\n"} {
		dir := t.TempDir()
		path := filepath.Join(dir, instanceFile)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := instanceID(newServeCmd(), dir)
		if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "--instance \"") {
			t.Errorf("instance file %q: %v", content, err)
		}
	}
}

// TestKeySecretCheckAfterRedisLostIt: the key-secret check is made again at
// each readiness check, so a Redis that lost its data has the running
// instance's check value back before another instance starts (one with its
// own keystore is still refused), and a running instance whose value is no
// longer the recorded one is not ready instead of serving apart.
func TestKeySecretCheckAfterRedisLostIt(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	addr := testredis.Start(t)
	redisURL := "redis://" + addr
	rc := testredis.Client(t, addr)
	ctx := context.Background()
	const checkKey = "trustid:310000:key-secret-check"
	base, logs := startServe(t, "--data", t.TempDir(), "--instance", "i1", "--redis-url", redisURL)

	if err := rc.FlushAll(ctx).Err(); err != nil { // Redis restarted empty
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		get(t, base+"/readyz")
		return rc.Exists(ctx, checkKey).Val() == 1
	}, "the running instance's check value recorded again")
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz after the check value was recorded again: %d %s", code, body)
	}
	_, _, err := run(t, ctx, "serve", "--data", t.TempDir(), "--instance", "i2", "--redis-url", redisURL, "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "different store-key secret") {
		t.Fatalf("instance with its own keystore after Redis lost its data: %v", err)
	}

	// Another keystore's value recorded first: the running instance says so.
	if err := rc.Set(ctx, checkKey, "another instance's check value", 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		code, body := get(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"store":"unavailable"`)
	}, "the instance not ready with another check value recorded")
	if !strings.Contains(logs.String(), checkKey) {
		t.Errorf("the not-ready log does not name the check key:\n%s", logs.String())
	}
}
