package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
)

func identityRequest(t testing.TB, n *node) map[string]any {
	t.Helper()
	c, err := IdentityCredential(IdentityClaims{
		Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 3, Region: "310000",
		Name: "张三", BirthDate: "1990-05-01", Nationality: "CHN",
	}, n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSDJWTVC issues an identity credential as SD-JWT VC with holder
// binding, presents only age_over_18 with a KB-JWT, verifies, then
// suspends and revokes it through the Token Status List.
func TestSDJWTVC(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			holder, _ := holderKey(t, gm.AlgES256)
			hj, _ := gm.NewJWK(holder.Public(), "")
			iss := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, Algorithm: alg, HolderKey: &hj})
			if strings.Contains(iss.Token, "1990-05-01") || strings.Contains(iss.Token, "张三") {
				t.Fatal("claims in clear")
			}
			hdr := decodeHeader(t, strings.Split(iss.Token, "~")[0])
			if hdr["typ"] != "dc+sd-jwt" || hdr["alg"] != alg {
				t.Fatalf("header %v", hdr)
			}
			// Nothing that links presentations is always disclosed.
			p := decodePayload(t, strings.Split(iss.Token, "~")[0])
			for _, linkable := range []string{"sub", "jti", "birthDate", "name"} {
				if _, ok := p[linkable]; ok {
					t.Fatalf("%s in clear in the issuer-signed JWT", linkable)
				}
			}
			// Issued form verifies (no key binding required).
			r, err := n.verifier.VerifyToken(ctx, iss.Envelope())
			if err != nil {
				t.Fatal(err)
			}
			if r.Credential["birthDate"] != "1990-05-01" || r.Credential["vct"] != testBase+"/vct/IdentityCredential" {
				t.Fatalf("claims %v", r.Credential)
			}
			sd, _ := sdjwt.Split(iss.Token)
			pres, err := sd.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "age_over_18" },
				&sdjwt.KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "abc123", IssuedAt: n.clock.Now()})
			if err != nil {
				t.Fatal(err)
			}
			opts := SDJWTOptions{RequireKeyBinding: true, Audience: "https://rp.example", Nonce: "abc123"}
			got, err := n.verifier.VerifySDJWT(ctx, pres, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got.Claims["age_over_18"] != true || got.Claims["birthDate"] != nil || got.Claims["name"] != nil {
				t.Fatalf("selective disclosure: %v", got.Claims)
			}
			if got.Claims["region"] != nil {
				t.Fatal("undisclosed claim present")
			}
			for name, o := range map[string]SDJWTOptions{
				"wrong nonce": {RequireKeyBinding: true, Audience: "https://rp.example", Nonce: "other"},
				"wrong aud":   {RequireKeyBinding: true, Audience: "https://other.example", Nonce: "abc123"},
			} {
				if _, err := n.verifier.VerifySDJWT(ctx, pres, o); !errors.Is(err, ErrChallenge) {
					t.Errorf("%s: %v", name, err)
				}
			}
			if _, err := n.verifier.VerifySDJWT(ctx, iss.Token, opts); !errors.Is(err, ErrChallenge) {
				t.Errorf("no KB-JWT: %v", err)
			}
			// Status.
			if err := n.issuer.SetStatus(ctx, iss.ID, issuer.ActionSuspend); err != nil {
				t.Fatal(err)
			}
			n.clock.Advance(2 * time.Minute)
			// A fresh KB-JWT at the new time.
			pres2, _ := sd.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "age_over_18" },
				&sdjwt.KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "abc123", IssuedAt: n.clock.Now()})
			if _, err := n.verifier.VerifySDJWT(ctx, pres2, opts); !errors.Is(err, ErrSuspended) {
				t.Fatalf("suspended: %v", err)
			}
			if err := n.issuer.SetStatus(ctx, iss.ID, issuer.ActionRevoke); err != nil {
				t.Fatal(err)
			}
			n.clock.Advance(2 * time.Minute)
			if _, err := n.verifier.VerifyToken(ctx, iss.Token); !errors.Is(err, ErrRevoked) {
				t.Fatalf("revoked: %v", err)
			}
		})
	}
}

