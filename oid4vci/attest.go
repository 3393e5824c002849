package oid4vci

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	"github.com/trustid-cn/trustid/store"
)

// Wallet attestations (OID4VCI 1.0 Appendix E, OAuth 2.0
// Attestation-Based Client Authentication) at the PAR and token
// endpoints: with wallet providers configured, a request carrying the
// OAuth-Client-Attestation and OAuth-Client-Attestation-PoP header fields
// is checked (package attestation), its PoP must carry a challenge the
// node gave (stateless, like the DPoP nonces) and be used once (jti);
// with RequireWalletAttestation a request without them is refused.

// Error codes of attestation-based client authentication (§7.4).
const (
	CodeInvalidClientAttestation = "invalid_client_attestation"
	CodeUseFreshAttestation      = "use_fresh_attestation"
	CodeUseAttestationChallenge  = "use_attestation_challenge"
)

// PathChallenge is the challenge endpoint (§6.3).
const PathChallenge = "/oid4vci/challenge"

// ErrNoAttestation: a request without the wallet attestation the issuer
// requires (the cause of that invalid_client).
var ErrNoAttestation = errors.New("oid4vci: a wallet attestation is required")

// ClientAttestation is a request's OAuth-Client-Attestation and
// OAuth-Client-Attestation-PoP header field values.
type ClientAttestation struct {
	Attestation, PoP []string
}

func (a ClientAttestation) sent() bool { return len(a.Attestation) > 0 || len(a.PoP) > 0 }

// ChallengeResponse answers the challenge endpoint.
type ChallengeResponse struct {
	// AttestationChallenge is a fresh wallet attestation challenge, when
	// the issuer takes wallet attestations.
	AttestationChallenge string `json:"attestation_challenge,omitempty"`
	// DPoPNonce is a fresh DPoP nonce (DPoP-Nonce header), when DPoP
	// nonces are on.
	DPoPNonce string `json:"-"`
}

// Challenge serves the challenge endpoint (§6.3): a fresh attestation
// challenge (with wallet providers) and DPoP nonce (with DPoP nonces),
// neither stored; a wallet gets both before its first request.
func (s *Service) Challenge() (*ChallengeResponse, error) {
	var out ChallengeResponse
	var err error
	if s.attest != nil {
		if out.AttestationChallenge, err = s.challenge(); err != nil {
			return nil, err
		}
	}
	if out.DPoPNonce, err = s.dpopNonce(); err != nil {
		return nil, err
	}
	return &out, nil
}

// challenge makes a fresh attestation challenge, good for NonceTTL.
func (s *Service) challenge() (string, error) {
	c, err := s.challenges.New()
	if err != nil {
		return "", &Error{Code: CodeServerError, Description: "no randomness", Err: err}
	}
	return c, nil
}

