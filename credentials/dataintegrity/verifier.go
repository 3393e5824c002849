package dataintegrity

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/credentials/jsonld"
)

// MediaTypeVC is the media type of a credential secured with an embedded
// proof: the VC data model's own (VC Data Model 2.0, application/vc).
const MediaTypeVC = "application/vc"

// KeyResolver finds the public key of a verification method (a DID URL)
// controlled by controller (the issuer or holder; "" when the document
// names none). *credentials.Resolver satisfies it: did:key and did:jwk
// locally, did:web over HTTPS. It must refuse a method whose DID is not
// controller.
type KeyResolver interface {
	ResolveKey(ctx context.Context, controller, verificationMethod string) (crypto.PublicKey, error)
}

// PurposeKeyResolver is a KeyResolver that also checks a verification
// method's verification relationship in its controller document (VC Data
// Integrity 1.0: the proofPurpose names it: assertionMethod,
// authentication); credentials.Resolver and credentials.RegistryResolver
// are. With a resolver that is not, a presentation proof
// (authentication) is accepted only from a did:key or did:jwk method,
// whose keys serve every relationship.
type PurposeKeyResolver interface {
	ResolveKeyFor(ctx context.Context, controller, verificationMethod, relationship string) (crypto.PublicKey, error)
}

// CredentialChecker applies to a credential whose proof has verified what
// every secured credential gets: the VC 2.0 data model, validFrom and
// validUntil, the issuer's accreditation and the status entries at the
// top level of credentialStatus. The node passes
// credentials.Verifier.CheckCredential (through CheckWith).
type CredentialChecker func(ctx context.Context, credential map[string]any) error

// CheckWith adapts a checker that also returns what it read (as
// credentials.Verifier.CheckCredential does) to a CredentialChecker.
func CheckWith[T any](check func(ctx context.Context, credential map[string]any) (T, error)) CredentialChecker {
	return func(ctx context.Context, credential map[string]any) error {
		_, err := check(ctx, credential)
		return err
	}
}

// Config configures a Verifier.
type Config struct {
	// Resolver resolves verification methods (required).
	Resolver KeyResolver
	// Cryptosuites is the allow-list of cryptosuites (required).
	Cryptosuites []string
	// Checker checks the credentials whose proofs verify. It is required
	// unless ProofOnly is set (for callers that check credentials
	// themselves).
	Checker   CredentialChecker
	ProofOnly bool
	// Now is the clock (default time.Now) and Leeway the clock skew
	// allowed on created and expires (default 0).
	Now    func() time.Time
	Leeway time.Duration
	// MaxAge bounds the age of a presentation's proof (proofPurpose
	// authentication), from its created, which such a proof must have
	// (default DefaultMaxAge).
	MaxAge time.Duration
	// Limits bound the JSON-LD input (zero: jsonld defaults).
	Limits jsonld.Limits
}

// DefaultMaxAge is the default of Config.MaxAge: the node's bound on the
// age of a vp+jwt (credentials.DefaultVPMaxAge), so that a presentation
// is as fresh whichever way it is secured.
const DefaultMaxAge = 5 * time.Minute

// Verifier verifies Data Integrity proofs. It is safe for concurrent use.
type Verifier struct{ cfg Config }

