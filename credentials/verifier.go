package credentials

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/internal/lru"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
)

// VerifierConfig configures NewVerifier.
type VerifierConfig struct {
	// Algorithms is the allow-list of JWS algorithms (required; a subset
	// of gm.JWTVerifyAlgorithms: ES384 and ES512 only when named).
	Algorithms []string
	// Resolver finds issuer and holder keys (required).
	Resolver KeyResolver
	// Trust says which issuer is accredited for which credential type
	// (required): RegistryTrust over the trust registry copy; AnyIssuer
	// only for status list credentials.
	Trust IssuerTrust
	// Status checks credential status. It is required unless SkipStatus,
	// which only the verifier of status list credentials themselves uses.
	Status     *StatusChecker
	SkipStatus bool
	// Now is the clock (default time.Now); Leeway the clock skew allowed
	// (default 0).
	Now    func() time.Time
	Leeway time.Duration
	// Envelopes verify credentials in media types besides the JOSE ones
	// (application/vc+cose, ...), by media type: the extension point of
	// other securing mechanisms. VerifyToken hands them the data: URL's
	// content (base64-decoded when flagged).
	Envelopes map[string]EnvelopeVerifier
	// KeyTTL bounds how long a resolved key is cached (default 5 minutes;
	// negative: none, for a resolver that caches the documents it fetches
	// and checks a method's revoked and expires times on every call, as
	// Resolver and sdk.Nodes do: a key cached here would outlive those
	// times).
	KeyTTL time.Duration
	// KeyCacheSize bounds the number of cached keys (default
	// DefaultKeyCacheSize); the least recently used goes first.
	KeyCacheSize int
	// KBMaxAge bounds the age of a KB-JWT (default 5 minutes).
	KBMaxAge time.Duration
	// VPMaxAge bounds the age of a vp+jwt, from its iat (default
	// DefaultVPMaxAge).
	VPMaxAge time.Duration
	// ContextCheck, if set, checks the @context of every credential and
	// presentation beyond the data model's rules, after the signature:
	// jsonld.CheckInlineContexts, so that a vc+jwt or vc+cose whose
	// context redefines a protected term is refused as a Data Integrity
	// one is. nil checks nothing more.
	ContextCheck func(doc map[string]any) error
}

// DefaultKeyCacheSize is the default of VerifierConfig.KeyCacheSize.
const DefaultKeyCacheSize = 1024

// Verifier verifies vc+jwt, vp+jwt and SD-JWT VC. It is safe for
// concurrent use.
//
// Keys resolved over the network (did:web, issuer metadata) are cached by
// issuer and kid, but only once a signature made with them has verified:
// whoever sends a credential names the issuer and kid, so an unverified
// resolution must not take a place in the cache. The cache is bounded
// (KeyCacheSize, least recently used evicted) and entries expire after
// KeyTTL (with KeyTTL < 0 nothing is cached). did:key and did:jwk keys
// are never cached: they are parsed from the identifier itself; nor are
// keys a RegistryResolver takes from the
// trust registry, so their retirement applies at once.
type Verifier struct {
	cfg  VerifierConfig
	keys *lru.Cache[keyID, crypto.PublicKey]
}

// keyID names a cached key: the verification relationship, the issuer and
// the kid. Its strings may be cut from a verified document: remember
// caches a copy.
type keyID struct{ relationship, issuer, kid string }

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("credentials: verifier needs a key resolver")
	}
	if cfg.Trust == nil {
		return nil, errors.New("credentials: verifier needs an issuer trust (RegistryTrust; AnyIssuer for status lists only)")
	}
	if cfg.Status == nil && !cfg.SkipStatus {
		return nil, errors.New("credentials: verifier needs a status checker (or SkipStatus for status lists)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeyTTL == 0 {
		cfg.KeyTTL = 5 * time.Minute
	}
	if cfg.KeyCacheSize <= 0 {
		cfg.KeyCacheSize = DefaultKeyCacheSize
	}
	if cfg.VPMaxAge <= 0 {
		cfg.VPMaxAge = DefaultVPMaxAge
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	for mt, ev := range cfg.Envelopes {
		if joseMediaType(mt) || ev.Verify == nil || ev.Read == nil || !strings.HasPrefix(mt, "application/") {
			return nil, fmt.Errorf("credentials: envelope verifier for %q: a JOSE media type is built in; others need Verify and Read", mt)
		}
	}
	cfg.Envelopes = maps.Clone(cfg.Envelopes)
	// The allow-list is checked as every verifier's is (known algorithms
	// only, never "none"); verifyJWS then verifies with jose.Parse and
	// jose.JWS.Verify, which keep jwt.Parser's checks.
	if _, err := gm.NewJWTParser(cfg.Algorithms); err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg, keys: lru.New[keyID, crypto.PublicKey](cfg.KeyCacheSize)}, nil
}

