package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
)

// Status names of W3C Bitstring Status List v1.0 and media types of the
// status list representations.
const (
	TypeBitstringStatusListEntry      = "BitstringStatusListEntry"
	TypeBitstringStatusListCredential = "BitstringStatusListCredential"
	TypeBitstringStatusList           = "BitstringStatusList"
	PurposeRevocation                 = statuslist.PurposeRevocation
	PurposeSuspension                 = statuslist.PurposeSuspension
	MediaTypeVCJWT                    = "application/vc+jwt"
	MediaTypeVPJWT                    = "application/vp+jwt"
	MediaTypeSDJWT                    = "application/dc+sd-jwt"
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
	if e.ListCredential, err = urlString(m["statusListCredential"]); err != nil {
		return e, fmt.Errorf("statusListCredential: %v", err)
	}
	if id, ok := m["id"].(string); ok {
		e.ID = id
	}
	if size, ok := m["statusSize"]; ok {
		if n, ok := size.(json.Number); !ok || n.String() != "1" {
			return e, fmt.Errorf("%w: statusSize other than 1", ErrUnsupported)
		}
	}
	return e, nil
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
// an allocated entry (0/1 for bitstring lists; statuslist.Token* values for
// token lists); Snapshot copies a list; Bind records the entries of a
// credential ID once and Refs returns them. Get reads one entry and its
// list's purpose. Unknown lists and IDs give
// errors matching statuslist.ErrNotFound. Implementations are safe for
// concurrent use.
type StatusStore interface {
	Allocate(ctx context.Context, purpose string) (listID string, index int, err error)
	Set(ctx context.Context, listID string, index int, value uint8) error
	Get(ctx context.Context, listID string, index int) (purpose string, value uint8, err error)
	Snapshot(ctx context.Context, listID string) (statuslist.Snapshot, error)
	Bind(ctx context.Context, credentialID string, refs []statuslist.Ref) error
	Refs(ctx context.Context, credentialID string) ([]statuslist.Ref, error)
}

var _ StatusStore = (*statuslist.FileStore)(nil)

// StatusListSource fetches status lists for verification. Both methods
// return lists whose integrity was checked (a signature of issuer, or the
// node's own store) and the time the list may be cached for: 0 for the
// checker's default, negative for not at all.
type StatusListSource interface {
	Bitstring(ctx context.Context, url, issuer string) (*statuslist.Bitstring, string, time.Duration, error)
	Token(ctx context.Context, uri, issuer string) (*statuslist.TokenList, time.Duration, error)
}

// StatusChecker checks status entries against cached lists. A list that
// cannot be fetched or verified fails the check with ErrStatusUnavailable
// (fail closed). It is safe for concurrent use.
type StatusChecker struct {
	source StatusListSource
	ttl    time.Duration
	now    func() time.Time

	mu    sync.RWMutex
	lists map[string]*cachedList
}

type cachedList struct {
	bits    *statuslist.Bitstring
	token   *statuslist.TokenList
	purpose string
	issuer  string
	expires time.Time
}

// NewStatusChecker caches lists from source for at most ttl (default 5
// minutes; a shorter ttl from the list wins). now is the clock.
func NewStatusChecker(source StatusListSource, ttl time.Duration, now func() time.Time) *StatusChecker {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &StatusChecker{source: source, ttl: ttl, now: now, lists: map[string]*cachedList{}}
}

// Check returns nil when no entry is set, ErrRevoked or ErrSuspended for a
// set entry, ErrStatusUnavailable when a list cannot be had, and
// ErrUnsupported for a purpose other than revocation and suspension.
func (c *StatusChecker) Check(ctx context.Context, issuer string, entries []StatusEntry) error {
	for _, e := range entries {
		if e.Purpose != PurposeRevocation && e.Purpose != PurposeSuspension {
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
		if l.purpose != e.Purpose {
			return fmt.Errorf("%w: list purpose %q does not match entry purpose %q", ErrStatusUnavailable, l.purpose, e.Purpose)
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
	c.mu.RLock()
	l := c.lists[url]
	c.mu.RUnlock()
	if l != nil && l.issuer == issuer && c.now().Before(l.expires) {
		return l
	}
	return nil
}

func (c *StatusChecker) store(url string, l *cachedList, ttl time.Duration) {
	if ttl < 0 {
		return // the source asks not to cache (the node's own lists)
	}
	if ttl == 0 || ttl > c.ttl {
		ttl = c.ttl
	}
	l.expires = c.now().Add(ttl)
	c.mu.Lock()
	c.lists[url] = l
	c.mu.Unlock()
}

func (c *StatusChecker) bitstring(ctx context.Context, url, issuer string) (*cachedList, error) {
	if l := c.cached(url, issuer); l != nil && l.bits != nil {
		return l, nil
	}
	bits, purpose, ttl, err := c.source.Bitstring(ctx, url, issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStatusUnavailable, err)
	}
	l := &cachedList{bits: bits, purpose: purpose, issuer: issuer}
	c.store(url, l, ttl)
	return l, nil
}

// CheckToken checks an IETF Token Status List reference (the status claim
// of an SD-JWT VC).
func (c *StatusChecker) CheckToken(ctx context.Context, issuer, uri string, idx int) error {
	if local, ok := c.source.(*LocalStatusSource); ok {
		if purpose, v, handled, err := local.entry(ctx, uri, idx); handled {
			if err == nil && purpose != statuslist.PurposeToken {
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
		tl, ttl, err := c.source.Token(ctx, uri, issuer)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStatusUnavailable, err)
		}
		l = &cachedList{token: tl, issuer: issuer}
		c.store(uri, l, ttl)
	}
	v, err := l.token.Get(idx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStatusUnavailable, err)
	}
	return tokenStatus(v)
}

func tokenStatus(v uint8) error {
	switch v {
	case statuslist.TokenValid:
		return nil
	case statuslist.TokenInvalid:
		return ErrRevoked
	case statuslist.TokenSuspended:
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
	return id, ok && statuslist.ValidListID(id)
}

// Bitstring implements StatusListSource.
func (l *LocalStatusSource) Bitstring(ctx context.Context, url, issuer string) (*statuslist.Bitstring, string, time.Duration, error) {
	id, ok := l.localID(url)
	if !ok {
		if l.Remote == nil {
			return nil, "", 0, fmt.Errorf("%w: %s is not a list of this node", ErrNotFound, truncate(url))
		}
		return l.Remote.Bitstring(ctx, url, issuer)
	}
	snap, err := l.Store.Snapshot(ctx, id)
	if err != nil {
		return nil, "", 0, err
	}
	if snap.Bitstring == nil {
		return nil, "", 0, fmt.Errorf("%w: list %s is not a bitstring list", ErrNotFound, id)
	}
	return snap.Bitstring, snap.Purpose, l.ttl(), nil
}

// Token implements StatusListSource.
func (l *LocalStatusSource) Token(ctx context.Context, uri, issuer string) (*statuslist.TokenList, time.Duration, error) {
	id, ok := l.localID(uri)
	if !ok {
		if l.Remote == nil {
			return nil, 0, fmt.Errorf("%w: %s is not a list of this node", ErrNotFound, truncate(uri))
		}
		return l.Remote.Token(ctx, uri, issuer)
	}
	snap, err := l.Store.Snapshot(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if snap.Token == nil {
		return nil, 0, fmt.Errorf("%w: list %s is not a token list", ErrNotFound, id)
	}
	return snap.Token, l.ttl(), nil
}

// HTTPStatusSource fetches status lists over HTTPS: Bitstring Status List
// credentials as vc+jwt (verified with Verifier, which must be built with
// SkipStatus), Token Status Lists as statuslist+jwt (verified with
// Resolver and Algorithms). Unsigned lists are refused.
type HTTPStatusSource struct {
	Client     *http.Client
	Verifier   *Verifier
	Resolver   KeyResolver
	Algorithms []string
	Now        func() time.Time
}

// Bitstring implements StatusListSource.
func (h *HTTPStatusSource) Bitstring(ctx context.Context, url, issuer string) (*statuslist.Bitstring, string, time.Duration, error) {
	body, err := httpGet(ctx, h.Client, url, MediaTypeVCJWT)
	if err != nil {
		return nil, "", 0, err
	}
	c, err := h.Verifier.VerifyCredential(ctx, strings.TrimSpace(string(body)))
	if err != nil {
		return nil, "", 0, fmt.Errorf("status list credential: %w", err)
	}
	return parseStatusListCredential(c, url, issuer)
}

// parseStatusListCredential reads a verified BitstringStatusListCredential.
func parseStatusListCredential(c *Credential, url, issuer string) (*statuslist.Bitstring, string, time.Duration, error) {
	if c.Issuer != issuer {
		return nil, "", 0, fmt.Errorf("%w: status list issued by another issuer", ErrIssuerMismatch)
	}
	if c.ID != "" && c.ID != url {
		return nil, "", 0, fmt.Errorf("%w: status list credential id does not match its URL", ErrInvalid)
	}
	if len(c.Subjects) != 1 {
		return nil, "", 0, fmt.Errorf("%w: status list credential needs one subject", ErrInvalid)
	}
	s := c.Subjects[0]
	if t, _ := s["type"].(string); t != TypeBitstringStatusList {
		return nil, "", 0, fmt.Errorf("%w: subject type must be %s", ErrInvalid, TypeBitstringStatusList)
	}
	purpose, _ := s["statusPurpose"].(string)
	enc, _ := s["encodedList"].(string)
	bits, err := statuslist.DecodeBitstring(enc, 0)
	if err != nil {
		return nil, "", 0, err
	}
	var ttl time.Duration
	if n, ok := s["ttl"].(json.Number); ok {
		if ms, err := n.Int64(); err == nil && ms > 0 {
			ttl = time.Duration(ms) * time.Millisecond
		}
	}
	return bits, purpose, ttl, nil
}

// Token implements StatusListSource.
func (h *HTTPStatusSource) Token(ctx context.Context, uri, issuer string) (*statuslist.TokenList, time.Duration, error) {
	body, err := httpGet(ctx, h.Client, uri, MediaTypeStatusListJWT)
	if err != nil {
		return nil, 0, err
	}
	return verifyStatusListJWT(ctx, strings.TrimSpace(string(body)), uri, issuer, h.Resolver, h.Algorithms, h.Now)
}

// verifyStatusListJWT checks a statuslist+jwt for uri signed by issuer.
func verifyStatusListJWT(ctx context.Context, tok, uri, issuer string, res KeyResolver, algs []string, now func() time.Time) (*statuslist.TokenList, time.Duration, error) {
	if now == nil {
		now = time.Now
	}
	hdr, err := jose.ParseHeader(tok, algs)
	if err != nil {
		return nil, 0, mapJoseErr(err)
	}
	if hdr.String("typ") != TypStatusListJWT {
		return nil, 0, fmt.Errorf("%w: typ %q, want %s", ErrType, hdr.String("typ"), TypStatusListJWT)
	}
	parser, err := gm.NewJWTParser(algs, jwt.WithTimeFunc(now), jwt.WithSubject(uri), jwt.WithIssuer(issuer))
	if err != nil {
		return nil, 0, err
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
		return nil, 0, mapJWTErr(err)
	}
	sl, _ := claims.Raw["status_list"].(map[string]any)
	bits, _ := sl["bits"].(json.Number)
	lst, _ := sl["lst"].(string)
	b, err := bits.Int64()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: status_list.bits", ErrInvalid)
	}
	tl, err := statuslist.DecodeTokenList(int(b), lst, 0)
	if err != nil {
		return nil, 0, err
	}
	var ttl time.Duration
	if n, ok := claims.Raw["ttl"].(json.Number); ok {
		if s, err := n.Int64(); err == nil && s > 0 {
			ttl = time.Duration(s) * time.Second
		}
	}
	return tl, ttl, nil
}
