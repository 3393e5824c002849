package credentials_test

import (
	"context"
	"crypto"
	"errors"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/gm"
)

func holderCredential(holder string) map[string]any {
	c := sampleCredential()
	c["credentialSubject"].(map[string]any)["id"] = holder
	return c
}

func TestPresentationJWT(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	const rp = "https://rp.example"
	for _, alg := range allAlgs {
		holder, did := holderKey(t, alg)
		hj, _ := gm.NewJWK(holder.Public(), "")
		vc := mustIssue(t, n, holderCredential(did), issuer.IssueOptions{Algorithm: gm.AlgSM2})
		noSubject := sampleCredential()
		delete(noSubject["credentialSubject"].(map[string]any), "id")
		bearer := mustIssue(t, n, noSubject, issuer.IssueOptions{})
		sd := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
		vp := map[string]any{
			"@context":             []any{ContextV2},
			"type":                 []any{"VerifiablePresentation"},
			"holder":               did,
			"verifiableCredential": []any{vc.Envelope(), bearer.Envelope()},
		}
		kid := did + "#" + did[len("did:key:"):]
		opts := PresentOptions{Challenge: "challenge-1", Domain: rp, IssuedAt: n.clock.Now()}
		tok, err := SignPresentation(vp, kid, opts, holder)
		if err != nil {
			t.Fatal(err)
		}
		res, err := n.verifier.VerifyPresentation(ctx, tok, "challenge-1", rp)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if res.Holder != did || len(res.Credentials) != 2 {
			t.Fatalf("%+v", res)
		}
		if _, err := n.verifier.VerifyPresentation(ctx, tok, "challenge-2", rp); !errors.Is(err, ErrChallenge) {
			t.Errorf("wrong challenge: %v", err)
		}
		if _, err := n.verifier.VerifyPresentation(ctx, tok, "challenge-1", "https://evil.example"); !errors.Is(err, ErrChallenge) {
			t.Errorf("wrong domain: %v", err)
		}
		for _, c := range [][2]string{{"", rp}, {"challenge-1", ""}, {"", ""}} {
			if _, err := n.verifier.VerifyPresentation(ctx, tok, c[0], c[1]); !errors.Is(err, ErrChallenge) {
				t.Errorf("verified without challenge %q or domain %q: %v", c[0], c[1], err)
			}
		}
		// An SD-JWT VC bound (cnf) to the holder's key.
		vp["verifiableCredential"] = []any{sd.Envelope()}
		tok, err = SignPresentation(vp, kid, opts, holder)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := n.verifier.VerifyPresentation(ctx, tok, "challenge-1", rp); err != nil || res.Credentials[0].Format != TypSDJWTVC {
			t.Fatalf("%s: SD-JWT VC in a presentation: %v", alg, err)
		}

		// Someone else's credentials: a subject id of another DID, an
		// SD-JWT VC bound to another key.
		other, otherDID := holderKey(t, alg)
		oj, _ := gm.NewJWK(other.Public(), "")
		theirs := mustIssue(t, n, holderCredential(otherDID), issuer.IssueOptions{})
		theirSD := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &oj})
		for name, env := range map[string]map[string]any{"subject id": theirs.Envelope(), "cnf": theirSD.Envelope()} {
			vp["verifiableCredential"] = []any{env}
			tok, _ := SignPresentation(vp, kid, opts, holder)
			if _, err := n.verifier.VerifyPresentation(ctx, tok, "challenge-1", rp); !errors.Is(err, ErrHolderMismatch) {
				t.Errorf("%s: another holder's credential (%s): %v", alg, name, err)
			}
		}
		vp["verifiableCredential"] = []any{vc.Envelope()}

		// A key that the holder does not control: kid of another DID.
		vp["holder"] = otherDID
		if _, err := SignPresentation(vp, kid, opts, holder); !errors.Is(err, ErrIssuerMismatch) {
			t.Errorf("signing with a kid of another DID: %v", err)
		}
		tok2 := resignVP(t, vp, kid, opts, holder)
		if _, err := n.verifier.VerifyPresentation(ctx, tok2, "challenge-1", rp); !errors.Is(err, ErrIssuerMismatch) {
			t.Errorf("holder mismatch: %v", err)
		}
		// The holder's DID but the signature of another key.
		vp["holder"] = did
		tok3 := resignVP(t, vp, kid, opts, other)
		if _, err := n.verifier.VerifyPresentation(ctx, tok3, "challenge-1", rp); !errors.Is(err, ErrSignature) {
			t.Errorf("signed by another key: %v", err)
		}
	}
}

