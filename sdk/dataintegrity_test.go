package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/sdk"
)

// TestDataIntegrityCredential: a credential an issuer hosted by a node
// secured with an sm2-rdfc-2025 proof verifies with the key of its DID
// document on the node, and is refused when tampered with, when its
// cryptosuite is not allowed, when its type is not one Nodes.Issuers
// accepts from it, and once the method's key is revoked.
func TestDataIntegrityCredential(t *testing.T) {
	h := newHostedIssuer(t)
	now := time.Now()
	ctx := context.Background()
	sign := func(types ...string) string {
		s, err := dataintegrity.SignCredential(dataintegrity.SM2RDFC2025, map[string]any{
			"@context":          []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"},
			"type":              append([]any{"VerifiableCredential"}, anys(types)...),
			"issuer":            h.did,
			"validFrom":         now.Add(-time.Hour).UTC().Format(time.RFC3339),
			"credentialSubject": map[string]any{"id": "did:example:holder", "region": "310000"},
		}, h.did+"#k", h.signer)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v, err := sdk.NewDataIntegrityVerifier(h.nodes(&now), 0, []string{dataintegrity.SM2RDFC2025})
	if err != nil {
		t.Fatal(err)
	}
	cred := sign("ResidenceCredential")
	got, err := v.VerifyCredential(ctx, []byte(cred))
	if err != nil || got.Document["issuer"] != h.did || dataintegrity.Cryptosuite(got.Proofs) != dataintegrity.SM2RDFC2025 {
		t.Fatalf("hosted issuer's credential: %+v, %v", got, err)
	}
	if _, err := v.VerifyCredential(ctx, []byte(strings.Replace(cred, `"310000"`, `"320000"`, 1))); err == nil {
		t.Error("a tampered credential verified")
	}
	if _, err := v.VerifyCredential(ctx, []byte(sign("DiplomaCredential"))); !errors.Is(err, vc.ErrNotAccredited) {
		t.Errorf("a type the issuer is not accepted for: %v, want ErrNotAccredited", err)
	}
	ecdsaOnly, err := sdk.NewDataIntegrityVerifier(h.nodes(&now), 0, []string{dataintegrity.ECDSARDFC2019})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ecdsaOnly.VerifyCredential(ctx, []byte(cred)); err == nil {
		t.Error("a cryptosuite not allowed verified")
	}
	if _, err := sdk.NewDataIntegrityVerifier(h.nodes(&now), 0, nil); err == nil {
		t.Error("no cryptosuite allow-list was accepted")
	}
	h.times = `,"revoked":"` + now.Add(-time.Minute).UTC().Format(time.RFC3339) + `"`
	fresh, _ := sdk.NewDataIntegrityVerifier(h.nodes(&now), 0, []string{dataintegrity.SM2RDFC2025})
	if _, err := fresh.VerifyCredential(ctx, []byte(cred)); err == nil {
		t.Error("a credential of a revoked key verified")
	}
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
