package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
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

// ownEntry is a status entry in another issuer's list.
func ownEntry() map[string]any {
	return map[string]any{"id": "https://status.example/lists/7#42", "type": TypeBitstringStatusListEntry, "statusPurpose": PurposeRevocation,
		"statusListIndex": "42", "statusListCredential": "https://status.example/lists/7"}
}

// TestIssueOwnStatus: a credential that carries credentialStatus entries
// is issued with them (the old issuer refused it); the node adds its own
// only when asked; entries in the node's lists, and credentialStatus in an
// SD-JWT VC request, are refused.
func TestIssueOwnStatus(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	c := sampleCredential()
	c["credentialStatus"] = ownEntry()
	iss, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(iss.Status) != 0 {
		t.Fatalf("the node attached %v to a credential with its own entry", iss.Status)
	}
	if st, _ := decodePayload(t, iss.Token)["credentialStatus"].(map[string]any); st["statusListCredential"] != "https://status.example/lists/7" {
		t.Fatalf("own entry not issued as given: %v", decodePayload(t, iss.Token)["credentialStatus"])
	}
	c["credentialStatus"] = []any{ownEntry()}
	both, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{AddStatus: true})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := decodePayload(t, both.Token)["credentialStatus"].([]any)
	if len(both.Status) != 2 || len(st) != 3 || st[0].(map[string]any)["statusListCredential"] != "https://status.example/lists/7" {
		t.Fatalf("own entry then the node's two: refs %v, entries %v", both.Status, st)
	}
	// The node's entries still work: revoking changes them.
	if err := n.issuer.SetStatus(ctx, both.ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	bad := ownEntry()
	bad["statusListCredential"] = testBase + "/status/" + both.Status[0].ListID
	c["credentialStatus"] = bad
	if _, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an entry in the node's own list: %v", err)
	}
	c["credentialStatus"] = ownEntry()
	if _, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{Format: "dc+sd-jwt"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("credentialStatus in an SD-JWT VC request: %v", err)
	}
	if got := len(n.status.Lists()); got != 2 {
		t.Fatalf("%d lists: refused requests spent entries", got)
	}
}

