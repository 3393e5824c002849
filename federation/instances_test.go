package federation_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
)

// TestInstances: a key of the node's region its keystore does not hold
// resolves from the region's record while the record lists it active or
// retiring, by kid and by QR kid hint; retired or revoked there it is
// refused. A key the keystore holds is refused whatever the record says
// (ErrKeyHeld: the keystore judges it, so one retired here stays
// refused), and so is another region's key.
func TestInstances(t *testing.T) {
	ctx := context.Background()
	c := newConsortium(t)
	kek := make([]byte, 16)
	rand.Read(kek)
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), kek, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	held, err := ks.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	in := &federation.Instances{Keys: &federation.Keys{Registry: c.view}, Region: regionA, Keystore: ks}
	regionCode, _ := qrcode.ParseRegion(regionA)
	otherCode, _ := qrcode.ParseRegion(regionB)

	addKey(t, c.b, "b-node-1")
	made := addKey(t, c.a, "a-node-2") // another instance's new key
	heldJWK, _ := gm.NewJWK(held.Public, held.Kid)
	if _, err := c.a.AddRegionKey(ctx, heldJWK); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the keys in the view", func() bool {
		_, _, e1 := in.Keys.RegionKey(ctx, regionA, held.Kid)
		_, _, e2 := in.Keys.RegionKey(ctx, regionB, "b-node-1")
		return e1 == nil && e2 == nil
	})

	check := func(what string, wantErr error) {
		t.Helper()
		pub, alg, err := in.InstanceKey(ctx, "a-node-2")
		qpub, qerr := in.QRIssuerKey(ctx, regionCode, qrcode.KidHint("a-node-2"))
		if wantErr == nil {
			if err != nil || alg != gm.AlgSM2 || !made.PublicKey().Equal(pub) {
				t.Errorf("%s: InstanceKey %v %s %v", what, pub, alg, err)
			}
			if qerr != nil || !made.PublicKey().Equal(qpub) {
				t.Errorf("%s: QRIssuerKey %v", what, qerr)
			}
			return
		}
		if !errors.Is(err, wantErr) {
			t.Errorf("%s: InstanceKey %v, want %v", what, err, wantErr)
		}
		if !errors.Is(qerr, qrcode.ErrUnknownKey) || !errors.Is(qerr, wantErr) {
			t.Errorf("%s: QRIssuerKey %v, want %v", what, qerr, wantErr)
		}
	}
	check("active on the record", nil)
	for _, state := range []string{chaincode.KeyRetiring, chaincode.KeyRetired, chaincode.KeyRevoked} {
		if _, err := c.a.SetRegionKeyState(ctx, "a-node-2", state); err != nil {
			t.Fatal(err)
		}
		waitFor(t, state+" in the view", func() bool {
			r, _ := c.view.Region(regionA)
			return r.Keys[len(r.Keys)-2].State == state
		})
		if state == chaincode.KeyRetiring {
			check(state, nil)
		} else {
			check(state, federation.ErrKeyNotValid)
		}
	}

	if _, _, err := in.InstanceKey(ctx, "a-node-unknown"); !errors.Is(err, federation.ErrUnknownKey) {
		t.Errorf("a kid the record does not list: %v", err)
	}
	if _, _, err := in.InstanceKey(ctx, "b-node-1"); !errors.Is(err, federation.ErrUnknownKey) {
		t.Errorf("another region's kid: %v", err)
	}
	if _, err := in.QRIssuerKey(ctx, otherCode, qrcode.KidHint("b-node-1")); !errors.Is(err, qrcode.ErrUnknownKey) {
		t.Errorf("another region's QR key: %v", err)
	}
	// The keystore's own key, active on the record: the keystore's to
	// judge, active here or retired.
	if _, err := ks.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	for _, retire := range []bool{false, true} {
		if retire {
			if err := ks.Retire(held.Kid); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := in.InstanceKey(ctx, held.Kid); !errors.Is(err, federation.ErrKeyHeld) {
			t.Errorf("a key the keystore holds (retired %v): %v", retire, err)
		}
		if _, err := in.QRIssuerKey(ctx, regionCode, qrcode.KidHint(held.Kid)); !errors.Is(err, federation.ErrKeyHeld) {
			t.Errorf("a QR key the keystore holds (retired %v): %v", retire, err)
		}
	}
}
