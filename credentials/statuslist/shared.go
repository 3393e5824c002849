package statuslist

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/internal/retrylog"
	"github.com/trustid-cn/trustid/store"
)

// Anchorer is the ledger's durable outbox as Shared uses it;
// *ledger.Outbox implements it.
type Anchorer interface {
	// Anchor durably accepts changes (on disk when it returns nil,
	// concurrent callers sharing one fsync); they reach the chain whatever
	// happens to the process afterwards.
	Anchor(ctx context.Context, changes []chaincode.StatusChange) error
	// AnchorHeads durably accepts list heads.
	AnchorHeads(ctx context.Context, heads []chaincode.HeadInput) error
}

// ChosenBindings keeps the bindings of credential IDs a request chose on
// the ledger (chaincode BindCredentialIDs); cmd/trustid wires
// ledger.ChosenIDs (a ledger.Binder and a ledger.BindingIndex).
type ChosenBindings interface {
	// Bind records b on the chain and returns once it is committed; a
	// key bound to another value gives an error matching
	// chaincode.ErrBindingExists.
	Bind(ctx context.Context, b chaincode.CredentialBinding) error
	// Lookup returns the value bound to key, from a local copy or the
	// chain; a key the chain does not hold gives an error matching
	// chaincode.ErrNotFound, any other error means it could not tell.
	Lookup(ctx context.Context, key string) (string, error)
}

// Markers is the ephemeral store every instance of a region shares (Redis;
// the in-memory store for one instance), as Shared keeps its per-entry
// "change pending" markers in it; store.Store implements it.
type Markers interface {
	// Claim stores value for ttl under each of keys that is free, already
	// holds value (its ttl restarts) or holds a record beginning with
	// free (left by CompareAndReplace), and reports for each key whether
	// it did and the record it replaced.
	Claim(ctx context.Context, value, free []byte, ttl time.Duration, keys ...string) ([]store.Claimed, error)
	// CompareAndReplace stores value for ttl under each of keys that
	// holds old, and returns how many it replaced.
	CompareAndReplace(ctx context.Context, old, value []byte, ttl time.Duration, keys ...string) (int, error)
	// CompareAndDelete deletes each of keys that holds old, and returns
	// how many it deleted.
	CompareAndDelete(ctx context.Context, old []byte, keys ...string) (int, error)
}

// SharedOptions configures NewShared. All fields but Markers, the
// durations, Logger and Now are required.
type SharedOptions struct {
	// Own allocates: the lists this instance owns (opened with an
	// Instance), which only this instance allocates from.
	Own *FileStore
	// IDs makes and reads credential IDs under the region's key.
	IDs *CredentialIDs
	// Anchor takes changes and heads to the chain.
	Anchor Anchorer
	// Chosen binds credential IDs a request chose, on the chain.
	Chosen ChosenBindings
	// BindTimeout bounds how long BindOwner waits for a binding's commit
	// (default 10 s).
	BindTimeout time.Duration
	// Region is the region whose lists are materialized from the chain.
	Region string
	// BatchPrefix starts the IDs of the batches Anchor sends (the outbox's
	// node ID and "-"): this instance anchors the heads of the lists its
	// own batches changed.
	BatchPrefix string
	// Markers orders changes of one entry across the region's instances
	// (see Shared); nil for a region of one instance, whose outbox orders
	// them. Feed Done the changes the outbox is done with.
	Markers Markers
	// MarkerTTL is how long a marker lasts unless refreshed (RunMarkers)
	// or cleared: what an instance that died holding one makes the others
	// wait at most (default 30 s; longer than a commit).
	MarkerTTL time.Duration
	// MarkerWait bounds how long a change waits for another instance's
	// marker before it is refused with status.ErrChangePending (default
	// 10 s).
	MarkerWait time.Duration
	// Logger is told when heads could not be handed to Anchor (they are
	// retried a second later: error level, the outbox's disk failing),
	// markers could not be refreshed (retried at the next pass: warning
	// level, the shared store not answering) or cleared (they expire:
	// error level). A failure that repeats is logged rarely, at once
	// again after a success (internal/retrylog). Nil discards.
	Logger *slog.Logger
	// Now is the clock that paces those logs (nil: time.Now); a test
	// drives its own.
	Now func() time.Time
}

