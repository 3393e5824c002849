package federation

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"

	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
)

// Keystore is the node's keystore as Instances reads it: every key of
// the node, in any state. *keystore.Store satisfies it.
type Keystore interface {
	Keys() []keystore.Key
	Lookup(kid string) (keystore.Key, error)
}

// ErrKeyHeld: the key is one this node's keystore holds; the keystore,
// not the registry, says whether it verifies.
var ErrKeyHeld = errors.New("federation: the key is held in this node's keystore")

// Instances is the one fallback of the node's verifiers of what its own
// region signed (access and ID tokens, QR bindings, static codes and
// delegations, credentials) for a key its keystore copy does not hold:
// another instance of the region rotated first and published the key on
// the region's record, and this copy has not reached it yet
// (docs/operations.md, "Rotating a region's keys"). The key is then the
// record's, under the rule other regions apply (Keys: the region active,
// the key active or retiring), looked up on every call. A key the
// keystore holds, in any state, is refused (ErrKeyHeld): it is the
// keystore's to judge, so a key this instance retired stays refused while
// the record lags. Safe for concurrent use.
type Instances struct {
	Keys     *Keys
	Region   string // the node's region code
	Keystore Keystore
}

// InstanceKey returns the key kid of the node's region and its JWS
// algorithm, when the keystore does not hold kid and the region's record
// lists it as RegionKey would return it.
func (in *Instances) InstanceKey(ctx context.Context, kid string) (crypto.PublicKey, string, error) {
	if _, err := in.Keystore.Lookup(kid); err == nil {
		return nil, "", ErrKeyHeld
	}
	return in.Keys.RegionKey(ctx, in.Region, kid)
}

var _ qrcode.RegionKeySource = (*Instances)(nil)

// QRIssuerKey implements qrcode.RegionKeySource for the node's region
// only: the key whose kid hint is hint on the region's record, when no
// key of the keystore has that hint. Errors match qrcode.ErrUnknownKey
// (or qrcode.ErrUnavailable, as Keys.QRIssuerKey's).
func (in *Instances) QRIssuerKey(ctx context.Context, region uint32, hint []byte) (crypto.PublicKey, error) {
	if code := fmt.Sprintf("%06d", region); code != in.Region {
		return nil, fmt.Errorf("%w: region %s is not this node's", qrcode.ErrUnknownKey, code)
	}
	if slices.ContainsFunc(in.Keystore.Keys(), func(k keystore.Key) bool { return bytes.Equal(qrcode.KidHint(k.Kid), hint) }) {
		return nil, fmt.Errorf("%w: %w", qrcode.ErrUnknownKey, ErrKeyHeld)
	}
	return in.Keys.QRIssuerKey(ctx, region, hint)
}
