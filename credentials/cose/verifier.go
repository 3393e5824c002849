package cose

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/trustid-cn/trustid/credentials"
)

// Verifier verifies vc+cose and vp+cose. It is safe for concurrent use.
type Verifier struct {
	cv    *credentials.Verifier
	allow []Algorithm
}

// NewVerifier returns a Verifier that accepts the algorithms named in
// algorithms ("ES256", "ES384", "ES512", "EdDSA", "SM2"; at least one, no other)
// and leaves key resolution, validity, accreditation and status to cv,
// which checks them as it does for vc+jwt.
func NewVerifier(cv *credentials.Verifier, algorithms []string) (*Verifier, error) {
	if cv == nil {
		return nil, errors.New("cose: verifier needs a credentials.Verifier")
	}
	if len(algorithms) == 0 {
		return nil, errors.New("cose: verifier needs an algorithm allow-list")
	}
	v := &Verifier{cv: cv}
	for _, name := range algorithms {
		a, ok := algNames[name]
		if !ok {
			return nil, fmt.Errorf("cose: unknown algorithm %q (want ES256, ES384, ES512, EdDSA or SM2)", name)
		}
		v.allow = append(v.allow, a)
	}
	return v, nil
}

// issuerOf reads a credential's issuer (a URL, or an object with an id).
func issuerOf(doc map[string]any) (string, error) {
	switch iss := doc["issuer"].(type) {
	case string:
		return iss, nil
	case map[string]any:
		if id, ok := iss["id"].(string); ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: issuer must be a URL or an object with an id", credentials.ErrInvalid)
}

// VerifyCredential verifies an application/vc+cose: the COSE_Sign1 is
// well formed and its alg allowed and protected (see parse), its CWT
// claims, when it has them, hold (iss the issuer, exp and nbf), the kid
// resolves to a key of the credential's issuer, of the alg, whose
// signature holds; then the credentials.Verifier checks the document as a
// vc+jwt payload (data model, validFrom/validUntil, accreditation,
// status).
func (v *Verifier) VerifyCredential(ctx context.Context, data []byte) (*credentials.Credential, error) {
	m, err := parse(data, MediaTypeVC, v.allow)
	if err != nil {
		return nil, err
	}
	iss, err := issuerOf(m.payload)
	if err != nil {
		return nil, err
	}
	if err := m.checkClaims(v.cv, iss); err != nil {
		return nil, err
	}
	if err := credentials.CheckKid(iss, m.kid, m.claims.iss); err != nil {
		return nil, err
	}
	pub, remember, err := v.cv.SignerKey(ctx, iss, m.kid, false)
	if err != nil {
		return nil, err
	}
	if err := m.verify(pub); err != nil {
		return nil, err
	}
	remember()
	return v.cv.CheckCredential(ctx, m.payload)
}

// SignPresentation secures a presentation as application/vp+cose for a
// verifier's challenge and domain, as credentials.SignPresentation does
// for vp+jwt: nonce, aud and iat members are added to the payload, and kid
// must be a DID URL of the holder.
func SignPresentation(p map[string]any, kid string, opts credentials.PresentOptions, key crypto.Signer) ([]byte, error) {
	pres, err := credentials.NewPresentation(p)
	if err != nil {
		return nil, err
	}
	if pres.Holder == "" {
		return nil, fmt.Errorf("%w: holder must be a DID", credentials.ErrInvalidPresentation)
	}
	if err := credentials.CheckKid(pres.Holder, kid, nil); err != nil {
		return nil, err
	}
	if opts.Challenge == "" || opts.Domain == "" {
		return nil, fmt.Errorf("%w: a presentation needs the verifier's challenge and domain", credentials.ErrChallenge)
	}
	if opts.IssuedAt.IsZero() {
		opts.IssuedAt = time.Now()
	}
	doc := make(map[string]any, len(p)+3)
	for k, val := range p {
		doc[k] = val
	}
	doc["nonce"] = opts.Challenge
	doc["aud"] = opts.Domain
	doc["iat"] = opts.IssuedAt.Unix()
	return Sign(doc, MediaTypeVP, kid, key)
}

// VerifyPresentation verifies an application/vp+cose for a verifier's
// challenge and domain (both required) as credentials.Verifier does a
// vp+jwt: the kid is a DID URL of the holder, whose key signed; nonce,
// aud and iat match, and the CWT claims exp and nbf, when present; every credential in it is an enveloped credential
// (vc+cose, vc+jwt or another form VerifyToken takes) that verifies and is
// bound to the holder.
func (v *Verifier) VerifyPresentation(ctx context.Context, data []byte, challenge, domain string) (*credentials.PresentationResult, error) {
	if challenge == "" || domain == "" {
		return nil, fmt.Errorf("%w: a challenge and a domain are required to verify a presentation", credentials.ErrChallenge)
	}
	m, err := parse(data, MediaTypeVP, v.allow)
	if err != nil {
		return nil, err
	}
	p, err := credentials.NewPresentation(m.payload)
	if err != nil {
		return nil, err
	}
	// Everything that needs no key is checked before the holder's key is
	// resolved (for a did:web or https holder, a fetch from the host it
	// names), as for a vp+jwt: the presentation's signature, and the
	// credentials bound by key (cnf), come last.
	if err := v.cv.CheckContext(m.payload); err != nil {
		return nil, err
	}
	if n, _ := m.payload["nonce"].(string); n != challenge {
		return nil, fmt.Errorf("%w: nonce does not match the challenge", credentials.ErrChallenge)
	}
	if !slices.Contains(audiences(m.payload["aud"]), domain) {
		return nil, fmt.Errorf("%w: aud does not match the domain", credentials.ErrChallenge)
	}
	if err := v.cv.CheckPresentationTime(m.payload["iat"]); err != nil {
		return nil, err
	}
	if err := m.checkClaims(v.cv, ""); err != nil {
		return nil, err
	}
	if err := credentials.CheckKid(p.Holder, m.kid, m.claims.iss); err != nil {
		return nil, err
	}
	if err := p.CheckEnveloped(); err != nil {
		return nil, err
	}
	// Every credential, as sent, is about the holder before any is
	// verified (its issuer's key resolved); the binding is checked again
	// on the verified claims.
	for i, c := range p.Credentials {
		if err := v.checkPresentedSubject(c, p.Holder); err != nil {
			return nil, fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
	}
	res := &credentials.PresentationResult{Holder: p.Holder, Presentation: m.payload}
	for i, c := range p.Credentials {
		r, err := v.VerifyToken(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
		if err := credentials.CheckHolderSubject(r, p.Holder); err != nil {
			return nil, fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
		res.Credentials = append(res.Credentials, r)
	}
	holderPub, remember, err := v.cv.SignerKey(ctx, p.Holder, m.kid, true)
	if err != nil {
		return nil, err
	}
	if err := m.verify(holderPub); err != nil {
		return nil, err
	}
	remember()
	for i, r := range res.Credentials {
		if err := credentials.CheckHolderBinding(r, p.Holder, holderPub); err != nil {
			return nil, fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
	}
	return res, nil
}

func audiences(aud any) []string {
	switch a := aud.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// checkPresentedSubject is credentials.Verifier.CheckPresentedSubject
// for a credential VerifyToken takes: a vc+cose's payload as sent (read
// as VerifyCredential reads it, nothing verified) names the holder as its
// subject, or the credential is a bearer one; another form goes to the
// credentials.Verifier. One that cannot be read is left to VerifyToken.
func (v *Verifier) checkPresentedSubject(c any, holder string) error {
	data, err := v.coseContent(c)
	if data == nil && err == nil {
		return v.cv.CheckPresentedSubject(c, holder)
	}
	r, err := read(data, v.allow)
	if err != nil {
		return nil // VerifyToken refuses it
	}
	return credentials.CheckHolderSubject(r, holder)
}

// read returns the credential of a vc+cose as VerifyCredential would,
// verifying nothing.
func read(data []byte, allow []Algorithm) (*credentials.Verified, error) {
	m, err := parse(data, MediaTypeVC, allow)
	if err != nil {
		return nil, err
	}
	return &credentials.Verified{Format: FormatVCCOSE, Credential: m.payload}, nil
}

// FormatVCCOSE is the Verified.Format of a vc+cose.
const FormatVCCOSE = "vc+cose"

// VerifyToken verifies a credential given as an enveloped credential
// object or a data: URL: application/vc+cose here, every other media
// type by the credentials.Verifier (vc+jwt, SD-JWT). A compact token
// string goes to the credentials.Verifier too.
func (v *Verifier) VerifyToken(ctx context.Context, input any) (*credentials.Verified, error) {
	data, err := v.coseContent(input)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return v.cv.VerifyToken(ctx, input)
	}
	c, err := v.VerifyCredential(ctx, data)
	if err != nil {
		return nil, err
	}
	return &credentials.Verified{Format: FormatVCCOSE, Issuer: c.Issuer, Credential: c.Map()}, nil
}

// coseContent returns the COSE_Sign1 of a vc+cose given as an enveloped
// credential object or a data: URL, and nil for any other input (for
// the credentials.Verifier).
func (v *Verifier) coseContent(input any) ([]byte, error) {
	var mediaType string
	var data []byte
	var err error
	switch t := input.(type) {
	case string:
		if !isCOSEDataURL(t) {
			return nil, nil
		}
		mediaType, data, err = ParseDataURL(t)
	case map[string]any:
		id, _ := t["id"].(string)
		if !isCOSEDataURL(id) {
			return nil, nil
		}
		mediaType, data, err = Unenvelope(t)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if mediaType != MediaTypeVC {
		return nil, fmt.Errorf("%w: %s is not a credential", credentials.ErrUnsupported, mediaType)
	}
	return data, nil
}

// EnvelopeVerifier returns the credentials.EnvelopeVerifier of
// application/vc+cose for credentials.VerifierConfig.Envelopes: it
// verifies the COSE_Sign1 (the data: URL's decoded content) with a
// Verifier over the credentials.Verifier it is given, accepting the
// algorithms named (see NewVerifier), so that VerifyToken takes vc+cose.
func EnvelopeVerifier(algorithms []string) (credentials.EnvelopeVerifier, error) {
	for _, name := range algorithms {
		if _, ok := algNames[name]; !ok {
			return credentials.EnvelopeVerifier{}, fmt.Errorf("cose: unknown algorithm %q (want ES256, ES384, ES512, EdDSA or SM2)", name)
		}
	}
	if len(algorithms) == 0 {
		return credentials.EnvelopeVerifier{}, errors.New("cose: verifier needs an algorithm allow-list")
	}
	algorithms = slices.Clone(algorithms)
	allow := make([]Algorithm, len(algorithms))
	for i, name := range algorithms {
		allow[i] = algNames[name]
	}
	return credentials.EnvelopeVerifier{
		Verify: func(ctx context.Context, cv *credentials.Verifier, content []byte) (*credentials.Verified, error) {
			v, err := NewVerifier(cv, algorithms)
			if err != nil {
				return nil, err
			}
			c, err := v.VerifyCredential(ctx, content)
			if err != nil {
				return nil, err
			}
			return &credentials.Verified{Format: FormatVCCOSE, Issuer: c.Issuer, Credential: c.Map()}, nil
		},
		Read: func(content []byte) (*credentials.Verified, error) { return read(content, allow) },
	}, nil
}
