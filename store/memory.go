package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for [MemoryOptions] zero values.
const (
	// DefaultMaxEntries is the entry cap used when MemoryOptions.MaxEntries
	// is zero.
	DefaultMaxEntries = 1 << 20
	// DefaultMaxBytes is the cap on the bytes of stored values used when
	// MemoryOptions.MaxBytes is zero.
	DefaultMaxBytes = 1 << 30
	// DefaultSweepInterval is the background sweep period used when
	// MemoryOptions.SweepInterval is zero.
	DefaultSweepInterval = 30 * time.Second
)

// memShards is the number of independently locked maps.
const memShards = 32

// fullSweepGap is the least time between two sweeps triggered by a full store.
const fullSweepGap = time.Second

// MemoryOptions configures [NewMemory]. The zero value is ready to use.
type MemoryOptions struct {
	// Prefix is prepended to every stored key, e.g. "trustid:310000:". It
	// must not contain '{' or '}'. Empty means no prefix.
	Prefix string
	// KeySecret, if set, keys the digest of caller keys (HMAC-SHA-256).
	KeySecret []byte
	// Now is the clock used for expiry and rate limits. Nil means time.Now.
	Now func() time.Time
	// MaxEntries caps the number of live entries across all capabilities;
	// writes of new keys beyond it fail with ErrFull. Zero means
	// DefaultMaxEntries; negative means no cap.
	MaxEntries int
	// MaxBytes caps the bytes of the values of live entries (keys and
	// bookkeeping aside): writes that would take the store past it fail
	// with ErrFull, changing nothing. Values may be large (an offer keeps
	// a credential of up to 256 KiB), so MaxEntries alone would let the
	// store hold far more memory than the process has. Zero means
	// DefaultMaxBytes; negative means no cap.
	MaxBytes int64
	// SweepInterval is how often a background goroutine removes expired
	// entries. Zero means DefaultSweepInterval; negative disables the
	// background sweeper (expired entries are then removed when touched, and
	// all of them when the cap is reached).
	SweepInterval time.Duration
}

// Memory is the in-memory [Store]: the embedded default for a single node.
// It is safe for concurrent use. Create it with [NewMemory] and stop its
// sweeper with Close.
type Memory struct {
	keys      Keyer
	now       func() time.Time
	max       int64 // < 0: no cap
	count     atomic.Int64
	maxBytes  int64        // < 0: no cap
	bytes     atomic.Int64 // the bytes of the values in the shards' maps
	lastSweep atomic.Int64 // clock time (UnixNano) of the last full-store sweep
	closed    atomic.Bool
	shards    [memShards]memShard
	signals   Signals // Watch's, which Notify wakes

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type memShard struct {
	mu sync.Mutex
	m  map[string]memEntry
	// rate holds Allow's states, updated in place: a request of a key
	// already counted neither allocates its stored key nor hashes it twice.
	rate map[string]*rateEntry
}

// memEntry is one stored item. exp is the expiry time in UnixNano; the entry
// is live while now < exp. spent marks a token Spend spent.
type memEntry struct {
	val   []byte
	exp   int64
	spent bool
}

// rateEntry is one key's rate-limit state: its theoretical arrival time
// in µs and, as memEntry's, its expiry.
type rateEntry struct {
	tat int64
	exp int64
}

var _ Store = (*Memory)(nil)

// NewMemory returns an in-memory store. It starts a background sweeper unless
// opts.SweepInterval is negative; call Close to stop it.
func NewMemory(opts MemoryOptions) (*Memory, error) {
	k, err := NewKeyer(opts.Prefix, opts.KeySecret)
	if err != nil {
		return nil, err
	}
	m := &Memory{keys: k, now: opts.Now, max: int64(opts.MaxEntries), maxBytes: opts.MaxBytes}
	if m.now == nil {
		m.now = time.Now
	}
	if m.max == 0 {
		m.max = DefaultMaxEntries
	}
	if m.maxBytes == 0 {
		m.maxBytes = DefaultMaxBytes
	}
	for i := range m.shards {
		m.shards[i].m = make(map[string]memEntry)
		m.shards[i].rate = make(map[string]*rateEntry)
	}
	interval := opts.SweepInterval
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	if interval > 0 {
		m.stop = make(chan struct{})
		m.done = make(chan struct{})
		go m.sweeper(interval)
	}
	return m, nil
}

func (m *Memory) sweeper(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep removes every expired entry, one shard at a time.
func (m *Memory) sweep() {
	now := m.now().UnixNano()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if now >= e.exp {
				m.drop(s, k, e)
			}
		}
		for k, e := range s.rate {
			if now >= e.exp {
				delete(s.rate, k)
				m.count.Add(-1)
			}
		}
		s.mu.Unlock()
	}
}

