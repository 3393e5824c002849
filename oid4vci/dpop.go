package oid4vci

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
	"github.com/trustid-cn/trustid/store"
)

// DPoP (RFC 9449) at the token and credential endpoints: a token request
// with a DPoP proof gets an access token of token_type DPoP bound to the
// proof's key (its thumbprint, kept with the token as cnf.jkt is in a
// JWT), which the credential and notification endpoints then accept only
// with the DPoP scheme and a proof by that key over the token (ath).

// Access is how a request to the credential or notification endpoint
// presents its access token: the Authorization scheme (Bearer or DPoP)
// and token, and the values of its DPoP header fields.
type Access struct {
	Scheme, Token string
	DPoP          []string
}

// dpopNonce makes a server DPoP nonce (stateless: dpop.Nonces), good
// for at most NonceTTL; "" when nonces are off.
func (s *Service) dpopNonce() (string, error) {
	if s.nonces == nil {
		return "", nil
	}
	n, err := s.nonces.New()
	if err != nil {
		return "", &Error{Code: CodeServerError, Description: "no randomness", Err: err}
	}
	return n, nil
}

// checkDPoP checks the DPoP header fields of a request to path (with
// accessToken when the request carries one): none gives nil; otherwise
// exactly one valid proof, with a live server nonce unless nonces are off
// (a missing, expired, forged or other key's nonce is use_dpop_nonce with
// a fresh one), its jti never seen. It returns the proof and a fresh
// nonce for the response.
func (s *Service) checkDPoP(ctx context.Context, proofs []string, path, accessToken string) (*dpop.Proof, string, error) {
	p, nonce, err := s.verifyDPoP(proofs, path, accessToken)
	if err != nil || p == nil {
		return nil, "", err
	}
	if err := s.spendDPoP(ctx, p); err != nil {
		return nil, "", err
	}
	return p, nonce, nil
}

// dpopLeeway is how far ahead of the clock a DPoP proof's iat may be.
const dpopLeeway = time.Minute

// verifyDPoP is checkDPoP without marking the proof's jti, for the
// public endpoints, which mark it (spendDPoP) only once the request
// names a live code or a known client: so a stream of proofs of one's
// own keys with made-up codes writes nothing to the store.
func (s *Service) verifyDPoP(proofs []string, path, accessToken string) (*dpop.Proof, string, error) {
	if len(proofs) == 0 {
		return nil, "", nil
	}
	if len(proofs) > 1 {
		return nil, "", fail(CodeInvalidDPoPProof, "send exactly one DPoP header field")
	}
	p, err := s.dpop.Verify(proofs[0], dpop.Options{Method: "POST", URL: s.cfg.Issuer + path,
		AccessToken: accessToken, Now: s.cfg.Now, MaxAge: s.cfg.ProofMaxAge, Leeway: dpopLeeway})
	if err != nil {
		return nil, "", &Error{Code: CodeInvalidDPoPProof, Description: "the DPoP proof is invalid: " + strings.TrimPrefix(err.Error(), dpop.ErrInvalid.Error()+": "), Err: err}
	}
	if s.nonces != nil && !s.nonces.Valid(p.Nonce) {
		n, err := s.dpopNonce()
		if err != nil {
			return nil, "", err
		}
		return nil, "", &Error{Code: CodeUseDPoPNonce, Description: "the DPoP proof must carry the nonce of the DPoP-Nonce header", DPoPNonce: n}
	}
	n, err := s.dpopNonce()
	if err != nil {
		return nil, "", err
	}
	return p, n, nil
}

// spendDPoP marks the jti of a verified proof: a proof is accepted from
// ProofMaxAge before now to dpopLeeway after, so its jti is remembered
// that long on either side. A jti seen before is invalid_dpop_proof.
func (s *Service) spendDPoP(ctx context.Context, p *dpop.Proof) error {
	if err := s.cfg.Store.MarkUsed(ctx, "oid4vci:dpop-jti:"+p.JKT+":"+p.JTI, s.cfg.ProofMaxAge+2*dpopLeeway); err != nil {
		if errors.Is(err, store.ErrReplayed) {
			return fail(CodeInvalidDPoPProof, "the DPoP proof was already used (jti)")
		}
		return unavailable(err)
	}
	return nil
}

