// Package jsonld is TrustID's JSON-LD processing: parsing with limits,
// expansion, the checks the VC 2.0 data model asks of contexts, and RDF
// Dataset Canonicalization (RDFC-1.0) for Data Integrity proofs. It uses
// github.com/piprate/json-gold (a JSON-LD 1.1 processor with URDNA2015,
// which RDFC-1.0 standardised) with a document loader that serves only the
// contexts bundled in package contexts: nothing is ever fetched.
package jsonld

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/piprate/json-gold/ld"

	"github.com/trustid-cn/trustid/credentials/contexts"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Errors. Each is wrapped with detail that names no document value.
var (
	// ErrUnknownContext: a context URL that is not bundled. Contexts are
	// never fetched, so a remote context is refused with this error too.
	ErrUnknownContext = errors.New("jsonld: context is not bundled (contexts are never fetched)")
	// ErrFirstContext: the first @context is not the VC 2.0 base context.
	ErrFirstContext = errors.New("jsonld: the first @context must be " + contexts.CredentialsV2)
	// ErrUndefinedTerm: a property that no context defines (expansion
	// would drop it).
	ErrUndefinedTerm = errors.New("jsonld: undefined term")
	// ErrProtectedTerm: a context redefines a protected term.
	ErrProtectedTerm = errors.New("jsonld: redefinition of a protected term")
	// ErrRelativeIRI: a type or identifier that does not expand to an
	// absolute IRI.
	ErrRelativeIRI = errors.New("jsonld: type or id does not expand to an absolute IRI")
	// ErrTooLarge and ErrTooDeep: the input is over the size or nesting
	// limit.
	ErrTooLarge = errors.New("jsonld: document too large")
	ErrTooDeep  = errors.New("jsonld: document nested too deeply")
	// ErrInvalid: anything else that is not valid JSON-LD input for a
	// credential or presentation.
	ErrInvalid = errors.New("jsonld: invalid document")
	// ErrNotCompacted: a document that is not in JSON-LD compacted
	// document form with respect to its top-level @context (see
	// CheckCompacted).
	ErrNotCompacted = errors.New("jsonld: not in compacted document form")
)

// Default limits.
const (
	DefaultMaxBytes = 256 << 10
	DefaultMaxDepth = 24
)

// Limits bound the input. The zero value means the defaults.
type Limits struct {
	MaxBytes int // bytes of JSON (default DefaultMaxBytes)
	MaxDepth int // nesting of objects and arrays (default DefaultMaxDepth)
}

func (l Limits) maxBytes() int {
	if l.MaxBytes > 0 {
		return l.MaxBytes
	}
	return DefaultMaxBytes
}

func (l Limits) maxDepth() int {
	if l.MaxDepth > 0 {
		return l.MaxDepth
	}
	return DefaultMaxDepth
}