// Close stops the sweeper and drops every entry. It is idempotent.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		if m.stop != nil {
			close(m.stop)
			<-m.done
		}
		for i := range m.shards {
			s := &m.shards[i]
			s.mu.Lock()
			m.count.Add(-int64(len(s.m) + len(s.rate)))
			for _, e := range s.m {
				m.bytes.Add(-int64(len(e.val)))
			}
			s.m = make(map[string]memEntry)
			s.rate = make(map[string]*rateEntry)
			s.mu.Unlock()
		}
	})
	return nil
}

// Ping returns nil unless the store is closed or ctx is done.
func (m *Memory) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

// begin validates the arguments and returns the stored key and its shard.
func (m *Memory) begin(ctx context.Context, ns, key string) (string, *memShard, error) {
	if err := CheckKey(ctx, key); err != nil {
		return "", nil, err
	}
	if m.closed.Load() {
		return "", nil, ErrClosed
	}
	sk := m.keys.Key(ns, key)
	return sk, m.shard([]byte(sk[len(sk)-4:])), nil
}

// shard returns the shard of a stored key by its last four bytes, of the
// digest, which is uniformly distributed.
func (m *Memory) shard(last4 []byte) *memShard {
	return &m.shards[binary.LittleEndian.Uint32(last4)%memShards]
}

// sweepIfFull is called before a write that may add a key: when the store is
// at its entry cap, or past seven-eighths of its byte cap, it removes
// expired entries, at most once per fullSweepGap of the store's clock. The
// caps themselves are enforced by reserve and put. It must be called
// without any shard lock held.
func (m *Memory) sweepIfFull() {
	if (m.max < 0 || m.count.Load() < m.max) && (m.maxBytes < 0 || m.bytes.Load() < m.maxBytes/8*7) {
		return
	}
	now := m.now().UnixNano()
	last := m.lastSweep.Load()
	if now-last >= int64(fullSweepGap) && m.lastSweep.CompareAndSwap(last, now) {
		m.sweep()
	}
}

// reserve counts one new entry, or reports ErrFull. Callers hold the shard
// lock and roll back with m.count.Add(-1) if they do not insert.
func (m *Memory) reserve() error {
	if n := m.count.Add(1); m.max >= 0 && n > m.max {
		m.count.Add(-1)
		return ErrFull
	}
	return nil
}

// put stores e under sk in s, whose lock the caller holds, counting the
// change in its value's bytes against the byte cap: a value that would
// take the store past it is ErrFull, and nothing changes. The entry count
// is the caller's (reserve).
func (m *Memory) put(s *memShard, sk string, e memEntry) error {
	grow := int64(len(e.val))
	if old, ok := s.m[sk]; ok {
		grow -= int64(len(old.val))
	}
	if n := m.bytes.Add(grow); grow > 0 && m.maxBytes >= 0 && n > m.maxBytes {
		m.bytes.Add(-grow)
		return ErrFull
	}
	s.m[sk] = e
	return nil
}

// drop removes e, the entry under sk in s, whose lock the caller holds.
func (m *Memory) drop(s *memShard, sk string, e memEntry) {
	delete(s.m, sk)
	m.count.Add(-1)
	m.bytes.Add(-int64(len(e.val)))
}

