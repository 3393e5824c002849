package auth

import (
	"context"
	"crypto"
	"crypto/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/store"
)

const testIssuer = "https://sh.trustid.example"

var testKEK = []byte("0123456789abcdef")

// env is a Service with real parts: a keystore in a temporary directory,
// an in-memory client registry, an in-memory ephemeral store, a test clock.
type env struct {
	t       testing.TB
	clock   *fakeclock.Clock
	keys    *keystore.Store
	clients *MemoryStore
	store   store.Store
	svc     *Service
	dir     string

	mu       sync.Mutex
	services []*Service // told of registry changes
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	dir := t.TempDir()
	c := fakeclock.New(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), testKEK, keystore.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clock: c, dir: dir}
	fs := NewMemoryStore(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, s := range e.services {
			s.ClientsChanged()
		}
	})
	fs.Now = c.Now
	mem, err := store.NewMemory(store.MemoryOptions{Now: c.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	e.keys, e.clients, e.store = ks, fs, mem
	e.svc = e.service(mem, opts...)
	e.watch(e.svc)
	return e
}

// watch makes registry changes reach svc at once, as cmd/trustid wires it.
func (e *env) watch(svc *Service) {
	e.mu.Lock()
	e.services = append(e.services, svc)
	e.mu.Unlock()
}

func (e *env) service(st Ephemeral, opts ...envOption) *Service {
	e.t.Helper()
	cfg := Config{Issuer: testIssuer, Keys: e.keys, Clients: e.clients, Store: st, Now: e.clock.Now}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// testClient is a registered private_key_jwt client and its key.
type testClient struct {
	Client
	signer crypto.Signer
	kid    string
}

// register adds a private_key_jwt client with a fresh key of alg.
func (e *env) register(id, alg string, scopes ...string) testClient {
	e.t.Helper()
	signer, err := gm.GenerateSigner(alg, rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	kid, _ := KeyID(signer.Public())
	jwk, _ := gm.NewJWK(signer.Public(), kid)
	if len(scopes) == 0 {
		scopes = Scopes
	}
	c, _, err := NewClient(Registration{ID: id, Name: "Test " + id, Region: "310000", Scopes: scopes,
		JWKS: &gm.JWKS{Keys: []gm.JWK{jwk}}}, e.clock.Now(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.clients.Create(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return testClient{Client: c, signer: signer, kid: kid}
}

// assertion signs a valid assertion for c, then lets edit change it.
func (e *env) assertion(c testClient, edit func(h map[string]any, cl *jwt.RegisteredClaims)) string {
	e.t.Helper()
	now := e.clock.Now()
	cl := jwt.RegisteredClaims{
		Issuer: c.ID, Subject: c.ID, Audience: jwt.ClaimStrings{testIssuer + TokenPath},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		ID: rand.Text(),
	}
	method, _ := gm.SigningMethod(c.signer)
	t := jwt.NewWithClaims(method, &cl)
	t.Header["kid"] = c.kid
	if edit != nil {
		edit(t.Header, &cl)
	}
	s, err := t.SignedString(c.signer)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// token gets an access token for c through the client credentials grant.
func (e *env) token(c testClient, scope string) string {
	e.t.Helper()
	ctx := context.Background()
	cl, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: e.assertion(c, nil)})
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.svc.Token(ctx, cl, TokenRequest{GrantType: GrantClientCredentials, Scope: scope})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.AccessToken
}

// nodeToken signs an access token with the node's active SM2 key (or
// signer/kid when given), with claims edited by edit.
func (e *env) nodeToken(signer crypto.Signer, kid string, edit func(h map[string]any, cl *testAccessClaims)) string {
	e.t.Helper()
	if signer == nil {
		k, err := e.keys.Active(gm.AlgSM2)
		if err != nil {
			e.t.Fatal(err)
		}
		signer, kid = k.Signer, k.Kid
	}
	now := e.clock.Now()
	cl := testAccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: testIssuer, Subject: "svc-a", Audience: jwt.ClaimStrings{testIssuer},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)), ID: rand.Text(),
		},
		ClientID: "svc-a", Scope: ScopeCredentialsIssue,
	}
	method, _ := gm.SigningMethod(signer)
	t := jwt.NewWithClaims(method, &cl)
	t.Header["typ"] = AccessTokenType
	t.Header["kid"] = kid
	if edit != nil {
		edit(t.Header, &cl)
	}
	s, err := t.SignedString(signer)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// testAccessClaims are access-token claims as tests forge them, with the
// library's RegisteredClaims (aud as an array).
type testAccessClaims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}
