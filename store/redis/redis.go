// Package redisstore is the [store.Store] backed by Redis or Redis Cluster,
// for any number of stateless nodes sharing one backend. Every operation is
// one command or Lua script on one key, except that a replay marker's script
// also reads the replay epoch (see [Store.MarkUsed]): on a Cluster the two
// carry a hash tag naming one of 64 epoch buckets, so they share a slot.
// Notifications (Watch, Notify) are Pub/Sub messages on one channel a
// prefix, to which each store keeps one subscription from its first
// Watch, made in the background and checked with PINGs (wake.go).
// Expiry and rate-limit time come from the Redis server's clock, so nodes
// with skewed clocks still agree. It is the only package that links
// go-redis: domain packages depend on the contract in package store.
package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/store"
)

// Options configures [New]. The zero value is ready to use.
type Options struct {
	// Prefix is prepended to every stored key so that several nodes,
	// regions or features can share one Redis, e.g. "trustid:310000:". It
	// must not contain '{' or '}' (a hash tag would pin every key to one
	// Cluster slot). Empty means no prefix.
	Prefix string
	// KeySecret, if set, keys the digest of caller keys (HMAC-SHA-256). All
	// nodes sharing a Prefix must use the same secret.
	KeySecret []byte
	// Log receives the failures of the wake (Watch, Notify): a
	// subscription that cannot be made or was lost, a notification
	// Redis refused. Each cause is logged at once, then again after a
	// minute at the soonest (internal/retrylog). Nil discards them.
	Log *slog.Logger
	// WakeCheck is how long the wake's subscription connection may stay
	// silent before the store sends a PING on it, and how long the
	// answer may take: a connection that does not answer in time is
	// taken for dead (a half-open one, whose peer went without closing
	// it, would otherwise look alive until TCP gives up, many minutes
	// later), and the store subscribes again on a new one. Zero or less
	// means 5 s.
	WakeCheck time.Duration
}

// Store is the [store.Store] backed by Redis or Redis Cluster (Redis 6.2 or later,
// for GETDEL). It is safe for concurrent use, and any number of processes
// may share one backend: every operation is one atomic command or script.
// Expiry and rate-limit time follow the Redis server's clock; TTLs
// are rounded up to whole milliseconds.
type Store struct {
	c    redis.UniversalClient
	keys store.Keyer
	// cluster: c is a *redis.ClusterClient (see clusterEpoch).
	cluster bool
	closed  atomic.Bool

	// signals are Watch's, which Notify and the subscription wake.
	signals store.Signals
	// origin names the store in the messages it publishes (Notify), so
	// that it does not wake its watches again when they come back.
	origin string
	// wake is the subscription to the wake channel and the log of its
	// failures (wake.go).
	wake wake
}

var _ store.Store = (*Store)(nil)

// New returns a store using client, which the caller keeps owning:
// [Store.Close] does not close it. Use a [redis.ClusterClient] for Redis
// Cluster.
func New(client redis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("store: nil redis client")
	}
	k, err := store.NewKeyer(opts.Prefix, opts.KeySecret)
	if err != nil {
		return nil, err
	}
	_, cluster := client.(*redis.ClusterClient)
	r := &Store{c: client, keys: k, cluster: cluster, origin: rand.Text()}
	r.wake.init(opts)
	return r, nil
}

// wrap marks a backend error store.ErrUnavailable and adds the
// operation name, keeping the cause matchable too.
func wrap(op string, err error) error {
	return fmt.Errorf("%w: redis %s: %w", store.ErrUnavailable, op, err)
}

// begin validates the arguments and returns the stored key.
func (r *Store) begin(ctx context.Context, ns, key string) (string, error) {
	if err := store.CheckKey(ctx, key); err != nil {
		return "", err
	}
	if r.closed.Load() {
		return "", store.ErrClosed
	}
	return r.keys.Key(ns, key), nil
}

// Put implements [store.Store.Put] with SET NX PX.
func (r *Store) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	sk, err := r.begin(ctx, store.NamespaceToken, key)
	if err != nil {
		return err
	}
	if err := store.CheckTTL(ttl); err != nil {
		return err
	}
	ok, err := r.c.SetNX(ctx, sk, nonNil(value), ttlMillis(ttl)).Result()
	if err != nil {
		return wrap("put", err)
	}
	if !ok {
		return store.ErrExists
	}
	return nil
}

