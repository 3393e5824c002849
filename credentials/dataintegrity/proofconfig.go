package dataintegrity

import (
	"strings"
	"sync"

	"github.com/trustid-cn/trustid/credentials/contexts"
	"github.com/trustid-cn/trustid/credentials/jsonld"
)

// Canonical proof configurations from templates.
//
// The proof configuration (the proof without proofValue, with the
// document's @context) canonicalizes to one N-Quad per property, all about
// one blank node (_:c14n0). Its canonical form depends on the @context,
// the type, the cryptosuite and the proofPurpose; created, expires,
// verificationMethod, challenge and domain only appear, verbatim, as the
// object of their own statement. Canonicalizing it took about a third of a
// verification, most of it json-gold re-processing the type-scoped context
// of DataIntegrityProof, so a template per (context, type, cryptosuite,
// proofPurpose, verificationMethod's IRI scheme, fields present) is made
// once by canonicalizing the configuration with placeholders, and the
// values are put in its holes.
//
// A template is used only when the output cannot depend on anything the
// key leaves out:
//   - the @context is a URL or a short list of URLs of bundled contexts;
//   - the configuration has no property but @context, type, cryptosuite,
//     proofPurpose and the five variable ones, each a string;
//   - literal values are printable ASCII without '"' or '\' (N-Quads
//     escaping leaves them as they are);
//   - the verificationMethod is an opaque absolute IRI (a scheme that is
//     not http or https, then characters that need no escaping and that
//     url.Parse accepts, '%' only before two hex digits, no "//" after the
//     scheme): json-gold keeps such an
//     IRI as it is unless the scheme is a prefix the context defines, which
//     the placeholder, with the same scheme, would show;
//   - the template itself has the expected shape: every statement about
//     _:c14n0, no other blank node, no two statements with the same
//     predicate (so the order of the lines does not depend on the values),
//     and each placeholder exactly once, whole, as an IRI or a literal.
//
// Anything else takes jsonld.Canonicalize. TestProofConfigTemplate and
// FuzzProofConfigTemplate compare the two over varied inputs.

// variable are the properties whose values fill a template's holes.
var variable = [...]struct {
	name string
	iri  bool
}{
	{"created", false},
	{"expires", false},
	{"verificationMethod", true},
	{"challenge", false},
	{"domain", false},
}

// templateKey is everything a template depends on.
type templateKey struct {
	context, typ, suite, purpose string
	scheme                       string // the verificationMethod's IRI scheme
	present                      uint8  // bit i: variable[i] is present
}

// configTemplate is a canonical proof configuration cut at its holes:
// parts[0] hole[0] parts[1] hole[1] ... parts[n]. A nil template records
// that the configuration's shape cannot be templated.
type configTemplate struct {
	parts []string
	holes []int // index into variable
}

const maxTemplates = 64

var templates = struct {
	sync.RWMutex
	m map[templateKey]*configTemplate
}{m: map[templateKey]*configTemplate{}}

// canonicalProofConfig returns the RDFC-1.0 N-Quads of config, a proof
// configuration, as jsonld.Canonicalize(config) does.
func canonicalProofConfig(config map[string]any) (string, error) {
	key, values, ok := templateKeyOf(config)
	if !ok {
		return jsonld.Canonicalize(config)
	}
	templates.RLock()
	t, cached := templates.m[key]
	templates.RUnlock()
	if !cached {
		t = buildTemplate(key, config)
		templates.Lock()
		if len(templates.m) >= maxTemplates {
			for k := range templates.m { // evict one (map order is random)
				delete(templates.m, k)
				break
			}
		}
		templates.m[key] = t
		templates.Unlock()
	}
	if t == nil {
		return jsonld.Canonicalize(config)
	}
	return t.fill(&values), nil
}

// templateKeyOf returns config's template key and variable values, or
// false when config is not one a template may serve.
func templateKeyOf(config map[string]any) (templateKey, [len(variable)]string, bool) {
	var key templateKey
	var values [len(variable)]string
	ctx, ok := contextKey(config["@context"])
	if !ok {
		return key, values, false
	}
	key.context = ctx
	fixed := 0
	for k, v := range config {
		s, isString := v.(string)
		switch k {
		case "@context":
			continue
		case "type", "cryptosuite", "proofPurpose":
			if !isString {
				return key, values, false
			}
			switch k {
			case "type":
				key.typ = s
			case "cryptosuite":
				key.suite = s
			default:
				key.purpose = s
			}
			fixed++
			continue
		}
		i := variableIndex(k)
		if i < 0 || !isString {
			return key, values, false
		}
		if variable[i].iri {
			scheme, ok := opaqueIRIScheme(s)
			if !ok {
				return key, values, false
			}
			key.scheme = scheme
		} else if !plainLiteral(s) {
			return key, values, false
		}
		values[i] = s
		key.present |= 1 << i
	}
	return key, values, fixed == 3
}

