package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// mislabelled are Content-Type values of a JSON body that a JSON route
// must refuse with 415 (RFC 9110 §15.5.16): what a browser form or
// `curl -d` sends, look-alikes, and what does not parse.
var mislabelled = []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
	"multipart/form-data; boundary=x", "application/jsonx", "application/json-seq", "application/json;;", "application/json, text/plain"}

// TestJSONBodiesRefuseOtherMediaTypes: every JSON body decoder refuses a
// body labelled with another media type with 415 unsupported_media_type
// naming application/json, and reads application/json in any case and
// with parameters (RFC 9110 §8.3.1), or a body without Content-Type.
func TestJSONBodiesRefuseOtherMediaTypes(t *testing.T) {
	decoders := map[string]func(*http.Request) error{
		"admin": func(r *http.Request) error { _, err := readJSONBody(r, 64); return err },
	}
	for _, d := range bodyDecoders {
		decoders[d.name] = func(r *http.Request) error { _, err := d.dec(r); return err }
	}
	for name, dec := range decoders {
		for _, ct := range mislabelled {
			r := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
			r.Header.Set("Content-Type", ct)
			var e *Error
			if err := dec(r); !errors.As(err, &e) || e.Status != http.StatusUnsupportedMediaType || e.Code != CodeUnsupportedContentType || !strings.Contains(e.Message, "application/json") {
				t.Errorf("%s, Content-Type %q: %v, want 415 unsupported_media_type naming application/json", name, ct, err)
			}
		}
		for _, ct := range []string{"", "application/json", "Application/JSON; charset=utf-8", "application/json ;charset=UTF-8"} {
			r := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			var e *Error
			if err := dec(r); errors.As(err, &e) && e.Status == http.StatusUnsupportedMediaType {
				t.Errorf("%s, Content-Type %q: %v", name, ct, err)
			}
		}
	}
}

// TestJSONRouteRefusesTextPlain: a credential sent as text/plain is
// neither issued nor verified (415), as openapi.json documents; as
// application/json it is.
func TestJSONRouteRefusesTextPlain(t *testing.T) {
	e := newVCEnv(t)
	send := func(path, token, ct, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, m := doJSON(t, req)
		return resp.StatusCode, m
	}
	issue := strings.Replace(credBody, "%s", `,"options":{"format":"vc+jwt","algorithm":"SM2"}`, 1)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded"} {
		if code, m := send("/credentials/issue", issueToken, ct, issue); code != http.StatusUnsupportedMediaType || m["error"] != CodeUnsupportedContentType {
			t.Fatalf("issue as %s: %d %v, want 415", ct, code, m)
		}
	}
	code, body := send("/credentials/issue", issueToken, "application/json", issue)
	if code != 201 {
		t.Fatalf("issue: %d %v", code, body)
	}
	env, _ := body["verifiableCredential"].(map[string]any)
	verify := `{"verifiableCredential":` + mustJSON(env) + `}`
	if code, m := send("/credentials/verify", "", "text/plain", verify); code != http.StatusUnsupportedMediaType || m["error"] != CodeUnsupportedContentType ||
		!strings.Contains(fmt.Sprint(m["error_description"]), "application/json") {
		t.Errorf("verify as text/plain: %d %v, want 415 naming application/json", code, m)
	}
	if code, m := send("/credentials/verify", "", "Application/JSON; charset=utf-8", verify); code != 200 || m["verified"] != true {
		t.Errorf("verify as Application/JSON: %d %v", code, m)
	}
}

// TestJSONBodiesRefuseContentCoding: a JSON body sent content-coded
// (Content-Encoding: gzip, ...), which no route decodes, is refused as
// an unsupported format, 415 unsupported_media_type naming
// Content-Encoding, not read as malformed JSON; the answer's
// Accept-Encoding says only uncoded bodies are taken (RFC 9110
// §15.5.16, §12.5.3).
func TestJSONBodiesRefuseContentCoding(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{}`))
	zw.Close()
	decoders := map[string]func(*http.Request) error{
		"admin":   func(r *http.Request) error { _, err := readJSONBody(r, 64); return err },
		"oid4vci": func(r *http.Request) error { _, err := readJSON(r, 64); return err },
	}
	for _, d := range bodyDecoders {
		decoders[d.name] = func(r *http.Request) error { _, err := d.dec(r); return err }
	}
	for name, dec := range decoders {
		for _, coding := range []string{"gzip", "deflate, gzip", "br"} {
			r := httptest.NewRequest("POST", "/", bytes.NewReader(gz.Bytes()))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Content-Encoding", coding)
			var e *Error
			code := CodeUnsupportedContentType
			if name == "oid4vci" {
				code = CodeInvalidRequest // OpenID4VCI's error codes (its 415 for another media type too)
			}
			if err := dec(r); !errors.As(err, &e) || e.Status != http.StatusUnsupportedMediaType || e.Code != code || !strings.Contains(e.Message, "Content-Encoding") {
				t.Errorf("%s, Content-Encoding %q: %v, want 415 unsupported_media_type naming Content-Encoding", name, coding, err)
			}
		}
	}
	e := newVCEnv(t)
	req, _ := http.NewRequest("POST", e.srv.URL+"/credentials/verify", bytes.NewReader(gz.Bytes()))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, m := doJSON(t, req)
	if resp.StatusCode != http.StatusUnsupportedMediaType || m["error"] != CodeUnsupportedContentType || resp.Header.Get("Accept-Encoding") != "identity" {
		t.Errorf("verify, gzip: %d Accept-Encoding %q %v, want 415 with Accept-Encoding: identity", resp.StatusCode, resp.Header.Get("Accept-Encoding"), m)
	}
}
