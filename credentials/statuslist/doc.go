// Package statuslist owns the node's status stores.
//
// FileStore keeps each list (encoded as package credentials/status
// defines) in one file in the data directory, replaced atomically (once
// for each group of concurrent changes: group commit) before a change
// returns, and hands out indices at random, recording allocations in
// lists that exist in the store's one append-only allocation log (one
// record, one write and one fsync per group, whatever the purposes);
// with spares (FileStoreOptions.Spare) it allocates entries ahead,
// durably through the same log, and hands them out without a write.
//
// Shared is the store of one instance of a region whose instances share
// status through the ledger: it allocates from the lists its own
// FileStore made, hands changes to the ledger outbox, materializes every
// list of the region from the chain, and reads credential IDs that carry
// their entries and owner (CredentialIDs).
//
// Only the node imports it; verifiers need only package status.
package statuslist
