package dataintegrity

import (
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/internal/xsdtime"
)

// ProofType is the only proof type this package creates and accepts.
const ProofType = "DataIntegrityProof"

// Proof purposes.
const (
	PurposeAssertion      = "assertionMethod"
	PurposeAuthentication = "authentication"
)

// Errors. Each is wrapped with detail that names no personal data.
var (
	ErrNoProof            = errors.New("dataintegrity: the document has no proof")
	ErrProof              = errors.New("dataintegrity: malformed proof")
	ErrUnsupportedSuite   = errors.New("dataintegrity: cryptosuite not supported or not allowed")
	ErrSuiteKeyMismatch   = errors.New("dataintegrity: the verification method's key type does not match the cryptosuite")
	ErrKey                = errors.New("dataintegrity: invalid key")
	ErrProofPurpose       = errors.New("dataintegrity: wrong proofPurpose")
	ErrVerificationMethod = errors.New("dataintegrity: verification method cannot be used")
	ErrCreated            = errors.New("dataintegrity: proof created in the future")
	ErrExpired            = errors.New("dataintegrity: proof expired")
	ErrChallenge          = errors.New("dataintegrity: challenge missing or wrong")
	ErrDomain             = errors.New("dataintegrity: domain missing or wrong")
	ErrSignature          = errors.New("dataintegrity: signature does not verify (document or proof altered)")
	// ErrPreviousProof: a previousProof names no proof of the set, or the
	// proofs' ids or previousProof references do not form a chain
	// (duplicate ids, a cycle).
	ErrPreviousProof = errors.New("dataintegrity: previousProof does not name a proof of the set")
	// ErrChainCost: the proofs name more than MaxCanonicalDocuments
	// distinct previousProof sets.
	ErrChainCost = errors.New("dataintegrity: the proof chain needs too many canonicalizations of the document")
	// ErrNoHolderBinding: VerifyPresentation was given no
	// PresentationOptions.HolderBinding (AnyHolder for none): the
	// caller's mistake, refused before the presentation is read.
	ErrNoHolderBinding = errors.New("dataintegrity: a presentation's verifier must say how its credentials are bound to the holder (PresentationOptions.HolderBinding; AnyHolder for none)")
)

// MaxProofs bounds the proofs of one document a verifier checks (each costs
// a canonicalization); a document with more is refused.
const MaxProofs = 8

// MaxCanonicalDocuments bounds the distinct previousProof sets (the empty
// one included) among the proofs of one document: each costs its own
// canonicalization of the document, where the proofs of a set share one.
// A proof set of up to MaxProofs proofs needs one; a chain of three
// proofs, each naming the one before, three. AddProof and a Verifier
// refuse more with ErrChainCost.
const MaxCanonicalDocuments = 3

// Options configure a proof AddProof creates.
type Options struct {
	Cryptosuite        string    // EdDSARDFC2022, ECDSARDFC2019 or SM2RDFC2025
	VerificationMethod string    // DID URL of the signing key
	ProofPurpose       string    // default PurposeAssertion
	Created            time.Time // default now (UTC, whole seconds)
	Expires            time.Time // zero: none
	Challenge          string    // presentations: the verifier's challenge
	Domain             string    // presentations: the verifier's domain
	// ID identifies the new proof (a URL, such as a urn:uuid) for a later
	// proof's PreviousProof; "" for none.
	ID string
	// PreviousProof lists the ids of proofs already on the document that
	// the new proof chains to (VC Data Integrity 1.0 §2.1.2): they are
	// secured together with the document. Empty: the new proof joins the
	// document's proof set (§2.1.1), securing the document alone.
	PreviousProof []string
	Rand          io.Reader // default crypto/rand
	Limits        jsonld.Limits
}

