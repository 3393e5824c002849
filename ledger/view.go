package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/retrylog"
)

// StatusHeads is what a verifier needs to check a fetched status list;
// *View implements it.
type StatusHeads interface {
	// CheckList returns nil when encoded is the list whose digest region
	// anchored for list, ErrListUnknown when no head is anchored, and
	// ErrListDigest when the digest differs (a stale or forged list).
	CheckList(region, list string, encoded []byte) (chaincode.StatusHead, error)
}

// Errors of list checks.
var (
	ErrListUnknown = errors.New("ledger: no status head is anchored for this list")
	ErrListDigest  = errors.New("ledger: status list does not match the digest anchored on the ledger (stale or forged)")
	ErrNotReady    = errors.New("ledger: the local view has not loaded the ledger yet")
)

// ViewOptions configures a View. Zero values: reconcile every minute, do
// not keep statuses, discard the log, the system clock.
type ViewOptions struct {
	// Reconcile is how often the whole registry and every region's heads
	// are read again, in case an event was missed.
	Reconcile time.Duration
	// TrackStatuses keeps every anchored status change (from block 0), for
	// Status lookups. Off, only heads and the registry are kept.
	TrackStatuses bool
	// OnEvent, if set, is called after each event is applied (cache
	// invalidation hooks, metrics). It must not block.
	OnEvent func(Event)
	// Logger receives a warning each time the view loses the ledger.
	Logger *slog.Logger
	Now    func() time.Time
}

// ViewHealth is how current a View is.
type ViewHealth struct {
	// Ready: the view has loaded the ledger once (lookups answer).
	Ready bool
	// LastRefresh is when the view last read the whole registry and every
	// region's heads (at start and each reconcile); zero before.
	LastRefresh time.Time
	// LastError is what last stopped the view from following the ledger,
	// nil once it follows again; LastErrorAt is when it happened. Run
	// retries every second meanwhile, and lookups answer from memory.
	LastError   error
	LastErrorAt time.Time
}

// View is a node's local copy of the registry and the status heads,
// refreshed by the ledger's events with a periodic reconcile, so lookups
// on the verification path never wait for the chain. Safe for concurrent
// use.
type View struct {
	l    Ledger
	c    Client
	opts ViewOptions

	mu        sync.RWMutex
	ready     bool
	regions   map[string]chaincode.Region
	hosts     map[string][]string    // region codes by host (chaincode.Region.Hosts)
	byDID     map[string][]regionRef // regions by DID
	byURL     map[string][]regionRef // regions by endpoint URL, one trailing slash trimmed
	issuers   map[string]chaincode.Issuer
	idHosts   map[string]string // chaincode.IDHost of the issuers' IDs ("": none)
	rps       map[string]chaincode.RelyingParty
	terminals map[string]chaincode.Terminal
	heads     map[[2]string]chaincode.StatusHead
	statuses  map[[2]string]map[uint64]uint8
	applied   uint64 // events applied
	health    ViewHealth
	// gen counts the registry's changes in the view (Generation).
	gen atomic.Uint64
}

var _ StatusHeads = (*View)(nil)

