// Package apispec holds a node's HTTP behaviour to its OpenAPI 3.1
// document (api.OpenAPI): the document's structure, its routes against the
// router's, and real responses against the schema documented for their
// route, status and media type. Tests use it; the node does not.
package apispec

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/trustid-cn/trustid/api"
)

// docURL names the document inside the schema compiler.
const docURL = "mem:///openapi.json"

// Spec is a parsed, checked document.
type Spec struct {
	ops map[string]*operation // by "METHOD /path"
	mux *http.ServeMux        // matches a request to its documented pattern
}

type operation struct {
	// scopes are the bearerAuth scopes required; nil for a public route.
	scopes []string
	// requests maps each request media type to its compiled schema.
	requests map[string]*jsonschema.Schema
	// responses maps a status to its media types (nil: no body) and
	// each media type to its compiled schema.
	responses map[int]map[string]*jsonschema.Schema
}

var (
	versionRE = regexp.MustCompile(`^3\.1\.\d+$`)
	paramRE   = regexp.MustCompile(`\{([^}]+)\}`)
	methods   = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
)

// Load parses an OpenAPI 3.1 document and checks what the meta-schema
// checks for the subset this project uses, and more: the version, info,
// every operation's responses, every $ref resolves, every path template
// parameter is declared, every security requirement names a scheme, no
// public route documents a 401, and every schema compiles as JSON Schema
// 2020-12.
func Load(doc []byte) (*Spec, error) {
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("apispec: not JSON: %w", err)
	}
	root, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("apispec: the document is not an object")
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if v, _ := root["openapi"].(string); !versionRE.MatchString(v) {
		bad("openapi is %q, not 3.1.x", root["openapi"])
	}
	info, _ := root["info"].(map[string]any)
	if s, _ := info["title"].(string); s == "" {
		bad("info.title is missing")
	}
	if s, _ := info["version"].(string); s == "" {
		bad("info.version is missing")
	}
	walkRefs(root, root, "", &errs)
	comps, _ := root["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, raw); err != nil {
		return nil, fmt.Errorf("apispec: %w", err)
	}
	schemas, _ := comps["schemas"].(map[string]any)
	for name := range schemas {
		if _, err := c.Compile(docURL + "#/components/schemas/" + name); err != nil {
			bad("schema %s: %v", name, err)
		}
	}

	s := &Spec{ops: map[string]*operation{}, mux: http.NewServeMux()}
	paths, _ := root["paths"].(map[string]any)
	if len(paths) == 0 {
		bad("no paths")
	}
	for path, item := range paths {
		if !strings.HasPrefix(path, "/") {
			bad("path %q does not start with /", path)
			continue
		}
		item, _ := item.(map[string]any)
		for _, m := range methods {
			o, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			// OpenAPI paths are exact; ServeMux's "/", "/ui/" are
			// every path under them.
			pattern := strings.ToUpper(m) + " " + path
			if strings.HasSuffix(path, "/") {
				pattern += "{$}"
			}
			op, err := s.operation(c, root, schemes, path, m, o)
			if err != nil {
				bad("%s: %v", pattern, err)
				continue
			}
			s.ops[pattern] = op
			s.mux.Handle(pattern, http.NotFoundHandler())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("apispec: %w", err)
	}
	return s, nil
}

