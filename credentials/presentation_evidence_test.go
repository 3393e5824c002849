package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
)

// withhold removes the disclosures of the claims names.
func withhold(t testing.TB, token string, names ...string) string {
	t.Helper()
	sd, err := sdjwt.Split(token)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.SplitN(token, "~", 2)[0] + "~"
	for _, d := range sd.Disclosures {
		if !strings.Contains(strings.Join(names, "\x00")+"\x00", d.Name+"\x00") {
			out += d.Encoded + "~"
		}
	}
	return out
}

// TestPresentedCredentialNeedsEvidence: in a presentation, a credential is
// the holder's only on evidence (a cnf naming the key that signed, or a
// subject id equal to the holder): a node-issued SD-JWT VC without cnf
// whose sub disclosure is withheld, a vc+sd-jwt whose
// credentialSubject.id is withheld, are refused (holder_mismatch), as is a
// vc+jwt whose cnf names another key than the one that signed, or whose
// cnf.jwk is no public JWK; a bearer vc+jwt (no subject id, no cnf, in
// the clear) is taken.
func TestPresentedCredentialNeedsEvidence(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	const rp = "https://rp.example"
	a, didA := holderKey(t, gm.AlgES256)
	b, didB := holderKey(t, gm.AlgES256)
	present := func(env map[string]any, holder string, signer crypto.Signer) error {
		t.Helper()
		vp := map[string]any{"@context": []any{ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder, "verifiableCredential": []any{env}}
		tok, err := SignPresentation(vp, holder+"#"+holder[len("did:key:"):], PresentOptions{Challenge: "c", Domain: rp, IssuedAt: n.clock.Now()}, signer)
		if err != nil {
			t.Fatal(err)
		}
		_, err = n.verifier.VerifyPresentation(ctx, tok, "c", rp)
		return err
	}
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(doc map[string]any, typ string, frame *sdjwt.Frame) string {
		if frame == nil {
			tok, err := jose.Sign(doc, map[string]any{"typ": typ, "cty": CtyVC, "kid": n.issuer.DID() + "#" + k.Kid}, k.Signer)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(doc, frame)
		if err != nil {
			t.Fatal(err)
		}
		jwt, err := jose.Sign(payload, map[string]any{"typ": typ, "cty": CtyVC, "kid": n.issuer.DID() + "#" + k.Kid}, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return sdjwt.Serialize(jwt, ds)
	}
	doc := func(cs map[string]any) map[string]any {
		return map[string]any{"@context": []any{ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
			"issuer": n.issuer.DID(), "validFrom": FormatTime(n.clock.Now()), "credentialSubject": cs}
	}
	aj, _ := gm.NewJWK(a.Public(), "")
	bj, _ := gm.NewJWK(b.Public(), "")
	jwkOf := func(j gm.JWK) map[string]any {
		raw, _ := json.Marshal(j)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return map[string]any{"jwk": m}
	}

	// A node-issued SD-JWT VC for A, no holder key: its sub is
	// selectively disclosable.
	dc := mustIssue(t, n, holderCredential(didA), issuer.IssueOptions{Format: issuer.FormatSDJWT})
	vcsd := sign(doc(map[string]any{"id": didA, "region": "310000"}), TypVCSDJWT, &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{"credentialSubject": {SD: []string{"id"}}}})
	keyBoundB := doc(map[string]any{"region": "310000"})
	keyBoundB["cnf"] = jwkOf(bj)
	keyBoundA := doc(map[string]any{"region": "310000"})
	keyBoundA["cnf"] = jwkOf(aj)
	idAKeyB := doc(map[string]any{"id": didA, "region": "310000"})
	idAKeyB["cnf"] = jwkOf(bj)
	// cnf.jwk is a JWK (RFC 7800 §3.2), read as RFC 7517 asks and as a
	// KB-JWT's is (sdjwt.ConfirmationKey): member names are case-sensitive
	// ("KTY" is no kty: the credential names no key), members not
	// understood are ignored (§4), and a private key is no confirmation
	// key. A vc+jwt's cnf.jwk with its member names in upper case or with
	// a d was taken for A's key.
	upper := map[string]any{}
	for k, v := range jwkOf(aj)["jwk"].(map[string]any) {
		upper[strings.ToUpper(k)] = v
	}
	keyBoundAUpper := doc(map[string]any{"region": "310000"})
	keyBoundAUpper["cnf"] = map[string]any{"jwk": upper}
	withD := jwkOf(aj)
	withD["jwk"].(map[string]any)["d"] = "AAAA"
	keyBoundAPrivate := doc(map[string]any{"region": "310000"})
	keyBoundAPrivate["cnf"] = withD
	withOps := jwkOf(aj)
	withOps["jwk"].(map[string]any)["key_ops"] = []any{"verify"}
	keyBoundAOps := doc(map[string]any{"region": "310000"})
	keyBoundAOps["cnf"] = withOps
	for _, c := range []struct {
		name   string
		env    map[string]any
		holder string
		signer crypto.Signer
		ok     bool
	}{
		{"dc+sd-jwt, sub disclosed, A", Envelope(dc.Token, MediaTypeSDJWT), didA, a, true},
		{"dc+sd-jwt, sub disclosed, B", Envelope(dc.Token, MediaTypeSDJWT), didB, b, false},
		{"dc+sd-jwt, sub withheld, B", Envelope(withhold(t, dc.Token, "sub"), MediaTypeSDJWT), didB, b, false},
		{"vc+sd-jwt, id disclosed, A", Envelope(vcsd, MediaTypeVCSDJWT), didA, a, true},
		{"vc+sd-jwt, id withheld, B", Envelope(withhold(t, vcsd, "id"), MediaTypeVCSDJWT), didB, b, false},
		{"vc+jwt, cnf A, A", Envelope(sign(keyBoundA, TypVCJWT, nil), MediaTypeVCJWT), didA, a, true},
		{"vc+jwt, cnf B, A", Envelope(sign(keyBoundB, TypVCJWT, nil), MediaTypeVCJWT), didA, a, false},
		{"vc+jwt, id A, cnf B, A", Envelope(sign(idAKeyB, TypVCJWT, nil), MediaTypeVCJWT), didA, a, false},
		{"vc+jwt, cnf A in upper case, A", Envelope(sign(keyBoundAUpper, TypVCJWT, nil), MediaTypeVCJWT), didA, a, false},
		{"vc+jwt, cnf A with d, A", Envelope(sign(keyBoundAPrivate, TypVCJWT, nil), MediaTypeVCJWT), didA, a, false},
		{"vc+jwt, cnf A with key_ops, A", Envelope(sign(keyBoundAOps, TypVCJWT, nil), MediaTypeVCJWT), didA, a, true},
		// In the clear, no subject id and no cnf: a bearer credential
		// (VC 2.0, "Bearer Credentials"), anyone's to present.
		{"vc+jwt, bearer, B", Envelope(sign(doc(map[string]any{"region": "310000"}), TypVCJWT, nil), MediaTypeVCJWT), didB, b, true},
	} {
		err := present(c.env, c.holder, c.signer)
		if c.ok && err != nil || !c.ok && !errors.Is(err, ErrHolderMismatch) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
