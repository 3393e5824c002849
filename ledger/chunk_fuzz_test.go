package ledger

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeChunk: an outbox chunk read back from disk decodes to the
// changes it was encoded from, or is refused as errChunk; a damaged
// count never makes the decoder allocate for changes the bytes cannot
// hold.
func FuzzDecodeChunk(f *testing.F) {
	f.Add(encodeChunk([]StatusChange{{List: "l1", Index: 7, Status: 1}, {List: "", Index: 1 << 40, Status: 0}}))
	f.Add(encodeChunk(nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 1, 2, 'l', '1', 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := decodeChunk(b)
		if err != nil {
			if !errors.Is(err, errChunk) {
				t.Fatalf("error %v is not errChunk", err)
			}
			return
		}
		again, err := decodeChunk(encodeChunk(cs))
		if err != nil || !reflect.DeepEqual(again, cs) {
			t.Fatalf("round trip: %v, %+v != %+v", err, again, cs)
		}
	})
}

// TestDecodeChunkHugeCount: a chunk whose count says four billion changes
// but holds none is refused, not a 128 GB allocation that kills the node
// when it reads its outbox back.
func TestDecodeChunkHugeCount(t *testing.T) {
	if _, err := decodeChunk([]byte{0xff, 0xff, 0xff, 0xff}); !errors.Is(err, errChunk) {
		t.Fatalf("err = %v, want errChunk", err)
	}
}
