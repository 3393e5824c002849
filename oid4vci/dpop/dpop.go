// Package dpop makes and checks DPoP proofs (RFC 9449, OAuth 2.0
// Demonstrating Proof of Possession): a JWT of typ dpop+jwt that a client
// signs with its key, named in the jwk header, for one HTTP request (htm,
// htu), at a time (iat), once (jti), and, with an access token, over its
// hash (ath). It links no server dependency: the node's OID4VCI token and
// credential endpoints (package oid4vci) check proofs, the wallet SDK
// makes them. Replay (jti) needs state: the caller keeps it. Server
// nonces need none: Nonces seals them under a key the instances share.
package dpop

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Typ is the JOSE typ of a DPoP proof.
const Typ = "dpop+jwt"

// Header names.
const (
	// HeaderProof carries the proof of a request.
	HeaderProof = "DPoP"
	// HeaderNonce carries a server-provided nonce (RFC 9449 §8).
	HeaderNonce = "DPoP-Nonce"
)

// MaxProof bounds a proof, in bytes.
const MaxProof = 4 << 10

// ErrInvalid is the error of every proof that fails a check (error code
// invalid_dpop_proof).
var ErrInvalid = errors.New("dpop: invalid DPoP proof")

// Options are what a proof must match.
type Options struct {
	// Method and URL of the request: htm must equal Method, htu the URL
	// without query and fragment (compared after normalizing scheme and
	// host case and default ports).
	Method, URL string
	// AccessToken, when set, must be hashed in ath.
	AccessToken string
	// Now is the clock (default time.Now); a proof's iat may be at most
	// MaxAge old (default 5 minutes) and Leeway ahead (default 1 minute).
	Now            func() time.Time
	MaxAge, Leeway time.Duration
}

// Proof is a verified proof.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key: what an
	// access token is bound to (cnf.jkt).
	JKT string
	// JTI is the proof's unique identifier: the caller refuses a second
	// use while the proof would be accepted (MaxAge + Leeway).
	JTI string
	// Nonce is the server nonce the proof carries, if any.
	Nonce    string
	IssuedAt time.Time
}

type claims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   string   `json:"ath,omitempty"`
	Nonce string   `json:"nonce,omitempty"`
}

