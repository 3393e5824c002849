package credentials

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrAddressNotAllowed: a remote fetch (a did:web document, issuer
// metadata, a status list) was refused because its host resolves to an
// address a verifier must not reach on behalf of whoever sent the
// credential: loopback, private (RFC 1918, unique local), link-local,
// shared (CGNAT), unspecified, multicast or otherwise reserved. It is
// wrapped in ErrResolve or ErrStatusUnavailable.
var ErrAddressNotAllowed = errors.New("credentials: address not allowed for remote fetches")

// Remote fetch limits.
const (
	// DefaultFetchTimeout bounds one remote fetch, from dialling to the
	// last byte of the body.
	DefaultFetchTimeout = 5 * time.Second
	// maxFetchHeader bounds the response headers of a remote fetch.
	maxFetchHeader = 16 << 10
)

// FetchOptions configures NewFetchClient. The zero value reaches public
// addresses only, with DefaultFetchTimeout.
type FetchOptions struct {
	// AllowHost, when set, is asked about the host of every connection
	// (a DNS name in lower case without a trailing dot, or an IP
	// literal, without the port). When it returns true the host is
	// dialled whatever addresses it resolves to: for test servers on
	// 127.0.0.1 and for registry hosts in the operator's own network.
	// Every other host must resolve to public addresses only. AllowHosts
	// builds one from a list.
	AllowHost func(host string) bool
	// Timeout bounds one fetch (default DefaultFetchTimeout).
	Timeout time.Duration
	// LoopbackHTTP allows plain http to a loopback host (localhost,
	// 127.0.0.0/8, ::1): nodes developed on one machine. Every other URL
	// must be https. The host must still be allowed (AllowHost).
	LoopbackHTTP bool
}

// AllowHosts returns an AllowHost function that permits exactly the
// given hosts (DNS names, compared case-insensitively, or IP literals).
func AllowHosts(hosts ...string) func(string) bool {
	set := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		set[normalizeHost(h)] = true
	}
	return func(host string) bool { return set[normalizeHost(host)] }
}

func normalizeHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return h
}

// NewFetchClient returns the HTTP client remote resolution uses: it dials
// only public addresses (checked on the resolved address of every
// connection, after DNS, so a name that resolves to 127.0.0.1 is refused
// too) unless opts.AllowHost permits the host, follows no redirect, uses
// no proxy (a proxy would hide the address), and bounds the time and the
// response headers. base supplies the TLS settings (e.g. the root CAs of
// a test server's client); nil means the defaults. A base whose
// transport is not an *http.Transport (or has its own dial functions)
// cannot be guarded and is an error.
func NewFetchClient(base *http.Client, opts FetchOptions) (*http.Client, error) {
	var tr *http.Transport
	switch t := transportOf(base).(type) {
	case nil:
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			tr = t.Clone()
		} else { // replaced by the program (a test's recording transport)
			tr = &http.Transport{ForceAttemptHTTP2: true, MaxIdleConns: 100, IdleConnTimeout: 90 * time.Second}
		}
	case *http.Transport:
		if t.DialTLSContext != nil || t.DialTLS != nil {
			return nil, errors.New("credentials: fetch client: the base transport dials TLS itself and cannot be guarded")
		}
		tr = t.Clone()
	case *guardedTransport:
		tr = t.base.Clone()
		opts.LoopbackHTTP = opts.LoopbackHTTP || t.loopbackHTTP
	default:
		return nil, fmt.Errorf("credentials: fetch client: a %T transport cannot be guarded; give an *http.Transport", t)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	tr.Proxy = nil
	tr.Dial = nil
	tr.DialContext = guardedDial(opts.AllowHost, timeout)
	tr.MaxResponseHeaderBytes = maxFetchHeader
	tr.ResponseHeaderTimeout = timeout
	if tr.TLSHandshakeTimeout <= 0 || tr.TLSHandshakeTimeout > timeout {
		tr.TLSHandshakeTimeout = timeout
	}
	return &http.Client{Transport: &guardedTransport{base: tr, loopbackHTTP: opts.LoopbackHTTP}, CheckRedirect: refuseRedirect, Timeout: timeout}, nil
}

func transportOf(c *http.Client) http.RoundTripper {
	if c == nil {
		return nil
	}
	return c.Transport
}

// guardedTransport marks a transport built by NewFetchClient.
type guardedTransport struct {
	base         *http.Transport
	loopbackHTTP bool
}