// Consume implements [store.Store.Consume] with GETDEL.
func (r *Store) Consume(ctx context.Context, key string) ([]byte, error) {
	sk, err := r.begin(ctx, store.NamespaceToken, key)
	if err != nil {
		return nil, err
	}
	v, err := r.c.GetDel(ctx, sk).Bytes()
	if notToken(err) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, wrap("consume", err)
	}
	return v, nil
}

// Peek implements [store.Store.Peek] with GET.
func (r *Store) Peek(ctx context.Context, key string) ([]byte, error) {
	sk, err := r.begin(ctx, store.NamespaceToken, key)
	if err != nil {
		return nil, err
	}
	v, err := r.c.Get(ctx, sk).Bytes()
	if notToken(err) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, wrap("peek", err)
	}
	return v, nil
}

// A token is a string; Spend turns it into a hash holding its value in
// field spentField, which string commands (GETDEL, GET) refuse with a
// WRONGTYPE error and SET NX finds taken.
const spentField = "spent"

// notToken reports whether a string command's error says there is no
// unspent token: the key is missing (redis.Nil) or a spent token (a hash).
func notToken(err error) bool {
	return errors.Is(err, redis.Nil) || redis.HasErrorPrefix(err, "WRONGTYPE")
}

// spendScript turns the token KEYS[1] into a spent token for ARGV[1] ms
// and returns {1, value}; for a spent token it returns {0, value}, for no
// token nil.
var spendScript = redis.NewScript(`
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'hash' then
  return {0, redis.call('HGET', KEYS[1], '` + spentField + `')}
end
if t ~= 'string' then return nil end
local v = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '` + spentField + `', v)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {1, v}
`)

// Spend implements [store.Store.Spend] with one Lua script (spendScript).
func (r *Store) Spend(ctx context.Context, key string, ttl time.Duration) ([]byte, error) {
	sk, err := r.begin(ctx, store.NamespaceToken, key)
	if err != nil {
		return nil, err
	}
	if err := store.CheckTTL(ttl); err != nil {
		return nil, err
	}
	res, err := spendScript.Run(ctx, r.c, []string{sk}, ttlMillis(ttl).Milliseconds()).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, wrap("spend", err)
	}
	if len(res) != 2 {
		return nil, wrap("spend", fmt.Errorf("unexpected script reply of %d values", len(res)))
	}
	first, _ := res[0].(int64)
	v, ok := res[1].(string)
	if !ok {
		return nil, wrap("spend", fmt.Errorf("unexpected script reply %T", res[1]))
	}
	if first != 1 {
		return []byte(v), store.ErrReplayed
	}
	return []byte(v), nil
}

// EpochKey is the key, shared by every prefix on one Redis server, that
// records the server's replay epoch: "RUN_ID:SINCE_MS", the server run
// (INFO run_id, new on every start) and the server time from which its
// markers are complete. See [Store.MarkUsed]. On a Redis Cluster each
// epoch bucket has its own, EpochKey + ":" + the bucket's hash tag.
const EpochKey = "trustid-replay-epoch"

// epochBuckets are the names of a Cluster's epoch buckets, one per
// base64url character: a marker belongs to the bucket named by the first
// character of its key's digest (an HMAC of the caller key when the store
// has a KeySecret: no caller data), so markers spread over 64 slots.
const epochBuckets = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// bucketTag is the hash tag of epoch bucket b: a marker key and its
// bucket's epoch key both carry it, so they are in one Cluster slot.
func bucketTag(b byte) string { return "{epoch-" + string(b) + "}" }

// clusterEpoch returns, for the stored marker key sk on a Cluster, the
// marker key with its bucket's hash tag and the bucket's epoch key.
func clusterEpoch(sk string) (marker, epoch string) {
	// The digest follows the last ':' (base64url has none).
	tag := bucketTag(sk[strings.LastIndexByte(sk, ':')+1])
	return sk + tag, EpochKey + ":" + tag
}

