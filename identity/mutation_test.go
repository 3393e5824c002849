package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/store"
)

// TestAttestationBounds: the lifetime bound and the clock-skew leeway for
// iat are exact: a lifetime of MaxLifetime and an iat leeway ahead are
// taken, one second more is refused.
func TestAttestationBounds(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		ttl   time.Duration
		ahead time.Duration // how far the terminal's clock is ahead
		want  error
	}{
		{"lifetime at the cap", DefaultAttestationMaxLifetime, 0, nil},
		{"lifetime a second over", DefaultAttestationMaxLifetime + time.Second, 0, ErrAttestationMalformed},
		{"iat a leeway ahead", 0, DefaultAttestationLeeway, nil},
		{"iat a second past the leeway", 0, DefaultAttestationLeeway + time.Second, ErrAttestationEarly},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newAttestFixture(t)
			a := *f.sm2
			a.TTL = c.ttl
			a.Now = func() time.Time { return f.now.Add(c.ahead) }
			tok := f.attest(t, &a)
			_, err := f.verifier.Verify(ctx, f.doc, f.name, f.device, tok)
			if !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
				t.Fatalf("%v, want %v", err, c.want)
			}
		})
	}
}

// TestAttestationMinFaceScore: a face-match score at MinFaceScore passes;
// any lower one, however close, is refused.
func TestAttestationMinFaceScore(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		score float64
		want  error
	}{{0.9, nil}, {0.899, ErrAttestationLiveness}} {
		f := newAttestFixture(t)
		f.verifier.MinFaceScore = 0.9
		tok, err := f.sm2.Attest(f.doc, f.name, f.device, Liveness{Method: LivenessFaceMatch, Passed: true, Score: c.score}, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.verifier.Verify(ctx, f.doc, f.name, f.device, tok); !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("score %v: %v, want %v", c.score, err, c.want)
		}
	}
}

// failingReset is a limiter whose Reset fails.
type failingReset struct{ AttemptLimiter }

var errResetDown = errors.New("limiter down")

func (failingReset) Reset(context.Context, string) error { return errResetDown }

// TestPINGuardResetError: a right PIN whose failure count cannot be reset
// is reported as an error, not taken silently (the count would still lock
// the holder out).
func TestPINGuardResetError(t *testing.T) {
	st, err := store.NewMemory(store.MemoryOptions{Now: func() time.Time { return testNow }, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := testSealer(t)
	aad := []byte("binding-x")
	sealed, err := s.SealPIN("135790", aad)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&PINGuard{Sealer: s, Limiter: st}).Check(context.Background(), "binding-x", sealed, "135790", aad); err != nil {
		t.Fatalf("right PIN: %v", err)
	}
	if err := (&PINGuard{Sealer: s, Limiter: failingReset{st}}).Check(context.Background(), "binding-x", sealed, "135790", aad); !errors.Is(err, errResetDown) {
		t.Fatalf("Reset failing: %v, want its error", err)
	}
}
