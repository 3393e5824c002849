package credentials_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/gm"
)

func TestVCJWTRoundTrip(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{Algorithm: alg})
			parts := strings.Split(iss.Token, ".")
			if len(parts) != 3 {
				t.Fatal("not a compact JWS")
			}
			hdr := decodeHeader(t, iss.Token)
			if hdr["typ"] != "vc+jwt" || hdr["cty"] != "vc" || hdr["alg"] != alg || !strings.HasPrefix(hdr["kid"].(string), n.issuer.DID()+"#") {
				t.Fatalf("header %v", hdr)
			}
			p := decodePayload(t, iss.Token)
			if _, ok := p["vc"]; ok {
				t.Fatal("payload has a vc claim: the payload must be the credential")
			}
			if p["issuer"] != n.issuer.DID() || p["id"] != iss.ID {
				t.Fatalf("payload %v", p)
			}
			st := p["credentialStatus"].([]any)
			if len(st) != 2 {
				t.Fatalf("status %v", st)
			}
			c, err := n.verifier.VerifyCredential(ctx, iss.Token)
			if err != nil {
				t.Fatal(err)
			}
			if c.ID != iss.ID || len(c.Status) != 2 {
				t.Fatalf("verified %+v", c)
			}
			// The enveloped form verifies too.
			v, err := n.verifier.VerifyToken(ctx, iss.Envelope())
			if err != nil || v.Format != "vc+jwt" || v.Issuer != n.issuer.DID() {
				t.Fatalf("enveloped: %v %+v", err, v)
			}
		})
	}
	// Algorithms the verifier does not allow are refused.
	v, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: []string{gm.AlgES256}, Resolver: &Resolver{Local: n.issuer.Local()}, Status: n.checker, Now: n.clock.Now})
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{Algorithm: gm.AlgSM2})
	if _, err := v.VerifyCredential(ctx, iss.Token); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("SM2 with an ES256-only verifier: %v", err)
	}
	if _, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: []string{"none"}, Resolver: &Resolver{}, SkipStatus: true}); err == nil {
		t.Fatal("verifier allowing none")
	}
}

func decodeHeader(t testing.TB, tok string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	return decodePayload(t, "x."+h+".y")
}

