package wallet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

// TestRequestObjectTyp: the request object's typ must be
// oauth-authz-req+jwt (RFC 9101 §10.8) and the attestation's
// verifier-attestation+jwt (OpenID4VP 1.0 §5.9.3); either JWT with
// another typ, or none, is refused.
func TestRequestObjectTyp(t *testing.T) {
	const responseURI = "https://rp.example/response"
	for _, which := range []string{"ro", "att"} {
		for _, typ := range []any{"JWT", nil} {
			_, err := resolveAttested(t, nil, responseURI, func(w string, h map[string]any) {
				if w == which {
					if typ == nil {
						delete(h, "typ")
					} else {
						h["typ"] = typ
					}
				}
			})
			if !errors.Is(err, ErrPresentationRequest) {
				t.Errorf("%s typ %v: %v, want ErrPresentationRequest", which, typ, err)
			}
		}
	}
}

// TestRequestObjectClaims: a request object under a trusted attestation
// is refused when its client_id is not verifier_attestation: and the
// attestation's sub (OpenID4VP 1.0 §5.9.3), the attestation has no sub,
// response_type is not vp_token, or it has no nonce (§5.2: REQUIRED).
func TestRequestObjectClaims(t *testing.T) {
	if _, err := resolveEdited(t, nil, nil, ""); err != nil {
		t.Fatalf("unchanged: %v", err)
	}
	for name, c := range map[string]struct{ att, ro func(jwt.MapClaims) }{
		"client_id of another sub": {ro: func(c jwt.MapClaims) { c["client_id"] = "verifier_attestation:other" }},
		"no sub":                   {att: func(c jwt.MapClaims) { delete(c, "sub") }, ro: func(c jwt.MapClaims) { c["client_id"] = "verifier_attestation:" }},
		"response_type code":       {ro: func(c jwt.MapClaims) { c["response_type"] = "code" }},
		"no nonce":                 {ro: func(c jwt.MapClaims) { delete(c, "nonce") }},
	} {
		if _, err := resolveEdited(t, c.att, c.ro, ""); !errors.Is(err, ErrPresentationRequest) {
			t.Errorf("%s: %v, want ErrPresentationRequest", name, err)
		}
	}
}

// TestRequestObjectClientIDIsTheLinks: a request object whose client_id
// is not the one of the link that pointed to it is refused, as
// ResolvePresentationRequest checks ("the link's client_id is not the
// request object's").
func TestRequestObjectClientIDIsTheLinks(t *testing.T) {
	if _, err := resolveEdited(t, nil, nil, "verifier_attestation:other"); !errors.Is(err, ErrPresentationRequest) {
		t.Errorf("link of another client: %v, want ErrPresentationRequest", err)
	}
}

// resolveEdited is resolveAttested with the attestation's and the
// request object's claims changed by att and ro; the link names the
// request object's client_id unless linkClient is given.
func resolveEdited(t *testing.T, attEdit, roEdit func(jwt.MapClaims), linkClient string) (*PresentationRequest, error) {
	t.Helper()
	attesterKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rpKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attesterJWK, _ := gm.NewJWK(&attesterKey.PublicKey, "att-1")
	rpJWK, _ := gm.NewJWK(&rpKey.PublicKey, "")
	jwks, _ := json.Marshal(gm.JWKS{Keys: []gm.JWK{attesterJWK}})
	const attester = "https://attester.example"
	exp := time.Now().Add(5 * time.Minute).Unix()
	ac := jwt.MapClaims{"iss": attester, "sub": "rp", "exp": exp, "cnf": map[string]any{"jwk": rpJWK}}
	if attEdit != nil {
		attEdit(ac)
	}
	att := jwt.NewWithClaims(jwt.SigningMethodES256, ac)
	att.Header["typ"], att.Header["kid"] = "verifier-attestation+jwt", "att-1"
	attJWT, err := att.SignedString(attesterKey)
	if err != nil {
		t.Fatal(err)
	}
	rc := jwt.MapClaims{"aud": "https://self-issued.me/v2", "exp": exp,
		"client_id": "verifier_attestation:rp", "response_type": "vp_token", "response_mode": "direct_post",
		"response_uri": "https://rp.example/response", "nonce": "n", "state": "s", "dcql_query": map[string]any{"credentials": []any{map[string]any{
			"id": "res", "format": "dc+sd-jwt", "meta": map[string]any{"vct_values": []string{"v"}}}}}}
	if roEdit != nil {
		roEdit(rc)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, rc)
	tok.Header["typ"], tok.Header["jwt"] = "oauth-authz-req+jwt", attJWT
	ro, err := tok.SignedString(rpKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
		io.WriteString(w, ro)
	}))
	defer srv.Close()
	h, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	client, _ := rc["client_id"].(string)
	if linkClient != "" {
		client = linkClient
	}
	link := "openid4vp://?" + url.Values{"client_id": {client}, "request_uri": {srv.URL + "/request"}}.Encode()
	return h.ResolvePresentationRequest(link, attester, string(jwks))
}