func (g *guardedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" && !(g.loopbackHTTP && r.URL.Scheme == "http" && loopbackHost(r.URL.Hostname())) {
		return nil, fmt.Errorf("%w: only https URLs are fetched", ErrResolve)
	}
	return g.base.RoundTrip(r)
}

// loopbackHost reports whether host (without port) is localhost or a
// loopback address.
func loopbackHost(host string) bool {
	h := normalizeHost(host)
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// schemeAllowed reports whether client may fetch rawURL: https, or http
// to a loopback host with a client built with LoopbackHTTP.
func schemeAllowed(client *http.Client, rawURL string) bool {
	if strings.HasPrefix(rawURL, "https://") {
		return true
	}
	if client == nil || !strings.HasPrefix(rawURL, "http://") {
		return false
	}
	g, ok := client.Transport.(*guardedTransport)
	if !ok || !g.loopbackHTTP {
		return false
	}
	u, err := url.Parse(rawURL)
	return err == nil && loopbackHost(u.Hostname())
}

// ErrRedirect is wrapped in the ErrResolve of a fetch the server
// answered with a redirect: redirects are never followed, wherever they
// point (a public host redirecting to a private address included).
var ErrRedirect = errors.New("credentials: redirects are not followed")

// ErrMediaTypeNotServed is wrapped in the ErrResolve of a fetch the server
// answered with 406 Not Acceptable or 415 Unsupported Media Type, or with
// a content type other than the one asked for: it does not serve the
// document in that form.
var ErrMediaTypeNotServed = errors.New("credentials: media type not served")

func refuseRedirect(*http.Request, []*http.Request) error { return ErrRedirect }

// guardedDial dials allowed hosts as they are and every other host with
// a Control hook that refuses non-public addresses.
func guardedDial(allow func(string) bool, timeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	open := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	guarded := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: refuseInternal}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if allow != nil && allow(normalizeHost(host)) {
			return open.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}

// refuseInternal runs for every address the dialler is about to connect
// to, after name resolution.
func refuseInternal(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrAddressNotAllowed, network)
	}
	if !PublicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrAddressNotAllowed, ap.Addr())
	}
	return nil
}

// reserved are special-purpose prefixes (IANA registries) that
// netip.Addr's predicates do not cover.
var reserved = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // shared address space (CGNAT)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, and broadcast
		"::/96",           // IPv4-compatible (deprecated)
		"64:ff9b::/96",    // NAT64: would reach any IPv4 address
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard
		"2001::/23",       // IETF protocol assignments (Teredo, ...)
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4: embeds any IPv4 address
		"fec0::/10",       // site-local (deprecated)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// PublicAddr reports whether a remote fetch may connect to ip: a global
// unicast address outside the loopback, private (10/8, 172.16/12,
// 192.168/16, fc00::/7), link-local, shared (100.64/10), multicast,
// unspecified and other special-purpose ranges.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.Zone() != "" || !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Clients given to Resolver or HTTPStatusSource that were not built by
// NewFetchClient are guarded on first use; the guarded copies are kept
// per client, up to maxGuardedClients (beyond that they are built per
// fetch, without connection reuse).
const maxGuardedClients = 64

var (
	guardedMu      sync.Mutex
	guardedClients = map[*http.Client]*http.Client{}
	defaultFetch   = sync.OnceValues(func() (*http.Client, error) { return NewFetchClient(nil, FetchOptions{}) })
)

// fetchClient returns the guarded client to fetch with: c itself when
// NewFetchClient built it (with redirects refused whatever its
// CheckRedirect says), else a guarded copy of c with no allowed hosts.
func fetchClient(c *http.Client) (*http.Client, error) {
	if c == nil {
		return defaultFetch()
	}
	if _, ok := c.Transport.(*guardedTransport); ok {
		cc := *c
		cc.CheckRedirect = refuseRedirect
		if cc.Timeout <= 0 {
			cc.Timeout = DefaultFetchTimeout
		}
		return &cc, nil
	}
	guardedMu.Lock()
	defer guardedMu.Unlock()
	if g, ok := guardedClients[c]; ok {
		return g, nil
	}
	g, err := NewFetchClient(c, FetchOptions{Timeout: c.Timeout})
	if err != nil {
		return nil, err
	}
	if len(guardedClients) < maxGuardedClients {
		guardedClients[c] = g
	}
	return g, nil
}
