package wallet

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestParseOfferIgnoresUnknownMembers: OID4VCI 1.0 §4.1.1 "Additional
// Credential Offer parameters MAY be defined and used. The Wallet MUST
// ignore any unrecognized parameters": an offer with an unrecognized
// member at its top, in a grant and in tx_code is read as without them; a
// repeated member is still refused.
func TestParseOfferIgnoresUnknownMembers(t *testing.T) {
	for _, doc := range []string{
		`{"credential_issuer":"https://node.example","credential_configuration_ids":["a"],"x_ext":{"v":1},` +
			`"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c","x_ext":true,"tx_code":{"length":6,"x_ext":"y"}}}}`,
		`{"credential_issuer":"https://node.example","credential_configuration_ids":["a"],` +
			`"grants":{"authorization_code":{"issuer_state":"s","x_ext":[1]}}}`,
	} {
		o, _, err := parseOffer([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if o.issuer != "https://node.example" || !slices.Equal(o.configs, []string{"a"}) || (o.code != "c" && o.issuerState != "s") {
			t.Errorf("%s: read as %+v", doc, o)
		}
	}
	dup := `{"credential_issuer":"https://node.example","credential_issuer":"https://evil.example","credential_configuration_ids":["a"],` +
		`"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c"}}}`
	if _, _, err := parseOffer([]byte(dup)); !errors.Is(err, ErrIssuer) {
		t.Errorf("a repeated member: %v, want ErrIssuer", err)
	}
}

// TestReceiveOfferAuthorizationServerHint: the offer's authorization_server
// picks one of the issuer's authorization_servers; one the metadata does
// not list is refused before the wallet contacts it (OID4VCI 1.0 §12.2.4:
// "the Wallet MUST NOT proceed with the flow if the authorization_server
// Credential Offer parameter value does not match any of the entries in
// the authorization_servers array"), so a link cannot send the code and
// the transaction code to another server.
func TestReceiveOfferAuthorizationServerHint(t *testing.T) {
	var srv *httptest.Server
	var asked []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		const asMeta = "/.well-known/oauth-authorization-server"
		switch {
		case r.URL.Path == "/.well-known/openid-credential-issuer":
			json.NewEncoder(w).Encode(map[string]any{"credential_issuer": srv.URL, "credential_endpoint": srv.URL + "/credential",
				"authorization_servers":               []string{srv.URL + "/as1", srv.URL + "/as2"},
				"credential_configurations_supported": map[string]any{"a": map[string]any{"format": "dc+sd-jwt"}}})
		case strings.HasPrefix(r.URL.Path, asMeta+"/"):
			as := srv.URL + strings.TrimPrefix(r.URL.Path, asMeta)
			json.NewEncoder(w).Encode(map[string]any{"issuer": as, "token_endpoint": as + "/token"})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	link := func(hint string) string {
		grant := `{"pre-authorized_code":"c"`
		if hint != "" {
			grant += `,"authorization_server":"` + hint + `"`
		}
		return "openid-credential-offer://?credential_offer=" + url.QueryEscape(`{"credential_issuer":"`+srv.URL+`","credential_configuration_ids":["a"],`+
			`"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":`+grant+`}}}`)
	}
	w, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ hint, token string }{{"", srv.URL + "/as1/token"}, {srv.URL + "/as2", srv.URL + "/as2/token"}} {
		o, err := w.ReceiveOffer(link(c.hint))
		if err != nil {
			t.Fatalf("hint %q: %v", c.hint, err)
		}
		if o.token != c.token {
			t.Errorf("hint %q: token endpoint %q, want %q", c.hint, o.token, c.token)
		}
	}
	asked = nil
	if _, err := w.ReceiveOffer(link(srv.URL + "/evil")); !errors.Is(err, ErrIssuer) {
		t.Fatalf("an authorization_server the issuer does not list: %v, want ErrIssuer", err)
	}
	if slices.Contains(asked, "/.well-known/oauth-authorization-server/evil") {
		t.Errorf("the wallet fetched the unlisted server's metadata: %v", asked)
	}
}

// TestAcceptOfferWithoutNonceEndpoint: an issuer whose metadata has no
// nonce_endpoint "does not require the use of c_nonce" (OID4VCI 1.0
// §12.2.4): the wallet asks for no nonce and its key proofs carry none
// (Appendix F.1), and the credential is taken.
func TestAcceptOfferWithoutNonceEndpoint(t *testing.T) {
	var proofs []string
	w, offer := fakeIssuer(t, "jwt_vc_json", 1, func(p []string) []any {
		proofs = append(proofs, p...)
		return []any{"e30.e30.c2ln"}
	})
	if _, err := w.AcceptOffer(offer, "", "", 1, NewMemoryStore()); err != nil {
		t.Fatalf("an issuer without a nonce endpoint: %v", err)
	}
	if len(proofs) != 1 {
		t.Fatalf("proofs %v", proofs)
	}
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(proofs[0], ".")[1])
	if err := json.Unmarshal(payload, &claims); err != nil || claims["aud"] != offer.Issuer() || claims["nonce"] != nil {
		t.Errorf("key proof claims %v, want aud and no nonce", claims)
	}
}

// TestReceiveOfferIssuerIdentical: the metadata's credential_issuer "MUST
// be identical to the Credential Issuer's identifier into which the
// well-known URI string was inserted" (OID4VCI 1.0 §12.2.3): an
// identifier with a path and a trailing slash is kept as it is, its
// metadata fetched with the slash removed before the well-known suffix
// (§12.2.2), and metadata naming it without the slash (or an offer
// without it for metadata with it) is refused.
func TestReceiveOfferIssuerIdentical(t *testing.T) {
	var srv *httptest.Server
	metaIssuer := func() string { return srv.URL + "/tenant/" }
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-credential-issuer/tenant":
			json.NewEncoder(w).Encode(map[string]any{"credential_issuer": metaIssuer(), "credential_endpoint": srv.URL + "/credential",
				"credential_configurations_supported": map[string]any{"a": map[string]any{"format": "dc+sd-jwt"}}})
		case "/.well-known/oauth-authorization-server/tenant", "/.well-known/oauth-authorization-server/tenant/":
			json.NewEncoder(w).Encode(map[string]any{"issuer": metaIssuer(), "token_endpoint": srv.URL + "/token"})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	link := func(issuer string) string {
		return "openid-credential-offer://?credential_offer=" + url.QueryEscape(`{"credential_issuer":"`+issuer+`","credential_configuration_ids":["a"],`+
			`"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c"}}}`)
	}
	w, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	o, err := w.ReceiveOffer(link(srv.URL + "/tenant/"))
	if err != nil {
		t.Fatalf("identical identifiers: %v", err)
	}
	if o.Issuer() != srv.URL+"/tenant/" {
		t.Errorf("issuer %q, want the offer's identifier as it is", o.Issuer())
	}
	if _, err := w.ReceiveOffer(link(srv.URL + "/tenant")); !errors.Is(err, ErrIssuer) {
		t.Errorf("offer without the slash, metadata with it: %v, want ErrIssuer", err)
	}
}

// TestAcceptFewerCredentialsThanProofs: an issuer may answer a request of
// several key proofs with fewer credentials (OID4VCI 1.0 §8.3:
// "credentials ... one or more"): each dc+sd-jwt is kept with the key its
// cnf names, whatever its place; one bound to no key the wallet proved,
// more credentials than proofs, or fewer of a format whose key the wallet
// does not read (jwt_vc_json), is refused.
func TestAcceptFewerCredentialsThanProofs(t *testing.T) {
	for _, c := range []struct {
		name, format string
		answer       func(proofJWKs []any) []any // the credentials, from the proofs' keys
		ok           bool
	}{
		{"one of three, bound to the second key", "dc+sd-jwt", func(k []any) []any { return []any{fakeSDJWT(k[1])} }, true},
		{"two of three, bound to the third and first", "dc+sd-jwt", func(k []any) []any { return []any{fakeSDJWT(k[2]), fakeSDJWT(k[0])} }, true},
		{"one bound to no proved key", "dc+sd-jwt", func(k []any) []any {
			return []any{fakeSDJWT(map[string]any{"kty": "EC", "crv": "SM2", "x": "AQ", "y": "AQ"})}
		}, false},
		{"two bound to one key", "dc+sd-jwt", func(k []any) []any { return []any{fakeSDJWT(k[0]), fakeSDJWT(k[0])} }, false},
		{"more than proofs", "dc+sd-jwt", func(k []any) []any { return []any{fakeSDJWT(k[0]), fakeSDJWT(k[1]), fakeSDJWT(k[0])} }, false},
		{"fewer jwt_vc_json", "jwt_vc_json", func(k []any) []any { return []any{"e30.e30.c2ln"} }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, offer := fakeIssuer(t, c.format, 3, func(proofs []string) []any {
				var keys []any
				for _, p := range proofs {
					var h struct {
						JWK any `json:"jwk"`
					}
					raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(p, ".")[0])
					json.Unmarshal(raw, &h)
					keys = append(keys, h.JWK)
				}
				return c.answer(keys)
			})
			store := NewMemoryStore()
			ids, err := w.AcceptOffer(offer, "", "", 3, store)
			if !c.ok {
				if !errors.Is(err, ErrIssuer) {
					t.Fatalf("%v, want ErrIssuer", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range strings.Split(ids, ",") {
				raw, err := store.Load(id)
				if err != nil {
					t.Fatal(err)
				}
				var rec StoredCredential
				json.Unmarshal(raw, &rec)
				payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(rec.Credential, ".")[1])
				var cnf struct {
					Cnf struct {
						JWK map[string]any `json:"jwk"`
					} `json:"cnf"`
				}
				json.Unmarshal(payload, &cnf)
				pub, err := w.keys.PublicKey(rec.KeyAlias)
				if err != nil {
					t.Fatal(err)
				}
				if x, _ := base64.RawURLEncoding.DecodeString(cnf.Cnf.JWK["x"].(string)); len(x) != 32 || !strings.Contains(string(pub), string(x)) {
					t.Errorf("credential %s kept with key %s, not the one its cnf names", id, rec.KeyAlias)
				}
			}
		})
	}
}

// fakeSDJWT is an unsigned dc+sd-jwt bound to jwk, as the wallet reads one
// on receipt.
func fakeSDJWT(jwk any) string {
	payload, _ := json.Marshal(map[string]any{"vct": "urn:x", "cnf": map[string]any{"jwk": jwk}})
	return "e30." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln~"
}

// fakeIssuer serves an OID4VCI issuer without a nonce endpoint, of one
// configuration "a" of format (batches up to batch), whose credential
// endpoint answers with the credentials answer gives for the request's
// key proofs, and returns a wallet holding its pre-authorized offer.
func fakeIssuer(t *testing.T, format string, batch int, answer func(proofs []string) []any) (*Holder, *CredentialOffer) {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-credential-issuer":
			meta := map[string]any{"credential_issuer": srv.URL, "credential_endpoint": srv.URL + "/credential",
				"credential_configurations_supported": map[string]any{"a": map[string]any{"format": format,
					"proof_types_supported": map[string]any{"jwt": map[string]any{"proof_signing_alg_values_supported": []string{"SM2"}}}}}}
			if batch > 1 {
				meta["batch_credential_issuance"] = map[string]any{"batch_size": batch}
			}
			json.NewEncoder(w).Encode(meta)
		case "/.well-known/oauth-authorization-server":
			json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"})
		case "/token":
			json.NewEncoder(w).Encode(map[string]any{"access_token": "t", "token_type": "Bearer"})
		case "/credential":
			var req struct {
				Proofs struct {
					JWT []string `json:"jwt"`
				} `json:"proofs"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			var creds []any
			for _, c := range answer(req.Proofs.JWT) {
				creds = append(creds, map[string]any{"credential": c})
			}
			json.NewEncoder(w).Encode(map[string]any{"credentials": creds})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return preAuthorizedOffer(t, srv.URL)
}

// preAuthorizedOffer is a holder of the node at node and its offer of
// configuration "a" under pre-authorized code "c".
func preAuthorizedOffer(tb testing.TB, node string) (*Holder, *CredentialOffer) {
	tb.Helper()
	w, err := NewHolder(node, NewSoftwareKeys(), "device")
	if err != nil {
		tb.Fatal(err)
	}
	offer, err := w.ReceiveOffer("openid-credential-offer://?credential_offer=" + url.QueryEscape(`{"credential_issuer":"`+node+
		`","credential_configuration_ids":["a"],"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c"}}}`))
	if err != nil {
		tb.Fatal(err)
	}
	return w, offer
}

// TestReceiveOfferEncryptionRequired: an issuer whose metadata requires
// encrypted credential responses or requests is refused when the offer is
// received, before its token endpoint hears the pre-authorized code: the
// wallet encrypts neither, and OID4VCI 1.0 §12.2.4 says with
// credential_response_encryption's encryption_required true "the Wallet
// MUST provide encryption keys in the Credential Request". With
// encryption_required false the offer is taken.
func TestReceiveOfferEncryptionRequired(t *testing.T) {
	enc := func(required bool) map[string]any {
		return map[string]any{"alg_values_supported": []string{"ECDH-ES"}, "enc_values_supported": []string{"A128GCM"},
			"encryption_required": required, "jwks": map[string]any{"keys": []any{}}}
	}
	for _, c := range []struct {
		name   string
		member string
		value  map[string]any
		ok     bool
	}{
		{"responses required", "credential_response_encryption", enc(true), false},
		{"requests required", "credential_request_encryption", enc(true), false},
		{"responses optional", "credential_response_encryption", enc(false), true},
		{"requests optional", "credential_request_encryption", enc(false), true},
	} {
		var srv *httptest.Server
		tokens := 0
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			switch r.URL.Path {
			case "/.well-known/openid-credential-issuer":
				json.NewEncoder(w).Encode(map[string]any{"credential_issuer": srv.URL, "credential_endpoint": srv.URL + "/credential",
					c.member: c.value, "credential_configurations_supported": map[string]any{"a": map[string]any{"format": "dc+sd-jwt",
						"proof_types_supported": map[string]any{"jwt": map[string]any{"proof_signing_alg_values_supported": []string{"SM2"}}}}}})
			case "/.well-known/oauth-authorization-server":
				json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"})
			case "/token":
				tokens++
				http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			default:
				http.NotFound(w, r)
			}
		}))
		w, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.ReceiveOffer("openid-credential-offer://?credential_offer=" + url.QueryEscape(`{"credential_issuer":"`+srv.URL+
			`","credential_configuration_ids":["a"],"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c"}}}`))
		srv.Close()
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, ErrIssuer)) || tokens != 0 {
			t.Errorf("%s: %v (token requests %d), want ok %v", c.name, err, tokens, c.ok)
		}
	}
}

