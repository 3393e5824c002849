// Package store owns TrustID's ephemeral shared state: single-use tokens,
// nonces and replay markers, sessions and small caches, and rate-limit
// counters. Durable state lives on the ledger; per-person state is carried by
// the holder; everything here may be lost on restart without harm beyond
// forcing users to start a flow again.
//
// This package holds the contract ([Store]), its sentinel errors, the shared
// key derivation and rate-limit arithmetic, and the in-memory store; it links
// no third-party module, so domain packages depend on it freely. Two
// implementations satisfy the contract and pass the same conformance suite
// (package storetest):
//
//   - [Memory], the embedded default, for a single node. Safe for concurrent
//     use, sharded, with expiry against an injected clock, a background
//     sweeper, a cap on the number of entries and one on the bytes of their
//     values.
//   - redisstore.Store (package store/redis), for any number of stateless
//     nodes sharing one Redis or Redis Cluster. Every operation is one
//     command or Lua script on one key, so it is atomic, except that a
//     replay marker's script also reads the replay epoch; on a Cluster the
//     two keys carry a hash tag that puts them in one slot. Expiry and
//     rate-limit time come from the Redis server's clock, so nodes with
//     skewed clocks still agree. Notifications (Watch, Notify) are Pub/Sub
//     messages on one channel a prefix.
//
// # Capabilities and their namespaces
//
// Each capability has its own key namespace, so the same caller key used for
// a token, a nonce, a key/value entry and a rate limit never collides:
//
//	Put / Consume / Peek / Spend          single-use tokens        namespace "tok"
//	MarkUsed                              nonces, replay markers   namespace "nonce"
//	Get / Set / CompareAndSwap / Delete   sessions, small caches   namespace "kv"
//	Claim / CompareAndReplace /           markers held by a node   namespace "kv"
//	CompareAndDelete                      (and records they leave)
//	Allow / Reset                         rate limits, lockouts    namespace "rate"
//	Watch / Notify                        wakes of long polls      namespace "wake"
//	                                      (nothing stored; Redis Pub/Sub)
//
// To keep sessions apart from a cache (or one feature's cache from
// another's), give each its own store value with its own Prefix; several
// Redis store values can share one client.
//
// # Keys are never stored in clear
//
// Caller keys are often secrets (QR tokens, authorization codes, assertion
// jtis) or personal (a symbol behind a PIN lockout, a client address). Both
// implementations store only
//
//	Prefix + namespace + ":" + base64url(SHA-256(key))[:32]
//
// (192 bits of the digest), so neither a Redis KEYS listing nor a heap dump
// of the memory store shows a caller key. When keys may have low entropy
// (addresses, symbols), set KeySecret: the digest becomes HMAC-SHA-256 under
// that secret, which must then be the same on every node of a region.
// Values are stored as given: callers must not put personal data in them.
//
// # Errors
//
// Missing or expired entries give [ErrNotFound]; Put over
// a live token gives [ErrExists]; a second MarkUsed or Spend
// gives [ErrReplayed]. Bad input gives [ErrInvalidKey], [ErrInvalidTTL] or
// [ErrInvalidLimit]; use after Close gives [ErrClosed]. Backend failures are
// wrapped with %w and the operation name ("store: redis consume: ..."), and a
// cancelled or expired context gives an error matching ctx.Err() with
// [errors.Is]. No error text contains a caller key.
//
// # Rate limiting
//
// Allow implements GCRA (the generic cell rate algorithm, a sliding window
// without a log): with limit L per window W, a fresh key admits a burst of
// exactly L requests, then one more every W/L, and after W of silence the
// full burst again. It keeps one integer per key. The emission interval W/L
// is rounded up to a whole microsecond.
//
// # Performance
//
// Measured with `go test -run '^$' -bench . -benchmem -count=3 ./store/...` on
// the project's 2-core machine (AMD EPYC VM, shared with other work, load
// about 3; Go 1.26; Redis 7.0.15 on loopback, one client goroutine), median
// of three runs:
//
//	BenchmarkMemoryConsume  (Put + Consume)     563 ns/op   5 allocs
//	BenchmarkMemoryAllow                        335 ns/op   2 allocs
//	BenchmarkRedisConsume   (Put + Consume)      81 µs/op  19 allocs
//	BenchmarkRedisAllow     (EVALSHA)            80 µs/op  17 allocs
//
// Redis latency is round trips and scheduling on a loaded machine, not
// server work; it overlaps across concurrent requests.
package store
