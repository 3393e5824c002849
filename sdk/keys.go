package sdk

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
)

// Errors of key fetching.
var (
	// ErrKeysUnavailable: the key set could not be fetched and no fresh
	// copy is cached (verification fails closed).
	ErrKeysUnavailable = errors.New("sdk: issuer keys unavailable")
	// ErrUnknownKey: the fresh key set has no key with the kid.
	ErrUnknownKey = errors.New("sdk: unknown key")
	// ErrInsecureURL: a URL the SDK does not call, configured or
	// discovered: not https, plain http to a host other than localhost
	// or a loopback address (a node under test), one with user
	// information, or a base URL with a query or fragment. Over plain
	// http anyone on the path could answer for the node (its keys, its
	// status lists: "not revoked") or read what is sent to it (access
	// tokens, QR codes). Nothing is sent to it.
	ErrInsecureURL = errors.New("sdk: not an https URL (plain http only to loopback)")
)

// Defaults of KeySet.
const (
	DefaultKeyTTL     = 5 * time.Minute
	DefaultMinRefresh = 30 * time.Second
	maxBody           = 1 << 20
)

// KeySet is a cached JSON Web Key Set fetched from URL (a node's
// /.well-known/jwks.json). A fetched set is used for TTL; after that it is
// fetched again, and when that fails the set is unavailable (fail closed:
// keys a node retired must stop verifying). A kid the cached set lacks
// triggers a refetch, at most once per MinRefresh. A fetch is shared by
// the callers that need it and runs apart from them: a kid of the fresh
// set never waits for it, and a caller whose context ends stops waiting
// without ending the fetch (it gives up after keyFetchTimeout). It
// implements qrcode.IssuerKeySource. Safe for concurrent use; set the
// fields before first use.
type KeySet struct {
	// URL is the JWKS URL. Required.
	URL string
	// Client fetches it; nil means a client with a 10 s timeout.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TTL is how long a fetched set is used (default DefaultKeyTTL).
	TTL time.Duration
	// MinRefresh is the least time between two fetches (default
	// DefaultMinRefresh).
	MinRefresh time.Duration

	mu       sync.Mutex
	keys     map[string]crypto.PublicKey
	fetched  time.Time // when keys was fetched (zero: never)
	tried    time.Time // last fetch attempt
	fetches  int
	inflight chan struct{} // closed when the fetch in progress ends
	err      error         // the last fetch's failure
}

var _ qrcode.IssuerKeySource = (*KeySet)(nil)

// keyFetchTimeout bounds a fetch, which no caller's cancellation stops.
const keyFetchTimeout = 30 * time.Second

var defaultClient = &http.Client{Timeout: 10 * time.Second}

func clientOr(c *http.Client) *http.Client {
	if c == nil {
		return defaultClient
	}
	return c
}

func nowOr(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

func durOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Key returns the public key with kid, refetching the set when it is
// stale or lacks kid (at most once per MinRefresh).
func (k *KeySet) Key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	if err := k.refresh(ctx, kid); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if pub, ok := k.keys[kid]; ok {
		return pub, nil
	}
	return nil, fmt.Errorf("%w: %.16s", ErrUnknownKey, kid)
}

// IssuerKeys implements qrcode.IssuerKeySource: every key of a fresh set.
// The qrcode verifier calls it for a kid it does not know, so it refetches
// (at most once per MinRefresh).
func (k *KeySet) IssuerKeys(ctx context.Context) ([]qrcode.IssuerKey, error) {
	if err := k.refresh(ctx, ""); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]qrcode.IssuerKey, 0, len(k.keys))
	for kid, pub := range k.keys {
		out = append(out, qrcode.IssuerKey{Kid: kid, Public: pub})
	}
	return out, nil
}

