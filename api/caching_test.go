package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/oid4vci"
)

// TestStatusListVaryAccept: a Bitstring Status List is served as JSON,
// vc+jwt, vc+cose or with a Data Integrity proof by the Accept header,
// with "public, max-age=60"; the answer names Accept in Vary (RFC 9110
// §12.5.5), so that a shared cache keeps one representation per Accept
// and never answers a vc+jwt request with the JSON it stored for another.
func TestStatusListVaryAccept(t *testing.T) {
	e := newVCEnv(t)
	_, b := e.post(t, "/credentials/issue", issueToken, strings.Replace(credBody, "%s", "", 1))
	tok := strings.TrimPrefix(b["verifiableCredential"].(map[string]any)["id"].(string), "data:application/vc+jwt,")
	raw, _ := base64URL(strings.Split(tok, ".")[1])
	var payload map[string]any
	json.Unmarshal(raw, &payload)
	list := payload["credentialStatus"].([]any)[0].(map[string]any)["statusListCredential"].(string)
	path := strings.TrimPrefix(list, "https://node.example:8443")
	for _, accept := range []string{"", "application/vc+jwt"} {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
			t.Fatalf("Accept %q: %d, Cache-Control %q", accept, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		if !varies(resp.Header, "Accept") {
			t.Errorf("Accept %q: %s, Vary %q: a shared cache may answer another Accept with it", accept, resp.Header.Get("Content-Type"), resp.Header.Values("Vary"))
		}
	}
}

// varies reports whether h's Vary lists field (or *).
func varies(h http.Header, field string) bool {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, field) {
				return true
			}
		}
	}
	return false
}

// TestOID4VCITokenErrorsUncached: the OID4VCI token endpoint's errors
// (RFC 6749 §5.2, as OID4VCI 1.0 §6.3 says) carry Cache-Control: no-store
// and Pragma: no-cache, as its tokens do (§5.1) and as /oauth2/token's
// errors do.
func TestOID4VCITokenErrorsUncached(t *testing.T) {
	svc, srv := vciServer(t, &stubSigner{})
	for name, form := range map[string]url.Values{
		"issued":         {"grant_type": {oid4vci.GrantPreAuthorized}, "pre-authorized_code": {vciOffer(t, svc, "ResidenceCredential_sd_jwt")}},
		"unknown code":   {"grant_type": {oid4vci.GrantPreAuthorized}, "pre-authorized_code": {"not-a-code"}},
		"no grant":       {"pre-authorized_code": {"not-a-code"}},
		"bad grant type": {"grant_type": {"password"}},
	} {
		resp, err := http.PostForm(srv.URL+oid4vci.PathToken, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
			t.Errorf("%s: %d, Cache-Control %q, Pragma %q", name, resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"))
		}
	}
	// An unreadable form is refused before the grant is read.
	resp, err := http.Post(srv.URL+oid4vci.PathToken, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Pragma") != "no-cache" {
		t.Errorf("JSON body: %d, Pragma %q", resp.StatusCode, resp.Header.Get("Pragma"))
	}
}
