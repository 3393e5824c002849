package oid4vci

import "errors"

// Error codes, as OpenID for Verifiable Credential Issuance 1.0 and
// RFC 6749/6750 name them.
const (
	CodeInvalidRequest             = "invalid_request"
	CodeInvalidGrant               = "invalid_grant"
	CodeUnsupportedGrantType       = "unsupported_grant_type"
	CodeInvalidToken               = "invalid_token"
	CodeInvalidCredentialRequest   = "invalid_credential_request"
	CodeUnknownConfiguration       = "unknown_credential_configuration"
	CodeUnknownIdentifier          = "unknown_credential_identifier"
	CodeInvalidProof               = "invalid_proof"
	CodeInvalidNonce               = "invalid_nonce"
	CodeInvalidEncryption          = "invalid_encryption_parameters"
	CodeCredentialRequestDenied    = "credential_request_denied"
	CodeInvalidNotificationID      = "invalid_notification_id"
	CodeInvalidNotificationRequest = "invalid_notification_request"
	CodeTemporarilyUnavailable     = "temporarily_unavailable"
	// RFC 9449 §5, §7.1, §8: a DPoP proof that fails a check, and one
	// without the server's current nonce (Error.DPoPNonce has one).
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	CodeUseDPoPNonce     = "use_dpop_nonce"
	CodeServerError      = "server_error"
)

// Error is a protocol error: Code is the specification's error code,
// Description a message safe to show the client (it never carries a code,
// token or claim value), Err the internal cause, for the log only.
type Error struct {
	Code        string
	Description string
	Err         error
	// DPoPNonce, when set, is a fresh DPoP nonce to send in the
	// DPoP-Nonce header (with use_dpop_nonce).
	DPoPNonce string
	// AttestationChallenge, when set, is a fresh wallet attestation
	// challenge to send in the OAuth-Client-Attestation-Challenge header
	// (with use_attestation_challenge, and any other attestation error).
	AttestationChallenge string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "oid4vci: " + e.Code + ": " + e.Description + ": " + e.Err.Error()
	}
	return "oid4vci: " + e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Err }

func fail(code, description string) error { return &Error{Code: code, Description: description} }

// ErrNotFound: no live offer under that reference.
var ErrNotFound = errors.New("oid4vci: no such offer (unknown or expired)")

// ErrInvalid: an offer request the issuer cannot make an offer of.
var ErrInvalid = errors.New("oid4vci: invalid offer request")

// ErrDPoPBound: a DPoP-bound access token came with the Bearer scheme
// (the cause of that invalid_token; the answer is a DPoP challenge, RFC
// 9449 §7.1).
var ErrDPoPBound = errors.New("oid4vci: the access token is DPoP-bound")

// ErrNoAccessToken: a request to the credential or notification endpoint
// without an access token (no Authorization header of the Bearer or DPoP
// scheme): the answer is a challenge without error code (RFC 6750 §3.1,
// RFC 9449 §7.1).
var ErrNoAccessToken = errors.New("oid4vci: no access token")
