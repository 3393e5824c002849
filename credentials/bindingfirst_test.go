package credentials_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"
	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
)

// TestPresentedCredentialBindingBeforeIssuerFetch: a vp+jwt's or
// vp+sd-jwt's credential whose subject is not the holder (a vc+jwt's
// credentialSubject.id, a vc+sd-jwt's selectively disclosed one, a
// dc+sd-jwt's disclosed sub) is refused holder_mismatch before it is
// verified: the subject is read from the credential as sent, needing no
// key; it was checked only once the credential verified, its issuer's key
// resolved (here a did:web issuer: a fetch from the host it names). The
// holder's own credentials verify as before, one fetch each. One bound to
// the holder's key (cnf) passes that check where the presentation gives
// the holder's key (a vp+jwt), not where it gives none (a Data Integrity
// presentation: CheckPresentedWithoutKey).
func TestPresentedCredentialBindingBeforeIssuerFetch(t *testing.T) {
	ctx := context.Background()
	issuerKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	issuerDID, client, fetches := didtest.ServeCounted(t, didtest.Method{Frag: "key-1", Key: issuerKey, Assertion: true})
	holderSigner, holder := holderKey(t, gm.AlgES256)
	sign := func(payload map[string]any, typ string, frame *sdjwt.Frame) string {
		concealed, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(payload, frame)
		if err != nil {
			t.Fatal(err)
		}
		hdr := map[string]any{"typ": typ, "kid": issuerDID + "#key-1"}
		if typ != TypSDJWTVC {
			hdr["cty"] = CtyVC
		}
		tok, err := jose.Sign(concealed, hdr, issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		if frame == nil {
			return tok
		}
		return sdjwt.Serialize(tok, ds)
	}
	// cnf, when given (at most one), is the key the credential is bound to.
	w3c := func(subject string, cnf ...gm.JWK) map[string]any {
		c := sampleCredential()
		c["issuer"] = issuerDID
		c["validFrom"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		c["credentialSubject"].(map[string]any)["id"] = subject
		for _, k := range cnf {
			c["cnf"] = map[string]any{"jwk": k}
		}
		return c
	}
	credentials := map[string]func(subject string, cnf ...gm.JWK) map[string]any{
		"vc+jwt": func(s string, cnf ...gm.JWK) map[string]any {
			return Envelope(sign(w3c(s, cnf...), TypVCJWT, nil), MediaTypeVCJWT)
		},
		"vc+sd-jwt": func(s string, cnf ...gm.JWK) map[string]any {
			frame := &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{"credentialSubject": {SD: []string{"id"}}}}
			return Envelope(sign(w3c(s, cnf...), TypVCSDJWT, frame), MediaTypeVCSDJWT)
		},
		"dc+sd-jwt": func(s string, cnf ...gm.JWK) map[string]any {
			claims := map[string]any{"iss": issuerDID, "vct": "https://credentials.example/residence", "iat": time.Now().Unix(), "sub": s, "region": "310000"}
			for _, k := range cnf {
				claims["cnf"] = map[string]any{"jwk": k}
			}
			return Envelope(sign(claims, TypSDJWTVC, &sdjwt.Frame{SD: []string{"sub", "region"}}), MediaTypeSDJWT)
		},
	}
	holderJWK, err := gm.NewJWK(holderSigner.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	// Each verification has a verifier of its own: the Resolver caches
	// the documents it fetched.
	verifier := func() *Verifier {
		v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: &Resolver{Client: client}, Trust: AnyIssuer{}, SkipStatus: true, KeyTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const rp = "https://rp.example"
	for name, credential := range credentials {
		present := func(c map[string]any) [2]string {
			vp := map[string]any{"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder, "verifiableCredential": []any{c}}
			opts := PresentOptions{Challenge: "c-1", Domain: rp, IssuedAt: time.Now()}
			kid := holder + "#" + holder[len("did:key:"):]
			tok, err := SignPresentation(vp, kid, opts, holderSigner)
			if err != nil {
				t.Fatal(err)
			}
			sd, err := SignPresentationSDJWT(vp, kid, opts, nil, rand.Reader, holderSigner)
			if err != nil {
				t.Fatal(err)
			}
			return [2]string{tok, sd}
		}
		others, mine := present(credential("did:example:someone-else")), present(credential(holder))
		for i, form := range []string{TypVPJWT, TypVPSDJWT} {
			verify := func(tok string) (*PresentationResult, error) {
				if form == TypVPJWT {
					return verifier().VerifyPresentation(ctx, tok, "c-1", rp)
				}
				return verifier().VerifyVPSDJWT(ctx, tok, "c-1", rp)
			}
			fetches.Store(0)
			if _, err := verify(others[i]); !errors.Is(err, ErrHolderMismatch) || fetches.Load() != 0 {
				t.Errorf("%s in a %s, another's: %v after %d fetches of its issuer's document, want %v and none", name, form, err, fetches.Load(), ErrHolderMismatch)
			}
			fetches.Store(0)
			if res, err := verify(mine[i]); err != nil || len(res.Credentials) != 1 || fetches.Load() != 1 {
				t.Errorf("%s in a %s, the holder's: %v after %d fetches, want verified after one", name, form, err, fetches.Load())
			}
		}
		// Bound to the holder's key: a vp+jwt confirms it once verified; a
		// presentation that yields no holder's key (Data Integrity) never
		// can, so it is refused as sent.
		bound, v := credential(holder, holderJWK), verifier()
		if err := v.CheckPresentedSubject(bound, holder); err != nil {
			t.Errorf("%s bound to the holder's key, where the presentation gives it: %v", name, err)
		}
		if err := v.CheckPresentedWithoutKey(bound, holder); !errors.Is(err, ErrHolderMismatch) {
			t.Errorf("%s bound to the holder's key, where the presentation gives none: %v, want %v", name, err, ErrHolderMismatch)
		}
		if err := v.CheckPresentedWithoutKey(credential(holder), holder); err != nil {
			t.Errorf("%s of the holder's, bound to no key, where the presentation gives none: %v", name, err)
		}
	}
}
