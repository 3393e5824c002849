package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestUnsignedKeywordMember: a member
// of keyword form that JSON-LD expansion drops ("@null", "@none", ...) is
// not covered by a Data Integrity proof, so the node must neither issue a
// credential holding one nor verify one to which one was added.
func TestUnsignedKeywordMember(t *testing.T) {
	b := t
	body := strings.Replace(credBody, `"https://www.w3.org/ns/credentials/v2"`,
		`"https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"`, 1)
	e := newBenchEnv(b)
	options := `,"options":{"format":"eddsa-rdfc-2022","algorithm":"EdDSA","credentialStatus":{"type":"BitstringStatusListEntry"}}`
	for _, kw := range []string{"@null", "@none"} {
		withKW := strings.Replace(body, `"region":"310000"`, `"region":"310000","`+kw+`":{"note":"unsigned"}`, 1)
		if out, err := e.doBody("POST", "/credentials/issue", issueToken, strings.Replace(withKW, "%s", options, 1), http.StatusBadRequest); err != nil {
			b.Errorf("issue with %s: %v %s", kw, err, out)
		}
		issued, err := e.doBody("POST", "/credentials/issue", issueToken, strings.Replace(body, "%s", options, 1), http.StatusCreated)
		if err != nil {
			b.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(issued, &m); err != nil {
			b.Fatal(err)
		}
		vcm := m["verifiableCredential"].(map[string]any)
		vcm["credentialSubject"].(map[string]any)[kw] = map[string]any{"region": "110000", "role": "admin"}
		forged, _ := json.Marshal(map[string]any{"verifiableCredential": vcm})
		if out, err := e.doBody("POST", "/credentials/verify", "", string(forged), http.StatusBadRequest); err != nil {
			b.Errorf("verify with %s added: %v %s", kw, err, out)
		}
	}
}

// TestControlCharacterCredential: a Data Integrity credential whose
// strings hold control characters (valid JSON) is issued and verifies,
// also when they are in a literal of a blank node (an object without id),
// which RDFC-1.0 labels over the canonically escaped form; the literal
// comes back as it was sent, and changing it breaks the proof.
func TestControlCharacterCredential(t *testing.T) {
	body := strings.Replace(credBody, `"https://www.w3.org/ns/credentials/v2"`,
		`"https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"`, 1)
	e := newBenchEnv(t)
	options := `,"options":{"format":"eddsa-rdfc-2022","algorithm":"EdDSA"}`
	for name, c := range map[string]struct{ member, path, want string }{
		"IRI subject": {`"region":"31\u0001\b\t0000"`, "region", "31\u0001\b\t0000"},
		"blank node":  {`"residence":{"region":"31\u0001\b\f\u007f\ufffe0000"}`, "residence.region", "31\u0001\b\f\u007f\ufffe0000"},
	} {
		in := strings.Replace(body, `"region":"310000"`, c.member, 1)
		issued, err := e.doBody("POST", "/credentials/issue", issueToken, strings.Replace(in, "%s", options, 1), http.StatusCreated)
		if err != nil {
			t.Fatalf("%s: issue: %v %s", name, err, issued)
		}
		var m map[string]any
		if err := json.Unmarshal(issued, &m); err != nil {
			t.Fatal(err)
		}
		vcm := m["verifiableCredential"].(map[string]any)
		var got any = vcm["credentialSubject"]
		for _, k := range strings.Split(c.path, ".") {
			got = got.(map[string]any)[k]
		}
		if got != c.want {
			t.Fatalf("%s: literal came back as %q, want %q", name, got, c.want)
		}
		req, _ := json.Marshal(map[string]any{"verifiableCredential": vcm})
		if out, err := e.doBody("POST", "/credentials/verify", "", string(req), http.StatusOK); err != nil {
			t.Fatalf("%s: verify: %v %s", name, err, out)
		}
		tampered := strings.Replace(string(req), `\u0001`, `\u0002`, 1)
		if tampered == string(req) {
			t.Fatalf("%s: no \\u0001 in %s", name, req)
		}
		if out, err := e.doBody("POST", "/credentials/verify", "", tampered, http.StatusBadRequest); err != nil || !strings.Contains(string(out), "invalid_signature") {
			t.Errorf("%s: tampered: %v %s", name, err, out)
		}
	}
}

// TestIssueNotCompacted: a Data Integrity credential asked for in another
// spelling than JSON-LD compacted form (VC 2.0 §6.1), its subject id as
// "@id" or an alias of @id, is refused 400 not_compacted before anything
// is signed: its subject id, in the RDF the proof signs, was unseen by the
// registry's checks, which read the JSON (they found no subject id).
func TestIssueNotCompacted(t *testing.T) {
	body := strings.Replace(credBody, `"https://www.w3.org/ns/credentials/v2"`,
		`"https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"`, 1)
	e := newBenchEnv(t)
	options := `,"options":{"format":"eddsa-rdfc-2022","algorithm":"EdDSA"}`
	if out, err := e.doBody("POST", "/credentials/issue", issueToken, strings.Replace(body, "%s", options, 1), http.StatusCreated); err != nil {
		t.Fatalf("compacted: %v %s", err, out)
	}
	for name, subject := range map[string]string{
		"@id":                  `"@id":"did:example:holder-3f9a1c0d7e"`,
		"an alias in @context": `"@context":{"subj":"@id"},"subj":"did:example:holder-3f9a1c0d7e"`,
	} {
		in := strings.Replace(body, `"id":"did:example:holder-3f9a1c0d7e"`, subject, 1)
		if out, err := e.doBody("POST", "/credentials/issue", issueToken, strings.Replace(in, "%s", options, 1), http.StatusBadRequest); err != nil || !strings.Contains(string(out), `"not_compacted"`) {
			t.Errorf("%s: %v %s, want 400 not_compacted", name, err, out)
		}
	}
}
