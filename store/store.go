package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Sentinel errors. Test for them with [errors.Is]; implementations wrap them.
var (
	// ErrNotFound means the entry does not exist, has expired, or (for a
	// single-use token) was already consumed.
	ErrNotFound = errors.New("store: not found")
	// ErrExists means Put found a live token under the same key; the stored
	// token is left unchanged.
	ErrExists = errors.New("store: already exists")
	// ErrReplayed means MarkUsed found the nonce already marked, or Spend
	// the token already spent.
	ErrReplayed = errors.New("store: replayed")
	// ErrHistoryLost means MarkUsed cannot tell whether the nonce was
	// marked before: the backend restarted (and may have lost markers) less
	// than the marker's ttl ago. Nothing was written; callers must fail
	// closed (refuse the request as temporarily unavailable).
	ErrHistoryLost = errors.New("store: replay history lost (backend restarted within the marker's ttl)")
	// ErrInvalidKey means the caller passed an empty key.
	ErrInvalidKey = errors.New("store: empty key")
	// ErrInvalidTTL means the caller passed a TTL that is not positive.
	ErrInvalidTTL = errors.New("store: ttl must be positive")
	// ErrInvalidLimit means Allow got a limit or window out of range.
	ErrInvalidLimit = errors.New("store: invalid rate limit")
	// ErrFull means the memory store reached its entry cap; nothing was
	// written. Callers should fail closed (reject the request).
	ErrFull = errors.New("store: memory store full")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable means the backend could not answer (Redis down,
	// restarting, a network error or timeout): nothing is known to have
	// been written, and the request may be retried later. Backends wrap
	// their own errors with it.
	ErrUnavailable = errors.New("store: backend unavailable")
)

// Rate-limit bounds accepted by Allow.
const (
	// MaxLimit is the largest limit Allow accepts.
	MaxLimit = 1 << 30
	// MinWindow is the shortest window Allow accepts.
	MinWindow = time.Millisecond
	// MaxWindow is the longest window Allow accepts.
	MaxWindow = 366 * 24 * time.Hour
)

// Claimed is what Claim did with one key.
type Claimed struct {
	// Held reports that the key now holds the claimed value.
	Held bool
	// Freed is the record (a value beginning with Claim's free) the claim
	// replaced, nil if none.
	Freed []byte
}

// Store is the aggregate of every capability of this package. It exists for
// the conformance suite (package storetest) and for wiring in cmd/trustid,
// which picks [Memory] or [Redis]. Feature packages should not depend on it:
// they declare the small interface they use (for example just Consume and
// Put), which both implementations satisfy.
//
// All methods are safe for concurrent use by multiple goroutines, across
// goroutines and (for [Redis]) across processes sharing the backend. Every
// method returns an error matching ctx.Err() when ctx is already done, an
// error matching [ErrInvalidKey] for an empty key, and [ErrClosed] after
// Close. Keys are opaque strings that may be secrets: they are never stored
// or reported in clear.
type Store interface {
	// Put stores a single-use token value under key for ttl. If a live token
	// already exists under key, Put returns ErrExists and leaves it unchanged:
	// tokens are never overwritten. A ttl <= 0 gives ErrInvalidTTL.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Consume atomically returns and deletes the token under key. Of any
	// number of concurrent callers exactly one gets the value; the others,
	// and every later caller, get ErrNotFound (as do callers for a key that
	// was never put, has expired or was spent).
	Consume(ctx context.Context, key string) ([]byte, error)
	// Peek returns the token under key without consuming it, or
	// ErrNotFound when it was never put, has expired, or was consumed or
	// spent. The caller owns the returned slice.
	Peek(ctx context.Context, key string) ([]byte, error)
	// Spend atomically marks the token under key spent and returns its
	// value: of any number of concurrent callers exactly one gets the
	// value and nil. The spent token is kept for ttl from then on (not its
	// own ttl), and every later Spend while it is kept gets its value
	// with ErrReplayed, so a reuse learns what it reused; Consume and Peek
	// find it no more (ErrNotFound), and Put under its key gives
	// ErrExists. A key never put or expired gives ErrNotFound. A ttl <= 0
	// gives ErrInvalidTTL.
	Spend(ctx context.Context, key string, ttl time.Duration) ([]byte, error)

	// MarkUsed records a nonce or replay marker for ttl. The first call for a
	// key returns nil; any call while the marker is live returns ErrReplayed,
	// and exactly one of many concurrent first calls returns nil. After ttl
	// the key may be used again.
	//
	// ttl must cover the carrier's whole window of use as seen from now:
	// the carrier (an assertion, a proof) must not be acceptable later than
	// now+ttl, nor have been acceptable earlier than now-ttl (for a JWT:
	// max(exp - now, now - iat) plus the clock-skew leeway). A store that
	// can lose markers (a Redis that restarted empty or from an older
	// snapshot) returns ErrHistoryLost, marking nothing, while it has been
	// up for less than ttl: a marker set before the loss might otherwise
	// be accepted again.
	MarkUsed(ctx context.Context, key string, ttl time.Duration) error

	// Get returns the value stored by Set, or ErrNotFound when it is missing
	// or expired. The caller owns the returned slice.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key for ttl, replacing any previous value and
	// TTL. A ttl <= 0 gives ErrInvalidTTL.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the value stored by Set. Deleting a missing key is not
	// an error.
	Delete(ctx context.Context, key string) error
	// CompareAndSwap atomically replaces the value stored by Set under key
	// with value, for ttl, if it is old, and reports whether it did: a
	// missing or expired key, or another value, is left as it is (false,
	// nil). Of concurrent swaps from one old value exactly one succeeds. A
	// ttl <= 0 gives ErrInvalidTTL.
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	// Claim stores value for ttl under each of keys that is missing or
	// expired, already holds value (its ttl then restarts from now), or
	// holds a value beginning with free when free is not empty (a record
	// a former holder left: CompareAndReplace), each atomically (not all
	// of them at once), and reports for each key whether it did and the
	// record it replaced; a key holding another value is left as it is
	// (not Held). Of concurrent claims of a free key with different
	// values exactly one succeeds. An invalid key or a ttl <= 0
	// (ErrInvalidTTL) fails the call before any claim; after another
	// error some keys may have been claimed.
	Claim(ctx context.Context, value, free []byte, ttl time.Duration, keys ...string) ([]Claimed, error)
	// CompareAndReplace stores value for ttl under each of keys whose
	// value is old, each atomically (not all of them at once), and
	// returns how many it replaced: a missing or expired key, or one
	// holding another value, is left as it is. A ttl <= 0
	// (ErrInvalidTTL) or an invalid key fails the call before any
	// replacement.
	CompareAndReplace(ctx context.Context, old, value []byte, ttl time.Duration, keys ...string) (int, error)
	// CompareAndDelete deletes each of keys whose value is old, each
	// atomically (not all of them at once), and returns how many it
	// deleted: a missing or expired key, or one holding another value, is
	// left as it is. An invalid key fails the call before any deletion.
	CompareAndDelete(ctx context.Context, old []byte, keys ...string) (int, error)

	// Watch returns a channel closed at the first Notify of key after
	// Watch returned, by this process or, for a store shared by several
	// processes (Redis), by any of them, and the function that stops
	// watching (call it once). A notification carries nothing: it tells
	// a watcher to read what key names now rather than later. It may be
	// lost (a shared backend restarting or hanging, a connection dropped
	// and made again, a subscription not made yet: Watch never waits for
	// the backend), so a watcher also reads on its own schedule, and only
	// ever learns from what it reads; and another process's Notify sent
	// before Watch may arrive after it and wake it, which costs a read.
	// Many watches of one key, and of many keys, cost one subscription to
	// the backend per store.
	Watch(ctx context.Context, key string) (<-chan struct{}, func(), error)
	// Notify wakes the watches of key (Watch): those of this process
	// before it returns, those of other processes sharing the backend
	// when they receive it (best effort: nothing tells the notifier
	// whether anyone watched or received it). Watches of other keys are
	// left as they are.
	Notify(ctx context.Context, key string) error

	// Allow counts one request against the rate limit for key: at most limit
	// requests per window (GCRA: a burst of limit, then limit per window
	// sustained). It returns the decision and, when denied, how long until
	// one more request would be allowed. A denied request is not counted. Of
	// N concurrent callers on a fresh key, exactly min(N, limit) are allowed.
	// limit must be in [1, MaxLimit] and window in [MinWindow, MaxWindow],
	// else ErrInvalidLimit. Calls for one key should use the same limit and
	// window.
	//
	// For PIN lockouts, call Allow before each attempt with the number of
	// attempts permitted and the lockout window, and Reset after a success.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
	// Reset forgets the rate-limit state for key, as if no request had been
	// made. Resetting a missing key is not an error.
	Reset(ctx context.Context, key string) error

	// Ping reports whether the store can serve requests (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the store's resources. It is idempotent; after it, every
	// other method returns ErrClosed.
	Close() error
}

// Decision is the outcome of Allow.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is zero when Allowed; otherwise the time until one more
	// request would be allowed (positive).
	RetryAfter time.Duration
}

