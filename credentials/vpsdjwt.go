package credentials

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"time"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
)

// TypVPSDJWT is the typ of a W3C presentation secured with SD-JWT
// (VC-JOSE-COSE, application/vp+sd-jwt).
const TypVPSDJWT = "vp+sd-jwt"

// SignPresentationSDJWT secures a presentation as vp+sd-jwt (VC-JOSE-COSE,
// "Securing Verifiable Presentations with SD-JWT"): an SD-JWT whose
// issuer-signed JWT, typ vp+sd-jwt and cty vp, is signed by the holder's
// key kid (a DID URL of the presentation's holder) over the presentation
// with the verifier's challenge (nonce), domain (aud) and iat (zero:
// now), the claims frame names concealed (nil: none; not those
// clearVPSDJWT names, nor top-level decoys). The presentation's
// credentials must be enveloped. It returns the SD-JWT with every
// disclosure, to which a holder may append a KB-JWT
// (sdjwt.SDJWT.Present).
func SignPresentationSDJWT(p map[string]any, kid string, opts PresentOptions, frame *sdjwt.Frame, rand io.Reader, signer crypto.Signer) (string, error) {
	if opts.IssuedAt.IsZero() {
		opts.IssuedAt = time.Now()
	}
	doc, err := presentationPayload(p, kid, opts)
	if err != nil {
		return "", err
	}
	is := sdjwt.Issuer{Rand: rand}
	concealed, ds, err := is.Conceal(doc, frame)
	if err != nil {
		return "", err
	}
	if err := checkClearVP(&sdjwt.Verified{Payload: concealed, Claims: doc, Disclosures: ds}); err != nil {
		return "", err
	}
	tok, err := jose.Sign(concealed, map[string]any{"typ": TypVPSDJWT, "cty": CtyVP, "kid": kid}, signer)
	if err != nil {
		return "", err
	}
	return sdjwt.Serialize(tok, ds), nil
}

// presentationPayload checks a presentation for signing by kid and adds
// the verifier's nonce and aud and iat, as vp+jwt's payload has them.
func presentationPayload(p map[string]any, kid string, opts PresentOptions) (map[string]any, error) {
	pres, err := NewPresentation(p)
	if err != nil {
		return nil, err
	}
	if err := CheckKid(pres.Holder, kid, p["iss"]); err != nil {
		return nil, err
	}
	if _, err := holderKid(pres.Holder, kid); err != nil {
		return nil, err
	}
	if opts.Challenge == "" || opts.Domain == "" {
		return nil, fmt.Errorf("%w: a presentation needs the verifier's challenge and domain", ErrChallenge)
	}
	if opts.IssuedAt.IsZero() {
		return nil, fmt.Errorf("%w: a presentation needs its issue time", ErrInvalidPresentation)
	}
	doc := make(map[string]any, len(p)+3)
	for k, v := range p {
		doc[k] = v
	}
	doc["nonce"] = opts.Challenge
	doc["aud"] = opts.Domain
	doc["iat"] = opts.IssuedAt.Unix()
	return doc, nil
}

// clearVPSDJWT are the members of a vp+sd-jwt that must be in the clear.
// VC-JOSE-COSE §3.2.2 "Securing JSON-LD Verifiable Presentations with
// SD-JWT": implementers "SHOULD ensure that properties necessary for the
// validation and verification of a credential are NOT selectively
// disclosable"; these are the ones VerifyVPSDJWT checks: @context and type
// (the data model), nonce, aud and iat (the binding to the verifier and
// the moment), exp and nbf (validity), cnf (the KB-JWT key) and iss. The
// holder may be disclosed (the key's DID is read after the disclosures),
// and so may the credentials: one withheld is not presented.
var clearVPSDJWT = []string{"@context", "type", "nonce", "aud", "iat", "exp", "nbf", "cnf", "iss"}

