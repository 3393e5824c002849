package federation_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
)

// validStatus answers every status reference as valid (the status of the
// codes is not what this test is about).
type validStatus struct{}

func (validStatus) Status(context.Context, qrcode.StatusRef) (qrcode.Status, error) {
	return qrcode.StatusValid, nil
}

// TestQRCodesOfAnotherRegion: region A's verifier checks region B's
// offline codes with B's key from A's view of the registry alone (the
// verifier has no network client): B's active and retiring keys verify;
// a retired key, a key of B naming region 330000, and every key of B once
// B is suspended are refused, each with its own reason.
func TestQRCodesOfAnotherRegion(t *testing.T) {
	ctx := context.Background()
	c := newConsortium(t)
	keyB := addKey(t, c.b, "b-node-1")
	var reasons []string
	keys := &federation.Keys{Registry: c.view, OnRefuse: func(err error) { reasons = append(reasons, federation.Reason(err)) }}
	waitFor(t, "B's key in A's view", func() bool { _, _, err := keys.RegionKey(ctx, regionB, "b-node-1"); return err == nil })

	now := time.Now()
	device, _ := gm.GenerateKey(rand.Reader)
	code := func(signer *gm.PrivateKey, kid string, region uint32) string {
		is := &qrcode.Issuer{Signer: signer, Kid: kid, Region: region}
		b, err := is.IssueBinding(qrcode.Binding{
			Subject: make([]byte, 33), DeviceKey: device.PublicKey(), Assurance: qrcode.AssurancePIN,
			IssuedAt: now.Add(-time.Hour), Expiry: now.Add(time.Hour), Status: qrcode.StatusRef{List: 1, Index: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		s, err := qrcode.NewOffline(rand.Reader, device, b, nil, qrcode.Presentation{Time: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mine, _ := gm.GenerateKey(rand.Reader)
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{
		Keys: qrcode.StaticKeys{{Kid: "a-node-1", Public: mine.Public()}}, Region: 310000, Regions: keys, Status: validStatus{},
	})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(s string) error { _, err := v.Verify(ctx, s, qrcode.VerifyOptions{}); return err }

	if err := verify(code(keyB, "b-node-1", 320000)); err != nil {
		t.Fatalf("B's code at A: %v", err)
	}
	if err := verify(code(keyB, "b-node-1", 330000)); !errors.Is(err, qrcode.ErrUnknownKey) || !errors.Is(err, federation.ErrUnknownRegion) {
		t.Errorf("B's key naming 330000: %v", err)
	}
	forged, _ := gm.GenerateKey(rand.Reader)
	if err := verify(code(forged, "b-node-9", 320000)); !errors.Is(err, federation.ErrUnknownKey) {
		t.Errorf("key not in the registry: %v", err)
	}

	key2 := addKey(t, c.b, "b-node-2")
	if _, _, err := c.b.L.Submit(ctx, "SetRegionKeyState", "b-node-1", chaincode.KeyRetiring); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retiring", func() bool { _, err := keys.QRIssuerKey(ctx, 320000, qrcode.KidHint("b-node-2")); return err == nil })
	if err := verify(code(keyB, "b-node-1", 320000)); err != nil {
		t.Errorf("retiring key: %v", err)
	}
	if _, _, err := c.b.L.Submit(ctx, "SetRegionKeyState", "b-node-1", chaincode.KeyRetired); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retired", func() bool {
		return errors.Is(verify(code(keyB, "b-node-1", 320000)), federation.ErrKeyNotValid)
	})
	if err := verify(code(key2, "b-node-2", 320000)); err != nil {
		t.Errorf("B's new key: %v", err)
	}

	if err := c.a.Vote(ctx, chaincode.ActionSuspend, regionB); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "suspension", func() bool {
		return errors.Is(verify(code(key2, "b-node-2", 320000)), federation.ErrRegionSuspended)
	})
	if err := verify(code(key2, "b-node-2", 320000)); !errors.Is(err, qrcode.ErrUnknownKey) {
		t.Errorf("suspended region's code: %v", err)
	}
	for _, want := range []string{"unknown_region", "unknown_key", "key_not_valid", "region_suspended"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("refusal %q not reported: %v", want, reasons)
		}
	}
}

// BenchmarkQRVerify compares verifying an offline code of this region
// (own keys) with one of another region (its key from the registry view):
// the registry lookup must not add a network call or much CPU.
func BenchmarkQRVerify(b *testing.B) {
	ctx := context.Background()
	c := newConsortium(b)
	keyB := addKey(b, c.b, "b-node-1")
	keys := &federation.Keys{Registry: c.view}
	waitFor(b, "B's key in A's view", func() bool { _, _, err := keys.RegionKey(ctx, regionB, "b-node-1"); return err == nil })
	keyA, _ := gm.GenerateKey(rand.Reader)
	device, _ := gm.GenerateKey(rand.Reader)
	now := time.Now()
	code := func(signer *gm.PrivateKey, kid string, region uint32) string {
		is := &qrcode.Issuer{Signer: signer, Kid: kid, Region: region}
		bind, err := is.IssueBinding(qrcode.Binding{
			Subject: make([]byte, 33), DeviceKey: device.PublicKey(), Assurance: qrcode.AssurancePIN,
			IssuedAt: now.Add(-time.Hour), Expiry: now.Add(time.Hour), Status: qrcode.StatusRef{List: 1, Index: 1},
		})
		if err != nil {
			b.Fatal(err)
		}
		s, err := qrcode.NewOffline(rand.Reader, device, bind, nil, qrcode.Presentation{Time: now})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{
		Keys: qrcode.StaticKeys{{Kid: "a-node-1", Public: keyA.Public()}}, Region: 310000, Regions: keys, Status: validStatus{},
		Now: func() time.Time { return now },
	})
	if err != nil {
		b.Fatal(err)
	}
	for name, s := range map[string]string{"own": code(keyA, "a-node-1", 310000), "registry": code(keyB, "b-node-1", 320000)} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := v.Verify(ctx, s, qrcode.VerifyOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
