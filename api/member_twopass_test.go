package api

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// FuzzCredentialMemberTwoPass: strictjson's two-pass path (taken for a
// destination that is not a zero value) hands the verify body's
// verifiableCredential member to its UnmarshalJSON as the one-pass path
// does: the same input or error, the same JSON kept.
func FuzzCredentialMemberTwoPass(f *testing.F) {
	for _, s := range []string{
		`{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,a.b.c"}}`,
		`{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"proof":{"proofValue":"z3abc"}},"credentialId":"urn:x"}`,
		`{"verifiableCredential":"a.b.c"}`, `{"verifiableCredential":null}`, `{"verifiableCredential": "x\u0041" }`,
		`{"verifiableCredential":5}`, `{"verifiableCredential":[]}`, `{"verifiableCredential":{"proof":null}}`, `{}`,
		`{"verifiableCredential":{"proof":[{"a":1},{"b":2}]}}`, `{ "verifiableCredential" : { "proof" : 1 } }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var one verifyRequest
		errOne := strictjson.Decode(body, &one, maxCredentialBody)
		two := verifyRequest{Options: credentialVerifyOptions{Checks: []string{}}} // not zero: the two-pass path
		errTwo := strictjson.Decode(body, &two, maxCredentialBody)
		if (errOne == nil) != (errTwo == nil) {
			t.Fatalf("one pass %v, two %v", errOne, errTwo)
		}
		if errOne != nil {
			return
		}
		a, b := one.VerifiableCredential, two.VerifiableCredential
		if a.set != b.set || !reflect.DeepEqual(a.in, b.in) || fmt.Sprint(a.err) != fmt.Sprint(b.err) || string(a.raw) != string(b.raw) || (a.raw == nil) != (b.raw == nil) {
			t.Fatalf("one pass %+v, two %+v", a, b)
		}
	})
}

// TestCredentialMemberBodyBound: UnmarshalJSONValue takes an object
// member without credentialInput's size check (ParseJSONObject's bound),
// which holds only while no body maxCredentialBody allows has a member
// over that bound.
func TestCredentialMemberBodyBound(t *testing.T) {
	pad := maxCredentialBody - len(`{"verifiableCredential":{"a":""}}`)
	member := `{"a":"` + strings.Repeat("x", pad) + `"}`
	if _, err := vc.ParseJSONObject([]byte(member)); err != nil {
		t.Fatalf("a member of a body of maxCredentialBody bytes: %v", err)
	}
}

// TestEnvelopedID: an enveloped credential of the usual shape (either
// member order) is read as its id, without whitespace, escapes, other
// members, another @context or type, or a presentation's media type;
// everything else is left to credentialInput.
func TestEnvelopedID(t *testing.T) {
	const ctx = `{"@context":["https://www.w3.org/ns/credentials/v2"],`
	for _, c := range []struct{ json, id string }{
		{ctx + `"id":"data:application/vc+jwt,a.b.c","type":"EnvelopedVerifiableCredential"}`, "data:application/vc+jwt,a.b.c"},
		{ctx + `"type":"EnvelopedVerifiableCredential","id":"data:application/vc+sd-jwt,a.b.c~"}`, "data:application/vc+sd-jwt,a.b.c~"},
		{ctx + `"id":"data:application/vc+cose;base64,AAAA","type":"EnvelopedVerifiableCredential"}`, "data:application/vc+cose;base64,AAAA"},
		{ctx + `"id":"data:application/vp+jwt,a.b.c","type":"EnvelopedVerifiableCredential"}`, ""},
		{ctx + `"id":"data:application/vc+jwt,a\u002eb","type":"EnvelopedVerifiableCredential"}`, ""},
		{ctx + `"id":"data:application/vc+jwt,a\"b","type":"EnvelopedVerifiableCredential"}`, ""},
		{ctx + `"id":"data:application/vc+jwt,a.b.c","type":"EnvelopedVerifiableCredential","x":1}`, ""},
		{ctx + `"id":"data:application/vc+jwt,a.b.c","type":"EnvelopedVerifiablePresentation"}`, ""},
		{ctx + `"id":"data:application/vc+jwt,a.b.c","type":["EnvelopedVerifiableCredential"]}`, ""},
		{ctx + `"id":"data:application/vc+jwt,a.b.c", "type":"EnvelopedVerifiableCredential"}`, ""},
		{ctx + `"type":"EnvelopedVerifiableCredential","id":"data:application/vc+jwt,a.b.c","type":"x"}`, ""},
		{`{"@context":["https://www.w3.org/ns/credentials/v2","https://example.org/c"],"id":"data:application/vc+jwt,a","type":"EnvelopedVerifiableCredential"}`, ""},
		{`"data:application/vc+jwt,a.b.c"`, ""},
	} {
		id, ok := envelopedID([]byte(c.json))
		if id != c.id || ok != (c.id != "") {
			t.Errorf("envelopedID(%s) = %q, %v; want %q", c.json, id, ok, c.id)
		}
		var req verifyRequest
		if err := strictjson.Decode([]byte(`{"verifiableCredential":`+c.json+`}`), &req, maxCredentialBody); err != nil {
			continue // refused as a body (a repeated member)
		}
		if in, _ := req.VerifiableCredential.input(); c.id != "" && in != c.id {
			t.Errorf("%s: the body's member is %#v, want its id", c.json, in)
		}
	}
}
