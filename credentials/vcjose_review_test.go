package credentials_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
)

// TestJOSEMediaTypeForms: VC-JOSE-COSE §3.1.1 and §3.1.2 ("The typ header
// parameter SHOULD be vc+jwt. When present, the cty header parameter
// SHOULD be vc", and vp+jwt, vp for presentations) refer to RFC 7515
// §4.1.9-4.1.10, by which a value without '/' is read as if "application/"
// were prepended, and media types compare case-insensitively: typ
// application/vc+jwt and cty application/vc are the media types vc+jwt and
// vc, and verify. Other media types are still refused.
func TestJOSEMediaTypeForms(t *testing.T) {
	const rp = "https://rp.example"
	f := newResignable(t, rp)
	n, k, kid, pb := f.n, f.k, f.kid, f.payload
	ctx := context.Background()
	for _, c := range []struct {
		typ, cty string
		want     error
	}{
		{"vc+jwt", "vc", nil},
		{"application/vc+jwt", "vc", nil},
		{"vc+jwt", "application/vc", nil},
		{"application/vc+jwt", "application/vc", nil},
		{"Application/VC+JWT", "VC", nil},
		{"application/vp+jwt", "vc", ErrType},
		{"text/vc+jwt", "vc", ErrType},
		{"application/", "vc", ErrType},
		{"vc+jwt", "application/vp", ErrType},
		{"vc+jwt", "text/vc", ErrType},
	} {
		hdr := fmt.Sprintf(`{"alg":"SM2","typ":%q,"cty":%q,"kid":%q}`, c.typ, c.cty, kid)
		if _, err := n.verifier.VerifyCredential(ctx, resign(t, hdr, string(pb), k.Signer)); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("vc+jwt of typ %q, cty %q: %v, want %v", c.typ, c.cty, err, c.want)
		}
	}

	holder, hkid, vp := f.holder, f.hkid, f.vp
	for _, c := range []struct {
		typ, cty string
		want     error
	}{
		{"application/vp+jwt", "application/vp", nil},
		{"vp+jwt", "application/vp", nil},
		{"application/vc+jwt", "vp", ErrType},
		{"vp+jwt", "application/vc", ErrType},
	} {
		hdr := fmt.Sprintf(`{"alg":"ES256","typ":%q,"cty":%q,"kid":%q}`, c.typ, c.cty, hkid)
		if _, err := n.verifier.VerifyPresentation(ctx, resign(t, hdr, string(vp), holder), "n-1", rp); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("vp+jwt of typ %q, cty %q: %v, want %v", c.typ, c.cty, err, c.want)
		}
	}

	// A vc+sd-jwt (§3.2.1: typ vc+sd-jwt, cty vc) likewise; a cty of
	// another media type was not checked at all.
	sdDoc := map[string]any{
		"@context": []any{ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
		"issuer": n.issuer.DID(), "validFrom": FormatTime(n.clock.Now()),
		"credentialSubject": map[string]any{"id": "did:example:resident-3f9a1c0d7e", "region": "310000"},
	}
	payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(sdDoc, &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{"credentialSubject": {SD: []string{"region"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ, cty string
		want     error
	}{
		{"vc+sd-jwt", "", nil},
		{"application/vc+sd-jwt", "application/vc", nil},
		{"vc+sd-jwt", "vc", nil},
		{"dc+sd-jwt", "", ErrType},
		{"vc+sd-jwt", "vp", ErrType},
		{"vc+sd-jwt", "application/json", ErrType},
	} {
		h := map[string]any{"typ": c.typ, "kid": kid}
		if c.cty != "" {
			h["cty"] = c.cty
		}
		jwt, err := jose.Sign(payload, h, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.verifier.VerifyVCSDJWT(ctx, sdjwt.Serialize(jwt, ds)); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("vc+sd-jwt of typ %q, cty %q: %v, want %v", c.typ, c.cty, err, c.want)
		}
	}
}

// TestJOSEClaimNamesVCVP: VC-JOSE-COSE §3.1.3, "The JWT Claim Names vc and
// vp MUST NOT be present": the claims of a vc+jwt or vp+jwt are the
// document itself. The issuer refuses a credential with a vc or vp member
// (its format's Check, before status entries are reserved), SignJWT
// refuses to make one, and the verifier refuses one another issuer made.
func TestJOSEClaimNamesVCVP(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	base := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	for _, name := range []string{"vc", "vp"} {
		c := sampleCredential()
		c[name] = map[string]any{"credentialSubject": map[string]any{"id": "did:example:someone"}}
		if _, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("issuing a vc+jwt with a %s member: %v, want ErrInvalid", name, err)
		}
		if _, err := SignJWT(c, TypVCJWT, n.issuer.DID()+"#"+k.Kid, k.Signer); !errors.Is(err, ErrInvalid) {
			t.Errorf("SignJWT of a credential with a %s member: %v, want ErrInvalid", name, err)
		}
		p := decodePayload(t, base.Token)
		p[name] = map[string]any{"type": []any{"VerifiableCredential"}}
		pb, _ := json.Marshal(p)
		hdr := `{"alg":"SM2","typ":"vc+jwt","cty":"vc","kid":"` + n.issuer.DID() + "#" + k.Kid + `"}`
		if _, err := n.verifier.VerifyCredential(ctx, resign(t, hdr, string(pb), k.Signer)); !errors.Is(err, ErrInvalid) {
			t.Errorf("a vc+jwt with a %s claim: %v, want ErrInvalid", name, err)
		}
	}

	holder, did := holderKey(t, gm.AlgES256)
	hkid := did + "#" + did[len("did:key:"):]
	const rp = "https://rp.example"
	for _, name := range []string{"vc", "vp"} {
		doc := map[string]any{
			"@context": []any{ContextV2}, "type": "VerifiablePresentation", "holder": did,
			"nonce": "n-1", "aud": rp, "iat": n.clock.Now().Unix(),
			name: map[string]any{"type": []any{"VerifiablePresentation"}},
		}
		if _, err := SignJWT(doc, TypVPJWT, hkid, holder); !errors.Is(err, ErrInvalidPresentation) {
			t.Errorf("SignJWT of a presentation with a %s member: %v, want ErrInvalidPresentation", name, err)
		}
		vp, _ := json.Marshal(doc)
		hdr := `{"alg":"ES256","typ":"vp+jwt","cty":"vp","kid":"` + hkid + `"}`
		if _, err := n.verifier.VerifyPresentation(ctx, resign(t, hdr, string(vp), holder), "n-1", rp); !errors.Is(err, ErrInvalidPresentation) {
			t.Errorf("a vp+jwt with a %s claim: %v, want ErrInvalidPresentation", name, err)
		}
	}
}

// TestIssueJOSEClaims: a vc+jwt's claims are the credential, so the JWT
// claims a request puts in it must be what JOSE says they are, or the node
// would sign what no verifier takes (its own refuses them): iss, when
// present, "MUST match issuer" (VC-JOSE-COSE §4.1.2), and exp, nbf and iat
// are NumericDates (RFC 7519 §4.1.4-4.1.6). A request that breaks one is
// refused, naming the claim; one that keeps to them is issued and verifies.
func TestIssueJOSEClaims(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	now := n.clock.Now()
	for name, v := range map[string]any{
		"iss": "did:web:other.example",
		"exp": "2030-01-01T00:00:00Z",
		"nbf": true,
		"iat": -1,
	} {
		c := sampleCredential()
		c[name] = v
		_, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{})
		var fe *FieldError
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field != name {
			t.Errorf("issuing a vc+jwt with %s %v: %v, want ErrInvalid naming %s", name, v, err, name)
		}
	}
	c := sampleCredential()
	c["iss"], c["exp"], c["iat"] = n.issuer.DID(), json.Number(fmt.Sprint(now.Add(time.Hour).Unix())), now.Unix()
	iss := mustIssue(t, n, c, issuer.IssueOptions{})
	if _, err := n.verifier.VerifyCredential(ctx, iss.Token); err != nil {
		t.Fatalf("a vc+jwt with iss, exp and iat as JOSE has them: %v", err)
	}
}
