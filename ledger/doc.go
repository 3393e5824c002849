// Package ledger is TrustID's access to the consortium chain: the Ledger
// interface, the typed Client over any backend, the durable Outbox that
// batches status changes into Merkle-rooted transactions (its queue is a
// local bbolt file), the Binder and BindingIndex that bind credential IDs a
// request chose on the chain and keep the region's bindings on disk, the
// View, a local copy of the registry and status heads kept fresh by events,
// and the hash-chained audit log.
//
// The backends live in subpackages, so nothing that uses the View or the
// Outbox links them: ledger/embedded (the default: the contract of package
// chaincode run in-process over one bbolt file with an append-only, SM3
// hash-chained block log) and ledger/fabric (Hyperledger Fabric through
// fabric-gateway and gRPC). Only cmd/trustid chooses and opens one.
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
