package jsonld_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/credentials/jsonld"
)

// TestKeywordLikeKeysNotDropped: a key that json-gold treats as a
// keyword but expansion does not process must not vanish from the
// canonical form (else it is unsigned data in a verified document).
func TestKeywordLikeKeysNotDropped(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"@context":          []any{"https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"},
			"id":                "urn:uuid:8b0f5a36-4c8e-4b1d-9f57-2d6f0d1c4a11",
			"type":              []any{"VerifiableCredential"},
			"issuer":            "did:example:issuer",
			"credentialSubject": map[string]any{"id": "did:example:holder", "name": "Alice"},
		}
	}
	want, err := jsonld.Canonicalize(base())
	if err != nil {
		t.Fatal(err)
	}
	for _, kw := range []string{"@once", "@null", "@last", "@always", "@never", "@none", "@foo", "@embed", "@explicit", "@omitDefault", "@requireAll", "@default", "@preserve"} {
		for _, where := range []string{"top", "subject"} {
			d := base()
			if where == "top" {
				d[kw] = "ATTACKER"
			} else {
				d["credentialSubject"].(map[string]any)[kw] = "ATTACKER"
			}
			d, err := jsonld.Check(d, jsonld.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := jsonld.Canonicalize(d)
			if err == nil && got == want {
				t.Errorf("%s in %s: silently dropped (same canonical form, no error)", kw, where)
			} else {
				t.Logf("%s in %s: err=%v changed=%v", kw, where, err, got != want)
			}
		}
	}
}

// TestDroppedValueObjectsRefused: value objects that expansion drops, a
// null @value and @language without @value, are refused rather than
// left unsigned in the document (VC Data Integrity 1.0 §2.4.1; jsonld.js's
// safe mode: "null @value value", "object with only @language"). A null
// JSON literal is a value, and stays.
func TestDroppedValueObjectsRefused(t *testing.T) {
	doc := func(name any) map[string]any {
		return map[string]any{
			"@context":          []any{"https://www.w3.org/ns/credentials/v2"},
			"type":              []any{"VerifiableCredential"},
			"issuer":            "did:example:issuer",
			"credentialSubject": map[string]any{"id": "did:example:holder", "https://schema.org/name": name},
		}
	}
	for _, name := range []any{
		map[string]any{"@value": nil},
		map[string]any{"@value": nil, "@language": "en"},
		map[string]any{"@language": "en"},
		map[string]any{"@language": "en", "@direction": "ltr"},
		[]any{"Alice", map[string]any{"@language": "en"}},
	} {
		if out, err := jsonld.Canonicalize(doc(name)); !errors.Is(err, jsonld.ErrUndefinedTerm) {
			t.Errorf("%v: %v\n%s", name, err, out)
		}
	}
	if out, err := jsonld.Canonicalize(doc(map[string]any{"@value": nil, "@type": "@json"})); err != nil || !strings.Contains(out, `"null"^^<http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON>`) {
		t.Errorf("a null JSON literal: %v\n%s", err, out)
	}
}
