package credentials

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
)

// Status names of W3C Bitstring Status List v1.0 and media types of the
// status list representations.
const (
	TypeBitstringStatusListEntry      = "BitstringStatusListEntry"
	TypeBitstringStatusListCredential = "BitstringStatusListCredential"
	TypeBitstringStatusList           = "BitstringStatusList"
	PurposeRevocation                 = status.PurposeRevocation
	PurposeSuspension                 = status.PurposeSuspension
	PurposeRefresh                    = "refresh"
	PurposeMessage                    = "message"
	MediaTypeVCJWT                    = "application/vc+jwt"
	MediaTypeVPJWT                    = "application/vp+jwt"
	MediaTypeSDJWT                    = "application/dc+sd-jwt"
	MediaTypeVCSDJWT                  = "application/vc+sd-jwt"
	MediaTypeVPSDJWT                  = "application/vp+sd-jwt"
	MediaTypeStatusListJWT            = "application/statuslist+jwt"
	TypStatusListJWT                  = "statuslist+jwt"
)

// StatusEntry is a BitstringStatusListEntry.
type StatusEntry struct {
	ID             string
	Purpose        string
	Index          int
	ListCredential string
}

func parseStatusEntry(m map[string]any) (StatusEntry, error) {
	var e StatusEntry
	var ok bool
	if e.Purpose, ok = m["statusPurpose"].(string); !ok || e.Purpose == "" {
		return e, errors.New("statusPurpose must be a non-empty string")
	}
	s, ok := m["statusListIndex"].(string)
	if !ok {
		return e, errors.New("statusListIndex must be a string holding a decimal integer")
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return e, errors.New("statusListIndex must be a non-negative decimal integer")
	}
	e.Index = int(n)
	if e.ListCredential, err = URLString(m["statusListCredential"]); err != nil {
		return e, fmt.Errorf("statusListCredential: %v", err)
	}
	if id, ok := m["id"].(string); ok {
		e.ID = id
		// BSL v1.0 §2.1 id: "It MUST NOT be the URL for the status list."
		if id == e.ListCredential {
			return e, errors.New("id must not be the URL of the status list (statusListCredential)")
		}
	}
	if size, ok := m["statusSize"]; ok {
		if n, ok := size.(json.Number); !ok || n.String() != "1" {
			if e.Purpose == PurposeMessage {
				// BSL v1.0 §2.1: statusSize > 1 comes with statusMessage,
				// the issuer's meaning of each value.
				return e, fmt.Errorf("%w: statusPurpose message with statusSize other than 1 (status messages are not supported)", ErrUnsupported)
			}
			return e, fmt.Errorf("%w: statusSize other than 1", ErrUnsupported)
		}
	}
	// statusSize is 1 here: a statusMessage, optional, has two messages.
	if v, ok := m["statusMessage"]; ok {
		if err := checkStatusMessages(v, 2); err != nil {
			return e, fmt.Errorf("statusMessage: %w", err)
		}
	}
	// BSL v1.0 §2.1 statusReference: "a URL or an array of URLs".
	if v, ok := m["statusReference"]; ok {
		refs, isList := v.([]any)
		if !isList {
			refs = []any{v}
		}
		for _, r := range refs {
			if _, err := URLString(r); err != nil {
				return e, fmt.Errorf("statusReference must be a URL or an array of URLs: %v", err)
			}
		}
	}
	return e, nil
}

// checkStatusMessages checks a statusMessage (BSL v1.0 §2.1): "an array,
// the length of which MUST equal the number of possible status messages"
// (n), each element with "status, a string representing the hexadecimal
// value of the status prefixed with 0x" and "message, a string".
func checkStatusMessages(v any, n int) error {
	list, ok := v.([]any)
	if !ok || len(list) != n {
		return fmt.Errorf("must be an array of %d messages, one per status value", n)
	}
	for i, x := range list {
		o, _ := x.(map[string]any)
		st, _ := o["status"].(string)
		hex, ok := strings.CutPrefix(st, "0x")
		if !ok || hex == "" || strings.Trim(hex, "0123456789abcdefABCDEF") != "" {
			return fmt.Errorf("[%d].status must be a hexadecimal value prefixed with 0x", i)
		}
		if _, ok := o["message"].(string); !ok {
			return fmt.Errorf("[%d].message must be a string", i)
		}
	}
	return nil
}

// Map returns the entry as credentialStatus JSON.
func (e StatusEntry) Map() map[string]any {
	return map[string]any{
		"id":                   e.ID,
		"type":                 TypeBitstringStatusListEntry,
		"statusPurpose":        e.Purpose,
		"statusListIndex":      strconv.Itoa(e.Index),
		"statusListCredential": e.ListCredential,
	}
}

