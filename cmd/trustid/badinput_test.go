package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/leakcheck"
)

// Secrets a careless client puts in bad requests: a GB 11643 sample
// number, a PIN and a bearer token; no answer may echo them.
const (
	badInputIDNumber = "11010519491231002X"
	badInputPIN      = "135790"
	badInputToken    = "sekret-bearer-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	badInputName     = "欧阳明月"
)

// badRequest is one malformed request sent to a route.
type badRequest struct {
	name, ctype, body string
	header            http.Header
	path              string // replaces the route's path when set
}

// TestBadInputEveryRoute sends every route a node serves (--demo
// included) malformed requests: wrong method, wrong or missing
// Content-Type, empty or non-JSON bodies, JSON of the wrong type at the
// top and in each documented member, huge numbers, deep nesting, invalid
// UTF-8, unknown and repeated members, oversize bodies, bad path and
// query parameters, bad Authorization headers. Each must get a 4xx
// (never a 5xx, never a 2xx for a malformed body) with the error body
// (TestMain's transport holds the body to api/openapi.json), and no
// answer (header or body) or log line may echo the ID number, name, PIN or
// token sent, in clear or encoded.
func TestBadInputEveryRoute(t *testing.T) {
	// The audit log's head is anchored every 30 s by default, a ledger
	// write of the node's own that a slow run (-race on a busy machine
	// takes about a minute) saw as a bad request's change: none here.
	n := startAuthNode(t, "--demo", "--audit-anchor-interval", "1h")
	adminKey := n.addClient("rp-admin", "SM2", strings.Join(auth.Scopes, ","))
	n.addClient("rp-target", "SM2", "qr:redeem")
	admin := n.token("rp-admin", adminKey)
	routes := n.routes(admin)
	sort.Slice(routes, func(i, j int) bool { return routes[i].Pattern < routes[j].Pattern })

	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	json.Unmarshal(api.OpenAPI(), &root)
	// Every answer's headers and body, scanned at the end as the logs
	// are (decoded: a name percent-encoded in a Location, an ID number in
	// base64url).
	var answers bytes.Buffer
	do := func(m, p string, h http.Header, body string) (int, []byte, http.Header) {
		code, b, hdr := rawDo(t, n, m, p, h, body)
		hdr.Write(&answers)
		answers.Write(b)
		answers.WriteString("\n")
		return code, b, hdr
	}

	for _, r := range routes {
		if r.Pattern == "GET /metrics" {
			continue // Prometheus's own handler, not the API's error model
		}
		method, path := requestFor(r.Pattern)
		_, docPath, _ := strings.Cut(r.Pattern, " ")
		docPath = strings.TrimSuffix(docPath, "{$}")
		var op map[string]any
		json.Unmarshal(doc.Paths[docPath][strings.ToLower(method)], &op)
		ctype, props := requestShape(root, op)
		token := ""
		if r.Scope != "" {
			token = admin
		}
		cases := badRequestsFor(method, path, ctype, props)
		for _, q := range queryParams(root, op) {
			for _, v := range []string{q + "=a&" + q + "=b", q + "=%ff%fe", q + "=" + badInputIDNumber, q + "=" + url.QueryEscape(badInputName), q + "=" + strings.Repeat("9", 5000), q + "=%00"} {
				cases = append(cases, badRequest{name: "query param " + v[:min(len(v), 30)], path: path + "?" + v})
			}
		}
		for _, c := range cases {
			h := http.Header{}
			for k, v := range c.header {
				h[k] = v
			}
			if token != "" && h.Get("Authorization") == "" && c.header["Authorization"] == nil {
				h.Set("Authorization", "Bearer "+token)
			}
			if c.ctype != "" {
				h.Set("Content-Type", c.ctype)
			}
			p := path
			if c.path != "" {
				p = c.path
			}
			m := method
			if c.name == "wrong method" {
				m = "PATCH"
			}
			if after, ok := strings.CutPrefix(c.name, "method "); ok {
				m = after
			}
			write := (c.ctype != "" || c.body != "") && ctype != "" // a malformed body
			var before map[string]string
			if write {
				before = dirDigests(t, n.dir)
			}
			code, body, hdr := do(m, p, h, c.body)
			what := fmt.Sprintf("%s (%s %s)", r.Pattern, c.name, p)
			auth := strings.HasPrefix(c.name, "auth:")
			garbage := c.name == "wrong method" || strings.HasPrefix(c.name, "method ") || strings.HasPrefix(c.name, "path ") && !strings.Contains(r.Pattern, "{") || auth && r.Scope != "" ||
				strings.HasPrefix(ctype, "application/json") && !auth ||
				ctype != "" && c.path == "" && c.header == nil
			if testing.Verbose() {
				t.Logf("%s: %d %.160s", what, code, body)
			}
			switch {
			case code >= 500:
				t.Errorf("%s: %d %.200s", what, code, body)
			case code < 400 && garbage:
				t.Errorf("%s: %d for a malformed request: %.200s", what, code, body)
			}
			// A JSON route refuses another media type with 415 (RFC 9110
			// §15.5.16), unless the caller was refused first.
			if strings.HasPrefix(ctype, "application/json") && (c.name == "text/plain" || c.name == "form" || c.name == "json-seq") &&
				code != 415 && code != 401 && code != 429 {
				t.Errorf("%s: %d, want 415: %.200s", what, code, body)
			}
			// A 405 MUST carry Allow (RFC 9110 §15.5.6); a refused access
			// token's 401 WWW-Authenticate (RFC 6750 §3). (A client that
			// authenticated in the body gets none: oauth.fail.)
			if code == 405 && hdr.Get("Allow") == "" {
				t.Errorf("%s: 405 without Allow", what)
			}
			if code == 401 && strings.Contains(string(body), `"invalid_token"`) && hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate: %.200s", what, body)
			}
			if code >= 400 && strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				var e struct {
					Error       string `json:"error"`
					Description string `json:"error_description"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("%s: %d error body without a code: %.200s", what, code, body)
				}
			}
			if write {
				for f, d := range dirDigests(t, n.dir) {
					if before[f] != d {
						t.Errorf("%s: %d %.100s: the data directory's %s changed", what, code, body, filepath.Base(f))
					}
				}
			}
			for _, secret := range []string{badInputIDNumber, badInputPIN, badInputToken} {
				if strings.Contains(string(body), secret) || strings.Contains(fmt.Sprint(hdr), secret) {
					t.Errorf("%s: %d answer echoes %q: %.300s", what, code, secret, body)
				}
			}
		}
	}
	// Enrollment bodies of the right shape with wrong values: a refusal
	// names the member and the rule, never the number, name or PIN sent.
	for _, b := range []string{
		`{"document":{"type":"resident_id","number":"11010519491231002Y"},"name":"` + badInputName + `"}`,
		`{"document":{"type":"resident_id","number":"1101051949123100"},"name":"` + badInputName + `"}`,
		`{"document":{"type":"resident_id","number":"11010519491231002X"},"name":"` + badInputName + `","pin":"` + badInputPIN + `"}`,
		`{"document":{"type":"resident_id","number":"11010519491231002X"},"name":"` + badInputName + `","pin":"13579"}`,
		`{"document":{"type":"passport","number":"11010519491231002X"},"name":"` + badInputName + `"}`,
		`{"document":{"type":"nonsense","number":"11010519491231002X"},"name":"` + badInputName + `"}`,
		`{"document":{"type":"resident_id","number":"11010519491231002X","mrz":["` + badInputIDNumber + `","x"]},"name":"` + badInputName + `"}`,
		`{"document":{"type":"resident_id","number":"11010519491231002X"},"name":"` + badInputName + `","attestation":"` + badInputIDNumber + `.x.y"}`,
		`{"document":{"type":"resident_id","number":"11010519491231002X"},"name":"` + badInputName + `","device_key":{"kty":"EC","crv":"SM2","x":"` + badInputIDNumber + `","y":"x"}}`,
		`{"document":{"type":"resident_id","number":"11010519491231002X"},"name":"` + badInputName + `","device_proof":"` + badInputIDNumber + `"}`,
		`{"document":{"type":"resident_id","number":"11010519491231002X"},"name":"` + badInputIDNumber + `"}`,
	} {
		code, body, _ := do("POST", "/v1/enrollments", http.Header{"Authorization": {"Bearer " + admin}, "Content-Type": {"application/json"}}, b)
		if code < 400 || code >= 500 || strings.Contains(string(body), badInputIDNumber) || strings.Contains(string(body), "1101051949123100") ||
			strings.Contains(string(body), badInputName) || strings.Contains(string(body), badInputPIN) {
			t.Errorf("enrollment %.120s: %d %s", b, code, body)
		}
		if testing.Verbose() {
			t.Logf("enrollment %.100s: %d %s", b, code, body)
		}
	}
	// A path no route serves, with an ID number in it and in its query.
	for _, m := range []string{"GET", "POST"} {
		code, body, _ := do(m, "/v1/people/"+badInputIDNumber+"?number="+badInputIDNumber, http.Header{"Authorization": {"Bearer " + badInputToken}}, `{"pin":"`+badInputPIN+`"}`)
		if code != 404 || strings.Contains(string(body), badInputIDNumber) || !strings.Contains(string(body), `"not_found"`) {
			t.Errorf("%s on no route: %d %s", m, code, body)
		}
	}
	// Stopped first: the access log is buffered and written out at
	// shutdown, so the scans read every line the node wrote.
	n.stop()
	scan := leakcheck.New(t, badInputIDNumber, badInputToken, badInputName)
	scan.PlantLog(n.logs)
	scan.PlantDir(n.dir)
	scan.PlantLog(&answers)
	if hits := append(scan.Log([]byte(n.logs.String())), scan.Dir(n.dir)...); len(hits) > 0 {
		t.Errorf("an ID number, name or token sent is in the logs or the data directory: %v", hits)
	}
	if hits := scan.Log(answers.Bytes()); len(hits) > 0 {
		t.Errorf("an answer echoes an ID number, name or token sent: %v", hits)
	}
	pins := leakcheck.NewDelimited(t, badInputPIN)
	pins.PlantLog(n.logs)
	pins.PlantLog(&answers)
	if hits := pins.Log([]byte(n.logs.String())); len(hits) > 0 {
		t.Errorf("a PIN sent is in the logs: %v", hits)
	}
	if hits := pins.Log(answers.Bytes()); len(hits) > 0 {
		t.Errorf("an answer echoes a PIN sent: %v", hits)
	}
}

// dirDigests returns the SHA-256 of every file under dir, by path.
func dirDigests(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err // a directory, the admin socket
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rawDo sends a request and returns its status, raw body and header.
func rawDo(t *testing.T, n *authNode, method, path string, h http.Header, body string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if after, ok := strings.CutPrefix(body, "\x00chunked"); ok {
		rd = io.MultiReader(strings.NewReader(after)) // no length: sent chunked
	}
	req, err := http.NewRequest(method, n.base+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

// queryParams returns the names of an operation's query parameters.
func queryParams(root, op map[string]any) []string {
	var out []string
	list, _ := op["parameters"].([]any)
	for _, p := range list {
		pm, _ := deref(root, p).(map[string]any)
		if pm["in"] == "query" {
			out = append(out, pm["name"].(string))
		}
	}
	return out
}

// requestShape returns an operation's request media type and its
// schema's top-level members with their types ("" for any).
func requestShape(root, op map[string]any) (string, map[string]string) {
	rb, _ := deref(root, op["requestBody"]).(map[string]any)
	content, _ := rb["content"].(map[string]any)
	for ctype, v := range content {
		media, _ := v.(map[string]any)
		schema, _ := deref(root, media["schema"]).(map[string]any)
		props := map[string]string{}
		collectProps(root, schema, props)
		return ctype, props
	}
	return "", nil
}

func collectProps(root map[string]any, schema map[string]any, props map[string]string) {
	if schema == nil {
		return
	}
	if p, ok := schema["properties"].(map[string]any); ok {
		for name, s := range p {
			sm, _ := deref(root, s).(map[string]any)
			typ, _ := sm["type"].(string)
			props[name] = typ
		}
	}
	for _, k := range []string{"allOf", "oneOf", "anyOf"} {
		list, _ := schema[k].([]any)
		for _, s := range list {
			sm, _ := deref(root, s).(map[string]any)
			collectProps(root, sm, props)
		}
	}
}

func deref(root map[string]any, v any) any {
	for i := 0; i < 10; i++ {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		var cur any = root
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			cm, _ := cur.(map[string]any)
			cur = cm[part]
		}
		v = cur
	}
	return v
}

// wrongValue is a value of another JSON type than typ, holding a secret
// where it can.
func wrongValue(typ string) []string {
	switch typ {
	case "string":
		return []string{"123456789012345678901234567890", "true", `{"n":"` + badInputIDNumber + `"}`, `["` + badInputPIN + `"]`, `{"name":"` + badInputName + `"}`}
	case "integer", "number":
		return []string{`"` + badInputIDNumber + `"`, "1e999999", "-99999999999999999999999999", "1.5", "true"}
	case "boolean":
		return []string{`"` + badInputPIN + `"`, "1"}
	case "array":
		return []string{`"` + badInputIDNumber + `"`, "{}", "1"}
	case "object":
		return []string{`"` + badInputIDNumber + `"`, "[]", "1"}
	}
	return []string{"1e999999"}
}

func badRequestsFor(method, path, ctype string, props map[string]string) []badRequest {
	var cs []badRequest
	add := func(name, ct, body string) { cs = append(cs, badRequest{name: name, ctype: ct, body: body}) }
	cs = append(cs, badRequest{name: "wrong method"})
	for _, m := range []string{"OPTIONS", "TRACE", "BREW"} {
		cs = append(cs, badRequest{name: "method " + m})
	}
	for _, a := range []string{"application/xml", "text/html;q=0, */*;q=0", ";;;=", "application/json;q=2"} {
		cs = append(cs, badRequest{name: "accept " + a, header: http.Header{"Accept": {a}}})
	}
	// (A path ServeMux cleans, "//x" or "/x/../x", is redirected to the
	// route: net/http's behaviour, kept on purpose; see Server.Handler.)
	if !strings.HasSuffix(path, "/") {
		cs = append(cs, badRequest{name: "path trailing slash", path: path + "/"})
	}
	switch {
	case strings.HasPrefix(ctype, "application/json"):
		add("empty body", ctype, "")
		add("no content type", "", `{}`)
		add("text/plain", "text/plain", `{}`)
		add("form", "application/x-www-form-urlencoded", "pin="+badInputPIN)
		add("not JSON", ctype, "pin="+badInputPIN+"&number="+badInputIDNumber)
		add("truncated", ctype, `{"number":"`+badInputIDNumber)
		for _, top := range []string{"[]", `"` + badInputIDNumber + `"`, "1", "null", "true", "1e999999"} {
			add("top "+top, ctype, top)
		}
		add("deep nesting", ctype, strings.Repeat(`{"a":`, 100000)+"1"+strings.Repeat("}", 100000))
		add("deep array", ctype, strings.Repeat("[", 100000)+strings.Repeat("]", 100000))
		add("invalid UTF-8 name", ctype, "{\"\xff\xfe\":1}")
		add("unknown member", ctype, `{"zz_`+badInputIDNumber+`":"`+badInputPIN+`"}`)
		add("oversize", ctype, `{"x":"`+strings.Repeat("a", 2<<20)+`"}`)
		add("trailing data", ctype, `{} {}`)
		add("BOM", ctype, "\ufeff{}")
		add("charset utf-16", ctype+"; charset=utf-16", `{}`)
		add("bad media type", "application/json;;", `{}`)
		add("json-seq", "application/json-seq", `{}`)
		add("two types", "application/json, text/plain", `{}`)
		add("NUL", ctype, "{\x00}")
		add("huge exponent", ctype, `{"x":1e99999999999999999999}`)
		add("long number", ctype, `{"x":`+strings.Repeat("9", 100000)+`}`)
		add("long key", ctype, `{"`+strings.Repeat("k", 100000)+`":1}`)
		add("many members", ctype, "{"+strings.Repeat(`"a":1,`, 50000)+`"a":1}`)
		cs = append(cs, badRequest{name: "chunked oversize", ctype: ctype, body: "\x00chunked" + `{"x":"` + strings.Repeat("a", 2<<20) + `"}`})
		add("lone surrogate", ctype, `{"x":"\ud800"}`)
		names := make([]string, 0, len(props))
		for p := range props {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, p := range names {
			for _, v := range wrongValue(props[p]) {
				add("member "+p+"="+v, ctype, `{"`+p+`":`+v+`}`)
			}
			add("invalid UTF-8 in "+p, ctype, "{\""+p+"\":\"\xff"+badInputIDNumber+"\"}")
			add("duplicate "+p, ctype, `{"`+p+`":"`+badInputPIN+`","`+p+`":"`+badInputPIN+`"}`)
			add("case "+p, ctype, `{"`+strings.ToUpper(p)+`":"`+badInputPIN+`"}`)
		}
	case ctype == "application/x-www-form-urlencoded":
		add("bad escape", ctype, "pin=%zz"+badInputPIN)
		add("invalid UTF-8", ctype, "grant_type=%ff%fe&token=%ff"+badInputToken)
		add("repeated", ctype, "token="+badInputToken+"&token="+badInputToken+"&client_id=a&client_id=b")
		add("semicolon", ctype, "token="+badInputToken+";client_id=a")
		add("form charset", ctype+"; charset=utf-16", "token="+badInputToken)
		basic := base64.StdEncoding.EncodeToString([]byte(badInputIDNumber + ":" + badInputPIN))
		for _, a := range []string{"Basic !!!" + badInputToken, "Basic " + basic, "Basic " + base64.StdEncoding.EncodeToString([]byte(badInputToken))} {
			cs = append(cs, badRequest{name: "form auth:" + a[:8], ctype: ctype, body: "grant_type=client_credentials&token=" + badInputToken + "&client_id=" + badInputIDNumber,
				header: http.Header{"Authorization": {a}}})
		}
		add("JSON", "application/json", `{"pin":"`+badInputPIN+`"}`)
		add("oversize", ctype, "x="+strings.Repeat("a", 2<<20))
	}
	// Bad path parameters, when the route has one.
	if strings.Contains(path, "rp-target") {
		for _, v := range []string{badInputIDNumber, "%ff%fe", strings.Repeat("a", 5000), "%00", "a%2Fb", "%20"} {
			cs = append(cs, badRequest{name: "path " + v[:min(len(v), 10)], path: strings.ReplaceAll(path, "rp-target", v)})
		}
	}
	// Bad query parameters.
	for _, q := range []string{"?x=%zz", "?id_number=" + badInputIDNumber + "&pin=" + badInputPIN, "?client_id=%ff&client_id=%fe&redirect_uri=" + badInputIDNumber} {
		cs = append(cs, badRequest{name: "query " + q[:6], path: path + q})
	}
	// Bad Authorization headers.
	for _, a := range []string{"Bearer", "Bearer ", "Basic " + badInputToken, "Bearer " + badInputToken, "Bearer " + badInputIDNumber + "." + badInputPIN + ".x",
		"Bearer \xff\xfe", "DPoP " + badInputToken, "bearer  " + badInputToken} {
		cs = append(cs, badRequest{name: "auth:" + a[:min(len(a), 8)], ctype: ctype, body: "{}", header: http.Header{"Authorization": {a}}})
	}
	cs = append(cs, badRequest{name: "auth:two", ctype: ctype, body: "{}", header: http.Header{"Authorization": {"Bearer " + badInputToken, "Bearer x"}}})
	return cs
}

// headOf is a request head of n bytes: start, its last header field
// padded, and the blank line.
func headOf(n int, start string) string {
	return start + strings.Repeat("a", n-len(start)-4) + "\r\n\r\n"
}

// TestRefusedBeforeRouting: what net/http refuses before any route sees
// it (a head over the node's 64 KiB, a Transfer-Encoding it cannot read,
// a header name or value, a request target or a Host it cannot parse)
// is answered as docs/api.md says: net/http's status, a text/plain body
// of its reason only, the connection closed; nothing the client sent
// (here an ID number and a bearer token) comes back, and the node serves
// on. A head of 64 KiB is served, one byte more is 431.
func TestRefusedBeforeRouting(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "")
	base, logs := startServe(t, "--data", t.TempDir())
	addr := strings.TrimPrefix(base, "http://")
	secret := badInputIDNumber + "-" + badInputToken
	for _, c := range []struct {
		name, head string
		status     int
	}{
		{"head over 64 KiB", headOf(maxRequestHead+1, "GET /healthz HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer "+secret), 431},
		{"transfer coding", "POST /v1/qr HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: " + secret + "\r\n\r\n", 501},
		{"header name", "GET /healthz HTTP/1.1\r\nHost: n\r\nX (" + secret + "): 1\r\n\r\n", 400},
		{"header value", "GET /healthz HTTP/1.1\r\nHost: n\r\nX-Id: " + secret + "\x01\r\n\r\n", 400},
		{"request target", "GET /%zz" + secret + " HTTP/1.1\r\nHost: n\r\n\r\n", 400},
		{"host", "GET /healthz HTTP/1.1\r\nHost: " + secret + "/x\r\n\r\n", 400},
		{"two lengths", "POST /v1/qr HTTP/1.1\r\nHost: n\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}", 400},
		{"version", "GET /healthz HTTP/2.0\r\nHost: n\r\n\r\n", 505},
		{"expectation", "POST /v1/qr HTTP/1.1\r\nHost: n\r\nExpect: " + secret + "\r\nContent-Length: 2\r\n\r\n{}", 417},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, c.head)
		raw, _ := io.ReadAll(conn) // until the node closes the connection
		conn.Close()
		if bytes.Contains(raw, []byte(badInputIDNumber)) || bytes.Contains(raw, []byte(badInputToken)) {
			t.Errorf("%s: the answer echoes the request:\n%s", c.name, raw)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Errorf("%s: %v\n%q", c.name, err, raw)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		if c.status == 417 { // no body at all
			if resp.StatusCode != 417 || len(body) != 0 || !resp.Close {
				t.Errorf("%s: %d, %d bytes, close=%v, want 417, empty, closed", c.name, resp.StatusCode, len(body), resp.Close)
			}
			continue
		}
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !resp.Close {
			t.Errorf("%s: %d %q close=%v, want %d text/plain, closed", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Close, c.status)
		}
		if !strings.HasPrefix(string(body), strconv.Itoa(c.status)) && c.status != 501 {
			t.Errorf("%s: body %q", c.name, body)
		}
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("the node after the refusals: healthz %d", code)
	}
	// A head of 64 KiB exactly is served.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, headOf(maxRequestHead, "GET /healthz HTTP/1.1\r\nHost: n\r\nConnection: close\r\nX-Pad: "))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	conn.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("a head of 64 KiB: %v %v, want 200", resp, err)
	}
	if strings.Contains(logs.String(), badInputIDNumber) || strings.Contains(logs.String(), badInputToken) {
		t.Error("the node's log holds what a refused request sent")
	}
}
