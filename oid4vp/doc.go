// Package oid4vp is TrustID's verifier of OpenID for Verifiable
// Presentations 1.0: a relying party registered with the node asks for a
// presentation with a DCQL query (package dcql); the node refuses queries
// for claims the relying party is not registered for, then publishes a
// signed request object (typ oauth-authz-req+jwt) by reference
// (request_uri) for the wallet, under the client identifier
// verifier_attestation:<client_id>: a Verifier Attestation JWT signed by
// the node attests that the relying party is registered, and the node
// signs the request with the key that attestation binds.
//
// The wallet answers at the response URI with direct_post or
// direct_post.jwt (a JWE, ECDH-ES with A128GCM or A256GCM, to a P-256 key
// derived for the transaction from a node secret, so no private key is
// stored). The verifier checks state, every presented dc+sd-jwt through
// credentials.Verifier (issuer signature and accreditation, status, key
// binding with the transaction's nonce and aud = client_id, sd_hash, iat),
// the DCQL query (credential sets, claim sets, values), and spends the
// transaction once. The relying party's back end then fetches the result,
// holding only the claims it asked for, with its token (and the
// response_code the wallet's redirect carried, for same-device flows).
//
// Errors are the OpenID4VP / OAuth codes (Error.Code). The package keeps
// its state in a Store (the node's ephemeral store), each transaction and
// its result sealed under the transaction ID (of which the store keeps
// only a digest), and never logs.
package oid4vp
