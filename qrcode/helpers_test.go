package qrcode

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// constReader returns the same byte forever: with it SM2 signatures and
// references are deterministic (the golden files depend on that).
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// testNow is the fixed clock of the fixtures.
var testNow = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func mustKey(t testing.TB, b byte) *gm.PrivateKey {
	t.Helper()
	d := bytes.Repeat([]byte{b}, 32)
	k, err := gm.NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// memStatus is a real in-memory status list: a set of revoked entries.
type memStatus struct {
	mu      sync.Mutex
	revoked map[StatusRef]Status
	down    bool
}

func (m *memStatus) Status(_ context.Context, ref StatusRef) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return 0, ErrStatusUnavailable
	}
	return m.revoked[ref], nil
}

func (m *memStatus) set(ref StatusRef, s Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked == nil {
		m.revoked = map[StatusRef]Status{}
	}
	m.revoked[ref] = s
}

// fixture holds an issuer, a holder's device, a guardian's device and
// their bindings, a delegation and a static code, all deterministic.
type fixture struct {
	issuerKey  *gm.PrivateKey
	issuer     *Issuer
	kid        string
	device     *gm.PrivateKey
	guardian   *gm.PrivateKey
	subject    []byte
	guardSubj  []byte
	binding    []byte
	guardBind  []byte
	delegation []byte
	static     string
	staticPIN  string // a static code with a sealed PIN verifier (key 12)
	status     *memStatus
	now        time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{
		issuerKey: mustKey(t, 0x11), device: mustKey(t, 0x22), guardian: mustKey(t, 0x33),
		subject: bytes.Repeat([]byte{0xa1}, 33), guardSubj: bytes.Repeat([]byte{0xb2}, 33), // the size of identity.BindingSubjects handles
		status: &memStatus{}, now: testNow,
	}
	j, err := gm.NewJWK(f.issuerKey.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	if f.kid, err = j.Thumbprint(); err != nil {
		t.Fatal(err)
	}
	f.issuer = &Issuer{Signer: f.issuerKey, Kid: f.kid, Region: 310000, Rand: constReader(0x5a)}
	exp := testNow.AddDate(1, 0, 0)
	f.binding, err = f.issuer.IssueBinding(Binding{
		Subject: f.subject, DeviceKey: f.device.PublicKey(), Assurance: AssurancePIN,
		IssuedAt: testNow.Add(-time.Hour), Expiry: exp, Status: StatusRef{List: 3, Index: 70001},
		Claims: map[string]string{"age_over_18": "true", "age_over_60": "false"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.guardBind, err = f.issuer.IssueBinding(Binding{
		Subject: f.guardSubj, DeviceKey: f.guardian.PublicKey(), Assurance: AssuranceBiometric,
		IssuedAt: testNow.Add(-time.Hour), Expiry: exp, Status: StatusRef{List: 3, Index: 70002},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.delegation, err = f.issuer.IssueDelegation(Delegation{
		Actor: f.guardSubj, Principal: f.subject, ActorName: "王*", PrincipalName: "李**",
		Relationship: RelGuardian, Scope: []string{ActionPresent, ActionPickup},
		NotBefore: testNow.Add(-time.Hour), Expiry: exp, Status: StatusRef{List: 4, Index: 12},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.static, err = f.issuer.IssueStatic(Static{
		Subject: f.subject, MaskedName: "李**", MaskedNumber: "3101**********002X", DocType: 1,
		PhotoHint: "ID card photo", Assurance: AssuranceBiometric,
		IssuedAt: testNow.Add(-time.Hour), Expiry: testNow.AddDate(5, 0, 0), Status: StatusRef{List: 5, Index: 9},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A sealed verifier is 63 bytes: format and key versions, GCM nonce,
	// the 32-byte PIN MAC and the tag (identity.PINSealer).
	f.staticPIN, err = f.issuer.IssueStatic(Static{
		Subject: f.subject, MaskedName: "李**", MaskedNumber: "3101**********002X", DocType: 1,
		PhotoHint: "ID card photo", Assurance: AssuranceBiometric,
		IssuedAt: testNow.Add(-time.Hour), Expiry: testNow.AddDate(5, 0, 0), Status: StatusRef{List: 5, Index: 10},
		SealedPIN: bytes.Repeat([]byte{0xc3}, 63),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) offline(t testing.TB, counter uint64, challenge []byte) string {
	t.Helper()
	s, err := NewOffline(constReader(0x5a), f.device, f.binding, nil, Presentation{
		Time: f.now, Counter: counter, Audience: "hotel-310115", Challenge: challenge, Claims: []string{"age_over_18"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) delegated(t testing.TB, counter uint64) string {
	t.Helper()
	s, err := NewOffline(constReader(0x5a), f.guardian, f.guardBind, f.delegation, Presentation{
		Time: f.now, Counter: counter, Audience: "hospital-310104", Challenge: bytes.Repeat([]byte{7}, 8),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) verifier(t testing.TB, counters CounterStore) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{
		Keys:   StaticKeys{{Kid: f.kid, Public: f.issuerKey.Public()}},
		Status: f.status, Counters: counters, Now: func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// golden compares got with testdata/name.golden, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}
