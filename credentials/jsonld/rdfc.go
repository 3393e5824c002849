package jsonld

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sort"
	"strconv"
	"strings"

	"github.com/piprate/json-gold/ld"
)

// ErrTooComplex: the dataset's blank nodes are so alike that labelling
// them (RDFC-1.0 §4.8, Hash N-Degree Quads) would take more than
// MaxCanonicalizationWork: a poison graph (RDFC-1.0's Security
// Considerations, dataset poisoning) is refused instead of hanging.
var ErrTooComplex = errors.New("jsonld: blank nodes too alike to canonicalize within the work limit")

// MaxCanonicalizationWork bounds the work of labelling blank nodes that
// their first-degree hashes do not tell apart (Hash N-Degree Quads). A
// unit is a quad, a blank node of a permutation, an identifier copied
// with an issuer or 2 KiB of paths compared (0.2–0.5 µs each on the
// benchmark machine), so a refusal costs at most about 100 ms of CPU.
// Credentials need far less: none without alike blank nodes, 190,000 for
// a list of 35 identical objects (the cost grows with the cube of such a
// list's length).
const MaxCanonicalizationWork = 250_000

// rdfTerm is a term of a quad: a blank node (blank ≥ 0, an index into
// canon.labels) or another term already written as canonical N-Quads
// writes it (text; "" for the default graph).
type rdfTerm struct {
	blank int
	text  string
}

type rdfQuad struct{ s, p, o, g rdfTerm }

// canon is the canonicalization state (RDFC-1.0 §4.2) of one dataset.
type canon struct {
	quads    []rdfQuad
	labels   []string // the input label of each blank node, without _:
	quadsOf  [][]int  // blank node to quads map (indexes into quads)
	first    []string // first-degree hash of each blank node
	issued   []int    // canonical number of each blank node, -1 if none
	next     int      // next canonical number
	work     int      // units of MaxCanonicalizationWork left
	tied     bool     // two Hash N-Degree Quads results had the same hash
	escape   func(*strings.Builder, string)
	lineSort func([]string)
}

// canonicalNQuads returns the RDFC-1.0 canonical N-Quads of dataset
// (with SHA-256, RDFC-1.0's default hash).
func canonicalNQuads(dataset *ld.RDFDataset) (string, error) {
	return newCanon(dataset, escapeLiteral).run()
}

// newCanon builds the state of dataset, dropping duplicate quads with a
// blank node (a dataset is a set; run drops the others).
func newCanon(dataset *ld.RDFDataset, escape func(*strings.Builder, string)) *canon {
	c := &canon{escape: escape, work: MaxCanonicalizationWork, lineSort: sort.Strings}
	index, iris := map[string]int{}, map[string]string{}
	term := func(n ld.Node) rdfTerm {
		switch t := n.(type) {
		case ld.BlankNode:
			i, ok := index[t.Attribute]
			if !ok {
				i = len(c.labels)
				index[t.Attribute] = i
				c.labels = append(c.labels, strings.TrimPrefix(t.Attribute, "_:"))
			}
			return rdfTerm{blank: i}
		case ld.IRI:
			text, ok := iris[t.Value]
			if !ok {
				text = "<" + t.Value + ">"
				iris[t.Value] = text
			}
			return rdfTerm{blank: -1, text: text}
		case ld.Literal:
			var b strings.Builder
			b.WriteByte('"')
			c.escape(&b, t.Value)
			b.WriteByte('"')
			switch t.Datatype {
			case ld.RDFLangString:
				b.WriteString("@" + t.Language)
			case ld.XSDString, "":
			default:
				b.WriteString("^^<" + t.Datatype + ">")
			}
			return rdfTerm{blank: -1, text: b.String()}
		}
		return rdfTerm{blank: -1}
	}
	names := make([]string, 0, len(dataset.Graphs))
	for name := range dataset.Graphs {
		names = append(names, name)
	}
	sort.Strings(names)
	seen := map[rdfQuad]bool{}
	for _, name := range names {
		for _, q := range dataset.Graphs[name] {
			rq := rdfQuad{s: term(q.Subject), p: term(q.Predicate), o: term(q.Object), g: rdfTerm{blank: -1}}
			if q.Graph != nil {
				rq.g = term(q.Graph)
			}
			// A duplicate with a blank node would change its hashes; others
			// are dropped from the sorted lines (run).
			if rq.s.blank >= 0 || rq.o.blank >= 0 || rq.g.blank >= 0 {
				if seen[rq] {
					continue
				}
				seen[rq] = true
			}
			c.quads = append(c.quads, rq)
		}
	}
	c.quadsOf = make([][]int, len(c.labels))
	for i, q := range c.quads {
		// A quad is listed once for a blank node, even in two positions.
		for _, t := range [...]rdfTerm{q.s, q.o, q.g} {
			if b := t.blank; b >= 0 {
				if n := len(c.quadsOf[b]); n == 0 || c.quadsOf[b][n-1] != i {
					c.quadsOf[b] = append(c.quadsOf[b], i)
				}
			}
		}
	}
	c.issued = make([]int, len(c.labels))
	for i := range c.issued {
		c.issued[i] = -1
	}
	return c
}