func (claims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (claims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (claims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (claims) GetIssuer() (string, error)                   { return "", nil }
func (claims) GetSubject() (string, error)                  { return "", nil }
func (claims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Verifier checks DPoP proofs signed with one of its algorithms. It is
// safe for concurrent use: build it once.
type Verifier struct {
	algs   []string
	parser *gm.JWTParser
}

// NewVerifier returns a Verifier of proofs signed with algorithms
// (required, e.g. gm.JWTAlgorithms).
func NewVerifier(algorithms []string) (*Verifier, error) {
	p, err := gm.NewJWTParser(algorithms, jwt.WithoutClaimsValidation())
	if err != nil {
		return nil, err
	}
	return &Verifier{algs: slices.Clone(algorithms), parser: p}, nil
}

// Verify checks one DPoP proof (RFC 9449 §4.3): a JWS of typ dpop+jwt
// with an allowed asymmetric alg, signed by the public key of its jwk
// header (no private members), with jti, htm, htu and iat, htm and htu
// those of the request, iat within the window, and ath the access
// token's hash when one is presented. Errors wrap ErrInvalid and say which
// check failed, without quoting the proof.
func (v *Verifier) Verify(proof string, o Options) (*Proof, error) {
	if proof == "" {
		return nil, invalid("no DPoP proof")
	}
	if len(proof) > MaxProof {
		return nil, invalid("the proof is over %d bytes", MaxProof)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * time.Minute
	}
	if o.Leeway <= 0 {
		o.Leeway = time.Minute
	}
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return nil, invalid("not a compact JWS")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if raw, err := b64url.DecodeString(parts[0]); err != nil || strictjson.Check(raw, MaxProof) != nil || json.Unmarshal(raw, &hdr) != nil {
		return nil, invalid("the header is not a base64url JSON object")
	}
	if !slices.Contains(v.algs, hdr.Alg) {
		return nil, invalid("the alg is not one allowed (%s)", strings.Join(v.algs, ", "))
	}
	payload, err := b64url.DecodeString(parts[1])
	if err != nil {
		return nil, invalid("the payload is not base64url")
	}
	var c claims
	if err := strictjson.Check(payload, MaxProof); err != nil {
		return nil, invalid("the payload is not a JSON object")
	}
	// Members other than the ones RFC 9449 names are ignored, as JWT
	// claims are; duplicates and malformed JSON are refused above.
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalid("a claim has the wrong type")
	}
	var key gm.JWK
	_, err = v.parser.ParseWithClaims(proof, &c, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != Typ {
			return nil, invalid("typ must be %s", Typ)
		}
		k, pub, err := gm.HeaderJWK(t.Header["jwk"], t.Method.Alg())
		switch {
		case t.Header["jwk"] == nil:
			return nil, invalid("the header has no jwk")
		case errors.Is(err, gm.ErrPrivateJWK):
			return nil, invalid("the jwk holds private key material")
		case errors.Is(err, gm.ErrJWKAlg):
			return nil, invalid("the alg does not match the jwk's key type")
		case err != nil:
			return nil, invalid("the jwk is not an SM2, P-256 or Ed25519 public key")
		}
		key = k
		return pub, nil
	})
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, err
		}
		switch {
		case errors.Is(err, gm.ErrCritical):
			return nil, invalid("the header has crit: no extension is understood (RFC 7515 §4.1.11)")
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return nil, invalid("the signature does not verify with the jwk")
		case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenMalformed):
			return nil, invalid("the header is malformed or its alg is not allowed")
		}
		return nil, invalid("the proof does not verify")
	}
	switch {
	case c.JTI == "" || len(c.JTI) > 256:
		return nil, invalid("jti is required (at most 256 bytes)")
	case c.IAT == nil:
		return nil, invalid("iat is required")
	case c.HTM != o.Method:
		return nil, invalid("htm is not this request's method")
	}
	if want, err1 := normalize(o.URL); err1 != nil {
		return nil, err1
	} else if got, err2 := normalize(c.HTU); err2 != nil || got != want {
		return nil, invalid("htu is not this endpoint's URL")
	}
	iat := time.Unix(int64(*c.IAT), 0)
	now := o.Now()
	if iat.After(now.Add(o.Leeway)) || iat.Before(now.Add(-o.MaxAge)) {
		return nil, invalid("iat is outside the accepted window")
	}
	if o.AccessToken != "" {
		if c.ATH == "" || c.ATH != ATH(o.AccessToken) {
			return nil, invalid("ath is missing or is not the access token's hash")
		}
	} else if c.ATH != "" {
		return nil, invalid("ath without an access token")
	}
	jkt, err := key.Thumbprint()
	if err != nil {
		return nil, invalid("the jwk has no thumbprint")
	}
	return &Proof{JKT: jkt, JTI: c.JTI, Nonce: c.Nonce, IssuedAt: iat}, nil
}

// ATH is the ath of an access token: base64url(SHA-256(token)).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// normalize is an http(s) URL without query and fragment, its scheme and
// host lower-cased and a default port dropped (RFC 9449 §4.3 point 9).
func normalize(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "HTTPS" && u.Scheme != "HTTP") || u.Host == "" || u.User != nil {
		return "", invalid("htu must be an http(s) URL")
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}

// NewProof makes a DPoP proof for a request with signer's key: a fresh
// jti (16 bytes of rand), iat now, ath when accessToken is set, and nonce
// when set.
func NewProof(signer crypto.Signer, method, target, accessToken, nonce string, now time.Time, rand io.Reader) (string, error) {
	m, err := gm.SigningMethod(signer)
	if err != nil {
		return "", err
	}
	j, err := gm.NewJWK(signer.Public(), "")
	if err != nil {
		return "", err
	}
	j.Use, j.Alg = "", ""
	jti := make([]byte, 16)
	if _, err := io.ReadFull(rand, jti); err != nil {
		return "", err
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	u.RawQuery, u.Fragment = "", ""
	c := jwt.MapClaims{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": u.String(), "iat": now.Unix()}
	if accessToken != "" {
		c["ath"] = ATH(accessToken)
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	t := jwt.NewWithClaims(m, c)
	t.Header["typ"] = Typ
	t.Header["jwk"] = j
	return t.SignedString(signer)
}
