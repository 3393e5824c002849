package oid4vp_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/auth/clientstoretest"
	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/oid4vp"
	"github.com/trustid-cn/trustid/store"
)

const base = "https://trustid.example"

// env is a node's verifier over real components: a keystore, a status
// list file store, the credential issuer and verifier, a memory store
// and an in-memory client registry.
type env struct {
	clock    *fakeclock.Clock
	keys     *keystore.Store
	issuer   *issuer.Issuer
	clients  *auth.MemoryStore
	store    *store.Memory
	faults   *faultStore // the verifier's store: store, with writes that fail on demand
	verifier *oid4vp.Verifier
	config   oid4vp.Config // verifier's, for one over another store
	signKey  keystore.Key
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	clk := fakeclock.New(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	checker := credentials.NewStatusChecker(&credentials.LocalStatusSource{BaseURL: base, Store: st}, time.Minute, clk.Now)
	cv, err := credentials.NewVerifier(credentials.VerifierConfig{Trust: &credentials.RegistryTrust{Local: is.Local()}, Algorithms: gm.JWTAlgorithms,
		Resolver: &credentials.Resolver{Local: is.Local(), Now: clk.Now}, Status: checker, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := store.NewMemory(store.MemoryOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	clients := auth.NewMemoryStore(nil)
	rp := clientstoretest.Client(t, "shop-1")
	rp.Scopes = append(rp.Scopes, auth.ScopePresentationRequest)
	rp.Claims = []string{"age_over_18"}
	rp.RedirectURIs = []string{"https://shop.example/done"}
	other := clientstoretest.Client(t, "shop-2")
	other.Claims = []string{"age_over_18", "age_over_60"}
	for _, c := range []auth.Client{rp, other} {
		if err := clients.Create(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	key, err := ks.Active(gm.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	faults := &faultStore{Memory: mem}
	cfg := oid4vp.Config{BaseURL: base, Key: func() (crypto.Signer, string, error) { return key.Signer, key.Kid, nil }, Secret: make([]byte, 32),
		Store: faults, NotFound: func(err error) bool { return errors.Is(err, store.ErrNotFound) },
		Clients: oid4vp.RegistryClients{Store: clients}, Verifier: cv, Now: clk.Now}
	v, err := oid4vp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{clock: clk, keys: ks, issuer: is, clients: clients, store: mem, faults: faults, verifier: v, config: cfg, signKey: key}
}

// faultStore is the verifier's store: Set of a key starting with failSet
// (when not empty) fails, as a store unavailable for it.
type faultStore struct {
	*store.Memory
	failSet string
}

func (f *faultStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if f.failSet != "" && strings.HasPrefix(key, f.failSet) {
		return store.ErrUnavailable
	}
	return f.Memory.Set(ctx, key, value, ttl)
}

// issue issues an identity credential as SD-JWT VC bound to holder.
func (e *env) issue(t testing.TB, holder crypto.Signer) *issuer.Issued {
	t.Helper()
	c, err := credentials.IdentityCredential(credentials.IdentityClaims{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 3, Region: "310000",
		Name: "张三", BirthDate: "1990-05-01", Nationality: "CHN"}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	hj, err := gm.NewJWK(holder.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := e.issuer.Issue(context.Background(), c, issuer.IssueOptions{Format: issuer.FormatSDJWT, Algorithm: gm.AlgES256, HolderKey: &hj})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

const ageQuery = `{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["https://trustid.example/vct/IdentityCredential"]},"claims":[{"path":["age_over_18"],"values":[true]}]}]}`

// request is a transaction as a wallet sees it, read from the request
// object (decoded without verification: the wallet SDK's tests verify).
type request struct {
	id, clientID, nonce, state, mode, responseURI string
	encKey                                        *jose.JSONWebKey
}

func (e *env) open(t testing.TB, rp, query, mode string) request {
	t.Helper()
	c, err := e.verifier.Create(context.Background(), rp, oid4vp.CreateRequest{Query: json.RawMessage(query), ResponseMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return e.openExisting(t, c.TransactionID)
}

// present makes a presentation of cred disclosing names, with a KB-JWT.
func (e *env) present(t testing.TB, cred string, holder crypto.Signer, aud, nonce string, names ...string) string {
	t.Helper()
	sd, err := sdjwt.Split(cred)
	if err != nil {
		t.Fatal(err)
	}
	keep := func(d *sdjwt.Disclosure) bool {
		for _, n := range names {
			if d.Name == n {
				return true
			}
		}
		return false
	}
	p, err := sd.Present(keep, &sdjwt.KeyBinding{Signer: holder, Audience: aud, Nonce: nonce, IssuedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// form makes the wallet's response body for r.
func form(t testing.TB, r request, params map[string]any) url.Values {
	t.Helper()
	f := url.Values{}
	if r.mode == oid4vp.ModeDirectPostJWT {
		plain, _ := json.Marshal(params)
		enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: r.encKey.Key.(*ecdsa.PublicKey), KeyID: r.encKey.KeyID}, nil)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := enc.Encrypt(plain)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := obj.CompactSerialize()
		f.Set("response", s)
		return f
	}
	for k, v := range params {
		if s, ok := v.(string); ok {
			f.Set(k, s)
			continue
		}
		raw, _ := json.Marshal(v)
		f.Set(k, string(raw))
	}
	return f
}

func token(id, pres string) map[string]any { return map[string]any{id: []string{pres}} }

func wantCode(t testing.TB, err error, code, inDescription string) {
	t.Helper()
	var e *oid4vp.Error
	if !errors.As(err, &e) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if e.Code != code || !strings.Contains(e.Description, inDescription) {
		t.Fatalf("want %s (%q), got %s: %s", code, inDescription, e.Code, e.Description)
	}
}

// openExisting reads transaction id's request object as open does.
func (e *env) openExisting(t testing.TB, id string) request {
	t.Helper()
	ro, err := e.verifier.RequestObject(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(ro, claims); err != nil {
		t.Fatal(err)
	}
	r := request{id: id, clientID: claims["client_id"].(string), nonce: claims["nonce"].(string), state: claims["state"].(string),
		mode: claims["response_mode"].(string), responseURI: claims["response_uri"].(string)}
	if r.mode == oid4vp.ModeDirectPostJWT {
		keys := claims["client_metadata"].(map[string]any)["jwks"].(map[string]any)["keys"].([]any)
		raw, _ := json.Marshal(keys[0])
		r.encKey = new(jose.JSONWebKey)
		if err := r.encKey.UnmarshalJSON(raw); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// withoutKid is k without its kid, as a wallet that leaves kid out of the
// JWE header would encrypt to it.
func withoutKid(k *jose.JSONWebKey) *jose.JSONWebKey {
	c := *k
	c.KeyID = ""
	return &c
}
