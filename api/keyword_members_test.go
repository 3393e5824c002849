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
