package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// TestPlots renders the plots of a small fixed result set and checks each
// is a PNG of the stated size with the routes drawn on it (not a blank
// canvas), and that the report names them in its JSON and Markdown.
func TestPlots(t *testing.T) {
	r := &report{CPUs: 2, GoVersion: "go1.x", LoadBefore: "1.00 1.00 1.00", Duration: "5s", Concurrency: []int{1, 4, 16}}
	for _, x := range []struct {
		route string
		conc  int
		rps   float64
		p99   float64
	}{
		{"POST /oauth2/token", 1, 1800, 3.1}, {"POST /oauth2/token", 4, 2300, 9.5}, {"POST /oauth2/token", 16, 2600, 30},
		{"POST /v1/qr/verify", 1, 3000, 2.7}, {"POST /v1/qr/verify", 4, 4200, 6}, {"POST /v1/qr/verify", 16, 4800, 18},
		{"POST /v1/enrollments", 16, 300, 170}, {"POST /v1/enrollments", 1, 55, 63}, // out of order
	} {
		r.Results = append(r.Results, result{Name: x.route, Route: x.route, Concurrency: x.conc, PerSecond: x.rps, P99: x.p99, OK: 1})
	}
	// Each plot draws the figure its file, title and axis name.
	x := result{PerSecond: 1234, P50: 5, P99: 42, Max: 99}
	for _, f := range plotFiles {
		want := map[string]float64{"node-bench-throughput.png": x.PerSecond, "node-bench-p99.png": x.P99}[f.name]
		if v := f.value(x); v != want {
			t.Errorf("%s (%q, %q) plots %v of %+v, want %v", f.name, f.title, f.y, v, x, want)
		}
	}
	dir := t.TempDir()
	if err := r.write(dir, new(strings.Builder)); err != nil {
		t.Fatal(err)
	}
	minW, wantH := int(plotWidth/vg.Inch*plotDPI), int(plotHeight/vg.Inch*plotDPI)
	for _, f := range plotFiles {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		// The plot, and its legend on the right.
		got := img.Bounds().Size()
		if got.Y != wantH || got.X < minW+100 || got.X > minW+400 {
			t.Errorf("%s: %v pixels, want %d high and %d wide, with 100 to 400 more for the legend", f.name, got, wantH, minW)
		}
		wantW := got.X
		// Three routes in three palette colours, besides black text and
		// grey grid on white: many distinct colours, and enough non-white.
		colours, inked := map[[3]uint32]bool{}, 0
		for y := 0; y < wantH; y++ {
			for x := 0; x < wantW; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
				if r>>8 < 200 || g>>8 < 200 || b>>8 < 200 {
					inked++
				}
			}
		}
		if len(colours) < 10 || inked < wantW*wantH/200 {
			t.Errorf("%s: %d colours, %d inked pixels: nothing plotted?", f.name, len(colours), inked)
		}
		md, _ := os.ReadFile(filepath.Join(dir, "node-bench.md"))
		js, _ := os.ReadFile(filepath.Join(dir, "node-bench.json"))
		if !strings.Contains(string(md), "("+f.name+")") || !strings.Contains(string(js), `"`+f.name+`"`) {
			t.Errorf("%s is not named in node-bench.md and node-bench.json", f.name)
		}
	}
}

// TestPlotOneConcurrency: a run at a single concurrency still plots (a
// log axis over one value), that of 1 too, and a p99 under 1 ms (the
// one value of a log axis under 1: `-concurrency 1` panicked).
func TestPlotOneConcurrency(t *testing.T) {
	for _, x := range []result{
		{Route: "POST /oauth2/token", Concurrency: 16, PerSecond: 2000, P99: 30},
		{Route: "GET /healthz", Concurrency: 1, PerSecond: 9000, P99: 0.4},
	} {
		r := &report{CPUs: 2, GoVersion: "go1.x", Results: []result{x}}
		if _, err := r.plots(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPlotNoResults: nothing to plot is an error, not an empty picture.
func TestPlotNoResults(t *testing.T) {
	if _, err := (&report{}).plots(t.TempDir()); err == nil {
		t.Fatal("plotted an empty run")
	}
}

// TestLogTicks: a log axis within one or two decades still gets labels.
func TestLogTicks(t *testing.T) {
	var got []string
	for _, x := range (logTicks{}).Ticks(1.5, 180) {
		got = append(got, x.Label)
	}
	if strings.Join(got, " ") != "2 5 10 20 50 100" {
		t.Errorf("ticks over [1.5, 180]: %v", got)
	}
	if n := len((logTicks{}).Ticks(2100, 4800)); n != 2 {
		t.Errorf("ticks over [2100, 4800]: %d, want the two ends", n)
	}
}
