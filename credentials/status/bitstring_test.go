package status

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"runtime"
	"testing"
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
	// A verifier calls Check before Get, which would panic out of range.
	for _, i := range []int{-1, MinEntries} {
		if err := d.Check(i); !errors.Is(err, ErrIndex) {
			t.Fatalf("Check(%d): %v", i, err)
		}
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

// TestDecodeGZIPMembers: the Bitstring Expansion Algorithm (BSL v1.0
// §3.4) expands encodedList "using the GZIP decompression algorithm
// [RFC1952]", and a gzip file "consists of a series of members" (RFC 1952
// §2.2), which decompress to their concatenation. A list written as two
// members was read as its first member alone (here below the minimum
// size, so refused; else its later entries out of range), and bytes after
// the member, which are none, were ignored.
func TestDecodeGZIPMembers(t *testing.T) {
	half := make([]byte, MinEntries/16)
	second := make([]byte, MinEntries/16)
	second[0] = 0x80 // entry MinEntries/2
	var buf bytes.Buffer
	for _, part := range [][]byte{half, second} {
		w := gzip.NewWriter(&buf)
		w.Write(part)
		w.Close()
	}
	b, err := DecodeBitstring("u"+b64.EncodeToString(buf.Bytes()), 0)
	if err != nil {
		t.Fatalf("a list of two GZIP members: %v", err)
	}
	if b.Len() != MinEntries || !b.Get(MinEntries/2) || b.Get(MinEntries/2-1) {
		t.Fatalf("a list of two GZIP members: %d entries, entry %d set: %v", b.Len(), MinEntries/2, b.Get(MinEntries/2))
	}
	one := gz(make([]byte, MinEntries/8))
	raw, _ := b64.DecodeString(one[1:])
	for name, tail := range map[string][]byte{"garbage": []byte("trailing"), "a zero": {0}} {
		if _, err := DecodeBitstring("u"+b64.EncodeToString(append(bytes.Clone(raw), tail...)), 0); !errors.Is(err, ErrEncoding) {
			t.Errorf("a GZIP member followed by %s: %v, want ErrEncoding", name, err)
		}
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
	l, _ := NewTokenList(2, 1024)
	for _, i := range []int{-1, l.Len()} {
		if _, err := l.Get(i); !errors.Is(err, ErrIndex) {
			t.Fatalf("Get(%d) of %d: %v", i, l.Len(), err)
		}
	}
	if _, err := DecodeTokenList(1, zl(nil), 0); !errors.Is(err, ErrEncoding) {
		t.Fatalf("empty list: %v", err)
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

func zl(data []byte) string {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	w.Write(data)
	w.Close()
	return b64.EncodeToString(buf.Bytes())
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestDecodeDefaultCapsRemote: with no explicit bound the decoders take
// remote lists of at most MaxRemoteEntries, and a small input that
// expands past that is refused after decompressing little more than the
// cap (the 174 KB, 8-bit lst of the review expanded to 128 MiB).
func TestDecodeDefaultCapsRemote(t *testing.T) {
	bomb := zl(make([]byte, 32<<20)) // 32 MiB of zeros, ~33 KB compressed
	var err error
	n := allocated(func() { _, err = DecodeTokenList(8, bomb, 0) })
	if !errors.Is(err, ErrEncoding) {
		t.Fatalf("8-bit bomb: %v", err)
	}
	if n > 16<<20 { // the output buffer grows to at most 2 MiB
		t.Errorf("decoding the bomb allocated %d bytes", n)
	}
	// Exactly at the cap is fine; one byte more is not.
	for _, bits := range []int{1, 2} {
		size := MaxRemoteEntries * bits / 8
		if l, err := DecodeTokenList(bits, zl(make([]byte, size)), 0); err != nil || l.Len() != MaxRemoteEntries {
			t.Errorf("bits %d at the cap: %v", bits, err)
		}
		if _, err := DecodeTokenList(bits, zl(make([]byte, size+1)), 0); !errors.Is(err, ErrEncoding) {
			t.Errorf("bits %d past the cap: %v", bits, err)
		}
	}
	if _, err := DecodeBitstring(gz(make([]byte, MaxRemoteEntries/8)), 0); err != nil {
		t.Errorf("bitstring at the cap: %v", err)
	}
	big := gz(make([]byte, 16<<20))
	n = allocated(func() { _, err = DecodeBitstring(big, 0) })
	if !errors.Is(err, ErrEncoding) {
		t.Errorf("16 MiB bitstring: %v", err)
	}
	if n > 4<<20 {
		t.Errorf("16 MiB bitstring allocated %d bytes", n)
	}
	// A caller may still ask for more, up to MaxEntries.
	if _, err := DecodeBitstring(gz(make([]byte, 4<<20)), 1<<25); err != nil {
		t.Errorf("explicit larger bound: %v", err)
	}
}
