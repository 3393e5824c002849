package auth

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

// regionsFed is a Federation that knows only which issuer is which
// region's node: enough for IntrospectForPeer, which reads RegionIssuer.
type regionsFed map[string]string

func (f regionsFed) TokenRegion(iss string) (string, bool) { r, ok := f[iss]; return r, ok }
func (regionsFed) RegionKey(context.Context, string, string) (crypto.PublicKey, string, error) {
	return nil, "", errors.New("no keys")
}
func (regionsFed) RegionKeyValid(string, string) error { return errors.New("no keys") }
func (regionsFed) RegionClient(string) (string, []string, bool, bool) {
	return "", nil, false, false
}
func (f regionsFed) RegionIssuer(region string) string {
	for iss, r := range f {
		if r == region {
			return iss
		}
	}
	return ""
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
	// Nor is a revoked token, or one of a disabled client.
	if err := e.svc.Revoke(ctx, Client{ID: "svc-a"}, forBJ); err != nil {
		t.Fatal(err)
	}
	if in, err := e.svc.IntrospectForPeer(ctx, "110000", forBJ); err != nil || in.Active {
		t.Errorf("a revoked token: %+v %v, want inactive", in, err)
	}
	live := e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.Audience = jwt.ClaimStrings{testIssuer, bj} })
	if _, err := e.clients.Update(ctx, "svc-a", func(c *Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if in, err := e.svc.IntrospectForPeer(ctx, "110000", live); err != nil || in.Active {
		t.Errorf("a token of a disabled client: %+v %v, want inactive", in, err)
	}
	alone := e.service(e.store) // no Federation
	if in, err := alone.IntrospectForPeer(ctx, "110000", forBJ); !errors.Is(err, ErrInvalidRequest) || in.Active {
		t.Errorf("a node outside any federation asked by a peer: %+v %v, want invalid_request", in, err)
	}
}

// fakeRegistry is a trust registry of one other region, 110000 at bj,
// whose one key verifies any kid, and of relying parties by home region.
type fakeRegistry struct {
	regions map[string]string // issuer URL -> region
	key     crypto.PublicKey
	homes   map[string]string   // client -> home region
	scopes  map[string][]string // client -> scopes, when not Scopes
}

func (f *fakeRegistry) TokenRegion(iss string) (string, bool) { r, ok := f.regions[iss]; return r, ok }
func (f *fakeRegistry) RegionKey(context.Context, string, string) (crypto.PublicKey, string, error) {
	return f.key, gm.AlgSM2, nil
}
func (f *fakeRegistry) RegionKeyValid(string, string) error { return nil }
func (f *fakeRegistry) RegionClient(id string) (string, []string, bool, bool) {
	home, ok := f.homes[id]
	if sc, set := f.scopes[id]; set {
		return home, sc, true, ok
	}
	return home, Scopes, true, ok
}
func (f *fakeRegistry) RegionIssuer(region string) string {
	return regionsFed(f.regions).RegionIssuer(region)
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

// regionRecord is a Federation holding this region's record only: kid →
// key and registry state; as InstanceKeys, the record's keys (the
// keystore's are federation.Instances' to refuse: TestInstances there).
type regionRecord struct {
	region string
	mu     sync.Mutex
	keys   map[string]regionRecordKey
}

type regionRecordKey struct {
	pub   crypto.PublicKey
	alg   string
	state string
}

func (f *regionRecord) TokenRegion(string) (string, bool) { return "", false }
func (f *regionRecord) RegionKey(_ context.Context, region, kid string) (crypto.PublicKey, string, error) {
	if err := f.RegionKeyValid(region, kid); err != nil {
		return nil, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys[kid].pub, f.keys[kid].alg, nil
}
func (f *regionRecord) RegionKeyValid(region, kid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[kid]
	switch {
	case region != f.region || !ok:
		return errors.New("unknown key")
	case k.state != "active" && k.state != "retiring":
		return errors.New("key " + k.state)
	}
	return nil
}
func (f *regionRecord) InstanceKey(ctx context.Context, kid string) (crypto.PublicKey, string, error) {
	return f.RegionKey(ctx, f.region, kid)
}
func (f *regionRecord) RegionClient(string) (string, []string, bool, bool) {
	return "", nil, false, false
}
func (f *regionRecord) RegionIssuer(string) string { return "" }
func (f *regionRecord) RegistryGeneration() uint64 { return 0 }

func (f *regionRecord) set(kid string, pub crypto.PublicKey, alg, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[kid] = regionRecordKey{pub, alg, state}
}

// TestRegionKeyFromRegistry: another instance of the region rotated and
// published its new key on the region's record before this instance's
// keystore has it: this instance accepts that instance's tokens
// (Instances set), verified with the record's key on every use, while
// the record lists the key active or retiring. A key retired or revoked
// on the record, a kid the record does not list, a token for another
// audience, and any such token at a node without Instances stay refused.
func TestRegionKeyFromRegistry(t *testing.T) {
	rec := &regionRecord{region: "310000", keys: map[string]regionRecordKey{}}
	e := newEnv(t, func(c *Config) { c.Federation, c.Instances = rec, rec })
	ctx := context.Background()
	a := e.register("svc-a", gm.AlgSM2)
	other, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	otherKid, _ := KeyID(other.Public())
	tok := e.nodeToken(other, otherKid, nil)

	if _, err := e.svc.Authorize(ctx, tok, ScopeCredentialsIssue); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a kid the record does not list: %v, want invalid_token", err)
	}
	rec.set(otherKid, other.Public(), gm.AlgSM2, "active")
	for i := range 2 {
		if _, err := e.svc.Authorize(ctx, tok, ScopeCredentialsIssue); err != nil {
			t.Fatalf("use %d, key active on the region's record: %v", i+1, err)
		}
	}
	if in, err := e.svc.Introspect(ctx, a.Client, tok); err != nil || !in.Active {
		t.Errorf("introspection: %+v %v", in, err)
	}
	rec.set(otherKid, other.Public(), gm.AlgSM2, "retiring")
	if _, err := e.svc.Authorize(ctx, tok, ScopeCredentialsIssue); err != nil {
		t.Errorf("key retiring on the record: %v", err)
	}
	forOther := e.nodeToken(other, otherKid, func(_ map[string]any, cl *testAccessClaims) {
		cl.Audience = jwt.ClaimStrings{"https://bj.trustid.example"}
	})
	if _, err := e.svc.Authorize(ctx, forOther, ScopeCredentialsIssue); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a token for another audience: %v, want invalid_token", err)
	}
	wrongAlg := e.nodeToken(other, otherKid, nil)
	rec.set(otherKid, other.Public(), gm.AlgES256, "retiring")
	if _, err := e.svc.Authorize(ctx, wrongAlg, ScopeCredentialsIssue); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("alg other than the record's: %v, want invalid_token", err)
	}
	for _, state := range []string{"retired", "revoked"} {
		rec.set(otherKid, other.Public(), gm.AlgSM2, state)
		if _, err := e.svc.Authorize(ctx, tok, ScopeCredentialsIssue); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("key %s on the record (the token verified before): %v, want invalid_token", state, err)
		}
	}
	rec.set(otherKid, other.Public(), gm.AlgSM2, "active")
	noInstances := e.service(e.store, func(c *Config) { c.Federation = rec })
	if _, err := noInstances.Authorize(ctx, tok, ScopeCredentialsIssue); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a node without Instances: %v, want invalid_token", err)
	}
}