func TestVCJWTRejects(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	k, _ := n.keys.Active(gm.AlgSM2)
	hdr := `{"alg":"SM2","typ":"vc+jwt","cty":"vc","kid":"` + n.issuer.DID() + "#" + k.Kid + `"}`
	payload := decodePayload(t, iss.Token)
	pb, _ := json.Marshal(payload)
	if tok := resign(t, hdr, string(pb), k.Signer); tok == "" {
		t.Fatal()
	} else if _, err := n.verifier.VerifyCredential(ctx, tok); err != nil {
		t.Fatalf("re-signed control: %v", err)
	}
	tampered := func() string {
		p := decodePayload(t, iss.Token)
		p["credentialSubject"].(map[string]any)["id"] = "urn:trustid:subject:someone-else"
		b, _ := json.Marshal(p)
		parts := strings.Split(iss.Token, ".")
		return parts[0] + "." + b64url(b) + "." + parts[2]
	}()
	es, _ := n.keys.Active(gm.AlgES256)
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"tampered payload", tampered, ErrSignature},
		{"wrong typ", resign(t, strings.Replace(hdr, "vc+jwt", "JWT", 1), string(pb), k.Signer), ErrType},
		{"vp typ", resign(t, strings.Replace(hdr, "vc+jwt", "vp+jwt", 1), string(pb), k.Signer), ErrType},
		{"wrong cty", resign(t, strings.Replace(hdr, `"cty":"vc"`, `"cty":"json"`, 1), string(pb), k.Signer), ErrType},
		{"alg none", b64url([]byte(`{"alg":"none","typ":"vc+jwt"}`)) + "." + b64url(pb) + ".", ErrAlgorithm},
		{"unknown alg", b64url([]byte(`{"alg":"HS256","typ":"vc+jwt","kid":"x"}`)) + "." + b64url(pb) + ".c2ln", ErrAlgorithm},
		{"alg/key mismatch", resign(t, strings.Replace(hdr, `"alg":"SM2"`, `"alg":"ES256"`, 1), string(pb), es.Signer), ErrAlgorithm},
		{"unknown kid", resign(t, strings.Replace(hdr, k.Kid, "nokey", 1), string(pb), k.Signer), ErrUnknownKey},
		{"kid of another DID", resign(t, strings.Replace(hdr, n.issuer.DID(), "did:web:evil.example", 1), string(pb), k.Signer), ErrIssuerMismatch},
		{"duplicate header key", resign(t, strings.Replace(hdr, `"cty":"vc"`, `"cty":"vc","cty":"vc"`, 1), string(pb), k.Signer), ErrMalformed},
		{"duplicate payload key", resign(t, hdr, strings.Replace(string(pb), `{`, `{"issuer":"did:web:evil.example",`, 1), k.Signer), ErrDuplicateKey},
		{"payload key repeated in another case", resign(t, hdr, strings.Replace(string(pb), `{`, `{"ISSUER":"did:web:evil.example",`, 1), k.Signer), ErrDuplicateKey},
		{"header key repeated in another case", resign(t, strings.Replace(hdr, `"cty":"vc"`, `"cty":"vc","CTY":"json"`, 1), string(pb), k.Signer), ErrMalformed},
		{"crit header", resign(t, strings.Replace(hdr, `"cty":"vc"`, `"cty":"vc","crit":["exp"]`, 1), string(pb), k.Signer), ErrMalformed},
		{"iss differs", resign(t, hdr, strings.Replace(string(pb), `{`, `{"iss":"did:web:evil.example",`, 1), k.Signer), ErrIssuerMismatch},
		{"invalid model", resign(t, hdr, strings.Replace(string(pb), `"@context":["https://www.w3.org/ns/credentials/v2",`, `"@context":[`, 1), k.Signer), ErrInvalid},
		{"two parts", "a.b", ErrMalformed},
		{"garbage", "!!!.???.***", ErrMalformed},
		{"oversized", strings.Repeat("a", MaxDocument+1), ErrMalformed},
	}
	for _, c := range cases {
		if _, err := n.verifier.VerifyCredential(ctx, c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestVCJWTValidityWindow(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	c := sampleCredential()
	c["validFrom"] = "2026-04-01T00:00:00Z"
	iss := mustIssue(t, n, c, issuer.IssueOptions{})
	if _, err := n.verifier.VerifyCredential(ctx, iss.Token); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("before validFrom: %v", err)
	}
	n.clock.Advance(60 * 24 * time.Hour)
	if _, err := n.verifier.VerifyCredential(ctx, iss.Token); err != nil {
		t.Fatalf("inside window: %v", err)
	}
	n.clock.Advance(400 * 24 * time.Hour)
	if _, err := n.verifier.VerifyCredential(ctx, iss.Token); !errors.Is(err, ErrExpired) {
		t.Fatalf("after validUntil: %v", err)
	}
}

func TestIssueRejects(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	bad := func(name string, mut func(map[string]any), opts issuer.IssueOptions, want error) {
		c := sampleCredential()
		mut(c)
		if _, err := n.issuer.Issue(ctx, c, opts); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	bad("foreign issuer", func(c map[string]any) { c["issuer"] = "did:web:other.example" }, issuer.IssueOptions{}, ErrIssuerMismatch)
	bad("status entry in the node's list", func(c map[string]any) {
		c["credentialStatus"] = map[string]any{"type": TypeBitstringStatusListEntry, "statusPurpose": PurposeRevocation, "statusListIndex": "1",
			"statusListCredential": testBase + "/status/0123456789abcdef"}
	}, issuer.IssueOptions{}, ErrInvalid)
	bad("proof given", func(c map[string]any) { c["proof"] = map[string]any{"type": "X"} }, issuer.IssueOptions{}, ErrInvalid)
	bad("no subject", func(c map[string]any) { delete(c, "credentialSubject") }, issuer.IssueOptions{}, ErrInvalid)
	bad("unknown format", func(map[string]any) {}, issuer.IssueOptions{Format: "ldp_vc"}, issuer.ErrUnknownFormat)
	bad("unknown alg", func(map[string]any) {}, issuer.IssueOptions{Algorithm: "RS256"}, ErrUnsupported)
	// The same id twice.
	c := sampleCredential()
	c["id"] = "urn:uuid:3978344f-8596-4c3a-a978-8fcaba3903c5"
	mustIssue(t, n, c, issuer.IssueOptions{})
	c2 := sampleCredential()
	c2["id"] = "urn:uuid:3978344f-8596-4c3a-a978-8fcaba3903c5"
	if _, err := n.issuer.Issue(ctx, c2, issuer.IssueOptions{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("repeated id: %v", err)
	}
}

func TestStatusRevokeSuspend(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	a := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	b := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	// Random, unrelated indices.
	if a.Status[0].Index == b.Status[0].Index || a.Status[0].Index+1 == b.Status[0].Index {
		t.Fatalf("indices look sequential: %d %d", a.Status[0].Index, b.Status[0].Index)
	}
	check := func(tok string, want error) {
		t.Helper()
		n.clock.Advance(2 * time.Minute) // past the cached list's ttl
		if _, err := n.verifier.VerifyCredential(ctx, tok); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}
	check(a.Token, nil)
	if err := n.issuer.SetStatus(ctx, a.ID, issuer.ActionSuspend); err != nil {
		t.Fatal(err)
	}
	check(a.Token, ErrSuspended)
	check(b.Token, nil)
	if err := n.issuer.SetStatus(ctx, a.ID, issuer.ActionReinstate); err != nil {
		t.Fatal(err)
	}
	check(a.Token, nil)
	if err := n.issuer.SetStatus(ctx, a.ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	check(a.Token, ErrRevoked)
	if err := n.issuer.SetStatus(ctx, a.ID, issuer.ActionReinstate); !errors.Is(err, issuer.ErrStatusConflict) {
		t.Fatalf("reinstating a revoked credential: %v", err)
	}
	if err := n.issuer.SetStatus(ctx, "urn:uuid:unknown", issuer.ActionRevoke); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if err := n.issuer.SetStatus(ctx, b.ID, "delete"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown action: %v", err)
	}
	// The served status list credential verifies and shows the bit.
	doc, tok, err := n.issuer.StatusList(ctx, a.Status[0].ListID)
	if err != nil {
		t.Fatal(err)
	}
	sub := doc["credentialSubject"].(map[string]any)
	if sub["statusPurpose"] != "revocation" || !strings.HasPrefix(sub["encodedList"].(string), "u") {
		t.Fatalf("list %v", doc)
	}
	lv, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: &Resolver{Local: n.issuer.Local()}, SkipStatus: true, Now: n.clock.Now})
	lc, err := lv.VerifyCredential(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := ParseStatusListCredential(lc, n.issuer.BaseURL()+"/status/"+a.Status[0].ListID, n.issuer.DID())
	if err != nil {
		t.Fatalf("list credential: %v", err)
	}
	if !slices.Equal(bl.Purposes, []string{"revocation"}) || !bl.Bits.Get(a.Status[0].Index) || bl.Bits.Get(b.Status[0].Index) || bl.TTL != 5*time.Minute {
		t.Fatalf("list credential: %v %v", bl.Purposes, bl.TTL)
	}
}

func TestStatusFailsClosed(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	// A verifier on another machine, with no way to reach the list.
	// Its dialer refuses every connection, so nothing leaves the machine.
	refuse := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("connection refused")
	}}}
	remote := &HTTPStatusSource{Client: refuse, Verifier: n.verifier}
	v, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: &Resolver{Local: n.issuer.Local()},
		Status: NewStatusChecker(remote, time.Minute, n.clock.Now), Now: n.clock.Now})
	ctx2, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := v.VerifyCredential(ctx2, iss.Token)
	if !errors.Is(err, ErrStatusUnavailable) {
		t.Fatalf("unreachable list: %v", err)
	}
	if !strings.Contains(err.Error(), "status list unavailable") {
		t.Fatalf("reason: %v", err)
	}
}

