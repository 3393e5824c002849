package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoakAssess: growth is the heap after GC less the status lists'
// content, as the largest median of soakWindow samples after the warm-up
// over the median of the soakWindow samples ending the warm-up: one high
// sample (requests in flight) does not count, a steady rise does, RSS is
// reported but not bounded; goroutines are held to a ceiling and, read
// the same way as the heap, to a rise; each bound fails the soak when
// crossed and only then.
func TestSoakAssess(t *testing.T) {
	r := &soakReport{Warmup: "15s", RatePerSec: 100, AchievedPerSec: 100, GoroutineBound: soakGoroutineBound(4), GoroutineSlack: soakGoroutineSlack(4)}
	live := []int64{700, 800, 900, 1010, 990, 1050, 1400, 1040, 1080, 1020}
	for i, v := range live {
		// Every 5 s from 0: samples 0-3 are in the warm-up (at <= 15 s).
		r.Samples = append(r.Samples, soakSample{At: float64(5 * i), LiveKiB: v, AnonKiB: 1000 + int64(i)*500, Goroutines: 30 + i, FDs: 20})
	}
	r.Samples[1].Goroutines = 500 // during the warm-up: not bounded
	r.assess(15)
	// The warm-up's last window is 800, 900, 1010: median 900. Later
	// windows' medians: 1050, 1050, 1080, 1040 (the 1400 spike alone does
	// not count): top 1080, +20 %.
	if r.HeapGrowth < 0.199 || r.HeapGrowth > 0.201 {
		t.Fatalf("growth %v, want 0.20", r.HeapGrowth)
	}
	r.Samples[1].LiveKiB, r.Samples[2].LiveKiB = 1000, 1000 // warm-up median 1000: +8 %
	r.assess(15)
	// Goroutines 30 + i, 500 in sample 1: the warm-up's last window is
	// 500, 32, 33 (median 33), the highest later one 37, 38, 39 (38).
	if r.HeapGrowth < 0.079 || r.HeapGrowth > 0.081 || r.MaxGoroutines != 39 || r.GoroutinesWarmup != 33 || r.GoroutineRise != 5 || r.MaxFDs != 20 || r.RSSGrowth < 1 {
		t.Fatalf("assess: heap growth %v, goroutines %d (from %d, +%d), fds %d, rss growth %v", r.HeapGrowth, r.MaxGoroutines, r.GoroutinesWarmup, r.GoroutineRise, r.MaxFDs, r.RSSGrowth)
	}
	if err := r.problems(); err != nil {
		t.Fatalf("a soak within bounds (RSS grew %.0f%%, not bounded): %v", 100*r.RSSGrowth, err)
	}
	// New status lists (300 KiB of content, 3 lists more) explain the
	// heap's growth beyond the bound: reported, not failed.
	withLists := *r
	withLists.Samples = append([]soakSample(nil), r.Samples...)
	for i := range withLists.Samples {
		withLists.Samples[i].Lists = 6
		if i >= 6 {
			withLists.Samples[i].Lists, withLists.Samples[i].ListKiB = 9, 300
			withLists.Samples[i].LiveKiB += 300
		}
	}
	withLists.assess(15)
	if err := withLists.problems(); err != nil || withLists.HeapGrowth > 0.081 || withLists.HeapGrowthWithLists < 0.3 || withLists.ListsWarmup != 6 || withLists.ListsEnd != 9 {
		t.Fatalf("growth the lists explain: %v; growth %v, with the lists %v, lists %d -> %d", err, withLists.HeapGrowth, withLists.HeapGrowthWithLists, withLists.ListsWarmup, withLists.ListsEnd)
	}
	for name, bad := range map[string]func(r *soakReport){
		"grew": func(r *soakReport) {
			for i := 7; i < len(r.Samples); i++ {
				r.Samples[i].LiveKiB = 1100
			}
			r.assess(15)
		},
		// The status lists grow by 50 KiB and the heap by 150 KiB: 100
		// KiB more than the lists explain, +10 %.
		"grew beyond the lists": func(r *soakReport) {
			for i := 7; i < len(r.Samples); i++ {
				r.Samples[i].LiveKiB, r.Samples[i].ListKiB = 1150, 50
			}
			r.assess(15)
		},
		// The node ran no collection: heap after GC is 0 throughout, and
		// the growth bound would hold for nothing.
		"no collection": func(r *soakReport) {
			for i := range r.Samples {
				r.Samples[i].LiveKiB = 0
			}
			r.assess(15)
		},
		"goroutines":        func(r *soakReport) { r.Samples[5].Goroutines = r.GoroutineBound + 1; r.assess(15) },
		"failed":            func(r *soakReport) { r.Errors = map[string]int{"verify HTTP 500": 1} },
		"generator":         func(r *soakReport) { r.AchievedPerSec = 80 },
		"few samples after": func(r *soakReport) { r.Samples = r.Samples[:5] },
		"few in warm-up":    func(r *soakReport) { r.Warmup = "5s" },
	} {
		x := *r
		x.Samples = append([]soakSample(nil), r.Samples...)
		x.HeapGrowth, x.MaxGoroutines, x.GoroutineRise = 0, 0, 0
		bad(&x)
		if err := x.problems(); err == nil {
			t.Errorf("%s: soak passed", name)
		}
	}

	// A node leaking a goroutine every 2 s after the warm-up, far under
	// the ceiling (50 -> 95 of 164 on 16 connections, 2 minutes sampled
	// every 5 s), fails on its rise; the load's churn, every other
	// sample as high as the slack allows, does not.
	leak := soakReport{Warmup: "30s", RatePerSec: 750, AchievedPerSec: 750, GoroutineBound: soakGoroutineBound(16), GoroutineSlack: soakGoroutineSlack(16)}
	churn := leak
	for i := 0; i <= 24; i++ {
		at, g := float64(5*i), 50
		if at > 30 {
			g += int((at - 30) / 2)
		}
		x := soakSample{At: at, LiveKiB: 5000, AnonKiB: 19000, Goroutines: g, FDs: 40}
		leak.Samples = append(leak.Samples, x)
		x.Goroutines = 50 + i%2*churn.GoroutineSlack
		churn.Samples = append(churn.Samples, x)
	}
	leak.assess(30)
	// The warm-up's last window is 50, 50, 50; the highest later one
	// 50 + 40, + 42, + 45.
	if err := leak.problems(); err == nil || leak.GoroutineRise != 42 || leak.MaxGoroutines > leak.GoroutineBound {
		t.Errorf("goroutines leaking from 50 to %d after the warm-up (rise %d, bound %d; ceiling %d): %v", leak.MaxGoroutines, leak.GoroutineRise, leak.GoroutineSlack, leak.GoroutineBound, err)
	}
	churn.assess(30)
	if err := churn.problems(); err != nil || churn.GoroutineRise != churn.GoroutineSlack {
		t.Errorf("goroutines between 50 and %d throughout (rise %d, bound %d): %v", 50+churn.GoroutineSlack, churn.GoroutineRise, churn.GoroutineSlack, err)
	}
}

