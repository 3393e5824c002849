package credentials

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
)

// ErrHolderMismatch: a credential in a presentation belongs to someone
// else than the presentation's holder (its subject id, or the key it is
// bound to).
var ErrHolderMismatch = errors.New("credentials: credential not bound to the holder")

// Presentation is a validated W3C VC 2.0 presentation.
type Presentation struct {
	ID     string
	Types  []string
	Holder string
	// Credentials are the verifiableCredential items as given.
	Credentials []map[string]any
}

// NewPresentation validates m as a presentation.
func NewPresentation(m map[string]any) (*Presentation, error) {
	p := &Presentation{}
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
		if p.ID, err = URLString(v); err != nil {
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
	if field, err := checkReserved(m); err != nil {
		return nil, inv("%s: %v", field, err)
	}
	return p, nil
}

// CheckEnveloped checks that every credential of p is secured
// (CheckEnvelope). A verifier checks them all before it verifies any (a
// key resolution, a signature, a status list), so that a presentation
// refused for one costs nothing more.
func (p *Presentation) CheckEnveloped() error {
	for i, c := range p.Credentials {
		if err := CheckEnvelope(c); err != nil {
			return fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
	}
	return nil
}

// CheckEnvelope checks that a presented credential is an
// EnvelopedVerifiableCredential with an id (its data: URL), which
// VerifyToken then reads.
func CheckEnvelope(c map[string]any) error {
	if _, ok := c["id"].(string); !ok || !slices.Contains(mustTypes(c), TypeEnvelopedCredential) {
		return fmt.Errorf("%w: not secured (want an EnvelopedVerifiableCredential)", ErrInvalidPresentation)
	}
	return nil
}

// DefaultVPMaxAge is the default of VerifierConfig.VPMaxAge: how old a
// vp+jwt may be, from its iat.
const DefaultVPMaxAge = 5 * time.Minute

// PresentOptions bind a vp+jwt to one verifier and one moment.
type PresentOptions struct {
	// Challenge (the nonce claim) and Domain (aud) are the verifier's;
	// both are required.
	Challenge, Domain string
	// IssuedAt is the iat claim; zero means now.
	IssuedAt time.Time
}

// SignPresentation secures a presentation as vp+jwt for a verifier's
// challenge (nonce) and domain (aud), with iat, signed by the holder's key
// kid: a DID URL of the presentation's holder (a DID).
func SignPresentation(p map[string]any, kid string, opts PresentOptions, signer crypto.Signer) (string, error) {
	if opts.IssuedAt.IsZero() {
		opts.IssuedAt = time.Now()
	}
	doc, err := presentationPayload(p, kid, opts)
	if err != nil {
		return "", err
	}
	return SignJWT(doc, TypVPJWT, kid, signer)
}

// holderKid checks that kid names a verification method of the holder
// (a DID URL of the holder's DID, a method of the holder's https
// controlled identifier document, or a fragment relative to either) and
// returns it absolute.
func holderKid(holder, kid string) (string, error) {
	if strings.HasPrefix(kid, "#") {
		kid = holder + kid
	}
	if !strings.HasPrefix(holder, "did:") {
		if doc, err := ControllerDocumentURL(kid); !urlMethod(holder+"#") || err != nil || doc != holder {
			return "", fmt.Errorf("%w: holder must be a DID or an https controlled identifier, and kid one of its methods", ErrInvalidPresentation)
		}
		return kid, nil
	}
	did, frag, err := splitDIDURL(kid)
	if err != nil || frag == "" {
		return "", fmt.Errorf("%w: kid must be a DID URL of the holder's key", ErrIssuerMismatch)
	}
	if did != holder {
		return "", fmt.Errorf("%w: kid is a key of another DID than the holder", ErrIssuerMismatch)
	}
	return kid, nil
}

// PresentationResult is a verified presentation and its credentials.
type PresentationResult struct {
	Holder       string
	Presentation map[string]any
	Credentials  []*Verified
}

// VerifyPresentation verifies a vp+jwt for a verifier's challenge and
// domain, both required: the presentation names a holder (a DID); the
// JOSE kid is a verification method of that DID, whose key signed it;
// nonce equals the challenge and aud the domain; iat is present, not in
// the future and at most VPMaxAge old; every credential in it is an
// enveloped, verifiable credential bound to the holder (boundToHolder):
// its cnf.jwk is the key that signed the presentation, or its subject id
// (credentialSubject.id, an SD-JWT VC's sub) is the holder; an
// SD-JWT-secured credential with neither is refused, a bearer credential
// in the clear taken. Replays within VPMaxAge are the caller's to
// refuse, by issuing each challenge once.
func (v *Verifier) VerifyPresentation(ctx context.Context, token, challenge, domain string) (*PresentationResult, error) {
	if challenge == "" || domain == "" {
		return nil, fmt.Errorf("%w: a challenge and a domain are required to verify a presentation", ErrChallenge)
	}
	// Everything that needs no key is checked before the holder's key is
	// resolved, which for a did:web or https holder is a fetch from the
	// host it names: the form, the challenge and domain, iat, and the
	// credentials (each secured and, as sent, about the holder, all
	// before any is verified; then their issuers' accreditation and keys,
	// signatures, status, and the binding again). The presentation's
	// signature, and the credentials bound by key (cnf), are checked
	// last.
	jws, err := v.parseJWS(token, TypVPJWT, CtyVP)
	if err != nil {
		return nil, err
	}
	payload := jws.Payload
	h, err := idOf(payload["holder"], true)
	if err != nil {
		return nil, keyErr(fmt.Errorf("%w: holder: %v", ErrInvalidPresentation, err))
	}
	if err := CheckKid(h, jws.Header.String("kid"), payload["iss"]); err != nil {
		return nil, err
	}
	if _, err := holderKid(h, jws.Header.String("kid")); err != nil {
		return nil, keyErr(err)
	}
	p, err := NewPresentation(payload)
	if err != nil {
		return nil, err
	}
	if err := checkJOSEClaimNames(payload, ErrInvalidPresentation); err != nil {
		return nil, err
	}
	if err := v.CheckContext(payload); err != nil {
		return nil, err
	}
	if n, _ := payload["nonce"].(string); n != challenge {
		return nil, fmt.Errorf("%w: nonce does not match the challenge", ErrChallenge)
	}
	if !audienceHas(payload["aud"], domain) {
		return nil, fmt.Errorf("%w: aud does not match the domain", ErrChallenge)
	}
	if err := v.checkIssuedAt(payload["iat"]); err != nil {
		return nil, err
	}
	res := &PresentationResult{Holder: p.Holder, Presentation: payload}
	if res.Credentials, err = v.presentedCredentials(ctx, p); err != nil {
		return nil, err
	}
	holderPub, err := v.verifySigned(ctx, jws, h, RelationshipAuthentication)
	if err != nil {
		return nil, err
	}
	if err := boundToKey(res.Credentials, holderPub); err != nil {
		return nil, err
	}
	return res, nil
}

// checkIssuedAt checks a presentation's iat: present, a NumericDate, not
// in the future and not older than VPMaxAge (both with Leeway).
func (v *Verifier) checkIssuedAt(iat any) error {
	var sec int64
	switch n := iat.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return fmt.Errorf("%w: iat is not a number", ErrInvalidPresentation)
		}
		sec = int64(f)
	case float64:
		sec = int64(n)
	case nil:
		return fmt.Errorf("%w: a presentation needs iat", ErrInvalidPresentation)
	default:
		return fmt.Errorf("%w: iat is not a number", ErrInvalidPresentation)
	}
	at, now := time.Unix(sec, 0), v.cfg.Now()
	if at.After(now.Add(v.cfg.Leeway)) {
		return fmt.Errorf("%w: presentation iat is in the future", ErrNotYetValid)
	}
	if now.Sub(at) > v.cfg.VPMaxAge+v.cfg.Leeway {
		return fmt.Errorf("%w: presentation older than %v", ErrExpired, v.cfg.VPMaxAge)
	}
	return nil
}

