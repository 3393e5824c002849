package credentials_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/gm"
)

// TestRelativeKidNeedsIss: VC-JOSE-COSE §4.3 (Using Controlled Identifier
// Documents): "When iss is absent, and the issuer is identified as a
// [URL], the kid MUST be an absolute [URL] to a verification method
// listed in a controlled identifier documents or a DID Document", and
// "When the holder is identified as a [URL], and iss is absent, the kid
// MUST be an absolute [URL] to a verification method listed in a
// controlled identifier document". A vc+jwt, vc+sd-jwt, vp+jwt and
// vp+sd-jwt whose kid was "#<fragment>" of its did:key issuer or holder,
// without iss, verified (the resolvers read it against the signer); each
// is now refused (ErrUnknownKey), before any key is resolved, and
// SignJWT, SignPresentation and SignPresentationSDJWT no longer make one. What the
// spec allows still verifies: the absolute kid, and the relative kid
// beside an iss that is the issuer or holder (§4.1.2: "If kid is also
// present in the JOSE Header, it is used to distinguish the specific key
// used"). A presentation's iss naming someone else does not make its
// relative kid the holder's.
func TestRelativeKidNeedsIss(t *testing.T) {
	ctx := context.Background()
	v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: &Resolver{}, Trust: AnyIssuer{}, SkipStatus: true})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	did, err := DIDKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	relative := "#" + strings.TrimPrefix(did, "did:key:")
	absolute := did + relative
	credential := func(iss string) map[string]any {
		c := map[string]any{"@context": []any{ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": did,
			"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": map[string]any{"id": "did:example:subject"}}
		if iss != "" {
			c["iss"] = iss
		}
		return c
	}
	const challenge, domain = "n-kid", "https://rp.example"
	presentation := func(iss string) map[string]any {
		p := presentationOf(did)
		p["nonce"], p["aud"], p["iat"] = challenge, domain, time.Now().Unix()
		if iss != "" {
			p["iss"] = iss
		}
		return p
	}
	sign := func(doc map[string]any, typ, kid string) string {
		tok, err := jose.Sign(doc, map[string]any{"typ": typ, "kid": kid}, key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	forms := []struct {
		name   string
		doc    func(iss string) map[string]any
		verify func(doc map[string]any, kid string) error
	}{
		{"vc+jwt", credential, func(doc map[string]any, kid string) error {
			_, err := v.VerifyCredential(ctx, sign(doc, TypVCJWT, kid))
			return err
		}},
		{"vc+sd-jwt", credential, func(doc map[string]any, kid string) error {
			_, err := v.VerifyVCSDJWT(ctx, sign(doc, TypVCSDJWT, kid)+"~")
			return err
		}},
		{"vp+jwt", presentation, func(doc map[string]any, kid string) error {
			_, err := v.VerifyPresentation(ctx, sign(doc, TypVPJWT, kid), challenge, domain)
			return err
		}},
		{"vp+sd-jwt", presentation, func(doc map[string]any, kid string) error {
			_, err := v.VerifyVPSDJWT(ctx, sign(doc, TypVPSDJWT, kid)+"~", challenge, domain)
			return err
		}},
	}
	for _, f := range forms {
		for _, c := range []struct {
			name, iss, kid string
			want           error
		}{
			{"absolute kid, no iss", "", absolute, nil},
			{"absolute kid, iss", did, absolute, nil},
			{"relative kid, iss the signer", did, relative, nil},
			{"relative kid, no iss", "", relative, ErrUnknownKey},
			{"bare kid, no iss", "", strings.TrimPrefix(relative, "#"), ErrUnknownKey}, // found by review: read as "#" + kid
		} {
			if err := f.verify(f.doc(c.iss), c.kid); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Errorf("%s, %s: %v, want %v", f.name, c.name, err, c.want)
			}
		}
	}
	// A presentation whose iss is another's (a credential's iss must be
	// its issuer, ErrIssuerMismatch before the kid is read).
	for _, f := range forms[2:] {
		if err := f.verify(f.doc("did:example:someone-else"), relative); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s, relative kid, iss another's: %v, want ErrUnknownKey", f.name, err)
		}
	}
	if _, err := SignJWT(credential(""), TypVCJWT, relative, key); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("SignJWT of a vc+jwt with a relative kid and no iss: %v, want ErrUnknownKey", err)
	}
	if _, err := SignJWT(credential(did), TypVCJWT, relative, key); err != nil {
		t.Errorf("SignJWT of a vc+jwt with a relative kid and iss: %v", err)
	}
	opts := PresentOptions{Challenge: challenge, Domain: domain}
	if _, err := SignPresentation(presentationOf(did), relative, opts, key); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("SignPresentation with a relative kid: %v, want ErrUnknownKey", err)
	}
	if _, err := SignPresentationSDJWT(presentationOf(did), relative, opts, nil, rand.Reader, key); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("SignPresentationSDJWT with a relative kid: %v, want ErrUnknownKey", err)
	}
}
