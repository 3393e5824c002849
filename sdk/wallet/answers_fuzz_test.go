package wallet

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/oid4vci"
)

// FuzzNodeAnswers feeds the node's answers to the wallet: a login
// session's description and an issuer's nonce answer. A description is
// refused as "not one", or read as the login.Request it names, which,
// written again as the node writes it, reads the same; a nonce answer is
// refused with ErrIssuer before any credential request, or its c_nonce is
// the nonce of the key proof the credential request carries.
func FuzzNodeAnswers(f *testing.F) {
	var body atomic.Pointer[[]byte]
	var proofNonce atomic.Pointer[string]
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, loginSessionPath), r.URL.Path == "/nonce":
			w.Write(*body.Load())
		case r.URL.Path == "/.well-known/openid-credential-issuer":
			json.NewEncoder(w).Encode(map[string]any{"credential_issuer": srv.URL, "credential_endpoint": srv.URL + "/credential", "nonce_endpoint": srv.URL + "/nonce",
				"credential_configurations_supported": map[string]any{"a": map[string]any{"format": "jwt_vc_json",
					"proof_types_supported": map[string]any{"jwt": map[string]any{"proof_signing_alg_values_supported": []string{"SM2"}}}}}})
		case r.URL.Path == "/.well-known/oauth-authorization-server":
			json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"})
		case r.URL.Path == "/credential":
			var req struct {
				Proofs struct {
					JWT []string `json:"jwt"`
				} `json:"proofs"`
			}
			var claims struct {
				Nonce string `json:"nonce"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			if len(req.Proofs.JWT) == 1 {
				if parts := strings.Split(req.Proofs.JWT[0], "."); len(parts) == 3 {
					payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
					json.Unmarshal(payload, &claims)
				}
			}
			proofNonce.Store(&claims.Nonce)
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_credential_request"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	f.Cleanup(srv.Close)
	h, offer := preAuthorizedOffer(f, srv.URL)
	// Seeds: the node's login.Request and oid4vci.NonceResponse.
	for _, v := range []any{
		login.Request{ClientID: "rp", ClientName: "Shop", Claims: []string{"age_over_18"}, ACR: "L2",
			Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", ExpiresAt: time.Unix(1893456000, 0).UTC()},
		login.Request{ClientID: "bureau", ClientName: "Bureau", Purpose: "receive ResidenceCredential from bureau", Claims: []string{}, ACR: "L3",
			Challenge: "x", ExpiresAt: time.Now()},
		oid4vci.NonceResponse{CNonce: "n-1"},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"challenge":"c","claims":["a,b",""],"expires_at":"0001-01-01T00:00:00Z","c_nonce":""}`))
	f.Add([]byte(`{"c_nonce":7}`))
	f.Add([]byte(`null`))
	sessionURL := srv.URL + loginSessionPath + "s1"
	f.Fuzz(func(t *testing.T, b []byte) {
		body.Store(&b)
		req, err := h.DescribeLogin(sessionURL)
		if err != nil && !strings.HasPrefix(err.Error(), "wallet: the login session answer is not one") {
			t.Fatalf("login session refused with %v", err)
		}
		if err == nil {
			var claims []string
			if req.Claims != "" {
				claims = strings.Split(req.Claims, ",")
			}
			again, _ := json.Marshal(login.Request{ClientID: req.ClientID, ClientName: req.ClientName, Purpose: req.Purpose, Claims: claims,
				ACR: req.ACR, Challenge: req.Challenge, ExpiresAt: time.Unix(req.ExpiresAt, 0)})
			body.Store(&again)
			req2, err := h.DescribeLogin(sessionURL)
			if req.Challenge == "" || err != nil || *req2 != *req {
				t.Fatalf("login session %+v, written again as %s: %+v, %v", req, again, req2, err)
			}
			body.Store(&b)
		}
		// A fresh key store for the key the proof is made with: keys do
		// not pile up however long the fuzzer runs.
		h.keys = NewSoftwareKeys()
		proofNonce.Store(nil)
		_, _, err = h.fetchCredentials(offer, "a", "", "t", 1, NewMemoryStore())
		var want struct {
			CNonce string `json:"c_nonce"`
		}
		sent := proofNonce.Load()
		if json.Unmarshal(b, &want) != nil || want.CNonce == "" {
			if !errors.Is(err, ErrIssuer) || sent != nil {
				t.Fatalf("nonce answer %q: %v, credential request sent %v", b, err, sent != nil)
			}
			return
		}
		if sent == nil || *sent != want.CNonce {
			t.Fatalf("nonce answer %q: the key proof carries %v", b, sent)
		}
	})
}
