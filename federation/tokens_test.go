package federation_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/registry"
	"github.com/trustid-cn/trustid/store"
)

// The regions' node URLs as ledgertest.EnsureConsortium registers them.
const issuerA, issuerB = "https://" + regionA + ".trustid.local", "https://" + regionB + ".trustid.local"

// nodeKeys is a node's one SM2 signing key.
type nodeKeys struct{ k keystore.Key }

func (n nodeKeys) Active(string) (keystore.Key, error) { return n.k, nil }
func (n nodeKeys) Published() []keystore.Key           { return []keystore.Key{n.k} }

// newAuth starts a region node's token service with an empty client
// registry of its own; fed nil accepts only its own tokens.
func newAuth(t testing.TB, issuer, kid string, key *gm.PrivateKey, fed auth.Federation, cacheSize int) *auth.Service {
	t.Helper()
	return newAuthWith(t, issuer, kid, key, fed, auth.NewMemoryStore(nil), cacheSize)
}

// newAuthWith is newAuth with the client registry clients.
func newAuthWith(t testing.TB, issuer, kid string, key *gm.PrivateKey, fed auth.Federation, clients auth.ClientStore, cacheSize int) *auth.Service {
	t.Helper()
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	s, err := auth.New(auth.Config{Issuer: issuer, Keys: nodeKeys{keystore.Key{Kid: kid, Alg: gm.AlgSM2, State: keystore.StateActive, Public: key.Public(), Signer: key}},
		Clients: clients, Store: mem, Federation: fed, CacheSize: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// viewOf runs a view of l until the test ends.
func viewOf(t testing.TB, l ledger.Ledger) *ledger.View {
	v := ledger.NewView(l, ledger.ViewOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return v
}

// tokenSetup: region A's node (key registered on the ledger) and region
// B's node verifying from its own view; svc-a is a relying party of A on
// the ledger, with scopes qr:redeem and identity:enroll.
type tokenSetup struct {
	c        *consortium
	viewB    *ledger.View
	a, b     *auth.Service
	clientA  auth.Client
	keyA     *gm.PrivateKey
	keyB     *gm.PrivateKey
	resource auth.TokenRequest
}

// withWebEndpoint adds a "web" endpoint to region's record through its
// client c and waits until view has it: a name the registry places in
// the region that is not its node's issuer URL. It returns the record
// as it was and the endpoint.
func withWebEndpoint(t testing.TB, c ledger.Client, region string, view *ledger.View) (chaincode.Region, string) {
	t.Helper()
	web := "https://www." + region + ".trustid.local"
	r, err := c.Region(context.Background(), region)
	if err != nil {
		t.Fatal(err)
	}
	eps := append(r.Endpoints, chaincode.Endpoint{Type: "web", URL: web})
	if _, err := c.UpdateRegion(context.Background(), chaincode.RegionInput{Code: region, DID: r.DID, Name: r.Name, Endpoints: eps}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the view of the web endpoint", func() bool { reg, ok := view.IssuerRegion(web); return ok && reg == region })
	return r, web
}

func newTokenSetup(t testing.TB, cacheSize int) *tokenSetup {
	t.Helper()
	ctx := context.Background()
	c := newConsortium(t)
	keyA := addKey(t, c.a, "a-node-1")
	viewB := viewOf(t, c.b.L)
	k, _ := gm.GenerateKey(rand.Reader)
	j, _ := gm.NewJWK(k.Public(), "svc-a-k")
	if _, err := c.a.PutRelyingParty(ctx, chaincode.RelyingParty{ClientID: "svc-a", JWKS: gm.JWKS{Keys: []gm.JWK{j}},
		Scopes: []string{auth.ScopeQRRedeem, auth.ScopeEnroll}, Status: chaincode.EntryActive}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's view", func() bool {
		_, ok := viewB.RelyingParty("svc-a")
		r, _ := viewB.Region(regionA)
		return ok && len(r.Keys) == 2
	})
	keyB, _ := gm.GenerateKey(rand.Reader)
	return &tokenSetup{
		c: c, viewB: viewB, keyA: keyA, keyB: keyB,
		a:        newAuth(t, issuerA, "a-node-1", keyA, federation.Tokens{Keys: &federation.Keys{Registry: c.view}}, cacheSize),
		b:        newAuth(t, issuerB, "b-node-1", keyB, federation.Tokens{Keys: &federation.Keys{Registry: viewB}}, cacheSize),
		clientA:  auth.Client{ID: "svc-a", Region: regionA, GrantTypes: []string{auth.GrantClientCredentials}, Scopes: []string{auth.ScopeQRRedeem, auth.ScopeEnroll}},
		resource: auth.TokenRequest{GrantType: auth.GrantClientCredentials, Scope: auth.ScopeQRRedeem, Resources: []string{issuerB}},
	}
}

// TestTokensAcrossRegions: a token region A issues for B (RFC 8707
// resource) is accepted by B from B's view of the registry alone — B
// never calls A — with A's region and the client's registered scopes; a
// token of A only for A is refused by B; a resource that is not a region
// is refused by A; and B refuses A's tokens as soon as its view has A's
// client suspended, A's key retired, or A suspended.
func TestTokensAcrossRegions(t *testing.T) {
	ctx := context.Background()
	s := newTokenSetup(t, 0)
	issue := func(req auth.TokenRequest) string {
		t.Helper()
		r, err := s.a.Token(ctx, s.clientA, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.AccessToken
	}
	tok := issue(s.resource)
	p, err := s.b.Authorize(ctx, tok, auth.ScopeQRRedeem)
	if err != nil || p.ClientID != "svc-a" || p.Region != regionA {
		t.Fatalf("A's token at B: %+v %v", p, err)
	}
	if _, err := s.b.Authorize(ctx, tok, auth.ScopeEnroll); !errors.Is(err, auth.ErrInsufficientScope) {
		t.Errorf("scope not granted: %v", err)
	}
	// A scope A registered, but that acts on a region's own people: A
	// does not grant it in a token for B (auth.TestTokenForAnotherRegion
	// CarriesOnlyFederatedScopes), nor would B honour it
	// (auth.TestForeignTokenScopesOfTheRegistry).
	enroll := issue(auth.TokenRequest{GrantType: auth.GrantClientCredentials, Scope: auth.ScopeEnroll + " " + auth.ScopeQRRedeem, Resources: []string{issuerB}})
	if _, err := s.b.Authorize(ctx, enroll, auth.ScopeEnroll); !errors.Is(err, auth.ErrInsufficientScope) {
		t.Errorf("identity:enroll of another region: %v", err)
	}
	if _, err := s.b.Authorize(ctx, enroll, auth.ScopeQRRedeem); err != nil {
		t.Errorf("qr:redeem beside it: %v", err)
	}
	only := issue(auth.TokenRequest{GrantType: auth.GrantClientCredentials, Scope: auth.ScopeQRRedeem})
	if _, err := s.b.Authorize(ctx, only, auth.ScopeQRRedeem); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("A's token not meant for B: %v", err)
	}
	if _, err := s.a.Authorize(ctx, tok, auth.ScopeQRRedeem); err == nil {
		// A knows no client svc-a locally in this setup: its own check of
		// the client refuses, which shows A's path is its own registry.
		t.Errorf("A accepted a token of a client it does not hold")
	}
	for _, res := range []string{"https://evil.example", issuerB + "/", "https://330000.trustid.local"} {
		if _, err := s.a.Token(ctx, s.clientA, auth.TokenRequest{GrantType: auth.GrantClientCredentials, Resources: []string{res}}); !errors.Is(err, auth.ErrInvalidTarget) {
			t.Errorf("resource %s: %v", res, err)
		}
	}
	// RFC 8707 §2: resource repeated, one per resource. A token for A and
	// B (or for B twice) is B's; one naming something that is not a
	// region, or an empty resource, is not issued at all.
	for _, res := range [][]string{{issuerA, issuerB}, {issuerB, issuerB}} {
		if _, err := s.b.Authorize(ctx, issue(auth.TokenRequest{GrantType: auth.GrantClientCredentials, Scope: auth.ScopeQRRedeem, Resources: res}), auth.ScopeQRRedeem); err != nil {
			t.Errorf("resources %v at B: %v", res, err)
		}
	}
	for _, res := range [][]string{{issuerB, "https://evil.example"}, {""}, {issuerB, ""}} {
		if _, err := s.a.Token(ctx, s.clientA, auth.TokenRequest{GrantType: auth.GrantClientCredentials, Resources: res}); !errors.Is(err, auth.ErrInvalidTarget) {
			t.Errorf("resources %q: %v", res, err)
		}
	}

	// Forged: the same claims signed by a key A never registered.
	forged, _ := gm.GenerateKey(rand.Reader)
	f := newAuth(t, issuerA, "a-node-1", forged, nil, 0)
	ft, err := f.Token(ctx, s.clientA, auth.TokenRequest{GrantType: auth.GrantClientCredentials, Scope: auth.ScopeQRRedeem})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.b.Authorize(ctx, ft.AccessToken, auth.ScopeQRRedeem); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("forged token: %v", err)
	}

	// The client suspended by its region: refused, cached or not.
	x, _ := s.viewB.RelyingParty("svc-a")
	x.Status = chaincode.EntrySuspended
	if _, err := s.c.a.PutRelyingParty(ctx, x); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "suspended client", func() bool { _, err := s.b.Authorize(ctx, tok, auth.ScopeQRRedeem); return err != nil })
	x, _ = s.viewB.RelyingParty("svc-a") // the current record (and version)
	x.Status = chaincode.EntryActive
	if _, err := s.c.a.PutRelyingParty(ctx, x); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "client back", func() bool { _, err := s.b.Authorize(ctx, tok, auth.ScopeQRRedeem); return err == nil })

	// The registry's current record bounds a token: a client whose region
	// takes qr:redeem, or client_credentials (the grant of every access
	// token), from it has nothing of it left here.
	for _, change := range []func(x *chaincode.RelyingParty){
		func(x *chaincode.RelyingParty) { x.Scopes = []string{auth.ScopeEnroll} },
		func(x *chaincode.RelyingParty) {
			x.GrantTypes, x.RedirectURIs = []string{chaincode.GrantAuthorizationCode}, []string{"https://a.example/cb"}
		},
	} {
		x, _ := s.viewB.RelyingParty("svc-a")
		change(&x)
		if _, err := s.c.a.PutRelyingParty(ctx, x); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "scope or grant taken", func() bool {
			_, err := s.b.Authorize(ctx, tok, auth.ScopeQRRedeem)
			return errors.Is(err, auth.ErrInsufficientScope)
		})
		x, _ = s.viewB.RelyingParty("svc-a") // the current version
		x.Scopes, x.GrantTypes, x.RedirectURIs = []string{auth.ScopeQRRedeem, auth.ScopeEnroll}, nil, nil
		if _, err := s.c.a.PutRelyingParty(ctx, x); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "client back", func() bool { _, err := s.b.Authorize(ctx, tok, auth.ScopeQRRedeem); return err == nil })
	}

	// A retires its key: A's tokens stop at B.
	if _, _, err := s.c.a.L.Submit(ctx, "SetRegionKeyState", "a-node-1", chaincode.KeyRetired); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retired key", func() bool {
		_, err := s.b.Authorize(ctx, tok, auth.ScopeQRRedeem)
		return errors.Is(err, auth.ErrInvalidToken)
	})
}

