package redeem

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
)

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
	revoked map[qrcode.StatusRef]qrcode.Status
	down    bool
}

func (m *memStatus) Status(_ context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return 0, qrcode.ErrStatusUnavailable
	}
	return m.revoked[ref], nil
}

func (m *memStatus) set(ref qrcode.StatusRef, s qrcode.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked == nil {
		m.revoked = map[qrcode.StatusRef]qrcode.Status{}
	}
	m.revoked[ref] = s
}

// fixture holds an issuer, a holder's device and its binding (the holder
// copy), all deterministic.
type fixture struct {
	issuerKey *gm.PrivateKey
	kid       string
	device    *gm.PrivateKey
	subject   []byte
	binding   []byte
	status    *memStatus
	now       time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{
		issuerKey: mustKey(t, 0x11), device: mustKey(t, 0x22),
		subject: bytes.Repeat([]byte{0xa1}, 33), // the size of identity.BindingSubjects handles
		status:  &memStatus{}, now: testNow,
	}
	j, err := gm.NewJWK(f.issuerKey.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	if f.kid, err = j.Thumbprint(); err != nil {
		t.Fatal(err)
	}
	issuer := &qrcode.Issuer{Signer: f.issuerKey, Kid: f.kid, Region: 310000}
	f.binding, err = issuer.IssueBinding(qrcode.Binding{
		Subject: f.subject, DeviceKey: f.device.PublicKey(), Assurance: qrcode.AssurancePIN,
		IssuedAt: testNow.Add(-time.Hour), Expiry: testNow.AddDate(1, 0, 0), Status: qrcode.StatusRef{List: 3, Index: 70001},
		Claims: map[string]string{"age_over_18": "true", "age_over_60": "false"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) verifier(t testing.TB, counters qrcode.CounterStore) *qrcode.Verifier {
	t.Helper()
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{
		Keys:   qrcode.StaticKeys{{Kid: f.kid, Public: f.issuerKey.Public()}},
		Status: f.status, Counters: counters, Now: func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// keyTable is an in-memory registry of region keys: region → kid → key,
// each with the algorithm of its type, as the chaincode records it.
type keyTable map[string]map[string]crypto.PublicKey

func (k keyTable) RegionKey(_ context.Context, region, kid string) (crypto.PublicKey, string, error) {
	pub, ok := k[region][kid]
	if !ok {
		return nil, "", errors.New("no such region key")
	}
	alg, err := gm.Alg(pub)
	return pub, alg, err
}