// AddProof returns a copy of doc (a credential or presentation) with a
// DataIntegrityProof made by signer: VC Data Integrity 1.0 "Add Proof"
// when doc has no proof; "Add Proof Set/Chain" (§4.3) when it has one or
// more, which stay as they are and are joined by the new one in a list:
// the new proof signs the document with its proof set to the proofs
// opts.PreviousProof names (none: the document alone).
func AddProof(doc map[string]any, signer crypto.Signer, opts Options) (map[string]any, error) {
	if signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrKey)
	}
	if _, err := keyFor(opts.Cryptosuite, signer.Public()); err != nil {
		return nil, err
	}
	if opts.VerificationMethod == "" {
		return nil, fmt.Errorf("%w: no verificationMethod", ErrProof)
	}
	var allProofs []any
	if v, ok := doc["proof"]; ok {
		var err error
		if allProofs, err = proofList(v); err != nil {
			return nil, err
		}
		if len(allProofs) >= MaxProofs {
			return nil, fmt.Errorf("%w: the document has %d proofs, at most %d", ErrProof, len(allProofs), MaxProofs)
		}
	}
	matching, err := matchingProofs(allProofs, opts.ID, opts.PreviousProof)
	if err != nil {
		return nil, err
	}
	sets := map[string]bool{previousKey(opts.PreviousProof): true}
	for _, p := range allProofs {
		sets[previousKey(previousOf(p.(map[string]any)))] = true
	}
	if len(sets) > MaxCanonicalDocuments {
		return nil, fmt.Errorf("%w: the new proof would make %d distinct previousProof sets, at most %d", ErrChainCost, len(sets), MaxCanonicalDocuments)
	}
	input := make(map[string]any, len(doc))
	for k, v := range doc {
		if k != "proof" {
			input[k] = v
		}
	}
	if len(matching) > 0 {
		input["proof"] = matching
	}
	unsecured, err := jsonld.Check(input, opts.Limits)
	if err != nil {
		return nil, err
	}
	if err := jsonld.CheckContext(unsecured); err != nil {
		return nil, err
	}
	if err := jsonld.CheckCompacted(unsecured); err != nil {
		return nil, err // what a verifier refuses (Verifier.VerifyCredential) is not signed
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Now()
	}
	proof := map[string]any{
		"type":               ProofType,
		"cryptosuite":        opts.Cryptosuite,
		"created":            formatTime(created),
		"verificationMethod": opts.VerificationMethod,
		"proofPurpose":       cmpOr(opts.ProofPurpose, PurposeAssertion),
	}
	if opts.ID != "" {
		proof["id"] = opts.ID
	}
	switch len(opts.PreviousProof) {
	case 0:
	case 1:
		proof["previousProof"] = opts.PreviousProof[0]
	default:
		ids := make([]any, len(opts.PreviousProof))
		for i, id := range opts.PreviousProof {
			ids[i] = id
		}
		proof["previousProof"] = ids
	}
	if !opts.Expires.IsZero() {
		proof["expires"] = formatTime(opts.Expires)
	}
	if opts.Challenge != "" {
		proof["challenge"] = opts.Challenge
	}
	if opts.Domain != "" {
		proof["domain"] = opts.Domain
	}
	hashData, err := HashData(unsecured, proof, opts.Cryptosuite, signer.Public())
	if err != nil {
		return nil, err
	}
	r := opts.Rand
	if r == nil {
		r = rand.Reader
	}
	sig, err := sign(opts.Cryptosuite, r, signer, hashData)
	if err != nil {
		return nil, fmt.Errorf("%w: sign: %v", ErrKey, err)
	}
	proof["proofValue"] = "z" + multikey.Base58Encode(sig)
	out := make(map[string]any, len(doc)+1)
	for k, v := range doc {
		out[k] = v
	}
	if allProofs == nil {
		out["proof"] = proof
	} else {
		out["proof"] = append(slices.Clip(allProofs), proof)
	}
	return out, nil
}

// proofList reads a document's proof value: one proof object or a list of
// them.
func proofList(v any) ([]any, error) {
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	if len(list) > MaxProofs {
		return nil, fmt.Errorf("%w: %d proofs, at most %d", ErrProof, len(list), MaxProofs)
	}
	for _, p := range list {
		if _, ok := p.(map[string]any); !ok {
			return nil, fmt.Errorf("%w: proof must be an object", ErrProof)
		}
	}
	return list, nil
}

// previousOf reads the ids a proof object's previousProof names (a string
// or a list; anything else as none, for parseProofObject to refuse).
func previousOf(proof map[string]any) []string {
	switch prev := proof["previousProof"].(type) {
	case string:
		return []string{prev}
	case []any:
		ids := make([]string, 0, len(prev))
		for _, x := range prev {
			if s, ok := x.(string); ok {
				ids = append(ids, s)
			}
		}
		return ids
	}
	return nil
}

