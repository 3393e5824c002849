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
// ready (a refused code is not spent). A code whose audience hint names another
// verifier than clientID is refused (qrcode.ErrAudience). A delegated
// code is refused
// (qrcode.ErrDelegationScope): this route answers for the presenter only.
func (s *Service) VerifyOffline(ctx context.Context, clientID, text string) (*Redemption, error) {
	if s.cfg.Offline == nil || s.cfg.Nonces == nil {
		return nil, fmt.Errorf("%w: this node verifies no offline codes", qrcode.ErrKind)
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
	res, err := s.cfg.Offline.VerifyOffline(ctx, text, qrcode.VerifyOptions{Audience: rp.ClientID})
	if err != nil {
		return nil, err
	}
	if res.OnBehalfOf != nil {
		return nil, fmt.Errorf("%w: a delegated offline code is verified by the verifier itself, not at a node", qrcode.ErrDelegationScope)
	}
	if len(res.PresentationID) < 16 {
		return nil, fmt.Errorf("%w: the offline verifier gave no presentation ID", qrcode.ErrUnavailable)
	}
	id, err := s.cfg.Pairwise.Pairwise(res.Presenter.Subject, rp.PairwiseSector())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", qrcode.ErrNoRoute, res.Region, ErrForeignSubject)
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
	return &Redemption{PairwiseID: id, Assurance: res.Assurance, Region: res.Region, Claims: allowedClaims(res.Claims, rp)}, nil
}