// markScript is SET NX PX (KEYS[1], ttl ARGV[1] ms) guarded by the replay
// epoch (KEYS[2]). A Redis that restarted lost every marker it had not
// persisted (all of them without persistence; with persistence the writes
// after the last snapshot or fsync), and a replica promoted by a failover
// lacks the writes not yet replicated; each gives a new run_id. On a
// Cluster KEYS[2] is the epoch of the marker's bucket, in the marker's
// slot: the script runs on the slot's owner, and a failover or a reshard
// moving the slot to another node restarts the bucket's epoch. When the
// epoch names another run (or is missing: the server restarted empty or
// was flushed), the script starts a new epoch at the server's time, and
// refuses (-1) every marker whose ttl reaches back before the epoch's
// start: a marker set before might be missing. It returns 1 when it set
// the marker, 0 when the marker was live.
var markScript = redis.NewScript(`
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local since
local e = redis.call('GET', KEYS[2])
if e then
  local r, s = string.match(e, '^(%w+):(%d+)$')
  if r == run then since = tonumber(s) end
end
if since == nil then
  since = now
  redis.call('SET', KEYS[2], run .. ':' .. now)
end
if now - since < tonumber(ARGV[1]) then
  return -1
end
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 1
end
return 0
`)

// initEpochScript sets the epoch to "this run, complete since time 0"
// unless an epoch exists; it returns 1 when it set it.
var initEpochScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
redis.call('SET', KEYS[1], run .. ':0')
return 1
`)

// MarkUsed implements [store.Store.MarkUsed] with one Lua script: SET NX
// PX, refused with [store.ErrHistoryLost] (nothing written) while the
// server's replay epoch (on a Cluster, the epoch of the marker's bucket)
// is younger than ttl (see markScript), so no marker
// lost by a Redis restart, flush or failover lets a carrier through twice.
// After the loss, markers are refused for as long as the carriers they
// protect live (for a client assertion, its lifetime: at most 5 minutes
// plus leeway), then accepted again.
func (r *Store) MarkUsed(ctx context.Context, key string, ttl time.Duration) error {
	sk, err := r.begin(ctx, store.NamespaceNonce, key)
	if err != nil {
		return err
	}
	if err := store.CheckTTL(ttl); err != nil {
		return err
	}
	keys := []string{sk, EpochKey}
	if r.cluster {
		keys[0], keys[1] = clusterEpoch(sk)
	}
	res, err := markScript.Run(ctx, r.c, keys, ttlMillis(ttl).Milliseconds()).Int64()
	if err != nil {
		return wrap("mark used", err)
	}
	switch res {
	case 1:
		return nil
	case 0:
		return store.ErrReplayed
	default:
		return store.ErrHistoryLost
	}
}

// InitEpoch declares the server's replay history complete from its start
// when it has no epoch yet (a server TrustID has not used: no marker can
// have been lost), and reports whether it did. trustid serve calls it at
// startup. On a server that restarted empty since instances last marked
// on it, the running instances' first MarkUsed has already started a new
// epoch; InitEpoch then changes nothing.
//
// On a Redis Cluster the Cluster is new when no bucket has an epoch:
// InitEpoch then initialises every bucket's. When some bucket has one, a
// bucket without is one a node lost (restarted empty, flushed): InitEpoch
// leaves it for the first marker write to start a new epoch.
func (r *Store) InitEpoch(ctx context.Context) (bool, error) {
	if r.closed.Load() {
		return false, store.ErrClosed
	}
	if !r.cluster {
		n, err := initEpochScript.Run(ctx, r.c, []string{EpochKey}).Int64()
		if err != nil {
			return false, wrap("init epoch", err)
		}
		return n == 1, nil
	}
	keys := make([]string, len(epochBuckets))
	for i := range keys {
		keys[i] = EpochKey + ":" + bucketTag(epochBuckets[i])
	}
	exists := make([]*redis.IntCmd, len(keys))
	if _, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			exists[i] = p.Exists(ctx, k)
		}
		return nil
	}); err != nil {
		return false, wrap("init epoch", err)
	}
	for _, e := range exists {
		if e.Val() != 0 {
			return false, nil
		}
	}
	inits := make([]*redis.Cmd, len(keys))
	if _, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			inits[i] = initEpochScript.Eval(ctx, p, []string{k})
		}
		return nil
	}); err != nil {
		return false, wrap("init epoch", err)
	}
	fresh := false
	for _, c := range inits {
		if n, _ := c.Int64(); n == 1 {
			fresh = true
		}
	}
	return fresh, nil
}

// Get implements [store.Store.Get].
func (r *Store) Get(ctx context.Context, key string) ([]byte, error) {
	sk, err := r.begin(ctx, store.NamespaceKV, key)
	if err != nil {
		return nil, err
	}
	v, err := r.c.Get(ctx, sk).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, wrap("get", err)
	}
	return v, nil
}

// Set implements [store.Store.Set] with SET PX.
func (r *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	sk, err := r.begin(ctx, store.NamespaceKV, key)
	if err != nil {
		return err
	}
	if err := store.CheckTTL(ttl); err != nil {
		return err
	}
	if err := r.c.Set(ctx, sk, nonNil(value), ttlMillis(ttl)).Err(); err != nil {
		return wrap("set", err)
	}
	return nil
}

// swapScript sets KEYS[1] to ARGV[2] for ARGV[3] ms if its value is
// ARGV[1] (GET gives false for a missing key) and returns 1, else 0.
var swapScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// CompareAndSwap implements [store.Store.CompareAndSwap] with one Lua
// script (swapScript).
func (r *Store) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	sk, err := r.begin(ctx, store.NamespaceKV, key)
	if err != nil {
		return false, err
	}
	if err := store.CheckTTL(ttl); err != nil {
		return false, err
	}
	n, err := swapScript.Run(ctx, r.c, []string{sk}, nonNil(old), nonNil(value), ttlMillis(ttl).Milliseconds()).Int64()
	if err != nil {
		return false, wrap("compare and swap", err)
	}
	return n == 1, nil
}

// claimScript sets each of KEYS that is missing, holds ARGV[1] or holds
// a value beginning with ARGV[3] (when not empty) to ARGV[1] for ARGV[2]
// ms and returns, for each, 0 if it did not, 1 if it did, or the value
// beginning with ARGV[3] it replaced.
var claimScript = redis.NewScript(`
local held = {}
local free = ARGV[3]
for i, k in ipairs(KEYS) do
  local cur = redis.call('GET', k)
  if cur and cur ~= ARGV[1] and (free == '' or string.sub(cur, 1, #free) ~= free) then
    held[i] = 0
  else
    redis.call('SET', k, ARGV[1], 'PX', ARGV[2])
    if cur and cur ~= ARGV[1] then
      held[i] = cur
    else
      held[i] = 1
    end
  end
end
return held
`)

// Claim implements [store.Store.Claim]: one Lua script (claimScript) for
// all the keys, on a Cluster (keys in different slots) one script per
// key, pipelined.
func (r *Store) Claim(ctx context.Context, value, free []byte, ttl time.Duration, keys ...string) ([]store.Claimed, error) {
	sks, err := r.beginKeys(ctx, keys)
	if err != nil {
		return nil, err
	}
	if err := store.CheckTTL(ttl); err != nil {
		return nil, err
	}
	out := make([]store.Claimed, len(sks))
	args := []any{nonNil(value), ttlMillis(ttl).Milliseconds(), nonNil(free)}
	switch {
	case len(sks) == 0:
		return out, nil
	case !r.cluster || len(sks) == 1:
		res, err := claimScript.Run(ctx, r.c, sks, args...).Slice()
		if err != nil {
			return nil, wrap("claim", err)
		}
		for i, v := range res {
			out[i] = claimed(v)
		}
		return out, nil
	}
	cmds := make([]*redis.Cmd, len(sks))
	if _, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, sk := range sks {
			cmds[i] = claimScript.Eval(ctx, p, []string{sk}, args...)
		}
		return nil
	}); err != nil {
		return nil, wrap("claim", err)
	}
	for i, c := range cmds {
		res, err := c.Slice()
		if err != nil {
			return nil, wrap("claim", err)
		}
		out[i] = claimed(res[0])
	}
	return out, nil
}

// claimed reads one of claimScript's answers.
func claimed(v any) store.Claimed {
	switch v := v.(type) {
	case string:
		return store.Claimed{Held: true, Freed: []byte(v)}
	case int64:
		return store.Claimed{Held: v == 1}
	}
	return store.Claimed{}
}

// compareReplaceScript sets each of KEYS whose value is ARGV[1] to
// ARGV[2] for ARGV[3] ms and returns how many it set.
var compareReplaceScript = redis.NewScript(`
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    redis.call('SET', k, ARGV[2], 'PX', ARGV[3])
    n = n + 1
  end
end
return n
`)

// CompareAndReplace implements [store.Store.CompareAndReplace]: one Lua
// script (compareReplaceScript) for all the keys, on a Cluster one
// script per key, pipelined.
func (r *Store) CompareAndReplace(ctx context.Context, old, value []byte, ttl time.Duration, keys ...string) (int, error) {
	sks, err := r.beginKeys(ctx, keys)
	if err != nil {
		return 0, err
	}
	if err := store.CheckTTL(ttl); err != nil {
		return 0, err
	}
	return r.runEach(ctx, "compare and replace", compareReplaceScript, sks, nonNil(old), nonNil(value), ttlMillis(ttl).Milliseconds())
}

// runEach runs script, which returns a count, over sks (one run for all
// of them, on a Cluster one per key, pipelined) and returns the total.
func (r *Store) runEach(ctx context.Context, op string, script *redis.Script, sks []string, args ...any) (int, error) {
	switch {
	case len(sks) == 0:
		return 0, nil
	case !r.cluster || len(sks) == 1:
		n, err := script.Run(ctx, r.c, sks, args...).Int64()
		if err != nil {
			return 0, wrap(op, err)
		}
		return int(n), nil
	}
	cmds := make([]*redis.Cmd, len(sks))
	if _, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, sk := range sks {
			cmds[i] = script.Eval(ctx, p, []string{sk}, args...)
		}
		return nil
	}); err != nil {
		return 0, wrap(op, err)
	}
	n := 0
	for _, c := range cmds {
		d, _ := c.Int64()
		n += int(d)
	}
	return n, nil
}

// beginKeys is begin of each of keys in the "kv" namespace.
func (r *Store) beginKeys(ctx context.Context, keys []string) ([]string, error) {
	sks := make([]string, len(keys))
	for i, key := range keys {
		var err error
		if sks[i], err = r.begin(ctx, store.NamespaceKV, key); err != nil {
			return nil, err
		}
	}
	return sks, nil
}

// compareDeleteScript deletes each of KEYS whose value is ARGV[1] and
// returns how many it deleted.
var compareDeleteScript = redis.NewScript(`
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    redis.call('DEL', k)
    n = n + 1
  end
end
return n
`)

// CompareAndDelete implements [store.Store.CompareAndDelete]: one Lua
// script (compareDeleteScript) for all the keys, on a Cluster (keys in
// different slots) one script per key, pipelined.
func (r *Store) CompareAndDelete(ctx context.Context, old []byte, keys ...string) (int, error) {
	sks, err := r.beginKeys(ctx, keys)
	if err != nil {
		return 0, err
	}
	return r.runEach(ctx, "compare and delete", compareDeleteScript, sks, nonNil(old))
}

// Delete implements [store.Store.Delete].
func (r *Store) Delete(ctx context.Context, key string) error {
	sk, err := r.begin(ctx, store.NamespaceKV, key)
	if err != nil {
		return err
	}
	if err := r.c.Del(ctx, sk).Err(); err != nil {
		return wrap("delete", err)
	}
	return nil
}

// allowScript is GCRA over one key holding the theoretical arrival time in
// microseconds of the server clock. ARGV[1] is the emission interval and
// ARGV[2] the burst span, both in µs. It returns {allowed, remaining,
// retry_after_µs}. Times stay below 2^53, so Lua's doubles are exact; the
// key expires when the state becomes equivalent to a fresh one.
var allowScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if tat == nil or tat < now then tat = now end
local diff = tat + interval - now
if diff > span then
  return {0, 0, diff - span}
end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.ceil(diff / 1000))
return {1, math.floor((span - diff) / interval), 0}
`)

// Allow implements [store.Store.Allow] with one Lua script (EVALSHA), so the read
// and the update are atomic and all nodes share the server's clock.
func (r *Store) Allow(ctx context.Context, key string, limit int, window time.Duration) (store.Decision, error) {
	sk, err := r.begin(ctx, store.NamespaceRate, key)
	if err != nil {
		return store.Decision{}, err
	}
	g, err := store.NewGCRA(limit, window)
	if err != nil {
		return store.Decision{}, err
	}
	res, err := allowScript.Run(ctx, r.c, []string{sk}, g.Interval, g.Span).Int64Slice()
	if err != nil {
		return store.Decision{}, wrap("allow", err)
	}
	if len(res) != 3 {
		return store.Decision{}, wrap("allow", fmt.Errorf("unexpected script reply of %d values", len(res)))
	}
	return store.Decision{
		Allowed:    res[0] == 1,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
	}, nil
}

// Reset implements [store.Store.Reset].
func (r *Store) Reset(ctx context.Context, key string) error {
	sk, err := r.begin(ctx, store.NamespaceRate, key)
	if err != nil {
		return err
	}
	if err := r.c.Del(ctx, sk).Err(); err != nil {
		return wrap("reset", err)
	}
	return nil
}

// Ping checks that Redis answers (for /readyz): on a Cluster, every
// master, since each serves the keys of its own slots (a PING of the
// ClusterClient reaches one master picked at random).
func (r *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.closed.Load() {
		return store.ErrClosed
	}
	var err error
	if c, ok := r.c.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() })
	} else {
		err = r.c.Ping(ctx).Err()
	}
	if err != nil {
		return wrap("ping", err)
	}
	return nil
}

