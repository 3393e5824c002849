package credentials_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
)

// TestRemoteStatusListCaps: lists fetched from other nodes (chosen by
// whoever submits a credential to the public verify endpoint) are held to
// status.MaxRemoteEntries entries and token lists to as many statuses and
// status.MaxRemoteTokenBytes decoded bytes, whatever their bits: Token
// Status List §4.2, "The allowed values for bits are 1, 2, 4 and 8", so a
// 4- or 8-bit list within the bound is taken (it was refused,
// ErrUnsupported, so a third party's SD-JWT VC with one could not be
// verified), and bits of any other width are invalid.
func TestRemoteStatusListCaps(t *testing.T) {
	served := newServedNode(t)
	n, srv, serve := served.n, served.srv, served.serve
	ctx := context.Background()
	_, src := remoteVerifier(t, n, served.client, nil)
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	tokenListIss := func(iss any, uri string, bits int, raw []byte) string {
		var buf bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
		zw.Write(raw)
		zw.Close()
		now := n.clock.Now()
		claims := map[string]any{
			"sub": uri, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"status_list": map[string]any{"bits": bits, "lst": base64.RawURLEncoding.EncodeToString(buf.Bytes())},
		}
		if iss != nil {
			claims["iss"] = iss
		}
		tok, err := jose.Sign(claims, map[string]any{"typ": TypStatusListJWT, "kid": k.Kid}, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tokenList := func(uri string, bits int, raw []byte) string { return tokenListIss(srv.URL, uri, bits, raw) }
	const path = "/status/00000000000000aa"
	uri := srv.URL + path
	// iss is optional in a Status List Token (Token Status List §5.1):
	// absent, the issuer's signature suffices; present, it must name the
	// issuer.
	for _, c := range []struct {
		name string
		iss  any
		want error
	}{{"no iss", nil, nil}, {"another iss", "https://other.example", ErrIssuerMismatch}, {"iss not a string", 7, ErrIssuerMismatch}} {
		serve(path, MediaTypeStatusListJWT, tokenListIss(c.iss, uri, 1, make([]byte, 1<<14)))
		if _, err := src.Token(ctx, uri, srv.URL); (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		name    string
		bits    int
		entries int
		want    error
	}{
		{"8 bits", 8, 1 << 18, nil},
		{"4 bits", 4, 1 << 16, nil},
		{"8 bits past the cap", 8, 1<<18 + 8, status.ErrEncoding},
		{"4 bits past the cap", 4, 1<<19 + 8, status.ErrEncoding},
		{"3 bits", 3, 1 << 16, ErrInvalid},
		{"2 bits past the cap", 2, 2 << 20, status.ErrEncoding},
		{"1 bit past the cap", 1, 2 << 20, status.ErrEncoding},
		{"2 bits at the cap", 2, 1 << 20, nil},
		{"1 bit", 1, 1 << 17, nil},
	} {
		serve(path, MediaTypeStatusListJWT, tokenList(uri, c.bits, make([]byte, c.entries*c.bits/8)))
		tl, err := src.Token(ctx, uri, srv.URL)
		if c.want == nil {
			if err != nil || tl.List.Len() != c.entries {
				t.Errorf("%s: %v", c.name, err)
			}
		} else if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		entries int
		ok      bool
	}{{2 << 20, false}, {16 << 20, false}, {1 << 20, true}} {
		bits, _ := status.NewBitstring(c.entries)
		serve(path, MediaTypeVCJWT, signBitstringList(t, n, uri, PurposeRevocation, 1, bits))
		_, err := src.Bitstring(ctx, uri, n.issuer.DID())
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, status.ErrEncoding)) {
			t.Errorf("bitstring of %d entries: %v", c.entries, err)
		}
	}
}

// memSource serves in-memory bitstring lists by URL, counting fetches;
// with a gate set, every fetch waits for it to close.
type memSource struct {
	mu    sync.Mutex
	lists map[string]*status.Bitstring
	calls map[string]int
	gate  chan struct{}
}

func newMemSource(t testing.TB, urls ...string) *memSource {
	m := &memSource{lists: map[string]*status.Bitstring{}, calls: map[string]int{}}
	for _, u := range urls {
		b, err := status.NewBitstring(status.MinEntries)
		if err != nil {
			t.Fatal(err)
		}
		m.lists[u] = b
	}
	return m
}

func (m *memSource) Bitstring(ctx context.Context, url, issuer string) (*BitstringList, error) {
	m.mu.Lock()
	m.calls[url]++
	b, ok := m.lists[url]
	gate := m.gate
	m.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: no list", ErrNotFound)
	}
	return &BitstringList{Bits: b, Purposes: []string{PurposeRevocation}}, nil
}

