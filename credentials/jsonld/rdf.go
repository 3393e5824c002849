package jsonld

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/gowebpki/jcs"
	"github.com/piprate/json-gold/ld"
)

// toRDF turns expanded JSON-LD into an RDF dataset: the JSON-LD 1.1
// "Deserialize JSON-LD to RDF" algorithm over json-gold's node map. It
// gives json-gold's dataset for the input Expand accepts but skips its
// per-statement URL check (a regular expression that took most of the
// canonicalization time), which checkIRIs has already applied once per
// distinct IRI. It departs from json-gold's where json-gold is wrong:
// integers from 2^63 (see literal) and @json literals, which json-gold
// canonicalizes only when they are objects (an array or a number became
// the text of its error, the same for every value, so a proof covered
// none of them; a string was read as JSON text).
func toRDF(expanded []any) (*ld.RDFDataset, error) {
	api := ld.NewJsonLdApi()
	issuer := ld.NewIdentifierIssuer("_:b")
	nodeMap := map[string]any{"@default": map[string]any{}}
	if _, err := api.GenerateNodeMap(expanded, nodeMap, "@default", issuer, "", "", nil); err != nil {
		return nil, err
	}
	ds := ld.NewRDFDataset()
	for graphName, gv := range nodeMap {
		if isRelativeIRI(graphName) {
			continue
		}
		graph, _ := gv.(map[string]any)
		var quads []*ld.Quad
		for _, id := range ld.GetOrderedKeys(graph) {
			if isRelativeIRI(id) {
				continue
			}
			node, _ := graph[id].(map[string]any)
			subject := nodeOf(id)
			for _, property := range ld.GetOrderedKeys(node) {
				var predicate ld.Node
				switch {
				case property == "@type":
					predicate = ld.NewIRI(ld.RDFType)
				case ld.IsKeyword(property), strings.HasPrefix(property, "_:"), isRelativeIRI(property):
					continue
				default:
					predicate = ld.NewIRI(property)
				}
				values, _ := node[property].([]any)
				for _, item := range values {
					var obj ld.Node
					var err error
					obj, quads, err = objectToRDF(item, issuer, graphName, quads)
					if err != nil {
						return nil, err
					}
					if obj != nil {
						quads = append(quads, ld.NewQuad(subject, predicate, obj, graphName))
					}
				}
			}
		}
		ds.Graphs[graphName] = quads
	}
	return ds, nil
}

var errObject = errors.New("unexpected value in expanded JSON-LD")

// objectToRDF converts a value object, list object, node object or node
// reference.
func objectToRDF(item any, issuer *ld.IdentifierIssuer, graph string, quads []*ld.Quad) (ld.Node, []*ld.Quad, error) {
	m, isMap := item.(map[string]any)
	switch {
	case isMap && ld.IsValue(item):
		lit, err := literal(m)
		return lit, quads, err
	case isMap && ld.IsList(item):
		list, _ := m["@list"].([]any)
		return listToRDF(list, issuer, graph, quads)
	}
	var id string
	if isMap {
		id, _ = m["@id"].(string)
	} else {
		id, _ = item.(string)
	}
	if id == "" {
		return nil, quads, fmt.Errorf("%w: %w", ErrInvalid, errObject)
	}
	if isRelativeIRI(id) {
		return nil, quads, nil
	}
	return nodeOf(id), quads, nil
}

func nodeOf(id string) ld.Node {
	if strings.HasPrefix(id, "_:") {
		return ld.NewBlankNode(id)
	}
	return ld.NewIRI(id)
}

