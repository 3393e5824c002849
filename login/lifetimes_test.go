package login

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// ttlRecorder records the ttl of every entry written under a key, by
// the key's prefix up to its first colon.
type ttlRecorder struct {
	Store
	mu   sync.Mutex
	ttls map[string]time.Duration
}

func (r *ttlRecorder) note(key string, ttl time.Duration) {
	r.mu.Lock()
	r.ttls[key[:strings.IndexByte(key, ':')+1]] = ttl
	r.mu.Unlock()
}

func (r *ttlRecorder) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	r.note(key, ttl)
	return r.Store.Set(ctx, key, v, ttl)
}

func (r *ttlRecorder) Put(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	r.note(key, ttl)
	return r.Store.Put(ctx, key, v, ttl)
}

// TestTokenLifetimes pins the lifetimes docs/login.md and the table of
// docs/operations.md ("What the node keeps, and for how long") give a
// login's records: its code 60 s, the access token 10 minutes (the
// record, the login's index of its access tokens and expires_in), the
// refresh token's record and its handle under the sid 30 days.
func TestTokenLifetimes(t *testing.T) {
	p, issue, redeem := newCodeFixture(t)
	rec := &ttlRecorder{Store: p.cfg.Store, ttls: map[string]time.Duration{}}
	p.cfg.Store = rec
	resp, err := redeem(issue())
	if err != nil {
		t.Fatal(err)
	}
	if resp.ExpiresIn != 600 || resp.RefreshToken == "" {
		t.Errorf("expires_in %d, refresh token %v: want 600 and one", resp.ExpiresIn, resp.RefreshToken != "")
	}
	for key, want := range map[string]time.Duration{
		"login-code:":       60 * time.Second,
		"login-at:":         10 * time.Minute,
		"login-at-index:":   10 * time.Minute,
		"login-rtf:":        30 * 24 * time.Hour,
		"login-rtf-handle:": 30 * 24 * time.Hour,
	} {
		if got, ok := rec.ttls[key]; !ok || got != want {
			t.Errorf("%s kept %v (written %v), want %v", key, got, ok, want)
		}
	}
}
