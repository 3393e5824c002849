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
}

func (e *Error) Error() string { return e.msg }

// Code returns the stable machine-readable code.
func (e *Error) Code() string { return e.code }

// Contract errors. Everything the contract refuses wraps one of these.
var (
	ErrNotFound       = &Error{"not_found", "chaincode: no such record"}
	ErrForbidden      = &Error{"forbidden", "chaincode: the caller may not write this entry"}
	ErrInvalid        = &Error{"invalid", "chaincode: invalid argument"}
	ErrExists         = &Error{"exists", "chaincode: record exists"}
	ErrBatchConflict  = &Error{"batch_conflict", "chaincode: a different batch with this ID is anchored"}
	ErrHeadConflict   = &Error{"head_conflict", "chaincode: a different digest is anchored for this version"}
	ErrStale          = &Error{"stale", "chaincode: version or sequence is not newer than the anchored one"}
	ErrRegionState    = &Error{"region_state", "chaincode: the region is not in a state that allows this"}
	ErrNoQuorum       = &Error{"no_quorum", "chaincode: no active region can vote on this change"}
	ErrUnknownCaller  = &Error{"unknown_caller", "chaincode: the caller's MSP ID names no region (want Region<code>MSP)"}
	ErrUnknownFunc    = &Error{"unknown_function", "chaincode: unknown function"}
	ErrReadOnly       = &Error{"read_only", "chaincode: read-only evaluation cannot write"}
	ErrKeyTransition  = &Error{"key_transition", "chaincode: key state change not allowed"}
	ErrAlreadyVoted   = &Error{"already_voted", "chaincode: this region has already voted on this change"}
	ErrArgumentsCount = &Error{"arguments", "chaincode: wrong number of arguments"}
)

var allErrors = []*Error{
	ErrNotFound, ErrForbidden, ErrInvalid, ErrExists, ErrBatchConflict, ErrHeadConflict,
	ErrStale, ErrRegionState, ErrNoQuorum, ErrUnknownCaller, ErrUnknownFunc, ErrReadOnly,
	ErrKeyTransition, ErrAlreadyVoted, ErrArgumentsCount,
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
