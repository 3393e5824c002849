package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
)

// vcSDJWT secures a credential for holder as vc+sd-jwt, issued by the
// node, its subject's region selectively disclosable.
func vcSDJWT(t testing.TB, n *node, holder string) string {
	t.Helper()
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{
		"@context": []any{ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
		"issuer": n.issuer.DID(), "validFrom": FormatTime(n.clock.Now()),
		"credentialSubject": map[string]any{"id": holder, "region": "310000"},
	}
	payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(doc, &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{"credentialSubject": {SD: []string{"region"}}}})
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := jose.Sign(payload, map[string]any{"typ": TypVCSDJWT, "cty": CtyVC, "kid": n.issuer.DID() + "#" + k.Kid}, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return sdjwt.Serialize(jwt, ds)
}

// TestPresentationVPSDJWT: a presentation secured with SD-JWT
// (application/vp+sd-jwt) verifies, with its enveloped vc+sd-jwt and
// vc+jwt credentials, bound to the challenge and domain in its payload or
// by a KB-JWT; tampering, a wrong typ, another challenge or domain, and
// credentials that do not verify are refused.
func TestPresentationVPSDJWT(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	const rp, nonce = "https://rp.example", "challenge-1"
	for _, alg := range allAlgs {
		holder, did := holderKey(t, alg)
		kid := did + "#" + did[len("did:key:"):]
		sdvc := vcSDJWT(t, n, did)
		jwtvc := mustIssue(t, n, holderCredential(did), issuer.IssueOptions{})
		vp := map[string]any{
			"@context": []any{ContextV2},
			"type":     []any{"VerifiablePresentation"},
			"holder":   did,
			"verifiableCredential": []any{
				Envelope(sdvc, MediaTypeVCSDJWT),
				jwtvc.Envelope(),
			},
		}
		opts := PresentOptions{Challenge: nonce, Domain: rp, IssuedAt: n.clock.Now()}
		// The enveloped credentials themselves selectively disclosable, as
		// in VC-JOSE-COSE's example.
		frame := &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{"verifiableCredential": {Elements: []int{1}}}}
		tok, err := SignPresentationSDJWT(vp, kid, opts, frame, rand.Reader, holder)
		if err != nil {
			t.Fatal(err)
		}
		res, err := n.verifier.VerifyVPSDJWT(ctx, tok, nonce, rp)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if res.Holder != did || len(res.Credentials) != 2 || res.Credentials[0].Format != TypVCSDJWT || res.Credentials[1].Format != TypVCJWT {
			t.Fatalf("%s: %+v", alg, res)
		}
		if sub, _ := res.Credentials[0].Credential["credentialSubject"].(map[string]any); sub["region"] != "310000" {
			t.Fatalf("%s: disclosed credential %v", alg, res.Credentials[0].Credential)
		}
		// Through the envelope, as POST /presentations/verify gets it.
		mt, inner, err := Unenvelope(Envelope(tok, MediaTypeVPSDJWT))
		if err != nil || mt != MediaTypeVPSDJWT || inner != tok {
			t.Fatalf("envelope: %q %v", mt, err)
		}
		// Leaving the second credential's disclosure out is the holder's
		// right: one credential is presented.
		withoutLast := tok[:strings.LastIndexByte(tok[:len(tok)-1], '~')+1]
		if res, err := n.verifier.VerifyVPSDJWT(ctx, withoutLast, nonce, rp); err != nil || len(res.Credentials) != 1 {
			t.Fatalf("%s: one disclosure left out: %v", alg, err)
		}

		for _, c := range []struct {
			name              string
			tok               string
			challenge, domain string
			want              error
		}{
			{"another challenge", tok, "challenge-2", rp, ErrChallenge},
			{"another domain", tok, nonce, "https://evil.example", ErrChallenge},
			{"no challenge", tok, "", rp, ErrChallenge},
			{"foreign disclosure", tok + "WyJ4IiwicmVnaW9uIiwiMzIwMDAwIl0~", nonce, rp, sdjwt.ErrUnmatched},
			{"tampered signature", flipSignature(t, tok), nonce, rp, ErrSignature},
		} {
			if _, err := n.verifier.VerifyVPSDJWT(ctx, c.tok, c.challenge, c.domain); !errors.Is(err, c.want) {
				t.Errorf("%s: %s: %v, want %v", alg, c.name, err, c.want)
			}
		}

		// typ: vp+sd-jwt or absent (VC-JOSE-COSE: SHOULD); anything else,
		// a credential's typ included, is refused. cty vp or application/vp.
		for _, h := range []struct {
			header map[string]any
			want   error
		}{
			{map[string]any{"kid": kid}, nil},
			{map[string]any{"kid": kid, "typ": TypVPSDJWT, "cty": "application/vp"}, nil},
			{map[string]any{"kid": kid, "typ": TypVCSDJWT}, ErrType},
			{map[string]any{"kid": kid, "typ": TypVPJWT}, ErrType},
			{map[string]any{"kid": kid, "typ": TypSDJWTVC}, ErrType},
			{map[string]any{"kid": kid, "typ": TypVPSDJWT, "cty": CtyVC}, ErrType},
		} {
			tok := signVPSDJWT(t, vp, opts, h.header, holder)
			if _, err := n.verifier.VerifyVPSDJWT(ctx, tok, nonce, rp); !errors.Is(err, h.want) || (h.want == nil && err != nil) {
				t.Errorf("%s: header %v: %v, want %v", alg, h.header, err, h.want)
			}
		}

		// Too old (payload iat), and a kid of another DID.
		n.clock.Advance(DefaultVPMaxAge + time.Minute)
		if _, err := n.verifier.VerifyVPSDJWT(ctx, tok, nonce, rp); !errors.Is(err, ErrExpired) {
			t.Errorf("%s: old presentation: %v", alg, err)
		}
		opts.IssuedAt = n.clock.Now()
		other, otherDID := holderKey(t, alg)
		otherKid := otherDID + "#" + otherDID[len("did:key:"):]
		if _, err := n.verifier.VerifyVPSDJWT(ctx, signVPSDJWT(t, vp, opts, map[string]any{"kid": otherKid, "typ": TypVPSDJWT}, other), nonce, rp); !errors.Is(err, ErrIssuerMismatch) {
			t.Errorf("%s: kid of another DID: %v", alg, err)
		}
		// Someone else's credential; a revoked one.
		theirs := Envelope(vcSDJWT(t, n, otherDID), MediaTypeVCSDJWT)
		vp["verifiableCredential"] = []any{theirs}
		if _, err := n.verifier.VerifyVPSDJWT(ctx, signVPSDJWT(t, vp, opts, map[string]any{"kid": kid}, holder), nonce, rp); !errors.Is(err, ErrHolderMismatch) {
			t.Errorf("%s: another holder's credential: %v", alg, err)
		}
		vp["verifiableCredential"] = []any{jwtvc.Envelope()}
		if err := n.issuer.SetStatus(ctx, jwtvc.ID, issuer.ActionRevoke); err != nil {
			t.Fatal(err)
		}
		n.clock.Advance(2 * time.Minute)
		opts.IssuedAt = n.clock.Now()
		if _, err := n.verifier.VerifyVPSDJWT(ctx, signVPSDJWT(t, vp, opts, map[string]any{"kid": kid}, holder), nonce, rp); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s: revoked credential: %v", alg, err)
		}
		// A bare (unenveloped) credential is not secured.
		vp["verifiableCredential"] = []any{holderCredential(did)}
		if _, err := n.verifier.VerifyVPSDJWT(ctx, signVPSDJWT(t, vp, opts, map[string]any{"kid": kid}, holder), nonce, rp); !errors.Is(err, ErrInvalidPresentation) {
			t.Errorf("%s: unsecured credential: %v", alg, err)
		}
	}
}

