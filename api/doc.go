// Package api is TrustID's HTTP surface: the handlers, the middleware
// (request IDs, access logs, metrics, panic recovery, body limits), and the
// one place where errors become HTTP statuses. Every error leaves as JSON
// {"error": code, "error_description": message} with a stable,
// machine-readable code (the OAuth 2.0 shape, so one client parser serves
// every endpoint) and a message safe to show; causes go to the log only.
package api
