package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/credentials/statuslist"
)

// TestVCCommands runs a node and drives the credential lifecycle through
// the CLI: an operator accredits the client, which then issues (vc+jwt
// and SD-JWT VC) under its own issuer DID; verify, present with selective
// disclosure and key binding, revoke.
func TestVCCommands(t *testing.T) {
	n := startAuthNode(t)
	key := n.addClient("rp-vc", "SM2", strings.Join([]string{auth.ScopeCredentialsIssue, auth.ScopeStatusWrite}, ","))
	t.Setenv("TRUSTID_ACCESS_TOKEN", n.token("rp-vc", key))
	ctx := context.Background()
	// Not accredited yet: refused.
	credFile := filepath.Join(n.dir, "residence.json")
	os.WriteFile(credFile, []byte(`{
  "@context": ["https://www.w3.org/ns/credentials/v2"],
  "type": ["VerifiableCredential", "ResidenceCredential"],
  "credentialSubject": {"id": "did:example:resident-3f9a1c0d7e", "region": "310000", "since": "2019-07-01"}
}`), 0o600)
	if out, _, err := run(t, ctx, "vc", "issue", credFile, "--node", n.base); err == nil || !strings.Contains(out, "issuer_not_accredited") {
		t.Fatalf("issue before accreditation: %v\n%s", err, out)
	}
	rec := n.accredit("rp-vc", "ResidenceCredential")
	issuerDID := "did:web:" + strings.ReplaceAll(strings.TrimPrefix(n.base, "http://"), ":", "%3A") + ":issuers:rp-vc"
	if !strings.Contains(rec, `"id": "`+issuerDID+`"`) || !strings.Contains(rec, `"ResidenceCredential"`) {
		t.Fatalf("issuer record:\n%s", rec)
	}
	if out, _, err := run(t, ctx, "issuers", "accredit", "--node", n.base, "--token", n.admin, "--client", "rp-vc", "--types", "IdentityCredential"); err == nil || !strings.Contains(out, "reserved_credential_type") {
		t.Fatalf("accredited for IdentityCredential: %v\n%s", err, out)
	}
	if code, body := get(t, n.base+"/issuers/rp-vc/did.json"); code != 200 || !strings.Contains(body, `"id":"`+issuerDID+`"`) || !strings.Contains(body, `"assertionMethod"`) {
		t.Fatalf("issuer DID document: %d %s", code, body)
	}
	vcRun := func(args ...string) (string, error) {
		out, errOut, err := run(t, ctx, append(append([]string{"vc"}, args...), "--node", n.base, "--data", n.dir)...)
		if err != nil {
			t.Logf("trustid vc %v: %v\n%s%s", args[0], err, out, errOut)
		}
		return out, err
	}
	out, err := vcRun("issue", credFile)
	if err != nil {
		t.Fatal(err)
	}
	issued := filepath.Join(n.dir, "issued.json")
	os.WriteFile(issued, []byte(out), 0o600)
	out, err = vcRun("verify", issued)
	if err != nil || !strings.Contains(out, `"verified": true`) {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	var v struct {
		Issuer     string
		Credential struct{ ID string } `json:"credential"`
	}
	json.Unmarshal([]byte(out), &v)
	if !strings.HasPrefix(v.Credential.ID, statuslist.CredentialIDPrefix) || v.Issuer != issuerDID {
		t.Fatalf("id %q, issuer %q", v.Credential.ID, v.Issuer)
	}

	// SD-JWT VC bound to a holder key; present only "region".
	holderKey := filepath.Join(n.dir, "holder.pem")
	if out, err = vcRun("keygen", "--alg", "ES256", "--out", holderKey); err != nil || !strings.Contains(out, "did:key:zDn") {
		t.Fatalf("keygen: %v %s", err, out)
	}
	out, err = vcRun("issue", credFile, "--format", "sd-jwt", "--holder-key", holderKey, "--raw")
	if err != nil {
		t.Fatal(err)
	}
	sdFile := filepath.Join(n.dir, "cred.sd-jwt")
	os.WriteFile(sdFile, []byte(out), 0o600)
	out, err = vcRun("present", sdFile, "--disclose", "region", "--holder-key", holderKey, "--aud", "https://rp.example", "--nonce", "n-42")
	if err != nil {
		t.Fatal(err)
	}
	presFile := filepath.Join(n.dir, "pres.txt")
	os.WriteFile(presFile, []byte(out), 0o600)
	out, err = vcRun("verify", presFile, "--presentation", "--challenge", "n-42", "--domain", "https://rp.example")
	if err != nil || !strings.Contains(out, `"region": "310000"`) || strings.Contains(out, "2019-07-01") {
		t.Fatalf("presentation: %v\n%s", err, out)
	}
	if out, err = vcRun("verify", presFile, "--presentation", "--challenge", "other", "--domain", "https://rp.example"); err == nil || !strings.Contains(out, "key_binding_nonce_mismatch") {
		t.Fatalf("wrong nonce: %v\n%s", err, out)
	}

	// Revoke the first credential.
	if out, err = vcRun("status", v.Credential.ID, "revoke"); err != nil {
		t.Fatalf("revoke: %v %s", err, out)
	}
	// The node's verifier reads its own lists directly: no cache delay.
	out, err = vcRun("verify", issued)
	if err == nil || !regexp.MustCompile(`"code": "(revoked|status_unavailable)"`).MatchString(out) {
		t.Fatalf("after revoke: %v\n%s", err, out)
	}
	if _, err = vcRun("status", v.Credential.ID, "explode"); err == nil {
		t.Fatal("bad action accepted")
	}
	// No personal attributes in the data directory.
	filepath.Walk(filepath.Join(n.dir, statusDir), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), "2019-07-01") || strings.Contains(string(b), "resident-3f9a1c0d7e") || strings.Contains(string(b), v.Credential.ID) {
				t.Errorf("%s holds credential data", p)
			}
		}
		return nil
	})
}

