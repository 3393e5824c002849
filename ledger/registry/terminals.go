package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/ledger"
)

// TerminalKind is the kind recorded on the chain for the terminals that
// identity's registry manages (counter devices and kiosks).
const TerminalKind = "counter"

// Terminals is the terminal registry on the ledger, as the node of one
// region sees it: Terminal finds only the region's own terminals. A
// revoked terminal stays on the chain, so its ID is never reused; its
// attestations are refused as soon as the view shows the revocation.
// Safe for concurrent use.
type Terminals struct {
	c      ledger.Client
	view   *ledger.View
	region string
}

var _ identity.TerminalRegistry = (*Terminals)(nil)

// NewTerminals returns the registry of region (a province-level code)
// over c, reading from view (nil: from the chain).
func NewTerminals(c ledger.Client, view *ledger.View, region string) *Terminals {
	return &Terminals{c: c, view: view, region: region}
}

func terminalUnavailable(err error) error {
	return fmt.Errorf("identity: terminal registry on the ledger: %w", err)
}

// Terminal implements identity.TerminalDirectory. Only the region's own
// terminals are accredited here: a terminal another region registered,
// one located outside the region, or any while the region is not active
// is unknown (identity.ErrUnknownTerminal).
func (s *Terminals) Terminal(ctx context.Context, id string) (identity.Terminal, error) {
	if err := ctx.Err(); err != nil {
		return identity.Terminal{}, err
	}
	var (
		rec    chaincode.Terminal
		region chaincode.Region
	)
	if s.view == nil {
		var err error
		rec, err = s.c.Terminal(ctx, id)
		if errors.Is(err, chaincode.ErrNotFound) || errors.Is(err, chaincode.ErrInvalid) {
			return identity.Terminal{}, identity.ErrUnknownTerminal
		}
		if err == nil {
			region, err = s.c.Region(ctx, s.region)
		}
		if err != nil && !errors.Is(err, chaincode.ErrNotFound) {
			return identity.Terminal{}, terminalUnavailable(err)
		}
	} else {
		if !s.view.Ready() {
			return identity.Terminal{}, terminalUnavailable(ledger.ErrNotReady)
		}
		var ok bool
		if rec, ok = s.view.Terminal(id); !ok {
			return identity.Terminal{}, identity.ErrUnknownTerminal
		}
		region, _ = s.view.Region(s.region)
	}
	if !accredited(rec, region, s.region) {
		return identity.Terminal{}, identity.ErrUnknownTerminal
	}
	return TerminalOf(rec)
}

// accredited reports whether the node of region code trusts the terminal
// rec, given its region's record: rec is the region's own (it wrote it),
// located inside it, and the region is active.
func accredited(rec chaincode.Terminal, region chaincode.Region, code string) bool {
	return rec.Region == code && region.Code == code && region.Status == chaincode.RegionActive &&
		(rec.Location == "" || chaincode.InRegion(rec.Location, code))
}