// Shared is the status store of one instance of a region whose instances
// share their status lists through the ledger. No instance owns a list's
// content:
//
//   - Allocation is local: each instance allocates only from the lists it
//     owns (Own, list IDs naming the instance), so no index is handed out
//     twice and no instance waits for another.
//   - A change of any list, by any instance, goes to the chain through the
//     outbox (Anchor, durable on return: a group commit) and is then
//     acknowledged. The instance also keeps it in a small overlay of its own
//     changes not yet on the chain (read your writes for its own checks:
//     Get).
//   - Every instance materializes every list of its region from the chain
//     (ApplyEvent, fed the ledger's events in commit order): the version of
//     a list is 1 plus the number of changes the chain holds for it, its
//     content the changes applied in chain order, a revocation (bitstring
//     bit, token TokenInvalid) final. The same chain gives every instance
//     the same list at the same version; Snapshot serves it (never the
//     overlay), so every instance publishes identical lists, at most the
//     chain's lag behind.
//   - The heads (version, digest) of a list are anchored by whoever needs
//     them to move: the owner for a new list (version 1), and each
//     instance for the lists its own batches changed, once it has applied
//     them. Heads are derived from chain order, so two instances anchoring
//     one list agree (the contract takes a repeated head as a no-op and
//     refuses an older one, which the outbox drops).
//   - Credential IDs carry their entries and owner (IDs), so Refs and
//     OwnedBy need no index and memory does not grow with issuance; so do
//     enrollment IDs (MintEnrollmentID: every copy's entries). An ID a
//     request chose is bound on the chain (Chosen): key an HMAC of the ID,
//     value its entries and owner encoded as a minted ID; BindOwner
//     returns once the binding is committed, the first binding of an ID
//     wins, and any instance reads it (its local copy, else the chain).
//
// Concurrent changes of one entry by two instances: the chain orders them
// and the later one wins on every instance, except that a revocation is
// final whatever comes after it. With Markers, the order is the order the
// instances answered: an instance accepting a change of an entry first
// claims the entry's marker in the region's shared store, naming itself
// (or refreshes it, if it holds it), and clears it once its outbox is done
// with every change of that entry it accepted (Done); an instance asked
// to change an entry whose marker names another waits until it is gone
// (at most MarkerWait, else status.ErrChangePending, nothing changed).
// A marker cleared after its holder's commit is confirmed leaves the
// commit's block and batch behind (for MarkerTTL): a change that reads
// the entry (SetManyIf's guards) and claims it over such a record waits,
// within the same MarkerWait, until this instance's view of the chain
// has applied that batch (ViewBlock), so it reads the holder's change.
//
// Safe for concurrent use.
type Shared struct {
	opts SharedOptions
	size int

	// logMu guards headsFailed and refreshFailed, the failures of the
	// heads' and the markers' retries (Logger).
	logMu         sync.Mutex
	headsFailed   retrylog.Log
	refreshFailed retrylog.Log

	announce sync.Mutex // serializes first heads of new own lists

	// anchoring is held (read) by SetMany from handing changes to Anchor
	// to recording them in the overlay; applyBatch takes it before it
	// applies one of this instance's batches, so no change reaches the
	// chain before its overlay entry exists (else the entry would outlive
	// it and hide later changes by other instances).
	anchoring sync.RWMutex

	mu    sync.RWMutex
	lists map[string]*chainList
	// overlay holds, per entry, this instance's changes not yet seen on
	// the chain, in the order it accepted them: it reads the last.
	overlay map[entryKey][]uint8
	dirty   map[string]bool // lists whose head this instance anchors next
	kick    chan struct{}
	// marking counts, per entry, this instance's changes accepted (or
	// being accepted) that the outbox is not done with; an entry in it
	// has its marker kept. markerLocks serialize claiming and clearing
	// one entry's marker (by a hash of the entry).
	marking map[entryKey]int
	// held is, for the entries whose marker this instance claimed (or
	// refreshed) and has not cleared or seen taken, when it last did: a
	// change of one claims it no more while that was less than
	// MarkerTTL/2 ago (RunMarkers refreshes it every MarkerTTL/3; an
	// instance that stalled longer, so that its marker may have lapsed,
	// claims again). Changed with the entry's marker lock held.
	held map[entryKey]time.Time
	// found is, for the entries whose marker this instance claimed over a
	// commit's record and has not cleared, that record: clearing the
	// marker without a commit of this instance's puts it back, so that
	// the next instance to claim the entry waits for that commit too.
	// Changed with the entry's marker lock held.
	found       map[entryKey][]byte
	markerLocks [64]sync.Mutex
	markerSeed  maphash.Seed
	// changing holds, per entry, a token (a channel of one) that this
	// instance's change of the entry takes from the check of its guards
	// to its record in the overlay: its changes of one entry are checked,
	// handed to the outbox and recorded in one order, the order the chain
	// applies them.
	changingMu sync.Mutex
	changing   map[entryKey]*entryTurn

	// viewBlock is the block of the last ledger event applied (ApplyEvent)
	// and viewBatches the IDs of the region's status batches of that
	// block applied; viewMoved, when not nil, is closed (and cleared) once
	// the next event is applied. Guarded by mu.
	viewBlock   uint64
	viewBatches []string
	viewMoved   chan struct{}
	// doneBlock is the newest block that committed a batch of this
	// instance (Done), for SettleHeads. Guarded by mu.
	doneBlock uint64
	// caughtUp is set once the lists reached the anchored heads (CaughtUp).
	caughtUp atomic.Bool
}

// commitRecord is what a cleared marker leaves in the store: its
// holder's batch and the block that committed it.
type commitRecord struct {
	key   entryKey
	block uint64
	batch string
}

// recordPrefix starts a commitRecord in the store; no instance name
// (the value of a held marker) starts with it.
const recordPrefix = "="

func (r commitRecord) value() []byte {
	return []byte(recordPrefix + strconv.FormatUint(r.block, 10) + " " + r.batch)
}

// parseRecord reads a commitRecord of entry k from the store.
func parseRecord(k entryKey, v []byte) (commitRecord, bool) {
	if !bytes.HasPrefix(v, []byte(recordPrefix)) {
		return commitRecord{}, false
	}
	block, batch, ok := strings.Cut(string(v[len(recordPrefix):]), " ")
	n, err := strconv.ParseUint(block, 10, 64)
	if !ok || err != nil || batch == "" {
		return commitRecord{}, false
	}
	return commitRecord{key: k, block: n, batch: batch}, true
}

type entryKey struct {
	list  string
	index int
}

// chainList is a list as the chain has it.
type chainList struct {
	purpose string
	version uint64
	updated time.Time
	bits    *status.Bitstring
	token   *status.TokenList
	head    uint64 // the newest head version seen on the chain
}