// literal converts a value object: an @json value to an rdf:JSON
// literal of its canonical JSON (RFC 8785), booleans to xsd:boolean, integral
// numbers to xsd:integer, other numbers (or any typed xsd:double) to the
// canonical xsd:double, strings to xsd:string or rdf:langString.
func literal(m map[string]any) (ld.Node, error) {
	datatype, _ := m["@type"].(string)
	if datatype == "@json" {
		// RFC 8785 (JCS) by gowebpki/jcs: json-gold canonicalized only
		// objects, and wrote its own error's text for anything else.
		raw, err := json.Marshal(m["@value"])
		if err == nil {
			raw, err = jcs.Transform(raw)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: a JSON literal: %v", ErrInvalid, err)
		}
		return ld.NewLiteral(string(raw), ld.RDFJSONLiteral, ""), nil
	}
	or := func(def string) string {
		if datatype != "" {
			return datatype
		}
		return def
	}
	switch v := m["@value"].(type) {
	case bool:
		return ld.NewLiteral(strconv.FormatBool(v), or(ld.XSDBoolean), ""), nil
	case float64:
		// JSON-LD 1.1 §8.6 (Object to RDF): a number with a fractional
		// part or of magnitude 10^21 or more is an xsd:double, any other
		// an xsd:integer, written in full (as jsonld.js's toFixed(0);
		// json-gold's int64 conversion made doubles of integers from 2^63).
		if v != math.Trunc(v) || math.Abs(v) >= 1e21 || datatype == ld.XSDDouble {
			return ld.NewLiteral(ld.GetCanonicalDouble(v), or(ld.XSDDouble), ""), nil
		}
		if v == 0 {
			v = 0 // -0 is written 0
		}
		return ld.NewLiteral(strconv.FormatFloat(v, 'f', 0, 64), or(ld.XSDInteger), ""), nil
	case string:
		if lang, ok := m["@language"].(string); ok {
			return ld.NewLiteral(v, or(ld.RDFLangString), lang), nil
		}
		return ld.NewLiteral(v, or(ld.XSDString), ""), nil
	}
	return nil, fmt.Errorf("%w: %w", ErrInvalid, errObject)
}

// listToRDF converts a list to rdf:first/rdf:rest statements and returns
// its head (rdf:nil when empty).
func listToRDF(list []any, issuer *ld.IdentifierIssuer, graph string, quads []*ld.Quad) (ld.Node, []*ld.Quad, error) {
	if len(list) == 0 {
		return ld.NewIRI(ld.RDFNil), quads, nil
	}
	head := ld.Node(ld.NewBlankNode(issuer.GetId("")))
	subject := head
	for i, item := range list {
		obj, q, err := objectToRDF(item, issuer, graph, quads)
		if err != nil {
			return nil, nil, err
		}
		if obj == nil {
			return nil, nil, fmt.Errorf("%w: list item", ErrRelativeIRI)
		}
		quads = q
		var next ld.Node = ld.NewIRI(ld.RDFNil)
		if i < len(list)-1 {
			next = ld.NewBlankNode(issuer.GetId(""))
		}
		quads = append(quads,
			ld.NewQuad(subject, ld.NewIRI(ld.RDFFirst), obj, graph),
			ld.NewQuad(subject, ld.NewIRI(ld.RDFRest), next, graph))
		subject = next
	}
	return head, quads, nil
}

// relativeIRIs caches ld.IsRelativeIri by value (a URL parse each) for
// values of up to maxCachedIRI bytes: the identifiers and properties of
// the bundled vocabularies recur in every document.
var relativeIRIs = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

const (
	maxRelativeIRICache = 4096
	maxCachedIRI        = 256
)

// isRelativeIRI is ld.IsRelativeIri, cached.
func isRelativeIRI(s string) bool {
	if strings.HasPrefix(s, "_:") {
		return false // ld.IsAbsoluteIri takes every blank node identifier
	}
	relativeIRIs.Lock()
	rel, ok := relativeIRIs.m[s]
	relativeIRIs.Unlock()
	if ok {
		return rel
	}
	rel = ld.IsRelativeIri(s)
	relativeIRIs.Lock()
	if len(relativeIRIs.m) < maxRelativeIRICache && len(s) <= maxCachedIRI {
		relativeIRIs.m[s] = rel
	}
	relativeIRIs.Unlock()
	return rel
}
