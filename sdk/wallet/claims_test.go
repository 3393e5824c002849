package wallet

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
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
// claims asked for, and the issuer in locations when its metadata lists
// authorization_servers.
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
	// An issuer whose metadata lists authorization_servers is named in
	// locations (OID4VCI 1.0 §5.1.1, §6.1).
	o.meta.CredentialIssuer, o.meta.AuthorizationServers = "https://issuer.example", []string{"https://issuer.example/oid4vci"}
	got, err = o.authorizationDetails(o.configs)
	if want := `[{"type":"openid_credential","credential_configuration_id":"sd","locations":["https://issuer.example"],"claims":[{"path":["since"],"mandatory":true}]},{"type":"openid_credential","credential_configuration_id":"jv","locations":["https://issuer.example"]}]`; err != nil || got != want {
		t.Fatalf("authorization_details %s, %v; want %s", got, err, want)
	}
	if err := o.RequestClaims("sd", ""); err != nil || o.asksClaims(o.configs) {
		t.Fatalf("clearing the claims: %v", err)
	}
}

// TestAcceptOfferDetails: against a minimal issuer that advertises
// openid_credential authorization_details, AcceptOffer sends no
// authorization_details when it takes the whole offer, names the
// configurations (with the claims asked for) when it takes some of them
// or asks for claims (OID4VCI 1.0 §6.1), and then requests each
// credential by the credential identifier the token response gave, never
// by configuration (§8.2).
func TestAcceptOfferDetails(t *testing.T) {
	var tokenForms []url.Values
	var credReqs []map[string]any
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		cfg := map[string]any{"format": "jwt_vc_json", "proof_types_supported": map[string]any{"jwt": map[string]any{"proof_signing_alg_values_supported": []string{"SM2"}}}}
		switch r.URL.Path {
		case "/.well-known/openid-credential-issuer":
			json.NewEncoder(w).Encode(map[string]any{"credential_issuer": srv.URL, "credential_endpoint": srv.URL + "/credential", "nonce_endpoint": srv.URL + "/nonce",
				"credential_configurations_supported": map[string]any{"a": cfg, "b": cfg}})
		case "/.well-known/oauth-authorization-server":
			json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token", "authorization_details_types_supported": []string{"openid_credential"}})
		case "/token":
			r.ParseForm()
			tokenForms = append(tokenForms, r.PostForm)
			resp := map[string]any{"access_token": "t", "token_type": "Bearer"}
			if d := r.PostForm.Get("authorization_details"); d != "" {
				var asked []map[string]any
				json.Unmarshal([]byte(d), &asked)
				var granted []map[string]any
				for _, a := range asked {
					granted = append(granted, map[string]any{"type": "openid_credential", "credential_configuration_id": a["credential_configuration_id"],
						"credential_identifiers": []string{"id-" + a["credential_configuration_id"].(string)}})
				}
				resp["authorization_details"] = granted
			}
			json.NewEncoder(w).Encode(resp)
		case "/nonce":
			json.NewEncoder(w).Encode(map[string]any{"c_nonce": "n"})
		case "/credential":
			var req map[string]any
			json.NewDecoder(r.Body).Decode(&req)
			credReqs = append(credReqs, req)
			json.NewEncoder(w).Encode(map[string]any{"credentials": []any{map[string]any{"credential": "e30.e30.c2ln"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	offerLink := "openid-credential-offer://?credential_offer=" + url.QueryEscape(`{"credential_issuer":"`+srv.URL+`","credential_configuration_ids":["a","b"],"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c"}}}`)
	w, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, configs, claims, details string
		member                         string
	}{
		{"the whole offer", "", "", "", "credential_configuration_id"},
		{"some of the offer", "b", "", `[{"type":"openid_credential","credential_configuration_id":"b"}]`, "credential_identifier"},
		{"claims", "", `[{"path":["credentialSubject","x"]}]`, `[{"type":"openid_credential","credential_configuration_id":"a","claims":[{"path":["credentialSubject","x"]}]},{"type":"openid_credential","credential_configuration_id":"b"}]`, "credential_identifier"},
	} {
		tokenForms, credReqs = nil, nil
		offer, err := w.ReceiveOffer(offerLink)
		if err != nil {
			t.Fatal(err)
		}
		if c.claims != "" {
			if err := offer.RequestClaims("a", c.claims); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.AcceptOffer(offer, c.configs, "", 1, NewMemoryStore()); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := tokenForms[0].Get("authorization_details"); got != c.details {
			t.Errorf("%s: authorization_details %q, want %q", c.name, got, c.details)
		}
		for _, req := range credReqs {
			if _, ok := req[c.member]; !ok || len(req) != 2 {
				t.Errorf("%s: credential request %v, want %s alone with proofs", c.name, req, c.member)
			}
		}
	}
}