// TestResourceIsTheRegionsAPIEndpoint: a token for another region's node
// names that node by its issuer URL, the region's "api" endpoint (RFC
// 8707 resource), the one name the node accepts in aud: B's DID and
// another of B's endpoints name B's region in the registry too, but a
// token for either would be good at no node, so A refuses them
// invalid_target saying what a resource must be.
func TestResourceIsTheRegionsAPIEndpoint(t *testing.T) {
	ctx := context.Background()
	s := newTokenSetup(t, 0)
	r, webB := withWebEndpoint(t, s.c.b, regionB, s.c.view)
	for _, res := range []string{r.DID, webB} {
		_, err := s.a.Token(ctx, s.clientA, auth.TokenRequest{GrantType: auth.GrantClientCredentials, Scope: auth.ScopeQRRedeem, Resources: []string{res}})
		var ae *auth.Error
		if !errors.Is(err, auth.ErrInvalidTarget) || !errors.As(err, &ae) || !strings.Contains(ae.Description, "api endpoint") {
			t.Errorf("resource %s (B's region, not its node's issuer): %v, want invalid_target naming the api endpoint", res, err)
		}
	}
	tok, err := s.a.Token(ctx, s.clientA, s.resource)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.b.Authorize(ctx, tok.AccessToken, auth.ScopeQRRedeem); err != nil {
		t.Errorf("a token for B's api endpoint at B: %v", err)
	}
}

