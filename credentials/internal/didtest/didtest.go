// Package didtest serves a did:web DID document for tests: over TLS on
// 127.0.0.1, with keys in the verification relationships a test names.
package didtest

import (
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
	var doc []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/did+json")
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	did, err := credentials.DIDWeb(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	d := credentials.DIDDocument{Context: []string{credentials.ContextDID}, ID: did}
	for _, m := range methods {
		vm := credentials.VerificationMethod{ID: did + "#" + m.Frag, Type: credentials.TypeJsonWebKey, Controller: did}
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
			d.AssertionMethod = append(d.AssertionMethod, did+"#"+m.Frag)
		}
		if m.Authentication {
			d.Authentication = append(d.Authentication, "#"+m.Frag)
		}
	}
	if doc, err = json.Marshal(d); err != nil {
		t.Fatal(err)
	}
	client, err := credentials.NewFetchClient(srv.Client(), credentials.FetchOptions{AllowHost: credentials.AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	return did, client
}
