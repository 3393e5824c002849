package dataintegrity_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/gm"
)

// TestUnsignedKeywordKey: a key json-gold v0.9.1 treats as a
// (framing) keyword, added to a signed credential after signing, is
// dropped by expansion: the proof still verifies and the "verified"
// credential carries the unsigned data.
func TestUnsignedKeywordKey(t *testing.T) {
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgEdDSA)
	signed := sign(t, credential(issuer.did), issuer, di.EdDSARDFC2022, di.Options{})
	for _, kw := range []string{"@null", "@once", "@always", "@never", "@last", "@none", "@default", "@preserve"} {
		forged := clone(t, signed)
		forged["credentialSubject"].(map[string]any)[kw] = map[string]any{"name": "Mallory", "role": "admin"}
		got, err := v.VerifyCredential(context.Background(), marshal(t, forged))
		if err == nil {
			t.Errorf("%s: unsigned content verified: credentialSubject=%v", kw, got.Document["credentialSubject"])
		}
	}
}

// counting wraps the real resolver and counts resolutions.
type counting struct {
	r *credentials.Resolver
	n atomic.Int32
}

func (c *counting) ResolveKey(ctx context.Context, controller, vm string) (crypto.PublicKey, error) {
	c.n.Add(1)
	return c.r.ResolveKey(ctx, controller, vm)
}

func (c *counting) ResolveKeyFor(ctx context.Context, controller, vm, rel string) (crypto.PublicKey, error) {
	c.n.Add(1)
	return c.r.ResolveKeyFor(ctx, controller, vm, rel)
}

// TestIssuerProofBeforeResolving: a set in which no proof is the
// issuer's is refused only after every co-signer's verification method
// was resolved (did:web: an HTTPS fetch each) and every proof's document
// canonicalized.
func TestIssuerProofBeforeResolving(t *testing.T) {
	c := &counting{r: &credentials.Resolver{Now: func() time.Time { return now }}}
	v, err := di.NewVerifier(di.Config{Resolver: c, Cryptosuites: di.Cryptosuites(), ProofOnly: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	doc := credential("did:web:issuer.example")
	for range di.MaxProofs {
		k := newDIDKey(t, gm.AlgEdDSA)
		doc = sign(t, doc, k, di.EdDSARDFC2022, di.Options{})
	}
	_, err = v.VerifyCredential(context.Background(), marshal(t, doc))
	if !errors.Is(err, di.ErrVerificationMethod) {
		t.Fatalf("%v", err)
	}
	if n := c.n.Load(); n > 0 {
		t.Errorf("no proof is the issuer's, yet %d verification methods were resolved (and every signature checked) before refusing", n)
	}
}

// BenchmarkProofChainCost: the costliest chain a verifier accepts
// (MaxCanonicalDocuments distinct previousProof sets, each naming a large
// proof, so each costs its own canonicalization of the large document)
// against one proof on the same document, and a document with more
// distinct sets, refused before any canonicalization.
func BenchmarkProofChainCost(b *testing.B) {
	ctx := context.Background()
	v := verifier(b)
	big := strings.Repeat("x", 20000)
	keys := make([]didKey, di.MaxCanonicalDocuments)
	for i := range keys {
		keys[i] = newDIDKey(b, gm.AlgEdDSA)
	}
	base := credential(keys[0].did)
	subj := base["credentialSubject"].(map[string]any)
	for i := range 8 {
		subj[fmt.Sprintf("k%d", i)] = big
	}
	single := sign(b, base, keys[0], di.EdDSARDFC2022, di.Options{})
	chain := longChain(b, base, keys)
	for _, c := range []struct {
		name string
		doc  map[string]any
		want error
	}{{"single-valid", single, nil}, {"chain-max-valid", chain, nil}, {"chain-over-max-refused", overChain(chain), di.ErrChainCost}} {
		data := marshal(b, c.doc)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := v.VerifyCredential(ctx, data); !errors.Is(err, c.want) {
					b.Fatal(err)
				}
			}
		})
	}
}