// TestSoakPlantedLeak: the growth bound on readings at quiescent points
// (quietMetrics) as a 2-minute soak takes them, every 5 s, with the
// spread they showed with the wallet routes in the mix (2026-12-06,
// 5,808-6,150 KiB at 552 requests/s), passes them as they are and
// fails them with a leak planted after the warm-up: 8 KiB a second,
// about 1 % of the heap every 7 s, crosses the bound within the soak.
func TestSoakPlantedLeak(t *testing.T) {
	quiet := []int64{5811, 5886, 5836, 6150, 5918, 5876, 5872, 5828, 5808}
	soak := func(leakPerSec int64) *soakReport {
		r := &soakReport{Warmup: "30s", RatePerSec: 550, AchievedPerSec: 550, GoroutineBound: soakGoroutineBound(16), GoroutineSlack: soakGoroutineSlack(16)}
		for i := 0; i <= 24; i++ {
			at := float64(5 * i)
			x := soakSample{At: at, LiveKiB: quiet[i%len(quiet)] + 176, ListKiB: 176, Lists: 6, AnonKiB: 19000, Goroutines: 38, FDs: 52}
			if at > 30 {
				x.LiveKiB += leakPerSec * int64(at-30)
			}
			r.Samples = append(r.Samples, x)
		}
		r.assess(30)
		return r
	}
	if r := soak(0); r.problems() != nil {
		t.Errorf("no leak: %v (growth %.1f%%)", r.problems(), 100*r.HeapGrowth)
	}
	if r := soak(8); r.problems() == nil || !strings.Contains(r.problems().Error(), "heap after GC") {
		t.Errorf("a leak of 8 KiB/s passed: growth %.1f%%", 100*r.HeapGrowth)
	}
}