// List implements identity.TerminalRegistry, in the order added.
func (s *Terminals) List(ctx context.Context) ([]identity.Terminal, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var recs []chaincode.Terminal
	if s.view == nil {
		var err error
		if recs, err = s.c.Terminals(ctx); err != nil {
			return nil, terminalUnavailable(err)
		}
	} else {
		if !s.view.Ready() {
			return nil, terminalUnavailable(ledger.ErrNotReady)
		}
		recs = s.view.Terminals()
	}
	slices.SortStableFunc(recs, func(a, b chaincode.Terminal) int { return a.Created.Compare(b.Created) })
	out := make([]identity.Terminal, 0, len(recs))
	for _, r := range recs {
		t, err := TerminalOf(r)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Add implements identity.TerminalRegistry: t (from identity.NewTerminal)
// needs an ID and a key no terminal has. A revoked t is registered
// revoked, in the same transaction. The ledger stamps Created (and a
// revoked terminal's revocation time) with the commit time.
func (s *Terminals) Add(ctx context.Context, t identity.Terminal) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	status := chaincode.EntryActive
	switch t.State {
	case identity.TerminalActive:
	case identity.TerminalRevoked:
		status = chaincode.TerminalRevoked
	default:
		return fmt.Errorf("%w: state must be active or revoked", identity.ErrInvalidTerminal)
	}
	check, err := identity.NewTerminal(t.ID, t.Name, t.Region, t.PublicKey, t.Created)
	if err != nil {
		return err
	}
	key, err := gm.NewJWK(check.PublicKey, t.ID)
	if err != nil {
		return fmt.Errorf("%w: %w", identity.ErrInvalidTerminal, err)
	}
	all, err := s.List(ctx)
	if err != nil {
		return err
	}
	for _, o := range all {
		if j, err := gm.NewJWK(o.PublicKey, ""); err == nil && j.Crv == key.Crv && j.X == key.X && j.Y == key.Y {
			return fmt.Errorf("%w: key registered as %s", identity.ErrTerminalExists, o.ID)
		}
	}
	out, err := s.c.AddTerminal(ctx, chaincode.Terminal{ID: t.ID, Kind: TerminalKind, Name: check.Name, Location: check.Region, Key: key, Status: status})
	switch {
	case errors.Is(err, chaincode.ErrExists):
		return fmt.Errorf("%w: ID in use", identity.ErrTerminalExists)
	case errors.Is(err, chaincode.ErrInvalid) || errors.Is(err, chaincode.ErrForbidden):
		return fmt.Errorf("%w: the ledger refused it: %w", identity.ErrInvalidTerminal, err)
	case err != nil:
		return terminalUnavailable(err)
	}
	s.Await(ctx, out)
	return nil
}

// Revoke implements identity.TerminalRegistry. The revocation time is the
// commit time on the chain; at is not used.
func (s *Terminals) Revoke(ctx context.Context, id string, _ time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rec, err := s.c.Terminal(ctx, id)
	switch {
	case errors.Is(err, chaincode.ErrNotFound) || errors.Is(err, chaincode.ErrInvalid):
		return identity.ErrUnknownTerminal
	case err != nil:
		return terminalUnavailable(err)
	case rec.Status == chaincode.TerminalRevoked:
		return identity.ErrTerminalRevoked
	}
	rec.Status = chaincode.TerminalRevoked
	out, err := s.c.PutTerminal(ctx, rec)
	switch {
	case errors.Is(err, chaincode.ErrKeyTransition):
		return identity.ErrTerminalRevoked
	case errors.Is(err, chaincode.ErrForbidden):
		return fmt.Errorf("%w: the ledger refused it: %w", identity.ErrInvalidTerminal, err)
	case err != nil:
		return terminalUnavailable(err)
	}
	s.Await(ctx, out)
	return nil
}

// Await waits, at most MaxViewWait, until the view shows rec's update.
func (s *Terminals) Await(ctx context.Context, rec chaincode.Terminal) {
	if s.view == nil {
		return
	}
	waitFor(ctx, func() bool {
		got, ok := s.view.Terminal(rec.ID)
		return ok && !got.Updated.Before(rec.Updated)
	})
}

// TerminalOf returns identity's terminal for an on-chain record: active
// when the record is active; a suspended or revoked one is revoked (its
// attestations are refused) since its last update. The terminal's region
// is where it is installed (Location), else its owning region; whether
// this node trusts it is Terminals.Terminal's decision.
func TerminalOf(r chaincode.Terminal) (identity.Terminal, error) {
	pub, err := r.Key.PublicKey()
	if err != nil {
		return identity.Terminal{}, fmt.Errorf("%w: terminal %s: %w", identity.ErrInvalidTerminal, r.ID, err)
	}
	t := identity.Terminal{ID: r.ID, Name: r.Name, Region: r.Location, PublicKey: pub, State: identity.TerminalActive, Created: r.Created}
	if t.Region == "" {
		t.Region = r.Region
	}
	if r.Status != chaincode.EntryActive {
		t.State, t.Revoked = identity.TerminalRevoked, r.Updated
	}
	return t, nil
}
