package auth

import (
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"unsafe"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
)

// Client secrets are 256-bit values the node generates, shown once and
// stored only as a salted hash.
//
// Why a single HMAC-SM3 and not a slow password KDF (Argon2, scrypt): a
// slow KDF makes guessing a low-entropy, human-chosen password expensive.
// These secrets are never chosen by people: each is 32 bytes from
// crypto/rand, so an offline search of 2^256 candidates is out of reach
// however fast one guess is, and a slow hash would only make every token
// request slower. The per-client random salt keys the HMAC, so equal
// secrets never give equal hashes and no table can be precomputed.
// Comparison is constant-time.
const (
	secretSize   = 32
	saltSize     = 16
	secretScheme = "hmac-sm3"
)

var rawURL = base64.RawURLEncoding

// SecretHash is the stored form of a client secret:
// "hmac-sm3$" base64url(salt) "$" base64url(HMAC-SM3(salt, secret)).
// Compare secrets with Verify, never with ==.
type SecretHash string

var errSecretHash = errors.New("auth: malformed secret hash")

// NewSecret generates a client secret (base64url of 32 random bytes) and
// its hash.
func NewSecret(rand io.Reader) (secret string, hash SecretHash, err error) {
	var b [secretSize + saltSize]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", "", failWith(ErrUnavailable, err, "cannot generate a client secret")
	}
	secret = rawURL.EncodeToString(b[:secretSize])
	salt := b[secretSize:]
	mac := gm.HMACSM3(salt, []byte(secret))
	return secret, SecretHash(secretScheme + "$" + rawURL.EncodeToString(salt) + "$" + rawURL.EncodeToString(mac)), nil
}

func (h SecretHash) parts() (salt [saltSize]byte, mac [gm.SM3Size]byte, err error) {
	scheme, rest, ok := strings.Cut(string(h), "$")
	if !ok || scheme != secretScheme {
		return salt, mac, errSecretHash
	}
	s, m, ok := strings.Cut(rest, "$")
	if !ok || !decodeInto(salt[:], s) || !decodeInto(mac[:], m) {
		return salt, mac, errSecretHash
	}
	return salt, mac, nil
}

// decodeInto decodes the base64url b64 into dst, which it must fill
// exactly, reading the string's bytes in place (base64 neither keeps nor
// changes them).
func decodeInto(dst []byte, b64 string) bool {
	if b64url.DecodedLen(len(b64)) != len(dst) {
		return false
	}
	n, err := b64url.Decode(dst, bytesOf(b64))
	return err == nil && n == len(dst)
}

// bytesOf is s's bytes in place, for a function that neither keeps nor
// changes them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func (h SecretHash) check() error {
	_, _, err := h.parts()
	return err
}

// Verify reports in constant time whether secret matches the hash.
func (h SecretHash) Verify(secret string) bool {
	v, err := h.verifier()
	return err == nil && v.verify(secret)
}

// secretVerifier is a parsed SecretHash: the MAC to match and the
// HMAC-SM3 key of its salt with the inner and outer states
// precomputed, so a check costs two SM3 compressions, not four, and no
// parse. It holds nothing the stored hash does not.
type secretVerifier struct {
	mac [gm.SM3Size]byte
	key *gm.MACKey
}

func (h SecretHash) verifier() (*secretVerifier, error) {
	salt, mac, err := h.parts()
	if err != nil {
		return nil, err
	}
	key, err := gm.NewMACKey(salt[:])
	if err != nil {
		return nil, err
	}
	return &secretVerifier{mac: mac, key: key}, nil
}

// verify reports in constant time whether secret matches.
func (v *secretVerifier) verify(secret string) bool {
	return len(secret) <= 256 && v.key.Verify(bytesOf(secret), v.mac[:])
}

// clone is SecretHash's keep for parsedCache.
func (h SecretHash) clone() SecretHash { return SecretHash(strings.Clone(string(h))) }

// String hides the hash from logs and fmt.
func (h SecretHash) String() string {
	if h == "" {
		return ""
	}
	return secretScheme + "$…"
}
