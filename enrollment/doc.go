// Package enrollment is the node's enrollment use case and what hangs on
// it: enrolling a holder (validate the document, check the terminal
// attestation and device proofs, derive the symbol, seal the PIN, issue
// every copy's binding and identity credentials and QR binding, write the
// audit log), changing the status of every copy of an enrollment, and
// checking a holder's PIN against the verifier sealed in a binding. It
// also adapts the node's stores to QR redemption: ListStatus (the QR
// status checker over the credential status store) and QRRelyingParties
// (QR relying parties from the auth client registry).
//
// cmd/trustid wires a Service and a PINChecker; api decodes requests,
// calls them and maps their errors (the sentinels and error types here)
// to HTTP statuses. Nothing here knows HTTP.
package enrollment
