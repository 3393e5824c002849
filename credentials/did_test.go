package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/multikey"

	"github.com/trustid-cn/trustid/gm"
)

func TestDIDWeb(t *testing.T) {
	cases := map[string]string{
		"https://trustid.example":               "did:web:trustid.example",
		"https://trustid.example:8443":          "did:web:trustid.example%3A8443",
		"https://Trustid.Example/region/310000": "did:web:trustid.example:region:310000",
		"http://127.0.0.1:8080":                 "did:web:127.0.0.1%3A8080",
	}
	for in, want := range cases {
		got, err := DIDWeb(in)
		if err != nil || got != want {
			t.Errorf("DIDWeb(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://x", "https://", "https://x?q=1", "https://u@x"} {
		if _, err := DIDWeb(bad); err == nil {
			t.Errorf("DIDWeb(%s) accepted", bad)
		}
	}
	urls := map[string]string{
		"did:web:trustid.example":               "https://trustid.example/.well-known/did.json",
		"did:web:trustid.example%3A8443":        "https://trustid.example:8443/.well-known/did.json",
		"did:web:trustid.example:region:310000": "https://trustid.example/region/310000/did.json",
	}
	for in, want := range urls {
		got, err := DIDWebDocumentURL(in)
		if err != nil || got != want {
			t.Errorf("DIDWebDocumentURL(%s) = %s, %v", in, got, err)
		}
	}
	for _, bad := range []string{"did:web:", "did:web:a:..:b", "did:key:z6Mk", "did:web:a/b"} {
		if _, err := DIDWebDocumentURL(bad); err == nil {
			t.Errorf("DIDWebDocumentURL(%s) accepted", bad)
		}
	}
}

// TestDIDWebResolver serves a node's DID document over TLS and resolves
// its keys through did:web, with caching.
func TestDIDWebResolver(t *testing.T) {
	var hits atomic.Int32
	var doc []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/did.json" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		w.Header().Set("Content-Type", "application/did+json")
		w.Write(doc)
	}))
	defer srv.Close()
	n := newNode(t, srv.URL)
	if !strings.Contains(n.issuer.DID(), "%3A") {
		t.Fatalf("port not percent-encoded: %s", n.issuer.DID())
	}
	d, _ := n.issuer.DIDDocument()
	doc, _ = json.Marshal(d)
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{Algorithm: gm.AlgEdDSA})

	res := &Resolver{Client: loopbackClient(t, srv.Client()), TTL: time.Minute, Now: n.clock.Now}
	v, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, Status: n.checker, Now: n.clock.Now, KeyTTL: time.Second})
	ctx := context.Background()
	for range 3 {
		if _, err := v.VerifyCredential(ctx, iss.Token); err != nil {
			t.Fatal(err)
		}
		n.clock.Advance(2 * time.Second) // past the key cache, inside the document cache
	}
	if hits.Load() != 1 {
		t.Fatalf("document fetched %d times, want 1 (cached)", hits.Load())
	}
	n.clock.Advance(2 * time.Minute)
	if _, err := v.VerifyCredential(ctx, iss.Token); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 2 {
		t.Fatalf("document fetched %d times after the TTL, want 2", hits.Load())
	}
	// A document naming another DID is refused.
	d.ID = "did:web:evil.example"
	doc, _ = json.Marshal(d)
	n.clock.Advance(2 * time.Minute)
	if _, err := v.VerifyCredential(ctx, iss.Token); !errors.Is(err, ErrResolve) {
		t.Fatalf("document of another DID: %v", err)
	}
	// A document with duplicate keys is refused.
	doc = []byte(`{"id":"` + n.issuer.DID() + `","id":"` + n.issuer.DID() + `"}`)
	n.clock.Advance(2 * time.Minute)
	if _, err := v.VerifyCredential(ctx, iss.Token); !errors.Is(err, ErrResolve) {
		t.Fatalf("duplicate keys: %v", err)
	}
	// Only https is fetched.
	if _, err := HTTPGet(ctx, srv.Client(), strings.Replace(srv.URL, "https", "http", 1), "application/json"); !errors.Is(err, ErrResolve) {
		t.Fatalf("http fetch: %v", err)
	}
}

