package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzReadForm: the token endpoint's form reader never panics, refuses
// with a 4xx *Error, and what it accepts has each parameter once (but
// resource, RFC 8707, whose values it joins with spaces).
func FuzzReadForm(f *testing.F) {
	f.Add("grant_type=client_credentials&scope=qr%3Aredeem")
	f.Add("a=1&a=2")
	f.Add("resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example&resource=")
	f.Add("a=%zz")
	f.Add("a=1;b=2")
	f.Add("=&=&")
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		form, err := readForm(r, 1024)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 {
				t.Fatalf("error %v", err)
			}
			return
		}
		for k, v := range form {
			if v == "" {
				t.Fatalf("empty value kept for %q", k)
			}
		}
	})
}

// TestReadFormResource: repeated resource parameters are each one
// resource (RFC 8707 §2); a value with a space is no absolute URI and is
// refused, not read as two resources.
func TestReadFormResource(t *testing.T) {
	read := func(body string) ([]string, error) {
		r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		form, err := readForm(r, 1024)
		if err != nil {
			return nil, err
		}
		return resources(form["resource"]), nil
	}
	got, err := read("resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example")
	if err != nil || strings.Join(got, "|") != "https://a.example|https://b.example" {
		t.Errorf("two resources: %q %v", got, err)
	}
	for _, body := range []string{"resource=https%3A%2F%2Fa.example+https%3A%2F%2Fb.example", "resource=https%3A%2F%2Fa.example&resource=%20"} {
		var e *Error
		if got, err := read(body); !errors.As(err, &e) || e.Code != "invalid_target" {
			t.Errorf("%s: %q %v, want invalid_target", body, got, err)
		}
	}
}

// FuzzParseForm: parseForm reads what the url.ParseQuery path it
// replaced did: the same parameters and values; where that path refused,
// a refusal it could give (of several it gave one in map order).
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{
		"token=eyJ.eyJ.sig", "grant_type=client_credentials&scope=qr%3Aredeem+x", "a=1&a=2", "a&a", "a=&a=", "a=1&b=&c",
		"resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example&resource=", "resource=&resource=", "resource=a+b&x=1&x=2",
		"a=%zz", "%zz=1", "a=1;b=2", "=&=&", "&&", "=", "a=%41%42&b=%e4%b8%ad", "x=1&x=2&a=%", "%C3%A9=1&%c3%a9=2", "a=1&A=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := parseForm(body)
		var e *Error
		if err != nil && (!errors.As(err, &e) || e.Status != http.StatusBadRequest) {
			t.Fatalf("parseForm: %v", err)
		}
		vals, qerr := url.ParseQuery(body)
		if qerr != nil {
			if err == nil || e.Message != "the form is not valid application/x-www-form-urlencoded" {
				t.Fatalf("url.ParseQuery refused (%v), parseForm %v %v", qerr, got, err)
			}
			return
		}
		// What the old path refused, and otherwise read.
		refusals := map[string]bool{}
		want := map[string]string{}
		for k, v := range vals {
			switch {
			case k == "resource":
				if slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, " ") }) {
					refusals["resource must be an absolute URI"] = true
				}
				if r := strings.Join(v, " "); r != "" {
					want[k] = r
				}
			case len(v) > 1:
				name := k
				if len(name) > 40 || !isToken(name) {
					name = "a parameter"
				}
				refusals["parameter "+name+" is repeated"] = true
			case v[0] != "":
				want[k] = v[0]
			}
		}
		switch {
		case len(refusals) > 0 && (err == nil || !refusals[e.Message]):
			t.Fatalf("url.ParseQuery path refused with one of %v; parseForm %v %v", refusals, got, err)
		case len(refusals) == 0 && (err != nil || !maps.Equal(got, want)):
			t.Fatalf("url.ParseQuery path read %q; parseForm %q %v", want, got, err)
		}
	})
}

