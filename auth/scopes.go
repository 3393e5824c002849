// Package auth authenticates services to a region node: the relying-party
// registry, OAuth 2.0 client credentials with private_key_jwt, scoped access
// tokens (RFC 9068), their validation, introspection and revocation.
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
)

// Scopes lists every scope a node knows.
var Scopes = []string{ScopeCredentialsIssue, ScopeStatusWrite, ScopeQRRedeem, ScopeEnroll, ScopeRegistryAdmin}
