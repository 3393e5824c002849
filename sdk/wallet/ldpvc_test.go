package wallet

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

// TestCheckLDP: the wallet stores an ldp_vc only when its proof verifies
// with its issuer's key (a did:web on the credential issuer's host) in a
// cryptosuite of the configuration, and its subject is the proved key.
func TestCheckLDP(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var did, revoked string
	listed := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/issuers/rp/did.json" {
			http.NotFound(w, r)
			return
		}
		j, _ := gm.NewJWK(pub, "k1")
		vm := map[string]any{"id": did + "#k1", "type": "JsonWebKey", "controller": did, "publicKeyJwk": j}
		if revoked != "" {
			vm["revoked"] = revoked
		}
		doc := map[string]any{"id": did, "verificationMethod": []any{vm}, "assertionMethod": []any{did + "#k1"}}
		if !listed {
			doc["assertionMethod"] = []any{}
		}
		json.NewEncoder(w).Encode(doc)
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
	// The issuer's key as the node's resolver takes it: listed in
	// assertionMethod, not revoked (Controlled Identifiers 1.0 §3.3).
	revoked = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	if err := w.checkLDP(offer, suites, []byte(good), thumb); !errors.Is(err, ErrIssuer) || !errors.Is(err, vc.ErrMethodRevoked) {
		t.Errorf("revoked issuer key: %v, want ErrIssuer and ErrMethodRevoked", err)
	}
	revoked, listed = "", false
	if err := w.checkLDP(offer, suites, []byte(good), thumb); !errors.Is(err, ErrIssuer) || !errors.Is(err, vc.ErrMethodRelationship) {
		t.Errorf("issuer key not in assertionMethod: %v, want ErrIssuer and ErrMethodRelationship", err)
	}
	listed = true
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

