package oid4vp

import (
	"context"
	"errors"

	"github.com/trustid-cn/trustid/auth"
)

// ClientGetter is the part of auth.ClientStore the verifier reads.
type ClientGetter interface {
	Get(ctx context.Context, id string) (auth.Client, error)
}

// RegistryClients finds relying parties in TrustID's client registry:
// their registered claims (auth.Client.Claims) bound every DCQL query.
type RegistryClients struct{ Store ClientGetter }

// RelyingParty implements Clients. A disabled client is refused.
func (r RegistryClients) RelyingParty(ctx context.Context, id string) (RelyingParty, error) {
	c, err := r.Store.Get(ctx, id)
	if err != nil {
		return RelyingParty{}, err
	}
	if c.Disabled {
		return RelyingParty{}, errors.New("oid4vp: client is disabled")
	}
	return RelyingParty{ClientID: c.ID, Claims: c.Claims, RedirectURIs: c.RedirectURIs}, nil
}
