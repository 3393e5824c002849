package sdk_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/store"
)

// exampleNode is a TrustID node assembled in-process from the node's own
// packages (keystore, auth, credentials, statuslist, api) behind an
// httptest server: the examples and tests of this package run against
// the real protocol, without a network.
type exampleNode struct {
	URL     string
	keys    *keystore.Store
	clients *auth.MemoryStore
	issuer  *issuer.Issuer
	lists   *statuslist.FileStore
	dir     string
	srv     *httptest.Server
	// tamper, when set and it answers a request (true), stands in for
	// the node: a compromised front at the node's address.
	tamper atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
}

func startExampleNode() *exampleNode {
	dir, err := os.MkdirTemp("", "sdk-example-")
	if err != nil {
		log.Fatal(err)
	}
	var h atomic.Pointer[http.Handler]
	n := &exampleNode{dir: dir}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := n.tamper.Load(); f != nil && (*f)(w, r) {
			return
		}
		(*h.Load()).ServeHTTP(w, r)
	}))
	n.URL = n.srv.URL
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	n.keys, err = keystore.Open(filepath.Join(dir, "keystore.json"), []byte("0123456789abcdef"), keystore.Options{})
	must(err)
	var svcp atomic.Pointer[auth.Service]
	n.clients = auth.NewMemoryStore(func() {
		if s := svcp.Load(); s != nil {
			s.ClientsChanged()
		}
	})
	mem, err := store.NewMemory(store.MemoryOptions{})
	must(err)
	svc, err := auth.New(auth.Config{Issuer: n.URL, Keys: n.keys, Clients: n.clients, Store: mem})
	must(err)
	svcp.Store(svc)
	n.lists, err = statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{})
	must(err)
	n.issuer, err = issuer.New(issuer.Config{BaseURL: n.URL, Keys: n.keys, Status: n.lists})
	must(err)
	checker := vc.NewStatusChecker(&vc.LocalStatusSource{BaseURL: n.URL, Store: n.lists}, time.Minute, nil)
	v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Status: checker,
		Resolver: &vc.Resolver{Local: n.issuer.Local()}, Trust: &vc.RegistryTrust{Local: n.issuer.Local()}})
	must(err)
	s := api.New(api.Config{})
	must(s.MountOAuth(api.OAuthConfig{Auth: svc, Limiter: mem}))
	must(s.MountCredentials(api.CredentialsConfig{Issuer: n.issuer, Verifier: v, Limiter: mem, StatusLists: n.lists.Lists}))
	handler := s.Handler()
	h.Store(&handler)
	return n
}

func (n *exampleNode) Close() {
	n.srv.Close()
	os.RemoveAll(n.dir)
}

// register registers a relying party with one key of alg and returns its
// private key.
func (n *exampleNode) register(id, alg string, scopes ...string) crypto.Signer {
	signer, err := gm.GenerateSigner(alg, rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	kid, _ := auth.KeyID(signer.Public())
	jwk, _ := gm.NewJWK(signer.Public(), kid)
	c, _, err := auth.NewClient(auth.Registration{ID: id, Name: "RP " + id, Region: "310000", Scopes: scopes,
		JWKS: &gm.JWKS{Keys: []gm.JWK{jwk}}}, time.Now(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	if err := n.clients.Create(context.Background(), c); err != nil {
		log.Fatal(err)
	}
	return signer
}