// StatusStore keeps the node's status lists. Allocate reserves a random
// unused index in a list of a purpose (revocation, suspension, token),
// adding lists as they fill, and is durable before it returns; Set changes
// an allocated entry (0/1 for bitstring lists; status.Token* values for
// token lists); Snapshot copies a list and Version returns its version
// without copying; BindOwner records the
// entries of a credential ID once, with an opaque owner tag, Refs returns
// them and OwnedBy compares the tag (false for a binding without one).
// Get reads one entry and its list's purpose and must not wait for Set's
// disk writes (it is on every local status check). Unknown lists and IDs
// give errors matching status.ErrNotFound; a second BindOwner of an ID
// status.ErrBound. Implementations are safe for concurrent use.
type StatusStore interface {
	Allocate(ctx context.Context, purpose string) (listID string, index int, err error)
	Set(ctx context.Context, listID string, index int, value uint8) error
	Get(ctx context.Context, listID string, index int) (purpose string, value uint8, err error)
	Snapshot(ctx context.Context, listID string) (status.Snapshot, error)
	Version(ctx context.Context, listID string) (uint64, error)
	BindOwner(ctx context.Context, credentialID, owner string, refs []status.Ref) error
	Refs(ctx context.Context, credentialID string) ([]status.Ref, error)
	OwnedBy(ctx context.Context, credentialID, owner string) (bool, error)
}

// StatusListSource fetches status lists for verification. Both methods
// return lists whose integrity was checked (a signature of issuer, or the
// node's own store), with how long they may be cached and when their
// validity ends (ListLife).
type StatusListSource interface {
	Bitstring(ctx context.Context, url, issuer string) (*BitstringList, error)
	Token(ctx context.Context, uri, issuer string) (*TokenStatusList, error)
}

// ListLife is how long a fetched status list may be used, of either kind.
type ListLife struct {
	// TTL is how long it may be cached before it is fetched again: 0 for
	// the checker's default, negative for not at all.
	TTL time.Duration
	// ValidUntil ends its validity (zero: no end); a StatusChecker uses it
	// neither cached nor kept past then.
	ValidUntil time.Time
}

// BitstringList is a Bitstring Status List a StatusListSource returns.
type BitstringList struct {
	Bits *status.Bitstring
	// Purposes are its statusPurpose values: one or more (BSL v1.0 §2.2).
	Purposes []string
	ListLife
}

// TokenStatusList is a Token Status List a StatusListSource returns: its
// ListLife is the Status List Token's ttl and exp.
type TokenStatusList struct {
	List *status.TokenList
	ListLife
}

// StatusChecker checks status entries against cached lists. A list that
// cannot be fetched or verified fails the check with ErrStatusUnavailable
// (fail closed). The cache is bounded by the bytes of the lists it holds
// (the least recently used go first), and concurrent misses for one list
// share one fetch and decode. It is safe for concurrent use.
type StatusChecker struct {
	source       StatusListSource
	ttl          time.Duration
	now          func() time.Time
	maxBytes     int64
	fetchTimeout time.Duration
	keepAnchored bool
	maxKeep      time.Duration

	mu      sync.Mutex
	lists   map[string]*list.Element // url -> element holding a *cachedList
	lru     *list.List               // front: most recently used
	bytes   int64                    // sum of the cached lists' sizes
	flights map[string]*flight       // misses being fetched, by flightKey
}

type cachedList struct {
	url      string
	bits     *status.Bitstring
	token    *status.TokenList
	purposes []string
	issuer   string
	expires  time.Time
	// ttl is how long it is cached after a fetch: the list's own ttl, at
	// most the checker's.
	ttl time.Duration
	// until ends the list's validity (zero: no end): it is not used past
	// it, cached or kept.
	until time.Time
	// fetched is when the list was fetched and verified; a list kept by
	// KeepAnchored is used until fetched + MaxKeep at most.
	fetched time.Time
	size    int64
}

// flight is one fetch that concurrent misses for the same list wait on.
type flight struct {
	done chan struct{}
	l    *cachedList
	err  error
}

// DefaultStatusCacheBytes bounds a StatusChecker's cache by default: 256
// remote lists of the largest size decoded (status.MaxRemoteEntries
// two-bit statuses, 256 KiB), or 512 of the default size.
const DefaultStatusCacheBytes = 64 << 20

// StatusCheckerOptions configures NewStatusCheckerWith. Zero values: a
// ttl of 5 minutes, time.Now, DefaultStatusCacheBytes, a fetch timeout of
// 30 seconds.
type StatusCheckerOptions struct {
	// TTL is the longest a list is cached (a shorter ttl from the list
	// wins).
	TTL time.Duration
	Now func() time.Time
	// MaxCacheBytes bounds the decoded lists kept; a list larger than it
	// is used once and not kept.
	MaxCacheBytes int64
	// FetchTimeout bounds a fetch shared by concurrent misses; it runs
	// detached from any one caller's context (each caller still stops
	// waiting when its own context ends).
	FetchTimeout time.Duration
	// KeepAnchored keeps using a list past its TTL while its source says
	// it is still current (HTTPStatusSource with Anchors: the head
	// anchored on the ledger has not moved since the list was checked)
	// and fetching it again fails, so verification goes on while its
	// issuer's node is down; the refetch is tried again after
	// min(TTL, 30 s). Once the head has moved, a failed refetch fails the
	// check with ErrStatusListChanged (and ErrStatusUnavailable).
	KeepAnchored bool
	// MaxKeep bounds how long after its last successful fetch a list is
	// kept by KeepAnchored (default 1 hour): the ledger view that says it
	// is current may itself be stale, and a revocation must not go unseen
	// for ever while the issuer's node is also unreachable.
	MaxKeep time.Duration
}