func (s *Spec) operation(c *jsonschema.Compiler, root, schemes map[string]any, path, method string, o map[string]any) (*operation, error) {
	declared := map[string]bool{}
	params, _ := o["parameters"].([]any)
	for _, p := range params {
		p, _ := resolve(root, p).(map[string]any)
		if p["in"] == "path" {
			if p["required"] != true {
				return nil, fmt.Errorf("path parameter %v is not required", p["name"])
			}
			declared[fmt.Sprint(p["name"])] = true
		}
	}
	for _, m := range paramRE.FindAllStringSubmatch(path, -1) {
		if !declared[m[1]] {
			return nil, fmt.Errorf("path parameter {%s} is not declared", m[1])
		}
		delete(declared, m[1])
	}
	if len(declared) > 0 {
		return nil, fmt.Errorf("path parameters %v are not in the path", declared)
	}
	op := &operation{responses: map[int]map[string]*jsonschema.Schema{}, requests: map[string]*jsonschema.Schema{}}
	if rb, ok := o["requestBody"].(map[string]any); ok {
		content, _ := rb["content"].(map[string]any)
		for mt := range content {
			sch, err := c.Compile(docURL + "#/paths/" + escape(path) + "/" + method + "/requestBody/content/" + escape(mt) + "/schema")
			if err != nil {
				return nil, fmt.Errorf("request %s: %w", mt, err)
			}
			op.requests[mt] = sch
		}
	}
	sec, ok := o["security"].([]any)
	if !ok {
		return nil, errors.New("no security: say [] for a public route")
	}
	for _, req := range sec {
		for name, sc := range req.(map[string]any) {
			if _, ok := schemes[name]; !ok {
				return nil, fmt.Errorf("security scheme %q is not defined", name)
			}
			if name == "bearerAuth" {
				for _, v := range sc.([]any) {
					op.scopes = append(op.scopes, fmt.Sprint(v))
				}
			}
		}
	}
	responses, _ := o["responses"].(map[string]any)
	if len(responses) == 0 {
		return nil, errors.New("no responses")
	}
	if _, ok := responses["401"]; ok && len(sec) == 0 {
		// RFC 9110 §15.5.2: a 401 carries a challenge of a scheme the
		// route takes, and a public route takes none.
		return nil, errors.New("a public route (security []) documents 401, which would need a challenge of a scheme it does not take")
	}
	base := "#/paths/" + escape(path) + "/" + method + "/responses/"
	for code, r := range responses {
		status, err := strconv.Atoi(code)
		if err != nil || status < 100 || status > 599 {
			return nil, fmt.Errorf("response %q is not a status", code)
		}
		ptr := base + code
		if ref, ok := r.(map[string]any)["$ref"].(string); ok {
			ptr = ref
		}
		resp, _ := resolve(root, r).(map[string]any)
		if d, _ := resp["description"].(string); d == "" {
			return nil, fmt.Errorf("response %s has no description", code)
		}
		content, _ := resp["content"].(map[string]any)
		media := map[string]*jsonschema.Schema{}
		for mt := range content {
			sch, err := c.Compile(docURL + ptr + "/content/" + escape(mt) + "/schema")
			if err != nil {
				return nil, fmt.Errorf("response %s %s: %w", code, mt, err)
			}
			media[mt] = sch
		}
		op.responses[status] = media
	}
	return op, nil
}

// escape encodes a JSON pointer token.
func escape(s string) string {
	return url.PathEscape(strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1"))
}

// resolve follows a local $ref.
func resolve(root map[string]any, v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	ref, ok := m["$ref"].(string)
	if !ok {
		return v
	}
	return pointer(root, ref)
}

// pointer looks up a local reference "#/a/b"; nil when it does not exist.
func pointer(root map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = root
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[tok]; !ok {
			return nil
		}
	}
	return cur
}

// walkRefs reports every $ref that is not local or does not resolve.
func walkRefs(root map[string]any, v any, at string, errs *[]error) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok && pointer(root, ref) == nil {
			*errs = append(*errs, fmt.Errorf("%s: $ref %q does not resolve", at, ref))
		}
		for k, x := range v {
			walkRefs(root, x, at+"/"+k, errs)
		}
	case []any:
		for i, x := range v {
			walkRefs(root, x, at+"/"+strconv.Itoa(i), errs)
		}
	}
}