// TestSuspendedRegionTokens: once the consortium suspends A, B refuses a
// token of A it accepted (and cached) a moment before: the suspension
// moved B's registry generation, so the cached token's last check no
// longer holds.
func TestSuspendedRegionTokens(t *testing.T) {
	ctx := context.Background()
	s := newTokenSetup(t, 0)
	r, err := s.a.Token(ctx, s.clientA, s.resource)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.b.Authorize(ctx, r.AccessToken, auth.ScopeQRRedeem); err != nil {
		t.Fatal(err)
	}
	gen := s.viewB.Generation()
	if err := s.c.b.Vote(ctx, chaincode.ActionSuspend, regionA); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A suspended at B", func() bool {
		_, err := s.b.Authorize(ctx, r.AccessToken, auth.ScopeQRRedeem)
		return errors.Is(err, auth.ErrInvalidToken)
	})
	if s.viewB.Generation() <= gen {
		t.Errorf("the registry generation did not move with the suspension: %d, was %d", s.viewB.Generation(), gen)
	}
}

// BenchmarkAuthorize compares B's validation of A's token (from its
// registry view) with B's validation of its own token (its own keys and
// client registry), without the token cache (each iteration verifies the
// SM2 signature) and with it. cpu-ns/op is the process's CPU time per
// operation, less disturbed than ns/op by other processes.
func BenchmarkAuthorize(b *testing.B) {
	ctx := context.Background()
	for _, cache := range []struct {
		name string
		size int
	}{{"nocache", -1}, {"cache", 0}} {
		s := newTokenSetup(b, cache.size)
		tok, err := s.a.Token(ctx, s.clientA, s.resource)
		if err != nil {
			b.Fatal(err)
		}
		own, ownTok := ownClientToken(b, s.keyB, cache.size)
		for _, c := range []struct {
			name string
			svc  *auth.Service
			tok  string
		}{{"same-region", own, ownTok}, {"cross-region", s.b, tok.AccessToken}} {
			b.Run(cache.name+"/"+c.name, func(b *testing.B) {
				if _, err := c.svc.Authorize(ctx, c.tok, auth.ScopeQRRedeem); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu0 := testenv.CPUTime()
				for b.Loop() {
					if _, err := c.svc.Authorize(ctx, c.tok, auth.ScopeQRRedeem); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(testenv.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// ownClientToken is region B's node with a client of its own
// registry, and a token it issued to that client.
func ownClientToken(b *testing.B, key *gm.PrivateKey, cacheSize int) (*auth.Service, string) {
	b.Helper()
	ctx := context.Background()
	clients := auth.NewMemoryStore(nil)
	k, _ := gm.GenerateKey(rand.Reader)
	j, _ := gm.NewJWK(k.Public(), "svc-b-k")
	c := auth.Client{ID: "svc-b", Name: "svc b", Created: time.Now(), Region: regionB, GrantTypes: []string{auth.GrantClientCredentials}, Scopes: []string{auth.ScopeQRRedeem},
		AuthMethod: auth.AuthPrivateKeyJWT, JWKS: gm.JWKS{Keys: []gm.JWK{j}}}
	if err := clients.Create(ctx, c); err != nil {
		b.Fatal(err)
	}
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mem.Close() })
	s, err := auth.New(auth.Config{Issuer: issuerB, Keys: nodeKeys{keystore.Key{Kid: "b-node-1", Alg: gm.AlgSM2, State: keystore.StateActive, Public: key.Public(), Signer: key}},
		Clients: clients, Store: mem, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	r, err := s.Token(ctx, c, auth.TokenRequest{GrantType: auth.GrantClientCredentials})
	if err != nil {
		b.Fatal(err)
	}
	return s, r.AccessToken
}

// TestOwnRegionTokenUnderAnotherIssuer: a token signed with a key of the
// node's own region is the node's own token, whatever issuer it names
// that the registry places in that region (its DID, another endpoint).
// Region A's node has retired a key in its keystore that A's record still
// lists active (the record lags): a token of A's issuer signed with it
// is refused (federation.ErrKeyHeld: the keystore judges its own keys),
// and so is the same token naming A's DID as its issuer, which was taken
// for another region's token, verified with the record's key, and
// granted qr:redeem.
func TestOwnRegionTokenUnderAnotherIssuer(t *testing.T) {
	ctx := context.Background()
	s := newTokenSetup(t, 0)
	kek := make([]byte, 16)
	rand.Read(kek)
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), kek, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old, err := ks.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := gm.NewJWK(old.Public, old.Kid)
	if _, err := s.c.a.AddRegionKey(ctx, j); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A's key on its record", func() bool {
		_, _, err := (&federation.Keys{Registry: s.c.view}).RegionKey(ctx, regionA, old.Kid)
		return err == nil
	})
	if _, err := ks.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	if err := ks.Retire(old.Kid); err != nil {
		t.Fatal(err)
	}
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	keys := &federation.Keys{Registry: s.c.view}
	a, err := auth.New(auth.Config{Issuer: issuerA, Keys: ks, Clients: auth.NewMemoryStore(nil), Store: mem,
		Federation: federation.Tokens{Keys: keys}, Instances: &federation.Instances{Keys: keys, Region: regionA, Keystore: ks}})
	if err != nil {
		t.Fatal(err)
	}
	token := func(iss string) string {
		t.Helper()
		now := time.Now()
		tok := jwt.NewWithClaims(gm.SigningMethodSM2, jwt.MapClaims{"iss": iss, "sub": "svc-a", "client_id": "svc-a", "aud": issuerA,
			"scope": auth.ScopeQRRedeem, "jti": "j-" + iss, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
		tok.Header["typ"], tok.Header["kid"] = auth.AccessTokenType, old.Kid
		str, err := tok.SignedString(old.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	for _, iss := range []string{issuerA, "did:web:" + regionA + ".trustid.local"} {
		if region, ok := (federation.Tokens{Keys: keys}).TokenRegion(iss); !ok || region != regionA {
			t.Fatalf("%s: the registry places it in %q %v, want %s", iss, region, ok, regionA)
		}
		tok := token(iss)
		if p, err := a.Authorize(ctx, tok, auth.ScopeQRRedeem); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("iss %s, a key A's keystore retired: %+v %v, want invalid_token", iss, p, err)
		}
	}
}

// TestForeignTokenIssuerIsTheRegionsAPIEndpoint: B accepts a token of
// region A only under the one issuer A's node writes, A's registered
// "api" endpoint, exactly (RFC 9068 §4, RFC 8414 §2: the issuer
// identifier is compared as a string). The same claims signed with A's
// registered key under A's DID, another of A's endpoints, or the api
// endpoint with a trailing slash, which the registry places in region A
// too, are refused: one token is not good under several names.
func TestForeignTokenIssuerIsTheRegionsAPIEndpoint(t *testing.T) {
	ctx := context.Background()
	s := newTokenSetup(t, 0)
	r, webA := withWebEndpoint(t, s.c.a, regionA, s.viewB)
	if r.API() != issuerA {
		t.Fatalf("A's api endpoint %q, want %s", r.API(), issuerA)
	}
	fed := federation.Tokens{Keys: &federation.Keys{Registry: s.viewB}}
	for _, iss := range []string{issuerA, r.DID, webA, issuerA + "/"} {
		if region, ok := fed.TokenRegion(iss); !ok || region != regionA {
			t.Fatalf("%s: the registry places it in %q %v, want %s", iss, region, ok, regionA)
		}
		now := time.Now()
		j := jwt.NewWithClaims(gm.SigningMethodSM2, jwt.MapClaims{"iss": iss, "sub": "svc-a", "client_id": "svc-a", "aud": issuerB,
			"scope": auth.ScopeQRRedeem, "jti": "j-" + iss, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
		j.Header["typ"], j.Header["kid"] = auth.AccessTokenType, "a-node-1"
		str, err := j.SignedString(s.keyA)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.b.Authorize(ctx, str, auth.ScopeQRRedeem)
		if iss == issuerA {
			if err != nil {
				t.Errorf("iss A's api endpoint: %v", err)
			}
			continue
		}
		if !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("iss %s (A's region, not its node's issuer): %v, want invalid_token", iss, err)
		}
	}
}

// TestPeerIntrospectionAudienceIsTheRegionsAPIEndpoint: A tells B's node
// that a token of A is active only when the token names B's node by its
// issuer URL, B's registered "api" endpoint, exactly: the one name B's
// node accepts in aud and the one resource A's token endpoint takes
// (TestResourceIsTheRegionsAPIEndpoint). A token of A naming B's DID,
// another of B's endpoints, or the api endpoint with a trailing slash,
// which the registry places in region B too, can be used at no node of
// B, so A answers B that it is not active (RFC 7662 §4: the
// authorization server determines whether the token can be used at the
// resource server asking).
func TestPeerIntrospectionAudienceIsTheRegionsAPIEndpoint(t *testing.T) {
	ctx := context.Background()
	s := newTokenSetup(t, 0)
	r, webB := withWebEndpoint(t, s.c.b, regionB, s.c.view)
	// A's node, with its region's relying parties (svc-a) from the ledger.
	a := newAuthWith(t, issuerA, "a-node-1", s.keyA, federation.Tokens{Keys: &federation.Keys{Registry: s.c.view}},
		registry.NewHomeClients(s.c.a, s.c.view, regionA), 0)
	for _, aud := range []string{issuerB, r.DID, webB, issuerB + "/"} {
		if region, ok := s.c.view.IssuerRegion(aud); !ok || region != regionB {
			t.Fatalf("%s: the registry places it in %q %v, want %s", aud, region, ok, regionB)
		}
		now := time.Now()
		j := jwt.NewWithClaims(gm.SigningMethodSM2, jwt.MapClaims{"iss": issuerA, "sub": "svc-a", "client_id": "svc-a", "aud": []string{issuerA, aud},
			"scope": auth.ScopeQRRedeem, "jti": "j-" + aud, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
		j.Header["typ"], j.Header["kid"] = auth.AccessTokenType, "a-node-1"
		tok, err := j.SignedString(s.keyA)
		if err != nil {
			t.Fatal(err)
		}
		in, err := a.IntrospectForPeer(ctx, regionB, tok)
		if want := aud == issuerB; err != nil || in.Active != want {
			t.Errorf("a token of A for %s, asked by B: active %v, %v; want active %v", aud, in.Active, err, want)
		}
	}
	// A answers with the scopes svc-a's current record still allows (its
	// ledger record has qr:redeem and identity:enroll), as its own
	// introspection does.
	now := time.Now()
	j := jwt.NewWithClaims(gm.SigningMethodSM2, jwt.MapClaims{"iss": issuerA, "sub": "svc-a", "client_id": "svc-a", "aud": []string{issuerA, issuerB},
		"scope": auth.ScopeQRRedeem + " " + auth.ScopeRegistryAdmin, "jti": "j-narrowed", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	j.Header["typ"], j.Header["kid"] = auth.AccessTokenType, "a-node-1"
	tok, err := j.SignedString(s.keyA)
	if err != nil {
		t.Fatal(err)
	}
	if in, err := a.IntrospectForPeer(ctx, regionB, tok); err != nil || !in.Active || in.Scope != auth.ScopeQRRedeem {
		t.Errorf("a token with a scope svc-a is no longer allowed, asked by B: %+v %v; want active, scope %s", in, err, auth.ScopeQRRedeem)
	}
}
