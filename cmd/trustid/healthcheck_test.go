package main

import (
	"context"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/internal/testredis"
)

// TestHealthcheck: `trustid healthcheck` passes on a serving node's
// /readyz and fails, saying why, on a non-200 answer or no answer.
func TestHealthcheck(t *testing.T) {
	ctx := context.Background()
	base, _ := startServe(t, "--data", t.TempDir())
	if _, _, err := run(t, ctx, "healthcheck", "--url", base+"/readyz"); err != nil {
		t.Fatalf("healthcheck of a ready node: %v", err)
	}

	closed := testport.Reserve(t) // nothing listens there

	// A node whose Redis went away is not ready: /readyz is 503.
	rs := testredis.StartServer(t)
	unready, _ := startServe(t, "--data", t.TempDir(), "--redis-url", "redis://"+rs.Addr+"/0")
	if _, _, err := run(t, ctx, "healthcheck", "--url", unready+"/readyz"); err != nil {
		t.Fatalf("healthcheck with Redis up: %v", err)
	}
	rs.Kill()
	// /readyz reuses its checks' outcome for a second.
	waitUntil(t, "healthcheck fails with 503", func() bool {
		_, _, err := run(t, ctx, "healthcheck", "--url", unready+"/readyz")
		return err != nil && strings.Contains(err.Error(), "503")
	})
	if _, _, err := run(t, ctx, "healthcheck", "--url", "http://"+closed+"/readyz", "--timeout", "1s"); err == nil {
		t.Fatal("healthcheck of a closed port passed")
	}
	if _, _, err := run(t, ctx, "healthcheck", "--url", "::not a url"); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Fatalf("healthcheck of a bad URL: %v, want an error naming --url", err)
	}
}
