package statuslist

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/store"
)

// forgeID is an ID of payload under c's key (what only a holder of the
// region key could make): the MAC checks, so decode's own checks are
// what refuse a malformed payload.
func forgeID(c *CredentialIDs, prefix string, payload []byte) string {
	p := append(bytes.Clone(payload), c.mac("trustid credential id", payload)[:16]...)
	return prefix + base64.RawURLEncoding.EncodeToString(p)
}

// TestCredentialIDMalformedUnderTheKey: payloads with a valid MAC that
// encode did not make are ErrCredentialID, never a panic or entries read
// past what the payload holds: too short, more lists than bytes, a ref
// naming no list or no purpose, cut short, an index past status.MaxEntries
// or a varint unterminated or overflowing, no refs, a version 1 ID with a
// tail, one longer than maxIDChars, characters after a valid ID; and as
// enrollment IDs, no copies, a version 2 tail or a ref count not a
// multiple of the copies, a version 3 shape of another length, a copy of
// 0 or 4 entries, or shapes not adding up to the refs.
func TestCredentialIDMalformedUnderTheKey(t *testing.T) {
	c, err := NewCredentialIDs(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	list, _ := hex.DecodeString("0123456710abcdef")
	// head is version, member, an owner tag and n lists.
	head := func(version, member byte, n int) []byte {
		p := append([]byte{version, member}, c.ownerTag("o")...)
		p = append(p, byte(n))
		for range n {
			p = append(p, list...)
		}
		return p
	}
	// ref is one ref: list number, purpose number, index.
	ref := func(l, purpose byte, index uint64) []byte { return binary.AppendUvarint([]byte{l, purpose}, index) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	one := cat(head(1, 0, 1), []byte{1}, ref(0, 0, 7))
	if refs, _, err := c.Read(forgeID(c, CredentialIDPrefix, one)); err != nil || len(refs) != 1 || refs[0].Index != 7 {
		t.Fatalf("a well-formed payload: %v %v", refs, err)
	}
	for name, p := range map[string][]byte{
		"10 bytes":              head(1, 0, 0)[:10],
		"a list and no refs":    head(1, 0, 1),
		"zero refs":             cat(head(1, 0, 1), []byte{0}),
		"a ref of list 1 of 1":  cat(head(1, 0, 1), []byte{1}, ref(1, 0, 7)),
		"a ref of purpose 3":    cat(head(1, 0, 1), []byte{1}, ref(0, 3, 7)),
		"a ref cut short":       cat(head(1, 0, 1), []byte{1}, []byte{0}),
		"an index past the max": cat(head(1, 0, 1), []byte{1}, ref(0, 0, status.MaxEntries+1)),
		"an unended varint":     cat(head(1, 0, 1), []byte{1}, []byte{0, 0, 0x80}),
		"an overflowing varint": cat(head(1, 0, 1), []byte{1}, []byte{0, 0}, bytes.Repeat([]byte{0xff}, 9), []byte{2}),
		"over maxIDChars":       cat(head(1, 0, maxIDChars*3/4/8), []byte{1}, ref(0, 0, 7)),
		"two refs, one given":   cat(head(1, 0, 1), []byte{2}, ref(0, 0, 7)),
		"a tail":                cat(one, []byte{1}),
	} {
		if _, _, err := c.Read(forgeID(c, CredentialIDPrefix, p)); !errors.Is(err, ErrCredentialID) {
			t.Errorf("%s: %v, want ErrCredentialID", name, err)
		}
	}
	if _, _, err := c.Read(forgeID(c, CredentialIDPrefix, one) + "!!!!"); !errors.Is(err, ErrCredentialID) {
		t.Errorf("a well-formed ID and characters not base64url: %v, want ErrCredentialID", err)
	}
	if refs, _, err := c.Read(forgeID(c, CredentialIDPrefix, cat(head(1, 0, 1), []byte{1}, ref(0, 0, status.MaxEntries)))); err != nil || refs[0].Index != status.MaxEntries {
		t.Errorf("an index of status.MaxEntries: %v %v", refs, err)
	}

	two := cat(ref(0, 0, 7), ref(0, 1, 8))
	if g, err := c.EnrollmentCredentials(forgeID(c, EnrollmentIDPrefix, cat(head(2, 2, 1), []byte{4}, two, two))); err != nil || len(g) != 2 || len(g[1]) != 1 {
		t.Fatalf("a well-formed enrollment: %v %v", g, err)
	}
	for name, p := range map[string][]byte{
		"no copies":                 cat(head(2, 0, 1), []byte{2}, two),
		"a version 2 tail":          cat(head(2, 1, 1), []byte{2}, two, []byte{2}),
		"3 refs for 2 copies":       cat(head(2, 2, 1), []byte{3}, two, ref(0, 0, 9)),
		"a shape of 3 for 2 copies": cat(head(3, 2, 1), []byte{3}, two, ref(0, 0, 9), []byte{1, 2, 1}),
		"a shape of 1 for 2 copies": cat(head(3, 2, 1), []byte{3}, two, ref(0, 0, 9), []byte{3}),
		"a copy of no entries":      cat(head(3, 2, 1), []byte{2}, two, []byte{2, 0}),
		"a copy of 4 entries":       cat(head(3, 2, 1), []byte{5}, two, two, ref(0, 0, 9), []byte{1, 4}),
		"shapes of more than refs":  cat(head(3, 2, 1), []byte{3}, two, ref(0, 0, 9), []byte{2, 2}),
		"shapes of fewer than refs": cat(head(3, 2, 1), []byte{3}, two, ref(0, 0, 9), []byte{1, 1}),
		"a credential ID's version": cat(head(1, 1, 1), []byte{2}, two),
	} {
		if g, err := c.EnrollmentCredentials(forgeID(c, EnrollmentIDPrefix, p)); !errors.Is(err, ErrCredentialID) {
			t.Errorf("%s: %v %v, want ErrCredentialID", name, g, err)
		}
	}
}

// TestCredentialIDMakeBounds: Make takes members 0 to 255 (one byte: a
// member 256 would be member 0's ID) and 1 to 16 entries of list IDs and
// purposes it can encode; MakeEnrollment 1 to 16 copies whose ID is at
// most MaxEnrollmentID characters; the key is 16 to 64 bytes.
func TestCredentialIDMakeBounds(t *testing.T) {
	for n, ok := range map[int]bool{15: false, 16: true, 64: true, 65: false} {
		if _, err := NewCredentialIDs(make([]byte, n)); (err == nil) != ok {
			t.Errorf("a key of %d bytes: %v, want accepted %v", n, err, ok)
		}
	}
	c, _ := NewCredentialIDs(bytes.Repeat([]byte{5}, 32))
	r := status.Ref{ListID: "0123456710abcdef", Index: 7, Purpose: status.PurposeRevocation}
	refs := func(n int) []status.Ref {
		out := make([]status.Ref, n)
		for i := range out {
			out[i] = r
			out[i].Index = i
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		member int
		refs   []status.Ref
		ok     bool
	}{
		{"member 255", 255, refs(1), true},
		{"member 256", 256, refs(1), false},
		{"member -1", -1, refs(1), false},
		{"16 entries", 0, refs(16), true},
		{"17 entries", 0, refs(17), false},
		{"no entries", 0, nil, false},
		{"a list ID in upper case", 0, []status.Ref{{ListID: strings.ToUpper(r.ListID), Purpose: r.Purpose}}, false},
		{"a list ID not hex", 0, []status.Ref{{ListID: strings.Repeat("g", 16), Purpose: r.Purpose}}, false},
		{"another purpose", 0, []status.Ref{{ListID: r.ListID, Purpose: "message"}}, false},
		{"a negative index", 0, []status.Ref{{ListID: r.ListID, Index: -1, Purpose: r.Purpose}}, false},
	} {
		if id, err := c.Make(tc.member, "o", tc.refs); (err == nil) != tc.ok {
			t.Errorf("%s: %q %v, want accepted %v", tc.name, id, err, tc.ok)
		}
	}
	copies := make([][]status.Ref, 17)
	for i := range copies {
		copies[i] = refs(1)
	}
	for n, ok := range map[int]bool{0: false, 1: true, 16: true, 17: false} {
		if _, err := c.MakeEnrollment("o", copies[:n]); (err == nil) != ok {
			t.Errorf("%d copies: %v, want accepted %v", n, err, ok)
		}
	}
	// 16 copies of 3 entries, each entry in a list of its own: no
	// enrollment spans that many lists, and the ID would be over
	// MaxEnrollmentID.
	for i := range copies[:16] {
		copies[i] = make([]status.Ref, 3)
		for j := range copies[i] {
			copies[i][j] = status.Ref{ListID: fmt.Sprintf("%016x", 3*i+j), Index: status.MaxEntries, Purpose: status.PurposeRevocation}
		}
	}
	if id, err := c.MakeEnrollment("o", copies[:16]); err == nil {
		t.Errorf("an enrollment ID of 48 lists: %d characters, want refused", len(id))
	}
}

// TestClearKeepsMarkerOfEntryChangedAgain: clear runs in the background
// once an entry's last change is done (release); by then this instance
// may have accepted another change of the entry, which counted it again
// and, its marker still held, did not claim it. clear must leave that
// marker (another instance's change would otherwise commit before the
// pending one) and only the entries left uncounted are cleared. Found by
// mutation testing: a clear that skipped the check passed every other
// test, its window being the moment between a release and its clear.
func TestClearKeepsMarkerOfEntryChangedAgain(t *testing.T) {
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := &Shared{opts: SharedOptions{Own: &FileStore{instance: "a"}, Markers: m, MarkerTTL: time.Minute, Logger: slog.New(slog.DiscardHandler)},
		marking: map[entryKey]int{}, held: map[entryKey]time.Time{}, found: map[entryKey][]byte{}, markerSeed: maphash.MakeSeed()}
	ctx := context.Background()
	again, done := entryKey{list: "l", index: 7}, entryKey{list: "l", index: 8}
	if _, err := s.mark(ctx, []entryKey{again, done}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	delete(s.marking, done) // released: its change is done
	s.mu.Unlock()
	s.clear([]entryKey{again, done}, nil)

	held, err := m.Claim(ctx, []byte("b"), nil, time.Minute, markerKey(again), markerKey(done))
	if err != nil {
		t.Fatal(err)
	}
	if held[0].Held {
		t.Error("another instance claimed the marker of an entry this instance changed again before its clear ran")
	}
	if !held[1].Held {
		t.Error("the marker of an entry whose changes are all done was not cleared")
	}
}
