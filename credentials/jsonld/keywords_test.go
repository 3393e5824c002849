package jsonld_test

import (
	"errors"
	"slices"
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

// TestCheckCompacted: CheckCompacted takes a credential as compaction
// writes it (value objects' @value, @language, @direction and datatype
// @type included, an inline context of plain terms, a presentation's
// credentials with their own @context) and refuses the spellings that
// say in RDF what the JSON members do not: keyword members, a nested
// @context, inline terms aliasing keywords or reversing, scoping, nesting,
// id and type maps, and a subject or type under its IRI.
func TestCheckCompacted(t *testing.T) {
	v2 := "https://www.w3.org/ns/credentials/v2"
	ex := "https://www.w3.org/ns/credentials/examples/v2"
	doc := func(subject any, extra map[string]any) map[string]any {
		d := map[string]any{"@context": []any{v2, ex}, "type": []any{"VerifiableCredential"}, "issuer": "did:example:issuer", "credentialSubject": subject}
		for k, x := range extra {
			d[k] = x
		}
		return d
	}
	withContext := func(inline map[string]any, subject any) map[string]any {
		d := doc(subject, nil)
		d["@context"] = []any{v2, ex, inline}
		return d
	}
	for name, d := range map[string]map[string]any{
		"plain":          doc(map[string]any{"id": "did:example:a", "name": "x"}, nil),
		"value objects":  doc(map[string]any{"id": "did:example:a", "name": map[string]any{"@value": "x", "@language": "en", "@direction": "ltr"}, "data": map[string]any{"@value": []any{1.0}, "@type": "@json"}}, nil),
		"inline term":    withContext(map[string]any{"nick": "https://schema.org/alternateName"}, map[string]any{"id": "did:example:a", "nick": "x"}),
		"IRI member":     doc(map[string]any{"id": "did:example:a", "https://schema.org/j": "x"}, nil),
		"presentation":   {"@context": []any{v2}, "type": []any{"VerifiablePresentation"}, "verifiableCredential": []any{doc(map[string]any{"id": "did:example:a"}, nil)}},
		"proof @context": doc(map[string]any{"id": "did:example:a"}, map[string]any{"proof": map[string]any{"@context": []any{v2}, "type": "DataIntegrityProof"}}),
		// A JSON literal's value is not JSON-LD (JSON-LD 1.1 §4.2.2):
		// keywords in it are its own.
		"@json literal holding keywords": doc(map[string]any{"id": "did:example:a", "https://schema.org/j": map[string]any{"@value": map[string]any{"@id": "x", "@context": map[string]any{}, "a:b": 1.0}, "@type": "@json"}}, nil),
		"jsonSchema holding @context": doc(map[string]any{"id": "did:example:a"}, map[string]any{"credentialSchema": map[string]any{"id": "https://s.example/schema", "type": "JsonSchema",
			"jsonSchema": map[string]any{"type": "object", "properties": map[string]any{"@context": map[string]any{"type": "array"}}, "required": []any{"@context"}}}}),
		"a value object's datatype": doc(map[string]any{"id": "did:example:a", "https://schema.org/d": map[string]any{"@value": "2020-01-01", "@type": "http://www.w3.org/2001/XMLSchema#date"}}, nil),
	} {
		if err := jsonld.CheckCompacted(d); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, d := range map[string]map[string]any{
		"@id":                            doc(map[string]any{"@id": "did:example:a"}, nil),
		"@type on a node":                doc(map[string]any{"id": "did:example:a", "@type": "Person"}, nil),
		"@nest":                          doc(map[string]any{"@nest": map[string]any{"id": "did:example:a"}}, nil),
		"@included":                      doc(map[string]any{"id": "did:example:a"}, map[string]any{"@included": []any{map[string]any{"id": "did:example:b"}}}),
		"@set":                           doc(map[string]any{"@set": []any{}}, nil),
		"nested @context":                doc(map[string]any{"@context": map[string]any{"subj": "@id"}, "subj": "did:example:a"}, nil),
		"alias of @id":                   withContext(map[string]any{"subj": "@id"}, map[string]any{"subj": "did:example:a"}),
		"alias of @type":                 withContext(map[string]any{"kind": map[string]any{"@id": "@type"}}, map[string]any{"id": "did:example:a"}),
		"reverse property":               withContext(map[string]any{"of": map[string]any{"@reverse": "https://www.w3.org/2018/credentials#credentialSubject"}}, map[string]any{"id": "did:example:a"}),
		"scoped context":                 withContext(map[string]any{"s": map[string]any{"@id": "https://schema.org/s", "@context": map[string]any{}}}, map[string]any{"id": "did:example:a"}),
		"id map":                         withContext(map[string]any{"m": map[string]any{"@id": "https://schema.org/m", "@container": "@id"}}, map[string]any{"id": "did:example:a"}),
		"a subject under its IRI":        doc(map[string]any{"name": "x"}, map[string]any{"https://www.w3.org/2018/credentials#credentialSubject": map[string]any{"id": "did:example:a"}}),
		"credentialStatus under its IRI": doc(map[string]any{"id": "did:example:a"}, map[string]any{"https://www.w3.org/2018/credentials#credentialStatus": map[string]any{"id": "https://s.example/1#2"}}),
		"a prefix for the VC vocabulary": withContext(map[string]any{"c": "https://www.w3.org/2018/credentials#"}, map[string]any{"id": "did:example:a"}),
		"a second term for validUntil":   withContext(map[string]any{"until": map[string]any{"@id": "https://www.w3.org/2018/credentials#validUntil"}}, map[string]any{"id": "did:example:a"}),
		"a type under rdf:type":          doc(map[string]any{"id": "did:example:a"}, map[string]any{"http://www.w3.org/1999/02/22-rdf-syntax-ns#type": map[string]any{"id": "https://schema.org/Person"}}),
		"credentialStatus through a prefix shorter than the VC vocabulary": {"@context": []any{v2, map[string]any{"c": "https://www.w3.org/2018/"}}, "type": []any{"VerifiableCredential"},
			"credentialSubject": map[string]any{"id": "did:example:a"}, "c:credentials#credentialStatus": map[string]any{"id": "https://s.example/1#2"}},
		"credentialStatus through an @prefix term": {"@context": []any{v2, map[string]any{"c": map[string]any{"@id": "https://www.w3.org/2018/credentials", "@prefix": true}}}, "type": []any{"VerifiableCredential"},
			"credentialSubject": map[string]any{"id": "did:example:a"}, "c:#credentialStatus": map[string]any{"id": "https://s.example/1#2"}},
		"credentialStatus through @vocab": {"@context": []any{v2, map[string]any{"@vocab": "https://www.w3.org/2018/"}}, "type": []any{"VerifiableCredential"},
			"credentialSubject": map[string]any{"id": "did:example:a"}, "credentials#credentialStatus": map[string]any{"id": "https://s.example/1#2"}},
		"cnf under its IRI": doc(map[string]any{"name": "x"}, map[string]any{"https://www.iana.org/assignments/jwt#cnf": map[string]any{
			"https://www.iana.org/assignments/jwt#jwk": map[string]any{"@value": map[string]any{"kty": "OKP"}, "@type": "@json"}}}),
		"a second term for cnf":             withContext(map[string]any{"b": "https://www.iana.org/assignments/jwt#cnf"}, map[string]any{"name": "x"}),
		"a subject id through a prefix":     withContext(map[string]any{"p": "https://schema.org/"}, map[string]any{"id": "p:a"}),
		"a subject in an array in an array": doc([]any{[]any{map[string]any{"id": "did:example:a"}}}, nil),
		"in a presented credential": {"@context": []any{v2}, "type": []any{"VerifiablePresentation"},
			"verifiableCredential": []any{doc(map[string]any{"@id": "did:example:a"}, nil)}},
	} {
		if err := jsonld.CheckCompacted(d); !errors.Is(err, jsonld.ErrNotCompacted) {
			t.Errorf("%s: %v, want %v", name, err, jsonld.ErrNotCompacted)
		}
	}
}

// FuzzCheckCompacted: CheckCompacted never panics, and a credential it
// takes says in its expansion what its JSON says of its subject ids (the same
// ones) and of its types (none as an rdf:type property). The seeds are
// TestCheckCompacted's spellings.
func FuzzCheckCompacted(f *testing.F) {
	for _, s := range []string{
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":{"id":"did:example:a","name":"x"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":[{},{"id":"A:0"}]}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":{"@id":"did:example:a"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":{"@context":{"s":"@id"},"s":"did:example:a"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2",{"s":{"@id":"@id"}}],"type":["VerifiableCredential"],"credentialSubject":{"s":"did:example:a"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":{"@nest":{"id":"did:example:a"}}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":{"name":"x"},"https://www.w3.org/2018/credentials#credentialSubject":{"id":"did:example:a"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2",{"c":"https://www.w3.org/2018/credentials#"}],"type":["VerifiableCredential"],"credentialSubject":{"name":"x"},"c:credentialSubject":{"id":"did:example:a"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2",{"p":"https://schema.org/"}],"type":["VerifiableCredential"],"credentialSubject":{"id":"p:a"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"id":"urn:a","@included":[{"id":"urn:a","type":"X"}],"credentialSubject":{"id":"did:example:a"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2",{"c":"https://www.w3.org/2018/"}],"type":["VerifiableCredential"],"credentialSubject":{"id":"did:example:a"},"c:credentials#credentialStatus":{"id":"https://s.example/1#2"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2",{"c":{"@id":"https://www.w3.org/2018/credentials","@prefix":true}}],"type":["VerifiableCredential"],"credentialSubject":{"id":"did:example:a"},"c:#validUntil":"2030-01-01T00:00:00Z"}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2",{"@vocab":"https://www.w3.org/2018/"}],"type":["VerifiableCredential"],"credentialSubject":{"id":"did:example:a"},"credentials#credentialStatus":{"id":"https://s.example/1#2"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":{"name":"x"},"https://www.iana.org/assignments/jwt#cnf":{"https://www.iana.org/assignments/jwt#jwk":{"@value":{"kty":"OKP"},"@type":"@json"}}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2",{"b":"https://www.iana.org/assignments/jwt#cnf"}],"type":["VerifiableCredential"],"credentialSubject":{"name":"x"},"b":{"jwk":{"kty":"OKP"}}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":{"id":"did:example:a","https://schema.org/j":{"@value":{"@id":"x"},"@type":"@json"}}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","http://www.w3.org/2018/credentials#VerifiableCredential"],"credentialSubject":{"id":"did:example:a"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"credentialSubject":[[{"id":"did:example:a"}]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := jsonld.Parse(data, jsonld.Limits{MaxBytes: 8 << 10})
		if err != nil || jsonld.CheckCompacted(doc) != nil {
			return
		}
		expanded, err := jsonld.Expand(doc)
		if err != nil || len(expanded) != 1 {
			return
		}
		node, _ := expanded[0].(map[string]any)
		if types, _ := node["@type"].([]any); !slices.Contains(types, any("https://www.w3.org/2018/credentials#VerifiableCredential")) {
			return // credentialSubject is the VC property in a credential only (VerifiableCredential's scoped context)
		}
		var written, stated []string
		for _, s := range list(doc["credentialSubject"]) {
			id, _ := s.(string)
			if m, ok := s.(map[string]any); ok {
				id, _ = m["id"].(string)
			}
			written = append(written, id)
		}
		for _, s := range list(node["https://www.w3.org/2018/credentials#credentialSubject"]) {
			m, _ := s.(map[string]any)
			id, _ := m["@id"].(string)
			stated = append(stated, id)
		}
		// Subject ids, not subjects: an empty subject ({}) is in the JSON
		// and not in the expansion, which drops it, harmlessly.
		ids := func(l []string) []string {
			l = slices.DeleteFunc(l, func(s string) bool { return s == "" })
			slices.Sort(l)
			return slices.Compact(l)
		}
		if !slices.Equal(ids(written), ids(stated)) {
			t.Fatalf("taken, with subject ids %q in its JSON and %q in its expansion", written, stated)
		}
		if _, ok := node["http://www.w3.org/1999/02/22-rdf-syntax-ns#type"]; ok {
			t.Fatal("taken, with a type stated as rdf:type")
		}
		// What the node's checks read is in the JSON exactly when the
		// expansion, and so the RDF a proof covers, states it.
		for member, iri := range map[string]string{
			"credentialStatus": "https://www.w3.org/2018/credentials#credentialStatus",
			"validUntil":       "https://www.w3.org/2018/credentials#validUntil",
			"validFrom":        "https://www.w3.org/2018/credentials#validFrom",
			"cnf":              "https://www.iana.org/assignments/jwt#cnf",
		} {
			if inJSON, stated := len(list(doc[member])) > 0, len(list(node[iri])) > 0; inJSON != stated {
				t.Fatalf("taken, with %s in its JSON %v and in its expansion %v", member, inJSON, stated)
			}
		}
		writtenTypes := map[any]bool{}
		for _, x := range list(doc["type"]) {
			writtenTypes[x] = true
		}
		if types, _ := node["@type"].([]any); len(writtenTypes) != len(slices.Compact(slices.Sorted(slices.Values(anyStrings(types))))) {
			t.Fatalf("taken, with types %v in its JSON and %v in its expansion", doc["type"], types)
		}
	})
}

func anyStrings(l []any) []string {
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func list(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	}
	return []any{v}
}
