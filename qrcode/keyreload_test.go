package qrcode

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowKeys answers its first call at once and blocks every later call
// until release is closed, like a trust registry that has become slow.
type slowKeys struct {
	keys    StaticKeys
	calls   atomic.Int32
	started chan struct{} // receives once per blocked call
	release chan struct{}
}

func (s *slowKeys) IssuerKeys(ctx context.Context) ([]IssuerKey, error) {
	if s.calls.Add(1) == 1 {
		return s.keys, nil
	}
	s.started <- struct{}{}
	select {
	case <-s.release:
		return s.keys, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestKeyReloadDoesNotBlockKnownKeys: while a reload triggered by an
// unknown kid waits on a slow key source, codes signed by known keys keep
// verifying, the other lookups of unknown kids share the one reload, and
// all of them get their answer once it ends.
func TestKeyReloadDoesNotBlockKnownKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	src := &slowKeys{keys: StaticKeys{{Kid: f.kid, Public: f.issuerKey.Public()}},
		started: make(chan struct{}, 8), release: make(chan struct{})}
	var clock atomic.Int64 // seconds after testNow
	v, err := NewVerifier(VerifierConfig{Keys: src, Status: f.status, Now: func() time.Time { return testNow.Add(time.Duration(clock.Load()) * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, f.offline(t, 1, nil), VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	clock.Store(40) // past DefaultKeyRefresh: an unknown kid may reload
	f.now = testNow.Add(40 * time.Second)

	rogue := &Issuer{Signer: mustKey(t, 0x44), Kid: "rogue-key-id-0001", Region: 310000}
	rb, err := rogue.IssueBinding(Binding{Subject: f.subject, DeviceKey: f.device.PublicKey(), Assurance: 4, IssuedAt: testNow, Expiry: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	unknown, _ := NewOffline(nil, f.device, rb, nil, Presentation{Time: f.now, Counter: 1})
	const waiting = 4
	unknownErrs := make(chan error, waiting)
	for range waiting {
		go func() {
			_, err := v.Verify(ctx, unknown, VerifyOptions{})
			unknownErrs <- err
		}()
	}
	select {
	case <-src.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no reload started")
	}

	// Known keys while the reload hangs.
	done := make(chan error, 16)
	var wg sync.WaitGroup
	for i := range 16 {
		code := f.offline(t, uint64(10+i), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(ctx, code, VerifyOptions{})
			done <- err
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		close(src.release)
		t.Fatal("verifications of known keys blocked behind the key reload")
	}
	close(done)
	for err := range done {
		if err != nil {
			t.Fatalf("known key: %v", err)
		}
	}
	// A waiter whose context ends stops waiting.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(cctx, unknown, VerifyOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("waiter with a done context: %v", err)
	}

	close(src.release)
	for range waiting {
		select {
		case err := <-unknownErrs:
			if !errors.Is(err, ErrUnknownKey) {
				t.Errorf("unknown kid: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("lookups of the unknown kid never finished")
		}
	}
	if n := src.calls.Load(); n != 2 {
		t.Errorf("%d calls of the key source, want 2 (one load, one shared reload)", n)
	}
}