// previousKey names a set of proof ids, whatever their order: a proof set
// is unordered (RDF), so the same ids in another order secure the same
// canonical document. NUL cannot occur in a string that passed
// jsonld.Parse or Check.
func previousKey(ids []string) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return strings.Join(ids, "\x00")
}

// matchingProofs returns the proofs of allProofs whose ids previous lists
// (Add Proof Set/Chain, steps 3-5), refusing a newID that is already
// taken and ids that repeat.
func matchingProofs(allProofs []any, newID string, previous []string) ([]any, error) {
	ids := make(map[string]any, len(allProofs))
	for _, p := range allProofs {
		x, ok := p.(map[string]any)["id"]
		if !ok {
			continue
		}
		id, ok := x.(string)
		if !ok || id == "" {
			return nil, fmt.Errorf("%w: a proof id must be a non-empty string", ErrProof)
		}
		if _, dup := ids[id]; dup {
			return nil, fmt.Errorf("%w: two proofs have the same id", ErrPreviousProof)
		}
		ids[id] = p
	}
	if _, dup := ids[newID]; dup && newID != "" {
		return nil, fmt.Errorf("%w: the document already has a proof with the new proof's id", ErrPreviousProof)
	}
	if len(previous) > len(allProofs) {
		return nil, fmt.Errorf("%w: previousProof names %d proofs, the document has %d", ErrPreviousProof, len(previous), len(allProofs))
	}
	var matching []any
	for i, id := range previous {
		p, ok := ids[id]
		if !ok {
			return nil, fmt.Errorf("%w: %.80q", ErrPreviousProof, id)
		}
		if slices.Contains(previous[:i], id) {
			return nil, fmt.Errorf("%w: %.80q listed twice", ErrPreviousProof, id)
		}
		matching = append(matching, p)
	}
	return matching, nil
}

// HashData returns what the cryptosuite signs: the hash of the canonical
// proof configuration (proof without proofValue, with the document's
// @context) followed by the hash of the canonical document. The document
// is unsecured as given: without proof, or, for a proof of a chain, with
// its proof set to the previous proofs (VC Data Integrity 1.0 §4.3). The
// hash is SHA-256 (eddsa-rdfc-2022, ecdsa-rdfc-2019 with P-256), SHA-384
// (P-384) or SM3 (sm2-rdfc-2025). unsecured must have been through
// jsonld.Check.
func HashData(unsecured, proof map[string]any, suite string, pub crypto.PublicKey) ([]byte, error) {
	k, err := keyFor(suite, pub)
	if err != nil {
		return nil, err
	}
	proofCanon, docCanon, err := canonicalForms(unsecured, proof)
	if err != nil {
		return nil, err
	}
	return k.hashData(proofCanon, docCanon), nil
}

// canonicalForms returns the RDFC-1.0 N-Quads of the proof configuration
// and of the unsecured document.
func canonicalForms(unsecured, proof map[string]any) (string, string, error) {
	proofCanon, err := canonicalConfig(unsecured["@context"], proof)
	if err != nil {
		return "", "", err
	}
	docCanon, err := jsonld.Canonicalize(unsecured)
	if err != nil {
		return "", "", err
	}
	return proofCanon, docCanon, nil
}

// canonicalConfig returns the N-Quads of proof's configuration: proof
// without proofValue, with the document's @context.
func canonicalConfig(docContext any, proof map[string]any) (string, error) {
	config := make(map[string]any, len(proof)+1)
	for k, v := range proof {
		if k != "proofValue" {
			config[k] = v
		}
	}
	config["@context"] = docContext
	canon, err := canonicalProofConfig(config)
	if err != nil {
		return "", fmt.Errorf("proof configuration: %w", err)
	}
	return canon, nil
}

// parsedProof is a proof's fields, checked for type.
type parsedProof struct {
	raw                map[string]any
	suite, purpose, vm string
	id                 string
	previous           []string
	created, expires   time.Time
	challenge          string
	domains            []string
	sig                []byte
}

// parseProof reads the single proof of doc.
func parseProof(doc map[string]any) (*parsedProof, error) {
	ps, err := parseProofs(doc)
	if err != nil {
		return nil, err
	}
	if len(ps) != 1 {
		return nil, fmt.Errorf("%w: %d proofs where one is expected", ErrProof, len(ps))
	}
	return ps[0], nil
}