// longChain signs base with a chain of len(keys) proofs, each naming all
// those before it: len(keys) distinct previousProof sets.
func longChain(t testing.TB, base map[string]any, keys []didKey) map[string]any {
	t.Helper()
	doc := base
	var prev []string
	for i, k := range keys {
		id := fmt.Sprintf("urn:x:%d", i)
		doc = sign(t, doc, k, di.EdDSARDFC2022, di.Options{ID: id, PreviousProof: slices.Clone(prev)})
		prev = append(prev, id)
	}
	return doc
}

// overChain adds to chain a copy of its last proof naming every proof of
// chain: one distinct previousProof set more than a verifier accepts
// (its signature is not valid; the count is refused first).
func overChain(chain map[string]any) map[string]any {
	ps := slices.Clone(proofsOf(chain))
	last := maps.Clone(ps[len(ps)-1].(map[string]any))
	var ids []any
	for _, p := range ps {
		ids = append(ids, p.(map[string]any)["id"])
	}
	last["id"], last["previousProof"] = "urn:x:over", ids
	out := maps.Clone(chain)
	out["proof"] = append(ps, last)
	return out
}

// TestMixedProofs: things that must be refused.
func TestMixedProofs(t *testing.T) {
	ctx := context.Background()
	v := verifier(t)
	holder := newDIDKey(t, gm.AlgEdDSA)
	other := newDIDKey(t, gm.AlgSM2)
	vp := map[string]any{
		"@context": []any{"https://www.w3.org/ns/credentials/v2"},
		"type":     []any{"VerifiablePresentation"},
		"holder":   holder.did,
	}
	// holder's proof without challenge, co-signer's with it.
	noChal := sign(t, vp, holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Domain: "d"})
	set := sign(t, noChal, other, di.SM2RDFC2025, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c", Domain: "d"})
	if _, err := v.VerifyPresentation(ctx, marshal(t, set), di.PresentationOptions{Challenge: "c", Domain: "d", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, di.ErrChallenge) {
		t.Errorf("holder proof without challenge: %v", err)
	}
	// credential: issuer assertion + co-signer authentication.
	iss := newDIDKey(t, gm.AlgEdDSA)
	c := sign(t, credential(iss.did), iss, di.EdDSARDFC2022, di.Options{})
	mixed := sign(t, c, other, di.SM2RDFC2025, di.Options{ProofPurpose: di.PurposeAuthentication})
	if _, err := v.VerifyCredential(ctx, marshal(t, mixed)); !errors.Is(err, di.ErrProofPurpose) {
		t.Errorf("mixed purposes: %v", err)
	}
	// issuer proof replaced by one over a different document.
	other2 := credential(iss.did)
	other2["credentialSubject"].(map[string]any)["residence"] = map[string]any{"region": "110000"}
	diff := sign(t, other2, iss, di.EdDSARDFC2022, di.Options{})
	co := sign(t, c, other, di.SM2RDFC2025, di.Options{})
	co["proof"].([]any)[0] = diff["proof"]
	if _, err := v.VerifyCredential(ctx, marshal(t, co)); !errors.Is(err, di.ErrSignature) {
		t.Errorf("issuer proof over other data: %v", err)
	}
	// issuer proof stripped, co-signer proof kept.
	stripped := clone(t, co)
	stripped["proof"] = stripped["proof"].([]any)[1:]
	if _, err := v.VerifyCredential(ctx, marshal(t, stripped)); err == nil {
		t.Errorf("issuer proof stripped: verified")
	} else {
		t.Logf("stripped: %v", err)
	}
	// co-signer claims the issuer's DID as controller with its own did:key: impossible; a proof by
	// the issuer's DID but with a key not in it:
	fake := sign(t, c, other, di.SM2RDFC2025, di.Options{VerificationMethod: iss.vm})
	if _, err := v.VerifyCredential(ctx, marshal(t, fake)); err == nil {
		t.Errorf("foreign key under the issuer's vm: verified")
	} else {
		t.Logf("foreign key under issuer vm: %v", err)
	}
}
