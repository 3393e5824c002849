package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestSoakAssess: growth is the anonymous-memory high-water mark after
// the warm-up over the one during it (a GC dip at the warm-up's end does
// not inflate it; file-backed memory does not count); each bound fails
// the soak when crossed and only then.
func TestSoakAssess(t *testing.T) {
	r := &soakReport{Warmup: "10s", RatePerSec: 100, AchievedPerSec: 100, GoroutineBound: soakGoroutineBound(4)}
	r.Samples = []soakSample{
		{At: 0, AnonKiB: 900},
		{At: 5, AnonKiB: 1000, Goroutines: 500}, // during the warm-up: not bounded
		{At: 10, AnonKiB: 800},
		{At: 15, AnonKiB: 1050, FileKiB: 99999, Goroutines: 30, FDs: 20},
		{At: 20, AnonKiB: 1080, Goroutines: 40, FDs: 25},
	}
	r.assess(10)
	if r.RSSGrowth < 0.079 || r.RSSGrowth > 0.081 || r.MaxGoroutines != 40 || r.MaxFDs != 25 {
		t.Fatalf("assess: growth %v, goroutines %d, fds %d", r.RSSGrowth, r.MaxGoroutines, r.MaxFDs)
	}
	if err := r.problems(); err != nil {
		t.Fatalf("a soak within bounds: %v", err)
	}
	for name, bad := range map[string]func(r *soakReport){
		"grew":             func(r *soakReport) { r.Samples[4].AnonKiB = 1100; r.assess(10) },
		"goroutines":       func(r *soakReport) { r.Samples[3].Goroutines = r.GoroutineBound + 1; r.assess(10) },
		"failed":           func(r *soakReport) { r.Errors = map[string]int{"verify HTTP 500": 1} },
		"generator":        func(r *soakReport) { r.AchievedPerSec = 80 },
		"no samples after": func(r *soakReport) { r.Samples = r.Samples[:4] },
	} {
		x := *r
		x.Samples = append([]soakSample(nil), r.Samples...)
		x.RSSGrowth, x.MaxGoroutines = 0, 0
		bad(&x)
		if err := x.problems(); err == nil {
			t.Errorf("%s: soak passed", name)
		}
	}
}

// TestSoakSmoke runs a short soak against the real node at a fixed rate
// and checks its mechanics: every route of the mix was sent and answered
// without an error, the node was sampled (RSS, goroutines, open files)
// through the run, and the report names the rate it kept.
func TestSoakSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := options{trustid: trustidBinary(t), duration: time.Second, concurrency: []int{4}, paths: routeNames(), out: t.TempDir(),
		soak: 8 * time.Second, rate: 40, sample: time.Second}
	rep, err := run(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Soak
	if s == nil {
		t.Fatal("no soak report")
	}
	if len(s.Errors) > 0 {
		t.Fatalf("errors %v: %s", s.Errors, s.FirstError)
	}
	for _, m := range soakMix {
		if s.Requests[m.name] == 0 {
			t.Errorf("route %s never sent: %v", m.name, s.Requests)
		}
	}
	if len(s.Samples) < 8 {
		t.Errorf("%d samples over 8 s at 1 s", len(s.Samples))
	}
	for _, x := range s.Samples {
		if x.RSSKiB <= 0 || x.AnonKiB <= 0 || x.Goroutines <= 0 || x.FDs <= 0 || x.HeapKiB <= 0 {
			t.Errorf("sample %+v", x)
		}
	}
	if s.AchievedPerSec < 30 || s.RatePerSec != 40 {
		t.Errorf("rate %v, achieved %v", s.RatePerSec, s.AchievedPerSec)
	}
	var w strings.Builder
	if err := s.write(o.out, &w); err != nil || !strings.Contains(w.String(), "FIGURES soak rss_anon_growth_after_warmup=") {
		t.Errorf("write: %v\n%s", err, w.String())
	}
}
