// Package oid4vci is TrustID's credential issuer for OpenID for Verifiable
// Credential Issuance 1.0: the credential issuer metadata, credential
// offers (by value and by reference, as links and QR codes), the
// pre-authorized code flow at its own token endpoint (with a transaction
// code that burns the offer after a few wrong tries), the nonce endpoint,
// the credential endpoint (the jwt proof type with SM2, ES256 and EdDSA
// holder keys, dc+sd-jwt, jwt_vc_json and ldp_vc (Data Integrity, one
// configuration per cryptosuite), batch issuance of one credential per
// holder key) and the notification endpoint; DPoP-bound tokens (RFC
// 9449, with stateless server nonces) and wallet attestations (OID4VCI
// 1.0 Appendix E) at the PAR and token endpoints, with the challenge
// endpoint.
//
// It owns the protocol only. Signing, status entries and accreditation
// stay with the credential issuer, reached through the one-method Signer;
// single-use codes, nonces and tokens live in a Store (memory or Redis).
// What the node stores is keyed by the store's hashes of the secrets and
// sealed (SM4-GCM) under keys derived from those secrets: a stored offer,
// code or token record is readable only by whoever holds the link, code
// or token, and nothing in storage or logs carries a code, a token or the
// holder's claims in clear. Offers themselves carry no claims: only the
// issuer, the configuration IDs and the grant.
//
// HTTP handlers live in package api (oid4vci.go there); cmd/trustid wires
// the service to the node's issuer and store.
package oid4vci
