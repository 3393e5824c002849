package wallet

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// FuzzParseOffer feeds offer links and offer objects from an untrusted
// issuer (or QR code) to the wallet's parsers: they refuse what they do
// not accept with ErrInvalidArgument or ErrIssuer, never panic, and an
// accepted offer has an issuer, configurations and a code or the
// authorization_code grant.
func FuzzParseOffer(f *testing.F) {
	good := `{"credential_issuer":"https://node.example","credential_configuration_ids":["ResidenceCredential_sd_jwt"],` +
		`"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"abc","tx_code":{"input_mode":"numeric","length":6}}}}`
	f.Add("openid-credential-offer://?credential_offer=" + url.QueryEscape(good))
	f.Add("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fnode.example%2Foid4vci%2Foffers%2Fx")
	f.Add("https://wallet.example/offer?credential_offer=%7B%7D")
	f.Add("openid-credential-offer://?credential_offer=1&credential_offer_uri=2")
	f.Add(`openid-credential-offer://?credential_offer={"credential_issuer":"http://evil.example"}`)
	f.Add("openid-credential-offer://?credential_offer=" + url.QueryEscape(`{"credential_issuer":"https://node.example","credential_configuration_ids":["A_sd_jwt"],"grants":{"authorization_code":{"issuer_state":"s"}}}`))
	f.Fuzz(func(t *testing.T, link string) {
		doc, ref, err := parseOfferLink(link)
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrIssuer) {
				t.Fatalf("link error %v is neither ErrInvalidArgument nor ErrIssuer", err)
			}
			return
		}
		if ref != "" {
			if checkURL(ref) != nil {
				t.Fatalf("accepted reference %q", ref)
			}
			return
		}
		o, _, err := parseOffer(doc)
		if err != nil {
			if !errors.Is(err, ErrIssuer) {
				t.Fatalf("offer error %v is not ErrIssuer", err)
			}
			return
		}
		if o.issuer == "" || len(o.configs) == 0 || (o.code == "" && !o.authCode) || checkURL(o.issuer) != nil {
			t.Fatalf("accepted an incomplete offer: %+v", o)
		}
	})
}

// FuzzAuthorizationResponse feeds redirects (from a browser the wallet
// does not control) to the authorization response parser: it refuses
// with ErrInvalidArgument or ErrIssuer, never panics, and returns a code
// only for the expected redirect URI, state and issuer.
func FuzzAuthorizationResponse(f *testing.F) {
	const redirect, state, iss = "https://wallet.example/cb", "st", "https://node.example/oid4vci"
	f.Add("https://wallet.example/cb?code=abc&state=st&iss=https%3A%2F%2Fnode.example%2Foid4vci")
	f.Add("https://wallet.example/cb?error=access_denied&state=st&iss=https%3A%2F%2Fnode.example%2Foid4vci")
	f.Add("https://wallet.example/cb?code=abc&state=st")
	f.Add("https://evil.example/cb?code=abc&state=st")
	f.Add("https://wallet.example/cb?code=a&code=b&state=st")
	f.Add("https://wallet.example/cb?%zz")
	f.Fuzz(func(t *testing.T, got string) {
		for _, required := range []bool{false, true} {
			code, err := parseAuthorizationResponse(got, redirect, state, iss, required)
			if err != nil {
				if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrIssuer) {
					t.Fatalf("error %v is neither ErrInvalidArgument nor ErrIssuer", err)
				}
				continue
			}
			_, rawq, _ := strings.Cut(got, "?")
			rawq, _, _ = strings.Cut(rawq, "#")
			q, perr := url.ParseQuery(rawq)
			if perr != nil || code == "" || q.Get("code") != code {
				t.Fatalf("accepted %q (code %q)", got, code)
			}
			if q.Get("state") != state || q.Get("error") != "" || (required && q.Get("iss") != iss) || !strings.HasPrefix(got, redirect) {
				t.Fatalf("accepted %q", got)
			}
		}
	})
}

