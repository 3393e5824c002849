package credentials

import (
	"errors"

	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Errors. Each is wrapped with a detail that names the field or the check,
// never a claim value; test with errors.Is.
var (
	// ErrMalformed: the input is not acceptable JSON or JWS (syntax,
	// duplicate keys, trailing data, oversized).
	ErrMalformed = errors.New("credentials: malformed input")
	// ErrInvalid: the document violates the data model.
	ErrInvalid = errors.New("credentials: invalid credential")
	// ErrInvalidPresentation: the presentation violates the data model.
	ErrInvalidPresentation = errors.New("credentials: invalid presentation")
	// ErrAlgorithm: the JWS algorithm is not in the verifier's allow-list
	// (this includes "none").
	ErrAlgorithm = errors.New("credentials: algorithm not allowed")
	// ErrType: the JOSE header typ or cty is not the one the format needs.
	ErrType = errors.New("credentials: wrong media type in header")
	// ErrNotRequested: the credential's type is none the verifier asked
	// for (SDJWTOptions.VCTs).
	ErrNotRequested = errors.New("credentials: not a type the verifier asked for")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("credentials: signature invalid")
	// ErrUnknownKey: no published key matches the kid.
	ErrUnknownKey = errors.New("credentials: unknown signing key")
	// ErrIssuerMismatch: iss, the kid's controller and the credential's
	// issuer disagree.
	ErrIssuerMismatch = errors.New("credentials: issuer mismatch")
	// ErrExpired: validUntil (or exp) is in the past.
	ErrExpired = errors.New("credentials: expired")
	// ErrNotYetValid: validFrom (or nbf) is in the future.
	ErrNotYetValid = errors.New("credentials: not yet valid")
	// ErrRevoked: the credential's revocation entry is set.
	ErrRevoked = errors.New("credentials: revoked")
	// ErrSuspended: the credential's suspension entry is set.
	ErrSuspended = errors.New("credentials: suspended")
	// ErrStatusUnavailable: the status list could not be fetched or
	// verified; verification fails closed.
	ErrStatusUnavailable = errors.New("credentials: status list unavailable")
	// ErrResolve: a DID or key could not be resolved.
	ErrResolve = errors.New("credentials: cannot resolve key")
	// Retrieving a verification method from its controller document (W3C
	// Controlled Identifiers 1.0 §3.3; a DID document is one). Each is
	// wrapped together with ErrResolve (the document) or ErrUnknownKey
	// (the method in it).
	//
	// ErrVerificationMethodURL: the verification method is not an https
	// URL with a fragment (INVALID_VERIFICATION_METHOD_URL).
	ErrVerificationMethodURL = errors.New("credentials: verification method URL not resolvable")
	// ErrControllerDocument: the fetched document is not a conforming
	// controlled identifier document: not a JSON object, a member of the
	// wrong type, a private key (INVALID_CONTROLLED_IDENTIFIER_DOCUMENT).
	ErrControllerDocument = errors.New("credentials: invalid controller document")
	// ErrControllerDocumentID: the document's id is not the identifier it
	// was fetched for (INVALID_CONTROLLED_IDENTIFIER_DOCUMENT_ID).
	ErrControllerDocumentID = errors.New("credentials: controller document id does not match")
	// ErrMethodNotFound: the document defines no verification method with
	// that id (INVALID_VERIFICATION_METHOD).
	ErrMethodNotFound = errors.New("credentials: verification method not found")
	// ErrMethodController: the method's controller is not the document's
	// id (INVALID_VERIFICATION_METHOD).
	ErrMethodController = errors.New("credentials: verification method controller mismatch")
	// ErrMethodRelationship: the method is not listed in the verification
	// relationship the proof purpose names
	// (INVALID_RELATIONSHIP_FOR_VERIFICATION_METHOD).
	ErrMethodRelationship = errors.New("credentials: verification method not in the required relationship")
	// ErrMethodRevoked: the method's revoked or expires time has passed.
	ErrMethodRevoked = errors.New("credentials: verification method revoked or expired")
	// ErrDocumentTooLarge: a fetched document exceeds the size limit.
	ErrDocumentTooLarge = errors.New("credentials: fetched document too large")
	// ErrRegionSuspended: the trust registry names the issuer (a region's
	// node, or an issuer of the region) under a region the consortium has
	// suspended; its credentials are refused until it is reinstated.
	ErrRegionSuspended = errors.New("credentials: the issuer's region is suspended in the trust registry")
	// ErrUnsupported: a DID method, key type or option TrustID does not
	// support.
	ErrUnsupported = errors.New("credentials: unsupported")
	// ErrChallenge: a presentation's nonce or audience does not match the
	// verifier's challenge or domain.
	ErrChallenge = errors.New("credentials: challenge or domain mismatch")
	// ErrNotFound: no such credential or status list.
	ErrNotFound = errors.New("credentials: not found")
	// ErrStatusFull: no free status index could be allocated.
	ErrStatusFull = errors.New("credentials: status list full")
	// ErrStatusFormUnsecured: a StatusListForm's Verify got a list
	// credential without that form's securing (an unsecured JSON
	// document): the source tries its next form.
	ErrStatusFormUnsecured = errors.New("credentials: the status list answer is not secured in this form")
)

// FieldError is a data model error naming the member at fault and the
// rule it breaks. Neither holds a value from the document (only member
// names and constants), so both may be shown to whoever sent it.
type FieldError struct {
	Err   error  // ErrInvalid (nil: the caller adds its sentinel)
	Field string // e.g. "type", "credentialSubject[0].id"
	Rule  string // e.g. "missing", `must include "VerifiableCredential"`
}

func (e *FieldError) Error() string {
	if e.Err == nil {
		return e.Field + ": " + e.Rule
	}
	return e.Err.Error() + ": " + e.Field + ": " + e.Rule
}

// Unwrap returns Err, for errors.Is.
func (e *FieldError) Unwrap() error { return e.Err }

// Strict JSON errors, matched by errors.Is on every decoding error of this
// package (which also match ErrMalformed).
var (
	ErrDuplicateKey = strictjson.ErrDuplicateKey
	ErrTrailingData = strictjson.ErrTrailingData
	ErrTooLarge     = strictjson.ErrTooLarge
)
