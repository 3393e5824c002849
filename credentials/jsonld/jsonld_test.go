package jsonld

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"reflect"
	"slices"

	"errors"
	"fmt"
	"github.com/piprate/json-gold/ld"

	"github.com/trustid-cn/trustid/credentials/contexts"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const credential = `{
  "@context": ["https://www.w3.org/ns/credentials/v2"],
  "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
  "type": ["VerifiableCredential", "AlumniCredential"],
  "name": "Alumni Credential",
  "issuer": "https://vc.example/issuers/5678",
  "validFrom": "2023-01-01T00:00:00Z",
  "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"}
}`

func mustParse(t testing.TB, s string) map[string]any {
	t.Helper()
	m, err := Parse([]byte(s), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCanonicalize(t *testing.T) {
	nq, err := Canonicalize(mustParse(t, credential))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://www.w3.org/2018/credentials#VerifiableCredential> .\n",
		"<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://www.w3.org/2018/credentials#validFrom> \"2023-01-01T00:00:00Z\"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n",
		"<did:example:abcdefgh> <https://www.w3.org/ns/credentials/issuer-dependent#alumniOf> \"The School of Examples\" .\n",
	} {
		if !strings.Contains(nq, want) {
			t.Errorf("canonical form lacks %q:\n%s", want, nq)
		}
	}
	if n := strings.Count(nq, "\n"); n != 7 {
		t.Errorf("%d quads, want 7:\n%s", n, nq)
	}
}

// TestBadInput: each refusal has its own error.
func TestBadInput(t *testing.T) {
	var fetched atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/ld+json")
		w.Write([]byte(`{"@context": {"x": "https://example.org/x"}}`))
	}))
	defer srv.Close()
	v2 := `"https://www.w3.org/ns/credentials/v2"`
	cases := []struct {
		name, doc string
		want      error
	}{
		{"remote context", `{"@context": [` + v2 + `, "` + srv.URL + `/ctx"], "type": "VerifiableCredential"}`, ErrUnknownContext},
		{"unknown context", `{"@context": [` + v2 + `, "https://w3id.org/citizenship/v4"], "type": "VerifiableCredential"}`, ErrUnknownContext},
		{"import", `{"@context": [` + v2 + `, {"@version": 1.1, "@import": "` + srv.URL + `/ctx"}], "type": "VerifiableCredential"}`, ErrUnknownContext},
		{"redefine protected", `{"@context": [` + v2 + `, {"VerifiableCredential": "https://evil.example/VC"}], "type": "VerifiableCredential"}`, ErrProtectedTerm},
		{"redefine protected name", `{"@context": [` + v2 + `, {"name": "https://evil.example/name"}], "type": "VerifiableCredential", "name": "x"}`, ErrProtectedTerm},
		{"redefine protected proof type", `{"@context": [` + v2 + `, {"DataIntegrityProof": "https://evil.example/P"}], "type": "VerifiableCredential"}`, ErrProtectedTerm},
		{"dropped term", `{"@context": [` + v2 + `, {"@vocab": null}], "type": "VerifiableCredential", "undefinedTerm": "x"}`, ErrUndefinedTerm},
		{"relative type", `{"@context": [` + v2 + `, {"@vocab": null}], "type": ["VerifiableCredential", "NoSuchType"]}`, ErrRelativeIRI},
		{"IRI json-gold would drop", `{"@context": [` + v2 + `], "id": "https://exa mple.org/x", "type": "VerifiableCredential"}`, ErrRelativeIRI},
		{"subject IRI json-gold would drop", `{"@context": [` + v2 + `], "type": "VerifiableCredential", "credentialSubject": {"id": "https://-bad-.example/%zz", "name": "x"}}`, ErrRelativeIRI},
		{"bad language tag", `{"@context": [` + v2 + `], "type": "VerifiableCredential", "name": {"@value": "x", "@language": "en_US"}}`, ErrInvalid},
		{"relative id", `{"@context": [` + v2 + `], "id": "relative/path", "type": "VerifiableCredential"}`, ErrRelativeIRI},
	}
	for _, c := range cases {
		doc := mustParse(t, c.doc)
		if err := CheckContext(doc); err != nil {
			t.Errorf("%s: CheckContext: %v", c.name, err)
		}
		if _, err := Canonicalize(doc); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("%d fetches; contexts must never be fetched", n)
	}
}

// TestImportDoesNotPoison: an @import merges the importing context into
// the imported one inside json-gold; the bundled copy must not change.
func TestImportDoesNotPoison(t *testing.T) {
	// Within one context the importing definitions win (JSON-LD 1.1
	// @import), so this document is valid and maps Multikey elsewhere.
	evil := `{"@context": ["https://www.w3.org/ns/credentials/v2", {"@version": 1.1, "@import": "https://w3id.org/security/multikey/v1", "Multikey": "https://evil.example/K"}], "id": "did:example:1#k", "type": "Multikey"}`
	nq, err := Canonicalize(mustParse(t, evil))
	if err != nil || !strings.Contains(nq, "<https://evil.example/K>") {
		t.Fatalf("import: %v\n%s", err, nq)
	}
	good := `{"@context": ["https://www.w3.org/ns/credentials/v2", "https://w3id.org/security/multikey/v1"], "id": "did:example:1#k", "type": "Multikey", "publicKeyMultibase": "z6Mk"}`
	nq, err = Canonicalize(mustParse(t, good))
	if err != nil || !strings.Contains(nq, "<https://w3id.org/security#Multikey>") {
		t.Fatalf("bundled multikey context changed: %v\n%s", err, nq)
	}
}