// NewShared returns the store; feed it the chain with ApplyEvent and the
// outbox's finished changes with Done, and run RunHeads and RunMarkers.
func NewShared(opts SharedOptions) (*Shared, error) {
	if opts.Own == nil || opts.Own.instance == "" || opts.IDs == nil || opts.Anchor == nil || opts.Chosen == nil || opts.Region == "" {
		return nil, errors.New("statuslist: a shared store needs an instance's own store, credential IDs, an anchorer, chosen-ID bindings and a region")
	}
	if opts.BindTimeout <= 0 {
		opts.BindTimeout = 10 * time.Second
	}
	if opts.MarkerTTL <= 0 {
		opts.MarkerTTL = 30 * time.Second
	}
	if opts.MarkerWait <= 0 {
		opts.MarkerWait = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Shared{opts: opts, size: opts.Own.size, headsFailed: retrylog.Log{Now: opts.Now}, refreshFailed: retrylog.Log{Now: opts.Now}, lists: map[string]*chainList{}, overlay: map[entryKey][]uint8{},
		dirty: map[string]bool{}, kick: make(chan struct{}, 1), marking: map[entryKey]int{}, held: map[entryKey]time.Time{}, found: map[entryKey][]byte{}, markerSeed: maphash.MakeSeed(),
		changing: map[entryKey]*entryTurn{}}
	for _, id := range opts.Own.Lists() {
		snap, err := opts.Own.Snapshot(context.Background(), id)
		if err != nil {
			return nil, err
		}
		if _, err := s.listLocked(id, snap.Purpose); err != nil {
			return nil, err
		}
		s.dirty[id] = true // its first head, if a crash lost it
	}
	s.signal()
	return s, nil
}

// listLocked returns the materialized list id of purpose ("" to take it
// from the ID), creating it empty at version 1. s.mu is held (or s is not
// shared yet).
func (s *Shared) listLocked(id, purpose string) (*chainList, error) {
	if l := s.lists[id]; l != nil {
		return l, nil
	}
	if purpose == "" {
		p, ok := status.ListPurpose(id)
		if !ok {
			return nil, fmt.Errorf("%w: list %s", status.ErrNotFound, id)
		}
		purpose = p
	}
	l := &chainList{purpose: purpose, version: 1}
	var err error
	if purpose == status.PurposeToken {
		l.token, err = status.NewTokenList(TokenBits, s.size)
	} else {
		l.bits, err = status.NewBitstring(s.size)
	}
	if err != nil {
		return nil, err
	}
	s.lists[id] = l
	return l, nil
}

func (s *Shared) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (l *chainList) value(i int) uint8 {
	if l.bits != nil {
		if l.bits.Get(i) {
			return 1
		}
		return 0
	}
	v, _ := l.token.Get(i)
	return v
}

func (l *chainList) maxValue() uint8 {
	if l.bits != nil {
		return 1
	}
	return status.TokenSuspended
}

// final reports whether entry i can no longer change: it is revoked.
func (l *chainList) final(i int) bool {
	v := l.value(i)
	return (l.purpose == status.PurposeRevocation && v == 1) || (l.purpose == status.PurposeToken && v == status.TokenInvalid)
}

// Allocate reserves an entry in a list this instance owns; a list it
// starts gets its first head handed to the outbox before Allocate returns.
func (s *Shared) Allocate(ctx context.Context, purpose string) (string, int, error) {
	refs, err := s.AllocateMany(ctx, purpose)
	if err != nil {
		return "", 0, err
	}
	return refs[0].ListID, refs[0].Index, nil
}

// AllocateMany reserves an entry of each of purposes, as Allocate does,
// all made durable by one group commit of the instance's own store.
func (s *Shared) AllocateMany(ctx context.Context, purposes ...string) ([]status.Ref, error) {
	refs, err := s.opts.Own.AllocateMany(ctx, purposes...)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		if err := s.announceList(ctx, r.ListID, r.Purpose); err != nil {
			return nil, err
		}
	}
	return refs, nil
}

// announceList hands the first head of own list id to the outbox, if
// the list is new to s.
func (s *Shared) announceList(ctx context.Context, id, purpose string) error {
	s.mu.RLock()
	_, known := s.lists[id]
	s.mu.RUnlock()
	if known {
		return nil
	}
	s.announce.Lock()
	defer s.announce.Unlock()
	s.mu.Lock()
	_, known = s.lists[id]
	var head chaincode.HeadInput
	if !known {
		l, err := s.listLocked(id, purpose)
		if err == nil {
			head, err = l.headInput(id)
		}
		if err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Unlock()
	if !known {
		if err := s.opts.Anchor.AnchorHeads(context.WithoutCancel(ctx), []chaincode.HeadInput{head}); err != nil {
			s.mu.Lock()
			s.dirty[id] = true // RunHeads retries
			s.mu.Unlock()
			s.signal()
			return fmt.Errorf("statuslist: first head of list %s: %w", id, err)
		}
	}
	return nil
}

// Set is SetMany of one entry.
func (s *Shared) Set(ctx context.Context, listID string, index int, value uint8) error {
	return s.SetMany(ctx, []status.Entry{{ListID: listID, Index: index, Value: value}})
}

// SetMany hands the changes to the outbox (one durable write, shared with
// concurrent callers) and returns when they are on disk; they reach the
// chain afterwards. Every instance's lists show them once they are on the
// chain; this instance's Get at once.
func (s *Shared) SetMany(ctx context.Context, entries []status.Entry) error {
	return s.SetManyIf(ctx, entries, nil, nil)
}

// SetManyIf is SetMany made only if check accepts the values of guards
// (in their order, each as Get reads it); else it returns check's error
// and changes nothing. The values are read once this instance holds the
// markers of the entries and the guards (with Markers): after the
// changes of them other instances accepted earlier are committed, and
// once this instance's view of the chain has applied those commits (the
// records their markers left); waiting for both takes at most
// MarkerWait, else status.ErrChangePending. This instance's changes of
// one entry take turns (take) from the check to the overlay, so they
// reach the outbox and the overlay in the order they were checked.
func (s *Shared) SetManyIf(ctx context.Context, entries []status.Entry, guards []status.Ref, check func(values []uint8) error) error {
	changes := make([]chaincode.StatusChange, len(entries))
	s.mu.RLock()
	for i, e := range entries {
		purpose, ok := status.ListPurpose(e.ListID)
		if l := s.lists[e.ListID]; l != nil {
			purpose, ok = l.purpose, true
		}
		max := uint8(1)
		if purpose == status.PurposeToken {
			max = status.TokenSuspended
		}
		switch {
		case !ok:
			s.mu.RUnlock()
			return fmt.Errorf("%w: list %s", status.ErrNotFound, e.ListID)
		case e.Index < 0 || e.Index >= s.size:
			s.mu.RUnlock()
			return fmt.Errorf("%w: %d", status.ErrIndex, e.Index)
		case e.Value > max:
			s.mu.RUnlock()
			return fmt.Errorf("%w: %d", status.ErrValue, e.Value)
		}
		changes[i] = chaincode.StatusChange{List: e.ListID, Index: uint64(e.Index), Status: e.Value}
	}
	for _, g := range guards {
		if _, _, err := s.valueLocked(g.ListID, g.Index); err != nil {
			s.mu.RUnlock()
			return err
		}
	}
	s.mu.RUnlock()
	guardKeys := make([]entryKey, len(guards))
	for i, g := range guards {
		guardKeys[i] = entryKey{g.ListID, g.Index}
	}
	keys := append(changeKeys(changes), guardKeys...)
	if s.opts.Markers != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.MarkerWait)
		defer cancel()
	}
	records, err := s.mark(ctx, keys)
	if err != nil {
		return err
	}
	held, err := s.take(ctx, keys)
	if err != nil {
		s.release(keys)
		return err
	}
	defer s.giveBack(held, len(held.ts))
	if check != nil {
		if err := s.awaitView(ctx, records, guardKeys); err != nil {
			s.release(keys)
			return err
		}
		values := make([]uint8, len(guards))
		s.mu.RLock()
		for i, g := range guards {
			_, values[i], _ = s.valueLocked(g.ListID, g.Index)
		}
		s.mu.RUnlock()
		if err := check(values); err != nil {
			s.release(keys)
			return err
		}
	}
	s.anchoring.RLock()
	defer s.anchoring.RUnlock()
	if err := s.opts.Anchor.Anchor(context.WithoutCancel(ctx), changes); err != nil {
		s.release(keys)
		return err
	}
	s.mu.Lock()
	for _, e := range entries {
		k := entryKey{e.ListID, e.Index}
		s.overlay[k] = append(s.overlay[k], e.Value)
	}
	s.mu.Unlock()
	// The guards' markers were needed only to read them after the other
	// instances' earlier changes: once the changes are accepted, whatever
	// another instance changes of a guard next (a revocation, final) may
	// commit before them without changing what the check decided. The
	// changes' markers are kept until the outbox is done with them (Done).
	s.release(guardKeys)
	return nil
}

