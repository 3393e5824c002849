// Package api is TrustID's HTTP surface: the handlers, the middleware
// (request IDs, access logs, metrics, panic recovery, body limits), and the
// one place where errors become HTTP statuses. Every error leaves as JSON
// {"error": code, "error_description": message} with a stable,
// machine-readable code (the OAuth 2.0 shape, so one client parser serves
// every endpoint) and a message safe to show; causes go to the log only.
//
// api is HTTP only: a handler decodes the request, authorizes and
// rate-limits the caller, calls a use case (enrollment.Service and
// enrollment.PINChecker, the credentials issuer and verifier, the qrcode
// service), encodes the answer and maps the use case's errors.
package api