// insertNew stores e under sk if no live entry is there. It reports whether
// a live entry was found (and left alone).
func (m *Memory) insertNew(s *memShard, sk string, e memEntry, now int64) (exists bool, err error) {
	m.sweepIfFull()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.closed.Load() {
		return false, ErrClosed
	}
	if old, ok := s.m[sk]; ok {
		if now < old.exp {
			return true, nil
		}
		return false, m.put(s, sk, e) // replace the expired entry; the count is unchanged
	}
	if err := m.reserve(); err != nil {
		return false, err
	}
	if err := m.put(s, sk, e); err != nil {
		m.count.Add(-1)
		return false, err
	}
	return false, nil
}

// Put implements [Store.Put].
func (m *Memory) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return m.putNew(ctx, NamespaceToken, key, clone(value), ttl, ErrExists)
}

// putNew stores val under key unless a live entry is there, in which case
// it returns taken.
func (m *Memory) putNew(ctx context.Context, ns, key string, val []byte, ttl time.Duration, taken error) error {
	sk, s, err := m.begin(ctx, ns, key)
	if err != nil {
		return err
	}
	if err := CheckTTL(ttl); err != nil {
		return err
	}
	now := m.now()
	exists, err := m.insertNew(s, sk, memEntry{val: val, exp: now.Add(ttl).UnixNano()}, now.UnixNano())
	if err != nil {
		return err
	}
	if exists {
		return taken
	}
	return nil
}

// Consume implements [Store.Consume].
func (m *Memory) Consume(ctx context.Context, key string) ([]byte, error) {
	sk, s, err := m.begin(ctx, NamespaceToken, key)
	if err != nil {
		return nil, err
	}
	now := m.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[sk]
	if !ok || e.spent && now < e.exp {
		return nil, ErrNotFound
	}
	m.drop(s, sk, e)
	if now >= e.exp {
		return nil, ErrNotFound
	}
	return e.val, nil // removed from the map: the caller owns it
}

// Peek implements [Store.Peek].
func (m *Memory) Peek(ctx context.Context, key string) ([]byte, error) {
	e, err := m.live(ctx, NamespaceToken, key)
	if err != nil {
		return nil, err
	}
	if e.spent {
		return nil, ErrNotFound
	}
	return e.val, nil
}

// Spend implements [Store.Spend].
func (m *Memory) Spend(ctx context.Context, key string, ttl time.Duration) ([]byte, error) {
	sk, s, err := m.begin(ctx, NamespaceToken, key)
	if err != nil {
		return nil, err
	}
	if err := CheckTTL(ttl); err != nil {
		return nil, err
	}
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[sk]
	switch {
	case !ok:
		return nil, ErrNotFound
	case now.UnixNano() >= e.exp:
		m.drop(s, sk, e)
		return nil, ErrNotFound
	case e.spent:
		return clone(e.val), ErrReplayed
	}
	s.m[sk] = memEntry{val: e.val, exp: now.Add(ttl).UnixNano(), spent: true}
	return clone(e.val), nil
}

// MarkUsed implements [Store.MarkUsed].
func (m *Memory) MarkUsed(ctx context.Context, key string, ttl time.Duration) error {
	return m.putNew(ctx, NamespaceNonce, key, nil, ttl, ErrReplayed)
}

// Get implements [Store.Get].
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := m.live(ctx, NamespaceKV, key)
	if err != nil {
		return nil, err
	}
	return e.val, nil
}

// live returns the live entry of key in namespace ns, its value a copy
// the caller owns, or ErrNotFound (removing an expired entry).
func (m *Memory) live(ctx context.Context, ns, key string) (memEntry, error) {
	sk, s, err := m.begin(ctx, ns, key)
	if err != nil {
		return memEntry{}, err
	}
	now := m.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[sk]
	if !ok {
		return memEntry{}, ErrNotFound
	}
	if now >= e.exp {
		m.drop(s, sk, e)
		return memEntry{}, ErrNotFound
	}
	e.val = clone(e.val)
	return e, nil
}