// refresh fetches the set when it is stale, or when it lacks kid ("" for
// any reason to look again), at most once per MinRefresh, or waits for
// the fetch in progress. It fails only when no fresh set is left, or when
// ctx ends first.
func (k *KeySet) refresh(ctx context.Context, kid string) error {
	k.mu.Lock()
	now := nowOr(k.Now)()
	if _, ok := k.keys[kid]; ok && k.fresh(now) {
		k.mu.Unlock()
		return nil
	}
	done := k.inflight
	if done == nil {
		if !k.tried.IsZero() && now.Sub(k.tried) < durOr(k.MinRefresh, DefaultMinRefresh) {
			defer k.mu.Unlock()
			if !k.fresh(now) {
				return fmt.Errorf("%w: the cached set is stale and was fetched less than MinRefresh ago", ErrKeysUnavailable)
			}
			return nil
		}
		done = make(chan struct{})
		k.inflight, k.tried = done, now
		k.fetches++
		go k.fetch(context.WithoutCancel(ctx), now, done)
	}
	k.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrKeysUnavailable, ctx.Err())
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.fresh(now) {
		if k.err != nil {
			return k.err
		}
		return fmt.Errorf("%w: the cached set is stale", ErrKeysUnavailable)
	}
	return nil
}

// fresh reports whether the cached set is within its TTL at now; k.mu is
// held.
func (k *KeySet) fresh(now time.Time) bool {
	return !k.fetched.IsZero() && now.Before(k.fetched.Add(durOr(k.TTL, DefaultKeyTTL)))
}

// Fetches reports how many times the set was fetched (for monitoring).
func (k *KeySet) Fetches() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetches
}

// fetch loads the set, records the outcome and closes done.
func (k *KeySet) fetch(ctx context.Context, now time.Time, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, keyFetchTimeout)
	defer cancel()
	keys, err := k.load(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil {
		k.keys, k.fetched = keys, now
	}
	k.err, k.inflight = err, nil
	close(done)
}

// load fetches and parses the set.
func (k *KeySet) load(ctx context.Context) (map[string]crypto.PublicKey, error) {
	body, err := get(ctx, k.Client, k.URL, "application/json")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	set, err := gm.ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	keys := make(map[string]crypto.PublicKey, len(set.Keys))
	for _, j := range set.Keys {
		pub, err := j.PublicKey()
		if errors.Is(err, gm.ErrJWKUse) {
			// An encryption key (use "enc", or key_ops without "verify":
			// RFC 7517 §4.2, §4.3) verifies nothing: its kid is unknown.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
		}
		kid := j.Kid
		if kid == "" {
			if kid, err = j.Thumbprint(); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
			}
		}
		keys[kid] = pub
	}
	return keys, nil
}

// get fetches url with accept, following no redirect, and returns the
// body of a 200 answer (at most 1 MiB).
func get(ctx context.Context, c *http.Client, url, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	return do(c, req, http.StatusOK)
}

// do sends req and returns the body of an answer with status want; any
// other answer is a *NodeError. Redirects are not followed, and nothing
// is sent to a URL checkURL refuses.
func do(c *http.Client, req *http.Request, want int) ([]byte, error) {
	if err := checkURL(req.URL); err != nil {
		return nil, err
	}
	cl := *clientOr(c)
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("sdk: %s: answer larger than %d bytes", req.URL.Redacted(), maxBody)
	}
	if resp.StatusCode != want {
		return nil, nodeError(resp, body)
	}
	return body, nil
}

// checkURL accepts u if it is https, or http to localhost or a loopback
// address, without user information; errors match ErrInsecureURL.
func checkURL(u *url.URL) error {
	host := u.Hostname()
	switch {
	case host == "" || u.User != nil:
		return fmt.Errorf("%w: %.80q has no host or has user information", ErrInsecureURL, u.Redacted())
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopbackHost(host):
		return nil
	}
	return fmt.Errorf("%w: %.80q", ErrInsecureURL, u.Redacted())
}

// checkBase checks a configured base URL: checkURL's rules, and nothing
// but scheme://host[:port][/path], since a query or fragment would take
// in the paths the SDK appends.
func checkBase(base string) error {
	u, err := url.Parse(base)
	if err != nil || u.Opaque != "" || strings.ContainsAny(base, "?#") {
		return fmt.Errorf("%w: %.80q is not a base URL", ErrInsecureURL, base)
	}
	return checkURL(u)
}

// loopbackHost reports whether host (without port) is localhost or a
// loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// trimBase normalizes a node base URL.
func trimBase(s string) string { return strings.TrimSuffix(s, "/") }
