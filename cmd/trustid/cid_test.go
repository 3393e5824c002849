package main

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

// TestControllerDocumentHostsFlag: --controller-document-hosts is off by
// default, "*" takes every host, a list takes exactly its hosts (case
// and trailing dot aside), and a value that is not a host is refused.
func TestControllerDocumentHostsFlag(t *testing.T) {
	policy := func(args ...string) (func(string) bool, error) {
		cmd := newServeCmd()
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		return controllerHosts(cmd)
	}
	if p, err := policy(); err != nil || p != nil {
		t.Fatalf("default: %v, %v", p != nil, err)
	}
	if p, err := policy("--controller-document-hosts=*"); err != nil || !p("anything.example") {
		t.Fatalf("*: %v", err)
	}
	p, err := policy("--controller-document-hosts=Issuer.Example.,203.0.113.7")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"issuer.example": true, "203.0.113.7": true, "evil.example": false, "issuer.example.evil": false} {
		if p(host) != want {
			t.Errorf("%s: %v", host, !want)
		}
	}
	if p, err := policy("--controller-document-hosts=[2001:DB8::7]"); err != nil || !p("2001:db8::7") {
		t.Errorf("an IPv6 literal: %v", err)
	}
	// A wildcard in a name, or an IPv6 literal with a port, would be
	// taken as a literal host no URL has: refused, not silently inert.
	for _, bad := range []string{"https://issuer.example", "issuer.example:8443", "*,issuer.example", "user@issuer.example",
		"*.issuer.example", "[2001:db8::7]:8443", "[issuer.example]", "[2001:db8::7"} {
		if _, err := policy("--controller-document-hosts=" + bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestVCAPIControllerDocumentPrivateHost: a node that lists a host in
// --controller-document-hosts still fetches nothing from a private
// address (here 127.0.0.1): a presentation whose holder's proof names a
// verification method there is refused unknown_key (the code of every
// Data Integrity method that cannot be resolved; the log says the
// address was refused), not a 500, and the document server sees no
// request. A credential of that issuer, which the trust registry does not
// accredit, is refused issuer_not_accredited before anything is fetched,
// whatever the address.
func TestVCAPIControllerDocumentPrivateHost(t *testing.T) {
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	mb, err := multikey.Encode(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	var doc []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/cid")
		w.Write(doc)
	}))
	defer srv.Close()
	id := srv.URL + "/issuer"
	doc, _ = json.Marshal(vc.DIDDocument{ID: id, AssertionMethod: []string{"#key-1"}, Authentication: []string{"#key-1"},
		VerificationMethod: []vc.VerificationMethod{{ID: id + "#key-1", Type: vc.TypeMultikey, Controller: id, PublicKeyMultibase: mb}}})
	cred, err := dataintegrity.SignCredential(dataintegrity.SM2RDFC2025, map[string]any{"@context": []any{vc.ContextV2},
		"type": []any{"VerifiableCredential"}, "issuer": id, "credentialSubject": map[string]any{"id": "did:example:s"}}, id+"#key-1", key)
	if err != nil {
		t.Fatal(err)
	}
	pres, err := dataintegrity.SignPresentation(dataintegrity.SM2RDFC2025, map[string]any{"@context": []any{vc.ContextV2},
		"type": []any{"VerifiablePresentation"}, "holder": id}, id+"#key-1", key, "c-1", "verifier.example", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n := startAuthNode(t, "--controller-document-hosts=127.0.0.1")
	firstCode := func(m map[string]any) any {
		if errs, _ := m["errors"].([]any); len(errs) > 0 {
			return errs[0].(map[string]any)["code"]
		}
		return nil
	}
	code, m, _ := n.do(http.MethodPost, "/credentials/verify", "", "application/json", `{"verifiableCredential":`+cred+`}`)
	if code != http.StatusBadRequest || firstCode(m) != "issuer_not_accredited" {
		t.Errorf("an unaccredited issuer's credential: %d %v", code, m)
	}
	if strings.Contains(n.logs.String(), vc.ErrAddressNotAllowed.Error()) {
		t.Errorf("the node tried to fetch an unaccredited issuer's controller document:\n%s", n.logs.String())
	}
	code, m, _ = n.do(http.MethodPost, "/presentations/verify", "", "application/json",
		`{"verifiablePresentation":`+pres+`,"options":{"challenge":"c-1","domain":"verifier.example"}}`)
	if code != http.StatusBadRequest || firstCode(m) != "unknown_key" {
		t.Errorf("a holder's controller document at a private address: %d %v", code, m)
	}
	if !strings.Contains(n.logs.String(), vc.ErrAddressNotAllowed.Error()) {
		t.Errorf("the log does not say the address was refused:\n%s", n.logs.String())
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests reached the private address", hits.Load())
	}
}