// Set implements [Store.Set].
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	sk, s, err := m.begin(ctx, NamespaceKV, key)
	if err != nil {
		return err
	}
	if err := CheckTTL(ttl); err != nil {
		return err
	}
	m.sweepIfFull()
	e := memEntry{val: clone(value), exp: m.now().Add(ttl).UnixNano()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	_, replace := s.m[sk]
	if !replace {
		if err := m.reserve(); err != nil {
			return err
		}
	}
	if err := m.put(s, sk, e); err != nil {
		if !replace {
			m.count.Add(-1)
		}
		return err
	}
	return nil
}

// CompareAndSwap implements [Store.CompareAndSwap].
func (m *Memory) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	sk, s, err := m.begin(ctx, NamespaceKV, key)
	if err != nil {
		return false, err
	}
	if err := CheckTTL(ttl); err != nil {
		return false, err
	}
	now := m.now()
	e := memEntry{val: clone(value), exp: now.Add(ttl).UnixNano()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.closed.Load() {
		return false, ErrClosed
	}
	cur, ok := s.m[sk]
	if !ok || now.UnixNano() >= cur.exp || !bytes.Equal(cur.val, old) {
		return false, nil
	}
	if err := m.put(s, sk, e); err != nil {
		return false, err
	}
	return true, nil
}

