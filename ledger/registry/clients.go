// Package registry keeps the node's relying-party and terminal registries
// on the ledger, the one source of truth every instance of every region
// shares: Clients is an auth.ClientStore and Terminals an
// identity.TerminalRegistry. Both read from a ledger.View (a local copy
// the chain's events keep current, so a request never waits for the
// chain) and write through a ledger.Client as the region's administrator
// (the node's MSP). Without a view (the trustid CLI) they read the chain.
//
// A write returns once the chain committed it and, with a view, once the
// view shows it: on the instance that wrote, a change is visible at once;
// on every other instance, as soon as its view applies the block's event
// (embedded ledger: at commit; Fabric: one block).
package registry

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
)

// MaxViewWait bounds how long a write waits for the view to show it; past
// it the write still succeeded (it is on the chain) and the view catches
// up with the next event or reconcile.
const MaxViewWait = 5 * time.Second

// Clients is the relying-party registry on the ledger. Safe for
// concurrent use.
type Clients struct {
	c    ledger.Client
	view *ledger.View
	home string     // NewHomeClients' region; "" for every region's parties
	mu   sync.Mutex // serializes this process's read-modify-writes
}

var _ auth.ClientStore = (*Clients)(nil)

// NewClients returns the registry of every region's relying parties over
// c, reading from view (nil: from the chain).
func NewClients(c ledger.Client, view *ledger.View) *Clients {
	return &Clients{c: c, view: view}
}

// NewHomeClients returns the registry as the node of region (a
// province-level code) authenticates and administers clients: Get, List
// and Update see only the relying parties whose home region is region,
// while region is active. Another region's party is unknown
// (auth.ErrClientNotFound), exactly as an unregistered one: a node
// never lets another region's party authenticate or be administered
// here (it reaches this node through federation only).
func NewHomeClients(c ledger.Client, view *ledger.View, region string) *Clients {
	return &Clients{c: c, view: view, home: region}
}

// homes reports whether rp is one of this registry's parties: any, or
// with NewHomeClients one whose home region is the registry's, active.
func (s *Clients) homes(ctx context.Context, rp chaincode.RelyingParty) (bool, error) {
	if s.home == "" {
		return true, nil
	}
	if rp.HomeRegion != s.home {
		return false, nil
	}
	var r chaincode.Region
	if s.view != nil {
		r, _ = s.view.Region(s.home)
	} else {
		var err error
		if r, err = s.c.Region(ctx, s.home); err != nil && !errors.Is(err, chaincode.ErrNotFound) {
			return false, unavailable(err, "cannot read the region on the ledger")
		}
	}
	return r.Status == chaincode.RegionActive, nil
}

// unavailable wraps a failure of the ledger or the view.
func unavailable(err error, what string) error {
	return &auth.Error{Kind: auth.ErrUnavailable, Description: what, Err: err}
}

// refused turns the contract's refusal of a write into the auth error
// kind the ClientStore contract names.
func refused(err error) error {
	switch {
	case errors.Is(err, chaincode.ErrExists):
		return &auth.Error{Kind: auth.ErrClientExists, Description: "a client with this client_id is registered", Err: err}
	case errors.Is(err, chaincode.ErrNotFound):
		return &auth.Error{Kind: auth.ErrClientNotFound, Description: "no client has this client_id", Err: err}
	case errors.Is(err, chaincode.ErrInvalid), errors.Is(err, chaincode.ErrForbidden), errors.Is(err, chaincode.ErrKeyTransition):
		return &auth.Error{Kind: auth.ErrInvalidClientMetadata, Description: "the ledger refused the client: " + err.Error()}
	}
	return unavailable(err, "the ledger did not take the change")
}

