package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"time"

	"github.com/trustid-cn/trustid/internal/b64url"
)

// Nonces makes and checks server nonces (RFC 9449 §8) without state: a
// nonce is a time window's number and 8 random bytes, sealed with an
// HMAC-SHA256 under a key every instance of a deployment shares, so any
// instance accepts the nonce another gave, and giving one writes nothing.
// A nonce is accepted in its window and the next one: it lives between
// half of Lifetime and Lifetime. It is safe for concurrent use.
type Nonces struct {
	key    []byte
	window time.Duration
	now    func() time.Time
	rand   io.Reader
}

// nonceLabel separates these MACs from any other use of the key.
const nonceLabel = "trustid dpop nonce v1\x00"

// nonceSize is the byte length of a nonce before base64url: the window
// (8), random (8) and the MAC truncated to 16 bytes.
const nonceSize = 8 + 8 + 16

// NonceLen is the length of a nonce (nonceSize bytes, base64url).
const NonceLen = 43

// ErrNonceKey: a nonce key shorter than 32 bytes.
var ErrNonceKey = errors.New("dpop: the nonce key must be at least 32 bytes")

// NewNonces returns nonces sealed with key (at least 32 bytes, secret),
// living at most lifetime (at least 2 seconds), on the clock now
// (time.Now when nil), with random bytes from rand.
func NewNonces(key []byte, lifetime time.Duration, now func() time.Time, rand io.Reader) (*Nonces, error) {
	if len(key) < 32 {
		return nil, ErrNonceKey
	}
	if lifetime < 2*time.Second {
		return nil, errors.New("dpop: a nonce lifetime is at least 2 seconds")
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{key: append([]byte(nil), key...), window: lifetime / 2, now: now, rand: rand}, nil
}

// windowAt is the number of the window holding t.
func (n *Nonces) windowAt(t time.Time) uint64 { return uint64(t.UnixNano() / int64(n.window)) }

// mac is the truncated MAC of a nonce's window and random bytes.
func (n *Nonces) mac(body []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte(nonceLabel))
	m.Write(body)
	return m.Sum(nil)[:16]
}

// New returns a fresh nonce of the current window.
func (n *Nonces) New() (string, error) {
	var b [nonceSize]byte
	binary.BigEndian.PutUint64(b[:8], n.windowAt(n.now()))
	if _, err := io.ReadFull(n.rand, b[8:16]); err != nil {
		return "", err
	}
	copy(b[16:], n.mac(b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Valid reports whether nonce is one of these nonces (its MAC verifies
// under the key) of the previous, the current or the next window: the
// next one so that an instance whose clock is a little behind another's
// takes the other's nonce at a window's boundary.
func (n *Nonces) Valid(nonce string) bool {
	if len(nonce) != NonceLen {
		return false
	}
	b, err := b64url.DecodeString(nonce)
	if err != nil || len(b) != nonceSize || !hmac.Equal(b[16:], n.mac(b[:16])) {
		return false
	}
	w, cur := binary.BigEndian.Uint64(b[:8]), n.windowAt(n.now())
	return w == cur || w+1 == cur || w == cur+1
}