// Claim implements [Store.Claim].
func (m *Memory) Claim(ctx context.Context, value, free []byte, ttl time.Duration, keys ...string) ([]Claimed, error) {
	sks, shards, err := m.beginKeys(ctx, keys)
	if err != nil {
		return nil, err
	}
	if err := CheckTTL(ttl); err != nil {
		return nil, err
	}
	m.sweepIfFull()
	now := m.now()
	exp := now.Add(ttl).UnixNano()
	out := make([]Claimed, len(keys))
	for i, sk := range sks {
		if out[i], err = m.claim(shards[i], sk, value, free, now.UnixNano(), exp); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// beginKeys is begin of each of keys in the "kv" namespace.
func (m *Memory) beginKeys(ctx context.Context, keys []string) ([]string, []*memShard, error) {
	sks := make([]string, len(keys))
	shards := make([]*memShard, len(keys))
	for i, key := range keys {
		var err error
		if sks[i], shards[i], err = m.begin(ctx, NamespaceKV, key); err != nil {
			return nil, nil, err
		}
	}
	return sks, shards, nil
}

// claim is Claim of one stored key in its shard s.
func (m *Memory) claim(s *memShard, sk string, value, free []byte, now, exp int64) (Claimed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.closed.Load() {
		return Claimed{}, ErrClosed
	}
	var c Claimed
	cur, ok := s.m[sk]
	switch {
	case !ok:
		if err := m.reserve(); err != nil {
			return Claimed{}, err
		}
	case now >= cur.exp, bytes.Equal(cur.val, value):
	case len(free) > 0 && bytes.HasPrefix(cur.val, free):
		c.Freed = cur.val
	default:
		return Claimed{}, nil
	}
	if err := m.put(s, sk, memEntry{val: clone(value), exp: exp}); err != nil {
		if !ok {
			m.count.Add(-1)
		}
		return Claimed{}, err
	}
	c.Held = true
	return c, nil
}

// CompareAndReplace implements [Store.CompareAndReplace].
func (m *Memory) CompareAndReplace(ctx context.Context, old, value []byte, ttl time.Duration, keys ...string) (int, error) {
	sks, shards, err := m.beginKeys(ctx, keys)
	if err != nil {
		return 0, err
	}
	if err := CheckTTL(ttl); err != nil {
		return 0, err
	}
	now := m.now()
	exp := now.Add(ttl).UnixNano()
	n := 0
	for i, sk := range sks {
		s := shards[i]
		s.mu.Lock()
		if m.closed.Load() {
			s.mu.Unlock()
			return n, ErrClosed
		}
		if cur, ok := s.m[sk]; ok && now.UnixNano() < cur.exp && bytes.Equal(cur.val, old) {
			if err := m.put(s, sk, memEntry{val: clone(value), exp: exp}); err != nil {
				s.mu.Unlock()
				return n, err
			}
			n++
		}
		s.mu.Unlock()
	}
	return n, nil
}

// CompareAndDelete implements [Store.CompareAndDelete].
func (m *Memory) CompareAndDelete(ctx context.Context, old []byte, keys ...string) (int, error) {
	sks, shards, err := m.beginKeys(ctx, keys)
	if err != nil {
		return 0, err
	}
	now := m.now().UnixNano()
	n := 0
	for i, sk := range sks {
		s := shards[i]
		s.mu.Lock()
		if m.closed.Load() {
			s.mu.Unlock()
			return n, ErrClosed
		}
		if cur, ok := s.m[sk]; ok && now < cur.exp && bytes.Equal(cur.val, old) {
			m.drop(s, sk, cur)
			n++
		}
		s.mu.Unlock()
	}
	return n, nil
}

// Delete implements [Store.Delete].
func (m *Memory) Delete(ctx context.Context, key string) error {
	sk, s, err := m.begin(ctx, NamespaceKV, key)
	if err != nil {
		return err
	}
	m.remove(s, sk)
	return nil
}

// Watch implements [Store.Watch]: the store is one process's, so its
// notifications are its own Notify's and are never lost.
func (m *Memory) Watch(ctx context.Context, key string) (<-chan struct{}, func(), error) {
	sk, _, err := m.begin(ctx, NamespaceWake, key)
	if err != nil {
		return nil, nil, err
	}
	ch, stop := m.signals.Watch(sk)
	return ch, stop, nil
}

// Notify implements [Store.Notify].
func (m *Memory) Notify(ctx context.Context, key string) error {
	sk, _, err := m.begin(ctx, NamespaceWake, key)
	if err != nil {
		return err
	}
	m.signals.Notify(sk)
	return nil
}

func (m *Memory) remove(s *memShard, sk string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[sk]; ok {
		m.drop(s, sk, e)
	}
}

// Allow implements [Store.Allow].
func (m *Memory) Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if err := CheckKey(ctx, key); err != nil {
		return Decision{}, err
	}
	if m.closed.Load() {
		return Decision{}, ErrClosed
	}
	g, err := NewGCRA(limit, window)
	if err != nil {
		return Decision{}, err
	}
	var buf [maxStoredKeyLen]byte
	sk := m.keys.appendKey(buf[:0], NamespaceRate, key)
	s := m.shard(sk[len(sk)-4:])
	m.sweepIfFull()
	now := m.now()
	nowUS := now.UnixMicro()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.closed.Load() {
		return Decision{}, ErrClosed
	}
	e := s.rate[string(sk)]
	var tat int64
	if e != nil && now.UnixNano() < e.exp {
		tat = e.tat
	}
	d, tat := g.Decide(nowUS, tat)
	if !d.Allowed {
		return d, nil
	}
	if e == nil {
		if err := m.reserve(); err != nil {
			return Decision{}, err
		}
		e = &rateEntry{}
		s.rate[string(sk)] = e
	}
	// The state is equivalent to a fresh key once tat has passed.
	e.tat, e.exp = tat, time.UnixMicro(tat).UnixNano()
	return d, nil
}

// Reset implements [Store.Reset].
func (m *Memory) Reset(ctx context.Context, key string) error {
	sk, s, err := m.begin(ctx, NamespaceRate, key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rate[sk]; ok {
		delete(s.rate, sk)
		m.count.Add(-1)
	}
	return nil
}

// StoredKeys returns the stored (prefixed, hashed) keys of live entries,
// sorted. It is meant for debugging and for the conformance suite's check
// that no caller key is stored in clear.
func (m *Memory) StoredKeys(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.closed.Load() {
		return nil, ErrClosed
	}
	now := m.now().UnixNano()
	var keys []string
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if now < e.exp {
				keys = append(keys, k)
			}
		}
		for k, e := range s.rate {
			if now < e.exp {
				keys = append(keys, k)
			}
		}
		s.mu.Unlock()
	}
	sort.Strings(keys)
	return keys, nil
}

// Len returns the number of entries held, including expired ones not yet
// swept.
func (m *Memory) Len() int {
	return int(m.count.Load())
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append(make([]byte, 0, len(b)), b...)
}