// Get implements auth.ClientStore.
func (s *Clients) Get(ctx context.Context, id string) (auth.Client, error) {
	if err := ctx.Err(); err != nil {
		return auth.Client{}, err
	}
	var rp chaincode.RelyingParty
	if s.view == nil {
		var err error
		rp, err = s.c.RelyingParty(ctx, id)
		if errors.Is(err, chaincode.ErrNotFound) || errors.Is(err, chaincode.ErrInvalid) {
			return auth.Client{}, auth.ErrClientNotFound
		}
		if err != nil {
			return auth.Client{}, unavailable(err, "cannot read the client registry on the ledger")
		}
	} else {
		if !s.view.Ready() {
			return auth.Client{}, unavailable(ledger.ErrNotReady, "the ledger view has not loaded yet")
		}
		var ok bool
		if rp, ok = s.view.RelyingParty(id); !ok {
			return auth.Client{}, auth.ErrClientNotFound
		}
	}
	switch home, err := s.homes(ctx, rp); {
	case err != nil:
		return auth.Client{}, err
	case !home:
		return auth.Client{}, auth.ErrClientNotFound
	}
	return ClientOf(rp), nil
}

// List implements auth.ClientStore, sorted by ID.
func (s *Clients) List(ctx context.Context) ([]auth.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var rps []chaincode.RelyingParty
	if s.view == nil {
		var err error
		if rps, err = s.c.RelyingParties(ctx); err != nil {
			return nil, unavailable(err, "cannot read the client registry on the ledger")
		}
		slices.SortFunc(rps, func(a, b chaincode.RelyingParty) int { return strings.Compare(a.ClientID, b.ClientID) })
	} else {
		if !s.view.Ready() {
			return nil, unavailable(ledger.ErrNotReady, "the ledger view has not loaded yet")
		}
		rps = s.view.RelyingParties()
	}
	out := make([]auth.Client, 0, len(rps))
	for _, rp := range rps {
		switch home, err := s.homes(ctx, rp); {
		case err != nil:
			return nil, err
		case home:
			out = append(out, ClientOf(rp))
		}
	}
	return out, nil
}

// Create implements auth.ClientStore. The ledger stamps Created with the
// commit time.
func (s *Clients) Create(ctx context.Context, c auth.Client) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	out, err := s.c.AddRelyingParty(ctx, RecordOf(c, 0))
	if err != nil {
		return refused(err)
	}
	s.Await(ctx, out)
	return nil
}

// Update implements auth.ClientStore: it reads the record from the chain,
// applies fn and writes it back naming the version it read; when another
// writer (another instance) changed it meanwhile the chain refuses the
// write (chaincode.ErrStale, or on Fabric a read conflict between two
// transactions endorsed at once, ledger.ErrConflict) and Update starts
// again after a short random pause, so no update is lost.
func (s *Clients) Update(ctx context.Context, id string, fn func(*auth.Client) error) (auth.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return auth.Client{}, err
		}
		rp, err := s.c.RelyingParty(ctx, id)
		if errors.Is(err, chaincode.ErrNotFound) || errors.Is(err, chaincode.ErrInvalid) {
			return auth.Client{}, auth.ErrClientNotFound
		}
		if err != nil {
			return auth.Client{}, unavailable(err, "cannot read the client registry on the ledger")
		}
		switch home, err := s.homes(ctx, rp); {
		case err != nil:
			return auth.Client{}, err
		case !home:
			return auth.Client{}, auth.ErrClientNotFound
		}
		c := ClientOf(rp)
		if err := fn(&c); err != nil {
			return auth.Client{}, err
		}
		if c.ID != id {
			return auth.Client{}, &auth.Error{Kind: auth.ErrInvalidClientMetadata, Description: "client_id cannot change"}
		}
		if err := c.Validate(); err != nil {
			return auth.Client{}, err
		}
		out, err := s.c.PutRelyingParty(ctx, RecordOf(c, rp.Version))
		if errors.Is(err, chaincode.ErrStale) || errors.Is(err, ledger.ErrConflict) {
			pause(ctx)
			continue
		}
		if err != nil {
			return auth.Client{}, refused(err)
		}
		s.Await(ctx, out)
		return ClientOf(out), nil
	}
}

