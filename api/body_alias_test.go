package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/oid4vp"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// TestDecodeBodyKeepsNothingOfTheBuffer: a value decodeBody fills on each
// JSON route shares no memory with its pooled read buffer: after every
// pooled buffer is overwritten, the values decoded earlier are unchanged.
func TestDecodeBodyKeepsNothingOfTheBuffer(t *testing.T) {
	for _, c := range []struct {
		name, body string
		dst        func() any
	}{
		{"issue", `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":{"id":"did:example:abcdefgh","n":12345}},"options":{"format":"ldp_vc","cryptosuite":"ecdsa-sm2-2026","holderKey":{"kty":"EC","crv":"SM2","x":"xxxxxxxx","y":"yyyyyyyy"},"decoys":3,"credentialStatus":{"type":"BitstringStatusListEntry"},"credentialId":"urn:uuid:0123","mandatoryPointers":["/issuer","/credentialSubject/n"]}}`, func() any { return new(issueRequest) }},
		{"verify", `{"verifiableCredential":"eyJhbGciOiJTTTIifQ.eyJzdWIiOiJ4In0.c2ln","credentialId":"urn:uuid:1","options":{"challenge":"chal-123","domain":"example.org","checks":["proof","status"],"trustidRelatedResources":[{"id":"https://x.example/a","content":"aGVsbG8="}]}}`, func() any { return new(verifyRequest) }},
		{"verify envelope", `{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"id":"data:application/vc+jwt,eyJhbGciOiJTTTIifQ.eyJzdWIiOiJ4In0.c2ln","type":"EnvelopedVerifiableCredential"},"credentialId":"urn:uuid:1"}`, func() any { return new(verifyRequest) }},
		{"verify object", `{"verifiableCredential":{"@context":["https://www.w3.org/ns/credentials/v2"],"proof":{"proofValue":"z3abcdefgh"}}}`, func() any { return new(verifyRequest) }},
		{"verify escaped token", `{"verifiableCredential":"eyJh\u0062GciOiJTTTIifQ.eyJzdWIiOiJ4In0.c2ln","credentialId":"urn:uuid:\u0031"}`, func() any { return new(verifyRequest) }},
		{"verify object without proof", `{"verifiableCredential":{"a":1,"b":[true,"x"]},"credentialId":"urn:uuid:2"}`, func() any { return new(verifyRequest) }},
		{"verify refused member", `{"verifiableCredential":[1,"x"]}`, func() any { return new(verifyRequest) }},
		{"presentation", `{"verifiablePresentation":{"type":["VerifiablePresentation"],"holder":"did:example:h"},"presentation":null,"options":{"challenge":"c","domain":"d","checks":["proof"]}}`, func() any { return new(presentationRequest) }},
		{"present", `{"presentation":{"type":"VerifiablePresentation"},"options":{"challenge":"c1","domain":"d1","algorithm":"SM2","format":"jwt_vp","type":"x","cryptosuite":"y"}}`, func() any { return new(presentRequest) }},
		{"status", `{"action":"revoke"}`, func() any { return new(statusRequest) }},
		{"enroll", `{"document":{"type":"resident","number":"110101199003070000","mrz":["P<CHN","L898902C"]},"name":"Zhang San","device_key":{"kty":"EC","crv":"SM2","x":"abc","y":"def"},"device_proof":"proof.jws","device_keys":[{"key":{"kty":"EC","crv":"SM2","x":"q"},"proof":"p"}],"attestation":"att","pin":"123456","static_code":true}`, func() any { return new(EnrollRequest) }},
		{"enroll status", `{"action":"suspend"}`, func() any {
			return new(struct {
				Action string `json:"action"`
			})
		}},
		{"accredit", `{"client_id":"client-1","types":["UniversityDegree","X"],"name":"Uni","suspended":true}`, func() any { return new(accreditRequest) }},
		{"peer introspect", `{"token":"tok.en.value"}`, func() any { return new(auth.PeerIntrospectRequest) }},
		{"oid4vci offer", `{"credential_configuration_ids":["a","b"],"credential":{"k":"v","n":[1,2]},"tx_code":true,"by_reference":true,"grant":"authorization_code","subject":"pairwise-sub","level":"L3"}`, func() any { return new(offerRequest) }},
		{"oid4vp create", `{"dcql_query":{"credentials":[{"id":"q","format":"dc+sd-jwt","claims":[{"path":["a",0,null]}]}]},"response_mode":"direct_post","redirect_uri":"https://rp.example/cb","transaction_data":["eyJ0eXBlIjoieCJ9",{"t":1}]}`, func() any { return new(oid4vp.CreateRequest) }},
		{"pin", `{"binding_credential":"bind.cred","device_proof":"dev.proof","pin":"654321"}`, func() any { return new(PINCheckRequest) }},
		{"qr issue", `{"binding":"YmluZGluZw==","time":1700000000,"nonce":"bm9uY2Vub25jZW5vbmNl","region":"cn-east","consent":["name","age"],"sig":"c2lnbmF0dXJl"}`, func() any { return new(qrcode.HolderRequest) }},
		{"qr redeem", `{"code":"CODE123","action":"enter"}`, func() any { return new(qrRedeemRequest) }},
		{"qr peer", `{"code":"CODE","client_id":"rp","sector":"sector.example"}`, func() any { return new(redeem.PeerRedeemRequest) }},
		{"login approve", `{"request":{"binding":"YmluZA==","time":1,"nonce":"bm9uY2U=","region":"r","consent":["c"],"sig":"c2ln"},"pin_check":{"binding_credential":"b","device_proof":"d","pin":"1"}}`, func() any { return new(login.Approval) }},
		{"login counter", `{"static_code":"static","attestation":"att","pin":"000000"}`, func() any { return new(login.CounterApproval) }},
		{"demo consent", `{"consent":["name","birthdate"]}`, func() any {
			return new(struct {
				Consent []string `json:"consent"`
			})
		}},
		{"demo present", `{"disclose":["name"],"audience":"aud","nonce":"n0"}`, func() any {
			return new(struct {
				Disclose []string `json:"disclose"`
				Audience string   `json:"audience"`
				Nonce    string   `json:"nonce"`
			})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := c.dst()
			buf := new([]byte)
			if err := decodeBodyIn(buf, httptest.NewRequest("POST", "/", strings.NewReader(c.body)), maxCredentialBody, v, invalidRequest, "x"); err != nil {
				t.Fatal(err)
			}
			before, err := json.Marshal(decodedView(v))
			if err != nil {
				t.Fatal(err)
			}
			b := (*buf)[:cap(*buf)]
			if len(b) < len(c.body) {
				t.Fatalf("the body was not read into the buffer (%d bytes)", len(b))
			}
			for i := range b {
				b[i] = '#'
			}
			after, err := json.Marshal(decodedView(v))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Fatalf("decoded value changed when the buffer was reused:\n%s\n%s", before, after)
			}
		})
	}
}

// decodedView is v as JSON can show it: a verify body's member as
// credentialInput read it and the JSON it kept (unexported fields).
func decodedView(v any) any {
	if vr, ok := v.(*verifyRequest); ok {
		return []any{verifyView(vr), vr.VerifiableCredential.raw}
	}
	return v
}
