package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/cose"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"

	"github.com/trustid-cn/trustid/gm"
)

// plainResolver is a KeyResolver that cannot check a verification
// relationship (no ResolveKeyFor).
type plainResolver struct{ KeyResolver }

// TestPresentationVerificationRelationship: a presentation of every
// securing mechanism (vp+jwt, vp+sd-jwt, vp+cose) is signed by a key in
// its holder's authentication relationship, as Data Integrity proofs
// are: a did:web holder's key listed only in assertionMethod is refused;
// a resolver that cannot check the relationship takes only did:key (and
// did:jwk) holders.
func TestPresentationVerificationRelationship(t *testing.T) {
	ctx := context.Background()
	assertKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	authKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	did, client := didtest.Serve(t, didtest.Method{Frag: "assert", Key: assertKey, Assertion: true},
		didtest.Method{Frag: "auth", Key: authKey, Authentication: true})
	resolver := &Resolver{Client: client}
	verifiers := func(r KeyResolver) (*Verifier, *cose.Verifier) {
		t.Helper()
		v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: r, Trust: AnyIssuer{}, SkipStatus: true})
		if err != nil {
			t.Fatal(err)
		}
		cv, err := cose.NewVerifier(v, allAlgs)
		if err != nil {
			t.Fatal(err)
		}
		return v, cv
	}
	const challenge, domain = "c-17", "https://rp.example"
	opts := PresentOptions{Challenge: challenge, Domain: domain, IssuedAt: time.Now()}
	mechanisms := map[string]func(v *Verifier, cv *cose.Verifier, holder, kid string, k crypto.Signer) error{
		"vp+jwt": func(v *Verifier, _ *cose.Verifier, holder, kid string, k crypto.Signer) error {
			tok, err := SignPresentation(presentationOf(holder), kid, opts, k)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.VerifyPresentation(ctx, tok, challenge, domain)
			return err
		},
		"vp+sd-jwt": func(v *Verifier, _ *cose.Verifier, holder, kid string, k crypto.Signer) error {
			tok, err := SignPresentationSDJWT(presentationOf(holder), kid, opts, nil, rand.Reader, k)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.VerifyVPSDJWT(ctx, tok, challenge, domain)
			return err
		},
		"vp+cose": func(_ *Verifier, cv *cose.Verifier, holder, kid string, k crypto.Signer) error {
			data, err := cose.SignPresentation(presentationOf(holder), kid, opts, k)
			if err != nil {
				t.Fatal(err)
			}
			_, err = cv.VerifyPresentation(ctx, data, challenge, domain)
			return err
		},
	}
	keyHolder, keyDID := holderKey(t, gm.AlgES256)
	keyKid := keyDID + "#" + keyDID[len("did:key:"):]
	for name, present := range mechanisms {
		v, cv := verifiers(resolver)
		if err := present(v, cv, did, did+"#auth", authKey); err != nil {
			t.Errorf("%s: the authentication key: %v", name, err)
		}
		if err := present(v, cv, did, did+"#assert", assertKey); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: an assertionMethod key signs a presentation: %v", name, err)
		}
		// A key cached for one relationship is not taken for the other.
		if _, err := v.VerifyCredential(ctx, signedCredential(t, did, did+"#assert", assertKey)); err != nil {
			t.Errorf("%s: the assertionMethod key signs a credential: %v", name, err)
		}
		if _, err := v.VerifyCredential(ctx, signedCredential(t, did, did+"#auth", authKey)); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: the authentication key, cached, signs a credential: %v", name, err)
		}
		if err := present(v, cv, keyDID, keyKid, keyHolder); err != nil {
			t.Errorf("%s: a did:key holder: %v", name, err)
		}
		pv, pcv := verifiers(plainResolver{resolver})
		if err := present(pv, pcv, did, did+"#auth", authKey); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: a resolver without relationships took a did:web holder: %v", name, err)
		}
		if err := present(pv, pcv, did, did+"#assert", assertKey); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: a resolver without relationships took a did:web holder's assertionMethod key: %v", name, err)
		}
		if err := present(pv, pcv, keyDID, keyKid, keyHolder); err != nil {
			t.Errorf("%s: a resolver without relationships, a did:key holder: %v", name, err)
		}
	}
}

// presentationOf is an empty presentation of holder.
func presentationOf(holder string) map[string]any {
	return map[string]any{"@context": []any{ContextV2}, "type": []any{TypePresentation}, "holder": holder}
}

// signedCredential is a vc+jwt of issuer signed with k under kid.
func signedCredential(t *testing.T, issuer, kid string, k crypto.Signer) string {
	t.Helper()
	c := sampleCredential()
	c["issuer"] = issuer
	c["validFrom"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	tok, err := SignJWT(c, TypVCJWT, kid, k)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