// TestIssueFormats: formats are named by the request; an unknown one is
// ErrUnknownFormat; a registered Format (here a stand-in embedded proof)
// plugs in with its algorithms and media type, and gets the node's status
// entries like vc+jwt.
func TestIssueFormats(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	var signedWith string
	embedded := issuer.Format{MediaType: issuer.MediaTypeEmbedded, Algorithms: []string{gm.AlgEdDSA},
		Sign: func(doc map[string]any, vm string, key crypto.Signer) (string, error) {
			signedWith = vm
			out := map[string]any{"proof": map[string]any{"type": "TestProof", "verificationMethod": vm}}
			for k, v := range doc {
				out[k] = v
			}
			return marshal(out)
		}}
	is, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now,
		Formats: map[string]issuer.Format{"test-proof-2026": embedded}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "vc+jwt", "application/vc+jwt", "dc+sd-jwt", "sd-jwt", "application/dc+sd-jwt"} {
		if _, err := is.Issue(ctx, sampleCredential(), issuer.IssueOptions{Format: name}); err != nil {
			t.Errorf("format %q: %v", name, err)
		}
	}
	if _, err := is.Issue(ctx, sampleCredential(), issuer.IssueOptions{Format: "vc+cose"}); !errors.Is(err, issuer.ErrUnknownFormat) {
		t.Fatalf("unregistered format: %v", err)
	}
	got, err := is.Issue(ctx, sampleCredential(), issuer.IssueOptions{Format: "test-proof-2026"})
	if err != nil {
		t.Fatal(err)
	}
	doc := got.Envelope()
	if got.MediaType != issuer.MediaTypeEmbedded || doc["proof"] == nil || len(got.Status) != 2 || !strings.HasPrefix(signedWith, is.DID()+"#") {
		t.Fatalf("registered format: %+v, %v", got, doc)
	}
	if k, _ := n.keys.Active(gm.AlgEdDSA); signedWith != is.DID()+"#"+k.Kid {
		t.Fatalf("signed with %s, want the EdDSA key", signedWith)
	}
	if _, err := is.Issue(ctx, sampleCredential(), issuer.IssueOptions{Format: "test-proof-2026", Algorithm: gm.AlgSM2}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("an algorithm the format does not take: %v", err)
	}
	for name, f := range map[string]issuer.Format{"vc+jwt": embedded, "x": {MediaType: "application/x"}, "y": {MediaType: "a/b", Algorithms: []string{"RS256"}, Sign: embedded.Sign}} {
		if _, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Formats: map[string]issuer.Format{name: f}}); err == nil {
			t.Errorf("format %q accepted", name)
		}
	}
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// TestDataURLs: the enveloped forms VC-JOSE-COSE defines for JOSE, with
// and without ;base64, and nothing else.
func TestDataURLs(t *testing.T) {
	tok := "eyJhbGciOiJTTTIifQ.eyJhIjoxfQ.c2ln"
	b64 := base64.StdEncoding.EncodeToString([]byte(tok))
	for _, c := range []struct {
		in, mt string
		err    error
	}{
		{"data:application/vc+jwt," + tok, MediaTypeVCJWT, nil},
		{"data:application/vc+jwt;base64," + b64, MediaTypeVCJWT, nil},
		{"data:application/vp+jwt;base64," + b64, MediaTypeVPJWT, nil},
		{"data:application/vc+sd-jwt," + tok + "~", MediaTypeVCSDJWT, nil},
		{"data:application/vp+sd-jwt," + tok + "~", MediaTypeVPSDJWT, nil},
		{"data:application/dc+sd-jwt," + tok + "~", MediaTypeSDJWT, nil},
		{"data:application/vc+cose;base64,2NKE", "", ErrUnsupported},
		{"data:application/json," + tok, "", ErrUnsupported},
		{"data:application/vc+jwt;charset=utf-8," + tok, "", ErrInvalid},
		{"data:application/vc+jwt;base64,%%%", "", ErrInvalid},
		{"data:application/vc+jwt;base64," + base64.StdEncoding.EncodeToString([]byte("a b")), "", ErrInvalid},
		{"data:application/vc+jwt,", "", ErrInvalid},
		{"https://example.com/vc", "", ErrInvalid},
	} {
		mt, got, err := ParseDataURL(c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%.60s: %v, want %v", c.in, err, c.err)
			}
			continue
		}
		if err != nil || mt != c.mt || strings.TrimSuffix(got, "~") != tok {
			t.Errorf("%.60s: %q %q %v", c.in, mt, got, err)
		}
	}
	env := func(typ, mt string) map[string]any {
		return map[string]any{"@context": ContextV2, "type": typ, "id": "data:" + mt + "," + tok}
	}
	if _, _, err := Unenvelope(env("EnvelopedVerifiableCredential", MediaTypeVCJWT)); err != nil {
		t.Errorf("single-string @context envelope: %v", err)
	}
	for _, e := range []map[string]any{env("EnvelopedVerifiablePresentation", MediaTypeVCJWT), env("EnvelopedVerifiableCredential", MediaTypeVPJWT)} {
		if _, _, err := Unenvelope(e); !errors.Is(err, ErrInvalid) {
			t.Errorf("type %v around %v: %v", e["type"], e["id"], err)
		}
	}
}

// FuzzParseDataURL: any input gives a known media type and a token, or
// an error; never a panic.
func FuzzParseDataURL(f *testing.F) {
	f.Add("data:application/vc+jwt,a.b.c")
	f.Add("data:application/vp+jwt;base64,YS5iLmM=")
	f.Add("data:application/dc+sd-jwt;base64;x,")
	f.Fuzz(func(t *testing.T, s string) {
		mt, tok, err := ParseDataURL(s)
		if err == nil && (tok == "" || !strings.HasPrefix(mt, "application/")) {
			t.Fatalf("%q: %q %q", s, mt, tok)
		}
	})
}

// TestSingleStringContext: the data model's own examples write @context
// as one string; it is the same as a one-item array, issued and verified.
func TestSingleStringContext(t *testing.T) {
	n := newNode(t, testBase)
	c := sampleCredential()
	c["@context"] = ContextV2
	iss := mustIssue(t, n, c, issuer.IssueOptions{})
	if _, err := n.verifier.VerifyToken(context.Background(), iss.Envelope()); err != nil {
		t.Fatal(err)
	}
	c["@context"] = "https://www.w3.org/2018/credentials/v1"
	if _, err := NewCredential(c); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a VC 1.1 context string: %v", err)
	}
}

