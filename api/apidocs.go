package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// APIDocsPath is the browsable API reference: the OpenAPI document
// rendered as HTML on the server, with no script.
const APIDocsPath = "/api-docs"

// MountAPIDocs serves GET /api-docs: api/openapi.json rendered as a
// readable reference (every path and method with its summary,
// description, security, parameters, request and response schemas and
// examples, then the shared schemas), made once from the embedded
// document. The page loads nothing else: its CSP is default-src 'none'
// with its one stylesheet allowed by hash.
func (s *Server) MountAPIDocs() error {
	page, err := RenderAPIDocs(openAPIDoc)
	if err != nil {
		return err
	}
	csp := "default-src 'none'; style-src 'sha256-" + apiDocsStyleHash + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	s.handle("GET "+APIDocsPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "public, max-age=300")
		w.Write(page)
	}))
	return nil
}

// docOperation is one method of one path, ready to render.
type docOperation struct {
	Method, Path, Anchor string
	Summary, Description string
	Tags                 []string
	Security             []string // "public", or "bearerAuth: scope", ...
	Parameters           []docParam
	RequestRequired      bool
	RequestDescription   string
	Request              []docMedia
	Responses            []docResponse
	Deprecated           bool
	OperationID          string
}

type docParam struct {
	Name, In, Description, Schema string
	Required                      bool
}

type docMedia struct {
	Type    string
	Schema  template.HTML // pretty JSON with $refs as links
	Example template.HTML
}

type docResponse struct {
	Status, Description string
	Media               []docMedia
}

type docSchema struct {
	Name, Anchor string
	Schema       template.HTML
}

type docPage struct {
	Title, Version, Description string
	Tags                        []docTag
	Schemas                     []docSchema
	Style                       template.CSS
}

type docTag struct {
	Name, Description string
	Operations        []docOperation
}

