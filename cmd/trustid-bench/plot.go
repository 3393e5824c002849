package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The plots are drawn with gonum.org/v1/plot: axes, ticks, a legend and
// PNG encoding are its job, not this tool's.

// plotWidth and plotHeight are the size of each PNG's plot, at plotDPI;
// the legend is drawn on its right, off the lines, the PNG as much wider
// as it needs.
const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 5 * vg.Inch
	plotDPI    = 96
)

// plotFiles are the PNGs a run writes beside node-bench.md: requests/s
// and p99 latency against concurrency, one line per route.
var plotFiles = []struct {
	name, title, y string
	value          func(result) float64
	logY           bool
}{
	{"node-bench-throughput.png", "Throughput against concurrency", "successful requests/s", func(x result) float64 { return x.PerSecond }, true},
	{"node-bench-p99.png", "p99 latency against concurrency", "p99 latency (ms)", func(x result) float64 { return x.P99 }, true},
}

// plots writes plotFiles in dir and returns their paths.
func (r *report) plots(dir string) ([]string, error) {
	var paths []string
	for _, f := range plotFiles {
		p := filepath.Join(dir, f.name)
		if err := r.plot(p, f.title, f.y, f.value, f.logY); err != nil {
			return nil, fmt.Errorf("plot %s: %w", f.name, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// plot draws one figure of r's results, a line with points per route,
// x the concurrency on a log scale, and saves it as a PNG at path.
func (r *report) plot(path, title, yLabel string, value func(result) float64, logY bool) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s (%s, %d CPUs, load %s)", title, r.GoVersion, r.CPUs, r.LoadBefore)
	p.X.Label.Text = "concurrent connections"
	p.Y.Label.Text = yLabel
	var concs []float64
	for _, x := range r.Results {
		if !slices.Contains(concs, float64(x.Concurrency)) {
			concs = append(concs, float64(x.Concurrency))
		}
	}
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, concTicks(concs)
	if logY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, logTicks{}
	}
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	p.Add(plotter.NewGrid())
	var names []string
	for _, x := range r.Results {
		if !slices.Contains(names, x.Route) {
			names = append(names, x.Route)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no results")
	}
	drawn := 0
	for i, name := range names {
		var xys plotter.XYs
		for _, x := range r.Results {
			// A log scale cannot show 0: a route with no success at a
			// concurrency has failed the run anyway (problems).
			if v := value(x); x.Route == name && v > 0 {
				xys = append(xys, plotter.XY{X: float64(x.Concurrency), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		slices.SortFunc(xys, func(a, b plotter.XY) int { return int(a.X - b.X) })
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		legend.Add(name, l, s)
		drawn++
	}
	if drawn == 0 {
		return fmt.Errorf("no route has a value above 0")
	}
	// gonum widens a range of one value by ±1, which reaches 0 on a log
	// axis for a value of 1 or less (a run at one concurrency of 1, one
	// p99 under 1 ms) and panics: widen it by a factor instead.
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		if a.Min == a.Max && a.Min > 0 {
			a.Min, a.Max = a.Min/2, a.Max*2
		}
	}
	legendWidth := legend.Rectangle(draw.Canvas{}).Size().X + vg.Inch/4
	c := vgimg.NewWith(vgimg.UseWH(plotWidth+legendWidth, plotHeight), vgimg.UseDPI(plotDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	// Below the title's line, a little off the plot's right edge.
	legend.Draw(draw.Crop(dc, plotWidth+vg.Inch/8, 0, 0, -vg.Inch/2))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// concTicks labels the concurrencies measured.
func concTicks(concs []float64) plot.ConstantTicks {
	slices.Sort(concs)
	var t plot.ConstantTicks
	for _, c := range concs {
		t = append(t, plot.Tick{Value: c, Label: strconv.FormatFloat(c, 'f', -1, 64)})
	}
	return t
}

// logTicks labels 1, 2 and 5 times each power of ten within the range (at
// least the range's ends), which plot.LogTicks leaves unlabelled within
// one decade.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				t = append(t, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	if len(t) < 2 {
		t = []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 3, 64)}, {Value: hi, Label: strconv.FormatFloat(hi, 'g', 3, 64)}}
	}
	return t
}