func TestCheckContext(t *testing.T) {
	for doc, want := range map[string]error{
		`{"@context": "https://www.w3.org/ns/credentials/v2"}`:                        nil,
		`{"@context": ["https://www.w3.org/ns/credentials/v2", {"a": "https://a/"}]}`: nil,
		`{"@context": ["https://www.w3.org/2018/credentials/v1"]}`:                    ErrFirstContext,
		`{"@context": [{"a": "https://a/"}, "https://www.w3.org/ns/credentials/v2"]}`: ErrFirstContext,
		`{"type": "VerifiableCredential"}`:                                            ErrFirstContext,
		`{"@context": ["https://www.w3.org/ns/credentials/v2", 3]}`:                   ErrInvalid,
	} {
		if err := CheckContext(mustParse(t, doc)); !errors.Is(err, want) && !(err == nil && want == nil) {
			t.Errorf("%s: got %v, want %v", doc, err, want)
		}
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 30) + `1` + strings.Repeat(`}`, 30)
	if _, err := Parse([]byte(deep), Limits{}); !errors.Is(err, ErrTooDeep) {
		t.Errorf("deep: %v", err)
	}
	deeper := strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100)
	if _, err := Parse([]byte(`{"a":`+deeper+`}`), Limits{}); !errors.Is(err, ErrTooDeep) {
		t.Errorf("deeper: %v", err)
	}
	big := `{"a":"` + strings.Repeat("x", DefaultMaxBytes) + `"}`
	if _, err := Parse([]byte(big), Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big: %v", err)
	}
	if _, err := Parse([]byte("{\"a\":\"raw\ttab\"}"), Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unescaped control character (JSON forbids it): %v", err)
	}
	if _, err := Parse([]byte(`{"a":"escaped\ttab \u0001"}`), Limits{}); err != nil {
		t.Errorf("escaped control characters (valid JSON): %v", err)
	}
	if _, err := Parse([]byte(`{"a":1e999}`), Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("huge number: %v", err)
	}
	if _, err := Parse([]byte(`{"a":1,"a":2}`), Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("duplicate key: %v", err)
	}
}

// FuzzCanonicalize: no input makes the processor panic or fetch; what it
// accepts canonicalizes the same way twice.
func FuzzCanonicalize(f *testing.F) {
	f.Add([]byte(credential))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2", {"@vocab": null}], "type": "X"}`))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2", {"@version": 1.1, "@import": "https://w3id.org/security/multikey/v1"}], "type": "Multikey"}`))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2"], "credentialSubject": {"@list": [1, 2.5, true, {"@value": "x", "@language": "en"}]}}`))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "urn:a", "name": "\u0000\b\t\f\u001f\u007f\ufffe\"\\", "description": {"@value": "\u000b", "@language": "en"}}`))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiablePresentation", "VerifiableCredential"], "issuer": "did:example:1", "name": {"@value": "x", "@type": "VerifiableCredential"}, "credentialStatus": {"id": "urn:s", "type": "BitstringStatusListEntry", "statusPurpose": "revocation"}}`))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2", "https://w3id.org/security/data-integrity/v2"], "type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "proofPurpose": "assertionMethod", "verificationMethod": "https://example.org/k#1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data, Limits{MaxBytes: 8 << 10})
		if err != nil {
			return
		}
		a, err := Canonicalize(doc)
		if err != nil {
			return
		}
		b, err := Canonicalize(doc)
		if err != nil || a != b {
			t.Fatalf("second canonicalization differs: %v", err)
		}
		checkExpansion(t, doc)
		if expanded, _ := Expand(doc); hasWideInteger(expanded) || hasJSONLiteral(expanded) {
			return // json-gold is wrong there (TestWideIntegers, TestJSONLiterals)
		}
		if c := jsonGoldCanonical(t, doc); a != c {
			t.Fatalf("our toRDF differs from json-gold's:\nours %q\ntheirs %q", a, c)
		}
		if gold, ok := jsonGoldURDNA(t, doc); ok && a != gold {
			t.Fatalf("our canonicalization differs from json-gold's URDNA2015:\nours %q\njson-gold's %q", a, gold)
		}
	})
}

// checkExpansion: expanding with a cached processed context gives what
// json-gold's own expansion of the whole document gives.
func checkExpansion(t *testing.T, doc map[string]any) {
	t.Helper()
	ours, err := Expand(doc)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := ld.NewJsonLdProcessor().Expand(forProcessor(doc), options())
	if err != nil {
		t.Fatalf("json-gold refuses what we expanded: %v", err)
	}
	if !reflect.DeepEqual(ours, theirs) {
		t.Fatalf("expansion with the cached context differs:\nours   %v\ntheirs %v", ours, theirs)
	}
}