// Key namespaces, one per capability. They and the helpers below are the
// shared plumbing of every [Store] implementation ([Memory] here, the Redis
// store in package store/redis), so all of them derive the same stored keys
// and apply the same checks and rate-limit arithmetic.
const (
	NamespaceToken = "tok"
	NamespaceNonce = "nonce"
	NamespaceKV    = "kv"
	NamespaceRate  = "rate"
	NamespaceWake  = "wake"
)

// hashedKeyLen is the length of the encoded digest in a stored key:
// 32 base64url characters carry the first 24 bytes (192 bits) of the digest.
const hashedKeyLen = 32

// Keyer turns caller keys into stored keys (see the package comment).
type Keyer struct {
	prefix string
	secret []byte
	// macs holds *keyMAC states keyed with secret, reset before each
	// use: keying a new one (hmac.New) for every stored key cost as much
	// as the rest of a store operation.
	macs *sync.Pool
}

// keyMAC is an HMAC-SHA-256 state and the buffer its Sum writes to, which
// would otherwise be allocated for each key.
type keyMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// NewKeyer returns a Keyer for prefix, which must not contain '{' or '}' and
// is at most 128 bytes, and an optional HMAC secret.
func NewKeyer(prefix string, secret []byte) (Keyer, error) {
	if strings.ContainsAny(prefix, "{}") {
		// A hash tag in the prefix would put every key in one Cluster slot.
		return Keyer{}, errors.New("store: prefix must not contain '{' or '}'")
	}
	if len(prefix) > 128 {
		return Keyer{}, errors.New("store: prefix longer than 128 bytes")
	}
	k := Keyer{prefix: prefix, secret: append([]byte(nil), secret...)}
	if len(secret) > 0 {
		k.macs = &sync.Pool{New: func() any { return &keyMAC{h: hmac.New(sha256.New, k.secret)} }}
	}
	return k, nil
}

