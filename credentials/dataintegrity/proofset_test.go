package dataintegrity_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// clone deep-copies a JSON document.
func clone(t testing.TB, v map[string]any) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(marshal(t, v), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func proofsOf(doc map[string]any) []any {
	if l, ok := doc["proof"].([]any); ok {
		return l
	}
	return []any{doc["proof"]}
}

// TestProofSet: an SM2 issuer's credential co-signed by an ECDSA and an
// EdDSA did:key (VC Data Integrity 1.0 §2.1.1, §4.3): AddProof turns the
// proof into a list, each added proof signs the document alone, the set
// verifies in any order, and altering any one proof, or the document,
// fails it. A set in which no proof is the issuer's is refused.
func TestProofSet(t *testing.T) {
	ctx := context.Background()
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgSM2)
	ec := newDIDKey(t, gm.AlgES256)
	ed := newDIDKey(t, gm.AlgEdDSA)
	one := sign(t, credential(issuer.did), issuer, di.SM2RDFC2025, di.Options{})
	two := sign(t, one, ec, di.ECDSARDFC2019, di.Options{})
	three := sign(t, two, ed, di.EdDSARDFC2022, di.Options{})
	if _, ok := one["proof"].(map[string]any); !ok {
		t.Fatal("a first proof is an object")
	}
	if n := len(proofsOf(three)); n != 3 {
		t.Fatalf("%d proofs, want 3", n)
	}
	if !reflect.DeepEqual(proofsOf(two)[0], one["proof"]) {
		t.Error("AddProof changed the existing proof")
	}
	for name, doc := range map[string]map[string]any{"two": two, "three": three} {
		got, err := v.VerifyCredential(ctx, marshal(t, doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, has := got.Document["proof"]; has {
			t.Errorf("%s: the verified credential keeps its proof", name)
		}
	}
	// Unordered: reversed, it verifies the same.
	rev := clone(t, three)
	slices.Reverse(rev["proof"].([]any))
	if _, err := v.VerifyCredential(ctx, marshal(t, rev)); err != nil {
		t.Errorf("reversed set: %v", err)
	}
	// Altering any one proof fails the whole set.
	for i := range 3 {
		for _, field := range []string{"created", "proofValue"} {
			bad := clone(t, three)
			p := bad["proof"].([]any)[i].(map[string]any)
			if field == "created" {
				p["created"] = "2026-02-01T00:00:00Z"
			} else {
				other := proofsOf(three)[(i+1)%3].(map[string]any)["proofValue"]
				p["proofValue"] = other
			}
			if _, err := v.VerifyCredential(ctx, marshal(t, bad)); !errors.Is(err, di.ErrSignature) {
				t.Errorf("proof %d with another %s: %v, want ErrSignature", i, field, err)
			}
		}
	}
	bad := clone(t, three)
	bad["validFrom"] = "2025-01-01T00:00:00Z"
	if _, err := v.VerifyCredential(ctx, marshal(t, bad)); !errors.Is(err, di.ErrSignature) {
		t.Errorf("tampered document: %v", err)
	}
	// Every proof must pass the verifier's checks, not only its signature.
	if _, err := verifier(t, di.SM2RDFC2025, di.EdDSARDFC2022).VerifyCredential(ctx, marshal(t, three)); !errors.Is(err, di.ErrUnsupportedSuite) {
		t.Errorf("a proof of a suite not allowed: %v", err)
	}
	expired := sign(t, two, ed, di.EdDSARDFC2022, di.Options{Expires: now.Add(-time.Minute)})
	if _, err := v.VerifyCredential(ctx, marshal(t, expired)); !errors.Is(err, di.ErrExpired) {
		t.Errorf("an expired co-signature: %v", err)
	}
	// Without the issuer's proof, the co-signers' proofs verify but the
	// credential is not its issuer's.
	noIssuer := clone(t, three)
	noIssuer["proof"] = noIssuer["proof"].([]any)[1:]
	if _, err := v.VerifyCredential(ctx, marshal(t, noIssuer)); !errors.Is(err, di.ErrVerificationMethod) {
		t.Errorf("set without the issuer's proof: %v", err)
	}
	// At most MaxProofs: AddProof makes that many, and no more; the
	// verifier takes that many, and no more.
	many := one
	for range di.MaxProofs - 1 {
		many = sign(t, many, ed, di.EdDSARDFC2022, di.Options{})
	}
	if _, err := v.VerifyCredential(ctx, marshal(t, many)); err != nil {
		t.Errorf("%d proofs: %v", len(proofsOf(many)), err)
	}
	if _, err := di.AddProof(many, ed.signer, di.Options{Cryptosuite: di.EdDSARDFC2022, VerificationMethod: ed.vm}); !errors.Is(err, di.ErrProof) {
		t.Errorf("adding to %d proofs: %v", len(proofsOf(many)), err)
	}
	tooMany := clone(t, many)
	tooMany["proof"] = append(tooMany["proof"].([]any), tooMany["proof"].([]any)[1])
	if _, err := v.VerifyCredential(ctx, marshal(t, tooMany)); !errors.Is(err, di.ErrProof) {
		t.Errorf("%d proofs: %v", len(proofsOf(tooMany)), err)
	}
}

// TestProofSetEmptyProofList: the Add Proof Set/Chain algorithm signs the
// document with its proof set to the matching proofs, for a proof set
// none; AddProof signs the document without proof, which is the same RDF
// dataset.
func TestProofSetEmptyProofList(t *testing.T) {
	doc, err := jsonldCheck(credential("did:example:issuer"))
	if err != nil {
		t.Fatal(err)
	}
	without, err := jsonldCanonicalize(doc)
	if err != nil {
		t.Fatal(err)
	}
	doc["proof"] = []any{}
	with, err := jsonldCanonicalize(doc)
	if err != nil {
		t.Fatal(err)
	}
	if with != without {
		t.Errorf("proof: [] changes the canonical document:\n%s\nvs\n%s", with, without)
	}
}

// TestProofChain: a notary counter-signs the issuer's proof (§2.1.2): its
// proof names the issuer's by id in previousProof and secures it with the
// document, so replacing the issuer's proof by another valid one breaks
// the chain; a third proof may name several. Dangling references,
// duplicate ids and cycles are refused.
func TestProofChain(t *testing.T) {
	ctx := context.Background()
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgEdDSA)
	notary := newDIDKey(t, gm.AlgSM2)
	third := newDIDKey(t, gm.AlgES256)
	const id1, id2 = "urn:uuid:60102d04-b51e-11ed-acfe-2fcd717666a7", "urn:uuid:7d6b8a3e-0f0a-4a0e-9c55-5d3c0b4a9f10"
	first := sign(t, credential(issuer.did), issuer, di.EdDSARDFC2022, di.Options{ID: id1})
	chain := sign(t, first, notary, di.SM2RDFC2025, di.Options{ID: id2, PreviousProof: []string{id1}})
	p2 := proofsOf(chain)[1].(map[string]any)
	if p2["previousProof"] != id1 || p2["id"] != id2 {
		t.Fatalf("chained proof: %v", p2)
	}
	if _, err := v.VerifyCredential(ctx, marshal(t, chain)); err != nil {
		t.Fatalf("chain: %v", err)
	}
	both := sign(t, chain, third, di.ECDSARDFC2019, di.Options{PreviousProof: []string{id1, id2}})
	if _, err := v.VerifyCredential(ctx, marshal(t, both)); err != nil {
		t.Fatalf("chain to two proofs: %v", err)
	}

	// The notary's proof secures the issuer's: the issuer's proof
	// replaced by another one that verifies on its own breaks it.
	resigned := sign(t, credential(issuer.did), issuer, di.EdDSARDFC2022, di.Options{ID: id1, Created: now.Add(-2 * time.Hour)})
	swapped := clone(t, chain)
	swapped["proof"].([]any)[0] = resigned["proof"]
	if _, err := v.VerifyCredential(ctx, marshal(t, swapped)); !errors.Is(err, di.ErrSignature) {
		t.Errorf("previous proof swapped for another valid one: %v", err)
	}
	// The chain relation is signed: dropping previousProof fails.
	unchained := clone(t, chain)
	delete(unchained["proof"].([]any)[1].(map[string]any), "previousProof")
	if _, err := v.VerifyCredential(ctx, marshal(t, unchained)); !errors.Is(err, di.ErrSignature) {
		t.Errorf("previousProof removed: %v", err)
	}
	// A set proof made into a chained one by adding previousProof fails.
	set := sign(t, first, notary, di.SM2RDFC2025, di.Options{ID: id2})
	set["proof"].([]any)[1].(map[string]any)["previousProof"] = id1
	if _, err := v.VerifyCredential(ctx, marshal(t, set)); !errors.Is(err, di.ErrSignature) {
		t.Errorf("previousProof added after signing: %v", err)
	}

	edit := func(f func(ps []any)) []byte {
		m := clone(t, both)
		f(m["proof"].([]any))
		return marshal(t, m)
	}
	for name, data := range map[string][]byte{
		"dangling previousProof": edit(func(ps []any) {
			ps[1].(map[string]any)["previousProof"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
		}),
		"dangling in a list": edit(func(ps []any) {
			ps[2].(map[string]any)["previousProof"] = []any{id1, "urn:uuid:00000000-0000-0000-0000-000000000000"}
		}),
		"previous proof removed": func() []byte {
			m := clone(t, chain)
			m["proof"] = m["proof"].([]any)[1:]
			return marshal(t, m)
		}(),
		"duplicate ids":        edit(func(ps []any) { ps[2].(map[string]any)["id"] = id1 }),
		"cycle":                edit(func(ps []any) { ps[0].(map[string]any)["previousProof"] = id2 }),
		"self reference":       edit(func(ps []any) { ps[0].(map[string]any)["previousProof"] = id1 }),
		"same reference twice": edit(func(ps []any) { ps[2].(map[string]any)["previousProof"] = []any{id1, id1} }),
	} {
		if _, err := v.VerifyCredential(ctx, data); !errors.Is(err, di.ErrPreviousProof) {
			t.Errorf("%s: %v, want ErrPreviousProof", name, err)
		}
	}
	for name, data := range map[string][]byte{
		"previousProof a number": edit(func(ps []any) { ps[1].(map[string]any)["previousProof"] = 7 }),
		"id a number":            edit(func(ps []any) { ps[1].(map[string]any)["id"] = 7 }),
		"previousProof too long": edit(func(ps []any) {
			ids := make([]any, 5000)
			for i := range ids {
				ids[i] = fmt.Sprintf("urn:x:%d", i)
			}
			ps[2].(map[string]any)["previousProof"] = ids
		}),
	} {
		if _, err := v.VerifyCredential(ctx, data); !errors.Is(err, di.ErrProof) {
			t.Errorf("%s: %v, want ErrProof", name, err)
		}
	}

	// AddProof refuses what the verifier would.
	add := func(doc map[string]any, opts di.Options) error {
		opts.Cryptosuite, opts.VerificationMethod = di.ECDSARDFC2019, third.vm
		_, err := di.AddProof(doc, third.signer, opts)
		return err
	}
	if err := add(first, di.Options{PreviousProof: []string{"urn:uuid:00000000-0000-0000-0000-000000000000"}}); !errors.Is(err, di.ErrPreviousProof) {
		t.Errorf("adding a proof chained to a missing one: %v", err)
	}
	if err := add(credential(issuer.did), di.Options{PreviousProof: []string{id1}}); !errors.Is(err, di.ErrPreviousProof) {
		t.Errorf("chaining on a document without proof: %v", err)
	}
	if err := add(first, di.Options{ID: id1}); !errors.Is(err, di.ErrPreviousProof) {
		t.Errorf("adding a proof with a taken id: %v", err)
	}
}

// TestPresentationProofSet: each proof of a presentation's set must carry
// the verifier's challenge; one of them must be the holder's.
func TestPresentationProofSet(t *testing.T) {
	ctx := context.Background()
	v := verifier(t)
	holder := newDIDKey(t, gm.AlgEdDSA)
	other := newDIDKey(t, gm.AlgSM2)
	vp := map[string]any{
		"@context": []any{"https://www.w3.org/ns/credentials/v2"},
		"type":     []any{"VerifiablePresentation"},
		"holder":   holder.did,
	}
	auth := func(challenge string) di.Options {
		return di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: challenge, Domain: "verifier.example"}
	}
	one := sign(t, vp, holder, di.EdDSARDFC2022, auth("c-1"))
	good := sign(t, one, other, di.SM2RDFC2025, auth("c-1"))
	if _, err := v.VerifyPresentation(ctx, marshal(t, good), di.PresentationOptions{Challenge: "c-1", Domain: "verifier.example", HolderBinding: credentials.CheckSubjectIsHolder}); err != nil {
		t.Fatalf("presentation proof set: %v", err)
	}
	replayed := sign(t, one, other, di.SM2RDFC2025, auth("c-0"))
	if _, err := v.VerifyPresentation(ctx, marshal(t, replayed), di.PresentationOptions{Challenge: "c-1", Domain: "verifier.example", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, di.ErrChallenge) {
		t.Errorf("a proof of the set with another challenge: %v", err)
	}
	notHolder := sign(t, sign(t, vp, other, di.SM2RDFC2025, auth("c-1")), other, di.SM2RDFC2025, auth("c-1"))
	if _, err := v.VerifyPresentation(ctx, marshal(t, notHolder), di.PresentationOptions{Challenge: "c-1", Domain: "verifier.example", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, di.ErrVerificationMethod) {
		t.Errorf("a set without the holder's proof: %v", err)
	}
}

// BenchmarkDataIntegrityProofSet: verifying a credential with one
// eddsa-rdfc-2022 proof, a set of three (sm2-rdfc-2025 by the issuer,
// ecdsa-rdfc-2019 and eddsa-rdfc-2022 co-signers: one canonical document
// serves all three) and a chain of two (the second proof secures the first:
// two canonical documents, and proof configurations with an id, which take
// the full canonicalization rather than a template).
func BenchmarkDataIntegrityProofSet(b *testing.B) {
	ctx := context.Background()
	v := verifier(b)
	sm, ec, ed := newDIDKey(b, gm.AlgSM2), newDIDKey(b, gm.AlgES256), newDIDKey(b, gm.AlgEdDSA)
	single := sign(b, credential(ed.did), ed, di.EdDSARDFC2022, di.Options{})
	set := sign(b, sign(b, sign(b, credential(sm.did), sm, di.SM2RDFC2025, di.Options{}), ec, di.ECDSARDFC2019, di.Options{}), ed, di.EdDSARDFC2022, di.Options{})
	chain := sign(b, sign(b, credential(ed.did), ed, di.EdDSARDFC2022, di.Options{ID: "urn:uuid:1"}),
		sm, di.SM2RDFC2025, di.Options{ID: "urn:uuid:2", PreviousProof: []string{"urn:uuid:1"}})
	for _, c := range []struct {
		name string
		doc  map[string]any
	}{{"One", single}, {"Set3", set}, {"Chain2", chain}} {
		data := marshal(b, c.doc)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			stop := testenv.CPUMeter(b)
			for b.Loop() {
				if _, err := v.VerifyCredential(ctx, data); err != nil {
					b.Fatal(err)
				}
			}
			stop()
		})
	}
}