// entryTurn is one entry's turn to change (see Shared.changing): a
// token, and how many changes hold or wait for it.
type entryTurn struct {
	token chan struct{}
	n     int
}

// turnPool keeps entryTurns no change holds or waits for (their token
// given back), so that an entry nobody else changes costs no allocation.
var turnPool = sync.Pool{New: func() any { return &entryTurn{token: make(chan struct{}, 1)} }}

// turns are the entries' turns a change holds or waits for (take).
type turns struct {
	keys []entryKey
	ts   []*entryTurn
}

// take waits for this instance's turn to change each of keys, in one
// order (list, index), until ctx ends (status.ErrChangePending); give
// them back with giveBack. Without it a change checked before another of
// the same entry could reach the outbox after it, or be recorded in the
// overlay in another order than the outbox's: a reinstatement then read
// as the entry's last value after an acknowledged revocation, and an
// overlay that the chain's order never empties.
func (s *Shared) take(ctx context.Context, keys []entryKey) (turns, error) {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b entryKey) int {
		return cmp.Or(strings.Compare(a.list, b.list), cmp.Compare(a.index, b.index))
	})
	t := turns{keys: slices.Compact(keys)}
	t.ts = make([]*entryTurn, len(t.keys))
	s.changingMu.Lock()
	for i, k := range t.keys {
		e := s.changing[k]
		if e == nil {
			e = turnPool.Get().(*entryTurn)
			s.changing[k] = e
		}
		e.n++
		t.ts[i] = e
	}
	s.changingMu.Unlock()
	for i, e := range t.ts {
		select {
		case e.token <- struct{}{}:
		case <-ctx.Done():
			s.giveBack(t, i)
			return turns{}, fmt.Errorf("%w: another change of the entry by this instance is not in its outbox yet", status.ErrChangePending)
		}
	}
	return t, nil
}

// giveBack gives back the first taken of t's turns and stops waiting for
// the others.
func (s *Shared) giveBack(t turns, taken int) {
	for _, e := range t.ts[:taken] {
		<-e.token
	}
	s.changingMu.Lock()
	for i, k := range t.keys {
		e := t.ts[i]
		if e.n--; e.n == 0 {
			delete(s.changing, k)
			turnPool.Put(e)
		}
	}
	s.changingMu.Unlock()
}

// mark counts changes of keys as this instance's and claims each entry's marker,
// waiting while another instance holds it (until ctx ends), and returns
// the records of other instances' commits it claimed over. Entries
// are counted and claimed one at a time, in one order on every instance,
// so two instances never hold one marker each while waiting for the
// other's: an instance holds only markers of changes its outbox has (they
// commit without waiting) and those it claimed before the one it waits
// for.
func (s *Shared) mark(ctx context.Context, keys []entryKey) ([]commitRecord, error) {
	if s.opts.Markers == nil {
		return nil, nil
	}
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b entryKey) int {
		return cmp.Or(strings.Compare(a.list, b.list), cmp.Compare(a.index, b.index))
	})
	var records []commitRecord
	for i, k := range keys {
		if i > 0 && keys[i-1] == k {
			s.mu.Lock()
			s.marking[k]++
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		s.marking[k]++
		at, held := s.held[k]
		freed := s.found[k] // a record an earlier claim, not cleared yet, replaced
		s.mu.Unlock()
		if !held || time.Since(at) >= s.opts.MarkerTTL/2 {
			f, err := s.claim(ctx, k)
			if err != nil {
				s.release(keys[:i+1])
				return nil, err
			}
			if f != nil {
				freed = f
			}
		}
		if r, ok := parseRecord(k, freed); ok && (s.opts.BatchPrefix == "" || !strings.HasPrefix(r.batch, s.opts.BatchPrefix)) {
			records = append(records, r) // its own commits this instance reads in its overlay until its view has them
		}
	}
	return records, nil
}

// awaitView waits until this instance's view of the chain has applied
// the commits of those of records that are guards' (until ctx ends:
// status.ErrChangePending).
func (s *Shared) awaitView(ctx context.Context, records []commitRecord, guards []entryKey) error {
	for _, r := range records {
		if !slices.Contains(guards, r.key) {
			continue
		}
		for {
			s.mu.Lock()
			if s.viewBlock > r.block || s.viewBlock == r.block && slices.Contains(s.viewBatches, r.batch) {
				s.mu.Unlock()
				break
			}
			if s.viewMoved == nil {
				s.viewMoved = make(chan struct{})
			}
			moved := s.viewMoved
			s.mu.Unlock()
			select {
			case <-moved:
			case <-ctx.Done():
				return fmt.Errorf("%w: entry %d of list %s: this instance's view of the chain has not applied block %d yet", status.ErrChangePending, r.key.index, r.key.list, r.block)
			}
		}
	}
	return nil
}

// ViewMoved returns a channel closed when the view applies its next
// ledger event (ApplyEvent): a reader that did not find what it looked
// for (a list another instance started) takes it before looking, and
// looks again when it is closed.
func (s *Shared) ViewMoved() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.viewMoved == nil {
		s.viewMoved = make(chan struct{})
	}
	return s.viewMoved
}