// parseProofs reads the proofs of doc (one, or a proof set or chain) and
// checks that their ids are distinct and that each previousProof names
// another proof of the set, without a cycle (VC Data Integrity 1.0 §4.5).
func parseProofs(doc map[string]any) ([]*parsedProof, error) {
	v, ok := doc["proof"]
	if !ok {
		return nil, ErrNoProof
	}
	list, err := proofList(v)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNoProof
	}
	ps := make([]*parsedProof, len(list))
	byID := make(map[string]int, len(list))
	for i, x := range list {
		if ps[i], err = parseProofObject(x.(map[string]any), doc); err != nil {
			return nil, err
		}
		if id := ps[i].id; id != "" {
			if _, dup := byID[id]; dup {
				return nil, fmt.Errorf("%w: two proofs have the same id", ErrPreviousProof)
			}
			byID[id] = i
		}
	}
	// Each reference resolves; following them never comes back.
	next := make([][]int, len(ps))
	for i, p := range ps {
		for j, id := range p.previous {
			k, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("%w: %.80q", ErrPreviousProof, id)
			}
			if slices.Contains(p.previous[:j], id) {
				return nil, fmt.Errorf("%w: %.80q listed twice", ErrPreviousProof, id)
			}
			next[i] = append(next[i], k)
		}
	}
	state := make([]uint8, len(ps)) // 0 unvisited, 1 on the path, 2 done
	var visit func(int) bool
	visit = func(i int) bool {
		switch state[i] {
		case 1:
			return false
		case 2:
			return true
		}
		state[i] = 1
		for _, k := range next[i] {
			if !visit(k) {
				return false
			}
		}
		state[i] = 2
		return true
	}
	for i := range ps {
		if !visit(i) {
			return nil, fmt.Errorf("%w: the previousProof references form a cycle", ErrPreviousProof)
		}
	}
	return ps, nil
}

// parseProofObject reads one proof of doc.
func parseProofObject(m map[string]any, doc map[string]any) (*parsedProof, error) {
	p := &parsedProof{raw: m}
	str := func(k string, required bool) (string, error) {
		x, ok := m[k]
		if !ok {
			if required {
				return "", fmt.Errorf("%w: no %s", ErrProof, k)
			}
			return "", nil
		}
		s, ok := x.(string)
		if !ok || s == "" {
			return "", fmt.Errorf("%w: %s must be a non-empty string", ErrProof, k)
		}
		return s, nil
	}
	typ, err := str("type", true)
	if err != nil {
		return nil, err
	}
	if typ != ProofType {
		return nil, fmt.Errorf("%w: proof type %.40q", ErrUnsupportedSuite, typ)
	}
	if p.suite, err = str("cryptosuite", true); err != nil {
		return nil, err
	}
	if p.purpose, err = str("proofPurpose", true); err != nil {
		return nil, err
	}
	if p.vm, err = str("verificationMethod", true); err != nil {
		return nil, err
	}
	if p.id, err = str("id", false); err != nil {
		return nil, err
	}
	switch prev := m["previousProof"].(type) {
	case nil:
		if _, ok := m["previousProof"]; ok {
			return nil, fmt.Errorf("%w: previousProof must be a string or a list of strings", ErrProof)
		}
	case string:
		p.previous = []string{prev}
	case []any:
		if len(prev) > MaxProofs {
			return nil, fmt.Errorf("%w: previousProof names %d proofs, at most %d", ErrProof, len(prev), MaxProofs)
		}
		for _, x := range prev {
			s, ok := x.(string)
			if !ok || s == "" {
				return nil, fmt.Errorf("%w: previousProof must be a string or a list of strings", ErrProof)
			}
			p.previous = append(p.previous, s)
		}
	default:
		return nil, fmt.Errorf("%w: previousProof must be a string or a list of strings", ErrProof)
	}
	pv, err := str("proofValue", true)
	if err != nil {
		return nil, err
	}
	if pv[0] != 'z' || len(pv) > 512 {
		return nil, fmt.Errorf("%w: proofValue must be multibase base58btc", ErrProof)
	}
	if p.sig, err = multikey.Base58Decode(pv[1:]); err != nil {
		return nil, fmt.Errorf("%w: proofValue: %v", ErrProof, err)
	}
	for _, f := range []struct {
		k string
		t *time.Time
	}{{"created", &p.created}, {"expires", &p.expires}} {
		s, err := str(f.k, false)
		if err != nil {
			return nil, err
		}
		if s != "" {
			if *f.t, err = parseTime(s); err != nil {
				return nil, fmt.Errorf("%w: %s is not an XML Schema dateTime with a time zone", ErrProof, f.k)
			}
		}
	}
	if p.challenge, err = str("challenge", false); err != nil {
		return nil, err
	}
	switch d := m["domain"].(type) {
	case nil:
		if _, ok := m["domain"]; ok {
			return nil, fmt.Errorf("%w: domain", ErrProof)
		}
	case string:
		p.domains = []string{d}
	case []any:
		for _, x := range d {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%w: domain must be a string or a list of strings", ErrProof)
			}
			p.domains = append(p.domains, s)
		}
	default:
		return nil, fmt.Errorf("%w: domain must be a string or a list of strings", ErrProof)
	}
	if pc, ok := m["@context"]; ok && !contextPrefix(pc, doc["@context"]) {
		return nil, fmt.Errorf("%w: the proof's @context must begin the document's @context", ErrProof)
	}
	return p, nil
}

