// Package qrcode owns TrustID's QR identity codes on the side of a holder
// app and a verifier app: the payload formats (online, offline, static and
// delegated), their strict decoders, the issuer's signing, the holder's
// signing (offline codes, requests for an online code), offline
// verification, and rendering to PNG, SVG and terminal text (Barcode). It
// links no server dependency (no store, no HTTP client): the node's online
// issue/redeem service, its holder authenticator and its cross-region
// forwarding are in package qrcode/redeem.
//
// # Formats
//
// Every payload is a text prefix naming the kind and version, then the
// base45 (RFC 9285) encoding of compact CBOR, so the whole text is in the
// QR alphanumeric set:
//
//	TIDON1:  online   [region, ref]                       ref: 16 random bytes
//	TIDOFF2: offline  {1: binding, 2: presentation, 3: device sig, ?4: delegation, ?5: disclosures}
//	TIDST1:  static   [kid, claims, issuer sig]
//
// Issuer-signed structures (the device binding, a delegation, a static
// code) are COSE_Sign1-like arrays [kid hint (8 bytes), payload (bstr),
// SM2 r‖s (64 bytes)], where the payload is a CBOR map with small integer
// keys and the signature covers a context string naming the structure, the
// kid hint and the payload. Device keys are carried compressed (33 bytes).
// The offline code's device signature covers the binding and delegation
// exactly as carried, the presentation {time, counter, ?audience,
// ?challenge} and the disclosures shown. A binding carries a per-copy
// subject handle and only salted digests of its claims; the holder copy
// (IssueBinding's result: the binding and every claim's disclosure) stays
// on the phone, and each code discloses only the claims the holder picked
// (Presentation.Claims). testdata/*.golden shows each format in CBOR diagnostic
// notation (regenerate with go test -run Golden -update).
//
// Decoders are strict and return one sentinel per fault: ErrPrefix,
// ErrVersion, ErrKind, ErrTooLarge, ErrTruncated, ErrTrailingData,
// ErrDuplicateField, ErrUnknownField, ErrMalformed (wrong types, missing
// fields, out-of-range values, indefinite lengths, tags; and, also
// matching ErrNonCanonical, any encoding but the canonical one, so one
// content has one text).
//
// # Sizes
//
// Asserted by TestSizes from the QR version go-qrcode picks at level M: an
// online code is 42 characters (version 3; target ≤ 6); an offline code
// showing no claim 451 characters without a challenge and 569 with the
// largest challenge and audience (versions 13 and 15; target ≤ 15), and
// showing one claim (age_over_18) 509 and 628 (versions 14 and 16: the
// target holds without the largest challenge and audience); a
// static code 282 characters (version 10); an offline code carrying a
// delegation with masked names and a challenge 760 characters (version
// 18). Subjects are 33-byte copy handles.
//
// # Verification
//
// A Verifier checks offline and static codes with no network: the issuer
// signature with keys from an IssuerKeySource (cached by kid hint and
// decoded once), the device signature, validity, status through a
// StatusChecker (fail closed), the freshness window, the challenge and
// audience, the delegation (signature, presenter, validity, status, scope)
// and finally a CounterStore that rejects replays (equal counter) and
// suspected clones (lower counter). BenchmarkVerifyOffline sits next to
// BenchmarkSM2VerifyBaseline.
//
// # Online codes
//
// An online code carries only the issuing region and a random 128-bit
// reference (NewOnlineCode, DecodeOnline); the record behind it stays at
// the issuing node (package qrcode/redeem). A holder app asks for one with
// a HolderRequest signed by its device key (SignHolderRequest) for
// PurposeOnlineCode; the node checks it with Verifier.VerifyHolderRequest,
// which takes the purpose each route expects (a login approval or refusal
// is a HolderRequest for its own purpose). ErrorCode and ErrorFromCode
// map this package's errors to and from the wire codes of the node's API.
//
// # Interfaces a verifier wires
//
// The package declares what it consumes: IssuerKeySource, StatusChecker
// and CounterStore.
package qrcode