// checkAttestation checks a request's wallet attestation for clientID
// (the request's client_id, or ""): nil when the issuer takes none or
// the request has none (refused with invalid_client when one is
// required). A request with one gets a fresh challenge for its response,
// error or not.
func (s *Service) checkAttestation(ctx context.Context, a ClientAttestation, clientID string) (*attestation.Result, string, error) {
	if s.attest == nil {
		return nil, "", nil
	}
	if !a.sent() {
		if s.cfg.RequireWalletAttestation {
			return nil, "", &Error{Code: CodeInvalidClient, Description: "a wallet attestation is required: send the OAuth-Client-Attestation and OAuth-Client-Attestation-PoP header fields", Err: ErrNoAttestation}
		}
		return nil, "", nil
	}
	challenge, err := s.challenge()
	if err != nil {
		return nil, "", err
	}
	refuse := func(code, desc string, cause error) error {
		return &Error{Code: code, Description: desc, Err: cause, AttestationChallenge: challenge}
	}
	r, err := s.attest.Verify(a.Attestation, a.PoP, clientID)
	switch {
	case errors.Is(err, attestation.ErrStale):
		return nil, "", refuse(CodeUseFreshAttestation, trimPrefix(err, attestation.ErrStale), err)
	case err != nil:
		return nil, "", refuse(CodeInvalidClientAttestation, trimPrefix(err, attestation.ErrInvalid), err)
	case !s.challenges.Valid(r.Challenge) && (r.Challenge != "" || !s.cfg.AttestationWithoutChallenge):
		return nil, "", refuse(CodeUseAttestationChallenge, "the attestation PoP must carry the challenge of the OAuth-Client-Attestation-Challenge header", nil)
	}
	if r.Status != nil {
		if err := s.checkAttestationStatus(ctx, r); err != nil {
			var e *Error
			errors.As(err, &e)
			e.AttestationChallenge = challenge
			return nil, "", e
		}
	}
	// A PoP is accepted from PoPMaxAge (ProofMaxAge) before now to a
	// leeway after: its jti is remembered that long on either side.
	if err := s.cfg.Store.MarkUsed(ctx, "oid4vci:attest-jti:"+r.JKT+":"+r.JTI, s.cfg.ProofMaxAge+2*attestLeeway); err != nil {
		if errors.Is(err, store.ErrReplayed) {
			return nil, "", refuse(CodeInvalidClientAttestation, "the attestation PoP was already used (jti)", nil)
		}
		return nil, "", unavailable(err)
	}
	return r, challenge, nil
}

// AttestationStatus checks an entry of a Token Status List
// (draft-ietf-oauth-status-list) issued by issuer at uri, as
// credentials.StatusChecker does: nil for VALID, an error wrapping
// credentials.ErrRevoked (INVALID) or credentials.ErrSuspended
// (SUSPENDED), and one wrapping credentials.ErrStatusUnavailable when the
// list cannot be fetched (also credentials.ErrResolve) or does not
// verify, or idx is outside it (fail closed). Safe for concurrent use.
type AttestationStatus interface {
	CheckToken(ctx context.Context, issuer, uri string, idx int) error
}

var _ AttestationStatus = (*credentials.StatusChecker)(nil)

// checkAttestationStatus checks r's Token Status List entry, in a list
// its wallet provider signed: a revoked or suspended attestation, or one
// whose list does not verify or has no such entry, is
// invalid_client_attestation; a list that cannot be fetched is
// temporarily_unavailable. Either way the request is refused.
func (s *Service) checkAttestationStatus(ctx context.Context, r *attestation.Result) error {
	if s.cfg.AttestationStatus == nil {
		return &Error{Code: CodeInvalidClientAttestation, Description: "this issuer does not check the status of wallet attestations: send one without a status claim", Err: ErrAttestationStatus}
	}
	err := s.cfg.AttestationStatus.CheckToken(ctx, r.Provider, r.Status.URI, r.Status.Index)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, credentials.ErrRevoked):
		return &Error{Code: CodeInvalidClientAttestation, Description: "the wallet provider has revoked this wallet attestation", Err: err}
	case errors.Is(err, credentials.ErrSuspended):
		return &Error{Code: CodeInvalidClientAttestation, Description: "the wallet provider has suspended this wallet attestation", Err: err}
	case errors.Is(err, credentials.ErrResolve):
		return &Error{Code: CodeTemporarilyUnavailable, Description: "the wallet attestation's status list could not be fetched from its uri; try again later", Err: fmt.Errorf("%w: %w", ErrAttestationStatus, err)}
	}
	return &Error{Code: CodeInvalidClientAttestation, Description: "the wallet attestation's status could not be established: its status list does not verify with the wallet provider's keys, is not the list its uri names, has expired, or has no entry at its idx", Err: fmt.Errorf("%w: %w", ErrAttestationStatus, err)}
}

// ErrAttestationStatus: a wallet attestation's status could not be
// checked (the cause of that refusal).
var ErrAttestationStatus = errors.New("oid4vci: the wallet attestation's status cannot be checked")

// attestLeeway is the clock skew allowed on attestations and PoPs.
const attestLeeway = time.Minute

// trimPrefix is err's message without the sentinel's.
func trimPrefix(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}