// TestPresentationVPSDJWTKeyBinding: a vp+sd-jwt may be bound to the
// verifier by a KB-JWT (RFC 9901) instead of nonce and aud in its
// payload; the KB-JWT's nonce, aud and sd_hash are then checked.
func TestPresentationVPSDJWTKeyBinding(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	const rp = "https://rp.example"
	holder, did := holderKey(t, gm.AlgES256)
	kid := did + "#" + did[len("did:key:"):]
	hj, err := gm.NewJWK(holder.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	jwkMap := toJSON(t, map[string]any{"jwk": hj})
	vp := map[string]any{
		"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": did,
		"verifiableCredential": []any{Envelope(vcSDJWT(t, n, did), MediaTypeVCSDJWT)},
		"cnf":                  jwkMap,
		"iat":                  n.clock.Now().Unix(),
	}
	jwt, err := jose.Sign(vp, map[string]any{"typ": TypVPSDJWT, "kid": kid}, holder)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := sdjwt.Split(jwt + "~")
	if err != nil {
		t.Fatal(err)
	}
	present := func(nonce, aud string) string {
		tok, err := sd.Present(func(*sdjwt.Disclosure) bool { return true },
			&sdjwt.KeyBinding{Signer: holder, Audience: aud, Nonce: nonce, IssuedAt: n.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present("n-1", rp), "n-1", rp); err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present("n-1", rp), "n-2", rp); !errors.Is(err, sdjwt.ErrNonce) {
		t.Errorf("KB-JWT for another nonce: %v", err)
	}
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present("n-1", "https://evil.example"), "n-1", rp); !errors.Is(err, sdjwt.ErrAudience) {
		t.Errorf("KB-JWT for another audience: %v", err)
	}
	// Without a KB-JWT and without nonce/aud in the payload: unbound.
	if _, err := n.verifier.VerifyVPSDJWT(ctx, jwt+"~", "n-1", rp); !errors.Is(err, ErrChallenge) {
		t.Errorf("unbound presentation: %v", err)
	}
}

// TestUnrequiredKeyBindingIgnored: RFC 9901 §7.3, "Determine if Key
// Binding is to be checked according to the Verifier's policy for the use
// case at hand. This decision MUST NOT be based on whether or not a Key
// Binding JWT is provided by the Holder", and its KB-JWT checks apply "If
// Key Binding is required". A vp+sd-jwt whose payload binds it (nonce,
// aud, iat) needs no key binding, and a vc+sd-jwt verified alone asks for
// none: each was refused for a KB-JWT sent with it (here one made for
// another verifier), which is now not checked. A vp+sd-jwt whose payload
// lacks iat still needs its KB-JWT, which is checked.
func TestUnrequiredKeyBindingIgnored(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	const rp, nonce = "https://rp.example", "n-1"
	holder, did := holderKey(t, gm.AlgES256)
	kid := did + "#" + did[len("did:key:"):]
	hj, err := gm.NewJWK(holder.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	withKB := func(issued string) string {
		t.Helper()
		sd, err := sdjwt.Split(issued)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := sd.Present(func(*sdjwt.Disclosure) bool { return true },
			&sdjwt.KeyBinding{Signer: holder, Audience: "https://other.example", Nonce: "n-other", IssuedAt: n.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	vp := map[string]any{
		"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": did,
		"verifiableCredential": []any{Envelope(vcSDJWT(t, n, did), MediaTypeVCSDJWT)},
		"cnf":                  toJSON(t, map[string]any{"jwk": hj}),
		"nonce":                nonce, "aud": rp, "iat": n.clock.Now().Unix(),
	}
	sign := func(doc map[string]any) string {
		jwt, err := jose.Sign(doc, map[string]any{"typ": TypVPSDJWT, "kid": kid}, holder)
		if err != nil {
			t.Fatal(err)
		}
		return jwt + "~"
	}
	if _, err := n.verifier.VerifyVPSDJWT(ctx, withKB(sign(vp)), nonce, rp); err != nil {
		t.Errorf("vp+sd-jwt bound by its payload, with another verifier's KB-JWT: %v", err)
	}
	delete(vp, "iat")
	if _, err := n.verifier.VerifyVPSDJWT(ctx, withKB(sign(vp)), nonce, rp); !errors.Is(err, sdjwt.ErrNonce) {
		t.Errorf("vp+sd-jwt without iat, with another verifier's KB-JWT: %v, want sdjwt.ErrNonce", err)
	}
	if _, err := n.verifier.VerifyVCSDJWT(ctx, withKB(vcSDJWT(t, n, did))); err != nil {
		t.Errorf("vc+sd-jwt with a KB-JWT: %v", err)
	}
}

// signVPSDJWT signs a vp+sd-jwt with the given header, without
// SignPresentationSDJWT's checks.
func signVPSDJWT(t testing.TB, vp map[string]any, opts PresentOptions, header map[string]any, signer crypto.Signer) string {
	t.Helper()
	doc := map[string]any{}
	for k, v := range vp {
		doc[k] = v
	}
	doc["nonce"], doc["aud"], doc["iat"] = opts.Challenge, opts.Domain, opts.IssuedAt.Unix()
	payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := jose.Sign(payload, header, signer)
	if err != nil {
		t.Fatal(err)
	}
	return sdjwt.Serialize(jwt, ds)
}

// flipSignature changes one byte of the issuer-signed JWT's signature.
func flipSignature(t testing.TB, tok string) string {
	t.Helper()
	end := strings.IndexByte(tok, '~')
	dot := strings.LastIndexByte(tok[:end], '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1 : end])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 1
	return tok[:dot+1] + base64.RawURLEncoding.EncodeToString(sig) + tok[end:]
}

// TestVPSDJWTClaimsInTheClear: a vp+sd-jwt's nonce, aud, iat (and the
// other members of clearVPSDJWT) must be in the clear, and no top-level
// claim withheld. Otherwise whoever holds the cnf key (here not the holder
// DID's) could take a presentation the holder signed for verifier A with
// nonce/aud concealed, withhold those disclosures and add a KB-JWT for
// verifier B; withholding a concealed iat would skip VPMaxAge.
// SignPresentationSDJWT refuses to conceal them.
func TestVPSDJWTClaimsInTheClear(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	const rpA, rpB = "https://a.example", "https://b.example"
	holder, did := holderKey(t, gm.AlgES256)
	kid := did + "#" + did[len("did:key:"):]
	delegate, _ := holderKey(t, gm.AlgES256) // the cnf key: not the holder DID's
	dj, err := gm.NewJWK(delegate.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	build := func(sd []string) *sdjwt.SDJWT {
		vp := map[string]any{
			"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": did,
			"verifiableCredential": []any{Envelope(vcSDJWT(t, n, did), MediaTypeVCSDJWT)},
			"cnf":                  toJSON(t, map[string]any{"jwk": dj}),
			"nonce":                "n-A", "aud": rpA, "iat": n.clock.Now().Unix(),
		}
		payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(vp, &sdjwt.Frame{SD: sd})
		if err != nil {
			t.Fatal(err)
		}
		jwt, err := jose.Sign(payload, map[string]any{"typ": TypVPSDJWT, "kid": kid}, holder)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sdjwt.Split(sdjwt.Serialize(jwt, ds))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	present := func(s *sdjwt.SDJWT, keep bool, nonce, aud string) string {
		tok, err := s.Present(func(*sdjwt.Disclosure) bool { return keep },
			&sdjwt.KeyBinding{Signer: delegate, Audience: aud, Nonce: nonce, IssuedAt: n.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	clear := build(nil)
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present(clear, true, "n-A", rpA), "n-A", rpA); err != nil {
		t.Fatalf("at A, in the clear: %v", err)
	}
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present(clear, true, "n-B", rpB), "n-B", rpB); !errors.Is(err, ErrChallenge) {
		t.Fatalf("at B, nonce/aud for A in the clear: %v, want ErrChallenge", err)
	}

	concealed := build([]string{"nonce", "aud"})
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present(concealed, true, "n-A", rpA), "n-A", rpA); !errors.Is(err, ErrInvalidPresentation) || !errors.Is(err, sdjwt.ErrNotDisclosable) {
		t.Errorf("at A, nonce/aud disclosed: %v, want ErrInvalidPresentation", err)
	}
	// Replayed at B: the holder-signed nonce/aud for A are withheld.
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present(concealed, false, "n-B", rpB), "n-B", rpB); !errors.Is(err, ErrInvalidPresentation) {
		t.Errorf("at B, nonce/aud for A withheld: %v, want ErrInvalidPresentation", err)
	}
	// A top-level decoy cannot be told from a withheld claim.
	decoyPayload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(map[string]any{
		"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": did,
		"verifiableCredential": []any{Envelope(vcSDJWT(t, n, did), MediaTypeVCSDJWT)},
		"cnf":                  toJSON(t, map[string]any{"jwk": dj}), "nonce": "n-A", "aud": rpA, "iat": n.clock.Now().Unix(),
	}, &sdjwt.Frame{Decoys: 1})
	if err != nil || len(ds) != 0 {
		t.Fatal(err)
	}
	decoyJWT, err := jose.Sign(decoyPayload, map[string]any{"typ": TypVPSDJWT, "kid": kid}, holder)
	if err != nil {
		t.Fatal(err)
	}
	decoy, err := sdjwt.Split(decoyJWT + "~")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present(decoy, true, "n-A", rpA), "n-A", rpA); !errors.Is(err, ErrInvalidPresentation) {
		t.Errorf("top-level decoy: %v, want ErrInvalidPresentation", err)
	}

	// iat concealed and withheld: VPMaxAge would not apply.
	old := build([]string{"nonce", "aud", "iat"})
	n.clock.Advance(DefaultVPMaxAge + time.Hour)
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present(clear, true, "n-A", rpA), "n-A", rpA); !errors.Is(err, ErrExpired) {
		t.Fatalf("old, iat in the clear: %v, want ErrExpired", err)
	}
	if _, err := n.verifier.VerifyVPSDJWT(ctx, present(old, false, "n-B", rpB), "n-B", rpB); !errors.Is(err, ErrInvalidPresentation) {
		t.Errorf("old, iat withheld: %v, want ErrInvalidPresentation", err)
	}

	// The signer refuses to make them.
	vp := map[string]any{"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": did,
		"verifiableCredential": []any{Envelope(vcSDJWT(t, n, did), MediaTypeVCSDJWT)}}
	opts := PresentOptions{Challenge: "n-A", Domain: rpA, IssuedAt: n.clock.Now()}
	for _, f := range []*sdjwt.Frame{{SD: []string{"nonce"}}, {SD: []string{"type"}}, {Decoys: 1}} {
		if _, err := SignPresentationSDJWT(vp, kid, opts, f, rand.Reader, holder); !errors.Is(err, ErrInvalidPresentation) {
			t.Errorf("signing with frame %+v: %v, want ErrInvalidPresentation", f, err)
		}
	}
	if _, err := SignPresentationSDJWT(vp, kid, opts, &sdjwt.Frame{SD: []string{"holder", "verifiableCredential"}}, rand.Reader, holder); err != nil {
		t.Errorf("holder and credentials concealed: %v", err)
	}
}
