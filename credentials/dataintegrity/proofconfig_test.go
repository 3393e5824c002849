package dataintegrity

import (
	"fmt"
	"sync"
	"testing"

	"github.com/trustid-cn/trustid/credentials/contexts"
	"github.com/trustid-cn/trustid/credentials/jsonld"
)

// configContexts are the @context values the tests put in proof
// configurations: bundled lists a template may serve, and values it may
// not (inline objects, unknown URLs).
var configContexts = []any{
	contexts.CredentialsV2,
	[]any{contexts.CredentialsV2},
	[]any{contexts.CredentialsV2, contexts.ExamplesV2},
	[]any{contexts.CredentialsV2, contexts.DataIntegrityV2},
	[]any{contexts.CredentialsV2, contexts.ExamplesV2, contexts.MultikeyV1},
	[]any{contexts.CredentialsV2, contexts.DataIntegrityV2, contexts.MultikeyV1},
	[]any{contexts.DataIntegrityV2},
	[]any{contexts.CredentialsV2, map[string]any{"did": "https://example.org/did#"}},
	[]any{contexts.CredentialsV2, map[string]any{"@vocab": "https://example.org/vocab#"}},
	[]any{contexts.CredentialsV2, "https://example.org/unknown/v1"},
}

// proofConfigFrom builds a proof configuration; an empty value leaves the
// property out.
func proofConfigFrom(ctx any, typ, suite, purpose, created, expires, vm, challenge, domain string) map[string]any {
	c := map[string]any{"@context": ctx}
	for k, v := range map[string]string{"type": typ, "cryptosuite": suite, "proofPurpose": purpose,
		"created": created, "expires": expires, "verificationMethod": vm, "challenge": challenge, "domain": domain} {
		if v != "" {
			c[k] = v
		}
	}
	return c
}

// sameAsUncached checks that the template path gives exactly what
// jsonld.Canonicalize gives (or fails when it fails).
func sameAsUncached(t testing.TB, config map[string]any) {
	t.Helper()
	want, wantErr := jsonld.Canonicalize(config)
	got, gotErr := canonicalProofConfig(config)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("config %v:\nuncached error %v\ntemplate error %v", config, wantErr, gotErr)
	}
	if got != want {
		t.Fatalf("config %v:\nuncached\n%s\ntemplate\n%s", config, want, got)
	}
}

func TestProofConfigTemplate(t *testing.T) {
	types := []string{ProofType, "Ed25519Signature2020", "VerifiableCredential"}
	suites := []string{EdDSARDFC2022, SM2RDFC2025, "x"}
	purposes := []string{PurposeAssertion, PurposeAuthentication, "capabilityInvocation", "other"}
	createds := []string{"2026-12-04T09:00:00Z", "2023-02-24T23:36:38Z", "2026-12-04T09:00:00.123+08:00", "not a date", "x\"y", "café", "a\\b"}
	expires := []string{"", "2030-01-01T00:00:00Z"}
	vms := []string{
		"did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
		"did:web:issuer.example.cn#key-1",
		"did:web:issuer.example.cn%3A8443#key-1",
		"did:web:node.example%3A8443:issuers:test-client#key-SM2-1",
		"did:web:x%zz#k", "did:web:x#k%", "did:web:x#%3a", "did:web:x%3A8443#f%2",
		"urn:uuid:0b1c7c9e-0f2c-4c3e-9c45-3a1f2c7e9d11",
		"https://issuer.example/keys/1",
		"http://[::1]/k",
		"key-1", "#key-1", "_:b0", "did:x y", "did:<x>", "",
	}
	challenges := []string{"", "1f44d55f-f161-4938-a659-f8026467f126", "a\"b"}
	domains := []string{"", "verifier.example.cn"}
	n := 0
	for _, ctx := range configContexts {
		// Every type, suite and purpose with the usual values...
		for _, typ := range types {
			for _, suite := range suites {
				for _, purpose := range purposes {
					sameAsUncached(t, proofConfigFrom(ctx, typ, suite, purpose, createds[0], "", vms[0], "", ""))
				}
			}
		}
		// ...and every created and verificationMethod with a rotation of
		// the rest (all of it would take too long).
		for _, created := range createds {
			for _, vm := range vms {
				c := proofConfigFrom(ctx, types[n%len(types)], suites[n%len(suites)], purposes[n%len(purposes)],
					created, expires[n%len(expires)], vm, challenges[n%len(challenges)], domains[(n/2)%len(domains)])
				sameAsUncached(t, c)
				n++
			}
		}
	}
	// The usual configuration takes a template, so the comparisons above
	// covered the template path.
	c := proofConfigFrom(contexts.CredentialsV2, ProofType, SM2RDFC2025, PurposeAssertion, createds[0], "", vms[0], "", "")
	sameAsUncached(t, c)
	key, _, ok := templateKeyOf(c)
	if !ok {
		t.Fatal("the usual proof configuration takes no template")
	}
	templates.RLock()
	tpl := templates.m[key]
	templates.RUnlock()
	if tpl == nil || len(tpl.holes) != 2 {
		t.Fatalf("no template with two holes for the usual configuration: %+v", tpl)
	}
	// did:web with a port (%3A) takes one too: the node's own issuers.
	c["verificationMethod"] = "did:web:node.example%3A8443:issuers:test-client#key-1"
	if _, _, ok := templateKeyOf(c); !ok {
		t.Error("no template for a did:web verification method with a port")
	}
	// An inline context defining the scheme as a prefix changes the IRI:
	// no template, and the uncached form.
	c["@context"] = configContexts[7]
	if _, _, ok := templateKeyOf(c); ok {
		t.Error("a template key for an inline context")
	}
	templates.RLock()
	size := len(templates.m)
	templates.RUnlock()
	if size > maxTemplates {
		t.Errorf("%d templates, bound %d", size, maxTemplates)
	}
}

