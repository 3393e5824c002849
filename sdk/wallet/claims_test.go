package wallet

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
)

// TestCheckMandatory: OID4VCI 1.0 Appendix B.1. A credential the holder
// asked for with a mandatory claim is accepted only with that claim: in
// an SD-JWT VC's disclosed claims, a jwt_vc_json payload or an ldp_vc
// document; claims asked for without mandatory need not be there.
func TestCheckMandatory(t *testing.T) {
	o := &CredentialOffer{configs: []string{"sd", "jv", "ld"}}
	for _, c := range []struct{ cfg, claims string }{
		{"sd", `[{"path":["since"],"mandatory":true},{"path":["nickname"]}]`},
		{"jv", `[{"path":["credentialSubject","langs",1],"mandatory":true}]`},
		{"ld", `[{"path":["credentialSubject","since"],"mandatory":true}]`},
	} {
		if err := o.RequestClaims(c.cfg, c.claims); err != nil {
			t.Fatal(err)
		}
	}
	payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(map[string]any{"iss": "https://node.example", "region": "310000", "since": "2019-07-01"}, &sdjwt.Frame{SD: []string{"since"}})
	if err != nil {
		t.Fatal(err)
	}
	jws := func(claims map[string]any) string {
		b, _ := json.Marshal(claims)
		return "eyJhbGciOiJTTTIifQ." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
	}
	withSince, withoutSince := sdjwt.Serialize(jws(payload), ds), sdjwt.Serialize(jws(payload), nil)
	subject := func(s map[string]any) map[string]any { return map[string]any{"credentialSubject": s} }
	doc := func(s map[string]any) string { b, _ := json.Marshal(subject(s)); return string(b) }
	for _, c := range []struct {
		cfg, format, cred string
		ok                bool
	}{
		{"sd", "dc+sd-jwt", withSince, true},
		{"sd", "dc+sd-jwt", withoutSince, false},
		{"jv", "jwt_vc_json", jws(subject(map[string]any{"langs": []any{"zh", "en"}})), true},
		{"jv", "jwt_vc_json", jws(subject(map[string]any{"langs": []any{"zh"}})), false},
		{"jv", "jwt_vc_json", "not.a-jws", false},
		{"ld", formatLDPVC, doc(map[string]any{"since": "2019-07-01"}), true},
		{"ld", formatLDPVC, doc(map[string]any{"region": "310000"}), false},
	} {
		if err := o.checkMandatory(c.cfg, c.format, c.cred); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrIssuer)) {
			t.Errorf("%s %s: %v, want accepted %v", c.cfg, c.cred, err, c.ok)
		}
	}
	// Without mandatory claims nothing is read.
	if err := o.RequestClaims("sd", `[{"path":["since"]}]`); err != nil {
		t.Fatal(err)
	}
	if err := o.checkMandatory("sd", "dc+sd-jwt", "garbage"); err != nil {
		t.Errorf("no mandatory claim: %v", err)
	}
}

// TestAuthorizationDetailsNeedsTheIssuer: claims are sent only to an
// issuer whose authorization server takes openid_credential
// authorization_details; the parameter names each configuration with the
// claims asked for.
func TestAuthorizationDetailsNeedsTheIssuer(t *testing.T) {
	o := &CredentialOffer{configs: []string{"sd", "jv"}}
	if err := o.RequestClaims("sd", `[{"path":["since"],"mandatory":true}]`); err != nil {
		t.Fatal(err)
	}
	if _, err := o.authorizationDetails(o.configs); !errors.Is(err, ErrIssuer) {
		t.Fatalf("claims to an issuer without authorization_details: %v", err)
	}
	o.details = true
	got, err := o.authorizationDetails(o.configs)
	if want := `[{"type":"openid_credential","credential_configuration_id":"sd","claims":[{"path":["since"],"mandatory":true}]},{"type":"openid_credential","credential_configuration_id":"jv"}]`; err != nil || got != want {
		t.Fatalf("authorization_details %s, %v; want %s", got, err, want)
	}
	if err := o.RequestClaims("sd", ""); err != nil || o.asksClaims(o.configs) {
		t.Fatalf("clearing the claims: %v", err)
	}
}
