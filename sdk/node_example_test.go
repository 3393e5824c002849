package sdk_test

import (
	"bytes"
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
	"github.com/trustid-cn/trustid/credentials/cose"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode/redeem"
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
	auth    *auth.Service // the node's token service
	issuer  *issuer.Issuer
	lists   *statuslist.FileStore
	// qr issues and redeems online codes; subjects makes holders'
	// binding subjects (onlineCode).
	qr       *redeem.Service
	subjects *identity.BindingSubjects
	dir      string
	srv      *httptest.Server
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
	n.auth = svc
	n.lists, err = statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{})
	must(err)
	// vc+cose as a node registers it (cmd/trustid's credentialFormats).
	n.issuer, err = issuer.New(issuer.Config{BaseURL: n.URL, Keys: n.keys, Status: n.lists, Formats: map[string]issuer.Format{
		"vc+cose": {MediaType: cose.MediaTypeVC, Algorithms: []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA}, Sign: cose.SignToken},
	}})
	must(err)
	checker := vc.NewStatusChecker(&vc.LocalStatusSource{BaseURL: n.URL, Store: n.lists}, time.Minute, nil)
	v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Status: checker,
		Resolver: &vc.Resolver{Local: n.issuer.Local()}, Trust: &vc.RegistryTrust{Local: n.issuer.Local()}})
	must(err)
	// Online QR codes: redeemed for the registry's clients with qr:redeem,
	// pairwise IDs from a national pairwise key, the holder's binding
	// status from the credential status lists.
	pairwise, err := identity.NewPairwiseDeriver(identity.VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	must(err)
	n.subjects, err = identity.NewBindingSubjects(pairwise)
	must(err)
	n.qr, err = redeem.NewService(redeem.ServiceConfig{Region: "310000", Store: mem, Pairwise: n.subjects,
		RelyingParties: &enrollment.QRRelyingParties{Clients: n.clients}, Status: &enrollment.ListStatus{Region: 310000, Lists: n.lists}})
	must(err)
	s := api.New(api.Config{})
	must(s.MountOAuth(api.OAuthConfig{Auth: svc, Limiter: mem}))
	must(s.MountCredentials(api.CredentialsConfig{Issuer: n.issuer, Verifier: v, Limiter: mem, StatusLists: n.lists.Lists}))
	must(s.MountQR(api.QRConfig{Service: n.qr}))
	handler := s.Handler()
	h.Store(&handler)
	return n
}

func (n *exampleNode) Close() {
	n.srv.Close()
	os.RemoveAll(n.dir)
}

// onlineCode issues an online code ("TIDON1:...") for the holder of the
// resident ID number, enrolled at L2 with the attested claims, who
// consents to release the claims named: what the node does for the
// holder's app at POST /v1/qr.
func (n *exampleNode) onlineCode(number string, claims map[string]string, consent ...string) string {
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	symbols, err := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: bytes.Repeat([]byte{9}, 32)})
	must(err)
	doc, err := identity.Parse(number)
	must(err)
	sym, err := symbols.Derive(doc)
	must(err)
	subject, err := n.subjects.Subject(sym)
	must(err)
	handle, err := n.subjects.Handle(subject, rand.Reader)
	must(err)
	ctx := context.Background()
	list, index, err := n.lists.Allocate(ctx, status.PurposeRevocation)
	must(err)
	ref, err := (&enrollment.ListStatus{Region: 310000, Lists: n.lists}).Ref(list, index)
	must(err)
	issued, err := n.qr.Issue(ctx, redeem.Holder{Subject: handle, Assurance: 2, Region: 310000, Status: ref, Claims: claims}, consent)
	must(err)
	return issued.Text
}

// register registers a relying party with one key of alg and returns its
// private key.
func (n *exampleNode) register(id, alg string, scopes ...string) crypto.Signer {
	return n.registerWithClaims(id, alg, nil, scopes...)
}

// serveAPI registers resource as the API of client id (`trustid
// clients add --resource`): the node issues tokens for it.
func (n *exampleNode) serveAPI(id, resource string) {
	if _, err := n.clients.Update(context.Background(), id, func(c *auth.Client) error {
		c.Resources = append(c.Resources, resource)
		return nil
	}); err != nil {
		log.Fatal(err)
	}
}

// registerWithClaims is register for a party that may receive the
// identity claims named.
func (n *exampleNode) registerWithClaims(id, alg string, claims []string, scopes ...string) crypto.Signer {
	signer, err := gm.GenerateSigner(alg, rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	kid, _ := auth.KeyID(signer.Public())
	jwk, _ := gm.NewJWK(signer.Public(), kid)
	c, _, err := auth.NewClient(auth.Registration{ID: id, Name: "RP " + id, Region: "310000", Scopes: scopes, Claims: claims,
		JWKS: &gm.JWKS{Keys: []gm.JWK{jwk}}}, time.Now(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	if err := n.clients.Create(context.Background(), c); err != nil {
		log.Fatal(err)
	}
	return signer
}
