package qrcode

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

// IssuerKey is one trusted issuer verification key.
type IssuerKey struct {
	Kid    string // keystore kid (RFC 7638 thumbprint)
	Public crypto.PublicKey
}

// IssuerKeySource lists the issuer keys a verifier trusts: the node's
// published keys, a cached JWKS of the trust registry, a JWKS file. The
// Verifier caches the SM2 keys it returns by kid hint and asks again when
// a payload names a kid it does not know (at most once per KeyRefresh),
// or at once when VerifierConfig.KeysGeneration says the keys changed.
// Implementations must be safe for concurrent use; an error means the
// source could not be read (the verifier keeps its cache).
type IssuerKeySource interface {
	IssuerKeys(ctx context.Context) ([]IssuerKey, error)
}

// RegionKeySource resolves an issuer key of another region from the trust
// registry by the payload's region and kid hint (federation.Keys): the
// region must be active and the key active or retiring. Errors should
// match ErrUnknownKey (no such usable key) or ErrUnavailable (the source
// cannot say yet); others are reported as ErrUnknownKey. Implementations
// must be safe for concurrent use and should not block on the network.
type RegionKeySource interface {
	QRIssuerKey(ctx context.Context, region uint32, kidHint []byte) (crypto.PublicKey, error)
}

// StaticKeys is an IssuerKeySource with a fixed list.
type StaticKeys []IssuerKey

// IssuerKeys returns the list.
func (s StaticKeys) IssuerKeys(context.Context) ([]IssuerKey, error) { return s, nil }

// Status is an entry's state in a status list.
type Status uint8

// Statuses.
const (
	StatusValid Status = iota
	StatusRevoked
	StatusSuspended
)

// StatusChecker reports the status of a status-list entry from a cached
// list. Online (a node's own lists) the answer is current, so a revocation
// takes effect at once; offline it is as fresh as the verifier's last list
// refresh. It returns an error (wrapped ErrStatusUnavailable is best) when
// it has no list fresh enough to answer: verification then fails closed.
// Implementations must be safe for concurrent use.
type StatusChecker interface {
	Status(ctx context.Context, ref StatusRef) (Status, error)
}

// CounterStore remembers, per device binding, the highest counter seen, to
// detect replayed codes and cloned devices. Advance atomically records
// counter for binding when it is higher than the last one and returns
// nil; it returns ErrReplayed when counter equals the last one and
// ErrCloneSuspected when it is lower. Implementations must be safe for
// concurrent use.
type CounterStore interface {
	Advance(ctx context.Context, binding []byte, counter uint64) error
}

// Defaults of VerifierConfig.
const (
	DefaultWindow     = 60 * time.Second
	DefaultKeyRefresh = 30 * time.Second
)