// KeyCheckKey is the key, after Options.Prefix, that holds the check
// value of the prefix's KeySecret ([Store.CheckKeySecret]).
const KeyCheckKey = "key-secret-check"

// ErrKeySecret is returned by [Store.CheckKeySecret] when another node
// sharing the prefix keys it with another KeySecret.
var ErrKeySecret = errors.New("redisstore: another node sharing this prefix keys it with a different key secret")

// CheckKeySecret makes sure the nodes sharing the prefix key it with one
// KeySecret: nodes with different secrets store every caller key under
// different digests, so they would share no single-use marker, counter or
// rate limit, and nothing else would tell. It records the secret's check
// value (the stored key of a fixed label: an HMAC under the secret, never
// the secret) at Prefix+KeyCheckKey when none is there (SET NX, no
// expiry) and returns ErrKeySecret when the value there is another.
func (r *Store) CheckKeySecret(ctx context.Context) error {
	if r.closed.Load() {
		return store.ErrClosed
	}
	key, check := r.keys.Prefix()+KeyCheckKey, r.keys.Key("check", "trustid key secret check")
	for range 3 { // the key may be deleted between SET NX and GET
		if ok, err := r.c.SetNX(ctx, key, check, 0).Result(); err != nil {
			return wrap("key check", err)
		} else if ok {
			return nil
		}
		got, err := r.c.Get(ctx, key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return wrap("key check", err)
		case subtle.ConstantTimeCompare([]byte(got), []byte(check)) != 1:
			return ErrKeySecret
		}
		return nil
	}
	return wrap("key check", errors.New("the check key keeps being deleted"))
}

