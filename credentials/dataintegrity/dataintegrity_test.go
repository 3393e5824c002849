package dataintegrity_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

var now = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

type didKey struct {
	signer crypto.Signer
	did    string
	vm     string
}

func newDIDKey(t testing.TB, alg string) didKey {
	t.Helper()
	k, err := gm.GenerateSigner(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	did, err := credentials.DIDKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return didKey{k, did, did + "#" + strings.TrimPrefix(did, "did:key:")}
}

var suiteOf = map[string]string{gm.AlgEdDSA: di.EdDSARDFC2022, gm.AlgES256: di.ECDSARDFC2019, gm.AlgSM2: di.SM2RDFC2025}

func credential(issuer string) map[string]any {
	return map[string]any{
		"@context":  []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"},
		"id":        "urn:uuid:8b0f5a36-4c8e-4b1d-9f57-2d6f0d1c4a11",
		"type":      []any{"VerifiableCredential", "ResidenceCredential"},
		"issuer":    issuer,
		"validFrom": "2026-01-01T00:00:00Z",
		"credentialSubject": map[string]any{
			"id":        "did:example:holder",
			"residence": map[string]any{"region": "310000"},
		},
	}
}

func verifier(t testing.TB, suites ...string) *di.Verifier {
	t.Helper()
	if len(suites) == 0 {
		suites = di.Cryptosuites()
	}
	v, err := di.NewVerifier(di.Config{
		Resolver:     &credentials.Resolver{Now: func() time.Time { return now }},
		Cryptosuites: suites,
		ProofOnly:    true,
		Now:          func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t testing.TB, doc map[string]any, k didKey, suite string, opts di.Options) map[string]any {
	t.Helper()
	opts.Cryptosuite = suite
	if opts.VerificationMethod == "" {
		opts.VerificationMethod = k.vm
	}
	if opts.Created.IsZero() {
		opts.Created = now.Add(-time.Hour)
		if opts.ProofPurpose == di.PurposeAuthentication {
			opts.Created = now.Add(-time.Minute) // within DefaultMaxAge
		}
	}
	out, err := di.AddProof(doc, k.signer, opts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCredentialRoundTrip: each suite signs a credential of a did:key
// issuer; the verifier resolves the key through credentials.Resolver and
// returns the credential without its proof.
func TestCredentialRoundTrip(t *testing.T) {
	v := verifier(t)
	for alg, suite := range suiteOf {
		k := newDIDKey(t, alg)
		mk, err := multikey.Encode(k.signer.Public())
		if err != nil || "did:key:"+mk != k.did {
			t.Fatalf("%s: Multikey %s does not match did:key %s (%v)", alg, mk, k.did, err)
		}
		signed := sign(t, credential(k.did), k, suite, di.Options{})
		got, err := v.VerifyCredential(context.Background(), marshal(t, signed))
		if err != nil {
			t.Fatalf("%s: %v", suite, err)
		}
		if _, has := got.Document["proof"]; has || got.Document["issuer"] != k.did {
			t.Fatalf("%s: returned %v", suite, got)
		}
	}
}

// TestP384 signs and verifies ecdsa-rdfc-2019 with P-384: the key given
// as a Multikey, and as a did:key (p384-pub) the resolver reads.
func TestP384(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := multikey.Encode(&k.PublicKey)
	if err != nil || !strings.HasPrefix(mk, "z82L") {
		t.Fatalf("P-384 Multikey %q: %v", mk, err)
	}
	pub, err := multikey.Decode(mk)
	if err != nil || !pub.(*ecdsa.PublicKey).Equal(&k.PublicKey) {
		t.Fatalf("decode: %v", err)
	}
	did := "did:key:" + mk
	viaDID := sign(t, credential(did), didKey{signer: k}, di.ECDSARDFC2019, di.Options{VerificationMethod: did + "#" + mk})
	if _, err := verifier(t).VerifyCredential(context.Background(), marshal(t, viaDID)); err != nil {
		t.Fatalf("P-384 did:key: %v", err)
	}
	signed := sign(t, credential("https://issuer.example"), didKey{signer: k}, di.ECDSARDFC2019, di.Options{VerificationMethod: "https://issuer.example#" + mk})
	doc, _ := jsonld.Check(signed, jsonld.Limits{})
	if err := di.VerifyProofWithKey(doc, &k.PublicKey); err != nil {
		t.Fatal(err)
	}
	doc["validFrom"] = "2026-01-02T00:00:00Z"
	if err := di.VerifyProofWithKey(doc, &k.PublicKey); !errors.Is(err, di.ErrSignature) {
		t.Fatalf("tampered: %v", err)
	}
}

// TestPresentation: a did:key holder signs a presentation for the
// verifier's challenge and domain; the embedded credential is verified too.
func TestPresentation(t *testing.T) {
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgSM2)
	holder := newDIDKey(t, gm.AlgEdDSA)
	vc := sign(t, credential(issuer.did), issuer, di.SM2RDFC2025, di.Options{})
	vp := map[string]any{
		"@context":             []any{"https://www.w3.org/ns/credentials/v2"},
		"type":                 []any{"VerifiablePresentation"},
		"holder":               holder.did,
		"verifiableCredential": []any{vc},
	}
	signed := sign(t, vp, holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1f8e", Domain: "https://verifier.example"})
	data := marshal(t, signed)
	ctx := context.Background()
	p, err := v.VerifyPresentation(ctx, data, di.PresentationOptions{Challenge: "c-1f8e", Domain: "https://verifier.example", HolderBinding: di.AnyHolder})
	if err != nil {
		t.Fatal(err)
	}
	if p.Holder != holder.did || len(p.Credentials) != 1 || p.Credentials[0].Document["issuer"] != issuer.did {
		t.Fatalf("presentation: %+v", p)
	}
	for _, c := range []struct {
		name, challenge, domain string
		want                    error
	}{
		{"wrong challenge", "c-other", "https://verifier.example", di.ErrChallenge},
		{"no challenge expected", "", "", di.ErrChallenge},
		{"wrong domain", "c-1f8e", "https://other.example", di.ErrDomain},
	} {
		if _, err := v.VerifyPresentation(ctx, data, di.PresentationOptions{Challenge: c.challenge, Domain: c.domain, HolderBinding: di.AnyHolder}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Its proof's created: required, and at most MaxAge (default
	// DefaultMaxAge) old, as a vp+jwt's iat.
	for _, c := range []struct {
		name    string
		created time.Time
		want    error
	}{
		{"just within the maximum age", now.Add(-di.DefaultMaxAge), nil},
		{"older than the maximum age", now.Add(-di.DefaultMaxAge - time.Second), di.ErrExpired},
		{"a day old", now.Add(-24 * time.Hour), di.ErrExpired},
	} {
		old := sign(t, vp, holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1f8e", Created: c.created})
		if _, err := v.VerifyPresentation(ctx, marshal(t, old), di.PresentationOptions{Challenge: "c-1f8e", Domain: "", HolderBinding: di.AnyHolder}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	noCreated := clone(t, signed)
	delete(noCreated["proof"].(map[string]any), "created")
	if _, err := v.VerifyPresentation(ctx, marshal(t, noCreated), di.PresentationOptions{Challenge: "c-1f8e", Domain: "", HolderBinding: di.AnyHolder}); !errors.Is(err, di.ErrProof) {
		t.Errorf("a presentation proof without created: %v, want %v", err, di.ErrProof)
	}
	longer, err := di.NewVerifier(di.Config{Resolver: &credentials.Resolver{Now: func() time.Time { return now }},
		Cryptosuites: di.Cryptosuites(), ProofOnly: true, Now: func() time.Time { return now }, MaxAge: time.Hour, Leeway: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	hourOld := sign(t, vp, holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1f8e", Created: now.Add(-time.Hour - time.Minute)})
	if _, err := longer.VerifyPresentation(ctx, marshal(t, hourOld), di.PresentationOptions{Challenge: "c-1f8e", Domain: "", HolderBinding: di.AnyHolder}); err != nil {
		t.Errorf("MaxAge an hour, leeway a minute: %v", err)
	}
	// Signed by someone other than the holder.
	other := newDIDKey(t, gm.AlgEdDSA)
	forged := sign(t, vp, other, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1f8e"})
	if _, err := v.VerifyPresentation(ctx, marshal(t, forged), di.PresentationOptions{Challenge: "c-1f8e", Domain: "", HolderBinding: di.AnyHolder}); !errors.Is(err, di.ErrVerificationMethod) || !errors.Is(err, credentials.ErrIssuerMismatch) {
		t.Errorf("another key than the holder's: %v", err)
	}
	// A presentation signed for assertion.
	assert := sign(t, vp, holder, di.EdDSARDFC2022, di.Options{Challenge: "c-1f8e"})
	if _, err := v.VerifyPresentation(ctx, marshal(t, assert), di.PresentationOptions{Challenge: "c-1f8e", Domain: "", HolderBinding: di.AnyHolder}); !errors.Is(err, di.ErrProofPurpose) {
		t.Errorf("assertionMethod presentation: %v", err)
	}
	// A tampered embedded credential.
	bad := sign(t, credential(issuer.did), issuer, di.SM2RDFC2025, di.Options{})
	bad["validFrom"] = "2020-01-01T00:00:00Z"
	vp["verifiableCredential"] = []any{bad}
	tampered := sign(t, vp, holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1f8e"})
	if _, err := v.VerifyPresentation(ctx, marshal(t, tampered), di.PresentationOptions{Challenge: "c-1f8e", Domain: "", HolderBinding: di.AnyHolder}); !errors.Is(err, di.ErrSignature) {
		t.Errorf("tampered embedded credential: %v", err)
	}
}

// TestBadProofs: each refusal has its own error, nothing panics and
// nothing is fetched (the resolver has no network for did:key).
func TestBadProofs(t *testing.T) {
	ctx := context.Background()
	v := verifier(t)
	ed := newDIDKey(t, gm.AlgEdDSA)
	sm := newDIDKey(t, gm.AlgSM2)
	good := sign(t, credential(sm.did), sm, di.SM2RDFC2025, di.Options{})
	edit := func(f func(doc, proof map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(marshal(t, good), &m)
		f(m, m["proof"].(map[string]any))
		return marshal(t, m)
	}
	// A proof claiming eddsa-rdfc-2022 over an SM2 key: re-sign the
	// configuration is impossible, so the mismatch is found first.
	mismatch := edit(func(_, p map[string]any) { p["cryptosuite"] = di.EdDSARDFC2022 })
	cases := []struct {
		name string
		data []byte
		v    *di.Verifier
		want error
	}{
		{"no proof", marshal(t, credential(sm.did)), v, di.ErrNoProof},
		{"suite/key mismatch", mismatch, v, di.ErrSuiteKeyMismatch},
		{"suite not allowed", marshal(t, good), verifier(t, di.EdDSARDFC2022), di.ErrUnsupportedSuite},
		{"unknown suite", edit(func(_, p map[string]any) { p["cryptosuite"] = "rsa-rdfc-2099" }), v, di.ErrUnsupportedSuite},
		{"other proof type", edit(func(_, p map[string]any) { p["type"] = "Ed25519Signature2020" }), v, di.ErrUnsupportedSuite},
		{"wrong purpose", edit(func(_, p map[string]any) { p["proofPurpose"] = "authentication" }), v, di.ErrProofPurpose},
		{"tampered document", edit(func(d, _ map[string]any) { d["validFrom"] = "2025-01-01T00:00:00Z" }), v, di.ErrSignature},
		{"tampered proof", edit(func(_, p map[string]any) { p["created"] = "2026-02-01T00:00:00Z" }), v, di.ErrSignature},
		{"created in the future", marshal(t, sign(t, credential(sm.did), sm, di.SM2RDFC2025, di.Options{Created: now.Add(time.Hour)})), v, di.ErrCreated},
		{"expired", marshal(t, sign(t, credential(sm.did), sm, di.SM2RDFC2025, di.Options{Expires: now.Add(-time.Minute)})), v, di.ErrExpired},
		{"bad created", edit(func(_, p map[string]any) { p["created"] = "yesterday" }), v, di.ErrProof},
		{"proofValue not base58btc", edit(func(_, p map[string]any) { p["proofValue"] = "uAAAA" }), v, di.ErrProof},
		{"empty proof set", edit(func(d, _ map[string]any) { d["proof"] = []any{} }), v, di.ErrNoProof},
		{"proof set item not an object", edit(func(d, p map[string]any) { d["proof"] = []any{p, "z"} }), v, di.ErrProof},
		{"key of another DID", marshal(t, sign(t, credential(sm.did), ed, di.EdDSARDFC2022, di.Options{})), v, credentials.ErrIssuerMismatch},
		{"unknown context", edit(func(d, _ map[string]any) {
			d["@context"] = []any{"https://www.w3.org/ns/credentials/v2", "https://schema.org/"}
		}), v, jsonld.ErrUnknownContext},
		{"first context", edit(func(d, _ map[string]any) { d["@context"] = []any{"https://www.w3.org/2018/credentials/v1"} }), v, jsonld.ErrFirstContext},
		{"protected redefinition", edit(func(d, _ map[string]any) {
			d["@context"] = []any{"https://www.w3.org/ns/credentials/v2", map[string]any{"name": "https://evil.example/name"}}
		}), v, jsonld.ErrProtectedTerm},
		{"deep", edit(func(d, _ map[string]any) {
			var x any = "leaf"
			for range 40 {
				x = map[string]any{"n": x}
			}
			d["credentialSubject"] = x
		}), v, jsonld.ErrTooDeep},
		{"oversized", edit(func(d, _ map[string]any) { d["description"] = strings.Repeat("x", jsonld.DefaultMaxBytes) }), v, jsonld.ErrTooLarge},
	}
	for _, c := range cases {
		_, err := c.v.VerifyCredential(ctx, c.data)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Refusing to sign with a key of another type than the suite's.
	if _, err := di.AddProof(credential(ed.did), ed.signer, di.Options{Cryptosuite: di.SM2RDFC2025, VerificationMethod: ed.vm}); !errors.Is(err, di.ErrSuiteKeyMismatch) {
		t.Errorf("signing SM2 suite with Ed25519: %v", err)
	}
	_ = ed25519.PublicKeySize
}

// FuzzVerifyCredential: no input panics; a refusal is always one of the
// package's or jsonld's errors.
func FuzzVerifyCredential(f *testing.F) {
	k := newDIDKey(f, gm.AlgSM2)
	f.Add(marshal(f, sign(f, credential(k.did), k, di.SM2RDFC2025, di.Options{})))
	e := newDIDKey(f, gm.AlgEdDSA)
	f.Add(marshal(f, sign(f, credential(e.did), e, di.EdDSARDFC2022, di.Options{Expires: now.Add(time.Hour)})))
	chain := sign(f, credential(k.did), k, di.SM2RDFC2025, di.Options{ID: "urn:uuid:1"})
	f.Add(marshal(f, sign(f, chain, e, di.EdDSARDFC2022, di.Options{ID: "urn:uuid:2", PreviousProof: []string{"urn:uuid:1"}})))
	f.Add([]byte(`{"@context":"https://www.w3.org/ns/credentials/v2","issuer":"did:key:z6Mk","proof":[{"id":"urn:x:1","previousProof":"urn:x:2","type":"DataIntegrityProof"},{"id":"urn:x:2","previousProof":["urn:x:1"]}]}`))
	f.Add([]byte(`{"@context":"https://www.w3.org/ns/credentials/v2","issuer":"did:key:z6Mk","proof":[{"type":"DataIntegrityProof","cryptosuite":"eddsa-rdfc-2022","proofPurpose":"assertionMethod","verificationMethod":"did:key:z6Mk#z6Mk","proofValue":"z1","domain":["a"]}]}`))
	v := verifier(f)
	sentinels := []error{di.ErrNoProof, di.ErrProof, di.ErrUnsupportedSuite, di.ErrSuiteKeyMismatch, di.ErrKey, di.ErrProofPurpose,
		di.ErrVerificationMethod, di.ErrCreated, di.ErrExpired, di.ErrSignature, di.ErrPreviousProof,
		jsonld.ErrUnknownContext, jsonld.ErrFirstContext, jsonld.ErrUndefinedTerm, jsonld.ErrProtectedTerm, jsonld.ErrRelativeIRI,
		jsonld.ErrTooLarge, jsonld.ErrTooDeep, jsonld.ErrInvalid}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := v.VerifyCredential(context.Background(), data)
		if err == nil {
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("unexpected error kind: %v", err)
	})
}

func jsonldCheck(doc map[string]any) (map[string]any, error) {
	return jsonld.Check(doc, jsonld.Limits{})
}

func jsonldCanonicalize(doc map[string]any) (string, error) { return jsonld.Canonicalize(doc) }

// FuzzVerifyPresentation: no presentation input panics; a refusal is one
// of the package's or jsonld's errors (or an embedded credential's).
func FuzzVerifyPresentation(f *testing.F) {
	issuer := newDIDKey(f, gm.AlgSM2)
	holder := newDIDKey(f, gm.AlgEdDSA)
	vp := map[string]any{
		"@context":             []any{"https://www.w3.org/ns/credentials/v2"},
		"type":                 []any{"VerifiablePresentation"},
		"holder":               holder.did,
		"verifiableCredential": []any{sign(f, credential(issuer.did), issuer, di.SM2RDFC2025, di.Options{})},
	}
	f.Add(marshal(f, sign(f, vp, holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c", Domain: "d"})))
	f.Add([]byte(`{"@context":"https://www.w3.org/ns/credentials/v2","type":"VerifiablePresentation","verifiableCredential":[{"id":"data:application/vc+jwt,x","type":"EnvelopedVerifiableCredential"}],"proof":{"type":"DataIntegrityProof","cryptosuite":"eddsa-rdfc-2022","proofPurpose":"authentication","verificationMethod":"did:key:z6Mk#z6Mk","proofValue":"z1","challenge":"c"}}`))
	v := verifier(f)
	sentinels := []error{di.ErrNoProof, di.ErrProof, di.ErrUnsupportedSuite, di.ErrSuiteKeyMismatch, di.ErrKey, di.ErrProofPurpose,
		di.ErrVerificationMethod, di.ErrCreated, di.ErrExpired, di.ErrChallenge, di.ErrDomain, di.ErrSignature, di.ErrPreviousProof,
		jsonld.ErrUnknownContext, jsonld.ErrFirstContext, jsonld.ErrUndefinedTerm, jsonld.ErrProtectedTerm, jsonld.ErrRelativeIRI,
		jsonld.ErrTooLarge, jsonld.ErrTooDeep, jsonld.ErrInvalid}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := v.VerifyPresentation(context.Background(), data, di.PresentationOptions{Challenge: "c", Domain: "d", HolderBinding: di.AnyHolder})
		if err == nil {
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("unexpected error kind: %v", err)
	})
}

// TestSignPresentation: SignPresentation makes an authentication proof
// bound to the verifier's challenge and domain, which it requires; a
// presentation that names no holder must be signed with a did:key (or
// did:jwk), since nothing else says whose key signed it.
func TestSignPresentation(t *testing.T) {
	ctx := context.Background()
	v := verifier(t)
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA} {
		holder := newDIDKey(t, alg)
		vp := map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"VerifiablePresentation"}, "holder": holder.did}
		out, err := di.SignPresentation(suiteOf[alg], vp, holder.vm, holder.signer, "c-77", "https://verifier.example", now.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := vp["proof"]; ok {
			t.Fatal("SignPresentation changed its input")
		}
		p, err := v.VerifyPresentation(ctx, []byte(out), di.PresentationOptions{Challenge: "c-77", Domain: "https://verifier.example", HolderBinding: credentials.CheckSubjectIsHolder})
		if err != nil || p.Holder != holder.did {
			t.Fatalf("%s: %v %+v", alg, err, p)
		}
		if _, err := v.VerifyPresentation(ctx, []byte(out), di.PresentationOptions{Challenge: "c-78", Domain: "https://verifier.example", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, di.ErrChallenge) {
			t.Errorf("%s: another challenge: %v", alg, err)
		}
		if _, err := di.SignPresentation(suiteOf[alg], vp, holder.vm, holder.signer, "c-77", "", now); !errors.Is(err, di.ErrProof) {
			t.Errorf("%s: no domain: %v", alg, err)
		}
		// A secured document is not signed again (co-signing is AddProof's).
		var secured map[string]any
		if err := json.Unmarshal([]byte(out), &secured); err != nil {
			t.Fatal(err)
		}
		if _, err := di.SignPresentation(suiteOf[alg], secured, holder.vm, holder.signer, "c-77", "d", now); !errors.Is(err, di.ErrProof) {
			t.Errorf("%s: a presentation with a proof signed again: %v", alg, err)
		}
		if _, err := di.SignCredential(suiteOf[alg], secured, holder.vm, holder.signer); !errors.Is(err, di.ErrProof) {
			t.Errorf("%s: a document with a proof signed as a credential: %v", alg, err)
		}
	}
	k := newDIDKey(t, gm.AlgEdDSA)
	anon := map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"VerifiablePresentation"}}
	out, err := di.SignPresentation(di.EdDSARDFC2022, anon, "did:web:holder.example#key-1", k.signer, "c-77", "d", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyPresentation(ctx, []byte(out), di.PresentationOptions{Challenge: "c-77", Domain: "d", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, di.ErrVerificationMethod) {
		t.Errorf("no holder, did:web key: %v", err)
	}
	out, _ = di.SignPresentation(di.EdDSARDFC2022, anon, k.vm, k.signer, "c-77", "d", now)
	if p, err := v.VerifyPresentation(ctx, []byte(out), di.PresentationOptions{Challenge: "c-77", Domain: "d", HolderBinding: credentials.CheckSubjectIsHolder}); err != nil || p.Holder != "" {
		t.Errorf("no holder, did:key: %v", err)
	}
}

// TestVerificationRelationship: a did:web controller document names which
// key may do what (VC Data Integrity 1.0 with W3C Controlled Identifiers):
// a presentation proof (authentication) verifies only with a key listed in
// authentication, a credential proof only with one in assertionMethod.
func TestVerificationRelationship(t *testing.T) {
	ctx := context.Background()
	assertKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	authKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	did, client := didtest.Serve(t, didtest.Method{Frag: "assert", Key: assertKey, Assertion: true},
		didtest.Method{Frag: "auth", Key: authKey, Authentication: true})
	v, err := di.NewVerifier(di.Config{Resolver: &credentials.Resolver{Client: client, Now: func() time.Time { return now }},
		Cryptosuites: di.Cryptosuites(), ProofOnly: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	vp := map[string]any{"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"VerifiablePresentation"}, "holder": did}
	present := func(k crypto.Signer, frag string) []byte {
		out, err := di.SignPresentation(di.EdDSARDFC2022, vp, did+"#"+frag, k, "c-5", "d", now.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(out)
	}
	if _, err := v.VerifyPresentation(ctx, present(authKey, "auth"), di.PresentationOptions{Challenge: "c-5", Domain: "d", HolderBinding: credentials.CheckSubjectIsHolder}); err != nil {
		t.Errorf("authentication key: %v", err)
	}
	if _, err := v.VerifyPresentation(ctx, present(assertKey, "assert"), di.PresentationOptions{Challenge: "c-5", Domain: "d", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, di.ErrVerificationMethod) || !errors.Is(err, credentials.ErrUnknownKey) {
		t.Errorf("assertionMethod key for a presentation: %v", err)
	}
	// A resolver that cannot check the relationship takes no did:web key
	// for a presentation; nor does a presentation without a holder.
	plain, err := di.NewVerifier(di.Config{Resolver: struct{ di.KeyResolver }{&credentials.Resolver{Client: client, Now: func() time.Time { return now }}},
		Cryptosuites: di.Cryptosuites(), ProofOnly: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.VerifyPresentation(ctx, present(assertKey, "assert"), di.PresentationOptions{Challenge: "c-5", Domain: "d", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, di.ErrVerificationMethod) {
		t.Errorf("assertionMethod key, resolver without relationships: %v", err)
	}
	anon, err := di.SignPresentation(di.EdDSARDFC2022, map[string]any{"@context": vp["@context"], "type": vp["type"]}, did+"#auth", authKey, "c-5", "d", now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyPresentation(ctx, []byte(anon), di.PresentationOptions{Challenge: "c-5", Domain: "d", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, di.ErrVerificationMethod) {
		t.Errorf("no holder, did:web authentication key: %v", err)
	}
	issue := func(k crypto.Signer, frag string) []byte {
		return marshal(t, sign(t, credential(did), didKey{signer: k}, di.EdDSARDFC2022, di.Options{VerificationMethod: did + "#" + frag}))
	}
	if _, err := v.VerifyCredential(ctx, issue(assertKey, "assert")); err != nil {
		t.Errorf("assertionMethod key: %v", err)
	}
	if _, err := v.VerifyCredential(ctx, issue(authKey, "auth")); !errors.Is(err, di.ErrVerificationMethod) || !errors.Is(err, credentials.ErrUnknownKey) {
		t.Errorf("authentication key for a credential: %v", err)
	}
}

// TestControlCharactersRoundTrip: strings with control characters (valid
// JSON, valid JSON-LD) sign and verify with each suite, in a literal of a
// blank node too, and changing one control character breaks the proof.
func TestControlCharactersRoundTrip(t *testing.T) {
	v := verifier(t)
	for alg, suite := range suiteOf {
		k := newDIDKey(t, alg)
		doc := credential(k.did)
		doc["description"] = "a\u0000b\u0001c\bd\te\nf\u000bg\fh\ri\u001fj\u007fk\"l\\m"
		// residence is a blank node: its literal's characters are hashed
		// for its label as canonical N-Quads writes them.
		doc["credentialSubject"].(map[string]any)["residence"] = map[string]any{"region": "31\t\b\u0003\f\u007f\ufffe0000"}
		signed := marshal(t, sign(t, doc, k, suite, di.Options{}))
		if _, err := v.VerifyCredential(context.Background(), signed); err != nil {
			t.Fatalf("%s: %v", suite, err)
		}
		for _, c := range [][2]string{{`\u0001`, `\u0002`}, {`\u0003`, `\u0004`}} {
			tampered := strings.Replace(string(signed), c[0], c[1], 1)
			if tampered == string(signed) {
				t.Fatalf("%s: no %s in %s", suite, c[0], signed)
			}
			if _, err := v.VerifyCredential(context.Background(), []byte(tampered)); !errors.Is(err, di.ErrSignature) {
				t.Errorf("%s: tampered control character %s: %v", suite, c[0], err)
			}
		}
	}
}

// TestJWKContext: a credential naming the bundled JWK context
// (https://w3id.org/security/jwk/v1) with a JsonWebKey in its subject is
// signed and verified by each suite, the issuer's keys being JsonWebKey
// verification methods of a did:web document.
func TestJWKContext(t *testing.T) {
	ctx := context.Background()
	algs := map[string]string{gm.AlgEdDSA: di.EdDSARDFC2022, gm.AlgES256: di.ECDSARDFC2019, gm.AlgES384: di.ECDSARDFC2019, gm.AlgSM2: di.SM2RDFC2025}
	var methods []didtest.Method
	keys := map[string]crypto.Signer{}
	for alg := range algs {
		k, err := gm.GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[alg] = k
		methods = append(methods, didtest.Method{Frag: strings.ToLower(alg), Key: k, Assertion: true},
			didtest.Method{Frag: "mk-" + strings.ToLower(alg), Key: k, Assertion: true, Multikey: true})
	}
	did, client := didtest.Serve(t, methods...)
	v, err := di.NewVerifier(di.Config{Resolver: &credentials.Resolver{Client: client, Now: func() time.Time { return now }},
		Cryptosuites: di.Cryptosuites(), ProofOnly: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for alg, suite := range algs {
		j, err := gm.NewJWK(keys[alg].Public(), "")
		if err != nil {
			t.Fatal(err)
		}
		var jwk map[string]any
		if err := json.Unmarshal(marshal(t, j), &jwk); err != nil {
			t.Fatal(err)
		}
		doc := credential(did)
		doc["@context"] = []any{"https://www.w3.org/ns/credentials/v2", "https://w3id.org/security/jwk/v1"}
		doc["type"] = []any{"VerifiableCredential"}
		doc["credentialSubject"] = map[string]any{"id": "did:example:holder#key-1", "type": "JsonWebKey", "controller": "did:example:holder", "publicKeyJwk": jwk}
		signed := marshal(t, sign(t, doc, didKey{signer: keys[alg]}, suite, di.Options{VerificationMethod: did + "#" + strings.ToLower(alg)}))
		if _, err := v.VerifyCredential(ctx, signed); err != nil {
			t.Errorf("%s (%s): %v", suite, alg, err)
		}
		// The same key published as a Multikey method of the did:web document.
		signedMK := marshal(t, sign(t, doc, didKey{signer: keys[alg]}, suite, di.Options{VerificationMethod: did + "#mk-" + strings.ToLower(alg)}))
		if _, err := v.VerifyCredential(ctx, signedMK); err != nil {
			t.Errorf("%s (%s) with a Multikey method: %v", suite, alg, err)
		}
		tampered := strings.Replace(string(signed), `"kty"`, `"kid":"x","kty"`, 1)
		if _, err := v.VerifyCredential(ctx, []byte(tampered)); !errors.Is(err, di.ErrSignature) {
			t.Errorf("%s (%s): changed publicKeyJwk: %v", suite, alg, err)
		}
	}
}

// TestDefaultMaxAge: a presentation is as fresh secured with Data
// Integrity as secured as a vp+jwt (the packages cannot share the constant:
// dataintegrity does not import credentials).
func TestDefaultMaxAge(t *testing.T) {
	if di.DefaultMaxAge != credentials.DefaultVPMaxAge {
		t.Errorf("DefaultMaxAge %v, credentials.DefaultVPMaxAge %v", di.DefaultMaxAge, credentials.DefaultVPMaxAge)
	}
}