// jsonGoldCanonical canonicalizes doc with json-gold's own toRDF, the
// reference for ours.
func jsonGoldCanonical(t *testing.T, doc map[string]any) string {
	t.Helper()
	expanded, err := Expand(doc)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ld.NewJsonLdApi().ToRDF(expanded, options())
	if err != nil {
		t.Fatal(err)
	}
	nq, err := canonicalNQuads(ds)
	if err != nil {
		t.Fatal(err)
	}
	return nq
}

// jsonGoldURDNA is doc's canonical form by json-gold's URDNA2015 and
// N-Quads writer (what Canonicalize used before it canonicalized by
// itself), when no literal holds a character the two writers escape
// differently (ok false otherwise: json-gold's would be wrong there).
func jsonGoldURDNA(t testing.TB, doc map[string]any) (string, bool) {
	t.Helper()
	expanded, err := Expand(doc)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := ld.NewJsonLdApi().ToRDF(expanded, options())
	if err != nil {
		t.Fatal(err)
	}
	for _, quads := range ds.Graphs {
		for _, q := range quads {
			if lit, ok := q.Object.(ld.Literal); ok && escapesDiffer(lit.Value) {
				return "", false
			}
		}
	}
	nq, err := jsonGoldNormalize(ds)
	if err != nil {
		t.Fatal(err)
	}
	return nq, true
}

// jsonGoldNormalize is json-gold's URDNA2015 with its own writer.
func jsonGoldNormalize(ds *ld.RDFDataset) (string, error) {
	opts := options()
	opts.Algorithm = ld.AlgorithmURDNA2015
	opts.Format = "application/n-quads"
	out, err := ld.NewJsonLdApi().Normalize(ds, opts)
	if err != nil {
		return "", err
	}
	s, _ := out.(string)
	return s, nil
}

// escapesDiffer reports whether s holds a character that canonical
// N-Quads escapes and json-gold's writer does not.
func escapesDiffer(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f || r == 0xfffe || r == 0xffff {
			return true
		}
	}
	return false
}

// TestToRDFMatchesJSONGold: our toRDF gives json-gold's dataset for
// values of every kind, lists (nested and empty), language strings,
// numbers, named graphs (a proof) and @json literals.
func TestToRDFMatchesJSONGold(t *testing.T) {
	docs := []string{
		credential,
		`{"@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
		  "type": ["VerifiableCredential"], "issuer": "did:example:i",
		  "credentialSubject": {"id": "did:example:s", "n": 3, "f": 2.5, "big": 1e21, "neg": -7, "t": true, "x": false,
		    "l": {"@list": [1, "a", {"@list": []}, {"@list": [{"@id": "did:example:o"}, {"@value": "v", "@language": "zh-CN"}]}]},
		    "d": {"@value": "5", "@type": "http://www.w3.org/2001/XMLSchema#double"},
		    "nested": {"k": "v", "m": {"@id": "_:b7", "p": "q"}}},
		  "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "created": "2026-01-01T00:00:00Z",
		    "verificationMethod": "did:example:i#k", "proofPurpose": "assertionMethod", "proofValue": "z1"}}`,
		`{"@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
		  "type": "VerifiablePresentation", "holder": "did:example:h",
		  "verifiableCredential": [{"@context": "https://www.w3.org/ns/credentials/v2", "type": "VerifiableCredential", "issuer": "did:example:i", "credentialSubject": {"name": "n"}}]}`,
		// An @json object literal (json-gold canonicalizes objects right).
		`{"@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
		  "type": "VerifiableCredential", "credentialSubject": {"j": {"@value": {"b": [1, 2], "a": null}, "@type": "@json"}}}`,
	}
	for i, d := range docs {
		doc := mustParse(t, d)
		got, err := Canonicalize(doc)
		if err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
		checkExpansion(t, doc)
		if want := jsonGoldCanonical(t, doc); got != want {
			t.Errorf("doc %d:\nours   %s\ntheirs %s", i, got, want)
		}
		if gold, ok := jsonGoldURDNA(t, doc); !ok || got != gold {
			t.Errorf("doc %d, json-gold's URDNA2015 (ok %v):\nours   %s\njson-gold's %s", i, ok, got, gold)
		}
	}
}

// TestBundledHashes: the bundled contexts are the files README.md lists.
func TestBundledHashes(t *testing.T) {
	readme, err := os.ReadFile("../contexts/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range contexts.URLs() {
		doc, _ := contexts.Document(u)
		sum := sha256.Sum256(doc)
		row := "| " + u + " | "
		i := strings.Index(string(readme), row)
		if i < 0 || !strings.Contains(string(readme)[i:i+300], hex.EncodeToString(sum[:])) {
			t.Errorf("%s: SHA-256 %x is not the one README.md lists", u, sum)
		}
	}
}

