package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/trustid-cn/trustid/internal/testnode"
)

// TestMetricsDocumented scrapes a running node's /metrics: the exposition
// passes Prometheus's linter (HELP and TYPE lines, units and _total in
// names), and the node's own metrics (trustid_*) are those of the table
// in docs/operations.md ("Metrics"), each of the type it gives.
// trustid_federation_refusals_total has no series until a first refusal.
func TestMetricsDocumented(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	n := testnode.Start(t, serveMain, "--data", t.TempDir())
	get(t, n.Base+"/healthz")
	code, body := get(t, n.Base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	exported := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (trustid_\w+) (\w+)$`).FindAllStringSubmatch(body, -1) {
		exported[m[1]] = m[2]
	}
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n## Metrics\n")
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(trustid_\\w+)` \\| (\\w+) \\|").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = m[2]
	}
	if len(documented) == 0 {
		t.Fatal(`docs/operations.md: no metrics table under "## Metrics"`)
	}
	for name, typ := range exported {
		if d, ok := documented[name]; !ok {
			t.Errorf("%s (%s) is on /metrics but not in docs/operations.md's metrics table", name, typ)
		} else if d != typ {
			t.Errorf("%s: docs/operations.md says %s, /metrics %s", name, d, typ)
		}
	}
	for name := range documented {
		if _, ok := exported[name]; !ok && name != "trustid_federation_refusals_total" {
			t.Errorf("docs/operations.md names %s, which /metrics does not carry", name)
		}
	}
}
