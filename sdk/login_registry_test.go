package sdk_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/sdk"
	"github.com/trustid-cn/trustid/sdk/ledgeranchors"
)

// TestIDTokenFromTheRegistry: a relying party configured with the
// ledger's registry (ledgeranchors) verifies the ID tokens of region
// 310000's provider with the keys that region registered on a real
// embedded ledger: also once the provider is down (no JWKS fetch). A key
// not registered, a key the region retired, and every key once the
// consortium suspends the region are refused with their own errors.
func TestIDTokenFromTheRegistry(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t)
	la, lb := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ca, cb := ledger.Client{L: la}, ledger.Client{L: lb}
	// Region 310000 registers the provider's SM2 key only (genesis:
	// active at once); 320000 is admitted by its vote.
	if _, err := ca.RequestRegion(ctx, chaincode.RegionInput{Code: "310000", DID: "did:web:sh.trustid.example",
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: p.URL}}, Keys: []gm.JWK{p.sm2}}); err != nil {
		t.Fatal(err)
	}
	k, _ := gm.GenerateKey(rand.Reader)
	jb, _ := gm.NewJWK(k.Public(), "b-1")
	if _, err := cb.RequestRegion(ctx, chaincode.RegionInput{Code: "320000", DID: "did:web:js.trustid.example",
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: "https://js.trustid.example"}}, Keys: []gm.JWK{jb}}); err != nil {
		t.Fatal(err)
	}
	if err := ca.Vote(ctx, chaincode.ActionAdmit, "320000"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	anchors, err := ledgeranchors.Start(sctx, la, ledgeranchors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer anchors.Close()

	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	l, err := sdk.NewLogin(sdk.LoginConfig{Issuer: p.URL, ClientID: "rp", RedirectURI: "https://rp.example/cb", Key: key,
		Algorithms: []string{gm.AlgSM2, gm.AlgES256}, Registry: anchors})
	if err != nil {
		t.Fatal(err)
	}
	tok := p.idToken(t, p.sm2, nil)
	p.Close() // the provider is down: nothing is fetched
	if id, err := l.VerifyIDToken(ctx, tok, "n-1"); err != nil || id.Subject != "pairwise-1" {
		t.Fatalf("ID token from the registry: %+v %v", id, err)
	}
	if _, err := l.VerifyIDToken(ctx, p.idToken(t, p.es, nil), "n-1"); !errors.Is(err, sdk.ErrIDToken) || !errors.Is(err, ledgeranchors.ErrUnknownKey) {
		t.Errorf("a key not in the registry: %v", err)
	}
	other, err := sdk.NewLogin(sdk.LoginConfig{Issuer: "https://js.trustid.example", ClientID: "rp", RedirectURI: "https://rp.example/cb", Key: key,
		Algorithms: []string{gm.AlgSM2}, Registry: anchors})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.VerifyIDToken(ctx, tok, "n-1"); !errors.Is(err, sdk.ErrIDToken) {
		t.Errorf("310000's token for a login at 320000: %v", err)
	}

	// Retired: refused as soon as the view has it.
	if _, err := ca.SetRegionKeyState(ctx, p.sm2.Kid, chaincode.KeyRetiring); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.SetRegionKeyState(ctx, p.sm2.Kid, chaincode.KeyRetired); err != nil {
		t.Fatal(err)
	}
	waitIDToken(t, "retired key refused", func() bool {
		_, err := l.VerifyIDToken(ctx, tok, "n-1")
		return errors.Is(err, ledgeranchors.ErrKeyNotValid)
	})
	// Suspended by the consortium (320000's vote): the issuer is unknown.
	if err := cb.Vote(ctx, chaincode.ActionSuspend, "310000"); err != nil {
		t.Fatal(err)
	}
	waitIDToken(t, "suspended region refused", func() bool {
		_, err := l.VerifyIDToken(ctx, tok, "n-1")
		return errors.Is(err, ledgeranchors.ErrUnknownIssuer) && errors.Is(err, sdk.ErrIDToken)
	})
}

func waitIDToken(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
