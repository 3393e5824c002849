package qrcode

import (
	"context"
	"crypto"
	"errors"
	"testing"
	"time"
)

// regionKeys is a RegionKeySource over a fixed map of region → keys.
type regionKeys map[uint32]StaticKeys

func (r regionKeys) QRIssuerKey(_ context.Context, region uint32, hint []byte) (crypto.PublicKey, error) {
	for _, k := range r[region] {
		if string(KidHint(k.Kid)) == string(hint) {
			return k.Public, nil
		}
	}
	return nil, errors.New("no such key")
}

// TestVerifierKeysAreRegionBound: a verifier of region 320000 checks
// region 310000's codes with the key its RegionKeySource gives for
// (310000, kid hint) only. Its own keys do not sign for another region,
// and a region's key does not sign for a third region.
func TestVerifierKeysAreRegionBound(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t) // issued by region 310000 with f.issuerKey
	own := mustKey(t, 0x44)
	keyA := StaticKeys{{Kid: f.kid, Public: f.issuerKey.Public()}}
	newV := func(keys StaticKeys, regions RegionKeySource) *Verifier {
		v, err := NewVerifier(VerifierConfig{
			Keys: keys, Region: 320000, Regions: regions, Status: f.status, Now: func() time.Time { return f.now },
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	v := newV(StaticKeys{{Kid: "own", Public: own.Public()}}, regionKeys{310000: keyA})
	if _, err := v.Verify(ctx, f.offline(t, 1, nil), VerifyOptions{}); err != nil {
		t.Fatalf("offline code of 310000 at 320000: %v", err)
	}
	if _, err := v.Verify(ctx, f.delegated(t, 1), VerifyOptions{Action: ActionPresent}); err != nil {
		t.Fatalf("delegated code of 310000 at 320000: %v", err)
	}
	if _, err := v.Verify(ctx, f.static, VerifyOptions{}); err != nil {
		t.Fatalf("static code of 310000 at 320000: %v", err)
	}

	// 310000's key in this verifier's own keys: not trusted for 310000.
	v = newV(keyA, nil)
	if _, err := v.Verify(ctx, f.offline(t, 2, nil), VerifyOptions{}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("own keys used for another region: %v", err)
	}
	// 310000's key signing a binding that says 330000: refused.
	f.issuer.Region = 330000
	bind, err := f.issuer.IssueBinding(Binding{
		Subject: f.subject, DeviceKey: f.device.PublicKey(), Assurance: AssurancePIN,
		IssuedAt: f.now.Add(-time.Hour), Expiry: f.now.Add(time.Hour), Status: StatusRef{List: 3, Index: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	code, err := NewOffline(constReader(1), f.device, bind, nil, Presentation{Time: f.now, Counter: 3})
	if err != nil {
		t.Fatal(err)
	}
	v = newV(StaticKeys{}, regionKeys{310000: keyA})
	if _, err := v.Verify(ctx, code, VerifyOptions{}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("310000's key signing for 330000: %v", err)
	}
}

// TestVerifierInstances: a verifier of region 310000 whose own keys lack
// the key another instance of the region signed with asks Instances for
// (310000, kid hint), for offline, delegated and static codes alike;
// without Instances, or when Instances refuses, the code is refused with
// ErrUnknownKey; Instances never answers for another region's codes, nor
// without a Region.
func TestVerifierInstances(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t) // issued by region 310000 with f.issuerKey
	record := regionKeys{310000: {{Kid: f.kid, Public: f.issuerKey.Public()}}}
	newV := func(region uint32, instances RegionKeySource) *Verifier {
		v, err := NewVerifier(VerifierConfig{
			Keys: StaticKeys{{Kid: "own", Public: mustKey(t, 0x44).Public()}}, Region: region, Instances: instances,
			Status: f.status, Now: func() time.Time { return f.now },
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := newV(310000, record)
	if _, err := v.Verify(ctx, f.offline(t, 1, nil), VerifyOptions{}); err != nil {
		t.Fatalf("offline code: %v", err)
	}
	if _, err := v.Verify(ctx, f.delegated(t, 2), VerifyOptions{Action: ActionPresent}); err != nil {
		t.Fatalf("delegated code: %v", err)
	}
	if _, err := v.Verify(ctx, f.static, VerifyOptions{}); err != nil {
		t.Fatalf("static code: %v", err)
	}
	for name, v := range map[string]*Verifier{"no instances": newV(310000, nil), "refused": newV(310000, regionKeys{}),
		"another region's code": newV(320000, record)} {
		if _, err := v.Verify(ctx, f.offline(t, 3, nil), VerifyOptions{}); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: %v, want ErrUnknownKey", name, err)
		}
	}
	if _, err := NewVerifier(VerifierConfig{Keys: StaticKeys{}, Status: f.status, Instances: record}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("instances without a region: %v", err)
	}
}
