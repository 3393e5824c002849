package wallet

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/gm"
)

// TestCheckLDP: the wallet stores an ldp_vc only when its proof verifies
// with its issuer's key (a did:web on the credential issuer's host) in a
// cryptosuite of the configuration, and its subject is the proved key.
func TestCheckLDP(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var did string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/issuers/rp/did.json" {
			http.NotFound(w, r)
			return
		}
		j, _ := gm.NewJWK(pub, "k1")
		json.NewEncoder(w).Encode(map[string]any{"id": did, "verificationMethod": []any{map[string]any{"id": did + "#k1", "type": "JsonWebKey", "controller": did, "publicKeyJwk": j}}})
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	did = "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A") + ":issuers:rp"
	w, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	offer := &CredentialOffer{issuer: srv.URL}

	holder, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hj, _ := gm.NewJWK(&holder.PublicKey, "")
	thumb, _ := hj.Thumbprint()
	raw, _ := json.Marshal(map[string]any{"kty": hj.Kty, "crv": hj.Crv, "x": hj.X, "y": hj.Y})
	subject := "did:jwk:" + base64.RawURLEncoding.EncodeToString(raw)

	sign := func(issuer, subj string) string {
		doc := map[string]any{
			"@context":          []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"},
			"type":              []any{"VerifiableCredential", "ResidenceCredential"},
			"issuer":            issuer,
			"credentialSubject": map[string]any{"id": subj, "region": "310000"},
		}
		s, err := dataintegrity.SignCredential(dataintegrity.EdDSARDFC2022, doc, issuer+"#k1", priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	suites := []string{dataintegrity.EdDSARDFC2022}
	good := sign(did, subject)
	if err := w.checkLDP(offer, suites, []byte(good), thumb); err != nil {
		t.Fatalf("good credential: %v", err)
	}
	otherHost := strings.Replace(did, strings.ReplaceAll(u.Host, ":", "%3A"), "issuer.example", 1)
	for name, c := range map[string]struct {
		cred   string
		suites []string
	}{
		"tampered claim":         {strings.Replace(good, "310000", "110000", 1), suites},
		"other cryptosuite":      {good, []string{dataintegrity.SM2RDFC2025}},
		"bound to another key":   {sign(did, "did:jwk:"+base64.RawURLEncoding.EncodeToString([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))), suites},
		"issuer on another host": {sign(otherHost, subject), suites},
		"not JSON":               {`"a string"`, suites},
	} {
		err := w.checkLDP(offer, c.suites, []byte(c.cred), thumb)
		t.Logf("%s: %v", name, err)
		if err == nil {
			t.Errorf("%s: stored", name)
		}
	}
}
