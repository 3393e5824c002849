package api

import (
	"errors"
	"net/http/httptest"
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
