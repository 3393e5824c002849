package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"
	"time"

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

// TestPresentationChecksBeforeHolderFetch: a vp+jwt or vp+sd-jwt of a
// did:web holder is checked in everything that needs no key (the challenge, the domain,
// iat, its credentials' accreditation, signatures and binding to the
// holder, each credential secured) before the holder's DID document is
// fetched: a presentation refused for any of these fetches nothing. (The
// holder's document was fetched first, for each of them: anyone who can
// post to the public verify routes could make the node GET the did:web
// document of any host.) A presentation that passes them fetches it once
// (at a verifier that has not resolved it yet).
func TestPresentationChecksBeforeHolderFetch(t *testing.T) {
	ctx := context.Background()
	vpKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	holder, client, fetches := didtest.ServeCounted(t, didtest.Method{Frag: "key-1", Key: vpKey, Authentication: true})
	issuerKey, issuerDID := holderKey(t, gm.AlgES256)
	issuerKid := issuerDID + "#" + issuerDID[len("did:key:"):]
	credential := func(subject string, signer crypto.Signer) map[string]any {
		c := sampleCredential()
		c["issuer"] = issuerDID
		c["validFrom"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		c["credentialSubject"].(map[string]any)["id"] = subject
		tok, err := SignJWT(c, TypVCJWT, issuerKid, signer)
		if err != nil {
			t.Fatal(err)
		}
		return Envelope(tok, MediaTypeVCJWT)
	}
	forged, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	const rp = "https://rp.example"
	// present returns the presentation of creds as a vp+jwt and as a
	// vp+sd-jwt.
	present := func(iat time.Time, creds ...any) [2]string {
		vp := map[string]any{"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder, "verifiableCredential": creds}
		opts := PresentOptions{Challenge: "c-1", Domain: rp, IssuedAt: iat}
		tok, err := SignPresentation(vp, holder+"#key-1", opts, vpKey)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := SignPresentationSDJWT(vp, holder+"#key-1", opts, nil, rand.Reader, vpKey)
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{tok, sd}
	}
	verifier := func(trust IssuerTrust) *Verifier {
		v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: &Resolver{Client: client}, Trust: trust, SkipStatus: true, KeyTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := verifier(AnyIssuer{})
	mine := credential(holder, issuerKey)
	good := present(time.Now(), mine)
	for _, c := range []struct {
		name         string
		v            *Verifier
		toks         [2]string
		challenge, d string
		want         error
	}{
		{"another challenge", v, good, "c-2", rp, ErrChallenge},
		{"another domain", v, good, "c-1", "https://evil.example", ErrChallenge},
		{"an old iat", v, present(time.Now().Add(-DefaultVPMaxAge-time.Minute), mine), "c-1", rp, ErrExpired},
		{"an unaccredited issuer", verifier(&RegistryTrust{}), good, "c-1", rp, ErrNotAccredited},
		{"a forged credential", v, present(time.Now(), credential(holder, forged)), "c-1", rp, ErrSignature},
		{"another's credential", v, present(time.Now(), credential("did:example:someone-else", issuerKey)), "c-1", rp, ErrHolderMismatch},
		{"an unsecured credential", v, present(time.Now(), sampleCredential()), "c-1", rp, ErrInvalidPresentation},
	} {
		for i, verify := range []func(context.Context, string, string, string) (*PresentationResult, error){c.v.VerifyPresentation, c.v.VerifyVPSDJWT} {
			if _, err := verify(ctx, c.toks[i], c.challenge, c.d); !errors.Is(err, c.want) {
				t.Errorf("%s (%s): %v, want %v", c.name, []string{TypVPJWT, TypVPSDJWT}[i], err, c.want)
			}
			if n := fetches.Load(); n != 0 {
				t.Fatalf("%s (%s): %d fetches of the holder's DID document, want none", c.name, []string{TypVPJWT, TypVPSDJWT}[i], n)
			}
		}
	}
	if res, err := v.VerifyPresentation(ctx, good[0], "c-1", rp); err != nil || res.Holder != holder || len(res.Credentials) != 1 || fetches.Load() != 1 {
		t.Errorf("a good vp+jwt: %+v %v after %d fetches, want verified with one", res, err, fetches.Load())
	}
	if res, err := verifier(AnyIssuer{}).VerifyVPSDJWT(ctx, good[1], "c-1", rp); err != nil || res.Holder != holder || len(res.Credentials) != 1 || fetches.Load() != 2 {
		t.Errorf("a good vp+sd-jwt: %+v %v after %d fetches, want verified with one more", res, err, fetches.Load())
	}
}

// TestPresentedCredentialsSecuredFirst: a presentation whose second
// credential is not secured (no EnvelopedVerifiableCredential) is refused
// before its first is verified: here its issuer, a did:web, is the holder
// itself, whose document the first credential's verification fetched
// before the refusal. Each form of presentation (vp+jwt, vp+sd-jwt).
func TestPresentedCredentialsSecuredFirst(t *testing.T) {
	ctx := context.Background()
	key, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	holder, client, fetches := didtest.ServeCounted(t, didtest.Method{Frag: "key-1", Key: key, Assertion: true, Authentication: true})
	c := sampleCredential()
	c["issuer"] = holder
	c["validFrom"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	c["credentialSubject"].(map[string]any)["id"] = holder
	tok, err := SignJWT(c, TypVCJWT, holder+"#key-1", key)
	if err != nil {
		t.Fatal(err)
	}
	vp := map[string]any{"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder,
		"verifiableCredential": []any{Envelope(tok, MediaTypeVCJWT), sampleCredential()}}
	opts := PresentOptions{Challenge: "c-1", Domain: "https://rp.example", IssuedAt: time.Now()}
	vpJWT, err := SignPresentation(vp, holder+"#key-1", opts, key)
	if err != nil {
		t.Fatal(err)
	}
	vpSD, err := SignPresentationSDJWT(vp, holder+"#key-1", opts, nil, rand.Reader, key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: &Resolver{Client: client}, Trust: AnyIssuer{}, SkipStatus: true, KeyTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyPresentation(ctx, vpJWT, opts.Challenge, opts.Domain); !errors.Is(err, ErrInvalidPresentation) || fetches.Load() != 0 {
		t.Errorf("vp+jwt: %v after %d fetches, want %v and none", err, fetches.Load(), ErrInvalidPresentation)
	}
	if _, err := v.VerifyVPSDJWT(ctx, vpSD, opts.Challenge, opts.Domain); !errors.Is(err, ErrInvalidPresentation) || fetches.Load() != 0 {
		t.Errorf("vp+sd-jwt: %v after %d fetches, want %v and none", err, fetches.Load(), ErrInvalidPresentation)
	}
}
