// Package ledgeranchors gives the relying-party SDK the status-list heads
// anchored on the consortium ledger, for relying parties that have a
// ledger connection (a Fabric peer of the consortium through
// ledger/fabric, or an embedded replica): Start follows the chain with a
// ledger.View (the registry and every region's heads, kept current by the
// chain's events and a periodic reconcile), and the *Anchors it returns is
// an sdk.StatusAnchors to set as sdk.Nodes.Anchors, so that every status
// list the SDK fetches from a node is checked against the digest its
// region anchored.
//
// The same *Anchors is an sdk.RegistryKeys (IssuerKey): the regions'
// keys as registered, for sdk.LoginConfig.Registry, so that ID tokens of
// any region verify from the ledger, with no call to the issuing node;
// and a qrcode.RegionKeySource (QRIssuerKey), for sdk.QRConfig.Regions,
// so that offline codes of other regions verify with their region's
// registered key.
//
// It is a separate, opt-in package because it links the ledger client
// (package ledger, which also holds the node's outbox and so links bbolt):
// the packages sdk and sdk/wallet link no ledger and no server module
// (internal/layering checks it), and a relying party without a ledger
// connection does not pay for one. It links no backend either: the
// relying party opens the ledger.Ledger it has (ledger/fabric or
// ledger/embedded) and passes it in.
package ledgeranchors

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/regionkey"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
)

// Options configures Start. Zero values: the whole registry and every
// region's heads are read again every minute, warnings are discarded.
type Options struct {
	// Reconcile is how often the view reads everything again, in case an
	// event was missed (default 1 min).
	Reconcile time.Duration
	// Logger receives a warning each time the view loses the ledger.
	Logger *slog.Logger
}

// Anchors is the ledger's status-list heads and registry, followed in the
// background from Start until Close. Lookups answer from memory and never
// wait for the chain; while the ledger cannot be reached they answer from
// the last refresh (Health says since when). Safe for concurrent use.
type Anchors struct {
	view   *ledger.View
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	keys regionkey.Cache
}

var (
	_ sdk.StatusAnchors      = (*Anchors)(nil)
	_ sdk.RegistryKeys       = (*Anchors)(nil)
	_ qrcode.RegionKeySource = (*Anchors)(nil)
)

// Errors of IssuerKey.
var (
	ErrUnknownIssuer = errors.New("ledgeranchors: no active region in the registry names this issuer")
	ErrUnknownKey    = errors.New("ledgeranchors: the issuer's region has no usable key with this kid")
	ErrKeyNotValid   = errors.New("ledgeranchors: the issuer's region key is retired or revoked")
)

// ErrNotReady is returned by Start when ctx ends before the view has
// loaded the ledger once.
var ErrNotReady = errors.New("ledgeranchors: the ledger was not loaded in time")

// Start follows l and returns once the registry and the heads have been
// loaded, or ErrNotReady (wrapping the last error of the ledger, if any)
// when ctx ends first; then nothing keeps running. l stays the caller's:
// close it after Close.
func Start(ctx context.Context, l ledger.Ledger, opts Options) (*Anchors, error) {
	if l == nil {
		return nil, errors.New("ledgeranchors: Start needs a ledger")
	}
	view := ledger.NewView(l, ledger.ViewOptions{Reconcile: opts.Reconcile, Logger: opts.Logger})
	runCtx, cancel := context.WithCancel(context.Background())
	a := &Anchors{view: view, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		view.Run(runCtx)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !view.Ready() {
		select {
		case <-ctx.Done():
			a.Close()
			if err := view.Health().LastError; err != nil {
				return nil, errors.Join(ErrNotReady, err)
			}
			return nil, errors.Join(ErrNotReady, ctx.Err())
		case <-tick.C:
		}
	}
	return a, nil
}

// Close stops following the ledger and waits until the view has stopped.
// Lookups keep answering from the last state.
func (a *Anchors) Close() error {
	a.once.Do(func() {
		a.cancel()
		<-a.done
	})
	return nil
}

// Health reports how current the heads are.
func (a *Anchors) Health() ledger.ViewHealth { return a.view.Health() }

// IssuerRegion implements sdk.StatusAnchors: the active region whose
// registry record names issuer (a node's DID or base URL).
func (a *Anchors) IssuerRegion(issuer string) (string, bool) { return a.view.IssuerRegion(issuer) }

// IssuerKey implements sdk.RegistryKeys: the key kid of the active
// region whose record names issuer, when active or retiring. Errors
// match ErrUnknownIssuer (also for a suspended region), ErrUnknownKey or
// ErrKeyNotValid.
func (a *Anchors) IssuerKey(issuer, kid string) (crypto.PublicKey, string, error) {
	region, ok := a.view.IssuerRegion(issuer)
	if !ok {
		return nil, "", ErrUnknownIssuer
	}
	r, ok := a.view.Region(region)
	if !ok {
		return nil, "", ErrUnknownIssuer
	}
	pub, alg, err := a.keys.Key(r, regionkey.Kid(kid))
	if err != nil {
		return nil, "", regionkey.Wrap(err, ErrUnknownIssuer, ErrKeyNotValid, ErrUnknownKey)
	}
	return pub, alg, nil
}

// QRIssuerKey implements qrcode.RegionKeySource: the key of region whose
// kid hint (qrcode.KidHint) is hint, from that region's registry record
// only, when the region is active and the key active or retiring (the
// node's lookup, federation.Keys.QRIssuerKey). Errors match
// qrcode.ErrUnknownKey and ErrUnknownIssuer (a region unknown or not active),
// ErrKeyNotValid or ErrUnknownKey.
func (a *Anchors) QRIssuerKey(_ context.Context, region uint32, hint []byte) (crypto.PublicKey, error) {
	code := fmt.Sprintf("%06d", region)
	r, ok := a.view.Region(code)
	if !ok {
		return nil, fmt.Errorf("%w: %w: region %s", qrcode.ErrUnknownKey, ErrUnknownIssuer, code)
	}
	pub, _, err := a.keys.Key(r, func(k chaincode.RegistryKey) bool { return bytes.Equal(qrcode.KidHint(k.Kid), hint) })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", qrcode.ErrUnknownKey, regionkey.Wrap(err, ErrUnknownIssuer, ErrKeyNotValid, ErrUnknownKey))
	}
	return pub, nil
}

// StatusHead implements sdk.StatusAnchors.
func (a *Anchors) StatusHead(region, list string) (chaincode.StatusHead, bool) {
	return a.view.StatusHead(region, list)
}

// CheckList implements sdk.StatusAnchors: nil when chaincode.ListDigest
// of encoded is the digest of region's head for list.
func (a *Anchors) CheckList(region, list string, encoded []byte) (chaincode.StatusHead, error) {
	return a.view.CheckList(region, list, encoded)
}
