package jose

import (
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Errors of Verify and CheckTimes. Each also wraps the golang-jwt sentinel
// jwt.Parser would have returned (jwt.ErrTokenSignatureInvalid,
// jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet).
var (
	ErrSignature   = errors.New("jose: signature invalid")
	ErrExpired     = errors.New("jose: token expired")
	ErrNotYetValid = errors.New("jose: token not valid yet")
)

// JWS is a compact JWS decoded by Parse: each part base64url-decoded once,
// the header and the payload each parsed once, strictly. Its signature is
// not yet verified.
type JWS struct {
	Header  Header
	Payload map[string]any
	// PayloadJSON is the payload's JSON, base64url-decoded: the bytes
	// Payload was built from, whose strings share its memory: it must not
	// be modified.
	PayloadJSON []byte
	// PayloadCanonical says that PayloadJSON is strictjson.Marshal's
	// encoding of Payload (strictjson.ObjectCanonical).
	PayloadCanonical bool
	Signature        []byte
	signing          string // the signing input: the header and payload parts as sent
	// signingBytes is signing as bytes: the token's memory, read only.
	signingBytes []byte
}

// Parse decodes a compact JWS for verification, in one pass and with the
// checks of ParseHeader and of jwt.Parser.ParseWithClaims with a Claims
// payload, which it replaces on hot paths (jwt.Parser decodes the header
// twice and runs encoding/json over the payload before the strict
// decoder):
//
//   - exactly three dot-separated parts, each strict base64url;
//   - a strict JSON header (ParseHeader: no duplicate members, alg in
//     allow and never "none", no "crit");
//   - a strict JSON object payload of at most maxPayload bytes: no
//     duplicate keys at any depth, no trailing data, valid UTF-8.
//
// The caller then checks typ/cty and kid, finds the key, and calls Verify
// and CheckTimes, in that order, as jwt.Parser does.
func Parse(token string, allow []string, maxPayload int) (*JWS, error) {
	first, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	mid, last, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(last, '.') >= 0 {
		return nil, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	if len(first) > MaxHeader {
		return nil, fmt.Errorf("%w: header too large", ErrMalformed)
	}
	if b64url.DecodedLen(len(mid)) > maxPayload {
		if _, err := parseHeader(first, allow); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, strictjson.ErrTooLarge)
	}
	// The parts are decoded from the token's own bytes, read only (no
	// copy), into one buffer, which nothing writes once they are there:
	// the payload's strings are cut from it (strictjson.ObjectCanonical).
	src := unsafe.Slice(unsafe.StringData(token), len(token))
	buf := make([]byte, 0, b64url.DecodedLen(len(first))+b64url.DecodedLen(len(mid))+b64url.DecodedLen(len(last)))
	signing := len(first) + 1 + len(mid)
	hdrJSON, err := decodeAppend(&buf, src[:len(first)])
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	hdr, err := checkHeader(hdrJSON, allow)
	if err != nil {
		return nil, err
	}
	raw, err := decodeAppend(&buf, src[len(first)+1:signing])
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	payload, canonical, err := strictjson.ObjectCanonical(raw, maxPayload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	sig, err := decodeAppend(&buf, src[signing+1:])
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	return &JWS{Header: hdr, Payload: payload, PayloadJSON: raw, PayloadCanonical: canonical, Signature: sig,
		signing: token[:signing], signingBytes: src[:signing:signing]}, nil
}

// decodeAppend decodes src (strict base64url, appendDecode) onto the end
// of *buf, which has the room, and returns the decoded bytes (capped:
// appending to them copies).
func decodeAppend(buf *[]byte, src []byte) ([]byte, error) {
	start := len(*buf)
	b, err := appendDecode(*buf, src)
	if err != nil {
		return nil, err
	}
	*buf = b
	return b[start:len(b):len(b)], nil
}

// Verify checks the signature with pub, which must be a key for the
// header's alg (already in the caller's allow-list: Parse checked it).
// SM2 with a *gm.PublicKey is verified by gm directly (Z_A precomputed,
// raw 64-byte r‖s only, DER refused); every other key goes through the
// golang-jwt method registered for the alg, exactly as jwt.Parser calls
// it (gm.SigningMethodSM2 for other SM2 key forms, ES256, EdDSA).
func (j *JWS) Verify(pub crypto.PublicKey) error {
	alg := j.Header.String("alg")
	if !KeyMatches(pub, alg) {
		return fmt.Errorf("%w: the key is not a %s key", ErrAlgorithm, alg)
	}
	var err error
	if p, ok := pub.(*gm.PublicKey); ok && alg == gm.AlgSM2 {
		err = p.Verify(j.signingBytes, j.Signature)
	} else if m := jwt.GetSigningMethod(alg); m == nil {
		return fmt.Errorf("%w: %q has no verifier", ErrAlgorithm, alg)
	} else {
		err = m.Verify(j.signing, j.Signature, pub)
	}
	if err != nil {
		return fmt.Errorf("%w: %w: %w", ErrSignature, jwt.ErrTokenSignatureInvalid, err)
	}
	return nil
}

// CheckTimes applies the registered time claims of payload as golang-jwt's
// default validator does (both optional; iat is not checked): exp must be
// after now-leeway, nbf at most now+leeway; dates are truncated to
// jwt.TimePrecision; a date that is not a number in range is malformed.
// All failures are reported, joined.
func CheckTimes(payload map[string]any, now time.Time, leeway time.Duration) error {
	var errs []error
	if exp, ok, err := NumericDate(payload, "exp"); err != nil {
		errs = append(errs, err)
	} else if ok && !now.Before(jwt.NewNumericDate(exp).Add(leeway)) {
		errs = append(errs, fmt.Errorf("%w: %w", ErrExpired, jwt.ErrTokenExpired))
	}
	if nbf, ok, err := NumericDate(payload, "nbf"); err != nil {
		errs = append(errs, err)
	} else if ok && now.Before(jwt.NewNumericDate(nbf).Add(-leeway)) {
		errs = append(errs, fmt.Errorf("%w: %w", ErrNotYetValid, jwt.ErrTokenNotValidYet))
	}
	return errors.Join(errs...)
}
