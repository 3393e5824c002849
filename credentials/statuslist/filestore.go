package statuslist

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/internal/atomicfile"
	"github.com/trustid-cn/trustid/internal/groupcommit"
)

// Errors.
var (
	// ErrPurpose: an unknown purpose.
	ErrPurpose = errors.New("statuslist: unknown purpose")
	// ErrCorrupted: a stored list cannot be read.
	ErrCorrupted = errors.New("statuslist: stored list is corrupted")
)

// TokenBits is the width of the token lists FileStore keeps.
const TokenBits = 2

// Purposes lists the purposes FileStore keeps.
var Purposes = []string{status.PurposeRevocation, status.PurposeSuspension, status.PurposeToken}

// FileStoreOptions configures OpenFileStore. Zero values: MinEntries per
// list, 2 ms commit spacing, crypto/rand, time.Now.
type FileStoreOptions struct {
	// Size is the number of entries per new list (a multiple of 8 in
	// [MinEntries, MaxRemoteEntries], so that other nodes can decode it).
	Size int
	// Instance, when set, names the instance that owns the directory: new
	// lists get IDs made by status.NewListID (purpose and instance in the
	// ID), so that the instances of a region allocate from distinct lists
	// without coordinating.
	Instance string
	// CommitSpacing is the least time between the starts of two group
	// commits that follow each other (default 2 ms; negative: none):
	// under load the allocations and changes of that time share one
	// commit and its fsync, while one after an idle moment is committed
	// at once (groupcommit.Committer.SetSpacing).
	CommitSpacing time.Duration
	// Spare, when positive, is how many entries of each purpose the store
	// keeps allocated ahead, durably, as spares (at most MaxSpare): an
	// allocation takes a spare without waiting for a write, and the
	// spares are topped up in the background (through the group commit
	// and the allocation log, like any allocation) when half are gone. A
	// crash or a restart leaves the spares not handed out allocated and
	// unused, never reused. Zero: every allocation waits for its group.
	Spare int
	Rand  io.Reader
	Now   func() time.Time
}

// MaxSpare bounds FileStoreOptions.Spare.
const MaxSpare = 4096

// FileStore keeps status lists in a directory, one file per list, each
// replaced atomically (temporary file, fsync, rename) before a change is
// acknowledged; an allocation in an existing list is appended to the
// list's allocation log instead (alloclog.go). So a crash loses no
// allocation and never reuses an index.
// Writes are grouped (package groupcommit), one group per purpose at a
// time: the allocations and changes of a purpose's lists that arrive while
// its previous group is written go to disk together, one replacement of
// each list they touch, and each call returns when its group is on disk.
// Indices are drawn at random among the free ones of the newest list of a
// purpose; when a list is seven-eighths allocated a new list is started.
// With FileStoreOptions.Spare, a group that allocates entries of a
// purpose also allocates that purpose's missing spares, handed out by
// later allocations without a write.
// A list's version is 1 when it is created and grows by one with every Set.
//
// It is safe for concurrent use within one process; one process owns the
// directory. Reads (Get, Snapshot, Refs, Versions) never wait for a file
// write: a group is applied to copies of its lists, written to disk under
// the lists' own writer locks, and then installed in memory under a short
// exclusive lock; a group whose write fails changes nothing in memory.
type FileStore struct {
	dir      string
	size     int
	instance string
	rand     io.Reader
	now      func() time.Time

	// mu guards the in-memory state below and every list's fields; it is
	// held exclusively only to apply a change already on disk.
	mu    sync.RWMutex
	lists map[string]*list
	order []string             // list IDs, oldest first
	index map[string]indexLine // credential ID hash -> binding

	lane *groupcommit.Committer[[]*change] // allocations and changes
	// checked serializes SetManyIf: its check and its changes are one
	// step for the other checked changes.
	checked  sync.Mutex
	spare    int                              // FileStoreOptions.Spare
	spares   map[string]*spares               // by purpose, when spare > 0
	binds    *groupcommit.Committer[*binding] // appends to the index file
	indexErr error                            // the index file is unusable (set by commitBinds only)
	recovery IndexRecovery

	// The allocation log (alloclog.go), used by the committing goroutine
	// only (and by OpenFileStore): the open file (nil until the next
	// append opens it) and what it was when opened, its acknowledged
	// length, the lists it names, the length past which it is
	// compacted, and the buffer records are encoded into.
	logFile  *os.File
	logStat  os.FileInfo // logFile's, to tell whether its name still leads to it
	logSize  int64
	logLists map[string]bool
	logLimit int64
	logBuf   []byte
}

