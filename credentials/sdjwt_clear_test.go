package credentials_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
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

// disclose re-signs a node-issued SD-JWT (with the node's SM2 key, the
// header kept) with the top-level claims names moved from the
// issuer-signed JWT into disclosures, as an issuer not following the
// profile could, and returns it with those disclosures appended.
func disclose(t testing.TB, n *node, token string, names ...string) string {
	t.Helper()
	parts := strings.Split(token, "~")
	hdr, payload := decodeHeader(t, parts[0]), decodePayload(t, parts[0])
	sd, _ := payload["_sd"].([]any)
	for _, name := range names {
		raw, err := json.Marshal([]any{"salt-" + name, name, payload[name]})
		if err != nil {
			t.Fatal(err)
		}
		enc := base64.RawURLEncoding.EncodeToString(raw)
		sd = append(sd, sdjwt.Digest(enc))
		delete(payload, name)
		parts = append(parts[:len(parts)-1], enc, "")
	}
	payload["_sd"] = sd
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := json.Marshal(hdr)
	p, _ := json.Marshal(payload)
	parts[0] = resign(t, string(h), string(p), k.Signer)
	return strings.Join(parts, "~")
}

// TestSDJWTVCClaimsInTheClear: an SD-JWT VC whose status, exp, nbf, cnf,
// iss or vct a disclosure gives (draft-ietf-oauth-sd-jwt-vc §3.2.2.2:
// they "MUST NOT be included in the Disclosures") is refused; a revoked
// one keeps its error. The node's issuer puts them in the clear.
func TestSDJWTVCClaimsInTheClear(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	holder, _ := holderKey(t, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	iss := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
	p := decodePayload(t, strings.Split(iss.Token, "~")[0])
	for _, name := range []string{"iss", "vct", "exp", "nbf", "cnf", "status"} {
		if _, ok := p[name]; !ok {
			t.Errorf("the node's issuer left %s out of the issuer-signed JWT", name)
		}
	}
	if _, err := n.verifier.VerifyToken(ctx, disclose(t, n, iss.Token)); err != nil {
		t.Fatalf("re-signed as issued: %v", err)
	}
	for _, names := range [][]string{{"status"}, {"exp"}, {"nbf"}, {"cnf"}, {"status", "exp"}} {
		tok := disclose(t, n, iss.Token, names...)
		if _, err := n.verifier.VerifySDJWT(ctx, tok, SDJWTOptions{}); !errors.Is(err, ErrInvalid) || !errors.Is(err, sdjwt.ErrNotDisclosable) {
			t.Errorf("%v disclosed: %v", names, err)
		}
	}
	// cnf in the clear, its jwk selectively disclosable: withheld too.
	k, _ := n.keys.Active(gm.AlgSM2)
	payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(map[string]any{
		"iss": testBase, "vct": testBase + "/vct/IdentityCredential", "cnf": map[string]any{"jwk": p["cnf"].(map[string]any)["jwk"]},
	}, &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{"cnf": {SD: []string{"jwk"}}}})
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := jose.Sign(payload, map[string]any{"typ": TypSDJWTVC, "kid": k.Kid}, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"disclosed": sdjwt.Serialize(jwt, ds), "withheld": sdjwt.Serialize(jwt, nil)} {
		if _, err := n.verifier.VerifySDJWT(ctx, tok, SDJWTOptions{}); !errors.Is(err, sdjwt.ErrNotDisclosable) {
			t.Errorf("cnf.jwk selectively disclosable, %s: %v", name, err)
		}
	}
	// Revoked, status disclosed: still revoked.
	revoked := disclose(t, n, iss.Token, "status")
	if err := n.issuer.SetStatus(ctx, iss.ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifySDJWT(ctx, revoked, SDJWTOptions{}); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked, status disclosed: %v", err)
	}
}

// TestVCSDJWTMembersInTheClear: a vc+sd-jwt whose credentialStatus,
// validFrom, validUntil, credentialSchema or relatedResource a disclosure
// gives is refused (VC-JOSE-COSE §3.2.1: properties necessary for
// validation "SHOULD be disclosed", relatedResource among those it names);
// an expired one keeps its error.
func TestVCSDJWTMembersInTheClear(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(doc map[string]any, frame *sdjwt.Frame) string {
		payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(doc, frame)
		if err != nil {
			t.Fatal(err)
		}
		jwt, err := jose.Sign(payload, map[string]any{"typ": TypVCSDJWT, "cty": CtyVC, "kid": n.issuer.DID() + "#" + k.Kid}, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return sdjwt.Serialize(jwt, ds)
	}
	doc := func() map[string]any {
		return map[string]any{
			"@context": []any{ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
			"issuer": n.issuer.DID(), "validFrom": FormatTime(n.clock.Now().Add(-24 * time.Hour)),
			"validUntil":        FormatTime(n.clock.Now().Add(24 * time.Hour)),
			"credentialSchema":  map[string]any{"id": "https://schema.example/residence.json", "type": "JsonSchema"},
			"credentialSubject": map[string]any{"id": "did:example:holder", "region": "310000"},
			"relatedResource":   []any{map[string]any{"id": "https://schema.example/terms", "digestSRI": "sha256-47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}},
		}
	}
	if _, err := n.verifier.VerifyVCSDJWT(ctx, sign(doc(), &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{"credentialSubject": {SD: []string{"region"}}}})); err != nil {
		t.Fatalf("members in the clear: %v", err)
	}
	for _, name := range []string{"validFrom", "validUntil", "credentialSchema", "relatedResource"} {
		if _, err := n.verifier.VerifyVCSDJWT(ctx, sign(doc(), &sdjwt.Frame{SD: []string{name}})); !errors.Is(err, ErrInvalid) || !errors.Is(err, sdjwt.ErrNotDisclosable) {
			t.Errorf("%s disclosed: %v", name, err)
		}
	}
	expired := sign(doc(), &sdjwt.Frame{SD: []string{"validUntil"}})
	n.clock.Advance(2 * 24 * time.Hour)
	if _, err := n.verifier.VerifyVCSDJWT(ctx, expired); !errors.Is(err, ErrExpired) {
		t.Errorf("expired, validUntil disclosed: %v", err)
	}
}