// Prefix returns the prefix every stored key starts with.
func (k Keyer) Prefix() string { return k.prefix }

// Key returns prefix + ns + ":" + base64url(digest)[:32], where digest is
// SHA-256(key), or HMAC-SHA-256(secret, key) when a secret is set.
func (k Keyer) Key(ns, key string) string {
	// One allocation: the stored key is built on the stack, then copied
	// into its string.
	var buf [maxStoredKeyLen]byte
	return string(k.appendKey(buf[:0], ns, key))
}

// maxStoredKeyLen bounds a stored key of this package's namespaces: the
// longest prefix, a namespace, ':' and the digest.
const maxStoredKeyLen = 192

// appendKey appends Key(ns, key) to b.
func (k Keyer) appendKey(b []byte, ns, key string) []byte {
	// The hashes read key's bytes in place: they neither keep nor change
	// their input.
	in := unsafe.Slice(unsafe.StringData(key), len(key))
	var sum [sha256.Size]byte
	if k.macs != nil {
		m := k.macs.Get().(*keyMAC)
		m.h.Reset()
		m.h.Write(in)
		sum = [sha256.Size]byte(m.h.Sum(m.sum[:0]))
		k.macs.Put(m)
	} else {
		sum = sha256.Sum256(in)
	}
	b = append(append(append(b, k.prefix...), ns...), ':')
	return base64.RawURLEncoding.AppendEncode(b, sum[:hashedKeyLen*3/4])
}

// CheckKey validates the common arguments of every keyed operation: a live
// context and a non-empty key ([ErrInvalidKey]).
func CheckKey(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" {
		return ErrInvalidKey
	}
	return nil
}

// CheckTTL returns [ErrInvalidTTL] unless ttl is positive.
func CheckTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return ErrInvalidTTL
	}
	return nil
}

// GCRA holds the integer parameters of a rate limit, in microseconds.
type GCRA struct {
	Interval int64 // emission interval: ceil(window / limit)
	Span     int64 // burst span: limit * interval
}

// NewGCRA checks limit and window ([ErrInvalidLimit]) and returns their
// parameters.
func NewGCRA(limit int, window time.Duration) (GCRA, error) {
	if limit < 1 || limit > MaxLimit {
		return GCRA{}, fmt.Errorf("%w: limit %d out of range [1, %d]", ErrInvalidLimit, limit, MaxLimit)
	}
	if window < MinWindow || window > MaxWindow {
		return GCRA{}, fmt.Errorf("%w: window %v out of range [%v, %v]", ErrInvalidLimit, window, MinWindow, MaxWindow)
	}
	w := window.Microseconds()
	l := int64(limit)
	iv := (w + l - 1) / l
	return GCRA{Interval: iv, Span: iv * l}, nil
}

// Decide applies GCRA at time now (µs) to the theoretical arrival time tat
// (µs; zero or past means a fresh key). It returns the decision and, when
// allowed, the new tat to store.
func (g GCRA) Decide(now, tat int64) (Decision, int64) {
	if tat < now {
		tat = now
	}
	next := tat + g.Interval
	diff := next - now
	if diff > g.Span {
		return Decision{RetryAfter: time.Duration(diff-g.Span) * time.Microsecond}, 0
	}
	return Decision{Allowed: true, Remaining: int((g.Span - diff) / g.Interval)}, next
}
