package ledger

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trustid-cn/trustid/internal/boltfile"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/groupcommit"
	"github.com/trustid-cn/trustid/internal/retrylog"
)

// BatchAnchorer is what the Outbox needs from the chain; Client
// implements it over either backend.
type BatchAnchorer interface {
	AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error)
	PutStatusHeads(ctx context.Context, heads []StatusHeadInput) (chaincode.HeadsEvent, error)
}

// OutboxOptions configures an Outbox. Zero values are the defaults.
type OutboxOptions struct {
	// MaxBatch is the most changes in one transaction (default 4000,
	// at most chaincode.MaxBatchChanges).
	MaxBatch int
	// Window is how long a change waits for more before a smaller batch
	// is sent (default 200 ms).
	Window time.Duration
	// CommitSpacing is the least time between the starts of two Anchor
	// commits that follow each other (default 2 ms; negative: none): under
	// load the changes of that time share one commit and its fsyncs,
	// while a change after an idle moment is committed at once.
	CommitSpacing time.Duration
	// Concurrency is the most frozen batches waiting for or in a
	// transaction (default 4). Each writes only its own batch key, so
	// they never conflict; one that changes an entry an earlier one
	// changes waits for it (Run).
	Concurrency int
	// MinBackoff and MaxBackoff bound the retry delay (defaults 100 ms,
	// 5 s), doubled after each failure.
	MinBackoff, MaxBackoff time.Duration
	Now                    func() time.Time
	Rand                   io.Reader
	Logger                 *slog.Logger
}

// Outbox is the durable, batching path of status changes to the chain.
// Anchor writes changes to a bbolt file (fsync) before it returns; Run
// groups them, by size and by a short window, into batches with Merkle
// roots, each frozen under a batch ID ("<node>-<sequence>") in the same
// file before it is sent, and retries each until it is committed. A batch
// is removed only once the chain has it; after a crash the frozen batches
// are sent again under the same IDs, and the contract treats a batch it
// already has as a no-op, so every accepted change is anchored exactly
// once. Two changes of one entry are committed in the order Anchor
// accepted them.
//
// Status heads go through a second lane (one transaction at a time; for
// each list only the newest head waits).
//
// It implements the Anchorer interface of this package's documentation
// and is safe for concurrent use.
type Outbox struct {
	db     *boltfile.DB
	chain  BatchAnchorer
	opts   OutboxOptions
	nodeID string
	log    *slog.Logger

	kick chan struct{}
	// chunks commits Anchor's writes in groups: with no timer, a lone
	// change is written at once and the changes that arrive during one
	// commit share the next (bbolt's Batch held each for up to 10 ms).
	chunks *groupcommit.Committer[*pendingChunk]
	// freezeMu is held shared by Anchor from its write to its count and
	// exclusively by freeze, so freeze never takes a chunk not counted yet.
	freezeMu sync.RWMutex
	// retries logs the retries' failures rarely, the batches' and the
	// heads' alike (a ledger that is down fails them all the same); under
	// mu.
	retries retrylog.Log
	// overQuota logs the heads refused past the region's quota
	// (sendHeads), rarely while they repeat; under mu.
	overQuota retrylog.Log

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced when the outbox shrinks
	pending     int           // changes not yet frozen
	oldest      time.Time     // start of the current batching window
	flushing    int           // Flush calls waiting
	stats       OutboxStats
	closed      bool
	running     bool
	lastChunkID uint64
	// arrivals tells when pending chunks arrived: chunks from
	// arrivals[i].seq on arrived at or after arrivals[i].at (entries at
	// least arrivalStep apart; while changes are pending, arrivals[0]
	// covers the oldest).
	arrivals   []arrival
	frozenIn   map[uint64]frozenInfo // by batch sequence
	headsSince time.Time             // heads waiting since then (or since the heads lane last committed)
	// recording holds the first chunk of each sent batch whose removal
	// done is recording: gone from the database, not yet from the
	// stats. Flush waits for those it covers, so that its return implies
	// Stats counts them.
	recording map[uint64]uint64 // by batch sequence
	// onDone is told the changes of each batch done with (Watch). Both
	// are guarded by watching, which Watch holds until its unsent
	// callback returns.
	watching sync.Mutex
	onDone   func(changes []StatusChange, batch string, block uint64)
}

// frozenInfo is what Stats needs of a frozen batch.
type frozenInfo struct {
	at    time.Time // arrival of its oldest change
	count int
}

// arrival marks the arrival time of the chunks from seq on.
type arrival struct {
	seq uint64
	at  time.Time
}

// arrivalStep is the resolution of OutboxStats.OldestAge.
const arrivalStep = time.Second

