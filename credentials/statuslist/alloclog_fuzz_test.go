package statuslist

import (
	"errors"
	"testing"

	"github.com/trustid-cn/trustid/credentials/status"
)

// FuzzAllocLog: an allocation log read back from disk, whatever its
// bytes, is refused as ErrCorrupted, or its whole records (a prefix of
// it, the rest a torn record) mark entries of known lists within their
// size, and the count of each list is its marked entries.
func FuzzAllocLog(f *testing.F) {
	const a, b = "00000001aaaaaaaa", "00000002bbbbbbbb"
	r1 := record(map[string][]uint32{a: {0, 7, 8}})
	r2 := record(map[string][]uint32{b: {status.MinEntries - 1}, a: {3}})
	f.Add(append(append([]byte{}, r1...), r2...))
	f.Add(append(append([]byte{}, r1...), r2[:len(r2)-3]...))
	f.Add(append(append([]byte{}, r1...), 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(record(map[string][]uint32{"unknown": {1}}))
	f.Add(record(map[string][]uint32{a: {status.MinEntries}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &FileStore{lists: map[string]*list{}, logLists: map[string]bool{}}
		for _, id := range []string{a, b} {
			bits, _ := status.NewBitstring(status.MinEntries)
			s.lists[id] = &list{id: id, purpose: status.PurposeRevocation, bits: bits, allocated: make([]byte, status.MinEntries/8)}
		}
		good, err := s.applyAllocLog(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupted) {
				t.Fatalf("error %v is not ErrCorrupted", err)
			}
			return
		}
		if good < 0 || good > len(data) {
			t.Fatalf("%d whole bytes of %d", good, len(data))
		}
		for _, l := range s.lists {
			n := 0
			for i := range l.size() {
				if l.isAllocated(i) {
					n++
				}
			}
			if n != l.count {
				t.Fatalf("list %s: count %d, %d marked", l.id, l.count, n)
			}
		}
		// What is left after the whole records is torn: read alone, it
		// holds no whole record.
		s2 := &FileStore{lists: s.lists, logLists: map[string]bool{}}
		if rest, err := s2.applyAllocLog(data[good:]); err == nil && rest != 0 {
			t.Fatalf("a whole record of %d bytes after the %d read", rest, good)
		}
	})
}