// staleRetry is how long a list kept by KeepAnchored is used before the
// next refetch.
const staleRetry = 30 * time.Second

// NewStatusChecker caches lists from source for at most ttl (default 5
// minutes; a shorter ttl from the list wins). now is the clock. The other
// options take their defaults (see StatusCheckerOptions).
func NewStatusChecker(source StatusListSource, ttl time.Duration, now func() time.Time) *StatusChecker {
	return NewStatusCheckerWith(source, StatusCheckerOptions{TTL: ttl, Now: now})
}

// NewStatusCheckerWith caches lists from source as opts say.
func NewStatusCheckerWith(source StatusListSource, opts StatusCheckerOptions) *StatusChecker {
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxCacheBytes <= 0 {
		opts.MaxCacheBytes = DefaultStatusCacheBytes
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 30 * time.Second
	}
	if opts.MaxKeep <= 0 {
		opts.MaxKeep = time.Hour
	}
	return &StatusChecker{source: source, ttl: opts.TTL, now: opts.Now, maxBytes: opts.MaxCacheBytes,
		fetchTimeout: opts.FetchTimeout, keepAnchored: opts.KeepAnchored, maxKeep: opts.MaxKeep, lists: map[string]*list.Element{}, lru: list.New(), flights: map[string]*flight{}}
}

// CacheBytes returns the bytes of decoded lists the cache holds.
func (c *StatusChecker) CacheBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Check returns nil when no entry is set, ErrRevoked or ErrSuspended for a
// set entry, ErrStatusUnavailable when a list cannot be had, and
// ErrUnsupported for a purpose whose status it cannot judge (message, or
// one BSL v1.0 does not define), without fetching its list. Refresh
// entries are skipped: a refresh status "does not invalidate the
// verifiable credential" (BSL v1.0 §2.1); it tells the holder a new one
// is available.
func (c *StatusChecker) Check(ctx context.Context, issuer string, entries []StatusEntry) error {
	for _, e := range entries {
		switch e.Purpose {
		case PurposeRevocation, PurposeSuspension:
		case PurposeRefresh:
			continue
		case PurposeMessage:
			// BSL v1.0 §2.1: what a message means is the issuer's (its
			// statusMessage), not a validity this verifier can judge.
			return fmt.Errorf("%w: status purpose message (status messages are not supported)", ErrUnsupported)
		default:
			return fmt.Errorf("%w: status purpose %q", ErrUnsupported, e.Purpose)
		}
		if local, ok := c.source.(*LocalStatusSource); ok {
			if purpose, v, handled, err := local.entry(ctx, e.ListCredential, e.Index); handled {
				if err != nil {
					return fmt.Errorf("%w: %w", ErrStatusUnavailable, err)
				}
				if purpose != e.Purpose {
					return fmt.Errorf("%w: list purpose %q does not match entry purpose %q", ErrStatusUnavailable, purpose, e.Purpose)
				}
				if v != 0 {
					if e.Purpose == PurposeRevocation {
						return ErrRevoked
					}
					return ErrSuspended
				}
				continue
			}
		}
		l, err := c.bitstring(ctx, e.ListCredential, issuer)
		if err != nil {
			return err
		}
		// BSL v1.0 §3.2 step 5: the entry's purpose is one of the list's.
		if !slices.Contains(l.purposes, e.Purpose) {
			return fmt.Errorf("%w: list purposes %q do not include entry purpose %q", ErrStatusUnavailable, l.purposes, e.Purpose)
		}
		if err := l.bits.Check(e.Index); err != nil {
			return fmt.Errorf("%w: %v", ErrStatusUnavailable, err)
		}
		if l.bits.Get(e.Index) {
			if e.Purpose == PurposeRevocation {
				return ErrRevoked
			}
			return ErrSuspended
		}
	}
	return nil
}

func (c *StatusChecker) cached(url, issuer string) *cachedList {
	c.mu.Lock()
	var l *cachedList
	if e := c.lists[url]; e != nil {
		c.lru.MoveToFront(e)
		l = e.Value.(*cachedList)
	}
	c.mu.Unlock()
	if l != nil && l.issuer == issuer && c.now().Before(l.expires) && sourceCurrent(c.source, url) {
		return l
	}
	return nil
}

