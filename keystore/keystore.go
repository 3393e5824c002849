// Package keystore keeps a node's keys in its data directory, encrypted at
// rest with SM4-GCM under a key-encryption key (KEK): the region's signing
// keys (SM2 primary; ES256 and EdDSA for international interop), each with a
// kid, a creation time and a state, and named, versioned symmetric secrets
// (such as the identity-symbol key) for the packages that need them.
//
// A signing key moves active → retiring → retired. Exactly one key per
// algorithm is active and signs; retiring keys no longer sign but still
// verify what they signed and stay published; retired keys are kept as
// public history only (their private half is destroyed).
//
// Besides its own keys, a node may hold signing keys for issuers it signs
// for (the relying parties it has accredited, each its own issuer):
// owner keys, named by the issuer's identifier, with the same states.
// They are never the node's: Active, Published, Lookup, Keys, Rotate and
// Retire see only the node's keys, OwnerKeys, OwnerActive and
// EnsureOwnerKeys only an owner's.
//
// The file is written atomically (temp file, fsync, rename; each write
// first removes a temp file a crash left) and is never overwritten after
// a failed read: a wrong KEK or a damaged file stops start-up with an
// error naming the file and the reason. A change that would make the
// file larger than it reads back (64 MiB: some 110,000 keys, or 36,000
// accredited issuers) is refused with ErrTooLarge. Every change
// (rotate, retire, a new or imported secret, creating the file) takes an
// exclusive lock on the file plus ".lock", re-reads the file under it and
// applies the change to what it read, so two processes (trustid serve and
// trustid keys rotate, or two CLI commands) never lose each other's
// changes. Reseal changes the KEK the same way.
package keystore

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/atomicfile"
	"github.com/trustid-cn/trustid/internal/filelock"
)

// Key states.
const (
	StateActive   = "active"
	StateRetiring = "retiring"
	StateRetired  = "retired"
)

// Errors.
var (
	ErrWrongKEK   = errors.New("keystore: cannot decrypt with this key-encryption key (wrong TRUSTID_KEK?)")
	ErrCorrupted  = errors.New("keystore: file is corrupted")
	ErrNotFound   = errors.New("keystore: no such key")
	ErrBadKEK     = errors.New("keystore: the key-encryption key must be 16 bytes (32 hex digits)")
	ErrNoActive   = errors.New("keystore: no active key for algorithm")
	ErrKeyState   = errors.New("keystore: key is not in a state that allows this")
	ErrBadSecret  = errors.New("keystore: invalid secret")
	ErrSecretSeen = errors.New("keystore: a different secret with this name and version exists")
	ErrBadOwner   = errors.New("keystore: an owner is 1-256 printable ASCII characters without spaces")
	ErrSameKEK    = errors.New("keystore: the new key-encryption key is the one that seals the keystore")
	// ErrTooLarge: the change would make the file larger than it can be
	// read back (64 MiB); nothing was changed.
	ErrTooLarge = errors.New("keystore: the keystore would be larger than it can be read back")
	// ErrSecretRemoved: ImportSecret was given a version RemoveSecret
	// removed, with another value than the one removed.
	ErrSecretRemoved = errors.New("keystore: this version of the secret was removed and held another value (a version names one value for good)")
)

// Algorithms holds the signing algorithms a node keeps a key for.
var Algorithms = []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA}

const fileFormat = "trustid-keystore/1"

// maxFile is the largest keystore file Open reads and a change may write
// (a variable only so that a test can lower it).
var maxFile = 64 << 20

// Key is one signing key. Signer is nil for retired keys.
type Key struct {
	// Owner is empty for the node's own keys, else the identifier of the
	// issuer the node holds the key for.
	Owner   string
	Kid     string
	Alg     string
	State   string
	Created time.Time
	// Retiring is when the key stopped signing, Retired when it stopped
	// verifying; zero while not reached.
	Retiring, Retired time.Time
	Public            crypto.PublicKey
	Signer            crypto.Signer
}

// JWK returns the key's public JWK.
func (k Key) JWK() (gm.JWK, error) { return gm.NewJWK(k.Public, k.Kid) }

