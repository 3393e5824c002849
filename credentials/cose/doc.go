// Package cose secures W3C verifiable credentials and presentations with
// COSE, as the "Securing with COSE" section of W3C VC-JOSE-COSE defines
// them: application/vc+cose and application/vp+cose, a COSE_Sign1 (RFC
// 9052) whose payload is the credential or presentation JSON and whose
// protected header carries alg, kid (a DID URL, as a byte string), typ
// (RFC 9596) and content type.
//
// The algorithms are ES256, ES384, ES512, EdDSA (RFC 9053) and SM2 with SM3, a
// private-use COSE algorithm (AlgSM2; see docs/credentials.md, "SM2 in
// COSE"). Verifiers name the algorithms they accept; alg must be a
// protected header parameter.
//
// Signature checking is this package's; key resolution (did:key, did:web,
// issuer metadata, the node's own keys), validFrom/validUntil, issuer
// accreditation and status are a credentials.Verifier's, exactly as for
// vc+jwt. Status list credentials can be secured as vc+cose too
// (SecureStatusList) and consumed by a StatusSource.
//
// VC-JOSE-COSE gives vp+cose no challenge binding of its own: a vp+cose
// carries the verifier's challenge and domain as the nonce and aud members
// of its payload, with iat, as TrustID's vp+jwt does.
package cose