// store caches l for url, evicting the least recently used lists beyond
// the byte bound.
func (c *StatusChecker) store(l *cachedList, ttl time.Duration) {
	if ttl < 0 {
		return // the source asks not to cache (the node's own lists)
	}
	c.expire(l, ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insert(l)
}

// expire sets l's ttl (at most the checker's) and when it expires.
func (c *StatusChecker) expire(l *cachedList, ttl time.Duration) {
	if ttl == 0 || ttl > c.ttl {
		ttl = c.ttl
	}
	l.ttl = ttl
	l.expires = c.now().Add(ttl)
	if !l.until.IsZero() && l.until.Before(l.expires) {
		l.expires = l.until
	}
}

// insert caches l in place of any list of its URL. The caller holds c.mu.
func (c *StatusChecker) insert(l *cachedList) {
	if e := c.lists[l.url]; e != nil {
		c.bytes -= e.Value.(*cachedList).size
		c.lru.Remove(e)
		delete(c.lists, l.url)
	}
	if l.size > c.maxBytes {
		return
	}
	c.lists[l.url] = c.lru.PushFront(l)
	c.bytes += l.size
	for c.bytes > c.maxBytes {
		e := c.lru.Back()
		old := e.Value.(*cachedList)
		c.lru.Remove(e)
		delete(c.lists, old.url)
		c.bytes -= old.size
	}
}

// listSize is what a decoded list costs in the cache.
func listSize(l *cachedList) int64 {
	size := int64(256) // the entry, its element and map slot, roughly
	for _, p := range l.purposes {
		size += int64(len(p)) + 16
	}
	switch {
	case l.bits != nil:
		size += int64(l.bits.Len() / 8)
	case l.token != nil:
		size += int64(l.token.Len() * l.token.Bits() / 8)
	}
	return size
}

// fetch gets a list through one shared flight per kind, issuer and URL:
// concurrent misses wait for the same fetch and decode instead of each
// doing their own. The fetch runs detached from ctx (bounded by
// fetchTimeout) so one caller giving up does not fail the others; ctx
// ending stops only this caller's wait.
func (c *StatusChecker) fetch(ctx context.Context, kind, url, issuer string, get func(context.Context) (*cachedList, ListLife, error)) (*cachedList, error) {
	key := kind + "\x00" + issuer + "\x00" + url
	c.mu.Lock()
	f, ok := c.flights[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		c.flights[key] = f
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.fetchTimeout)
		go func() {
			defer cancel()
			l, life, err := get(fctx)
			if err == nil {
				// Copies: url and issuer may be substrings of a whole
				// document (strictjson.Object), which the cache would hold.
				l.url, l.issuer, l.fetched, l.until = strings.Clone(url), strings.Clone(issuer), c.now(), life.ValidUntil
				l.size = listSize(l)
				c.store(l, life.TTL)
			}
			c.mu.Lock()
			delete(c.flights, key)
			c.mu.Unlock()
			f.l, f.err = l, err
			close(f.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		if f.err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStatusUnavailable, f.err)
		}
		return f.l, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrStatusUnavailable, ctx.Err())
	}
}

func (c *StatusChecker) bitstring(ctx context.Context, url, issuer string) (*cachedList, error) {
	if l := c.cached(url, issuer); l != nil && l.bits != nil {
		return l, nil
	}
	l, err := c.fetch(ctx, "bitstring", url, issuer, func(ctx context.Context) (*cachedList, ListLife, error) {
		bl, err := c.source.Bitstring(ctx, url, issuer)
		if err != nil {
			return nil, ListLife{}, err
		}
		purposes := make([]string, len(bl.Purposes))
		for i, p := range bl.Purposes {
			purposes[i] = strings.Clone(p)
		}
		return &cachedList{bits: bl.Bits, purposes: purposes}, bl.ListLife, nil
	})
	if err != nil {
		return c.keep(ctx, url, issuer, false, err)
	}
	return l, nil
}

