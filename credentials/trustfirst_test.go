package credentials_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"
	"github.com/trustid-cn/trustid/gm"
)

// TestUnaccreditedIssuerFetchesNothing: a verifier refuses a credential
// of an issuer its trust does not accredit, so a RegistryResolver with
// that Trust refuses the issuer's key before asking Next: anyone who can
// post to the public verify routes could otherwise make the node GET the
// did:web document of any host, only to refuse the credential once its
// signature held. An accredited issuer's key is still fetched, and so is
// a holder's (authentication), which no trust accredits.
func TestUnaccreditedIssuerFetchesNothing(t *testing.T) {
	ctx := context.Background()
	key, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	did, client, fetches := didtest.ServeCounted(t, didtest.Method{Frag: "key-1", Key: key, Assertion: true, Authentication: true})
	verifier := func(trust IssuerTrust) (*Verifier, *RegistryResolver) {
		t.Helper()
		r := &RegistryResolver{Next: &Resolver{Client: client}, Trust: trust}
		v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: r, Trust: trust, SkipStatus: true, KeyTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		return v, r
	}
	tok := signedCredential(t, did, did+"#key-1", key)

	v, r := verifier(&RegistryTrust{}) // accredits no one
	if _, err := v.VerifyCredential(ctx, tok); !errors.Is(err, ErrNotAccredited) {
		t.Errorf("an unaccredited issuer's credential: %v, want ErrNotAccredited", err)
	}
	// What Data Integrity proofs resolve through.
	if _, err := r.ResolveKeyFor(ctx, did, did+"#key-1", RelationshipAssertion); !errors.Is(err, ErrNotAccredited) {
		t.Errorf("an unaccredited issuer's key: %v, want ErrNotAccredited", err)
	}
	if n := fetches.Load(); n != 0 {
		t.Fatalf("%d fetches of an unaccredited issuer's did:web document, want none", n)
	}
	if _, err := r.ResolveKeyFor(ctx, did, did+"#key-1", RelationshipAuthentication); err != nil || fetches.Load() != 1 {
		t.Errorf("a holder's key: %v after %d fetches, want resolved with 1", err, fetches.Load())
	}

	v, _ = verifier(AnyIssuer{})
	if _, err := v.VerifyCredential(ctx, tok); err != nil || fetches.Load() != 2 {
		t.Errorf("an accredited issuer's credential: %v after %d fetches, want verified with one more", err, fetches.Load())
	}
}
