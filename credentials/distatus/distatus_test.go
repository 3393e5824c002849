package distatus_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/distatus"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
)

// now is the tests' fixed time.
var now = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// listDoc is a BitstringStatusListCredential of issuer for url with the
// given indexes set.
func listDoc(t *testing.T, issuer, url string, set ...int) map[string]any {
	t.Helper()
	bits, err := status.NewBitstring(status.MinEntries)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range set {
		if err := bits.Set(i, true); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]any{
		"@context":  []any{credentials.ContextV2},
		"id":        url,
		"type":      []any{credentials.TypeCredential, credentials.TypeBitstringStatusListCredential},
		"issuer":    issuer,
		"validFrom": "2026-01-01T00:00:00Z",
		"credentialSubject": map[string]any{
			"id": url + "#list", "type": credentials.TypeBitstringStatusList,
			"statusPurpose": credentials.PurposeRevocation, "encodedList": bits.Encode(), "ttl": 300000,
		},
	}
}

type didKeyParty struct {
	key     crypto.Signer
	did, vm string
}

func newParty(t *testing.T, alg string) didKeyParty {
	t.Helper()
	k, err := gm.GenerateSigner(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	did, err := credentials.DIDKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return didKeyParty{key: k, did: did, vm: did + "#" + strings.TrimPrefix(did, "did:key:")}
}

// secureList secures doc with an embedded proof of suite by p.
func secureList(t *testing.T, suite string, doc map[string]any, p didKeyParty) string {
	t.Helper()
	secured, err := di.AddProof(doc, p.key, di.Options{Cryptosuite: suite, VerificationMethod: p.vm, Created: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(secured)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStatusListDataIntegrity: a verifier checks a credential's status
// against a Bitstring Status List credential secured with a Data
// Integrity proof (served as application/vc): a revoked index is refused
// and a clear one accepted, in every cryptosuite; a list whose proof
// fails, made by another key or by another issuer, fails closed without
// falling back; lists served only as vc+jwt are fetched in that form.
func TestStatusListDataIntegrity(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	served := map[string][2]string{}
	var accepts []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A path may answer by the first media type asked for.
		first, _, _ := strings.Cut(r.Header.Get("Accept"), ",")
		first, _, _ = strings.Cut(first, ";")
		mu.Lock()
		l, ok := served[r.URL.Path+" "+first]
		if !ok {
			l, ok = served[r.URL.Path]
		}
		accepts = append(accepts, r.Header.Get("Accept"))
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", l[0])
		w.Write([]byte(l[1]))
	}))
	t.Cleanup(srv.Close)
	serve := func(path, contentType, body string) string {
		mu.Lock()
		served[path] = [2]string{contentType, body}
		mu.Unlock()
		return srv.URL + path
	}
	client, err := credentials.NewFetchClient(srv.Client(), credentials.FetchOptions{AllowHost: credentials.AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	res := &credentials.Resolver{Client: client, Now: clock}
	algs := []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA}
	listCV, err := credentials.NewVerifier(credentials.VerifierConfig{Algorithms: algs, Resolver: res, Trust: credentials.AnyIssuer{}, SkipStatus: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	lists, err := di.NewVerifier(di.Config{Resolver: res, Cryptosuites: di.Cryptosuites(), Checker: di.CheckWith(listCV.CheckCredential), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	src := &credentials.HTTPStatusSource{Client: client, Verifier: listCV, Resolver: res, Algorithms: algs, Now: clock,
		Forms: []credentials.StatusListForm{distatus.Form(lists)}}
	checker := credentials.NewStatusChecker(src, time.Minute, clock)
	v, err := credentials.NewVerifier(credentials.VerifierConfig{Algorithms: algs, Resolver: res, Trust: credentials.AnyIssuer{}, Status: checker, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	credential := func(p didKeyParty, url string, idx int) string {
		t.Helper()
		doc := map[string]any{
			"@context": []any{credentials.ContextV2}, "type": []any{credentials.TypeCredential},
			"issuer": p.did, "validFrom": "2026-01-01T00:00:00Z",
			"credentialSubject": map[string]any{"id": "did:example:subject"},
			"credentialStatus": []any{credentials.StatusEntry{ID: url + "#" + strconv.Itoa(idx), Purpose: credentials.PurposeRevocation,
				Index: idx, ListCredential: url}.Map()},
		}
		tok, err := credentials.SignJWT(doc, credentials.TypVCJWT, p.vm, p.key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	suites := map[string]string{di.SM2RDFC2025: gm.AlgSM2, di.ECDSARDFC2019: gm.AlgES256, di.EdDSARDFC2022: gm.AlgEdDSA}
	for suite, alg := range suites {
		p := newParty(t, alg)
		path := "/status/" + suite
		url := srv.URL + path
		list := secureList(t, suite, listDoc(t, p.did, url, 7), p)
		serve(path, di.MediaTypeVC, list)
		if _, err := v.VerifyCredential(ctx, credential(p, url, 7)); !errors.Is(err, credentials.ErrRevoked) {
			t.Fatalf("%s: revoked credential: %v", suite, err)
		}
		if _, err := v.VerifyCredential(ctx, credential(p, url, 8)); err != nil {
			t.Fatalf("%s: clear credential: %v", suite, err)
		}
		bl, err := distatus.VerifyStatusList(ctx, lists, []byte(list), url, p.did)
		if err != nil {
			t.Fatalf("%s: VerifyStatusList: %v", suite, err)
		}
		if !slices.Equal(bl.Purposes, []string{credentials.PurposeRevocation}) || !bl.Bits.Get(7) || bl.TTL != 5*time.Minute {
			t.Fatalf("%s: VerifyStatusList: %v %v", suite, bl.Purposes, bl.TTL)
		}
		// Another issuer's list, a list altered after signing.
		if _, err := distatus.VerifyStatusList(ctx, lists, []byte(list), url, newParty(t, alg).did); !errors.Is(err, credentials.ErrIssuerMismatch) {
			t.Fatalf("%s: list of another issuer: %v", suite, err)
		}
		altered := strings.Replace(list, `"statusPurpose":"revocation"`, `"statusPurpose":"suspension"`, 1)
		if altered == list {
			t.Fatal("nothing altered")
		}
		if _, err := distatus.VerifyStatusList(ctx, lists, []byte(altered), url, p.did); !errors.Is(err, di.ErrSignature) {
			t.Fatalf("%s: altered list: %v", suite, err)
		}
	}

	// A list whose proof another key made: fail closed, no fallback.
	is, other := newParty(t, gm.AlgSM2), newParty(t, gm.AlgSM2)
	url := srv.URL + "/status/forged"
	forged := listDoc(t, is.did, url, 1)
	secured, err := di.AddProof(forged, other.key, di.Options{Cryptosuite: di.SM2RDFC2025, VerificationMethod: is.vm, Created: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(secured)
	serve("/status/forged", di.MediaTypeVC, string(b))
	if _, err := v.VerifyCredential(ctx, credential(is, url, 2)); !errors.Is(err, credentials.ErrStatusUnavailable) {
		t.Fatalf("forged list: %v", err)
	}
	// An unsecured list served as application/vc: refused.
	raw, _ := json.Marshal(listDoc(t, is.did, srv.URL+"/status/bare", 1))
	url = serve("/status/bare", di.MediaTypeVC, string(raw))
	if _, err := v.VerifyCredential(ctx, credential(is, url, 2)); !errors.Is(err, credentials.ErrStatusUnavailable) {
		t.Fatalf("unsecured list: %v", err)
	}
	// A list served only as vc+jwt is fetched in that form.
	url = srv.URL + "/status/jwt"
	tok, err := credentials.SignJWT(listDoc(t, is.did, url, 9), credentials.TypVCJWT, is.vm, is.key)
	if err != nil {
		t.Fatal(err)
	}
	serve("/status/jwt", credentials.MediaTypeVCJWT, tok)
	if _, err := v.VerifyCredential(ctx, credential(is, url, 9)); !errors.Is(err, credentials.ErrRevoked) {
		t.Fatalf("vc+jwt list: %v", err)
	}
	// A list with an embedded proof served as application/vc+ld+json
	// (the drafts' media type) is taken as application/vc is; the
	// verifier asks for both.
	url = srv.URL + "/status/ld"
	serve("/status/ld", distatus.MediaTypeVCLD, secureList(t, di.SM2RDFC2025, listDoc(t, is.did, url, 4), is))
	mu.Lock()
	accepts = nil
	mu.Unlock()
	if _, err := v.VerifyCredential(ctx, credential(is, url, 4)); !errors.Is(err, credentials.ErrRevoked) {
		t.Fatalf("list served as %s: %v", distatus.MediaTypeVCLD, err)
	}
	if _, err := v.VerifyCredential(ctx, credential(is, url, 5)); err != nil {
		t.Fatalf("list served as %s, clear index: %v", distatus.MediaTypeVCLD, err)
	}
	mu.Lock()
	if len(accepts) != 1 || accepts[0] != "application/vc, application/vc+ld+json;q=0.9" {
		t.Errorf("the list was asked for with %q", accepts)
	}
	mu.Unlock()
	// A server that answers application/vc+ld+json with the unsecured
	// list and gives vc+jwt when asked: the source moves on to vc+jwt.
	url = srv.URL + "/status/plain-ld"
	plain, _ := json.Marshal(listDoc(t, is.did, url, 6))
	serve("/status/plain-ld "+di.MediaTypeVC, distatus.MediaTypeVCLD, string(plain))
	tok, err = credentials.SignJWT(listDoc(t, is.did, url, 6), credentials.TypVCJWT, is.vm, is.key)
	if err != nil {
		t.Fatal(err)
	}
	serve("/status/plain-ld "+credentials.MediaTypeVCJWT, credentials.MediaTypeVCJWT, tok)
	if _, err := v.VerifyCredential(ctx, credential(is, url, 6)); !errors.Is(err, credentials.ErrRevoked) {
		t.Fatalf("unsecured application/vc+ld+json, then vc+jwt: %v", err)
	}
}
