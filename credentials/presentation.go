package credentials

import (
	"context"
	"crypto"
	"fmt"
	"slices"
)

// Presentation is a validated W3C VC 2.0 presentation.
type Presentation struct {
	raw    map[string]any
	ID     string
	Types  []string
	Holder string
	// Credentials are the verifiableCredential items as given.
	Credentials []map[string]any
}

// NewPresentation validates m as a presentation.
func NewPresentation(m map[string]any) (*Presentation, error) {
	p := &Presentation{raw: m}
	inv := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPresentation}, args...)...)
	}
	if err := checkContext(m["@context"]); err != nil {
		return nil, inv("%v", err)
	}
	var err error
	if p.Types, err = typeList(m["type"]); err != nil {
		return nil, inv("type: %v", err)
	}
	if !slices.Contains(p.Types, TypePresentation) {
		return nil, inv("type must include %q", TypePresentation)
	}
	if v, ok := m["id"]; ok {
		if p.ID, err = urlString(v); err != nil {
			return nil, inv("id: %v", err)
		}
	}
	if p.Holder, err = idOf(m["holder"], false); err != nil {
		return nil, inv("holder: %v", err)
	}
	if v, ok := m["verifiableCredential"]; ok {
		if p.Credentials, err = objects(v, true); err != nil {
			return nil, inv("verifiableCredential: %v", err)
		}
	}
	return p, nil
}

// Map returns the presentation's JSON object.
func (p *Presentation) Map() map[string]any { return p.raw }

// SignPresentation secures a presentation as vp+jwt for a verifier's
// challenge (nonce) and domain (aud), signed by the holder's key kid (a
// DID URL).
func SignPresentation(p map[string]any, kid, challenge, domain string, signer crypto.Signer) (string, error) {
	if _, err := NewPresentation(p); err != nil {
		return "", err
	}
	doc := make(map[string]any, len(p)+2)
	for k, v := range p {
		doc[k] = v
	}
	if challenge != "" {
		doc["nonce"] = challenge
	}
	if domain != "" {
		doc["aud"] = domain
	}
	return SignJWT(doc, TypVPJWT, kid, signer)
}

// PresentationResult is a verified presentation and its credentials.
type PresentationResult struct {
	Holder       string
	Presentation map[string]any
	Credentials  []*Verified
}

// VerifyPresentation verifies a vp+jwt: the holder's key (kid, a DID URL
// controlled by the holder when one is named) signed it, nonce equals the
// challenge and aud the domain when the verifier gives them, and every
// credential in it is an enveloped, verifiable credential.
func (v *Verifier) VerifyPresentation(ctx context.Context, token, challenge, domain string) (*PresentationResult, error) {
	_, payload, err := v.verifyJWS(ctx, token, TypVPJWT, CtyVP, func(m map[string]any) (string, error) {
		h, err := idOf(m["holder"], false)
		if err != nil {
			return "", fmt.Errorf("%w: holder: %v", ErrInvalidPresentation, err)
		}
		return h, nil
	})
	if err != nil {
		return nil, err
	}
	p, err := NewPresentation(payload)
	if err != nil {
		return nil, err
	}
	if challenge != "" {
		if n, _ := payload["nonce"].(string); n != challenge {
			return nil, fmt.Errorf("%w: nonce does not match the challenge", ErrChallenge)
		}
	}
	if domain != "" && !audienceHas(payload["aud"], domain) {
		return nil, fmt.Errorf("%w: aud does not match the domain", ErrChallenge)
	}
	res := &PresentationResult{Holder: p.Holder, Presentation: payload}
	for i, c := range p.Credentials {
		if _, ok := c["id"].(string); !ok || !slices.Contains(mustTypes(c), TypeEnvelopedCredential) {
			return nil, fmt.Errorf("%w: verifiableCredential[%d] is not secured (want an EnvelopedVerifiableCredential)", ErrInvalidPresentation, i)
		}
		r, err := v.VerifyToken(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
		res.Credentials = append(res.Credentials, r)
	}
	return res, nil
}

func mustTypes(m map[string]any) []string {
	t, _ := typeList(m["type"])
	return t
}

func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, x := range a {
			if x == want {
				return true
			}
		}
	}
	return false
}