// boundToHolder checks that a presented credential is the holder's, by
// evidence only: its cnf, present in any format, names the key that
// signed the presentation (boundToKey checks it, once that key is
// resolved), or its subject's id (an SD-JWT VC's sub, a W3C credential's
// credentialSubject.id), in the clear or disclosed, is the holder. An
// SD-JWT-secured credential (dc+sd-jwt, vc+sd-jwt) with neither is
// refused, as one bound to someone else is: a withheld sub or id cannot
// be told from none. One secured in the clear with neither is a bearer
// credential, which VC 2.0 allows (its privacy considerations, "Bearer
// Credentials"), and is taken as such. An SD-JWT VC with cnf is bound by
// it alone (its sub need not name the holder: draft-ietf-oauth-sd-jwt-vc,
// §3.2.2.2: "There is no requirement for a binding to exist between sub
// and cnf claims"); in a W3C credential every subject id, as well, must
// be the holder.
func boundToHolder(r *Verified, holder string) error {
	_, bound := r.Credential["cnf"]
	if bound && r.Format == TypSDJWTVC {
		return nil
	}
	var ids []any
	if r.Format == TypSDJWTVC {
		if sub, ok := r.Credential["sub"]; ok {
			ids = append(ids, sub)
		}
	} else {
		subjects, _ := objects(r.Credential["credentialSubject"], false)
		for _, s := range subjects {
			if id, ok := s["id"]; ok {
				ids = append(ids, id)
			}
		}
	}
	for _, id := range ids {
		if id != holder {
			return fmt.Errorf("%w: the credential's subject is not the presentation's holder", ErrHolderMismatch)
		}
		bound = true
	}
	if !bound && (r.Format == TypSDJWTVC || r.Format == TypVCSDJWT) {
		return fmt.Errorf("%w: the credential names neither the holder (subject id) nor its key (cnf)", ErrHolderMismatch)
	}
	return nil
}

// boundToKey checks that every presented credential with a cnf names
// holderPub, the key that signed the presentation (boundToHolder).
func boundToKey(creds []*Verified, holderPub crypto.PublicKey) error {
	for i, r := range creds {
		if cnf, ok := r.Credential["cnf"]; ok {
			if err := sameKey(cnf, holderPub); err != nil {
				return fmt.Errorf("verifiableCredential[%d]: %w", i, err)
			}
		}
	}
	return nil
}

// sameKey checks that cnf.jwk (read as sdjwt.ConfirmationKey reads it for
// a KB-JWT) is pub, by RFC 7638 thumbprint.
func sameKey(cnf any, pub crypto.PublicKey) error {
	bound, err := sdjwt.ConfirmationKey(cnf)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHolderMismatch, err)
	}
	bj, err1 := gm.NewJWK(bound, "")
	want, err2 := bj.Thumbprint()
	hj, err3 := gm.NewJWK(pub, "")
	got, err4 := hj.Thumbprint()
	if err := errors.Join(err1, err2, err3, err4); err != nil || want != got {
		return fmt.Errorf("%w: the credential is bound to another key than the one that signed the presentation", ErrHolderMismatch)
	}
	return nil
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
