package dataintegrity_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"
	"github.com/trustid-cn/trustid/gm"
)

// TestPresentationChecksBeforeHolderFetch: a presentation of a did:web
// holder with an embedded proof is checked in everything that needs no
// key (its proof's challenge and domain, and its embedded credentials)
// before the holder's DID document is fetched: one refused for any of
// these fetches nothing (a tampered credential fetched the document
// first). One that passes them fetches it once.
func TestPresentationChecksBeforeHolderFetch(t *testing.T) {
	ctx := context.Background()
	authKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	holder, client, fetches := didtest.ServeCounted(t, didtest.Method{Frag: "auth", Key: authKey, Authentication: true})
	v, err := di.NewVerifier(di.Config{Resolver: &credentials.Resolver{Client: client, Now: func() time.Time { return now }},
		Cryptosuites: di.Cryptosuites(), ProofOnly: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	issuer := newDIDKey(t, gm.AlgSM2)
	vc := sign(t, credential(issuer.did), issuer, di.SM2RDFC2025, di.Options{})
	tampered := clone(t, vc)
	tampered["id"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
	present := func(c map[string]any) []byte {
		vp := map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"VerifiablePresentation"},
			"holder": holder, "verifiableCredential": []any{c}}
		out, err := di.SignPresentation(di.EdDSARDFC2022, vp, holder+"#auth", authKey, "c-5", "d", now.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(out)
	}
	for _, c := range []struct {
		name              string
		data              []byte
		challenge, domain string
		want              error
	}{
		{"another challenge", present(vc), "c-6", "d", di.ErrChallenge},
		{"another domain", present(vc), "c-5", "e", di.ErrDomain},
		{"a tampered credential", present(tampered), "c-5", "d", di.ErrSignature},
	} {
		if _, err := v.VerifyPresentation(ctx, c.data, di.PresentationOptions{Challenge: c.challenge, Domain: c.domain, HolderBinding: di.AnyHolder}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if n := fetches.Load(); n != 0 {
			t.Fatalf("%s: %d fetches of the holder's DID document, want none", c.name, n)
		}
	}
	// The caller's check (the node verifies enveloped credentials there)
	// sees the presentation and its verified credentials before the fetch,
	// and what it refuses fetches nothing.
	refused := errors.New("refused by the caller")
	var seen *di.Presentation
	_, err = v.VerifyPresentation(ctx, present(vc), di.PresentationOptions{Challenge: "c-5", Domain: "d", HolderBinding: di.AnyHolder, Check: func(p *di.Presentation) error {
		seen = p
		return refused
	}})
	if !errors.Is(err, refused) || seen == nil || seen.Document["holder"] != holder || len(seen.Credentials) != 1 || seen.Proofs != nil || fetches.Load() != 0 {
		t.Errorf("a check's refusal: %v, saw %+v, after %d fetches", err, seen, fetches.Load())
	}
	if p, err := v.VerifyPresentation(ctx, present(vc), di.PresentationOptions{Challenge: "c-5", Domain: "d", HolderBinding: di.AnyHolder}); err != nil || p.Holder != holder || len(p.Credentials) != 1 || fetches.Load() != 1 {
		t.Errorf("a good presentation: %+v %v after %d fetches, want verified with one", p, err, fetches.Load())
	}
}