// resolvedKey is a key found for (issuer, kid) and whether it is to be
// cached once a signature made with it verifies.
type resolvedKey struct {
	id  keyID
	pub crypto.PublicKey
	new bool
}

// remember caches a key that has just verified a signature.
func (v *Verifier) remember(k resolvedKey) {
	if k.new {
		now := v.cfg.Now()
		id := keyID{strings.Clone(k.id.relationship), strings.Clone(k.id.issuer), strings.Clone(k.id.kid)}
		v.keys.Put(id, k.pub, now.Add(v.cfg.KeyTTL), now)
	}
}

// key finds the key for (issuer, kid) in a verification relationship
// (RelationshipAssertion for a credential, RelationshipAuthentication
// for a presentation), from the cache or the resolver. The caller passes
// the result to remember once the signature verifies.
func (v *Verifier) key(ctx context.Context, issuer, kid, alg, relationship string) (resolvedKey, error) {
	k, err := v.lookup(ctx, issuer, kid, relationship)
	if err != nil {
		return resolvedKey{}, err
	}
	if !jose.KeyMatches(k.pub, alg) {
		return resolvedKey{}, fmt.Errorf("%w: the key of %s is not a %s key", ErrAlgorithm, truncate(kid), alg)
	}
	return k, nil
}

// lookup finds the key for (issuer, kid) in a verification relationship,
// from the cache or the resolver, whatever its algorithm. A key from the
// trust registry (a RegistryResolver says so as it resolves it, not
// asked again) or parsed from a did:key or did:jwk is not to be cached.
func (v *Verifier) lookup(ctx context.Context, issuer, kid, relationship string) (resolvedKey, error) {
	k, ok := resolvedKey{id: keyID{relationship, issuer, kid}}, false
	if k.pub, ok = v.keys.Get(k.id, v.cfg.Now()); !ok {
		var pub crypto.PublicKey
		var inRegistry bool
		var err error
		if rr, isRegistry := v.cfg.Resolver.(*RegistryResolver); isRegistry {
			pub, inRegistry, err = rr.resolveKeyFor(ctx, issuer, kid, relationship)
		} else {
			pub, err = resolveFor(ctx, v.cfg.Resolver, issuer, kid, relationship)
		}
		if err != nil {
			return resolvedKey{}, err
		}
		k.pub, k.new = pub, !selfResolving(issuer) && !selfResolving(kid) && !inRegistry && v.cfg.KeyTTL > 0
	}
	return k, nil
}

// resolveFor resolves kid of issuer for a verification relationship
// through r: a PurposeResolver checks the relationship in the controller
// document; another resolver serves assertions, and presentations only
// from a did:key or did:jwk, whose keys serve every relationship. Every
// securing mechanism resolves through it (Data Integrity, which may not
// link this package, applies the same rule with
// dataintegrity.PurposeKeyResolver).
func resolveFor(ctx context.Context, r KeyResolver, issuer, kid, relationship string) (crypto.PublicKey, error) {
	if pr, ok := r.(PurposeResolver); ok {
		return pr.ResolveKeyFor(ctx, issuer, kid, relationship)
	}
	switch {
	case relationship == RelationshipAssertion:
	case relationship != RelationshipAuthentication:
		return nil, fmt.Errorf("%w: verification relationship %.40q", ErrUnsupported, relationship)
	case !selfResolving(kid) && !(strings.HasPrefix(kid, "#") && selfResolving(issuer)):
		return nil, fmt.Errorf("%w: the resolver cannot check the %s relationship of %s", ErrUnknownKey, relationship, truncate(kid))
	}
	return r.ResolveKey(ctx, issuer, kid)
}

