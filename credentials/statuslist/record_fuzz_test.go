package statuslist

import (
	"bytes"
	"testing"

	"github.com/trustid-cn/trustid/credentials/status"
)

// FuzzCommitRecord: a change-pending marker read back from the shared
// store, whatever its bytes, is an instance's name or a commit record
// of a block and a batch, never both, and a record written again as
// the store holds it reads back as itself.
func FuzzCommitRecord(f *testing.F) {
	k := entryKey{list: "00000001aaaaaaaa", index: 7}
	f.Add(commitRecord{key: k, block: 12, batch: "b-1f"}.value())
	f.Add(commitRecord{key: k, block: 1<<64 - 1, batch: "x y"}.value())
	f.Add([]byte("node-1"))
	f.Add([]byte("=12"))
	f.Add([]byte("= b"))
	f.Add([]byte("=-1 b"))
	f.Add([]byte("=012 b"))
	f.Add([]byte("=18446744073709551616 b"))
	f.Fuzz(func(t *testing.T, v []byte) {
		r, ok := parseRecord(k, v)
		if status.ValidInstance(string(v)) && ok {
			t.Fatalf("instance name %q read as a record", v)
		}
		if !ok {
			if r != (commitRecord{}) {
				t.Fatalf("refused with %+v", r)
			}
			return
		}
		if r.key != k || r.batch == "" {
			t.Fatalf("%q read as %+v", v, r)
		}
		again, ok := parseRecord(k, r.value())
		if !ok || again != r {
			t.Fatalf("%+v written as %q reads back as %+v, %v", r, r.value(), again, ok)
		}
		if !bytes.HasPrefix(v, []byte(recordPrefix)) {
			t.Fatalf("%q without the prefix read as a record", v)
		}
	})
}