// keep answers a failed refetch of url (err) with KeepAnchored: the
// cached list, past its ttl, while its source says it is still current;
// else err, marked ErrStatusListChanged when a list was cached but its
// head has moved since. The source's word is about the last list it
// returned for url: a list another check fetched meanwhile (or is
// fetching) is answered from instead, never replaced by the older one.
func (c *StatusChecker) keep(ctx context.Context, url, issuer string, token bool, err error) (*cachedList, error) {
	if !c.keepAnchored {
		return nil, err
	}
	kind := "bitstring"
	if token {
		kind = "token"
	}
	key := kind + "\x00" + issuer + "\x00" + url
	for {
		if l := c.cached(url, issuer); l != nil && (l.token != nil) == token {
			return l, nil // fetched meanwhile
		}
		c.mu.Lock()
		var l *cachedList
		if e := c.lists[url]; e != nil {
			l = e.Value.(*cachedList)
		}
		c.mu.Unlock()
		if l == nil || l.issuer != issuer || (l.token != nil) != token {
			return nil, err
		}
		if !sourceCurrent(c.source, url) {
			return nil, fmt.Errorf("%w: %w", ErrStatusListChanged, err)
		}
		if c.now().Sub(l.fetched) > c.maxKeep {
			return nil, fmt.Errorf("%w: kept %v past its last fetch, the most allowed: %w", ErrStatusUnavailable, c.maxKeep, err)
		}
		if !l.until.IsZero() && !c.now().Before(l.until) {
			return nil, fmt.Errorf("%w: its validity ended at %s: %w", ErrStatusUnavailable, FormatTime(l.until), err)
		}
		// Fetched again after staleRetry, or sooner when the list's ttl is
		// shorter (Token Status List's validation rules, BSL v1.0 §2.2 ttl).
		kept := *l
		c.expire(&kept, min(staleRetry, l.ttl))
		c.mu.Lock()
		e, f := c.lists[url], c.flights[key]
		if f == nil && e != nil && e.Value == l {
			c.insert(&kept)
			c.mu.Unlock()
			return &kept, nil
		}
		c.mu.Unlock()
		if f != nil {
			// A fetch that may have moved what the source calls current.
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %w", ErrStatusUnavailable, ctx.Err())
			}
			if f.err == nil {
				return f.l, nil
			}
		}
	}
}

// CheckToken checks an IETF Token Status List reference (the status claim
// of an SD-JWT VC).
func (c *StatusChecker) CheckToken(ctx context.Context, issuer, uri string, idx int) error {
	if local, ok := c.source.(*LocalStatusSource); ok {
		if purpose, v, handled, err := local.entry(ctx, uri, idx); handled {
			if err == nil && purpose != status.PurposeToken {
				err = fmt.Errorf("list %s is not a token status list", truncate(uri))
			}
			if err != nil {
				return fmt.Errorf("%w: %w", ErrStatusUnavailable, err)
			}
			return tokenStatus(v)
		}
	}
	l := c.cached(uri, issuer)
	if l == nil || l.token == nil {
		var err error
		l, err = c.fetch(ctx, "token", uri, issuer, func(ctx context.Context) (*cachedList, ListLife, error) {
			tl, err := c.source.Token(ctx, uri, issuer)
			if err != nil {
				return nil, ListLife{}, err
			}
			return &cachedList{token: tl.List}, tl.ListLife, nil
		})
		if err != nil {
			if l, err = c.keep(ctx, uri, issuer, true, err); err != nil {
				return err
			}
		}
	}
	v, err := l.token.Get(idx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStatusUnavailable, err)
	}
	return tokenStatus(v)
}

func tokenStatus(v uint8) error {
	switch v {
	case status.TokenValid:
		return nil
	case status.TokenInvalid:
		return ErrRevoked
	case status.TokenSuspended:
		return ErrSuspended
	}
	return fmt.Errorf("%w: status value 0x%02x", ErrUnsupported, v)
}

// LocalStatusSource reads the node's own lists straight from its store:
// URLs under BaseURL + "/status/". Other URLs go to Remote (when nil, they
// fail). Own lists are not cached unless TTL is set, so a status change
// is seen at once.
type LocalStatusSource struct {
	BaseURL string
	Store   StatusStore
	TTL     time.Duration
	Remote  StatusListSource
}

// entry reads one entry of the node's own lists straight from the store
// (no copy, no cache); handled is false for other URLs. With TTL set the
// lists are read and cached whole instead.
func (l *LocalStatusSource) entry(ctx context.Context, url string, index int) (purpose string, value uint8, handled bool, err error) {
	if l.TTL > 0 {
		return "", 0, false, nil
	}
	id, ok := l.localID(url)
	if !ok {
		return "", 0, false, nil
	}
	purpose, value, err = l.Store.Get(ctx, id, index)
	return purpose, value, true, err
}

func (l *LocalStatusSource) ttl() time.Duration {
	if l.TTL > 0 {
		return l.TTL
	}
	return -1
}

func (l *LocalStatusSource) localID(url string) (string, bool) {
	rest, ok := strings.CutPrefix(url, l.BaseURL)
	if !ok {
		return "", false
	}
	id, ok := strings.CutPrefix(rest, "/status/")
	return id, ok && status.ValidListID(id)
}

// Bitstring implements StatusListSource.
func (l *LocalStatusSource) Bitstring(ctx context.Context, url, issuer string) (*BitstringList, error) {
	id, ok := l.localID(url)
	if !ok {
		if l.Remote == nil {
			return nil, fmt.Errorf("%w: %s is not a list of this node", ErrNotFound, truncate(url))
		}
		return l.Remote.Bitstring(ctx, url, issuer)
	}
	snap, err := l.Store.Snapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	if snap.Bitstring == nil {
		return nil, fmt.Errorf("%w: list %s is not a bitstring list", ErrNotFound, id)
	}
	return &BitstringList{Bits: snap.Bitstring, Purposes: []string{snap.Purpose}, ListLife: ListLife{TTL: l.ttl()}}, nil
}