func TestSDJWTVCRejects(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	iss := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT})
	parts := strings.Split(iss.Token, "~")
	// A disclosure that matches no digest (from another credential).
	other := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT})
	foreign := strings.Split(other.Token, "~")[1]
	if _, err := n.verifier.VerifyToken(ctx, iss.Token+foreign+"~"); !errors.Is(err, ErrMalformed) || !errors.Is(err, sdjwt.ErrUnmatched) {
		t.Errorf("foreign disclosure: %v", err)
	}
	// The same disclosure twice.
	if _, err := n.verifier.VerifyToken(ctx, iss.Token+parts[1]+"~"); !errors.Is(err, sdjwt.ErrDuplicateDigest) {
		t.Errorf("repeated disclosure: %v", err)
	}
	// An SD-JWT VC given to the vc+jwt verifier.
	if _, err := n.verifier.VerifyCredential(ctx, parts[0]); !errors.Is(err, ErrType) {
		t.Errorf("dc+sd-jwt as vc+jwt: %v", err)
	}
	// A vc+jwt given as SD-JWT.
	vc := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	if _, err := n.verifier.VerifySDJWT(ctx, vc.Token+"~", SDJWTOptions{}); !errors.Is(err, ErrType) {
		t.Errorf("vc+jwt as SD-JWT: %v", err)
	}
	// Expired.
	n.clock.Advance(400 * 24 * time.Hour)
	if _, err := n.verifier.VerifyToken(ctx, iss.Token); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
}

