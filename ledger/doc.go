// Package ledger is TrustID's access to the consortium chain: the Ledger
// interface, its two backends — Embedded (the default: the contract of
// package chaincode run in-process over one bbolt file with an append-only,
// SM3 hash-chained block log) and Fabric (Hyperledger Fabric through
// fabric-gateway) — the typed Client over either, the durable Outbox that
// batches status changes into Merkle-rooted transactions, and the View, a
// local copy of the registry and status heads kept fresh by events.
//
// Domain packages do not import this package's backends; they declare the
// small interface they need. The one for status changes is Anchorer:
//
//	type Anchorer interface {
//		// Anchor durably accepts changes for anchoring; once it returns nil
//		// the changes survive a crash and reach the chain exactly once.
//		Anchor(ctx context.Context, changes []ledger.StatusChange) error
//		// AnchorHeads durably accepts new status-list heads (list, version,
//		// SM3 digest of the encoded list, see chaincode.ListDigest).
//		AnchorHeads(ctx context.Context, heads []ledger.StatusHeadInput) error
//	}
//
// which *Outbox implements, and verifiers use StatusHeads (implemented by
// *View) to check a fetched list's digest.
package ledger
