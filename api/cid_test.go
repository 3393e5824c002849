package api

import (
	"crypto"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

// cidHost serves controlled identifier documents (W3C Controlled
// Identifiers 1.0) over TLS on 127.0.0.1: at each path what a test puts
// there.
type cidHost struct {
	srv    *httptest.Server
	pages  map[string]func(http.ResponseWriter)
	client *http.Client // guarded, allowed to reach 127.0.0.1
	// fetches counts the requests the host answered.
	fetches atomic.Int64
}

func newCIDHost(t *testing.T) *cidHost {
	h := &cidHost{pages: map[string]func(http.ResponseWriter){}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fetches.Add(1)
		page, ok := h.pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		page(w)
	}))
	t.Cleanup(h.srv.Close)
	var err error
	if h.client, err = vc.NewFetchClient(h.srv.Client(), vc.FetchOptions{AllowHost: vc.AllowHosts("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	return h
}

// put serves body as ct at path and returns the path's URL.
func (h *cidHost) put(path, ct string, body []byte) string {
	h.pages[path] = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", ct)
		w.Write(body)
	}
	return h.srv.URL + path
}

// cidDocument is the controller document of id: #key-1 (key, a Multikey)
// in assertionMethod, #auth-1 (auth, a JsonWebKey) in authentication,
// each controlled by controller.
func cidDocument(t *testing.T, id, controller string, key, auth crypto.Signer) []byte {
	t.Helper()
	mb, err := multikey.Encode(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	j, err := gm.NewJWK(auth.Public(), "auth-1")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(vc.DIDDocument{Context: []string{vc.ContextCID}, ID: id,
		VerificationMethod: []vc.VerificationMethod{{ID: id + "#key-1", Type: vc.TypeMultikey, Controller: controller, PublicKeyMultibase: mb},
			{ID: id + "#auth-1", Type: vc.TypeJsonWebKey, Controller: controller, PublicKeyJwk: j}},
		AssertionMethod: []string{"#key-1"}, Authentication: []string{id + "#auth-1"}})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// newCIDEnv is a node whose verifier resolves https verification methods
// on 127.0.0.1 through client and trusts any issuer.
func newCIDEnv(t *testing.T, client *http.Client) *vcEnv {
	return newVCEnv(t, func(cfg *CredentialsConfig) {
		keys := &vc.RegistryResolver{Next: &vc.Resolver{Client: client, ControllerHosts: vc.AllowHosts("127.0.0.1")}}
		v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Resolver: keys, Trust: vc.AnyIssuer{}, SkipStatus: true})
		if err != nil {
			t.Fatal(err)
		}
		div, err := dataintegrity.NewVerifier(dataintegrity.Config{Resolver: keys, Cryptosuites: dataintegrity.Cryptosuites(),
			Checker: dataintegrity.CheckWith(v.CheckCredential)})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Verifier, cfg.DataIntegrity = v, div
	})
}

// cidCredential is a credential of issuer secured with suite by vm.
func cidCredential(t *testing.T, suite, issuer, vm string, key crypto.Signer) string {
	t.Helper()
	doc := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": issuer,
		"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": map[string]any{"id": "did:example:holder-1"}}
	out, err := dataintegrity.SignCredential(suite, doc, vm, key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVCAPIControllerDocument: POST /credentials/verify and POST
// /presentations/verify take Data Integrity proofs by an https
// verification method, its controlled identifier document served over
// TLS, with each cryptosuite; a vc+jwt whose kid is one too.
func TestVCAPIControllerDocument(t *testing.T) {
	h := newCIDHost(t)
	e := newCIDEnv(t, h.client)
	for i, c := range []struct{ alg, suite string }{
		{gm.AlgEdDSA, dataintegrity.EdDSARDFC2022}, {gm.AlgES256, dataintegrity.ECDSARDFC2019},
		{gm.AlgES384, dataintegrity.ECDSARDFC2019}, {gm.AlgSM2, dataintegrity.SM2RDFC2025},
	} {
		key, _ := gm.GenerateSigner(c.alg, rand.Reader)
		auth, _ := gm.GenerateSigner(c.alg, rand.Reader)
		path := "/issuers/" + strings.ToLower(c.alg) + "-" + string(rune('a'+i))
		id := h.srv.URL + path
		h.put(path, "application/cid", cidDocument(t, id, id, key, auth))
		cred := cidCredential(t, c.suite, id, id+"#key-1", key)
		code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+cred+`}`)
		if code != 200 || body["verified"] != true {
			t.Fatalf("%s %s: credential: %d %v", c.alg, c.suite, code, body)
		}
		proofs, _ := body["proofs"].([]any)
		if len(proofs) != 1 || proofs[0].(map[string]any)["controller"] != id {
			t.Errorf("%s: proofs %v", c.alg, body["proofs"])
		}
		vp := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": id}
		p, err := dataintegrity.SignPresentation(c.suite, vp, id+"#auth-1", auth, "c-9", "https://rp.example", time.Now().Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		code, body = e.post(t, "/presentations/verify", "", `{"verifiablePresentation":`+p+`,"options":{"challenge":"c-9","domain":"https://rp.example"}}`)
		if code != 200 || body["verified"] != true {
			t.Errorf("%s %s: presentation: %d %v", c.alg, c.suite, code, body)
		}
		p, err = dataintegrity.SignPresentation(c.suite, vp, id+"#key-1", key, "c-9", "https://rp.example", time.Now().Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		code, body = e.post(t, "/presentations/verify", "", `{"verifiablePresentation":`+p+`,"options":{"challenge":"c-9","domain":"https://rp.example"}}`)
		if code != 400 || firstCode(body) != "invalid_relationship_for_verification_method" {
			t.Errorf("%s: presentation by an assertionMethod key: %d %v", c.alg, code, body)
		}
	}
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	id := h.put("/issuers/jwt", "application/cid", nil)
	h.put("/issuers/jwt", "application/cid", cidDocument(t, id, id, key, key))
	c := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": id,
		"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": map[string]any{"id": "did:example:holder-1"}}
	tok, err := vc.SignJWT(c, vc.TypVCJWT, id+"#key-1", key)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":"`+tok+`"}`); code != 200 || body["verified"] != true {
		t.Errorf("vc+jwt: %d %v", code, body)
	}
}

// TestVCAPIControllerDocumentRefusals: each refusal of an https
// verification method is a 400 with its own code, never a 500.
func TestVCAPIControllerDocumentRefusals(t *testing.T) {
	h := newCIDHost(t)
	e := newCIDEnv(t, h.client)
	key, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	doc := func(path, id, controller string) string {
		return h.put(path, "application/cid", cidDocument(t, id, controller, key, key))
	}
	good := doc("/good", h.srv.URL+"/good", h.srv.URL+"/good")
	ecKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cases := []struct {
		name, want string
		credential func() string
	}{
		{"id mismatch", "invalid_controller_document_id", func() string {
			u := doc("/id-mismatch", h.srv.URL+"/elsewhere", h.srv.URL+"/elsewhere")
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
		{"method not found", "verification_method_not_found", func() string {
			return cidCredential(t, dataintegrity.EdDSARDFC2022, good, good+"#key-9", key)
		}},
		{"controller mismatch", "invalid_verification_method_controller", func() string {
			u := doc("/controller-mismatch", h.srv.URL+"/controller-mismatch", "https://victim.example/doc")
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
		{"not in the proof purpose's relationship", "invalid_relationship_for_verification_method", func() string {
			return cidCredential(t, dataintegrity.EdDSARDFC2022, good, good+"#auth-1", key)
		}},
		{"wrong media type", "fetched_document_media_type", func() string {
			u := h.srv.URL + "/html"
			h.put("/html", "text/html", cidDocument(t, u, u, key, key))
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
		{"oversized document", "fetched_document_too_large", func() string {
			u := h.srv.URL + "/big"
			d := cidDocument(t, u, u, key, key)
			d = append(d[:len(d)-1:len(d)-1], []byte(`,"padding":"`+strings.Repeat("a", vc.MaxDocument)+`"}`)...)
			h.put("/big", "application/cid", d)
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
		{"non-https URL", "invalid_verification_method_url", func() string {
			u := "http://" + strings.TrimPrefix(good, "https://")
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
		{"dot segments", "invalid_verification_method_url", func() string {
			u := h.srv.URL + "/users/alice/%2e%2e/../good"
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
		{"a method id defined twice", "invalid_controller_document", func() string {
			u := h.srv.URL + "/twice"
			mb, _ := multikey.Encode(key.Public())
			other, _ := multikey.Encode(ecKey.Public())
			h.put("/twice", "application/cid", []byte(`{"id":"`+u+`","verificationMethod":[{"id":"#key-1","type":"Multikey","controller":"`+u+
				`","publicKeyMultibase":"`+mb+`"}],"authentication":["#key-1"],"assertionMethod":[{"id":"#key-1","type":"Multikey","controller":"`+u+
				`","publicKeyMultibase":"`+other+`"}]}`))
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
		{"redirect to a private address", "fetch_redirect_refused", func() string {
			h.pages["/moved"] = func(w http.ResponseWriter) {
				w.Header().Set("Location", "https://192.168.1.1/doc")
				w.WriteHeader(http.StatusMovedPermanently)
			}
			u := h.srv.URL + "/moved"
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
		{"not JSON", "invalid_controller_document", func() string {
			u := h.put("/not-json", "application/cid", []byte("key-1: z6Mk"))
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
		{"key type and cryptosuite mismatch", "cryptosuite_key_mismatch", func() string {
			return cidCredential(t, dataintegrity.ECDSARDFC2019, good, good+"#key-1", ecKey)
		}},
		{"revoked method", "verification_method_revoked", func() string {
			u := h.srv.URL + "/revoked"
			mb, _ := multikey.Encode(key.Public())
			h.put("/revoked", "application/cid", []byte(`{"id":"`+u+`","verificationMethod":[{"id":"#key-1","type":"Multikey","controller":"`+u+
				`","publicKeyMultibase":"`+mb+`","revoked":"2024-12-10T15:28:32Z"}],"assertionMethod":["#key-1"]}`))
			return cidCredential(t, dataintegrity.EdDSARDFC2022, u, u+"#key-1", key)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+c.credential()+`}`)
			if code != 400 || body["verified"] != false || firstCode(body) != c.want {
				t.Errorf("%d %v, want 400 %s", code, body, c.want)
			}
		})
	}
}

// TestDIPresentationChecksBeforeHolderFetch: POST /presentations/verify
// checks a Data Integrity presentation of an https holder in everything
// that needs no key of the holder (the data model, its credentials,
// enveloped or with proofs, and their binding to the holder) before the
// holder's controlled identifier document is fetched: one refused for any
// of these fetches nothing (each fetched the document first). One that
// passes them fetches it once. Each case has a holder of its own, whose
// document no earlier case fetched.
func TestDIPresentationChecksBeforeHolderFetch(t *testing.T) {
	h := newCIDHost(t)
	e := newCIDEnv(t, h.client)
	auth, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	holders := 0
	newHolder := func() string {
		holders++
		path := "/holders/" + string(rune('a'+holders))
		id := h.put(path, "application/cid", nil)
		h.put(path, "application/cid", cidDocument(t, id, id, auth, auth))
		return id
	}
	issuerKey, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	issuer, err := vc.DIDJWK(issuerKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	credential := func(subject string) map[string]any {
		return map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": issuer,
			"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": map[string]any{"id": subject}}
	}
	enveloped := func(c map[string]any) map[string]any {
		tok, err := vc.SignJWT(c, vc.TypVCJWT, issuer+"#0", issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		return vc.Envelope(tok, vc.MediaTypeVCJWT)
	}
	embedded := func(c map[string]any) any {
		out, err := dataintegrity.SignCredential(dataintegrity.SM2RDFC2025, c, issuer+"#0", issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	present := func(holder string, types []any, creds ...any) string {
		vp := map[string]any{"@context": []any{vc.ContextV2}, "type": types, "holder": holder, "verifiableCredential": creds}
		p, err := dataintegrity.SignPresentation(dataintegrity.EdDSARDFC2022, vp, holder+"#auth-1", auth, "c-9", "https://rp.example", time.Now().Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return `{"verifiablePresentation":` + p + `,"options":{"challenge":"c-9","domain":"https://rp.example"}}`
	}
	vp := []any{"VerifiablePresentation"}
	for _, c := range []struct {
		name, want string
		body       func(holder string) string
	}{
		{"not a VerifiablePresentation", "invalid_presentation", func(holder string) string {
			return present(holder, []any{"Presentation"}, enveloped(credential(holder)))
		}},
		{"another's enveloped credential", "holder_mismatch", func(holder string) string {
			return present(holder, vp, enveloped(credential("did:example:someone-else")))
		}},
		{"an expired enveloped credential", "expired", func(holder string) string {
			c := credential(holder)
			c["validUntil"] = "2021-01-01T00:00:00Z"
			return present(holder, vp, enveloped(c))
		}},
		{"a forged enveloped credential", "invalid_signature", func(holder string) string {
			forged := enveloped(credential(holder))
			forged["id"] = forged["id"].(string)[:len(forged["id"].(string))-4] + "AAAA"
			return present(holder, vp, embedded(credential(holder)), forged)
		}},
		{"another's credential with a proof", "holder_mismatch", func(holder string) string {
			return present(holder, vp, embedded(credential("did:example:someone-else")))
		}},
		{"an unsecured credential after one the holder issued", "invalid_presentation", func(holder string) string {
			c := credential(holder)
			c["issuer"] = holder
			own, err := dataintegrity.SignCredential(dataintegrity.EdDSARDFC2022, c, holder+"#key-1", auth)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(own), &m); err != nil {
				t.Fatal(err)
			}
			return present(holder, vp, m, credential(holder))
		}},
	} {
		h.fetches.Store(0)
		code, body := e.post(t, "/presentations/verify", "", c.body(newHolder()))
		if code != 400 || firstCode(body) != c.want {
			t.Errorf("%s: %d %v, want 400 %s", c.name, code, body, c.want)
		}
		if n := h.fetches.Load(); n != 0 {
			t.Errorf("%s: %d fetches of the holder's document, want none", c.name, n)
		}
	}
	h.fetches.Store(0)
	holder := newHolder()
	code, body := e.post(t, "/presentations/verify", "", present(holder, vp, embedded(credential(holder)), enveloped(credential(holder))))
	if creds, _ := body["credentials"].([]any); code != 200 || body["verified"] != true || len(creds) != 2 || h.fetches.Load() != 1 {
		t.Errorf("a good presentation: %d %v after %d fetches, want verified with 2 credentials and one fetch", code, body, h.fetches.Load())
	}
}

// TestDIPresentationBindingBeforeIssuerFetch: a Data Integrity
// presentation's credential that is not about the holder (its subject id
// another's), with a proof or enveloped (a vc+jwt), is refused
// holder_mismatch before it is verified: the binding needs no key, and
// was checked only once the credential verified, its issuer's key
// resolved (for an https or did:web issuer, a fetch from the host it
// names). So is an enveloped credential bound to a key (cnf), even the
// holder's: a Data Integrity presentation's verification yields no
// holder's key to confirm it with, so it can never pass. A credential of
// the holder's is verified as before, its issuer's document fetched.
func TestDIPresentationBindingBeforeIssuerFetch(t *testing.T) {
	h := newCIDHost(t)
	e := newCIDEnv(t, h.client)
	issuerKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	// An issuer for each form of credential: the node caches the
	// documents it fetched.
	issuers := map[bool]string{}
	for enveloped, path := range map[bool]string{false: "/issuers/a", true: "/issuers/b"} {
		issuers[enveloped] = h.put(path, "application/cid", nil)
		h.put(path, "application/cid", cidDocument(t, issuers[enveloped], issuers[enveloped], issuerKey, issuerKey))
	}
	holderKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	holder, err := vc.DIDKey(holderKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	holderJWK, err := gm.NewJWK(holderKey.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	present := func(subject string, enveloped bool, cnf ...gm.JWK) string {
		issuer := issuers[enveloped]
		c := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": issuer,
			"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": map[string]any{"id": subject}}
		for _, k := range cnf {
			c["cnf"] = map[string]any{"jwk": k}
		}
		var m map[string]any
		if enveloped {
			tok, err := vc.SignJWT(c, vc.TypVCJWT, issuer+"#key-1", issuerKey)
			if err != nil {
				t.Fatal(err)
			}
			m = vc.Envelope(tok, vc.MediaTypeVCJWT)
		} else {
			signed, err := dataintegrity.SignCredential(dataintegrity.EdDSARDFC2022, c, issuer+"#key-1", issuerKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(signed), &m); err != nil {
				t.Fatal(err)
			}
		}
		vp := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder, "verifiableCredential": []any{m}}
		p, err := dataintegrity.SignPresentation(dataintegrity.EdDSARDFC2022, vp, holder+"#"+strings.TrimPrefix(holder, "did:key:"), holderKey,
			"c-9", "https://rp.example", time.Now().Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return `{"verifiablePresentation":` + p + `,"options":{"challenge":"c-9","domain":"https://rp.example"}}`
	}
	for _, enveloped := range []bool{false, true} {
		form := map[bool]string{false: "with a proof", true: "enveloped"}[enveloped]
		h.fetches.Store(0)
		code, body := e.post(t, "/presentations/verify", "", present("did:example:someone-else", enveloped))
		if code != 400 || firstCode(body) != "holder_mismatch" || h.fetches.Load() != 0 {
			t.Errorf("another's credential %s: %d %v after %d fetches of its issuer's document, want 400 holder_mismatch and none", form, code, body, h.fetches.Load())
		}
		if enveloped {
			code, body = e.post(t, "/presentations/verify", "", present(holder, enveloped, holderJWK))
			if code != 400 || firstCode(body) != "holder_mismatch" || h.fetches.Load() != 0 {
				t.Errorf("a credential bound to the holder's key %s: %d %v after %d fetches of its issuer's document, want 400 holder_mismatch and none", form, code, body, h.fetches.Load())
			}
		}
		h.fetches.Store(0)
		code, body = e.post(t, "/presentations/verify", "", present(holder, enveloped))
		if creds, _ := body["credentials"].([]any); code != 200 || body["verified"] != true || len(creds) != 1 || h.fetches.Load() != 1 {
			t.Errorf("the holder's credential %s: %d %v after %d fetches, want verified after one", form, code, body, h.fetches.Load())
		}
	}
}

// TestDIPresentationRespelledSubject: another's Data Integrity credential
// whose subject id is respelled after signing ({"@id": X}, or an alias of
// @id in the subject's own @context) keeps its proofs, the issuer's and
// the holder's (they cover the RDF, which is unchanged), while its JSON
// has no subject id: the node answered 200 verified:true, taking it as a
// bearer credential. It is refused not_compacted (VC 2.0 §6.1: compacted
// document form) before the issuer's document is fetched.
func TestDIPresentationRespelledSubject(t *testing.T) {
	sent, verify := signedDIPresentation(t, func(issuer string) map[string]any {
		return map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": issuer,
			"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": map[string]any{"id": "did:example:someone-else"}}
	})
	for name, subject := range map[string]map[string]any{
		"@id":                             {"@id": "did:example:someone-else"},
		"an alias of @id in its @context": {"@context": map[string]any{"subj": "@id"}, "subj": "did:example:someone-else"},
	} {
		sent["verifiableCredential"].([]any)[0].(map[string]any)["credentialSubject"] = subject
		if code, body, fetches := verify(sent); code != 400 || firstCode(body) != "not_compacted" || fetches != 0 {
			t.Errorf("another's credential, its subject id respelled with %s: %d %v after %d fetches, want 400 not_compacted and none", name, code, body, fetches)
		}
	}
}

// signedDIPresentation serves an issuer's controller document, signs the
// credential made for the issuer's ID (eddsa-rdfc-2022), and a
// presentation of it by a new did:key holder (challenge c-9, domain
// https://rp.example). It returns the presentation as sent, to change,
// and verify, which posts one to /presentations/verify and counts the
// fetches of the issuer's document it made.
func signedDIPresentation(t *testing.T, credential func(issuer string) map[string]any) (map[string]any, func(map[string]any) (int, map[string]any, int64)) {
	t.Helper()
	h := newCIDHost(t)
	e := newCIDEnv(t, h.client)
	issuerKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	issuer := h.put("/issuers/a", "application/cid", nil)
	h.put("/issuers/a", "application/cid", cidDocument(t, issuer, issuer, issuerKey, issuerKey))
	holderKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	holder, err := vc.DIDKey(holderKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	signed, err := dataintegrity.SignCredential(dataintegrity.EdDSARDFC2022, credential(issuer), issuer+"#key-1", issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(signed), &m); err != nil {
		t.Fatal(err)
	}
	vp := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder, "verifiableCredential": []any{m}}
	p, err := dataintegrity.SignPresentation(dataintegrity.EdDSARDFC2022, vp, holder+"#"+strings.TrimPrefix(holder, "did:key:"), holderKey,
		"c-9", "https://rp.example", time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(p), &sent); err != nil {
		t.Fatal(err)
	}
	return sent, func(sent map[string]any) (int, map[string]any, int64) {
		raw, _ := json.Marshal(sent)
		h.fetches.Store(0)
		code, body := e.post(t, "/presentations/verify", "", `{"verifiablePresentation":`+string(raw)+`,"options":{"challenge":"c-9","domain":"https://rp.example"}}`)
		return code, body, h.fetches.Load()
	}
}

// TestDIPresentationRespelledCnf: another's key-bound Data Integrity
// credential whose cnf is respelled after signing as its IRI (the v2
// context's cnf is https://www.iana.org/assignments/jwt#cnf; no inline
// context is needed) keeps its proofs while its JSON has no cnf: a thief
// presenting it was answered 200 verified:true, as for a bearer
// credential. It is refused not_compacted before the issuer's document is
// fetched; as signed, it is holder_mismatch.
func TestDIPresentationRespelledCnf(t *testing.T) {
	victimKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	jwk, err := gm.NewJWK(victimKey.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(jwk)
	var victim map[string]any
	if err := json.Unmarshal(raw, &victim); err != nil {
		t.Fatal(err)
	}
	// The holder presenting it is a thief: not the key in cnf.
	sent, verify := signedDIPresentation(t, func(issuer string) map[string]any {
		return map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": issuer,
			"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": map[string]any{"name": "x"}, "cnf": map[string]any{"jwk": victim}}
	})
	if code, body, _ := verify(sent); code != 400 || firstCode(body) != "holder_mismatch" {
		t.Errorf("another's key-bound credential: %d %v, want 400 holder_mismatch", code, body)
	}
	cred := sent["verifiableCredential"].([]any)[0].(map[string]any)
	delete(cred, "cnf")
	cred["https://www.iana.org/assignments/jwt#cnf"] = map[string]any{"https://www.iana.org/assignments/jwt#jwk": map[string]any{"@value": victim, "@type": "@json"}}
	if code, body, fetches := verify(sent); code != 400 || firstCode(body) != "not_compacted" || fetches != 0 {
		t.Errorf("another's key-bound credential, cnf named by its IRI: %d %v after %d fetches, want 400 not_compacted and none", code, body, fetches)
	}
}
