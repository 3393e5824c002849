package qrcode

import (
	"errors"
	"fmt"
)

// Errors of decoding. Every decoder returns an error matching exactly one
// of them with errors.Is (ErrBase45 counts as ErrMalformed's sibling for a
// bad text encoding). Messages never contain the payload.
var (
	// ErrTooLarge: the input exceeds the size cap for its kind.
	ErrTooLarge = errors.New("qrcode: payload too large")
	// ErrPrefix: the text does not start with a known TrustID prefix.
	ErrPrefix = errors.New("qrcode: not a TrustID QR payload (unknown prefix)")
	// ErrVersion: a TrustID prefix of a known kind with an unsupported
	// version.
	ErrVersion = errors.New("qrcode: unsupported payload version")
	// ErrKind: a valid payload of another kind than the one expected (an
	// online code given to the offline verifier, say).
	ErrKind = errors.New("qrcode: payload of the wrong kind")
	// ErrTruncated: the binary payload ends in the middle of an item.
	ErrTruncated = errors.New("qrcode: payload truncated")
	// ErrTrailingData: bytes follow the payload.
	ErrTrailingData = errors.New("qrcode: trailing data after payload")
	// ErrDuplicateField: a map repeats a key.
	ErrDuplicateField = errors.New("qrcode: duplicate field")
	// ErrUnknownField: a map has a key this version does not define.
	ErrUnknownField = errors.New("qrcode: unknown field")
	// ErrMalformed: any other structural fault: wrong types, missing
	// required fields, values out of range, indefinite lengths, tags.
	ErrMalformed = errors.New("qrcode: malformed payload")
)

// ErrNonCanonical: well-formed CBOR that is not the canonical (RFC 8949
// core deterministic) encoding of its content: map keys out of order,
// longer integer or length heads than needed, empty optional fields
// present. An error matching it also matches ErrMalformed (it is a kind
// of malformed payload, not one of the exclusive sentinels above).
var ErrNonCanonical = errors.New("qrcode: non-canonical encoding")

// Errors of verification and of the online service.
var (
	// ErrSignature: an issuer or device signature does not verify.
	ErrSignature = errors.New("qrcode: signature does not verify")
	// ErrUnknownKey: no trusted issuer key has the payload's kid.
	ErrUnknownKey = errors.New("qrcode: unknown issuer key")
	// ErrBindingExpired: the device binding (or static code) is past its
	// expiry, or not yet valid.
	ErrBindingExpired = errors.New("qrcode: device binding expired")
	// ErrRevoked: the binding, static code or delegation is revoked in
	// its status list.
	ErrRevoked = errors.New("qrcode: revoked")
	// ErrSuspended: the binding, static code or delegation is suspended
	// in its status list (until reinstated).
	ErrSuspended = errors.New("qrcode: suspended")
	// ErrStatusUnavailable: the status could not be checked (no fresh
	// list); verification fails closed.
	ErrStatusUnavailable = errors.New("qrcode: status unavailable")
	// ErrUnknownStatusList: the code's status reference names a list
	// number its own region's node has no list of; it will not appear,
	// so the code cannot be verified (unlike ErrStatusUnavailable).
	ErrUnknownStatusList = errors.New("qrcode: the code names a status list its region does not have")
	// ErrStale: an offline code's time is outside the freshness window.
	ErrStale = errors.New("qrcode: code outside the freshness window")
	// ErrChallenge: the verifier's challenge is missing or different.
	ErrChallenge = errors.New("qrcode: challenge mismatch")
	// ErrAudience: the code names another audience.
	ErrAudience = errors.New("qrcode: audience mismatch")
	// ErrReplayed: an offline code with a counter already seen for this
	// binding (the same code shown twice).
	ErrReplayed = errors.New("qrcode: offline code replayed")
	// ErrCloneSuspected: an offline code with a counter lower than one
	// already seen for this binding: two devices may share the key.
	ErrCloneSuspected = errors.New("qrcode: counter went backwards (cloned device suspected)")
	// ErrDelegation: a delegation that does not match the presenter, is
	// expired or not yet valid.
	ErrDelegation = errors.New("qrcode: invalid delegation")
	// ErrDelegationScope: the action asked for is outside the delegation's
	// scope.
	ErrDelegationScope = errors.New("qrcode: action outside the delegation scope")

	// ErrCodeUsed: an online code that was already redeemed, or never
	// issued.
	ErrCodeUsed = errors.New("qrcode: code already redeemed or unknown")
	// ErrCodeExpired: an online code whose validity ended.
	ErrCodeExpired = errors.New("qrcode: code expired")
	// ErrWrongRegion: an online code's record belongs to another region.
	ErrWrongRegion = errors.New("qrcode: code bound to another region")
	// ErrNoRoute: an online code of a region this node has no peer for.
	ErrNoRoute = errors.New("qrcode: no route to the code's region")
	// ErrPeer: the peer region failed or answered with an error that is
	// not one of ours.
	ErrPeer = errors.New("qrcode: peer region failed")
	// ErrPeerLimited: the peer region refused the redemption for the
	// limits it grants this region and its relying party (its signed
	// 429); nothing was redeemed, retry later. Its wire code, rate_limited,
	// is any route's over a limit, so it is not in ErrorFromCode's table.
	ErrPeerLimited = errors.New("qrcode: the code's region is over its limits for this caller")
	// ErrPeerAuth: a node-to-node request failed authentication.
	ErrPeerAuth = errors.New("qrcode: peer authentication failed")
	// ErrHolderAuth: the holder's signed request failed authentication
	// (bad signature, stale time, nonce reused, revoked binding).
	ErrHolderAuth = errors.New("qrcode: holder authentication failed")
	// ErrConsent: the holder consented to a claim that is unknown or not
	// attested.
	ErrConsent = errors.New("qrcode: invalid consent")
	// ErrUnknownVerifier: the relying party is not registered.
	ErrUnknownVerifier = errors.New("qrcode: unknown relying party")
	// ErrUnavailable: a dependency (the store, a peer) failed; retry.
	ErrUnavailable = errors.New("qrcode: temporarily unavailable")
	// ErrInvalidArgument: a caller passed an invalid argument (too many
	// claims, a bad region code, a size out of range).
	ErrInvalidArgument = errors.New("qrcode: invalid argument")
)

