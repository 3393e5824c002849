// Command gennumbers writes synthetic, valid 18-digit resident ID numbers,
// one per line, for measuring `trustid id derive-batch`:
//
//	go run ./identity/internal/gennumbers -n 10000000 -o /tmp/ids.txt
//	time trustid id derive-batch --in /tmp/ids.txt --out /dev/null
//
// The numbers are made up: current county-level address codes from a
// fixed list, birth dates from 1930 to 2019, random sequence numbers and
// the MOD 11-2 check character. They are test data; never commit the file.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/trustid-cn/trustid/identity"
)

// codes are current GB/T 2260 county-level codes across provinces.
var codes = []string{
	"110101", "110105", "110108", "120101", "130102", "140105", "150102", "210102", "220102", "230102",
	"310101", "310104", "310115", "320102", "330106", "340102", "350102", "360102", "370102", "410102",
	"420102", "430102", "440103", "440305", "450102", "460105", "500101", "510104", "520102", "530102",
	"540102", "610102", "620102", "630102", "640104", "650102",
}

func main() {
	n := flag.Int("n", 10_000_000, "number of lines")
	out := flag.String("o", "-", "output file, or - for standard output")
	seed := flag.Uint64("seed", 1, "random seed (the same seed gives the same file)")
	flag.Parse()
	var w io.Writer = os.Stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gennumbers:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	if err := write(w, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gennumbers:", err)
		os.Exit(1)
	}
}

// write writes n numbers to w.
func write(w io.Writer, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 1<<20)
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	var line [19]byte
	line[18] = '\n'
	for i := 0; i < n; i++ {
		copy(line[:6], codes[r.IntN(len(codes))])
		y := 1930 + r.IntN(90)
		m := 1 + r.IntN(12)
		d := 1 + r.IntN(days[m])
		seq := r.IntN(1000)
		put(line[6:10], y)
		put(line[10:12], m)
		put(line[12:14], d)
		put(line[14:17], seq)
		line[17] = identity.Mod112(string(line[:17]))
		if _, err := bw.Write(line[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// put writes v in decimal into b, zero-padded.
func put(b []byte, v int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}