// String names the key by algorithm, kid, owner and state, never its
// private half; Format and LogValue print only that, for every verb and
// every slog handler (a Signer printed or marshalled shows its scalar).
func (k Key) String() string {
	if k.Owner != "" {
		return fmt.Sprintf("%s key %s of %s (%s)", k.Alg, k.Kid, k.Owner, k.State)
	}
	return fmt.Sprintf("%s key %s (%s)", k.Alg, k.Kid, k.State)
}

// Format prints String for every verb.
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue implements slog.LogValuer with String.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Secret is a named, versioned symmetric secret.
type Secret struct {
	_       [0]func()
	Name    string
	Version int
	Created time.Time
	value   []byte
}

// Value returns the secret bytes. Handle them as a secret.
func (s *Secret) Value() []byte { return s.value }

// String never prints the value.
func (s *Secret) String() string { return fmt.Sprintf("%s/v%d", s.Name, s.Version) }

// Format prints String for every verb (%#v printed the value).
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// Options configures Open. The zero value uses crypto/rand and time.Now.
type Options struct {
	Rand io.Reader
	Now  func() time.Time
}

// Store is an open keystore. It is safe for concurrent use.
type Store struct {
	path string
	kek  []byte
	rand io.Reader
	now  func() time.Time

	mu      sync.RWMutex
	keys    []Key
	secrets []*Secret
	gen     atomic.Uint64 // moved after each change of keys (Generation)
}

// ResolveKEK returns the KEK given in value (see ParseKEK) or, when value
// is empty, the development KEK kept in devPath, generating it on first use.
// dev reports that the development KEK was used: callers must warn
// that it protects nothing against someone who can read the data directory.
// Processes starting together on a fresh data directory all get the one
// development KEK the first of them wrote.
func ResolveKEK(value, devPath string, rnd io.Reader) (kek []byte, dev bool, err error) {
	if value != "" {
		kek, err = ParseKEK(value)
		return kek, false, err
	}
	kek, err = readDevKEK(devPath)
	if !errors.Is(err, os.ErrNotExist) {
		return kek, true, err
	}
	kek = make([]byte, gm.SM4KeySize)
	if _, err := io.ReadFull(rnd, kek); err != nil {
		return nil, true, fmt.Errorf("keystore: random: %w", err)
	}
	// Never over another process's: it may have sealed a keystore with it.
	err = atomicfile.WriteNew(devPath, []byte(hex.EncodeToString(kek)+"\n"), 0o600)
	if errors.Is(err, os.ErrExist) {
		kek, err = readDevKEK(devPath)
	}
	if err != nil {
		return nil, true, err
	}
	return kek, true, nil
}

// readDevKEK reads the development KEK file. An error wraps
// os.ErrNotExist when it is missing.
func readDevKEK(devPath string) ([]byte, error) {
	raw, err := os.ReadFile(devPath)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	kek, err := ParseKEK(string(bytes.TrimSpace(raw)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", devPath, err)
	}
	return kek, nil
}

// ParseKEK decodes a KEK given as 32 hex digits or as base64 of 16 bytes.
func ParseKEK(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == gm.SM4KeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == gm.SM4KeySize {
			return b, nil
		}
	}
	return nil, ErrBadKEK
}

