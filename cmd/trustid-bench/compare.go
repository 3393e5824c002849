package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The comparisons of other libraries are Go benchmarks (the tjfoc/gmsm
// oracle is a test-only dependency and is never linked into this tool):
// scripts/bench.sh runs api's benchmarks (BenchmarkCompare*,
// BenchmarkValidateToken and BenchmarkSM2VerifyBaseline among them) in one
// test process, three rounds, and passes the output to -gobench; the
// ratios go into the table.

// comparisons pair the benchmarks compared, A over B.
var comparisons = []struct {
	what, a, b string
}{
	{"SM2 verify of a token's signing input: emmansun/gmsm (TrustID) ÷ tjfoc/gmsm", "CompareSM2Verify/emmansun", "CompareSM2Verify/tjfoc"},
	{"JWT validation, golang-jwt parser, same claims: SM2 by emmansun ÷ SM2 by tjfoc", "CompareJWT/SM2-emmansun", "CompareJWT/SM2-tjfoc"},
	{"JWT validation, golang-jwt parser, same claims: SM2 by emmansun ÷ ES256", "CompareJWT/SM2-emmansun", "CompareJWT/ES256"},
	{"TrustID access-token check (whole middleware, cache off) ÷ plain golang-jwt ES256 validation", "ValidateToken", "CompareJWT/ES256"},
	{"TrustID access-token check (whole middleware, cache off) ÷ one bare SM2 verify", "ValidateToken", "SM2VerifyBaseline"},
}

// comparison is one row: A and B in ns/op (medians over the rounds) and
// the ratio A/B of each round (rounds pair the k-th run of each).
type comparison struct {
	What   string    `json:"what"`
	A      string    `json:"a"`
	B      string    `json:"b"`
	ANs    float64   `json:"a_ns_per_op"`
	BNs    float64   `json:"b_ns_per_op"`
	Ratios []float64 `json:"ratios_per_round"`
}

// benchLine matches a Go benchmark result: name (without -GOMAXPROCS),
// iterations, ns/op.
var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

// parseGoBench reads Go benchmark output: each benchmark's ns/op, in the
// order of its runs.
func parseGoBench(r io.Reader) (map[string][]float64, error) {
	out := map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: %w", m[1], err)
		}
		out[m[1]] = append(out[m[1]], v)
	}
	return out, sc.Err()
}

// compareFiles reads the -gobench files and works out every comparison;
// a comparison whose benchmarks are missing is an error.
func compareFiles(paths []string) ([]comparison, error) {
	runs := map[string][]float64{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		m, err := parseGoBench(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for k, v := range m {
			runs[k] = append(runs[k], v...)
		}
	}
	var out []comparison
	for _, c := range comparisons {
		a, b := runs[c.a], runs[c.b]
		if len(a) == 0 || len(b) == 0 {
			return nil, fmt.Errorf("-gobench: no Benchmark%s or Benchmark%s in %s", c.a, c.b, strings.Join(paths, ", "))
		}
		x := comparison{What: c.what, A: c.a, B: c.b, ANs: median(a), BNs: median(b)}
		for i := range min(len(a), len(b)) {
			x.Ratios = append(x.Ratios, a[i]/b[i])
		}
		out = append(out, x)
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// comparisonsMarkdown writes the comparisons as a table.
func comparisonsMarkdown(w io.Writer, cs []comparison) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "Comparisons (Go benchmarks in one process, rounds back to back; ratio = A ÷ B, median of the rounds' ratios, range in brackets):\n\n")
	fmt.Fprintln(w, "| comparison | A | A µs | B | B µs | A ÷ B |")
	fmt.Fprintln(w, "| --- | --- | ---: | --- | ---: | ---: |")
	for _, c := range cs {
		fmt.Fprintf(w, "| %s | `%s` | %.1f | `%s` | %.1f | %.3f× [%.3f–%.3f] |\n",
			c.What, c.A, c.ANs/1e3, c.B, c.BNs/1e3, median(c.Ratios), slices.Min(c.Ratios), slices.Max(c.Ratios))
	}
	fmt.Fprintln(w)
}
