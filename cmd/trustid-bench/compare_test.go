package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareFiles reads Go benchmark output of two rounds and works out
// each comparison per round; a missing benchmark is an error.
func TestCompareFiles(t *testing.T) {
	out := `goos: linux
BenchmarkSM2VerifyBaseline-2   	   20000	     50000 ns/op	    1234 B/op	      17 allocs/op
BenchmarkValidateToken-2       	   20000	     60000 ns/op
BenchmarkCompareSM2Verify/emmansun-2  	   20000	     50000 ns/op
BenchmarkCompareSM2Verify/tjfoc-2     	    1000	   1000000 ns/op
BenchmarkCompareJWT/SM2-emmansun-2    	   20000	     55000 ns/op	    3736 B/op	      84 allocs/op
BenchmarkCompareJWT/SM2-tjfoc-2       	    1000	   1100000 ns/op
BenchmarkCompareJWT/ES256-2           	   20000	     66000 ns/op
PASS
BenchmarkSM2VerifyBaseline-2   	   20000	     40000 ns/op
BenchmarkValidateToken-2       	   20000	     50000 ns/op
BenchmarkCompareSM2Verify/emmansun-2  	   20000	     40000 ns/op
BenchmarkCompareSM2Verify/tjfoc-2     	    1000	   1000000 ns/op
BenchmarkCompareJWT/SM2-emmansun-2    	   20000	     44000 ns/op
BenchmarkCompareJWT/SM2-tjfoc-2       	    1000	   1100000 ns/op
BenchmarkCompareJWT/ES256-2           	   20000	     55000 ns/op
`
	p := filepath.Join(t.TempDir(), "api.txt")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	cs, err := compareFiles([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(comparisons) {
		t.Fatalf("%d comparisons, want %d", len(cs), len(comparisons))
	}
	want := map[string][]float64{
		"CompareSM2Verify/emmansun÷CompareSM2Verify/tjfoc": {0.05, 0.04},
		"CompareJWT/SM2-emmansun÷CompareJWT/SM2-tjfoc":     {0.05, 0.04},
		"CompareJWT/SM2-emmansun÷CompareJWT/ES256":         {55.0 / 66, 44.0 / 55},
		"ValidateToken÷CompareJWT/ES256":                   {60.0 / 66, 50.0 / 55},
		"ValidateToken÷SM2VerifyBaseline":                  {1.2, 1.25},
	}
	for _, c := range cs {
		w := want[c.A+"÷"+c.B]
		if len(c.Ratios) != 2 || abs(c.Ratios[0]-w[0]) > 1e-9 || abs(c.Ratios[1]-w[1]) > 1e-9 {
			t.Errorf("%s ÷ %s: ratios %v, want %v", c.A, c.B, c.Ratios, w)
		}
	}
	if cs[4].ANs != 55000 || cs[4].BNs != 45000 {
		t.Errorf("medians %v %v, want 55000 45000", cs[4].ANs, cs[4].BNs)
	}
	var md strings.Builder
	comparisonsMarkdown(&md, cs)
	if !strings.Contains(md.String(), "| 1.225× [1.200–1.250] |") {
		t.Errorf("markdown:\n%s", md.String())
	}

	// A file without the ES256 run cannot give every comparison.
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(out, "ES256", "X")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := compareFiles([]string{p}); err == nil || !strings.Contains(err.Error(), "ES256") {
		t.Errorf("missing benchmark: %v", err)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