// TestConcurrentCanonicalize: the cached processed contexts serve
// concurrent calls (run with -race).
func TestConcurrentCanonicalize(t *testing.T) {
	const v2 = `"https://www.w3.org/ns/credentials/v2"`
	docs := []string{
		credential,
		strings.Replace(credential, `["https://www.w3.org/ns/credentials/v2"]`, `["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"]`, 1),
		`{"@context": [` + v2 + `, {"alumniOf": "https://schema.org/alumniOf"}], "type": ["VerifiableCredential"], "issuer": "did:example:1", "credentialSubject": {"alumniOf": "x"}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiablePresentation"], "holder": "did:example:1", "verifiableCredential": [` + credential + `]}`,
	}
	want := make([]string, len(docs))
	for i, d := range docs {
		var err error
		if want[i], err = Canonicalize(mustParse(t, d)); err != nil {
			t.Fatal(err)
		}
	}
	// The goroutines fill the caches concurrently too.
	contextCache.Lock()
	contextCache.m = map[string]*contextEntry{}
	contextCache.Unlock()
	inlineCache.Lock()
	inlineCache.m = map[string]*contextEntry{}
	inlineCache.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := i % len(docs)
			for range 20 {
				got, err := Canonicalize(mustParse(t, docs[k]))
				if err != nil {
					errs <- err
					return
				}
				if got != want[k] {
					errs <- errors.New("canonical form changed under concurrency")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCheckDefinedTerms: terms only the VC 2.0 @vocab maps are named;
// a credential whose terms a context defines passes.
func TestCheckDefinedTerms(t *testing.T) {
	undefined := mustParse(t, credential) // alumniOf, AlumniCredential: only @vocab
	if err := CheckDefinedTerms(undefined); !errors.Is(err, ErrIssuerDependent) {
		t.Errorf("undefined terms: %v", err)
	}
	typeOnly := mustParse(t, `{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential", "UndefinedType"], "issuer": "did:example:i", "credentialSubject": {"id": "did:example:s"}}`)
	if err := CheckDefinedTerms(typeOnly); !errors.Is(err, ErrIssuerDependent) || !strings.Contains(err.Error(), "UndefinedType") {
		t.Errorf("undefined type: %v", err)
	}
	defined := mustParse(t, `{"@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"], "type": ["VerifiableCredential", "AlumniCredential"], "issuer": "did:example:i", "name": "n", "credentialSubject": {"id": "did:example:s", "alumniOf": "x"}}`)
	if err := CheckDefinedTerms(defined); err != nil {
		t.Errorf("defined terms: %v", err)
	}
}

// TestCheckInlineContexts: inline context objects beside bundled URLs are
// processed (a protected term redefined is refused, also when a context
// not bundled follows); URLs alone, or what follows a context not bundled
// (by URL or @import), are not processed and never fetched.
func TestCheckInlineContexts(t *testing.T) {
	var fetched atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fetched.Add(1) }))
	defer srv.Close()
	v2 := `"https://www.w3.org/ns/credentials/v2"`
	for doc, want := range map[string]error{
		`{"@context": [` + v2 + `, {"name": "https://evil.example/name"}]}`:                                            ErrProtectedTerm,
		`{"@context": [` + v2 + `, "https://www.w3.org/ns/credentials/examples/v2", {"VerifiableCredential": "x:y"}]}`: ErrProtectedTerm,
		`{"@context": [` + v2 + `, {"degree": {"@id": "https://u.example/degree", "@type": 7}}]}`:                      ErrInvalid,
		`{"@context": [` + v2 + `, {"degree": "https://u.example/degree"}]}`:                                           nil,
		`{"@context": [` + v2 + `, "https://www.w3.org/ns/credentials/examples/v2"]}`:                                  nil,
		`{"@context": [` + v2 + `, "` + srv.URL + `/ctx", {"name": "https://evil.example/name"}]}`:                     nil,
		// A context not bundled after the redefinition cannot undo it.
		`{"@context": [` + v2 + `, {"name": "https://evil.example/name"}, "` + srv.URL + `/ctx"]}`:  ErrProtectedTerm,
		`{"@context": [` + v2 + `, {"degree": "https://u.example/degree"}, "` + srv.URL + `/ctx"]}`: nil,
		`{"@context": [` + v2 + `, {"@version": 1.1, "@import": "` + srv.URL + `/ctx"}]}`:           nil,
		`{"@context": ` + v2 + `}`: nil,
		// Nested contexts: processed over the active context at their place.
		`{"@context": [` + v2 + `], "credentialSubject": {"@context": {"name": "https://evil.example/name"}, "name": "Alice"}}`:                 ErrProtectedTerm,
		`{"@context": ` + v2 + `, "verifiableCredential": [{"credentialSubject": [{}, {"@context": [{"type": "https://evil.example/t"}]}]}]}`:   ErrProtectedTerm,
		`{"@context": [` + v2 + `, "` + srv.URL + `/ctx"], "credentialSubject": {"@context": {"name": "https://evil.example/name"}}}`:           ErrProtectedTerm,
		`{"@context": [` + v2 + `], "credentialSubject": {"@context": {"nickname": "https://u.example/nickname"}, "nickname": "Al"}}`:           nil,
		`{"@context": [` + v2 + `], "credentialSubject": {"@context": {"degree": {"@id": "https://u.example/degree", "@type": 7}}}}`:            ErrInvalid,
		`{"@context": [` + v2 + `], "credentialSubject": {"@context": "` + srv.URL + `/ctx", "name": "Alice"}}`:                                 nil,
		`{"@context": [` + v2 + `], "credentialSubject": {"@context": [{"@version": 1.1, "@import": "` + srv.URL + `/ctx"}], "name": "Alice"}}`: nil,
		`{"@context": [` + v2 + `, {"@version": 1.1, "@import": "` + srv.URL + `/ctx"}], "credentialSubject": {"@context": {"name": "x:n"}}}`:   nil,
		// A property-scoped context may override protected terms (JSON-LD
		// 1.1 §4.1.11), an embedded one in the node below it may not.
		`{"@context": [` + v2 + `, {"alumniOf": {"@id": "https://u.example/a", "@context": {"name": "https://u.example/n"}}}], "alumniOf": {"name": "U"}}`:                                    nil,
		`{"@context": [` + v2 + `], "credentialSubject": {"@context": {"alumniOf": {"@id": "https://u.example/a", "@context": {"name": "https://u.example/n"}}}, "alumniOf": {"name": "U"}}}`: nil,
		`{"@context": [` + v2 + `], "credentialSubject": {"@context": {"alumniOf": "https://u.example/a"}, "alumniOf": {"@context": {"name": "https://u.example/n"}, "name": "U"}}}`:          ErrProtectedTerm,
		// A top-level context object without the base context first (that
		// is CheckContext's to refuse) is processed too.
		`{"@context": {"@protected": true, "name": "x:n", "T": {"@id": "x:T", "@context": {"name": "x:m"}}}, "@type": "T"}`: ErrProtectedTerm,
	} {
		d := mustParse(t, doc)
		err := CheckInlineContexts(d)
		if !errors.Is(err, want) && !(err == nil && want == nil) {
			t.Errorf("%s: %v, want %v", doc, err, want)
		}
		// Data Integrity's expansion refuses the same protected terms.
		if _, xerr := Expand(d); !strings.Contains(doc, srv.URL) && errors.Is(xerr, ErrProtectedTerm) != errors.Is(err, ErrProtectedTerm) {
			t.Errorf("%s: %v, Expand %v", doc, err, xerr)
		}
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("%d fetches", n)
	}
}

