package oid4vp

import (
	"errors"
	"fmt"
)

// Error codes, as OpenID4VP 1.0 §8.5, RFC 6749 §5.2 and RFC 9101 §7 name
// them.
const (
	// CodeInvalidRequest: a malformed request or response (bad DCQL, a
	// vp_token that fails verification, a wrong state or nonce, a replay).
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidScope: the DCQL query asks for claims the relying party
	// is not registered for.
	CodeInvalidScope = "invalid_scope"
	// CodeInvalidClient: the relying party is unknown or cannot use a
	// redirect URI it asked for.
	CodeInvalidClient = "invalid_client"
	// CodeInvalidRequestURI: the request_uri names no live transaction.
	CodeInvalidRequestURI = "invalid_request_uri"
	// CodeVPFormatsNotSupported: the query asks for a credential format
	// the verifier does not support.
	CodeVPFormatsNotSupported = "vp_formats_not_supported"
	// CodeNotFound: the relying party asked for the result of a
	// transaction it does not own, or one that expired.
	CodeNotFound = "not_found"
	// CodeAccessDenied is what a wallet answers when the holder declines.
	CodeAccessDenied = "access_denied"
)

// Error is a refusal with its protocol error code and a description safe
// to show (it never quotes a credential, a nonce or a claim value).
type Error struct {
	Code        string
	Description string
	Err         error // the cause, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "oid4vp: " + e.Code + ": " + e.Description + ": " + e.Err.Error()
	}
	return "oid4vp: " + e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Err }

func fail(code string, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...), Err: cause}
}

// CodeOf returns the protocol code of err, or "" when err is not an
// *Error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