// Close marks the store closed; later calls return store.ErrClosed. It
// ends the store's subscription (Watch) but does not close the client,
// which belongs to the caller. It is idempotent.
func (r *Store) Close() error {
	if !r.closed.Swap(true) {
		r.stopWake()
	}
	return nil
}

// StoredKeys returns the keys under this store's prefix (SCAN on every
// master of a Cluster), sorted. It is meant for debugging and for the
// conformance suite's check that no caller key is stored in clear; it walks
// the whole keyspace, so do not call it on a hot path.
func (r *Store) StoredKeys(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.closed.Load() {
		return nil, store.ErrClosed
	}
	pattern := globEscape(r.keys.Prefix()) + "*"
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		var local []string
		for it.Next(ctx) {
			local = append(local, it.Val())
		}
		if err := it.Err(); err != nil {
			return err
		}
		mu.Lock()
		keys = append(keys, local...)
		mu.Unlock()
		return nil
	}
	var err error
	switch c := r.c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	default:
		err = scan(ctx, r.c)
	}
	if err != nil {
		return nil, wrap("scan", err)
	}
	sort.Strings(keys)
	return keys, nil
}

// globEscape escapes the glob metacharacters of a SCAN MATCH pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ttlMillis rounds a TTL up to whole milliseconds, the granularity of Redis.
func ttlMillis(ttl time.Duration) time.Duration {
	return (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
}
