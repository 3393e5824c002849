package apispec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// TestRequestSchemas: the request bodies of the PIN check, the two login
// approvals and the peer redemption state their fields: the Go types the
// handlers decode, marshalled, are valid; a body missing a required
// field, with a field of the wrong type or format, or with a field the
// handler does not know (it refuses those) is not.
func TestRequestSchemas(t *testing.T) {
	s, err := Load(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	const jws = "eyJhbGciOiJTTTIifQ.eyJpc3MiOiJ4In0.c2ln"
	pin := enrollment.PINCheckRequest{BindingCredential: jws, DeviceProof: jws, PIN: "482915"}
	holder := qrcode.HolderRequest{Purpose: qrcode.PurposeLoginApprove, Binding: []byte("binding"), Time: 1767225600, Nonce: make([]byte, 16), Region: "310000",
		Consent: []string{"name"}, Sig: make([]byte, 64)}
	marshal := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, c := range []struct {
		route string
		valid []string
		bad   map[string]string // body: what the error names
	}{
		{"POST /v1/bindings/pin", []string{marshal(pin)}, map[string]string{
			`{"binding_credential":"` + jws + `","device_proof":"` + jws + `"}`:                          "pin",
			`{"binding_credential":"` + jws + `","device_proof":"` + jws + `","pin":"48291"}`:            "pin",
			`{"binding_credential":"` + jws + `","device_proof":"` + jws + `","pin":482915}`:             "pin",
			`{"binding_credential":"not a jws","device_proof":"` + jws + `","pin":"482915"}`:             "binding_credential",
			`{"binding_credential":"` + jws + `","device_proof":"` + jws + `","pin":"482915","extra":1}`: "extra",
		}},
		{"POST /login/sessions/{id}/approve", []string{
			marshal(login.Approval{Request: holder}),
			marshal(login.Approval{Request: holder, PINCheck: &pin}),
			marshal(login.Approval{Request: holder, Delegation: []byte("delegation")}),
		}, map[string]string{
			`{}`: "request",
			`{"request":` + marshal(holder) + `,"pin_check":{"pin":"482915"}}`:                                        "binding_credential",
			`{"request":{"purpose":"login-approve","binding":"YQ==","time":1,"nonce":"YQ==","region":"310000"}}`:      "sig",
			`{"request":{"binding":"YQ==","time":1,"nonce":"YQ==","region":"310000","sig":"YQ=="}}`:                   "purpose",
			`{"request":{"purpose":"login","binding":"YQ==","time":1,"nonce":"YQ==","region":"310000","sig":"YQ=="}}`: "purpose",
			`{"request":` + marshal(holder) + `,"static_code":"TIDST1:x"}`:                                            "static_code",
		}},
		{"POST /login/sessions/{id}/counter-approve", []string{
			marshal(login.CounterApproval{StaticCode: "TIDST1:ABC", Attestation: jws}),
		}, map[string]string{
			`{"static_code":"TIDST1:ABC"}`:                                      "attestation",
			`{"static_code":"TIDON1:ABC","attestation":"` + jws + `"}`:          "static_code",
			`{"static_code":"TIDST1:ABC","attestation":"` + jws + `","x":true}`: "x",
		}},
		{"POST /v1/qr/peer/redeem", []string{
			marshal(redeem.PeerRedeemRequest{Code: "TIDON1:ABC", ClientID: "rp-1"}),
			marshal(redeem.PeerRedeemRequest{Code: "TIDON1:ABC", ClientID: "rp-1", Sector: "sector.example"}),
		}, map[string]string{
			`{"code":"TIDON1:ABC"}`:                               "client_id",
			`{"code":"TIDST1:ABC","client_id":"rp-1"}`:            "code",
			`{"code":"TIDON1:ABC","client_id":""}`:                "client_id",
			`{"code":"TIDON1:ABC","client_id":"rp-1","region":1}`: "region",
		}},
	} {
		for _, body := range c.valid {
			if err := s.ValidateRequest(c.route, "application/json", []byte(body)); err != nil {
				t.Errorf("%s: %s refused: %v", c.route, body, err)
			}
		}
		for body, want := range c.bad {
			err := s.ValidateRequest(c.route, "application/json", []byte(body))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %s: got %v, want an error naming %q", c.route, body, err, want)
			}
		}
	}
}