func TestDIDKeyAndJWK(t *testing.T) {
	ctx := context.Background()
	prefixes := map[string]string{gm.AlgEdDSA: "did:key:z6Mk", gm.AlgES256: "did:key:zDn", gm.AlgSM2: "did:key:z"}
	for _, alg := range allAlgs {
		k, _ := gm.GenerateSigner(alg, rand.Reader)
		did, err := DIDKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(did, prefixes[alg]) {
			t.Errorf("%s did:key %s", alg, did)
		}
		r := &Resolver{}
		pub, err := r.ResolveKey(ctx, did, did+"#"+strings.TrimPrefix(did, "did:key:"))
		if err != nil {
			t.Fatal(err)
		}
		if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(mustNormal(t, k.Public())) {
			t.Errorf("%s did:key round trip", alg)
		}
		if _, err := r.ResolveKey(ctx, "", did+"#other"); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: bad fragment: %v", alg, err)
		}
		jd, err := DIDJWK(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		pub, err = r.ResolveKey(ctx, jd, jd+"#0")
		if err != nil || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(mustNormal(t, k.Public())) {
			t.Errorf("%s did:jwk: %v", alg, err)
		}
	}
	// Malformed identifiers.
	for _, bad := range []string{"did:key:6Mk", "did:key:z0OIl", "did:key:z", "did:jwk:!!", "did:jwk:" + b64url([]byte(`{"kty":"oct","k":"AAAA"}`)),
		"did:jwk:" + b64url([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}`)),
		"did:example:123", "did:key:z" + multikey.Base58Encode(append(multikey.AppendUvarint(nil, 0xe7), make([]byte, 33)...))} {
		if _, err := (&Resolver{}).ResolveKey(ctx, "", bad+"#0"); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	// The issuer must control the kid.
	k, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	did, _ := DIDKey(k.Public())
	if _, err := (&Resolver{}).ResolveKey(ctx, "did:web:issuer.example", did+"#x"); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("kid of another DID: %v", err)
	}
}

func mustNormal(t testing.TB, pub any) any {
	p, err := gm.NormalizePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func FuzzResolveLocalDID(f *testing.F) {
	f.Add("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
	f.Add("did:jwk:eyJrdHkiOiJPS1AiLCJjcnYiOiJFZDI1NTE5IiwieCI6IjExcVlBWUt4Q3JmVlNfN1R5V1FIT2c3aGN2UGFwaU1scndJYWFQY0hVUm8ifQ")
	f.Fuzz(func(t *testing.T, s string) {
		if !strings.HasPrefix(s, "did:key:") && !strings.HasPrefix(s, "did:jwk:") {
			return // only local methods: no network from a fuzzer
		}
		(&Resolver{}).ResolveKey(context.Background(), "", s)
	})
}

// TestMultikeyMethods: a DID document's Multikey methods
// (publicKeyMultibase, Controlled Identifiers 1.0 §2.2.2) give their key
// for every key type did:key carries; a key in the wrong member for its
// type, a private key or an undecodable one is refused.
func TestMultikeyMethods(t *testing.T) {
	const did = "did:web:issuer.example"
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256, gm.AlgES384, gm.AlgEdDSA} {
		k, err := gm.GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := multikey.Encode(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		doc, err := ParseControllerDocument([]byte(`{"id":"`+did+`","verificationMethod":[{"id":"#k","type":"Multikey","controller":"`+did+`","publicKeyMultibase":"`+mb+`"}],"assertionMethod":["#k"]}`), did)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		pub, err := doc.AssertionKey(did+"#k", time.Now())
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if again, _ := multikey.Encode(pub); again != mb {
			t.Fatalf("%s: resolved another key", alg)
		}
	}
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	mb, _ := multikey.Encode(k.Public())
	j, _ := gm.NewJWK(k.Public(), "")
	jwk, _ := json.Marshal(j)
	for name, vm := range map[string]string{
		"Multikey with a JWK too":    `"type":"Multikey","publicKeyMultibase":"` + mb + `","publicKeyJwk":` + string(jwk),
		"Multikey without its key":   `"type":"Multikey","publicKeyJwk":` + string(jwk),
		"multibase under JsonWebKey": `"type":"JsonWebKey","publicKeyMultibase":"` + mb + `"`,
		"not base58btc":              `"type":"Multikey","publicKeyMultibase":"u` + mb[1:] + `"`,
		"not base58":                 `"type":"Multikey","publicKeyMultibase":"z0OIl"`,
	} {
		doc, err := ParseControllerDocument([]byte(`{"id":"`+did+`","verificationMethod":[{"id":"#k","controller":"`+did+`",`+vm+`}],"assertionMethod":["#k"]}`), did)
		if err == nil {
			_, err = doc.AssertionKey(did+"#k", time.Now())
		}
		if !errors.Is(err, ErrResolve) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseControllerDocument([]byte(`{"id":"`+did+`","verificationMethod":[{"id":"#k","type":"Multikey","publicKeyMultibase":"`+mb+`","secretKeyMultibase":"z1"}]}`), did); !errors.Is(err, ErrResolve) {
		t.Errorf("secretKeyMultibase: %v", err)
	}
}

// TestMethodWithoutType: a verification method without a type (or whose
// type is not a string) is refused when it is retrieved (Controlled
// Identifiers 1.0 §2.2: id, type and controller are required; §3.3 raises
// INVALID_VERIFICATION_METHOD when type is not a string), not read as a
// JsonWebKey because it carries a publicKeyJwk.
func TestMethodWithoutType(t *testing.T) {
	const did = "did:web:issuer.example"
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	j, _ := gm.NewJWK(k.Public(), "")
	jwk, _ := json.Marshal(j)
	for name, vm := range map[string]string{
		"no type":    `"publicKeyJwk":` + string(jwk),
		"empty type": `"type":"","publicKeyJwk":` + string(jwk),
		"type null":  `"type":null,"publicKeyJwk":` + string(jwk),
	} {
		doc, err := ParseControllerDocument([]byte(`{"id":"`+did+`","verificationMethod":[{"id":"#k","controller":"`+did+`",`+vm+`}],"assertionMethod":["#k"]}`), did)
		if err == nil {
			_, err = doc.AssertionKey(did+"#k", time.Now())
		}
		if !errors.Is(err, ErrResolve) || !errors.Is(err, ErrControllerDocument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	doc, err := ParseControllerDocument([]byte(`{"id":"`+did+`","verificationMethod":[{"id":"#k","type":"JsonWebKey","controller":"`+did+`","publicKeyJwk":`+string(jwk)+`}],"assertionMethod":["#k"]}`), did)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := doc.AssertionKey(did+"#k", time.Now()); err != nil {
		t.Fatalf("JsonWebKey: %v", err)
	}
}
