package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

func testSealer(t testing.TB) *PINSealer {
	t.Helper()
	s, err := NewPINSealer([]VersionedKey{{1, testKey(200)}}, []VersionedKey{{1, testKey(210)[:16]}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidatePIN(t *testing.T) {
	doc := mustParse(t, "11010519491231002X")
	for _, pin := range []string{"", "12345", "1234567", "12345a", "１２３４５６", " 12345", "12 456"} {
		if err := ValidatePIN(pin, Document{}); !errors.Is(err, ErrPINFormat) {
			t.Errorf("%q: %v", pin, err)
		}
	}
	for _, pin := range []string{"000000", "999999", "123456", "234567", "456789", "012345", "987654", "654321", "543210", "121212", "909090", "123123", "770770"} {
		if err := ValidatePIN(pin, Document{}); !errors.Is(err, ErrPINTrivial) {
			t.Errorf("%q: %v", pin, err)
		}
	}
	// The holder's birth date and the end of the number.
	for _, pin := range []string{"491231", "123149"} {
		if err := ValidatePIN(pin, doc); !errors.Is(err, ErrPINTrivial) {
			t.Errorf("%q with the document: %v", pin, err)
		}
		if err := ValidatePIN(pin, Document{}); err != nil {
			t.Errorf("%q without the document: %v", pin, err)
		}
	}
	digits := mustParse(t, id18("31011519850214003")) // check character 8
	last6 := digits.Number()[12:]
	if err := ValidatePIN(last6, Document{}); err != nil {
		t.Fatalf("%q: %v", last6, err)
	}
	if err := ValidatePIN(last6, digits); !errors.Is(err, ErrPINTrivial) {
		t.Errorf("last six of the number: %v", err)
	}
	for _, pin := range []string{"135790", "802461", "112358", "739104"} {
		if err := ValidatePIN(pin, doc); err != nil {
			t.Errorf("%q: %v", pin, err)
		}
	}
}

func TestSealPIN(t *testing.T) {
	s := testSealer(t)
	aad := []byte("binding:1WCQCDVT|kid:abc")
	sealed, err := s.SealPIN("135790", aad)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) > maxSealedPIN || strings.Contains(string(sealed), "135790") {
		t.Fatalf("sealed %q", sealed)
	}
	if err := s.CheckPIN(sealed, "135790", aad); err != nil {
		t.Fatalf("right PIN: %v", err)
	}
	for _, pin := range []string{"135791", "000000", "", "1357900", "13579"} {
		if err := s.CheckPIN(sealed, pin, aad); !errors.Is(err, ErrPINMismatch) {
			t.Errorf("PIN %q: %v", pin, err)
		}
	}
	// Two seals of one PIN differ (fresh nonce); the MAC is salted with the
	// binding, so the same PIN on two bindings seals to unrelated values.
	again, _ := s.SealPIN("135790", aad)
	if again == sealed {
		t.Error("sealing is deterministic")
	}
	// Another binding, a tampered or truncated verifier, other keys.
	if err := s.CheckPIN(sealed, "135790", []byte("binding:other")); !errors.Is(err, ErrPINVerifier) {
		t.Errorf("other binding: %v", err)
	}
	// Format 2: version and key bytes, GCM nonce, counter tag, MAC, GCM
	// tag (docs/identity.md, docs/qr-format.md).
	raw, _ := b64url.DecodeString(string(sealed))
	if len(raw) != 79 || raw[0] != sealedPINv2 {
		t.Errorf("verifier of %d bytes, format %d", len(raw), raw[0])
	}
	for i, edit := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		func(b []byte) []byte { b[10] ^= 1; return b },
		func(b []byte) []byte { return b[:len(b)-1] },
		func(b []byte) []byte { return b[:2] },
		func(b []byte) []byte { b[0] = sealedPINv1; return b },
		func(b []byte) []byte { b[0] = 3; return b },
		func(b []byte) []byte { b[1] = 9; return b },
		func(b []byte) []byte { b[2] = 9; return b },
	} {
		bad := SealedPIN(base64.RawURLEncoding.EncodeToString(edit(bytes.Clone(raw))))
		if err := s.CheckPIN(bad, "135790", aad); !errors.Is(err, ErrPINVerifier) {
			t.Errorf("edit %d: %v", i, err)
		}
	}
	for _, bad := range []SealedPIN{"", "!!!", SealedPIN(strings.Repeat("A", 300)), sealed + "="} {
		if err := s.CheckPIN(bad, "135790", aad); !errors.Is(err, ErrPINVerifier) {
			t.Errorf("verifier %q: %v", bad, err)
		}
	}
	otherNode, _ := NewPINSealer([]VersionedKey{{1, testKey(201)}}, []VersionedKey{{1, testKey(210)[:16]}}, nil)
	if err := otherNode.CheckPIN(sealed, "135790", aad); !errors.Is(err, ErrPINMismatch) {
		t.Errorf("other MAC key: %v", err)
	}
	otherSeal, _ := NewPINSealer([]VersionedKey{{1, testKey(200)}}, []VersionedKey{{1, testKey(211)[:16]}}, nil)
	if err := otherSeal.CheckPIN(sealed, "135790", aad); !errors.Is(err, ErrPINVerifier) {
		t.Errorf("other sealing key: %v", err)
	}
	// Policy at sealing.
	if _, err := s.SealPIN("123456", aad); !errors.Is(err, ErrPINTrivial) {
		t.Errorf("trivial PIN sealed: %v", err)
	}
	if _, err := s.SealPIN("12345", aad); !errors.Is(err, ErrPINFormat) {
		t.Errorf("short PIN sealed: %v", err)
	}
}

func TestPINKeyRotation(t *testing.T) {
	old := testSealer(t)
	aad := []byte("b")
	sealed, _ := old.SealPIN("135790", aad)
	both, err := NewPINSealer(
		[]VersionedKey{{1, testKey(200)}, {2, testKey(202)}},
		[]VersionedKey{{2, testKey(212)[:16]}, {1, testKey(210)[:16]}}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := both.CheckPIN(sealed, "135790", aad); err != nil {
		t.Errorf("old verifier after rotation: %v", err)
	}
	fresh, _ := both.SealPIN("135790", aad)
	raw, _ := b64url.DecodeString(string(fresh))
	if raw[1] != 2 || raw[2] != 2 {
		t.Errorf("new verifier sealed under versions %d/%d", raw[1], raw[2])
	}
	if err := old.CheckPIN(fresh, "135790", aad); !errors.Is(err, ErrPINVerifier) {
		t.Errorf("old node with a new verifier: %v", err)
	}
	for _, c := range []struct{ mac, seal []VersionedKey }{
		{nil, []VersionedKey{{1, testKey(0)[:16]}}},
		{[]VersionedKey{{1, testKey(0)}}, nil},
		{[]VersionedKey{{1, testKey(0)}}, []VersionedKey{{1, testKey(0)}}},
		{[]VersionedKey{{1, testKey(0)}}, []VersionedKey{{0, testKey(0)[:16]}}},
		{[]VersionedKey{{1, testKey(0)}}, []VersionedKey{{1, testKey(0)[:16]}, {1, testKey(1)[:16]}}},
	} {
		if _, err := NewPINSealer(c.mac, c.seal, nil); !errors.Is(err, ErrKeys) {
			t.Errorf("NewPINSealer: %v", err)
		}
	}
}

func TestPINGuardLockout(t *testing.T) {
	now := testNow
	st, err := store.NewMemory(store.MemoryOptions{Now: func() time.Time { return now }, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkLockout(t, st, func(d time.Duration) { now = now.Add(d) })
}

// TestPINGuardLockoutRedis: the same with the limiter in a real Redis,
// as a region's instances share it. Redis keeps its own clock, so the test
// uses a short window.
func TestPINGuardLockoutRedis(t *testing.T) {
	client := testredis.StartClient(t)
	r, err := redisstore.New(client, redisstore.Options{Prefix: "trustid:310000:"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := testSealer(t)
	aad := []byte("binding-r")
	sealed, _ := s.SealPIN("135790", aad)
	// Two instances, one limiter.
	g1 := &PINGuard{Sealer: s, Limiter: r, Window: 2 * time.Second}
	g2 := &PINGuard{Sealer: testSealer(t), Limiter: r, Window: 2 * time.Second}
	for i := 0; i < DefaultPINAttempts; i++ {
		g := []*PINGuard{g1, g2}[i%2]
		if err := g.Check(ctx, "binding-r", sealed, "000001", aad); !errors.Is(err, ErrPINMismatch) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	var le *LockedError
	if err := g2.Check(ctx, "binding-r", sealed, "135790", aad); !errors.As(err, &le) || !errors.Is(err, ErrPINLocked) {
		t.Fatalf("after %d failures: %v", DefaultPINAttempts, err)
	}
	time.Sleep(le.RetryAfter + 50*time.Millisecond)
	if err := g1.Check(ctx, "binding-r", sealed, "135790", aad); err != nil {
		t.Fatalf("after waiting: %v", err)
	}
}

// sealV1 seals pin as nodes did before format 2 (no counter tag).
func sealV1(t testing.TB, s *PINSealer, pin string, aad []byte) SealedPIN {
	t.Helper()
	mk, sk := &s.macs[0], &s.seals[0]
	header := []byte{sealedPINv1, mk.ver, sk.ver}
	sealed, err := gm.Seal(rand.Reader, sk.key, pinMAC(mk, pin, aad), sealAAD(header, aad))
	if err != nil {
		t.Fatal(err)
	}
	return SealedPIN(base64.RawURLEncoding.EncodeToString(append(header, sealed...)))
}

// TestPINGuardCountsPerEnrollment: the copies of one enrollment (SealPINs)
// share one attempt counter, whichever binding ID the caller gives: N
// copies allow exactly the guesses of one, lock-out and GCRA rate
// included. Another enrollment with the same PIN keeps its own; format 1
// verifiers are still checked, and counted per binding.
func TestPINGuardCountsPerEnrollment(t *testing.T) {
	now := testNow
	st, err := store.NewMemory(store.MemoryOptions{Now: func() time.Time { return now }, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := testSealer(t)
	g := &PINGuard{Sealer: s, Limiter: st}
	aads := [][]byte{[]byte("copy-0"), []byte("copy-1"), []byte("copy-2"), []byte("static")}
	copies, err := s.SealPINs("135790", aads)
	if err != nil || len(copies) != len(aads) {
		t.Fatal(copies, err)
	}
	try := func(i int, pin string) error {
		return g.Check(ctx, string(aads[i%len(aads)]), copies[i%len(aads)], pin, aads[i%len(aads)])
	}
	for i := range copies {
		if err := s.CheckPIN(copies[i], "135790", aads[i]); err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		if err := s.CheckPIN(copies[i], "135790", aads[(i+1)%len(aads)]); !errors.Is(err, ErrPINVerifier) {
			t.Fatalf("copy %d opened for another copy's binding: %v", i, err)
		}
	}
	for i := 0; i < DefaultPINAttempts; i++ {
		if err := try(i, "000001"); !errors.Is(err, ErrPINMismatch) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	var le *LockedError
	for i := range copies {
		if err := try(i, "135790"); !errors.As(err, &le) {
			t.Fatalf("copy %d after %d failures across copies: %v", i, DefaultPINAttempts, err)
		}
	}
	// GCRA: one attempt per Window/MaxAttempts for the whole enrollment.
	other, _ := s.SealPIN("135790", []byte("other"))
	for round := 0; round < 3; round++ {
		now = now.Add(le.RetryAfter)
		if err := try(round, "000001"); !errors.Is(err, ErrPINMismatch) {
			t.Fatalf("round %d: %v", round, err)
		}
		for i := range copies {
			if err := try(round+1+i, "135790"); !errors.As(err, &le) {
				t.Fatalf("round %d, copy %d: a second attempt in one interval: %v", round, i, err)
			}
		}
		if le.RetryAfter > DefaultPINWindow/DefaultPINAttempts {
			t.Fatalf("retry after %v", le.RetryAfter)
		}
		// Another enrollment with the same PIN: its own counter.
		if err := g.Check(ctx, "copy-0", other, "135790", []byte("other")); err != nil {
			t.Fatalf("another enrollment: %v", err)
		}
	}
	// The right PIN at one copy clears the count of all.
	now = now.Add(DefaultPINWindow)
	if err := try(2, "135790"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < DefaultPINAttempts; i++ {
		if err := try(i+3, "000001"); !errors.Is(err, ErrPINMismatch) {
			t.Fatalf("attempt %d after success: %v", i+1, err)
		}
	}

	// Format 1: checked, counted per binding ID.
	v1 := sealV1(t, s, "135790", []byte("old"))
	if err := s.CheckPIN(v1, "135790", []byte("old")); err != nil {
		t.Fatalf("format 1: %v", err)
	}
	for i := 0; i < DefaultPINAttempts; i++ {
		if err := g.Check(ctx, "old-a", v1, "000001", []byte("old")); !errors.Is(err, ErrPINMismatch) {
			t.Fatalf("format 1 attempt %d: %v", i+1, err)
		}
	}
	if err := g.Check(ctx, "old-a", v1, "135790", []byte("old")); !errors.Is(err, ErrPINLocked) {
		t.Fatalf("format 1 after %d failures: %v", DefaultPINAttempts, err)
	}
	if err := g.Check(ctx, "old-b", v1, "135790", []byte("old")); err != nil {
		t.Fatalf("format 1 under another binding ID: %v", err)
	}
	// A verifier that does not open spends no attempt.
	if err := g.Check(ctx, "old-b", v1, "135790", []byte("wrong")); !errors.Is(err, ErrPINVerifier) {
		t.Fatal(err)
	}
}

func checkLockout(t *testing.T, lim AttemptLimiter, advance func(time.Duration)) {
	t.Helper()
	ctx := context.Background()
	s := testSealer(t)
	aad := []byte("binding-1")
	sealed, _ := s.SealPIN("135790", aad)
	g := &PINGuard{Sealer: s, Limiter: lim}
	// A correct PIN clears earlier failures.
	for i := 0; i < DefaultPINAttempts-1; i++ {
		if err := g.Check(ctx, "binding-1", sealed, "000001", aad); !errors.Is(err, ErrPINMismatch) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	if err := g.Check(ctx, "binding-1", sealed, "135790", aad); err != nil {
		t.Fatalf("right PIN: %v", err)
	}
	// Five wrong attempts, then locked, even for the right PIN.
	for i := 0; i < DefaultPINAttempts; i++ {
		if err := g.Check(ctx, "binding-1", sealed, "000001", aad); !errors.Is(err, ErrPINMismatch) {
			t.Fatalf("attempt %d after reset: %v", i+1, err)
		}
	}
	err := g.Check(ctx, "binding-1", sealed, "135790", aad)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrPINLocked) || le.RetryAfter <= 0 || le.RetryAfter > DefaultPINWindow {
		t.Fatalf("locked: %v", err)
	}
	if code, _ := CodeOf(err); code != CodePINLocked {
		t.Errorf("code %s", code)
	}
	// Other bindings are not affected.
	sealed2, _ := s.SealPIN("135790", []byte("binding-2"))
	if err := g.Check(ctx, "binding-2", sealed2, "135790", []byte("binding-2")); err != nil {
		t.Errorf("other binding: %v", err)
	}
	// Still locked just before RetryAfter; one attempt after it.
	advance(le.RetryAfter - time.Second)
	if err := g.Check(ctx, "binding-1", sealed, "135790", aad); !errors.Is(err, ErrPINLocked) {
		t.Fatalf("before RetryAfter: %v", err)
	}
	advance(2 * time.Second)
	if err := g.Check(ctx, "binding-1", sealed, "000001", aad); !errors.Is(err, ErrPINMismatch) {
		t.Fatalf("one attempt after RetryAfter: %v", err)
	}
	if err := g.Check(ctx, "binding-1", sealed, "135790", aad); !errors.Is(err, ErrPINLocked) {
		t.Fatalf("second attempt after RetryAfter: %v", err)
	}
	// After the whole window, the right PIN works and clears the count.
	advance(DefaultPINWindow)
	if err := g.Check(ctx, "binding-1", sealed, "135790", aad); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	for i := 0; i < DefaultPINAttempts; i++ {
		if err := g.Check(ctx, "binding-1", sealed, "000001", aad); !errors.Is(err, ErrPINMismatch) {
			t.Fatalf("attempt %d after success: %v", i+1, err)
		}
	}
	if err := (&PINGuard{Sealer: s}).Check(ctx, "b", sealed, "135790", aad); err == nil {
		t.Error("guard without a limiter")
	}
}

func BenchmarkCheckPIN(b *testing.B) {
	s := testSealer(b)
	aad := []byte("binding")
	sealed, _ := s.SealPIN("135790", aad)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.CheckPIN(sealed, "135790", aad); err != nil {
			b.Fatal(err)
		}
	}
}

// checkPINv1 is CheckPIN before format 2 (format 1 only), the oracle of
// FuzzCheckPIN.
func checkPINv1(s *PINSealer, sealed SealedPIN, pin string, aad []byte) error {
	if len(sealed) > maxSealedPIN {
		return ErrPINVerifier
	}
	raw, err := b64url.DecodeString(string(sealed))
	if err != nil || len(raw) < 3 || raw[0] != sealedPINv1 {
		return ErrPINVerifier
	}
	header := raw[:3]
	mk := findKey(s.macs, int(header[1]))
	var sk *sealKey
	for i := range s.seals {
		if s.seals[i].ver == header[2] {
			sk = &s.seals[i]
		}
	}
	if mk == nil || sk == nil {
		return ErrPINVerifier
	}
	want, err := gm.Open(sk.key, raw[3:], sealAAD(header, aad))
	if err != nil || len(want) != gm.SM3Size {
		return ErrPINVerifier
	}
	if errors.Is(ValidatePIN(pin, Document{}), ErrPINFormat) {
		return ErrPINMismatch
	}
	if !bytes.Equal(pinMAC(mk, pin, aad), want) {
		return ErrPINMismatch
	}
	return nil
}

// FuzzCheckPIN: CheckPIN answers format 1 verifiers as before format 2,
// and opens a format 2 verifier only when it is one the sealer made.
func FuzzCheckPIN(f *testing.F) {
	// A fixed nonce stream: each fuzzing process makes the same seeds.
	s, _ := NewPINSealer([]VersionedKey{{1, testKey(200)}}, []VersionedKey{{1, testKey(210)[:16]}}, mrand.NewChaCha8([32]byte{7}))
	aad := []byte("binding")
	v2, _ := s.SealPIN("135790", aad)
	v1 := sealV1(f, s, "135790", aad)
	for _, seed := range []SealedPIN{v1, v2, "", "AQEB", "AgEB"} {
		f.Add(string(seed), "135790")
		f.Add(string(seed), "246802")
	}
	f.Fuzz(func(t *testing.T, sealed, pin string) {
		got := s.CheckPIN(SealedPIN(sealed), pin, aad)
		raw, _ := b64url.DecodeString(sealed)
		if len(raw) > 0 && raw[0] == sealedPINv2 {
			if !errors.Is(got, ErrPINVerifier) && SealedPIN(sealed) != v2 {
				t.Fatalf("a format 2 verifier the sealer did not make: %v", got)
			}
			return
		}
		if want := checkPINv1(s, SealedPIN(sealed), pin, aad); got != want {
			t.Fatalf("CheckPIN = %v, format 1 oracle %v", got, want)
		}
	})
}
