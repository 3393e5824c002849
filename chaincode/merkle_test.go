package chaincode

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

// TestLeafAndNodeEncoding rebuilds the hashes from the documented byte
// layout, independently of the package's helpers.
func TestLeafAndNodeEncoding(t *testing.T) {
	c := StatusChange{List: "L1", Index: 0x0102030405060708, Status: 2}
	raw := []byte{0x00}
	raw = append(raw, "trustid-status-v1"...)
	raw = append(raw, 0x00, 0x02, 'L', '1', 1, 2, 3, 4, 5, 6, 7, 8, 2)
	if got, want := LeafHash(c), gm.SM3(raw); got != want {
		t.Fatalf("leaf %x, want %x", got, want)
	}
	cs := []StatusChange{c, {List: "L1", Index: 1}, {List: "L2", Index: 2, Status: 1}}
	l0, l1, l2 := LeafHash(cs[0]), LeafHash(cs[1]), LeafHash(cs[2])
	n := func(a, b [32]byte) [32]byte { return gm.SM3(append(append([]byte{0x01}, a[:]...), b[:]...)) }
	root, err := MerkleRoot(cs)
	if err != nil || root != n(n(l0, l1), l2) {
		t.Fatalf("3-leaf root %x: %v", root, err)
	}
	if r1, _ := MerkleRoot(cs[:1]); r1 != l0 {
		t.Error("1-leaf root is not the leaf hash")
	}
	if _, err := MerkleRoot(nil); !errors.Is(err, ErrEmptyBatch) {
		t.Error("empty batch has a root")
	}
	// Pinned vector: changing the encoding breaks every anchored root.
	if got := hex.EncodeToString(root[:]); got != "46c964a5a3108f2a6172d1cdebe7bdd0be17883e2a3f5d89a25abb8429117bbd" {
		t.Errorf("3-leaf root is %s", got)
	}
}

func TestInclusionProofs(t *testing.T) {
	for n := 1; n <= 33; n++ {
		cs := changes(n, "L", 1)
		root, _ := MerkleRoot(cs)
		for i := 0; i < n; i++ {
			p, err := InclusionProof(cs, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(cs[i], uint64(i), uint64(n), p, root); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			wrong := cs[i]
			wrong.Status ^= 1
			if VerifyInclusion(wrong, uint64(i), uint64(n), p, root) == nil {
				t.Fatalf("n=%d i=%d: flipped status verified", n, i)
			}
			if n > 1 && VerifyInclusion(cs[i], uint64((i+1)%n), uint64(n), p, root) == nil {
				t.Fatalf("n=%d i=%d: wrong index verified", n, i)
			}
			if len(p) > 0 && VerifyInclusion(cs[i], uint64(i), uint64(n), p[:len(p)-1], root) == nil {
				t.Fatalf("n=%d i=%d: short proof verified", n, i)
			}
		}
	}
}

func TestCompactEncoding(t *testing.T) {
	cs := []StatusChange{{"A", 0, 0}, {"B", 1 << 40, 255}, {"A", 300, 1}}
	lists, packed := EncodeChanges(cs)
	if !slices.Equal(lists, []string{"A", "B"}) {
		t.Fatal(lists)
	}
	got, err := DecodeChanges(lists, packed, 3)
	if err != nil || !slices.Equal(got, cs) {
		t.Fatalf("%v %v", got, err)
	}
	for name, tc := range map[string]struct {
		lists  []string
		packed []byte
		count  int
	}{
		"trailing":        {lists, append(slices.Clone(packed), 0), 3},
		"short":           {lists, packed[:len(packed)-1], 3},
		"count too large": {lists, packed, 4},
		"zero count":      {lists, packed, 0},
		"unused list":     {[]string{"A", "B", "C"}, packed, 3},
		"order":           {[]string{"A", "B"}, []byte{1, 0, 0, 0, 0, 0}, 2},
		"bad ref":         {[]string{"A"}, []byte{1, 0, 0}, 1},
		"non-minimal":     {[]string{"A"}, []byte{0x80, 0x00, 0, 0}, 1},
		"bad list id":     {[]string{"a b"}, []byte{0, 0, 0}, 1},
		"too many":        {lists, packed, MaxBatchChanges + 1},
	} {
		if _, err := DecodeChanges(tc.lists, tc.packed, tc.count); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeChanges(f *testing.F) {
	_, packed := EncodeChanges([]StatusChange{{"A", 5, 1}, {"B", 1 << 33, 2}})
	f.Add("A", "B", packed, 2)
	f.Add("A", "", []byte{0, 0, 0}, 1)
	f.Fuzz(func(t *testing.T, l1, l2 string, packed []byte, count int) {
		lists := []string{l1}
		if l2 != "" {
			lists = append(lists, l2)
		}
		cs, err := DecodeChanges(lists, packed, count)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes (one encoding per
		// batch, so one root).
		gotLists, again := EncodeChanges(cs)
		if !slices.Equal(gotLists, lists) || !bytes.Equal(again, packed) {
			t.Fatalf("not canonical: %v %x -> %v %x", lists, packed, gotLists, again)
		}
	})
}

// FuzzInvoke feeds arbitrary arguments to every writing function: the
// contract answers with an error or a result, never a panic, and a failed
// call leaves the state as it was.
func FuzzInvoke(f *testing.F) {
	in, _ := NewBatchInput("b1", []StatusChange{{"L", 1, 1}})
	seeds := []string{`{}`, `[]`, `{"id":"b1"}`, js(f, in), `[{"list":"L","version":1,"digest":"00"}]`,
		`{"code":"310000","did":"did:x:y","endpoints":[]}`, `{"client_id":"x","jwks":{"keys":[]}}`}
	for i, s := range seeds {
		f.Add(uint8(i), s, "a")
	}
	fns := Functions()
	f.Fuzz(func(t *testing.T, fi uint8, a0, a1 string) {
		l := newLedger()
		l.must(t, msp31, "RequestRegion", regionInput(t, "310000", 1))
		fn := fns[int(fi)%len(fns)]
		args := [][]byte{[]byte(a0), []byte(a1)}[:functions[fn].nargs]
		l.st.Now = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		_, _ = Invoke(l.st, fn, args)
	})
}

func TestBatchInputRoundTrip(t *testing.T) {
	cs := changes(1000, "https://310000.example/status/7", 1)
	in, err := NewBatchInput("x", cs)
	if err != nil {
		t.Fatal(err)
	}
	packed, _ := base64.RawURLEncoding.DecodeString(in.Changes)
	if len(packed) > 1000*5 {
		t.Errorf("compact records take %d bytes for 1000 changes", len(packed))
	}
	got, err := DecodeBatch(Batch{ID: in.ID, Root: in.Root, Count: in.Count, Lists: in.Lists, Changes: in.Changes})
	if err != nil || !slices.Equal(got, cs) {
		t.Fatal(err)
	}
}

func BenchmarkMerkleRoot1000(b *testing.B) {
	cs := changes(1000, "https://310000.example/status/7", 1)
	b.ReportAllocs()
	for b.Loop() {
		MerkleRoot(cs)
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "changes/s")
}
