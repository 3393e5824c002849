package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
)

// TestClientsUpdate: `trustid clients update` and PATCH
// /v1/admin/clients/{id} change a registered client's APIs (and name,
// token algorithm) on the embedded ledger, through the running node's
// admin socket: a token for the new API is issued at once, one for the
// dropped API is refused, and the dropped API is free for another party.
// The contract's rules on resources hold as at registration: an API
// another active party holds, a bad URI, an unknown member or flag are
// refused with a clear error and change nothing; a disabled party may
// name a held API (it claims nothing) but is then not enabled.
func TestClientsUpdate(t *testing.T) {
	const api1, api2, apiO = "https://api.rp.example/v1", "https://api.rp.example/v2", "https://api.other.example"
	ctx := context.Background()
	n := startAuthNode(t)
	n.addClientArgs("rp-api", auth.ScopeQRRedeem, "--resource", api1)
	n.addClientArgs("rp-other", auth.ScopeQRRedeem, "--resource", apiO)
	callerKey := n.addClient("rp-caller", "SM2", auth.ScopeQRRedeem)
	admin := n.tokenFor("ops-console", n.addClient("ops-console", "SM2", auth.ScopeRegistryAdmin))
	tokenFor := func(resource string) (string, error) {
		out, _, err := run(t, ctx, "token", "--node", n.base, "--client-id", "rp-caller", "--key", callerKey, "--resource", resource, "--data", n.dir)
		return out, err
	}
	if _, err := tokenFor(api1); err != nil {
		t.Fatalf("token for the registered API: %v", err)
	}

	var got auth.Client
	out := n.cli("clients", "update", "rp-api", "--resource", api2, "--resource", api1+"/x", "--name", "RP API v2", "--token-alg", "ES256")
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Name != "RP API v2" || got.AccessTokenAlg != "ES256" ||
		!slices.Equal(got.Resources, []string{api2, api1 + "/x"}) || !slices.Equal(got.Scopes, []string{auth.ScopeQRRedeem}) {
		t.Fatalf("update: %v %s", err, out)
	}
	// The CLI returns once the node's view shows the write.
	if _, err := tokenFor(api2); err != nil {
		t.Errorf("token for the API the update registered: %v", err)
	}
	if out, err := tokenFor(api1); err == nil || !strings.Contains(out+err.Error(), "invalid_target") {
		t.Errorf("token for the API the update dropped: %v %s", err, out)
	}

	before := n.cli("clients", "export")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rp-api", "--resource", apiO}, `resource 0 is registered by relying party "rp-other"`}, // the contract's refusal
		{[]string{"rp-api", "--resource", "ftp://api.rp.example"}, "resources[0]"},
		{[]string{"rp-api", "--resource", api2 + "?v=1"}, "must not have a query"},
		{[]string{"rp-api", "--scopes", "qr:redeem,no:such"}, "'no:such' is not one of"},
		{[]string{"rp-api", "--clear", "colour"}, `--clear "colour"`},
		{[]string{"rp-api", "--clear", "scopes"}, `--clear "scopes"`},
		{[]string{"rp-api", "--clear", "resource", "--resource", api2}, "give one"},
		{[]string{"rp-api", "--resource", ""}, "give --clear resource"},
		// Empty values are refused for string and list flags alike, with
		// what --clear allows: nothing for the name and scopes.
		{[]string{"rp-api", "--scopes", ""}, "--scopes is empty: a client's scopes can be replaced but not removed"},
		{[]string{"rp-api", "--name", ""}, "--name is empty: a client's name can be replaced but not removed"},
		{[]string{"rp-api", "--token-alg", ""}, "--token-alg is empty: to remove the client's, give --clear token-alg"},
		{[]string{"rp-api", "--id-token-alg", ""}, "give --clear id-token-alg"},
		{[]string{"rp-api"}, "give at least one value"},
		{[]string{"rp-nobody", "--name", "x"}, "no such client"},
	} {
		out, errOut, err := run(t, ctx, append([]string{"clients", "update"}, append(tc.args, "--data", n.dir)...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("clients update %v: %v; want %q\n%s%s", tc.args, err, tc.want, out, errOut)
		}
	}
	for _, tc := range []struct{ ctype, body, want string }{
		{"application/merge-patch+json", `{"resources":["` + apiO + `"]}`, `resource 0 is registered by relying party "rp-other"`},
		{"application/merge-patch+json", `{"resources":["` + api2 + `"],"colour":"red"}`, "unknown member 'colour'"},
		{"application/merge-patch+json", `{"sector_identifier":"rp.example"}`, "sector_identifier cannot be changed"},
		{"application/json", `{"resources":null}`, "merge-patch+json"},
	} {
		code, m, _ := n.do("PATCH", "/v1/admin/clients/rp-api", admin, tc.ctype, tc.body)
		if code/100 != 4 || !strings.Contains(m["error_description"].(string), tc.want) {
			t.Errorf("PATCH %s %s: %d %v; want %q", tc.ctype, tc.body, code, m, tc.want)
		}
	}
	if after := n.cli("clients", "export"); after != before {
		t.Errorf("refused updates changed the registry:\n%s\n%s", before, after)
	}

	// Cleared with the CLI, rp-api's APIs are free: rp-other takes one
	// through the admin API over HTTP.
	if out := n.cli("clients", "update", "rp-api", "--clear", "resource", "--clear", "token-alg"); strings.Contains(out, "resources") || strings.Contains(out, "ES256") {
		t.Errorf("cleared: %s", out)
	}
	code, m, _ := n.do("PATCH", "/v1/admin/clients/rp-other", admin, "application/merge-patch+json", `{"resources":["`+apiO+`","`+api2+`"]}`)
	if code != 200 || len(m["resources"].([]any)) != 2 {
		t.Fatalf("PATCH rp-other: %d %v", code, m)
	}
	if _, err := tokenFor(api2); err != nil {
		t.Errorf("token for the API rp-other took: %v", err)
	}
	// A disabled party claims nothing, so it may name rp-other's API; it
	// is not enabled while rp-other holds it.
	n.cli("clients", "disable", "rp-api")
	n.cli("clients", "update", "rp-api", "--resource", api2)
	if out, errOut, err := run(t, ctx, "clients", "enable", "rp-api", "--data", n.dir); err == nil {
		t.Errorf("enabled while another party holds its API: %s%s", out, errOut)
	}
}