// Await waits, at most MaxViewWait, until the view shows rp's version.
func (s *Clients) Await(ctx context.Context, rp chaincode.RelyingParty) {
	if s.view == nil {
		return
	}
	waitFor(ctx, func() bool {
		got, ok := s.view.RelyingParty(rp.ClientID)
		return ok && got.Version >= rp.Version
	})
}

// waitFor polls cond every 2 ms until it holds, ctx ends or MaxViewWait
// passes.
func waitFor(ctx context.Context, cond func() bool) {
	ctx, cancel := context.WithTimeout(ctx, MaxViewWait)
	defer cancel()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ClientOf returns the node's client for an on-chain record. Records
// written before the record carried them take the defaults:
// client_credentials and private_key_jwt. A resource's time
// (RelyingParty.ResourcesSince, by index) becomes the client's
// ResourcesSince by URI; a zero or missing one sets none.
func ClientOf(rp chaincode.RelyingParty) auth.Client {
	c := auth.Client{
		ID: rp.ClientID, Name: rp.Name, Region: rp.HomeRegion,
		JWKS:                   gm.JWKS{Keys: slices.Clone(rp.JWKS.Keys)},
		GrantTypes:             slices.Clone(rp.GrantTypes),
		Scopes:                 slices.Clone(rp.Scopes),
		Claims:                 nilIfEmpty(rp.Claims),
		SectorIdentifier:       rp.SectorIdentifier,
		RedirectURIs:           nilIfEmpty(rp.RedirectURIs),
		PostLogoutRedirectURIs: nilIfEmpty(rp.PostLogoutRedirectURIs),
		Resources:              nilIfEmpty(rp.Resources),
		IDTokenAlg:             rp.IDTokenAlg,
		AccessTokenAlg:         rp.AccessTokenAlg,
		AuthMethod:             rp.AuthMethod,
		SecretHash:             auth.SecretHash(rp.SecretVerifier),
		Disabled:               rp.Status != chaincode.EntryActive,
		Created:                rp.Created,
	}
	for i, t := range rp.ResourcesSince {
		if i < len(rp.Resources) && !t.IsZero() {
			if c.ResourcesSince == nil {
				c.ResourcesSince = map[string]time.Time{}
			}
			c.ResourcesSince[rp.Resources[i]] = t
		}
	}
	if len(c.JWKS.Keys) == 0 {
		c.JWKS.Keys = nil
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{auth.GrantClientCredentials}
	}
	if c.AuthMethod == "" {
		c.AuthMethod = auth.AuthPrivateKeyJWT
	}
	return c
}

// RecordOf returns the on-chain record of a client, to be written over
// the stored one at version (0 for a new one).
func RecordOf(c auth.Client, version uint64) chaincode.RelyingParty {
	status := chaincode.EntryActive
	if c.Disabled {
		status = chaincode.EntrySuspended
	}
	return chaincode.RelyingParty{
		ClientID: c.ID, Name: c.Name, HomeRegion: c.Region,
		JWKS:       gm.JWKS{Keys: slices.Clone(c.JWKS.Keys)},
		GrantTypes: slices.Clone(c.GrantTypes), AuthMethod: c.AuthMethod,
		SecretVerifier: string(c.SecretHash), SectorIdentifier: c.SectorIdentifier,
		RedirectURIs: slices.Clone(c.RedirectURIs), PostLogoutRedirectURIs: slices.Clone(c.PostLogoutRedirectURIs),
		Resources: nilIfEmpty(c.Resources), IDTokenAlg: c.IDTokenAlg, AccessTokenAlg: c.AccessTokenAlg,
		Scopes: slices.Clone(c.Scopes), Claims: slices.Clone(c.Claims),
		Status: status, Version: version,
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// pause waits a random 0–50 ms (or until ctx ends), so that writers that
// conflicted do not collide again in step.
func pause(ctx context.Context) {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(50 * time.Millisecond))))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