// NewVerifier checks cfg.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("dataintegrity: verifier needs a KeyResolver")
	}
	if len(cfg.Cryptosuites) == 0 {
		return nil, errors.New("dataintegrity: verifier needs an allow-list of cryptosuites")
	}
	for _, s := range cfg.Cryptosuites {
		if !slices.Contains(Cryptosuites(), s) {
			return nil, fmt.Errorf("%w: %q", ErrUnsupportedSuite, s)
		}
	}
	if cfg.Checker == nil && !cfg.ProofOnly {
		return nil, errors.New("dataintegrity: verifier needs a CredentialChecker (or ProofOnly)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	return &Verifier{cfg: cfg}, nil
}

// ProofResult is what one verified proof of a document showed: who signed,
// with which cryptosuite, for which purpose, and what it chains to.
type ProofResult struct {
	ID                 string // "" when the proof has none
	VerificationMethod string
	// Controller is the identifier the verification method was resolved
	// for (a DID, or an https controlled identifier document's URL): the
	// issuer (holder), a co-signer's, or, in a presentation that names no
	// holder, the did:key or did:jwk of the method.
	Controller   string
	Cryptosuite  string
	ProofPurpose string
	// Created and Expires are zero when the proof omits them.
	Created, Expires time.Time
	// ByController is true for a proof by the issuer (a credential) or the
	// holder (a presentation), false for a co-signer's.
	ByController bool
	// PreviousProof lists the ids of the proofs this one chains to.
	PreviousProof []string
}

// Verified is a verified credential.
type Verified struct {
	// Document is the credential without its proofs.
	Document map[string]any
	// Proofs are its proofs, in the document's order; at least one is
	// the issuer's (ByController).
	Proofs []ProofResult
}

// Cryptosuite is the cryptosuite of the first proof by the issuer or
// holder (in the document's order): the securing mechanism of the
// document, whatever co-signers used.
func Cryptosuite(proofs []ProofResult) string {
	for _, p := range proofs {
		if p.ByController {
			return p.Cryptosuite
		}
	}
	return ""
}

// VerifyCredential parses data (JSON, within the limits) and verifies it
// as VerifyCredentialMap does.
func (v *Verifier) VerifyCredential(ctx context.Context, data []byte) (*Verified, error) {
	doc, err := jsonld.Parse(data, v.cfg.Limits)
	if err != nil {
		return nil, err
	}
	return v.verifyCredential(ctx, doc) // Parse has applied Check's rules
}

// VerifyCredentialMap verifies a credential with an embedded proof: the
// proof's purpose is assertionMethod, its verification method belongs to
// the issuer, the signature holds, and the Checker accepts the credential
// (validity, trust, status). It returns the credential without its proof,
// and each proof's result.
func (v *Verifier) VerifyCredentialMap(ctx context.Context, doc map[string]any) (*Verified, error) {
	doc, err := jsonld.Check(doc, v.cfg.Limits)
	if err != nil {
		return nil, err
	}
	return v.verifyCredential(ctx, doc)
}

// verifyCredential is VerifyCredentialMap after jsonld.Check (or Parse).
func (v *Verifier) verifyCredential(ctx context.Context, doc map[string]any) (*Verified, error) {
	issuer, err := idOf(doc["issuer"])
	if err != nil {
		return nil, fmt.Errorf("%w: issuer: %v", ErrProof, err)
	}
	unsecured, proofs, err := v.verify(ctx, doc, expect{purpose: PurposeAssertion, controller: issuer})
	if err != nil {
		return nil, err
	}
	if v.cfg.Checker != nil {
		if err := v.cfg.Checker(ctx, unsecured); err != nil {
			return nil, err
		}
	}
	return &Verified{Document: unsecured, Proofs: proofs}, nil
}

// Presentation is a verified presentation.
type Presentation struct {
	// Document is the presentation without its proof.
	Document map[string]any
	// Holder is the holder the proof is bound to ("" when the
	// presentation names none: then the signer is only the key's DID).
	Holder string
	// Proofs are the presentation's proofs, in its order; at least one is
	// the holder's (ByController).
	Proofs []ProofResult
	// Credentials are the embedded credentials with Data Integrity
	// proofs, each verified, in their order.
	Credentials []*Verified
	// Other are the remaining verifiableCredential items (for example
	// EnvelopedVerifiableCredential), for the caller to verify
	// (PresentationOptions.Check).
	Other []any
}

// HolderBinding checks that a credential with a Data Integrity proof,
// embedded in a presentation, is its holder's ("" when the presentation
// names none), on the credential as sent (its proof not yet verified,
// so that another's credential is refused before its issuer's key is
// resolved). It may read the credential's JSON members: the presentation
// has passed jsonld.CheckCompacted, so they say what the RDF its proofs
// sign says (a subject id respelled "@id" would otherwise be unseen). VC 2.0 and Data Integrity leave this to the verifier: a
// presentation need not name a holder, nor a credential its subject
// (VC 2.0 §4.13, and "Bearer Credentials" in its privacy
// considerations), so the caller says what it requires.
// credentials.CheckSubjectIsHolder is the node's: every subject id is
// the holder. AnyHolder takes any credential from any presenter.
type HolderBinding func(credential map[string]any, holder string) error

// AnyHolder is the HolderBinding of a verifier that takes every embedded
// credential as a bearer credential, whoever presents it: it checks
// nothing.
func AnyHolder(map[string]any, string) error { return nil }

// PresentationOptions are what VerifyPresentation checks a presentation
// against.
type PresentationOptions struct {
	// Challenge is the verifier's (required); Domain its domain, checked
	// when not empty.
	Challenge, Domain string
	// HolderBinding is applied to every embedded credential with a proof
	// before any is verified (required: a nil one refuses every
	// presentation; AnyHolder checks nothing).
	HolderBinding HolderBinding
	// Check is applied before the holder's key is
	// resolved: once the presentation's proofs pass their checks that
	// need no key and its embedded credentials with proofs verify. It
	// sees the presentation with Document (without its proofs), Holder,
	// Credentials and Other set, Proofs not yet: it is where a caller
	// verifies the other credentials (enveloped ones) and their binding
	// to the holder, so that a presentation refused for them fetches
	// nothing from the host a did:web or https holder names. Without a
	// Check, a presentation with such credentials is refused
	// (ErrNoProof): none would be verified.
	Check func(*Presentation) error
}

// VerifyPresentation parses data and verifies a presentation with an
// embedded proof: purpose authentication, the challenge the verifier gave
// (required) and its domain (when not empty), a verification method of
// the holder (did:key or did:jwk when the presentation names no holder),
// every embedded credential with a Data Integrity proof bound to the
// holder as opts.HolderBinding requires, all of them before any is
// verified, and then each verified; all this before the holder's key is
// resolved (for a did:web or https holder, a fetch) once the
// presentation's proofs pass their checks that need no key. The other
// credentials (Presentation.Other) are opts.Check's to verify: without a
// Check, a presentation with any is refused. Without opts.HolderBinding
// every presentation is refused (ErrNoHolderBinding); one not in JSON-LD
// compacted form (VC 2.0 §6.1), jsonld.ErrNotCompacted.
func (v *Verifier) VerifyPresentation(ctx context.Context, data []byte, opts PresentationOptions) (*Presentation, error) {
	if opts.HolderBinding == nil {
		return nil, ErrNoHolderBinding
	}
	doc, err := jsonld.Parse(data, v.cfg.Limits)
	if err != nil {
		return nil, err
	}
	if opts.Challenge == "" {
		return nil, fmt.Errorf("%w: the verifier must give a challenge", ErrChallenge)
	}
	var holder string
	if h, ok := doc["holder"]; ok {
		if holder, err = idOf(h); err != nil {
			return nil, fmt.Errorf("%w: holder: %v", ErrProof, err)
		}
	}
	// The embedded credentials are verified, and opts.Check applied, once the
	// presentation's proofs pass their checks that need no key, before
	// the holder's key is resolved (for a did:web or https holder, a fetch
	// from the host it names).
	out := &Presentation{Holder: holder}
	verifyCredentials := func(unsecured map[string]any) error {
		items := unsecured["verifiableCredential"]
		if _, isList := items.([]any); !isList && items != nil {
			items = []any{items}
		}
		list, _ := items.([]any)
		for i, it := range list {
			m, ok := it.(map[string]any)
			if !ok {
				return fmt.Errorf("%w: verifiableCredential[%d] is not an object", ErrProof, i)
			}
			if _, has := m["proof"]; !has && opts.Check == nil {
				return fmt.Errorf("verifiableCredential[%d]: %w, and no PresentationOptions.Check verifies it otherwise", i, ErrNoProof)
			} else if has {
				if err := opts.HolderBinding(m, holder); err != nil {
					return fmt.Errorf("verifiableCredential[%d]: %w", i, err)
				}
			}
		}
		for i, it := range list {
			m := it.(map[string]any)
			if _, has := m["proof"]; !has {
				out.Other = append(out.Other, it)
				continue
			}
			c, err := v.VerifyCredentialMap(ctx, m)
			if err != nil {
				return fmt.Errorf("verifiableCredential[%d]: %w", i, err)
			}
			out.Credentials = append(out.Credentials, c)
		}
		out.Document = unsecured
		if opts.Check != nil {
			return opts.Check(out)
		}
		return nil
	}
	unsecured, proofs, err := v.verify(ctx, doc, expect{purpose: PurposeAuthentication, controller: holder, challenge: opts.Challenge, domain: opts.Domain, beforeKeys: verifyCredentials})
	if err != nil {
		return nil, err
	}
	out.Document, out.Proofs = unsecured, proofs
	return out, nil
}

type expect struct {
	purpose, controller, challenge, domain string
	// beforeKeys, if set, runs once every proof passed its checks that
	// need no key, before any key is resolved, on the document without
	// its proofs.
	beforeKeys func(unsecured map[string]any) error
}

// verify checks doc's proofs against exp and returns doc without them,
// with each proof's result in the document's order. A proof set or chain
// (VC Data Integrity 1.0 §4.5) verifies when every proof does, each over
// the document with its proof set to the proofs its previousProof names
// (none: the document alone), and when at least one is by
// exp.controller; a proof of the set by another DID or https controller
// (a co-signer or endorser: its verification method's DID, or its
// controlled identifier document's URL) is resolved against it.
// Each distinct previousProof set costs a canonicalization of the
// document: more than MaxCanonicalDocuments are refused before any.
func (v *Verifier) verify(ctx context.Context, doc map[string]any, exp expect) (map[string]any, []ProofResult, error) {
	if err := jsonld.CheckContext(doc); err != nil {
		return nil, nil, err
	}
	// Before anything reads the document's members (a presentation's
	// HolderBinding, the Checker): the proof covers the RDF, so the JSON
	// must say what the RDF says.
	if err := jsonld.CheckCompacted(doc); err != nil {
		return nil, nil, err
	}
	proofs, err := parseProofs(doc)
	if err != nil {
		return nil, nil, err
	}
	unsecured := make(map[string]any, len(doc))
	for k, x := range doc {
		if k != "proof" {
			unsecured[k] = x
		}
	}
	raw := doc["proof"]
	if _, isList := raw.([]any); !isList {
		raw = []any{raw}
	}
	all := raw.([]any)
	// Cheap checks on every proof, the issuer's (holder's) proof required
	// and the canonicalizations counted, before any key is resolved or
	// document canonicalized; then the issuer's proofs first, co-signers
	// after.
	controllers := make([]string, len(proofs))
	keys := make([]string, len(proofs))
	distinct := map[string]bool{}
	byController := 0
	for i, p := range proofs {
		controllers[i] = exp.controller
		if len(proofs) > 1 && exp.controller != "" {
			if did, _, _ := strings.Cut(p.vm, "#"); (strings.HasPrefix(did, "did:") || strings.HasPrefix(did, "https://")) && did != exp.controller {
				controllers[i] = did
			}
		}
		if controllers[i] == exp.controller {
			byController++
		}
		if err := v.checkFields(p, exp, controllers[i]); err != nil {
			return nil, nil, err
		}
		keys[i] = previousKey(p.previous)
		distinct[keys[i]] = true
	}
	if byController == 0 {
		return nil, nil, fmt.Errorf("%w: no proof of the set is by the issuer (or holder)", ErrVerificationMethod)
	}
	if len(distinct) > MaxCanonicalDocuments {
		return nil, nil, fmt.Errorf("%w: %d distinct previousProof sets, at most %d", ErrChainCost, len(distinct), MaxCanonicalDocuments)
	}
	if exp.beforeKeys != nil {
		if err := exp.beforeKeys(unsecured); err != nil {
			return nil, nil, err
		}
	}
	order := make([]int, len(proofs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return boolInt(controllers[a] != exp.controller) - boolInt(controllers[b] != exp.controller)
	})
	canon := map[string]string{} // canonical documents by the previous proofs they hold
	for _, i := range order {
		p, controller := proofs[i], controllers[i]
		pub, err := v.resolve(ctx, p, exp, controller)
		if err != nil {
			return nil, nil, err
		}
		docCanon, ok := canon[keys[i]]
		if !ok {
			input := unsecured
			if len(p.previous) > 0 {
				matching, err := matchingProofs(all, "", p.previous)
				if err != nil {
					return nil, nil, err
				}
				input = make(map[string]any, len(unsecured)+1)
				for k, x := range unsecured {
					input[k] = x
				}
				input["proof"] = matching
			}
			if docCanon, err = jsonld.Canonicalize(input); err != nil {
				return nil, nil, err
			}
			canon[keys[i]] = docCanon
		}
		if err := p.checkCanon(doc["@context"], docCanon, pub); err != nil {
			return nil, nil, err
		}
	}
	results := make([]ProofResult, len(proofs))
	for i, p := range proofs {
		controller := controllers[i]
		if controller == "" {
			controller, _, _ = strings.Cut(p.vm, "#")
		}
		results[i] = ProofResult{ID: p.id, VerificationMethod: p.vm, Controller: controller,
			Cryptosuite: p.suite, ProofPurpose: p.purpose, Created: p.created, Expires: p.expires,
			ByController: controllers[i] == exp.controller, PreviousProof: p.previous}
	}
	return unsecured, results, nil
}

// checkFields applies exp to p (cryptosuite, purpose, created and
// expires, challenge, domain, a holderless presentation's did:key) before
// anything is resolved.
func (v *Verifier) checkFields(p *parsedProof, exp expect, controller string) error {
	if !allowed(v.cfg.Cryptosuites, p.suite) {
		return fmt.Errorf("%w: %.40q", ErrUnsupportedSuite, p.suite)
	}
	if p.purpose != exp.purpose {
		return fmt.Errorf("%w: %.40q, want %s", ErrProofPurpose, p.purpose, exp.purpose)
	}
	now := v.cfg.Now()
	if !p.created.IsZero() && p.created.After(now.Add(v.cfg.Leeway)) {
		return ErrCreated
	}
	if !p.expires.IsZero() && !now.Add(-v.cfg.Leeway).Before(p.expires) {
		return ErrExpired
	}
	// VC Data Integrity 1.0 §2.1 makes created OPTIONAL ("The date and
	// time the proof was created is OPTIONAL") and the challenge "is used
	// once for a particular domain and window of time": a presentation's
	// window is bounded here, as a vp+jwt's by its iat, so its proof must
	// say when it was made.
	if exp.purpose == PurposeAuthentication {
		if p.created.IsZero() {
			return fmt.Errorf("%w: a presentation proof needs created", ErrProof)
		}
		if now.Sub(p.created) > v.cfg.MaxAge+v.cfg.Leeway {
			return fmt.Errorf("%w: presentation proof created more than %v ago", ErrExpired, v.cfg.MaxAge)
		}
	}
	if exp.challenge != "" && p.challenge != exp.challenge {
		return ErrChallenge
	}
	// §4.4: the verifier's domain and the proof's must be the same set
	// (a string is a set of one): a proof for this verifier and others
	// is refused.
	if exp.domain != "" && (len(p.domains) == 0 || slices.ContainsFunc(p.domains, func(d string) bool { return d != exp.domain })) {
		return ErrDomain
	}
	if exp.purpose == PurposeAuthentication && controller == "" && !isDIDKeyLike(p.vm) {
		return fmt.Errorf("%w: a presentation without a holder must be signed with a did:key or did:jwk verification method", ErrVerificationMethod)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// resolve resolves p's verification method, controlled by controller.
func (v *Verifier) resolve(ctx context.Context, p *parsedProof, exp expect, controller string) (crypto.PublicKey, error) {
	var pub crypto.PublicKey
	var err error
	if pr, ok := v.cfg.Resolver.(PurposeKeyResolver); ok {
		pub, err = pr.ResolveKeyFor(ctx, controller, p.vm, exp.purpose)
	} else if exp.purpose == PurposeAuthentication && !isDIDKeyLike(p.vm) {
		err = errors.New("the resolver cannot check the authentication relationship")
	} else {
		pub, err = v.cfg.Resolver.ResolveKey(ctx, controller, p.vm)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerificationMethod, err)
	}
	return pub, nil
}

// idOf reads an identifier given as a string or as an object's id.
func idOf(v any) (string, error) {
	switch t := v.(type) {
	case string:
		if t != "" {
			return t, nil
		}
	case map[string]any:
		if s, ok := t["id"].(string); ok && s != "" {
			return s, nil
		}
	}
	return "", errors.New("must be a URL or an object with an id")
}