// TestForeignTokenIDNamespace: another region chooses its tokens' jti
// values, so its tokens' revocations are kept apart from this node's: a
// token of this node revoked here leaves another region's token with the
// same jti valid (and so no region can name, by its jti, a revocation of
// this node's tokens).
func TestForeignTokenIDNamespace(t *testing.T) {
	const bj = "https://bj.trustid.example"
	other, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	fed := &fakeRegistry{regions: map[string]string{bj: "110000"}, key: other.Public(), homes: map[string]string{"svc-bj": "110000"}}
	e := newEnv(t, func(c *Config) { c.Federation = fed })
	ctx := context.Background()
	e.register("svc-a", gm.AlgSM2)
	const jti = "one-jti"
	own := e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.ID = jti })
	foreign := e.nodeToken(other, "k-1", func(_ map[string]any, cl *testAccessClaims) {
		cl.Issuer, cl.ClientID, cl.Subject, cl.Scope, cl.ID = bj, "svc-bj", "svc-bj", ScopeQRRedeem, jti
	})
	if err := e.svc.Revoke(ctx, Client{ID: "svc-a"}, own); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authorize(ctx, own, ScopeCredentialsIssue); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("this node's token after its revocation: %v, want invalid_token", err)
	}
	if _, err := e.svc.Authorize(ctx, foreign, ScopeQRRedeem); err != nil {
		t.Errorf("bj's token with the jti of a token revoked here: %v", err)
	}
}

