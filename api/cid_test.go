package api

import (
	"crypto"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
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
}

func newCIDHost(t *testing.T) *cidHost {
	h := &cidHost{pages: map[string]func(http.ResponseWriter){}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
