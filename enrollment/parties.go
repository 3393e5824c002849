package enrollment

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// ClientDirectory looks up registered clients (an auth.ClientStore).
type ClientDirectory interface {
	Get(ctx context.Context, id string) (auth.Client, error)
}

// SectorRegistry is the consortium's registry of pairwise sectors: the
// trust registry on the ledger, where the contract lets no two relying
// parties hold one sector. ClaimSector records that clientID, a relying
// party of this node's region, holds sector; it returns nil when clientID
// already holds it (for a party of another region: claimed by that
// region), an error matching ErrSectorTaken when another party does, and
// one matching ErrForeignParty when clientID is another region's party
// whose region has not claimed it. Safe for concurrent use.
type SectorRegistry interface {
	ClaimSector(ctx context.Context, clientID string, sector identity.Sector) error
}

// ErrForeignParty: the relying party is registered by another region,
// which alone claims its sector.
var ErrForeignParty = errors.New("enrollment: the relying party is another region's")

// ErrSectorTaken: the pairwise sector (a sector identifier, or a client ID
// used as one) is held by another relying party of the consortium.
var ErrSectorTaken = errors.New("enrollment: the pairwise sector is held by another relying party")

// QRRelyingParties are the relying parties that may redeem QR codes, read
// from the auth client registry: an enabled auth.Client with the qr:redeem
// scope becomes a redeem.RelyingParty with its client ID, sector
// identifier (empty when it registered none) and allowed claims. With
// Sectors set, a party is resolved only once the consortium's registry
// says it holds its pairwise sector (claimed at its first use, whichever
// way it was registered); a party whose sector another holds is refused
// (ErrUnknownVerifier). It implements redeem.RelyingParties.
type QRRelyingParties struct {
	Clients ClientDirectory
	Sectors SectorRegistry

	held sync.Map // client ID + sector → struct{}: claims that succeeded
}

var _ redeem.RelyingParties = (*QRRelyingParties)(nil)

// RelyingParty implements redeem.RelyingParties.
func (r *QRRelyingParties) RelyingParty(ctx context.Context, id string) (redeem.RelyingParty, error) {
	c, err := r.Clients.Get(ctx, id)
	if errors.Is(err, auth.ErrClientNotFound) {
		return redeem.RelyingParty{}, qrcode.ErrUnknownVerifier
	}
	if err != nil {
		return redeem.RelyingParty{}, err
	}
	if c.Disabled || !c.HasScope(auth.ScopeQRRedeem) {
		return redeem.RelyingParty{}, qrcode.ErrUnknownVerifier
	}
	rp := redeem.RelyingParty{ClientID: c.ID, Sector: c.SectorIdentifier, AllowedClaims: c.Claims}
	if r.Sectors == nil {
		return rp, nil
	}
	sector := rp.PairwiseSector()
	key := c.ID + "\x00" + string(rune(sector.Kind)) + sector.Name
	if _, ok := r.held.Load(key); ok {
		return rp, nil
	}
	switch err := r.Sectors.ClaimSector(ctx, c.ID, sector); {
	case errors.Is(err, ErrSectorTaken), errors.Is(err, ErrForeignParty):
		return redeem.RelyingParty{}, fmt.Errorf("%w: %w", qrcode.ErrUnknownVerifier, err)
	case err != nil:
		return redeem.RelyingParty{}, fmt.Errorf("sector registry: %w", err)
	}
	r.held.Store(key, struct{}{})
	return rp, nil
}