func (m *memSource) Token(ctx context.Context, uri, issuer string) (*TokenStatusList, error) {
	return nil, ErrNotFound
}

func (m *memSource) count(url string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[url]
}

func entryFor(url string) []StatusEntry {
	return []StatusEntry{{Purpose: PurposeRevocation, Index: 7, ListCredential: url}}
}

// TestStatusCacheSingleFlight: concurrent misses for one list share one
// fetch (and one decode); a caller giving up does not fail the others.
func TestStatusCacheSingleFlight(t *testing.T) {
	const u = "https://other.example/status/0000000000000001"
	src := newMemSource(t, u)
	src.gate = make(chan struct{})
	c := NewStatusChecker(src, time.Minute, nil)
	ctx := context.Background()

	// One caller that gives up early.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := c.Check(short, "did:web:other.example", entryFor(u)); !errors.Is(err, ErrStatusUnavailable) {
		t.Fatalf("abandoned wait: %v", err)
	}
	const callers = 8
	errs := make(chan error, callers)
	for range callers {
		go func() { errs <- c.Check(ctx, "did:web:other.example", entryFor(u)) }()
	}
	time.Sleep(100 * time.Millisecond) // let every caller miss
	close(src.gate)
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := src.count(u); got != 1 {
		t.Fatalf("%d fetches for %d concurrent misses", got, callers+1)
	}
}

// TestStatusCacheBounded: the cache holds lists up to its byte bound and
// drops the least recently used first; a list larger than the bound is
// used but not kept.
func TestStatusCacheBounded(t *testing.T) {
	a, b, cc := "https://o.example/status/000000000000000a", "https://o.example/status/000000000000000b", "https://o.example/status/000000000000000c"
	src := newMemSource(t, a, b, cc)
	per := int64(status.MinEntries/8) + 256 + int64(len(PurposeRevocation)) + 16 // listSize
	c := NewStatusCheckerWith(src, StatusCheckerOptions{TTL: time.Minute, MaxCacheBytes: 2 * per})
	ctx := context.Background()
	check := func(u string) {
		t.Helper()
		if err := c.Check(ctx, "did:web:o.example", entryFor(u)); err != nil {
			t.Fatal(err)
		}
	}
	check(a)
	check(b)
	check(a) // a is now the most recently used
	check(cc)
	if got := c.CacheBytes(); got > 2*per {
		t.Fatalf("cache holds %d bytes, bound %d", got, 2*per)
	}
	check(a)
	check(cc)
	if src.count(a) != 1 || src.count(cc) != 1 {
		t.Errorf("recently used lists were evicted: a %d, c %d fetches", src.count(a), src.count(cc))
	}
	check(b)
	if src.count(b) != 2 {
		t.Errorf("least recently used list was kept: b %d fetches", src.count(b))
	}

	small := NewStatusCheckerWith(src, StatusCheckerOptions{MaxCacheBytes: per - 1})
	for range 2 {
		if err := small.Check(ctx, "did:web:o.example", entryFor(a)); err != nil {
			t.Fatal(err)
		}
	}
	if small.CacheBytes() != 0 || src.count(a) != 3 {
		t.Errorf("a list larger than the bound was cached (%d bytes, %d fetches)", small.CacheBytes(), src.count(a))
	}
}

// TestStatusCacheCountsPurposes: a list's statusPurpose values, which
// may be many (BSL v1.0 §2.2), count against the cache's byte bound.
func TestStatusCacheCountsPurposes(t *testing.T) {
	b, err := status.NewBitstring(status.MinEntries)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("p", 100<<10)
	c := NewStatusChecker(oneList{b: b, purposes: []string{long, PurposeRevocation}}, time.Minute, nil)
	if err := c.Check(context.Background(), "did:web:o.example", entryFor("https://o.example/status/000000000000000a")); err != nil {
		t.Fatal(err)
	}
	if got := c.CacheBytes(); got < int64(len(long)+status.MinEntries/8) {
		t.Errorf("cache counts %d bytes for a list with a %d-byte purpose", got, len(long))
	}
}

