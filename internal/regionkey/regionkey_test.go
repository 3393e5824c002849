package regionkey

import (
	"crypto"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
)

func key(t *testing.T, alg, kid, state string) chaincode.RegistryKey {
	t.Helper()
	s, err := gm.GenerateSigner(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, err := gm.NewJWK(s.Public(), kid)
	if err != nil {
		t.Fatal(err)
	}
	return chaincode.RegistryKey{Kid: kid, Alg: alg, JWK: j, State: state}
}

func equal(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// TestKey: an active or retiring key of an active region is found and
// parsed; a retired or revoked key, an unlisted kid, a suspended region
// and a JWK that does not parse are each refused with their sentinel.
func TestKey(t *testing.T) {
	active := key(t, gm.AlgSM2, "k1", chaincode.KeyActive)
	retiring := key(t, gm.AlgES256, "k2", chaincode.KeyRetiring)
	bad := key(t, gm.AlgSM2, "k5", chaincode.KeyActive)
	bad.JWK.X = "AAAA"
	r := chaincode.Region{Code: "310000", Status: chaincode.RegionActive, Keys: []chaincode.RegistryKey{
		active, retiring, key(t, gm.AlgSM2, "k3", chaincode.KeyRetired), key(t, gm.AlgSM2, "k4", chaincode.KeyRevoked), bad}}
	var c Cache
	for _, want := range []chaincode.RegistryKey{active, retiring} {
		pub, alg, err := c.Key(r, Kid(want.Kid))
		wantPub, _ := want.JWK.PublicKey()
		if err != nil || alg != want.Alg || !equal(pub, wantPub) {
			t.Errorf("%s: %v %s %v", want.Kid, pub, alg, err)
		}
	}
	for kid, want := range map[string]error{"k3": ErrKeyNotValid, "k4": ErrKeyNotValid, "k9": ErrUnknownKey, "k5": ErrUnknownKey} {
		if _, _, err := c.Key(r, Kid(kid)); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", kid, err, want)
		}
	}
	r.Status = chaincode.RegionSuspended
	if _, _, err := c.Key(r, Kid("k1")); !errors.Is(err, ErrRegionNotActive) {
		t.Errorf("suspended region: %v", err)
	}
}

// TestCacheByCoordinates: a key re-registered under the same kid with
// other coordinates is parsed again, not served from the cache; past Max
// keys are parsed on each use, still right.
func TestCacheByCoordinates(t *testing.T) {
	c := Cache{Max: 1}
	first, second := key(t, gm.AlgSM2, "k1", chaincode.KeyActive), key(t, gm.AlgSM2, "k1", chaincode.KeyActive)
	for range 2 {
		for _, k := range []chaincode.RegistryKey{first, second} {
			pub, err := c.PublicKey("310000", k)
			want, _ := k.JWK.PublicKey()
			if err != nil || !equal(pub, want) {
				t.Fatalf("%v %v", pub, err)
			}
		}
	}
	if len(c.parsed) != 1 {
		t.Errorf("%d cached, Max 1", len(c.parsed))
	}
	// Another region's record of the same JWK is its own entry.
	var d Cache
	d.PublicKey("310000", first)
	d.PublicKey("110000", first)
	if len(d.parsed) != 2 {
		t.Errorf("%d cached for two regions", len(d.parsed))
	}
}

// TestWrap: each kind goes to the caller's sentinel, keeping this
// package's.
func TestWrap(t *testing.T) {
	notActive, notValid, unknown := errors.New("a"), errors.New("v"), errors.New("u")
	for in, want := range map[error]error{ErrRegionNotActive: notActive, ErrKeyNotValid: notValid, ErrUnknownKey: unknown} {
		if err := Wrap(in, notActive, notValid, unknown); !errors.Is(err, want) || !errors.Is(err, in) {
			t.Errorf("%v: %v", in, err)
		}
	}
	if Wrap(nil, notActive, notValid, unknown) != nil {
		t.Error("nil")
	}
}