// checkClearVP refuses (ErrInvalidPresentation) a vp+sd-jwt with a member
// of clearVPSDJWT given by a disclosure or holding digests, or with a
// top-level claim withheld: whoever holds the cnf key presents it, who may
// not be the holder, and a withheld nonce, aud or iat would look absent.
func checkClearVP(v *sdjwt.Verified) error {
	err := v.CheckClear(clearVPSDJWT)
	if err == nil {
		err = v.CheckNoneWithheld()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPresentation, err)
	}
	return nil
}

// VerifyVPSDJWT verifies a presentation secured with SD-JWT (VC-JOSE-COSE,
// application/vp+sd-jwt) for a verifier's challenge and domain, both
// required.
//
// The issuer-signed JWT's typ, which VC-JOSE-COSE says SHOULD be
// vp+sd-jwt, is that or absent (the media type names the format); its cty,
// when present, is vp; either may be written with application/ (RFC 7515
// §4.1.9-4.1.10); any other value is refused (ErrType). Every
// disclosure must match a digest, as for any SD-JWT; every top-level
// digest must be disclosed and the members of clearVPSDJWT be in the
// clear (ErrInvalidPresentation). The presentation,
// disclosures processed, names a holder DID; the JWT's kid is a
// verification method of it whose key signed. The presentation is bound to
// this verifier and moment either in its payload, as a vp+jwt is (nonce the
// challenge, aud the domain, iat at most VPMaxAge old), or by a KB-JWT
// (RFC 9901: signed by the presentation's cnf.jwk, nonce the challenge,
// aud the domain, a fresh iat, sd_hash over the presentation), which is
// then required for what the payload lacks; with a payload that has nonce,
// aud and iat, a KB-JWT is not checked (RFC 9901 §7.3: whether one is
// checked "MUST NOT be based on whether or not a Key Binding JWT is
// provided"). Its credentials are enveloped, verified like those of a
// vp+jwt and bound to the holder (see VerifyPresentation).
func (v *Verifier) VerifyVPSDJWT(ctx context.Context, token, challenge, domain string) (*PresentationResult, error) {
	if challenge == "" || domain == "" {
		return nil, fmt.Errorf("%w: a challenge and a domain are required to verify a presentation", ErrChallenge)
	}
	split, err := sdjwt.Split(token)
	if err != nil {
		return nil, mapSDJWTErr(err)
	}
	hdr, err := jose.ParseHeader(split.JWT, v.cfg.Algorithms)
	if err != nil {
		return nil, mapJoseErr(err)
	}
	if typ, ok := hdr["typ"]; ok && !joseMediaTypeIs(typ, TypVPSDJWT) {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrType, truncate(hdr.String("typ")), TypVPSDJWT)
	}
	if cty, ok := hdr["cty"]; ok && !joseMediaTypeIs(cty, CtyVP) {
		return nil, fmt.Errorf("%w: cty %.40v, want %q", ErrType, cty, CtyVP)
	}
	// Everything that needs no key is checked on the presentation as
	// sent, before the holder's key is resolved (for a did:web or https
	// holder, a fetch from the host it names), as for a vp+jwt; the
	// signatures, which cover these very bytes, come last.
	creds, needKB, err := v.vpSDJWTUnsigned(ctx, split, challenge, domain)
	if err != nil {
		return nil, err
	}
	var (
		key    resolvedKey
		holder string
	)
	res, err := sdjwt.Verify(token, sdjwt.VerifyOptions{
		Algorithms: v.cfg.Algorithms,
		Key: func(h map[string]any, p map[string]any) (crypto.PublicKey, error) {
			// The holder may be selectively disclosable: read it from the
			// processed, not yet verified, claims to find the key.
			claims, err := sdjwt.Process(p, split.Disclosures)
			if err != nil {
				return nil, err
			}
			kid, _ := h["kid"].(string)
			alg, _ := h["alg"].(string)
			if holder, err = idOf(claims["holder"], true); err != nil {
				return nil, fmt.Errorf("%w: holder: %v", ErrInvalidPresentation, err)
			}
			if _, err := holderKid(holder, kid); err != nil {
				return nil, err
			}
			if key, err = v.key(ctx, holder, kid, alg, RelationshipAuthentication); err != nil {
				return nil, err
			}
			return key.pub, nil
		},
		Now:               v.cfg.Now,
		Leeway:            v.cfg.Leeway,
		RequireKeyBinding: needKB,
		Audience:          domain,
		Nonce:             challenge,
		MaxAge:            v.cfg.KBMaxAge,
	})
	if err != nil {
		return nil, mapSDJWTErr(err)
	}
	v.remember(key)
	if err := checkClearVP(res); err != nil {
		return nil, err
	}
	p, err := NewPresentation(res.Claims)
	if err != nil {
		return nil, err
	}
	if p.Holder != holder {
		return nil, fmt.Errorf("%w: holder changed by the disclosures", ErrInvalidPresentation)
	}
	if err := boundToKey(creds, key.pub); err != nil {
		return nil, err
	}
	return &PresentationResult{Holder: p.Holder, Presentation: res.Claims, Credentials: creds}, nil
}

