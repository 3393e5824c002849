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
)

// Options configure a proof AddProof creates.
type Options struct {
	Cryptosuite        string    // EdDSARDFC2022, ECDSARDFC2019 or SM2RDFC2025
	VerificationMethod string    // DID URL of the signing key
	ProofPurpose       string    // default PurposeAssertion
	Created            time.Time // default now (UTC, whole seconds)
	Expires            time.Time // zero: none
	Challenge          string    // presentations: the verifier's challenge
	Domain             string    // presentations: the verifier's domain
	Rand               io.Reader // default crypto/rand
	Limits             jsonld.Limits
}

// AddProof returns a copy of doc (a credential or presentation, which must
// carry no proof yet) with a DataIntegrityProof made by signer.
func AddProof(doc map[string]any, signer crypto.Signer, opts Options) (map[string]any, error) {
	if signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrKey)
	}
	if _, ok := doc["proof"]; ok {
		return nil, fmt.Errorf("%w: the document already has a proof (proof sets are not supported)", ErrProof)
	}
	if _, err := keyFor(opts.Cryptosuite, signer.Public()); err != nil {
		return nil, err
	}
	if opts.VerificationMethod == "" {
		return nil, fmt.Errorf("%w: no verificationMethod", ErrProof)
	}
	unsecured, err := jsonld.Check(doc, opts.Limits)
	if err != nil {
		return nil, err
	}
	if err := jsonld.CheckContext(unsecured); err != nil {
		return nil, err
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
	out["proof"] = proof
	return out, nil
}

// HashData returns what the cryptosuite signs: the hash of the canonical
// proof configuration (proof without proofValue, with the document's
// @context) followed by the hash of the canonical document (without
// proof). The hash is SHA-256 (eddsa-rdfc-2022, ecdsa-rdfc-2019 with
// P-256), SHA-384 (P-384) or SM3 (sm2-rdfc-2025). unsecured must have been
// through jsonld.Check.
func HashData(unsecured, proof map[string]any, suite string, pub crypto.PublicKey) ([]byte, error) {
	k, err := keyFor(suite, pub)
	if err != nil {
		return nil, err
	}
	proofCanon, docCanon, err := canonicalForms(unsecured, proof)
	if err != nil {
		return nil, err
	}
	return append(k.hash([]byte(proofCanon)), k.hash([]byte(docCanon))...), nil
}

// canonicalForms returns the RDFC-1.0 N-Quads of the proof configuration
// and of the unsecured document.
func canonicalForms(unsecured, proof map[string]any) (string, string, error) {
	config := make(map[string]any, len(proof)+1)
	for k, v := range proof {
		if k != "proofValue" {
			config[k] = v
		}
	}
	config["@context"] = unsecured["@context"]
	proofCanon, err := canonicalProofConfig(config)
	if err != nil {
		return "", "", fmt.Errorf("proof configuration: %w", err)
	}
	body := make(map[string]any, len(unsecured))
	for k, v := range unsecured {
		if k != "proof" {
			body[k] = v
		}
	}
	docCanon, err := jsonld.Canonicalize(body)
	if err != nil {
		return "", "", err
	}
	return proofCanon, docCanon, nil
}

// parsedProof is a proof's fields, checked for type.
type parsedProof struct {
	raw                map[string]any
	suite, purpose, vm string
	created, expires   time.Time
	challenge          string
	domains            []string
	sig                []byte
}

// parseProof reads the single proof of doc.
func parseProof(doc map[string]any) (*parsedProof, error) {
	v, ok := doc["proof"]
	if !ok {
		return nil, ErrNoProof
	}
	if list, isList := v.([]any); isList {
		if len(list) != 1 {
			return nil, fmt.Errorf("%w: %d proofs (proof sets and chains are not supported)", ErrProof, len(list))
		}
		v = list[0]
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: proof must be an object", ErrProof)
	}
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

// check verifies p's signature over doc with pub after the non-crypto
// checks; exp says what the caller expects.
func (p *parsedProof) check(doc map[string]any, pub crypto.PublicKey) error {
	hashData, err := HashData(doc, p.raw, p.suite, pub)
	if err != nil {
		return err
	}
	k, _ := keyFor(p.suite, pub)
	if !k.verify(hashData, p.sig) {
		return ErrSignature
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// parseTime reads an XML Schema dateTime that names its time zone
// (RFC 3339 with optional fractional seconds).
func parseTime(s string) (time.Time, error) {
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

// VerifyProofWithKey verifies doc's proof (purpose assertionMethod) with a
// key the caller already holds (for example from a controller document it
// fetched itself), without resolving the verification method or applying
// created/expires. doc must have been through jsonld.Check.
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
