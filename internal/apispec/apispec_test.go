package apispec

import (
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/api"
)

// TestDocumentLoads: the node's document parses as OpenAPI 3.1 with every
// reference resolved and every schema compiled.
func TestDocumentLoads(t *testing.T) {
	s, err := Load(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Patterns()) < 40 {
		t.Errorf("only %d operations", len(s.Patterns()))
	}
}

const minimal = `{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
 "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
  "schemas": {"Thing": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}, "additionalProperties": false}}},
 "paths": {"/things/{id}": {"get": {"security": [{"bearerAuth": ["read"]}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
  "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}, "204": {"description": "none"}}}}}}`

// TestLoadRejects: each kind of broken document is refused, naming the
// fault.
func TestLoadRejects(t *testing.T) {
	if _, err := Load([]byte(minimal)); err != nil {
		t.Fatalf("minimal document: %v", err)
	}
	for _, c := range []struct{ old, new, want string }{
		{`"3.1.0"`, `"3.0.3"`, "not 3.1.x"},
		{`"title": "t"`, `"title": ""`, "info.title"},
		{`#/components/schemas/Thing`, `#/components/schemas/Nope`, "does not resolve"},
		{`"name": "id"`, `"name": "key"`, "{id} is not declared"},
		{`"security": [{"bearerAuth": ["read"]}], `, ``, "no security"},
		{`{"bearerAuth": ["read"]}`, `{"oauth": ["read"]}`, `scheme "oauth" is not defined`},
		{`"type": "object", "required"`, `"type": "objekt", "required"`, "schema Thing"},
		{`"200": {"description": "ok",`, `"2xx": {"description": "ok",`, "not a status"},
	} {
		doc := strings.Replace(minimal, c.old, c.new, 1)
		if doc == minimal {
			t.Fatalf("case %q does not apply", c.old)
		}
		if _, err := Load([]byte(doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s → %s: got %v, want %q", c.old, c.new, err, c.want)
		}
	}
}

// TestPublicRouteNo401: a route with no security scheme may not document
// a 401, whose challenge (RFC 9110 §15.5.2: "MUST send a
// WWW-Authenticate header field containing at least one challenge
// applicable to the target resource") it could not make; the same 401
// under a scheme, and the public route without it, load.
func TestPublicRouteNo401(t *testing.T) {
	with401 := strings.Replace(minimal, `"204": {"description": "none"}`, `"401": {"description": "who are you?"}`, 1)
	public := strings.Replace(with401, `"security": [{"bearerAuth": ["read"]}]`, `"security": []`, 1)
	if with401 == minimal || public == with401 {
		t.Fatal("the cases do not apply")
	}
	if _, err := Load([]byte(with401)); err != nil {
		t.Errorf("a 401 under bearerAuth: %v", err)
	}
	if _, err := Load([]byte(strings.Replace(minimal, `"security": [{"bearerAuth": ["read"]}]`, `"security": []`, 1))); err != nil {
		t.Errorf("a public route without 401: %v", err)
	}
	if _, err := Load([]byte(public)); err == nil || !strings.Contains(err.Error(), "public route (security []) documents 401") {
		t.Errorf("a public route documenting 401: %v", err)
	}
}

// TestCheckRoutes: undocumented, unserved and wrongly scoped routes are
// each reported.
func TestCheckRoutes(t *testing.T) {
	s, err := Load([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckRoutes([]api.Route{{Pattern: "GET /things/{id}", Scope: "read"}}); err != nil {
		t.Errorf("agreeing routes: %v", err)
	}
	for _, c := range []struct {
		routes []api.Route
		want   string
	}{
		{nil, `"GET /things/{id}" is documented but not served`},
		{[]api.Route{{Pattern: "GET /things/{id}", Scope: "read"}, {Pattern: "POST /things"}}, `"POST /things" is served but not documented`},
		{[]api.Route{{Pattern: "GET /things/{id}"}}, "is public, but documented as needing [read]"},
		{[]api.Route{{Pattern: "GET /things/{id}", Scope: "write"}}, "needs scope write, but is documented with [read]"},
	} {
		if err := s.CheckRoutes(c.routes); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.routes, err, c.want)
		}
	}
}

// TestValidateResponse: a response is held to its status, media type and
// schema.
func TestValidateResponse(t *testing.T) {
	s, err := Load([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	const p = "GET /things/{id}"
	if err := s.ValidateResponse(p, 200, "application/json; charset=utf-8", []byte(`{"id":"a"}`)); err != nil {
		t.Errorf("valid: %v", err)
	}
	if err := s.ValidateResponse(p, 204, "", nil); err != nil {
		t.Errorf("no body: %v", err)
	}
	for _, c := range []struct {
		status int
		ct     string
		body   string
		want   string
	}{
		{404, "application/json", `{}`, "404, which is not documented"},
		{200, "text/plain", `x`, "text/plain is not documented"},
		{200, "application/json", `{"id":1}`, "id"},
		{200, "application/json", `{"id":"a","extra":true}`, "extra"},
		{200, "application/json", `{"id":`, "not JSON"},
		{204, "", `x`, "without a body"},
	} {
		if err := s.ValidateResponse(p, c.status, c.ct, []byte(c.body)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d %s %s: got %v, want %q", c.status, c.ct, c.body, err, c.want)
		}
	}
}

// TestValidateRequest: an accepted request body is held to the documented
// media type and schema; forms are checked as objects of strings.
func TestValidateRequest(t *testing.T) {
	doc := strings.Replace(minimal, `"responses"`, `"requestBody": {"content": {
	  "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}},
	  "application/x-www-form-urlencoded": {"schema": {"type": "object", "required": ["id"], "properties": {"id": {"const": "a"}}}}}},
	 "responses"`, 1)
	s, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	const p = "GET /things/{id}"
	for _, c := range []struct{ ct, body, want string }{
		{"application/json", `{"id":"a"}`, ""},
		{"application/x-www-form-urlencoded", `id=a`, ""},
		{"application/json", `{"id":2}`, "id"},
		{"application/x-www-form-urlencoded", `id=b`, "id"},
		{"text/plain", `x`, "text/plain is not documented"},
	} {
		err := s.ValidateRequest(p, c.ct, []byte(c.body))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s %s: got %v, want %q", c.ct, c.body, err, c.want)
		}
	}
}
