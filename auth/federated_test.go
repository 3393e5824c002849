package auth

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

// regionsFed is a Federation that knows only which issuer is which
// region's node: enough for IntrospectForPeer, which reads TokenRegion.
type regionsFed map[string]string

func (f regionsFed) TokenRegion(iss string) (string, bool) { r, ok := f[iss]; return r, ok }
func (regionsFed) RegionKey(context.Context, string, string) (crypto.PublicKey, string, error) {
	return nil, "", errors.New("no keys")
}
func (regionsFed) RegionKeyValid(string, string) error { return errors.New("no keys") }
func (regionsFed) RegionClient(string) (string, []string, bool, bool) {
	return "", nil, false, false
}
func (regionsFed) RegistryGeneration() uint64 { return 0 }

// TestIntrospectForPeerAudience: a peer region learns about this node's
// token only when the token names that region's node among its
// audiences, and a token of another issuer is refused as not issued here
// rather than reported inactive.
func TestIntrospectForPeerAudience(t *testing.T) {
	const bj, gz = "https://bj.trustid.example", "https://gz.trustid.example"
	e := newEnv(t, func(c *Config) {
		c.Federation = regionsFed{testIssuer: "310000", bj: "110000", gz: "440000"}
	})
	ctx := context.Background()
	e.register("svc-a", gm.AlgSM2)
	forBJ := e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.Audience = jwt.ClaimStrings{testIssuer, bj} })
	if in, err := e.svc.IntrospectForPeer(ctx, "110000", forBJ); err != nil || !in.Active {
		t.Errorf("the audience region asking: %+v %v", in, err)
	}
	if in, err := e.svc.IntrospectForPeer(ctx, "440000", forBJ); err != nil || in.Active {
		t.Errorf("a region not among the audiences asking: %+v %v", in, err)
	}
	notOurs := e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.Issuer = bj })
	if _, err := e.svc.IntrospectForPeer(ctx, "110000", notOurs); !errors.Is(err, ErrNotIssuedHere) || !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("a token of another issuer: %v, want invalid_request (not issued here)", err)
	}
}

// fakeRegistry is a trust registry of one other region, 110000 at bj,
// whose one key verifies any kid, and of relying parties by home region.
type fakeRegistry struct {
	regions map[string]string // issuer URL -> region
	key     crypto.PublicKey
	homes   map[string]string // client -> home region
}

func (f *fakeRegistry) TokenRegion(iss string) (string, bool) { r, ok := f.regions[iss]; return r, ok }
func (f *fakeRegistry) RegionKey(context.Context, string, string) (crypto.PublicKey, string, error) {
	return f.key, gm.AlgSM2, nil
}
func (f *fakeRegistry) RegionKeyValid(string, string) error { return nil }
func (f *fakeRegistry) RegionClient(id string) (string, []string, bool, bool) {
	home, ok := f.homes[id]
	return home, Scopes, true, ok
}
func (f *fakeRegistry) RegistryGeneration() uint64 { return 0 }

// TestForeignTokenChecks: another region's token counts only for a
// client registered with that region, and a token naming this node as
// its issuer is never taken for another region's, whatever key the
// registry would find for its kid (a key this node no longer uses).
func TestForeignTokenChecks(t *testing.T) {
	const bj = "https://bj.trustid.example"
	other, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	fed := &fakeRegistry{
		regions: map[string]string{testIssuer: "310000", bj: "110000"},
		key:     other.Public(),
		homes:   map[string]string{"svc-bj": "110000", "svc-nj": "320000", "svc-a": "310000"},
	}
	e := newEnv(t, func(c *Config) { c.Federation = fed })
	ctx := context.Background()
	e.register("svc-a", gm.AlgSM2)
	foreign := func(iss, client string) string {
		return e.nodeToken(other, "k-1", func(_ map[string]any, cl *testAccessClaims) {
			cl.Issuer, cl.ClientID, cl.Subject, cl.Scope = iss, client, client, ScopeQRRedeem
		})
	}
	if _, err := e.svc.Authorize(ctx, foreign(bj, "svc-bj"), ScopeQRRedeem); err != nil {
		t.Fatalf("bj's token for its own client: %v", err)
	}
	if _, err := e.svc.Authorize(ctx, foreign(bj, "svc-nj"), ScopeQRRedeem); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("bj's token for a client of 320000: %v, want invalid_token", err)
	}
	if _, err := e.svc.Authorize(ctx, foreign(testIssuer, "svc-a"), ScopeQRRedeem); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a token naming this node as issuer, signed by a key not its own: %v, want invalid_token", err)
	}
}
