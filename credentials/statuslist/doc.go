// Package statuslist owns the wire encodings of credential status and the
// node's local status store:
//
//   - the W3C Bitstring Status List v1.0 bitstring (GZIP, then multibase
//     base64url with the 'u' prefix; bit 0 is the most significant bit of
//     the first byte; at least 131,072 entries);
//   - the IETF Token Status List (statuslist+jwt) array (1, 2, 4 or 8 bits
//     per status; index 0 in the least significant bits of the first byte;
//     ZLIB, then base64url without padding);
//   - decoders bounded for lists from other nodes: by default at most
//     MaxRemoteEntries entries, decompression stopped just past that;
//   - FileStore, which keeps each list in one file in the data directory,
//     replaced atomically (once for each group of concurrent changes:
//     group commit) before a change returns, and hands out indices at
//     random;
//     each file also holds the list's anchoring journal, the changes not
//     yet handed to the ledger (Unanchored, MarkAnchored).
package statuslist
