package identity

import "errors"

// Sentinel errors of symbols, pairwise IDs, terminals, attestations, PIN
// verifiers and assurance levels. Like the document errors, each goes with
// one stable Code (see AllCodes and CodeOf) and no message contains the
// input, a number, a name, a PIN or a key.
var (
	// Symbol and pairwise ID text forms and keys.
	ErrIdentifierLength    = errors.New("identity: identifier text has the wrong length")
	ErrIdentifierCharacter = errors.New("identity: identifier text has a character outside Crockford base32")
	ErrIdentifierCheck     = errors.New("identity: identifier check character mismatch")
	ErrUnknownKeyVersion   = errors.New("identity: unknown key version")
	ErrZeroIdentifier      = errors.New("identity: zero symbol or pairwise ID")
	ErrInvalidSector       = errors.New("identity: invalid sector identifier")
	ErrKeys                = errors.New("identity: invalid key set")

	// Terminal registry.
	ErrUnknownTerminal = errors.New("identity: unknown verification terminal")
	ErrTerminalRevoked = errors.New("identity: verification terminal revoked")
	ErrTerminalExists  = errors.New("identity: verification terminal already registered")
	ErrInvalidTerminal = errors.New("identity: invalid verification terminal")
	ErrTerminalFile    = errors.New("identity: terminal registry file is corrupted")

	// Attestations.
	ErrAttestationMalformed = errors.New("identity: malformed attestation")
	ErrAttestationSignature = errors.New("identity: attestation signature invalid")
	ErrAttestationExpired   = errors.New("identity: attestation expired")
	ErrAttestationEarly     = errors.New("identity: attestation issued in the future")
	ErrAttestationPerson    = errors.New("identity: attestation is for another document or name")
	ErrAttestationLiveness  = errors.New("identity: attestation reports a failed person check")
	ErrAttestationReplayed  = errors.New("identity: attestation already used")
	ErrAttestationDevice    = errors.New("identity: attestation is for another device key")
	ErrAttestationAudience  = errors.New("identity: attestation is for another node")
	ErrAttestationRegion    = errors.New("identity: attestation's terminal is outside this node's region")

	// PINs.
	ErrPINFormat   = errors.New("identity: PIN must be exactly 6 digits")
	ErrPINTrivial  = errors.New("identity: PIN is too easy to guess")
	ErrPINMismatch = errors.New("identity: wrong PIN")
	ErrPINLocked   = errors.New("identity: too many PIN attempts; try again later")
	ErrPINVerifier = errors.New("identity: PIN verifier is invalid or belongs to another binding")

	// Assurance levels.
	ErrInvalidLevel = errors.New("identity: invalid assurance level")
)

// Codes of the errors above. Like the document codes they may be added to,
// never renamed.
const (
	CodeIdentifierInvalidLength    Code = "identifier_invalid_length"    // ErrIdentifierLength: a symbol or pairwise ID is 34 characters
	CodeIdentifierInvalidCharacter Code = "identifier_invalid_character" // ErrIdentifierCharacter
	CodeIdentifierCheckMismatch    Code = "identifier_check_mismatch"    // ErrIdentifierCheck: mod-37 check character wrong (a typo)
	CodeUnknownKeyVersion          Code = "unknown_key_version"          // ErrUnknownKeyVersion: version 0, or not held by this node
	CodeZeroIdentifier             Code = "zero_identifier"              // ErrZeroIdentifier
	CodeInvalidSector              Code = "invalid_sector"               // ErrInvalidSector: empty, too long or with control characters
	CodeInvalidKeys                Code = "invalid_keys"                 // ErrKeys: no key, a short key, a repeated or out-of-range version

	CodeUnknownTerminal  Code = "unknown_terminal"  // ErrUnknownTerminal
	CodeTerminalRevoked  Code = "terminal_revoked"  // ErrTerminalRevoked
	CodeTerminalExists   Code = "terminal_exists"   // ErrTerminalExists: same ID or same public key
	CodeInvalidTerminal  Code = "invalid_terminal"  // ErrInvalidTerminal: bad ID, name, region or key type
	CodeTerminalRegistry Code = "terminal_registry" // ErrTerminalFile

	CodeAttestationMalformed      Code = "attestation_malformed"       // ErrAttestationMalformed: size, segments, JSON, typ, claims
	CodeAttestationBadSignature   Code = "attestation_bad_signature"   // ErrAttestationSignature: also an algorithm not allowed or not the terminal's
	CodeAttestationExpired        Code = "attestation_expired"         // ErrAttestationExpired
	CodeAttestationNotYetValid    Code = "attestation_not_yet_valid"   // ErrAttestationEarly: iat after now + leeway
	CodeAttestationWrongPerson    Code = "attestation_wrong_person"    // ErrAttestationPerson: the binding digest is not this document and name
	CodeAttestationLivenessFailed Code = "attestation_liveness_failed" // ErrAttestationLiveness
	CodeAttestationReplayed       Code = "attestation_replayed"        // ErrAttestationReplayed
	CodeAttestationWrongDevice    Code = "attestation_wrong_device"    // ErrAttestationDevice: cnf.jkt is not the enrolled device key (or one is missing)
	CodeAttestationWrongAudience  Code = "attestation_wrong_audience"  // ErrAttestationAudience: aud is not this node
	CodeAttestationWrongRegion    Code = "attestation_wrong_region"    // ErrAttestationRegion: the terminal is installed outside this node's region

	CodePINInvalidFormat Code = "pin_invalid_format" // ErrPINFormat
	CodePINTooSimple     Code = "pin_too_simple"     // ErrPINTrivial
	CodePINMismatch      Code = "pin_mismatch"       // ErrPINMismatch
	CodePINLocked        Code = "pin_locked"         // ErrPINLocked (see LockedError for the wait)
	CodePINVerifier      Code = "pin_verifier_invalid"

	CodeInvalidLevel Code = "invalid_assurance_level" // ErrInvalidLevel
)

