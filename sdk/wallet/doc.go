// Package wallet is TrustID's wallet SDK for holder apps on phones: an SM2
// device key behind a KeyStore (which a platform secure element can
// implement, so the private key never leaves it), the enrollment request,
// device-signed requests for online QR codes, offline QR codes made on the
// device, SD-JWT VC presentations disclosing only the claims the holder
// chose, bound to the device key, and approvals of scan-to-login sessions
// (with the PIN check logins at L3 and L4 need).
//
// Its exported API stays within what `gomobile bind` supports (signed
// integers, floats, bool, string, []byte, error, pointers to exported
// structs, interfaces of such methods; at most two results, the second an
// error), so Android and iOS apps call it directly; TestGomobileAPI checks
// it. Lists go as comma-separated strings, times as Unix seconds. It builds
// on the project's holder and qrcode packages and links no server
// dependency.
package wallet
