package sdk_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/cose"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/sdk"
)

// TestCOSECredential: a vc+cose credential the node's issuer secures
// verifies with the node's key from its JWKS, as bytes and enveloped
// (a data: URL), and is refused when tampered with, when its algorithm
// is not allowed, and once the node revokes it (its status list fetched
// from the node); a verifier without an allow-list is refused.
func TestCOSECredential(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	ctx := context.Background()
	claims, err := vc.IdentityCredential(vc.IdentityClaims{Subject: "urn:trustid:subject:example", AssuranceLevel: 3,
		Region: "310000", Name: "张三", BirthDate: "1949-12-31"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	issued, err := node.issuer.Issue(ctx, claims, issuer.IssueOptions{Format: "vc+cose"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(issued.Token)
	if err != nil {
		t.Fatal(err)
	}
	nodes := func() *sdk.Nodes { return &sdk.Nodes{Bases: []string{node.URL}, Algorithms: []string{gm.AlgSM2}} }
	v, err := sdk.NewCOSEVerifier(nodes(), 0, []string{gm.AlgSM2})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.VerifyCredential(ctx, data)
	if err != nil || c.Issuer != node.issuer.DID() {
		t.Fatalf("the node's vc+cose: %+v, %v", c, err)
	}
	got, err := v.VerifyToken(ctx, issued.Envelope())
	if err != nil || got.Format != cose.FormatVCCOSE || got.Issuer != c.Issuer {
		t.Fatalf("enveloped: %+v, %v", got, err)
	}

	tampered := append([]byte(nil), data...)
	tampered[len(tampered)-1] ^= 1 // the signature's last byte
	if _, err := v.VerifyCredential(ctx, tampered); err == nil {
		t.Error("a tampered credential verified")
	}
	es256, err := sdk.NewCOSEVerifier(nodes(), 0, []string{gm.AlgES256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es256.VerifyCredential(ctx, data); err == nil {
		t.Error("an SM2 credential verified with ES256 alone allowed")
	}
	if _, err := sdk.NewCOSEVerifier(nodes(), 0, nil); err == nil {
		t.Error("no algorithm allow-list was accepted")
	}

	if len(issued.Status) == 0 {
		t.Fatal("the credential has no status entry")
	}
	for _, ref := range issued.Status {
		if err := node.lists.Set(ctx, ref.ListID, ref.Index, status.TokenInvalid); err != nil {
			t.Fatal(err)
		}
	}
	fresh, err := sdk.NewCOSEVerifier(nodes(), 0, []string{gm.AlgSM2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.VerifyCredential(ctx, data); !errors.Is(err, vc.ErrRevoked) {
		t.Errorf("a revoked credential: %v, want ErrRevoked", err)
	}
}

// TestCOSEPresentation: a holder (a did:key) presents, as vp+cose, a
// vc+cose the node's issuer issued to it; the SDK's verifier checks the
// holder's signature, the challenge and domain and the credential, and
// refuses another challenge.
func TestCOSEPresentation(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	ctx := context.Background()
	key, err := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := vc.DIDKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	claims, err := vc.IdentityCredential(vc.IdentityClaims{Subject: holder, AssuranceLevel: 3, Region: "310000", BirthDate: "1949-12-31"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	issued, err := node.issuer.Issue(ctx, claims, issuer.IssueOptions{Format: "vc+cose"})
	if err != nil {
		t.Fatal(err)
	}
	vp := map[string]any{"@context": []any{vc.ContextV2}, "type": "VerifiablePresentation", "holder": holder,
		"verifiableCredential": []any{issued.Envelope()}}
	opts := vc.PresentOptions{Challenge: "n-0S6_WzA2Mj", Domain: "https://rp.example"}
	data, err := cose.SignPresentation(vp, holder+"#"+strings.TrimPrefix(holder, "did:key:"), opts, key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sdk.NewCOSEVerifier(&sdk.Nodes{Bases: []string{node.URL}, Algorithms: []string{gm.AlgSM2}}, 0, []string{gm.AlgSM2, gm.AlgES256})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain)
	if err != nil || res.Holder != holder || len(res.Credentials) != 1 || res.Credentials[0].Format != cose.FormatVCCOSE {
		t.Fatalf("presentation: %+v, %v", res, err)
	}
	if _, err := v.VerifyPresentation(ctx, data, "another", opts.Domain); !errors.Is(err, vc.ErrChallenge) {
		t.Errorf("another challenge: %v, want ErrChallenge", err)
	}
}