// OutboxStats counts what an Outbox did since it was opened (Pending,
// Frozen, HeadsPending, OldestAge and LastError are current).
type OutboxStats struct {
	Pending          int // changes waiting to be batched
	Frozen           int // batches waiting for (or in) a transaction
	CommittedBatches int
	CommittedChanges int
	Replayed         int // batches the chain already had (after a restart)
	Retries          int // failed transactions (batches and heads), each sent again
	Dead             int // batches the chain refused for good (see DeadBatches)
	HeadsPending     int
	Backlog          int // changes not yet on the chain: Pending and those in frozen batches
	// OldestAge is how long the oldest change not yet on the chain has
	// waited or, if longer, how long heads have waited since the heads
	// lane last committed; 0 when nothing waits. What a previous run left
	// counts from OpenOutbox. Its resolution is a second.
	OldestAge time.Duration
	// LastError is the latest failure of a transaction (the chain's
	// answer; Run retries it) or the error Run returned, nil once a
	// transaction commits after it. LastErrorAt is when it happened.
	LastError   error
	LastErrorAt time.Time
}

var (
	obPending = []byte("pending")
	obBatches = []byte("batches")
	obHeads   = []byte("heads")
	obDead    = []byte("dead")
	obMeta    = []byte("meta")
	keyNodeID = []byte("node_id")
)

// ErrOutboxClosed is returned after Close.
var ErrOutboxClosed = errors.New("ledger: outbox closed")

// frozen is a batch in the outbox file.
type frozen struct {
	Input chaincode.BatchInput `json:"input"`
	First uint64               `json:"first"` // chunk sequence range it took from
	Last  uint64               `json:"last"`
}

// OpenOutbox opens (creating if needed) the outbox file at path, sending
// to chain.
func OpenOutbox(path string, chain BatchAnchorer, opts OutboxOptions) (*Outbox, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4000
	}
	if opts.MaxBatch > chaincode.MaxBatchChanges {
		return nil, fmt.Errorf("ledger: outbox: MaxBatch over %d", chaincode.MaxBatchChanges)
	}
	if opts.Window <= 0 {
		opts.Window = 200 * time.Millisecond
	}
	if opts.CommitSpacing == 0 {
		opts.CommitSpacing = 2 * time.Millisecond
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// Reopened at intervals, as the embedded ledger's file (package
	// boltfile): batches and heads are deleted once committed, but dead
	// batches stay.
	db, err := boltfile.Open(path, func() (*bolt.DB, error) {
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
		if err != nil {
			return nil, OpenFileError(path, err)
		}
		return db, nil
	}, boltfile.Options{ReopenAfter: reopenAfter})
	if errors.Is(err, boltfile.ErrLocked) {
		return nil, OpenFileError(path, err)
	}
	if err != nil {
		return nil, err
	}
	o := &Outbox{db: db, chain: chain, opts: opts, log: opts.Logger, retries: retrylog.Log{Now: opts.Now}, overQuota: retrylog.Log{Now: opts.Now}, kick: make(chan struct{}, 1), changed: make(chan struct{})}
	o.chunks = groupcommit.New(o.commitChunks)
	o.chunks.SetSpacing(max(opts.CommitSpacing, 0))
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{obPending, obBatches, obHeads, obDead, obMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(obMeta)
		if id := meta.Get(keyNodeID); id != nil {
			o.nodeID = string(id)
		} else {
			var b [6]byte
			if _, err := io.ReadFull(opts.Rand, b[:]); err != nil {
				return err
			}
			o.nodeID = hex.EncodeToString(b[:])
			if err := meta.Put(keyNodeID, []byte(o.nodeID)); err != nil {
				return err
			}
		}
		// Count what a previous run left.
		if err := tx.Bucket(obPending).ForEach(func(k, v []byte) error {
			n, err := chunkLen(v)
			o.pending += n
			return err
		}); err != nil {
			return err
		}
		o.stats.Frozen = tx.Bucket(obBatches).Stats().KeyN
		o.stats.Dead = tx.Bucket(obDead).Stats().KeyN
		o.stats.HeadsPending = tx.Bucket(obHeads).Stats().KeyN
		o.lastChunkID = tx.Bucket(obPending).Sequence()
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: outbox %s: %w", ErrUnavailable, path, err)
	}
	now := opts.Now()
	if o.pending > 0 {
		o.oldest = now
		o.arrivals = []arrival{{0, now}}
	}
	if o.stats.HeadsPending > 0 {
		o.headsSince = now
	}
	o.frozenIn = map[uint64]frozenInfo{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(obBatches).ForEach(func(k, v []byte) error {
			var fb frozen
			json.Unmarshal(v, &fb) // a bad record stops Run, which reports it
			o.frozenIn[binary.BigEndian.Uint64(k)] = frozenInfo{now, fb.Input.Count}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: outbox %s: %w", ErrUnavailable, path, err)
	}
	return o, nil
}

// NodeID returns the outbox's node ID, the prefix of its batch IDs.
func (o *Outbox) NodeID() string { return o.nodeID }

// NextBatchID returns the ID the next batch the outbox freezes gets. A
// batch is frozen, and its ID recorded, before it is sent, so the chain
// holds no batch under this ID unless the file is behind it: a copy
// taken before its last batches (a restored backup) or another data
// directory's, whose next batches the chain would refuse for good.
func (o *Outbox) NextBatchID() (string, error) {
	var seq uint64
	err := o.db.View(func(tx *bolt.Tx) error {
		seq = tx.Bucket(obBatches).Sequence()
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%w: outbox: %w", ErrUnavailable, err)
	}
	return fmt.Sprintf("%s-%d", o.nodeID, seq+1), nil
}

// chunk encoding: u32be(count), then per change uvarint(len(list)), list,
// uvarint(index), status.
func encodeChunk(changes []StatusChange) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(changes)))
	for _, c := range changes {
		b = binary.AppendUvarint(b, uint64(len(c.List)))
		b = append(b, c.List...)
		b = binary.AppendUvarint(b, c.Index)
		b = append(b, c.Status)
	}
	return b
}