// Patterns lists every documented route, "METHOD /path" (a path ending
// in "/" as the ServeMux pattern "/path/{$}"), sorted.
func (s *Spec) Patterns() []string {
	var out []string
	for p := range s.ops {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// CheckRoutes compares the router's routes with the document: every
// route is documented, every documented route is served, and each needs
// the bearer scope the document says (none for a public route).
func (s *Spec) CheckRoutes(routes []api.Route) error {
	var errs []error
	served := map[string]bool{}
	for _, r := range routes {
		served[r.Pattern] = true
		op, ok := s.ops[r.Pattern]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("route %q is served but not documented", r.Pattern))
		case r.Scope == "" && len(op.scopes) > 0:
			errs = append(errs, fmt.Errorf("route %q is public, but documented as needing %v", r.Pattern, op.scopes))
		case r.Scope != "" && !slices.Equal(op.scopes, []string{r.Scope}):
			errs = append(errs, fmt.Errorf("route %q needs scope %s, but is documented with %v", r.Pattern, r.Scope, op.scopes))
		}
	}
	for _, p := range s.Patterns() {
		if !served[p] {
			errs = append(errs, fmt.Errorf("route %q is documented but not served", p))
		}
	}
	return errors.Join(errs...)
}

// Match returns the documented pattern a request matches, or "".
func (s *Spec) Match(r *http.Request) string {
	_, p := s.mux.Handler(r)
	if _, ok := s.ops[p]; !ok {
		return ""
	}
	return p
}

// ValidateRequest checks a request body sent to the documented route
// pattern: its media type is documented and the body valid against that
// media type's schema (a form is checked as an object of strings). A
// route documented without a request body ignores any body, so any passes.
func (s *Spec) ValidateRequest(pattern, contentType string, body []byte) error {
	op, ok := s.ops[pattern]
	if !ok {
		return fmt.Errorf("%s is not documented", pattern)
	}
	if len(op.requests) == 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("%s request: content type %q: %v", pattern, contentType, err)
	}
	sch, ok := op.requests[mt]
	if !ok {
		return fmt.Errorf("%s request: content type %s is not documented", pattern, mt)
	}
	var v any
	switch {
	case mt == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return fmt.Errorf("%s request: %v", pattern, err)
		}
		form := map[string]any{}
		for k, vs := range vals {
			form[k] = vs[0]
		}
		v = form
	case isJSON(mt):
		if v, err = jsonschema.UnmarshalJSON(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("%s request: body is not JSON: %v", pattern, err)
		}
	default:
		v = string(body)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s request: %v", pattern, err)
	}
	return nil
}

// ValidateResponse checks a response to a request on the documented route
// pattern: its status is documented, its media type is one documented for
// that status (no body when none is), and its body is valid against that
// media type's schema (parsed as JSON for JSON media types, else taken as
// a string).
func (s *Spec) ValidateResponse(pattern string, status int, contentType string, body []byte) error {
	op, ok := s.ops[pattern]
	if !ok {
		return fmt.Errorf("%s is not documented", pattern)
	}
	media, ok := op.responses[status]
	if !ok {
		return fmt.Errorf("%s answered %d, which is not documented", pattern, status)
	}
	if len(media) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("%s %d: documented without a body, but sent %d bytes", pattern, status, len(body))
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("%s %d: content type %q: %v", pattern, status, contentType, err)
	}
	sch, ok := media[mt]
	if !ok {
		return fmt.Errorf("%s %d: content type %s is not documented", pattern, status, mt)
	}
	var v any = string(body)
	if isJSON(mt) {
		if v, err = jsonschema.UnmarshalJSON(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("%s %d: body is not JSON: %v", pattern, status, err)
		}
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s %d: %v", pattern, status, err)
	}
	return nil
}

// isJSON reports whether bodies of media type mt are JSON: application/json,
// a +json type, or the VC data model's application/vc and application/vp
// (JSON-LD documents, VC Data Model 2.0 section 6.1).
func isJSON(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "application/vc" || mt == "application/vp"
}
