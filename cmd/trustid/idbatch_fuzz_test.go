package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/identity"
)

// batchWant is what derive-batch must write for line: its symbol or
// "!CODE", as DeriveInput gives them one line at a time.
func batchWant(d *identity.Deriver, line []byte) string {
	s, err := d.DeriveInput(nil, line)
	if err != nil {
		code, ok := identity.CodeOf(err)
		if !ok {
			code = "error"
		}
		return "!" + string(code)
	}
	return s.Text()
}

// runBatch runs derive-batch's reader, workers and writer over in with
// chunks of chunk bytes (0: the default).
func runBatch(t *testing.T, d *identity.Deriver, in []byte, chunk int) []string {
	t.Helper()
	b := &idBatch{deriver: d, workers: 2, chunk: chunk}
	var out bytes.Buffer
	if err := b.run(&cobra.Command{}, bytes.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

func testBatchDeriver(t testing.TB) *identity.Deriver {
	d, err := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// FuzzDeriveBatch: whatever the bytes of a derive-batch input and however
// they fall into chunks, every input line gives one output line, in
// order: the line's own symbol or !CODE when the line is shorter than a
// chunk, else that or !input_too_large.
func FuzzDeriveBatch(f *testing.F) {
	// GB 11643's sample number and a sibling of it (another sequence
	// number), not a person's.
	sibling := residentNumber("11010519491231001")
	f.Add([]byte("11010519491231002X\n"+sibling+"\n"), uint8(20))
	f.Add([]byte("11010519491231002X\r\n\n  "+sibling), uint8(7))
	f.Add([]byte("999999999999999999999999999999\n11010519491231002X\nx"), uint8(25))
	f.Add([]byte("G12345678\nE12345678\n\xff\xfe\n"), uint8(1))
	d := testBatchDeriver(f)
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		c := int(chunk%64) + 1
		got := runBatch(t, d, in, c)
		lines := bytes.Split(bytes.TrimSuffix(in, []byte("\n")), []byte("\n"))
		if len(in) == 0 {
			lines = nil
			got = got[:0]
		}
		if len(got) != len(lines) {
			t.Fatalf("%d output lines for %d input lines (chunk %d): %q", len(got), len(lines), c, got)
		}
		for i, l := range lines {
			want := batchWant(d, l)
			if got[i] != want && (len(l) < c || got[i] != "!"+string(identity.CodeInputTooLarge)) {
				t.Fatalf("line %d %q (chunk %d): %q, want %q", i+1, l, c, got[i], want)
			}
		}
	})
}

// TestDeriveBatchAfterLongLine: a valid number right after an over-long
// line, straddling the next chunk boundary, gives its symbol, not
// !input_too_large: only a line that fills a whole chunk is over-long.
func TestDeriveBatchAfterLongLine(t *testing.T) {
	d := testBatchDeriver(t)
	const id = "11010519491231002X"
	long := strings.Repeat("9", 2*idBatchChunk-10) // ends 9 bytes before the second chunk's end
	in := []byte(long + "\n" + id + "\n" + id + "\n")
	got := runBatch(t, d, in, 0)
	want := []string{"!" + string(identity.CodeInputTooLarge), batchWant(d, []byte(id)), batchWant(d, []byte(id))}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q, want %q", got, want)
	}
}