var errChunk = errors.New("corrupted chunk")

func chunkLen(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, errChunk
	}
	return int(binary.BigEndian.Uint32(b)), nil
}

func decodeChunk(b []byte) ([]StatusChange, error) {
	n, err := chunkLen(b)
	if err != nil {
		return nil, err
	}
	b = b[4:]
	if n > len(b)/3 { // a change takes at least 3 bytes: a damaged count must not size the slice
		return nil, errChunk
	}
	out := make([]StatusChange, 0, n)
	for i := 0; i < n; i++ {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return nil, errChunk
		}
		list := string(b[k : k+int(l)])
		b = b[k+int(l):]
		idx, k := binary.Uvarint(b)
		if k <= 0 || len(b) < k+1 {
			return nil, errChunk
		}
		out = append(out, StatusChange{List: list, Index: idx, Status: b[k]})
		b = b[k+1:]
	}
	if len(b) != 0 {
		return nil, errChunk
	}
	return out, nil
}

// pendingChunk is one Anchor call's changes on their way to disk; seq is
// set by the commit of its group.
type pendingChunk struct {
	chunk []byte
	seq   uint64
}

// commitChunks writes a group of Anchor calls' chunks in one bbolt
// transaction (one commit and its fsyncs for the group, all or none).
func (o *Outbox) commitChunks(items []*pendingChunk) error {
	return o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(obPending)
		for _, it := range items {
			s, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(binary.BigEndian.AppendUint64(nil, s), it.chunk); err != nil {
				return err
			}
			it.seq = s
		}
		return nil
	})
}

func (o *Outbox) signal() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Anchor durably accepts changes: when it returns nil they are on disk
// and will reach the chain exactly once, whatever happens to this process.
func (o *Outbox) Anchor(ctx context.Context, changes []StatusChange) error {
	if len(changes) == 0 {
		return nil
	}
	for _, c := range changes {
		if err := chaincode.CheckListID(c.List); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return ErrOutboxClosed
	}
	item := &pendingChunk{chunk: encodeChunk(changes)}
	o.freezeMu.RLock()
	defer o.freezeMu.RUnlock()
	if err := o.chunks.Do(item); err != nil {
		return fmt.Errorf("%w: outbox: %w", ErrUnavailable, err)
	}
	seq := item.seq
	now := o.opts.Now()
	o.mu.Lock()
	switch last := len(o.arrivals) - 1; {
	case o.pending == 0:
		o.oldest = now
		o.arrivals = append(o.arrivals[:0], arrival{seq, now})
	case seq < o.arrivals[0].seq: // a concurrent Anchor got a later seq first
		o.arrivals[0].seq = seq
	case seq > o.arrivals[last].seq && now.Sub(o.arrivals[last].at) >= arrivalStep:
		o.arrivals = append(o.arrivals, arrival{seq, now})
	}
	o.pending += len(changes)
	if seq > o.lastChunkID {
		o.lastChunkID = seq
	}
	o.mu.Unlock()
	o.signal()
	return nil
}

