package wallet

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/trustid-cn/trustid/oid4vp/dcql"
)

// TestNoRedirectFollowed: the wallet follows no HTTP redirect. A 307
// from a response_uri, a token endpoint or the node's login session
// would otherwise have Go's client send the same body to the Location:
// the presentation to a URL the attestation never named (OpenID4VP 1.0
// §5.9.3: the Wallet "MUST ensure the redirect_uri request parameter
// value exactly matches one of the redirect_uris claim entries"), the
// pre-authorized code and transaction code to another server, the PIN
// to another host than the node (docs/login.md; TestLoginNoRedirect).
// Each is ErrRedirect, and the other server hears nothing.
func TestNoRedirectFollowed(t *testing.T) {
	var mu sync.Mutex
	var heard []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		heard = append(heard, r.URL.Path+" "+string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"t","token_type":"Bearer"}`)
	}))
	defer elsewhere.Close()
	redirect := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}
	check := func(name string, err error) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if !errors.Is(err, ErrRedirect) || len(heard) != 0 {
			t.Errorf("%s: %v, the other server heard %q; want ErrRedirect and nothing sent", name, err, heard)
		}
		heard = nil
	}

	// OID4VP: the response_uri redirects.
	rp := httptest.NewServer(http.HandlerFunc(redirect))
	defer rp.Close()
	h, err := NewHolder("https://node.example", NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	q, err := dcql.Parse([]byte(`{"credentials":[{"id":"res","format":"dc+sd-jwt","meta":{"vct_values":["v"]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	pr := &PresentationRequest{ClientID: "verifier_attestation:rp", ResponseURI: rp.URL + "/response", ResponseMode: "direct_post",
		nonce: "n", state: "s", query: q, holder: h}
	check("OID4VP response", pr.Decline())

	// OID4VCI: the token endpoint redirects the pre-authorized code.
	var issuer *httptest.Server
	issuer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-credential-issuer":
			io.WriteString(w, `{"credential_issuer":"`+issuer.URL+`","credential_endpoint":"`+issuer.URL+`/credential",
				"credential_configurations_supported":{"a":{"format":"dc+sd-jwt","proof_types_supported":{"jwt":{"proof_signing_alg_values_supported":["SM2"]}}}}}`)
		case "/.well-known/oauth-authorization-server":
			io.WriteString(w, `{"issuer":"`+issuer.URL+`","token_endpoint":"`+issuer.URL+`/token"}`)
		default:
			redirect(w, r)
		}
	}))
	defer issuer.Close()
	w, offer := preAuthorizedOffer(t, issuer.URL)
	_, err = w.AcceptOffer(offer, "", "", 1, NewMemoryStore())
	check("OID4VCI token request", err)

}
