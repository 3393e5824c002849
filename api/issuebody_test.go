package api

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"reflect"
	"regexp"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
)

// TestDecodeBodyWithObjectMatches: the issue route's one-parse decoding
// gives what decodeBody and then ParseJSONObject of the credential gave:
// the same credential map and options, and the same error (message and
// kind) for every bad body.
func TestDecodeBodyWithObjectMatches(t *testing.T) {
	for _, body := range []string{
		`{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"n":12345678901234567890,"credentialSubject":{"id":"did:example:1"}},"options":{"format":"vc+jwt","decoys":3,"holderKey":{"kty":"EC","crv":"SM2","x":"AA","y":"AQ"},"credentialStatus":{"type":"BitstringStatusListEntry"}}}`,
		`{"credential":{}}`,
		`{"options":{}}`,
		`{}`,
		`{"credential":null}`,
		`{"credential":[1]}`,
		`{"credential":"x","options":{}}`,
		`{"credential":{},"credential":{}}`,
		`{"credential":{},"Credential":{}}`,
		`{"Credential":{}}`,
		`{"credential":{"a":1,"a":2}}`,
		`{"credential":{},"options":{"format":1}}`,
		`{"credential":{},"options":{"Format":"x"}}`,
		`{"credential":{},"options":{"bogus":true}}`,
		`{"credential":{},"options":[]}`,
		`{"credential":{},"extra":1}`,
		`{"credential":{}} {}`,
		`{"credential":{`,
		`[]`,
		`null`,
		"{\"credential\":{\"s\":\"\xff\"}}",
		`{"credential":{},"options":{"decoys":1.5}}`,
	} {
		compareIssueDecoding(t, body)
	}
}

// FuzzDecodeBodyWithObject: for any body, the one-parse decoding agrees
// with decodeBody and ParseJSONObject.
func FuzzDecodeBodyWithObject(f *testing.F) {
	for _, seed := range []string{`{"credential":{"a":[1,{"b":null}]},"options":{"format":"vc+jwt","decoys":2}}`, `{"credential":null}`, `null`, `{"Options":{}}`, `{"credential":{},"options":{"holderKey":{"kty":"OKP"}}}`} {
		f.Add(seed)
	}
	f.Fuzz(compareIssueDecoding)
}

// compareIssueDecoding decodes body both ways and fails t if they differ.
func compareIssueDecoding(t *testing.T, body string) {
	var oldReq, newReq issueRequest
	var oldCred map[string]any
	oldErr := decodeBody(httptest.NewRequest("POST", "/", bytes.NewBufferString(body)), maxCredentialBody, &oldReq, invalidRequest, "with credential and options")
	if oldErr == nil && oldReq.Credential != nil {
		oldCred, oldErr = vc.ParseJSONObject(oldReq.Credential)
	}
	newCred, newErr := decodeBodyWithObject(httptest.NewRequest("POST", "/", bytes.NewBufferString(body)), maxCredentialBody, "credential", &newReq, invalidRequest, "with credential and options")
	// Of several refused members, decodeBody names any one (map order):
	// the names are left out of the comparison.
	if norm(oldErr) != norm(newErr) || reflect.TypeOf(oldErr) != reflect.TypeOf(newErr) {
		t.Fatalf("%q:\n got error %v\nwant error %v", body, newErr, oldErr)
	}
	if oldErr != nil {
		return
	}
	oldReq.Credential = nil
	if !reflect.DeepEqual(oldReq, newReq) || !reflect.DeepEqual(oldCred, newCred) {
		t.Fatalf("%q: got %+v %v, want %+v %v", body, newReq, newCred, oldReq, oldCred)
	}
}

var memberName = regexp.MustCompile(`(member|name) "([^"\\]|\\.)*"`)

func norm(err error) string { return memberName.ReplaceAllString(fmt.Sprint(err), "$1 _") }