// TestForeignTokenScopesOfTheRegistry: another region's token grants here
// only the federated scopes its client's record in the registry still
// holds: a token carrying qr:redeem for a client registered without it is
// refused that scope, and one carrying scopes its client is registered
// for that do not cross regions (from a node that grants them, as nodes
// did before they granted such tokens FederatedScopes alone) is refused
// those.
func TestForeignTokenScopesOfTheRegistry(t *testing.T) {
	const bj = "https://bj.trustid.example"
	other, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	fed := &fakeRegistry{regions: map[string]string{bj: "110000"}, key: other.Public(),
		homes: map[string]string{"svc-bj": "110000", "svc-bj-2": "110000"}, scopes: map[string][]string{"svc-bj-2": {ScopeCredentialsIssue}}}
	e := newEnv(t, func(c *Config) { c.Federation = fed })
	for client, ok := range map[string]bool{"svc-bj": true, "svc-bj-2": false} {
		tok := e.nodeToken(other, "k-1", func(_ map[string]any, cl *testAccessClaims) {
			cl.Issuer, cl.ClientID, cl.Subject, cl.Scope = bj, client, client, ScopeQRRedeem
		})
		if _, err := e.svc.Authorize(context.Background(), tok, ScopeQRRedeem); ok != (err == nil) || !ok && !errors.Is(err, ErrInsufficientScope) {
			t.Errorf("%s: %v, want accepted %v", client, err, ok)
		}
	}
	every := e.nodeToken(other, "k-1", func(_ map[string]any, cl *testAccessClaims) {
		cl.Issuer, cl.ClientID, cl.Subject, cl.Scope = bj, "svc-bj", "svc-bj", strings.Join(Scopes, " ")
	})
	for _, sc := range Scopes {
		_, err := e.svc.Authorize(context.Background(), every, sc)
		if ok := slices.Contains(FederatedScopes, sc); ok != (err == nil) || !ok && !errors.Is(err, ErrInsufficientScope) {
			t.Errorf("%s of a token carrying every scope: %v, want accepted %v", sc, err, ok)
		}
	}
}

