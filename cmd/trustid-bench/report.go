package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// report is a whole run, as written to node-bench.json.
type report struct {
	Started     string `json:"started"`
	Command     string `json:"command"`
	CPUs        int    `json:"cpus"`
	GoVersion   string `json:"go_version"`
	LoadBefore  string `json:"load_average_before"`
	LoadAfter   string `json:"load_average_after"`
	Duration    string `json:"duration_per_route"`
	Concurrency []int  `json:"concurrency"`
	// Config is the node's config file (everything else is default);
	// Store its ephemeral store.
	Config string `json:"node_config"`
	Store  string `json:"ephemeral_store"`
	// Ledger is "embedded", or "Fabric (profile file)" (-fabric-profile).
	Ledger string `json:"ledger"`
	// Client is the timed windows' HTTP client (-client).
	Client     string     `json:"client"`
	Primitives primitives `json:"primitives"`
	Results    []result   `json:"results"`
	// Comparisons are the library comparisons read from -gobench.
	Comparisons []comparison `json:"comparisons,omitempty"`
	// AccessLogLines counts the node's access-log lines over the whole
	// run, setup included; ErrorLogLines its error-level lines.
	AccessLogLines int `json:"access_log_lines"`
	ErrorLogLines  int `json:"error_log_lines"`
	// Plots are the PNG files written beside the table (plot.go).
	Plots []string `json:"plots,omitempty"`
	// Soak is the outcome of a -soak run (which measures no route alone).
	Soak *soakReport `json:"soak,omitempty"`
}

