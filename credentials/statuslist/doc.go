// Package statuslist owns the node's local status store: FileStore, which
// keeps each list (encoded as package credentials/status defines) in one
// file in the data directory, replaced atomically (once for each group of
// concurrent changes: group commit) before a change returns, and hands out
// indices at random; each file also holds the list's anchoring journal,
// the changes not yet handed to the ledger (Unanchored, MarkAnchored).
// Only the node imports it; verifiers need only package status.
package statuslist
