package login

import (
	"context"
	"testing"
	"time"
)

// TestSessionExpiresAtItsSecond: a login session is good until the
// second before its Expires and gone at Expires itself (SessionTTL after
// it started), whatever the store still keeps.
func TestSessionExpiresAtItsSecond(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	st, err := p.Authorize(ctx, goodQuery())
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := p.readSession(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	at := func(unix int64) func() time.Time { return func() time.Time { return time.Unix(unix, 999e6) } }
	p.cfg.Now = at(s.Expires - 1)
	if _, _, err := p.readSession(ctx, st.ID); err != nil {
		t.Errorf("a second before Expires: %v", err)
	}
	p.cfg.Now = at(s.Expires)
	if _, _, err := p.readSession(ctx, st.ID); !isCode(err, CodeSessionNotFound) {
		t.Errorf("at Expires: %v, want %s (expired)", err, CodeSessionNotFound)
	}
}