// Token implements StatusListSource.
func (l *LocalStatusSource) Token(ctx context.Context, uri, issuer string) (*TokenStatusList, error) {
	id, ok := l.localID(uri)
	if !ok {
		if l.Remote == nil {
			return nil, fmt.Errorf("%w: %s is not a list of this node", ErrNotFound, truncate(uri))
		}
		return l.Remote.Token(ctx, uri, issuer)
	}
	snap, err := l.Store.Snapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	if snap.Token == nil {
		return nil, fmt.Errorf("%w: list %s is not a token list", ErrNotFound, id)
	}
	return &TokenStatusList{List: snap.Token, ListLife: ListLife{TTL: l.ttl()}}, nil
}

// HTTPStatusSource fetches status lists over HTTPS: Bitstring Status List
// credentials in each of Forms (asked for first, in order) and then as
// vc+jwt (verified with Verifier, which must be built with SkipStatus),
// Token Status Lists as statuslist+jwt (verified with Resolver and
// Algorithms). Unsigned lists are refused.
//
// With Anchors set, every list must also match the head its issuer's
// region anchored on the ledger (see anchor.go): a list older than the
// head fails with ErrStatusListStale (after refetching it twice), one
// with the head's version and another digest with ErrStatusListForged,
// and one with no head — or newer than the head for longer than
// AnchorWait — with ErrStatusListUnanchored. Lists of issuers that are not
// active regions of the consortium fail too. A StatusChecker drops a
// cached list as soon as the ledger's head for it moves (ListCurrent).
type HTTPStatusSource struct {
	Client *http.Client
	// Fetch, when set, fetches a list instead of the default (an HTTPS
	// GET with Client): a source that fetches only from the nodes it is
	// configured for, e.g. the relying-party SDK's. Its errors are
	// returned as they are; one wrapping ErrMediaTypeNotServed moves to
	// the next of Forms.
	Fetch      func(ctx context.Context, url, accept string) ([]byte, error)
	Verifier   *Verifier
	Resolver   KeyResolver
	Algorithms []string
	Now        func() time.Time
	// Anchors is the ledger's view of status-list heads (nil: lists are
	// trusted on their signature alone).
	Anchors StatusAnchors
	// AnchorWait bounds how long a list newer than its anchored head
	// waits for the ledger (default 5 s).
	AnchorWait time.Duration
	// Forms are the other secured forms of Bitstring Status List
	// credentials the source takes (a Data Integrity proof, vc+cose),
	// asked for before vc+jwt. A list every form and vc+jwt check alike:
	// issuer, id, subject and, with Anchors, the ledger's head.
	Forms []StatusListForm

	memo sync.Map // url -> anchoredRef of the last list that matched
}

func (h *HTTPStatusSource) fetch(ctx context.Context, url, accept string) ([]byte, error) {
	if h.Fetch != nil {
		return h.Fetch(ctx, url, accept)
	}
	return httpGet(ctx, h.Client, url, accept)
}

// StatusListForm is a secured form of Bitstring Status List credentials
// an HTTPStatusSource asks for (Accept: MediaType) besides vc+jwt.
type StatusListForm struct {
	MediaType string
	// AlsoServedAs are other media types a server may answer the same
	// form with (asked for after MediaType, q=0.9).
	AlsoServedAs []string
	// Verify checks a list credential served as MediaType: its proof or
	// signature by a key of its issuer, and what Verifier.VerifyCredential
	// checks of a vc+jwt (data model, validity; no status), and returns it.
	// The source checks the rest.
	Verify func(ctx context.Context, body []byte) (*Credential, error)
}

// listCredential fetches url's list credential in the first of Forms
// the server serves, else as vc+jwt, and verifies it. Only a server that
// says it does not serve a form (ErrMediaTypeNotServed: 406, 415, another
// content type) or an answer the form finds unsecured
// (ErrStatusFormUnsecured) moves it to the next; any other fetch error (a
// timeout, an unreachable host, a 5xx) is returned at once, and a list
// that fails verification fails: it never falls back to another form.
func (h *HTTPStatusSource) listCredential(ctx context.Context, url string) (*Credential, error) {
	for _, f := range h.Forms {
		accept := f.MediaType
		for _, mt := range f.AlsoServedAs {
			accept += ", " + mt + ";q=0.9"
		}
		body, err := h.fetch(ctx, url, accept)
		if errors.Is(err, ErrMediaTypeNotServed) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c, err := f.Verify(ctx, body)
		if errors.Is(err, ErrStatusFormUnsecured) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("status list credential (%s): %w", f.MediaType, err)
		}
		return c, nil
	}
	body, err := h.fetch(ctx, url, MediaTypeVCJWT)
	if err != nil {
		return nil, err
	}
	c, err := h.Verifier.VerifyCredential(ctx, strings.TrimSpace(string(body)))
	if err != nil {
		return nil, fmt.Errorf("status list credential: %w", err)
	}
	return c, nil
}

