// Package credentials owns TrustID's verifiable credentials: the W3C
// Verifiable Credentials Data Model 2.0 with strict validation, credentials
// and presentations secured as vc+jwt / vp+jwt (W3C VC-JOSE-COSE) and as
// SD-JWT VC (package sdjwt), the node's issuer identity (did:web, its DID
// document and SD-JWT VC issuer metadata), resolution of did:web, did:key
// and did:jwk, status (W3C Bitstring Status List and IETF Token Status List,
// with encodings in package status and the node's file store in package
// statuslist), and the credential types a region
// node issues: the identity credential and generic attribute credentials.
//
// Who may issue what is the trust registry's (registry.go): the node is
// its region's enrollment issuer (identity and device-binding
// credentials), and relying parties issue through it under their own
// issuer DIDs only the types an operator accredited them for (Accredit,
// IssueAsClient); every Verifier checks accreditations offline through an
// IssuerTrust over its copy of the ledger.
//
// Issuing keys come from the node keystore through the small KeySource
// interface (and OwnerKeySource for the issuers it signs for); status is
// kept by a StatusStore; an enrollment's credentials share their status
// (IssueGroup). With an Anchorer (the ledger
// outbox) every status change and each list's new head are anchored on the
// consortium ledger, and an HTTPStatusSource with StatusAnchors (the
// ledger view) refuses lists that do not match their anchored heads
// (anchor.go). Verifiers always name the JWS
// algorithms they accept and never fetch JSON-LD contexts: the contexts
// TrustID uses are bundled (see Context).
//
// The node keeps no copy of the personal attributes it signs: issuing
// records only status entries and credential IDs.
package credentials
