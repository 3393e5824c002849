// Package didtest serves controller documents for tests: a did:web DID
// document or an https controlled identifier document, over TLS on
// 127.0.0.1, with keys in the verification relationships a test names.
package didtest

import (
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

// Method is a key of the DID document under #Frag, listed in
// assertionMethod and/or authentication.
type Method struct {
	Frag                      string
	Key                       crypto.Signer
	Assertion, Authentication bool
	Multikey                  bool // published as a Multikey (publicKeyMultibase), not a JsonWebKey
}

// Serve publishes a DID document with methods (JsonWebKey or Multikey) for the test's
// duration and returns its did:web DID and a guarded fetch client allowed
// to reach it. assertionMethod names its keys by absolute DID URL,
// authentication by relative reference, so resolvers read both forms.
func Serve(t testing.TB, methods ...Method) (string, *http.Client) {
	t.Helper()
	did, c, _ := ServeCounted(t, methods...)
	return did, c
}

// ServeCounted is Serve, and counts the requests the server answers.
func ServeCounted(t testing.TB, methods ...Method) (string, *http.Client, *atomic.Int64) {
	t.Helper()
	var doc []byte
	requests := new(atomic.Int64)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/did+json")
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	did, err := credentials.DIDWeb(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	d := Document(t, did, methods...)
	d.Context = []string{credentials.ContextDID}
	if doc, err = json.Marshal(d); err != nil {
		t.Fatal(err)
	}
	return did, client(t, srv), requests
}

// CIDPath is where ServeCID publishes its document.
const CIDPath = "/controllers/issuer-1"

// ServeCID publishes a controlled identifier document (W3C Controlled
// Identifiers 1.0) with methods, as application/cid, at CIDPath of a TLS
// server on 127.0.0.1 for the test's duration, and returns its URL (the
// document's id, its methods' controller) and a guarded fetch client
// allowed to reach it. The methods are named as Serve names them.
func ServeCID(t testing.TB, methods ...Method) (string, *http.Client) {
	t.Helper()
	var doc []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != CIDPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/cid")
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	id := srv.URL + CIDPath
	d := Document(t, id, methods...)
	d.Context = []string{credentials.ContextCID}
	var err error
	if doc, err = json.Marshal(d); err != nil {
		t.Fatal(err)
	}
	return id, client(t, srv)
}

// Document is the controller document of id listing methods: each under
// id#Frag, controlled by id, in assertionMethod by absolute URL and in
// authentication by relative reference.
func Document(t testing.TB, id string, methods ...Method) credentials.DIDDocument {
	t.Helper()
	d := credentials.DIDDocument{ID: id}
	for _, m := range methods {
		vm := credentials.VerificationMethod{ID: id + "#" + m.Frag, Type: credentials.TypeJsonWebKey, Controller: id}
		var err error
		if m.Multikey {
			vm.Type = credentials.TypeMultikey
			vm.PublicKeyMultibase, err = multikey.Encode(m.Key.Public())
		} else {
			vm.PublicKeyJwk, err = gm.NewJWK(m.Key.Public(), m.Frag)
		}
		if err != nil {
			t.Fatal(err)
		}
		d.VerificationMethod = append(d.VerificationMethod, vm)
		if m.Assertion {
			d.AssertionMethod = append(d.AssertionMethod, id+"#"+m.Frag)
		}
		if m.Authentication {
			d.Authentication = append(d.Authentication, "#"+m.Frag)
		}
	}
	return d
}

// client is a guarded fetch client allowed to reach srv (on 127.0.0.1).
func client(t testing.TB, srv *httptest.Server) *http.Client {
	t.Helper()
	c, err := credentials.NewFetchClient(srv.Client(), credentials.FetchOptions{AllowHost: credentials.AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
