package dataintegrity_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

// signRaw signs doc with a proof built by hand (for proof values AddProof
// does not write, such as a set of domains or a time in another lexical
// form): every property of proof but proofValue is signed.
func signRaw(t testing.TB, doc map[string]any, k didKey, proof map[string]any) map[string]any {
	t.Helper()
	hashData, err := di.HashData(doc, proof, proof["cryptosuite"].(string), k.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.signer.Sign(rand.Reader, hashData, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	out := clone(t, doc)
	p := clone(t, proof)
	p["proofValue"] = "z" + multikey.Base58Encode(sig)
	out["proof"] = p
	return out
}

// TestDomainSet: a proof's domain may be a set of strings, and the
// verifier's domain must be the same set (VC Data Integrity 1.0 §4.4,
// "If domain was given, and it does not contain the same strings as
// proof.domain (treating a single string as a set containing just that
// string), an error MUST be raised"): a proof made for a verifier and
// others is not this verifier's alone, and is refused.
func TestDomainSet(t *testing.T) {
	v := verifier(t)
	holder := newDIDKey(t, gm.AlgEdDSA)
	vp := map[string]any{
		"@context": []any{"https://www.w3.org/ns/credentials/v2"},
		"type":     []any{"VerifiablePresentation"},
		"holder":   holder.did,
	}
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		domain any
		want   error
	}{
		{"one string", "https://verifier.example", nil},
		{"a set of one", []any{"https://verifier.example"}, nil},
		{"the same string twice", []any{"https://verifier.example", "https://verifier.example"}, nil},
		{"a set with another verifier", []any{"https://verifier.example", "https://other.example"}, di.ErrDomain},
		{"another verifier first", []any{"https://other.example", "https://verifier.example"}, di.ErrDomain},
		{"another verifier", "https://other.example", di.ErrDomain},
		{"no domain", nil, di.ErrDomain},
	} {
		proof := map[string]any{
			"type": di.ProofType, "cryptosuite": di.EdDSARDFC2022, "proofPurpose": di.PurposeAuthentication,
			"verificationMethod": holder.vm, "created": now.Add(-time.Minute).Format(time.RFC3339),
			"challenge": "c-1f8e", "domain": c.domain,
		}
		if c.domain == nil {
			delete(proof, "domain")
		}
		signed := signRaw(t, vp, holder, proof)
		if _, err := v.VerifyPresentation(ctx, marshal(t, signed), di.PresentationOptions{Challenge: "c-1f8e", Domain: "https://verifier.example", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestProofTimesAreDateTimeStamps: a proof's created and expires must be
// XML Schema dateTimeStamps (VC Data Integrity 1.0 §2.1: "If present, an
// [XMLSCHEMA11-2] dateTimeStamp string"); forms time.Parse takes but the
// XSD lexical space has not (a comma before the fraction, an offset beyond
// 14:00) are malformed proofs, even when signed.
func TestProofTimesAreDateTimeStamps(t *testing.T) {
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgEdDSA)
	ctx := context.Background()
	for _, c := range []struct {
		name, field, value string
		want               error
	}{
		{"created", "created", "2026-03-01T06:00:00Z", nil},
		{"created with a fraction and an offset", "created", "2026-03-01T14:00:00.25+08:00", nil},
		{"expires", "expires", "2027-03-01T00:00:00Z", nil},
		{"created with a comma", "created", "2026-03-01T06:00:00,5Z", di.ErrProof},
		{"created at +23:00", "created", "2026-03-01T06:00:00+23:00", di.ErrProof},
		{"expires at -15:00", "expires", "2027-03-01T00:00:00-15:00", di.ErrProof},
		{"expires with a comma", "expires", "2027-03-01T00:00:00,0Z", di.ErrProof},
	} {
		signed := signRaw(t, credential(issuer.did), issuer, map[string]any{
			"type": di.ProofType, "cryptosuite": di.EdDSARDFC2022, "proofPurpose": di.PurposeAssertion,
			"verificationMethod": issuer.vm, c.field: c.value,
		})
		if _, err := v.VerifyCredential(ctx, marshal(t, signed)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestDirectionNotSigned: RDFC-1.0 suites cannot secure a base direction
// (jsonld.TestDirectionRefused), so a credential with one is not signed,
// and one added to a signed credential's name is refused rather than
// verified unsigned.
func TestDirectionNotSigned(t *testing.T) {
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgEdDSA)
	c := credential(issuer.did)
	c["name"] = map[string]any{"@value": "居住证明", "@language": "zh", "@direction": "ltr"}
	if _, err := di.AddProof(c, issuer.signer, di.Options{Cryptosuite: di.EdDSARDFC2022, VerificationMethod: issuer.vm}); !errors.Is(err, jsonld.ErrInvalid) {
		t.Errorf("signing a @direction: %v, want %v", err, jsonld.ErrInvalid)
	}
	c["name"] = map[string]any{"@value": "居住证明", "@language": "zh"}
	signed := sign(t, c, issuer, di.EdDSARDFC2022, di.Options{})
	if _, err := v.VerifyCredential(context.Background(), marshal(t, signed)); err != nil {
		t.Fatal(err)
	}
	signed["name"].(map[string]any)["@direction"] = "rtl"
	if _, err := v.VerifyCredential(context.Background(), marshal(t, signed)); !errors.Is(err, jsonld.ErrInvalid) {
		t.Errorf("a @direction added after signing: %v, want %v", err, jsonld.ErrInvalid)
	}
}

// TestBlankNodePropertyNotSigned: a member keyed by a blank node
// identifier is no RDF statement, so no proof covers it
// (jsonld.TestBlankNodePropertyRefused): one added to a signed credential
// is refused, not returned inside the verified credential.
func TestBlankNodePropertyNotSigned(t *testing.T) {
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgSM2)
	signed := sign(t, credential(issuer.did), issuer, di.SM2RDFC2025, di.Options{})
	signed["credentialSubject"].(map[string]any)["_:degree"] = "PhD"
	if res, err := v.VerifyCredential(context.Background(), marshal(t, signed)); !errors.Is(err, jsonld.ErrUndefinedTerm) {
		t.Errorf("a blank-node member added after signing: %v, want %v (%v)", err, jsonld.ErrUndefinedTerm, res)
	}
}

// TestJSONLiteralSigned: the content of an @json value of any JSON type is
// signed (jsonld.TestJSONLiterals): a changed array, number or string
// breaks the proof.
func TestJSONLiteralSigned(t *testing.T) {
	v := verifier(t)
	issuer := newDIDKey(t, gm.AlgEdDSA)
	for _, c := range []struct{ signed, tampered any }{
		{[]any{1.0, 2.0, 3.0}, []any{9.0}},
		{42.0, 43.0},
		{"a", "b"},
		{map[string]any{"a": []any{1.0}}, map[string]any{"a": []any{2.0}}},
	} {
		doc := credential(issuer.did)
		doc["credentialSubject"].(map[string]any)["https://schema.org/j"] = map[string]any{"@value": c.signed, "@type": "@json"}
		signed := sign(t, doc, issuer, di.EdDSARDFC2022, di.Options{})
		if _, err := v.VerifyCredential(context.Background(), marshal(t, signed)); err != nil {
			t.Fatalf("%v: %v", c.signed, err)
		}
		signed["credentialSubject"].(map[string]any)["https://schema.org/j"] = map[string]any{"@value": c.tampered, "@type": "@json"}
		if _, err := v.VerifyCredential(context.Background(), marshal(t, signed)); !errors.Is(err, di.ErrSignature) {
			t.Errorf("%v changed to %v: %v, want %v", c.signed, c.tampered, err, di.ErrSignature)
		}
	}
}

// TestProofContextPrefix: a proof's @context, when it has one, must begin
// the document's (VC Data Integrity 1.0, verify proof): another context,
// or more contexts than the document has, is a malformed proof.
func TestProofContextPrefix(t *testing.T) {
	v := verifier(t)
	holder := newDIDKey(t, gm.AlgEdDSA)
	vp := map[string]any{
		"@context": []any{"https://www.w3.org/ns/credentials/v2"},
		"type":     []any{"VerifiablePresentation"},
		"holder":   holder.did,
	}
	for name, pc := range map[string]any{
		"another context": []any{"https://www.w3.org/ns/credentials/examples/v2"},
		"longer":          []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"},
	} {
		signed := signRaw(t, vp, holder, map[string]any{
			"@context": pc, "type": di.ProofType, "cryptosuite": di.EdDSARDFC2022, "proofPurpose": di.PurposeAuthentication,
			"verificationMethod": holder.vm, "created": now.Add(-time.Minute).Format(time.RFC3339),
			"challenge": "c-1f8e", "domain": "https://verifier.example",
		})
		if _, err := v.VerifyPresentation(context.Background(), marshal(t, signed), di.PresentationOptions{Challenge: "c-1f8e", Domain: "https://verifier.example", HolderBinding: credentials.CheckSubjectIsHolder}); !errors.Is(err, di.ErrProof) {
			t.Errorf("%s: %v, want ErrProof", name, err)
		}
	}
}
