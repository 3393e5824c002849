package api

import (
	"context"
	"net/url"
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
