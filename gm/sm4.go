package gm

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"

	"github.com/emmansun/gmsm/sm4"
)

// SM4KeySize is the SM4 key length in bytes.
const SM4KeySize = 16

// ErrOpen is returned when SM4-GCM authentication fails: wrong key, or
// tampered or truncated data.
var ErrOpen = errors.New("gm: SM4-GCM authentication failed (wrong key or corrupted data)")

// NewSM4GCM returns SM4 in Galois/Counter Mode with a 12-byte nonce and a
// 16-byte tag.
func NewSM4GCM(key []byte) (cipher.AEAD, error) {
	if len(key) != SM4KeySize {
		return nil, fmt.Errorf("gm: SM4 key must be %d bytes, got %d", SM4KeySize, len(key))
	}
	block, err := sm4.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("gm: SM4: %w", err)
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext with SM4-GCM under key, binding aad, and returns
// nonce‖ciphertext‖tag with a fresh random nonce read from rand.
func Seal(rand io.Reader, key, plaintext, aad []byte) ([]byte, error) {
	aead, err := NewSM4GCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := io.ReadFull(rand, out); err != nil {
		return nil, fmt.Errorf("gm: nonce: %w", err)
	}
	return aead.Seal(out, out, plaintext, aad), nil
}

// Open reverses Seal. It returns ErrOpen when the data or aad were altered or
// the key is wrong.
func Open(key, sealed, aad []byte) ([]byte, error) {
	aead, err := NewSM4GCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce, ct := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
