package dataintegrity_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/gm"
)

// TestPresentationHolderBinding: VerifyPresentation requires its caller
// to say how the embedded credentials are bound to the holder, which VC
// 2.0 leaves to the verifier: without a HolderBinding every presentation
// is refused (it checked none, documented as the caller's job, which a
// caller could forget). With credentials.CheckSubjectIsHolder another's
// credential (its subject id) is refused holder_mismatch before it is
// verified (its did:web issuer's document not fetched), and so is one
// bound by cnf (no key to compare); the holder's and a bearer one (no
// subject id) verify. With AnyHolder another's verifies: the spec's
// default. A credential without a proof (enveloped) is the caller's to
// verify: without a Check to do it, the presentation is refused (it was
// returned in Other, unverified, its binding unchecked). Another's
// credential whose subject id is respelled so that the JSON has none and
// the RDF, which the proof covers, is unchanged (@id, an alias of @id,
// @nest, a subject under the IRI of credentialSubject) is refused as not in compacted form (jsonld.ErrNotCompacted)
// before it is verified: it was taken as a bearer credential.
func TestPresentationHolderBinding(t *testing.T) {
	ctx := context.Background()
	issuerKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	issuer, client, fetches := didtest.ServeCounted(t, didtest.Method{Frag: "key-1", Key: issuerKey, Assertion: true})
	// Each verification has a verifier of its own: the Resolver caches
	// the documents it fetched.
	verifier := func() *di.Verifier {
		v, err := di.NewVerifier(di.Config{Resolver: &credentials.Resolver{Client: client, Now: func() time.Time { return now }},
			Cryptosuites: di.Cryptosuites(), ProofOnly: true, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	holder := newDIDKey(t, gm.AlgEdDSA)
	issuerDID := didKey{signer: issuerKey, did: issuer, vm: issuer + "#key-1"}
	present := func(subject any, extra map[string]any) []byte {
		c := map[string]any{"@context": []any{credentials.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": issuer,
			"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": subject}
		for k, x := range extra {
			c[k] = x
		}
		m := sign(t, c, issuerDID, di.EdDSARDFC2022, di.Options{})
		vp := map[string]any{"@context": []any{credentials.ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder.did, "verifiableCredential": []any{m}}
		return marshal(t, sign(t, vp, holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1", Domain: "d", Created: now.Add(-time.Minute)}))
	}
	others := present(map[string]any{"id": "did:example:someone-else"}, nil)
	options := func(b di.HolderBinding) di.PresentationOptions {
		return di.PresentationOptions{Challenge: "c-1", Domain: "d", HolderBinding: b}
	}
	if _, err := verifier().VerifyPresentation(ctx, others, di.PresentationOptions{Challenge: "c-1", Domain: "d"}); err == nil || fetches.Load() != 0 {
		t.Errorf("no HolderBinding: %v after %d fetches, want refused with none", err, fetches.Load())
	}
	jwk, _ := gm.NewJWK(holder.signer.Public(), "")
	raw, _ := json.Marshal(jwk)
	var cnf map[string]any
	_ = json.Unmarshal(raw, &cnf)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"another's", others},
		{"another's beside the holder", present([]any{map[string]any{"id": holder.did}, map[string]any{"id": "did:example:someone-else"}}, nil)},
		{"bound by cnf", present(map[string]any{"id": holder.did}, map[string]any{"cnf": map[string]any{"jwk": cnf}})},
	} {
		fetches.Store(0)
		if _, err := verifier().VerifyPresentation(ctx, c.data, options(credentials.CheckSubjectIsHolder)); !errors.Is(err, credentials.ErrHolderMismatch) || fetches.Load() != 0 {
			t.Errorf("%s: %v after %d fetches of the issuer's document, want %v and none", c.name, err, fetches.Load(), credentials.ErrHolderMismatch)
		}
	}
	for _, c := range []struct {
		name    string
		data    []byte
		binding di.HolderBinding
	}{
		{"the holder's", present(map[string]any{"id": holder.did}, nil), credentials.CheckSubjectIsHolder},
		{"a bearer credential", present(map[string]any{"name": "x"}, nil), credentials.CheckSubjectIsHolder},
		{"another's, any holder", others, di.AnyHolder},
	} {
		if p, err := verifier().VerifyPresentation(ctx, c.data, options(c.binding)); err != nil || len(p.Credentials) != 1 {
			t.Errorf("%s: %v, want verified", c.name, err)
		}
	}
	// Another's credential respelled after its issuer signed it: the RDF,
	// and so the proof, is unchanged, while the JSON has no subject id,
	// which a binding reading the JSON took for a bearer credential.
	respelled := func(subject any, topContext []any) []byte {
		m := sign(t, map[string]any{"@context": []any{credentials.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": issuer,
			"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": map[string]any{"id": "did:example:someone-else", "name": "x"}}, issuerDID, di.EdDSARDFC2022, di.Options{})
		vp := map[string]any{"@context": []any{credentials.ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder.did, "verifiableCredential": []any{m}}
		vp = sign(t, vp, holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1", Domain: "d", Created: now.Add(-time.Minute)})
		// Respelled after the holder signed too (AddProof refuses to
		// sign it): the presentation's RDF is unchanged as well.
		m["credentialSubject"] = subject
		if topContext != nil {
			m["@context"] = topContext
		}
		return marshal(t, vp)
	}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"@id", respelled(map[string]any{"@id": "did:example:someone-else", "name": "x"}, nil)},
		{"an alias of @id in the subject's own @context", respelled(map[string]any{"@context": map[string]any{"subj": "@id"}, "subj": "did:example:someone-else", "name": "x"}, nil)},
		{"an alias of @id in the top-level @context", respelled(map[string]any{"subj": "did:example:someone-else", "name": "x"},
			[]any{credentials.ContextV2, map[string]any{"subj": map[string]any{"@id": "@id"}}})},
		{"@nest", respelled(map[string]any{"@nest": map[string]any{"id": "did:example:someone-else"}, "name": "x"}, nil)},
		{"an array in an array", respelled([]any{[]any{map[string]any{"id": "did:example:someone-else", "name": "x"}}}, nil)},
	} {
		fetches.Store(0)
		if _, err := verifier().VerifyPresentation(ctx, c.data, options(credentials.CheckSubjectIsHolder)); !errors.Is(err, jsonld.ErrNotCompacted) || fetches.Load() != 0 {
			t.Errorf("another's credential, its subject id respelled with %s: %v after %d fetches, want %v and none", c.name, err, fetches.Load(), jsonld.ErrNotCompacted)
		}
	}
	// Another's credential about the holder and someone else: the other
	// subject moved under the IRI of credentialSubject.
	both := sign(t, map[string]any{"@context": []any{credentials.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": issuer,
		"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": []any{map[string]any{"id": holder.did}, map[string]any{"id": "did:example:someone-else"}}}, issuerDID, di.EdDSARDFC2022, di.Options{})
	vp := sign(t, map[string]any{"@context": []any{credentials.ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder.did, "verifiableCredential": []any{both}},
		holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1", Domain: "d", Created: now.Add(-time.Minute)})
	both["credentialSubject"] = map[string]any{"id": holder.did}
	both["https://www.w3.org/2018/credentials#credentialSubject"] = map[string]any{"id": "did:example:someone-else"}
	fetches.Store(0)
	if _, err := verifier().VerifyPresentation(ctx, marshal(t, vp), options(credentials.CheckSubjectIsHolder)); !errors.Is(err, jsonld.ErrNotCompacted) || fetches.Load() != 0 {
		t.Errorf("another's subject under the IRI of credentialSubject: %v after %d fetches, want %v and none", err, fetches.Load(), jsonld.ErrNotCompacted)
	}
	// Another's key-bound credential with cnf named by its IRI (no inline
	// context needed: the v2 context names it from the IANA JWT claims
	// registry): the JSON had no cnf, and the thief's presentation passed
	// as one of a bearer credential.
	victim := newDIDKey(t, gm.AlgEdDSA)
	victimJWK, _ := gm.NewJWK(victim.signer.Public(), "")
	raw, _ = json.Marshal(victimJWK)
	var victimKey map[string]any
	_ = json.Unmarshal(raw, &victimKey)
	bound := sign(t, map[string]any{"@context": []any{credentials.ContextV2}, "type": []any{"VerifiableCredential"}, "issuer": issuer,
		"validFrom": "2020-01-01T00:00:00Z", "credentialSubject": map[string]any{"name": "x"}, "cnf": map[string]any{"jwk": victimKey}}, issuerDID, di.EdDSARDFC2022, di.Options{})
	vp = sign(t, map[string]any{"@context": []any{credentials.ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder.did, "verifiableCredential": []any{bound}},
		holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1", Domain: "d", Created: now.Add(-time.Minute)})
	delete(bound, "cnf")
	bound["https://www.iana.org/assignments/jwt#cnf"] = map[string]any{"https://www.iana.org/assignments/jwt#jwk": map[string]any{"@value": victimKey, "@type": "@json"}}
	fetches.Store(0)
	if _, err := verifier().VerifyPresentation(ctx, marshal(t, vp), options(credentials.CheckSubjectIsHolder)); !errors.Is(err, jsonld.ErrNotCompacted) || fetches.Load() != 0 {
		t.Errorf("another's key-bound credential, cnf named by its IRI: %v after %d fetches, want %v and none", err, fetches.Load(), jsonld.ErrNotCompacted)
	}
	if _, err := verifier().VerifyPresentation(ctx, others, di.PresentationOptions{Challenge: "c-1", Domain: "d"}); !errors.Is(err, di.ErrNoHolderBinding) {
		t.Errorf("no HolderBinding: %v, want %v", err, di.ErrNoHolderBinding)
	}
	enveloped := marshal(t, sign(t, map[string]any{"@context": []any{credentials.ContextV2}, "type": []any{"VerifiablePresentation"}, "holder": holder.did,
		"verifiableCredential": []any{credentials.Envelope("e30.e30.sig", credentials.MediaTypeVCJWT)}},
		holder, di.EdDSARDFC2022, di.Options{ProofPurpose: di.PurposeAuthentication, Challenge: "c-1", Domain: "d", Created: now.Add(-time.Minute)}))
	if _, err := verifier().VerifyPresentation(ctx, enveloped, options(credentials.CheckSubjectIsHolder)); !errors.Is(err, di.ErrNoProof) {
		t.Errorf("an enveloped credential and no Check: %v, want %v", err, di.ErrNoProof)
	}
	checked := options(credentials.CheckSubjectIsHolder)
	checked.Check = func(p *di.Presentation) error {
		if len(p.Other) != 1 {
			return errors.New("not in Other")
		}
		return nil
	}
	if _, err := verifier().VerifyPresentation(ctx, enveloped, checked); err != nil {
		t.Errorf("an enveloped credential with a Check: %v", err)
	}
}