// Bitstring implements StatusListSource.
func (h *HTTPStatusSource) Bitstring(ctx context.Context, url, issuer string) (*BitstringList, error) {
	for attempt := 0; ; attempt++ {
		c, err := h.listCredential(ctx, url)
		if err != nil {
			return nil, err
		}
		bl, err := parseStatusListCredential(c, url, issuer)
		if err != nil || h.Anchors == nil {
			return bl, err
		}
		version, err := parseListVersion(c.Subjects[0][ClaimListVersion])
		if err != nil {
			return nil, err
		}
		// The anchored content names one purpose, as the consortium's
		// lists have.
		if len(bl.Purposes) != 1 {
			return nil, fmt.Errorf("%w: an anchored status list has one statusPurpose, this one %d", ErrInvalid, len(bl.Purposes))
		}
		id, _ := listIDOf(url)
		content, err := listContent(id, bl.Purposes[0], version, 1, bl.Bits)
		if err != nil {
			return nil, err
		}
		err = h.checkAnchored(ctx, url, issuer, version, content)
		if errors.Is(err, ErrStatusListStale) && attempt < maxStaleRefetch {
			continue
		}
		if err != nil {
			return nil, err
		}
		return bl, nil
	}
}

// StatusListFromCredential reads a BitstringStatusListCredential already
// verified (Verifier.VerifyCredential) that was fetched from url for
// issuer: the list, its purposes, its ttl (0 when it has none) and the
// end of its validity.
func StatusListFromCredential(c *Credential, url, issuer string) (*BitstringList, error) {
	return parseStatusListCredential(c, url, issuer)
}

// parseStatusListCredential reads a verified BitstringStatusListCredential,
// in whatever form it was secured.
func parseStatusListCredential(c *Credential, url, issuer string) (*BitstringList, error) {
	if c.Issuer != issuer {
		return nil, fmt.Errorf("%w: status list issued by another issuer", ErrIssuerMismatch)
	}
	if c.ID != "" && c.ID != url {
		return nil, fmt.Errorf("%w: status list credential id does not match its URL", ErrInvalid)
	}
	// BSL v1.0 §2.1 (statusListCredential) and §2.2 (type): the
	// credential's type includes BitstringStatusListCredential; no other
	// credential of the issuer is taken for its list.
	if !slices.Contains(c.Types, TypeBitstringStatusListCredential) {
		return nil, fmt.Errorf("%w: status list credential type must include %s", ErrInvalid, TypeBitstringStatusListCredential)
	}
	if len(c.Subjects) != 1 {
		return nil, fmt.Errorf("%w: status list credential needs one subject", ErrInvalid)
	}
	s := c.Subjects[0]
	// BSL v1.0 §2.2: the subject's type "MUST be BitstringStatusList": the
	// string or, as JSON-LD reads the same, an array of it alone.
	if types, err := typeList(s["type"]); err != nil || slices.ContainsFunc(types, func(t string) bool { return t != TypeBitstringStatusList }) {
		return nil, fmt.Errorf("%w: subject type must be %s", ErrInvalid, TypeBitstringStatusList)
	}
	// BSL v1.0 §2.2: statusPurpose "MUST be one or more strings".
	purposes, err := typeList(s["statusPurpose"])
	if err != nil {
		return nil, fmt.Errorf("%w: statusPurpose must be one or more strings: %v", ErrInvalid, err)
	}
	enc, _ := s["encodedList"].(string)
	// A remote list: at most status.MaxRemoteEntries entries.
	bits, err := status.DecodeBitstring(enc, status.MaxRemoteEntries)
	if err != nil {
		return nil, err
	}
	bl := &BitstringList{Bits: bits, Purposes: purposes, ListLife: ListLife{ValidUntil: c.ValidUntil}}
	if n, ok := s["ttl"].(json.Number); ok {
		if ms, err := n.Int64(); err == nil && ms > 0 {
			// At most what a Duration holds: a longer ttl is cached as
			// long as the checker allows, not wrapped to a negative one
			// (which would mean "do not cache").
			bl.TTL = time.Duration(min(ms, int64(math.MaxInt64/time.Millisecond))) * time.Millisecond
		}
	}
	// BSL v1.0 §2.2: ttl "does not override or replace the validity
	// period"; a vc+jwt's exp ends it too (checked when it was verified;
	// as a member of another form it can only end it sooner).
	if exp, ok, err := jose.NumericDate(c.raw, "exp"); ok && err == nil && (bl.ValidUntil.IsZero() || exp.Before(bl.ValidUntil)) {
		bl.ValidUntil = exp
	}
	return bl, nil
}