// Open loads the keystore at path, or creates it with one active key per
// algorithm in Algorithms when the file does not exist.
func Open(path string, kek []byte, opts Options) (*Store, error) {
	if len(kek) != gm.SM4KeySize {
		return nil, ErrBadKEK
	}
	s := &Store{path: path, kek: slices.Clone(kek), rand: opts.Rand, now: opts.Now}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.now == nil {
		s.now = time.Now
	}
	err := s.load()
	if errors.Is(err, os.ErrNotExist) {
		// Create it under the lock: another process may be creating it
		// too, and then its keys are the ones kept.
		err = s.update(true, func(c *contents) error {
			if len(c.keys) > 0 || len(c.secrets) > 0 {
				return errUnchanged
			}
			for _, alg := range Algorithms {
				if _, err := s.newKey(c, alg); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the keystore file.
func (s *Store) Path() string { return s.path }

// Reload re-reads the file, for a running server after `trustid keys
// rotate`. On error the keys in memory are kept.
func (s *Store) Reload() error { return s.load() }

// Generation changes whenever the keys in memory are replaced (a Reload,
// a change made through this Store), so a cache of them can tell cheaply
// that it must read them again. Read it before the keys: a generation
// read after them may already name a later change.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// Active returns the signing key for alg.
func (s *Store) Active(alg string) (Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return active(s.keys, "", alg)
}

func active(keys []Key, owner, alg string) (Key, error) {
	for _, k := range keys {
		if k.Owner == owner && k.Alg == alg && k.State == StateActive {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("%w %s", ErrNoActive, alg)
}

// Lookup returns the node's key with the given kid, in any state.
func (s *Store) Lookup(kid string) (Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range s.keys {
		if k.Owner == "" && k.Kid == kid {
			return k, nil
		}
	}
	return Key{}, ErrNotFound
}

// Keys lists every key of the node, oldest first.
func (s *Store) Keys() []Key { return s.OwnerKeys("") }

// OwnerKeys lists every key held for owner, oldest first ("" lists the
// node's own).
func (s *Store) OwnerKeys(owner string) []Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Key
	for _, k := range s.keys {
		if k.Owner == owner {
			out = append(out, k)
		}
	}
	return out
}

// OwnerActive returns the signing key held for owner for alg.
func (s *Store) OwnerActive(owner, alg string) (Key, error) {
	if owner == "" {
		return Key{}, ErrBadOwner
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return active(s.keys, owner, alg)
}

// EnsureOwnerKeys makes an active key for owner in each algorithm of
// Algorithms that has none, and returns every key held for owner.
func (s *Store) EnsureOwnerKeys(owner string) ([]Key, error) {
	if owner == "" || len(owner) > 256 || strings.IndexFunc(owner, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return nil, ErrBadOwner
	}
	err := s.update(false, func(c *contents) error {
		changed := false
		for _, alg := range Algorithms {
			if _, err := active(c.keys, owner, alg); err == nil {
				continue
			}
			k, err := s.newKey(c, alg)
			if err != nil {
				return err
			}
			c.keys[len(c.keys)-1].Owner, k.Owner = owner, owner
			changed = true
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.OwnerKeys(owner), nil
}

// Published lists the keys that still verify (active and retiring): the
// ones a JWKS or DID document publishes.
func (s *Store) Published() []Key {
	var out []Key
	for _, k := range s.Keys() {
		if k.State != StateRetired {
			out = append(out, k)
		}
	}
	return out
}

// Rotate makes a new active key for alg; the previous active key becomes
// retiring, so what it signed keeps verifying.
func (s *Store) Rotate(alg string) (Key, error) {
	var k Key
	err := s.update(false, func(c *contents) error {
		now := s.now().UTC()
		for i := range c.keys {
			if c.keys[i].Owner == "" && c.keys[i].Alg == alg && c.keys[i].State == StateActive {
				c.keys[i].State, c.keys[i].Retiring = StateRetiring, now
			}
		}
		var err error
		k, err = s.newKey(c, alg)
		return err
	})
	if err != nil {
		return Key{}, err
	}
	return k, nil
}

// Retire ends a retiring key: it no longer verifies and its private half is
// destroyed. An active key must be rotated first.
func (s *Store) Retire(kid string) error {
	return s.update(false, func(c *contents) error {
		i := slices.IndexFunc(c.keys, func(k Key) bool { return k.Owner == "" && k.Kid == kid })
		if i < 0 {
			return ErrNotFound
		}
		if c.keys[i].State != StateRetiring {
			return fmt.Errorf("%w: %s is %s (rotate it first)", ErrKeyState, kid, c.keys[i].State)
		}
		c.keys[i].State, c.keys[i].Retired, c.keys[i].Signer = StateRetired, s.now().UTC(), nil
		return nil
	})
}

// Secret returns the newest version of the named secret, creating version 1
// with size random bytes when there is none.
func (s *Store) Secret(name string, size int) (*Secret, error) {
	if name == "" || size < 16 || size > 64 {
		return nil, fmt.Errorf("%w: name required, 16..64 bytes", ErrBadSecret)
	}
	s.mu.RLock()
	sec := latest(s.secrets, name)
	s.mu.RUnlock()
	if sec != nil {
		return sec, nil
	}
	err := s.update(false, func(c *contents) error {
		// Another process may have created it since this one read the file.
		if sec = latest(c.secrets, name); sec != nil {
			return errUnchanged
		}
		v := make([]byte, size)
		if _, err := io.ReadFull(s.rand, v); err != nil {
			return fmt.Errorf("keystore: random: %w", err)
		}
		sec = &Secret{Name: name, Version: 1, Created: s.now().UTC(), value: v}
		c.secrets = append(c.secrets, sec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sec, nil
}

// SecretVersion returns one version of a named secret.
func (s *Store) SecretVersion(name string, version int) (*Secret, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sec := range s.secrets {
		if sec.Name == name && sec.Version == version {
			return sec, nil
		}
	}
	return nil, ErrNotFound
}

// RemoveSecret removes an older version of a named secret, such as a
// national key version every holder has migrated from (docs/identity.md,
// "Key-version migration"). The newest version stays, since it is the one
// that derives: removing it is ErrKeyState; a version the keystore does not
// hold is ErrNotFound. The keystore keeps the removed version's
// fingerprint (never its value), so that ImportSecret gives that version
// no other value. Processes that read the secret before keep their copy
// until they restart.
func (s *Store) RemoveSecret(name string, version int) error {
	return s.update(false, func(c *contents) error {
		i := slices.IndexFunc(c.secrets, func(sec *Secret) bool { return sec.Name == name && sec.Version == version })
		if i < 0 {
			return ErrNotFound
		}
		if latest(c.secrets, name).Version == version {
			return ErrKeyState
		}
		c.removed = append(slices.Clone(c.removed), removedSecret{name: name, version: version,
			fingerprint: fingerprint(name, version, c.secrets[i].value), removed: s.now().UTC()})
		c.secrets = slices.Delete(slices.Clone(c.secrets), i, i+1)
		return nil
	})
}

// ImportSecret stores a secret supplied by the operator (for example the
// national symbol key shared by every region node). Importing the same
// value again is a no-op; a different value under an existing version is
// ErrSecretSeen. A version RemoveSecret removed takes back the value it
// held (restoring a version removed by mistake) and no other: another
// value is ErrSecretRemoved, naming the first version free.
func (s *Store) ImportSecret(name string, version int, value []byte) error {
	if name == "" || version < 1 || len(value) < 16 || len(value) > 64 {
		return fmt.Errorf("%w: name, version >= 1 and 16..64 bytes required", ErrBadSecret)
	}
	return s.update(false, func(c *contents) error {
		for _, sec := range c.secrets {
			if sec.Name == name && sec.Version == version {
				if subtle.ConstantTimeCompare(sec.value, value) != 1 {
					return ErrSecretSeen
				}
				return errUnchanged
			}
		}
		if i := slices.IndexFunc(c.removed, func(r removedSecret) bool { return r.name == name && r.version == version }); i >= 0 {
			r := c.removed[i]
			if subtle.ConstantTimeCompare(r.fingerprint, fingerprint(name, version, value)) != 1 {
				next := 1
				for _, sec := range c.secrets {
					if sec.Name == name {
						next = max(next, sec.Version+1)
					}
				}
				for _, r := range c.removed {
					if r.name == name {
						next = max(next, r.version+1)
					}
				}
				return fmt.Errorf("%w: %s version %d, removed %s; import this value as a new version, %d or later",
					ErrSecretRemoved, name, version, r.removed.Format(time.RFC3339), next)
			}
			c.removed = slices.Delete(slices.Clone(c.removed), i, i+1)
		}
		c.secrets = append(c.secrets, &Secret{Name: name, Version: version, Created: s.now().UTC(), value: slices.Clone(value)})
		return nil
	})
}

// fingerprint names a version's value without revealing it: the first 16
// bytes of HMAC-SM3 under the value of a label, the name and the version.
func fingerprint(name string, version int, value []byte) []byte {
	return gm.HMACSM3(value, fmt.Appendf(nil, "trustid keystore removed secret\x00%s\x00%d", name, version))[:fingerprintSize]
}

const fingerprintSize = 16

func latest(secrets []*Secret, name string) *Secret {
	var best *Secret
	for _, sec := range secrets {
		if sec.Name == name && (best == nil || sec.Version > best.Version) {
			best = sec
		}
	}
	return best
}

// contents is what the file holds: the keys, the secrets and the
// versions of secrets removed.
type contents struct {
	keys    []Key
	secrets []*Secret
	removed []removedSecret
}

// removedSecret is a version of a secret RemoveSecret removed: its value's
// fingerprint, never the value.
type removedSecret struct {
	name        string
	version     int
	fingerprint []byte
	removed     time.Time
}

// errUnchanged tells update that fn changed nothing: no write.
var errUnchanged = errors.New("keystore: unchanged")

// update applies one change: under mu and the file lock, it re-reads the
// file (so a change another process made since this one read it is kept),
// runs fn on what it read, writes the result and makes it current. A
// missing file is an error unless create. fn returns errUnchanged to skip
// the write (the contents read still become current); any other error
// leaves the file and the keys in memory as they were.
func (s *Store) update(create bool, fn func(*contents) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	unlock, err := filelock.Lock(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("keystore: lock %s: %w", s.path, err)
	}
	defer unlock()
	c, err := s.read()
	if err != nil && !(create && errors.Is(err, os.ErrNotExist)) {
		return err
	}
	switch err := fn(&c); {
	case errors.Is(err, errUnchanged):
	case err != nil:
		return err
	default:
		if err := s.save(c); err != nil {
			return err
		}
	}
	s.keys, s.secrets = c.keys, c.secrets
	s.gen.Add(1)
	return nil
}

// newKey generates an active key and appends it to c.
func (s *Store) newKey(c *contents, alg string) (Key, error) {
	signer, err := gm.GenerateSigner(alg, s.rand)
	if err != nil {
		return Key{}, err
	}
	k, err := makeKey(signer.Public(), signer)
	if err != nil {
		return Key{}, err
	}
	k.State, k.Created = StateActive, s.now().UTC()
	c.keys = append(c.keys, k)
	return k, nil
}

// makeKey derives the kid (the RFC 7638 thumbprint) and algorithm.
func makeKey(pub crypto.PublicKey, signer crypto.Signer) (Key, error) {
	pub, err := gm.NormalizePublicKey(pub)
	if err != nil {
		return Key{}, err
	}
	alg, _ := gm.Alg(pub)
	j, err := gm.NewJWK(pub, "")
	if err != nil {
		return Key{}, err
	}
	kid, err := j.Thumbprint()
	if err != nil {
		return Key{}, err
	}
	return Key{Kid: kid, Alg: alg, Public: pub, Signer: signer}, nil
}

// On disk: an envelope in clear naming the format and the KEK's fingerprint,
// and the sealed inner document.
type envelope struct {
	Format string `json:"format"`
	KEKID  string `json:"kek_id"`
	Sealed []byte `json:"sealed"`
}

// Removed is absent from files written before it and while it is empty.
type inner struct {
	Keys    []diskKey     `json:"keys"`
	Secrets []diskSecret  `json:"secrets"`
	Removed []diskRemoved `json:"removed,omitempty"`
}

type diskKey struct {
	Owner    string     `json:"owner,omitempty"`
	Kid      string     `json:"kid"`
	Alg      string     `json:"alg"`
	State    string     `json:"state"`
	Created  time.Time  `json:"created"`
	Retiring *time.Time `json:"retiring,omitempty"`
	Retired  *time.Time `json:"retired,omitempty"`
	Public   []byte     `json:"public"`            // PKIX DER
	Private  []byte     `json:"private,omitempty"` // PKCS#8 DER
}

type diskSecret struct {
	Name    string    `json:"name"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Value   []byte    `json:"value"`
}

type diskRemoved struct {
	Name        string    `json:"name"`
	Version     int       `json:"version"`
	Fingerprint []byte    `json:"fingerprint"`
	Removed     time.Time `json:"removed"`
}

// KEKID fingerprints a KEK, so a wrong one is told apart from a damaged file.
func KEKID(kek []byte) string {
	sum := gm.SM3(append([]byte("trustid kek id\x00"), kek...))
	return hex.EncodeToString(sum[:8])
}

// load reads the file and makes it current.
func (s *Store) load() error {
	// Read under mu, as update does: a file read before one of this
	// Store's changes must not replace the keys after it.
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.read()
	if err != nil {
		return err
	}
	s.keys, s.secrets = c.keys, c.secrets
	s.gen.Add(1)
	return nil
}

// SealedKEKID returns the KEK ID (KEKID) recorded in the keystore file at
// path, read without decrypting it: the key-encryption key that sealed it,
// named without revealing it. An error wraps os.ErrNotExist when the file
// is missing, ErrCorrupted when it is not a keystore.
func SealedKEKID(path string) (string, error) {
	env, err := readEnvelope(path)
	if err != nil {
		return "", err
	}
	return env.KEKID, nil
}

// readEnvelope reads and checks the outer, unencrypted layer of the file.
func readEnvelope(path string) (envelope, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return envelope{}, err
	}
	return parseEnvelope(path, raw)
}

// parseEnvelope checks the outer layer of raw, the contents of the file
// at path (named in errors).
func parseEnvelope(path string, raw []byte) (envelope, error) {
	if len(raw) > maxFile {
		return envelope{}, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrCorrupted, maxFile)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return envelope{}, fmt.Errorf("%s: %w: not a keystore envelope: %v", path, ErrCorrupted, err)
	}
	if env.Format != fileFormat {
		return envelope{}, fmt.Errorf("%s: %w: unknown format %q", path, ErrCorrupted, env.Format)
	}
	return env, nil
}

// read decodes the file. An error wraps os.ErrNotExist when it is missing.
func (s *Store) read() (contents, error) {
	env, err := readEnvelope(s.path)
	if err != nil {
		return contents{}, err
	}
	return unseal(s.path, env, s.kek)
}

// unseal opens env, read from the file at path, with kek and decodes it.
// Errors name the KEKs by KEK ID only and print no key material.
func unseal(path string, env envelope, kek []byte) (contents, error) {
	plain, err := gm.Open(kek, env.Sealed, []byte(fileFormat))
	switch {
	case env.KEKID != KEKID(kek) && err != nil:
		return contents{}, fmt.Errorf("%s: %w (file sealed under KEK %s, given %s)", path, ErrWrongKEK, env.KEKID, KEKID(kek))
	case env.KEKID != KEKID(kek):
		// The KEK ID is not sealed: a KEK that opens the file is the one,
		// and the ID beside it was damaged.
		return contents{}, fmt.Errorf("%s: %w: its kek_id is not the KEK ID of the KEK that opens it (%s)", path, ErrCorrupted, KEKID(kek))
	case err != nil:
		return contents{}, fmt.Errorf("%s: %w: authentication failed", path, ErrCorrupted)
	}
	var doc inner
	if err := json.Unmarshal(plain, &doc); err != nil {
		return contents{}, fmt.Errorf("%s: %w: %v", path, ErrCorrupted, err)
	}
	c, err := decode(doc)
	if err != nil {
		return contents{}, fmt.Errorf("%s: %w: %v", path, ErrCorrupted, err)
	}
	return c, nil
}

func decode(doc inner) (contents, error) {
	var keys []Key
	for _, d := range doc.Keys {
		pub, err := gm.ParsePublicKey(d.Public)
		if err != nil {
			return contents{}, fmt.Errorf("key %s: %v", d.Kid, err)
		}
		var signer crypto.Signer
		if d.State != StateRetired {
			if signer, err = gm.ParsePrivateKey(d.Private); err != nil {
				return contents{}, fmt.Errorf("key %s: %v", d.Kid, err)
			}
		}
		k, err := makeKey(pub, signer)
		if err != nil || k.Kid != d.Kid || k.Alg != d.Alg {
			return contents{}, fmt.Errorf("key %s: kid or algorithm does not match the key", d.Kid)
		}
		if signer != nil {
			if sk, _ := makeKey(signer.Public(), nil); sk.Kid != d.Kid {
				return contents{}, fmt.Errorf("key %s: private key does not match", d.Kid)
			}
		}
		switch d.State {
		case StateActive, StateRetiring, StateRetired:
		default:
			return contents{}, fmt.Errorf("key %s: unknown state %q", d.Kid, d.State)
		}
		k.Owner, k.State, k.Created = d.Owner, d.State, d.Created
		if d.Retiring != nil {
			k.Retiring = *d.Retiring
		}
		if d.Retired != nil {
			k.Retired = *d.Retired
		}
		keys = append(keys, k)
	}
	var secrets []*Secret
	for _, d := range doc.Secrets {
		// As Secret and ImportSecret write them: a damaged file gives no
		// empty or short secret (a symbol key of no bytes).
		if d.Name == "" || d.Version < 1 || len(d.Value) < 16 || len(d.Value) > 64 {
			return contents{}, fmt.Errorf("secret %q/v%d: name, version >= 1 and 16..64 bytes required", d.Name, d.Version)
		}
		for _, sec := range secrets {
			if sec.Name == d.Name && sec.Version == d.Version {
				return contents{}, fmt.Errorf("secret %q/v%d given twice", d.Name, d.Version)
			}
		}
		secrets = append(secrets, &Secret{Name: d.Name, Version: d.Version, Created: d.Created, value: d.Value})
	}
	var removed []removedSecret
	for _, d := range doc.Removed {
		// As RemoveSecret writes them: a version no longer held, once.
		if d.Name == "" || d.Version < 1 || len(d.Fingerprint) != fingerprintSize {
			return contents{}, fmt.Errorf("removed secret %q/v%d: name, version >= 1 and a %d-byte fingerprint required", d.Name, d.Version, fingerprintSize)
		}
		held := slices.ContainsFunc(secrets, func(sec *Secret) bool { return sec.Name == d.Name && sec.Version == d.Version })
		twice := slices.ContainsFunc(removed, func(r removedSecret) bool { return r.name == d.Name && r.version == d.Version })
		if held || twice {
			return contents{}, fmt.Errorf("removed secret %q/v%d given twice", d.Name, d.Version)
		}
		removed = append(removed, removedSecret{name: d.Name, version: d.Version, fingerprint: d.Fingerprint, removed: d.Removed})
	}
	return contents{keys: keys, secrets: secrets, removed: removed}, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// save seals c and atomically replaces the file. The caller holds mu and
// the file lock.
func (s *Store) save(c contents) error {
	doc, err := encode(c)
	if err != nil {
		return err
	}
	raw, err := seal(doc, s.kek, s.rand)
	if err != nil {
		return err
	}
	return replace(s.path, raw)
}

// encode is the inner document of c.
func encode(c contents) (inner, error) {
	var doc inner
	for _, k := range c.keys {
		pub, err := gm.MarshalPublicKey(k.Public)
		if err != nil {
			return inner{}, err
		}
		d := diskKey{Owner: k.Owner, Kid: k.Kid, Alg: k.Alg, State: k.State, Created: k.Created,
			Retiring: timePtr(k.Retiring), Retired: timePtr(k.Retired), Public: pub}
		if k.Signer != nil {
			if d.Private, err = gm.MarshalPrivateKey(k.Signer); err != nil {
				return inner{}, err
			}
		}
		doc.Keys = append(doc.Keys, d)
	}
	for _, sec := range c.secrets {
		doc.Secrets = append(doc.Secrets, diskSecret{Name: sec.Name, Version: sec.Version, Created: sec.Created, Value: sec.value})
	}
	for _, r := range c.removed {
		doc.Removed = append(doc.Removed, diskRemoved{Name: r.name, Version: r.version, Fingerprint: r.fingerprint, Removed: r.removed})
	}
	return doc, nil
}

// seal is the file's contents: doc sealed under kek in its envelope.
func seal(doc inner, kek []byte, rnd io.Reader) ([]byte, error) {
	plain, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	sealed, err := gm.Seal(rnd, kek, plain, []byte(fileFormat))
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(envelope{Format: fileFormat, KEKID: KEKID(kek), Sealed: sealed}, "", "  ")
	if err != nil {
		return nil, err
	}
	out = append(out, '\n')
	// What parseEnvelope would refuse is never written: the node could not
	// start again.
	if len(out) > maxFile {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(out), maxFile)
	}
	return out, nil
}

// replace atomically replaces the file at path with raw, after removing
// the temporary files a writer that crashed left beside it. The caller
// holds the file lock, which every writer takes.
func replace(path string, raw []byte) error {
	if err := atomicfile.RemoveTemps(path); err != nil {
		return err
	}
	return writeFile(path, raw, 0o600)
}

// writeFile writes the file; a test replaces it to crash a write.
var writeFile = atomicfile.WriteFile

// Reseal re-seals the keystore file at path, sealed under oldKEK, under
// newKEK. Under the file lock (which every writer takes) it reads the
// file with oldKEK, seals the same keys and secrets under newKEK, opens
// the result with newKEK and compares every key and secret with what it
// read, and only then replaces the file atomically: at any moment the
// file opens with oldKEK or with newKEK, and a crash leaves no other
// state. A Store that opened the file before goes on serving the keys it
// read, but its changes and Reload fail with ErrWrongKEK (each re-reads
// the file first), so it never writes the old KEK back.
//
// rnd supplies the nonce (crypto/rand.Reader). Errors: ErrBadKEK (a KEK
// not 16 bytes), ErrSameKEK, ErrWrongKEK (oldKEK did not seal the file;
// the error names both by KEK ID), ErrCorrupted, or one wrapping
// os.ErrNotExist. None prints key material.
func Reseal(path string, oldKEK, newKEK []byte, rnd io.Reader) error {
	if len(oldKEK) != gm.SM4KeySize || len(newKEK) != gm.SM4KeySize {
		return ErrBadKEK
	}
	if subtle.ConstantTimeCompare(oldKEK, newKEK) == 1 {
		return fmt.Errorf("%w (KEK ID %s)", ErrSameKEK, KEKID(newKEK))
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("keystore: %w", err) // no lock file beside a missing keystore
	}
	unlock, err := filelock.Lock(path + ".lock")
	if err != nil {
		return fmt.Errorf("keystore: lock %s: %w", path, err)
	}
	defer unlock()
	env, err := readEnvelope(path)
	if err != nil {
		return err
	}
	c, err := unseal(path, env, oldKEK)
	if err != nil {
		return err
	}
	doc, err := encode(c)
	if err != nil {
		return err
	}
	raw, err := seal(doc, newKEK, rnd)
	if err != nil {
		return err
	}
	// Verify before replacing: what the new file will hold opens with
	// newKEK and holds what the old one did.
	env, err = parseEnvelope(path, raw)
	if err != nil {
		return err
	}
	again, err := unseal(path, env, newKEK)
	if err != nil {
		return fmt.Errorf("keystore: the re-sealed keystore does not open with the new KEK: %w", err)
	}
	resealed, err := encode(again)
	if err != nil {
		return err
	}
	if err := sameDoc(doc, resealed); err != nil {
		return fmt.Errorf("keystore: the re-sealed keystore differs from %s: %w", path, err)
	}
	return replace(path, raw)
}

// sameDoc reports the first key, secret or removed version of a that b
// does not hold alike, in the same place. It names them by kid or name and
// version and compares key material in constant time, without printing it.
func sameDoc(a, b inner) error {
	if len(a.Keys) != len(b.Keys) || len(a.Secrets) != len(b.Secrets) || len(a.Removed) != len(b.Removed) {
		return fmt.Errorf("%d keys, %d secrets and %d removed, not %d, %d and %d",
			len(b.Keys), len(b.Secrets), len(b.Removed), len(a.Keys), len(a.Secrets), len(a.Removed))
	}
	for i, x := range a.Keys {
		y := b.Keys[i]
		if x.Owner != y.Owner || x.Kid != y.Kid || x.Alg != y.Alg || x.State != y.State || !x.Created.Equal(y.Created) ||
			!sameTime(x.Retiring, y.Retiring) || !sameTime(x.Retired, y.Retired) ||
			!bytes.Equal(x.Public, y.Public) || subtle.ConstantTimeCompare(x.Private, y.Private) != 1 {
			return fmt.Errorf("key %d (%s) differs", i, x.Kid)
		}
	}
	for i, x := range a.Secrets {
		y := b.Secrets[i]
		if x.Name != y.Name || x.Version != y.Version || !x.Created.Equal(y.Created) || subtle.ConstantTimeCompare(x.Value, y.Value) != 1 {
			return fmt.Errorf("secret %s/v%d differs", x.Name, x.Version)
		}
	}
	for i, x := range a.Removed {
		y := b.Removed[i]
		if x.Name != y.Name || x.Version != y.Version || !x.Removed.Equal(y.Removed) || !bytes.Equal(x.Fingerprint, y.Fingerprint) {
			return fmt.Errorf("removed secret %s/v%d differs", x.Name, x.Version)
		}
	}
	return nil
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}
