// Package sdk is the relying-party SDK of TrustID: what a service that
// relies on a TrustID node links. It obtains and refreshes access tokens
// with private_key_jwt (SM2 or ES256 client keys, TokenSource), redeems
// online QR codes (Client.RedeemQR), verifies access tokens offline against
// the node's cached JWKS (AccessTokenVerifier) and protects a net/http
// service with them (AccessTokenVerifier.Middleware): tokens whose aud
// names the service's own API, the resource URI registered for it, so a
// token meant for the node or another party's API is refused. It verifies offline QR
// codes with cached issuer keys and status lists fetched from the node
// (NewQRVerifier, QRStatus), and verifies vc+jwt and SD-JWT VC
// credentials and presentations with cached issuer keys (JWKS, DID
// documents) and status lists honouring their ttl (NewCredentialVerifier),
// and Data Integrity and COSE (vc+cose, vp+cose) secured ones likewise
// (NewDataIntegrityVerifier, NewCOSEVerifier).
// With Nodes.Anchors set, every status list is also checked against the
// head its region anchored on the consortium ledger, as a node's verifier
// checks it (package sdk/ledgeranchors provides the heads to relying
// parties with a ledger connection).
// Login implements the relying party's side of OpenID Connect
// (discovery, authorization code with PKCE, ID token checks).
//
// Callers always name the JWS algorithms they accept; clocks (Now) and HTTP
// clients are injectable. Keys and lists are fetched only from the node
// base URLs the caller configured. The package reuses TrustID's verifier
// and holder packages (credentials, qrcode, gm) and links no server
// dependency (no Redis, bbolt, Fabric, gRPC or Prometheus, and no ledger
// client: that is sdk/ledgeranchors's, opt-in): a test in
// internal/layering guards its dependency list.
package sdk
