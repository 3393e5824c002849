// Package dataintegrity secures verifiable credentials and presentations
// with embedded W3C Data Integrity proofs (VC Data Integrity 1.0): the
// cryptosuites eddsa-rdfc-2022 (Ed25519), ecdsa-rdfc-2019 (P-256 and
// P-384) and TrustID's sm2-rdfc-2025 (SM2 with SM3, specified in
// docs/sm2-cryptosuite.md), all over RDF Dataset Canonicalization
// (RDFC-1.0, package credentials/jsonld), with public keys as Multikey.
//
// AddProof signs, and on a document that already has proofs adds one to
// its proof set or chain (VC Data Integrity 1.0 §4.3; a chained proof,
// naming earlier ones in previousProof, secures them with the document).
// A Verifier checks every proof of the document (§4.5: the previousProof
// references must resolve within the set, ids may not repeat, one proof
// must be the issuer's or holder's, and at most MaxCanonicalDocuments
// distinct previousProof sets, each a canonicalization of the document),
// each for its type, cryptosuite (against
// the caller's allow-list), purpose, verification method (resolved through
// a KeyResolver, such as credentials.Resolver, and tied to the issuer or
// holder), created/expires, challenge and domain, the key type against the
// cryptosuite, and the signature over the canonical proof configuration
// and document; then a CredentialChecker (credentials.Verifier) applies
// the data model, validity, issuer trust and status checks every secured
// credential gets. It reports each proof (ProofResult: who signed, with
// which cryptosuite, whether the issuer or holder), and Cryptosuite names
// the issuer's (holder's), the document's securing mechanism. A
// presentation's verifier names how its embedded credentials are bound
// to the holder (PresentationOptions.HolderBinding, required), which VC
// 2.0 leaves to the verifier's policy. Bitstring Status List credentials secured with a proof
// (served as application/vc) are verified by VerifyStatusList and read by
// a StatusSource.
package dataintegrity
