package wallet

import (
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/trustid-cn/trustid/gm"
)

// Errors of key storage.
var (
	// ErrNoKey: the key store holds no key under the alias.
	ErrNoKey = errors.New("wallet: no device key under this alias")
	// ErrKeyExists: Generate was asked for an alias already in use.
	ErrKeyExists = errors.New("wallet: a device key already exists under this alias")
)

// KeyStore holds SM2 device keys by alias. A phone implements it over its
// secure element (Android Keystore / StrongBox, iOS Secure Enclave through
// an SM2-capable applet or a vendor SDK) so the private key never leaves
// it; SoftwareKeys is an in-memory implementation for tests and for apps
// without one.
//
// Generate makes a new key under alias (ErrKeyExists if there is one) and
// returns its public key as the 65-byte uncompressed point 04‖X‖Y.
// PublicKey returns that point for an existing key (ErrNoKey if none).
// Sign returns the 64-byte r‖s SM2 signature (GB/T 32918.2, SM3 with Z_A
// for the default user ID 1234567812345678) of message — the message
// itself, not a digest. Implementations must be safe for concurrent use.
type KeyStore interface {
	Generate(alias string) ([]byte, error)
	PublicKey(alias string) ([]byte, error)
	Sign(alias string, message []byte) ([]byte, error)
}

// SoftwareKeys is an in-memory KeyStore. Its keys can be exported (PKCS#8)
// for an app to keep them in its own protected storage.
type SoftwareKeys struct {
	mu   sync.Mutex
	keys map[string]*gm.PrivateKey
	rand io.Reader
}

// NewSoftwareKeys returns an empty in-memory key store.
func NewSoftwareKeys() *SoftwareKeys {
	return &SoftwareKeys{keys: map[string]*gm.PrivateKey{}, rand: rand.Reader}
}

// Generate implements KeyStore.
func (s *SoftwareKeys) Generate(alias string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[alias]; ok {
		return nil, ErrKeyExists
	}
	k, err := gm.GenerateKey(s.rand)
	if err != nil {
		return nil, err
	}
	s.keys[alias] = k
	return k.PublicKey().Bytes(), nil
}

// PublicKey implements KeyStore.
func (s *SoftwareKeys) PublicKey(alias string) ([]byte, error) {
	k, err := s.key(alias)
	if err != nil {
		return nil, err
	}
	return k.PublicKey().Bytes(), nil
}

// Sign implements KeyStore.
func (s *SoftwareKeys) Sign(alias string, message []byte) ([]byte, error) {
	k, err := s.key(alias)
	if err != nil {
		return nil, err
	}
	return k.SignRaw(s.rand, message)
}

// ExportPKCS8 returns the key under alias as PKCS#8 DER, for the app's
// protected storage.
func (s *SoftwareKeys) ExportPKCS8(alias string) ([]byte, error) {
	k, err := s.key(alias)
	if err != nil {
		return nil, err
	}
	return gm.MarshalPrivateKey(k)
}

// ImportPKCS8 stores an SM2 key exported by ExportPKCS8 under alias.
func (s *SoftwareKeys) ImportPKCS8(alias string, der []byte) error {
	signer, err := gm.ParsePrivateKey(der)
	if err != nil {
		return err
	}
	k, ok := signer.(*gm.PrivateKey)
	if !ok {
		return fmt.Errorf("wallet: device keys are SM2, not %T", signer)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[alias]; ok {
		return ErrKeyExists
	}
	s.keys[alias] = k
	return nil
}

func (s *SoftwareKeys) key(alias string) (*gm.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[alias]
	if !ok {
		return nil, ErrNoKey
	}
	return k, nil
}

// storeSigner is the crypto.Signer of a key in a KeyStore: the project's
// signing code (gm.SignWith) hands a foreign SM2 signer the message and
// expects DER.
type storeSigner struct {
	store KeyStore
	alias string
	pub   *gm.PublicKey
}

func newStoreSigner(store KeyStore, alias string) (*storeSigner, error) {
	raw, err := store.PublicKey(alias)
	if err != nil {
		return nil, err
	}
	pub, err := gm.ParsePublicKeyBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("wallet: key store public key: %w", err)
	}
	return &storeSigner{store: store, alias: alias, pub: pub}, nil
}

func (s *storeSigner) Public() crypto.PublicKey { return s.pub }

func (s *storeSigner) Sign(_ io.Reader, message []byte, _ crypto.SignerOpts) ([]byte, error) {
	sig, err := s.store.Sign(s.alias, message)
	if err != nil {
		return nil, err
	}
	if len(sig) != gm.SignatureSize {
		return nil, fmt.Errorf("wallet: key store returned a %d-byte signature, want r‖s of %d", len(sig), gm.SignatureSize)
	}
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
}
