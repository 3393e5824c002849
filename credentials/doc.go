// Package credentials is the verifier side and data model of TrustID's
// verifiable credentials: the W3C Verifiable Credentials Data Model 2.0
// with strict validation, credentials and presentations secured as vc+jwt /
// vp+jwt and vc+sd-jwt / vp+sd-jwt (W3C VC-JOSE-COSE) and as SD-JWT VC
// (package sdjwt), DID
// documents and SD-JWT VC issuer metadata, resolution of did:web, did:key
// and did:jwk, status (W3C Bitstring Status List and IETF Token Status List,
// with encodings in package status and the node's file store in package
// statuslist), and the credential types a region
// node issues: the identity credential and generic attribute credentials.
// The node's issuer (keys, issuance, status changes, accreditation) is
// package credentials/issuer; this package links no keystore.
//
// Who may issue what is the trust registry's (registry.go): the node is
// its region's enrollment issuer (identity and device-binding
// credentials), and relying parties issue through it under their own
// issuer DIDs only the types an operator accredited them for (issuer.Accredit,
// IssueAsClient); every Verifier checks accreditations offline through an
// IssuerTrust over its copy of the ledger.
//
// An HTTPStatusSource with StatusAnchors (the ledger view) refuses status
// lists that do not match the heads their region anchored on the
// consortium ledger (anchor.go). Verifiers always name the JWS
// algorithms they accept and never fetch JSON-LD contexts: the contexts
// TrustID uses are bundled (see Context).
//
// VerifyRelated checks a credential's relatedResource digests (digestSRI,
// digestMultibase) against bytes the caller gives or, only when allowed,
// fetches through the guarded fetch client (related.go).
//
// The node keeps no copy of the personal attributes it signs: issuing
// records only status entries and credential IDs.
package credentials
