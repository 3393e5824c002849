package chaincode

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a contract error with a stable code. The sentinels below are
// the only values; details are added by wrapping them with %w.
type Error struct {
	code string
	msg  string
	// kindOf is the broader sentinel this one refines (ErrMalformedKey is
	// an ErrInvalid), so errors.Is matches both; nil for none.
	kindOf *Error
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the broader sentinel e refines, if any.
func (e *Error) Unwrap() error {
	if e.kindOf == nil {
		return nil
	}
	return e.kindOf
}

// Code returns the stable machine-readable code.
func (e *Error) Code() string { return e.code }

// Contract errors. Everything the contract refuses wraps one of these.
var (
	ErrNotFound       = &Error{code: "not_found", msg: "chaincode: no such record"}
	ErrForbidden      = &Error{code: "forbidden", msg: "chaincode: the caller may not write this entry"}
	ErrInvalid        = &Error{code: "invalid", msg: "chaincode: invalid argument"}
	ErrExists         = &Error{code: "exists", msg: "chaincode: record exists"}
	ErrBatchConflict  = &Error{code: "batch_conflict", msg: "chaincode: a different batch with this ID is anchored"}
	ErrHeadConflict   = &Error{code: "head_conflict", msg: "chaincode: a different digest is anchored for this version"}
	ErrStale          = &Error{code: "stale", msg: "chaincode: version or sequence is not newer than the anchored one"}
	ErrRegionState    = &Error{code: "region_state", msg: "chaincode: the region is not in a state that allows this"}
	ErrUnknownCaller  = &Error{code: "unknown_caller", msg: "chaincode: the caller's MSP ID names no region (want Region<code>MSP)"}
	ErrUnknownFunc    = &Error{code: "unknown_function", msg: "chaincode: unknown function"}
	ErrKeyTransition  = &Error{code: "key_transition", msg: "chaincode: key state change not allowed"}
	ErrAlreadyVoted   = &Error{code: "already_voted", msg: "chaincode: this region has already voted on this change"}
	ErrArgumentsCount = &Error{code: "arguments", msg: "chaincode: wrong number of arguments"}

	// Refusals of registry writes, each also an ErrInvalid.
	ErrMalformedKey  = &Error{code: "malformed_key", msg: "chaincode: malformed public key", kindOf: ErrInvalid}
	ErrUnknownRegion = &Error{code: "unknown_region", msg: "chaincode: no such region in the consortium", kindOf: ErrInvalid}
	ErrUnknownScope  = &Error{code: "unknown_scope", msg: "chaincode: no such scope", kindOf: ErrInvalid}

	// ErrForeignParty refuses a region's claim of a pairwise sector for
	// a relying party another region registered. It is also an
	// ErrForbidden.
	ErrForeignParty = &Error{code: "foreign_party", msg: "chaincode: the relying party is another region's", kindOf: ErrForbidden}

	// ErrBindingExists refuses a credential binding whose key is bound to
	// another value: the first binding of a credential ID wins. It is also
	// an ErrExists; its message names the keys (TakenKeys reads them).
	ErrBindingExists = &Error{code: "binding_exists", msg: "chaincode: the credential ID is bound already", kindOf: ErrExists}

	// ErrQuota refuses a write that would add a record, or grow one,
	// past the region's quota (MaxRegionRecords, MaxRegionBytes). It is
	// also an ErrForbidden.
	ErrQuota = &Error{code: "quota", msg: "chaincode: the region's quota of records or bytes is full", kindOf: ErrForbidden}
)

var allErrors = []*Error{
	ErrNotFound, ErrForbidden, ErrInvalid, ErrExists, ErrBatchConflict, ErrHeadConflict,
	ErrStale, ErrRegionState, ErrUnknownCaller, ErrUnknownFunc,
	ErrKeyTransition, ErrAlreadyVoted, ErrArgumentsCount, ErrMalformedKey, ErrUnknownRegion, ErrUnknownScope,
	ErrForeignParty, ErrBindingExists, ErrQuota,
}

// wirePrefix marks a contract error inside a Fabric error message.
const wirePrefix = "trustid:"

// WireMessage renders err for the chaincode response: "trustid:<code>:
// <message>". Errors that are not contract errors get code "internal".
func WireMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return wirePrefix + e.code + ": " + err.Error()
	}
	return wirePrefix + "internal: " + err.Error()
}

// FromWire finds a WireMessage inside msg (Fabric wraps it in its own
// text) and returns the sentinel it names wrapped with the message. It
// returns nil when msg holds no contract error.
func FromWire(msg string) error {
	i := strings.Index(msg, wirePrefix)
	if i < 0 {
		return nil
	}
	rest := msg[i+len(wirePrefix):]
	code, detail, ok := strings.Cut(rest, ": ")
	if !ok {
		return nil
	}
	for _, e := range allErrors {
		if e.code == code {
			if strings.HasPrefix(detail, e.msg) {
				detail = strings.TrimPrefix(strings.TrimPrefix(detail, e.msg), ": ")
			}
			if detail == "" {
				return e
			}
			return fmt.Errorf("%w: %s", e, detail)
		}
	}
	return nil
}