// TestTokenForAnotherRegionCarriesOnlyFederatedScopes: a token this node
// issues for another region's node too (RFC 8707 resource) names this
// node among its audiences, so the other node, which sees it, could
// present it here: it is granted only FederatedScopes, whether the client
// asked for every scope it is allowed or named others beside them, and is
// refused when it asked for none of them. A token for this node alone
// keeps every scope.
func TestTokenForAnotherRegionCarriesOnlyFederatedScopes(t *testing.T) {
	const bj = "https://bj.trustid.example"
	e := newEnv(t, func(c *Config) { c.Federation = regionsFed{testIssuer: "310000", bj: "110000"} })
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	cl, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: e.assertion(c, nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, scope := range []string{"", ScopeEnroll + " " + ScopeQRRedeem} {
		for _, res := range [][]string{{bj}, {testIssuer, bj}} {
			resp, err := e.svc.Token(ctx, cl, TokenRequest{GrantType: GrantClientCredentials, Scope: scope, Resources: res})
			if err != nil || resp.Scope != ScopeQRRedeem {
				t.Fatalf("scope %q, resources %v: scope %q %v, want %s", scope, res, resp.Scope, err, ScopeQRRedeem)
			}
			if _, err := e.svc.Authorize(ctx, resp.AccessToken, ScopeEnroll); !errors.Is(err, ErrInsufficientScope) {
				t.Errorf("scope %q, resources %v: %s here: %v, want insufficient_scope", scope, res, ScopeEnroll, err)
			}
			if _, err := e.svc.Authorize(ctx, resp.AccessToken, ScopeQRRedeem); err != nil {
				t.Errorf("scope %q, resources %v: %s here: %v", scope, res, ScopeQRRedeem, err)
			}
		}
	}
	if _, err := e.svc.Token(ctx, cl, TokenRequest{GrantType: GrantClientCredentials, Scope: ScopeEnroll, Resources: []string{bj}}); !errors.Is(err, ErrInvalidScope) {
		t.Errorf("only %s for another region: %v, want invalid_scope", ScopeEnroll, err)
	}
	for _, res := range [][]string{nil, {testIssuer}} {
		resp, err := e.svc.Token(ctx, cl, TokenRequest{GrantType: GrantClientCredentials, Resources: res})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Authorize(ctx, resp.AccessToken, ScopeEnroll); err != nil {
			t.Errorf("resources %v: %s: %v", res, ScopeEnroll, err)
		}
	}
}

// scriptedPeer is the issuing region's node as Introspect reaches it
// (Config.Peers): it answers each token with answer's Introspection.
type scriptedPeer struct {
	mu     sync.Mutex
	answer func(token string) Introspection
	asked  int
}

func (p *scriptedPeer) IntrospectAt(_ context.Context, _ string, token string) (Introspection, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked++
	return p.answer(token), nil
}

// TestForeignTokenIntrospection: another region's token is introspected
// at its issuing node only once it passes this node's own checks, and
// the answer is taken only for that token: an answer about another jti
// or client is unavailable, never active; an active answer carries the
// scopes both the registry and the issuing node grant; an inactive one
// is kept as a revocation that Authorize then applies at once, even to
// a token it had cached. A node without Peers reports such a token
// inactive. Revoke leaves another region's token to its node, and never
// revokes this node's token of the same jti.
func TestForeignTokenIntrospection(t *testing.T) {
	const bj = "https://bj.trustid.example"
	other, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	fed := &fakeRegistry{regions: map[string]string{bj: "110000"}, key: other.Public(),
		homes: map[string]string{"svc-bj": "110000", "svc-nj": "320000"}}
	peer := &scriptedPeer{}
	e := newEnv(t, func(c *Config) { c.Federation, c.Peers = fed, peer })
	ctx := context.Background()
	e.register("svc-a", gm.AlgSM2)
	foreign := func(client, jti string) string {
		return e.nodeToken(other, "k-1", func(_ map[string]any, cl *testAccessClaims) {
			cl.Issuer, cl.ClientID, cl.Subject, cl.Scope, cl.ID = bj, client, client, ScopeQRRedeem+" "+ScopeCredentialsIssue, jti
		})
	}
	answer := func(active bool, client, jti, scope string) func(string) Introspection {
		return func(string) Introspection {
			return Introspection{Active: active, ClientID: client, Jti: jti, Scope: scope, TokenType: "Bearer"}
		}
	}
	caller := Client{ID: "svc-bj", Region: "110000"}

	tok := foreign("svc-bj", "jti-1")
	peer.answer = answer(true, "svc-bj", "jti-1", ScopeCredentialsIssue)
	if in, err := e.svc.Introspect(ctx, caller, tok); err != nil || !in.Active || in.Scope != "" {
		t.Errorf("the issuing node grants no scope the registry allows here: %+v %v, want active with no scope", in, err)
	}
	peer.answer = answer(true, "svc-bj", "jti-1", ScopeQRRedeem+" "+ScopeCredentialsIssue)
	if in, err := e.svc.Introspect(ctx, caller, tok); err != nil || !in.Active || in.Scope != ScopeQRRedeem {
		t.Errorf("active at the issuing node: %+v %v, want active with scope %s", in, err, ScopeQRRedeem)
	}
	for name, a := range map[string]func(string) Introspection{
		"another jti":    answer(true, "svc-bj", "jti-2", ScopeQRRedeem),
		"another client": answer(true, "svc-a", "jti-1", ScopeQRRedeem),
	} {
		peer.answer = a
		if in, err := e.svc.Introspect(ctx, caller, tok); !errors.Is(err, ErrUnavailable) || in.Active {
			t.Errorf("an answer about %s: %+v %v, want ErrUnavailable", name, in, err)
		}
	}

	// A token this node's checks refuse is not asked about.
	peer.answer = answer(true, "svc-nj", "jti-3", ScopeQRRedeem)
	asked := peer.asked
	if in, err := e.svc.Introspect(ctx, Client{ID: "svc-nj", Region: "320000"}, foreign("svc-nj", "jti-3")); err != nil || in.Active || peer.asked != asked {
		t.Errorf("bj's token for a client of 320000: %+v %v, asked the peer %d times, want inactive, not asked", in, err, peer.asked-asked)
	}
	// A visiting party learns only about its own tokens.
	visitor := Client{ID: "svc-bj-2", Region: "110000", Scopes: []string{ScopeRegistryAdmin}, visiting: true}
	peer.answer = answer(true, "svc-bj", "jti-1", ScopeQRRedeem)
	if in, err := e.svc.Introspect(ctx, visitor, tok); err != nil || in.Active {
		t.Errorf("a visitor allowed registry:admin asking about another client's token: %+v %v, want inactive", in, err)
	}
	noPeers := e.service(e.store, func(c *Config) { c.Federation = fed })
	if in, err := noPeers.Introspect(ctx, caller, tok); err != nil || in.Active {
		t.Errorf("a node without Peers: %+v %v, want inactive", in, err)
	}

	// Revoke leaves another region's token to its node.
	const shared = "jti-shared"
	own := e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.ID = shared })
	sharing := foreign("svc-bj", shared)
	if err := e.svc.Revoke(ctx, caller, sharing); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authorize(ctx, own, ScopeCredentialsIssue); err != nil {
		t.Errorf("this node's token after bj's token of the same jti was revoked here: %v", err)
	}
	if _, err := e.svc.Authorize(ctx, sharing, ScopeQRRedeem); err != nil {
		t.Errorf("bj's token after its revocation at this node: %v, want it left to bj", err)
	}

	// Inactive at the issuing node: refused from then on, cached or not.
	if _, err := e.svc.Authorize(ctx, tok, ScopeQRRedeem); err != nil {
		t.Fatal(err)
	}
	peer.answer = answer(false, "", "", "")
	if in, err := e.svc.Introspect(ctx, caller, tok); err != nil || in.Active {
		t.Fatalf("inactive at the issuing node: %+v %v", in, err)
	}
	if _, err := e.svc.Authorize(ctx, tok, ScopeQRRedeem); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Authorize after the issuing node reported the token inactive: %v, want invalid_token", err)
	}
	// The answer is kept: the issuing node is not asked again.
	peer.answer = answer(true, "svc-bj", "jti-1", ScopeQRRedeem)
	asked = peer.asked
	if in, err := e.svc.Introspect(ctx, caller, tok); err != nil || in.Active || peer.asked != asked {
		t.Errorf("introspection after an inactive answer: %+v %v, asked %d times; want inactive, not asked", in, err, peer.asked-asked)
	}
}

