package login

// Error codes (RFC 6749 §4.1.2.1 and §5.2, OpenID Connect Core §3.1.2.6,
// RFC 6750 §3.1) and the package's own for login sessions.
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = "invalid_grant"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeInvalidScope            = "invalid_scope"
	CodeAccessDenied            = "access_denied"
	CodeLoginRequired           = "login_required"
	CodeRequestNotSupported     = "request_not_supported"
	CodeRequestURINotSupported  = "request_uri_not_supported"
	CodeInvalidToken            = "invalid_token"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	// CodeSessionNotFound: the login session is unknown, expired, or
	// already completed.
	CodeSessionNotFound = "login_session_not_found"
	// CodeSessionLimit: the login session has been extended as long as
	// it may be (Extend).
	CodeSessionLimit = "login_session_limit"
	// CodeApprovalRefused: the holder's approval was not accepted (bad
	// device signature, revoked binding, assurance below what was asked).
	CodeApprovalRefused = "approval_refused"
	// Counter approvals with method pin (the codes of POST
	// /v1/bindings/pin): a wrong PIN (Err: *enrollment.PINMismatchError,
	// with the attempts left), a static code locked after too many wrong
	// PINs (Err: *identity.LockedError, with the wait), a static code
	// without a PIN verifier.
	CodePINMismatch = "pin_mismatch"
	CodePINLocked   = "pin_locked"
	CodePINNotSet   = "pin_not_set"
)

// Error is a refusal with its error code and a description safe to show
// to the client; Err is the internal cause, for the log only.
type Error struct {
	Code        string
	Description string
	Err         error
}

func (e *Error) Error() string {
	s := "login: " + e.Code + ": " + e.Description
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func fail(code, desc string) *Error { return &Error{Code: code, Description: desc} }

func failWith(code, desc string, err error) *Error {
	return &Error{Code: code, Description: desc, Err: err}
}

// AuthorizeError is a refusal of an authorization request. When
// RedirectURI is set (the client and the redirect URI were checked), the
// error goes back to it with State (RFC 6749 §4.1.2.1); otherwise it is
// shown to the user and never redirected.
type AuthorizeError struct {
	Err                *Error
	RedirectURI, State string
}

func (e *AuthorizeError) Error() string { return e.Err.Error() }
func (e *AuthorizeError) Unwrap() error { return e.Err }