// TestStatusListNotCachedPastItsValidity: Bitstring Status List v1.0
// §2.2, credentialSubject.ttl: "The value does not override or replace
// the validity period of the BitstringStatusList". A cached list is used
// until its validUntil (or its vc+jwt's exp) at most, whatever the
// checker's TTL, as a Token Status List is until its exp: past it, the
// list is fetched again, here with the credential revoked.
func TestStatusListNotCachedPastItsValidity(t *testing.T) {
	for name, end := range map[string]func(doc map[string]any, at time.Time){
		"validUntil": func(doc map[string]any, at time.Time) { doc["validUntil"] = FormatTime(at) },
		"exp":        func(doc map[string]any, at time.Time) { doc["exp"] = at.Unix() },
	} {
		t.Run(name, func(t *testing.T) {
			served := newServedNode(t)
			n, srv := served.n, served.srv
			ctx := context.Background()
			_, src := remoteVerifier(t, n, served.client, nil)
			const path = "/status/00000000000000ab"
			uri := srv.URL + path
			entry := []StatusEntry{{Purpose: PurposeRevocation, Index: 7, ListCredential: uri}}
			served.serve(path, MediaTypeVCJWT, signListDoc(t, n, uri, func(doc, _ map[string]any) {
				end(doc, n.clock.Now().Add(time.Minute))
			}))
			checker := NewStatusChecker(src, time.Hour, n.clock.Now)
			if err := checker.Check(ctx, n.issuer.DID(), entry); err != nil {
				t.Fatalf("within the list's validity: %v", err)
			}
			revoked := signListDoc(t, n, uri, func(_, s map[string]any) {
				bits, _ := status.NewBitstring(status.MinEntries)
				bits.Set(7, true)
				s["encodedList"] = bits.Encode()
			})
			served.serve(path, MediaTypeVCJWT, revoked)
			n.clock.Advance(30 * time.Second)
			if err := checker.Check(ctx, n.issuer.DID(), entry); err != nil {
				t.Fatalf("the cached list, still valid: %v", err)
			}
			n.clock.Advance(time.Minute) // the cached list is past its end
			if err := checker.Check(ctx, n.issuer.DID(), entry); !errors.Is(err, ErrRevoked) {
				t.Errorf("entry checked against a cached list past its %s: %v, want ErrRevoked (from the current list)", name, err)
			}
		})
	}
}

// tokenListCheck serves, on a node's list server, a Status List Token
// with sub, iat, exp and status_list, changed by claims (a nil value
// leaves the claim out), and reads it as a remote verifier does.
func tokenListCheck(t *testing.T, path string) func(claims map[string]any) (*TokenStatusList, error) {
	served := newServedNode(t)
	n, srv := served.n, served.srv
	_, src := remoteVerifier(t, n, served.client, nil)
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	uri := srv.URL + path
	tl, err := status.NewTokenList(2, 1<<14)
	if err != nil {
		t.Fatal(err)
	}
	return func(changes map[string]any) (*TokenStatusList, error) {
		now := n.clock.Now()
		claims := map[string]any{"sub": uri, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"status_list": map[string]any{"bits": tl.Bits(), "lst": tl.Encode()}}
		for name, v := range changes {
			if v == nil {
				delete(claims, name)
			} else {
				claims[name] = v
			}
		}
		tok, err := jose.Sign(claims, map[string]any{"typ": TypStatusListJWT, "kid": k.Kid}, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		served.serve(path, MediaTypeStatusListJWT, tok)
		return src.Token(context.Background(), uri, srv.URL)
	}
}

// TestStatusListTokenNeedsIat: iat is REQUIRED in a Status List Token
// (Token Status List §5.1) and a Relying Party checks "for the existence
// of the required claims" (§8.3): a token without it, or with one that
// is not a NumericDate, is refused (ErrInvalid); the same token with it
// is taken.
func TestStatusListTokenNeedsIat(t *testing.T) {
	check := tokenListCheck(t, "/status/00000000000000ad")
	if _, err := check(nil); err != nil {
		t.Fatalf("with iat: %v", err)
	}
	for _, iat := range []any{nil, "yesterday"} {
		if _, err := check(map[string]any{"iat": iat}); !errors.Is(err, ErrInvalid) {
			t.Errorf("iat %v: %v, want ErrInvalid", iat, err)
		}
	}
}

// TestStatusListTokenTTL: a Status List Token's ttl, when present, "MUST
// be a positive number" of seconds (Token Status List §5.1, every claim
// present checked by §8.3): 0, a negative number or a string is refused
// (ErrInvalid), not read as no ttl; 300 is five minutes, 0.5 half a
// second.
func TestStatusListTokenTTL(t *testing.T) {
	check := tokenListCheck(t, "/status/00000000000000ae")
	for ttl, want := range map[any]time.Duration{300: 5 * time.Minute, 0.5: time.Second / 2} {
		if got, err := check(map[string]any{"ttl": ttl}); err != nil || got.TTL != want {
			t.Errorf("ttl %v: %v, %v, want %v", ttl, got, err, want)
		}
	}
	for _, ttl := range []any{0, -300, "300"} {
		if _, err := check(map[string]any{"ttl": ttl}); !errors.Is(err, ErrInvalid) {
			t.Errorf("ttl %v: %v, want ErrInvalid", ttl, err)
		}
	}
}
