package cose

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"
)

// TestPresentedCredentialBindingBeforeIssuerFetch: a credential whose
// subject is not the holder, in a vp+cose (a vc+cose, a vc+jwt) or, as a
// vc+cose, in a vp+jwt (through the credentials.Verifier's Envelopes), is
// refused holder_mismatch before it is verified: its subject is read from
// the credential as sent, needing no key; it was checked only once the
// credential verified, its issuer's key resolved (here a did:web issuer:
// a fetch from the host it names). The holder's own credentials verify
// as before, one fetch each.
func TestPresentedCredentialBindingBeforeIssuerFetch(t *testing.T) {
	ctx := context.Background()
	issuerKey := newKey(t, "ES256")
	issuer, client, fetches := didtest.ServeCounted(t, didtest.Method{Frag: "key-1", Key: issuerKey, Assertion: true})
	holderSigner := newKey(t, "ES256")
	holder, err := credentials.DIDKey(holderSigner.Public())
	if err != nil {
		t.Fatal(err)
	}
	holderKid := holder + "#" + holder[len("did:key:"):]
	doc := func(subject string) map[string]any {
		d := credentialDoc(issuer)
		d["credentialSubject"].(map[string]any)["id"] = subject
		return d
	}
	vcCOSE := func(subject string) map[string]any {
		data, err := SignCredential(doc(subject), issuer+"#key-1", issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		return Envelope(data, MediaTypeVC)
	}
	vcJWT := func(subject string) map[string]any {
		tok, err := credentials.SignJWT(doc(subject), credentials.TypVCJWT, issuer+"#key-1", issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		return credentials.Envelope(tok, credentials.MediaTypeVCJWT)
	}
	vp := func(c map[string]any) map[string]any {
		return map[string]any{"@context": []any{credentials.ContextV2}, "type": "VerifiablePresentation", "holder": holder, "verifiableCredential": []any{c}}
	}
	opts := credentials.PresentOptions{Challenge: "c-1", Domain: "https://rp.example", IssuedAt: testNow.Add(-time.Minute)}
	// Each verification has verifiers of its own: the Resolver caches the
	// documents it fetched.
	verifiers := func() (*credentials.Verifier, *Verifier) {
		env, err := EnvelopeVerifier([]string{"ES256"})
		if err != nil {
			t.Fatal(err)
		}
		cv, err := credentials.NewVerifier(credentials.VerifierConfig{Algorithms: []string{"ES256"}, Resolver: &credentials.Resolver{Client: client},
			Trust: credentials.AnyIssuer{}, SkipStatus: true, KeyTTL: -1, Now: func() time.Time { return testNow },
			Envelopes: map[string]credentials.EnvelopeVerifier{MediaTypeVC: env}})
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(cv, []string{"ES256"})
		if err != nil {
			t.Fatal(err)
		}
		return cv, v
	}
	for _, c := range []struct {
		name    string
		present func(subject string) (*credentials.PresentationResult, error)
	}{
		{"a vc+cose in a vp+cose", func(s string) (*credentials.PresentationResult, error) {
			data, err := SignPresentation(vp(vcCOSE(s)), holderKid, opts, holderSigner)
			if err != nil {
				t.Fatal(err)
			}
			_, v := verifiers()
			return v.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain)
		}},
		{"a vc+jwt in a vp+cose", func(s string) (*credentials.PresentationResult, error) {
			data, err := SignPresentation(vp(vcJWT(s)), holderKid, opts, holderSigner)
			if err != nil {
				t.Fatal(err)
			}
			_, v := verifiers()
			return v.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain)
		}},
		{"a vc+cose in a vp+jwt", func(s string) (*credentials.PresentationResult, error) {
			tok, err := credentials.SignPresentation(vp(vcCOSE(s)), holderKid, opts, holderSigner)
			if err != nil {
				t.Fatal(err)
			}
			cv, _ := verifiers()
			return cv.VerifyPresentation(ctx, tok, opts.Challenge, opts.Domain)
		}},
	} {
		fetches.Store(0)
		if _, err := c.present("did:example:someone-else"); !errors.Is(err, credentials.ErrHolderMismatch) || fetches.Load() != 0 {
			t.Errorf("%s, another's: %v after %d fetches of its issuer's document, want %v and none", c.name, err, fetches.Load(), credentials.ErrHolderMismatch)
		}
		fetches.Store(0)
		if res, err := c.present(holder); err != nil || len(res.Credentials) != 1 || fetches.Load() != 1 {
			t.Errorf("%s, the holder's: %v after %d fetches, want verified after one", c.name, err, fetches.Load())
		}
	}
}
