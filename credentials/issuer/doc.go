// Package issuer is the node's credential issuer: it secures credentials
// as the node (Issue, IssueGroup: enrollment) and as the relying parties
// accredited to issue through it (Accredit, IssueAsClient), as vc+jwt or
// SD-JWT VC with keys from the node keystore (KeySource, OwnerKeySource),
// attaches status entries from the node's status store and changes them
// (SetStatusAs; SetStatusesAs, several as one change), and serves the
// status lists (StatusList), the DID document and the SD-JWT VC issuer
// metadata.
//
// The data model, verification and status checking it builds on are
// package credentials, which links no keystore; only the node imports
// this package.
package issuer
