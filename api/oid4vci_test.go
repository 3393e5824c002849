package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/oid4vci"
	"github.com/trustid-cn/trustid/store"
)

// stubSigner "signs" with a fixed string (the HTTP layer is under test,
// not the signature); the calls fail picks fail as the node's signer does
// when the status list cannot take an entry now.
type stubSigner struct {
	calls atomic.Int64
	fail  func(call int64) bool
}

func (s *stubSigner) Sign(context.Context, oid4vci.SignRequest) (string, error) {
	if s.fail(s.calls.Add(1)) {
		return "", fmt.Errorf("%w: %w", oid4vci.ErrSignerUnavailable, vc.ErrStatusFull)
	}
	return "eyJhbGciOiJTTTIifQ.e30.c2ln~", nil
}

// vciServer serves OID4VCI over HTTP with signer.
func vciServer(t *testing.T, signer oid4vci.Signer) (*oid4vci.Service, *httptest.Server) {
	t.Helper()
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	base := "https://node.example"
	svc, err := oid4vci.New(oid4vci.Config{Issuer: base, Types: []oid4vci.CredentialType{{Type: "ResidenceCredential"}}, Signer: signer, Store: mem})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.MountOID4VCI(OID4VCIConfig{Service: svc}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return svc, srv
}

// vciPost posts body (a form when it is url.Values) and returns the
// status, the Retry-After header and the JSON answer.
func vciPost(t *testing.T, srv *httptest.Server, path, token string, body any) (int, string, map[string]any) {
	t.Helper()
	return vciPostAs(t, srv, path, token, "", body)
}

// vciPostAs is vciPost with the Content-Type ct (when not empty).
func vciPostAs(t *testing.T, srv *httptest.Server, path, token, ct string, body any) (int, string, map[string]any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case url.Values:
		r = strings.NewReader(b.Encode())
		if ct == "" {
			ct = "application/x-www-form-urlencoded"
		}
	case nil:
		r = strings.NewReader("")
	default:
		raw, _ := json.Marshal(b)
		r = strings.NewReader(string(raw))
	}
	if ct == "" {
		ct = "application/json"
	}
	req, _ := http.NewRequest("POST", srv.URL+path, r)
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, resp.Header.Get("Retry-After"), m
}