// TestProofConfigTemplateDistinct: under one context, configurations that
// differ in one value never share a canonical form.
func TestProofConfigTemplateDistinct(t *testing.T) {
	for _, ctx := range configContexts[:6] {
		seen := map[string]string{}
		for _, created := range []string{"2026-12-04T09:00:00Z", "2026-12-04T09:00:01Z"} {
			for _, vm := range []string{"did:key:zA#zA", "did:key:zB#zB", "did:web:a.example#k"} {
				for _, challenge := range []string{"", "c1", "c2"} {
					c := proofConfigFrom(ctx, ProofType, EdDSARDFC2022, PurposeAuthentication, created, "", vm, challenge, "")
					got, err := canonicalProofConfig(c)
					if err != nil {
						t.Fatal(err)
					}
					id := fmt.Sprint(created, " ", vm, " ", challenge)
					if prev, dup := seen[got]; dup {
						t.Errorf("%v: %s and %s give the same canonical form", ctx, prev, id)
					}
					seen[got] = id
					sameAsUncached(t, c)
				}
			}
		}
	}
}

// TestProofConfigTemplateConcurrent: concurrent callers over more keys than
// the bound get the uncached form (run with -race).
func TestProofConfigTemplateConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2*maxTemplates/4+5; i++ {
				purpose := fmt.Sprintf("p%d-%d", g, i) // a key each: evictions
				c := proofConfigFrom(configContexts[i%6], ProofType, SM2RDFC2025, purpose,
					fmt.Sprintf("2026-12-04T09:%02d:00Z", i%60), "", fmt.Sprintf("did:key:z%d#z%d", g, i), "", "")
				want, wantErr := jsonld.Canonicalize(c)
				got, err := canonicalProofConfig(c)
				if (err == nil) != (wantErr == nil) || got != want {
					t.Errorf("goroutine %d, %d: template %q (%v), uncached %q (%v)", g, i, got, err, want, wantErr)
					return
				}
			}
		}()
	}
	wg.Wait()
	templates.RLock()
	defer templates.RUnlock()
	if len(templates.m) > maxTemplates {
		t.Errorf("%d templates, bound %d", len(templates.m), maxTemplates)
	}
}

func FuzzProofConfigTemplate(f *testing.F) {
	f.Add(uint8(0), ProofType, SM2RDFC2025, PurposeAssertion, "2026-12-04T09:00:00Z", "", "did:key:zA#zA", "", "")
	f.Add(uint8(2), ProofType, EdDSARDFC2022, PurposeAuthentication, "2026-12-04T09:00:00Z", "2027-01-01T00:00:00Z", "did:web:a.example%3A1#k", "c", "d.example")
	f.Add(uint8(3), ProofType, ECDSARDFC2019, "assertionMethod", "x", "y", "urn:x:y", "a\"b", "é")
	f.Add(uint8(7), ProofType, SM2RDFC2025, PurposeAssertion, "2026-12-04T09:00:00Z", "", "did:x", "", "")
	f.Add(uint8(8), "Foo", "bar", "baz", "1", "", "https://a.example/k", "", "")
	f.Fuzz(func(t *testing.T, ctx uint8, typ, suite, purpose, created, expires, vm, challenge, domain string) {
		for _, s := range []string{typ, suite, purpose, created, expires, vm, challenge, domain} {
			if len(s) > 200 {
				return
			}
		}
		c := proofConfigFrom(configContexts[int(ctx)%len(configContexts)], typ, suite, purpose, created, expires, vm, challenge, domain)
		if _, err := jsonld.Check(c, jsonld.Limits{}); err != nil {
			return // verification refuses it before canonicalizing
		}
		sameAsUncached(t, c)
		sameAsUncached(t, c) // second time from the template, if one was made
	})
}