// VerifierConfig configures NewVerifier.
type VerifierConfig struct {
	// Keys lists the trusted issuer keys. Required.
	Keys IssuerKeySource
	// Region, when set, is the one region Keys sign for: a payload naming
	// another region is checked with the key Regions gives for (its region,
	// its kid hint), and refused with ErrUnknownKey when Regions is nil.
	// Zero trusts Keys for any region (a stand-alone verifier given an
	// issuer's JWKS file).
	Region uint32
	// Regions resolves other regions' keys from the trust registry; nil
	// means none are trusted.
	Regions RegionKeySource
	// Instances, with Region, resolves a key of Region that Keys does not
	// list from the region's record in the trust registry: another
	// instance of the region signed with a key this one's keystore lacks
	// yet (federation.Instances). Asked on every use, never cached. Nil:
	// Keys only.
	Instances RegionKeySource
	// Status checks status entries. Required.
	Status StatusChecker
	// Counters detects replays and clones; nil disables the check (for
	// stateless verifiers that rely on the window and challenges).
	Counters CounterStore
	// Window is the accepted distance between an offline code's time and
	// the verifier's clock, both ways. Zero means DefaultWindow.
	Window time.Duration
	// KeyRefresh is the least time between two reloads of Keys triggered
	// by an unknown kid. Zero means DefaultKeyRefresh.
	KeyRefresh time.Duration
	// KeysGeneration, when set, changes whenever Keys' answer may have
	// (keystore.Store.Generation for a node's own keys): the next lookup
	// after a change reads Keys again whatever KeyRefresh says, so a key
	// added is known and a key withdrawn refused at once. Nil: a key
	// added is seen within KeyRefresh, a key withdrawn only at the next
	// reload.
	KeysGeneration func() uint64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks offline and static codes without network: signatures
// with cached issuer keys, status with a cached checker, freshness,
// challenges, counters and delegations. It is safe for concurrent use.
//
// Keys it knows are read without a lock. A reload (an unknown kid hint)
// calls Keys outside any lock the known-key path takes, one reload at a
// time: concurrent lookups of unknown hints wait for that reload (or
// their context), and lookups of known keys are never held up by it,
// unless KeysGeneration moved: then every lookup waits for the reload.
type Verifier struct {
	cfg VerifierConfig

	keys atomic.Pointer[keySet]

	mu         sync.Mutex // guards the fields below
	lastReload time.Time
	loaded     bool
	reloading  *keyReload // the reload in flight, or nil
}

// keySet is the SM2 keys of one read of Keys by kid hint, and the
// KeysGeneration read before it.
type keySet struct {
	byHint     map[[KidHintSize]byte]*gm.PublicKey
	generation uint64
}

// keyReload is one call of Keys in flight; done is closed when it ends.
type keyReload struct {
	done chan struct{}
	err  error
}

// NewVerifier returns a verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Keys == nil || cfg.Status == nil {
		return nil, fmt.Errorf("%w: a verifier needs issuer keys and a status checker", ErrInvalidArgument)
	}
	if cfg.Instances != nil && cfg.Region == 0 {
		return nil, fmt.Errorf("%w: a verifier's instances need its region", ErrInvalidArgument)
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.KeyRefresh <= 0 {
		cfg.KeyRefresh = DefaultKeyRefresh
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{cfg: cfg}
	v.keys.Store(&keySet{})
	return v, nil
}

// cached returns the key of hint h in the cached set, and whether that
// set is current (KeysGeneration has not moved since it was read); a key
// of a set not current is not returned.
func (v *Verifier) cached(h [KidHintSize]byte) (*gm.PublicKey, bool) {
	set := v.keys.Load()
	if v.cfg.KeysGeneration != nil && v.cfg.KeysGeneration() != set.generation {
		return nil, false
	}
	return set.byHint[h], true
}

// key returns the cached SM2 key for a kid hint, reloading the source when
// the keys changed (KeysGeneration), or when the hint is unknown and the
// last reload is old enough.
func (v *Verifier) key(ctx context.Context, hint []byte) (*gm.PublicKey, error) {
	var h [KidHintSize]byte
	copy(h[:], hint)
	if k, _ := v.cached(h); k != nil {
		return k, nil
	}
	for {
		v.mu.Lock()
		k, current := v.cached(h)
		if k != nil {
			v.mu.Unlock()
			return k, nil
		}
		if r := v.reloading; r != nil {
			// Another lookup is reloading: wait for it, then look again.
			v.mu.Unlock()
			select {
			case <-r.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: issuer keys: %w", ErrUnavailable, ctx.Err())
			}
			if k, _ := v.cached(h); k != nil {
				return k, nil
			}
			if r.err != nil {
				return nil, r.err
			}
			continue // the reload just done decides (see lastReload)
		}
		now := v.cfg.Now()
		if v.loaded && current && now.Sub(v.lastReload) < v.cfg.KeyRefresh {
			v.mu.Unlock()
			return nil, ErrUnknownKey
		}
		r := &keyReload{done: make(chan struct{})}
		v.reloading = r
		v.mu.Unlock()

		r.err = v.reload(ctx, now)
		v.mu.Lock()
		v.reloading = nil
		v.mu.Unlock()
		close(r.done)
		if r.err != nil {
			return nil, r.err
		}
		if k := v.keys.Load().byHint[h]; k != nil {
			return k, nil
		}
		return nil, ErrUnknownKey
	}
}

// reload reads the key source, without holding mu, and swaps the new
// keys in. On error the current keys stay and the next lookup that needs
// a reload tries again.
func (v *Verifier) reload(ctx context.Context, now time.Time) error {
	var gen uint64
	if v.cfg.KeysGeneration != nil {
		gen = v.cfg.KeysGeneration() // before Keys: a change after it moves it again
	}
	list, err := v.cfg.Keys.IssuerKeys(ctx)
	if err != nil {
		return fmt.Errorf("%w: issuer keys: %w", ErrUnavailable, err)
	}
	keys := make(map[[KidHintSize]byte]*gm.PublicKey, len(list))
	for _, ik := range list {
		pk, err := sm2Public(ik.Public)
		if err != nil {
			continue // only SM2 keys sign QR payloads
		}
		var kh [KidHintSize]byte
		copy(kh[:], KidHint(ik.Kid))
		keys[kh] = pk
	}
	v.keys.Store(&keySet{byHint: keys, generation: gen})
	v.mu.Lock()
	v.loaded, v.lastReload = true, now
	v.mu.Unlock()
	return nil
}

// issuerKey returns the key of the payload's region and kid hint: the
// verifier's own keys for its region (or any region when Region is zero),
// then the region's record (Instances); else the registry's key of that
// region.
func (v *Verifier) issuerKey(ctx context.Context, region uint32, hint []byte) (*gm.PublicKey, error) {
	src := v.cfg.Regions
	if v.cfg.Region == 0 || region == v.cfg.Region {
		k, err := v.key(ctx, hint)
		if !errors.Is(err, ErrUnknownKey) || v.cfg.Instances == nil {
			return k, err
		}
		src = v.cfg.Instances
	}
	if src == nil {
		return nil, fmt.Errorf("%w: region %d is not trusted here", ErrUnknownKey, region)
	}
	pub, err := src.QRIssuerKey(ctx, region, hint)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: region %d: %w", ErrUnknownKey, region, err)
	}
	k, err := sm2Public(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: region %d: %w", ErrUnknownKey, region, err)
	}
	return k, nil
}