// TestAcceptOfferTxCode: an offer with a tx_code object, even an empty
// one, is redeemed only with a transaction code (OID4VCI 1.0 §6.1: it
// "MUST be present if a tx_code object was present in the Credential
// Offer (including if the object was empty)"), and an offer without one
// is not sent the holder's code: both refused before the token endpoint
// hears anything.
func TestAcceptOfferTxCode(t *testing.T) {
	for _, c := range []struct {
		name, txObject, txCode string
		ok                     bool
	}{
		{"required, none given", `,"tx_code":{"length":6}`, "", false},
		{"empty object, none given", `,"tx_code":{}`, "", false},
		{"none asked, one given", "", "123456", false},
		{"required, given", `,"tx_code":{"length":6}`, "123456", true},
		{"none asked, none given", "", "", true},
	} {
		var srv *httptest.Server
		var tokens []string
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			switch r.URL.Path {
			case "/.well-known/openid-credential-issuer":
				json.NewEncoder(w).Encode(map[string]any{"credential_issuer": srv.URL, "credential_endpoint": srv.URL + "/credential",
					"credential_configurations_supported": map[string]any{"a": map[string]any{"format": "dc+sd-jwt",
						"proof_types_supported": map[string]any{"jwt": map[string]any{"proof_signing_alg_values_supported": []string{"SM2"}}}}}})
			case "/.well-known/oauth-authorization-server":
				json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"})
			case "/token":
				r.ParseForm()
				tokens = append(tokens, r.PostForm.Get("tx_code"))
				http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			default:
				http.NotFound(w, r)
			}
		}))
		w, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
		if err != nil {
			t.Fatal(err)
		}
		offer, err := w.ReceiveOffer("openid-credential-offer://?credential_offer=" + url.QueryEscape(`{"credential_issuer":"`+srv.URL+
			`","credential_configuration_ids":["a"],"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"c"`+c.txObject+`}}}`))
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.AcceptOffer(offer, "", c.txCode, 1, NewMemoryStore())
		srv.Close()
		switch {
		case !c.ok && (!errors.Is(err, ErrInvalidArgument) || len(tokens) != 0):
			t.Errorf("%s: %v, token requests %q; want ErrInvalidArgument before any", c.name, err, tokens)
		case c.ok && (len(tokens) != 1 || tokens[0] != c.txCode):
			t.Errorf("%s: %v, token requests %q; want one with tx_code %q", c.name, err, tokens, c.txCode)
		}
	}
}
