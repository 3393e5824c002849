package redeem

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
)

// Defaults of PeerJWKS.
const (
	// DefaultPeerKeysTTL is how long fetched peer keys are used before they
	// are fetched again.
	DefaultPeerKeysTTL = time.Minute
	// DefaultPeerKeysRetry is how long a failed fetch is remembered: no
	// new fetch is made before it has passed (the last good keys, if any,
	// are used meanwhile).
	DefaultPeerKeysRetry = 15 * time.Second
	// maxPeerJWKS bounds a peer's JWKS.
	maxPeerJWKS = 256 << 10
)

// PeerJWKS is an IssuerKeySource of a peer node's published keys, fetched
// from its JWKS URL. Fetched keys are used for TTL; a failed fetch is
// remembered for Retry, during which no request fetches again. Callers
// never wait behind one another's network call: one fetch runs at a time,
// callers with keys at hand (even stale ones) use them at once, and the
// others wait only for that one fetch (or their context). Redirects are
// never followed. Safe for concurrent use.
type PeerJWKS struct {
	// URL is the peer's JWKS, e.g. https://node.example/.well-known/jwks.json.
	URL string
	// Client fetches it; nil means one with a 5 s timeout. Its redirect
	// policy is replaced by one that refuses redirects.
	Client *http.Client
	// TTL and Retry: zero means DefaultPeerKeysTTL and DefaultPeerKeysRetry.
	TTL, Retry time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	keys     []qrcode.IssuerKey
	fetched  time.Time
	failed   time.Time
	failErr  error
	inflight chan struct{} // closed when the running fetch ends
}

// IssuerKeys implements IssuerKeySource.
func (p *PeerJWKS) IssuerKeys(ctx context.Context) ([]qrcode.IssuerKey, error) {
	for {
		p.mu.Lock()
		now := p.now()
		switch {
		case p.keys != nil && now.Sub(p.fetched) < p.ttl():
			keys := p.keys
			p.mu.Unlock()
			return keys, nil
		case p.failErr != nil && now.Sub(p.failed) < p.retry():
			keys, err := p.keys, p.failErr
			p.mu.Unlock()
			if keys != nil {
				return keys, nil
			}
			return nil, err
		case p.inflight != nil:
			keys, ch := p.keys, p.inflight
			p.mu.Unlock()
			if keys != nil {
				return keys, nil
			}
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ch := make(chan struct{})
		p.inflight = ch
		p.mu.Unlock()

		// The fetch outlives a caller that gives up: others may wait for it.
		keys, err := p.fetch(context.WithoutCancel(ctx))
		p.mu.Lock()
		p.inflight = nil
		if err != nil {
			p.failed, p.failErr = p.now(), err
		} else {
			p.keys, p.fetched, p.failErr = keys, p.now(), nil
		}
		stale := p.keys
		p.mu.Unlock()
		close(ch)
		if err != nil {
			if stale != nil {
				return stale, nil
			}
			return nil, err
		}
		return keys, nil
	}
}

func (p *PeerJWKS) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *PeerJWKS) ttl() time.Duration {
	if p.TTL > 0 {
		return p.TTL
	}
	return DefaultPeerKeysTTL
}

func (p *PeerJWKS) retry() time.Duration {
	if p.Retry > 0 {
		return p.Retry
	}
	return DefaultPeerKeysRetry
}

func (p *PeerJWKS) fetch(ctx context.Context) ([]qrcode.IssuerKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("peer keys: %w", err)
	}
	resp, err := noRedirects(p.Client).Do(req)
	if err != nil {
		return nil, fmt.Errorf("peer keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("peer keys %s: status %d", p.URL, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerJWKS+1))
	if err != nil {
		return nil, fmt.Errorf("peer keys: %w", err)
	}
	if len(data) > maxPeerJWKS {
		return nil, fmt.Errorf("peer keys %s: over %d bytes", p.URL, maxPeerJWKS)
	}
	set, err := gm.ParseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("peer keys %s: %w", p.URL, err)
	}
	keys := make([]qrcode.IssuerKey, 0, len(set.Keys))
	for _, j := range set.Keys {
		pub, err := j.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("peer keys %s: %w", p.URL, err)
		}
		keys = append(keys, qrcode.IssuerKey{Kid: j.Kid, Public: pub})
	}
	return keys, nil
}

var defaultPeerClient = &http.Client{Timeout: 5 * time.Second}

// noRedirects returns a copy of c (or of the default client) that does
// not follow redirects: the 3xx answer itself is returned.
func noRedirects(c *http.Client) *http.Client {
	if c == nil {
		c = defaultPeerClient
	}
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}