// selfResolving reports whether id is a DID (or DID URL) whose key is in
// the identifier itself: did:key and did:jwk, parsed, never cached.
func selfResolving(id string) bool {
	return strings.HasPrefix(id, didKeyPrefix) || strings.HasPrefix(id, didJWKPrefix)
}

// verifyJWS checks a compact JWS of typ and returns it (its payload
// strictly decoded) and the key that signed it. issuerOf names, from the
// payload and the header's kid, the issuer whose key must have signed.
//
// It decodes each part once (jose.Parse), where jwt.Parser would decode
// the header twice and the payload with encoding/json before the strict
// decoder, and makes the same checks in the same order: size, header
// (alg allow-list, no "crit", no duplicate members), typ/cty, payload
// (strict), issuer and kid, key type against alg, signature, exp/nbf
// with leeway.
func (v *Verifier) verifyJWS(ctx context.Context, token, typ, cty, relationship string, issuerOf func(payload map[string]any, kid string) (string, error)) (*jose.JWS, crypto.PublicKey, error) {
	jws, err := v.parseJWS(token, typ, cty)
	if err != nil {
		return nil, nil, err
	}
	iss, err := issuerOf(jws.Payload, jws.Header.String("kid"))
	if err != nil {
		return nil, nil, keyErr(err)
	}
	pub, err := v.verifySigned(ctx, jws, iss, relationship)
	if err != nil {
		return nil, nil, err
	}
	return jws, pub, nil
}

// parseJWS is verifyJWS's first part: the size, the header and the
// payload (strictly decoded), typ and cty; nothing is verified.
func (v *Verifier) parseJWS(token, typ, cty string) (*jose.JWS, error) {
	if len(token) > MaxDocument {
		return nil, fmt.Errorf("%w: token over %d bytes", ErrMalformed, MaxDocument)
	}
	jws, err := jose.Parse(token, v.cfg.Algorithms, MaxDocument)
	if err != nil {
		return nil, mapJoseErr(err)
	}
	hdr := jws.Header
	// VC-JOSE-COSE §3.1.1-3.1.2: typ "SHOULD be" vc+jwt (vp+jwt), and
	// cty, "when present", vc (vp): either may be absent (the media type
	// names the format, as for vp+sd-jwt and COSE), and, present, may be
	// written with or without "application/" (RFC 7515 §4.1.9-4.1.10).
	if t, ok := hdr["typ"]; ok && !joseMediaTypeIs(t, typ) {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrType, truncate(hdr.String("typ")), typ)
	}
	if c, ok := hdr["cty"]; ok && !joseMediaTypeIs(c, cty) {
		return nil, fmt.Errorf("%w: cty %.40v, want %q", ErrType, c, cty)
	}
	return jws, nil
}

// verifySigned is verifyJWS's second part: the key kid of iss (resolved,
// which may fetch a document), the signature, exp/nbf with leeway.
func (v *Verifier) verifySigned(ctx context.Context, jws *jose.JWS, iss, relationship string) (crypto.PublicKey, error) {
	hdr := jws.Header
	key, err := v.key(ctx, iss, hdr.String("kid"), hdr.String("alg"), relationship)
	if err != nil {
		return nil, keyErr(err)
	}
	if err := jws.Verify(key.pub); err != nil {
		return nil, mapJWSErr(err)
	}
	if err := jose.CheckTimes(jws.Payload, v.cfg.Now(), v.cfg.Leeway); err != nil {
		return nil, mapJWSErr(err)
	}
	v.remember(key)
	return key.pub, nil
}

