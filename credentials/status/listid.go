package status

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
)

// A list made by an instance of a region (NewListID) says in its ID which
// purpose it has and which instance made it, so that every instance can
// materialize it from the ledger without asking the instance that owns it:
//
//	8 random hex digits | purpose digit (1 revocation, 2 suspension,
//	3 token) | 7 hex digits of SHA-256("trustid instance" 0x00 instance)
//
// It keeps the form of every TrustID list ID (16 hex digits; a QR status
// reference names a list by its first 32 bits).

var instanceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ValidInstance reports whether s can name an instance: 1 to 32 lower-case
// letters, digits and '-', not starting with '-'.
func ValidInstance(s string) bool { return instanceRE.MatchString(s) }

var purposeDigits = map[string]byte{PurposeRevocation: '1', PurposeSuspension: '2', PurposeToken: '3'}

// InstanceTag returns the 7 hex digits that name instance in its list IDs.
func InstanceTag(instance string) string {
	sum := sha256.Sum256([]byte("trustid instance\x00" + instance))
	return hex.EncodeToString(sum[:4])[:7]
}

// NewListID returns the ID of a new list of purpose made by instance, from
// 4 random bytes; ok is false for an unknown purpose or instance.
func NewListID(random [4]byte, purpose, instance string) (id string, ok bool) {
	d, ok := purposeDigits[purpose]
	if !ok || !ValidInstance(instance) {
		return "", false
	}
	return hex.EncodeToString(random[:]) + string(d) + InstanceTag(instance), true
}

// ListPurpose returns the purpose a list ID made by NewListID names. A
// list ID made otherwise (a node from before instances) may name a wrong
// one: only its owner knows its purpose for sure.
func ListPurpose(id string) (string, bool) {
	if !ValidListID(id) {
		return "", false
	}
	for p, d := range purposeDigits {
		if id[8] == d {
			return p, true
		}
	}
	return "", false
}

// ListOf reports whether instance made the list (by NewListID).
func ListOf(id, instance string) bool {
	return ValidListID(id) && id[9:] == InstanceTag(instance)
}
