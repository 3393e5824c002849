package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
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

// TestKeyDocumentsRevalidated: a key rotated in signs at once
// (docs/operations.md), so the documents that list the node's keys (the
// JWKS, the node's DID document, its SD-JWT VC issuer metadata) may be
// kept by a cache only if it asks the node before each use
// (Cache-Control: no-cache, RFC 9111 §5.2.2.4): a cache allowed to answer
// from a copy for minutes would give a verifier that goes back for the
// new kid (OpenID Connect Core §10.1.1) the set without it. Asking is
// cheap: the copy's strong ETag gets 304 until the keys change, then the
// new set.
func TestKeyDocumentsRevalidated(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	v := newVCEnv(t)
	check := func(name, base, path string, rotate func()) {
		get := func(etag string) *http.Response {
			req, _ := http.NewRequest("GET", base+path, nil)
			if etag != "" {
				req.Header.Set("If-None-Match", etag)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		first := get("")
		cc, etag := first.Header.Get("Cache-Control"), first.Header.Get("ETag")
		if first.StatusCode != 200 || !strings.Contains(cc, "no-cache") || strings.Contains(cc, "max-age") {
			t.Errorf("%s: %d, Cache-Control %q: a cache may answer with it after a key is rotated in", name, first.StatusCode, cc)
		}
		if !strings.HasPrefix(etag, `"`) {
			t.Fatalf("%s: ETag %q, want a strong one", name, etag)
		}
		if again := get(etag); again.StatusCode != http.StatusNotModified || again.Header.Get("ETag") != etag || again.Header.Get("Cache-Control") != cc {
			t.Errorf("%s: revalidated: %d, ETag %q, Cache-Control %q", name, again.StatusCode, again.Header.Get("ETag"), again.Header.Get("Cache-Control"))
		}
		rotate()
		if after := get(etag); after.StatusCode != 200 || after.Header.Get("ETag") == etag {
			t.Errorf("%s after a rotation: %d, ETag %q (was %q)", name, after.StatusCode, after.Header.Get("ETag"), etag)
		}
	}
	rotate := func(ks *keystore.Store) func() {
		return func() {
			if _, err := ks.Rotate(gm.AlgSM2); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("JWKS", srv.URL, auth.JWKSPath, rotate(e.keys))
	check("DID document", v.srv.URL, "/.well-known/did.json", rotate(v.keys))
	check("jwt-vc-issuer", v.srv.URL, "/.well-known/jwt-vc-issuer", rotate(v.keys))
}

// TestKeyDocumentsIgnoreRange: the documents listing keys are served
// whole whatever Range asks (RFC 9110 §14.2, "A server MAY ignore the
// Range header field"), and say Accept-Ranges: none: a Range past the
// end is no 416 in text/plain (docs/api.md: every error body is
// {"error", "error_description"}), and no client gets a piece of a JWKS.
func TestKeyDocumentsIgnoreRange(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	v := newVCEnv(t)
	for name, u := range map[string]string{"JWKS": srv.URL + auth.JWKSPath, "DID document": v.srv.URL + "/.well-known/did.json",
		"jwt-vc-issuer": v.srv.URL + "/.well-known/jwt-vc-issuer"} {
		for _, rg := range []string{"bytes=0-9", "bytes=999999-", "bytes=0-1,4-5"} {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Range", rg)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			err = json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if resp.StatusCode != 200 || err != nil || resp.Header.Get("Accept-Ranges") != "none" {
				t.Errorf("%s, Range %s: %d, Content-Type %q, Accept-Ranges %q, %v", name, rg, resp.StatusCode,
					resp.Header.Get("Content-Type"), resp.Header.Get("Accept-Ranges"), err)
			}
		}
	}
}

// TestKeyDocumentsIfMatch: an If-Match naming no version of a document
// listing keys is 412 precondition_failed as a JSON error (RFC 9110
// §13.1.1; api/openapi.json), not an empty body labelled with the
// document's media type; one naming its ETag, or *, gets the document.
func TestKeyDocumentsIfMatch(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	v := newVCEnv(t)
	for name, u := range map[string]string{"JWKS": srv.URL + auth.JWKSPath, "DID document": v.srv.URL + "/.well-known/did.json",
		"jwt-vc-issuer": v.srv.URL + "/.well-known/jwt-vc-issuer"} {
		get := func(ifMatch string) (*http.Response, []byte) {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("If-Match", ifMatch)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp, body
		}
		resp, body := get(`"another-version"`)
		var eb errorBody
		if resp.StatusCode != http.StatusPreconditionFailed || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(body, &eb) != nil || eb.Error != CodePreconditionFailed {
			t.Errorf("%s, If-Match another version: %d %q %q, want 412 precondition_failed as JSON", name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		etag := resp.Header.Get("ETag")
		for _, m := range []string{etag, "*"} {
			if resp, body := get(m); resp.StatusCode != 200 || !json.Valid(body) {
				t.Errorf("%s, If-Match %s: %d %q, want the document", name, m, resp.StatusCode, body)
			}
		}
	}
}
