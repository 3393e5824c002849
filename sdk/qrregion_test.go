package sdk_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
	"github.com/trustid-cn/trustid/sdk/ledgeranchors"
)

// TestQRIssuerKeyBoundToRegion: as at a node, the keys of QRConfig.Keys
// (region 310000's node) sign only codes of 310000. A code claiming
// 320000, signed with 310000's key and pointing at a valid entry of
// 320000's list, is refused (qrcode.ErrUnknownKey), though a verifier
// trusting the keys for any region (what NewQRVerifier built before)
// accepts it; with QRConfig.Regions from the ledger's registry
// (ledgeranchors), 320000's codes verify with the key 320000 registered,
// and only with it and while 320000 is active.
func TestQRIssuerKeyBoundToRegion(t *testing.T) {
	ctx := context.Background()
	sh, js := startExampleNode(), startExampleNode() // 310000, 320000
	defer sh.Close()
	defer js.Close()
	shKey, _ := sh.keys.Active(gm.AlgSM2)
	jsKey, _ := js.keys.Active(gm.AlgSM2)

	// The registry: each region with its node's key.
	la, lb := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	for _, r := range []struct {
		c    ledger.Client
		code string
		node *exampleNode
	}{{ledger.Client{L: la}, "310000", sh}, {ledger.Client{L: lb}, "320000", js}} {
		k, _ := r.node.keys.Active(gm.AlgSM2)
		jwk, err := gm.NewJWK(k.Signer.Public(), k.Kid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.c.RequestRegion(ctx, chaincode.RegionInput{Code: r.code, DID: "did:web:" + r.code + ".trustid.example",
			Endpoints: []chaincode.Endpoint{{Type: "api", URL: r.node.URL}}, Keys: []gm.JWK{jwk}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := (ledger.Client{L: la}).Vote(ctx, chaincode.ActionAdmit, "320000"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	anchors, err := ledgeranchors.Start(sctx, la, ledgeranchors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer anchors.Close()

	// Offline codes of bindings whose status entry is valid in 320000's
	// list, issued under the region and key given.
	listID, index, err := js.lists.Allocate(ctx, status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	num, _ := hex.DecodeString(listID[:8])
	ref := qrcode.StatusRef{Region: 320000, List: uint32(num[0])<<24 | uint32(num[1])<<16 | uint32(num[2])<<8 | uint32(num[3]), Index: uint32(index)}
	device, _ := gm.GenerateKey(rand.Reader)
	now := time.Now()
	var counter uint64
	offline := func(signer crypto.Signer, kid string, region uint32) string {
		t.Helper()
		binding, err := (&qrcode.Issuer{Signer: signer, Kid: kid, Region: region}).IssueBinding(qrcode.Binding{
			Subject: make([]byte, 16), DeviceKey: device.PublicKey(), Assurance: qrcode.AssuranceDevice,
			IssuedAt: now, Expiry: now.Add(time.Hour), Status: ref})
		if err != nil {
			t.Fatal(err)
		}
		counter++
		c, err := qrcode.NewOffline(rand.Reader, device, binding, nil, qrcode.Presentation{Time: now, Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	keys := &sdk.KeySet{URL: sh.URL + sdk.JWKSPath}
	qrStatus := &sdk.QRStatus{Nodes: &sdk.Nodes{Bases: []string{sh.URL, js.URL}, Algorithms: []string{gm.AlgSM2}},
		Regions: map[string]string{"310000": sh.URL, "320000": js.URL}}
	verifier := func(regions qrcode.RegionKeySource) *qrcode.Verifier {
		t.Helper()
		v, err := sdk.NewQRVerifier(sdk.QRConfig{Keys: keys, Region: "310000", Regions: regions, Status: qrStatus})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	alone, registry := verifier(nil), verifier(anchors)

	forged := offline(shKey.Signer, shKey.Kid, 320000) // 310000's key, 320000's code
	anyRegion, err := qrcode.NewVerifier(qrcode.VerifierConfig{Keys: keys, Status: qrStatus})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := anyRegion.Verify(ctx, forged, qrcode.VerifyOptions{}); err != nil || res.Region != "320000" {
		t.Fatalf("the code is otherwise valid: keys trusted for any region accept it: %+v %v", res, err)
	}
	for name, v := range map[string]*qrcode.Verifier{"no Regions": alone, "Regions from the registry": registry} {
		if res, err := v.Verify(ctx, forged, qrcode.VerifyOptions{}); !errors.Is(err, qrcode.ErrUnknownKey) {
			t.Errorf("%s: 310000's key signing for 320000: %+v %v, want ErrUnknownKey", name, res, err)
		}
	}

	own := offline(jsKey.Signer, jsKey.Kid, 320000) // 320000's own code
	if _, err := alone.Verify(ctx, own, qrcode.VerifyOptions{}); !errors.Is(err, qrcode.ErrUnknownKey) {
		t.Errorf("320000's code without Regions: %v, want ErrUnknownKey", err)
	}
	if res, err := registry.Verify(ctx, own, qrcode.VerifyOptions{}); err != nil || res.Region != "320000" {
		t.Errorf("320000's code with its registered key: %+v %v", res, err)
	}
	// Suspended by the consortium (310000's vote): its codes are refused
	// as soon as the view has it.
	if err := (ledger.Client{L: la}).Vote(ctx, chaincode.ActionSuspend, "320000"); err != nil {
		t.Fatal(err)
	}
	waitIDToken(t, "320000's codes refused once it is suspended", func() bool {
		_, err := registry.Verify(ctx, offline(jsKey.Signer, jsKey.Kid, 320000), qrcode.VerifyOptions{})
		return errors.Is(err, qrcode.ErrUnknownKey) && errors.Is(err, ledgeranchors.ErrUnknownIssuer)
	})

	if _, err := sdk.NewQRVerifier(sdk.QRConfig{Keys: keys, Status: qrStatus}); err == nil {
		t.Error("a QR verifier without Region was built")
	}
	if _, err := sdk.NewQRVerifier(sdk.QRConfig{Keys: keys, Region: "31000", Status: qrStatus}); err == nil {
		t.Error("a QR verifier with a malformed Region was built")
	}
}