// vpSDJWTUnsigned checks a vp+sd-jwt in everything that needs no key,
// on its claims with the disclosures processed, none of it verified yet:
// the presentation's form and @context, its kid, its nonce and aud (when
// in the payload, or without a KB-JWT), its iat (likewise), and its
// credentials (presentedCredentials). It returns the credentials verified
// and whether a KB-JWT is required: when the payload lacks one of nonce,
// aud and iat, which the KB-JWT then carries. The payload decides, not
// whether a KB-JWT came (RFC 9901 §7.3 step 1: the decision "MUST NOT be
// based on whether or not a Key Binding JWT is provided by the Holder"):
// one sent with a payload that binds the presentation is not checked.
func (v *Verifier) vpSDJWTUnsigned(ctx context.Context, split *sdjwt.SDJWT, challenge, domain string) (creds []*Verified, needKB bool, err error) {
	jws, err := jose.Parse(split.JWT, v.cfg.Algorithms, MaxDocument)
	if err != nil {
		return nil, false, mapJoseErr(err)
	}
	payload, err := sdjwt.Process(jws.Payload, split.Disclosures)
	if err != nil {
		return nil, false, mapSDJWTErr(err)
	}
	p, err := NewPresentation(payload)
	if err != nil {
		return nil, false, err
	}
	if err := v.CheckContext(payload); err != nil {
		return nil, false, err
	}
	if err := CheckKid(p.Holder, jws.Header.String("kid"), payload["iss"]); err != nil {
		return nil, false, err
	}
	keyBound := split.KB != ""
	n, hasNonce := payload["nonce"]
	aud, hasAud := payload["aud"]
	iat, hasIat := payload["iat"]
	if !keyBound || hasNonce || hasAud {
		if s, _ := n.(string); s != challenge {
			return nil, false, fmt.Errorf("%w: nonce does not match the challenge", ErrChallenge)
		}
		if !audienceHas(aud, domain) {
			return nil, false, fmt.Errorf("%w: aud does not match the domain", ErrChallenge)
		}
	}
	if hasIat || !keyBound {
		if err := v.checkIssuedAt(iat); err != nil {
			return nil, false, err
		}
	}
	creds, err = v.presentedCredentials(ctx, p)
	return creds, !hasNonce || !hasAud || !hasIat, err
}

// presentedCredentials verifies the credentials of a presentation: each
// an enveloped credential (VerifyToken), bound to the holder
// (boundToHolder). Every one is checked to be enveloped (CheckEnveloped)
// and, as sent, to be about the holder (CheckPresentedSubject) before any
// is verified; the binding is checked again on the verified claims.
func (v *Verifier) presentedCredentials(ctx context.Context, p *Presentation) ([]*Verified, error) {
	if err := p.CheckEnveloped(); err != nil {
		return nil, err
	}
	for i, c := range p.Credentials {
		if err := v.CheckPresentedSubject(c, p.Holder); err != nil {
			return nil, fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
	}
	var out []*Verified
	for i, c := range p.Credentials {
		r, err := v.VerifyToken(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
		if err := boundToHolder(r, p.Holder); err != nil {
			return nil, fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}