// vciOffer makes a pre-authorized offer of configs and returns its code.
func vciOffer(t *testing.T, svc *oid4vci.Service, configs ...string) string {
	t.Helper()
	o, err := svc.CreateOffer(context.Background(), oid4vci.OfferRequest{Client: "rp", ConfigurationIDs: configs,
		Credential: map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
			"credentialSubject": map[string]any{"region": "310000"}}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Grants map[string]struct {
			Code string `json:"pre-authorized_code"`
		}
	}
	if err := json.Unmarshal(o.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Grants[oid4vci.GrantPreAuthorized].Code
}

// vciCredentialBody is a credential request naming id by member, with one
// key proof under a fresh c_nonce, and extra members.
func vciCredentialBody(t *testing.T, srv *httptest.Server, member, id string, extra map[string]any) map[string]any {
	t.Helper()
	st, _, n := vciPost(t, srv, oid4vci.PathNonce, "", nil)
	if st != 200 {
		t.Fatalf("nonce: %d %v", st, n)
	}
	p, _ := benchProof(t, "https://node.example", n["c_nonce"].(string))
	body := map[string]any{member: id, "proofs": map[string]any{"jwt": []string{p}}}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// TestOID4VCISignerUnavailable: over HTTP, a signer that cannot sign now
// is answered 503 temporarily_unavailable with Retry-After (never 500,
// never the unrecoverable 400 credential_request_denied), and the retry
// with a fresh c_nonce under the same access token gets the credential.
func TestOID4VCISignerUnavailable(t *testing.T) {
	svc, srv := vciServer(t, &stubSigner{fail: func(n int64) bool { return n == 1 }})
	st, _, tok := vciPost(t, srv, oid4vci.PathToken, "", url.Values{"grant_type": {oid4vci.GrantPreAuthorized}, "pre-authorized_code": {vciOffer(t, svc, "ResidenceCredential_sd_jwt")}})
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	access := tok["access_token"].(string)
	st, retry, m := vciPost(t, srv, oid4vci.PathCredential, access, vciCredentialBody(t, srv, "credential_configuration_id", "ResidenceCredential_sd_jwt", nil))
	if st != http.StatusServiceUnavailable || retry == "" || m["error"] != "temporarily_unavailable" {
		t.Fatalf("signer unavailable: %d Retry-After %q %v, want 503 temporarily_unavailable with Retry-After", st, retry, m)
	}
	if st, _, m := vciPost(t, srv, oid4vci.PathCredential, access, vciCredentialBody(t, srv, "credential_configuration_id", "ResidenceCredential_sd_jwt", nil)); st != 200 {
		t.Fatalf("the retry: %d %v", st, m)
	}
}

// TestOID4VCIAuthorizationDetailsHTTP: end to end over HTTP, a
// pre-authorized token request with authorization_details (OID4VCI 1.0
// §6.1) for one of the offer's two configurations gets
// authorization_details with credential_identifiers (§6.2); the
// credential request names that identifier (§8.2), with an extension
// member the issuer ignores; credential_configuration_id and the other
// configuration are refused. An unknown type is invalid_authorization_details.
func TestOID4VCIAuthorizationDetailsHTTP(t *testing.T) {
	svc, srv := vciServer(t, &stubSigner{fail: func(int64) bool { return false }})
	const sd, jv = "ResidenceCredential_sd_jwt", "ResidenceCredential_jwt_vc_json"
	code := vciOffer(t, svc, sd, jv)
	form := func(details string) url.Values {
		return url.Values{"grant_type": {oid4vci.GrantPreAuthorized}, "pre-authorized_code": {code}, "authorization_details": {details}, "x_unknown": {"ignored"}}
	}
	if st, _, m := vciPost(t, srv, oid4vci.PathToken, "", form(`[{"type":"payment_initiation","credential_configuration_id":"`+jv+`"}]`)); st != 400 || m["error"] != "invalid_authorization_details" {
		t.Fatalf("an unknown authorization_details type: %d %v", st, m)
	}
	st, _, tok := vciPost(t, srv, oid4vci.PathToken, "", form(`[{"type":"openid_credential","credential_configuration_id":"`+jv+`","locations":["https://node.example"]}]`))
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	raw, _ := json.Marshal(tok["authorization_details"])
	if want := `[{"credential_configuration_id":"` + jv + `","credential_identifiers":["` + jv + `"],"type":"openid_credential"}]`; string(raw) != want {
		t.Fatalf("authorization_details %s, want %s", raw, want)
	}
	access := tok["access_token"].(string)
	for _, c := range []struct{ member, id, want string }{
		{"credential_configuration_id", jv, "invalid_credential_request"},
		{"credential_identifier", sd, "unknown_credential_identifier"},
	} {
		if st, _, m := vciPost(t, srv, oid4vci.PathCredential, access, vciCredentialBody(t, srv, c.member, c.id, nil)); st != 400 || m["error"] != c.want {
			t.Errorf("%s %s: %d %v, want 400 %s", c.member, c.id, st, m, c.want)
		}
	}
	st, _, m := vciPost(t, srv, oid4vci.PathCredential, access, vciCredentialBody(t, srv, "credential_identifier", jv, map[string]any{"x_extension": map[string]any{"a": 1}}))
	if st != 200 {
		t.Fatalf("credential_identifier: %d %v", st, m)
	}
	if creds, _ := m["credentials"].([]any); len(creds) != 1 {
		t.Fatalf("credentials %v", m["credentials"])
	}
	if st, _, m := vciPost(t, srv, oid4vci.PathNotification, access, map[string]any{"notification_id": m["notification_id"], "event": "credential_accepted", "x_extension": true}); st != 204 {
		t.Errorf("notification with an extension member: %d %v", st, m)
	}
}

// subjectSigner "signs" as stubSigner and keeps the subject it was asked
// to sign.
type subjectSigner struct{ got chan map[string]any }

func (s subjectSigner) Sign(_ context.Context, req oid4vci.SignRequest) (string, error) {
	s.got <- req.Credential["credentialSubject"].(map[string]any)
	return "eyJhbGciOiJTTTIifQ.e30.c2ln~", nil
}

// TestOID4VCIClaimsHTTP: end to end over HTTP, the claims of a
// pre-authorized token request's authorization_details (OID4VCI 1.0
// §5.1.1, §6.1) are granted in the token response and are all the
// subject the signer is asked for; a malformed claims description
// (Appendix B.3: one claim twice) is 400 invalid_authorization_details
// and leaves the code for the retry.
func TestOID4VCIClaimsHTTP(t *testing.T) {
	sig := subjectSigner{got: make(chan map[string]any, 1)}
	svc, srv := vciServer(t, sig)
	const sd = "ResidenceCredential_sd_jwt"
	o, err := svc.CreateOffer(context.Background(), oid4vci.OfferRequest{Client: "rp", ConfigurationIDs: []string{sd},
		Credential: map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
			"credentialSubject": map[string]any{"region": "310000", "since": "2019-07-01", "name": "张三"}}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Grants map[string]struct {
			Code string `json:"pre-authorized_code"`
		}
	}
	if err := json.Unmarshal(o.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	form := func(claims string) url.Values {
		return url.Values{"grant_type": {oid4vci.GrantPreAuthorized}, "pre-authorized_code": {doc.Grants[oid4vci.GrantPreAuthorized].Code},
			"authorization_details": {`[{"type":"openid_credential","credential_configuration_id":"` + sd + `","claims":` + claims + `}]`}}
	}
	if st, _, m := vciPost(t, srv, oid4vci.PathToken, "", form(`[{"path":["since"]},{"path":["since"]}]`)); st != 400 || m["error"] != "invalid_authorization_details" {
		t.Fatalf("one claim twice: %d %v, want 400 invalid_authorization_details", st, m)
	}
	st, _, tok := vciPost(t, srv, oid4vci.PathToken, "", form(`[{"path":["since"],"mandatory":true}]`))
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	raw, _ := json.Marshal(tok["authorization_details"])
	if want := `[{"claims":[{"mandatory":true,"path":["since"]}],"credential_configuration_id":"` + sd + `","credential_identifiers":["` + sd + `"],"type":"openid_credential"}]`; string(raw) != want {
		t.Fatalf("authorization_details %s, want %s", raw, want)
	}
	if st, _, m := vciPost(t, srv, oid4vci.PathCredential, tok["access_token"].(string), vciCredentialBody(t, srv, "credential_identifier", sd, nil)); st != 200 {
		t.Fatalf("credential: %d %v", st, m)
	}
	if got := <-sig.got; len(got) != 1 || got["since"] != "2019-07-01" {
		t.Fatalf("signed subject %v, want since alone", got)
	}
}

// TestOID4VCIMediaType: the credential and notification endpoints take
// application/json however its type and subtype are cased and with
// parameters (RFC 9110 §8.3.1: "The type and subtype tokens are
// case-insensitive"; OID4VCI 1.0 §8.2: "the media type of the request
// MUST be set to application/json"), and refuse another media type that
// merely begins like it (415).
func TestOID4VCIMediaType(t *testing.T) {
	svc, srv := vciServer(t, &stubSigner{fail: func(int64) bool { return false }})
	post := func(path, token, ct string, body any) (int, map[string]any) {
		st, _, m := vciPostAs(t, srv, path, token, ct, body)
		return st, m
	}
	const sd = "ResidenceCredential_sd_jwt"
	st, _, tok := vciPost(t, srv, oid4vci.PathToken, "", url.Values{"grant_type": {oid4vci.GrantPreAuthorized}, "pre-authorized_code": {vciOffer(t, svc, sd)}})
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	access := tok["access_token"].(string)
	for _, ct := range []string{"application/jsonx", "application/json-seq", "text/plain"} {
		if st, m := post(oid4vci.PathCredential, access, ct, vciCredentialBody(t, srv, "credential_configuration_id", sd, nil)); st != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: %d %v, want 415", ct, st, m)
		}
	}
	st, m := post(oid4vci.PathCredential, access, "Application/JSON; charset=UTF-8", vciCredentialBody(t, srv, "credential_configuration_id", sd, nil))
	if st != 200 {
		t.Fatalf("Application/JSON; charset=UTF-8: %d %v", st, m)
	}
	if st, m := post(oid4vci.PathNotification, access, "APPLICATION/JSON", map[string]any{"notification_id": m["notification_id"], "event": "credential_accepted"}); st != 204 {
		t.Errorf("notification as APPLICATION/JSON: %d %v", st, m)
	}
}

// TestOID4VCIAuthorizationHeader: the credential and notification
// endpoints read their access token as every route that takes one does
// (authheader.Credential). RFC 6750 §3.1: a request that "repeats the same
// parameter, uses more than one method for including an access token, or
// is otherwise malformed" is invalid_request, and "The resource server
// SHOULD respond with the HTTP 400 (Bad Request) status code"; both
// schemes the endpoints take are challenged (RFC 9449 §7.1, §7.2; OID4VCI
// 1.0 §8.3.1.1 answers authorization errors as RFC 6750 §3 does). No
// header, or another scheme, stays 401 invalid_token with challenges
// without an error code. (Two headers, or a scheme without a token, were
// 401 invalid_token.)
func TestOID4VCIAuthorizationHeader(t *testing.T) {
	svc, srv := vciServer(t, &stubSigner{})
	st, _, tok := vciPost(t, srv, oid4vci.PathToken, "", url.Values{"grant_type": {oid4vci.GrantPreAuthorized}, "pre-authorized_code": {vciOffer(t, svc, "ResidenceCredential_sd_jwt")}})
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	access := tok["access_token"].(string)
	algs := `algs="` + strings.Join(svc.DPoPAlgorithms(), " ") + `"`
	malformed := []string{`Bearer error="invalid_request"`, `DPoP error="invalid_request", ` + algs}
	none := []string{"Bearer", "DPoP " + algs}
	for _, path := range []string{oid4vci.PathCredential, oid4vci.PathNotification} {
		for _, c := range []struct {
			name   string
			auth   []string
			status int
			code   string
			header []string
		}{
			{"no header", nil, 401, "invalid_token", none},
			{"Basic", []string{"Basic cnA6c2VjcmV0"}, 401, "invalid_token", none},
			{"Bearer without a token", []string{"Bearer "}, 400, "invalid_request", malformed},
			{"Bearer and spaces", []string{"Bearer   "}, 400, "invalid_request", malformed},
			{"DPoP without a token", []string{"DPoP"}, 400, "invalid_request", malformed},
			{"two headers", []string{"Bearer " + access, "Bearer " + access}, 400, "invalid_request", malformed},
			{"Bearer and DPoP", []string{"Bearer " + access, "DPoP " + access}, 400, "invalid_request", malformed},
		} {
			req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			for _, v := range c.auth {
				req.Header.Add("Authorization", v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if h := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != c.status || m["error"] != c.code || !slices.Equal(h, c.header) {
				t.Errorf("%s, %s: %d %v %q, want %d %s %q", path, c.name, resp.StatusCode, m["error"], h, c.status, c.code, c.header)
			}
		}
	}
}
