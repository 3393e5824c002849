package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/gm"
)

func testPairwise(t testing.TB, keys ...VersionedKey) *PairwiseDeriver {
	t.Helper()
	if len(keys) == 0 {
		keys = []VersionedKey{{Version: 1, Secret: testKey(100)}}
	}
	p, err := NewPairwiseDeriver(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPairwise(t *testing.T) {
	d := testDeriver(t)
	p := testPairwise(t)
	alice, _ := d.Derive(mustParse(t, "11010519491231002X"))
	bob, _ := d.Derive(mustParse(t, id18("31011519850214002")))

	host := func(h string) Sector { return Sector{SectorIdentifier, h} }
	a1, err := p.Derive(alice, host("rp.example.gov.cn"))
	if err != nil {
		t.Fatal(err)
	}
	// Stable: the same person and sector, any time, any instance.
	a1again, _ := testPairwise(t).Derive(alice, host("rp.example.gov.cn"))
	if !a1.Equal(a1again) || a1.Text() != a1again.Text() {
		t.Error("not stable")
	}
	// Known answer from a one-shot HMAC.
	msg := append([]byte("TrustID/pairwise/v2\x00\x02\x01"), alice.x.mac[:]...)
	msg = append(msg, "rp.example.gov.cn"...)
	want := ident{ver: 1}
	copy(want.mac[:], gm.HMACSM3(testKey(100), msg))
	if a1.Text() != string(want.appendText(nil)) {
		t.Error("pairwise ID differs from HMAC-SM3 of its definition")
	}

	a2, _ := p.Derive(alice, host("bank.example.com"))
	b1, _ := p.Derive(bob, host("rp.example.gov.cn"))
	// The same name as a client ID and as an internal sector: other IDs.
	aClient, _ := p.Derive(alice, Sector{SectorClientID, "rp.example.gov.cn"})
	aInternal, _ := p.Derive(alice, Sector{SectorInternal, "rp.example.gov.cn"})
	distinct := map[string]string{
		"symbol": alice.Text(), "rp": a1.Text(), "bank": a2.Text(), "bob": b1.Text(),
		"client id": aClient.Text(), "internal": aInternal.Text(),
	}
	seen := map[string]string{}
	for name, v := range distinct {
		if other, ok := seen[v]; ok {
			t.Errorf("%s and %s are equal", name, other)
		}
		seen[v] = name
	}
	// Key-separated: another pairwise key gives other IDs, and a pairwise
	// deriver given the symbol key does not reproduce the symbol.
	other, _ := testPairwise(t, VersionedKey{1, testKey(101)}).Derive(alice, host("rp.example.gov.cn"))
	if other.Equal(a1) {
		t.Error("two pairwise keys gave one ID")
	}
	sameKey, _ := testPairwise(t, VersionedKey{1, testKey(0)}).Derive(alice, host("rp.example.gov.cn"))
	if sameKey.Text() == alice.Text() || sameKey.Equal(a1) {
		t.Error("domain separation failed")
	}
	// Text form.
	if len(a1.Text()) != TextLen || a1.Version() != 1 {
		t.Errorf("text %q", a1.Text())
	}
	back, err := ParsePairwiseID(strings.ToLower(a1.Text()))
	if err != nil || !back.Equal(a1) {
		t.Errorf("parse: %v", err)
	}
	if s := fmt.Sprintf("%v %s %#v", a1, a1, a1); strings.Contains(s, a1.Text()) {
		t.Errorf("formatting shows the full ID: %s", s)
	}
	b, _ := json.Marshal(map[string]PairwiseID{"sub": a1})
	if string(b) != `{"sub":"`+a1.Text()+`"}` {
		t.Errorf("json %s", b)
	}
	var m map[string]PairwiseID
	if err := json.Unmarshal(b, &m); err != nil || !m["sub"].Equal(a1) {
		t.Errorf("json round trip: %v", err)
	}
}

func TestPairwiseVersions(t *testing.T) {
	d := testDeriver(t)
	sym, _ := d.Derive(mustParse(t, "11010519491231002X"))
	p := testPairwise(t, VersionedKey{1, testKey(100)}, VersionedKey{2, testKey(102)})
	rp := Sector{SectorClientID, "rp"}
	cur, _ := p.Derive(sym, rp)
	old, err := p.DeriveVersion(sym, rp, 1)
	if err != nil || cur.Version() != 2 || p.Version() != 2 || old.Version() != 1 || old.Equal(cur) {
		t.Fatalf("versions: %v", err)
	}
	v1only, _ := testPairwise(t).Derive(sym, rp)
	if !v1only.Equal(old) {
		t.Error("version 1 differs between derivers")
	}
	if _, err := p.DeriveVersion(sym, rp, 3); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("unknown version: %v", err)
	}
}

func TestPairwiseBadInput(t *testing.T) {
	d := testDeriver(t)
	sym, _ := d.Derive(mustParse(t, "11010519491231002X"))
	p := testPairwise(t)
	for _, kind := range []SectorKind{SectorClientID, SectorIdentifier, SectorInternal} {
		for _, name := range []string{"", strings.Repeat("a", MaxSectorLen+1), "rp\x00x", "rp\nx", "\xff", "rp\u0085"} {
			if _, err := p.Derive(sym, Sector{kind, name}); !errors.Is(err, ErrInvalidSector) {
				t.Errorf("sector %d %q: %v", kind, name, err)
			}
		}
	}
	for _, name := range []string{"Bank.example", "trustid:binding", "政务服务.example", "a..b", "-a.b", "a_b", strings.Repeat("a", 254)} {
		if _, err := p.Derive(sym, Sector{SectorIdentifier, name}); !errors.Is(err, ErrInvalidSector) {
			t.Errorf("sector identifier %q: %v", name, err)
		}
	}
	for _, kind := range []SectorKind{0, 4, 0xff} {
		if _, err := p.Derive(sym, Sector{kind, "rp"}); !errors.Is(err, ErrInvalidSector) {
			t.Errorf("kind %d: %v", kind, err)
		}
	}
	if _, err := p.Derive(sym, Sector{SectorClientID, strings.Repeat("a", MaxSectorLen)}); err != nil {
		t.Errorf("longest sector: %v", err)
	}
	if _, err := p.Derive(sym, Sector{SectorIdentifier, strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + ".xn--fiqs8s"}); err != nil {
		t.Errorf("host sector: %v", err)
	}
	if _, err := p.Derive(sym, Sector{SectorClientID, "政务服务.example"}); err != nil {
		t.Errorf("UTF-8 client ID sector: %v", err)
	}
	if _, err := p.Derive(Symbol{}, Sector{SectorClientID, "rp"}); !errors.Is(err, ErrZeroIdentifier) {
		t.Errorf("zero symbol: %v", err)
	}
	if _, err := NewPairwiseDeriver(); !errors.Is(err, ErrKeys) {
		t.Errorf("no keys: %v", err)
	}
}

func BenchmarkPairwiseDerive(b *testing.B) {
	sym, _ := testDeriver(b).Derive(mustParse(b, "11010519491231002X"))
	p := testPairwise(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Derive(sym, Sector{SectorIdentifier, "rp.example.gov.cn"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPairwiseDeriveKey: derived keys depend on the label and the key
// version, differ from pairwise IDs, and need a version the deriver holds.
func TestPairwiseDeriveKey(t *testing.T) {
	p := testPairwise(t, VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{1}, 32)}, VersionedKey{Version: 2, Secret: bytes.Repeat([]byte{2}, 32)})
	a, err := p.DeriveKey(2, "binding-handle")
	if err != nil || len(a) != 32 {
		t.Fatalf("DeriveKey: %x %v", a, err)
	}
	a2, _ := p.DeriveKey(2, "binding-handle")
	b, _ := p.DeriveKey(2, "other")
	old, _ := p.DeriveKey(1, "binding-handle")
	if !bytes.Equal(a, a2) || bytes.Equal(a, b) || bytes.Equal(a, old) {
		t.Errorf("derived keys: %x %x %x %x", a, a2, b, old)
	}
	if _, err := p.DeriveKey(3, "binding-handle"); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("unknown version: %v", err)
	}
	if _, err := p.DeriveKey(2, ""); err == nil {
		t.Error("empty label accepted")
	}
}