// TestVerifyVCSDJWT: a W3C credential secured with SD-JWT
// (application/vc+sd-jwt) verifies through VerifyToken with its disclosed
// claims; a tampered disclosure does not.
func TestVerifyVCSDJWT(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{
		"@context": []any{ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
		"issuer": n.issuer.DID(), "validFrom": FormatTime(n.clock.Now()),
		"credentialSubject": map[string]any{"id": "did:example:resident-3f9a1c0d7e", "region": "310000"},
	}
	payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(doc, &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{"credentialSubject": {SD: []string{"region"}}}})
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := jose.Sign(payload, map[string]any{"typ": TypVCSDJWT, "kid": n.issuer.DID() + "#" + k.Kid}, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	tok := sdjwt.Serialize(jwt, ds)
	v, err := n.verifier.VerifyToken(ctx, "data:"+MediaTypeVCSDJWT+","+tok)
	if err != nil {
		t.Fatal(err)
	}
	if sub, _ := v.Credential["credentialSubject"].(map[string]any); v.Format != TypVCSDJWT || v.Issuer != n.issuer.DID() || sub["region"] != "310000" {
		t.Fatalf("verified %+v", v)
	}
	i := strings.IndexByte(tok, '~')
	if _, err := n.verifier.VerifyToken(ctx, "data:"+MediaTypeVCSDJWT+","+tok[:i+1]+"WyJ4IiwicmVnaW9uIiwiMzIwMDAwIl0~"); err == nil {
		t.Fatal("a foreign disclosure verified")
	}
	// The same JWT as an SD-JWT VC is the wrong typ.
	if _, err := n.verifier.VerifyToken(ctx, "data:"+MediaTypeSDJWT+","+tok); !errors.Is(err, ErrType) {
		t.Fatalf("vc+sd-jwt as dc+sd-jwt: %v", err)
	}
}

// TestVerifyES384ES512: VC-JOSE-COSE allows any registered JWS algorithm;
// a verifier that names ES384 and ES512 accepts credentials of P-384 and
// P-521 issuers (did:jwk), one that does not refuses them with
// ErrAlgorithm.
func TestVerifyES384ES512(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	wide, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: gm.JWTVerifyAlgorithms,
		Resolver: &Resolver{Local: n.issuer.Local(), Now: n.clock.Now}, Status: n.checker, Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{gm.AlgES384, gm.AlgES512} {
		key, err := gm.GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		did, err := DIDJWK(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		c := sampleCredential()
		c["issuer"], c["validFrom"] = did, FormatTime(n.clock.Now())
		tok, err := SignJWT(c, TypVCJWT, did+"#0", key)
		if err != nil {
			t.Fatal(err)
		}
		if h := decodeHeader(t, tok); h["alg"] != alg {
			t.Fatalf("signed with %v", h["alg"])
		}
		if _, err := wide.VerifyCredential(ctx, tok); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		if _, err := n.verifier.VerifyCredential(ctx, tok); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%s with a verifier that does not name it: %v", alg, err)
		}
	}
}

// TestEnvelopeVerifiers: another securing mechanism (vc+cose, say) plugs
// into VerifyToken by media type and gets the data: URL's content as bytes
// (binary after ;base64); without it the media type is unsupported; the
// JOSE media types cannot be replaced.
func TestEnvelopeVerifiers(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	bin := []byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xff}
	var got []byte
	cfg := VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: &Resolver{Local: n.issuer.Local()}, Status: n.checker, Now: n.clock.Now,
		Envelopes: map[string]EnvelopeVerifier{"application/vc+test": {
			Verify: func(_ context.Context, v *Verifier, content []byte) (*Verified, error) {
				got = content
				return &Verified{Format: "vc+test", Issuer: "did:example:test"}, nil
			},
			Read: func(content []byte) (*Verified, error) { return &Verified{Format: "vc+test"}, nil },
		}}}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url := "data:application/vc+test;base64," + base64.StdEncoding.EncodeToString(bin)
	for _, in := range []any{url, map[string]any{"@context": ContextV2, "type": "EnvelopedVerifiableCredential", "id": url}} {
		got = nil
		if r, err := v.VerifyToken(ctx, in); err != nil || r.Format != "vc+test" || string(got) != string(bin) {
			t.Fatalf("%v: %+v %v, content %x", in, r, err, got)
		}
	}
	if _, err := n.verifier.VerifyToken(ctx, url); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("without the envelope verifier: %v", err)
	}
	// The JOSE ones still go their own way.
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	if r, err := v.VerifyToken(ctx, iss.Envelope()); err != nil || r.Format != TypVCJWT {
		t.Fatalf("vc+jwt beside an envelope verifier: %v", err)
	}
	cfg.Envelopes = map[string]EnvelopeVerifier{MediaTypeVCJWT: cfg.Envelopes["application/vc+test"]}
	if _, err := NewVerifier(cfg); err == nil {
		t.Fatal("an envelope verifier replaced vc+jwt")
	}
}

