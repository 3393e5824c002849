// Package gm owns TrustID's cryptography: the Chinese national algorithms
// SM2 (GB/T 32918), SM3 (GB/T 32905) and SM4 (GB/T 32907), HMAC-SM3, SM4-GCM,
// PEM/PKCS#8 and JWK encodings of the node's key types (SM2, P-256, Ed25519),
// and the JWS algorithm "SM2" for github.com/golang-jwt/jwt/v5.
//
// It is built on github.com/emmansun/gmsm. The JWS "SM2" algorithm is not
// registered with IANA; TrustID defines it as the GB/T 32918.2 signature over
// SM3 with Z_A computed for the default user ID "1234567812345678", encoded
// as the raw 64-byte r‖s (as ES256 does). DER signatures are rejected.
//
// Verifiers always name the algorithms they accept: see NewJWTParser.
package gm