// checkSigned verifies an issuer envelope of a payload naming region.
func (v *Verifier) checkSigned(ctx context.Context, context string, region uint32, s signed) error {
	k, err := v.issuerKey(ctx, region, s.Kid)
	if err != nil {
		return err
	}
	if k.Verify(sigInput(context, s.Kid, s.Payload), s.Sig) != nil {
		return fmt.Errorf("%w: issuer signature", ErrSignature)
	}
	return nil
}

func (v *Verifier) checkStatus(ctx context.Context, ref StatusRef, what string) error {
	st, err := v.cfg.Status.Status(ctx, ref)
	if err != nil {
		if errors.Is(err, ErrStatusUnavailable) || errors.Is(err, ErrUnknownStatusList) {
			return err
		}
		return fmt.Errorf("%w: %s: %w", ErrStatusUnavailable, what, err)
	}
	if st != StatusValid {
		return fmt.Errorf("%w: %s", st.Err(), what)
	}
	return nil
}

// Err is the error of a status other than valid: ErrSuspended for a
// suspension, else ErrRevoked.
func (s Status) Err() error {
	if s == StatusSuspended {
		return ErrSuspended
	}
	return ErrRevoked
}

// VerifyOptions are the checks of one verification.
type VerifyOptions struct {
	// Challenge, when set, must equal the code's challenge (interactive
	// use: the verifier showed it to the holder's app).
	Challenge []byte
	// Audience, when set, must equal the code's audience hint if the code
	// has one.
	Audience string
	// Action is what the presenter wants to do; a delegated code must
	// have it in its scope. Empty means ActionPresent.
	Action string
}

// Party is a subject in a verification result.
type Party struct {
	Subject []byte
	// MaskedName is the masked display name when the payload carries one.
	MaskedName string
}

// String shows the masked name, or a short prefix of the subject.
func (p Party) String() string {
	if p.MaskedName != "" {
		return p.MaskedName
	}
	return "subject " + hex.EncodeToString(p.Subject[:min(len(p.Subject), 6)])
}