// Token implements StatusListSource.
func (h *HTTPStatusSource) Token(ctx context.Context, uri, issuer string) (*TokenStatusList, error) {
	for attempt := 0; ; attempt++ {
		body, err := h.fetch(ctx, uri, MediaTypeStatusListJWT)
		if err != nil {
			return nil, err
		}
		tl, claims, err := verifyStatusListJWT(ctx, strings.TrimSpace(string(body)), uri, issuer, h.Resolver, h.Algorithms, h.Now)
		if err != nil || h.Anchors == nil {
			return tl, err
		}
		version, err := parseListVersion(claims[ClaimJWTListVersion])
		if err != nil {
			return nil, err
		}
		id, _ := listIDOf(uri)
		content, err := listContent(id, status.PurposeToken, version, tl.List.Bits(), tl.List)
		if err != nil {
			return nil, err
		}
		err = h.checkAnchored(ctx, uri, issuer, version, content)
		if errors.Is(err, ErrStatusListStale) && attempt < maxStaleRefetch {
			continue
		}
		if err != nil {
			return nil, err
		}
		return tl, nil
	}
}

// verifyStatusListJWT checks a statuslist+jwt for uri signed by issuer and
// returns the list with its ttl and exp, and its claims.
func verifyStatusListJWT(ctx context.Context, tok, uri, issuer string, res KeyResolver, algs []string, now func() time.Time) (*TokenStatusList, map[string]any, error) {
	if now == nil {
		now = time.Now
	}
	hdr, err := jose.ParseHeader(tok, algs)
	if err != nil {
		return nil, nil, mapJoseErr(err)
	}
	if hdr.String("typ") != TypStatusListJWT {
		return nil, nil, fmt.Errorf("%w: typ %q, want %s", ErrType, hdr.String("typ"), TypStatusListJWT)
	}
	// The Status List Token's iss is optional (Token Status List §5.1):
	// the list is the issuer's by its signature (the key is resolved for
	// issuer below); an iss it does carry must name issuer.
	parser, err := gm.NewJWTParser(algs, jwt.WithTimeFunc(now), jwt.WithSubject(uri))
	if err != nil {
		return nil, nil, err
	}
	claims := &jose.Claims{Max: 4 << 20}
	_, err = parser.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) {
		pub, err := res.ResolveKey(ctx, issuer, hdr.String("kid"))
		if err != nil {
			return nil, err
		}
		if !jose.KeyMatches(pub, hdr.String("alg")) {
			return nil, fmt.Errorf("%w: key does not match alg", ErrAlgorithm)
		}
		return pub, nil
	})
	if err != nil {
		return nil, nil, mapJWTErr(err)
	}
	if iss, present := claims.Raw["iss"]; present && iss != issuer {
		return nil, nil, fmt.Errorf("%w: the status list token's iss is not the credential's issuer", ErrIssuerMismatch)
	}
	// Token Status List §5.1: iat is REQUIRED ("the time at which the
	// Status List Token was issued"), and §8.3 has the Relying Party
	// "check for the existence of the required claims".
	if iat, err := claims.GetIssuedAt(); err != nil || iat == nil {
		return nil, nil, fmt.Errorf("%w: the status list token needs an iat", ErrInvalid)
	}
	sl, _ := claims.Raw["status_list"].(map[string]any)
	bits, _ := sl["bits"].(json.Number)
	lst, _ := sl["lst"].(string)
	b, err := bits.Int64()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: status_list.bits", ErrInvalid)
	}
	// Token Status List §4.2: "The allowed values for bits are 1, 2, 4 and
	// 8", each taken. A remote list is bounded by its decoded bytes
	// (status.MaxRemoteTokenBytes) as well as its statuses
	// (status.MaxRemoteEntries), so a wider list holds fewer statuses;
	// a value other than VALID, INVALID and SUSPENDED fails the check
	// (tokenStatus).
	if b != 1 && b != 2 && b != 4 && b != 8 {
		return nil, nil, fmt.Errorf("%w: status_list.bits %d (1, 2, 4 or 8)", ErrInvalid, b)
	}
	list, err := status.DecodeTokenList(int(b), lst, min(status.MaxRemoteEntries, status.MaxRemoteTokenBytes*8/int(b)))
	if err != nil {
		return nil, nil, err
	}
	tl := &TokenStatusList{List: list}
	// Token Status List §5.1: ttl, when present, "MUST be a positive
	// number" of seconds, and §8.3 checks every claim present by §5.1.
	if v, present := claims.Raw["ttl"]; present {
		n, _ := v.(json.Number)
		s, err := n.Float64()
		if err != nil || !(s > 0) || math.IsInf(s, 0) {
			return nil, nil, fmt.Errorf("%w: the status list token's ttl must be a positive number of seconds", ErrInvalid)
		}
		tl.TTL = time.Duration(min(s, float64(math.MaxInt64/int64(time.Second))) * float64(time.Second))
	}
	// Past its exp a list "MUST NOT be relied upon any longer" (Token
	// Status List, Status List Caching): a StatusChecker uses it neither
	// cached nor kept past it (checked above: still ahead).
	if exp, ok, err := jose.NumericDate(claims.Raw, "exp"); ok && err == nil {
		tl.ValidUntil = exp
	}
	return tl, claims.Raw, nil
}