// TestIssueAndStatusRateClientFlags: --issue-rate-client and
// --status-rate-client reach their routes: a client limited to 2 of each
// is refused its third issuance and its third status change 429
// rate_limited with Retry-After.
func TestIssueAndStatusRateClientFlags(t *testing.T) {
	n := startAuthNode(t, "--issue-rate-client", "2/1h", "--status-rate-client", "2/1h")
	tok := n.token("civil-affairs", n.addClient("civil-affairs", "SM2", auth.ScopeCredentialsIssue+","+auth.ScopeStatusWrite))
	n.accredit("civil-affairs", "ResidenceCredential")
	body := `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
		`"credentialSubject":{"id":"did:example:resident-77c1e0","region":"310000"}}}`
	var id string
	for i := range 2 {
		code, m, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", body)
		if code != http.StatusCreated {
			t.Fatalf("issuance %d: %d %v", i+1, code, m)
		}
		id, _ = m["credentialId"].(string)
	}
	if code, m, h := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", body); code != http.StatusTooManyRequests || m["error"] != "rate_limited" || h.Get("Retry-After") == "" {
		t.Fatalf("issuance 3: %d %v, Retry-After %q; want 429 rate_limited", code, m["error"], h.Get("Retry-After"))
	}
	path := "/v1/credentials/" + url.PathEscape(id) + "/status"
	for i, action := range []string{"suspend", "reinstate"} {
		if code, m, _ := n.do(http.MethodPost, path, tok, "application/json", `{"action":"`+action+`"}`); code != http.StatusOK {
			t.Fatalf("status change %d: %d %v", i+1, code, m)
		}
	}
	if code, m, h := n.do(http.MethodPost, path, tok, "application/json", `{"action":"revoke"}`); code != http.StatusTooManyRequests || m["error"] != "rate_limited" || h.Get("Retry-After") == "" {
		t.Fatalf("status change 3: %d %v, Retry-After %q; want 429 rate_limited", code, m["error"], h.Get("Retry-After"))
	}
	// Enrollments' status changes count too, on the same budget: the
	// route had no limit (each call answered, here 404 for an enrollment
	// the client did not make).
	other := n.token("registry-office", n.addClient("registry-office", "SM2", auth.ScopeStatusWrite))
	enrollment := "/v1/enrollments/" + url.PathEscape("urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e") + "/status"
	for i := range 2 {
		if code, m, _ := n.do(http.MethodPost, enrollment, other, "application/json", `{"action":"revoke"}`); code != http.StatusNotFound {
			t.Fatalf("enrollment status change %d: %d %v, want 404", i+1, code, m)
		}
	}
	for _, p := range []string{enrollment, path} {
		if code, m, h := n.do(http.MethodPost, p, other, "application/json", `{"action":"revoke"}`); code != http.StatusTooManyRequests || m["error"] != "rate_limited" || h.Get("Retry-After") == "" {
			t.Fatalf("status change 3 at %s: %d %v, Retry-After %q; want 429 rate_limited", p, code, m["error"], h.Get("Retry-After"))
		}
	}
}