// FuzzCheckInlineContexts: no @context makes the check panic or fetch; a
// refusal is one of the package's errors; what it refuses Expand (Data
// Integrity) refuses, and what Expand refuses as a protected term
// redefined it refuses as one.
func FuzzCheckInlineContexts(f *testing.F) {
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2"], "credentialSubject": {"@context": {"name": "https://evil.example/name"}, "name": "Alice"}}`))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2"], "credentialSubject": {"@context": {"alumniOf": {"@id": "https://u.example/a", "@context": {"name": "https://u.example/n"}}}, "alumniOf": {"name": "U"}}}`))
	f.Add([]byte(`{"@context": {"@protected": true, "name": "x:n", "T": {"@id": "x:T", "@context": {"name": "x:m"}}}, "@type": "T"}`))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2", {"name": "https://evil.example/name"}]}`))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2", {"degree": {"@id": "https://u.example/d", "@context": {"x": "https://u.example/x"}}}]}`))
	f.Add([]byte(`{"@context": ["https://www.w3.org/ns/credentials/v2", {"@version": 1.1, "@import": "https://w3id.org/security/multikey/v1"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data, Limits{MaxBytes: 8 << 10})
		if err != nil {
			return
		}
		err = CheckInlineContexts(doc)
		_, xerr := Expand(doc)
		if errors.Is(xerr, ErrProtectedTerm) && !errors.Is(err, ErrProtectedTerm) {
			t.Fatalf("Expand refuses a protected term redefined (%v), the check: %v", xerr, err)
		}
		if err == nil {
			return
		}
		if xerr == nil {
			t.Fatalf("a document that expands refused: %v", err)
		}
		for _, s := range []error{ErrProtectedTerm, ErrInvalid, ErrTooDeep, ErrTooLarge, ErrUndefinedTerm, ErrRelativeIRI} {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("unexpected error kind: %v", err)
	})
}

// controlChars holds every character canonical N-Quads escapes, with a
// character it does not (é).
const controlChars = `\u0000\u0001\u0007\b\t\n\u000b\f\r\u000e\u001f\"\\\u007f\ufffe\uffff\u00e9`

// TestControlCharacters: valid JSON strings with control characters are
// accepted and written as canonical N-Quads (RDFC-1.0 §4.4.2) requires;
// the expected line is the canonical N-Quads form; digitalbazaar's
// rdf-canonize 5.0.0 gives the same bytes except for U+FFFE and U+FFFF,
// which it writes raw although they do not match the XML 1.1 Char
// production (see README).
func TestControlCharacters(t *testing.T) {
	doc := `{"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "urn:ex:c",
	  "type": ["VerifiableCredential"], "issuer": "urn:ex:i",
	  "credentialSubject": {"id": "urn:ex:s", "name": "` + controlChars + `"}}`
	nq, err := Canonicalize(mustParse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	want := `<urn:ex:s> <https://schema.org/name> "\u0000\u0001\u0007\b\t\n\u000B\f\r\u000E\u001F\"\\\u007F\uFFFE\uFFFF` + "\u00e9" + `" .` + "\n"
	if !strings.Contains(nq, want) {
		t.Errorf("canonical form lacks\n%q:\n%q", want, nq)
	}
	// A tab (escaped alike by json-gold and canonical N-Quads) in a
	// literal of a blank node.
	tab := strings.Replace(doc, `"id": "urn:ex:s", "name": "`+controlChars, `"name": "a\tb`, 1)
	nq, err = Canonicalize(mustParse(t, tab))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nq, `_:c14n0 <https://schema.org/name> "a\tb" .`+"\n") {
		t.Errorf("tab of a blank node:\n%s", nq)
	}
	// Every other one in a literal of a blank node: labelled by
	// RDFC-1.0 over the canonical escapes (rdfc.go), no longer refused.
	all := strings.Replace(doc, `"id": "urn:ex:s", "name": "`+controlChars, `"name": "`+controlChars, 1)
	nq, err = Canonicalize(mustParse(t, all))
	if err != nil {
		t.Fatal(err)
	}
	if want := "_:c14n0" + strings.TrimPrefix(want, "<urn:ex:s>"); !strings.Contains(nq, want) {
		t.Errorf("control characters of a blank node: canonical form lacks\n%q:\n%q", want, nq)
	}
	// An IRI with a control character or space is no IRIREF.
	for _, id := range []string{`urn:ex:a\u0001b`, `urn:ex:a b`, `urn:ex:a\\b`} {
		bad := strings.Replace(doc, `"urn:ex:s"`, `"`+id+`"`, 1)
		if _, err := Canonicalize(mustParse(t, bad)); !errors.Is(err, ErrRelativeIRI) {
			t.Errorf("IRI %q: %v", id, err)
		}
	}
}

// TestTopTypeScopedContext: expanding with the processed contexts kept
// (cachedContext, inlineContext) and a top-level type's scoped context
// processed in advance (contextEntry.topContext) gives what json-gold's
// own expansion gives, and refuses what it refuses, for documents that
// use the types with scoped contexts at the top, nested, in value
// objects, in pairs and under both "type" and "@type", and for contexts
// of bundled URLs followed by context objects.
// topTypeDocs are the documents TestTopTypeScopedContext compares, and
// FuzzExpandAsJSONGold's seeds.
func topTypeDocs() []string {
	const v2 = `"https://www.w3.org/ns/credentials/v2"`
	const di = `"https://w3id.org/security/data-integrity/v2"`
	return []string{
		credential,
		`{"@context": [` + v2 + `], "type": "VerifiableCredential", "issuer": "did:example:1", "credentialSubject": {"id": "did:example:2"}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiablePresentation", "VerifiableCredential"], "holder": "did:example:1", "issuer": "did:example:2"}`,
		`{"@context": [` + v2 + `], "type": ["VerifiablePresentation"], "holder": "did:example:1", "verifiableCredential": [{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "issuer": "did:example:2", "credentialSubject": {"id": "did:example:3"}}]}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "@type": "BitstringStatusListEntry", "issuer": "did:example:1"}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "issuer": "did:example:1", "name": {"@value": "x", "@type": "VerifiableCredential"}, "description": {"@value": "y", "@type": "BitstringStatusListEntry"}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "issuer": {"id": "did:example:1", "type": ["VerifiableCredential", "BitstringStatusListEntry"], "statusPurpose": "revocation"}}`,
		`{"@context": [` + v2 + `], "type": ["BitstringStatusListEntry", "VerifiableCredential"], "statusPurpose": "revocation", "statusListIndex": "7", "issuer": "did:example:1"}`,
		`{"@context": [` + v2 + `], "type": "BitstringStatusListEntry", "statusPurpose": "revocation", "credentialSubject": {"id": "did:example:2"}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "credentialStatus": [{"id": "https://example.org/s#1", "type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": "1", "statusListCredential": "https://example.org/s"}], "issuer": "did:example:1"}`,
		`{"@context": [` + v2 + `, ` + di + `], "type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "proofPurpose": "assertionMethod", "verificationMethod": "did:example:1#k", "created": "2026-01-01T00:00:00Z"}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "proofPurpose": "assertionMethod", "verificationMethod": "did:example:1#k"}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential", "JsonSchema"], "jsonSchema": {"x": 1}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential", 7]}`,
		`{"@context": [` + v2 + `], "type": {"id": "x"}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "undefinedTerm": "x"}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "credentialSubject": {"@context": {"issuer": "https://example.org/i"}, "id": "did:example:2"}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "credentialSubject": [{"id": "did:example:2", "type": "VerifiableCredential", "issuer": "did:example:9"}, {"@id": "did:example:3"}]}`,
		// Bundled URLs followed by context objects (inlineContext).
		`{"@context": [` + v2 + `, {"alumniOf": "https://schema.org/alumniOf"}], "type": ["VerifiableCredential"], "issuer": "did:example:1", "credentialSubject": {"alumniOf": "x"}}`,
		`{"@context": [` + v2 + `, {"@vocab": null}], "type": ["VerifiableCredential"], "issuer": "did:example:1", "undefinedTerm": "x"}`,
		`{"@context": [` + v2 + `, {"VerifiableCredential": "https://example.org/VC"}], "type": ["VerifiableCredential"]}`,
		`{"@context": [` + v2 + `, {"issuer": {"@id": "https://example.org/issuer", "@type": "@id"}}], "type": ["VerifiableCredential"], "issuer": "did:example:1"}`,
		`{"@context": [` + v2 + `, {"@propagate": false, "alumniOf": "https://schema.org/alumniOf"}], "type": ["VerifiableCredential"], "credentialSubject": {"alumniOf": "x"}}`,
		`{"@context": [` + v2 + `, {"@version": 1.1, "@import": "https://w3id.org/security/multikey/v1"}], "type": "Multikey", "controller": "did:example:1"}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": {"p": "https://example.org/p"}}}], "type": ["VerifiableCredential", "Ex"], "p": "v", "issuer": "did:example:1"}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": {"p": "https://example.org/p"}}}], "type": ["Ex"], "p": "v", "credentialSubject": {"type": "Ex", "p": "w"}}`,
		`{"@context": [` + v2 + `, {"a": "https://example.org/a"}, {"b": "https://example.org/b", "a": "https://example.org/a2"}], "type": "VerifiableCredential", "credentialSubject": {"a": 1, "b": 2.5}}`,
		`{"@context": [` + v2 + `, {"a": "https://example.org/a"}, "https://w3id.org/security/data-integrity/v2"], "type": "VerifiableCredential", "credentialSubject": {"a": true}}`,
		`{"@context": [` + v2 + `, {"@base": "https://example.org/"}], "type": "VerifiableCredential", "id": "relative"}`,
		`{"@context": [` + v2 + `, {"a": "https://example.org/a"}, {"b": "https://example.org/b"}], "type": "VerifiableCredential", "credentialSubject": {"a": 1, "b": 2}}`,
		`{"@context": [` + v2 + `, null], "type": "VerifiableCredential"}`,
		// The first scoped type twice, or again under a key its context
		// makes a @type alias: json-gold applies the context once per value.
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": {"@vocab": "sub/"}}}], "type": ["Ex", "Ex"], "p": "v"}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": {"@vocab": "sub/", "zkind": "@type"}}}], "type": "Ex", "zkind": "Ex", "p": "v"}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": {"@vocab": "sub/"}}, "Fx": {"@id": "https://example.org/Fx", "@context": {"@vocab": "f/"}}}], "type": ["Fx", "Ex"], "p": "v", "credentialSubject": {"q": 1}}`,
		`{"@context": [` + v2 + `, {"kind": "@type", "Ex": {"@id": "https://example.org/Ex", "@context": {"p": "https://example.org/p"}}}], "kind": "Ex", "p": "v"}`,
		`{"@context": [` + v2 + `, {"kind": "@type", "Ex": {"@id": "https://example.org/Ex", "@context": {"p": "https://example.org/p"}}}], "kind": "Ex", "type": "VerifiableCredential", "p": "v"}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": {"@propagate": true, "p": "https://example.org/p"}}}], "type": "Ex", "p": "v", "credentialSubject": {"p": "w"}}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": {"@version": 1.1, "@protected": true, "p": "https://example.org/p"}}}], "type": "Ex", "p": "v", "credentialSubject": {"@context": {"p": "https://example.org/q"}, "p": "w"}}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": {"issuer": "https://example.org/issuer"}}}], "type": "Ex", "issuer": "did:example:1"}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": null}}], "type": ["Ex", "VerifiableCredential"], "issuer": "did:example:1"}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": "https://example.org/remote"}}], "type": "Ex"}`,
		`{"@context": [` + v2 + `, {"Ex": {"@id": "https://example.org/Ex", "@context": {"p": {"@id": "https://example.org/p", "@context": {"q": "https://example.org/q"}}}}}], "type": "Ex", "p": {"q": 1}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiablePresentation"], "verifiableCredential": {"@graph": [{"type": "VerifiableCredential", "issuer": "did:example:1"}]}}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential"], "@graph": [{"type": "VerifiableCredential", "issuer": "did:example:1"}]}`,
		`{"@context": [` + v2 + `], "@graph": [{"type": "VerifiableCredential", "issuer": "did:example:1"}]}`,
		`{"@context": [` + v2 + `], "type": ["VerifiableCredential", "VerifiableCredential"], "issuer": "did:example:1"}`,
		// The term "" (the top node's active property, were the kept
		// context json-gold's initial one) with a scoped context.
		`{"@context": [` + v2 + `, {"": {"@context": {"issuer": "https://example.org/i"}}}], "issuer": "did:example:1"}`,
		`{"@context": [` + v2 + `, {"": {"@context": {"name": "https://example.org/n"}}}], "name": "x"}`,
		`{"@context": [` + v2 + `, {"": {"@id": "https://example.org/e", "@context": {"p": "https://example.org/p"}}}], "p": "v"}`,
	}
}

