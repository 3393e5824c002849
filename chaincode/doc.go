// Package chaincode is TrustID's contract: the trust registry (regions,
// issuers, relying parties, verification terminals), status anchoring
// (status-list heads and Merkle-rooted batches of status changes) and audit
// anchors. It is written once against the small State interface and runs
// two ways: inside Fabric through the chaincode shim (cmd/trustid-chaincode)
// and in-process over bbolt in the embedded ledger (package ledger).
//
// The ledger holds no personal data: only registry entries of institutions,
// status-list identifiers with indexes and status values, digests, Merkle
// roots and audit-log heads.
//
// # Access policy
//
// The caller is identified by its Fabric MSP ID, "Region<code>MSP" (for
// example Region310000MSP for region 310000); State.Caller returns it and
// RegionOfMSP maps it to a region. A region's organization writes only its
// own region's entries: its region record and keys, the issuers, relying
// parties and terminals whose region is its own, its status heads and
// batches, and its nodes' audit anchors. Only an active region writes
// anything but its own admission request, except that a suspended region
// may retire or revoke its own keys (so that a stolen key is withdrawn
// before the region is reinstated).
//
// Every node keeps every region's issuers, relying parties, terminals and
// status heads in memory, so a region adds at most MaxRegionRecords of
// them, taking at most MaxRegionBytes as stored; past either, a write that
// adds or grows a record is refused with ErrQuota, one that only withdraws
// trust (a suspension, a revocation, a key retired) never is.
//
// Changing the consortium itself — admitting a region, suspending it or
// reinstating it — needs the consortium: a strict majority of the active
// regions (the subject of the change excluded) must vote for it with the
// Vote function, each vote sent by the voting region's own organization.
// The first region of an empty registry is admitted without votes (the
// genesis of the consortium). See docs/ledger.md.
//
// # Transactions
//
// Invoke dispatches by function name with string arguments (JSON for
// records). Every function is deterministic given the state, the arguments,
// the caller and the transaction timestamp, so endorsing peers agree. A
// transaction emits at most one event (Fabric keeps only the last one set):
// EventRegistry for registry changes, EventStatusBatch and EventStatusHeads
// for status, EventCredentialBindings for the bindings of credential IDs
// a request chose (BindCredentialIDs: key an HMAC of the ID, never the ID;
// the first binding of a key wins), EventAudit for audit anchors.
package chaincode
