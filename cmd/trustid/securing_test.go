package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/cose"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/distatus"
	"github.com/trustid-cn/trustid/gm"
)

// TestVCAPISecuringMechanisms runs the securing mechanisms of issue 17
// through a real node's VC API: a credential issued in each Data
// Integrity cryptosuite (embedded proof, status entries at the top level
// of credentialStatus) and as vc+cose verifies, is refused once tampered
// with and once revoked; co-signed by the holder (a proof set) it verifies,
// with a dangling previousProof it is refused; an unknown context is a specific 400; a did:key
// holder's Data Integrity presentation and vp+cose presentation verify
// with their challenge and domain (and not with another challenge); the
// node's status list is served and verifies as vc+cose.
func TestVCAPISecuringMechanisms(t *testing.T) {
	n := startAuthNode(t)
	tok := n.token("univ", n.addClient("univ", "SM2", auth.ScopeCredentialsIssue+","+auth.ScopeStatusWrite))
	n.accredit("univ", "DegreeCredential")

	holderKey, err := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := vc.DIDKey(holderKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	holderVM := holder + "#" + strings.TrimPrefix(holder, "did:key:")
	credential := `{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],` +
		`"type":["VerifiableCredential","DegreeCredential"],"credentialSubject":{"id":"` + holder + `","degree":"BSc"}}`
	post := func(path, token string, body any) (int, map[string]any) {
		t.Helper()
		code, m, _ := n.do(http.MethodPost, path, token, "application/json", string(mustJSON(t, body)))
		return code, m
	}
	verify := func(cred any) (int, map[string]any) {
		t.Helper()
		return post("/credentials/verify", "", map[string]any{"verifiableCredential": cred})
	}
	firstError := func(m map[string]any) string {
		errs, _ := m["errors"].([]any)
		if len(errs) == 0 {
			return ""
		}
		code, _ := errs[0].(map[string]any)["code"].(string)
		return code
	}

	// 1. Issue in each mechanism (the cryptosuite option names one too);
	// verify what the issue response carries.
	type issued struct {
		format, id string
		cred       map[string]any
	}
	var all []issued
	for _, f := range []struct{ format, option string }{
		{di.SM2RDFC2025, "format"}, {di.ECDSARDFC2019, "format"}, {di.EdDSARDFC2022, "cryptosuite"}, {"vc+cose", "format"},
	} {
		code, m := post("/credentials/issue", tok, json.RawMessage(`{"credential":`+credential+`,"options":{"`+f.option+`":"`+f.format+`"}}`))
		if code != http.StatusCreated || m["credentialId"] == nil {
			t.Fatalf("issue %s: %d %v", f.format, code, m)
		}
		cred := m["verifiableCredential"].(map[string]any)
		if f.format == "vc+cose" {
			if id, _ := cred["id"].(string); cred["type"] != vc.TypeEnvelopedCredential || !strings.HasPrefix(id, "data:application/vc+cose;base64,") {
				t.Fatalf("vc+cose issue response: %v", cred)
			}
		} else {
			proof, _ := cred["proof"].(map[string]any)
			entries, _ := cred["credentialStatus"].([]any)
			if proof["cryptosuite"] != f.format || proof["type"] != di.ProofType || len(entries) != 2 || cred["id"] != m["credentialId"] {
				t.Fatalf("%s issue response (embedded proof, two status entries at the top level): %v", f.format, cred)
			}
		}
		all = append(all, issued{f.format, m["credentialId"].(string), cred})
		code, res := verify(cred)
		if code != http.StatusOK || res["verified"] != true || res["format"] != f.format {
			t.Fatalf("verify %s: %d %v", f.format, code, res)
		}
		if s, _ := res["credential"].(map[string]any)["credentialSubject"].(map[string]any); s["degree"] != "BSc" {
			t.Fatalf("verify %s: credential %v", f.format, res["credential"])
		}
	}

	// The CLI issues in them too; --raw prints what vc verify takes.
	credFile := filepath.Join(n.dir, "degree.json")
	if err := os.WriteFile(credFile, []byte(credential), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{di.SM2RDFC2025, "vc+cose"} {
		out, errOut, err := run(t, context.Background(), "vc", "issue", credFile, "--format", format, "--raw", "--node", n.base, "--token", tok)
		if err != nil {
			t.Fatalf("vc issue --format %s: %v\n%s%s", format, err, out, errOut)
		}
		raw := filepath.Join(n.dir, "degree."+format)
		os.WriteFile(raw, []byte(out), 0o600)
		if out, _, err := run(t, context.Background(), "vc", "verify", raw, "--node", n.base); err != nil || !strings.Contains(out, `"format": "`+format+`"`) {
			t.Fatalf("vc verify (%s): %v\n%s", format, err, out)
		}
	}

	// A node-issued credential co-signed by the holder (a proof set, VC
	// Data Integrity 1.0 §2.1.1) verifies with its status and trust
	// checks; a previousProof that names no proof of the set is refused by
	// name.
	cosigned, err := di.AddProof(all[0].cred, holderKey, di.Options{Cryptosuite: di.EdDSARDFC2022, VerificationMethod: holderVM})
	if err != nil {
		t.Fatal(err)
	}
	// The co-signer's proof first: the format is still the issuer's
	// cryptosuite, and the proofs say who signed which.
	ps := cosigned["proof"].([]any)
	cosigned["proof"] = []any{ps[1], ps[0]}
	code, res := verify(cosigned)
	if code != http.StatusOK || res["verified"] != true || res["format"] != di.SM2RDFC2025 {
		t.Fatalf("co-signed credential (proof set): %d %v", code, res)
	}
	issuerDID := all[0].cred["issuer"]
	if o, ok := issuerDID.(map[string]any); ok {
		issuerDID = o["id"]
	}
	checkProofs := func(what string, got any, want ...map[string]any) {
		t.Helper()
		list, _ := got.([]any)
		if len(list) != len(want) {
			t.Fatalf("%s: proofs %v, want %d", what, got, len(want))
		}
		for i, w := range want {
			p := list[i].(map[string]any)
			for k, v := range w {
				if p[k] != v {
					t.Fatalf("%s: proof %d: %s = %v, want %v (%v)", what, i, k, p[k], v, p)
				}
			}
			if p["created"] == nil || p["proofPurpose"] == nil {
				t.Fatalf("%s: proof %d: %v", what, i, p)
			}
		}
	}
	checkProofs("co-signed credential", res["proofs"],
		map[string]any{"role": "co-signer", "controller": holder, "verificationMethod": holderVM, "cryptosuite": di.EdDSARDFC2022},
		map[string]any{"role": "issuer", "controller": issuerDID, "cryptosuite": di.SM2RDFC2025, "proofPurpose": di.PurposeAssertion})
	_, single := verify(all[0].cred)
	checkProofs("issuer's proof alone", single["proofs"], map[string]any{"role": "issuer", "controller": issuerDID, "cryptosuite": di.SM2RDFC2025})
	// A chain naming more distinct previousProof sets than the node
	// canonicalizes is refused by name.
	costly := maps.Clone(all[0].cred)
	first := maps.Clone(costly["proof"].(map[string]any))
	first["id"] = "urn:x:0"
	costly["proof"] = first
	for i := 1; i <= di.MaxCanonicalDocuments; i++ {
		var prev []any
		for j := range i {
			prev = append(prev, fmt.Sprintf("urn:x:%d", j))
		}
		p := maps.Clone(first)
		p["id"], p["previousProof"] = fmt.Sprintf("urn:x:%d", i), prev
		costly["proof"] = append(proofList(costly["proof"]), p)
	}
	if code, m := verify(costly); code != http.StatusBadRequest || firstError(m) != "proof_chain_too_costly" {
		t.Fatalf("chain over the bound: %d %v", code, m)
	}
	dangling, err := di.AddProof(all[0].cred, holderKey, di.Options{Cryptosuite: di.EdDSARDFC2022, VerificationMethod: holderVM})
	if err != nil {
		t.Fatal(err)
	}
	dangling["proof"].([]any)[1].(map[string]any)["previousProof"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
	if code, m := verify(dangling); code != http.StatusBadRequest || firstError(m) != "previous_proof_unresolved" {
		t.Fatalf("dangling previousProof: %d %v", code, m)
	}

	// 2. Tampered with, an embedded proof no longer verifies; an unknown
	// context is refused on issue and on verify, by name.
	tampered := map[string]any{}
	for k, v := range all[0].cred {
		tampered[k] = v
	}
	tampered["credentialSubject"] = map[string]any{"id": holder, "degree": "PhD"}
	if code, m := verify(tampered); code != http.StatusBadRequest || m["verified"] != false || firstError(m) != "invalid_signature" {
		t.Fatalf("tampered credential: %d %v", code, m)
	}
	remote := strings.Replace(credential, `"https://www.w3.org/ns/credentials/examples/v2"`, `"https://contexts.example/v1"`, 1)
	if code, m := post("/credentials/issue", tok, json.RawMessage(`{"credential":`+remote+`,"options":{"format":"`+di.SM2RDFC2025+`"}}`)); code != http.StatusBadRequest || m["error"] != "unknown_context" {
		t.Fatalf("issue with an unknown context: %d %v", code, m)
	}
	withRemote := map[string]any{}
	for k, v := range all[1].cred {
		withRemote[k] = v
	}
	withRemote["@context"] = []any{vc.ContextV2, "https://contexts.example/v1"}
	if code, m := verify(withRemote); code != http.StatusBadRequest || firstError(m) != "unknown_context" {
		t.Fatalf("verify with an unknown context: %d %v", code, m)
	}
	undefined := strings.Replace(credential, `,"https://www.w3.org/ns/credentials/examples/v2"`, ``, 1)
	if code, m := post("/credentials/issue", tok, json.RawMessage(`{"credential":`+undefined+`,"options":{"format":"`+di.EdDSARDFC2022+`"}}`)); code != http.StatusBadRequest || m["error"] != "undefined_term" {
		t.Fatalf("issue with terms no context defines: %d %v", code, m)
	}

	// 3. A did:key holder presents with Data Integrity: its credentials
	// with embedded proofs and an enveloped vc+cose, for the verifier's
	// challenge and domain.
	vp := map[string]any{
		"@context":             []any{vc.ContextV2},
		"type":                 []any{"VerifiablePresentation"},
		"holder":               holder,
		"verifiableCredential": []any{all[0].cred, all[2].cred, all[3].cred},
	}
	signed, err := di.AddProof(vp, holderKey, di.Options{Cryptosuite: di.EdDSARDFC2022, VerificationMethod: holderVM,
		ProofPurpose: di.PurposeAuthentication, Challenge: "c-7d1", Domain: "verifier.example"})
	if err != nil {
		t.Fatal(err)
	}
	verifyVP := func(p any, challenge string) (int, map[string]any) {
		t.Helper()
		return post("/presentations/verify", "", map[string]any{"verifiablePresentation": p, "options": map[string]any{"challenge": challenge, "domain": "verifier.example"}})
	}
	code, m := verifyVP(signed, "c-7d1")
	if code != http.StatusOK || m["verified"] != true || m["holder"] != holder || m["format"] != di.EdDSARDFC2022 {
		t.Fatalf("Data Integrity presentation: %d %v", code, m)
	}
	if creds, _ := m["credentials"].([]any); len(creds) != 3 || creds[0].(map[string]any)["format"] != di.SM2RDFC2025 || creds[2].(map[string]any)["format"] != "vc+cose" {
		t.Fatalf("Data Integrity presentation's credentials: %v", m["credentials"])
	}
	checkProofs("presentation", m["proofs"], map[string]any{"role": "holder", "controller": holder, "cryptosuite": di.EdDSARDFC2022, "proofPurpose": di.PurposeAuthentication})
	creds := m["credentials"].([]any)
	checkProofs("presented credential", creds[0].(map[string]any)["proofs"], map[string]any{"role": "issuer", "controller": issuerDID, "cryptosuite": di.SM2RDFC2025})
	if _, has := creds[2].(map[string]any)["proofs"]; has {
		t.Fatalf("vc+cose credential with proofs: %v", creds[2])
	}
	// A co-signed credential presented: the issuer's cryptosuite, both
	// proofs.
	vp2 := maps.Clone(vp)
	vp2["verifiableCredential"] = []any{cosigned}
	signed2, err := di.AddProof(vp2, holderKey, di.Options{Cryptosuite: di.EdDSARDFC2022, VerificationMethod: holderVM,
		ProofPurpose: di.PurposeAuthentication, Challenge: "c-7d2", Domain: "verifier.example"})
	if err != nil {
		t.Fatal(err)
	}
	code, m2 := verifyVP(signed2, "c-7d2")
	if code != http.StatusOK || m2["verified"] != true {
		t.Fatalf("presentation of a co-signed credential: %d %v", code, m2)
	}
	c0 := m2["credentials"].([]any)[0].(map[string]any)
	if c0["format"] != di.SM2RDFC2025 {
		t.Fatalf("presented co-signed credential: format %v", c0["format"])
	}
	checkProofs("presented co-signed credential", c0["proofs"],
		map[string]any{"role": "co-signer", "controller": holder}, map[string]any{"role": "issuer", "controller": issuerDID})
	if code, m := verifyVP(signed, "c-other"); code != http.StatusBadRequest || firstError(m) != "challenge_mismatch" {
		t.Fatalf("Data Integrity presentation, another challenge: %d %v", code, m)
	}

	// Without a challenge the request itself is refused (a request error).
	if code, m := post("/presentations/verify", "", map[string]any{"verifiablePresentation": signed, "options": map[string]any{"domain": "verifier.example"}}); code != http.StatusBadRequest || m["error"] != "invalid_request" {
		t.Fatalf("presentation without a challenge: %d %v", code, m)
	}

	// Credentials about someone else are not the holder's to present.
	otherKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	other, _ := vc.DIDKey(otherKey.Public())
	vp["holder"] = other
	stolen, err := di.AddProof(vp, otherKey, di.Options{Cryptosuite: di.EdDSARDFC2022, VerificationMethod: other + "#" + strings.TrimPrefix(other, "did:key:"),
		ProofPurpose: di.PurposeAuthentication, Challenge: "c-7d1", Domain: "verifier.example"})
	if err != nil {
		t.Fatal(err)
	}
	if code, m := verifyVP(stolen, "c-7d1"); code != http.StatusBadRequest || firstError(m) != "holder_mismatch" {
		t.Fatalf("Data Integrity presentation of another's credentials: %d %v", code, m)
	}

	// 4. The same holder presents as vp+cose.
	data, err := cose.SignPresentation(map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder,
		"verifiableCredential": []any{all[3].cred}}, holderVM, vc.PresentOptions{Challenge: "c-8e2", Domain: "verifier.example"}, holderKey)
	if err != nil {
		t.Fatal(err)
	}
	code, m = verifyVP(cose.Envelope(data, cose.MediaTypeVP), "c-8e2")
	if code != http.StatusOK || m["verified"] != true || m["holder"] != holder || m["format"] != "vp+cose" {
		t.Fatalf("vp+cose presentation: %d %v", code, m)
	}
	if code, m := verifyVP(cose.DataURL(data, cose.MediaTypeVP), "c-other"); code != http.StatusBadRequest || firstError(m) != "challenge_mismatch" {
		t.Fatalf("vp+cose presentation, another challenge: %d %v", code, m)
	}

	// 5. Revoked, each is refused as revoked: the status entries of
	// embedded proofs are checked as every other's.
	for _, c := range all {
		if code, m := post("/v1/credentials/"+c.id+"/status", tok, map[string]any{"action": "revoke"}); code != http.StatusOK {
			t.Fatalf("revoke %s: %d %v", c.format, code, m)
		}
		if code, m := verify(c.cred); code != http.StatusBadRequest || firstError(m) != "revoked" {
			t.Fatalf("revoked %s: %d %v", c.format, code, m)
		}
	}
	if code, m := verifyVP(signed, "c-7d1"); code != http.StatusBadRequest || firstError(m) != "revoked" {
		t.Fatalf("presentation of revoked credentials: %d %v", code, m)
	}

	// 6. The status list, asked for as vc+cose, is a vc+cose the node
	// verifies (signed by the node's key) whose list has the bits set.
	entry := all[0].cred["credentialStatus"].([]any)[0].(map[string]any)
	listURL := entry["statusListCredential"].(string)
	index, _ := strconv.Atoi(entry["statusListIndex"].(string))
	fetch := func() []byte {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, listURL, nil)
		req.Header.Set("Accept", cose.MediaTypeVC)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != cose.MediaTypeVC {
			t.Fatalf("status list as vc+cose: %d %s %.80q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		return body
	}
	// As a remote verifier would: the node's key from its DID document.
	lists, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTVerifyAlgorithms, Resolver: nodeDIDKeys{n}, Trust: vc.AnyIssuer{}, SkipStatus: true})
	if err != nil {
		t.Fatal(err)
	}
	cv, err := cose.NewVerifier(lists, []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	_, did, _ := n.do(http.MethodGet, "/.well-known/did.json", "", "", "")
	// The served list follows the ledger: the revocation shows in it
	// once its event is applied.
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		body = fetch()
		bl, err := cv.VerifyStatusList(context.Background(), body, listURL, did["id"].(string))
		if err != nil || !slices.Equal(bl.Purposes, []string{entry["statusPurpose"].(string)}) {
			t.Fatalf("status list vc+cose: %v", err)
		}
		if bl.Bits.Get(index) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status list vc+cose: bit %d not set", index)
		}
	}
	// Signed once per list version (the route is public): two fetches of
	// a list that no longer changes are the same bytes (SM2 signatures
	// are randomized).
	for deadline := time.Now().Add(10 * time.Second); string(fetch()) != string(fetch()); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the vc+cose status list is signed anew on every request")
		}
	}
	body[len(body)-1] ^= 1
	if _, err := cv.VerifyStatusList(context.Background(), body, listURL, did["id"].(string)); !errors.Is(err, vc.ErrSignature) {
		t.Fatalf("altered status list vc+cose: %v", err)
	}

	// 7. The status list secured with a Data Integrity proof: asked for as
	// application/vc, in the node's default cryptosuite (sm2-rdfc-2025);
	// with ?cryptosuite=, in that one; it verifies with the node's key and
	// has the bit set; an unknown cryptosuite is 406.
	lv, err := di.NewVerifier(di.Config{Resolver: nodeDIDKeys{n}, Cryptosuites: di.Cryptosuites(), Checker: di.CheckWith(lists.CheckCredential)})
	if err != nil {
		t.Fatal(err)
	}
	getDI := func(query, accept string) (int, string, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, listURL+query, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), body
	}
	for _, c := range []struct{ query, accept, suite string }{
		{"", di.MediaTypeVC, di.SM2RDFC2025},
		{"", "application/vc+jwt;q=0.5, application/vc", di.SM2RDFC2025},
		{"?cryptosuite=" + di.ECDSARDFC2019, "", di.ECDSARDFC2019},
		{"?cryptosuite=" + di.EdDSARDFC2022, di.MediaTypeVC, di.EdDSARDFC2022},
	} {
		code, ct, body := getDI(c.query, c.accept)
		if code != http.StatusOK || ct != di.MediaTypeVC {
			t.Fatalf("status list with a Data Integrity proof (%q, %q): %d %s %.120q", c.query, c.accept, code, ct, body)
		}
		var doc struct {
			Proof struct {
				Cryptosuite string `json:"cryptosuite"`
			} `json:"proof"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || doc.Proof.Cryptosuite != c.suite {
			t.Fatalf("status list proof: %v %q, want %s", err, doc.Proof.Cryptosuite, c.suite)
		}
		bl, err := distatus.VerifyStatusList(context.Background(), lv, body, listURL, did["id"].(string))
		if err != nil || !slices.Equal(bl.Purposes, []string{entry["statusPurpose"].(string)}) || !bl.Bits.Get(index) {
			t.Fatalf("status list %s: %v", c.suite, err)
		}
		altered := strings.Replace(string(body), `"encodedList":"u`, `"encodedList":"uH`, 1)
		if _, err := distatus.VerifyStatusList(context.Background(), lv, []byte(altered), listURL, did["id"].(string)); err == nil {
			t.Fatalf("altered status list %s verified", c.suite)
		}
	}
	if code, _, body := getDI("?cryptosuite=bbs-2023", ""); code != http.StatusNotAcceptable {
		t.Fatalf("unknown cryptosuite: %d %s", code, body)
	}
	// Without asking, the list is the unsecured JSON as before.
	if code, ct, _ := getDI("", ""); code != http.StatusOK || ct != "application/vc+ld+json" {
		t.Fatalf("plain status list: %d %s", code, ct)
	}
}

// nodeDIDKeys resolves the node's keys from its DID document, fetched
// from the node (a loopback did:web the credentials.Resolver refuses).
type nodeDIDKeys struct{ n *authNode }

func (r nodeDIDKeys) ResolveKey(_ context.Context, issuer, kid string) (crypto.PublicKey, error) {
	resp, err := http.Get(r.n.base + "/.well-known/did.json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc vc.DIDDocument
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	for _, m := range doc.VerificationMethod {
		if doc.ID == issuer && m.ID == kid {
			return m.PublicKeyJwk.PublicKey()
		}
	}
	return nil, vc.ErrUnknownKey
}

// proofList reads a proof member as a list.
func proofList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// TestVCAPIWideAlgorithms: the node's verifier takes ES384 (P-384) and
// ES512 (P-521) signatures of other issuers in vc+jwt and in vc+cose, as
// VC-JOSE-COSE allows any registered algorithm: a did:jwk issuer's
// credential gets past the signature to the trust check (the registry
// accredits no such issuer), never algorithm_not_allowed.
func TestVCAPIWideAlgorithms(t *testing.T) {
	n := startAuthNode(t)
	for _, alg := range []string{gm.AlgES384, gm.AlgES512} {
		key, err := gm.GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		did, err := vc.DIDJWK(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		doc := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential", "DegreeCredential"}, "issuer": did,
			"validFrom": vc.FormatTime(time.Now().Add(-time.Minute)), "credentialSubject": map[string]any{"id": "did:example:s", "degree": "BSc"}}
		jwt, err := vc.SignJWT(doc, vc.TypVCJWT, did+"#0", key)
		if err != nil {
			t.Fatal(err)
		}
		cbor, err := cose.SignCredential(doc, did+"#0", key)
		if err != nil {
			t.Fatal(err)
		}
		for name, cred := range map[string]string{"vc+jwt": "data:application/vc+jwt," + jwt, "vc+cose": cose.DataURL(cbor, cose.MediaTypeVC)} {
			code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json",
				`{"verifiableCredential":{"@context":"https://www.w3.org/ns/credentials/v2","type":"EnvelopedVerifiableCredential","id":"`+cred+`"}}`)
			errs, _ := m["errors"].([]any)
			if code != http.StatusBadRequest || len(errs) != 1 || errs[0].(map[string]any)["code"] != "issuer_not_accredited" {
				t.Errorf("%s %s: %d %v", alg, name, code, m)
			}
		}
	}
}

// TestVCAPIInlineContexts: vc+jwt and vc+cose do not process a
// credential as JSON-LD, yet a context object that redefines a protected
// term is refused by name on issue and on verify, as for Data Integrity;
// an inline context that defines new terms, and a context URL the node
// does not bundle (never fetched), are issued as before.
func TestVCAPIInlineContexts(t *testing.T) {
	n := startAuthNode(t)
	tok := n.token("univ", n.addClient("univ", "SM2", auth.ScopeCredentialsIssue))
	n.accredit("univ", "DegreeCredential")
	cred := func(ctx string) string {
		return `{"@context":["https://www.w3.org/ns/credentials/v2",` + ctx + `],"type":["VerifiableCredential","DegreeCredential"],` +
			`"credentialSubject":{"id":"did:example:s","degree":"BSc"}}`
	}
	evil := `{"name":"https://evil.example/name"}`
	for _, format := range []string{"vc+jwt", "vc+cose"} {
		for ctx, want := range map[string]int{evil: http.StatusBadRequest, `{"degree":"https://univ.example/degree"}`: http.StatusCreated,
			`"https://contexts.example/v1"`: http.StatusCreated} {
			code, m, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", `{"credential":`+cred(ctx)+`,"options":{"format":"`+format+`"}}`)
			if code != want || (want == http.StatusBadRequest && m["error"] != "protected_term_redefined") {
				t.Errorf("%s, @context %s: %d %v", format, ctx, code, m)
			}
		}
	}
	// Verified: refused by name once the signature holds (here a did:jwk
	// issuer, which the trust check would refuse next).
	key, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	did, _ := vc.DIDJWK(key.Public())
	var doc map[string]any
	if err := json.Unmarshal([]byte(cred(evil)), &doc); err != nil {
		t.Fatal(err)
	}
	doc["issuer"] = did
	jwt, err := vc.SignJWT(doc, vc.TypVCJWT, did+"#0", key)
	if err != nil {
		t.Fatal(err)
	}
	cbor, err := cose.SignCredential(doc, did+"#0", key)
	if err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]string{"vc+jwt": "data:application/vc+jwt," + jwt, "vc+cose": cose.DataURL(cbor, cose.MediaTypeVC)} {
		code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json",
			`{"verifiableCredential":{"@context":"https://www.w3.org/ns/credentials/v2","type":"EnvelopedVerifiableCredential","id":"`+env+`"}}`)
		errs, _ := m["errors"].([]any)
		if code != http.StatusBadRequest || len(errs) != 1 || errs[0].(map[string]any)["code"] != "protected_term_redefined" {
			t.Errorf("verify %s: %d %v", name, code, m)
		}
	}
}

// TestDataIntegrityPresentationDataModel: VC Data Model 2.0 §4.13
// (Verifiable Presentations): "type: The type property MUST be present.
// One value of this property MUST be VerifiablePresentation". A
// presentation with a Data Integrity proof gets the data model checks
// every other form gets (credentials.NewPresentation), as its "data-model"
// check says: a holder-signed document with no type, or typed a
// credential, is refused.
func TestDataIntegrityPresentationDataModel(t *testing.T) {
	n := startAuthNode(t)
	holderKey, err := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := vc.DIDKey(holderKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	holderVM := holder + "#" + strings.TrimPrefix(holder, "did:key:")
	for _, c := range []struct {
		name string
		typ  any
		want int
	}{
		{"a presentation", []any{"VerifiablePresentation"}, http.StatusOK},
		{"no type", nil, http.StatusBadRequest},
		{"typed a credential", []any{"VerifiableCredential"}, http.StatusBadRequest},
	} {
		doc := map[string]any{"@context": []any{vc.ContextV2}, "holder": holder}
		if c.typ != nil {
			doc["type"] = c.typ
		}
		signed, err := di.AddProof(doc, holderKey, di.Options{Cryptosuite: di.EdDSARDFC2022, VerificationMethod: holderVM,
			ProofPurpose: di.PurposeAuthentication, Challenge: "c-9a1", Domain: "verifier.example"})
		if err != nil {
			t.Fatal(err)
		}
		body := string(mustJSON(t, map[string]any{"verifiablePresentation": signed,
			"options": map[string]any{"challenge": "c-9a1", "domain": "verifier.example"}}))
		code, m, _ := n.do(http.MethodPost, "/presentations/verify", "", "application/json", body)
		if code != c.want {
			t.Errorf("%s: %d %v, want %d", c.name, code, m, c.want)
		}
		if errs, _ := m["errors"].([]any); c.want != http.StatusOK && (len(errs) == 0 || errs[0].(map[string]any)["code"] != "invalid_presentation") {
			t.Errorf("%s: %v, want invalid_presentation", c.name, m)
		}
	}
}