var moreSentinels = [...]struct {
	code Code
	err  error
}{
	{CodeIdentifierInvalidLength, ErrIdentifierLength},
	{CodeIdentifierInvalidCharacter, ErrIdentifierCharacter},
	{CodeIdentifierCheckMismatch, ErrIdentifierCheck},
	{CodeUnknownKeyVersion, ErrUnknownKeyVersion},
	{CodeZeroIdentifier, ErrZeroIdentifier},
	{CodeInvalidSector, ErrInvalidSector},
	{CodeInvalidKeys, ErrKeys},
	{CodeUnknownTerminal, ErrUnknownTerminal},
	{CodeTerminalRevoked, ErrTerminalRevoked},
	{CodeTerminalExists, ErrTerminalExists},
	{CodeInvalidTerminal, ErrInvalidTerminal},
	{CodeTerminalRegistry, ErrTerminalFile},
	{CodeAttestationMalformed, ErrAttestationMalformed},
	{CodeAttestationBadSignature, ErrAttestationSignature},
	{CodeAttestationExpired, ErrAttestationExpired},
	{CodeAttestationNotYetValid, ErrAttestationEarly},
	{CodeAttestationWrongPerson, ErrAttestationPerson},
	{CodeAttestationLivenessFailed, ErrAttestationLiveness},
	{CodeAttestationReplayed, ErrAttestationReplayed},
	{CodeAttestationWrongDevice, ErrAttestationDevice},
	{CodeAttestationWrongAudience, ErrAttestationAudience},
	{CodeAttestationWrongRegion, ErrAttestationRegion},
	{CodePINInvalidFormat, ErrPINFormat},
	{CodePINTooSimple, ErrPINTrivial},
	{CodePINMismatch, ErrPINMismatch},
	{CodePINLocked, ErrPINLocked},
	{CodePINVerifier, ErrPINVerifier},
	{CodeInvalidLevel, ErrInvalidLevel},
}

// AllCodes returns every error code of the package: the document codes
// (Codes) followed by those of symbols, pairwise IDs, terminals,
// attestations, PINs and assurance levels.
func AllCodes() []Code {
	out := Codes()
	for _, c := range moreSentinels {
		out = append(out, c.code)
	}
	return out
}

// CodeOf returns the code of an error returned by this package, and false
// for any other error (for example a store or context error, which callers
// must treat as an internal failure, not as bad input).
func CodeOf(err error) (Code, bool) {
	if err == nil {
		return "", false
	}
	var fe *FieldError
	if errors.As(err, &fe) && fe.Code != "" {
		return fe.Code, true
	}
	for _, c := range moreSentinels {
		if errors.Is(err, c.err) {
			return c.code, true
		}
	}
	for _, c := range codeSentinels {
		if errors.Is(err, c.err) {
			return c.code, true
		}
	}
	return "", false
}