// resignVP builds a vp+jwt without SignPresentation's checks.
func resignVP(t *testing.T, vp map[string]any, kid string, opts PresentOptions, signer crypto.Signer) string {
	t.Helper()
	doc := map[string]any{}
	for k, v := range vp {
		doc[k] = v
	}
	doc["nonce"], doc["aud"], doc["iat"] = opts.Challenge, opts.Domain, opts.IssuedAt.Unix()
	tok, err := SignJWT(doc, TypVPJWT, kid, signer)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestPresentationHolderBinding: the rules a vp+jwt must meet besides its
// credentials: a holder DID, a kid of that DID, iat within VPMaxAge.
func TestPresentationHolderBinding(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	holder, did := holderKey(t, gm.AlgEdDSA)
	kid := did + "#" + did[len("did:key:"):]
	vc := mustIssue(t, n, holderCredential(did), issuer.IssueOptions{})
	vp := map[string]any{"@context": []any{ContextV2}, "type": "VerifiablePresentation", "holder": did,
		"verifiableCredential": []any{vc.Envelope()}}
	now := n.clock.Now()
	opts := PresentOptions{Challenge: "c", Domain: "https://rp.example", IssuedAt: now}
	verify := func(tok string) error {
		_, err := n.verifier.VerifyPresentation(ctx, tok, "c", "https://rp.example")
		return err
	}
	if err := verify(resignVP(t, vp, kid, opts, holder)); err != nil {
		t.Fatal(err)
	}
	// iat: too old, in the future, missing.
	old := opts
	old.IssuedAt = now.Add(-DefaultVPMaxAge - time.Second)
	if err := verify(resignVP(t, vp, kid, old, holder)); !errors.Is(err, ErrExpired) {
		t.Errorf("old presentation: %v", err)
	}
	future := opts
	future.IssuedAt = now.Add(time.Minute)
	if err := verify(resignVP(t, vp, kid, future, holder)); !errors.Is(err, ErrNotYetValid) {
		t.Errorf("presentation from the future: %v", err)
	}
	noIat := map[string]any{}
	for k, v := range vp {
		noIat[k] = v
	}
	noIat["nonce"], noIat["aud"] = "c", "https://rp.example"
	tok, _ := SignJWT(noIat, TypVPJWT, kid, holder)
	if err := verify(tok); !errors.Is(err, ErrInvalidPresentation) {
		t.Errorf("no iat: %v", err)
	}
	// No holder; a holder that is not a DID; a kid that is not a DID URL.
	for name, mod := range map[string]func(m map[string]any){
		"no holder":      func(m map[string]any) { delete(m, "holder") },
		"holder not DID": func(m map[string]any) { m["holder"] = "https://holder.example" },
	} {
		m := map[string]any{}
		for k, v := range vp {
			m[k] = v
		}
		mod(m)
		if err := verify(resignVP(t, m, kid, opts, holder)); !errors.Is(err, ErrInvalidPresentation) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, badKid := range []string{"", "key-1", did, "did:key:zOther#zOther"} {
		if err := verify(resignVP(t, vp, badKid, opts, holder)); !errors.Is(err, ErrIssuerMismatch) && !errors.Is(err, ErrUnknownKey) {
			t.Errorf("kid %q: %v", badKid, err)
		}
	}
	// An unsecured credential inside a presentation.
	vp["verifiableCredential"] = []any{sampleCredential()}
	if err := verify(resignVP(t, vp, kid, opts, holder)); !errors.Is(err, ErrInvalidPresentation) {
		t.Errorf("unsecured credential: %v", err)
	}
	// A vc+jwt is not a presentation.
	if err := verify(vc.Token); !errors.Is(err, ErrType) {
		t.Errorf("vc+jwt as presentation: %v", err)
	}
	// SignPresentation refuses to make a replayable presentation.
	if _, err := SignPresentation(vp, kid, PresentOptions{Domain: "https://rp.example"}, holder); !errors.Is(err, ErrChallenge) {
		t.Errorf("no challenge: %v", err)
	}
}

// didKeyOnly resolves did:key and did:jwk only, so that fuzzing never
// reaches the network.
type didKeyOnly struct{ r Resolver }

func (d *didKeyOnly) ResolveKey(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	if !SelfResolving(issuer) {
		return nil, ErrUnknownKey
	}
	return d.r.ResolveKey(ctx, issuer, kid)
}

// FuzzVerifyPresentation: arbitrary tokens never panic, and whatever
// verifies names a holder DID and met the challenge and domain.
func FuzzVerifyPresentation(f *testing.F) {
	n := newNode(f, testBase)
	holder, did := holderKey(f, gm.AlgEdDSA)
	other, _ := holderKey(f, gm.AlgEdDSA)
	kid := did + "#" + did[len("did:key:"):]
	vp := map[string]any{"@context": []any{ContextV2}, "type": "VerifiablePresentation", "holder": did}
	opts := PresentOptions{Challenge: "c", Domain: "https://rp.example", IssuedAt: n.clock.Now()}
	good, err := SignPresentation(vp, kid, opts, holder)
	if err != nil {
		f.Fatal(err)
	}
	forged, _ := SignJWT(map[string]any{"@context": []any{ContextV2}, "type": "VerifiablePresentation", "holder": did,
		"nonce": "c", "aud": "https://rp.example"}, TypVPJWT, kid, other)
	for _, s := range []string{good, forged, good[:len(good)/2], "a.b.c", "", "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	v, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: &didKeyOnly{}, Status: n.checker, Now: n.clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		res, err := v.VerifyPresentation(context.Background(), tok, "c", "https://rp.example")
		if err != nil {
			return
		}
		if res.Holder == "" || res.Presentation["nonce"] != "c" {
			t.Fatalf("verified without holder or nonce: %+v", res)
		}
	})
}
