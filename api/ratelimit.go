package api

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/store"
)

// Limiter counts requests against rate limits in the ephemeral store, so
// every instance of a region shares the counts. store.Memory and
// redisstore.Store satisfy it.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration) (store.Decision, error)
}

// RateLimit is one limit: at most Limit requests per Window for each key
// (GCRA: a burst of Limit, then Limit per Window sustained). The zero
// value, or a Limit of zero, disables it.
type RateLimit struct {
	// Name separates the counters of different limits, e.g. "token-addr".
	Name   string
	Limit  int
	Window time.Duration
}

// Enabled reports whether the limit counts anything.
func (rl RateLimit) Enabled() bool { return rl.Limit > 0 && rl.Window > 0 }

func (rl RateLimit) String() string {
	if !rl.Enabled() {
		return "0"
	}
	return strconv.Itoa(rl.Limit) + "/" + rl.Window.String()
}

// ParseRateLimit reads a limit written "N/WINDOW" (e.g. "300/1m", "20/10s")
// or "0" (no limit).
func ParseRateLimit(name, s string) (RateLimit, error) {
	if s == "0" || s == "" {
		return RateLimit{Name: name}, nil
	}
	n, w, ok := strings.Cut(s, "/")
	limit, err1 := strconv.Atoi(n)
	window, err2 := time.ParseDuration(w)
	if !ok || err1 != nil || err2 != nil || limit < 1 || limit > store.MaxLimit || window < store.MinWindow || window > store.MaxWindow {
		return RateLimit{}, fmt.Errorf("rate limit %q: want N/WINDOW such as 300/1m (N from 1, WINDOW from 1ms to 366 days), or 0 for none", s)
	}
	return RateLimit{Name: name, Limit: limit, Window: window}, nil
}

// ClientAddress keys a request by its source address, an IPv6 address by
// its /64 (one host usually holds a whole /64). The source address is the
// TCP peer's, or, when the peer is one of Config.TrustedProxies, the one
// TrustedProxies.ClientIP reads from X-Forwarded-For (resolved once, by
// instrument).
func ClientAddress(r *http.Request) string {
	var ip netip.Addr
	if x, _ := r.Context().Value(requestIDKey).(*exchange); x != nil && x.client.IsValid() {
		ip = x.client
	} else {
		host := peerHost(r)
		peer, err := netip.ParseAddr(host)
		if err != nil {
			return r.RemoteAddr
		}
		if peer.Is4() {
			return host // ParseAddr reads IPv4 only as String writes it
		}
		ip = peer
	}
	var buf [len("ffff:ffff:ffff:ffff::/64")]byte
	return string(appendAddressKey(buf[:0], ip))
}

// AuthenticatedClient keys a request by the client protect authenticated
// ("" before protect, which rateLimit does not count): for limits on
// routes whose callers hold client credentials, where every request may
// come from one address or from many.
func AuthenticatedClient(r *http.Request) string {
	p, _ := PrincipalFrom(r.Context())
	return p.ClientID
}

// clientLimitOr is *l, or def when l is nil, named name: a route's
// configured per-client limit.
func clientLimitOr(l *RateLimit, def RateLimit, name string) RateLimit {
	if l != nil {
		def = *l
	}
	def.Name = name
	return def
}

// appendAddressKey appends ip as ClientAddress counts it: an IPv6
// address by its /64.
func appendAddressKey(b []byte, ip netip.Addr) []byte {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.AppendTo(b)
	}
	return ip.AppendTo(b)
}

// rateLimit wraps h so that each request counts against rl under key(r)
// before h runs; an empty key is not counted. Over the limit, the answer
// is 429 with Retry-After. A nil limiter or a disabled limit passes every
// request through. rateLimit may wrap a protect()ed handler: Routes still
// lists the route with its scope.
func (s *Server) rateLimit(l Limiter, rl RateLimit, key func(*http.Request) string, h http.Handler) http.Handler {
	if l == nil || !rl.Enabled() {
		return h
	}
	return &limited{s: s, l: l, rl: rl, key: key, h: h}
}

// rateLimitPage is rateLimit for a page a browser navigates to: a
// refusal (429 with Retry-After, or 503) is answered by fail.
func (s *Server) rateLimitPage(l Limiter, rl RateLimit, key func(*http.Request) string, h http.Handler, fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	if x, ok := s.rateLimit(l, rl, key, h).(*limited); ok {
		x.fail = fail
		return x
	}
	return h
}

type limited struct {
	s   *Server
	l   Limiter
	rl  RateLimit
	key func(*http.Request) string
	h   http.Handler
	// fail answers a refusal; nil: writeError.
	fail func(http.ResponseWriter, *http.Request, error)
}

func (x *limited) Unwrap() http.Handler { return x.h }

func (x *limited) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := x.s.checkRate(w, r, x.l, x.rl, x.key(r)); err != nil {
		if x.fail != nil {
			x.fail(w, r, err)
			return
		}
		writeError(w, r, x.s.log, err)
		return
	}
	x.h.ServeHTTP(w, r)
}

// checkRate counts one request for key against rl, for limits that need
// something known only inside a handler (such as the authenticated
// client). It returns nil when allowed; when denied it sets Retry-After
// (whole seconds, rounded up) on w and returns a 429 rate_limited error. A
// failing store gives 503: limits fail closed.
func (s *Server) checkRate(w http.ResponseWriter, r *http.Request, l Limiter, rl RateLimit, key string) error {
	if l == nil || !rl.Enabled() || key == "" {
		return nil
	}
	d, err := l.Allow(r.Context(), "ratelimit:"+rl.Name+":"+key, rl.Limit, rl.Window)
	if err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "rate limiter unavailable", Err: err}
	}
	if d.Allowed {
		return nil
	}
	secs := int64((d.RetryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
		Message: fmt.Sprintf("too many requests (limit %s); retry after %d s", rl, secs), RetryAfter: secs}
}

// checkShare counts one request of a key's share of a limit shared by
// many keys: against floor under own first, which passes it while that
// key is within its floor; beyond, against shared under sharedKey, as
// checkRate (429 with Retry-After over it). A floor refusal is no
// answer: the request falls to the shared limit. A disabled floor
// sends every request to the shared limit.
func (s *Server) checkShare(w http.ResponseWriter, r *http.Request, l Limiter, floor RateLimit, own string, shared RateLimit, sharedKey string) error {
	if l != nil && floor.Enabled() && own != "" {
		d, err := l.Allow(r.Context(), "ratelimit:"+floor.Name+":"+own, floor.Limit, floor.Window)
		if err != nil {
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "rate limiter unavailable", Err: err}
		}
		if d.Allowed {
			return nil
		}
	}
	return s.checkRate(w, r, l, shared, sharedKey)
}
