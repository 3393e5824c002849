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
// strings hold control characters (valid JSON) is issued and verifies;
// one in a literal of a blank node, which the node cannot canonicalize
// exactly, is 400 blank_node_control_character, not a 500.
func TestControlCharacterCredential(t *testing.T) {
	body := strings.Replace(credBody, `"https://www.w3.org/ns/credentials/v2"`,
		`"https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"`, 1)
	e := newBenchEnv(t)
	options := `,"options":{"format":"eddsa-rdfc-2022","algorithm":"EdDSA"}`
	ok := strings.Replace(body, `"region":"310000"`, `"region":"31\u0001\b\t0000"`, 1)
	issued, err := e.doBody("POST", "/credentials/issue", issueToken, strings.Replace(ok, "%s", options, 1), http.StatusCreated)
	if err != nil {
		t.Fatalf("issue: %v %s", err, issued)
	}
	var m map[string]any
	if err := json.Unmarshal(issued, &m); err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(map[string]any{"verifiableCredential": m["verifiableCredential"]})
	if out, err := e.doBody("POST", "/credentials/verify", "", string(req), http.StatusOK); err != nil {
		t.Fatalf("verify: %v %s", err, out)
	}
	blank := strings.Replace(body, `"region":"310000"`, `"residence":{"region":"31\u00010000"}`, 1)
	out, err := e.doBody("POST", "/credentials/issue", issueToken, strings.Replace(blank, "%s", options, 1), http.StatusBadRequest)
	if err != nil || !strings.Contains(string(out), "blank_node_control_character") {
		t.Fatalf("blank node: %v %s", err, out)
	}
}
