package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/fakeclock"
)

// TestTokenForARelyingPartysAPIOverHTTP: POST /oauth2/token with
// resource the API a client registered (RFC 8707) issues a token that
// names that API alone: the node's own protected routes answer it 401
// invalid_token, however broad its scope; the party that serves the API
// introspects it active with its API as aud, another party inactive, a
// registry:admin client too; a resource no client registered is 400
// invalid_target.
func TestTokenForARelyingPartysAPIOverHTTP(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	const api = "https://api.b.example/v1"
	a := e.register("svc-a", gm.AlgSM2, auth.ScopeRegistryAdmin)
	b := e.register("svc-b", gm.AlgSM2, auth.ScopeQRRedeem)
	c := e.register("svc-c", gm.AlgSM2, auth.ScopeQRRedeem)
	if _, err := e.clients.Update(context.Background(), b.id, func(c *auth.Client) error {
		c.Resources = []string{api}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	resp, m := e.post(auth.TokenPath, assertionForm(e.assertion(a, nil), "resource", api).Encode())
	if resp.StatusCode != 200 || m["scope"] != auth.ScopeRegistryAdmin {
		t.Fatalf("token for B's API: %d %v", resp.StatusCode, m)
	}
	forB := m["access_token"].(string)
	if resp, m := e.call("GET", "/v1/admin/clients", forB, ""); resp.StatusCode != 401 || m["error"] != "invalid_token" {
		t.Errorf("the node's admin route, a token for B's API: %d %v; want 401 invalid_token", resp.StatusCode, m)
	}
	if resp, m := e.call("GET", "/v1/admin/clients", e.token(a, ""), ""); resp.StatusCode != 200 {
		t.Errorf("the node's admin route, a token for the node: %d %v", resp.StatusCode, m)
	}
	if m := e.introspectAs(t, b, forB); m["active"] != true || m["aud"] != api || m["client_id"] != "svc-a" {
		t.Errorf("B introspecting a token for its API: %v", m)
	}
	if m := e.introspectAs(t, c, forB); m["active"] != false || len(m) != 1 {
		t.Errorf("C introspecting a token for B's API: %v", m)
	}
	// A, allowed registry:admin, does not see C's token for B's API.
	resp, m = e.post(auth.TokenPath, assertionForm(e.assertion(c, nil), "resource", api).Encode())
	if resp.StatusCode != 200 {
		t.Fatalf("C's token for B's API: %d %v", resp.StatusCode, m)
	}
	if m := e.introspectAs(t, a, m["access_token"].(string)); m["active"] != false || len(m) != 1 {
		t.Errorf("A (registry:admin) introspecting C's token for B's API: %v", m)
	}
	for _, r := range []string{"https://api.x.example", api + "/"} {
		resp, m := e.post(auth.TokenPath, assertionForm(e.assertion(a, nil), "resource", r).Encode())
		if resp.StatusCode != 400 || m["error"] != "invalid_target" {
			t.Errorf("resource %q: %d %v; want 400 invalid_target", r, resp.StatusCode, m)
		}
	}
}

// TestAPIPassedOnOverHTTP (SECURITY.md gap 27): when B drops its API and
// C registers it, C introspects a token asked for it while B held it as
// {"active":false} over HTTP (active, with its client and jti, before),
// and one asked since as active.
func TestAPIPassedOnOverHTTP(t *testing.T) {
	clk := fakeclock.New(time.Now().Add(time.Second)) // after the keys the keystore makes
	e := newOAuthEnv(t, OAuthConfig{}, func(c *auth.Config) { c.Now = clk.Now })
	e.clients.Now = clk.Now
	const api = "https://api.b.example/v1"
	a := e.register("svc-a", gm.AlgSM2, auth.ScopeQRRedeem)
	e.register("svc-b", gm.AlgSM2, auth.ScopeQRRedeem)
	c := e.register("svc-c", gm.AlgSM2, auth.ScopeQRRedeem)
	serve := func(id string, resources ...string) {
		t.Helper()
		if _, err := e.clients.Update(context.Background(), id, func(c *auth.Client) error {
			c.Resources = resources
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	tokenForAPI := func() string {
		t.Helper()
		resp, m := e.post(auth.TokenPath, assertionForm(e.assertion(a, nil), "resource", api).Encode())
		if resp.StatusCode != 200 {
			t.Fatalf("token for the API: %d %v", resp.StatusCode, m)
		}
		return m["access_token"].(string)
	}
	serve("svc-b", api)
	before := tokenForAPI()
	clk.Advance(2 * time.Second)
	serve("svc-b")
	serve("svc-c", api)
	if m := e.introspectAs(t, c, before); m["active"] != false || len(m) != 1 {
		t.Errorf("C on a token asked while B held the API: %v; want {\"active\":false}", m)
	}
	if m := e.introspectAs(t, c, tokenForAPI()); m["active"] != true || m["aud"] != api || m["client_id"] != "svc-a" {
		t.Errorf("C on a token asked since it took the API: %v; want active", m)
	}
}

// introspectAs introspects token as who, authenticated by an assertion.
func (e *oauthEnv) introspectAs(t *testing.T, who rpClient, token string) map[string]any {
	t.Helper()
	resp, m := e.post(auth.IntrospectionPath, url.Values{"token": {token}, "client_assertion_type": {auth.AssertionType},
		"client_assertion": {e.assertion(who, nil)}}.Encode())
	if resp.StatusCode != 200 {
		t.Fatalf("introspection: %d %v", resp.StatusCode, m)
	}
	return m
}

// TestPatchClientResources: PATCH /v1/admin/clients/{id} with a JSON
// Merge Patch changes a registered client's APIs: a token for the new
// API is issued, one for the dropped API is invalid_target, and the
// dropped API is free for another party. Another media type is 415 with
// Accept-Patch; an unknown member, a member a patch cannot change, a bad
// URI and an API another party holds are 400 invalid_client_metadata
// saying why, and change nothing; without registry:admin it is 403.
// TestDemotedAdminTokenRefused: a client whose registry:admin is taken
// away by a PATCH cannot use its live admin token for it (nor PATCH the
// scope back onto itself): the registry's current record bounds a token,
// and its introspection says the narrowed scope.
func TestDemotedAdminTokenRefused(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	ops := e.register("ops", gm.AlgSM2, auth.ScopeRegistryAdmin, auth.ScopeQRRedeem)
	boss := e.register("boss", gm.AlgSM2, auth.ScopeRegistryAdmin)
	old := e.token(ops, "")
	if resp, m := e.call("GET", "/v1/admin/clients", old, ""); resp.StatusCode != 200 {
		t.Fatalf("admin route before the change: %d %v", resp.StatusCode, m)
	}
	patch := func(token, body string) (*http.Response, map[string]any) {
		t.Helper()
		req := httptest.NewRequest("PATCH", "/v1/admin/clients/ops", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/merge-patch+json")
		return e.send(req)
	}
	if resp, m := patch(e.token(boss, ""), `{"scopes":["qr:redeem"]}`); resp.StatusCode != 200 {
		t.Fatalf("demote: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.call("GET", "/v1/admin/clients", old, ""); resp.StatusCode != 403 || m["error"] != "insufficient_scope" {
		t.Errorf("demoted client's admin token: %d %v; want 403 insufficient_scope", resp.StatusCode, m)
	}
	if resp, m := patch(old, `{"scopes":["qr:redeem","registry:admin"]}`); resp.StatusCode != 403 {
		t.Errorf("demoted client giving itself registry:admin back: %d %v; want 403", resp.StatusCode, m)
	}
	if c, err := e.clients.Get(context.Background(), "ops"); err != nil || fmt.Sprint(c.Scopes) != "[qr:redeem]" {
		t.Errorf("the demoted client's scopes: %v %v", c.Scopes, err)
	}
	if m := e.introspectAs(t, ops, old); m["active"] != true || m["scope"] != "qr:redeem" {
		t.Errorf("introspecting the demoted client's token: %v", m)
	}
}

func TestPatchClientResources(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	const apiV1, apiV2, apiC = "https://api.b.example/v1", "https://api.b.example/v2", "https://api.c.example"
	a := e.register("svc-a", gm.AlgSM2, auth.ScopeRegistryAdmin)
	b := e.register("svc-b", gm.AlgSM2, auth.ScopeQRRedeem)
	e.register("svc-c", gm.AlgSM2, auth.ScopeQRRedeem)
	admin := e.token(a, "")
	patch := func(id, token, ctype, body string) (*http.Response, map[string]any) {
		t.Helper()
		req := httptest.NewRequest("PATCH", "/v1/admin/clients/"+id, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		return e.send(req)
	}
	tokenFor := func(resource string) (int, map[string]any) {
		resp, m := e.post(auth.TokenPath, assertionForm(e.assertion(a, nil), "resource", resource).Encode())
		return resp.StatusCode, m
	}
	resp, m := patch("svc-b", admin, "application/merge-patch+json", `{"resources":["`+apiV1+`"],"client_name":"B v1"}`)
	if resp.StatusCode != 200 || m["client_name"] != "B v1" || fmt.Sprint(m["resources"]) != "["+apiV1+"]" || m["secret_hash"] != nil {
		t.Fatalf("patch: %d %v", resp.StatusCode, m)
	}
	if code, m := tokenFor(apiV1); code != 200 {
		t.Fatalf("token for the API B registered by a patch: %d %v", code, m)
	}
	resp, m = patch("svc-b", admin, "application/merge-patch+json; charset=utf-8", `{"resources":["`+apiV2+`"]}`)
	if resp.StatusCode != 200 || fmt.Sprint(m["resources"]) != "["+apiV2+"]" || m["client_name"] != "B v1" {
		t.Fatalf("second patch: %d %v", resp.StatusCode, m)
	}
	if code, m := tokenFor(apiV1); code != 400 || m["error"] != "invalid_target" {
		t.Errorf("token for the API B dropped: %d %v; want 400 invalid_target", code, m)
	}
	if resp, m := patch("svc-c", admin, "application/merge-patch+json", `{"resources":["`+apiV1+`","`+apiC+`"]}`); resp.StatusCode != 200 {
		t.Errorf("C takes the API B dropped: %d %v", resp.StatusCode, m)
	}

	before, _ := e.clients.List(context.Background())
	for _, tc := range []struct {
		id, token, ctype, body string
		status                 int
		code, want             string
	}{
		{"svc-b", admin, "application/json", `{"resources":null}`, 415, "unsupported_media_type", "merge-patch+json"},
		{"svc-b", admin, "", `{"resources":null}`, 415, "unsupported_media_type", "merge-patch+json"},
		{"svc-b", admin, "application/merge-patch+json", `{"resources":null,"colour":"red"}`, 400, "invalid_client_metadata", "unknown member 'colour'"},
		{"svc-b", admin, "application/merge-patch+json", `{"client_id":"svc-x"}`, 400, "invalid_client_metadata", "client_id cannot be changed"},
		{"svc-b", admin, "application/merge-patch+json", `{"resources":["ftp://api.b.example"]}`, 400, "invalid_client_metadata", "resources[0]"},
		{"svc-b", admin, "application/merge-patch+json", `{"resources":["` + apiV2 + `","` + apiC + `"]}`, 400, "invalid_client_metadata", "resources[1] is registered by another client"},
		{"svc-nobody", admin, "application/merge-patch+json", `{}`, 404, "not_found", ""},
		{"svc-nobody", admin, "application/merge-patch+json", `{"resources":null}`, 404, "not_found", ""},
		{"svc-b", e.token(b, ""), "application/merge-patch+json", `{"resources":null}`, 403, "insufficient_scope", ""},
	} {
		resp, m := patch(tc.id, tc.token, tc.ctype, tc.body)
		if resp.StatusCode != tc.status || m["error"] != tc.code || !strings.Contains(fmt.Sprint(m["error_description"]), tc.want) {
			t.Errorf("%s %q: %d %v; want %d %s %q", tc.ctype, tc.body, resp.StatusCode, m, tc.status, tc.code, tc.want)
		}
		if tc.status == 415 && resp.Header.Get("Accept-Patch") != "application/merge-patch+json" {
			t.Errorf("415 without Accept-Patch: %v", resp.Header)
		}
	}
	// {} is a valid merge patch that changes nothing (RFC 7396 §2): the
	// record as it is.
	_, shown := e.call("GET", "/v1/admin/clients/svc-b", admin, "")
	if resp, m := patch("svc-b", admin, "application/merge-patch+json", ` {} `); resp.StatusCode != 200 || !reflect.DeepEqual(m, shown) {
		t.Errorf("empty patch: %d %v; want 200 %v", resp.StatusCode, m, shown)
	}
	if after, _ := e.clients.List(context.Background()); !reflect.DeepEqual(after, before) {
		t.Errorf("refused and empty patches changed the registry:\n%+v\n%+v", before, after)
	}
}

// TestClientAcceptPatch: a registered client, which PATCH changes
// (a JSON Merge Patch), advertises the patch format in Accept-Patch
// (RFC 5789 §3.1) on GET and HEAD, and in the 405 (with Allow listing
// PATCH) to OPTIONS or another method the resource does not take, which
// the server answers before any authentication, as for every route. A
// resource PATCH does not change sends none.
func TestClientAcceptPatch(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	a := e.register("svc-a", gm.AlgSM2, auth.ScopeRegistryAdmin)
	admin := e.token(a, "")
	for _, tc := range []struct {
		method, path, token string
		status              int
		acceptPatch         string
	}{
		{"GET", "/v1/admin/clients/svc-a", admin, 200, "application/merge-patch+json"},
		{"HEAD", "/v1/admin/clients/svc-a", admin, 200, "application/merge-patch+json"},
		{"OPTIONS", "/v1/admin/clients/svc-a", "", 405, "application/merge-patch+json"},
		{"OPTIONS", "/v1/admin/clients/svc-a", admin, 405, "application/merge-patch+json"},
		{"PUT", "/v1/admin/clients/svc-a", admin, 405, "application/merge-patch+json"},
		{"GET", "/v1/admin/clients", admin, 200, ""},
		{"OPTIONS", "/v1/admin/clients", admin, 405, ""},
		{"GET", "/v1/admin/clients/svc-nobody", admin, 404, ""},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, m := e.send(req)
		if resp.StatusCode != tc.status || resp.Header.Get("Accept-Patch") != tc.acceptPatch {
			t.Errorf("%s %s: %d Accept-Patch %q %v; want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Accept-Patch"), m, tc.status, tc.acceptPatch)
		}
		if tc.status == 405 && (tc.acceptPatch != "") != strings.Contains(resp.Header.Get("Allow"), "PATCH") {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, resp.Header.Get("Allow"))
		}
	}
}