// keyErr keeps the sentinels of issuer and key lookup and reports any
// other failure there as malformed input (as mapJWTErr does).
func keyErr(err error) error {
	for _, keep := range []error{ErrResolve, ErrRegionSuspended, ErrNotAccredited, ErrUnknownKey, ErrIssuerMismatch, ErrAlgorithm, ErrUnsupported, ErrType} {
		if errors.Is(err, keep) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// mapJWSErr maps the errors of jose.JWS.Verify and jose.CheckTimes onto
// this package's sentinels, keeping both in the chain.
func mapJWSErr(err error) error {
	switch {
	case errors.Is(err, jose.ErrExpired):
		return fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, jose.ErrNotYetValid):
		return fmt.Errorf("%w: %w", ErrNotYetValid, err)
	case errors.Is(err, jose.ErrSignature):
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return mapJoseErr(err)
}

// credentialIssuer reads the issuer of an unverified payload and checks
// iss, and kid (CheckKid), against it.
func credentialIssuer(m map[string]any, kid string) (string, error) {
	iss, err := idOf(m["issuer"], true)
	if err != nil {
		return "", fmt.Errorf("%w: issuer: %v", ErrInvalid, err)
	}
	if j, ok := m["iss"]; ok && j != iss {
		return "", fmt.Errorf("%w: iss does not equal the credential issuer", ErrIssuerMismatch)
	}
	if err := CheckKid(iss, kid, m["iss"]); err != nil {
		return "", err
	}
	return iss, nil
}

// VerifyCredential verifies a vc+jwt: the algorithm is allowed, the header
// typ, when present, is vc+jwt (cty vc; either may be written with
// application/), the kid resolves to a key of the credential's issuer, the
// signature holds, the payload is a valid credential without a vc or vp
// claim, it is within validFrom/validUntil (and exp/nbf), the issuer
// is accredited for its types (and, unless an enrollment issuer, uses no
// name reserved to enrollment), and no status entry is set.
func (v *Verifier) VerifyCredential(ctx context.Context, token string) (*Credential, error) {
	jws, _, err := v.verifyJWS(ctx, token, TypVCJWT, CtyVC, RelationshipAssertion, credentialIssuer)
	if err != nil {
		return nil, err
	}
	if err := checkJOSEClaimNames(jws.Payload, ErrInvalid); err != nil {
		return nil, err
	}
	c, err := v.checkCredential(ctx, jws.Payload)
	if err != nil {
		return nil, err
	}
	if jws.PayloadCanonical {
		c.canonical = jws.PayloadJSON
	}
	return c, nil
}

// checkCredential checks a credential document whose issuer's signature
// was verified: the data model, validity, accreditation and status.
func (v *Verifier) checkCredential(ctx context.Context, payload map[string]any) (*Credential, error) {
	c, err := NewCredential(payload)
	if err != nil {
		return nil, err
	}
	if err := v.CheckContext(payload); err != nil {
		return nil, err
	}
	if err := v.checkValidity(c.ValidFrom, c.ValidUntil); err != nil {
		return nil, err
	}
	acc, err := v.cfg.Trust.Accreditation(c.Issuer)
	if err != nil {
		return nil, err
	}
	if err := acc.Allows(c.Types, SubjectIDs(c.Subjects), c.Subjects); err != nil {
		return nil, err
	}
	if !v.cfg.SkipStatus && len(c.Status) > 0 {
		if err := v.cfg.Status.Check(ctx, acc.statusIssuer(false), c.Status); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (v *Verifier) checkValidity(from, until time.Time) error {
	now := v.cfg.Now()
	if !from.IsZero() && now.Add(v.cfg.Leeway).Before(from) {
		return fmt.Errorf("%w: validFrom %s", ErrNotYetValid, FormatTime(from))
	}
	if !until.IsZero() && now.Add(-v.cfg.Leeway).After(until) {
		return fmt.Errorf("%w: validUntil %s", ErrExpired, FormatTime(until))
	}
	return nil
}

// clearVCSDJWT are the members of a vc+sd-jwt that must be in the clear.
// VC-JOSE-COSE (W3C Recommendation), §3.2.1 "Securing JSON-LD Verifiable
// Credentials with SD-JWT": "implementers SHOULD ensure that properties
// necessary for the validation and verification of a credential are NOT
// selectively disclosable (i.e., such properties SHOULD be disclosed).
// These properties can include but are not limited to @context, type,
// credentialStatus, credentialSchema, and relatedResource." Those our
// checks need besides: issuer (its key), validFrom and validUntil
// (validity), and the JWT claims checked as a vc+jwt's are: iss (equal to
// issuer), exp and nbf (validity of the signature) and cnf (the key
// binding). relatedResource pins the digests VerifyRelated checks: one
// concealed and withheld would leave them unchecked, unseen.
var clearVCSDJWT = []string{"@context", "type", "issuer", "validFrom", "validUntil", "credentialStatus", "credentialSchema", "relatedResource", "iss", "exp", "nbf", "cnf"}

// clearSDJWTVC are the claims of an SD-JWT VC that must be in the clear.
// draft-ietf-oauth-sd-jwt-vc (-13 and the working group's current copy),
// §3.2.2.2 "Registered JWT Claims": "The following registered JWT claims
// are used within the SD-JWT component of the SD-JWT VC and MUST NOT be
// included in the Disclosures, i.e., cannot be selectively disclosed:
// iss, nbf, exp, cnf, vct, vct#integrity, status".
var clearSDJWTVC = []string{"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"}

// VerifyVCSDJWT verifies a W3C credential secured with SD-JWT
// (VC-JOSE-COSE, application/vc+sd-jwt): typ vc+sd-jwt and cty vc, each
// when present (either may be written with application/), the kid resolves
// to a key of the credential's issuer, the signature and every disclosure
// hold, the disclosed document passes as a vc+jwt payload does
// (VerifyCredential) and, last, none of the members that must be in the
// clear (clearVCSDJWT) is selectively disclosable. A key binding JWT is
// separated and not checked: nothing asks for key binding here (RFC 9901
// §7.3; a vc+sd-jwt in a presentation is bound by the presentation).
func (v *Verifier) VerifyVCSDJWT(ctx context.Context, s string) (*Credential, error) {
	// typ, which "SHOULD be" vc+sd-jwt, and cty, when present, vc
	// (VC-JOSE-COSE §3.2.1): typ may be absent too; each may be written
	// with or without application/ (RFC 7515 §4.1.9-4.1.10).
	issuerJWT, _, _ := strings.Cut(s, "~")
	hdr, err := jose.ParseHeader(issuerJWT, v.cfg.Algorithms)
	if err != nil {
		return nil, mapJoseErr(err)
	}
	if t, ok := hdr["typ"]; ok && !joseMediaTypeIs(t, TypVCSDJWT) {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrType, truncate(hdr.String("typ")), TypVCSDJWT)
	}
	if c, ok := hdr["cty"]; ok && !joseMediaTypeIs(c, CtyVC) {
		return nil, fmt.Errorf("%w: cty %.40v, want %q", ErrType, c, CtyVC)
	}
	var key resolvedKey
	res, err := sdjwt.Verify(s, sdjwt.VerifyOptions{
		Algorithms: v.cfg.Algorithms,
		Key: func(h map[string]any, p map[string]any) (crypto.PublicKey, error) {
			kid, _ := h["kid"].(string)
			alg, _ := h["alg"].(string)
			iss, err := credentialIssuer(p, kid)
			if err != nil {
				return nil, err
			}
			if key, err = v.key(ctx, iss, kid, alg, RelationshipAssertion); err != nil {
				return nil, err
			}
			return key.pub, nil
		},
		Now:    v.cfg.Now,
		Leeway: v.cfg.Leeway,
		MaxAge: v.cfg.KBMaxAge,
	})
	if err != nil {
		return nil, mapSDJWTErr(err)
	}
	v.remember(key)
	c, err := v.checkCredential(ctx, res.Claims)
	if err != nil {
		return nil, err
	}
	// After the checks of the disclosed document, so that what they
	// refuse keeps its error.
	if err := res.CheckClear(clearVCSDJWT); err != nil {
		return nil, mapSDJWTErr(err)
	}
	return c, nil
}

// SDJWTOptions are what a verifier of an SD-JWT VC presentation expects.
type SDJWTOptions struct {
	// RequireKeyBinding demands a KB-JWT with this Audience and Nonce.
	RequireKeyBinding bool
	Audience, Nonce   string
	// VCTs, when set, are the vct values asked for: an SD-JWT VC whose vct
	// is none of them is refused (ErrNotRequested); when its vct is in the
	// clear, before its issuer's key is resolved or its signature or
	// status checked.
	VCTs []string
}

// VerifySDJWT verifies an SD-JWT VC: typ dc+sd-jwt (or vc+sd-jwt without
// an @context), a vct, an https or
// DID iss whose key signed, every disclosure, the key binding when
// required (RequireKeyBinding; a KB-JWT not required is not checked, RFC
// 9901 §7.3), validity (exp/nbf), the issuer's accreditation
// for the vct (and, unless an enrollment issuer, no disclosed sub in
// urn:trustid:subject: nor assuranceLevel), the status claim (IETF Token
// Status List) and, last, that none of the claims that must be in the
// clear (clearSDJWTVC) is selectively disclosable.
func (v *Verifier) VerifySDJWT(ctx context.Context, s string, opts SDJWTOptions) (*sdjwt.Verified, error) {
	var key resolvedKey
	res, err := sdjwt.Verify(s, sdjwt.VerifyOptions{
		Algorithms: v.cfg.Algorithms,
		// draft-ietf-oauth-sd-jwt-vc, "JOSE Header": the draft "used
		// vc+sd-jwt as the value of the typ header from its inception in
		// July 2023 until November 2024 ... it is RECOMMENDED that
		// Verifiers and Holders accept both vc+sd-jwt and dc+sd-jwt". One
		// with an @context is a W3C credential (VerifyVCSDJWT).
		Typs: []string{TypSDJWTVC, TypVCSDJWT},
		Key: func(h map[string]any, p map[string]any) (crypto.PublicKey, error) {
			if _, w3c := p["@context"]; w3c && h["typ"] == TypVCSDJWT {
				return nil, fmt.Errorf("%w: a vc+sd-jwt with an @context is a W3C credential (%s), not an SD-JWT VC", ErrType, MediaTypeVCSDJWT)
			}
			// Not signed yet, but a vct asked for by no one refuses the
			// credential whoever signed it: no key fetched, no status.
			// One given otherwise (missing, disclosed) is refused below.
			if vct, ok := p["vct"].(string); ok && vct != "" && opts.VCTs != nil && !slices.Contains(opts.VCTs, vct) {
				return nil, fmt.Errorf("%w: vct", ErrNotRequested)
			}
			iss, _ := p["iss"].(string)
			if iss == "" {
				return nil, fmt.Errorf("%w: SD-JWT VC needs iss", ErrInvalid)
			}
			kid, _ := h["kid"].(string)
			alg, _ := h["alg"].(string)
			var err error
			if key, err = v.key(ctx, iss, kid, alg, RelationshipAssertion); err != nil {
				return nil, err
			}
			return key.pub, nil
		},
		Now:               v.cfg.Now,
		Leeway:            v.cfg.Leeway,
		RequireKeyBinding: opts.RequireKeyBinding,
		Audience:          opts.Audience,
		Nonce:             opts.Nonce,
		MaxAge:            v.cfg.KBMaxAge,
	})
	if err != nil {
		return nil, mapSDJWTErr(err)
	}
	v.remember(key)
	vct, _ := res.Claims["vct"].(string)
	if vct == "" {
		return nil, fmt.Errorf("%w: SD-JWT VC needs a vct", ErrInvalid)
	}
	iss, _ := res.Claims["iss"].(string)
	acc, err := v.cfg.Trust.Accreditation(iss)
	if err != nil {
		return nil, err
	}
	var subs []string
	if sub, ok := res.Claims["sub"].(string); ok {
		subs = append(subs, sub)
	}
	if err := acc.Allows([]string{vct}, subs, []map[string]any{res.Claims}); err != nil {
		return nil, err
	}
	if st, ok := res.Claims["status"]; ok && !v.cfg.SkipStatus {
		uri, idx, err := tokenStatusRef(st)
		if err != nil {
			return nil, err
		}
		if err := v.cfg.Status.CheckToken(ctx, acc.statusIssuer(true), uri, idx); err != nil {
			return nil, err
		}
	}
	// After the checks above, so that what they refuse keeps its error.
	if err := res.CheckClear(clearSDJWTVC); err != nil {
		return nil, mapSDJWTErr(err)
	}
	// A vct in the clear was checked before the key was resolved.
	if opts.VCTs != nil && !slices.Contains(opts.VCTs, vct) {
		return nil, fmt.Errorf("%w: vct", ErrNotRequested)
	}
	return res, nil
}

// tokenStatusRef reads {"status_list": {"idx": n, "uri": "..."}}.
func tokenStatusRef(st any) (string, int, error) {
	m, _ := st.(map[string]any)
	sl, _ := m["status_list"].(map[string]any)
	uri, _ := sl["uri"].(string)
	var idx int64 = -1
	if n, ok := sl["idx"].(json.Number); ok {
		idx, _ = n.Int64()
	} else if f, ok := sl["idx"].(float64); ok && f == float64(int64(f)) {
		idx = int64(f)
	}
	if uri == "" || idx < 0 || idx >= 1<<31 {
		return "", 0, fmt.Errorf("%w: status.status_list needs idx and uri", ErrInvalid)
	}
	return uri, int(idx), nil
}

// mapSDJWTErr maps sdjwt sentinels onto this package's, keeping both in
// the chain.
func mapSDJWTErr(err error) error {
	for _, m := range []struct{ from, to error }{
		{sdjwt.ErrAlgorithm, ErrAlgorithm}, {sdjwt.ErrType, ErrType}, {sdjwt.ErrSignature, ErrSignature},
		{sdjwt.ErrExpired, ErrExpired}, {sdjwt.ErrNotYetValid, ErrNotYetValid}, {sdjwt.ErrNotDisclosable, ErrInvalid},
	} {
		if errors.Is(err, m.from) && !errors.Is(err, sdjwt.ErrKeyBinding) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	for _, keep := range []error{ErrNotRequested, ErrResolve, ErrRegionSuspended, ErrUnknownKey, ErrIssuerMismatch, ErrInvalid, ErrUnsupported, ErrAlgorithm, ErrType} {
		if errors.Is(err, keep) {
			return err
		}
	}
	if errors.Is(err, sdjwt.ErrKeyBinding) || errors.Is(err, sdjwt.ErrNoKeyBinding) {
		return fmt.Errorf("%w: %w", ErrChallenge, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// EnvelopeVerifier verifies credentials secured in one media type
// besides the JOSE ones (application/vc+cose, ...); both functions are
// required. content is the data: URL's (base64-decoded when flagged).
type EnvelopeVerifier struct {
	// Verify verifies a credential with v, whose key resolution, trust and
	// status checking it uses.
	Verify func(ctx context.Context, v *Verifier, content []byte) (*Verified, error)
	// Read returns the credential content secures as Verify would (its
	// Format and Credential), verifying nothing: the sender's word, which
	// a presentation's verifier reads to refuse another's credential
	// before its issuer's key is resolved (CheckPresentedSubject).
	Read func(content []byte) (*Verified, error)
}

// knownMediaType reports whether VerifyToken takes media type mt.
func (v *Verifier) knownMediaType(mt string) bool {
	_, ok := v.cfg.Envelopes[mt]
	return joseMediaType(mt) || ok
}

// Verified is the outcome of verifying one secured credential.
type Verified struct {
	Format     string // "vc+jwt", "vc+sd-jwt" or "dc+sd-jwt"
	Issuer     string
	Credential map[string]any // the credential, or the processed SD-JWT VC claims
	// CredentialJSON, when not nil, is Credential as strictjson.Marshal
	// encodes it: the bytes signed (a vc+jwt's payload), which were in
	// that form already. An answer may send them instead of encoding
	// Credential again. Read only: Credential's strings and member names
	// are cut from these bytes, not copied (strictjson.ObjectCanonical),
	// so writing to them would change Credential.
	CredentialJSON []byte
}

// VerifyToken verifies a vc+jwt or an SD-JWT VC given as a compact token,
// a data: URL or an enveloped credential object, and a vc+sd-jwt given as
// a data: URL or an envelope. SD-JWT VCs presented
// here are checked without a required key binding (use VerifySDJWT for
// presentations to a relying party).
func (v *Verifier) VerifyToken(ctx context.Context, input any) (*Verified, error) {
	mediaType, token, err := v.tokenOf(input)
	if err != nil {
		return nil, err
	}
	if ev, ok := v.cfg.Envelopes[mediaType]; ok {
		return ev.Verify(ctx, v, []byte(token))
	}
	switch mediaType {
	case MediaTypeVCJWT:
		c, err := v.VerifyCredential(ctx, token)
		if err != nil {
			return nil, err
		}
		return &Verified{Format: TypVCJWT, Issuer: c.Issuer, Credential: c.Map(), CredentialJSON: c.canonical}, nil
	case MediaTypeVCSDJWT:
		c, err := v.VerifyVCSDJWT(ctx, token)
		if err != nil {
			return nil, err
		}
		return &Verified{Format: TypVCSDJWT, Issuer: c.Issuer, Credential: c.Map()}, nil
	case MediaTypeSDJWT:
		r, err := v.VerifySDJWT(ctx, token, SDJWTOptions{})
		if err != nil {
			return nil, err
		}
		iss, _ := r.Claims["iss"].(string)
		return &Verified{Format: TypSDJWTVC, Issuer: iss, Credential: r.Claims}, nil
	}
	return nil, fmt.Errorf("%w: %s is not a credential", ErrUnsupported, mediaType)
}

// tokenOf reads VerifyToken's input: its media type and token (or other
// content).
func (v *Verifier) tokenOf(input any) (mediaType, token string, err error) {
	switch t := input.(type) {
	case string:
		if strings.HasPrefix(t, "data:") {
			return parseDataURL(t, v.knownMediaType)
		}
		if strings.Contains(t, "~") {
			return MediaTypeSDJWT, t, nil
		}
		return MediaTypeVCJWT, t, nil
	case map[string]any:
		return unenvelope(t, v.knownMediaType)
	}
	return "", "", fmt.Errorf("%w: a credential must be an enveloped credential object or a token string", ErrInvalid)
}

// CheckPresentedSubject checks, on a presented credential as sent (input
// as VerifyToken takes it), what CheckHolderSubject checks on a verified
// one, verifying nothing: so that another's credential in a presentation
// is refused (ErrHolderMismatch) before its issuer's key is resolved
// (for a did:web or https issuer, a fetch from the host it names), its
// signature or status checked. Everything the subject binding reads is
// there before verification: the subject ids (a vc+jwt's or vc+cose's
// payload; an SD-JWT's, its disclosures matched to their digests, as its
// verification processes them) and whether a cnf is present. What needs
// a key comes after: that the signature covers these claims (the
// credential's verification, after which the caller checks the binding
// again on the verified claims) and that the cnf names the key that
// signed the presentation (CheckHolderBinding, once the holder's key is
// resolved). A credential it cannot read is not refused here: its
// verification refuses it, with the error of its form.
func (v *Verifier) CheckPresentedSubject(input any, holder string) error {
	r, err := v.readToken(input)
	if err != nil {
		return nil
	}
	return boundToHolder(r, holder)
}

// CheckPresentedWithoutKey is CheckPresentedSubject for a presentation
// whose verification yields no holder's key (a Data Integrity
// presentation): a credential bound to a key (cnf) is refused as well
// (ErrHolderMismatch), as CheckHolderBinding with no key refuses it once
// verified, since nothing can confirm it; refused as sent, its issuer's
// key is not resolved for it.
func (v *Verifier) CheckPresentedWithoutKey(input any, holder string) error {
	r, err := v.readToken(input)
	if err != nil {
		return nil
	}
	return CheckHolderBinding(r, holder, nil)
}

// readToken reads a credential as VerifyToken would verify it, without
// verifying anything: its Format and claims (an SD-JWT's with its
// disclosures processed).
func (v *Verifier) readToken(input any) (*Verified, error) {
	mediaType, token, err := v.tokenOf(input)
	if err != nil {
		return nil, err
	}
	if ev, ok := v.cfg.Envelopes[mediaType]; ok {
		return ev.Read([]byte(token))
	}
	format := map[string]string{MediaTypeVCJWT: TypVCJWT, MediaTypeVCSDJWT: TypVCSDJWT, MediaTypeSDJWT: TypSDJWTVC}[mediaType]
	if format == "" {
		return nil, fmt.Errorf("%w: %s is not a credential", ErrUnsupported, mediaType)
	}
	if format == TypVCJWT {
		jws, err := jose.Parse(token, v.cfg.Algorithms, MaxDocument)
		if err != nil {
			return nil, err
		}
		return &Verified{Format: format, Credential: jws.Payload}, nil
	}
	split, err := sdjwt.Split(token)
	if err != nil {
		return nil, err
	}
	jws, err := jose.Parse(split.JWT, v.cfg.Algorithms, MaxDocument)
	if err != nil {
		return nil, err
	}
	claims, err := sdjwt.Process(jws.Payload, split.Disclosures)
	if err != nil {
		return nil, err
	}
	return &Verified{Format: format, Credential: claims}, nil
}
