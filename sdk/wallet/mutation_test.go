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
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vp/dcql"
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

// TestRequestObjectSizeBound: a request object answer of more than
// maxRequestObject bytes is refused, though what is past the bound is
// only white space the wallet would trim; one of exactly the bound is
// read.
func TestRequestObjectSizeBound(t *testing.T) {
	for n, ok := range map[int]bool{maxRequestObject: true, maxRequestObject + 1: false} {
		pad := func(ro string) string { return ro + strings.Repeat("\n", n-len(ro)) }
		_, err := resolveServed(t, nil, nil, "", pad)
		if ok && err != nil || !ok && (!errors.Is(err, ErrPresentationRequest) || !strings.Contains(err.Error(), "over")) {
			t.Errorf("answer of %d bytes: %v, want accepted %v", n, err, ok)
		}
	}
}

// resolveEdited is resolveAttested with the attestation's and the
// request object's claims changed by att and ro; the link names the
// request object's client_id unless linkClient is given.
func resolveEdited(t *testing.T, attEdit, roEdit func(jwt.MapClaims), linkClient string) (*PresentationRequest, error) {
	t.Helper()
	return resolveServed(t, attEdit, roEdit, linkClient, nil)
}

// resolveServed is resolveEdited whose verifier answers serve(request
// object) when serve is not nil.
func resolveServed(t *testing.T, attEdit, roEdit func(jwt.MapClaims), linkClient string, serve func(ro string) string) (*PresentationRequest, error) {
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
	if serve != nil {
		ro = serve(ro)
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

// TestRespondAnswersEveryRequiredQuery: a choice that leaves out a
// credential query the request requires (without credential_sets, every
// query; with them, a required set's option) is refused before anything
// is sent (OpenID4VP 1.0 §6.4.2); the full choice is posted.
func TestRespondAnswersEveryRequiredQuery(t *testing.T) {
	h, err := NewHolder("https://node.example", NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, err := h.CreateDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	json.Unmarshal([]byte(jwkJSON), &jwk)
	store := NewMemoryCredentials()
	store.Add("c1", fakeSDJWT(jwk))
	store.Add("c2", fakeSDJWT(jwk))
	posted := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posted++
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	const queries = `"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["urn:x"]}},
		{"id":"addr","format":"dc+sd-jwt","meta":{"vct_values":["urn:x"]}}]`
	for _, query := range []string{`{` + queries + `}`, `{` + queries + `,"credential_sets":[{"options":[["pid","addr"]]}]}`} {
		q, err := dcql.Parse([]byte(query))
		if err != nil {
			t.Fatal(err)
		}
		pr := &PresentationRequest{ClientID: "verifier_attestation:rp", ResponseURI: srv.URL, ResponseMode: "direct_post",
			nonce: "n", state: "s", query: q, holder: h}
		posted = 0
		if _, err := pr.Respond(store, "pid=c1"); !errors.Is(err, ErrInvalidArgument) || posted != 0 {
			t.Errorf("%s: pid alone: %v, %d posted; want ErrInvalidArgument and nothing sent", query, err, posted)
		}
		if _, err := pr.Respond(store, "pid=c1,addr=c2"); err != nil || posted != 1 {
			t.Errorf("%s: both: %v, %d posted", query, err, posted)
		}
	}
}
