package gm

import (
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"hash"
	"sync"

	"github.com/emmansun/gmsm/sm3"
)

// SM3Size is the length of an SM3 digest.
const SM3Size = sm3.Size

// SM3 returns the SM3 digest of data.
func SM3(data []byte) [SM3Size]byte { return sm3.Sum(data) }

// NewSM3 returns a streaming SM3 hash.
func NewSM3() hash.Hash { return sm3.New() }

// MinMACKeySize is the shortest key NewMACKey accepts (128 bits).
const MinMACKeySize = 16

// ErrShortMACKey is returned for HMAC keys under MinMACKeySize bytes.
var ErrShortMACKey = errors.New("gm: HMAC-SM3 key must be at least 16 bytes")

// MACKey is an HMAC-SM3 key with its inner and outer states precomputed, so
// that a MAC of a short message costs two SM3 compressions. It is safe for
// concurrent use and cannot be compared with ==.
type MACKey struct {
	_    [0]func()
	pool sync.Pool // of *macState
}

// macState is a keyed HMAC-SM3 and the buffer its Sum writes to: a dst
// handed to hash.Hash's Sum escapes, so Sum's caller's buffer would be
// allocated on every call.
type macState struct {
	h   hash.Hash
	sum [SM3Size]byte
}

// NewMACKey precomputes HMAC-SM3 for key. The key is copied.
func NewMACKey(key []byte) (*MACKey, error) {
	if len(key) < MinMACKeySize {
		return nil, ErrShortMACKey
	}
	key = append([]byte(nil), key...)
	k := &MACKey{}
	k.pool.New = func() any { return &macState{h: hmac.New(sm3.New, key)} }
	return k, nil
}

// Sum appends HMAC-SM3(key, msg) to dst and returns the result.
func (k *MACKey) Sum(dst, msg []byte) []byte {
	st := k.pool.Get().(*macState)
	st.h.Reset()
	st.h.Write(msg)
	dst = append(dst, st.h.Sum(st.sum[:0])...)
	clear(st.sum[:])
	k.pool.Put(st)
	return dst
}

// Verify reports in constant time whether mac is HMAC-SM3(key, msg). A
// truncated mac (at least 16 bytes) is compared with the digest's prefix.
func (k *MACKey) Verify(msg, mac []byte) bool {
	if len(mac) < 16 || len(mac) > SM3Size {
		return false
	}
	var buf [SM3Size]byte
	sum := k.Sum(buf[:0], msg)
	return subtle.ConstantTimeCompare(sum[:len(mac)], mac) == 1
}

// HMACSM3 computes HMAC-SM3 (RFC 2104) once. Prefer a MACKey for
// repeated use of one key.
func HMACSM3(key, msg []byte) []byte {
	// RFC 2104 written out over a pooled digest: crypto/hmac's New would
	// allocate two digests, two pads and itself for each call (a client
	// secret is checked under its own salt every time).
	st := hmacStates.Get().(*hmacState)
	defer hmacStates.Put(st)
	return st.hmac(key, msg)
}

// hmac is HMACSM3 over st, which it leaves zero.
func (st *hmacState) hmac(key, msg []byte) []byte {
	h, pad := st.h, st.pad[:]
	if len(key) > len(pad) {
		k := sm3.Sum(key)
		copy(pad, k[:])
	} else {
		copy(pad, key)
	}
	for i := range pad {
		pad[i] ^= 0x36
	}
	h.Reset()
	h.Write(pad)
	h.Write(msg)
	inner := h.Sum(st.inner[:0])
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.Reset()
	h.Write(pad)
	h.Write(inner)
	mac := h.Sum(nil)
	// Nothing of the key or message stays in the pool. Reset leaves the
	// digest's block buffer as it was, holding the message's last partial
	// block past the inner hash: a write shorter than a block (a full one
	// would bypass the buffer) overwrites all it can hold.
	clear(pad)
	clear(inner)
	h.Reset()
	h.Write(pad[:len(pad)-1])
	h.Reset()
	return mac
}

// hmacState is HMACSM3's scratch: a digest and the padded key, zero
// between uses.
type hmacState struct {
	h     hash.Hash
	pad   [sm3.BlockSize]byte
	inner [SM3Size]byte
}

var hmacStates = sync.Pool{New: func() any { return &hmacState{h: sm3.New()} }}