// change is one allocation or Set waiting for its group, or a top-up of
// a purpose's spares.
type change struct {
	alloc   bool   // an allocation of purpose: listID and index are its result
	refill  bool   // a top-up of purpose's spares: nothing else
	purpose string // an allocation's or a top-up's purpose
	listID  string // Set: the list, index and value to set
	index   int
	value   uint8
	err     error // this change alone failed
}

// spares are the entries of one purpose allocated ahead (durably) and
// not yet handed out, oldest first.
type spares struct {
	mu        sync.Mutex
	refs      []status.Ref
	refilling bool // a top-up is queued or running
}

type list struct {
	// wmu serializes the writers of this list (its purpose's group
	// commits); it is taken before mu.
	wmu sync.Mutex

	id        string
	purpose   string
	created   time.Time
	updated   time.Time
	version   uint64
	count     int // allocated entries
	allocated []byte
	bits      *status.Bitstring // revocation, suspension
	token     *status.TokenList // token
}

func (l *list) size() int {
	if l.bits != nil {
		return l.bits.Len()
	}
	return l.token.Len()
}

func (l *list) isAllocated(i int) bool { return l.allocated[i>>3]&(0x80>>(i&7)) != 0 }

const fileFormat = "trustid-statuslist/1"

// OpenFileStore opens (creating it if needed) the store in dir.
func OpenFileStore(dir string, opts FileStoreOptions) (*FileStore, error) {
	if opts.Instance != "" && !status.ValidInstance(opts.Instance) {
		return nil, fmt.Errorf("statuslist: instance %q: want 1 to 32 of a-z, 0-9 and '-'", opts.Instance)
	}
	if opts.Spare < 0 || opts.Spare > MaxSpare {
		return nil, fmt.Errorf("statuslist: spare %d: want 0 to %d", opts.Spare, MaxSpare)
	}
	s := &FileStore{dir: dir, size: opts.Size, instance: opts.Instance, rand: opts.Rand, now: opts.Now, lists: map[string]*list{},
		logLists: map[string]bool{}, logLimit: allocLogLimit, spare: opts.Spare, spares: map[string]*spares{}}
	for _, p := range Purposes {
		s.spares[p] = &spares{}
	}
	s.lane = groupcommit.New(s.commit)
	if opts.CommitSpacing == 0 {
		opts.CommitSpacing = 2 * time.Millisecond
	}
	s.lane.SetSpacing(max(opts.CommitSpacing, 0))
	s.binds = groupcommit.New(s.commitBinds)
	if s.size == 0 {
		s.size = status.MinEntries
	}
	if s.size < status.MinEntries || s.size%8 != 0 || s.size > status.MaxRemoteEntries {
		return nil, fmt.Errorf("%w: list size %d must be a multiple of 8 in [%d, %d]", status.ErrEncoding, s.size, status.MinEntries, status.MaxRemoteEntries)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("statuslist: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("statuslist: %w", err)
	}
	folded := false
	for _, name := range names {
		l, err := readList(name)
		if err != nil {
			return nil, err
		}
		f, err := s.foldLegacyAllocLog(l)
		if err != nil {
			return nil, err
		}
		folded = folded || f
		s.lists[l.id] = l
		s.order = append(s.order, l.id)
	}
	if folded {
		if err := syncDir(dir); err != nil {
			return nil, fmt.Errorf("statuslist: %w", err)
		}
	}
	if err := s.readAllocLog(); err != nil {
		return nil, err
	}
	slices.SortFunc(s.order, func(a, b string) int {
		return s.lists[a].created.Compare(s.lists[b].created)
	})
	if err := s.loadIndex(); err != nil {
		return nil, err
	}
	return s, nil
}

type diskList struct {
	Format    string    `json:"format"`
	ID        string    `json:"id"`
	Purpose   string    `json:"purpose"`
	Size      int       `json:"size"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	Version   uint64    `json:"version"`
	Allocated []byte    `json:"allocated"`
	Values    []byte    `json:"values"`
}

func readList(path string) (*list, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("statuslist: %w", err)
	}
	return parseList(path, raw)
}

// parseList reads the list file at path, whose content is raw.
func parseList(path string, raw []byte) (*list, error) {
	var d diskList
	bad := func(why string) error { return fmt.Errorf("%s: %w: %s", path, ErrCorrupted, why) }
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, bad(err.Error())
	}
	if d.Format != fileFormat {
		return nil, bad("unknown format")
	}
	if !status.ValidListID(d.ID) || filepath.Base(path) != d.ID+".json" {
		return nil, bad("list ID does not match the file name")
	}
	if d.Size < 8 || d.Size%8 != 0 || d.Size > status.MaxEntries || len(d.Allocated) != d.Size/8 {
		return nil, bad("sizes do not match")
	}
	l := &list{id: d.ID, purpose: d.Purpose, created: d.Created, updated: d.Updated, version: d.Version, allocated: d.Allocated}
	switch d.Purpose {
	case status.PurposeRevocation, status.PurposeSuspension:
		if len(d.Values) != d.Size/8 {
			return nil, bad("sizes do not match")
		}
		l.bits = status.BitstringFromBytes(d.Values)
	case status.PurposeToken:
		if len(d.Values) != d.Size*TokenBits/8 {
			return nil, bad("sizes do not match")
		}
		l.token, _ = status.TokenListFromBytes(TokenBits, d.Values) // TokenBits is valid
	default:
		return nil, bad("unknown purpose")
	}
	for i := range d.Size {
		if l.isAllocated(i) {
			l.count++
		}
	}
	if l.version == 0 {
		// Written before versions started at 1: never set, so all clear.
		l.version = 1
	}
	return l, nil
}

// write replaces l's file with l's state. The caller holds l.wmu (so no
// other writer changes l meanwhile) and not s.mu: l may be the list
// itself or a changed copy not yet applied.
func (s *FileStore) write(l *list) error {
	d := l.disk()
	// Encoded into a reused buffer: a list's JSON is tens of kilobytes,
	// and json.Marshal would allocate it anew for every group.
	buf := writeBufs.Get().(*bytes.Buffer)
	defer writeBufs.Put(buf)
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(d); err != nil {
		return err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n")) // the bytes json.Marshal gives
	if err := atomicfile.WriteFile(filepath.Join(s.dir, l.id+".json"), out, 0o600); err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	return nil
}

// disk is l as its file holds it.
func (l *list) disk() diskList {
	d := diskList{Format: fileFormat, ID: l.id, Purpose: l.purpose, Size: l.size(), Created: l.created,
		Updated: l.updated, Version: l.version, Allocated: l.allocated}
	if l.bits != nil {
		d.Values = l.bits.Bytes()
	} else {
		d.Values = l.token.Bytes()
	}
	return d
}

// writeBufs holds the buffers write encodes lists into.
var writeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// next returns a copy of l that a writer (holding l.wmu) changes, writes
// and then applies with apply: the shared state is never changed before
// it is on disk.
func (l *list) next() *list {
	n := &list{id: l.id, purpose: l.purpose, created: l.created, updated: l.updated, version: l.version,
		count: l.count, allocated: l.allocated,
		bits: l.bits, token: l.token}
	return n
}

// apply installs n's state in l; the caller holds l.wmu and s.mu.
func (l *list) apply(n *list) {
	l.updated, l.version, l.count = n.updated, n.version, n.count
	l.allocated = n.allocated
	l.bits, l.token = n.bits, n.token
}

// randInt returns a uniform integer in [0, n).
func (s *FileStore) randInt(n int) (int, error) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(s.rand, b[:]); err != nil {
			return 0, fmt.Errorf("statuslist: random: %w", err)
		}
		v := binary.BigEndian.Uint64(b[:])
		limit := ^uint64(0) - ^uint64(0)%uint64(n)
		if v < limit {
			return int(v % uint64(n)), nil
		}
	}
}

// full reports whether l should take no more allocations once extra more
// are made.
func (l *list) full(extra int) bool { return l.count+extra >= l.size()-l.size()/8 }

// Allocate reserves a random free index in the newest list of purpose,
// starting a new list when needed, and persists the reservation before
// returning (with FileStoreOptions.Spare, it takes one persisted ahead).
func (s *FileStore) Allocate(ctx context.Context, purpose string) (string, int, error) {
	refs, err := s.AllocateMany(ctx, purpose)
	if err != nil {
		return "", 0, err
	}
	return refs[0].ListID, refs[0].Index, nil
}

// AllocateMany allocates one entry of each of purposes, as Allocate
// does: from the spares where there are any, the rest all in one group
// commit.
func (s *FileStore) AllocateMany(ctx context.Context, purposes ...string) ([]status.Ref, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, p := range purposes {
		if !slices.Contains(Purposes, p) {
			return nil, fmt.Errorf("%w: %q", ErrPurpose, p)
		}
	}
	refs := make([]status.Ref, len(purposes))
	var (
		cs    []*change
		at    []int        // cs[k] is the allocation of refs[at[k]]
		taken []status.Ref // spares taken
	)
	for i, p := range purposes {
		if r, ok := s.takeSpare(p); ok {
			refs[i] = r
			taken = append(taken, r)
			continue
		}
		cs = append(cs, &change{alloc: true, purpose: p})
		at = append(at, i)
	}
	if len(cs) == 0 {
		return refs, nil
	}
	err := s.lane.Do(cs)
	for k, c := range cs {
		if err != nil {
			break
		}
		err = c.err
		refs[at[k]] = status.Ref{ListID: c.listID, Index: c.index, Purpose: c.purpose}
	}
	if err != nil {
		s.returnSpares(taken) // still reserved on disk and handed to no one
		return nil, err
	}
	return refs, nil
}

// takeSpare hands out the oldest spare of purpose, if there is one, and
// starts a top-up when that leaves half the spares or fewer. Without a
// spare it starts nothing: the caller's own group tops them up.
func (s *FileStore) takeSpare(purpose string) (status.Ref, bool) {
	if s.spare == 0 {
		return status.Ref{}, false
	}
	sp := s.spares[purpose]
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if len(sp.refs) == 0 {
		return status.Ref{}, false
	}
	r := sp.refs[0]
	sp.refs = sp.refs[1:]
	if len(sp.refs) <= s.spare/2 && !sp.refilling {
		sp.refilling = true
		go s.refill(purpose)
	}
	return r, true
}

// returnSpares puts spares taken by an allocation that failed back in
// front of their purposes' spares.
func (s *FileStore) returnSpares(refs []status.Ref) {
	for _, r := range refs {
		sp := s.spares[r.Purpose]
		sp.mu.Lock()
		sp.refs = append([]status.Ref{r}, sp.refs...)
		sp.mu.Unlock()
	}
}

// refill tops up purpose's spares through the group commit.
func (s *FileStore) refill(purpose string) {
	_ = s.lane.Do([]*change{{refill: true, purpose: purpose}}) // a failed top-up is retried by the next take
	sp := s.spares[purpose]
	sp.mu.Lock()
	sp.refilling = false
	sp.mu.Unlock()
}

// pickFree returns a random free index of l not in taken.
func (s *FileStore) pickFree(l *list, taken map[int]bool) (int, error) {
	for try := 0; try < 64; try++ {
		i, err := s.randInt(l.size())
		if err != nil {
			return 0, err
		}
		if !l.isAllocated(i) && !taken[i] {
			return i, nil
		}
	}
	// Improbable below the fill limit: scan from a random start.
	start, err := s.randInt(l.size())
	if err != nil {
		return 0, err
	}
	for k := range l.size() {
		if i := (start + k) % l.size(); !l.isAllocated(i) && !taken[i] {
			return i, nil
		}
	}
	return 0, errors.New("statuslist: list full")
}

func (s *FileStore) newList(purpose string) (*list, error) {
	var idb [8]byte
	if _, err := io.ReadFull(s.rand, idb[:]); err != nil {
		return nil, fmt.Errorf("statuslist: random: %w", err)
	}
	id := hex.EncodeToString(idb[:])
	if s.instance != "" {
		id, _ = status.NewListID([4]byte(idb[:4]), purpose, s.instance) // both checked
	}
	now := s.now().UTC()
	l := &list{id: id, purpose: purpose, created: now, updated: now, version: 1, allocated: make([]byte, s.size/8)}
	var err error
	if purpose == status.PurposeToken {
		l.token, err = status.NewTokenList(TokenBits, s.size)
	} else {
		l.bits, err = status.NewBitstring(s.size)
	}
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	_, dup := s.lists[l.id]
	s.mu.RUnlock()
	if dup {
		return nil, errors.New("statuslist: list ID collision")
	}
	return l, nil
}

// Set is SetMany of one entry.
func (s *FileStore) Set(ctx context.Context, listID string, index int, value uint8) error {
	return s.SetMany(ctx, []status.Entry{{ListID: listID, Index: index, Value: value}})
}

// SetMany sets entries in one durable write (one group commit with
// concurrent callers): all of them, or none if it fails. A value is 0 or
// 1 in a revocation or suspension list, TokenValid, TokenInvalid or
// TokenSuspended in a token list; only allocated indices can be set.
func (s *FileStore) SetMany(ctx context.Context, entries []status.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cs := make([]*change, len(entries))
	for i, e := range entries {
		l, err := s.lookup(e.ListID)
		if err != nil {
			return err
		}
		s.mu.RLock()
		allocated := e.Index >= 0 && e.Index < l.size() && l.isAllocated(e.Index)
		bits, maxValue := l.bits != nil, l.maxValue()
		s.mu.RUnlock()
		switch {
		case !allocated:
			return fmt.Errorf("%w: index %d is not allocated in list", status.ErrIndex, e.Index)
		case uint64(e.Value) > maxValue && bits:
			return fmt.Errorf("%w: %d for a bitstring list", status.ErrValue, e.Value)
		case uint64(e.Value) > maxValue:
			return fmt.Errorf("%w: %d", status.ErrValue, e.Value)
		}
		cs[i] = &change{listID: e.ListID, index: e.Index, value: e.Value}
	}
	if len(cs) == 0 {
		return nil
	}
	if err := s.lane.Do(cs); err != nil {
		return err
	}
	var err error
	for _, c := range cs {
		err = errors.Join(err, c.err)
	}
	return err
}

// SetManyIf is SetMany made only if check accepts the values of guards
// (in their order, as Get reads them); else it returns check's error and
// changes nothing. The check and the changes are one step for every other
// SetManyIf of this store (the issuer's status changes), so a
// reinstatement checked before a revocation is written cannot be written
// after it.
func (s *FileStore) SetManyIf(ctx context.Context, entries []status.Entry, guards []status.Ref, check func(values []uint8) error) error {
	s.checked.Lock()
	defer s.checked.Unlock()
	values := make([]uint8, len(guards))
	for i, g := range guards {
		var err error
		if _, values[i], err = s.Get(ctx, g.ListID, g.Index); err != nil {
			return err
		}
	}
	if check != nil {
		if err := check(values); err != nil {
			return err
		}
	}
	return s.SetMany(ctx, entries)
}

// commit makes one group of allocations and changes durable, of every
// purpose. Changes are applied to copies of the lists they touch (taking
// each list's writer lock), each of those lists is written once, and only
// then are the copies installed. Allocations in existing lists are
// appended to the store's allocation log (one record and one fsync for
// the group: no list file is rewritten); a new list is written once, with
// the group's allocations in it. A group that allocates entries of a
// purpose (or tops its spares up) also allocates the spares of that
// purpose that are missing, in the same record or new list, handed over
// once on disk. If a write fails the group fails and memory is
// unchanged.
func (s *FileStore) commit(batches [][]*change) (err error) {
	var (
		locked  []*list                    // lists of the store whose writer lock the group holds
		copies  = map[string]*list{}       // list ID -> the copy being changed
		created []*list                    // new lists, written and then added
		order   []*list                    // copies and new lists, in the order they were touched
		fresh   = map[*list][]int{}        // existing lists -> indices the group allocates in them
		taken   = map[*list]map[int]bool{} // the fresh indices of each list
		cur     = map[string]*list{}       // purpose -> the list its allocations go to
		curNew  = map[*list]bool{}         // lists of cur the group created
	)
	defer func() {
		for _, l := range locked {
			l.wmu.Unlock()
		}
		if err != nil {
			s.closeLog() // reopened, and cut back, by the next group
		}
	}()
	lock := func(l *list) {
		if !slices.Contains(locked, l) {
			l.wmu.Lock()
			locked = append(locked, l)
		}
	}
	edit := func(l *list) *list {
		if n := copies[l.id]; n != nil {
			return n
		}
		lock(l)
		n := l.next()
		n.allocated = slices.Clone(l.allocated)
		if l.bits != nil {
			n.bits = l.bits.Clone()
		} else {
			n.token = l.token.Clone()
		}
		copies[l.id] = n
		order = append(order, n)
		return n
	}
	if err := s.compactAllocLog(); err != nil {
		return err
	}
	// pick allocates one entry of purpose in the group.
	pick := func(purpose string) (string, int, error) {
		l := cur[purpose]
		if l == nil {
			if l = s.newest(purpose); l != nil {
				lock(l)
				cur[purpose] = l
			}
		}
		// l's count and allocated change only under its writer lock,
		// which the group holds.
		if l == nil || l.full(len(fresh[l])) {
			n, err := s.newList(purpose)
			if err != nil {
				return "", 0, err
			}
			created = append(created, n)
			order = append(order, n)
			copies[n.id], cur[purpose], curNew[n] = n, n, true
			l = n
		}
		if taken[l] == nil {
			taken[l] = map[int]bool{}
		}
		idx, err := s.pickFree(l, taken[l])
		if err != nil {
			return "", 0, err
		}
		if curNew[l] {
			l.markAllocated(idx)
		} else {
			taken[l][idx] = true
			fresh[l] = append(fresh[l], idx)
		}
		return l.id, idx, nil
	}
	topUp := map[string]bool{} // purposes the group allocates: their spares are topped up with it
	now := s.now().UTC()
	for _, batch := range batches {
		for _, c := range batch {
			if c.refill {
				topUp[c.purpose] = true
				continue
			}
			if !c.alloc {
				n := copies[c.listID]
				if n == nil {
					l, err := s.lookup(c.listID) // Set found it: lists are never removed
					if err != nil {
						c.err = err
						continue
					}
					n = edit(l)
				}
				if n.bits != nil {
					n.bits.Set(c.index, c.value == 1)
				} else {
					n.token.Set(c.index, c.value)
				}
				n.version++
				n.updated = now
				continue
			}
			topUp[c.purpose] = true
			c.listID, c.index, c.err = pick(c.purpose)
		}
	}
	var extra []status.Ref // new spares, handed over once on disk
	for _, p := range Purposes {
		if !topUp[p] || s.spare == 0 {
			continue
		}
		sp := s.spares[p]
		sp.mu.Lock()
		n := s.spare - len(sp.refs) // only the committing goroutine adds spares
		sp.mu.Unlock()
		for range n {
			lid, idx, err := pick(p)
			if err != nil {
				break // the group's own allocations are done; the spares wait
			}
			extra = append(extra, status.Ref{ListID: lid, Index: idx, Purpose: p})
		}
	}
	if err := s.appendAllocs(fresh); err != nil {
		return err
	}
	for _, n := range order {
		if err := s.write(n); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range locked {
		if n := copies[l.id]; n != nil {
			l.apply(n)
		}
		for _, i := range fresh[l] {
			l.markAllocated(i)
		}
	}
	for _, l := range created {
		if _, dup := s.lists[l.id]; dup {
			return errors.New("statuslist: list ID collision")
		}
		s.lists[l.id] = l
		s.order = append(s.order, l.id)
	}
	for _, r := range extra {
		sp := s.spares[r.Purpose]
		sp.mu.Lock()
		sp.refs = append(sp.refs, r)
		sp.mu.Unlock()
	}
	return nil
}

// newest returns the newest list of purpose, or nil.
func (s *FileStore) newest(purpose string) *list {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := len(s.order) - 1; i >= 0; i-- {
		if l := s.lists[s.order[i]]; l.purpose == purpose {
			return l
		}
	}
	return nil
}

// lookup returns the list with ID listID, or ErrNotFound.
func (s *FileStore) lookup(listID string) (*list, error) {
	s.mu.RLock()
	l, ok := s.lists[listID]
	s.mu.RUnlock()
	if !ok {
		return nil, status.ErrNotFound
	}
	return l, nil
}

// Get returns the purpose of list and the status at index.
func (s *FileStore) Get(ctx context.Context, listID string, index int) (string, uint8, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.lists[listID]
	if !ok {
		return "", 0, status.ErrNotFound
	}
	if index < 0 || index >= l.size() {
		return "", 0, fmt.Errorf("%w: %d", status.ErrIndex, index)
	}
	if l.bits != nil {
		if l.bits.Get(index) {
			return l.purpose, 1, nil
		}
		return l.purpose, 0, nil
	}
	v, err := l.token.Get(index)
	return l.purpose, v, err
}

// Snapshot returns a copy of the list.
func (s *FileStore) Snapshot(ctx context.Context, listID string) (status.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return status.Snapshot{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.lists[listID]
	if !ok {
		return status.Snapshot{}, status.ErrNotFound
	}
	return l.snapshot(), nil
}

// Lists returns the IDs of every list, oldest first.
func (s *FileStore) Lists() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.order)
}

// ListMemory says what a store's status lists take in memory.
type ListMemory struct {
	// Lists is the number of lists held.
	Lists int
	// Bytes is the size of their content: entries and, for the lists
	// the store allocates from, allocation maps. It grows by design with
	// allocation, by one list of a purpose each time the newest list of
	// that purpose is seven-eighths allocated, and never shrinks.
	Bytes int64
}

// ListMemory reports the lists held and the bytes of their content.
func (s *FileStore) ListMemory() ListMemory {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := ListMemory{Lists: len(s.lists)}
	for _, l := range s.lists {
		m.Bytes += int64(len(l.allocated)) + contentBytes(l.bits, l.token)
	}
	return m
}

// contentBytes is the size of a list's entries.
func contentBytes(bits *status.Bitstring, token *status.TokenList) int64 {
	if bits != nil {
		return int64(len(bits.Bytes()))
	}
	if token != nil {
		return int64(len(token.Bytes()))
	}
	return 0
}

// String names the store without revealing anything else.
func (s *FileStore) String() string {
	return "statuslist.FileStore(" + strings.TrimSuffix(s.dir, "/") + ")"
}
