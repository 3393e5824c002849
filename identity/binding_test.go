package identity

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/emmansun/gmsm/sm4"

	"github.com/trustid-cn/trustid/gm"
)

func testBindingSubjects(t testing.TB, secret byte) *BindingSubjects {
	t.Helper()
	pw, err := NewPairwiseDeriver(VersionedKey{Version: 3, Secret: bytes.Repeat([]byte{secret}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBindingSubjects(pw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testBindingSymbol(t testing.TB, number string) Symbol {
	t.Helper()
	d, err := NewDeriver(VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(number)
	if err != nil {
		t.Fatal(err)
	}
	sym, err := d.Derive(doc)
	if err != nil {
		t.Fatal(err)
	}
	return sym
}

// TestBindingSubjects: the subject is stable per person and not the
// symbol; relying parties' IDs are stable per sector, differ across
// sectors and people, and depend on the pairwise key.
func TestBindingSubjects(t *testing.T) {
	bs := testBindingSubjects(t, 1)
	a := testBindingSymbol(t, "11010519491231002X")
	b := testBindingSymbol(t, "110105194912310038")
	sa, err := bs.Subject(a)
	if err != nil {
		t.Fatal(err)
	}
	sa2, _ := bs.Subject(a)
	sb, _ := bs.Subject(b)
	if !bytes.Equal(sa, sa2) || bytes.Equal(sa, sb) || len(sa) != BindingSubjectSize || sa[0] != 3 {
		t.Fatalf("subjects: %x %x %x", sa, sa2, sb)
	}
	if bytes.Equal(sa[1:], a.x.mac[:]) {
		t.Error("the subject is the symbol")
	}
	// The subject is the pairwise ID under the internal binding sector, as bytes.
	if id, err := bs.p.Derive(a, Sector{Kind: SectorInternal, Name: BindingSector}); err != nil || sa[0] != id.x.ver || !bytes.Equal(sa[1:], id.x.mac[:]) {
		t.Errorf("subject %x is not the binding-sector pairwise ID (%v)", sa, err)
	}
	hotel, shop := Sector{Kind: SectorIdentifier, Name: "hotel.example"}, Sector{Kind: SectorIdentifier, Name: "shop.example"}
	// Relying parties see IDs derived through per-copy handles.
	ha, _ := bs.Handle(sa, rand.Reader)
	ha2, _ := bs.Handle(sa, rand.Reader)
	hb0, _ := bs.Handle(sb, rand.Reader)
	if len(ha) != BindingHandleSize || bytes.Equal(ha, ha2) || bytes.Contains(ha, sa[1:8]) || bytes.Contains(ha2, sa[1:8]) {
		t.Fatalf("handles: %x %x of %x", ha, ha2, sa)
	}
	if back, err := bs.Open(ha2); err != nil || !bytes.Equal(back, sa) {
		t.Fatalf("Open: %x %v, want %x", back, err, sa)
	}
	h1, _ := bs.Pairwise(ha, hotel)
	h2, _ := bs.Pairwise(ha2, hotel)
	s1, _ := bs.Pairwise(ha, shop)
	hb, _ := bs.Pairwise(hb0, hotel)
	if h1 != h2 || h1 == s1 || h1 == hb || len(h1) != TextLen {
		t.Errorf("pairwise: %s %s %s %s", h1, h2, s1, hb)
	}
	other := testBindingSubjects(t, 2)
	oa, _ := other.Subject(a)
	oh, _ := other.Handle(oa, rand.Reader)
	if o, _ := other.Pairwise(oh, hotel); o == h1 || o == "" {
		t.Errorf("another pairwise key gives ID %q (first key: %s)", o, h1)
	}
	if _, err := bs.Pairwise(ha, Sector{Kind: SectorInternal, Name: BindingSector}); err == nil {
		t.Error("the internal sector was accepted")
	}
	for _, bad := range [][]byte{make([]byte, 16), sa} {
		if _, err := bs.Pairwise(bad, hotel); err == nil {
			t.Errorf("a %d-byte subject was accepted", len(bad))
		}
	}
}

// TestBindingHandleKeyVersions: each key version's handles are SM4-CTR
// under DeriveKey(v, "binding-handle") (the cipher keyed once per version
// at NewBindingSubjects), older versions open too, and a version the
// deriver lacks is ErrUnknownKeyVersion.
func TestBindingHandleKeyVersions(t *testing.T) {
	pw, err := NewPairwiseDeriver(VersionedKey{Version: 2, Secret: bytes.Repeat([]byte{5}, 32)},
		VersionedKey{Version: 3, Secret: bytes.Repeat([]byte{6}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := NewBindingSubjects(pw)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []byte{2, 3} {
		subject := append([]byte{v}, bytes.Repeat([]byte{0xa5}, BindingSubjectSize-1)...)
		h, err := bs.Handle(subject, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := pw.DeriveKey(int(v), handleKeyLabel)
		blk, _ := sm4.NewCipher(k[:gm.SM4KeySize])
		iv := make([]byte, sm4.BlockSize)
		copy(iv, h[1:1+handleNonceSize])
		want := make([]byte, BindingSubjectSize-1)
		cipher.NewCTR(blk, iv).XORKeyStream(want, subject[1:])
		if !bytes.Equal(h[1+handleNonceSize:], want) {
			t.Fatalf("version %d: handle is not SM4-CTR under the derived key", v)
		}
		if back, err := bs.Open(h); err != nil || !bytes.Equal(back, subject) {
			t.Fatalf("version %d: Open %x, %v", v, back, err)
		}
		h[0] = 4
		if _, err := bs.Open(h); !errors.Is(err, ErrUnknownKeyVersion) {
			t.Fatalf("version 4: %v", err)
		}
	}
}
