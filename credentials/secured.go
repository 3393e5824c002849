package credentials

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"time"
)

// Securing mechanisms kept outside this package (credentials/cose) verify
// through these: SignerKey finds the key a kid names for an issuer (or a
// holder) exactly as the JOSE paths do, and CheckCredential makes the
// checks every format shares once the signature holds.

// SignerKey resolves kid for issuer through the verifier's resolver and
// key cache. The caller checks the key against its algorithm, verifies the
// signature and only then calls remember, which caches the key (as the
// JOSE paths do: an unverified resolution takes no place in the cache).
// With holder true, issuer is a presentation's holder and kid must be a
// DID URL of it, listed in the holder's authentication relationship
// (else, as for an issuer, in assertionMethod).
func (v *Verifier) SignerKey(ctx context.Context, issuer, kid string, holder bool) (pub crypto.PublicKey, remember func(), err error) {
	relationship := RelationshipAssertion
	if holder {
		if _, err := holderKid(issuer, kid); err != nil {
			return nil, nil, err
		}
		relationship = RelationshipAuthentication
	}
	k, err := v.lookup(ctx, issuer, kid, relationship)
	if err != nil {
		return nil, nil, keyErr(err)
	}
	return k.pub, func() { v.remember(k) }, nil
}

// CheckCredential checks a credential document whose issuer's signature
// another securing mechanism verified: the data model, validFrom and
// validUntil, the issuer's accreditation for its types and its status
// entries (unless SkipStatus), as VerifyCredential does for a vc+jwt.
func (v *Verifier) CheckCredential(ctx context.Context, doc map[string]any) (*Credential, error) {
	return v.checkCredential(ctx, doc)
}

// CheckContext checks the @context of a presentation another securing
// mechanism verified with VerifierConfig.ContextCheck, as
// VerifyPresentation does for a vp+jwt (nil when none is set).
func (v *Verifier) CheckContext(doc map[string]any) error {
	if v.cfg.ContextCheck == nil {
		return nil
	}
	return v.cfg.ContextCheck(doc)
}

// CheckSignatureTimes checks when a signature another securing mechanism
// verified may be relied on, as the JOSE paths check a JWT's exp and nbf
// (with Leeway): from exp on ErrExpired, before nbf ErrNotYetValid; a
// zero time is absent. A COSE message carries them as CWT claims.
func (v *Verifier) CheckSignatureTimes(exp, nbf time.Time) error {
	now := v.cfg.Now()
	if !exp.IsZero() && !now.Before(exp.Add(v.cfg.Leeway)) {
		return fmt.Errorf("%w: the signature's exp %s has passed", ErrExpired, FormatTime(exp))
	}
	if !nbf.IsZero() && now.Add(v.cfg.Leeway).Before(nbf) {
		return fmt.Errorf("%w: the signature's nbf %s has not come", ErrNotYetValid, FormatTime(nbf))
	}
	return nil
}

// CheckPresentationTime checks a presentation's iat as VerifyPresentation
// does for a vp+jwt: present, not in the future, at most VPMaxAge old.
func (v *Verifier) CheckPresentationTime(iat any) error {
	return v.checkIssuedAt(iat)
}

// CheckHolderSubject is the part of CheckHolderBinding that needs no key
// (its subject id is the holder's, or it has a cnf, or it is a bearer
// credential in the clear), so that a presentation of another's
// credential is refused before its holder's key is resolved;
// CheckHolderBinding checks the cnf once that key is known.
func CheckHolderSubject(r *Verified, holder string) error {
	if r == nil {
		return fmt.Errorf("%w: no credential", ErrInvalidPresentation)
	}
	return boundToHolder(r, holder)
}

// CheckHolderBinding checks that a verified credential belongs to the
// holder of the presentation that carried it, signed with holderPub (see
// VerifyPresentation). A nil holderPub is a presentation whose
// verification yields no holder's key (a Data Integrity presentation): a
// credential bound to a key (cnf) is then refused, nothing confirming it.
func CheckHolderBinding(r *Verified, holder string, holderPub crypto.PublicKey) error {
	if r == nil {
		return fmt.Errorf("%w: no credential", ErrInvalidPresentation)
	}
	if err := boundToHolder(r, holder); err != nil {
		return err
	}
	if cnf, ok := r.Credential["cnf"]; ok {
		if holderPub == nil {
			return fmt.Errorf("%w: the credential is bound to a key (cnf), which the presentation does not confirm", ErrHolderMismatch)
		}
		return sameKey(cnf, holderPub)
	}
	return nil
}

// CheckSubjectIsHolder is the node's dataintegrity.HolderBinding: a
// credential with an embedded proof, presented by holder, is the
// holder's when every subject id (credentialSubject.id) is the holder,
// or it names none (a bearer credential, which VC 2.0 allows); one with a
// cnf is refused, since the Data Integrity verifier returns no holder's
// key to compare it with (ErrHolderMismatch). It reads the credential as
// sent, needing no key, by its JSON members, which are what the proof
// signs only in compacted form: dataintegrity.Verifier.VerifyPresentation
// checks that first (jsonld.CheckCompacted).
func CheckSubjectIsHolder(credential map[string]any, holder string) error {
	return CheckHolderBinding(&Verified{Credential: credential}, holder, nil)
}

// Fetch gets url over HTTPS with the guarded client as the resolver and
// the status sources do (no redirect, public addresses only unless client
// allows the host, bounded size and time); the response's content type,
// when given, must be accept.
func Fetch(ctx context.Context, client *http.Client, url, accept string) ([]byte, error) {
	return httpGet(ctx, client, url, accept)
}
