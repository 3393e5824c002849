// Package status owns the wire encodings of credential status, what a
// verifier needs to read a status list and a node to publish one:
//
//   - the W3C Bitstring Status List v1.0 bitstring (GZIP, then multibase
//     base64url with the 'u' prefix; bit 0 is the most significant bit of
//     the first byte; at least 131,072 entries);
//   - the IETF Token Status List (statuslist+jwt) array (1, 2, 4 or 8 bits
//     per status; index 0 in the least significant bits of the first byte;
//     ZLIB, then base64url without padding);
//   - decoders bounded for lists from other nodes: by default at most
//     MaxRemoteEntries entries, decompression stopped just past that;
//   - the list purposes and the form of a TrustID list ID.
//
// The node's store of its own lists is package credentials/statuslist.
package status

// Purposes of a list. Revocation and suspension lists are W3C Bitstring
// Status Lists (1 bit per entry); token lists are IETF Token Status Lists.
const (
	PurposeRevocation = "revocation"
	PurposeSuspension = "suspension"
	PurposeToken      = "token"
)

// ValidListID reports whether id has the form of a TrustID list ID: 16
// lowercase hex digits. (It runs for every status entry a verifier checks:
// a loop, not a regular expression.)
func ValidListID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
