package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
)

// TestVCAPI runs the VC API of issue 17 through a real node: issue
// options (securing mechanism, the credential's own status entries, the
// node's on request), verification of the issue response as it is and of
// base64 data: URLs, and the holder service (POST /presentations) whose
// presentation POST /presentations/verify accepts.
func TestVCAPI(t *testing.T) {
	n := startAuthNode(t)
	key := n.addClient("univ", "SM2", auth.ScopeCredentialsIssue+","+auth.ScopeStatusWrite)
	tok := n.token("univ", key)
	n.accredit("univ", "DegreeCredential")
	_, doc, _ := n.do(http.MethodGet, "/.well-known/did.json", "", "", "")
	holder := doc["id"].(string) + ":issuers:univ"

	// The data model's own form: a single-string @context.
	credential := func(extra string) string {
		return `{"@context":"https://www.w3.org/ns/credentials/v2","type":["VerifiableCredential","DegreeCredential"],` +
			`"credentialSubject":{"id":"` + holder + `","degree":"BSc"}` + extra + `}`
	}
	issue := func(body string) (int, map[string]any) {
		t.Helper()
		code, m, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", body)
		return code, m
	}
	payload := func(m map[string]any) map[string]any {
		t.Helper()
		env, _ := m["verifiableCredential"].(map[string]any)
		_, token, err := vc.ParseDataURL(env["id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return jwtPayload(t, token)
	}

	// 1. Securing mechanism: an unknown one is a specific 400.
	if code, m := issue(`{"credential":` + credential("") + `,"options":{"format":"vc+unknown"}}`); code != http.StatusBadRequest || m["error"] != "unsupported_format" {
		t.Fatalf("unknown format: %d %v", code, m)
	}
	if code, m := issue(`{"credential":` + credential("") + `,"options":{"credentialStatus":{"type":"StatusList2021Entry"}}}`); code != http.StatusBadRequest || m["error"] != "unsupported_status_type" {
		t.Fatalf("unknown status type: %d %v", code, m)
	}

	// 2. A credential with its own status entry is issued with it (and
	// without the node's, so without a credentialId); asked, the node adds
	// its own; an entry in the node's lists is the node's to allocate.
	own := `,"credentialStatus":{"id":"https://status.example/lists/7#42","type":"BitstringStatusListEntry","statusPurpose":"revocation",` +
		`"statusListIndex":"42","statusListCredential":"https://status.example/lists/7"}`
	code, m := issue(`{"credential":` + credential(own) + `}`)
	if code != http.StatusCreated || m["credentialId"] != nil {
		t.Fatalf("own status entry: %d %v", code, m)
	}
	if st, _ := payload(m)["credentialStatus"].(map[string]any); st["statusListCredential"] != "https://status.example/lists/7" {
		t.Fatalf("own entry not issued as it was: %v", payload(m)["credentialStatus"])
	}
	code, m = issue(`{"credential":` + credential(own) + `,"options":{"credentialStatus":{"type":"BitstringStatusListEntry"}}}`)
	if code != http.StatusCreated || m["credentialId"] == nil {
		t.Fatalf("own and node entries: %d %v", code, m)
	}
	if st, _ := payload(m)["credentialStatus"].([]any); len(st) != 3 {
		t.Fatalf("want the own entry and the node's two: %v", payload(m)["credentialStatus"])
	}
	spoof := strings.ReplaceAll(own, "https://status.example/lists/7", n.base+"/status/0123456789abcdef")
	if code, m := issue(`{"credential":` + credential(spoof) + `}`); code != http.StatusUnprocessableEntity || m["error"] != "invalid_credential" {
		t.Fatalf("entry in the node's list: %d %v", code, m)
	}

	// 2b. The VC API's options.credentialId names the credential (its id,
	// which status changes take); with another credential.id it is refused.
	code, m = issue(`{"credential":` + credential("") + `,"options":{"credentialId":"urn:uuid:3b1f6f1e-4a5c-4d2e-9f0a-7c8b6a5d4e3f"}}`)
	if code != http.StatusCreated || m["credentialId"] != "urn:uuid:3b1f6f1e-4a5c-4d2e-9f0a-7c8b6a5d4e3f" || payload(m)["id"] != m["credentialId"] {
		t.Fatalf("options.credentialId: %d %v", code, m)
	}
	if code, m, _ := n.do(http.MethodPost, "/v1/credentials/urn:uuid:3b1f6f1e-4a5c-4d2e-9f0a-7c8b6a5d4e3f/status", tok, "application/json", `{"action":"revoke"}`); code != http.StatusOK {
		t.Fatalf("revoke by options.credentialId: %d %v", code, m)
	}
	// An SD-JWT VC does not carry it, yet is named by it.
	code, m = issue(`{"credential":` + credential("") + `,"options":{"format":"dc+sd-jwt","credentialId":"urn:uuid:5c2d7e10-8f3a-4b6c-9d1e-2a4b6c8d0e1f"}}`)
	if code != http.StatusCreated || m["credentialId"] != "urn:uuid:5c2d7e10-8f3a-4b6c-9d1e-2a4b6c8d0e1f" {
		t.Fatalf("options.credentialId, dc+sd-jwt: %d %v", code, m)
	}
	// It chooses no ID the node reserves, nor one already issued (whose
	// status it would then share), in either format.
	for _, format := range []string{"", "dc+sd-jwt"} {
		for id, want := range map[string]string{"URN:trustid:status:1": "reserved_credential_id", "urn:uuid:3b1f6f1e-4a5c-4d2e-9f0a-7c8b6a5d4e3f": "credential_id_taken"} {
			if code, m := issue(`{"credential":` + credential("") + `,"options":{"format":"` + format + `","credentialId":"` + id + `"}}`); code/100 != 4 || m["error"] != want {
				t.Fatalf("options.credentialId %q (format %q): %d %v, want %s", id, format, code, m, want)
			}
		}
	}
	withID := strings.Replace(credential(""), `"type"`, `"id":"urn:uuid:00000000-0000-4000-8000-000000000001","type"`, 1)
	for _, c := range []struct{ cred, id string }{{withID, "urn:uuid:00000000-0000-4000-8000-000000000002"}, {credential(""), "not a URI"}} {
		if code, m := issue(`{"credential":` + c.cred + `,"options":{"credentialId":"` + c.id + `"}}`); code != http.StatusBadRequest || m["error"] != "invalid_request" {
			t.Fatalf("options.credentialId %q: %d %v", c.id, code, m)
		}
	}

	// 3. The issue response, credentialId and all, is a verify request.
	code, issued := issue(`{"credential":` + credential("") + `}`)
	if code != http.StatusCreated {
		t.Fatalf("issue: %d %v", code, issued)
	}
	body, _ := json.Marshal(issued)
	if code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", string(body)); code != http.StatusOK || m["verified"] != true ||
		len(m["warnings"].([]any)) != 0 {
		t.Fatalf("issue response as verify request: %d %v", code, m)
	}
	env := issued["verifiableCredential"].(map[string]any)
	if code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json",
		`{"verifiableCredential":`+string(mustJSON(t, env))+`,"credentialId":42}`); code != http.StatusBadRequest || m["error"] != "invalid_request" {
		t.Fatalf("credentialId not a string: %d %v", code, m)
	}
	if code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json",
		`{"verifiableCredential":`+string(mustJSON(t, env))+`,"credentialId":"urn:uuid:00000000-0000-4000-8000-000000000000"}`); code != http.StatusOK ||
		m["warnings"].([]any)[0].(map[string]any)["code"] != "credential_id_mismatch" {
		t.Fatalf("another credentialId: %d %v", code, m)
	}
	_, token, _ := vc.ParseDataURL(env["id"].(string))
	b64 := "data:application/vc+jwt;base64," + base64.StdEncoding.EncodeToString([]byte(token))
	if code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", `{"verifiableCredential":"`+b64+`"}`); code != http.StatusOK || m["verified"] != true {
		t.Fatalf("base64 data: URL: %d %v", code, m)
	}
	mismatch := `{"verifiableCredential":{"@context":"https://www.w3.org/ns/credentials/v2","type":"EnvelopedVerifiablePresentation","id":"` + env["id"].(string) + `"}}`
	if code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", mismatch); code != http.StatusBadRequest || m["verified"] != false {
		t.Fatalf("presentation envelope around a credential: %d %v", code, m)
	}

	// 3b. Related resources (VC Data Model 2.0 §5.3): the request gives
	// their content (TrustID's option); a mismatch fails verification;
	// what is not given is reported as not checked.
	sri, _ := vc.SRIDigest("sha384", []byte("terms v1"))
	code, rel := issue(`{"credential":` + credential(`,"relatedResource":[{"id":"https://univ.example/terms","digestSRI":"`+sri+`","mediaType":"text/plain"}]`) + `}`)
	if code != http.StatusCreated {
		t.Fatalf("issue with relatedResource: %d %v", code, rel)
	}
	relEnv := string(mustJSON(t, rel["verifiableCredential"]))
	withContent := func(content string) string {
		return `{"verifiableCredential":` + relEnv + `,"options":{"trustidRelatedResources":[{"id":"https://univ.example/terms","content":"` +
			base64.RawURLEncoding.EncodeToString([]byte(content)) + `"}]}}`
	}
	if code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", withContent("terms v1")); code != http.StatusOK ||
		m["verified"] != true || m["relatedResources"].([]any)[0].(map[string]any)["status"] != "verified" {
		t.Fatalf("related resource given: %d %v", code, m)
	}
	if code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", withContent("terms v2")); code != http.StatusBadRequest ||
		m["verified"] != false || m["errors"].([]any)[0].(map[string]any)["code"] != "related_resource_mismatch" {
		t.Fatalf("related resource changed: %d %v", code, m)
	}
	if code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", `{"verifiableCredential":`+relEnv+`}`); code != http.StatusOK ||
		m["warnings"].([]any)[0].(map[string]any)["code"] != "related_resource_unchecked" {
		t.Fatalf("related resource not given: %d %v", code, m)
	}
	if code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", strings.Replace(withContent("x"), `"content":"eA"`, `"content":"e+A/"`, 1)); code != http.StatusBadRequest ||
		m["error"] != "invalid_related_resource" {
		t.Fatalf("related content not base64url: %d %v", code, m)
	}

	// 4. The holder service signs a presentation as the client's DID with
	// the key the node holds for it; the verifier accepts it.
	pres := `{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiablePresentation"],"verifiableCredential":[` + string(mustJSON(t, env)) + `]}`
	if code, m, _ := n.do(http.MethodPost, "/presentations", tok, "application/json", `{"presentation":`+pres+`}`); code != http.StatusBadRequest {
		t.Fatalf("no challenge: %d %v", code, m)
	}
	other := strings.Replace(pres, `"type"`, `"holder":"did:example:someone-else","type"`, 1)
	if code, m, _ := n.do(http.MethodPost, "/presentations", tok, "application/json",
		`{"presentation":`+other+`,"options":{"challenge":"c-1","domain":"verifier.example"}}`); code != http.StatusUnprocessableEntity || m["error"] != "holder_mismatch" {
		t.Fatalf("someone else's presentation: %d %v", code, m)
	}
	code, m, _ = n.do(http.MethodPost, "/presentations", tok, "application/json",
		`{"presentation":`+pres+`,"options":{"challenge":"c-1","domain":"verifier.example"}}`)
	if code != http.StatusCreated {
		t.Fatalf("present: %d %v", code, m)
	}
	vp := string(mustJSON(t, m["verifiablePresentation"]))
	code, m, _ = n.do(http.MethodPost, "/presentations/verify", "", "application/json",
		`{"verifiablePresentation":`+vp+`,"options":{"challenge":"c-1","domain":"verifier.example"}}`)
	if code != http.StatusOK || m["verified"] != true || m["holder"] != holder {
		t.Fatalf("verify the holder service's presentation: %d %v", code, m)
	}
	if code, m, _ := n.do(http.MethodPost, "/presentations/verify", "", "application/json",
		`{"verifiablePresentation":`+vp+`,"options":{"challenge":"c-2","domain":"verifier.example"}}`); code != http.StatusBadRequest || m["verified"] != false {
		t.Fatalf("another challenge: %d %v", code, m)
	}

	// 5. Data Integrity presentations (VC API options.type and
	// options.cryptosuite, or options.format), proofPurpose
	// authentication with the verifier's challenge and domain, and
	// vp+cose; each verifies once, and only for its challenge and domain.
	for _, opts := range []string{
		`"type":"DataIntegrityProof","cryptosuite":"sm2-rdfc-2025"`,
		`"type":"DataIntegrityProof","cryptosuite":"ecdsa-rdfc-2019"`,
		`"format":"eddsa-rdfc-2022"`,
		`"format":"vp+cose"`,
	} {
		code, m, _ := n.do(http.MethodPost, "/presentations", tok, "application/json",
			`{"presentation":`+pres+`,"options":{"challenge":"c-9","domain":"verifier.example",`+opts+`}}`)
		if code != http.StatusCreated {
			t.Fatalf("%s: present: %d %v", opts, code, m)
		}
		vp := m["verifiablePresentation"].(map[string]any)
		if proof, ok := vp["proof"].(map[string]any); ok {
			if proof["proofPurpose"] != "authentication" || proof["challenge"] != "c-9" || proof["domain"] != "verifier.example" ||
				!strings.HasPrefix(proof["verificationMethod"].(string), holder+"#") {
				t.Fatalf("%s: proof %v", opts, proof)
			}
		} else if id, _ := vp["id"].(string); !strings.HasPrefix(id, "data:application/vp+cose;base64,") {
			t.Fatalf("%s: neither an embedded proof nor a vp+cose: %v", opts, vp)
		}
		raw := string(mustJSON(t, vp))
		verify := func(body string) (int, map[string]any) {
			t.Helper()
			code, m, _ := n.do(http.MethodPost, "/presentations/verify", "", "application/json", body)
			return code, m
		}
		if code, m := verify(`{"verifiablePresentation":` + raw + `,"options":{"challenge":"c-9","domain":"verifier.example"}}`); code != http.StatusOK ||
			m["verified"] != true || m["holder"] != holder || fmt.Sprint(m["credentials"]) == "<nil>" {
			t.Fatalf("%s: verify: %d %v", opts, code, m)
		}
		for _, bad := range []struct{ options, code string }{
			{`{"challenge":"c-10","domain":"verifier.example"}`, "challenge_mismatch"},
			{`{"challenge":"c-9","domain":"other.example"}`, "domain_mismatch"},
		} {
			code, m := verify(`{"verifiablePresentation":` + raw + `,"options":` + bad.options + `}`)
			got, _ := m["errors"].([]any)
			if code != http.StatusBadRequest || m["verified"] != false || len(got) == 0 {
				t.Fatalf("%s: %s: %d %v", opts, bad.options, code, m)
			}
			if c := got[0].(map[string]any)["code"]; c != bad.code && !(strings.Contains(opts, "cose") && c == "challenge_mismatch") {
				t.Fatalf("%s: %s: code %v, want %s", opts, bad.options, c, bad.code)
			}
		}
		if _, ok := vp["proof"]; ok {
			// An id added after signing changes the canonical document.
			tampered := strings.Replace(raw, `{`, `{"id":"urn:uuid:0b5e3f1c-2d4a-4f6e-8a9b-1c2d3e4f5a6b",`, 1)
			if code, m := verify(`{"verifiablePresentation":` + tampered + `,"options":{"challenge":"c-9","domain":"verifier.example"}}`); code != http.StatusBadRequest ||
				fmt.Sprint(m["errors"]) != "[map[code:invalid_signature message:the signature does not verify]]" {
				t.Fatalf("%s: tampered: %d %v", opts, code, m)
			}
		}
	}
	// A credential with its own Data Integrity proof inside a Data
	// Integrity presentation: both proofs verified, the credential bound
	// to the holder.
	// (Every term defined: the examples context maps DegreeCredential
	// and degree.)
	examples := strings.Replace(credential(""), `"@context":"https://www.w3.org/ns/credentials/v2"`,
		`"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"]`, 1)
	code, diVC := issue(`{"credential":` + examples + `,"options":{"format":"sm2-rdfc-2025"}}`)
	if code != http.StatusCreated {
		t.Fatalf("issue sm2-rdfc-2025: %d %v", code, diVC)
	}
	diPres := `{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiablePresentation"],"verifiableCredential":[` + string(mustJSON(t, diVC["verifiableCredential"])) + `]}`
	code, m, _ = n.do(http.MethodPost, "/presentations", tok, "application/json",
		`{"presentation":`+diPres+`,"options":{"challenge":"c-11","domain":"verifier.example","type":"DataIntegrityProof","cryptosuite":"ecdsa-rdfc-2019"}}`)
	if code != http.StatusCreated {
		t.Fatalf("present a Data Integrity credential: %d %v", code, m)
	}
	code, m, _ = n.do(http.MethodPost, "/presentations/verify", "", "application/json",
		`{"verifiablePresentation":`+string(mustJSON(t, m["verifiablePresentation"]))+`,"options":{"challenge":"c-11","domain":"verifier.example"}}`)
	if cs, _ := m["credentials"].([]any); code != http.StatusOK || m["format"] != "ecdsa-rdfc-2019" || len(cs) != 1 || cs[0].(map[string]any)["format"] != "sm2-rdfc-2025" {
		t.Fatalf("verify a Data Integrity credential in a Data Integrity presentation: %d %v", code, m)
	}
	if code, m, _ := n.do(http.MethodPost, "/presentations", tok, "application/json",
		`{"presentation":`+pres+`,"options":{"challenge":"c-1","domain":"verifier.example","type":"Ed25519Signature2020"}}`); code != http.StatusBadRequest || m["error"] != "unsupported_format" {
		t.Fatalf("unknown proof type: %d %v", code, m)
	}
	if code, m, _ := n.do(http.MethodPost, "/presentations", tok, "application/json",
		`{"presentation":`+pres+`,"options":{"challenge":"c-1","domain":"verifier.example","cryptosuite":"bbs-2023"}}`); code != http.StatusBadRequest || m["error"] != "unsupported_format" {
		t.Fatalf("unknown cryptosuite: %d %v", code, m)
	}
	if code, m, _ := n.do(http.MethodPost, "/presentations", tok, "application/json",
		`{"presentation":`+pres+`,"options":{"challenge":"c-1","domain":"verifier.example","cryptosuite":"eddsa-rdfc-2022","algorithm":"SM2"}}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("cryptosuite and key mismatch: %d %v", code, m)
	}

	// A client the node holds no key for (not accredited) presents nothing.
	key2 := n.addClient("shop", "SM2", auth.ScopeCredentialsIssue)
	if code, m, _ := n.do(http.MethodPost, "/presentations", n.token("shop", key2), "application/json",
		`{"presentation":`+pres+`,"options":{"challenge":"c-1","domain":"verifier.example"}}`); code != http.StatusForbidden || m["error"] != "issuer_not_accredited" {
		t.Fatalf("unaccredited client: %d %v", code, m)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVCAPIFetchRelated: with --fetch-related-resources the node fetches
// a related resource the verify request does not give (here over http
// to loopback: the node is in loopback development mode) and checks its
// digest; changed, the credential fails with related_resource_mismatch.
// Without the flag the node fetches nothing and says it did not check.
func TestVCAPIFetchRelated(t *testing.T) {
	var hits atomic.Int32
	var content atomic.Value
	content.Store("terms v1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, content.Load().(string))
	}))
	defer srv.Close()
	sri, _ := vc.SRIDigest("sha384", []byte("terms v1"))
	for _, fetch := range []bool{true, false} {
		var n *authNode
		if fetch {
			n = startAuthNode(t, "--fetch-related-resources")
		} else {
			n = startAuthNode(t)
		}
		tok := n.token("univ", n.addClient("univ", "SM2", auth.ScopeCredentialsIssue))
		n.accredit("univ", "DegreeCredential")
		cred := `{"@context":"https://www.w3.org/ns/credentials/v2","type":["VerifiableCredential","DegreeCredential"],` +
			`"credentialSubject":{"id":"did:example:s","degree":"BSc"},"relatedResource":[{"id":"` + srv.URL + `/terms","digestSRI":"` + sri + `","mediaType":"text/plain"}]}`
		code, issued, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", `{"credential":`+cred+`}`)
		if code != http.StatusCreated {
			t.Fatalf("issue: %d %v", code, issued)
		}
		body := `{"verifiableCredential":` + string(mustJSON(t, issued["verifiableCredential"])) + `}`
		content.Store("terms v1")
		before := hits.Load()
		code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", body)
		rel, _ := m["relatedResources"].([]any)
		if len(rel) != 1 {
			t.Fatalf("fetch %v: %d %v", fetch, code, m)
		}
		r := rel[0].(map[string]any)
		switch {
		case fetch && (code != http.StatusOK || r["status"] != "verified" || r["fetched"] != true || hits.Load() != before+1):
			t.Errorf("fetched: %d %v, %d requests", code, m, hits.Load()-before)
		case !fetch && (code != http.StatusOK || r["status"] == "verified" || hits.Load() != before ||
			m["warnings"].([]any)[0].(map[string]any)["code"] != "related_resource_unchecked"):
			t.Errorf("not fetched: %d %v, %d requests", code, m, hits.Load()-before)
		}
		if fetch {
			content.Store("terms v2")
			code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", body)
			if errs, _ := m["errors"].([]any); code != http.StatusBadRequest || len(errs) == 0 || errs[0].(map[string]any)["code"] != "related_resource_mismatch" {
				t.Errorf("changed resource: %d %v", code, m)
			}
		}
	}
}