// ViewBlock returns the block of the last ledger event this instance's
// view of the chain applied (ApplyEvent).
func (s *Shared) ViewBlock() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.viewBlock
}

func changeKeys(changes []chaincode.StatusChange) []entryKey {
	keys := make([]entryKey, len(changes))
	for i, c := range changes {
		keys[i] = entryKey{c.List, int(c.Index)}
	}
	return keys
}

// claim sets (or refreshes) this instance's marker of entry k, polling
// with backoff while another instance's is there, until ctx ends, and
// returns the record of a commit it replaced (nil if none). A held
// marker is not claimed again: clear forgets it before deleting it, once
// no change counts it.
func (s *Shared) claim(ctx context.Context, k entryKey) ([]byte, error) {
	key, me := markerKey(k), []byte(s.opts.Own.instance)
	lock := s.markerLock(k)
	for wait := 2 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		lock.Lock()
		at := time.Now()
		held, err := s.opts.Markers.Claim(ctx, me, []byte(recordPrefix), s.opts.MarkerTTL, key)
		ok := err == nil && held[0].Held
		if ok {
			s.mu.Lock()
			s.held[k] = at
			if held[0].Freed != nil {
				s.found[k] = held[0].Freed
			}
			s.mu.Unlock()
		}
		lock.Unlock()
		switch {
		case ok:
			return held[0].Freed, nil
		case err != nil && ctx.Err() == nil:
			return nil, fmt.Errorf("statuslist: change pending marker of entry %d of list %s: %w", k.index, k.list, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			continue
		}
		return nil, fmt.Errorf("%w: entry %d of list %s", status.ErrChangePending, k.index, k.list)
	}
}

// RunMarkers refreshes this instance's markers every MarkerTTL/3 while
// changes of their entries wait in its outbox, so that a commit held up
// longer than MarkerTTL (a ledger outage) still holds the other instances
// back; after a restart it claims the markers of the changes Restore
// put back. A pass makes one store call per markerRefreshChunk markers.
// It returns when ctx ends.
func (s *Shared) RunMarkers(ctx context.Context) error {
	if s.opts.Markers == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	tick := time.NewTicker(s.opts.MarkerTTL / 3)
	defer tick.Stop()
	for {
		s.mu.RLock()
		keys := make([]entryKey, 0, len(s.marking))
		for k := range s.marking {
			keys = append(keys, k)
		}
		s.mu.RUnlock()
		var failed error
		entries := 0
		for chunk := range slices.Chunk(keys, markerRefreshChunk) {
			n, err := s.refresh(ctx, chunk)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				failed, entries = err, entries+n
			}
		}
		s.logMu.Lock()
		if failed != nil {
			s.refreshFailed.Warn(s.opts.Logger, "status: change pending markers not refreshed; retrying (they expire after marker_ttl)", failed,
				slog.Int("entries", entries), slog.Duration("marker_ttl", s.opts.MarkerTTL))
		} else {
			s.refreshFailed.Reset()
		}
		s.logMu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// markerRefreshChunk bounds the markers of one refresh call, so that
// their locks (and Redis, running its script) are held briefly.
const markerRefreshChunk = 1000

// refresh claims again, in one store call, this instance's markers of
// those of keys whose entries still have changes counted, holding the
// keys' marker locks, and returns how many it tried. A marker not
// claimed (another instance's now: it had expired) is forgotten, as is
// every marker of a failed call.
func (s *Shared) refresh(ctx context.Context, keys []entryKey) (int, error) {
	defer s.lockMarkers(keys)()
	counted := make([]entryKey, 0, len(keys))
	names := make([]string, 0, len(keys))
	s.mu.RLock()
	for _, k := range keys {
		if _, ok := s.marking[k]; ok {
			counted = append(counted, k)
			names = append(names, markerKey(k))
		}
	}
	s.mu.RUnlock()
	if len(names) == 0 {
		return 0, nil
	}
	at := time.Now()
	held, err := s.opts.Markers.Claim(ctx, []byte(s.opts.Own.instance), nil, s.opts.MarkerTTL, names...)
	s.mu.Lock()
	for i, k := range counted {
		if err == nil && held[i].Held {
			s.held[k] = at
		} else {
			delete(s.held, k)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return len(names), fmt.Errorf("statuslist: change pending markers not refreshed: %w", err)
	}
	return len(names), nil
}

// Done is told the changes of each batch of this instance its outbox is
// done with, the batch's ID and the block that committed it (first, for
// a replay; 0 if refused or not known) (ledger.Outbox.Watch): an entry
// none of whose changes accepted here remain gets its marker cleared, in
// the background, leaving the batch's commit behind when its block is
// known; SettleHeads follows the batch to that block.
func (s *Shared) Done(changes []chaincode.StatusChange, batch string, block uint64) {
	var left []byte
	if block != 0 {
		left = commitRecord{block: block, batch: batch}.value()
		s.mu.Lock()
		s.doneBlock = max(s.doneBlock, block)
		s.mu.Unlock()
	}
	s.releaseLeaving(changeKeys(changes), left)
}

// release uncounts one change of each of keys and clears, in the
// background, the markers of entries left with none.
func (s *Shared) release(keys []entryKey) {
	s.releaseLeaving(keys, nil)
}

// releaseLeaving is release whose cleared markers are replaced by record
// left (for MarkerTTL), if not nil.
func (s *Shared) releaseLeaving(keys []entryKey, left []byte) {
	if s.opts.Markers == nil {
		return
	}
	var free []entryKey
	s.mu.Lock()
	for _, k := range keys {
		switch n := s.marking[k]; {
		case n > 1:
			s.marking[k] = n - 1
		case n == 1:
			delete(s.marking, k)
			free = append(free, k)
		}
	}
	s.mu.Unlock()
	if len(free) > 0 {
		go s.clear(free, left)
	}
}

// markerClearTimeout bounds the clearing of one batch's markers.
const markerClearTimeout = 5 * time.Second

// clear deletes this instance's markers of keys, except those of entries
// it accepted a change of again since: replaces them by the record left
// (this instance's commit of them), else by the record the claim found
// (another's, or an earlier one's), else deletes them; in one store call
// for each of these. It holds the keys' marker locks (in order)
// meanwhile, so that no claim of one of them by this instance is
// deleted.
func (s *Shared) clear(keys []entryKey, left []byte) {
	defer s.lockMarkers(keys)()
	names := make([]string, 0, len(keys))
	var found map[string][]string // names by the record put back
	s.mu.Lock()
	for _, k := range keys {
		if _, again := s.marking[k]; again {
			continue
		}
		delete(s.held, k)
		if r, ok := s.found[k]; ok {
			delete(s.found, k)
			if left == nil {
				if found == nil {
					found = map[string][]string{}
				}
				found[string(r)] = append(found[string(r)], markerKey(k))
				continue
			}
		}
		names = append(names, markerKey(k))
	}
	s.mu.Unlock()
	if len(names) == 0 && len(found) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), markerClearTimeout)
	defer cancel()
	me := []byte(s.opts.Own.instance)
	var err error
	switch {
	case len(names) == 0:
	case left != nil:
		_, err = s.opts.Markers.CompareAndReplace(ctx, me, left, s.opts.MarkerTTL, names...)
	default:
		_, err = s.opts.Markers.CompareAndDelete(ctx, me, names...)
	}
	for r, rn := range found {
		if _, e := s.opts.Markers.CompareAndReplace(ctx, me, []byte(r), s.opts.MarkerTTL, rn...); e != nil && err == nil {
			err, names = e, rn
		}
	}
	if err != nil {
		s.opts.Logger.Error("status: change pending markers not cleared (they expire after marker_ttl)", slog.Int("entries", len(names)),
			slog.String("first", names[0]), slog.Duration("marker_ttl", s.opts.MarkerTTL), slog.Any("error", err))
	}
}