func variableIndex(name string) int {
	for i, v := range variable {
		if v.name == name {
			return i
		}
	}
	return -1
}

// contextKey returns the bundled context URLs of c joined by spaces.
func contextKey(c any) (string, bool) {
	switch t := c.(type) {
	case string:
		_, ok := contexts.Document(t)
		return t, ok
	case []any:
		if len(t) == 0 || len(t) > 4 {
			return "", false
		}
		var b strings.Builder
		for i, u := range t {
			s, ok := u.(string)
			if !ok {
				return "", false
			}
			if _, ok := contexts.Document(s); !ok {
				return "", false
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(s)
		}
		return b.String(), true
	}
	return "", false
}

// plainLiteral reports whether s is a non-empty string of printable ASCII
// without '"' and '\', which N-Quads writes unchanged between quotes.
func plainLiteral(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// opaqueIRIScheme returns the scheme of s when s is an opaque absolute IRI
// a template may hold (see above).
func opaqueIRIScheme(s string) (string, bool) {
	if len(s) > 1024 {
		return "", false
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || strings.HasPrefix(s[i+1:], "//") {
		return "", false
	}
	scheme := s[:i]
	for j := 0; j < len(scheme); j++ {
		c := scheme[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", false
		}
	}
	if strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https") {
		return "", false // json-gold applies its URL check to these
	}
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		if c == '%' { // did:web puts a port as %3A
			if j+2 >= len(s) || !isHex(s[j+1]) || !isHex(s[j+2]) {
				return "", false
			}
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:/?#@!$&'()*+,;=", c) >= 0) {
			return "", false
		}
	}
	return scheme, true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// placeholder is the value a template is made with for variable[i].
func placeholder(i int, scheme string) string {
	p := "trustid-template-hole-" + variable[i].name
	if variable[i].iri {
		return scheme + ":" + p
	}
	return p
}

// buildTemplate canonicalizes config with placeholders and cuts the result
// at them; nil when the result does not have the shape a template needs.
func buildTemplate(key templateKey, config map[string]any) *configTemplate {
	probe := make(map[string]any, len(config))
	for k, v := range config {
		probe[k] = v
	}
	for i, v := range variable {
		if key.present&(1<<i) != 0 {
			probe[v.name] = placeholder(i, key.scheme)
		}
	}
	canon, err := jsonld.Canonicalize(probe)
	if err != nil || canon == "" || !strings.HasSuffix(canon, "\n") {
		return nil
	}
	// One blank node, every statement about it, one statement per
	// predicate.
	lines := strings.Split(strings.TrimSuffix(canon, "\n"), "\n")
	if strings.Count(canon, "_:") != len(lines) {
		return nil
	}
	predicates := make(map[string]bool, len(lines))
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, "_:c14n0 <")
		if !ok {
			return nil
		}
		p, _, ok := strings.Cut(rest, "> ")
		if !ok || predicates[p] {
			return nil
		}
		predicates[p] = true
	}
	// Each placeholder once, whole.
	type hole struct{ at, end, i int }
	var hs []hole
	for i, v := range variable {
		if key.present&(1<<i) == 0 {
			continue
		}
		ph := placeholder(i, key.scheme)
		open, closing := `"`, `"`
		if v.iri {
			open, closing = "<", ">"
		}
		if strings.Count(canon, ph) != 1 || strings.Count(canon, open+ph+closing) != 1 {
			return nil
		}
		at := strings.Index(canon, ph)
		hs = append(hs, hole{at, at + len(ph), i})
	}
	// In order of position.
	for a := 1; a < len(hs); a++ {
		for b := a; b > 0 && hs[b].at < hs[b-1].at; b-- {
			hs[b], hs[b-1] = hs[b-1], hs[b]
		}
	}
	t := &configTemplate{}
	prev := 0
	for _, h := range hs {
		t.parts = append(t.parts, canon[prev:h.at])
		t.holes = append(t.holes, h.i)
		prev = h.end
	}
	t.parts = append(t.parts, canon[prev:])
	return t
}

// fill puts values in t's holes.
func (t *configTemplate) fill(values *[len(variable)]string) string {
	n := 0
	for _, p := range t.parts {
		n += len(p)
	}
	for _, i := range t.holes {
		n += len(values[i])
	}
	var b strings.Builder
	b.Grow(n)
	for j, i := range t.holes {
		b.WriteString(t.parts[j])
		b.WriteString(values[i])
	}
	b.WriteString(t.parts[len(t.parts)-1])
	return b.String()
}