// ErrDelegationExpired: a delegation outside its validity (expired or not
// yet valid). It wraps ErrDelegation, so an error matching it also
// matches ErrDelegation.
var ErrDelegationExpired = fmt.Errorf("%w: outside its validity", ErrDelegation)

// Error codes on the wire: the "error" member of an error response. The
// api package answers with these; HTTPPeers and the SDKs turn them back
// into the sentinels. Where several sentinels share a code, the first
// entry of that code is the one ErrorFromCode gives back: the most
// general (ErrMalformed for qr_malformed, not ErrPrefix).
var errorCodes = []struct {
	err  error
	code string
}{
	{ErrCodeUsed, "qr_code_used"},
	{ErrCodeExpired, "qr_code_expired"},
	{ErrRevoked, "qr_revoked"},
	{ErrSuspended, "qr_suspended"},
	{ErrWrongRegion, "qr_wrong_region"},
	{ErrDelegationExpired, "qr_delegation_expired"},
	{ErrDelegationScope, "qr_delegation_scope"},
	{ErrDelegation, "qr_delegation_invalid"},
	{ErrNoRoute, "qr_no_route"},
	{ErrUnknownVerifier, "qr_unknown_verifier"},
	{ErrPeerAuth, "qr_peer_unauthorized"},
	{ErrTooLarge, "qr_too_large"},
	{ErrMalformed, "qr_malformed"},
	{ErrPrefix, "qr_malformed"},
	{ErrVersion, "qr_unsupported_version"},
	{ErrKind, "qr_wrong_kind"},
	{ErrUnknownStatusList, "qr_unknown_status_list"},
	{ErrReplayed, "qr_replayed"},
	{ErrCloneSuspected, "qr_clone_suspected"},
	{ErrBindingExpired, "qr_binding_expired"},
	{ErrUnknownKey, "qr_unknown_key"},
	{ErrSignature, "qr_bad_signature"},
	{ErrStale, "qr_stale"},
	{ErrChallenge, "qr_challenge_mismatch"},
	{ErrAudience, "qr_audience_mismatch"},
	{ErrConsent, "qr_invalid_consent"},
	{ErrHolderAuth, "qr_holder_unauthorized"},
	{ErrUnavailable, "temporarily_unavailable"},
	{ErrPeer, "qr_peer_failed"},
}

// ErrorCode returns the stable wire code of a package error ("" when err
// is not one).
func ErrorCode(err error) string {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}

// ErrorFromCode returns the sentinel of a wire code (nil when code is
// not one): a client of the node's API turns its answers back into errors.
func ErrorFromCode(code string) error {
	for _, c := range errorCodes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}