// lockMarkers locks the marker locks of keys, in order (so that two
// callers never each hold one the other waits for), and returns the
// function that unlocks them.
func (s *Shared) lockMarkers(keys []entryKey) (unlock func()) {
	stripes := make([]int, 0, len(keys))
	for _, k := range keys {
		stripes = append(stripes, s.markerStripe(k))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		s.markerLocks[i].Lock()
	}
	return func() {
		for _, i := range stripes {
			s.markerLocks[i].Unlock()
		}
	}
}

// markerStripe is the index in markerLocks of entry k's lock.
func (s *Shared) markerStripe(k entryKey) int {
	return int(maphash.Comparable(s.markerSeed, k) % uint64(len(s.markerLocks)))
}

func (s *Shared) markerLock(k entryKey) *sync.Mutex {
	return &s.markerLocks[s.markerStripe(k)]
}

// markerKey is the shared store's key of entry k's marker.
func markerKey(k entryKey) string {
	return "status-change-pending:" + k.list + ":" + strconv.Itoa(k.index)
}

// Get returns an entry: this instance's own change not yet on the chain,
// else the chain's value. A list this instance has not seen on the chain
// yet (another instance's, just made) reads as all valid.
func (s *Shared) Get(ctx context.Context, listID string, index int) (string, uint8, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.valueLocked(listID, index)
}

// valueLocked is Get with s.mu held.
func (s *Shared) valueLocked(listID string, index int) (string, uint8, error) {
	l := s.lists[listID]
	purpose := ""
	if l != nil {
		purpose = l.purpose
	} else if p, ok := status.ListPurpose(listID); ok {
		purpose = p
	} else {
		return "", 0, status.ErrNotFound
	}
	if index < 0 || index >= s.size {
		return "", 0, fmt.Errorf("%w: %d", status.ErrIndex, index)
	}
	if vs, ok := s.overlay[entryKey{listID, index}]; ok {
		return purpose, vs[len(vs)-1], nil
	}
	if l == nil {
		return purpose, 0, nil
	}
	return purpose, l.value(index), nil
}

// Snapshot returns the list as the chain has it (what every instance
// serves).
func (s *Shared) Snapshot(ctx context.Context, listID string) (status.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return status.Snapshot{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.lists[listID]
	if l == nil {
		return status.Snapshot{}, status.ErrNotFound
	}
	return l.snapshot(listID), nil
}

func (l *chainList) snapshot(id string) status.Snapshot {
	snap := status.Snapshot{ID: id, Purpose: l.purpose, Version: l.version, Updated: l.updated}
	if l.bits != nil {
		snap.Bitstring = l.bits.Clone()
	} else {
		snap.Token = l.token.Clone()
	}
	return snap
}

func (l *chainList) headInput(id string) (chaincode.HeadInput, error) {
	content, err := l.snapshot(id).Content()
	if err != nil {
		return chaincode.HeadInput{}, err
	}
	return chaincode.HeadInput{List: id, Version: l.version, Digest: chaincode.ListDigest(content)}, nil
}

// Version returns the list's version on the chain.
func (s *Shared) Version(ctx context.Context, listID string) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.lists[listID]
	if l == nil {
		return 0, status.ErrNotFound
	}
	return l.version, nil
}

// HeadSource tells the heads of status lists anchored on the chain
// (ledger.View).
type HeadSource interface {
	Ready() bool
	StatusLists(region string) []string
	StatusHead(region, list string) (chaincode.StatusHead, bool)
}

// CaughtUp returns nil once this instance's lists have reached the
// version of every head of the region heads holds (heads loaded), and
// from then on; else an error naming a list behind. An instance
// materializes the lists from block 0 at each start: until then it reads
// a revoked entry as valid, so its readiness waits for this.
func (s *Shared) CaughtUp(heads HeadSource) error {
	if s.caughtUp.Load() {
		return nil
	}
	if !heads.Ready() {
		return errors.New("statuslist: the anchored heads are not loaded yet")
	}
	for _, id := range heads.StatusLists(s.opts.Region) {
		h, ok := heads.StatusHead(s.opts.Region, id)
		if !ok {
			continue
		}
		v, err := s.Version(context.Background(), id)
		if _, known := status.ListPurpose(id); err != nil && !known {
			continue // a list of an older node, whose purpose its ID does not tell: not materialized here
		}
		if err != nil {
			return fmt.Errorf("statuslist: list %s (version %d on the chain) not followed yet", id, h.Version)
		}
		if v < h.Version {
			return fmt.Errorf("statuslist: list %s followed to version %d of %d", id, v, h.Version)
		}
	}
	s.caughtUp.Store(true)
	return nil
}

