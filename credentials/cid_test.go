package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/cose"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"
	"github.com/trustid-cn/trustid/credentials/multikey"

	"github.com/trustid-cn/trustid/gm"
)

// cidSuites are the Data Integrity cryptosuites with the key each takes.
var cidSuites = []struct{ alg, suite string }{
	{gm.AlgEdDSA, di.EdDSARDFC2022}, {gm.AlgES256, di.ECDSARDFC2019}, {gm.AlgES384, di.ECDSARDFC2019}, {gm.AlgSM2, di.SM2RDFC2025},
}

// cidResolver resolves https verification methods on 127.0.0.1 through
// client.
func cidResolver(client *http.Client) *Resolver {
	return &Resolver{Client: client, ControllerHosts: AllowHosts("127.0.0.1")}
}

// TestControllerDocumentDataIntegrity: a credential whose Data Integrity
// proof names an https verification method (a controlled identifier
// document, served over TLS) verifies with each cryptosuite, its key a
// Multikey or a JsonWebKey; a presentation verifies with a key in the
// document's authentication relationship, and not with one only in
// assertionMethod.
func TestControllerDocumentDataIntegrity(t *testing.T) {
	ctx := context.Background()
	for _, c := range cidSuites {
		for _, mk := range []bool{true, false} {
			assertKey, _ := gm.GenerateSigner(c.alg, rand.Reader)
			authKey, _ := gm.GenerateSigner(c.alg, rand.Reader)
			id, client := didtest.ServeCID(t, didtest.Method{Frag: "key-1", Key: assertKey, Assertion: true, Multikey: mk},
				didtest.Method{Frag: "auth-1", Key: authKey, Authentication: true, Multikey: mk})
			v, err := di.NewVerifier(di.Config{Resolver: cidResolver(client), Cryptosuites: di.Cryptosuites(), ProofOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			name := c.alg + "/" + c.suite
			doc := sampleCredential()
			doc["issuer"] = id
			signed, err := di.SignCredential(c.suite, doc, id+"#key-1", assertKey)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.VerifyCredential(ctx, []byte(signed))
			if err != nil {
				t.Fatalf("%s (Multikey %v): %v", name, mk, err)
			}
			if got.Proofs[0].Controller != id || got.Proofs[0].VerificationMethod != id+"#key-1" {
				t.Errorf("%s: proof result %+v", name, got.Proofs[0])
			}
			vp := map[string]any{"@context": []any{ContextV2}, "type": []any{TypePresentation}, "holder": id}
			p, err := di.SignPresentation(c.suite, vp, id+"#auth-1", authKey, "c-1", "https://rp.example", time.Now().Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.VerifyPresentation(ctx, []byte(p), di.PresentationOptions{Challenge: "c-1", Domain: "https://rp.example", HolderBinding: CheckSubjectIsHolder}); err != nil {
				t.Errorf("%s: presentation: %v", name, err)
			}
			p, err = di.SignPresentation(c.suite, vp, id+"#key-1", assertKey, "c-1", "https://rp.example", time.Now().Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.VerifyPresentation(ctx, []byte(p), di.PresentationOptions{Challenge: "c-1", Domain: "https://rp.example", HolderBinding: CheckSubjectIsHolder}); !errors.Is(err, ErrMethodRelationship) {
				t.Errorf("%s: an assertionMethod key signed a presentation: %v", name, err)
			}
		}
	}
}

// TestControllerDocumentCoSigner: a credential of a did:key issuer
// co-signed (a proof set) by an https verification method verifies, the
// co-signer's proof resolved against its own controller document; the
// co-signer's proof alone is not the issuer's.
func TestControllerDocumentCoSigner(t *testing.T) {
	ctx := context.Background()
	notary, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	id, client := didtest.ServeCID(t, didtest.Method{Frag: "key-1", Key: notary, Assertion: true, Multikey: true})
	issuerKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	issuerDID, err := DIDKey(issuerKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	v, err := di.NewVerifier(di.Config{Resolver: cidResolver(client), Cryptosuites: di.Cryptosuites(), ProofOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	doc := sampleCredential()
	doc["issuer"] = issuerDID
	one, err := di.AddProof(doc, issuerKey, di.Options{Cryptosuite: di.EdDSARDFC2022, VerificationMethod: issuerDID + "#" + issuerDID[len("did:key:"):], Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	two, err := di.AddProof(one, notary, di.Options{Cryptosuite: di.SM2RDFC2025, VerificationMethod: id + "#key-1", Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(two)
	got, err := v.VerifyCredential(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Proofs) != 2 || got.Proofs[1].Controller != id || got.Proofs[1].ByController || !got.Proofs[0].ByController {
		t.Errorf("proofs %+v", got.Proofs)
	}
	alone, err := di.AddProof(doc, notary, di.Options{Cryptosuite: di.SM2RDFC2025, VerificationMethod: id + "#key-1", Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	data, _ = json.Marshal(alone)
	if _, err := v.VerifyCredential(ctx, data); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("the co-signer alone: %v", err)
	}
}

// TestControllerDocumentJOSE: a vc+jwt, a vp+jwt, a vp+cose and a vc+cose
// whose kid is an https verification method resolve it from the
// controller document, in the relationship each needs.
func TestControllerDocumentJOSE(t *testing.T) {
	ctx := context.Background()
	assertKey, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	authKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	id, client := didtest.ServeCID(t, didtest.Method{Frag: "key-1", Key: assertKey, Assertion: true},
		didtest.Method{Frag: "auth-1", Key: authKey, Authentication: true, Multikey: true})
	v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: cidResolver(client), Trust: AnyIssuer{}, SkipStatus: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyCredential(ctx, signedCredential(t, id, id+"#key-1", assertKey)); err != nil {
		t.Errorf("vc+jwt: %v", err)
	}
	if _, err := v.VerifyCredential(ctx, signedCredential(t, id, id+"#auth-1", authKey)); !errors.Is(err, ErrMethodRelationship) {
		t.Errorf("vc+jwt with an authentication key: %v", err)
	}
	opts := PresentOptions{Challenge: "c-2", Domain: "https://rp.example", IssuedAt: time.Now()}
	tok, err := SignPresentation(presentationOf(id), id+"#auth-1", opts, authKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyPresentation(ctx, tok, "c-2", "https://rp.example"); err != nil {
		t.Errorf("vp+jwt: %v", err)
	}
	cv, err := cose.NewVerifier(v, allAlgs)
	if err != nil {
		t.Fatal(err)
	}
	data, err := cose.SignPresentation(presentationOf(id), id+"#auth-1", opts, authKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cv.VerifyPresentation(ctx, data, "c-2", "https://rp.example"); err != nil {
		t.Errorf("vp+cose: %v", err)
	}
	c := sampleCredential()
	c["issuer"] = id
	c["validFrom"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if data, err = cose.SignCredential(c, id+"#key-1", assertKey); err != nil {
		t.Fatal(err)
	}
	if _, err := cv.VerifyCredential(ctx, data); err != nil {
		t.Errorf("vc+cose: %v", err)
	}
}

// cidServer serves, over TLS on 127.0.0.1, what each test of
// TestControllerDocumentRefusals puts at a path, and counts requests.
type cidServer struct {
	srv    *httptest.Server
	pages  map[string]func(w http.ResponseWriter)
	hits   atomic.Int32 // requests for a page put there
	client *http.Client
}

func newCIDServer(t *testing.T) *cidServer {
	s := &cidServer{pages: map[string]func(http.ResponseWriter){}}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := s.pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.hits.Add(1)
		page(w)
	}))
	t.Cleanup(s.srv.Close)
	var err error
	if s.client, err = NewFetchClient(s.srv.Client(), FetchOptions{AllowHost: AllowHosts("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	return s
}

// serve puts body at path with content type ct.
func (s *cidServer) serve(path, ct string, body []byte) string {
	s.pages[path] = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", ct)
		w.Write(body)
	}
	return s.srv.URL + path
}

// TestControllerDocumentRefusals: each way an https verification method
// or its controller document fails W3C Controlled Identifiers 1.0 §3.3,
// or the fetch's guards, is refused with its own error, never a key.
func TestControllerDocumentRefusals(t *testing.T) {
	ctx := context.Background()
	key, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	mb, _ := multikey.Encode(key.Public())
	s := newCIDServer(t)
	// document is a controller document of id with one Multikey method,
	// #key-1, controlled by controller and listed in assertionMethod.
	document := func(id, controller string) []byte {
		return []byte(`{"@context":"https://www.w3.org/ns/cid/v1","id":"` + id + `","verificationMethod":[{"id":"` + id +
			`#key-1","type":"Multikey","controller":"` + controller + `","publicKeyMultibase":"` + mb + `"}],"assertionMethod":["#key-1"]}`)
	}
	good := s.srv.URL + "/good"
	s.serve("/good", "application/cid", document(good, good))
	res := cidResolver(s.client)
	if _, err := res.ResolveKeyFor(ctx, good, good+"#key-1", RelationshipAssertion); err != nil {
		t.Fatalf("the well-formed document: %v", err)
	}
	for _, ct := range []string{"application/json", "application/ld+json"} {
		path := "/as-" + strings.ReplaceAll(ct, "/", "-")
		u := s.serve(path, ct, document(s.srv.URL+path, s.srv.URL+path))
		if _, err := res.ResolveKeyFor(ctx, u, u+"#key-1", RelationshipAssertion); err != nil {
			t.Errorf("served as %s: %v", ct, err)
		}
	}
	redirect := func(to string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Location", to)
			w.WriteHeader(http.StatusFound)
		}
	}
	cases := []struct {
		name         string
		setup        func() (issuer, vm string) // what the proof names
		relationship string
		res          *Resolver
		want         []error
	}{
		{"id mismatch", func() (string, string) {
			u := s.serve("/id-mismatch", "application/cid", document(s.srv.URL+"/other", s.srv.URL+"/other"))
			return u, u + "#key-1"
		}, RelationshipAssertion, nil, []error{ErrResolve, ErrControllerDocumentID}},
		{"method not found", func() (string, string) { return good, good + "#key-2" }, RelationshipAssertion, nil, []error{ErrUnknownKey, ErrMethodNotFound}},
		{"controller mismatch", func() (string, string) {
			u := s.srv.URL + "/controller-mismatch"
			s.serve("/controller-mismatch", "application/cid", document(u, "https://victim.example/doc"))
			return u, u + "#key-1"
		}, RelationshipAssertion, nil, []error{ErrUnknownKey, ErrMethodController}},
		{"not in the proof purpose's relationship", func() (string, string) { return good, good + "#key-1" },
			RelationshipAuthentication, nil, []error{ErrUnknownKey, ErrMethodRelationship}},
		{"wrong media type", func() (string, string) {
			u := s.srv.URL + "/html"
			s.serve("/html", "text/html", document(u, u))
			return u, u + "#key-1"
		}, RelationshipAssertion, nil, []error{ErrResolve, ErrMediaTypeNotServed}},
		{"oversized document", func() (string, string) {
			u := s.srv.URL + "/big"
			doc := document(u, u)
			big := append(doc[:len(doc)-1:len(doc)-1], []byte(`,"padding":"`+strings.Repeat("a", MaxFetch)+`"}`)...)
			s.serve("/big", "application/cid", big)
			return u, u + "#key-1"
		}, RelationshipAssertion, nil, []error{ErrResolve, ErrDocumentTooLarge}},
		{"non-https URL", func() (string, string) {
			u := "http://" + strings.TrimPrefix(good, "https://")
			return u, u + "#key-1"
		}, RelationshipAssertion, nil, []error{ErrResolve, ErrVerificationMethodURL}},
		{"no fragment", func() (string, string) { return good, good + "#" }, RelationshipAssertion, nil, []error{ErrResolve, ErrVerificationMethodURL}},
		{"user information", func() (string, string) {
			u := "https://user@" + strings.TrimPrefix(good, "https://")
			return u, u + "#key-1"
		}, RelationshipAssertion, nil, []error{ErrResolve, ErrVerificationMethodURL}},
		{"redirect to a private address", func() (string, string) {
			s.pages["/moved"] = redirect("https://10.0.0.1/doc")
			return s.srv.URL + "/moved", s.srv.URL + "/moved#key-1"
		}, RelationshipAssertion, nil, []error{ErrResolve, ErrRedirect}},
		{"private address", func() (string, string) { return good, good + "#key-1" }, RelationshipAssertion,
			&Resolver{Client: s.srv.Client(), ControllerHosts: AllowHosts("127.0.0.1")}, []error{ErrResolve, ErrAddressNotAllowed}},
		{"not JSON", func() (string, string) {
			u := s.serve("/not-json", "application/cid", []byte("<html>not json</html>"))
			return u, u + "#key-1"
		}, RelationshipAssertion, nil, []error{ErrResolve, ErrControllerDocument}},
		{"private key", func() (string, string) {
			u := s.srv.URL + "/private"
			s.serve("/private", "application/cid", []byte(`{"id":"`+u+`","verificationMethod":[{"id":"#key-1","type":"Multikey","controller":"`+u+
				`","publicKeyMultibase":"`+mb+`","secretKeyMultibase":"z1"}],"assertionMethod":["#key-1"]}`))
			return u, u + "#key-1"
		}, RelationshipAssertion, nil, []error{ErrResolve, ErrControllerDocument}},
		{"revoked method", func() (string, string) {
			u := s.srv.URL + "/revoked"
			s.serve("/revoked", "application/cid", []byte(`{"id":"`+u+`","verificationMethod":[{"id":"#key-1","type":"Multikey","controller":"`+u+
				`","publicKeyMultibase":"`+mb+`","revoked":"2025-01-01T00:00:00Z"}],"assertionMethod":["#key-1"]}`))
			return u, u + "#key-1"
		}, RelationshipAssertion, nil, []error{ErrUnknownKey, ErrMethodRevoked}},
		{"another issuer's document", func() (string, string) { return "https://issuer.example/doc", good + "#key-1" },
			RelationshipAssertion, nil, []error{ErrIssuerMismatch}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			issuer, vm := c.setup()
			r := c.res
			if r == nil {
				r = cidResolver(s.client)
			}
			pub, err := r.ResolveKeyFor(ctx, issuer, vm, c.relationship)
			if pub != nil {
				t.Fatalf("resolved a key")
			}
			for _, want := range c.want {
				if !errors.Is(err, want) {
					t.Errorf("%v, want %v", err, want)
				}
			}
		})
	}
}

// TestControllerDocumentSuiteMismatch: a proof whose cryptosuite does not
// fit the type of the key its https verification method names (an
// Ed25519 Multikey under ecdsa-rdfc-2019) is refused.
func TestControllerDocumentSuiteMismatch(t *testing.T) {
	edKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	ecKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	id, client := didtest.ServeCID(t, didtest.Method{Frag: "key-1", Key: edKey, Assertion: true, Multikey: true})
	v, err := di.NewVerifier(di.Config{Resolver: cidResolver(client), Cryptosuites: di.Cryptosuites(), ProofOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	doc := sampleCredential()
	doc["issuer"] = id
	signed, err := di.SignCredential(di.ECDSARDFC2019, doc, id+"#key-1", ecKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyCredential(context.Background(), []byte(signed)); !errors.Is(err, di.ErrSuiteKeyMismatch) {
		t.Errorf("ecdsa-rdfc-2019 proof with an Ed25519 method: %v", err)
	}
}

// TestControllerDocumentHostNotPermitted: an https kid on a host that
// ControllerHosts does not permit is a key of the issuer's metadata, as
// with no ControllerHosts at all; the host's controller document is
// never fetched.
func TestControllerDocumentHostNotPermitted(t *testing.T) {
	ctx := context.Background()
	key, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	other, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	mb, _ := multikey.Encode(other.Public()) // the document's key is not the metadata's
	s := newCIDServer(t)
	issuer := s.srv.URL + "/issuer"
	s.serve("/issuer", "application/cid", []byte(`{"id":"`+issuer+`","verificationMethod":[{"id":"#key-1","type":"Multikey","controller":"`+
		issuer+`","publicKeyMultibase":"`+mb+`"}],"assertionMethod":["#key-1"]}`))
	jwk, err := gm.NewJWK(key.Public(), issuer+"#key-1")
	if err != nil {
		t.Fatal(err)
	}
	metadata, _ := json.Marshal(IssuerMetadata{Issuer: issuer, JWKS: &gm.JWKS{Keys: []gm.JWK{jwk}}})
	s.serve("/.well-known/jwt-vc-issuer/issuer", "application/json", metadata)
	res := &Resolver{Client: s.client, ControllerHosts: AllowHosts("controllers.example")}
	pub, err := res.ResolveKeyFor(ctx, issuer, issuer+"#key-1", RelationshipAssertion)
	if err != nil {
		t.Fatalf("an issuer metadata key on a host not permitted: %v", err)
	}
	if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(mustNormal(t, key.Public())) {
		t.Fatal("not the metadata's key")
	}
	if n := s.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (the metadata, never the controller document)", n)
	}
}

// TestControllerDocumentOptIn: without ControllerHosts an https
// verification method's document is never fetched; with it, the document
// is fetched once for the TTL, and reused only for the identifier it was
// checked for.
func TestControllerDocumentOptIn(t *testing.T) {
	ctx := context.Background()
	key, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	s := newCIDServer(t)
	u := s.srv.URL + "/.well-known/did.json"
	body, _ := json.Marshal(didtest.Document(t, u, didtest.Method{Frag: "key-1", Key: key, Assertion: true}))
	s.serve("/.well-known/did.json", "application/json", body)
	off := &Resolver{Client: s.client}
	if _, err := off.ResolveKeyFor(ctx, u, u+"#key-1", RelationshipAssertion); err == nil {
		t.Fatal("resolved without ControllerHosts")
	}
	if n := s.hits.Load(); n != 0 {
		t.Fatalf("%d fetches of the controller document without ControllerHosts", n)
	}
	clock := time.Now()
	on := &Resolver{Client: s.client, ControllerHosts: AllowHosts("127.0.0.1"), TTL: time.Minute, Now: func() time.Time { return clock }}
	for range 3 {
		if _, err := on.ResolveKeyFor(ctx, u, u+"#key-1", RelationshipAssertion); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.hits.Load(); n != 1 {
		t.Fatalf("%d fetches within the TTL, want 1", n)
	}
	clock = clock.Add(2 * time.Minute)
	if _, err := on.ResolveKeyFor(ctx, u, u+"#key-1", RelationshipAssertion); err != nil {
		t.Fatal(err)
	}
	if n := s.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after the TTL, want 2", n)
	}
	// The same URL as the did:web document of the host: fetched and
	// checked again for the DID, never taken from the cache.
	did, err := DIDWeb(s.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := on.ResolveKeyFor(ctx, did, did+"#key-1", RelationshipAssertion); !errors.Is(err, ErrControllerDocumentID) || s.hits.Load() != 3 {
		t.Errorf("did:web at the controller document's URL: %v (%d fetches)", err, s.hits.Load())
	}
}

// TestIssuerMetadataEncryptionKeyRefused: an SD-JWT VC issuer's
// jwt-vc-issuer metadata may publish keys for encryption beside its
// signing keys; one of those verifies no credential. RFC 7517 §4.2: "The
// "use" (public key use) parameter identifies the intended use of the
// public key" ("enc": encryption); §4.3: "key_ops" names the operations
// ("verify": verify digital signature). A key with no use verifies.
// (The encryption keys were taken.)
func TestIssuerMetadataEncryptionKeyRefused(t *testing.T) {
	ctx := context.Background()
	s := newCIDServer(t)
	issuer := s.srv.URL + "/issuer"
	var keys []gm.JWK
	for _, c := range []struct{ kid, use, ops string }{{"bare", "", ""}, {"enc", "enc", ""}, {"wrap", "", `["wrapKey"]`}} {
		key, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
		j, err := gm.NewJWK(key.Public(), issuer+"#"+c.kid)
		if err != nil {
			t.Fatal(err)
		}
		j.Use, j.KeyOps = c.use, gm.KeyOps(c.ops)
		keys = append(keys, j)
	}
	metadata, _ := json.Marshal(IssuerMetadata{Issuer: issuer, JWKS: &gm.JWKS{Keys: keys}})
	s.serve("/.well-known/jwt-vc-issuer/issuer", "application/json", metadata)
	res := &Resolver{Client: s.client}
	if _, err := res.ResolveKeyFor(ctx, issuer, issuer+"#bare", RelationshipAssertion); err != nil {
		t.Errorf("a key with no use: %v", err)
	}
	for _, kid := range []string{"enc", "wrap"} {
		if pub, err := res.ResolveKeyFor(ctx, issuer, issuer+"#"+kid, RelationshipAssertion); pub != nil || !errors.Is(err, gm.ErrJWKUse) {
			t.Errorf("%s: %v %v, want gm.ErrJWKUse", kid, pub, err)
		}
	}
	// A did:jwk of a key for encryption: its document has no
	// assertionMethod (did:jwk: "use":"enc" gives keyAgreement alone).
	for _, c := range []struct {
		use, ops string
		ok       bool
	}{{"", "", true}, {"enc", "", false}, {"", `["encrypt"]`, false}} {
		key, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
		j, _ := gm.NewJWK(key.Public(), "")
		j.Kid, j.Alg, j.Use, j.KeyOps = "", "", c.use, gm.KeyOps(c.ops)
		raw, _ := json.Marshal(j)
		did := "did:jwk:" + base64.RawURLEncoding.EncodeToString(raw)
		pub, err := res.ResolveKeyFor(ctx, did, did+"#0", RelationshipAssertion)
		if c.ok != (err == nil) || !c.ok && (pub != nil || !errors.Is(err, gm.ErrJWKUse)) {
			t.Errorf("did:jwk use %q key_ops %s: %v %v, want ok %v (else gm.ErrJWKUse)", c.use, c.ops, pub, err, c.ok)
		}
	}
}
