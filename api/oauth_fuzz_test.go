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
