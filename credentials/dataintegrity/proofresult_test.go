package dataintegrity_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/gm"
)

// TestProofResults: the verifier reports each proof of a set and chain
// (who signed, how, what it chains to), marks the issuer's, and
// Cryptosuite names the issuer's cryptosuite even when a co-signer's proof
// comes first and uses another one.
func TestProofResults(t *testing.T) {
	ctx := context.Background()
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgSM2)
	cosigner := newDIDKey(t, gm.AlgEdDSA)
	notary := newDIDKey(t, gm.AlgES256)
	const id1 = "urn:uuid:0f3c8a52-11d4-4c53-9a1e-6b1c2f7e9d01"
	doc := sign(t, credential(issuer.did), issuer, di.SM2RDFC2025, di.Options{ID: id1, Expires: now.Add(time.Hour)})
	doc = sign(t, doc, cosigner, di.EdDSARDFC2022, di.Options{})
	doc = sign(t, doc, notary, di.ECDSARDFC2019, di.Options{PreviousProof: []string{id1}, Created: now.Add(-time.Minute)})
	// The issuer's proof last, the co-signer's first.
	ps := doc["proof"].([]any)
	doc["proof"] = []any{ps[1], ps[2], ps[0]}
	got, err := v.VerifyCredential(ctx, marshal(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []di.ProofResult{
		{VerificationMethod: cosigner.vm, Controller: cosigner.did, Cryptosuite: di.EdDSARDFC2022, ProofPurpose: di.PurposeAssertion, Created: now.Add(-time.Hour)},
		{VerificationMethod: notary.vm, Controller: notary.did, Cryptosuite: di.ECDSARDFC2019, ProofPurpose: di.PurposeAssertion, Created: now.Add(-time.Minute), PreviousProof: []string{id1}},
		{ID: id1, VerificationMethod: issuer.vm, Controller: issuer.did, Cryptosuite: di.SM2RDFC2025, ProofPurpose: di.PurposeAssertion, Created: now.Add(-time.Hour), Expires: now.Add(time.Hour), ByController: true},
	}
	if !reflect.DeepEqual(got.Proofs, want) {
		t.Errorf("proofs:\n got %+v\nwant %+v", got.Proofs, want)
	}
	if s := di.Cryptosuite(got.Proofs); s != di.SM2RDFC2025 {
		t.Errorf("Cryptosuite = %q, want the issuer's %s", s, di.SM2RDFC2025)
	}
	// One proof: the issuer's.
	one, err := v.VerifyCredential(ctx, marshal(t, sign(t, credential(issuer.did), issuer, di.SM2RDFC2025, di.Options{})))
	if err != nil || len(one.Proofs) != 1 || !one.Proofs[0].ByController || one.Proofs[0].Controller != issuer.did {
		t.Errorf("single proof: %+v, %v", one, err)
	}
	if s := di.Cryptosuite(nil); s != "" {
		t.Errorf("Cryptosuite(nil) = %q", s)
	}
}

// TestPresentationProofResults: a presentation reports its proofs (the
// holder's, a co-signer's) and each embedded credential's.
func TestPresentationProofResults(t *testing.T) {
	ctx := context.Background()
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgSM2)
	endorser := newDIDKey(t, gm.AlgES256)
	holder := newDIDKey(t, gm.AlgEdDSA)
	witness := newDIDKey(t, gm.AlgSM2)
	vc := sign(t, credential(issuer.did), issuer, di.SM2RDFC2025, di.Options{})
	vc = sign(t, vc, endorser, di.ECDSARDFC2019, di.Options{})
	vp := map[string]any{
		"@context":             []any{"https://www.w3.org/ns/credentials/v2"},
		"type":                 []any{"VerifiablePresentation"},
		"holder":               holder.did,
		"verifiableCredential": []any{vc},
	}
	auth := di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-77", Domain: "https://verifier.example"}
	vp = sign(t, vp, witness, di.SM2RDFC2025, auth)
	vp = sign(t, vp, holder, di.EdDSARDFC2022, auth)
	p, err := v.VerifyPresentation(ctx, marshal(t, vp), di.PresentationOptions{Challenge: "c-77", Domain: "https://verifier.example", HolderBinding: di.AnyHolder})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Proofs) != 2 || p.Proofs[0].ByController || p.Proofs[0].Controller != witness.did ||
		!p.Proofs[1].ByController || p.Proofs[1].Controller != holder.did || p.Proofs[1].ProofPurpose != di.PurposeAuthentication {
		t.Errorf("presentation proofs: %+v", p.Proofs)
	}
	if s := di.Cryptosuite(p.Proofs); s != di.EdDSARDFC2022 {
		t.Errorf("presentation Cryptosuite = %q, want the holder's", s)
	}
	if len(p.Credentials) != 1 {
		t.Fatalf("%d credentials", len(p.Credentials))
	}
	cp := p.Credentials[0].Proofs
	if len(cp) != 2 || !cp[0].ByController || cp[0].Cryptosuite != di.SM2RDFC2025 || cp[1].ByController || cp[1].Controller != endorser.did {
		t.Errorf("credential proofs: %+v", cp)
	}
}

// TestChainCost: a document's proofs may name at most
// MaxCanonicalDocuments distinct previousProof sets (the same ids in
// another order are one set); AddProof will not make more, and a
// verifier refuses more with ErrChainCost before resolving any key.
func TestChainCost(t *testing.T) {
	ctx := context.Background()
	keys := make([]didKey, di.MaxCanonicalDocuments)
	for i := range keys {
		keys[i] = newDIDKey(t, gm.AlgEdDSA)
	}
	chain := longChain(t, credential(keys[0].did), keys)
	v := verifier(t)
	if _, err := v.VerifyCredential(ctx, marshal(t, chain)); err != nil {
		t.Fatalf("a chain of %d sets: %v", di.MaxCanonicalDocuments, err)
	}
	// A set already named, in another order, costs nothing more.
	var ids []string
	for _, p := range proofsOf(chain) {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	prev := slices.Clone(ids[:len(ids)-1])
	slices.Reverse(prev)
	extra := newDIDKey(t, gm.AlgSM2)
	same := sign(t, chain, extra, di.SM2RDFC2025, di.Options{PreviousProof: prev})
	if _, err := v.VerifyCredential(ctx, marshal(t, same)); err != nil {
		t.Errorf("a set named again in another order: %v", err)
	}
	// One more distinct set.
	_, err := di.AddProof(chain, extra.signer, di.Options{Cryptosuite: di.SM2RDFC2025, VerificationMethod: extra.vm, PreviousProof: ids})
	if !errors.Is(err, di.ErrChainCost) {
		t.Errorf("AddProof of a chain over the bound: %v, want ErrChainCost", err)
	}
	c := &counting{r: &credentials.Resolver{Now: func() time.Time { return now }}}
	counted, err := di.NewVerifier(di.Config{Resolver: c, Cryptosuites: di.Cryptosuites(), ProofOnly: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := counted.VerifyCredential(ctx, marshal(t, overChain(chain))); !errors.Is(err, di.ErrChainCost) {
		t.Fatalf("a chain over the bound: %v, want ErrChainCost", err)
	}
	if n := c.n.Load(); n > 0 {
		t.Errorf("%d verification methods resolved before the chain was refused", n)
	}
}