// result is one route at one concurrency.
type result struct {
	Name        string         `json:"name"`
	Route       string         `json:"route"`
	What        string         `json:"what"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"`
	OK          int            `json:"ok"`
	Errors      map[string]int `json:"errors,omitempty"`
	FirstError  string         `json:"first_error,omitempty"`
	// PerSecond counts successful requests.
	PerSecond float64 `json:"per_second"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
	// NodeCPUMicros is the node process's user + system CPU time in the
	// timed window divided by the requests answered in it; NodeCPUs and
	// GeneratorCPUs are the CPUs each process kept busy on average.
	NodeCPUMicros float64 `json:"node_cpu_us_per_request"`
	// RedisCPUMicros is the same for redis-server, with -redis.
	RedisCPUMicros float64 `json:"redis_cpu_us_per_request,omitempty"`
	NodeCPUs       float64 `json:"node_cpus"`
	GeneratorCPUs  float64 `json:"generator_cpus"`
	Floor          string  `json:"floor"`
	FloorNote      string  `json:"floor_note"`
	FloorMicros    float64 `json:"floor_us"`
	// FloorPrimitives are the primitives of the floor, timed right after
	// the route's window (those it does not use are 0).
	FloorPrimitives primitives `json:"floor_primitives"`
	// FloorRatio is NodeCPUMicros / FloorMicros: the node's CPU per
	// request against its floor on one thread of an otherwise idle
	// process, the stricter of the two measures.
	FloorRatio float64 `json:"node_cpu_over_floor"`
	// FloorAllCoresMicros is the floor with its primitives timed on
	// every CPU at once (CPUs threads), as the node runs under load.
	// FloorPerSecond is the throughput that floor allows on the CPUs the
	// generator leaves to the server: (CPUs − GeneratorCPUs) × 10⁶ ÷
	// FloorAllCoresMicros. FloorShare is PerSecond ÷ FloorPerSecond, the
	// issue's figure ("≥ 50 % of the throughput their cryptographic
	// floor allows on the cores left to the server").
	FloorAllCoresMicros float64 `json:"floor_all_cores_us"`
	FloorPerSecond      float64 `json:"floor_per_second_on_cores_left"`
	FloorShare          float64 `json:"share_of_floor_throughput"`
	// BaselineMicros is the node CPU per request of the baseline route
	// (GET /healthz) at the same concurrency in the same run: what HTTP,
	// routing, metrics and the access log cost any request. BaselineRatio
	// is NodeCPUMicros / (FloorMicros + BaselineMicros). Context only.
	BaselineMicros float64 `json:"http_baseline_us"`
	BaselineRatio  float64 `json:"node_cpu_over_floor_plus_baseline"`
	// Exhausted reports that the prepared inputs ran out before the
	// duration: the run is shorter than asked.
	Exhausted       bool `json:"inputs_exhausted,omitempty"`
	SourceAddresses int  `json:"source_addresses"`
	// RacedCodes fresh codes were each sent twice at once after the timed
	// redemptions; DoubleRedemptions of them were redeemed twice.
	RacedCodes        int `json:"raced_codes,omitempty"`
	DoubleRedemptions int `json:"double_redemptions"`
}

// write saves node-bench.json, node-bench.md and the plots (plot.go) in
// dir and prints the Markdown to w.
func (r *report) write(dir string, w io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	plots, err := r.plots(dir)
	if err != nil {
		return err
	}
	r.Plots = nil
	for _, p := range plots {
		r.Plots = append(r.Plots, filepath.Base(p))
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "node-bench.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	r.markdown(&md)
	if err := os.WriteFile(filepath.Join(dir, "node-bench.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	_, err = io.WriteString(w, md.String())
	return err
}

// markdown writes the run as a Markdown table with its conditions.
func (r *report) markdown(w io.Writer) {
	p := r.Primitives
	fmt.Fprintf(w, "Node over HTTP: `trustid serve` as its own process on 127.0.0.1, driven by trustid-bench from another process.\n\n")
	fmt.Fprintf(w, "- command: `%s`\n", r.Command)
	fmt.Fprintf(w, "- started %s; %d CPUs, %s; load average before %s, after %s\n", r.Started, r.CPUs, r.GoVersion, r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "- load: %s, one keep-alive connection per concurrent request\n", r.Client)
	fmt.Fprintf(w, "- node config: defaults (access log at info) plus `%s`; ephemeral store %s; ledger %s\n",
		strings.ReplaceAll(r.Config, "\n", "`, `"), r.Store, r.Ledger)
	fmt.Fprintf(w, "- floor primitives at the start, CPU time of one thread of this process, best of 5 × 100 ms: SM2 sign %.1f µs, SM2 verify %.1f µs, SM3 %.3f µs per 64-byte block, ES256 verify %.1f µs; each row's floor is its operations timed so again right after its window (node-bench.json's floor_primitives), so that a machine whose speed drifts compares the node with its floor of the same minute\n",
		p.SM2SignMicros, p.SM2VerifyMicros, p.SM3BlockMicros, p.ES256VerifyMicros)
	fmt.Fprintf(w, "- %s per route and concurrency; node access-log lines %d, error lines %d\n", r.Duration, r.AccessLogLines, r.ErrorLogLines)
	fmt.Fprintf(w, "- node CPU ÷ floor compares the node's CPU per request with its floor on one thread of an idle process, the stricter measure; the issue's figure, throughput against the floor's on the cores left to the server, is the second table; the HTTP baseline (`GET /healthz` at the same concurrency, this run) is context: what any request costs the node besides its own work\n\n")
	redis := r.Store != "in-memory"
	head, align := "| route | conc | ok/s | p50 ms | p99 ms | node CPU µs/req |", "| --- | ---: | ---: | ---: | ---: | ---: |"
	if redis {
		head, align = head+" Redis CPU µs/req |", align+" ---: |"
	}
	fmt.Fprintln(w, head+" floor | floor µs | node CPU ÷ floor | floor + HTTP baseline µs | node CPU ÷ (floor + baseline) | node CPUs | generator CPUs | errors |")
	fmt.Fprintln(w, align+" --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, x := range r.Results {
		ratio := "–"
		if x.FloorMicros > 0 {
			ratio = fmt.Sprintf("%.1f×", x.FloorRatio)
		}
		errs := errorSummary(x.Errors)
		if x.Exhausted {
			errs += " (inputs ran out: " + fmt.Sprintf("%.1f s", x.Seconds) + ")"
		}
		fmt.Fprintf(w, "| `%s` | %d | %.0f | %.2f | %.2f | %.0f |", x.Route, x.Concurrency, x.PerSecond, x.P50, x.P99, x.NodeCPUMicros)
		if redis {
			fmt.Fprintf(w, " %.0f |", x.RedisCPUMicros)
		}
		withBase := "–"
		if x.BaselineRatio > 0 {
			withBase = fmt.Sprintf("%.1f×", x.BaselineRatio)
		}
		floor := x.Floor
		if floor == "" {
			floor = "–"
		}
		fmt.Fprintf(w, " %s | %.1f | %s | %.0f | %s | %.2f | %.2f | %s |\n", floor, x.FloorMicros, ratio, x.FloorMicros+x.BaselineMicros, withBase, x.NodeCPUs, x.GeneratorCPUs, errs)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Throughput against the floor's on the cores left to the server (the issue's figure: at least 50 %%): the floor's operations timed on %d threads at once right after the route's window, its throughput on the %d CPUs less the generator's.\n\n", r.CPUs, r.CPUs)
	fmt.Fprintln(w, "| route | conc | ok/s | floor µs, one thread | floor µs, all CPUs | CPUs left to the server | floor ok/s on them | ok/s ÷ floor ok/s |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, x := range r.Results {
		if x.FloorPerSecond > 0 {
			fmt.Fprintf(w, "| `%s` | %d | %.0f | %.1f | %.1f | %.2f | %.0f | %.0f %% |\n", x.Route, x.Concurrency, x.PerSecond,
				x.FloorMicros, x.FloorAllCoresMicros, float64(r.CPUs)-x.GeneratorCPUs, x.FloorPerSecond, 100*x.FloorShare)
		}
	}
	fmt.Fprintln(w)
	for _, x := range r.Results {
		if x.RacedCodes > 0 {
			fmt.Fprintf(w, "Double-redemption probe at concurrency %d: %d fresh codes each sent twice at the same moment; redeemed twice: %d.\n",
				x.Concurrency, x.RacedCodes, x.DoubleRedemptions)
		}
	}
	fmt.Fprintln(w)
	comparisonsMarkdown(w, r.Comparisons)
	for _, p := range r.Plots {
		fmt.Fprintf(w, "![%s](%s)\n", strings.TrimSuffix(p, ".png"), p)
	}
	fmt.Fprintln(w)
	seen := map[string]bool{}
	for _, x := range r.Results {
		if !seen[x.Name] {
			seen[x.Name] = true
			fmt.Fprintf(w, "- `%s`: %s; floor: %s\n", x.Route, x.What, x.FloorNote)
		}
	}
}

func errorSummary(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// problems fails a run whose figures cannot be trusted: failed requests,
// or fewer access-log lines than requests (the access log was off).
func (r *report) problems() error {
	var errs []error
	timed := 0
	for _, x := range r.Results {
		if x.Name != netHTTPName {
			timed += x.Requests
		}
		if len(x.Errors) > 0 {
			errs = append(errs, fmt.Errorf("%s at concurrency %d: %s; first: %s", x.Name, x.Concurrency, errorSummary(x.Errors), x.FirstError))
		}
		if x.DoubleRedemptions > 0 {
			errs = append(errs, fmt.Errorf("%s at concurrency %d: %d of %d codes redeemed twice", x.Name, x.Concurrency, x.DoubleRedemptions, x.RacedCodes))
		}
		if x.OK == 0 {
			errs = append(errs, fmt.Errorf("%s at concurrency %d: no successful request", x.Name, x.Concurrency))
		}
	}
	if r.AccessLogLines < timed {
		errs = append(errs, fmt.Errorf("the node logged %d requests, fewer than the %d timed ones: is the access log on?", r.AccessLogLines, timed))
	}
	return errors.Join(errs...)
}