// FuzzParseBasicAuth: parseBasicAuth reads an Authorization value as
// net/http's Request.BasicAuth does, and clientCredentials, built on it,
// answers what it answered with BasicAuth and url.QueryUnescape (RFC
// 6749 §2.3.1: id and secret form-encoded before base64).
func FuzzParseBasicAuth(f *testing.F) {
	for _, s := range []string{
		"Basic " + "c3ZjLWE6c2VjcmV0", "basic c3ZjLWE6c2VjcmV0", "BASIC c3ZjLWE6c2VjcmV0", "Baſic c3ZjLWE6c2VjcmV0",
		"Basic c3ZjLWE6", "Basic OnNlY3JldA==", "Basic c3ZjLWE", "Basic c3Zj\r\nLWE6c2VjcmV0", "Basic !!!", "Basic ",
		"Basic", "Bearer abc", "Basic  c3ZjLWE6c2VjcmV0", "Basic c3ZjJTNBYTpzJTJCJTI1", "Basic c3ZjK2E6cyslMg==",
		"Basic YTpiOmM=", "Basic JXp6OnM=", "Basicc3ZjLWE6c2VjcmV0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		r := httptest.NewRequest("POST", "/oauth2/introspect", nil)
		r.Header.Set("Authorization", auth)
		wantID, wantSecret, wantOK := r.BasicAuth()
		id, secret, ok := parseBasicAuth(auth)
		if id != wantID || secret != wantSecret || ok != wantOK {
			t.Fatalf("parseBasicAuth(%q) = %q, %q, %v; BasicAuth %q, %q, %v", auth, id, secret, ok, wantID, wantSecret, wantOK)
		}
		cred, err := clientCredentials(r, nil)
		var e *Error
		switch scheme, _, _ := strings.Cut(auth, " "); {
		case !strings.EqualFold(scheme, "Basic"):
			// An unsupported method (RFC 6749 §5.2), alone here.
			if !errors.As(err, &e) || e.Code != CodeInvalidClient || e.Status != http.StatusUnauthorized || cred.Basic {
				t.Fatalf("scheme %q: %+v %v", scheme, cred, err)
			}
			return
		case !cred.Basic:
			t.Fatalf("Basic scheme %q not marked: %+v %v", scheme, cred, err)
		}
		if wantOK {
			var err1, err2 error
			wantID, err1 = url.QueryUnescape(wantID)
			wantSecret, err2 = url.QueryUnescape(wantSecret)
			wantOK = err1 == nil && err2 == nil
		}
		if !wantOK {
			if !errors.As(err, &e) || e.Code != CodeInvalidClient || e.Status != http.StatusUnauthorized {
				t.Fatalf("malformed %q: %+v %v", auth, cred, err)
			}
			return
		}
		if err != nil || cred.BasicID != wantID || cred.BasicSecret != wantSecret {
			t.Fatalf("%q: %+v %v; want %q, %q", auth, cred, err, wantID, wantSecret)
		}
	})
}

// TestFormsRefuseContentCoding: a form sent with a Content-Encoding,
// which no route decodes, is refused 400 invalid_request (the form
// routes' refusal, RFC 6749 §5.2) saying so, not parsed as a garbled
// form; at the token endpoint and the authorization endpoint alike.
func TestFormsRefuseContentCoding(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, "grant_type=client_credentials&client_id=a")
	zw.Close()
	for name, read := range map[string]func(*http.Request) error{
		"readForm":      func(r *http.Request) error { _, err := readForm(r, 1024); return err },
		"requestParams": func(r *http.Request) error { _, err := requestParams(r); return err },
	} {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(gz.Bytes()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Content-Encoding", "gzip")
		var e *Error
		if err := read(r); !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != CodeInvalidRequest || !strings.Contains(e.Message, "Content-Encoding") {
			t.Errorf("%s, gzip: %v, want 400 invalid_request naming Content-Encoding", name, err)
		}
	}
}