// freshError is the error of a request whose answer carries a fresh
// DPoP nonce (once its DPoP proof was accepted: RFC 9449 §8) or wallet
// attestation challenge (§6.2 of the attestation draft), so the wallet's
// next try needs no extra round trip.
type freshError struct {
	err              error
	nonce, challenge string
}

func (e *freshError) Error() string { return e.err.Error() }
func (e *freshError) Unwrap() error { return e.err }

// withFresh attaches a nonce and a challenge to err (nil stays nil; ""
// attaches nothing).
func withFresh(err error, nonce, challenge string) error {
	if err == nil || (nonce == "" && challenge == "") {
		return err
	}
	return &freshError{err: err, nonce: nonce, challenge: challenge}
}

// withNonce attaches a DPoP nonce to err.
func withNonce(err error, nonce string) error { return withFresh(err, nonce, "") }

// DPoPNonceOf returns the DPoP nonce an error of this service carries
// for the response's DPoP-Nonce header: the fresh nonce of
// use_dpop_nonce, or of a request that failed after its DPoP proof was
// accepted; "" for none.
func DPoPNonceOf(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if f, ok := e.(*freshError); ok && f.nonce != "" {
			return f.nonce
		}
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.DPoPNonce
	}
	return ""
}

// AttestationChallengeOf returns the wallet attestation challenge an
// error of this service carries for the OAuth-Client-Attestation-Challenge
// header (an error of a request with a wallet attestation); "" for none.
func AttestationChallengeOf(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if f, ok := e.(*freshError); ok && f.challenge != "" {
			return f.challenge
		}
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.AttestationChallenge
	}
	return ""
}

// session looks up the access token of a request to path and, for a
// DPoP-bound token, checks the DPoP scheme and a proof by the bound key.
// It returns the grant and a fresh DPoP nonce (for a DPoP request).
func (s *Service) session(ctx context.Context, acc Access, path string) (*grant, string, error) {
	dpopScheme := strings.EqualFold(acc.Scheme, "DPoP")
	if !dpopScheme && !strings.EqualFold(acc.Scheme, "Bearer") {
		return nil, "", fail(CodeInvalidToken, "an Authorization: Bearer or DPoP access token from the token endpoint is required")
	}
	if len(acc.Token) != 43 {
		return nil, "", fail(CodeInvalidToken, "the access token is unknown or expired")
	}
	var g grant
	if err := s.get(ctx, "token", acc.Token, &g); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", fail(CodeInvalidToken, "the access token is unknown or expired")
		}
		return nil, "", unavailable(err)
	}
	// An access token from an authorization code dies with its grant (a
	// replayed code revokes it).
	if g.Family != "" && (s.cfg.Login == nil || s.cfg.Login.Revoked(ctx, g.Family)) {
		return nil, "", fail(CodeInvalidToken, "the access token was revoked")
	}
	if g.Approver != nil {
		if s.cfg.Login == nil {
			return nil, "", fail(CodeInvalidToken, "the access token was revoked")
		}
		if err := s.cfg.Login.Standing(ctx, g.Approver); err != nil {
			if e, ok := errors.AsType[*login.Error](err); ok && e.Code == login.CodeInvalidGrant {
				return nil, "", fail(CodeInvalidToken, "the access token's login ended: "+e.Description)
			}
			return nil, "", &Error{Code: CodeTemporarilyUnavailable, Description: "the status of the device binding that approved this access token cannot be checked now; try again", Err: err}
		}
	}
	if g.JKT == "" {
		if dpopScheme {
			return nil, "", fail(CodeInvalidToken, "the access token is not DPoP-bound: send it with the Bearer scheme")
		}
		return &g, "", nil
	}
	if !dpopScheme {
		return nil, "", &Error{Code: CodeInvalidToken, Description: "the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof", Err: ErrDPoPBound}
	}
	if len(acc.DPoP) == 0 {
		return nil, "", fail(CodeInvalidDPoPProof, "a DPoP proof is required with this DPoP-bound access token")
	}
	p, nonce, err := s.checkDPoP(ctx, acc.DPoP, path, acc.Token)
	if err != nil {
		return nil, "", err
	}
	if p.JKT != g.JKT {
		return nil, "", &Error{Code: CodeInvalidDPoPProof, Description: "the DPoP proof is signed by a key other than the one the access token is bound to", DPoPNonce: nonce}
	}
	return &g, nonce, nil
}