// TestForeignTokenRevocationRecheck: a revocation of another region's
// cached token that reaches the shared store some other way (another
// instance's introspection) is seen once RevocationRecheck has passed,
// to the nanosecond.
func TestForeignTokenRevocationRecheck(t *testing.T) {
	const bj = "https://bj.trustid.example"
	other, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	fed := &fakeRegistry{regions: map[string]string{bj: "110000"}, key: other.Public(), homes: map[string]string{"svc-bj": "110000"}}
	e := newEnv(t, func(c *Config) { c.Federation, c.RevocationRecheck = fed, time.Second })
	ctx := context.Background()
	tok := e.nodeToken(other, "k-1", func(_ map[string]any, cl *testAccessClaims) {
		cl.Issuer, cl.ClientID, cl.Subject, cl.Scope, cl.ID = bj, "svc-bj", "svc-bj", ScopeQRRedeem, "jti-1"
	})
	if _, err := e.svc.Authorize(ctx, tok, ScopeQRRedeem); err != nil {
		t.Fatal(err)
	}
	// Another instance learns the token is inactive at bj.
	peer := &scriptedPeer{answer: func(string) Introspection { return Introspection{} }}
	elsewhere := e.service(e.store, func(c *Config) { c.Federation, c.Peers = fed, peer })
	if in, err := elsewhere.Introspect(ctx, Client{ID: "svc-bj", Region: "110000"}, tok); err != nil || in.Active {
		t.Fatalf("introspection at the other instance: %+v %v", in, err)
	}
	e.clock.Advance(time.Second - time.Nanosecond)
	if _, err := e.svc.Authorize(ctx, tok, ScopeQRRedeem); err != nil {
		t.Errorf("cached, before the recheck: %v (the cache may serve it until then)", err)
	}
	e.clock.Advance(time.Nanosecond)
	if _, err := e.svc.Authorize(ctx, tok, ScopeQRRedeem); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("at the recheck: %v, want invalid_token", err)
	}
}
