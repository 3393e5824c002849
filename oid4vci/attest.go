package oid4vci

import (
	"context"
	"errors"
	"strings"
	"time"

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

// attestLeeway is the clock skew allowed on attestations and PoPs.
const attestLeeway = time.Minute

// trimPrefix is err's message without the sentinel's.
func trimPrefix(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}
