// Package auth authenticates services to a region node: the relying-party
// registry, OAuth 2.0 client credentials with private_key_jwt, scoped access
// tokens (RFC 9068), their validation, introspection and revocation.
//
// The registry is a ClientStore: a node's is on the ledger
// (ledger/registry.Clients), MemoryStore keeps one in memory, clients.json
// is the import/export format (ParseClientsFile, MarshalClientsFile), and
// package clientstoretest is the suite every implementation passes.
//
// Clients authenticate with a JWT assertion signed by a key in their JWKS
// (SM2 or ES256, RFC 7523), or, when registered so, with a node-generated
// secret over HTTP Basic. Service issues access tokens as at+jwt signed
// with the node's active SM2 key: iss and aud are the node's issuer URL, so
// a token is good only at the node (the region) that issued it; sub and
// client_id are the client; scope is what was granted. Service.Authorize
// checks them for protected routes, with a validated-token cache.
//
// The package returns errors of the kinds in errors.go (ErrInvalidClient,
// ErrInvalidToken, ...), each an *Error with a description safe to show;
// package api turns them into OAuth error responses. It never logs.
package auth

// Scopes a node grants. Each protected route needs exactly one; the table of
// routes to scopes is in package api (protect calls).
const (
	// ScopeCredentialsIssue lets a service issue credentials
	// (/credentials/issue, /v1/credentials...).
	ScopeCredentialsIssue = "credentials:issue"
	// ScopeStatusWrite lets a service revoke, suspend or reinstate.
	ScopeStatusWrite = "status:write"
	// ScopeQRRedeem lets a verifier redeem online QR codes.
	ScopeQRRedeem = "qr:redeem"
	// ScopeEnroll lets a holder app back end or counter terminal enroll
	// people.
	ScopeEnroll = "identity:enroll"
	// ScopeRegistryAdmin lets an operator manage clients, terminals and
	// issuers.
	ScopeRegistryAdmin = "registry:admin"
	// ScopePresentationRequest lets a relying party ask holders' wallets
	// for presentations through OpenID for Verifiable Presentations and
	// fetch their results (/v1/oid4vp/...).
	ScopePresentationRequest = "presentation:request"
)

// Scopes lists every scope a node knows.
var Scopes = []string{ScopeCredentialsIssue, ScopeStatusWrite, ScopeQRRedeem, ScopeEnroll, ScopeRegistryAdmin, ScopePresentationRequest}