// TestCheckLDPProofSet: the wallet takes an ldp_vc whose proof set or
// chain holds its issuer's proof, by the node verifier's rules: every
// proof verifies (a did:key or did:jwk co-signer's from its DID, a did:web
// one's only on the issuer's host), one is the issuer's in a cryptosuite
// of the configuration, and previousProof resolves within the set.
func TestCheckLDPProofSet(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	cosignPub, cosignPriv, _ := ed25519.GenerateKey(rand.Reader)
	var did string
	fetches := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches++
		var vms []any
		switch r.URL.Path {
		case "/issuers/rp/did.json":
			j, _ := gm.NewJWK(pub, "k1")
			vms = []any{map[string]any{"id": did + "#k1", "type": "JsonWebKey", "controller": did, "publicKeyJwk": j}}
			json.NewEncoder(w).Encode(map[string]any{"id": did, "verificationMethod": vms, "assertionMethod": []any{did + "#k1"}})
		case "/notary/did.json":
			j, _ := gm.NewJWK(cosignPub, "n1")
			notary := strings.Replace(did, ":issuers:rp", ":notary", 1)
			vms = []any{map[string]any{"id": notary + "#n1", "type": "JsonWebKey", "controller": notary, "publicKeyJwk": j}}
			json.NewEncoder(w).Encode(map[string]any{"id": notary, "verificationMethod": vms, "assertionMethod": []any{notary + "#n1"}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	did = "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A") + ":issuers:rp"
	notary := strings.Replace(did, ":issuers:rp", ":notary", 1)
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

	mk, err := multikey.Encode(cosignPub)
	if err != nil {
		t.Fatal(err)
	}
	didKey := "did:key:" + mk
	cj, _ := gm.NewJWK(cosignPub, "")
	cjRaw, _ := json.Marshal(map[string]any{"kty": cj.Kty, "crv": cj.Crv, "x": cj.X})
	didJWK := "did:jwk:" + base64.RawURLEncoding.EncodeToString(cjRaw)
	otherHost := "did:web:notary.example"

	base := map[string]any{
		"@context":          []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"},
		"type":              []any{"VerifiableCredential", "ResidenceCredential"},
		"issuer":            did,
		"credentialSubject": map[string]any{"id": subject, "region": "310000"},
	}
	add := func(doc map[string]any, key ed25519.PrivateKey, vm string, opts dataintegrity.Options) map[string]any {
		t.Helper()
		opts.Cryptosuite, opts.VerificationMethod = dataintegrity.EdDSARDFC2022, vm
		out, err := dataintegrity.AddProof(doc, key, opts)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	js := func(doc map[string]any) []byte {
		b, _ := json.Marshal(doc)
		return b
	}
	issued := add(base, priv, did+"#k1", dataintegrity.Options{ID: "urn:uuid:issuer-proof"})
	suites := []string{dataintegrity.EdDSARDFC2022}
	for name, doc := range map[string]map[string]any{
		"issuer's proof alone":          issued,
		"did:key co-signer":             add(issued, cosignPriv, didKey+"#"+mk, dataintegrity.Options{}),
		"did:jwk co-signer":             add(issued, cosignPriv, didJWK+"#0", dataintegrity.Options{}),
		"did:web co-signer, same host":  add(issued, cosignPriv, notary+"#n1", dataintegrity.Options{}),
		"co-signer chained to issuer's": add(issued, cosignPriv, didKey+"#"+mk, dataintegrity.Options{PreviousProof: []string{"urn:uuid:issuer-proof"}}),
	} {
		if err := w.checkLDP(offer, suites, js(doc), thumb); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The issuer's DID document is fetched once per credential.
	fetches = 0
	if err := w.checkLDP(offer, suites, js(add(issued, priv, did+"#k1", dataintegrity.Options{})), thumb); err != nil || fetches != 1 {
		t.Errorf("two issuer proofs: %v, %d fetches", err, fetches)
	}

	coOnly := add(base, cosignPriv, didKey+"#"+mk, dataintegrity.Options{})
	coOnly = add(coOnly, cosignPriv, didJWK+"#0", dataintegrity.Options{})
	tampered := add(issued, cosignPriv, didKey+"#"+mk, dataintegrity.Options{})
	tampered["proof"].([]any)[1].(map[string]any)["created"] = "2020-01-01T00:00:00Z"
	dangling := add(issued, cosignPriv, didKey+"#"+mk, dataintegrity.Options{PreviousProof: []string{"urn:uuid:issuer-proof"}})
	dangling["proof"].([]any)[1].(map[string]any)["previousProof"] = "urn:uuid:none"
	// The configuration names only SM2: a co-signer's sm2-rdfc-2025 proof
	// does not make up for the issuer's eddsa-rdfc-2022 one.
	sm2, err := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sm2MK, _ := multikey.Encode(sm2.Public())
	sm2Cosigned, err := dataintegrity.AddProof(issued, sm2, dataintegrity.Options{Cryptosuite: dataintegrity.SM2RDFC2025, VerificationMethod: "did:key:" + sm2MK + "#" + sm2MK})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.checkLDP(offer, []string{dataintegrity.SM2RDFC2025, dataintegrity.EdDSARDFC2022}, js(sm2Cosigned), thumb); err != nil {
		t.Errorf("SM2 co-signer, both suites configured: %v", err)
	}
	if err := w.checkLDP(offer, []string{dataintegrity.SM2RDFC2025}, js(sm2Cosigned), thumb); !errors.Is(err, ErrIssuer) || !strings.Contains(err.Error(), "cryptosuite its configuration names") {
		t.Errorf("issuer's cryptosuite not configured, a co-signer's is: %v", err)
	}
	for name, c := range map[string]struct {
		doc  map[string]any
		want error
	}{
		"no proof by the issuer":       {coOnly, dataintegrity.ErrVerificationMethod},
		"co-signer's proof altered":    {tampered, dataintegrity.ErrSignature},
		"co-signer on another host":    {add(issued, cosignPriv, otherHost+"#n1", dataintegrity.Options{}), dataintegrity.ErrVerificationMethod},
		"did:key method not the key's": {add(issued, cosignPriv, didKey+"#other", dataintegrity.Options{}), dataintegrity.ErrVerificationMethod},
		"dangling previousProof":       {dangling, dataintegrity.ErrPreviousProof},
	} {
		err := w.checkLDP(offer, suites, js(c.doc), thumb)
		if !errors.Is(err, ErrIssuer) || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want ErrIssuer and %v", name, err, c.want)
		}
	}
}