func TestTopTypeScopedContext(t *testing.T) {
	docs := topTypeDocs()
	for i, s := range append(docs, docs...) { // twice: the second from the caches
		doc := mustParse(t, s)
		ours, errOurs := Expand(doc)
		// json-gold alone, as Expand runs it without the cached contexts.
		theirs, errTheirs := ld.NewJsonLdProcessor().Expand(forProcessor(doc), options())
		if (errOurs != nil) != (errTheirs != nil) {
			t.Fatalf("doc %d: ours %v, json-gold %v", i, errOurs, errTheirs)
		}
		if errTheirs == nil && !reflect.DeepEqual(ours, theirs) {
			t.Fatalf("doc %d: expansion differs:\nours   %v\ntheirs %v", i, ours, theirs)
		}
	}
}

// FuzzExpandAsJSONGold: what Expand (with its kept contexts) accepts,
// json-gold alone accepts and expands the same way.
func FuzzExpandAsJSONGold(f *testing.F) {
	for _, s := range topTypeDocs() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		doc, err := Parse([]byte(s), Limits{})
		if err != nil {
			return
		}
		for round := 0; round < 2; round++ { // the second from the caches
			ours, err := Expand(doc)
			if err != nil {
				return // Expand refuses more than json-gold (checkKeywordKeys, checkIRIs)
			}
			theirs, err := expandUncached(doc)
			if err != nil {
				t.Fatalf("round %d: accepted what json-gold refuses (%v)", round, err)
			}
			if !reflect.DeepEqual(ours, theirs) {
				t.Fatalf("round %d: expansion differs:\nours   %v\ntheirs %v", round, ours, theirs)
			}
		}
	})
}