// TestRotation rotates the SM2 key twice and verifies credentials issued
// before each rotation; retiring the oldest key stops its credentials.
func TestRotation(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	first := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	k1, _ := n.keys.Active(gm.AlgSM2)
	if _, err := n.keys.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	second := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	if _, err := n.keys.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	third := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	kids := map[string]bool{}
	for _, tok := range []string{first.Token, second.Token, third.Token} {
		kids[decodeHeader(t, tok)["kid"].(string)] = true
		if _, err := n.verifier.VerifyCredential(ctx, tok); err != nil {
			t.Fatalf("after two rotations: %v", err)
		}
	}
	if len(kids) != 3 {
		t.Fatalf("expected three signing keys, got %v", kids)
	}
	doc, err := n.issuer.DIDDocument()
	if err != nil {
		t.Fatal(err)
	}
	sm2 := 0
	for _, vm := range doc.VerificationMethod {
		if vm.PublicKeyJwk.Crv == "SM2" {
			sm2++
		}
	}
	if sm2 != 3 || len(doc.AssertionMethod) != len(doc.VerificationMethod) {
		t.Fatalf("DID document keys: %d SM2 of %d", sm2, len(doc.VerificationMethod))
	}
	// A fresh verifier (empty key cache) after the first key retires.
	if err := n.keys.Retire(k1.Kid); err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: &Resolver{Local: n.issuer.Local()}, Status: n.checker, Now: n.clock.Now})
	if _, err := v.VerifyCredential(ctx, first.Token); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("credential of a retired key: %v", err)
	}
	if _, err := v.VerifyCredential(ctx, second.Token); err != nil {
		t.Fatal(err)
	}
	doc, _ = n.issuer.DIDDocument()
	for _, vm := range doc.VerificationMethod {
		if strings.HasSuffix(vm.ID, k1.Kid) {
			t.Fatal("retired key still published")
		}
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