// Watch hands unsent the changes the outbox holds that the chain has not
// committed yet (Unsent), then tells done each batch the outbox is done
// with from then on (its changes, ID, and the number of the block that
// committed it: for a replay, a batch the chain had already, the block
// that first committed it; 0 for a batch refused for good, or when the
// chain does not tell): committed, or refused for good (its dead
// bucket), each batch once, before Flush covering it returns. Run
// may already be sending: a batch done while unsent runs is told to done
// after unsent returns, so every change unsent is given is told to done
// afterwards, once; done is never told of a change unsent was given
// before unsent has it, nor of a batch that left the outbox before unsent
// was given what it holds. Both are called with no lock of the outbox's held
// but Watch's own; done is called from Run and must not block.
func (o *Outbox) Watch(unsent func(changes []StatusChange), done func(changes []StatusChange, batch string, block uint64)) error {
	o.watching.Lock()
	defer o.watching.Unlock()
	cs, err := o.Unsent()
	if err != nil {
		return err
	}
	o.onDone = done
	unsent(cs)
	return nil
}

// Unsent returns the changes the outbox holds that the chain has not
// committed yet (frozen batches, then pending changes), oldest first: what
// a restarted node still has to see reach the chain.
func (o *Outbox) Unsent() ([]StatusChange, error) {
	var out []StatusChange
	err := o.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(obBatches).ForEach(func(k, v []byte) error {
			var fb frozen
			if err := json.Unmarshal(v, &fb); err != nil {
				return err
			}
			cs, err := batchChanges(fb.Input)
			out = append(out, cs...)
			return err
		}); err != nil {
			return err
		}
		return tx.Bucket(obPending).ForEach(func(k, v []byte) error {
			cs, err := decodeChunk(v)
			out = append(out, cs...)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%w: outbox: %w", ErrUnavailable, err)
	}
	return out, nil
}

// arrivedAt returns when the chunk seq arrived (at most arrivalStep
// early). o.mu must be held and the chunk pending.
func (o *Outbox) arrivedAt(seq uint64) time.Time {
	if len(o.arrivals) == 0 {
		return o.opts.Now()
	}
	at := o.arrivals[0].at
	for _, a := range o.arrivals[1:] {
		if a.seq > seq {
			break
		}
		at = a.at
	}
	return at
}

// AnchorHeads durably accepts status-list heads. For each list only the
// newest version waits; an older one than what waits is ignored.
func (o *Outbox) AnchorHeads(ctx context.Context, heads []StatusHeadInput) error {
	for _, h := range heads {
		if err := chaincode.CheckListID(h.List); err != nil {
			return err
		}
		if h.Version == 0 || !isHex256(h.Digest) {
			return fmt.Errorf("%w: head of %q: version from 1 and a 64-hex-digit SM3 digest", chaincode.ErrInvalid, h.List)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	added := 0
	err := o.db.Batch(func(tx *bolt.Tx) error {
		added = 0
		b := tx.Bucket(obHeads)
		for _, h := range heads {
			if old := b.Get([]byte(h.List)); old != nil {
				var prev StatusHeadInput
				if json.Unmarshal(old, &prev) == nil && prev.Version > h.Version {
					continue
				}
			} else {
				added++
			}
			v, _ := json.Marshal(h)
			if err := b.Put([]byte(h.List), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: outbox: %w", ErrUnavailable, err)
	}
	o.mu.Lock()
	if o.stats.HeadsPending == 0 && added > 0 {
		o.headsSince = o.opts.Now()
	}
	o.stats.HeadsPending += added
	o.mu.Unlock()
	o.signal()
	return nil
}

func isHex256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

// Stats returns the outbox's counters.
func (o *Outbox) Stats() OutboxStats {
	now := o.opts.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.stats
	s.Pending = o.pending
	var oldest time.Time
	if o.pending > 0 {
		oldest = o.arrivals[0].at
	}
	if s.HeadsPending > 0 && (oldest.IsZero() || o.headsSince.Before(oldest)) {
		oldest = o.headsSince
	}
	s.Backlog = o.pending
	for _, f := range o.frozenIn {
		s.Backlog += f.count
		if oldest.IsZero() || f.at.Before(oldest) {
			oldest = f.at
		}
	}
	if !oldest.IsZero() {
		s.OldestAge = max(now.Sub(oldest), 0)
	}
	return s
}

// failed records a failure for Stats; o.mu must be held.
func (o *Outbox) failed(err error) {
	o.stats.LastError, o.stats.LastErrorAt = err, o.opts.Now()
}

// freeze moves up to MaxBatch pending changes into a new frozen batch;
// nil when none is pending.
func (o *Outbox) freeze() (*queued, error) {
	var rest uint64 // the first chunk left pending
	var q *queued
	o.freezeMu.Lock()
	defer o.freezeMu.Unlock()
	err := o.db.Update(func(tx *bolt.Tx) error {
		pend := tx.Bucket(obPending)
		var changes []StatusChange
		var first, last uint64
		c := pend.Cursor()
		var del [][]byte
		for k, v := c.First(); k != nil && len(changes) < o.opts.MaxBatch; k, v = c.Next() {
			cs, err := decodeChunk(v)
			if err != nil {
				return fmt.Errorf("chunk %x: %w", k, err)
			}
			if first == 0 {
				first = binary.BigEndian.Uint64(k)
			}
			last = binary.BigEndian.Uint64(k)
			room := o.opts.MaxBatch - len(changes)
			if len(cs) <= room {
				changes = append(changes, cs...)
				del = append(del, append([]byte(nil), k...))
				continue
			}
			changes = append(changes, cs[:room]...)
			if err := pend.Put(append([]byte(nil), k...), encodeChunk(cs[room:])); err != nil {
				return err
			}
			break
		}
		for _, k := range del {
			if err := pend.Delete(k); err != nil {
				return err
			}
		}
		if len(changes) == 0 {
			return nil
		}
		rest = last + 1
		if k, _ := pend.Cursor().First(); k != nil {
			rest = binary.BigEndian.Uint64(k)
		}
		batches := tx.Bucket(obBatches)
		s, err := batches.NextSequence()
		if err != nil {
			return err
		}
		in, err := chaincode.NewBatchInput(fmt.Sprintf("%s-%d", o.nodeID, s), changes)
		if err != nil {
			return err
		}
		q = newQueued(s, &frozen{Input: in, First: first, Last: last}, changes)
		raw, err := json.Marshal(q.fb)
		if err != nil {
			return err
		}
		return batches.Put(binary.BigEndian.AppendUint64(nil, s), raw)
	})
	if err != nil {
		return nil, err
	}
	if q != nil {
		o.mu.Lock()
		o.frozenIn[q.seq] = frozenInfo{o.arrivedAt(q.fb.First), q.fb.Input.Count}
		o.pending -= q.fb.Input.Count
		if o.pending <= 0 {
			o.pending, o.oldest, o.arrivals = 0, time.Time{}, o.arrivals[:0]
		} else {
			o.oldest = o.opts.Now() // the rest starts a new window
			for len(o.arrivals) > 1 && o.arrivals[1].seq <= rest {
				o.arrivals = o.arrivals[1:]
			}
		}
		o.stats.Frozen++
		o.mu.Unlock()
	}
	return q, nil
}

// batchChanges returns a batch's changes, checked against its root.
func batchChanges(in chaincode.BatchInput) ([]StatusChange, error) {
	return chaincode.DecodeBatch(chaincode.Batch{ID: in.ID, Root: in.Root, Count: in.Count, Lists: in.Lists, Changes: in.Changes})
}

// entry is one status entry, what a change changes.
type entry struct {
	list  string
	index uint64
}

// queued is a frozen batch Run holds: in flight, or waiting for an
// earlier batch that changes one of its entries.
type queued struct {
	seq     uint64
	fb      *frozen
	changes []StatusChange // fb's, what OnDone is told
	entries map[entry]struct{}
	sending bool
}

func newQueued(seq uint64, fb *frozen, changes []StatusChange) *queued {
	q := &queued{seq: seq, fb: fb, changes: changes, entries: make(map[entry]struct{}, len(changes))}
	for _, c := range changes {
		q.entries[entry{c.List, c.Index}] = struct{}{}
	}
	return q
}

// overlaps reports whether q and p change a common entry.
func (q *queued) overlaps(p *queued) bool {
	a, b := q.entries, p.entries
	if len(a) > len(b) {
		a, b = b, a
	}
	for e := range a {
		if _, ok := b[e]; ok {
			return true
		}
	}
	return false
}

// frozenBatches returns up to limit frozen batches after sequence after,
// oldest first.
func (o *Outbox) frozenBatches(after uint64, limit int) ([]*queued, error) {
	var out []*queued
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(obBatches).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil && len(out) < limit; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			var fb frozen
			if err := json.Unmarshal(v, &fb); err != nil {
				return fmt.Errorf("batch %d: %w", seq, err)
			}
			cs, err := batchChanges(fb.Input)
			if err != nil {
				return fmt.Errorf("batch %d: %w", seq, err)
			}
			out = append(out, newQueued(seq, &fb, cs))
		}
		return nil
	})
	return out, err
}

// permanent reports a refusal that retrying cannot cure.
func permanent(err error) bool {
	for _, e := range []error{chaincode.ErrBatchConflict, chaincode.ErrInvalid, chaincode.ErrArgumentsCount, chaincode.ErrUnknownFunc, chaincode.ErrHeadConflict, chaincode.ErrStale} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

type sent struct {
	*queued
	err   error // nil: committed
	rep   bool
	block uint64 // the block that committed it, 0 if not known
}

// Run sends the outbox to the chain until ctx ends, one Run at a time.
//
// Up to Concurrency frozen batches are held, oldest first, and sent at
// once, except that a batch waits while an earlier one held changes one
// of its entries: two changes of one entry reach the chain in the order
// Anchor accepted them, also when the earlier batch is retried or resent
// after a restart (every instance applies the chain's batches in commit
// order, the later change winning).
//
// A failed transaction is retried with backoff for as long as it takes
// (a ledger that is down or refuses the region for now): the outbox holds
// the changes and drains when the chain answers again, while Stats shows
// the backlog, its age and the last error. A refusal that retrying cannot
// cure sets the batch aside (DeadBatches). Run returns early only when the
// outbox file itself fails (a read or write error, a corrupted record):
// it then stops the transactions in flight, whose batches stay frozen for
// the next Run, and returns the error. Run may be called again after it
// returned.
func (o *Outbox) Run(parent context.Context) (err error) {
	o.mu.Lock()
	if o.running || o.closed {
		o.mu.Unlock()
		return errors.New("ledger: outbox: Run called twice or after Close")
	}
	o.running = true
	o.mu.Unlock()

	ctx, cancel := context.WithCancel(parent)
	// held: the oldest frozen batches, by sequence; every frozen batch up
	// to sequence loaded is held until it is recorded as sent.
	held := map[uint64]*queued{}
	var loaded uint64
	changed := false // held changed since the last dispatch
	// Each send delivers one result and at most Concurrency are in
	// flight, so a send never waits for Run to receive.
	results := make(chan sent, o.opts.Concurrency)
	headsDone := make(chan error, 1)
	headsBusy := false
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		o.mu.Lock()
		o.running = false
		if parent.Err() == nil {
			o.failed(err)
		}
		o.mu.Unlock()
	}()
	hold := func(q *queued) {
		held[q.seq], loaded, changed = q, max(loaded, q.seq), true
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// 1. Hold frozen batches a previous Run left.
		if len(held) < o.opts.Concurrency {
			more, err := o.frozenBatches(loaded, o.opts.Concurrency-len(held))
			if err != nil {
				return fmt.Errorf("ledger: outbox: %w", err)
			}
			for _, q := range more {
				hold(q)
			}
		}
		// 2. Freeze a new batch when it is full, old enough, or flushed.
		o.mu.Lock()
		due := o.pending > 0 && (o.pending >= o.opts.MaxBatch || o.flushing > 0 || o.opts.Now().Sub(o.oldest) >= o.opts.Window)
		wait := time.Hour
		if o.pending > 0 && !due {
			wait = o.opts.Window - o.opts.Now().Sub(o.oldest)
		}
		headsWaiting := o.stats.HeadsPending > 0
		o.mu.Unlock()
		if due && len(held) < o.opts.Concurrency {
			q, err := o.freeze()
			if err != nil {
				return fmt.Errorf("ledger: outbox: %w", err)
			}
			if q != nil {
				hold(q)
				continue
			}
		}
		// 3. Send each held batch no earlier held batch overlaps.
		if changed {
			changed = false
			for _, q := range sendable(held) {
				q.sending = true
				wg.Add(1)
				go func() { defer wg.Done(); o.send(ctx, q, results) }()
			}
		}
		// 4. Heads, one transaction at a time.
		if headsWaiting && !headsBusy {
			headsBusy = true
			wg.Add(1)
			go func() { defer wg.Done(); headsDone <- o.sendHeads(ctx) }()
		}
		if wait < time.Millisecond {
			wait = time.Millisecond
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			// In-flight sends stop at their next retry; their batches stay
			// frozen for the next run.
			return ctx.Err()
		case r := <-results:
			// A batch the file did not record as sent stays frozen for
			// the next Run, which sends it again (a replay).
			if err := o.done(r); err != nil {
				return fmt.Errorf("ledger: outbox: %w", err)
			}
			delete(held, r.seq)
			changed = true
		case err := <-headsDone:
			headsBusy = false
			if err != nil {
				return fmt.Errorf("ledger: outbox: %w", err)
			}
		case <-o.kick:
		case <-timer.C:
		}
	}
}

// sendable returns the held batches not sending that no earlier held
// batch overlaps.
func sendable(held map[uint64]*queued) []*queued {
	order := make([]*queued, 0, len(held))
	for _, q := range held {
		order = append(order, q)
	}
	slices.SortFunc(order, func(a, b *queued) int { return cmp.Compare(a.seq, b.seq) })
	var out []*queued
	for i, q := range order {
		if !q.sending && !slices.ContainsFunc(order[:i], q.overlaps) {
			out = append(out, q)
		}
	}
	return out
}

// send submits one frozen batch until the chain has it or refuses it.
func (o *Outbox) send(ctx context.Context, q *queued, results chan<- sent) {
	fb := q.fb
	backoff := o.opts.MinBackoff
	for {
		res, err := o.chain.AnchorBatch(ctx, fb.Input)
		if err == nil || permanent(err) {
			results <- sent{queued: q, err: err, rep: err == nil && res.Replayed, block: res.Block}
			return
		}
		if ctx.Err() != nil {
			return
		}
		o.mu.Lock()
		o.stats.Retries++
		o.failed(err)
		o.retries.Warn(o.log, "status batch not anchored yet; retrying", err, slog.String("batch", fb.Input.ID),
			slog.Int("changes", fb.Input.Count), slog.Duration("backoff", backoff))
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, o.opts.MaxBackoff)
	}
}

// done records a sent batch: removed when committed, moved to the dead
// bucket when refused. It returns the file's error when the file did not
// take it: the batch is still frozen, to be sent again.
func (o *Outbox) done(r sent) error {
	key := binary.BigEndian.AppendUint64(nil, r.seq)
	// Held from before the batch leaves the file until onDone has it: a
	// Watch then either finds the batch in Unsent and hears of it after,
	// or finds it gone and does not hear of it.
	o.watching.Lock()
	o.mu.Lock()
	if o.recording == nil {
		o.recording = map[uint64]uint64{}
	}
	o.recording[r.seq] = r.fb.First
	o.mu.Unlock()
	err := o.db.Update(func(tx *bolt.Tx) error {
		if r.err != nil {
			v, _ := json.Marshal(struct {
				Batch chaincode.BatchInput `json:"batch"`
				Error string               `json:"error"`
			}{r.fb.Input, r.err.Error()})
			if err := tx.Bucket(obDead).Put([]byte(r.fb.Input.ID), v); err != nil {
				return err
			}
		}
		return tx.Bucket(obBatches).Delete(key)
	})
	if err != nil {
		o.mu.Lock()
		delete(o.recording, r.seq)
		o.mu.Unlock()
		o.watching.Unlock()
		return fmt.Errorf("cannot record sent batch %s (it is sent again): %w", r.fb.Input.ID, err)
	}
	if o.onDone != nil {
		var block uint64
		if r.err == nil {
			block = r.block
		}
		o.onDone(r.changes, r.fb.Input.ID, block)
	}
	o.watching.Unlock()
	o.mu.Lock()
	delete(o.recording, r.seq)
	o.stats.Frozen--
	delete(o.frozenIn, r.seq)
	if r.err != nil {
		o.stats.Dead++
	} else {
		o.stats.LastError = nil
		o.retries.Reset()
		o.stats.CommittedBatches++
		o.stats.CommittedChanges += r.fb.Input.Count
		if r.rep {
			o.stats.Replayed++
		}
	}
	close(o.changed)
	o.changed = make(chan struct{})
	o.mu.Unlock()
	if r.err != nil {
		o.log.Error("status batch refused by the chain; kept in the outbox's dead bucket", slog.String("batch", r.fb.Input.ID), slog.Any("error", r.err))
	}
	return nil
}

// sendHeads submits the waiting heads (at most chaincode.MaxHeads per
// transaction); on a permanent refusal it sends them one by one to drop
// only the refused ones. On a refusal past the region's quota
// (chaincode.ErrQuota: a new list's head) it sends them one by one too,
// so that the heads of lists anchored already go on, and keeps the
// refused ones, to send again after MaxBackoff. It returns the file's error when the file
// cannot be read or does not record the heads sent (they stay, to be
// sent again), nil when ctx ends.
func (o *Outbox) sendHeads(ctx context.Context) error {
	var heads []StatusHeadInput
	if err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(obHeads).Cursor()
		for k, v := c.First(); k != nil && len(heads) < chaincode.MaxHeads; k, v = c.Next() {
			var h StatusHeadInput
			if err := json.Unmarshal(v, &h); err != nil {
				return err
			}
			heads = append(heads, h)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("heads: %w", err)
	}
	if len(heads) == 0 {
		return nil
	}
	groups := [][]StatusHeadInput{heads}
	backoff := o.opts.MinBackoff
	var quotaErr error // the last refusal past the quota, its heads kept
	for len(groups) > 0 {
		g := groups[0]
		_, err := o.chain.PutStatusHeads(ctx, g)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			o.mu.Lock()
			o.stats.LastError = nil
			o.retries.Reset()
			o.mu.Unlock()
			if err := o.removeHeads(g); err != nil {
				return err
			}
			groups = groups[1:]
		case (permanent(err) || errors.Is(err, chaincode.ErrQuota)) && len(g) > 1:
			groups = groups[1:]
			for _, h := range g {
				groups = append(groups, []StatusHeadInput{h})
			}
		case permanent(err):
			o.log.Error("status head refused by the chain; dropped", slog.String("list", g[0].List), slog.Uint64("version", g[0].Version), slog.Any("error", err))
			if err := o.removeHeads(g); err != nil {
				return err
			}
			groups = groups[1:]
		case errors.Is(err, chaincode.ErrQuota):
			quotaErr = err
			groups = groups[1:]
		default:
			o.mu.Lock()
			o.stats.Retries++
			o.failed(err)
			o.retries.Warn(o.log, "status heads not anchored yet; retrying", err, slog.Int("heads", len(g)), slog.Duration("backoff", backoff))
			o.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, o.opts.MaxBackoff)
		}
	}
	o.mu.Lock()
	if quotaErr == nil {
		o.overQuota.Reset()
		o.mu.Unlock()
		return nil
	}
	o.failed(quotaErr)
	o.overQuota.Warn(o.log, "status heads of new lists refused: the region's quota (records or bytes) is full; the other lists' heads are anchored, these retried", quotaErr,
		slog.Duration("backoff", o.opts.MaxBackoff))
	o.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(o.opts.MaxBackoff):
	}
	return nil
}

