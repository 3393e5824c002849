package redeem

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// OfflineVerifier checks an offline code (*qrcode.Verifier): the issuing
// region's signature with its keys (for another region, from the trust
// registry), the device signature, validity, freshness and status (for
// another region, its lists anchored on the ledger). A result must carry
// the code's PresentationID (the single-use mark keys on it). Safe for
// concurrent use.
type OfflineVerifier interface {
	VerifyOffline(ctx context.Context, text string, opts qrcode.VerifyOptions) (*qrcode.Result, error)
}

// ErrForeignSubject: an offline code whose subject handle does not open
// with this node's pairwise key (its region's node runs with another
// one), so no pairwise ID can be derived here. It is wrapped with
// qrcode.ErrNoRoute.
var ErrForeignSubject = errors.New("redeem: the code's subject handle does not open with this node's pairwise key")

// offlineSpentTTL is how long a verified offline code is remembered: past
// twice the freshness window it is refused as stale anyway.
const offlineSpentTTL = 2 * qrcode.DefaultWindow

// VerifyOffline verifies an offline code of any region for the relying
// party clientID, online at this node, and answers what a redemption
// does: the party's pairwise ID for the holder, the assurance level, the
// issuing region and the binding's claims the party's registration
// allows. The code is checked by Offline (keys and status of its region
// from the registry and the ledger, so a code of another region needs no
// call to that region beyond its anchored status lists); a code that
// passed is spent here (Nonces) by its PresentationID, so the same
// presentation (what the device signed, in whatever text) is accepted
// once per nonce store (qrcode.ErrReplayed), and only when the answer is
// ready (a refused code is not spent). A code whose audience hint names
// another verifier than clientID is refused (qrcode.ErrAudience).
//
// A delegated code (a guardian's code carrying a delegation) is checked
// as qrcode.Verifier checks it: the delegation's issuer signature with
// its region's key (from the registry for another region), the presenter
// as its actor, its validity (qrcode.ErrDelegationExpired), its status
// entry and action in its scope (qrcode.ErrDelegationScope; a delegated
// code with no action named is refused so, before it is spent: a party
// that names none reads PairwiseID as the presenter's). The answer is then the party's pairwise ID
// for the principal, with Act the party's pairwise ID for the guardian
// (the one the guardian's own codes give it) and Action the action
// allowed; no claim is released, since the binding's claims are the
// guardian's. action must be empty or a short token (qrcode.ValidToken).
func (s *Service) VerifyOffline(ctx context.Context, clientID, text, action string) (*Redemption, error) {
	if s.cfg.Offline == nil || s.cfg.Nonces == nil {
		return nil, fmt.Errorf("%w: this node verifies no offline codes", qrcode.ErrKind)
	}
	if action != "" && !qrcode.ValidToken(action) {
		return nil, fmt.Errorf("%w: action must be a short token ([a-z0-9_.:-], up to 32 bytes)", qrcode.ErrInvalidArgument)
	}
	rp, err := s.cfg.RelyingParties.RelyingParty(ctx, clientID)
	if err != nil {
		if errors.Is(err, qrcode.ErrUnknownVerifier) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: relying parties: %w", qrcode.ErrUnavailable, err)
	}
	// A code made for a named verifier (its audience hint) is that
	// verifier's only: the hint must be the calling party's client ID.
	res, err := s.cfg.Offline.VerifyOffline(ctx, text, qrcode.VerifyOptions{Audience: rp.ClientID, Action: action})
	if err != nil {
		return nil, err
	}
	if len(res.PresentationID) < 16 {
		return nil, fmt.Errorf("%w: the offline verifier gave no presentation ID", qrcode.ErrUnavailable)
	}
	pairwise := func(subject []byte) (string, error) {
		id, err := s.cfg.Pairwise.Pairwise(subject, rp.PairwiseSector())
		if err != nil {
			return "", fmt.Errorf("%w: %s: %w", qrcode.ErrNoRoute, res.Region, ErrForeignSubject)
		}
		return id, nil
	}
	id, err := pairwise(res.Presenter.Subject)
	if err != nil {
		return nil, err
	}
	red := &Redemption{PairwiseID: id, Assurance: res.Assurance, Region: res.Region, Claims: allowedClaims(res.Claims, rp)}
	if res.OnBehalfOf != nil {
		// A party that names no action reads PairwiseID as who is here:
		// a guardian's code must not answer as the principal unless the
		// party asked for an action and so reads Act.
		if action == "" {
			return nil, fmt.Errorf("%w: a delegated code is verified only for a named action", qrcode.ErrDelegationScope)
		}
		if res.Delegation == nil {
			return nil, fmt.Errorf("%w: the offline verifier gave a principal without its delegation", qrcode.ErrUnavailable)
		}
		principal, err := pairwise(res.OnBehalfOf.Subject)
		if err != nil {
			return nil, err
		}
		red = &Redemption{PairwiseID: principal, Assurance: res.Assurance, Region: res.Region, Action: res.Action,
			Act: &Actor{PairwiseID: id, Relationship: relationshipName(res.Delegation.Relationship)}}
	}
	// Spend the presentation (what the device signed, not the text: every
	// encoding of one signed content is one presentation) only now that
	// the answer is ready, so a refusal does not burn the holder's code,
	// and no answer is returned without the mark.
	switch err := s.cfg.Nonces.MarkUsed(ctx, "qr-offline:"+hex.EncodeToString(res.PresentationID[:16]), offlineSpentTTL); {
	case errors.Is(err, store.ErrReplayed):
		return nil, qrcode.ErrReplayed
	case err != nil:
		return nil, fmt.Errorf("%w: nonce store: %w", qrcode.ErrUnavailable, err)
	}
	return red, nil
}

// relationshipName is a delegation's relationship on the wire (Actor).
func relationshipName(r qrcode.Relationship) string {
	switch r {
	case qrcode.RelGuardian:
		return "guardian"
	case qrcode.RelFamily:
		return "family"
	case qrcode.RelAgent:
		return "agent"
	}
	return "unknown"
}