// Result is what a verified code proves.
type Result struct {
	Kind      Kind
	Presenter Party  // who showed the code
	Region    string // issuing region, six digits
	Assurance int
	// Time and Counter are the offline code's; zero for static codes.
	Time    time.Time
	Counter uint64
	// PresentationID identifies an offline code's presentation: SM3 of
	// the message the device signed (binding, delegation, presentation,
	// disclosures), so every text of the same signed content, re-signed
	// or re-encoded, has the same ID. A single-use check keys on it, never
	// on the text. Nil for static codes.
	PresentationID []byte
	// Claims are the binding's attested claims (offline codes).
	Claims map[string]string
	// Static holds the printed data of a static code.
	Static *Static
	// OnBehalfOf is the principal of a delegated code, nil otherwise;
	// Delegation then holds the verified delegation and Action the action
	// it allowed.
	OnBehalfOf *Party
	Delegation *Delegation
	Action     string
}

// Summary is one line for a verifier's screen, e.g. "presented by 张* on
// behalf of 李**".
func (r *Result) Summary() string {
	s := "presented by " + r.Presenter.String()
	if r.OnBehalfOf != nil {
		s += " (" + r.Delegation.Relationship.String() + ") on behalf of " + r.OnBehalfOf.String() + " for " + r.Action
	}
	return fmt.Sprintf("%s, assurance %d, region %s", s, r.Assurance, r.Region)
}

// Verify checks a payload of any kind the verifier handles (offline or
// static) and returns what it proves.
func (v *Verifier) Verify(ctx context.Context, text string, opts VerifyOptions) (*Result, error) {
	k, err := DetectKind(text)
	if err != nil {
		return nil, err
	}
	switch k {
	case KindOffline:
		return v.VerifyOffline(ctx, text, opts)
	case KindStatic:
		return v.VerifyStatic(ctx, text)
	}
	return nil, fmt.Errorf("%w: an online code must be redeemed at its region's node", ErrKind)
}