// Lists returns the IDs of every list known, sorted.
func (s *Shared) Lists() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.lists))
	for id := range s.lists {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// ListMemory reports the lists held and the bytes of their content: the own
// store's (FileStore.ListMemory) and every list of the region as
// materialized from the chain, which grow by design with allocation in
// the region.
func (s *Shared) ListMemory() ListMemory {
	m := s.opts.Own.ListMemory()
	s.mu.RLock()
	defer s.mu.RUnlock()
	m.Lists += len(s.lists)
	for _, l := range s.lists {
		m.Bytes += contentBytes(l.bits, l.token)
	}
	return m
}

// MintID returns the ID of the member-th credential of a group owned by
// owner with entries refs (see CredentialIDs).
func (s *Shared) MintID(member int, owner string, refs []status.Ref) (string, error) {
	return s.opts.IDs.Make(member, owner, refs)
}

// MintEnrollmentID returns the ID of an enrollment owned by owner whose
// copies have the entries copies (see CredentialIDs.MakeEnrollment).
func (s *Shared) MintEnrollmentID(owner string, copies [][]status.Ref) (string, error) {
	return s.opts.IDs.MakeEnrollment(owner, copies)
}

// EnrollmentCredentials returns the IDs of the credentials of each copy
// of an enrollment ID MintEnrollmentID made.
func (s *Shared) EnrollmentCredentials(id string) ([][]string, error) {
	return s.opts.IDs.EnrollmentCredentials(id)
}

// BindOwner checks that credentialID is the ID MintID made for owner and
// refs: the ID is the binding, nothing is stored. An ID a request chose
// is bound on the chain (Chosen) with refs and owner, and BindOwner
// returns once the binding is committed: status.ErrBound if the ID is
// bound already (the first binding wins, on any instance) or names an
// older version's credential in Own's index (see older),
// status.ErrUnconfirmed if the commit could not be confirmed (the
// binding may still commit).
func (s *Shared) BindOwner(ctx context.Context, credentialID, owner string, refs []status.Ref) error {
	if !strings.HasPrefix(credentialID, CredentialIDPrefix) {
		if credentialID == "" || len(refs) == 0 || len(refs) > maxIDRefs || len(owner) > maxOwner {
			return errors.New("statuslist: bind needs a credential ID, 1 to 16 refs and an owner tag of at most 128 bytes")
		}
		if !s.opts.Own.Allocated(refs) {
			return fmt.Errorf("%w: ref to an entry this instance did not allocate", status.ErrIndex)
		}
		if _, err := s.opts.Own.Refs(ctx, credentialID); err == nil {
			return fmt.Errorf("%w: an older version's credential has this ID", status.ErrBound)
		}
		v, err := s.opts.IDs.BindingValue(owner, refs)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, s.opts.BindTimeout)
		defer cancel()
		err = s.opts.Chosen.Bind(ctx, chaincode.CredentialBinding{Key: s.opts.IDs.ChosenKey(credentialID), Value: v})
		switch {
		case errors.Is(err, chaincode.ErrBindingExists):
			return fmt.Errorf("%w: %w", status.ErrBound, err)
		case errors.Is(err, chaincode.ErrInvalid):
			return err
		case err != nil:
			return fmt.Errorf("%w: %w", status.ErrUnconfirmed, err)
		}
		return nil
	}
	got, tag, err := s.opts.IDs.Read(credentialID)
	if err != nil || !s.opts.IDs.Owned(tag, owner) || !slices.Equal(got, refs) {
		return errors.New("statuslist: the credential ID does not carry its entries and owner (mint it with MintID)")
	}
	return nil
}

// read returns the entries and owner tag of a credential ID: carried by a
// minted ID, else bound on the chain to an ID a request chose
// (status.ErrNotFound when the chain has no binding of it,
// status.ErrUnconfirmed when it could not tell in time).
func (s *Shared) read(ctx context.Context, credentialID string) ([]status.Ref, []byte, error) {
	if strings.HasPrefix(credentialID, CredentialIDPrefix) {
		return s.opts.IDs.Read(credentialID)
	}
	v, err := s.opts.Chosen.Lookup(ctx, s.opts.IDs.ChosenKey(credentialID))
	switch {
	case errors.Is(err, chaincode.ErrNotFound):
		return nil, nil, fmt.Errorf("%w: no credential ID bound", status.ErrNotFound)
	case err != nil:
		return nil, nil, fmt.Errorf("%w: %w", status.ErrUnconfirmed, err)
	}
	refs, owner, err := s.opts.IDs.ReadBinding(v)
	if err != nil {
		return nil, nil, fmt.Errorf("statuslist: a binding on the chain is not under this region's credential-ID key (is the keystore the same on every instance?): %v", err)
	}
	return refs, owner, nil
}

// Refs returns the entries the credential ID carries or, for an ID a
// request chose, the entries bound to it on the chain, or else in Own's
// index (an older version's, see older).
func (s *Shared) Refs(ctx context.Context, credentialID string) ([]status.Ref, error) {
	refs, _, err := s.read(ctx, credentialID)
	if s.older(err, credentialID) {
		return s.opts.Own.Refs(ctx, credentialID)
	}
	return refs, err
}

// OwnedBy reports whether the credential ID (or, for an ID a request
// chose, its binding on the chain, or else Own's index) names owner.
func (s *Shared) OwnedBy(ctx context.Context, credentialID, owner string) (bool, error) {
	_, tag, err := s.read(ctx, credentialID)
	if s.older(err, credentialID) {
		return s.opts.Own.OwnedBy(ctx, credentialID, owner)
	}
	if err != nil {
		return false, err
	}
	return s.opts.IDs.Owned(tag, owner), nil
}

// older reports whether a credential ID that read found no binding of
// (err) is in Own's index: a version before status was shared kept each
// credential's ID there (data/status/index.log, under a hash of the ID
// that no chain binding can be made from), and only there.
func (s *Shared) older(err error, credentialID string) bool {
	if !errors.Is(err, status.ErrNotFound) {
		return false
	}
	_, oerr := s.opts.Own.Refs(context.Background(), credentialID)
	return oerr == nil
}

