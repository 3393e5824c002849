package auth

import (
	"errors"
	"fmt"
)

// OAuth 2.0 error kinds (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2).
// Every error this package returns matches exactly one of them with
// errors.Is; package api maps each to its HTTP status and error code.
var (
	// ErrInvalidRequest: a parameter is missing, repeated, malformed or
	// unsupported, or the request uses more than one authentication method.
	ErrInvalidRequest = errors.New("auth: invalid request")
	// ErrInvalidClient: client authentication failed (unknown or disabled
	// client, bad assertion or secret, wrong authentication method).
	ErrInvalidClient = errors.New("auth: client authentication failed")
	// ErrInvalidGrant: the grant is invalid (reserved for grants with a
	// credential of their own, such as authorization codes).
	ErrInvalidGrant = errors.New("auth: invalid grant")
	// ErrUnauthorizedClient: the client may not use this grant type.
	ErrUnauthorizedClient = errors.New("auth: client is not authorized for this grant type")
	// ErrUnsupportedGrantType: the grant type is unknown to the node.
	ErrUnsupportedGrantType = errors.New("auth: unsupported grant type")
	// ErrInvalidScope: a requested scope is unknown or not allowed to the
	// client.
	ErrInvalidScope = errors.New("auth: invalid scope")
	// ErrInvalidTarget: the resource indicator is not a region of the
	// trust registry (RFC 8707 invalid_target).
	ErrInvalidTarget = errors.New("auth: invalid resource")
	// ErrInvalidToken: the access token is missing, malformed, expired,
	// revoked, not for this node, or its client is disabled.
	ErrInvalidToken = errors.New("auth: invalid access token")
	// ErrInsufficientScope: the access token is valid but lacks the scope.
	ErrInsufficientScope = errors.New("auth: insufficient scope")
	// ErrInvalidClientMetadata: a client registration or update is invalid.
	ErrInvalidClientMetadata = errors.New("auth: invalid client metadata")
	// ErrClientNotFound: no client has this ID.
	ErrClientNotFound = errors.New("auth: no such client")
	// ErrClientExists: a client with this ID is already registered.
	ErrClientExists = errors.New("auth: client already exists")
	// ErrUnavailable: a dependency (the ephemeral store, the registry file)
	// failed; the request may be retried.
	ErrUnavailable = errors.New("auth: temporarily unavailable")
)

// Error is an error of one of the kinds above with a description that is
// safe to show to the caller (it never holds a token, an assertion, a
// secret or a key). The underlying cause, if any, is for the log.
type Error struct {
	Kind        error
	Description string
	Err         error
}

func (e *Error) Error() string {
	s := e.Kind.Error() + ": " + e.Description
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// fail builds an *Error of kind with a formatted, safe description.
func fail(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Description: fmt.Sprintf(format, args...)}
}

// failWith is fail with a cause for the log.
func failWith(kind error, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Description: fmt.Sprintf(format, args...), Err: cause}
}