func TestIdentityCredential(t *testing.T) {
	at := func(s string) time.Time { tt, _ := time.Parse(time.DateOnly, s); return tt.Add(9 * time.Hour) }
	cases := []struct {
		birth, now string
		o18, o60   bool
	}{
		{"2008-03-01", "2026-02-28", false, false},
		{"2008-03-01", "2026-03-01", true, false},
		{"1966-03-01", "2026-03-01", true, true},
		{"1966-03-02", "2026-03-01", true, false},
		{"2008-02-29", "2026-02-28", false, false},
		{"2008-02-29", "2026-03-01", true, false},
	}
	for _, c := range cases {
		m, err := IdentityCredential(IdentityClaims{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: c.birth}, at(c.now))
		if err != nil {
			t.Fatal(err)
		}
		s := m["credentialSubject"].(map[string]any)
		if s["age_over_18"] != c.o18 || s["age_over_60"] != c.o60 {
			t.Errorf("born %s on %s: over18=%v over60=%v", c.birth, c.now, s["age_over_18"], s["age_over_60"])
		}
		if _, err := NewCredential(toJSON(t, m)); err == nil {
			t.Error("an unsigned request without issuer validated as a credential")
		}
	}
	// A birth date known in part (a passport's MRZ may leave the day,
	// or the month and day, unknown) gives no birthDate claim and an age
	// claim only where every possible day agrees; absent is nil here.
	for _, c := range []struct {
		birth, now string
		o18, o60   any
	}{
		{"2008-03", "2026-03-31", true, false},
		{"2008-03", "2026-03-30", nil, false},
		{"2008-03", "2026-02-28", false, false},
		{"2008", "2026-12-31", true, false},
		{"2008", "2026-12-30", nil, false},
		{"2008", "2025-12-31", false, false},
		{"1966", "2026-06-01", true, nil},
		{"1966", "2027-01-01", true, true},
		{"1966-02", "2026-02-28", true, true},
		{"2026", "2026-01-01", false, false},
	} {
		m, err := IdentityCredential(IdentityClaims{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: c.birth}, at(c.now))
		if err != nil {
			t.Fatalf("%s: %v", c.birth, err)
		}
		s := m["credentialSubject"].(map[string]any)
		if s["age_over_18"] != c.o18 || s["age_over_60"] != c.o60 || s["birthDate"] != nil {
			t.Errorf("born %s, on %s: over18=%v over60=%v birthDate=%v, want %v %v none", c.birth, c.now, s["age_over_18"], s["age_over_60"], s["birthDate"], c.o18, c.o60)
		}
	}
	// Born today somewhere (the date at UTC+14, the documents' rule), a
	// day after now's UTC date: enrollment issues at the UTC day's start.
	if _, err := IdentityCredential(IdentityClaims{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "2026-03-02"}, at("2026-03-01")); err != nil {
		t.Errorf("born the day after now's UTC date: %v", err)
	}
	bad := []IdentityClaims{
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "2027"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "2026-04"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "1990-13"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "1990-02-30"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "199"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "1800"},
		{Subject: "short", AssuranceLevel: 2, Region: "310000"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 5, Region: "310000"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310101"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "2099-01-01"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "2026-03-03"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", BirthDate: "01/05/1990"},
		{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 2, Region: "310000", Nationality: "China"},
	}
	for _, b := range bad {
		if _, err := IdentityCredential(b, at("2026-03-01")); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", b, err)
		}
	}
	if _, err := AttributeCredential("ResidenceCredential", "pw-3f9a1c0d7e21", map[string]any{"region": "310000"}, at("2026-03-01"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := AttributeCredential("IdentityCredential", "pw-3f9a1c0d7e21", map[string]any{"a": 1}, at("2026-03-01"), 0); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}

func toJSON(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	b, _ := jsonMarshal(m)
	out, err := DecodeObject(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSDJWTVCWithoutDisclosures: an SD-JWT VC whose claims
// options.mandatoryPointers all make plain has no selectively disclosable
// claims, and such an SD-JWT VC "MUST NOT contain the _sd claim in the
// JWT body" nor any Disclosures (draft-ietf-oauth-sd-jwt-vc, "SD-JWT VC
// without Selectively Disclosable Claims"): no decoys either. It verifies.
func TestSDJWTVCWithoutDisclosures(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	iss, err := n.issuer.Issue(ctx, sampleCredential(), issuer.IssueOptions{Format: "dc+sd-jwt", MandatoryPointers: []string{"/credentialSubject"}})
	if err != nil {
		t.Fatal(err)
	}
	jwt, rest, _ := strings.Cut(iss.Token, "~")
	p := decodePayload(t, jwt)
	if _, ok := p["_sd"]; ok || rest != "" {
		t.Fatalf("an SD-JWT VC with nothing disclosable has _sd %v and disclosures %q", p["_sd"], rest)
	}
	if res, _ := p["residence"].(map[string]any); res["region"] != "310000" || p["sub"] == nil {
		t.Fatalf("claims not plain: %v", p)
	}
	if _, err := n.verifier.VerifyToken(ctx, iss.Envelope()); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// With one claim left disclosable, the decoys stay.
	iss, err = n.issuer.Issue(ctx, sampleCredential(), issuer.IssueOptions{Format: "dc+sd-jwt", MandatoryPointers: []string{"/credentialSubject/id"}})
	if err != nil {
		t.Fatal(err)
	}
	if sd, _ := decodePayload(t, strings.Split(iss.Token, "~")[0])["_sd"].([]any); len(sd) != 3 {
		t.Fatalf("residence and two decoys: _sd %v", sd)
	}
}

// TestSDJWTVCLegacyTyp: draft-ietf-oauth-sd-jwt-vc RECOMMENDS that
// verifiers accept both vc+sd-jwt (its typ until November 2024) and
// dc+sd-jwt: an SD-JWT VC re-signed with typ vc+sd-jwt verifies, as a
// bare token, as application/dc+sd-jwt and presented with a KB-JWT; one
// of typ JWT does not, nor does a vc+sd-jwt with an @context (a W3C
// credential, TestVerifyVCSDJWT).
func TestSDJWTVCLegacyTyp(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	holder, _ := holderKey(t, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	iss := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	retyp := func(typ string, extra map[string]any) string {
		parts := strings.Split(iss.Token, "~")
		hdr, payload := decodeHeader(t, parts[0]), decodePayload(t, parts[0])
		hdr["typ"] = typ
		for name, v := range extra {
			payload[name] = v
		}
		h, _ := json.Marshal(hdr)
		p, _ := json.Marshal(payload)
		parts[0] = resign(t, string(h), string(p), k.Signer)
		return strings.Join(parts, "~")
	}
	legacy := retyp(TypVCSDJWT, nil)
	for _, in := range []string{legacy, "data:" + MediaTypeSDJWT + "," + legacy} {
		r, err := n.verifier.VerifyToken(ctx, in)
		if err != nil {
			t.Fatalf("typ vc+sd-jwt: %v", err)
		}
		if r.Format != TypSDJWTVC || r.Credential["vct"] != testBase+"/vct/IdentityCredential" {
			t.Fatalf("verified %+v", r)
		}
	}
	sd, err := sdjwt.Split(legacy)
	if err != nil {
		t.Fatal(err)
	}
	pres, err := sd.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "age_over_18" },
		&sdjwt.KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "n-legacy", IssuedAt: n.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifySDJWT(ctx, pres, SDJWTOptions{RequireKeyBinding: true, Audience: "https://rp.example", Nonce: "n-legacy"}); err != nil {
		t.Fatalf("typ vc+sd-jwt presented: %v", err)
	}
	for name, tok := range map[string]string{
		"typ JWT":                 retyp("JWT", nil),
		"vc+sd-jwt with @context": retyp(TypVCSDJWT, map[string]any{"@context": []any{ContextV2}}),
	} {
		if _, err := n.verifier.VerifyToken(ctx, tok); !errors.Is(err, ErrType) {
			t.Errorf("%s: %v, want ErrType", name, err)
		}
	}
}

// TestSDJWTVCReservedSubjectClaims: a subject claim that would become an
// SD-JWT VC claim the draft says "MUST NOT be included in the Disclosures"
// (iss, nbf, exp, cnf, vct, vct#integrity, status), or another the node
// sets, is refused at issue (ErrInvalid) rather than concealed into a
// credential every verifier, the node's own included, must refuse.
func TestSDJWTVCReservedSubjectClaims(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	for _, name := range []string{"vct#integrity", "status", "cnf", "iss", "exp", "nbf", "vct", "_sd"} {
		c := sampleCredential()
		c["credentialSubject"].(map[string]any)[name] = "sha256-47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
		if _, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{Format: "dc+sd-jwt"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("subject claim %q: %v, want ErrInvalid", name, err)
		}
	}
}
