package cose

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
)

// TestRelativeKidNeedsIss: VC-JOSE-COSE §4.3 (Using Controlled Identifier
// Documents): "When iss is absent, and the issuer is identified as a
// [URL], the kid MUST be an absolute [URL] to a verification method
// listed in a controlled identifier documents or a DID Document", and
// "When the holder is identified as a [URL], and iss is absent, the kid
// MUST be an absolute [URL] to a verification method listed in a
// controlled identifier document". A vc+cose and a vp+cose whose kid was
// "#<fragment>" of their did:key issuer or holder, without a CWT claim
// iss, verified; both are now refused (credentials.ErrUnknownKey), and
// SignCredential and SignPresentation make none. The absolute kid verifies, and
// so does the relative one beside a CWT iss that is the issuer or holder;
// a vp+cose's iss naming another is no iss of the holder.
func TestRelativeKidNeedsIss(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.parties["SM2"]
	relative := "#" + strings.TrimPrefix(p.did, "did:key:")
	vc, _ := json.Marshal(credentialDoc(p.did))
	const challenge, domain = "n-kid", "https://rp.example"
	vp, _ := json.Marshal(map[string]any{
		"@context": []any{credentials.ContextV2}, "type": "VerifiablePresentation", "holder": p.did,
		"nonce": challenge, "aud": domain, "iat": testNow.Add(-time.Minute).Unix(),
	})
	for _, c := range []struct {
		name, iss, kid string
		want           error
	}{
		{"absolute kid, no iss", "", p.kid, nil},
		{"relative kid, iss the signer", p.did, relative, nil},
		{"relative kid, no iss", "", relative, credentials.ErrUnknownKey},
	} {
		h := vcHeaders(AlgSM2, c.kid)
		if c.iss != "" {
			h[15] = map[any]any{int64(1): c.iss}
		}
		if _, err := f.v.VerifyCredential(ctx, handSign1(t, h, nil, vc, p.key, AlgSM2)); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("vc+cose, %s: %v, want %v", c.name, err, c.want)
		}
		h = map[int64]any{1: int64(AlgSM2), 3: ContentTypeVP, 4: []byte(c.kid), 16: MediaTypeVP}
		if c.iss != "" {
			h[15] = map[any]any{int64(1): c.iss}
		}
		if _, err := f.v.VerifyPresentation(ctx, handSign1(t, h, nil, vp, p.key, AlgSM2), challenge, domain); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("vp+cose, %s: %v, want %v", c.name, err, c.want)
		}
	}
	h := map[int64]any{1: int64(AlgSM2), 3: ContentTypeVP, 4: []byte(relative), 16: MediaTypeVP, 15: map[any]any{int64(1): "did:example:someone-else"}}
	if _, err := f.v.VerifyPresentation(ctx, handSign1(t, h, nil, vp, p.key, AlgSM2), challenge, domain); !errors.Is(err, credentials.ErrUnknownKey) {
		t.Errorf("vp+cose, relative kid, iss another's: %v, want ErrUnknownKey", err)
	}
	if _, err := SignCredential(credentialDoc(p.did), relative, p.key); !errors.Is(err, credentials.ErrUnknownKey) {
		t.Errorf("SignCredential with a relative kid: %v, want ErrUnknownKey", err)
	}
	var doc map[string]any
	json.Unmarshal(vp, &doc)
	if _, err := SignPresentation(doc, relative, credentials.PresentOptions{Challenge: challenge, Domain: domain}, p.key); !errors.Is(err, credentials.ErrUnknownKey) {
		t.Errorf("SignPresentation with a relative kid: %v, want ErrUnknownKey", err)
	}
}