// Parse decodes a JSON object strictly (no duplicate keys, no trailing
// data) within the limits. Numbers are json.Number (as encoding/json's
// UseNumber gives them). Strings may hold any character JSON allows
// (escaped control characters included): canonicalNQuads escapes them as
// canonical N-Quads requires.
func Parse(data []byte, lim Limits) (map[string]any, error) {
	if len(data) > lim.maxBytes() {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), lim.maxBytes())
	}
	m, err := strictjson.Object(data, lim.maxBytes())
	if err != nil {
		if errors.Is(err, strictjson.ErrTooDeep) {
			return nil, fmt.Errorf("%w: %v", ErrTooDeep, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	v, err := normalize(m, 0, lim.maxDepth())
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// Check applies Parse's rules to a document already decoded (by
// encoding/json, with or without UseNumber) and returns a copy that the
// processor can take.
func Check(doc map[string]any, lim Limits) (map[string]any, error) {
	v, err := normalize(doc, 0, lim.maxDepth())
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// normalize copies v, checking depth and numbers.
func normalize(v any, depth, max int) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if depth >= max {
			return nil, fmt.Errorf("%w: limit %d", ErrTooDeep, max)
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			n, err := normalize(e, depth+1, max)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []any:
		if depth >= max {
			return nil, fmt.Errorf("%w: limit %d", ErrTooDeep, max)
		}
		out := make([]any, len(t))
		for i, e := range t {
			n, err := normalize(e, depth+1, max)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case string:
		return t, nil
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: number out of range", ErrInvalid)
		}
		return t, nil
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return nil, fmt.Errorf("%w: number out of range", ErrInvalid)
		}
		return t, nil
	case bool, nil:
		return t, nil
	case int:
		return json.Number(strconv.Itoa(t)), nil
	case int64:
		return json.Number(strconv.FormatInt(t, 10)), nil
	}
	return nil, fmt.Errorf("%w: unsupported value of type %T", ErrInvalid, v)
}

// CheckContext checks the VC 2.0 rule on @context: a URL string or an
// ordered set whose first item is the base context URL; later items are
// URLs or objects (URLs must be bundled, which expansion checks).
func CheckContext(doc map[string]any) error {
	switch c := doc["@context"].(type) {
	case string:
		if c == contexts.CredentialsV2 {
			return nil
		}
	case []any:
		if len(c) > 0 && c[0] == contexts.CredentialsV2 {
			for _, it := range c[1:] {
				switch it.(type) {
				case string, map[string]any:
				default:
					return fmt.Errorf("%w: @context items are URLs or objects", ErrInvalid)
				}
			}
			return nil
		}
	}
	return ErrFirstContext
}

// CheckCompacted refuses a document that is not in JSON-LD compacted
// document form with respect to its top-level @context, as VC 2.0 §6.1
// requires of application/vc and application/vp ("JSON-LD compacted
// document form MUST be used for all representations of the data model
// using the application/vc or application/vp media type"), wherever
// another spelling would say in RDF what a reader of the JSON does not
// see: a Data Integrity proof covers the RDF the document expands to, so
// `"credentialSubject":{"@id":"did:a"}` signs what
// `"credentialSubject":{"id":"did:a"}` signs, while the member id that
// the holder binding and the registry's checks read is missing.
//
// A document that could name a member otherwise than by a term of the
// bundled contexts (mayRename: an inline context, or a member named by an
// IRI, a compact IRI or a keyword other than a value object's) must be
// the compaction of its expansion with its own @context (statedAsWritten),
// and is refused (ErrNotCompacted) otherwise. Before that, without
// expansion, an object of the top-level @context may not define a term
// as a keyword ("x":"@id"), as an IRI (or prefix) of the VC or security
// vocabulary, as a reverse property, with a scoped context or @nest, or
// as an id or type map (checkInlineTerms). A document of bundled terms
// only is not expanded: the bundled contexts name each property the node
// reads by one term (TestBundledTermsNameEachGuardedIRIOnce).
//
// Each object of a presentation's top-level verifiableCredential is a
// document of its own (its @context is its top-level one); a top-level
// proof is not checked (Data Integrity canonicalizes it apart). The bundled
// contexts themselves are trusted as they are.
func CheckCompacted(doc map[string]any) error {
	if err := checkInlineTerms(doc["@context"]); err != nil {
		return err
	}
	if v, ok := doc["verifiableCredential"]; ok {
		for _, it := range asList(v) {
			if m, ok := it.(map[string]any); ok {
				if err := CheckCompacted(m); err != nil {
					return err
				}
			}
		}
	}
	return statedAsWritten(doc)
}

// iriRDFType is rdf:type, which a compacted document states as @type (its
// alias type), never as a property.
const iriRDFType = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

// statedAsWritten checks, for a document whose members could say in RDF
// what its JSON does not (see mayRename), that it is the compaction of its
// expansion with its own @context: JSON-LD 1.1 compaction writes each
// property, type and id by the term the context defines for it (or by the
// alias of @id and @type), so a member respelled as an IRI, a compact IRI
// (any prefix, @vocab or @prefix term), a keyword or a nested context
// compacts back to the term and differs from what is written. The
// expansion and compaction use the bundled contexts only, never a fetch;
// the document's proof and verifiableCredential members are left out (see
// CheckCompacted). Values are compared as JSON (sameJSON), with what
// compaction legitimately normalizes. Two things compaction would write
// again as written are refused here too: a type stated as the property
// rdf:type (the same RDF as a type, unseen in the JSON's type), and the
// keywords that move a node's statements elsewhere (@included, @reverse,
// @graph), while an @json literal's value is not JSON-LD and is not looked
// into. Other documents need no expansion: their keys are terms of the
// bundled contexts, which name each VC property by one term.
func statedAsWritten(doc map[string]any) error {
	if !mayRename(doc) {
		return nil
	}
	body := make(map[string]any, len(doc))
	for k, v := range doc {
		if k != "proof" && k != "verifiableCredential" {
			body[k] = v
		}
	}
	expanded, err := Expand(body)
	if err != nil {
		return err
	}
	if len(expanded) != 1 {
		return fmt.Errorf("%w: the document expands to %d nodes", ErrNotCompacted, len(expanded))
	}
	if err := movesStatements(expanded); err != nil {
		return err
	}
	if err := subjectsAsWritten(doc, expanded[0]); err != nil {
		return err
	}
	active, err := processContext(body["@context"])
	if err != nil {
		return err
	}
	if err := secondNames(active, body["@context"]); err != nil {
		return err
	}
	if err := respelledTerms(active, body); err != nil {
		return err
	}
	literals := hideJSONLiterals(expanded, nil)
	compacted, err := compact(active, expanded)
	if err != nil {
		return err
	}
	restoreJSONLiterals(compacted, literals)
	delete(body, "@context")
	if !sameJSON(body, compacted) {
		return fmt.Errorf("%w: the document is not the compaction of its expansion (a member, type or id spelled otherwise than compaction writes it)", ErrNotCompacted)
	}
	return nil
}

// iriCredentialSubject is the VC vocabulary's credentialSubject.
const iriCredentialSubject = "https://www.w3.org/2018/credentials#credentialSubject"

// subjectsAsWritten refuses a document whose credentialSubject ids, as
// written, are not the ids its expansion states (node): compaction writes
// an id as a compact IRI where the context has a prefix for it ("p:a"),
// which the holder binding would compare as written.
func subjectsAsWritten(doc map[string]any, node any) error {
	var written, stated []string
	for _, s := range asList(doc["credentialSubject"]) {
		id, _ := s.(string)
		if m, ok := s.(map[string]any); ok {
			id, _ = m["id"].(string)
		}
		written = append(written, id)
	}
	n, _ := node.(map[string]any)
	for _, s := range asList(n[iriCredentialSubject]) {
		m, _ := s.(map[string]any)
		id, _ := m["@id"].(string)
		stated = append(stated, id)
	}
	slices.Sort(written)
	slices.Sort(stated)
	if !slices.Equal(written, stated) {
		return fmt.Errorf("%w: the subject ids expand otherwise than written", ErrNotCompacted)
	}
	return nil
}

// movesStatements refuses, in expanded JSON-LD, a type stated as rdf:type
// and the keywords that state a node's properties away from it: @reverse
// (a property of the node it points to), @included and @graph (nodes
// beside the document's). It does not look into @json literals.
func movesStatements(v any) error {
	switch t := v.(type) {
	case map[string]any:
		if t["@type"] == "@json" {
			return nil
		}
		for k, e := range t {
			switch k {
			case iriRDFType:
				return fmt.Errorf("%w: a type stated as the property rdf:type", ErrNotCompacted)
			case "@reverse", "@included", "@graph":
				return fmt.Errorf("%w: member %s", ErrNotCompacted, k)
			}
			if err := movesStatements(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range t {
			if err := movesStatements(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonLiteralMark begins the placeholder hideJSONLiterals puts for an
// @json literal's value.
const jsonLiteralMark = "\x00json literal "

// hideJSONLiterals replaces, in expanded JSON-LD, each @json literal's value
// by a placeholder string and returns the values in order: json-gold's
// compaction would compact a literal's value as JSON-LD (an "@id" in it
// written "id"), though JSON-LD 1.1 takes a JSON literal's value as it is.
func hideJSONLiterals(v any, values []any) []any {
	switch t := v.(type) {
	case map[string]any:
		if value, ok := t["@value"]; ok && t["@type"] == "@json" {
			t["@value"] = jsonLiteralMark + strconv.Itoa(len(values))
			return append(values, value)
		}
		for _, e := range t {
			values = hideJSONLiterals(e, values)
		}
	case []any:
		for _, e := range t {
			values = hideJSONLiterals(e, values)
		}
	}
	return values
}

// restoreJSONLiterals puts back, in compacted JSON-LD, the values
// hideJSONLiterals took out.
func restoreJSONLiterals(v any, values []any) {
	put := func(e any) (any, bool) {
		s, ok := e.(string)
		if !ok || !strings.HasPrefix(s, jsonLiteralMark) {
			return nil, false
		}
		i, err := strconv.Atoi(strings.TrimPrefix(s, jsonLiteralMark))
		if err != nil || i < 0 || i >= len(values) {
			return nil, false
		}
		return values[i], true
	}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if x, ok := put(e); ok {
				t[k] = x
			} else {
				restoreJSONLiterals(e, values)
			}
		}
	case []any:
		for i, e := range t {
			if x, ok := put(e); ok {
				t[i] = x
			} else {
				restoreJSONLiterals(e, values)
			}
		}
	}
}

// processContext processes c (a document's @context) with the bundled
// contexts only. It is processed afresh for each document: json-gold
// caches an inverse context in the context it compacts with, so a shared
// processed context would be written to by concurrent calls.
func processContext(c any) (active *ld.Context, err error) {
	defer func() {
		if r := recover(); r != nil {
			active, err = nil, fmt.Errorf("%w: the JSON-LD processor failed", ErrInvalid)
		}
	}()
	active, err = ld.NewContext(nil, options()).Parse(forProcessor(c))
	if err != nil {
		return nil, mapErr(err)
	}
	return active, nil
}

// compact runs JSON-LD compaction of expanded with the processed context
// active. The result has no @context.
func compact(active *ld.Context, expanded []any) (out map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: the JSON-LD processor failed", ErrInvalid)
		}
	}()
	compacted, err := ld.NewJsonLdApi().Compact(active, "", expanded, true)
	if err != nil {
		return nil, mapErr(err)
	}
	switch t := compacted.(type) {
	case map[string]any:
		return t, nil
	case []any:
		if len(t) == 0 {
			return map[string]any{}, nil
		}
	}
	return nil, fmt.Errorf("%w: the document compacts to several nodes", ErrNotCompacted)
}

// secondNames refuses a term of a context object in c (a top-level
// @context) that names, in the processed context active, an IRI a bundled
// context names by another term: compaction picks the shortest of two
// terms alike, so "b" for the IRI of cnf would compact back to itself
// while the JSON has no cnf.
func secondNames(active *ld.Context, c any) error {
	for _, it := range asList(c) {
		obj, ok := it.(map[string]any)
		if !ok {
			continue
		}
		for term := range obj {
			if strings.HasPrefix(term, "@") {
				continue
			}
			td := active.GetTermDefinition(term)
			if td == nil {
				continue
			}
			if names := bundledTermIRIs()[td.ID]; names != nil && !names[term] {
				return fmt.Errorf("%w: the term %.40q names what a bundled context names by another term", ErrNotCompacted, term)
			}
		}
	}
	return nil
}

// respelledTerms refuses a member of v, at any depth (an @json literal's
// value aside), whose name expands, with the processed top-level context
// active, to an IRI a bundled context names by a term, when the name is not
// that term: a compact IRI ("c:#validUntil" through an inline prefix) or a
// name an inline @vocab expands. Compaction writes such a member back as
// it was when the value is one the term cannot hold (a plain string for
// validUntil, whose term is typed xsd:dateTime): the RDF states
// validUntil, the JSON has none. Names are expanded in the top-level
// context: the bundled scoped contexts define none of the prefixes a
// document would use.
func respelledTerms(active *ld.Context, v any) error {
	switch t := v.(type) {
	case map[string]any:
		if _, ok := t["@value"]; ok {
			return nil
		}
		for k, e := range t {
			if strings.HasPrefix(k, "@") {
				continue
			}
			iri, err := active.ExpandIri(k, false, true, nil, nil)
			if err == nil {
				if names := bundledTermIRIs()[iri]; names != nil && !names[k] {
					return fmt.Errorf("%w: member %.80q names what a bundled context names by a term", ErrNotCompacted, k)
				}
			}
			if err := respelledTerms(active, e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range t {
			if err := respelledTerms(active, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// bundledTermIRIs maps each IRI (or keyword) a term of a bundled context
// names (at its top or in a scoped context) to the names of those terms.
var bundledTermIRIs = sync.OnceValue(func() map[string]map[string]bool {
	iris := map[string]map[string]bool{}
	for _, u := range contexts.URLs() {
		raw, _ := contexts.Document(u)
		var doc map[string]any
		if json.Unmarshal(raw, &doc) != nil {
			continue
		}
		if active, err := processContext(u); err == nil {
			termIRIs(active, doc["@context"], iris, 0)
		}
	}
	return iris
})

// termIRIs adds to iris the terms c (a context object processed into
// active) defines, and those of their scoped contexts.
func termIRIs(active *ld.Context, c any, iris map[string]map[string]bool, depth int) {
	obj, ok := c.(map[string]any)
	if !ok || depth > 8 {
		return
	}
	for term, def := range obj {
		td := active.GetTermDefinition(term)
		if strings.HasPrefix(term, "@") || td == nil {
			continue
		}
		if strings.Contains(td.ID, ":") || strings.HasPrefix(td.ID, "@") {
			if iris[td.ID] == nil {
				iris[td.ID] = map[string]bool{}
			}
			iris[td.ID][term] = true
		}
		if d, ok := def.(map[string]any); ok && d["@context"] != nil {
			// json-gold's Parse gives no way to say a property-scoped
			// context may redefine protected terms, as JSON-LD lets it:
			// one that does is processed on its own (the bundled scoped
			// contexts name their terms by absolute IRIs).
			scoped, err := active.Parse(d["@context"])
			if err != nil {
				scoped, err = processContext(d["@context"])
			}
			if err == nil {
				termIRIs(scoped, d["@context"], iris, depth+1)
			}
		}
	}
}

// sameJSON reports whether the JSON values a (as written) and b (as
// compaction writes it) are equal, up to what compaction normalizes: a
// one-element array and its element are equal (compaction writes one
// value bare unless the term's container is @set or @list, and either
// spelling expands alike) unless the element is an array, a node reference {"id": x} is x (compaction
// writes it so for a term whose type is @id, where both expand alike), a
// member whose value is null is absent (expansion drops it), a value
// object's datatype may be written @type or type (compaction writes the
// alias), and numbers are compared by value (json.Number and float64
// alike). Objects compare by members, arrays in order.
func sameJSON(a, b any) bool {
	la, aList := a.([]any)
	lb, bList := b.([]any)
	switch {
	case aList && bList:
		return len(la) == len(lb) && sameLists(la, lb)
	case aList:
		// Not an array in an array: expansion flattens [[x]] to what
		// [x] says, while a reader of the JSON finds no object in it.
		return len(la) == 1 && !isArray(la[0]) && sameJSON(la[0], b)
	case bList:
		return len(lb) == 1 && !isArray(lb[0]) && sameJSON(a, lb[0])
	}
	ma, aMap := a.(map[string]any)
	mb, bMap := b.(map[string]any)
	if id, ok := b.(string); ok && aMap && len(ma) == 1 && ma["id"] == id {
		return true // a node reference, which compaction writes as its id for a term of type @id
	}
	if aMap || bMap {
		if !aMap || !bMap {
			return false
		}
		ma, mb = valueTypeAsKeyword(ma), valueTypeAsKeyword(mb)
		for k, x := range ma {
			if x != nil && !sameJSON(x, mb[k]) {
				return false
			}
		}
		for k, y := range mb {
			if y != nil && ma[k] == nil {
				return false
			}
		}
		return true
	}
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return a == b
}

// valueTypeAsKeyword is m with, if m is a value object, its datatype under
// @type where it is under the alias type (compaction writes the alias; a
// value object written with @type is the same value).
func valueTypeAsKeyword(m map[string]any) map[string]any {
	if _, ok := m["@value"]; !ok {
		return m
	}
	if typ, ok := m["type"]; ok {
		m = maps.Clone(m)
		delete(m, "type")
		m["@type"] = typ
	}
	return m
}

// isArray reports whether v is a JSON array.
func isArray(v any) bool {
	_, ok := v.([]any)
	return ok
}

// sameLists compares two arrays element by element with sameJSON.
func sameLists(a, b []any) bool {
	for i := range a {
		if !sameJSON(a[i], b[i]) {
			return false
		}
	}
	return true
}

// number is v's value if v is a JSON number (json.Number or float64).
func number(v any) (float64, bool) {
	switch t := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		return f, err == nil
	case float64:
		return t, true
	}
	return 0, false
}

// mayRename reports whether doc (its proof and verifiableCredential
// aside) could name a member otherwise than by a term of the bundled
// contexts: it has a context object at its top, or a member below the top
// named by an IRI or compact IRI (with ':') or by a keyword other than a
// value object's (@value, @language, @direction, and @type beside @value),
// or an array in an array (expansion flattens it, [[x]] says what [x]
// says). An @json literal's value is not looked into.
func mayRename(doc map[string]any) bool {
	for _, c := range asList(doc["@context"]) {
		if _, ok := c.(map[string]any); ok {
			return true
		}
	}
	var renames func(v any) bool
	renames = func(v any) bool {
		switch t := v.(type) {
		case map[string]any:
			_, valueObject := t["@value"]
			if valueObject && t["@type"] == "@json" {
				return false
			}
			for k, e := range t {
				if valueObject && k == "@type" {
					continue
				}
				if strings.Contains(k, ":") || strings.HasPrefix(k, "@") && !valueKeywords[k] || renames(e) {
					return true
				}
			}
		case []any:
			// An array in an array: expansion flattens it.
			return slices.ContainsFunc(t, isArray) || slices.ContainsFunc(t, renames)
		}
		return false
	}
	for k, v := range doc {
		if k != "@context" && k != "proof" && k != "verifiableCredential" && (strings.Contains(k, ":") || strings.HasPrefix(k, "@") || renames(v)) {
			return true
		}
	}
	return false
}

// asList is v as a list: itself if it is one, else a list of v (none for
// nil).
func asList(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	}
	return []any{v}
}

// valueKeywords are the keywords of value objects, which no bundled
// context aliases: a member so named needs no expansion (mayRename).
var valueKeywords = map[string]bool{"@value": true, "@language": true, "@direction": true}

// definedVocabularies are the vocabularies whose properties and types the
// bundled contexts name by terms, which a compacted document uses: the
// VC and security vocabularies and rdf:type (@type's).
var definedVocabularies = []string{"https://www.w3.org/2018/credentials#", "https://w3id.org/security#", iriRDFType}

// definedVocabulary reports whether iri (a member's name, or an inline
// term's IRI) is in definedVocabularies: a second name for what the
// bundled contexts define (credentialStatus or validUntil named by
// their IRIs would be unseen by the JSON's readers, the status and
// validity checks).
func definedVocabulary(iri string) bool {
	for _, v := range definedVocabularies {
		if strings.HasPrefix(iri, v) {
			return true
		}
	}
	return false
}

// idOrTypeMap reports whether a container mapping makes the keys of a
// term's value node ids or types.
func idOrTypeMap(c any) bool {
	list, isList := c.([]any)
	if !isList {
		list = []any{c}
	}
	return slices.Contains(list, any("@id")) || slices.Contains(list, any("@type"))
}

// checkInlineTerms refuses, in the context objects of a top-level
// @context, the term definitions that let a document respell a keyword or
// carry a context of its own (see CheckCompacted).
func checkInlineTerms(c any) error {
	list, isList := c.([]any)
	if !isList {
		list = []any{c}
	}
	for _, it := range list {
		obj, ok := it.(map[string]any)
		if !ok {
			continue
		}
		for term, def := range obj {
			if strings.HasPrefix(term, "@") {
				continue // @vocab, @base, @language, @version, @protected, ...
			}
			if definedVocabulary(term) {
				return fmt.Errorf("%w: the term %.80q", ErrNotCompacted, term)
			}
			switch d := def.(type) {
			case string:
				if strings.HasPrefix(d, "@") {
					return fmt.Errorf("%w: the term %.40q aliases a keyword", ErrNotCompacted, term)
				}
				if definedVocabulary(d) {
					return fmt.Errorf("%w: the term %.40q names a defined vocabulary", ErrNotCompacted, term)
				}
			case map[string]any:
				id, _ := d["@id"].(string)
				if strings.HasPrefix(id, "@") {
					return fmt.Errorf("%w: the term %.40q aliases a keyword", ErrNotCompacted, term)
				}
				if definedVocabulary(id) {
					return fmt.Errorf("%w: the term %.40q names a defined vocabulary", ErrNotCompacted, term)
				}
				for _, k := range []string{"@reverse", "@context", "@nest"} {
					if _, has := d[k]; has {
						return fmt.Errorf("%w: the term %.40q has %s", ErrNotCompacted, term, k)
					}
				}
				if idOrTypeMap(d["@container"]) {
					return fmt.Errorf("%w: the term %.40q is an id or type map", ErrNotCompacted, term)
				}
			}
		}
	}
	return nil
}

// CheckInlineContexts checks the contexts doc holds besides bundled URLs,
// for securing mechanisms that do not process the document as JSON-LD
// (vc+jwt, vc+cose), so that they refuse what Data Integrity's expansion
// refuses of them: a definition that redefines a protected term
// (ErrProtectedTerm) or is not a valid JSON-LD context (ErrInvalid,
// ErrTooDeep, ...), as VC 2.0 asks of every @context ("processable as a
// JSON-LD context"). A document with such contexts, at the top (objects in
// its @context) or in any node object below it, is expanded as a whole with
// the bundled contexts, so each context is processed over the active
// context at its place (property- and type-scoped contexts included);
// expansion refuses what else is not valid JSON-LD too (ErrInvalid), but
// drops undefined terms rather than refusing them (ErrUndefinedTerm is
// CheckDefinedTerms's). A document whose @context holds URLs only, and no
// nested @context, needs no processing (the bundled contexts agree with
// each other). The top-level items from the first context not bundled (by
// URL) on are left out: what follows cannot undo an error before it. They,
// a nested context not bundled and a context that @imports one are
// accepted unchecked, never fetched; so is what the bundled contexts leave
// undefined (expansion drops it, nested contexts and all).
func CheckInlineContexts(doc map[string]any) error {
	top, inline := doc["@context"], false
	switch c := top.(type) {
	case map[string]any:
		inline = true
	case []any:
		for i, it := range c {
			if u, ok := it.(string); ok {
				if _, ok := contexts.Document(u); !ok {
					top = c[:i]
					break
				}
			}
			if _, ok := it.(map[string]any); ok {
				inline = true
			}
		}
	}
	if !inline && !nestedContext(doc) {
		return nil
	}
	body := maps.Clone(doc)
	if top != nil {
		body["@context"] = top
	}
	checked, err := Check(body, Limits{})
	if err != nil {
		return err
	}
	if err := expandLenient(checked); err != nil && !errors.Is(err, ErrUnknownContext) {
		return err
	}
	return nil
}

// nestedContext reports whether a value in doc, below its own @context,
// holds an object with an @context member.
func nestedContext(doc map[string]any) bool {
	var holds func(v any) bool
	holds = func(v any) bool {
		switch t := v.(type) {
		case map[string]any:
			if _, ok := t["@context"]; ok {
				return true
			}
			for _, e := range t {
				if holds(e) {
					return true
				}
			}
		case []any:
			return slices.ContainsFunc(t, holds)
		}
		return false
	}
	for k, v := range doc {
		if k != "@context" && holds(v) {
			return true
		}
	}
	return false
}

// expandLenient runs json-gold's expansion of doc (after Check) with the
// bundled contexts only, as Expand does, but not in safe mode: terms no
// context defines are dropped, not refused.
func expandLenient(doc map[string]any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: the JSON-LD processor failed", ErrInvalid)
		}
	}()
	opts := options()
	opts.SafeMode = false
	if _, err := ld.NewJsonLdProcessor().Expand(forProcessor(doc), opts); err != nil {
		return mapErr(err)
	}
	return nil
}

// Expand expands doc (after Check or Parse) with the bundled contexts only
// and checks that nothing was dropped, no protected term was redefined,
// and every @type and @id is an absolute IRI or blank node.
func Expand(doc map[string]any) (expanded []any, err error) {
	defer func() {
		// json-gold is third-party code on untrusted input: a panic in it
		// is a refusal, never a crash of the node.
		if r := recover(); r != nil {
			expanded, err = nil, fmt.Errorf("%w: the JSON-LD processor failed", ErrInvalid)
		}
	}()
	if err := checkKeywordKeys(doc); err != nil {
		return nil, err
	}
	expanded, err = expand(forProcessor(doc).(map[string]any))
	if err != nil {
		return nil, mapErr(err)
	}
	if err := checkIRIs(expanded); err != nil {
		return nil, err
	}
	return expanded, nil
}

// Canonicalize returns the RDFC-1.0 canonical N-Quads of doc (after Check
// or Parse), with Expand's checks.
func Canonicalize(doc map[string]any) (nquads string, err error) {
	expanded, err := Expand(doc)
	if err != nil {
		return "", err
	}
	defer func() {
		if r := recover(); r != nil {
			nquads, err = "", fmt.Errorf("%w: the JSON-LD processor failed", ErrInvalid)
		}
	}()
	dataset, err := toRDF(expanded)
	if err != nil {
		return "", mapErr(err)
	}
	return canonicalNQuads(dataset)
}

// escapeLiteral writes s as canonical N-Quads writes the inside of a
// STRING_LITERAL_QUOTE: BS, HT, LF, FF, CR, " and \\ as ECHAR; U+0000 to
// U+0007, VT, U+000E to U+001F, DEL and characters outside the XML 1.1
// Char production (U+FFFE, U+FFFF) as UCHAR with four uppercase HEX;
// everything else as itself.
func escapeLiteral(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			if r < 0x20 || r == 0x7f || r == 0xfffe || r == 0xffff {
				fmt.Fprintf(b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
}

// expand runs JSON-LD expansion. A top-level @context of bundled URLs
// (the usual case), possibly followed by context objects, is processed
// once and kept: processing the VC 2.0 context was the larger part of
// expanding a credential. So is the type-scoped context of the
// document's first type that has one (VerifiableCredential's,
// VerifiablePresentation's): see topContext.
func expand(doc map[string]any) ([]any, error) {
	opts := options()
	entry, err := cachedContext(doc["@context"], opts)
	if err != nil {
		return nil, err
	}
	if entry == nil || entry.emptyTerm {
		return ld.NewJsonLdProcessor().Expand(doc, opts)
	}
	body := make(map[string]any, len(doc))
	for k, v := range doc {
		if k != "@context" {
			body[k] = v
		}
	}
	out, err := ld.NewJsonLdApi().Expand(entry.topContext(body), "", body, opts, false, nil)
	if err != nil {
		return nil, err
	}
	// The last steps of the expansion algorithm (JSON-LD 1.1 API §5.1.2,
	// as json-gold's JsonLdProcessor.Expand does them).
	m, isMap := out.(map[string]any)
	if isMap && len(m) == 0 {
		out = nil
	}
	if g, ok := m["@graph"]; isMap && ok && len(m) == 1 {
		out = g
	}
	switch t := out.(type) {
	case nil:
		return []any{}, nil
	case []any:
		return t, nil
	}
	return []any{out}, nil
}

// contextEntry is a processed context of bundled URLs, with the terms
// that alias @type and the type-scoped contexts applied to it so far.
// json-gold copies a context before changing it and expansion only reads
// the active context, so one processed context serves concurrent calls.
type contextEntry struct {
	active    *ld.Context
	typeTerms map[string]bool // "@type" and the terms defined as "@type"
	mu        sync.Mutex
	scoped    map[string]*ld.Context // by type term; nil: apply as usual
	// emptyTerm: the context defines the term "". json-gold expands the
	// top node with active property "", so handed this context it would
	// apply that term's scoped context there (as a property-scoped one,
	// over protected terms); json-gold alone starts from an empty context.
	emptyTerm bool
}

// contextCache holds processed contexts by their list of bundled URLs.
var contextCache = struct {
	sync.Mutex
	m map[string]*contextEntry
}{m: map[string]*contextEntry{}}

const maxCachedContexts = 32

// cachedContext returns the processed context of c when c is a bundled
// URL or a short list of them, possibly followed by context objects; nil
// otherwise (json-gold then processes c itself).
func cachedContext(c any, opts *ld.JsonLdOptions) (*contextEntry, error) {
	var urls []string
	var objects []any
	switch t := c.(type) {
	case string:
		urls = []string{t}
	case []any:
		if len(t) > 4 {
			return nil, nil
		}
		for _, u := range t {
			switch x := u.(type) {
			case string:
				if len(objects) > 0 {
					return nil, nil
				}
				urls = append(urls, x)
			case map[string]any:
				objects = append(objects, x)
			default:
				return nil, nil
			}
		}
	default:
		return nil, nil
	}
	if len(urls) == 0 {
		return nil, nil
	}
	for _, u := range urls {
		if _, ok := contexts.Document(u); !ok {
			return nil, nil
		}
	}
	// Copies: the URLs may be substrings of the whole document (Parse),
	// which the cache would hold.
	key := strings.Clone(strings.Join(urls, " "))
	contextCache.Lock()
	entry := contextCache.m[key]
	contextCache.Unlock()
	if entry == nil {
		list := make([]any, len(urls))
		for i, u := range urls {
			list[i] = strings.Clone(u)
		}
		active, err := ld.NewContext(nil, opts).Parse(list)
		if err != nil {
			return nil, err
		}
		entry = newContextEntry(active)
		contextCache.Lock()
		if len(contextCache.m) < maxCachedContexts {
			contextCache.m[key] = entry
		}
		contextCache.Unlock()
	}
	if len(objects) == 0 {
		return entry, nil
	}
	return inlineContext(entry, key, objects)
}

func newContextEntry(active *ld.Context) *contextEntry {
	_, empty := active.TermDefinitions[""]
	e := &contextEntry{active: active, typeTerms: map[string]bool{"@type": true}, scoped: map[string]*ld.Context{}, emptyTerm: empty}
	for term, td := range active.TermDefinitions {
		if td != nil && td.ID == "@type" {
			e.typeTerms[term] = true
		}
	}
	return e
}

// inlineCache holds processed contexts of bundled URLs followed by
// context objects, by the URLs and the objects' JSON (keys sorted, so
// equal values give equal keys). When full, an entry is evicted: a stream
// of distinct inline contexts costs their processing, as without a cache.
var inlineCache = struct {
	sync.Mutex
	m map[string]*contextEntry
}{m: map[string]*contextEntry{}}

const (
	maxInlineContexts   = 64
	maxInlineContextKey = 8 << 10
)

// inlineContext returns the context objects processed over base, the
// processed context of the bundled URLs before them (key). json-gold
// processes the items of a @context list in order, each over the result
// of those before, so this is what it computes for the whole list, but
// for @propagate, which it reads from the list's first item only: objects
// with @propagate are left to json-gold, as are objects it refuses (it
// refuses them by itself, the same way).
func inlineContext(base *contextEntry, key string, objects []any) (*contextEntry, error) {
	for _, o := range objects {
		if _, ok := o.(map[string]any)["@propagate"]; ok {
			return nil, nil
		}
	}
	if !jsonValue(objects) {
		return nil, nil // a key by JSON would equate values json-gold tells apart
	}
	js, err := json.Marshal(objects)
	if err != nil || len(key)+len(js) > maxInlineContextKey {
		return nil, nil
	}
	key += "\x00" + string(js)
	inlineCache.Lock()
	entry := inlineCache.m[key]
	inlineCache.Unlock()
	if entry != nil {
		return entry, nil
	}
	active, err := base.active.Parse(detached(objects))
	if err != nil {
		return nil, nil
	}
	entry = newContextEntry(active)
	inlineCache.Lock()
	if len(inlineCache.m) >= maxInlineContexts {
		for k := range inlineCache.m { // evict one (map order is random)
			delete(inlineCache.m, k)
			break
		}
	}
	inlineCache.m[key] = entry
	inlineCache.Unlock()
	return entry, nil
}

// detached returns a copy of v, a JSON value, that shares no memory
// with it, strings included: what a cache keeps must not hold the
// document Parse's strings are substrings of.
func detached(v any) any {
	switch t := v.(type) {
	case string:
		return strings.Clone(t)
	case json.Number:
		return json.Number(strings.Clone(string(t)))
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[strings.Clone(k)] = detached(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = detached(x)
		}
		return s
	}
	return v
}

// jsonValue reports whether v holds only what encoding/json decodes to
// (numbers as float64), as after Check or Parse.
func jsonValue(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			if !jsonValue(e) {
				return false
			}
		}
	case []any:
		for _, e := range t {
			if !jsonValue(e) {
				return false
			}
		}
	case string, float64, bool, nil:
	default:
		return false
	}
	return true
}

// topContext returns the context json-gold is to expand body (a
// top-level node object without @context) with: e.active, or a copy of
// it in which the term of the first of body's types (in json-gold's order)
// that has a type-scoped context carries that context already processed
// over e.active.
//
// Expanding a node, json-gold applies the type-scoped context of each of
// its types (sorted) to the active context, and a type-scoped context
// given as a processed *ld.Context is taken as it is (ld.Context.parse).
// At the top the active context is e.active, so processing the first
// type's context over it gives what json-gold would compute; later types
// (over the result) and nested nodes (over their own contexts, which
// start from e.active's unmodified terms: the processed context's
// previous context is e.active itself) are processed by json-gold as
// usual. The copy is made per call (json-gold writes the processing
// mode into the context it takes), and only for a body with one key that
// expands to @type, whose types are all strings, and in which the type
// occurs once (see occurrences).
func (e *contextEntry) topContext(body map[string]any) *ld.Context {
	var types []string
	keys := 0
	for k, v := range body {
		if !e.typeTerms[k] {
			continue
		}
		keys++
		switch t := v.(type) {
		case string:
			types = append(types, t)
		case []any:
			for _, x := range t {
				s, ok := x.(string)
				if !ok {
					return e.active
				}
				types = append(types, s)
			}
		default:
			return e.active
		}
	}
	if keys != 1 {
		return e.active
	}
	slices.Sort(types)
	for _, typ := range types {
		td := e.active.TermDefinitions[typ]
		if td == nil || !td.HasContext {
			continue
		}
		if occurrences(body, typ) != 1 {
			return e.active // json-gold would apply the context again over its result
		}
		processed := e.scopedContext(typ, td)
		if processed == nil {
			return e.active
		}
		own := *processed
		values := *processed.Values
		own.Values = &values
		def := *td
		def.Context = &own
		top := *e.active
		top.TermDefinitions = maps.Clone(e.active.TermDefinitions)
		top.TermDefinitions[typ] = &def
		return &top
	}
	return e.active
}

// occurrences counts the values of body's entries (strings, or strings
// in arrays) equal to typ: json-gold applies typ's scoped context for each
// under a key that expands to @type, which a type-scoped context can
// define, so topContext's processed context is right only for one.
func occurrences(body map[string]any, typ string) int {
	n := 0
	for _, v := range body {
		switch t := v.(type) {
		case string:
			if t == typ {
				n++
			}
		case []any:
			for _, x := range t {
				if x == typ {
					n++
				}
			}
		}
	}
	return n
}

// maxScopedTypes bounds the type-scoped contexts a contextEntry keeps (an
// inline context may define many types with one).
const maxScopedTypes = 16

// scopedContext returns td's type-scoped context processed over e.active
// (as json-gold processes a type-scoped context: not propagated), or nil
// when it is not a context object this can be done for or processing
// fails (json-gold then fails the same way by itself).
func (e *contextEntry) scopedContext(typ string, td *ld.TermDefinition) *ld.Context {
	e.mu.Lock()
	processed, done := e.scoped[typ]
	e.mu.Unlock()
	if done {
		return processed
	}
	if local, ok := td.Context.(map[string]any); ok {
		_, hasPropagate := local["@propagate"]
		_, hasNested := local["@context"]
		if !hasPropagate && !hasNested {
			notPropagated := maps.Clone(local)
			notPropagated["@propagate"] = false
			if p, err := e.active.Parse(notPropagated); err == nil {
				processed = p
			}
		}
	}
	e.mu.Lock()
	if len(e.scoped) < maxScopedTypes {
		e.scoped[typ] = processed
	}
	e.mu.Unlock()
	return processed
}

func options() *ld.JsonLdOptions {
	opts := ld.NewJsonLdOptions("")
	opts.DocumentLoader = loader{}
	opts.ProcessingMode = ld.JsonLd_1_1
	opts.SafeMode = true
	return opts
}

func mapErr(err error) error {
	for _, ours := range []error{ErrUnknownContext, ErrInvalid, ErrRelativeIRI} {
		if errors.Is(err, ours) {
			return err
		}
	}
	var le *ld.JsonLdError
	if errors.As(err, &le) {
		switch le.Code {
		case ld.ProtectedTermRedefinition:
			return fmt.Errorf("%w: %v", ErrProtectedTerm, le.Code)
		case ld.InvalidProperty:
			return fmt.Errorf("%w: a property does not expand to an IRI", ErrUndefinedTerm)
		}
		return fmt.Errorf("%w: %v", ErrInvalid, le.Code)
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

// checkIRIs walks expanded JSON-LD: every @type (of a node) and @id must
// be an absolute IRI or a blank node identifier, and every IRI and
// language tag must be one json-gold keeps: its toRDF silently drops a
// statement whose http(s) IRI fails its URL check or whose language tag
// is malformed, and a dropped statement would be left out of what is
// signed. Such input is refused instead, as are a value's @direction and
// a property that is a blank node identifier, which toRDF leaves out.
func checkIRIs(v any) error {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if err := checkIRIs(e); err != nil {
				return err
			}
		}
	case map[string]any:
		_, isValue := t["@value"]
		for k, e := range t {
			switch k {
			case "@id":
				if s, _ := e.(string); !absolute(s) {
					return fmt.Errorf("%w: @id", ErrRelativeIRI)
				}
			case "@type":
				if isValue {
					if s, _ := e.(string); s != "@json" && !absolute(s) {
						return fmt.Errorf("%w: value @type", ErrRelativeIRI)
					}
					continue
				}
				ts, _ := e.([]any)
				for _, x := range ts {
					if s, _ := x.(string); !absolute(s) {
						return fmt.Errorf("%w: @type", ErrRelativeIRI)
					}
				}
			case "@language":
				if s, _ := e.(string); !languageTag.MatchString(s) {
					return fmt.Errorf("%w: malformed language tag", ErrInvalid)
				}
			case "@direction":
				// JSON-LD to RDF without rdfDirection (as RDFC-1.0 suites
				// run it) drops a base direction, which the proof would
				// then not cover (VC Data Integrity 1.0 §2.4.1, "MUST throw
				// an error ... when data is dropped by a JSON-LD
				// processor"; jsonld.js's safe mode: "rdfDirection not
				// set").
				return fmt.Errorf("%w: @direction is left out of the canonical form, so no proof covers it", ErrInvalid)
			case "@value", "@index":
			default:
				if strings.HasPrefix(k, "_:") {
					// A blank node as a property (a "_:x" key): RDF has
					// no such predicate and toRDF drops the statement
					// (jsonld.js's safe mode: "blank node predicate").
					return fmt.Errorf("%w: a property is a blank node identifier, which RDF leaves out", ErrUndefinedTerm)
				}
				if !strings.HasPrefix(k, "@") && !absolute(k) {
					return fmt.Errorf("%w: property", ErrRelativeIRI)
				}
				if err := checkIRIs(e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// languageTag is json-gold's test of a language tag (rdf_dataset.go).
var languageTag = regexp.MustCompile("^[a-zA-Z]+(-[a-zA-Z0-9]+)*$")

// urlChecked caches the IRIs (of up to maxCachedIRI bytes) that passed
// json-gold's URL check (the properties and types of the bundled contexts
// recur in every document).
var urlChecked = struct {
	sync.Mutex
	ok map[string]bool
}{ok: map[string]bool{}}

const maxURLCache = 4096

// keptIRI reports whether json-gold keeps statements with IRI s.
func keptIRI(s string) bool {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return true
	}
	urlChecked.Lock()
	ok := urlChecked.ok[s]
	urlChecked.Unlock()
	if ok {
		return true
	}
	if !ld.IsURL(s) {
		return false
	}
	urlChecked.Lock()
	if len(urlChecked.ok) < maxURLCache && len(s) <= maxCachedIRI {
		urlChecked.ok[s] = true
	}
	urlChecked.Unlock()
	return true
}

// absolute reports whether s is an absolute IRI (a scheme, then ':') that
// json-gold keeps, or a blank node identifier.
func absolute(s string) bool {
	if strings.HasPrefix(s, "_:") {
		return len(s) > 2
	}
	if !keptIRI(s) || strings.ContainsFunc(s, notInIRIRef) {
		return false
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// notInIRIRef reports the characters N-Quads' IRIREF does not allow
// unescaped (json-gold would write them as they are).
func notInIRIRef(r rune) bool {
	return r <= 0x20 || strings.ContainsRune("<>\"{}|^`\\", r)
}

// loader serves the bundled contexts and nothing else.
type loader struct{}

var (
	parsedOnce sync.Once
	parsed     map[string]any
	parseErr   error
)

// LoadDocument implements ld.DocumentLoader.
func (loader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	parsedOnce.Do(func() {
		parsed = map[string]any{}
		for _, url := range contexts.URLs() {
			raw, _ := contexts.Document(url)
			var doc any
			if err := json.Unmarshal(raw, &doc); err != nil {
				parseErr = fmt.Errorf("jsonld: bundled context %s: %w", url, err)
				return
			}
			parsed[url] = doc
		}
	})
	if parseErr != nil {
		return nil, parseErr
	}
	doc, ok := parsed[u]
	if !ok {
		return nil, fmt.Errorf("%w: %.100q", ErrUnknownContext, u)
	}
	// json-gold writes into loaded documents (an @import merges the
	// importing context into the imported one), so each load gets its own
	// copy: a shared one could be poisoned by one request for all others.
	return &ld.RemoteDocument{DocumentURL: u, Document: clone(doc)}, nil
}

// forProcessor copies v with numbers as float64, the form json-gold
// handles everywhere (Check has refused numbers out of range).
func forProcessor(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = forProcessor(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = forProcessor(e)
		}
		return out
	case json.Number:
		f, _ := strconv.ParseFloat(string(t), 64)
		return f
	}
	return v
}

func clone(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

// IssuerDependent is the vocabulary the VC 2.0 context's @vocab gives
// terms no context defines.
const IssuerDependent = "https://www.w3.org/ns/credentials/issuer-dependent#"

// ErrIssuerDependent: a term is defined only by the VC 2.0 context's
// @vocab (the issuer-dependent vocabulary).
var ErrIssuerDependent = errors.New("jsonld: term defined by no context (issuer-dependent)")

// CheckDefinedTerms expands doc (as Expand) and refuses, with
// ErrIssuerDependent naming the first such term, any property or type
// that only the VC 2.0 context's @vocab maps: VC 2.0 lets a verifier
// accept those, and asks issuers not to use them in production, so an
// issuer calls this before signing. It first applies CheckCompacted, which
// a Data Integrity verifier applies too: an issuer refuses what would not
// verify before it allocates anything for it.
func CheckDefinedTerms(doc map[string]any) error {
	if err := CheckCompacted(doc); err != nil {
		return err
	}
	expanded, err := Expand(doc)
	if err != nil {
		return err
	}
	if term := issuerDependent(expanded); term != "" {
		return fmt.Errorf("%w: %.64q", ErrIssuerDependent, term)
	}
	return nil
}

func issuerDependent(v any) string {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if s := issuerDependent(e); s != "" {
				return s
			}
		}
	case map[string]any:
		if _, isValue := t["@value"]; isValue {
			return ""
		}
		for k, e := range t {
			if term, ok := strings.CutPrefix(k, IssuerDependent); ok {
				return term
			}
			if k == "@type" {
				ts, _ := e.([]any)
				for _, x := range ts {
					if s, _ := x.(string); strings.HasPrefix(s, IssuerDependent) {
						return strings.TrimPrefix(s, IssuerDependent)
					}
				}
				continue
			}
			if s := issuerDependent(e); s != "" {
				return s
			}
		}
	}
	return ""
}

// onlyKeys reports whether every key of m is one of keys.
func onlyKeys(m map[string]any, keys ...string) bool {
	for k := range m {
		if !slices.Contains(keys, k) {
			return false
		}
	}
	return true
}

// documentKeywords are the keywords a member of a document (outside
// @context) may be: JSON-LD 1.1 expansion silently drops any other key of
// keyword form, and json-gold treats its framing keywords (@none,
// @default, @null, @once, ...) as keywords it then ignores.
var documentKeywords = map[string]bool{"@context": true, "@id": true, "@type": true, "@value": true,
	"@language": true, "@direction": true, "@list": true, "@set": true, "@graph": true,
	"@included": true, "@index": true, "@nest": true, "@reverse": true}

// checkKeywordKeys refuses a key of keyword form ("@" then letters) that
// expansion would drop, outside @context values, and the value objects it
// drops: one whose @value is null, and one with @language but no @value
// (jsonld.js's safe mode: "null @value value", "object with only
// @language"), which would otherwise stay, unsigned, in the document.
func checkKeywordKeys(v any) error {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if err := checkKeywordKeys(e); err != nil {
				return err
			}
		}
	case map[string]any:
		if value, ok := t["@value"]; ok && value == nil && t["@type"] != "@json" {
			return fmt.Errorf("%w: a value object with a null @value would be dropped", ErrUndefinedTerm)
		}
		if _, lang := t["@language"]; lang && onlyKeys(t, "@language", "@direction", "@index") {
			return fmt.Errorf("%w: a value object with @language and no @value would be dropped", ErrUndefinedTerm)
		}
		for k, e := range t {
			if k == "@context" {
				continue
			}
			if strings.HasPrefix(k, "@") && !documentKeywords[k] {
				return fmt.Errorf("%w: member %.40q would be dropped", ErrUndefinedTerm, k)
			}
			if err := checkKeywordKeys(e); err != nil {
				return err
			}
		}
	}
	return nil
}
