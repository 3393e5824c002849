package api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/login"
)

func TestTokenEndpointIssues(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	admin := e.register("ops-console", gm.AlgSM2, auth.ScopeRegistryAdmin)
	es := e.register("svc-es", gm.AlgES256, auth.ScopeQRRedeem, auth.ScopeEnroll)
	basic := e.register("svc-basic", "", auth.ScopeQRRedeem)

	resp, m := e.post(auth.TokenPath, assertionForm(e.assertion(admin, nil)).Encode())
	if resp.StatusCode != 200 || m["token_type"] != "Bearer" || m["expires_in"] != float64(600) || m["scope"] != "registry:admin" {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Errorf("headers %v", resp.Header)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(m["access_token"].(string), ".")[0])
	if !strings.Contains(string(hdr), `"typ":"at+jwt"`) || !strings.Contains(string(hdr), `"alg":"SM2"`) {
		t.Errorf("header %s", hdr)
	}
	if r, body := e.call("GET", "/v1/admin/clients", m["access_token"].(string), ""); r.StatusCode != 200 || len(body["clients"].([]any)) != 3 {
		t.Errorf("admin call: %d %v", r.StatusCode, body)
	}

	resp, m = e.post(auth.TokenPath, assertionForm(e.assertion(es, nil), "scope", "identity:enroll", "client_id", "svc-es").Encode())
	if resp.StatusCode != 200 || m["scope"] != "identity:enroll" {
		t.Errorf("ES256 client: %d %v", resp.StatusCode, m)
	}
	req := httptest.NewRequest("POST", auth.TokenPath, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	req.SetBasicAuth(url.QueryEscape(basic.id), url.QueryEscape(basic.secret))
	if resp, m := e.send(req); resp.StatusCode != 200 || m["scope"] != "qr:redeem" {
		t.Errorf("basic client: %d %v", resp.StatusCode, m)
	}
}

// TestTokenEndpointRefuses: each bad request gets its standard OAuth error
// and status, never a 500.
func TestTokenEndpointRefuses(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	rp := e.register("svc-a", gm.AlgSM2, auth.ScopeQRRedeem)
	off := e.register("svc-off", gm.AlgSM2, auth.ScopeQRRedeem)
	basic := e.register("svc-basic", "", auth.ScopeQRRedeem)
	stranger := e.register("svc-x", gm.AlgSM2, auth.ScopeQRRedeem)
	if _, err := e.clients.Update(t.Context(), off.id, func(c *auth.Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	used := e.assertion(rp, nil)
	if resp, _ := e.post(auth.TokenPath, assertionForm(used).Encode()); resp.StatusCode != 200 {
		t.Fatal("first use refused")
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: rp.id, Subject: rp.id,
		Audience: jwt.ClaimStrings{oauthIssuer}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute)), ID: "h"})
	hsTok, _ := hs.SignedString([]byte("k"))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{Issuer: rp.id, Subject: rp.id,
		Audience: jwt.ClaimStrings{oauthIssuer}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute)), ID: "n"})
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	basicAuth := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	ghost := rpClient{id: "svc-ghost", signer: stranger.signer, kid: stranger.kid}
	otherKey := rpClient{id: rp.id, signer: stranger.signer, kid: stranger.kid}

	cases := []struct {
		name   string
		body   string
		hdr    []string
		status int
		code   string
	}{
		{"replayed assertion", assertionForm(used).Encode(), nil, 401, "invalid_client"},
		{"other audience", assertionForm(e.assertion(rp, func(_ map[string]any, c *jwt.RegisteredClaims) {
			c.Audience = jwt.ClaimStrings{"https://bj.trustid.example/oauth2/token"}
		})).Encode(), nil, 401, "invalid_client"},
		{"expired", assertionForm(e.assertion(rp, func(_ map[string]any, c *jwt.RegisteredClaims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-5 * time.Minute))
		})).Encode(), nil, 401, "invalid_client"},
		{"future iat", assertionForm(e.assertion(rp, func(_ map[string]any, c *jwt.RegisteredClaims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(5 * time.Minute))
		})).Encode(), nil, 401, "invalid_client"},
		{"unknown client", assertionForm(e.assertion(ghost, nil)).Encode(), nil, 401, "invalid_client"},
		{"disabled client", assertionForm(e.assertion(off, nil)).Encode(), nil, 401, "invalid_client"},
		{"key not in JWKS", assertionForm(e.assertion(otherKey, nil)).Encode(), nil, 401, "invalid_client"},
		{"HS256 assertion", assertionForm(hsTok).Encode(), nil, 401, "invalid_client"},
		{"alg none assertion", assertionForm(noneTok).Encode(), nil, 401, "invalid_client"},
		{"oversized form", assertionForm(e.assertion(rp, nil), "pad", strings.Repeat("x", 17<<10)).Encode(), nil, 413, "invalid_request"},
		{"malformed form", "grant_type=client_credentials&client_assertion=%zz", nil, 400, "invalid_request"},
		{"semicolon form", "grant_type=client_credentials;a=b", nil, 400, "invalid_request"},
		{"duplicate grant_type", assertionForm(e.assertion(rp, nil)).Encode() + "&grant_type=client_credentials", nil, 400, "invalid_request"},
		{"duplicate assertion", assertionForm(e.assertion(rp, nil)).Encode() + "&client_assertion=x", nil, 400, "invalid_request"},
		{"wrong content type", "", []string{"Content-Type", "application/json"}, 400, "invalid_request"},
		{"parameters in the URL", "", []string{"X-Target", "?grant_type=client_credentials"}, 400, "invalid_request"},
		{"missing grant_type", "client_assertion_type=" + url.QueryEscape(auth.AssertionType), nil, 400, "invalid_request"},
		{"unknown grant type", "grant_type=password&username=a&password=b", nil, 400, "unsupported_grant_type"},
		{"not allowed scope", assertionForm(e.assertion(rp, nil), "scope", "registry:admin").Encode(), nil, 400, "invalid_scope"},
		{"no client authentication", "grant_type=client_credentials", nil, 401, "invalid_client"},
		{"secret wrong", "grant_type=client_credentials", []string{"Authorization", basicAuth(basic.id, "wrong")}, 401, "invalid_client"},
		{"malformed basic", "grant_type=client_credentials", []string{"Authorization", "Basic !!!"}, 401, "invalid_client"},
		{"basic for a private_key_jwt client", "grant_type=client_credentials", []string{"Authorization", basicAuth(rp.id, basic.secret)}, 401, "invalid_client"},
		// RFC 6749 §5.2: an "unsupported authentication method" is
		// invalid_client, more than one mechanism invalid_request.
		{"client_secret_post", "grant_type=client_credentials&client_id=svc-basic&client_secret=" + basic.secret, nil, 401, "invalid_client"},
		{"client_secret_post beside basic", "grant_type=client_credentials&client_secret=" + basic.secret, []string{"Authorization", basicAuth(basic.id, basic.secret)}, 400, "invalid_request"},
		{"two methods", assertionForm(e.assertion(rp, nil)).Encode(), []string{"Authorization", basicAuth(basic.id, basic.secret)}, 400, "invalid_request"},
		// RFC 6749 §5.2: a client that "attempted to authenticate via the
		// Authorization request header field" with a method the node does
		// not support gets 401 invalid_client; with credentials in the
		// body besides, it used two methods (invalid_request).
		{"bearer at the token endpoint", "grant_type=client_credentials", []string{"Authorization", "Bearer abc"}, 401, "invalid_client"},
		{"digest at the token endpoint", "grant_type=client_credentials", []string{"Authorization", `Digest username="svc-basic"`}, 401, "invalid_client"},
		{"bearer beside an assertion", assertionForm(e.assertion(rp, nil)).Encode(), []string{"Authorization", "Bearer abc"}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := auth.TokenPath
			req := httptest.NewRequest("POST", target, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				if tc.hdr[i] == "X-Target" {
					req = httptest.NewRequest("POST", target+tc.hdr[i+1], strings.NewReader(tc.body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					continue
				}
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			resp, m := e.send(req)
			if resp.StatusCode != tc.status || m["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, m, tc.status, tc.code)
			}
			if d, _ := m["error_description"].(string); d == "" {
				t.Error("no error_description")
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Error("no Cache-Control: no-store")
			}
			// Every 401 has the Basic challenge, however the client
			// authenticated (RFC 9110 §15.5.2); no other status has one.
			want := ""
			if tc.status == 401 {
				want = basicChallenge
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
		})
	}
	if resp, _ := e.send(httptest.NewRequest("GET", auth.TokenPath, nil)); resp.StatusCode != 405 {
		t.Errorf("GET token endpoint: %d", resp.StatusCode)
	}
}

// TestOAuthEndpointChallenges: every 401 of the token, introspection and
// revocation endpoints carries a challenge (RFC 9110 §15.5.2), Basic, a
// scheme the endpoint takes (its *_auth_methods_supported lists
// client_secret_basic), whether the client authenticated in the body, not
// at all, or with Basic (RFC 6749 §5.2).
func TestOAuthEndpointChallenges(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	rp := e.register("svc-a", gm.AlgSM2, auth.ScopeQRRedeem)
	basic := e.register("svc-basic", "", auth.ScopeQRRedeem)
	tok := e.token(rp, "")
	resp, meta := e.send(httptest.NewRequest("GET", "/.well-known/oauth-authorization-server", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("metadata: %d", resp.StatusCode)
	}
	ghost := rpClient{id: "svc-ghost", signer: rp.signer, kid: rp.kid}
	for _, ep := range []struct{ path, methods, form string }{
		{auth.TokenPath, "token_endpoint_auth_methods_supported", "grant_type=client_credentials"},
		{auth.IntrospectionPath, "introspection_endpoint_auth_methods_supported", "token=" + tok},
		{auth.RevocationPath, "revocation_endpoint_auth_methods_supported", "token=" + tok},
	} {
		if methods, _ := meta[ep.methods].([]any); !slices.Contains(methods, any(auth.AuthClientSecretBasic)) {
			t.Fatalf("%s: %v, without client_secret_basic", ep.methods, methods)
		}
		for name, c := range map[string]struct{ body, authz string }{
			"no client authentication": {ep.form, ""},
			"an unknown client's assertion": {ep.form + "&" + url.Values{"client_assertion_type": {auth.AssertionType},
				"client_assertion": {e.assertion(ghost, func(_ map[string]any, c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{oauthIssuer} })}}.Encode(), ""},
			"a wrong secret":                 {ep.form, "Basic " + base64.StdEncoding.EncodeToString([]byte(basic.id+":wrong"))},
			"malformed Basic":                {ep.form, "Basic !!!"},
			"client_id and another's secret": {ep.form + "&client_id=" + rp.id, "Basic " + base64.StdEncoding.EncodeToString([]byte(basic.id+":"+basic.secret))},
		} {
			var hdr []string
			if c.authz != "" {
				hdr = []string{"Authorization", c.authz}
			}
			resp, m := e.post(ep.path, c.body, hdr...)
			if resp.StatusCode != 401 || m["error"] != "invalid_client" || resp.Header.Get("WWW-Authenticate") != `Basic realm="trustid", charset="UTF-8"` {
				t.Errorf("%s, %s: %d %v, WWW-Authenticate %q", ep.path, name, resp.StatusCode, m, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
}

func TestIntrospectionAndRevocationEndpoints(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	rp := e.register("svc-a", gm.AlgSM2, auth.ScopeQRRedeem)
	other := e.register("svc-b", gm.AlgSM2, auth.ScopeQRRedeem)
	tok := e.token(rp, "")
	introspect := func(who rpClient) (int, map[string]any) {
		resp, m := e.post(auth.IntrospectionPath, url.Values{"token": {tok}, "client_assertion_type": {auth.AssertionType},
			"client_assertion": {e.assertion(who, func(_ map[string]any, c *jwt.RegisteredClaims) {
				c.Audience = jwt.ClaimStrings{oauthIssuer} // the issuer is an accepted audience too
			})}}.Encode())
		return resp.StatusCode, m
	}
	if code, m := introspect(rp); code != 200 || m["active"] != true || m["client_id"] != "svc-a" || m["scope"] != "qr:redeem" || m["token_type"] != "Bearer" {
		t.Errorf("introspect own: %d %v", code, m)
	}
	if code, m := introspect(other); code != 200 || m["active"] != false || len(m) != 1 {
		t.Errorf("introspect another's: %d %v", code, m)
	}
	if resp, m := e.post(auth.IntrospectionPath, "token="+tok); resp.StatusCode != 401 || m["error"] != "invalid_client" {
		t.Errorf("anonymous introspection: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.post(auth.IntrospectionPath, assertionForm(e.assertion(rp, nil)).Encode()); resp.StatusCode != 400 || m["error"] != "invalid_request" {
		t.Errorf("introspection without token: %d %v", resp.StatusCode, m)
	}
	resp, m := e.post(auth.RevocationPath, url.Values{"token": {tok}, "token_type_hint": {"access_token"},
		"client_assertion_type": {auth.AssertionType}, "client_assertion": {e.assertion(other, nil)}}.Encode())
	if resp.StatusCode != 400 || m["error"] != "unauthorized_client" {
		t.Errorf("revoking another's token: %d %v", resp.StatusCode, m)
	}
	resp, _ = e.post(auth.RevocationPath, url.Values{"token": {tok}, "client_assertion_type": {auth.AssertionType},
		"client_assertion": {e.assertion(rp, nil)}}.Encode())
	if resp.StatusCode != 200 {
		t.Errorf("revoke: %d", resp.StatusCode)
	}
	if code, m := introspect(rp); code != 200 || m["active"] != false {
		t.Errorf("introspect revoked: %d %v", code, m)
	}
	admin := e.register("ops", gm.AlgSM2, auth.ScopeRegistryAdmin)
	if r, m := e.call("GET", "/v1/admin/clients", tok, ""); r.StatusCode != 401 || m["error"] != "invalid_token" {
		t.Errorf("revoked token on a protected route: %d %v", r.StatusCode, m)
	}
	adminTok := e.token(admin, "")
	resp, _ = e.post(auth.RevocationPath, url.Values{"token": {"not-a-token"}, "client_assertion_type": {auth.AssertionType},
		"client_assertion": {e.assertion(admin, nil)}}.Encode())
	if resp.StatusCode != 200 {
		t.Errorf("revoking garbage: %d", resp.StatusCode)
	}
	if r, _ := e.call("GET", "/v1/admin/clients", adminTok, ""); r.StatusCode != 200 {
		t.Errorf("admin token: %d", r.StatusCode)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		resp, m := e.send(httptest.NewRequest("GET", path, nil))
		if resp.StatusCode != 200 || m["issuer"] != oauthIssuer || m["token_endpoint"] != oauthIssuer+"/oauth2/token" ||
			m["jwks_uri"] != oauthIssuer+"/.well-known/jwks.json" || m["introspection_endpoint"] != oauthIssuer+"/oauth2/introspect" ||
			m["revocation_endpoint"] != oauthIssuer+"/oauth2/revoke" {
			t.Errorf("%s: %d %v", path, resp.StatusCode, m)
		}
		b, _ := json.Marshal(m)
		for _, want := range []string{`"grant_types_supported":["client_credentials"]`,
			`"token_endpoint_auth_methods_supported":["private_key_jwt","client_secret_basic"]`,
			`"token_endpoint_auth_signing_alg_values_supported":["SM2","ES256"]`,
			`"scopes_supported":["credentials:issue","status:write","qr:redeem","identity:enroll","registry:admin","presentation:request"]`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
	}
	req := httptest.NewRequest("GET", "/.well-known/jwks.json", nil)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	set, err := gm.ParseJWKS(rec.Body.Bytes())
	if err != nil || rec.Code != 200 || rec.Header().Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("%d %v %s", rec.Code, err, rec.Body)
	}
	active, _ := e.keys.Active(gm.AlgSM2)
	if j, ok := set.Key(active.Kid); !ok || j.Crv != "SM2" {
		t.Errorf("active SM2 key not published: %v", set)
	}
	if strings.Contains(rec.Body.String(), `"d"`) {
		t.Error("private key material published")
	}
}

func TestAdminClientsAPI(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	admin := e.register("ops", gm.AlgSM2, auth.ScopeRegistryAdmin)
	tok := e.token(admin, "")
	key1, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	j1, _ := gm.NewJWK(key1.Public(), "k1")
	jb, _ := json.Marshal(j1)

	resp, m := e.call("POST", "/v1/admin/clients", tok, `{"client_id":"svc-new","client_name":"新服务","region":"440000","scopes":["qr:redeem"],"jwks":{"keys":[`+string(jb)+`]}}`)
	if resp.StatusCode != 201 || m["client_id"] != "svc-new" || m["token_endpoint_auth_method"] != "private_key_jwt" || resp.Header.Get("Location") != "/v1/admin/clients/svc-new" {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	resp, m = e.call("POST", "/v1/admin/clients", tok, `{"client_id":"svc-sec","client_name":"Basic","region":"440000","scopes":["qr:redeem"],"token_endpoint_auth_method":"client_secret_basic"}`)
	secret, _ := m["client_secret"].(string)
	if resp.StatusCode != 201 || len(secret) != 43 || m["secret_hash"] != nil {
		t.Fatalf("create basic: %d %v", resp.StatusCode, m)
	}
	resp, m = e.call("GET", "/v1/admin/clients/svc-sec", tok, "")
	if resp.StatusCode != 200 || m["client_secret"] != nil || m["secret_hash"] != nil {
		t.Errorf("show basic: %d %v", resp.StatusCode, m)
	}
	// The new client can get a token with the secret it was given once.
	req := httptest.NewRequest("POST", auth.TokenPath, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc-sec", secret)
	if resp, m := e.send(req); resp.StatusCode != 200 {
		t.Errorf("token with the new secret: %d %v", resp.StatusCode, m)
	}

	key2, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	j2, _ := gm.NewJWK(key2.Public(), "k2")
	j2b, _ := json.Marshal(j2)
	resp, m = e.call("POST", "/v1/admin/clients/svc-new/keys", tok, `{"add":`+string(j2b)+`}`)
	if resp.StatusCode != 200 || len(m["jwks"].(map[string]any)["keys"].([]any)) != 2 {
		t.Errorf("add key: %d %v", resp.StatusCode, m)
	}
	resp, m = e.call("POST", "/v1/admin/clients/svc-new/keys", tok, `{"retire":"k1"}`)
	if resp.StatusCode != 200 || len(m["jwks"].(map[string]any)["keys"].([]any)) != 1 {
		t.Errorf("retire key: %d %v", resp.StatusCode, m)
	}
	// Disabling through the API stops the client's tokens at once, even
	// one the cache holds.
	victim := e.register("svc-victim", gm.AlgSM2, auth.ScopeRegistryAdmin)
	victimTok := e.token(victim, "")
	if r, _ := e.call("GET", "/v1/admin/routes", victimTok, ""); r.StatusCode != 200 {
		t.Fatalf("victim token: %d", r.StatusCode)
	}
	if r, m := e.call("POST", "/v1/admin/clients/svc-victim/disable", tok, ""); r.StatusCode != 200 || m["disabled"] != true {
		t.Errorf("disable: %d %v", r.StatusCode, m)
	}
	if r, m := e.call("GET", "/v1/admin/routes", victimTok, ""); r.StatusCode != 401 || m["error"] != "invalid_token" {
		t.Errorf("disabled client's cached token: %d %v", r.StatusCode, m)
	}
	resp, m = e.call("POST", "/v1/admin/clients/svc-new/disable", tok, "")
	if resp.StatusCode != 200 || m["disabled"] != true {
		t.Errorf("disable: %d %v", resp.StatusCode, m)
	}
	resp, m = e.call("GET", "/v1/admin/clients", tok, "")
	if resp.StatusCode != 200 || len(m["clients"].([]any)) != 4 || strings.Contains(mustJSON(m), "hmac-sm3") {
		t.Errorf("list: %d %v", resp.StatusCode, m)
	}

	refused := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown field", "POST", "/v1/admin/clients", `{"client_name":"x","region":"310000","scopes":["qr:redeem"],"admin":true}`, 400, "invalid_client_metadata"},
		{"repeated key", "POST", "/v1/admin/clients", `{"client_name":"x","client_name":"y"}`, 400, "invalid_client_metadata"},
		{"trailing data", "POST", "/v1/admin/clients", `{"client_name":"x"} []`, 400, "invalid_client_metadata"},
		{"oversized", "POST", "/v1/admin/clients", `{"client_name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "request_too_large"},
		{"invalid region", "POST", "/v1/admin/clients", `{"client_name":"x","region":"310101","scopes":["qr:redeem"],"token_endpoint_auth_method":"client_secret_basic"}`, 400, "invalid_client_metadata"},
		{"existing id", "POST", "/v1/admin/clients", `{"client_id":"svc-sec","client_name":"x","region":"440000","scopes":["qr:redeem"],"token_endpoint_auth_method":"client_secret_basic"}`, 409, "client_exists"},
		{"unknown client", "GET", "/v1/admin/clients/svc-nobody", "", 404, "not_found"},
		{"bad id", "GET", "/v1/admin/clients/..", "", 404, "not_found"},
		{"retire unknown kid", "POST", "/v1/admin/clients/svc-new/keys", `{"retire":"k9"}`, 400, "invalid_client_metadata"},
		{"keys for a basic client", "POST", "/v1/admin/clients/svc-sec/keys", `{"add":` + string(jb) + `}`, 400, "invalid_client_metadata"},
		{"disable with a body", "POST", "/v1/admin/clients/svc-sec/disable", `{"now":true}`, 400, "invalid_request"},
		{"disable unknown", "POST", "/v1/admin/clients/svc-nobody/disable", ``, 404, "not_found"},
	}
	for _, tc := range refused {
		resp, m := e.call(tc.method, tc.path, tok, tc.body)
		if resp.StatusCode != tc.status || m["error"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, resp.StatusCode, m, tc.status, tc.code)
		}
	}
	// Registrations a hostile operator tried: another region's party, a
	// name that reorders itself on screen, a claim no binding carries, a
	// scope whose quote in the answer is made safe.
	for name, c := range map[string]struct{ body, says string }{
		"another region":       {`{"client_name":"x","region":"310000","scopes":["qr:redeem"],"token_endpoint_auth_method":"client_secret_basic"}`, "this node's region 440000"},
		"bidi override":        {`{"client_name":"银行\u202e行银","region":"440000","scopes":["qr:redeem"],"token_endpoint_auth_method":"client_secret_basic"}`, "client_name"},
		"zero-width character": {`{"client_name":"银\u200b行","region":"440000","scopes":["qr:redeem"],"token_endpoint_auth_method":"client_secret_basic"}`, "client_name"},
		"id_number claim":      {`{"client_name":"x","region":"440000","scopes":["qr:redeem"],"claims":["id_number"],"token_endpoint_auth_method":"client_secret_basic"}`, "claims[0] 'id_number'"},
		"name claim":           {`{"client_name":"x","region":"440000","scopes":["qr:redeem"],"claims":["age_over_18","name"],"token_endpoint_auth_method":"client_secret_basic"}`, "claims[1] 'name'"},
		"quoted scope":         {`{"client_name":"x","region":"440000","scopes":["x\"y\\z\u0001银"],"token_endpoint_auth_method":"client_secret_basic"}`, "scopes[0] 'x?y?z??' is not one of"},
	} {
		resp, m := e.call("POST", "/v1/admin/clients", tok, c.body)
		if d, _ := m["error_description"].(string); resp.StatusCode != 400 || m["error"] != "invalid_client_metadata" || !strings.Contains(d, c.says) {
			t.Errorf("%s: %d %v, want 400 invalid_client_metadata saying %s", name, resp.StatusCode, m, c.says)
		}
	}
	// A text body is refused before parsing.
	req = httptest.NewRequest("POST", "/v1/admin/clients", strings.NewReader("x"))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, _ := e.send(req); resp.StatusCode != 415 {
		t.Errorf("text body: %d", resp.StatusCode)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRateLimits(t *testing.T) {
	addr, _ := ParseRateLimit("a", "3/1m")
	client, _ := ParseRateLimit("c", "2/1m")
	e := newOAuthEnv(t, OAuthConfig{AddrLimit: addr, ClientLimit: client}, nil)
	rp := e.register("svc-a", gm.AlgSM2, auth.ScopeQRRedeem)
	// Per client: the third token in a minute is refused, after
	// authentication.
	for i := range 3 {
		resp, m := e.post(auth.TokenPath, assertionForm(e.assertion(rp, nil)).Encode())
		if i < 2 && resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, m)
		}
		if i == 2 {
			checkLimited(t, resp, m)
		}
	}
	// Per address: the fourth request from the address, authenticated or
	// not, is refused before anything else; another address is not.
	resp, m := e.post(auth.TokenPath, "grant_type=client_credentials")
	checkLimited(t, resp, m)
	req := httptest.NewRequest("POST", auth.TokenPath, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "198.51.100.7:4000"
	if resp, m := e.send(req); resp.StatusCode != 401 {
		t.Errorf("other address: %d %v", resp.StatusCode, m)
	}

	// The middleware on any route, around protect: the route is still
	// listed as protected.
	s, _ := newTestServer(t, nil)
	lim, _ := ParseRateLimit("test", "1/1h")
	s.handle("POST /v1/thing", s.rateLimit(e.store, lim, ClientAddress, s.protect(auth.ScopeEnroll, http.NotFoundHandler())))
	if got := s.Routes(); !slices.Contains(got, Route{"POST /v1/thing", auth.ScopeEnroll}) {
		t.Errorf("protected routes %v", got)
	}
	do(t, s.Handler(), "POST", "/v1/thing", nil)
	resp, m = do(t, s.Handler(), "POST", "/v1/thing", nil)
	checkLimited(t, resp, m)

	for _, bad := range []string{"3", "x/1m", "3/x", "-1/1m", "3/0s", "3/1ns"} {
		if _, err := ParseRateLimit("x", bad); err == nil {
			t.Errorf("ParseRateLimit(%q) accepted", bad)
		}
	}
	if rl, err := ParseRateLimit("x", "0"); err != nil || rl.Enabled() {
		t.Errorf("0: %v %v", rl, err)
	}
	for remote, want := range map[string]string{"192.0.2.1:80": "192.0.2.1", "[2001:db8:1:2:3::4]:80": "2001:db8:1:2::/64", "[::ffff:192.0.2.9]:1": "192.0.2.9"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if got := ClientAddress(r); got != want {
			t.Errorf("ClientAddress(%s) = %s, want %s", remote, got, want)
		}
	}
}

func checkLimited(t *testing.T, resp *http.Response, m map[string]any) {
	t.Helper()
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || m["error"] != "rate_limited" || err != nil || secs < 1 {
		t.Errorf("want 429 rate_limited with Retry-After: %d %v %q", resp.StatusCode, m, resp.Header.Get("Retry-After"))
	}
}

// TestLogsHoldNoCredentials: after every flow (tokens issued and refused,
// protected calls, introspection, revocation, admin calls), the captured
// logs contain no access token, assertion, secret or key in any encoding.
func TestLogsHoldNoCredentials(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	admin := e.register("ops", gm.AlgSM2, auth.ScopeRegistryAdmin)
	basic := e.register("svc-basic", "", auth.ScopeQRRedeem)
	var secrets []string
	tok := e.token(admin, "")
	secrets = append(secrets, tok, basic.secret)
	a := e.assertion(admin, nil)
	secrets = append(secrets, a)
	e.post(auth.TokenPath, assertionForm(a).Encode())
	e.post(auth.TokenPath, assertionForm(a).Encode()) // replayed
	bad := e.assertion(admin, func(_ map[string]any, c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"x"} })
	secrets = append(secrets, bad)
	e.post(auth.TokenPath, assertionForm(bad).Encode())
	e.post(auth.TokenPath, "grant_type=client_credentials", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("svc-basic:"+basic.secret)))
	e.post(auth.TokenPath, "grant_type=client_credentials", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("svc-basic:"+basic.secret+"x")))
	e.call("GET", "/v1/admin/clients", tok, "")
	e.call("GET", "/v1/admin/clients", tok+"x", "")
	e.call("GET", "/v1/admin/clients", "garbage-token-value", "")
	secrets = append(secrets, "garbage-token-value")
	k, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	j, _ := gm.NewJWK(k.Public(), "kk")
	jb, _ := json.Marshal(j)
	resp, m := e.call("POST", "/v1/admin/clients", tok, `{"client_name":"x","region":"440000","scopes":["qr:redeem"],"token_endpoint_auth_method":"client_secret_basic"}`)
	if resp.StatusCode != 201 {
		t.Fatal(m)
	}
	secrets = append(secrets, m["client_secret"].(string))
	e.call("POST", "/v1/admin/clients/ops/keys", tok, `{"add":`+string(jb)+`}`)
	for _, path := range []string{auth.IntrospectionPath, auth.RevocationPath} {
		a := e.assertion(admin, nil)
		secrets = append(secrets, a)
		e.post(path, url.Values{"token": {tok}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a}}.Encode())
	}
	e.call("GET", "/v1/admin/clients", tok, "") // revoked now
	pem, _ := gm.MarshalPrivateKeyPEM(admin.signer)
	secrets = append(secrets, string(pem))
	logs := []byte(e.logs.String())
	if len(logs) < 1000 || !strings.Contains(string(logs), "invalid_client") {
		t.Fatalf("logs look empty: %s", logs)
	}
	// Each part of a JWT is checked on its own too: the signature alone
	// would let nobody forge, but the claims part of an assertion would
	// show a jti.
	var parts []string
	for _, s := range secrets {
		if strings.Count(s, ".") == 2 {
			parts = append(parts, strings.Split(s, ".")[1:]...)
		}
	}
	scan := leakcheck.New(t, append(secrets, parts...)...)
	scan.PlantLog(e.logs)
	if hits := scan.Log([]byte(e.logs.String())); len(hits) > 0 {
		t.Errorf("credentials in logs: %v", hits)
	}
	if strings.Contains(string(logs), "Bearer ey") || strings.Contains(string(logs), "Basic ") {
		t.Error("an Authorization header was logged")
	}
}

// TestErrorDescriptionCharset: RFC 6749 §5.2 "Values for the
// error_description parameter MUST NOT include characters outside the set
// %x20-21 / %x23-5B / %x5D-7E" (RFC 6750 §3 the same in WWW-Authenticate).
// The descriptions the token endpoint gives for hostile grant types and
// scopes, those of the introspection and revocation endpoints and of a
// protected route, and an authorization error redirect's, hold none.
func TestErrorDescriptionCharset(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	rp := e.register("rp-1", gm.AlgSM2, auth.ScopeQRRedeem)
	check := func(what, d string) {
		t.Helper()
		if d == "" {
			t.Errorf("%s: no error_description", what)
		}
		for i := 0; i < len(d); i++ {
			if c := d[i]; c < 0x20 || c == 0x22 || c == 0x5c || c > 0x7e {
				t.Errorf("%s: error_description %q has %q", what, d, c)
				return
			}
		}
	}
	hostile := []string{"password", "密码", strings.Repeat("a", 49), strings.Repeat("密", 20), "a\x01b", `a"b\c`, "a\xffb", "\u2028"}
	for _, v := range hostile {
		_, m := e.post(auth.TokenPath, url.Values{"grant_type": {v}}.Encode())
		check("grant_type "+strconv.Quote(v), m["error_description"].(string))
		_, m = e.post(auth.TokenPath, assertionForm(e.assertion(rp, nil), "scope", v).Encode())
		check("scope "+strconv.Quote(v), m["error_description"].(string))
		for _, path := range []string{auth.IntrospectionPath, auth.RevocationPath} {
			_, m = e.post(path, url.Values{"token": {v}, "client_id": {v}}.Encode(), "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(v+":"+v)))
			check(path+" "+strconv.Quote(v), m["error_description"].(string))
		}
		resp, _ := e.call("GET", "/v1/admin/clients", v+".x.y", "")
		h := resp.Header.Get("WWW-Authenticate")
		_, d, _ := strings.Cut(h, `error_description="`)
		d, _, _ = strings.Cut(d, `"`)
		check("bearer "+strconv.Quote(v)+" "+h, d)

		rec := httptest.NewRecorder()
		ae := &login.AuthorizeError{Err: &login.Error{Code: login.CodeInvalidRequest, Description: "bad " + v}, RedirectURI: "https://rp.example/cb", State: "s"}
		if err := redirectAuthorizeError(rec, httptest.NewRequest("GET", "/oauth2/authorize", nil), e.srv, ae, oauthIssuer); err != nil {
			t.Fatal(err)
		}
		loc, _ := url.Parse(rec.Header().Get("Location"))
		check("redirect "+strconv.Quote(v), loc.Query().Get("error_description"))
		if loc.Query().Get("iss") != oauthIssuer {
			t.Errorf("redirect without iss: %s", loc)
		}
	}
}

// TestBearerChallenges: a protected route's WWW-Authenticate (RFC 6750
// §3). A request without Bearer authentication (no Authorization
// header, or one of another scheme: "the client ... attempted using an
// unsupported authentication method") gets a challenge with no error
// code; a malformed Bearer header or a bad token gets
// error="invalid_token", a token without the route's scope
// error="insufficient_scope" with the scope. (Another scheme got
// error="invalid_token".)
func TestBearerChallenges(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	rp := e.register("svc-scan", gm.AlgSM2, auth.ScopeQRRedeem)
	tok := e.token(rp, "")
	checkChallenges(t, e, "/v1/admin/routes", []challengeCase{
		{"no header", nil, 401, `Bearer realm="trustid"`},
		{"Basic", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("svc-scan:secret"))}, 401, `Bearer realm="trustid"`},
		{"DPoP", []string{"DPoP " + tok}, 401, `Bearer realm="trustid"`},
		{"a scheme alone", []string{"Negotiate"}, 401, `Bearer realm="trustid"`},
		// RFC 6750 §3.1: a request that "repeats the same parameter ...
		// or is otherwise malformed" is invalid_request, "HTTP 400".
		{"Bearer without a token", []string{"Bearer "}, 400, `Bearer realm="trustid", error="invalid_request"`},
		{"Bearer and spaces", []string{"Bearer   "}, 400, `Bearer realm="trustid", error="invalid_request"`},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, 400, `Bearer realm="trustid", error="invalid_request"`},
		{"a bad token", []string{"Bearer " + tok + "x"}, 401, `Bearer realm="trustid", error="invalid_token", `},
		{"another scope", []string{"bearer " + tok}, 403, `Bearer realm="trustid", error="insufficient_scope", scope="registry:admin"`},
	})
}

// challengeCase is a request's Authorization headers and the status and
// WWW-Authenticate challenge it must get (a challenge ending in ", " is a
// prefix).
type challengeCase struct {
	name   string
	auth   []string
	status int
	header string
}

// checkChallenges sends GET path with each case's headers to e.
func checkChallenges(t *testing.T, e *oauthEnv, path string, cases []challengeCase) {
	t.Helper()
	for _, c := range cases {
		req := httptest.NewRequest("GET", path, nil)
		for _, v := range c.auth {
			req.Header.Add("Authorization", v)
		}
		resp, m := e.send(req)
		h := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != c.status || h != c.header && !(strings.HasSuffix(c.header, ", ") && strings.HasPrefix(h, c.header)) {
			t.Errorf("%s: %d %q %v, want %d %q", c.name, resp.StatusCode, h, m, c.status, c.header)
		}
	}
}
