package qrcode

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

func TestVerifyOffline(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	counters := &MemoryCounters{}
	v := f.verifier(t, counters)
	challenge := bytes.Repeat([]byte{9}, 16)

	r, err := v.Verify(ctx, f.offline(t, 5, challenge), VerifyOptions{Challenge: challenge, Audience: "hotel-310115"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindOffline || !bytes.Equal(r.Presenter.Subject, f.subject) || r.Region != "310000" || r.Assurance != AssurancePIN || r.Counter != 5 || r.Claims["age_over_18"] != "true" || r.OnBehalfOf != nil {
		t.Errorf("result: %+v", r)
	}
	// The same code again: replay. A lower counter: clone suspected.
	if _, err := v.Verify(ctx, f.offline(t, 5, challenge), VerifyOptions{}); !errors.Is(err, ErrReplayed) {
		t.Errorf("replay: %v", err)
	}
	if _, err := v.Verify(ctx, f.offline(t, 4, nil), VerifyOptions{}); !errors.Is(err, ErrCloneSuspected) {
		t.Errorf("lower counter: %v", err)
	}
	if _, err := v.Verify(ctx, f.offline(t, 6, nil), VerifyOptions{}); err != nil {
		t.Errorf("next counter: %v", err)
	}

	// Challenge and audience.
	if _, err := v.Verify(ctx, f.offline(t, 7, nil), VerifyOptions{Challenge: challenge}); !errors.Is(err, ErrChallenge) {
		t.Errorf("missing challenge: %v", err)
	}
	if _, err := v.Verify(ctx, f.offline(t, 8, []byte{1}), VerifyOptions{Challenge: challenge}); !errors.Is(err, ErrChallenge) {
		t.Errorf("wrong challenge: %v", err)
	}
	if _, err := v.Verify(ctx, f.offline(t, 9, nil), VerifyOptions{Audience: "bank-310101"}); !errors.Is(err, ErrAudience) {
		t.Errorf("audience: %v", err)
	}

	// Freshness: 61 s either way is out, 59 s is in.
	code := f.offline(t, 100, nil)
	for _, c := range []struct {
		shift time.Duration
		want  error
	}{{61 * time.Second, ErrStale}, {-61 * time.Second, ErrStale}, {59 * time.Second, nil}} {
		f.now = testNow.Add(c.shift)
		if _, err := f.verifier(t, nil).Verify(ctx, code, VerifyOptions{}); !errors.Is(err, c.want) {
			t.Errorf("clock %+v: %v, want %v", c.shift, err, c.want)
		}
	}
	f.now = testNow

	// Binding expiry.
	f.now = testNow.AddDate(2, 0, 0)
	late := f.offline(t, 1, nil)
	if _, err := f.verifier(t, nil).Verify(ctx, late, VerifyOptions{}); !errors.Is(err, ErrBindingExpired) {
		t.Errorf("expired binding: %v", err)
	}
	// To the second: valid until its expiry, not at it.
	for _, c := range []struct {
		at   time.Time
		want error
	}{{testNow.AddDate(1, 0, 0).Add(-time.Second), nil}, {testNow.AddDate(1, 0, 0), ErrBindingExpired}} {
		f.now = c.at
		if _, err := f.verifier(t, nil).Verify(ctx, f.offline(t, 1, nil), VerifyOptions{}); !errors.Is(err, c.want) {
			t.Errorf("binding at %v: %v, want %v", c.at, err, c.want)
		}
	}
	f.now = testNow

	// Revocation, and a status source that is down: fail closed.
	f.status.set(StatusRef{Region: 310000, List: 3, Index: 70001}, StatusRevoked)
	if _, err := v.Verify(ctx, f.offline(t, 200, nil), VerifyOptions{}); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked: %v", err)
	}
	f.status.set(StatusRef{Region: 310000, List: 3, Index: 70001}, StatusValid)
	f.status.down = true
	if _, err := v.Verify(ctx, f.offline(t, 201, nil), VerifyOptions{}); !errors.Is(err, ErrStatusUnavailable) {
		t.Errorf("status down: %v", err)
	}
	f.status.down = false
}

func TestVerifyRejectsForgeries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v := f.verifier(t, &MemoryCounters{})

	// A binding signed by a key the verifier does not trust.
	rogue := &Issuer{Signer: mustKey(t, 0x44), Kid: "rogue-key-id-0001", Region: 310000}
	rb, err := rogue.IssueBinding(Binding{Subject: f.subject, DeviceKey: f.device.PublicKey(), Assurance: 4, IssuedAt: testNow, Expiry: testNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := NewOffline(nil, f.device, rb, nil, Presentation{Time: testNow, Counter: 1})
	if _, err := v.Verify(ctx, code, VerifyOptions{}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("rogue issuer: %v", err)
	}
	// The rogue key claiming the real kid.
	rogue.Kid = f.kid
	rb, _ = rogue.IssueBinding(Binding{Subject: f.subject, DeviceKey: f.device.PublicKey(), Assurance: 4, IssuedAt: testNow, Expiry: testNow.Add(time.Hour)})
	code, _ = NewOffline(nil, f.device, rb, nil, Presentation{Time: testNow, Counter: 2})
	if _, err := v.Verify(ctx, code, VerifyOptions{}); !errors.Is(err, ErrSignature) {
		t.Errorf("rogue issuer with the real kid: %v", err)
	}

	// A device signature by another key: flip the binding's device key
	// is impossible without the issuer, so flip one byte of the device
	// signature and of the presentation instead.
	good := f.offline(t, 3, nil)
	raw := body(t, good)
	for _, i := range []int{len(raw) - 1, len(raw) - 70} {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 1
		if _, err := v.Verify(ctx, reencode(good, bad), VerifyOptions{}); err == nil {
			t.Errorf("tampered byte %d accepted", i)
		}
	}
	// The counter was not advanced by the forgeries.
	if _, err := v.Verify(ctx, good, VerifyOptions{}); err != nil {
		t.Errorf("good code after forgeries: %v", err)
	}
}

func TestVerifyDelegation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v := f.verifier(t, nil)
	r, err := v.Verify(ctx, f.delegated(t, 1), VerifyOptions{Action: ActionPickup})
	if err != nil {
		t.Fatal(err)
	}
	if r.OnBehalfOf == nil || !bytes.Equal(r.OnBehalfOf.Subject, f.subject) || !bytes.Equal(r.Presenter.Subject, f.guardSubj) || r.Action != ActionPickup {
		t.Fatalf("result: %+v", r)
	}
	if s := r.Summary(); !strings.Contains(s, "presented by 王* (guardian) on behalf of 李** for pickup") {
		t.Errorf("summary: %s", s)
	}
	if _, err := v.Verify(ctx, f.delegated(t, 2), VerifyOptions{}); err != nil {
		t.Errorf("default action present: %v", err)
	}
	if _, err := v.Verify(ctx, f.delegated(t, 3), VerifyOptions{Action: ActionMedical}); !errors.Is(err, ErrDelegationScope) {
		t.Errorf("out of scope: %v", err)
	}
	// Login and present are apart: the fixture's delegation (present,
	// pickup) does not log in, and one for login only does not present.
	if _, err := v.VerifyDelegation(ctx, f.delegation, f.guardSubj, ActionLogin, f.now); !errors.Is(err, ErrDelegationScope) {
		t.Errorf("a present delegation used to log in: %v", err)
	}
	loginOnly, err := f.issuer.IssueDelegation(Delegation{
		Actor: f.guardSubj, Principal: f.subject, Relationship: RelGuardian, Scope: []string{ActionLogin},
		NotBefore: testNow.Add(-time.Hour), Expiry: testNow.Add(time.Hour), Status: StatusRef{List: 4, Index: 13},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := v.VerifyDelegation(ctx, loginOnly, f.guardSubj, ActionLogin, f.now); err != nil || !bytes.Equal(d.Principal, f.subject) {
		t.Errorf("a login delegation used to log in: %v", err)
	}
	for _, action := range []string{"", ActionPresent} {
		if _, err := v.VerifyDelegation(ctx, loginOnly, f.guardSubj, action, f.now); !errors.Is(err, ErrDelegationScope) {
			t.Errorf("a login delegation used for action %q: %v", action, err)
		}
	}
	offline, err := NewOffline(constReader(0x5b), f.guardian, f.guardBind, loginOnly, Presentation{Time: f.now, Counter: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, offline, VerifyOptions{}); !errors.Is(err, ErrDelegationScope) {
		t.Errorf("a login delegation presented offline: %v", err)
	}
	// The holder's own device cannot present the guardian's delegation.
	code, err := NewOffline(nil, f.device, f.binding, f.delegation, Presentation{Time: testNow, Counter: 9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, code, VerifyOptions{}); !errors.Is(err, ErrDelegation) {
		t.Errorf("delegation presented by its principal: %v", err)
	}
	f.status.set(StatusRef{Region: 310000, List: 4, Index: 12}, StatusRevoked)
	if _, err := v.Verify(ctx, f.delegated(t, 4), VerifyOptions{}); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked delegation: %v", err)
	}
}

func TestVerifyStatic(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v := f.verifier(t, nil)
	r, err := v.Verify(ctx, f.static, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Static == nil || r.Static.MaskedName != "李**" || r.Static.MaskedNumber != "3101**********002X" || r.Static.PhotoHint != "ID card photo" {
		t.Errorf("static: %+v", r.Static)
	}
	f.status.set(StatusRef{Region: 310000, List: 5, Index: 9}, StatusSuspended)
	if _, err := v.Verify(ctx, f.static, VerifyOptions{}); !errors.Is(err, ErrSuspended) {
		t.Errorf("suspended static code: %v", err)
	}
	online, _ := NewOnlineCode(constReader(3), 310000)
	if _, err := v.Verify(ctx, online.String(), VerifyOptions{}); !errors.Is(err, ErrKind) {
		t.Errorf("online code given to the offline verifier: %v", err)
	}
}

// TestKeyCacheReloadsOnUnknownKid: a rotated issuer key is picked up once
// the refresh interval allows, and unknown kids do not hammer the source.
func TestKeyCacheReloadsOnUnknownKid(t *testing.T) {
	f := newFixture(t)
	src := &countingKeys{}
	v, _ := NewVerifier(VerifierConfig{Keys: src, Status: f.status, Now: func() time.Time { return f.now }})
	code := f.offline(t, 1, nil)
	if _, err := v.Verify(context.Background(), code, VerifyOptions{}); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("empty key source: %v", err)
	}
	src.keys = StaticKeys{{Kid: f.kid, Public: f.issuerKey.Public()}}
	if _, err := v.Verify(context.Background(), code, VerifyOptions{}); !errors.Is(err, ErrUnknownKey) || src.calls != 1 {
		t.Fatalf("reload before KeyRefresh: %v, %d calls", err, src.calls)
	}
	f.now = f.now.Add(DefaultKeyRefresh)
	code = f.offline(t, 2, nil)
	if _, err := v.Verify(context.Background(), code, VerifyOptions{}); err != nil || src.calls != 2 {
		t.Fatalf("after KeyRefresh: %v, %d calls", err, src.calls)
	}
	for i := 3; i < 6; i++ {
		if _, err := v.Verify(context.Background(), f.offline(t, uint64(i), nil), VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if src.calls != 2 {
		t.Errorf("cached key re-read: %d calls", src.calls)
	}
}

// TestKeyCacheFollowsKeysGeneration: with KeysGeneration (a node's own
// keystore, reloaded after a rotation), a key added to the source
// verifies, and a key withdrawn is refused, at the first use after the
// change, however recent the last reload; a kid the source does not list
// still reloads it at most once per KeyRefresh, and known keys never
// re-read it while the generation stays.
func TestKeyCacheFollowsKeysGeneration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	oldKey := IssuerKey{Kid: f.kid, Public: f.issuerKey.Public()}
	src := &countingKeys{keys: StaticKeys{oldKey}}
	var gen atomic.Uint64
	v, err := NewVerifier(VerifierConfig{Keys: src, Status: f.status, KeysGeneration: gen.Load, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	signedBy := func(key *gm.PrivateKey, kid string) func(counter uint64) string {
		b, err := (&Issuer{Signer: key, Kid: kid, Region: 310000}).IssueBinding(Binding{Subject: f.subject, DeviceKey: f.device.PublicKey(),
			Assurance: AssurancePIN, IssuedAt: testNow, Expiry: testNow.Add(time.Hour), Status: StatusRef{List: 3, Index: 70001}})
		if err != nil {
			t.Fatal(err)
		}
		return func(counter uint64) string {
			code, err := NewOffline(nil, f.device, b, nil, Presentation{Time: f.now, Counter: counter})
			if err != nil {
				t.Fatal(err)
			}
			return code
		}
	}
	newPriv := mustKey(t, 0x66)
	j, _ := gm.NewJWK(newPriv.Public(), "")
	newKid, _ := j.Thumbprint()
	old, rotated, rogue := signedBy(f.issuerKey, f.kid), signedBy(newPriv, newKid), signedBy(mustKey(t, 0x44), "rogue-key-id-0001")
	check := func(what string, code string, want error, calls int) {
		t.Helper()
		if _, err := v.Verify(ctx, code, VerifyOptions{}); !errors.Is(err, want) || (want == nil && err != nil) || src.calls != calls {
			t.Errorf("%s: %v, %d reads of the source; want %v, %d", what, err, src.calls, want, calls)
		}
	}
	check("the old key", old(1), nil, 1)
	check("an unknown kid just after a load", rogue(1), ErrUnknownKey, 1)

	// The keystore rotates and is reloaded: the next use of the new key,
	// on the same clock, reads the source again.
	src.keys = StaticKeys{oldKey, {Kid: newKid, Public: newPriv.Public()}}
	gen.Add(1)
	check("the new key at once after the change", rotated(2), nil, 2)
	check("the old key after the change", old(3), nil, 2)
	check("an unknown kid after the change", rogue(2), ErrUnknownKey, 2)
	for i := range 5 {
		check("the new key again", rotated(uint64(10+i)), nil, 2)
	}
	// The old key is retired: refused at its next use.
	src.keys = StaticKeys{{Kid: newKid, Public: newPriv.Public()}}
	gen.Add(1)
	check("the withdrawn key at once", old(4), ErrUnknownKey, 3)
	check("the new key after the withdrawal", rotated(20), nil, 3)
	check("an unknown kid after the withdrawal", rogue(3), ErrUnknownKey, 3)
	f.now = f.now.Add(DefaultKeyRefresh)
	check("an unknown kid after KeyRefresh", rogue(4), ErrUnknownKey, 4)
}

type countingKeys struct {
	keys  StaticKeys
	calls int
}

func (c *countingKeys) IssuerKeys(context.Context) ([]IssuerKey, error) {
	c.calls++
	return c.keys, nil
}

func TestMemoryCountersEvict(t *testing.T) {
	m := &MemoryCounters{Max: 4}
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := m.Advance(ctx, []byte{byte(i)}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.last) > 4 {
		t.Errorf("%d entries kept, cap 4", len(m.last))
	}
	if err := m.Advance(ctx, []byte{9}, 1); !errors.Is(err, ErrReplayed) {
		t.Errorf("recent entry forgotten: %v", err)
	}
}

func BenchmarkSM2VerifyBaseline(b *testing.B) {
	k := mustKey(b, 0x22)
	msg := bytes.Repeat([]byte{1}, 200)
	sig, err := k.SignRaw(defaultRand, msg)
	if err != nil {
		b.Fatal(err)
	}
	pub := k.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Verify(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyOffline is one full offline verification: decoding, two
// SM2 verifications (issuer and device), decompressing the device key,
// freshness, status and the counter.
func BenchmarkVerifyOffline(b *testing.B) {
	f := newFixture(b)
	v := f.verifier(b, &MemoryCounters{})
	codes := make([]string, 1024)
	for i := range codes {
		codes[i] = f.offline(b, uint64(i+1), nil)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(codes) {
			b.StopTimer()
			v = f.verifier(b, &MemoryCounters{})
			i = 0
			b.StartTimer()
		}
		if _, err := v.VerifyOffline(ctx, codes[i], VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

var _ = gm.SignatureSize

// TestVerifyOfflineBindingNotYetValid: a binding whose issuance lies in
// the future beyond the window (an issuer clock far ahead, a binding made
// to be used later) is refused; within the window it is taken.
func TestVerifyOfflineBindingNotYetValid(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		ahead time.Duration
		want  error
	}{{2 * time.Minute, ErrBindingExpired}, {59 * time.Second, nil}} {
		b, err := f.issuer.IssueBinding(Binding{Subject: f.subject, DeviceKey: f.device.PublicKey(), Assurance: AssurancePIN,
			IssuedAt: testNow.Add(c.ahead), Expiry: testNow.AddDate(1, 0, 0), Status: StatusRef{List: 3, Index: 70001}})
		if err != nil {
			t.Fatal(err)
		}
		code, err := NewOffline(constReader(0x5a), f.device, b, nil, Presentation{Time: f.now, Counter: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.verifier(t, nil).Verify(ctx, code, VerifyOptions{}); !errors.Is(err, c.want) {
			t.Errorf("binding issued %v ahead: %v, want %v", c.ahead, err, c.want)
		}
	}
}

// TestVerifyRejectsForgedDelegation: a delegation not signed by a trusted
// issuer key (a rogue key under the real kid, or an unknown kid) gives
// the guardian nothing, in an offline code or checked alone.
func TestVerifyRejectsForgedDelegation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v := f.verifier(t, nil)
	for kid, want := range map[string]error{f.kid: ErrSignature, "rogue-key-id-0001": ErrUnknownKey} {
		rogue := &Issuer{Signer: mustKey(t, 0x44), Kid: kid, Region: 310000, Rand: constReader(0x5a)}
		forged, err := rogue.IssueDelegation(Delegation{
			Actor: f.guardSubj, Principal: f.subject, Relationship: RelGuardian, Scope: []string{ActionPresent, ActionLogin},
			NotBefore: testNow.Add(-time.Hour), Expiry: testNow.Add(time.Hour), Status: StatusRef{List: 4, Index: 14},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyDelegation(ctx, forged, f.guardSubj, ActionLogin, f.now); !errors.Is(err, want) {
			t.Errorf("delegation signed under kid %q checked alone: %v, want %v", kid, err, want)
		}
		code, err := NewOffline(constReader(0x5b), f.guardian, f.guardBind, forged, Presentation{Time: f.now, Counter: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, code, VerifyOptions{}); !errors.Is(err, want) {
			t.Errorf("delegation signed under kid %q presented offline: %v, want %v", kid, err, want)
		}
	}
}

// TestVerifyRejectsForgedStatic: a static code not signed by a trusted
// issuer key (a rogue key under the real kid, or an unknown kid) is
// refused.
func TestVerifyRejectsForgedStatic(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	for kid, want := range map[string]error{f.kid: ErrSignature, "rogue-key-id-0001": ErrUnknownKey} {
		rogue := &Issuer{Signer: mustKey(t, 0x44), Kid: kid, Region: 310000, Rand: constReader(0x5a)}
		forged, err := rogue.IssueStatic(Static{Subject: f.subject, MaskedName: "李**", MaskedNumber: "3101**********002X", DocType: 1,
			Assurance: AssuranceBiometric, IssuedAt: testNow.Add(-time.Hour), Expiry: testNow.AddDate(5, 0, 0), Status: StatusRef{List: 5, Index: 11}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), forged, VerifyOptions{}); !errors.Is(err, want) {
			t.Errorf("static code signed under kid %q: %v, want %v", kid, err, want)
		}
	}
}

// TestVerifyStaticValidity: a static code is taken from its issuance
// (less the window) until its expiry, and refused before and after.
func TestVerifyStaticValidity(t *testing.T) {
	f := newFixture(t)
	code := func(issued, expiry time.Time) string {
		s, err := f.issuer.IssueStatic(Static{Subject: f.subject, MaskedName: "李**", MaskedNumber: "3101**********002X", DocType: 1,
			Assurance: AssuranceBiometric, IssuedAt: issued, Expiry: expiry, Status: StatusRef{List: 5, Index: 9}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		name           string
		issued, expiry time.Time
		want           error
	}{
		{"issued 2 minutes ahead", testNow.Add(2 * time.Minute), testNow.AddDate(5, 0, 0), ErrBindingExpired},
		{"issued 59 s ahead", testNow.Add(59 * time.Second), testNow.AddDate(5, 0, 0), nil},
		{"expired", testNow.AddDate(-5, 0, 0), testNow, ErrBindingExpired},
	} {
		if _, err := f.verifier(t, nil).Verify(context.Background(), code(c.issued, c.expiry), VerifyOptions{}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
