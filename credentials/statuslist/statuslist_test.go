package statuslist

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The all-zero 16 KiB list from the examples of W3C Bitstring Status List
// v1.0.
const specEmptyList = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"

func TestDecodeSpecExample(t *testing.T) {
	b, err := DecodeBitstring(specEmptyList, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != MinEntries {
		t.Fatalf("len %d", b.Len())
	}
	for i := range b.Len() {
		if b.Get(i) {
			t.Fatalf("bit %d set", i)
		}
	}
}

func TestBitOrder(t *testing.T) {
	b, _ := NewBitstring(MinEntries)
	b.Set(0, true)
	b.Set(9, true)
	if b.bits[0] != 0x80 || b.bits[1] != 0x40 {
		t.Fatalf("bit order: %x %x (index 0 must be the leftmost bit)", b.bits[0], b.bits[1])
	}
	enc := b.Encode()
	if enc[0] != 'u' {
		t.Fatal("no multibase prefix")
	}
	d, err := DecodeBitstring(enc, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 16 {
		if d.Get(i) != (i == 0 || i == 9) {
			t.Fatalf("round trip bit %d", i)
		}
	}
	if err := b.Set(MinEntries, true); !errors.Is(err, ErrIndex) {
		t.Fatalf("set out of range: %v", err)
	}
}

func gz(data []byte) string {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(data)
	w.Close()
	return "u" + b64.EncodeToString(buf.Bytes())
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]string{
		"no prefix":    specEmptyList[1:],
		"base58":       "z" + specEmptyList[1:],
		"bad base64":   "u!!!!",
		"not gzip":     "u" + b64.EncodeToString([]byte("hello world")),
		"too small":    gz(make([]byte, 1024)),
		"empty":        "u",
		"zip bomb cap": gz(make([]byte, 4<<20)),
	}
	for name, enc := range cases {
		max := 0
		if name == "zip bomb cap" {
			max = 1 << 20 // entries
		}
		if _, err := DecodeBitstring(enc, max); !errors.Is(err, ErrEncoding) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Padded base64url is accepted.
	if _, err := DecodeBitstring(gz(make([]byte, MinEntries/8))+"==", 0); err != nil {
		t.Errorf("padded: %v", err)
	}
}

// TestTokenListSpecExamples decodes the 1-bit and 2-bit examples of the
// IETF Token Status List draft.
func TestTokenListSpecExamples(t *testing.T) {
	one, err := DecodeTokenList(1, "eNrbuRgAAhcBXQ", 0)
	if err != nil {
		t.Fatal(err)
	}
	want1 := []uint8{1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1}
	for i, w := range want1 {
		if got, _ := one.Get(i); got != w {
			t.Errorf("1-bit status[%d] = %d, want %d", i, got, w)
		}
	}
	two, err := DecodeTokenList(2, "eNo76fITAAPfAgc", 0)
	if err != nil {
		t.Fatal(err)
	}
	want2 := []uint8{1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3}
	for i, w := range want2 {
		if got, _ := two.Get(i); got != w {
			t.Errorf("2-bit status[%d] = %d, want %d", i, got, w)
		}
	}
}

func TestTokenListRoundTrip(t *testing.T) {
	for _, bits := range []int{1, 2, 4, 8} {
		l, err := NewTokenList(bits, 1024)
		if err != nil {
			t.Fatal(err)
		}
		max := uint8(1<<bits - 1)
		for i := 0; i < 1024; i += 7 {
			if err := l.Set(i, uint8(i)&max); err != nil {
				t.Fatal(err)
			}
		}
		d, err := DecodeTokenList(bits, l.Encode(), 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 1024; i++ {
			want := uint8(0)
			if i%7 == 0 {
				want = uint8(i) & max
			}
			if got, _ := d.Get(i); got != want {
				t.Fatalf("bits %d: status[%d] = %d, want %d", bits, i, got, want)
			}
		}
		if bits < 8 {
			if err := l.Set(0, max+1); !errors.Is(err, ErrValue) {
				t.Fatalf("bits %d: oversized value: %v", bits, err)
			}
		}
	}
	if _, err := DecodeTokenList(3, "eNrbuRgAAhcBXQ", 0); !errors.Is(err, ErrEncoding) {
		t.Fatal("bits 3 accepted")
	}
}

func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	var id string
	var idx []int
	for i := 0; i < 200; i++ {
		lid, x, err := s.Allocate(ctx, PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		if id == "" {
			id = lid
		} else if lid != id {
			t.Fatal("a second list was started early")
		}
		if seen[x] {
			t.Fatalf("index %d allocated twice", x)
		}
		seen[x] = true
		idx = append(idx, x)
	}
	// Random, not sequential: consecutive allocations are not neighbours.
	near := 0
	for i := 1; i < len(idx); i++ {
		if d := idx[i] - idx[i-1]; d >= -2 && d <= 2 {
			near++
		}
	}
	if near > 3 {
		t.Fatalf("%d of 200 allocations were next to the previous one", near)
	}
	if err := s.Set(ctx, id, idx[5], 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, id, idx[5], 2); !errors.Is(err, ErrValue) {
		t.Fatalf("value 2 on a bitstring: %v", err)
	}
	free := 0
	for seen[free] {
		free++
	}
	if err := s.Set(ctx, id, free, 1); !errors.Is(err, ErrIndex) {
		t.Fatalf("unallocated index: %v", err)
	}
	if err := s.Set(ctx, "0000000000000000", 0, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown list: %v", err)
	}
	if _, _, err := s.Allocate(ctx, "other"); !errors.Is(err, ErrPurpose) {
		t.Fatalf("unknown purpose: %v", err)
	}
	tid, tx, err := s.Allocate(ctx, PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, tid, tx, TokenSuspended); err != nil {
		t.Fatal(err)
	}

	// Reopen: allocations and statuses survive.
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p, v, _ := s2.Get(ctx, id, idx[5]); v != 1 || p != PurposeRevocation {
		t.Fatal("status lost on reopen")
	}
	if _, v, _ := s2.Get(ctx, tid, tx); v != TokenSuspended {
		t.Fatal("token status lost on reopen")
	}
	snap, err := s2.Snapshot(ctx, id)
	// Version 1 at creation, 2 after the one successful Set.
	if err != nil || snap.Bitstring == nil || !snap.Bitstring.Get(idx[5]) || snap.Version != 2 {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
	for i := 0; i < 50; i++ {
		_, x, err := s2.Allocate(ctx, PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		if seen[x] {
			t.Fatalf("index %d reused after reopen", x)
		}
		seen[x] = true
	}
}

func TestFileStoreGrows(t *testing.T) {
	ctx := context.Background()
	s, err := OpenFileStore(t.TempDir(), FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid, _, _ := s.Allocate(ctx, PurposeSuspension)
	// Fill the list to its limit in memory, then allocate: a new list starts.
	l := s.lists[lid]
	for i := 0; !l.full(); i++ {
		if !l.isAllocated(i) {
			l.allocated[i>>3] |= 0x80 >> (i & 7)
			l.count++
		}
	}
	lid2, _, err := s.Allocate(ctx, PurposeSuspension)
	if err != nil {
		t.Fatal(err)
	}
	if lid2 == lid || len(s.Lists()) != 2 {
		t.Fatalf("no new list: %s %s %v", lid, lid2, s.Lists())
	}
}

func TestFileStoreCorrupted(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "0123456789abcdef.json"), []byte(`{"format":"x"}`), 0o600)
	if _, err := OpenFileStore(dir, FileStoreOptions{}); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("corrupted list: %v", err)
	}
}

// failingRand fails after n bytes, to check that a failed allocation
// leaves nothing behind.
type failingRand struct{ n int }

func (f *failingRand) Read(p []byte) (int, error) {
	if f.n < len(p) {
		return 0, errors.New("entropy exhausted")
	}
	f.n -= len(p)
	return rand.Read(p)
}

func TestFileStoreRandFailure(t *testing.T) {
	s, _ := OpenFileStore(t.TempDir(), FileStoreOptions{Rand: &failingRand{n: 8}, Now: func() time.Time { return time.Unix(0, 0) }})
	if _, _, err := s.Allocate(context.Background(), PurposeRevocation); err == nil {
		t.Fatal("allocation without randomness succeeded")
	}
}

func FuzzDecodeBitstring(f *testing.F) {
	f.Add(specEmptyList)
	f.Add("u")
	f.Add("uH4sI")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeBitstring(s, 1<<20)
		if err == nil && b.Len() < MinEntries {
			t.Fatal("short list accepted")
		}
	})
}

func FuzzDecodeTokenList(f *testing.F) {
	f.Add(1, "eNrbuRgAAhcBXQ")
	f.Add(2, "eNo76fITAAPfAgc")
	f.Fuzz(func(t *testing.T, bits int, s string) {
		l, err := DecodeTokenList(bits, s, 1<<16)
		if err == nil {
			l.Get(l.Len() - 1)
		}
	})
}

func BenchmarkDecodeBitstring1M(b *testing.B) {
	l, _ := NewBitstring(1 << 20)
	for i := 0; i < l.Len(); i += 97 {
		l.Set(i, true)
	}
	enc := l.Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBitstring(enc, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFileStoreIndex(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, _ := OpenFileStore(dir, FileStoreOptions{})
	lid, x, _ := s.Allocate(ctx, PurposeRevocation)
	refs := []Ref{{ListID: lid, Index: x, Purpose: PurposeRevocation}}
	if err := s.Bind(ctx, "urn:uuid:1", refs); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(ctx, "urn:uuid:1", refs); !errors.Is(err, ErrBound) {
		t.Fatalf("bound twice: %v", err)
	}
	if err := s.Bind(ctx, "urn:uuid:2", []Ref{{ListID: lid, Index: x + 1, Purpose: PurposeRevocation}}); err == nil && x+1 < MinEntries {
		// x+1 is almost surely unallocated
		if s.lists[lid].isAllocated(x + 1) {
			t.Skip("neighbour allocated")
		}
		t.Fatal("bound an unallocated index")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, indexFile))
	if bytes.Contains(raw, []byte("urn:uuid:1")) {
		t.Fatal("credential ID stored in clear")
	}
	// A torn final line (crash during append) is ignored on reopen.
	f, _ := os.OpenFile(filepath.Join(dir, indexFile), os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte(`{"key":"ab`))
	f.Close()
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Refs(ctx, "urn:uuid:1")
	if err != nil || len(got) != 1 || got[0] != refs[0] {
		t.Fatalf("refs after reopen: %v %v", got, err)
	}
	if _, err := s2.Refs(ctx, "urn:uuid:3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown ID: %v", err)
	}
}
