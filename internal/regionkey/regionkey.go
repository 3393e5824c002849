// Package regionkey is the one lookup of a region's verifying key in the
// trust registry, with the cache of parsed keys: the node's
// federation.Keys, the credential verifier's RegistryResolver and the
// relying-party SDK's ledger adapter (sdk/ledgeranchors) all call it, so
// they refuse the same keys. It links only chaincode and gm, which each
// of them links already.
package regionkey

import (
	"crypto"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
)

// Errors of Find and Cache. Callers wrap them in their own sentinels.
var (
	// ErrUnknownKey: the region lists no key the lookup names, or its
	// JWK does not parse.
	ErrUnknownKey = errors.New("regionkey: the region has no such key")
	// ErrKeyNotValid: the key is retired or revoked.
	ErrKeyNotValid = errors.New("regionkey: the region's key is retired or revoked")
	// ErrRegionNotActive: the region is suspended (or in any state but
	// active).
	ErrRegionNotActive = errors.New("regionkey: the region is not active")
)

// Wrap wraps err, an error of Find or Cache, in the caller's sentinel for
// its kind: notActive (ErrRegionNotActive), notValid (ErrKeyNotValid) or
// unknown (anything else). nil stays nil.
func Wrap(err, notActive, notValid, unknown error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrRegionNotActive):
		return fmt.Errorf("%w: %w", notActive, err)
	case errors.Is(err, ErrKeyNotValid):
		return fmt.Errorf("%w: %w", notValid, err)
	default:
		return fmt.Errorf("%w: %w", unknown, err)
	}
}

// Kid matches a registry key by its kid.
func Kid(kid string) func(chaincode.RegistryKey) bool {
	return func(k chaincode.RegistryKey) bool { return k.Kid == kid }
}

// Find returns the first key of region r that match accepts, when r is
// active and the key active or retiring: a retired or revoked key
// verifies nothing.
func Find(r chaincode.Region, match func(chaincode.RegistryKey) bool) (chaincode.RegistryKey, error) {
	if r.Status != chaincode.RegionActive {
		return chaincode.RegistryKey{}, fmt.Errorf("%w: %s is %s", ErrRegionNotActive, r.Code, r.Status)
	}
	i := slices.IndexFunc(r.Keys, match)
	if i < 0 {
		return chaincode.RegistryKey{}, fmt.Errorf("%w: region %s", ErrUnknownKey, r.Code)
	}
	rk := r.Keys[i]
	if rk.State != chaincode.KeyActive && rk.State != chaincode.KeyRetiring {
		return chaincode.RegistryKey{}, fmt.Errorf("%w: region %s key is %s", ErrKeyNotValid, r.Code, rk.State)
	}
	return rk, nil
}

// DefaultMax bounds a Cache whose Max is 0.
const DefaultMax = 4096

// Cache holds parsed registry keys by owner (a region, an issuer), kid and JWK coordinates (a
// key re-registered under the same kid is parsed again), so a lookup
// costs a map read. Past Max entries keys are parsed on each use (a
// region that registers keys without end costs only itself time). The
// zero value is ready; safe for concurrent use.
type Cache struct {
	// Max bounds the entries (0: DefaultMax).
	Max int

	mu     sync.RWMutex
	parsed map[parsedKey]crypto.PublicKey
}

// parsedKey is a struct, so a lookup builds no string.
type parsedKey struct{ owner, kid, kty, crv, x, y string }

// Key is Find then PublicKey: the public key and algorithm of r's key
// that match accepts.
func (c *Cache) Key(r chaincode.Region, match func(chaincode.RegistryKey) bool) (crypto.PublicKey, string, error) {
	rk, err := Find(r, match)
	if err != nil {
		return nil, "", err
	}
	pub, err := c.PublicKey(r.Code, rk)
	if err != nil {
		return nil, "", err
	}
	return pub, rk.Alg, nil
}

// PublicKey returns the public key of rk, a key of region, normalized
// once (gm.NormalizePublicKey: an SM2 key then carries its precomputed Z
// value, so verifications with it cost what the node's own keys do).
func (c *Cache) PublicKey(region string, rk chaincode.RegistryKey) (crypto.PublicKey, error) {
	pub, err := c.Parse(region, rk)
	if err != nil {
		return nil, fmt.Errorf("%w: region %s: %v", ErrUnknownKey, region, err)
	}
	return pub, nil
}

// Parse returns the public key of rk, a registry key of owner (a region
// code, an accredited issuer's identifier), parsed and normalized once,
// as PublicKey does; the error is the JWK's own. It parses, and decides
// nothing about the key: whether it may be used is the registry's
// answer at each lookup.
func (c *Cache) Parse(owner string, rk chaincode.RegistryKey) (crypto.PublicKey, error) {
	ck := parsedKey{owner, rk.Kid, rk.JWK.Kty, rk.JWK.Crv, rk.JWK.X, rk.JWK.Y}
	c.mu.RLock()
	pub, ok := c.parsed[ck]
	c.mu.RUnlock()
	if ok {
		return pub, nil
	}
	pub, err := rk.JWK.PublicKey()
	if err == nil {
		pub, err = gm.NormalizePublicKey(pub)
	}
	if err != nil {
		return nil, err
	}
	max := c.Max
	if max <= 0 {
		max = DefaultMax
	}
	c.mu.Lock()
	if c.parsed == nil {
		c.parsed = map[parsedKey]crypto.PublicKey{}
	}
	if len(c.parsed) < max {
		c.parsed[ck] = pub
	}
	c.mu.Unlock()
	return pub, nil
}