// TestSoakPause: a reading waits for the request in flight and holds the
// next one; the schedule moves on by the time paused, so a request due
// in the pause is sent that much later, and one that the pauses push
// to the soak's end is not sent.
func TestSoakPause(t *testing.T) {
	s := &soakState{}
	inFlight, release := make(chan struct{}), make(chan struct{})
	go s.send(time.Now(), time.Now().Add(time.Hour), func() { close(inFlight); <-release })
	<-inFlight
	read := make(chan struct{})
	go s.pause(func() error { close(read); time.Sleep(100 * time.Millisecond); return nil })
	select {
	case <-read:
		t.Fatal("read with a request in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-read
	// Due now, in the pause: sent when the pause has ended and the
	// schedule moved on by it.
	at := time.Now()
	sent := time.Time{}
	if !s.send(at, at.Add(time.Hour), func() { sent = time.Now() }) {
		t.Fatal("not sent")
	}
	paused := time.Duration(s.paused.Load())
	if paused < 140*time.Millisecond || sent.Before(at.Add(paused)) {
		t.Errorf("paused %v; due at +%v, sent at +%v", paused, paused, sent.Sub(at))
	}
	if s.send(at, at.Add(paused), func() { t.Error("sent after the end") }) {
		t.Error("a slot the pauses moved to the end: sent")
	}
}

// TestQuietMetrics: a reading scrapes until soakQuietGCs collections
// have begun and ended after its first scrape, and reads the least live
// heap they marked: not the collection that had begun before (its
// figure marked requests in flight), nor one higher for the scrape it
// began in.
func TestQuietMetrics(t *testing.T) {
	// A collection ends every 4 scrapes; the first one ends on the
	// second scrape, having begun before the first.
	lives := []int{6000, 9000, 5100, 5000, 5300}
	var scraped atomic.Int64
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scrapes := int(scraped.Add(1))
		gcs := 10
		if scrapes >= 2 {
			gcs += 1 + (scrapes-2)/4
		}
		fmt.Fprintf(w, "go_goroutines %d\ngo_gc_heap_live_bytes %d\ngo_gc_duration_seconds_count %d\n", 30+scrapes, 1024*lives[gcs-10], gcs)
	}))
	defer node.Close()
	g, live, n, err := quietMetrics(node.URL, "go_goroutines")
	if err != nil {
		t.Fatal(err)
	}
	// Collections 11 (9000, begun before) and 12-14 (5100, 5000, 5300):
	// 14 ends on scrape 14.
	if n != 14 || live != 5000*1024 || len(g) != 1 || g[0] != 30+14 {
		t.Errorf("scrapes %d, live %v KiB, gauges %v", n, live/1024, g)
	}
}

// TestSoakMix: the mix is per 100 requests and holds every route the
// bench measures once, but those soakMix says are left out; its deck
// deals exactly the weights in every 100 requests in a row.
func TestSoakMix(t *testing.T) {
	weights := map[string]int{}
	total := 0
	for _, m := range soakMix {
		if _, dup := weights[m.name]; dup || m.weight <= 0 {
			t.Errorf("route %s twice or weight %d", m.name, m.weight)
		}
		weights[m.name] = m.weight
		total += m.weight
	}
	if total != 100 {
		t.Errorf("weights sum to %d, want 100", total)
	}
	leftOut := map[string]bool{baselineName: true, netHTTPName: true}
	for _, r := range routes {
		if _, ok := weights[r.name]; ok == leftOut[r.name] {
			t.Errorf("route %s: in the mix %v", r.name, ok)
		}
		delete(weights, r.name)
	}
	if len(weights) > 0 {
		t.Errorf("the mix names no route of the bench: %v", weights)
	}
	s := &soakState{}
	s.pick() // the deck's count from any point
	got := map[string]int{}
	for range 100 {
		got[s.pick()]++
	}
	for _, m := range soakMix {
		if got[m.name] != m.weight {
			t.Errorf("%s drawn %d times in 100, weight %d", m.name, got[m.name], m.weight)
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
		if x.RSSKiB <= 0 || x.AnonKiB <= 0 || x.Goroutines <= 0 || x.FDs <= 0 || x.HeapKiB <= 0 || x.LiveKiB <= 0 || x.Lists <= 0 || x.ListKiB <= 0 || x.ListKiB >= x.LiveKiB {
			t.Errorf("sample %+v", x)
		}
	}
	if s.AchievedPerSec < 30 || s.RatePerSec != 40 {
		t.Errorf("rate %v, achieved %v", s.RatePerSec, s.AchievedPerSec)
	}
	var w strings.Builder
	if err := s.write(o.out, &w); err != nil || !strings.Contains(w.String(), "FIGURES soak heap_after_gc_less_status_lists_growth_after_warmup=") {
		t.Errorf("write: %v\n%s", err, w.String())
	}
}

// TestSoakDropsStaleCodes: a redemption in the mix takes only a code
// younger than maxCodeWait; older ones are dropped unsent, so a long soak
// does not redeem expired codes (410) once issued codes pile up.
func TestSoakDropsStaleCodes(t *testing.T) {
	s := &soakState{codes: make(chan waitingCode, 4)}
	s.codes <- waitingCode{code: "old", issued: time.Now().Add(-maxCodeWait - time.Second)}
	s.codes <- waitingCode{code: "fresh", issued: time.Now()}
	if code, ok := s.freshCode(); !ok || code != "fresh" {
		t.Fatalf("freshCode = %q, %v; want fresh", code, ok)
	}
	s.codes <- waitingCode{code: "old", issued: time.Now().Add(-time.Hour)}
	if code, ok := s.freshCode(); ok {
		t.Fatalf("freshCode = %q with only a stale code waiting", code)
	}
}
