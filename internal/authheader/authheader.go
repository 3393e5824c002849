// Package authheader reads the credential of a request's Authorization
// header (RFC 9110 §11.6.2): the one reader of the node's routes that
// take an access token and of the node assertion another region's node
// sends (qrcode/redeem), which cannot import api. It answers no request:
// each caller answers its errors with its own status and challenge.
package authheader

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

var (
	// ErrNone: no Authorization header, or one of a scheme the caller
	// does not take: no authentication at all, whose challenge has no
	// error code (RFC 6750 §3), 401.
	ErrNone = errors.New("authheader: no credential of the scheme taken in the Authorization header")
	// ErrMalformed: two Authorization headers (the parameter repeated),
	// or a scheme taken without a credential after it: RFC 6750 §3.1
	// invalid_request, which the server "SHOULD respond with the HTTP 400
	// (Bad Request)".
	ErrMalformed = errors.New("authheader: the Authorization header must be one credential")
)

// Credential reads the one credential of h's Authorization header in one
// of schemes, compared in any case (RFC 9110 §11.1: "It uses a
// case-insensitive token to identify the authentication scheme"). It
// returns the scheme as sent and the credential without surrounding
// spaces, or an error matching ErrNone or ErrMalformed.
func Credential(h http.Header, schemes ...string) (scheme, credential string, err error) {
	hs := h.Values("Authorization")
	if len(hs) > 0 {
		scheme, credential, _ = strings.Cut(hs[0], " ")
	}
	taken := slices.ContainsFunc(schemes, func(s string) bool { return strings.EqualFold(s, scheme) })
	switch {
	case len(hs) == 0 || len(hs) == 1 && !taken:
		return "", "", ErrNone
	case len(hs) > 1 || strings.TrimSpace(credential) == "":
		return "", "", ErrMalformed
	}
	return scheme, strings.TrimSpace(credential), nil
}