// line writes q as a line of canonical N-Quads, blank node b as label(b).
func (c *canon) line(q rdfQuad, label func(int) string) string {
	var b strings.Builder
	b.Grow(len(q.s.text) + len(q.p.text) + len(q.o.text) + len(q.g.text) + 32)
	for _, t := range [...]rdfTerm{q.s, q.p, q.o, q.g} {
		switch {
		case t.blank >= 0:
			b.WriteString(" _:")
			b.WriteString(label(t.blank))
		case t.text != "": // "" only for the default graph
			b.WriteByte(' ')
			b.WriteString(t.text)
		}
	}
	b.WriteString(" .\n")
	return b.String()[1:]
}

// run is the canonicalization algorithm (RDFC-1.0 §4.4.3).
func (c *canon) run() (string, error) {
	// Step 3: first-degree hashes, grouped.
	c.first = make([]string, len(c.labels))
	byHash := map[string][]int{}
	for b := range c.labels {
		c.first[b] = c.hashFirstDegree(b)
		byHash[c.first[b]] = append(byHash[c.first[b]], b)
	}
	hashes := make([]string, 0, len(byHash))
	for h := range byHash {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	// Step 4: a hash shared by no other blank node labels its node.
	var shared [][]int
	for _, h := range hashes {
		if bs := byHash[h]; len(bs) > 1 {
			shared = append(shared, bs)
		} else {
			c.issue(bs[0])
		}
	}
	// Step 5: the others, by Hash N-Degree Quads.
	for _, bs := range shared {
		type result struct {
			hash   string
			issuer *issuer
		}
		var results []result
		for _, b := range bs {
			if c.issued[b] >= 0 {
				continue
			}
			temp := &issuer{ids: map[int]int{}}
			temp.issue(b)
			h, is, err := c.hashNDegree(b, temp)
			if err != nil {
				return "", err
			}
			results = append(results, result{h, is})
		}
		// Results with the same hash keep the order of bs (RDFC-1.0 leaves
		// it open, rdf-canonize keeps it too): for automorphic nodes it does
		// not change the output. RDFC-1.0 can also give the same hash to
		// nodes that are not automorphic (Hash Related Blank Node writes
		// neither the predicate nor the node's own position for a blank
		// graph name), and then the labels follow the input's order, as
		// they do in rdf-canonize (see FuzzRDFC).
		sort.SliceStable(results, func(i, j int) bool { return results[i].hash < results[j].hash })
		for i := 1; i < len(results); i++ {
			c.tied = c.tied || results[i].hash == results[i-1].hash
		}
		for _, r := range results {
			for _, b := range r.issuer.order {
				if c.issued[b] < 0 {
					c.issue(b)
				}
			}
		}
	}
	// Step 6: relabel, write, sort. Go compares strings by bytes, which
	// for UTF-8 is the code point order RDFC-1.0 asks for.
	lines := make([]string, len(c.quads))
	for i, q := range c.quads {
		lines[i] = c.line(q, c.canonicalLabel)
	}
	c.lineSort(lines)
	var out strings.Builder
	for i, l := range lines {
		if i == 0 || l != lines[i-1] {
			out.WriteString(l)
		}
	}
	return out.String(), nil
}

func (c *canon) issue(b int) {
	c.issued[b] = c.next
	c.next++
}

func (c *canon) canonicalLabel(b int) string { return "c14n" + strconv.Itoa(c.issued[b]) }

// hashFirstDegree is Hash First Degree Quads (RDFC-1.0 §4.6): the hash of
// the sorted lines of b's quads, b written _:a and other blank nodes _:z.
func (c *canon) hashFirstDegree(b int) string {
	lines := make([]string, len(c.quadsOf[b]))
	label := func(x int) string {
		if x == b {
			return "a"
		}
		return "z"
	}
	for i, q := range c.quadsOf[b] {
		lines[i] = c.line(c.quads[q], label)
	}
	c.lineSort(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
	}
	return hexSum(h)
}

func hexSum(h hash.Hash) string {
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// issuer is an identifier issuer (RDFC-1.0 §4.3, §4.5) issuing temporary
// labels _:b0, _:b1, ...: ids maps a blank node to its number, order
// lists the nodes in the order they were issued.
type issuer struct {
	ids   map[int]int
	order []int
}

func (is *issuer) issue(b int) int {
	if n, ok := is.ids[b]; ok {
		return n
	}
	n := len(is.order)
	is.ids[b] = n
	is.order = append(is.order, b)
	return n
}

func (is *issuer) clone() *issuer {
	ids := make(map[int]int, len(is.ids)+4)
	for k, v := range is.ids {
		ids[k] = v
	}
	return &issuer{ids: ids, order: append(make([]int, 0, len(is.order)+4), is.order...)}
}

// hashRelated is Hash Related Blank Node (RDFC-1.0 §4.7).
func (c *canon) hashRelated(related int, q rdfQuad, is *issuer, position byte) string {
	h := sha256.New()
	var buf strings.Builder
	buf.WriteByte(position)
	if position != 'g' {
		buf.WriteString(q.p.text) // "<" + predicate IRI + ">"
	}
	if n := c.issued[related]; n >= 0 {
		buf.WriteString("_:c14n" + strconv.Itoa(n))
	} else if n, ok := is.ids[related]; ok {
		buf.WriteString("_:b" + strconv.Itoa(n))
	} else {
		buf.WriteString(c.first[related])
	}
	h.Write([]byte(buf.String()))
	return hexSum(h)
}

// spend takes n units of work, or fails with ErrTooComplex.
func (c *canon) spend(n int) error {
	c.work -= n
	if c.work < 0 {
		return fmt.Errorf("%w (%d units)", ErrTooComplex, MaxCanonicalizationWork)
	}
	return nil
}

// hashNDegree is Hash N-Degree Quads (RDFC-1.0 §4.8): it returns the hash
// for blank node id and the issuer of the chosen path. It never changes
// is; each permutation works on a copy.
func (c *canon) hashNDegree(id int, is *issuer) (string, *issuer, error) {
	if err := c.spend(1 + len(c.quadsOf[id])); err != nil {
		return "", nil, err
	}
	// Steps 1–3: related blank nodes by their hash.
	related := map[string][]int{}
	for _, qi := range c.quadsOf[id] {
		q := c.quads[qi]
		for _, p := range [...]struct {
			t   rdfTerm
			pos byte
		}{{q.s, 's'}, {q.o, 'o'}, {q.g, 'g'}} {
			if p.t.blank >= 0 && p.t.blank != id {
				h := c.hashRelated(p.t.blank, q, is, p.pos)
				related[h] = append(related[h], p.t.blank)
			}
		}
	}
	hashes := make([]string, 0, len(related))
	for h := range related {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	// Steps 4–5.
	data := sha256.New()
	for _, h := range hashes {
		data.Write([]byte(h))
		var chosenPath string
		var chosen *issuer
		perm := append([]int(nil), related[h]...)
		sort.Ints(perm)
		for more := true; more; more = nextPermutation(perm) {
			if err := c.spend(1 + len(perm) + len(is.order)); err != nil {
				return "", nil, err
			}
			cp := is.clone()
			var path strings.Builder
			var recursion []int
			skip := func() bool {
				// Comparing long paths is work too: a unit per 2 KiB.
				c.work -= path.Len() >> 11
				return chosenPath != "" && path.Len() >= len(chosenPath) && path.String() > chosenPath
			}
			skipped := false
			for _, r := range perm {
				if n := c.issued[r]; n >= 0 {
					path.WriteString("_:c14n" + strconv.Itoa(n))
				} else {
					if _, ok := cp.ids[r]; !ok {
						recursion = append(recursion, r)
					}
					path.WriteString("_:b" + strconv.Itoa(cp.issue(r)))
				}
				if skipped = skip(); skipped {
					break
				}
			}
			if skipped {
				continue
			}
			for _, r := range recursion {
				rh, ris, err := c.hashNDegree(r, cp)
				if err != nil {
					return "", nil, err
				}
				path.WriteString("_:b" + strconv.Itoa(cp.issue(r)))
				path.WriteString("<" + rh + ">")
				cp = ris
				if skipped = skip(); skipped {
					break
				}
			}
			if skipped {
				continue
			}
			if chosenPath == "" || path.String() < chosenPath {
				chosenPath, chosen = path.String(), cp
			}
		}
		data.Write([]byte(chosenPath))
		is = chosen
	}
	return hexSum(data), is, nil
}

// nextPermutation rearranges p into the next permutation in lexicographic
// order and reports whether there was one (each distinct ordering is
// visited once when p starts sorted).
func nextPermutation(p []int) bool {
	i := len(p) - 2
	for i >= 0 && p[i] >= p[i+1] {
		i--
	}
	if i < 0 {
		return false
	}
	j := len(p) - 1
	for p[j] <= p[i] {
		j--
	}
	p[i], p[j] = p[j], p[i]
	for l, r := i+1, len(p)-1; l < r; l, r = l+1, r-1 {
		p[l], p[r] = p[r], p[l]
	}
	return true
}
