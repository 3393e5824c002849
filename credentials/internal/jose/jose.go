// Package jose holds the compact-JWS plumbing shared by vc+jwt, SD-JWT and
// status list tokens: a strict pre-check of the protected header (no
// duplicate members, an allowed algorithm, never "none", no "crit"), a
// jwt.Claims type that decodes the payload strictly, so the bytes that
// were signed are the bytes that are read, and Parse/Verify/CheckTimes,
// which make the same checks as jwt.Parser with those two in one pass
// over the token, for the verification hot path.
package jose

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Errors.
var (
	ErrMalformed = errors.New("jose: malformed JWS")
	ErrAlgorithm = errors.New("jose: algorithm not allowed")
)

// MaxHeader bounds a protected header.
const MaxHeader = 4 << 10

// Header is a decoded protected header.
type Header map[string]any

// String returns a string member, or "".
func (h Header) String(name string) string {
	s, _ := h[name].(string)
	return s
}

// ParseHeader decodes and checks the protected header of a compact JWS:
// three base64url parts, a strict JSON header, alg in allow (and never
// "none"), no "crit".
func ParseHeader(token string, allow []string) (Header, error) {
	first, rest, ok := strings.Cut(token, ".")
	if !ok || strings.Count(rest, ".") != 1 {
		return nil, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	return parseHeader(first, allow)
}

// parseHeader decodes and checks the encoded protected header first.
func parseHeader(first string, allow []string) (Header, error) {
	if len(first) > MaxHeader {
		return nil, fmt.Errorf("%w: header too large", ErrMalformed)
	}
	raw, err := b64url.DecodeString(first)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	return checkHeader(raw, allow)
}

// checkHeader parses and checks a decoded protected header.
func checkHeader(raw []byte, allow []string) (Header, error) {
	m, err := strictjson.Object(raw, MaxHeader)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	h := Header(m)
	alg, _ := h["alg"].(string)
	if alg == "" || strings.EqualFold(alg, "none") || !slices.Contains(allow, alg) {
		return nil, fmt.Errorf("%w: %q (allowed: %v)", ErrAlgorithm, alg, allow)
	}
	if _, ok := h["crit"]; ok {
		return nil, fmt.Errorf("%w: crit header parameters are not understood", ErrMalformed)
	}
	return h, nil
}

// Claims is a jwt.Claims whose payload is decoded strictly into Raw.
type Claims struct {
	Max int // payload bound in bytes; 0 means 256 KiB
	Raw map[string]any
}

// UnmarshalJSON decodes the payload strictly.
func (c *Claims) UnmarshalJSON(b []byte) error {
	max := c.Max
	if max == 0 {
		max = 256 << 10
	}
	m, err := strictjson.Object(b, max)
	if err != nil {
		return err
	}
	c.Raw = m
	return nil
}

func (c *Claims) date(name string) (*jwt.NumericDate, error) {
	t, ok, err := NumericDate(c.Raw, name)
	if !ok || err != nil {
		return nil, err
	}
	return jwt.NewNumericDate(t), nil
}

// NumericDate reads the NumericDate claim name of payload (RFC 7519 §2):
// ok is false when it is absent; a value that is not a number in
// [0, 1e11] seconds is an error.
func NumericDate(payload map[string]any, name string) (t time.Time, ok bool, err error) {
	v, ok := payload[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, true, fmt.Errorf("%w: %s must be a number", ErrMalformed, name)
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, true, fmt.Errorf("%w: %s out of range", ErrMalformed, name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// GetExpirationTime implements jwt.Claims.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.date("exp") }

// GetIssuedAt implements jwt.Claims.
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error) { return c.date("iat") }

// GetNotBefore implements jwt.Claims.
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return c.date("nbf") }

// GetIssuer implements jwt.Claims.
func (c *Claims) GetIssuer() (string, error) { s, _ := c.Raw["iss"].(string); return s, nil }

// GetSubject implements jwt.Claims.
func (c *Claims) GetSubject() (string, error) { s, _ := c.Raw["sub"].(string); return s, nil }

// GetAudience implements jwt.Claims.
func (c *Claims) GetAudience() (jwt.ClaimStrings, error) {
	switch a := c.Raw["aud"].(type) {
	case string:
		return jwt.ClaimStrings{a}, nil
	case []any:
		var out jwt.ClaimStrings
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%w: aud must hold strings", ErrMalformed)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, nil
}

// Sign makes a compact JWS of payload with the header members given
// (alg is set from the signer's key; kid and typ are the caller's).
func Sign(payload any, header map[string]any, signer crypto.Signer) (string, error) {
	method, err := gm.SigningMethod(signer)
	if err != nil {
		return "", err
	}
	h := make(map[string]any, len(header)+1)
	for k, v := range header {
		h[k] = v
	}
	h["alg"] = method.Alg()
	// The JSON of payload and header goes to a pooled scratch buffer; the
	// token is built in one allocation sized for it and its signature.
	bp := scratchBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledScratch {
			scratchBufs.Put(bp)
		}
	}()
	scratch, err := strictjson.Append((*bp)[:0], payload)
	if err != nil {
		return "", err
	}
	n := len(scratch)
	scratch, err = strictjson.Append(scratch, h)
	*bp = scratch
	if err != nil {
		return "", err
	}
	body, hdr := scratch[:n], scratch[n:]
	enc := base64.RawURLEncoding
	hl, bl := enc.EncodedLen(len(hdr)), enc.EncodedLen(len(body))
	tok := make([]byte, hl+1+bl, hl+1+bl+1+enc.EncodedLen(maxSignature))
	enc.Encode(tok, hdr)
	tok[hl] = '.'
	enc.Encode(tok[hl+1:], body)
	var sig []byte
	if method.Alg() == gm.AlgSM2 {
		sig, err = gm.SignWith(rand.Reader, signer, tok)
	} else {
		sig, err = method.Sign(string(tok), signer)
	}
	if err != nil {
		return "", err
	}
	tok = append(tok, '.')
	return string(enc.AppendEncode(tok, sig)), nil
}

// maxSignature is the longest signature Sign makes room for (ES512's
// 132 bytes; a longer one is appended all the same).
const maxSignature = 132

// scratchBufs holds Sign's scratch buffers, up to maxPooledScratch bytes.
var scratchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledScratch = 64 << 10

// KeyMatches reports whether pub is a key for the JWS algorithm alg.
func KeyMatches(pub crypto.PublicKey, alg string) bool {
	a, err := gm.Alg(pub)
	return err == nil && a == alg
}