// ApplyEvent applies one ledger event of block, in the ledger's commit
// order: status batches and heads of the region; other events only move
// the view's block (ViewBlock). Feed it every event from block 0, each
// once.
func (s *Shared) ApplyEvent(block uint64, name string, payload []byte) error {
	batch := "" // the region's status batch applied
	defer func() {
		s.mu.Lock()
		if block != s.viewBlock {
			s.viewBlock, s.viewBatches = block, s.viewBatches[:0]
		}
		if batch != "" {
			s.viewBatches = append(s.viewBatches, batch)
		}
		if s.viewMoved != nil {
			close(s.viewMoved)
			s.viewMoved = nil
		}
		s.mu.Unlock()
	}()
	switch name {
	case chaincode.EventStatusBatch:
		var b chaincode.Batch
		if err := json.Unmarshal(payload, &b); err != nil {
			return fmt.Errorf("statuslist: status batch event: %w", err)
		}
		if b.Region != s.opts.Region {
			return nil
		}
		cs, err := chaincode.DecodeBatch(b)
		if err != nil {
			return fmt.Errorf("statuslist: status batch %s: %w", b.ID, err)
		}
		s.applyBatch(b, cs)
		batch = b.ID
	case chaincode.EventStatusHeads:
		var he chaincode.HeadsEvent
		if err := json.Unmarshal(payload, &he); err != nil {
			return fmt.Errorf("statuslist: status heads event: %w", err)
		}
		if he.Region != s.opts.Region {
			return nil
		}
		s.mu.Lock()
		for _, h := range he.Heads {
			if l, err := s.listLocked(h.List, ""); err == nil && h.Version > l.head {
				l.head = h.Version
			}
		}
		s.mu.Unlock()
	}
	return nil
}

func (s *Shared) applyBatch(b chaincode.Batch, cs []chaincode.StatusChange) {
	mine := s.opts.BatchPrefix != "" && strings.HasPrefix(b.ID, s.opts.BatchPrefix)
	if mine {
		s.anchoring.Lock()
		defer s.anchoring.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		l, err := s.listLocked(c.List, "")
		if err != nil || c.Index >= uint64(s.size) || c.Status > l.maxValue() {
			continue // not a list of this form: no instance serves it
		}
		i := int(c.Index)
		if !l.final(i) {
			if l.bits != nil {
				l.bits.Set(i, c.Status == 1)
			} else {
				l.token.Set(i, c.Status)
			}
		}
		l.version++
		l.updated = b.Time.UTC()
		k := entryKey{c.List, i}
		// The oldest of this instance's changes of the entry not seen
		// yet is seen now when an own batch (any batch, when this
		// instance cannot tell its own) brings its value: the others
		// stay, and the instance still reads its last.
		switch vs, ok := s.overlay[k]; {
		case !ok:
		case l.final(i):
			delete(s.overlay, k)
		case (mine || s.opts.BatchPrefix == "") && vs[0] == l.value(i):
			if len(vs) == 1 {
				delete(s.overlay, k)
			} else {
				s.overlay[k] = vs[1:]
			}
		}
		if mine {
			s.dirty[c.List] = true
		}
	}
	if mine {
		s.signal()
	}
}

// Restore puts changes this instance handed to the outbox before a
// restart, not yet on the chain (ledger.Outbox.Unsent), back into the
// overlay, so that it still reads its own acknowledged changes, and
// counts them for Done (their markers are claimed again by RunMarkers).
// Call it before serving, through ledger.Outbox.Watch(s.Restore, s.Done),
// so that no batch is reported done before it is counted.
func (s *Shared) Restore(changes []chaincode.StatusChange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		if c.Index < uint64(s.size) {
			k := entryKey{c.List, int(c.Index)}
			s.overlay[k] = append(s.overlay[k], c.Status)
			if s.opts.Markers != nil {
				s.marking[k]++
			}
		}
	}
}

// Pending returns how many of this instance's changes are not on the chain
// yet (the overlay).
func (s *Shared) Pending() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, vs := range s.overlay {
		n += len(vs)
	}
	return n
}

// RunHeads hands the outbox the heads this instance anchors (lists its own
// batches changed, own lists never anchored), a moment after they change
// so that a burst shares one head per list, until ctx ends.
func (s *Shared) RunHeads(ctx context.Context, delay time.Duration) error {
	if delay <= 0 {
		delay = 200 * time.Millisecond
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.kick:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if err := s.anchorHeads(ctx); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// SettleHeads is RunHeads's last pass, for an instance that stops once
// its outbox has sent its batches: it waits until the view has applied
// the block of the last batch reported Done (ApplyEvent must still be
// fed), then hands the outbox the heads of the lists its batches changed,
// until ctx ends.
func (s *Shared) SettleHeads(ctx context.Context) error {
	for {
		s.mu.RLock()
		view, done := s.viewBlock, s.doneBlock
		s.mu.RUnlock()
		if view >= done {
			return s.anchorHeads(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("statuslist: block %d of this instance's batches not followed (at block %d): %w", done, view, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// anchorHeads hands the outbox the heads of the lists marked dirty; those
// it could not hand stay marked, and RunHeads retries them a second later.
func (s *Shared) anchorHeads(ctx context.Context) error {
	s.mu.Lock()
	var heads []chaincode.HeadInput
	var lists []string
	for id := range s.dirty {
		l := s.lists[id]
		delete(s.dirty, id)
		if l == nil || l.head >= l.version {
			continue
		}
		h, err := l.headInput(id)
		if err != nil {
			continue
		}
		heads, lists = append(heads, h), append(lists, id)
	}
	s.mu.Unlock()
	tried := len(heads) > 0
	for len(heads) > 0 {
		n := min(len(heads), chaincode.MaxHeads)
		if err := s.opts.Anchor.AnchorHeads(ctx, heads[:n]); err != nil {
			if ctx.Err() == nil {
				s.logMu.Lock()
				s.headsFailed.Error(s.opts.Logger, "status: heads not handed to the outbox; retrying", err, slog.Int("lists", len(lists)))
				s.logMu.Unlock()
			}
			s.mu.Lock()
			for _, id := range lists {
				s.dirty[id] = true
			}
			s.mu.Unlock()
			time.AfterFunc(time.Second, s.signal)
			return err
		}
		heads, lists = heads[n:], lists[n:]
	}
	if tried {
		s.logMu.Lock()
		s.headsFailed.Reset()
		s.logMu.Unlock()
	}
	return nil
}
