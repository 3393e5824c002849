package credentials_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
)

// racingSource serves one token list whose anchored head the test moves:
// head 1 lists the entry valid, head 2 revoked. Each Token call takes its
// answer from next (nil: the head's list); ListCurrent says whether the
// last list it returned is at the head, and runs onCurrent once first.
type racingSource struct {
	t         *testing.T
	head      atomic.Int32
	memo      atomic.Int32 // the head of the last list returned
	next      chan error
	onCurrent func()
	once      sync.Once
}

func (s *racingSource) Bitstring(context.Context, string, string) (*BitstringList, error) {
	return nil, errors.New("no bitstring lists")
}

func (s *racingSource) Token(ctx context.Context, uri, issuer string) (*TokenStatusList, error) {
	if err := <-s.next; err != nil {
		return nil, err
	}
	l, err := status.NewTokenList(2, 16)
	if err != nil {
		s.t.Fatal(err)
	}
	head := s.head.Load()
	if head == 2 {
		_ = l.Set(3, status.TokenInvalid)
	}
	s.memo.Store(head)
	return &TokenStatusList{List: l}, nil
}

func (s *racingSource) ListCurrent(string) bool {
	if s.onCurrent != nil {
		s.once.Do(s.onCurrent)
	}
	return s.memo.Load() == s.head.Load()
}

// TestKeepAnchoredRacingRefetch: a check whose refetch failed keeps the
// cached list only while it is current (StatusCheckerOptions.KeepAnchored:
// "once the head has moved, a failed refetch fails the check"). When
// another check fetches the moved head's list meanwhile (its revocation
// in it), the failed one must not put the old list back in the cache, nor
// answer from it: the revocation would go unseen for 30 s after this
// node had it.
func TestKeepAnchoredRacingRefetch(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	src := &racingSource{t: t, next: make(chan error, 4)}
	src.head.Store(1)
	c := NewStatusCheckerWith(src, StatusCheckerOptions{TTL: time.Minute, KeepAnchored: true,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	const issuer, uri = "https://node.example", "https://node.example/status/0000000130000001"
	src.next <- nil
	if err := c.CheckToken(ctx, issuer, uri, 3); err != nil {
		t.Fatalf("first check: %v", err)
	}
	// The list past its ttl; the node revokes entry 3 and anchors head 2.
	clock.Add(int64(2 * time.Minute))
	src.head.Store(2)
	// Check A's refetch fails; while A asks whether the cached list is
	// current, check B fetches head 2's list.
	var b error
	src.onCurrent = func() {
		src.next <- nil
		b = c.CheckToken(ctx, issuer, uri, 3)
	}
	src.next <- errors.New("node unreachable")
	a := c.CheckToken(ctx, issuer, uri, 3)
	if !errors.Is(b, ErrRevoked) {
		t.Fatalf("check B, head 2 fetched: %v, want ErrRevoked", b)
	}
	if !errors.Is(a, ErrRevoked) && !errors.Is(a, ErrStatusUnavailable) {
		t.Errorf("check A, after head 2 was fetched: %v, want ErrRevoked or ErrStatusUnavailable", a)
	}
	if err := c.CheckToken(ctx, issuer, uri, 3); !errors.Is(err, ErrRevoked) {
		t.Errorf("a check after both: %v, want ErrRevoked (head 2's list cached)", err)
	}
}