// expandUncached is json-gold's expansion of doc, as Expand runs it without
// the kept contexts.
func expandUncached(doc map[string]any) (out []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("json-gold panicked: %v", r)
		}
	}()
	return ld.NewJsonLdProcessor().Expand(forProcessor(doc), options())
}

// TestInlineContextNotJSON: a context object holding a Go value that
// marshals like a JSON one (Expand given a document not from Check or
// Parse) is not answered from the cache of the JSON one: json-gold
// refuses it.
func TestInlineContextNotJSON(t *testing.T) {
	type name string
	doc := func(id any) map[string]any {
		return map[string]any{
			"@context": []any{"https://www.w3.org/ns/credentials/v2", map[string]any{"p": map[string]any{"@id": id}}},
			"type":     "VerifiableCredential", "p": "v",
		}
	}
	if _, err := Expand(doc("https://example.org/p")); err != nil {
		t.Fatal(err)
	}
	if _, err := Expand(doc(name("https://example.org/p"))); err == nil {
		t.Fatal("a non-string @id accepted from the inline context cache")
	}
}

// TestIsRelativeIRICached: the cached test gives json-gold's answer, the
// first time and from the cache.
func TestIsRelativeIRICached(t *testing.T) {
	values := []string{"", "@type", "@id", "_:b0", "_:", "did:example:1", "https://example.org/a#b", "urn:uuid:1",
		"relative/path", "#frag", "http://[::1", "https://ex ample.org/", "x:y", strings.Repeat("a", maxCachedIRI+1) + ":b"}
	for round := 0; round < 2; round++ {
		for _, v := range values {
			if got, want := isRelativeIRI(v), ld.IsRelativeIri(v); got != want {
				t.Fatalf("round %d, %q: %v, json-gold %v", round, v, got, want)
			}
		}
	}
}

