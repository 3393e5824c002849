package credentials_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
)

// TestJOSETypOptional: VC-JOSE-COSE (W3C Recommendation) §3.1.1 "The typ
// header parameter SHOULD be vc+jwt. When present, the cty header
// parameter SHOULD be vc.", §3.1.2 the same of vp+jwt and vp, §3.2.1 of
// vc+sd-jwt and vc: typ is a SHOULD, so another issuer's vc+jwt, vp+jwt
// or vc+sd-jwt without one is a conforming document, whose format its
// media type (the data: URL's, the route's) names. They were refused
// (ErrType, wrong_media_type), while a vp+sd-jwt and a vc+cose without one
// were taken. A typ that names another media type is still refused.
func TestJOSETypOptional(t *testing.T) {
	const rp = "https://rp.example"
	f := newResignable(t, rp)
	n, k, kid, pb := f.n, f.k, f.kid, f.payload
	ctx := context.Background()
	for _, c := range []struct {
		hdr  string
		want error
	}{
		{`{"alg":"SM2","kid":%q}`, nil},
		{`{"alg":"SM2","cty":"vc","kid":%q}`, nil},
		{`{"alg":"SM2","typ":"JWT","kid":%q}`, ErrType},
		{`{"alg":"SM2","kid":%q,"cty":"vp"}`, ErrType},
	} {
		tok := resign(t, fmt.Sprintf(c.hdr, kid), string(pb), k.Signer)
		if _, err := n.verifier.VerifyCredential(ctx, tok); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("vc+jwt with header %s: %v, want %v", c.hdr, err, c.want)
		}
		if c.want != nil {
			continue
		}
		for _, in := range []any{tok, "data:application/vc+jwt," + tok, Envelope(tok, MediaTypeVCJWT)} {
			if _, err := n.verifier.VerifyToken(ctx, in); err != nil {
				t.Errorf("VerifyToken of a vc+jwt with header %s (%T): %v", c.hdr, in, err)
			}
		}
	}

	holder, hkid, vp := f.holder, f.hkid, f.vp
	for _, c := range []struct {
		hdr  string
		want error
	}{
		{`{"alg":"ES256","kid":%q}`, nil},
		{`{"alg":"ES256","cty":"vp","kid":%q}`, nil},
		{`{"alg":"ES256","typ":"vc+jwt","kid":%q}`, ErrType},
	} {
		tok := resign(t, fmt.Sprintf(c.hdr, hkid), string(vp), holder)
		if _, err := n.verifier.VerifyPresentation(ctx, tok, "n-1", rp); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("vp+jwt with header %s: %v, want %v", c.hdr, err, c.want)
		}
	}

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
		h    map[string]any
		want error
	}{
		{map[string]any{"kid": kid}, nil},
		{map[string]any{"kid": kid, "cty": "vc"}, nil},
		{map[string]any{"kid": kid, "typ": "dc+sd-jwt"}, ErrType},
	} {
		jwt, err := jose.Sign(payload, c.h, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		s := sdjwt.Serialize(jwt, ds)
		if _, err := n.verifier.VerifyVCSDJWT(ctx, s); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("vc+sd-jwt with header %v: %v, want %v", c.h, err, c.want)
		}
		if c.want == nil {
			if _, err := n.verifier.VerifyToken(ctx, "data:application/vc+sd-jwt,"+s); err != nil {
				t.Errorf("VerifyToken of a vc+sd-jwt with header %v: %v", c.h, err)
			}
		}
	}
}
