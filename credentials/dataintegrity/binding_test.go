package dataintegrity_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

// signRaw signs doc with a proof built by hand (for proof values AddProof
// does not write, such as a set of domains or a time in another lexical
// form): every property of proof but proofValue is signed.
func signRaw(t testing.TB, doc map[string]any, k didKey, proof map[string]any) map[string]any {
	t.Helper()
	hashData, err := di.HashData(doc, proof, proof["cryptosuite"].(string), k.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.signer.Sign(rand.Reader, hashData, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	out := clone(t, doc)
	p := clone(t, proof)
	p["proofValue"] = "z" + multikey.Base58Encode(sig)
	out["proof"] = p
	return out
}

// TestDomainSet: a proof's domain may be a set of strings, and the
// verifier's domain must be the same set (VC Data Integrity 1.0 §4.4,
// "If domain was given, and it does not contain the same strings as
// proof.domain (treating a single string as a set containing just that
// string), an error MUST be raised"): a proof made for a verifier and
// others is not this verifier's alone, and is refused.
func TestDomainSet(t *testing.T) {
	v := verifier(t)
	holder := newDIDKey(t, gm.AlgEdDSA)
	vp := map[string]any{
		"@context": []any{"https://www.w3.org/ns/credentials/v2"},
		"type":     []any{"VerifiablePresentation"},
		"holder":   holder.did,
	}
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		domain any
		want   error
	}{
		{"one string", "https://verifier.example", nil},
		{"a set of one", []any{"https://verifier.example"}, nil},
		{"the same string twice", []any{"https://verifier.example", "https://verifier.example"}, nil},
		{"a set with another verifier", []any{"https://verifier.example", "https://other.example"}, di.ErrDomain},
		{"another verifier first", []any{"https://other.example", "https://verifier.example"}, di.ErrDomain},
		{"another verifier", "https://other.example", di.ErrDomain},
	} {
		signed := signRaw(t, vp, holder, map[string]any{
			"type": di.ProofType, "cryptosuite": di.EdDSARDFC2022, "proofPurpose": di.PurposeAuthentication,
			"verificationMethod": holder.vm, "created": now.Add(-time.Minute).Format(time.RFC3339),
			"challenge": "c-1f8e", "domain": c.domain,
		})
		if _, err := v.VerifyPresentation(ctx, marshal(t, signed), "c-1f8e", "https://verifier.example"); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
