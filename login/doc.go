// Package login is the node's OpenID Connect provider for user login: a
// relying party sends the browser to the authorization endpoint, the page
// shows a login QR, the holder's app scans it and approves the login
// session by signing its challenge with the bound device key, and the
// relying party exchanges the authorization code (PKCE S256, single use)
// for an ID token whose sub is pairwise for the party's sector (OpenID
// Connect Core §8.1), an access token for the userinfo endpoint and a
// rotating refresh token.
//
// Provider owns the protocol: the authorization request's checks
// (Authorize), login sessions (Describe, Approve, Complete; Extend for
// more time), the token endpoint's authorization_code and refresh_token
// grants (Exchange, Refresh), userinfo and RP-initiated logout. The same
// sessions log the holder in for other protocols of the node
// (AuthorizeFor, Redeem, Revoked: OID4VCI's authorization code flow),
// and the holder may refuse a login (Deny: access_denied). Everything it
// keeps is in the ephemeral store (memory or Redis) under keys the store
// hashes: sessions, codes and tokens are single use and short lived, and
// no node keeps per-person state beyond them. Package api serves it over
// HTTP.
//
// Errors are *Error values with an OAuth 2.0 / OpenID Connect error code
// and a description safe to show; an *AuthorizeError says whether it may
// be sent back to the client's redirect URI (RFC 6749 §4.1.2.1). The
// package never logs.
package login