// TestMandatoryPointers: the VC API's options.mandatoryPointers make the
// subject claims they select plain claims of a dc+sd-jwt credential (the
// rest stay disclosures); a pointer that selects nothing is refused, and
// so are pointers with a format that discloses every claim.
func TestMandatoryPointers(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	issue := func(ptrs ...string) (*issuer.Issued, error) {
		return n.issuer.Issue(ctx, sampleCredential(), issuer.IssueOptions{Format: "dc+sd-jwt", MandatoryPointers: ptrs})
	}
	plain, err := issue()
	if err != nil {
		t.Fatal(err)
	}
	if p := decodePayload(t, strings.Split(plain.Token, "~")[0]); p["residence"] != nil || p["sub"] != nil {
		t.Fatalf("without pointers residence and sub are disclosures: %v", p)
	}
	iss, err := issue("/credentialSubject/residence/region", "/credentialSubject/id", "/validUntil")
	if err != nil {
		t.Fatal(err)
	}
	p := decodePayload(t, strings.Split(iss.Token, "~")[0])
	res, _ := p["residence"].(map[string]any)
	if res["region"] != "310000" || res["since"] != nil || p["sub"] != "urn:trustid:subject:pw-3f9a1c0d7e" {
		t.Fatalf("mandatory claims are not plain (or since is): %v", p)
	}
	if _, err := n.verifier.VerifyToken(ctx, iss.Envelope()); err != nil {
		t.Fatalf("verify: %v", err)
	}
	whole, err := issue("/credentialSubject/residence")
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := decodePayload(t, strings.Split(whole.Token, "~")[0])["residence"].(map[string]any); res["since"] != "2019-07-01" {
		t.Fatalf("a pointer to an object makes all of it plain: %v", res)
	}
	for _, bad := range []string{"credentialSubject/residence", "/credentialSubject/nope", "/credentialSubject/residence/region/x", "/type", "/credentialStatus"} {
		if _, err := issue(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("pointer %q: %v", bad, err)
		}
	}
	for _, format := range []string{"", "vc+jwt"} {
		_, err := n.issuer.Issue(ctx, sampleCredential(), issuer.IssueOptions{Format: format, MandatoryPointers: []string{"/issuer"}})
		if !errors.Is(err, issuer.ErrMandatoryPointers) {
			t.Errorf("format %q: %v", format, err)
		}
	}
}

// TestMandatoryPointersExact: a mandatory pointer makes plain only what
// it selects. One below a subject claim's member (whose contents are one
// disclosure) would make the member's other contents plain too, so it is
// refused; so is a pointer past /validUntil (it selects nothing) and one
// with a "~" that is no RFC 6901 escape.
func TestMandatoryPointersExact(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	cred := sampleCredential()
	subject := cred["credentialSubject"].(map[string]any)
	subject["residence"].(map[string]any)["geo"] = map[string]any{"lat": "31.2", "lon": "121.5"}
	subject["a~2b"] = "x"
	for _, bad := range []string{"/credentialSubject/residence/geo/lat", "/validUntil/x", "/credentialSubject/a~2b"} {
		iss, err := n.issuer.Issue(ctx, cred, issuer.IssueOptions{Format: "dc+sd-jwt", MandatoryPointers: []string{bad}})
		if !errors.Is(err, ErrInvalid) {
			if err == nil {
				t.Errorf("pointer %q issued: %v", bad, decodePayload(t, strings.Split(iss.Token, "~")[0]))
				continue
			}
			t.Errorf("pointer %q: %v", bad, err)
		}
	}
	iss, err := n.issuer.Issue(ctx, cred, issuer.IssueOptions{Format: "dc+sd-jwt", MandatoryPointers: []string{"/credentialSubject/residence/geo"}})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := decodePayload(t, strings.Split(iss.Token, "~")[0])["residence"].(map[string]any)
	if geo, _ := res["geo"].(map[string]any); geo["lat"] != "31.2" || res["region"] != nil {
		t.Fatalf("/credentialSubject/residence/geo: %v", res)
	}
}