// NewView returns a view of l; call Run to fill and follow it.
func NewView(l Ledger, opts ViewOptions) *View {
	if opts.Reconcile <= 0 {
		opts.Reconcile = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &View{l: l, c: Client{L: l}, opts: opts, statuses: map[[2]string]map[uint64]uint8{}}
}

// load reads the whole registry and every region's heads.
func (v *View) load(ctx context.Context) error {
	regions, err := v.c.Regions(ctx)
	if err != nil {
		return err
	}
	issuers, err := v.c.Issuers(ctx)
	if err != nil {
		return err
	}
	rps, err := v.c.RelyingParties(ctx)
	if err != nil {
		return err
	}
	terms, err := v.c.Terminals(ctx)
	if err != nil {
		return err
	}
	heads := map[[2]string]chaincode.StatusHead{}
	for _, r := range regions {
		hs, err := v.c.StatusHeads(ctx, r.Code)
		if err != nil {
			return err
		}
		for _, h := range hs {
			heads[[2]string{h.Region, h.List}] = h
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.regions, v.issuers, v.rps, v.terminals = map[string]chaincode.Region{}, map[string]chaincode.Issuer{}, map[string]chaincode.RelyingParty{}, map[string]chaincode.Terminal{}
	for _, r := range regions {
		v.regions[r.Code] = r
	}
	v.indexRegions()
	v.idHosts = map[string]string{}
	for _, x := range issuers {
		v.issuers[x.ID] = x
		v.idHosts[x.ID], _ = chaincode.IDHost(x.ID)
	}
	for _, x := range rps {
		v.rps[x.ClientID] = x
	}
	for _, x := range terms {
		v.terminals[x.ID] = x
	}
	// Keep a head newer than what was read (an event may have overtaken
	// the read).
	for k, h := range v.heads {
		if cur, ok := heads[k]; !ok || cur.Version < h.Version {
			heads[k] = h
		}
	}
	v.heads = heads
	v.ready = true
	v.health.LastRefresh = v.opts.Now()
	v.gen.Add(1)
	return nil
}

// Run loads the view, then follows the ledger's events and reconciles
// periodically until ctx ends, and returns ctx's error. When the ledger
// fails (unavailable, an event it cannot apply) Run records the error
// (Health), logs it (the same error again rarely while it repeats:
// internal/retrylog) and starts again after viewRetry. A failure after it
// followed the ledger again (follow) is logged at once.
func (v *View) Run(ctx context.Context) error {
	failed := retrylog.Log{Now: v.opts.Now}
	for {
		followed, err := v.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if followed {
			failed.Reset()
		}
		v.mu.Lock()
		last := v.health.LastRefresh
		v.mu.Unlock()
		// Log before recording, so whoever sees the error in Health also
		// finds it in the log (a repeat rarely: retrylog).
		failed.Warn(v.opts.Logger, "ledger view: lost the ledger; lookups answer from the last refresh; retrying every 1s", err,
			slog.Time("last_refresh", last))
		v.mu.Lock()
		v.health.LastError, v.health.LastErrorAt = err, v.opts.Now()
		v.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(viewRetry):
		}
	}
}

// viewRetry is how long Run waits before following the ledger again, and
// how long a stream must stay open to count as following it.
const viewRetry = time.Second

// follow loads the view and follows the ledger's events until it fails.
// followed reports that it followed the ledger, as Follow counts a
// recovery: its stream applied an event or stayed open for viewRetry. A
// stream that ends at once does not count, so a link that fails right
// after each subscription is logged rarely, as one failure.
func (v *View) follow(ctx context.Context) (followed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h, err := v.l.Height(ctx)
	if err != nil {
		return false, err
	}
	if err := v.load(ctx); err != nil {
		return false, err
	}
	from := h
	if v.opts.TrackStatuses {
		from = 0
	}
	events, err := v.l.Events(ctx, from)
	if err != nil {
		return false, err
	}
	v.mu.Lock()
	v.health.LastError = nil // following again
	v.mu.Unlock()
	tick := time.NewTicker(v.opts.Reconcile)
	defer tick.Stop()
	open := time.NewTimer(viewRetry)
	defer open.Stop()
	opened := open.C
	for {
		var ev Event
		var ok bool
		select {
		case <-ctx.Done():
			return followed, ctx.Err()
		case <-tick.C:
			if err := v.load(ctx); err != nil {
				return followed, err
			}
			continue
		case <-opened:
			opened = nil
			// A stream that ended or holds an event is read first: only
			// one still open and waiting counts.
			select {
			case ev, ok = <-events:
			default:
				followed = true
				continue
			}
		case ev, ok = <-events:
		}
		if !ok {
			return followed, fmt.Errorf("%w: event stream ended", ErrUnavailable)
		}
		if err := v.apply(ctx, ev, ev.Block < h); err != nil {
			return followed, err
		}
		followed = true
	}
}

// apply applies one event. Registry events of blocks the initial load
// already covered (replay) are skipped.
func (v *View) apply(ctx context.Context, ev Event, replay bool) error {
	switch ev.Name {
	case chaincode.EventStatusBatch:
		if v.opts.TrackStatuses {
			var b chaincode.Batch
			if err := json.Unmarshal(ev.Payload, &b); err != nil {
				return err
			}
			cs, err := chaincode.DecodeBatch(b)
			if err != nil {
				return err
			}
			v.mu.Lock()
			for _, c := range cs {
				k := [2]string{b.Region, c.List}
				m := v.statuses[k]
				if m == nil {
					m = map[uint64]uint8{}
					v.statuses[k] = m
				}
				m[c.Index] = c.Status
			}
			v.mu.Unlock()
		}
	case chaincode.EventStatusHeads:
		var he chaincode.HeadsEvent
		if err := json.Unmarshal(ev.Payload, &he); err != nil {
			return err
		}
		v.mu.Lock()
		for _, h := range he.Heads {
			k := [2]string{h.Region, h.List}
			if cur, ok := v.heads[k]; !ok || cur.Version < h.Version {
				v.heads[k] = h
			}
		}
		v.mu.Unlock()
	case chaincode.EventRegistry:
		if replay {
			break
		}
		var re chaincode.RegistryEvent
		if err := json.Unmarshal(ev.Payload, &re); err != nil {
			return err
		}
		if err := v.refresh(ctx, re); err != nil {
			return err
		}
	}
	v.mu.Lock()
	v.applied++
	v.mu.Unlock()
	if v.opts.OnEvent != nil {
		v.opts.OnEvent(ev)
	}
	return nil
}

// refresh reads the one registry entry an event names.
func (v *View) refresh(ctx context.Context, re chaincode.RegistryEvent) error {
	switch re.Kind {
	case "region":
		r, err := v.c.Region(ctx, re.ID)
		if err != nil {
			return err
		}
		v.mu.Lock()
		v.regions[r.Code] = r
		v.indexRegions()
		v.mu.Unlock()
	case "issuer":
		x, err := v.c.Issuer(ctx, re.ID)
		if err != nil {
			return err
		}
		host, _ := chaincode.IDHost(x.ID)
		v.mu.Lock()
		v.issuers[x.ID], v.idHosts[x.ID] = x, host
		v.mu.Unlock()
	case "relying_party":
		x, err := v.c.RelyingParty(ctx, re.ID)
		if err != nil {
			return err
		}
		v.mu.Lock()
		v.rps[x.ClientID] = x
		v.mu.Unlock()
	case "terminal":
		x, err := v.c.Terminal(ctx, re.ID)
		if err != nil {
			return err
		}
		v.mu.Lock()
		v.terminals[x.ID] = x
		v.mu.Unlock()
	}
	v.gen.Add(1)
	return nil
}

// Generation counts the changes of the registry in the view (a load or
// reconcile, an entry read again on its event): it grows after each
// change is in place, so a caller that checked an entry at generation g
// and reads g again knows the entry has not changed since, at the cost
// of an atomic load. It never decreases.
func (v *View) Generation() uint64 { return v.gen.Load() }

// Ready reports whether the view has loaded the ledger once.
func (v *View) Ready() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.ready
}

// Health reports how current the view is.
func (v *View) Health() ViewHealth {
	v.mu.RLock()
	defer v.mu.RUnlock()
	h := v.health
	h.Ready = v.ready
	return h
}

// Region returns a region from the view.
func (v *View) Region(code string) (chaincode.Region, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	r, ok := v.regions[code]
	return r, ok
}

// Issuer returns an issuer from the view.
func (v *View) Issuer(id string) (chaincode.Issuer, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	x, ok := v.issuers[id]
	return x, ok
}

// RelyingParty returns a relying party from the view.
func (v *View) RelyingParty(clientID string) (chaincode.RelyingParty, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	x, ok := v.rps[clientID]
	return x, ok
}

// RelyingParties returns every relying party in the view, sorted by
// client ID.
func (v *View) RelyingParties() []chaincode.RelyingParty {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return sortedValues(v.rps)
}

// Issuers returns every issuer in the view, sorted by ID.
func (v *View) Issuers() []chaincode.Issuer {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return sortedValues(v.issuers)
}

// Terminals returns every terminal in the view, sorted by ID.
func (v *View) Terminals() []chaincode.Terminal {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return sortedValues(v.terminals)
}

func sortedValues[T any](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// Terminal returns a verification terminal from the view.
func (v *View) Terminal(id string) (chaincode.Terminal, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	x, ok := v.terminals[id]
	return x, ok
}

// IssuerRegion returns the code of the active region whose registry
// record names issuer as its DID or as the URL of one of its endpoints (a
// node's did:web and its base URL), so a verifier knows under which region
// an issuer's status heads are anchored. It returns false when no active
// region does, or more than one.
func (v *View) IssuerRegion(issuer string) (string, bool) {
	return v.issuerRegion(issuer, chaincode.RegionActive)
}

// SuspendedIssuerRegion returns the code of the suspended region whose
// record names issuer as IssuerRegion matches it, so a verifier can say
// why it refuses the issuer. False when none does, or more than one.
func (v *View) SuspendedIssuerRegion(issuer string) (string, bool) {
	return v.issuerRegion(issuer, chaincode.RegionSuspended)
}

// issuerRegion answers from the index by DID (exact) and by endpoint URL
// (one trailing slash trimmed on both sides): the one region of status
// that names issuer.
func (v *View) issuerRegion(issuer, status string) (string, bool) {
	if issuer == "" {
		return "", false
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	found := "" // a region may be under both keys, or twice under one
	for _, refs := range [2][]regionRef{v.byDID[issuer], v.byURL[strings.TrimSuffix(issuer, "/")]} {
		for _, r := range refs {
			if r.status != status || r.code == found {
				continue
			}
			if found != "" {
				return "", false
			}
			found = r.code
		}
	}
	return found, found != ""
}

// regionRef is a region as issuerRegion's index holds it.
type regionRef struct{ code, status string }

// indexRegions rebuilds the regions' indexes (by host, by DID, by
// endpoint URL) from v.regions; v.mu is held. A region naming one URL
// twice is listed twice under it (issuerRegion counts codes).
func (v *View) indexRegions() {
	v.hosts, v.byDID, v.byURL = map[string][]string{}, map[string][]regionRef{}, map[string][]regionRef{}
	for code, r := range v.regions {
		for _, h := range r.Hosts() {
			v.hosts[h] = append(v.hosts[h], code)
		}
		ref := regionRef{code: code, status: r.Status}
		v.byDID[r.DID] = append(v.byDID[r.DID], ref)
		for _, e := range r.Endpoints {
			u := strings.TrimSuffix(e.URL, "/")
			v.byURL[u] = append(v.byURL[u], ref)
		}
	}
}

// OtherRegionOnHost returns a region other than region, whatever its
// status, whose record names a DID or an endpoint URL on the host of id
// (chaincode.IDHost, parsed once for the issuers in the view): an issuer
// ID there is not region's. False when there is none, or id has no host.
func (v *View) OtherRegionOnHost(id, region string) (string, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	host, ok := v.idHost(id)
	if !ok {
		return "", false
	}
	for _, code := range v.hosts[host] {
		if code != region {
			return code, true
		}
	}
	return "", false
}

// IDHost returns chaincode.IDHost(id), parsed once for the issuers in
// the view.
func (v *View) IDHost(id string) (string, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.idHost(id)
}

// idHost is IDHost; v.mu is held.
func (v *View) idHost(id string) (string, bool) {
	if host, ok := v.idHosts[id]; ok {
		return host, host != ""
	}
	return chaincode.IDHost(id)
}

// StatusHead returns a list's anchored head from the view.
func (v *View) StatusHead(region, list string) (chaincode.StatusHead, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	h, ok := v.heads[[2]string{region, list}]
	return h, ok
}

// StatusLists returns the IDs of the lists region anchored a head for,
// sorted.
func (v *View) StatusLists(region string) []string {
	v.mu.RLock()
	var ids []string
	for k := range v.heads {
		if k[0] == region {
			ids = append(ids, k[1])
		}
	}
	v.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

// CheckList implements StatusHeads.
func (v *View) CheckList(region, list string, encoded []byte) (chaincode.StatusHead, error) {
	v.mu.RLock()
	ready := v.ready
	h, ok := v.heads[[2]string{region, list}]
	v.mu.RUnlock()
	if !ready {
		return h, ErrNotReady
	}
	if !ok {
		return h, fmt.Errorf("%w: %s %s", ErrListUnknown, region, list)
	}
	if chaincode.ListDigest(encoded) != h.Digest {
		return h, fmt.Errorf("%w: %s %s version %d", ErrListDigest, region, list, h.Version)
	}
	return h, nil
}

// Status returns the last anchored status of an entry (TrackStatuses).
func (v *View) Status(region, list string, index uint64) (uint8, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s, ok := v.statuses[[2]string{region, list}][index]
	return s, ok
}
