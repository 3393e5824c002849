// Package redeem is the node's side of TrustID's online QR codes: the
// Service that issues and redeems them, the holder authenticator that
// admits a holder app's signed request (BindingAuthenticator), and the
// forwarding of codes of other regions to their home node (HTTPPeers,
// NodeAssertions). Wire formats, holder signing and offline
// verification are in package qrcode, whose error sentinels this package
// returns.
//
// # Online codes
//
// Service.Issue stores a record under a fresh 128-bit reference (TTL 60 s
// by default), sealed with SM4-GCM under a key derived from the reference:
// the record holds only the copy's subject handle, the assurance level,
// the region, the expiry and the claims the holder consented to. Redeem
// consumes it atomically (exactly one redemption succeeds) and returns the
// verifier's pairwise ID, the assurance level, the region and the claims
// both consented and allowed by the verifier's registration
// (RelyingParty). Codes of another region are forwarded to it by a
// PeerRedeemer (HTTPPeers with NodeAssertions, node-signed short-lived
// JWTs with single-use IDs, over https or loopback http only). The home
// node verifies an assertion with the calling region's key from the trust
// registry (RegionKeys) and takes the relying party, its sector and its
// claims from the registry too (PeerParties), never from the request.
//
// # Interfaces the node wires
//
// The package declares what it consumes: TokenStore and NonceStore (the
// ephemeral store), RelyingParties, PairwiseDeriver, PeerRedeemer,
// PeerCredentials, PeerAuthenticator, RegionKeys, PeerParties and
// HolderAuthenticator, and from
// package qrcode a StatusChecker and, through the Verifier, an
// IssuerKeySource.
package redeem
