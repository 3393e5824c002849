package cose

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testResolver resolves did:key through credentials.Resolver and, for
// ES384 and ES512 (which did:key in TrustID does not encode), keys registered by
// kid under did:example issuers.
type testResolver struct {
	base  credentials.Resolver
	extra map[string]crypto.PublicKey
}

func (r *testResolver) ResolveKey(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	if pub, ok := r.extra[kid]; ok {
		if !strings.HasPrefix(kid, issuer+"#") {
			return nil, fmt.Errorf("%w: test key of another issuer", credentials.ErrIssuerMismatch)
		}
		return pub, nil
	}
	return r.base.ResolveKey(ctx, issuer, kid)
}

// party is an issuer or holder: a key, its DID and its kid.
type party struct {
	key      crypto.Signer
	did, kid string
}

// fixture is a verifier of vc+cose over did:key issuers, with status
// lists served over TLS by srv (path -> content type and body).
type fixture struct {
	parties map[string]party // by algorithm name
	cv      *credentials.Verifier
	v       *Verifier
	srv     *httptest.Server
	mu      sync.Mutex
	lists   map[string][2]string
}

func newKey(t testing.TB, alg string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case "ES384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	default:
		k, err = gm.GenerateSigner(alg, rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{parties: map[string]party{}, lists: map[string][2]string{}}
	res := &testResolver{extra: map[string]crypto.PublicKey{}}
	for _, alg := range []string{"ES256", "ES384", "ES512", "EdDSA", "SM2"} {
		k := newKey(t, alg)
		var p party
		if alg == "ES384" || alg == "ES512" {
			did := "did:example:" + strings.ToLower(alg)
			p = party{key: k, did: did, kid: did + "#key-1"}
			res.extra[p.kid] = k.Public()
		} else {
			did, err := credentials.DIDKey(k.Public())
			if err != nil {
				t.Fatal(err)
			}
			p = party{key: k, did: did, kid: did + "#" + strings.TrimPrefix(did, "did:key:")}
		}
		f.parties[alg] = p
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		l, ok := f.lists[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", l[0])
		w.Write([]byte(l[1]))
	}))
	t.Cleanup(f.srv.Close)
	client, err := credentials.NewFetchClient(f.srv.Client(), credentials.FetchOptions{AllowHost: credentials.AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	res.base = credentials.Resolver{Client: client, Now: func() time.Time { return testNow }}
	now := func() time.Time { return testNow }
	algs := []string{"ES256", "EdDSA", "SM2"}
	listCV, err := credentials.NewVerifier(credentials.VerifierConfig{Algorithms: algs, Resolver: res, Trust: credentials.AnyIssuer{}, SkipStatus: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	lists, err := NewVerifier(listCV, []string{"ES256", "ES384", "EdDSA", "SM2"})
	if err != nil {
		t.Fatal(err)
	}
	src := &credentials.HTTPStatusSource{Client: client, Verifier: listCV, Resolver: res, Algorithms: algs, Now: now,
		Forms: []credentials.StatusListForm{lists.StatusListForm()}}
	checker := credentials.NewStatusChecker(src, time.Minute, now)
	f.cv, err = credentials.NewVerifier(credentials.VerifierConfig{Algorithms: algs, Resolver: res, Trust: credentials.AnyIssuer{}, Status: checker, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if f.v, err = NewVerifier(f.cv, []string{"ES256", "ES384", "ES512", "EdDSA", "SM2"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// serve publishes body under path with a content type.
func (f *fixture) serve(path, contentType, body string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists[path] = [2]string{contentType, body}
	return f.srv.URL + path
}

// credentialDoc is a valid credential of issuer.
func credentialDoc(issuer string) map[string]any {
	return map[string]any{
		"@context":   []any{credentials.ContextV2, "https://www.w3.org/ns/credentials/examples/v2"},
		"type":       []any{"VerifiableCredential", "ExampleDegreeCredential"},
		"issuer":     issuer,
		"validFrom":  "2026-01-01T00:00:00Z",
		"validUntil": "2027-01-01T00:00:00Z",
		"credentialSubject": map[string]any{
			"id":     "did:example:subject",
			"degree": map[string]any{"type": "ExampleBachelorDegree", "name": "Bachelor of Science and Arts"},
		},
	}
}

var detEnc, _ = cbor.CoreDetEncOptions().EncMode()

// handSign1 builds a tagged COSE_Sign1 without go-cose: fxamacker/cbor
// for the structures and the standard library (or gm for SM2) for the
// signature over Sig_structure, as RFC 9052 section 4.4 defines it. alg
// picks the signature; the headers are whatever the test gives.
func handSign1(t testing.TB, prot map[int64]any, unprot any, payload []byte, key crypto.Signer, alg Algorithm) []byte {
	t.Helper()
	protBytes := []byte{}
	if len(prot) > 0 {
		var err error
		if protBytes, err = detEnc.Marshal(prot); err != nil {
			t.Fatal(err)
		}
	}
	tbs, err := detEnc.Marshal([]any{"Signature1", protBytes, []byte{}, payload})
	if err != nil {
		t.Fatal(err)
	}
	var sig []byte
	switch alg {
	case AlgES256, AlgES384, AlgES512:
		var h []byte
		size := 32
		switch alg {
		case AlgES256:
			s := sha256.Sum256(tbs)
			h = s[:]
		case AlgES384:
			s := sha512.Sum384(tbs)
			h, size = s[:], 48
		default:
			s := sha512.Sum512(tbs)
			h, size = s[:], 66
		}
		r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), h)
		if err != nil {
			t.Fatal(err)
		}
		sig = append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
	case AlgEdDSA:
		sig = ed25519.Sign(key.(ed25519.PrivateKey), tbs)
	case AlgSM2:
		if sig, err = gm.SignWith(rand.Reader, key, tbs); err != nil {
			t.Fatal(err)
		}
	default:
		sig = make([]byte, 64)
	}
	if unprot == nil {
		unprot = map[int64]any{}
	}
	out, err := detEnc.Marshal(cbor.Tag{Number: 18, Content: []any{protBytes, unprot, payload, sig}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// vcHeaders are the protected headers VC-JOSE-COSE asks for.
func vcHeaders(alg Algorithm, kid string) map[int64]any {
	return map[int64]any{1: int64(alg), 3: ContentTypeVC, 4: []byte(kid), 16: MediaTypeVC}
}