var methodOrder = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// RenderAPIDocs renders an OpenAPI 3.1 document (JSON) as the HTML
// reference MountAPIDocs serves.
func RenderAPIDocs(doc []byte) ([]byte, error) {
	var d struct {
		Info struct {
			Title, Version, Description string
		}
		Tags []struct {
			Name, Description string
		}
		Paths      map[string]map[string]json.RawMessage
		Components struct {
			Schemas   map[string]json.RawMessage
			Responses map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("api: the OpenAPI document: %w", err)
	}
	resolveResponse := func(raw json.RawMessage) json.RawMessage {
		var ref struct {
			Ref string `json:"$ref"`
		}
		if json.Unmarshal(raw, &ref) == nil && strings.HasPrefix(ref.Ref, "#/components/responses/") {
			if r, ok := d.Components.Responses[strings.TrimPrefix(ref.Ref, "#/components/responses/")]; ok {
				return r
			}
		}
		return raw
	}
	byTag := map[string][]docOperation{}
	for _, path := range slices.Sorted(maps.Keys(d.Paths)) {
		item := d.Paths[path]
		for _, m := range methodOrder {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op struct {
				Tags        []string
				Summary     string
				Description string
				OperationID string `json:"operationId"`
				Deprecated  bool
				Security    []map[string][]string
				Parameters  []struct {
					Name, In, Description string
					Required              bool
					Schema                json.RawMessage
				}
				RequestBody *struct {
					Description string
					Required    bool
					Content     map[string]struct {
						Schema  json.RawMessage
						Example json.RawMessage
					}
				} `json:"requestBody"`
				Responses map[string]json.RawMessage
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("api: %s %s: %w", strings.ToUpper(m), path, err)
			}
			o := docOperation{Method: strings.ToUpper(m), Path: path, Anchor: anchor(m + " " + path), Summary: op.Summary,
				Description: op.Description, Tags: op.Tags, Deprecated: op.Deprecated, OperationID: op.OperationID}
			if len(op.Security) == 0 {
				o.Security = []string{"public"}
			}
			for _, req := range op.Security {
				for _, scheme := range slices.Sorted(maps.Keys(req)) {
					s := scheme
					if len(req[scheme]) > 0 {
						s += ": " + strings.Join(req[scheme], ", ")
					}
					o.Security = append(o.Security, s)
				}
			}
			for _, p := range op.Parameters {
				o.Parameters = append(o.Parameters, docParam{Name: p.Name, In: p.In, Description: p.Description, Required: p.Required, Schema: compactJSON(p.Schema)})
			}
			if rb := op.RequestBody; rb != nil {
				o.RequestRequired, o.RequestDescription = rb.Required, rb.Description
				for _, mt := range slices.Sorted(maps.Keys(rb.Content)) {
					c := rb.Content[mt]
					o.Request = append(o.Request, docMedia{Type: mt, Schema: schemaHTML(c.Schema), Example: schemaHTML(c.Example)})
				}
			}
			for _, status := range slices.Sorted(maps.Keys(op.Responses)) {
				var r struct {
					Description string
					Content     map[string]struct {
						Schema  json.RawMessage
						Example json.RawMessage
					}
				}
				if err := json.Unmarshal(resolveResponse(op.Responses[status]), &r); err != nil {
					return nil, fmt.Errorf("api: %s %s response %s: %w", o.Method, path, status, err)
				}
				dr := docResponse{Status: status, Description: r.Description}
				for _, mt := range slices.Sorted(maps.Keys(r.Content)) {
					c := r.Content[mt]
					dr.Media = append(dr.Media, docMedia{Type: mt, Schema: schemaHTML(c.Schema), Example: schemaHTML(c.Example)})
				}
				o.Responses = append(o.Responses, dr)
			}
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], o)
		}
	}
	page := docPage{Title: d.Info.Title, Version: d.Info.Version, Description: d.Info.Description, Style: template.CSS(apiDocsStyle)}
	for _, t := range d.Tags {
		if ops := byTag[t.Name]; len(ops) > 0 {
			page.Tags = append(page.Tags, docTag{Name: t.Name, Description: t.Description, Operations: ops})
			delete(byTag, t.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byTag)) {
		page.Tags = append(page.Tags, docTag{Name: name, Operations: byTag[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(d.Components.Schemas)) {
		page.Schemas = append(page.Schemas, docSchema{Name: name, Anchor: "schema-" + anchor(name), Schema: schemaHTML(d.Components.Schemas[name])})
	}
	var b bytes.Buffer
	if err := apiDocsTemplate.Execute(&b, page); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// anchor makes an HTML id from s: letters and digits kept, the rest '-'.
func anchor(s string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s), "-")
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// schemaHTML pretty-prints a schema (or example) as escaped HTML in which
// every "$ref": "#/components/schemas/X" links to X's section.
func schemaHTML(raw json.RawMessage) template.HTML {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return template.HTML(template.HTMLEscapeString(string(raw)))
	}
	var out strings.Builder
	const ref = `"$ref": "#/components/schemas/`
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		i := strings.Index(line, ref)
		if i < 0 {
			out.WriteString(template.HTMLEscapeString(line))
			continue
		}
		rest := line[i+len(ref):]
		end := strings.IndexByte(rest, '"')
		if end < 0 {
			out.WriteString(template.HTMLEscapeString(line))
			continue
		}
		name := rest[:end]
		out.WriteString(template.HTMLEscapeString(line[:i]))
		fmt.Fprintf(&out, `"$ref": <a href="#schema-%s">"#/components/schemas/%s"</a>`, anchor(name), template.HTMLEscapeString(name))
		out.WriteString(template.HTMLEscapeString(rest[end+1:]))
	}
	return template.HTML(out.String())
}

// apiDocsStyle is the page's one stylesheet, allowed by its hash. A
// schema's long lines wrap: a scrolling <pre> is out of reach of the
// keyboard (WCAG 2.1.1).
const apiDocsStyle = `body{font-family:system-ui,sans-serif;max-width:64rem;margin:1rem auto;padding:0 1rem;line-height:1.45;color:#111}` +
	`nav ul{columns:2;font-size:.9rem}h2{border-bottom:2px solid #ccc;margin-top:2.5rem}` +
	`section.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}` +
	`.m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}.p{font-family:monospace;font-size:1.05rem}` +
	`pre{background:#f6f6f6;padding:.5rem;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85rem}table{border-collapse:collapse}` +
	`td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}.sec{color:#555;font-size:.9rem}`

var apiDocsStyleHash = func() string {
	sum := sha256.Sum256([]byte(apiDocsStyle))
	return base64.StdEncoding.EncodeToString(sum[:])
}()

var apiDocsTemplate = template.Must(template.New("apidocs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} — API reference</title><style>{{.Style}}</style></head><body>
<h1>{{.Title}} <small>(version {{.Version}})</small></h1>
<p>{{.Description}}</p>
<p>The machine-readable document is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<nav><h2>Routes</h2><ul>
{{range .Tags}}{{range .Operations}}<li><a href="#{{.Anchor}}"><span class="m">{{.Method}}</span> {{.Path}}</a></li>
{{end}}{{end}}</ul><p><a href="#schemas">Schemas</a></p></nav>
{{range .Tags}}<h2 id="tag-{{.Name}}">{{.Name}}</h2>{{with .Description}}<p>{{.}}</p>{{end}}
{{range .Operations}}<section class="op" id="{{.Anchor}}">
<h3><span class="m">{{.Method}}</span> <span class="p">{{.Path}}</span></h3>
<p><strong>{{.Summary}}</strong>{{if .Deprecated}} (deprecated){{end}}</p>
{{with .Description}}<p>{{.}}</p>{{end}}
<p class="sec">Security: {{range $i, $s := .Security}}{{if $i}}; {{end}}{{$s}}{{end}}{{with .OperationID}} · operationId <code>{{.}}</code>{{end}}</p>
{{with .Parameters}}<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th><th>description</th></tr>
{{range .}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{if .Required}}yes{{else}}no{{end}}</td><td><code>{{.Schema}}</code></td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{if .Request}}<h4>Request body{{if .RequestRequired}} (required){{end}}</h4>{{with .RequestDescription}}<p>{{.}}</p>{{end}}{{range .Request}}<p><code>{{.Type}}</code></p>{{with .Schema}}<pre>{{.}}</pre>{{end}}{{with .Example}}<p>Example:</p><pre>{{.}}</pre>{{end}}{{end}}{{end}}
<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>
{{range .Responses}}<tr><td>{{.Status}}</td><td>{{.Description}}</td><td>{{range .Media}}<code>{{.Type}}</code>{{with .Schema}}<pre>{{.}}</pre>{{end}}{{with .Example}}<p>Example:</p><pre>{{.}}</pre>{{end}}{{else}}none{{end}}</td></tr>
{{end}}</table>
</section>
{{end}}{{end}}
<h2 id="schemas">Schemas</h2>
{{range .Schemas}}<section id="{{.Anchor}}"><h3>{{.Name}}</h3><pre>{{.Schema}}</pre></section>
{{end}}
</body></html>
`))
