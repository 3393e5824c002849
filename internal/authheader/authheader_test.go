package authheader

import (
	"errors"
	"net/http"
	"testing"
)

// TestCredential: the scheme in any case (RFC 9110 §11.1); no header or
// another scheme is ErrNone; two headers, or a scheme taken without a
// credential, ErrMalformed (RFC 6750 §3.1), whatever the first holds.
func TestCredential(t *testing.T) {
	for _, c := range []struct {
		name    string
		values  []string
		scheme  string
		cred    string
		wantErr error
	}{
		{"Bearer", []string{"Bearer abc"}, "Bearer", "abc", nil},
		{"bearer", []string{"bEARER  abc "}, "bEARER", "abc", nil},
		{"DPoP", []string{"DPoP abc"}, "DPoP", "abc", nil},
		{"none", nil, "", "", ErrNone},
		{"Basic", []string{"Basic abc"}, "", "", ErrNone},
		{"scheme alone", []string{"Bearer"}, "", "", ErrMalformed},
		{"no credential", []string{"Bearer  "}, "", "", ErrMalformed},
		{"two", []string{"Bearer abc", "Bearer def"}, "", "", ErrMalformed},
		{"two, another scheme first", []string{"Basic abc", "Bearer def"}, "", "", ErrMalformed},
	} {
		scheme, cred, err := Credential(http.Header{"Authorization": c.values}, "Bearer", "DPoP")
		if scheme != c.scheme || cred != c.cred || !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
			t.Errorf("%s: %q %q %v, want %q %q %v", c.name, scheme, cred, err, c.scheme, c.cred, c.wantErr)
		}
	}
}