// removeHeads deletes sent heads unless a newer one arrived meanwhile. It
// returns the file's error when the file did not take it.
func (o *Outbox) removeHeads(heads []StatusHeadInput) error {
	removed := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		removed = 0
		b := tx.Bucket(obHeads)
		for _, h := range heads {
			var cur StatusHeadInput
			if v := b.Get([]byte(h.List)); v == nil || json.Unmarshal(v, &cur) != nil || cur != h {
				continue
			}
			if err := b.Delete([]byte(h.List)); err != nil {
				return err
			}
			removed++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot record sent heads (they are sent again): %w", err)
	}
	o.mu.Lock()
	o.stats.HeadsPending -= removed
	o.headsSince = o.opts.Now() // the lane moved
	close(o.changed)
	o.changed = make(chan struct{})
	o.mu.Unlock()
	return nil
}

// Flush waits until every change accepted before the call is committed
// (or refused into the dead bucket) and no heads wait, or ctx ends. Run
// must be running.
func (o *Outbox) Flush(ctx context.Context) error {
	o.mu.Lock()
	target := o.lastChunkID
	o.flushing++
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.flushing--
		o.mu.Unlock()
	}()
	o.signal()
	for {
		o.mu.Lock()
		wait := o.changed
		heads := o.stats.HeadsPending
		o.mu.Unlock()
		lowest, err := o.lowestOutstanding()
		if err != nil {
			return err
		}
		if (lowest == 0 || lowest > target) && heads == 0 && !o.recordingThrough(target) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// recordingThrough reports whether done is recording a sent batch that
// holds chunks up to target.
func (o *Outbox) recordingThrough(target uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, first := range o.recording {
		if first <= target {
			return true
		}
	}
	return false
}

// lowestOutstanding returns the lowest chunk sequence not yet committed
// (pending or in a frozen batch), 0 if none.
func (o *Outbox) lowestOutstanding() (uint64, error) {
	var low uint64
	err := o.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(obPending).Cursor().First(); k != nil {
			low = binary.BigEndian.Uint64(k)
		}
		return tx.Bucket(obBatches).ForEach(func(_, v []byte) error {
			var fb frozen
			if err := json.Unmarshal(v, &fb); err != nil {
				return err
			}
			if low == 0 || fb.First < low {
				low = fb.First
			}
			return nil
		})
	})
	return low, err
}

// DeadBatch is a batch the chain refused for good: its changes, which
// Anchor accepted, are not on the chain.
type DeadBatch struct {
	ID      string         `json:"id"`
	Reason  string         `json:"reason"` // the chain's refusal
	Changes []StatusChange `json:"changes"`
}

// DeadBatches returns the batches the chain refused for good, by ID. They
// need an operator: a refused batch means a bug or two nodes sharing one
// outbox's node ID.
func (o *Outbox) DeadBatches() ([]DeadBatch, error) {
	var out []DeadBatch
	err := o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(obDead).ForEach(func(k, v []byte) error {
			var d struct {
				Batch chaincode.BatchInput `json:"batch"`
				Error string               `json:"error"`
			}
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("dead batch %s: %w", k, err)
			}
			cs, err := batchChanges(d.Batch)
			if err != nil {
				return fmt.Errorf("dead batch %s: %w", k, err)
			}
			out = append(out, DeadBatch{ID: string(k), Reason: d.Error, Changes: cs})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%w: outbox: %w", ErrUnavailable, err)
	}
	return out, nil
}

// Close closes the file. Stop Run first (cancel its context); what is not
// yet committed stays in the file for the next Open.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	return o.db.Close()
}