// VerifyOffline checks an offline code: the issuer's signature on the
// binding, the device's signature on the presentation, the binding's
// validity and status, the freshness window, the challenge and audience,
// the delegation (signature, validity, status, presenter, scope) and
// finally the counter. The counter is recorded only for codes that passed
// every other check, so forged codes cannot advance it.
func (v *Verifier) VerifyOffline(ctx context.Context, text string, opts VerifyOptions) (*Result, error) {
	p, err := decodeOffline(text)
	if err != nil {
		return nil, err
	}
	now := v.cfg.Now()
	if d := now.Sub(p.pres.Time); d > v.cfg.Window || d < -v.cfg.Window {
		return nil, ErrStale
	}
	if opts.Challenge != nil && !bytes.Equal(opts.Challenge, p.pres.Challenge) {
		return nil, ErrChallenge
	}
	if opts.Audience != "" && p.pres.Audience != "" && opts.Audience != p.pres.Audience {
		return nil, ErrAudience
	}
	if err := v.checkSigned(ctx, ctxBinding, p.binding.Region, p.bindingSigned); err != nil {
		return nil, fmt.Errorf("binding: %w", err)
	}
	if p.binding.DeviceKey.Verify(p.deviceMsg, p.deviceSig) != nil {
		return nil, fmt.Errorf("%w: device signature", ErrSignature)
	}
	if now.Before(p.binding.IssuedAt.Add(-v.cfg.Window)) || !now.Before(p.binding.Expiry) {
		return nil, ErrBindingExpired
	}
	if err := v.checkStatus(ctx, p.binding.Status, "device binding"); err != nil {
		return nil, err
	}
	r := &Result{
		Kind: KindOffline, Presenter: Party{Subject: p.binding.Subject}, Region: regionString(p.binding.Region),
		Assurance: p.binding.Assurance, Time: p.pres.Time, Counter: p.pres.Counter, Claims: p.binding.Claims,
	}
	pid := gm.SM3(p.deviceMsg)
	r.PresentationID = pid[:]
	if p.delegation != nil {
		if err := v.checkDelegation(ctx, p, now, opts.Action, r); err != nil {
			return nil, err
		}
	}
	if v.cfg.Counters != nil {
		id := gm.SM3(p.bindingSigned.Sig)
		if err := v.cfg.Counters.Advance(ctx, id[:16], p.pres.Counter); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// VerifyDelegation checks a delegation presented online beside a holder's
// signed request (a guardian approving a login for the person they act
// for): the issuer's signature, that actor (the authenticated holder's
// binding subject) is its actor, its validity at now, its status, and that
// its scope allows action (ActionPresent when empty). Errors match
// ErrDelegation, ErrDelegationScope, a status error or a decoding
// sentinel.
func (v *Verifier) VerifyDelegation(ctx context.Context, raw, actor []byte, action string, now time.Time) (*Delegation, error) {
	d, s, err := decodeDelegation(raw)
	if err != nil {
		return nil, err
	}
	p := &offlineParts{binding: Binding{Subject: actor}, delegation: &d, delegSigned: s}
	if err := v.checkDelegation(ctx, p, now, action, &Result{}); err != nil {
		return nil, err
	}
	return &d, nil
}

func (v *Verifier) checkDelegation(ctx context.Context, p *offlineParts, now time.Time, action string, r *Result) error {
	d := p.delegation
	if err := v.checkSigned(ctx, ctxDelegation, d.Status.Region, p.delegSigned); err != nil {
		return fmt.Errorf("delegation: %w", err)
	}
	if !bytes.Equal(d.Actor, p.binding.Subject) {
		return fmt.Errorf("%w: the presenter is not the delegation's actor", ErrDelegation)
	}
	if now.Before(d.NotBefore) || !now.Before(d.Expiry) {
		return ErrDelegationExpired
	}
	if err := v.checkStatus(ctx, d.Status, "delegation"); err != nil {
		return err
	}
	if action == "" {
		action = ActionPresent
	}
	if !slices.Contains(d.Scope, action) {
		return fmt.Errorf("%w: %q", ErrDelegationScope, action)
	}
	r.Presenter.MaskedName = d.ActorName
	r.OnBehalfOf = &Party{Subject: d.Principal, MaskedName: d.PrincipalName}
	r.Delegation, r.Action = d, action
	return nil
}

// VerifyStatic checks a static code: the issuer's signature, validity and
// status. The result's Static holds the masked data to show.
func (v *Verifier) VerifyStatic(ctx context.Context, text string) (*Result, error) {
	st, s, err := decodeStatic(text)
	if err != nil {
		return nil, err
	}
	if err := v.checkSigned(ctx, ctxStatic, st.Region, s); err != nil {
		return nil, fmt.Errorf("static code: %w", err)
	}
	now := v.cfg.Now()
	if now.Before(st.IssuedAt.Add(-v.cfg.Window)) || !now.Before(st.Expiry) {
		return nil, ErrBindingExpired
	}
	if err := v.checkStatus(ctx, st.Status, "static code"); err != nil {
		return nil, err
	}
	return &Result{
		Kind: KindStatic, Presenter: Party{Subject: st.Subject, MaskedName: st.MaskedName},
		Region: regionString(st.Region), Assurance: st.Assurance, Static: &st,
	}, nil
}

// MemoryCounters is an in-memory CounterStore for one verifier (a gate, a
// counter terminal), bounded to Max bindings: when full, the least
// recently advanced half is forgotten. The zero value holds 100,000.
type MemoryCounters struct {
	Max int

	mu   sync.Mutex
	last map[string]counterEntry
	tick uint64
}

type counterEntry struct{ counter, tick uint64 }

var _ CounterStore = (*MemoryCounters)(nil)

// Advance implements CounterStore.
func (m *MemoryCounters) Advance(ctx context.Context, binding []byte, counter uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		m.last = map[string]counterEntry{}
	}
	m.tick++
	if e, ok := m.last[string(binding)]; ok {
		switch {
		case counter == e.counter:
			return ErrReplayed
		case counter < e.counter:
			return ErrCloneSuspected
		}
	}
	max := m.Max
	if max <= 0 {
		max = 100_000
	}
	if len(m.last) >= max {
		m.evict()
	}
	m.last[string(binding)] = counterEntry{counter: counter, tick: m.tick}
	return nil
}

// evict forgets the older half of the entries.
func (m *MemoryCounters) evict() {
	ticks := make([]uint64, 0, len(m.last))
	for _, e := range m.last {
		ticks = append(ticks, e.tick)
	}
	slices.Sort(ticks)
	cut := ticks[len(ticks)/2]
	for k, e := range m.last {
		if e.tick < cut {
			delete(m.last, k)
		}
	}
}
