package cose

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"
)

// TestPresentationChecksBeforeHolderFetch: a vp+cose of a did:web holder
// is checked in everything that needs no key (the challenge, the domain,
// iat, its credentials and their binding to the holder by subject id)
// before the holder's DID document is fetched: a presentation refused
// for any of these fetches nothing (the document was fetched first). One
// that passes them fetches it once.
func TestPresentationChecksBeforeHolderFetch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	vpKey := newKey(t, "ES256")
	holder, client, fetches := didtest.ServeCounted(t, didtest.Method{Frag: "key-1", Key: vpKey, Authentication: true})
	cv, err := credentials.NewVerifier(credentials.VerifierConfig{Algorithms: []string{"ES256", "SM2"}, Resolver: &credentials.Resolver{Client: client},
		Trust: credentials.AnyIssuer{}, SkipStatus: true, KeyTTL: -1, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(cv, []string{"ES256", "SM2"})
	if err != nil {
		t.Fatal(err)
	}
	is := f.parties["SM2"]
	present := func(subject string, iat time.Time) []byte {
		doc := credentialDoc(is.did)
		doc["credentialSubject"].(map[string]any)["id"] = subject
		vc, err := SignCredential(doc, is.kid, is.key)
		if err != nil {
			t.Fatal(err)
		}
		vp := map[string]any{"@context": []any{credentials.ContextV2}, "type": "VerifiablePresentation", "holder": holder,
			"verifiableCredential": []any{Envelope(vc, MediaTypeVC)}}
		data, err := SignPresentation(vp, holder+"#key-1", credentials.PresentOptions{Challenge: "c-1", Domain: "https://rp.example", IssuedAt: iat}, vpKey)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	now := testNow.Add(-time.Minute)
	good := present(holder, now)
	for _, c := range []struct {
		name              string
		data              []byte
		challenge, domain string
		want              error
	}{
		{"another challenge", good, "c-2", "https://rp.example", credentials.ErrChallenge},
		{"another domain", good, "c-1", "https://evil.example", credentials.ErrChallenge},
		{"an old iat", present(holder, testNow.Add(-credentials.DefaultVPMaxAge-time.Minute)), "c-1", "https://rp.example", credentials.ErrExpired},
		{"another's credential", present("did:example:someone-else", now), "c-1", "https://rp.example", credentials.ErrHolderMismatch},
	} {
		if _, err := v.VerifyPresentation(ctx, c.data, c.challenge, c.domain); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if n := fetches.Load(); n != 0 {
			t.Fatalf("%s: %d fetches of the holder's DID document, want none", c.name, n)
		}
	}
	if res, err := v.VerifyPresentation(ctx, good, "c-1", "https://rp.example"); err != nil || res.Holder != holder || fetches.Load() != 1 {
		t.Errorf("a good presentation: %+v %v after %d fetches, want verified with one", res, err, fetches.Load())
	}
}

// TestPresentedCredentialsSecuredFirst: a vp+cose whose second credential
// is not secured (no EnvelopedVerifiableCredential) is refused before its
// first is verified: here its issuer, a did:web, is the holder itself,
// whose document the first credential's verification fetched before the
// refusal (invalid_credential then, invalid_presentation now).
func TestPresentedCredentialsSecuredFirst(t *testing.T) {
	ctx := context.Background()
	key := newKey(t, "ES256")
	holder, client, fetches := didtest.ServeCounted(t, didtest.Method{Frag: "key-1", Key: key, Assertion: true, Authentication: true})
	cv, err := credentials.NewVerifier(credentials.VerifierConfig{Algorithms: []string{"ES256"}, Resolver: &credentials.Resolver{Client: client},
		Trust: credentials.AnyIssuer{}, SkipStatus: true, KeyTTL: -1, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(cv, []string{"ES256"})
	if err != nil {
		t.Fatal(err)
	}
	doc := credentialDoc(holder)
	doc["credentialSubject"].(map[string]any)["id"] = holder
	vc, err := SignCredential(doc, holder+"#key-1", key)
	if err != nil {
		t.Fatal(err)
	}
	vp := map[string]any{"@context": []any{credentials.ContextV2}, "type": "VerifiablePresentation", "holder": holder,
		"verifiableCredential": []any{Envelope(vc, MediaTypeVC), credentialDoc(holder)}}
	data, err := SignPresentation(vp, holder+"#key-1", credentials.PresentOptions{Challenge: "c-1", Domain: "https://rp.example", IssuedAt: testNow.Add(-time.Minute)}, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyPresentation(ctx, data, "c-1", "https://rp.example"); !errors.Is(err, credentials.ErrInvalidPresentation) || fetches.Load() != 0 {
		t.Errorf("%v after %d fetches, want %v and none", err, fetches.Load(), credentials.ErrInvalidPresentation)
	}
}