// contextPrefix reports whether the proof's @context values start the
// document's @context in order (VC Data Integrity 1.0, verify proof).
func contextPrefix(proofCtx, docCtx any) bool {
	list := func(v any) []any {
		if l, ok := v.([]any); ok {
			return l
		}
		return []any{v}
	}
	p, d := list(proofCtx), list(docCtx)
	if len(p) > len(d) {
		return false
	}
	for i := range p {
		ps, ok1 := p[i].(string)
		ds, ok2 := d[i].(string)
		if !ok1 || !ok2 || ps != ds {
			return false
		}
	}
	return true
}

// check verifies p's signature over unsecured (the document as the proof
// secured it) with pub.
func (p *parsedProof) check(unsecured map[string]any, pub crypto.PublicKey) error {
	if _, err := keyFor(p.suite, pub); err != nil {
		return err
	}
	docCanon, err := jsonld.Canonicalize(unsecured)
	if err != nil {
		return err
	}
	return p.checkCanon(unsecured["@context"], docCanon, pub)
}

// checkCanon verifies p's signature over a document of @context
// docContext whose canonical form is docCanon.
func (p *parsedProof) checkCanon(docContext any, docCanon string, pub crypto.PublicKey) error {
	k, err := keyFor(p.suite, pub)
	if err != nil {
		return err
	}
	proofCanon, err := canonicalConfig(docContext, p.raw)
	if err != nil {
		return err
	}
	if !k.verify(k.hashData(proofCanon, docCanon), p.sig) {
		return ErrSignature
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// parseTime reads an XML Schema dateTimeStamp (VC Data Integrity 1.0
// §2.1: created and expires), refusing what time.Parse alone would take
// (a comma before the fraction, an offset beyond 14:00).
func parseTime(s string) (time.Time, error) {
	if !xsdtime.IsDateTimeStamp(s) {
		return time.Time{}, errors.New("not an XML Schema dateTimeStamp")
	}
	return time.Parse(time.RFC3339Nano, s)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func allowed(list []string, s string) bool { return slices.Contains(list, s) }

func isDIDKeyLike(vm string) bool {
	return strings.HasPrefix(vm, "did:key:") || strings.HasPrefix(vm, "did:jwk:")
}

// VerifyProofWithKey verifies doc's proof with a key the caller already
// holds (for example from a controller document it fetched itself),
// without resolving the verification method or applying created/expires.
// doc must have been through jsonld.Check and carry one proof (a proof
// set or chain takes a Verifier, which resolves each proof's key).
func VerifyProofWithKey(doc map[string]any, pub crypto.PublicKey) error {
	if err := jsonld.CheckContext(doc); err != nil {
		return err
	}
	p, err := parseProof(doc)
	if err != nil {
		return err
	}
	unsecured := make(map[string]any, len(doc))
	for k, x := range doc {
		if k != "proof" {
			unsecured[k] = x
		}
	}
	return p.check(unsecured, pub)
}