// FuzzIssuerMetadata feeds an issuer's metadata (ISSUER stands for the
// issuer's URL) and an offer's tx_code member to ReceiveOffer and
// AcceptOffer: metadata that names another issuer, or that requires
// encrypted credential requests or responses (OID4VCI 1.0 §12.2.4) by
// any reading of its members (a member given twice, or in another case),
// is refused with ErrIssuer; an offer taken is redeemed only with a
// transaction code exactly when its tx_code is an object (§6.1), a
// mismatch ErrInvalidArgument before the token endpoint hears anything.
func FuzzIssuerMetadata(f *testing.F) {
	var meta atomic.Pointer[[]byte]
	var tokens atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-credential-issuer":
			w.Write(*meta.Load())
		case "/.well-known/oauth-authorization-server":
			json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"})
		case "/token":
			tokens.Add(1)
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		default:
			http.NotFound(w, r)
		}
	}))
	f.Cleanup(srv.Close)
	w, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
	if err != nil {
		f.Fatal(err)
	}
	const configs = `"credential_configurations_supported":{"a":{"format":"dc+sd-jwt","proof_types_supported":{"jwt":{"proof_signing_alg_values_supported":["SM2"]}}}}`
	for _, m := range []string{
		`{"credential_issuer":"ISSUER","credential_endpoint":"ISSUER/credential",` + configs + `}`,
		`{"credential_issuer":"ISSUER","credential_endpoint":"ISSUER/credential","credential_response_encryption":{"encryption_required":true},` + configs + `}`,
		`{"credential_issuer":"ISSUER","credential_endpoint":"ISSUER/credential","credential_request_encryption":{"encryption_required":false},` + configs + `}`,
		`{"credential_issuer":"ISSUER","credential_endpoint":"ISSUER/credential","credential_response_encryption":{"encryption_required":true,"encryption_required":false},` + configs + `}`,
		`{"credential_issuer":"ISSUER","credential_endpoint":"ISSUER/credential","credential_response_encryption":{"encryption_required":true},"Credential_Response_Encryption":{"encryption_required":false},` + configs + `}`,
		`{"credential_issuer":"https://other.example","credential_issuer":"ISSUER","credential_endpoint":"ISSUER/credential",` + configs + `}`,
	} {
		for _, tx := range []string{"", `{"length":6}`, `{}`} {
			f.Add([]byte(m), tx, "123456")
			f.Add([]byte(m), tx, "")
		}
	}
	f.Add([]byte(`{"credential_issuer":"ISSUER",`+configs+`}`), "null", "")
	f.Fuzz(func(t *testing.T, m []byte, tx, txCode string) {
		m = bytes.ReplaceAll(m, []byte("ISSUER"), []byte(srv.URL))
		meta.Store(&m)
		offer := `{"credential_issuer":"` + srv.URL + `","credential_configuration_ids":["a"],"grants":{"` + grantPreAuthorized + `":{"pre-authorized_code":"c"`
		if tx != "" {
			offer += `,"tx_code":` + tx
		}
		o, err := w.ReceiveOffer("openid-credential-offer://?credential_offer=" + url.QueryEscape(offer+`}}}`))
		if err != nil {
			if !errors.Is(err, ErrIssuer) && !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if issuers, encrypted := readMetadata(m); encrypted || len(issuers) == 0 || slices.ContainsFunc(issuers, func(s string) bool { return s != srv.URL }) {
			t.Fatalf("metadata %s taken (issuers %q, encryption required %v)", m, issuers, encrypted)
		}
		var txObject map[string]any
		asked := json.Unmarshal([]byte(tx), &txObject) == nil && txObject != nil
		before := tokens.Load()
		_, err = w.AcceptOffer(o, "", txCode, 1, NewMemoryStore())
		if asked != (txCode != "") && (!errors.Is(err, ErrInvalidArgument) || tokens.Load() != before) {
			t.Fatalf("tx_code %s, code %q: %v, %d token requests", tx, txCode, err, tokens.Load()-before)
		}
	})
}

// readMetadata reads issuer metadata as any reader might: the
// credential_issuer of each top-level member named so in any case, and
// whether any credential_request_encryption or
// credential_response_encryption member (in any case, each of a name
// given twice) has an encryption_required (in any case) true.
func readMetadata(m []byte) (issuers []string, encrypted bool) {
	dec := json.NewDecoder(bytes.NewReader(m))
	members := func(dec *json.Decoder, each func(name string, dec *json.Decoder)) {
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return
			}
			each(k.(string), dec)
		}
		dec.Token()
	}
	members(dec, func(name string, dec *json.Decoder) {
		switch {
		case strings.EqualFold(name, "credential_issuer"):
			var s string
			dec.Decode(&s)
			issuers = append(issuers, s)
		case strings.EqualFold(name, "credential_request_encryption"), strings.EqualFold(name, "credential_response_encryption"):
			var raw json.RawMessage
			dec.Decode(&raw)
			members(json.NewDecoder(bytes.NewReader(raw)), func(name string, dec *json.Decoder) {
				var v any
				dec.Decode(&v)
				encrypted = encrypted || strings.EqualFold(name, "encryption_required") && v == true
			})
		default:
			var raw json.RawMessage
			dec.Decode(&raw)
		}
	})
	return issuers, encrypted
}