// BenchmarkCheckInlineContexts: credentials with a context object at the
// top and one nested in credentialSubject, with one at the top only, and
// with bundled URLs only (no processing).
func BenchmarkCheckInlineContexts(b *testing.B) {
	for name, doc := range map[string]string{
		"inline": `{"@context": ["https://www.w3.org/ns/credentials/v2", {"degree": "https://u.example/degree"}], "type": ["VerifiableCredential"], "issuer": "did:example:i", "credentialSubject": {"@context": {"nickname": "https://u.example/nickname"}, "id": "did:example:s", "nickname": "Al", "degree": "BSc"}}`,
		"top":    `{"@context": ["https://www.w3.org/ns/credentials/v2", {"degree": "https://u.example/degree"}], "type": ["VerifiableCredential"], "issuer": "did:example:i", "credentialSubject": {"id": "did:example:s", "degree": "BSc"}}`,
		"urls":   `{"@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"], "type": ["VerifiableCredential"], "issuer": "did:example:i", "credentialSubject": {"id": "did:example:s", "alumniOf": "U"}}`,
	} {
		d := mustParse(b, doc)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := CheckInlineContexts(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// hasWideInteger reports whether expanded JSON-LD holds, outside @json
// literals, an integral number that json-gold's toRDF writes wrongly (as
// a double): of magnitude 2^63 or more and below 10^21.
func hasWideInteger(v any) bool {
	switch t := v.(type) {
	case []any:
		return slices.ContainsFunc(t, hasWideInteger)
	case map[string]any:
		if t["@type"] == "@json" {
			return false
		}
		for _, e := range t {
			if hasWideInteger(e) {
				return true
			}
		}
	case float64:
		a := math.Abs(t)
		return a == math.Trunc(a) && a >= 1<<63 && a < 1e21
	}
	return false
}

// hasJSONLiteral reports whether expanded JSON-LD holds an @json literal,
// which json-gold's toRDF canonicalizes only when it is an object.
func hasJSONLiteral(v any) bool {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if hasJSONLiteral(e) {
				return true
			}
		}
	case map[string]any:
		if t["@type"] == "@json" {
			return true
		}
		for _, e := range t {
			if hasJSONLiteral(e) {
				return true
			}
		}
	}
	return false
}
