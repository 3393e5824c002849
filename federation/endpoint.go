package federation

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials"
)

// ErrEndpointRefused: a region's registered endpoint (or a configured
// peer URL) that this node will not call: not https in production, plain
// http off loopback in development, or not a plain base URL. Nothing is
// sent to it.
var ErrEndpointRefused = errors.New("federation: the region's endpoint may not be called from this node")

// Two modes decide which endpoints of other regions a node calls; the
// registry names them, and a region administrator can register anything.
//
//   - Production (the default): https only, and the connection goes only
//     to public addresses, checked on every resolved address just before
//     the dial (PeerClient), so neither an IP literal nor a name that
//     resolves (or re-resolves) to loopback, private, link-local or other
//     special-purpose addresses reaches the node's own network, except
//     hosts the operator names (PeerClientOptions.InternalHost).
//   - Loopback development: the node's own public URL is plain http on a
//     loopback host and it listens on loopback (DevelopmentMode), i.e.
//     every node runs on one machine. Plain http is then accepted to
//     loopback hosts only, and any address is dialled.

// DevelopmentMode reports whether a node whose public base URL is issuer
// and whose listener is bound to listen (host:port) is in loopback
// development mode: issuer is http:// on localhost or a loopback address,
// and listen is a loopback address.
func DevelopmentMode(issuer, listen string) bool {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "http" || !loopbackHost(u.Hostname()) {
		return false
	}
	ap, err := netip.ParseAddrPort(listen)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// CheckEndpoint accepts base, another region's node base URL, for a call
// from a node in production (development false: https only) or loopback
// development mode (https, or http to a loopback host). The URL must be
// a base URL as the contract takes one (chaincode.BaseURL):
// scheme://host[:port][/path] with nothing else, not even an empty query
// or fragment ("?", "#"), which would turn the path a call appends into a
// query, or drop it, and send the call to the endpoint's own path. Errors
// match ErrEndpointRefused.
func CheckEndpoint(base string, development bool) error {
	u, err := chaincode.BaseURL(base)
	if err != nil {
		return fmt.Errorf("%w: not a base URL", ErrEndpointRefused)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && development && loopbackHost(u.Hostname()):
		return nil
	case u.Scheme == "http" && development:
		return fmt.Errorf("%w: plain http is called only on loopback; use https", ErrEndpointRefused)
	case u.Scheme == "http":
		return fmt.Errorf("%w: plain http is called only in loopback development mode; use https", ErrEndpointRefused)
	}
	return fmt.Errorf("%w: scheme %.16q; use https", ErrEndpointRefused, u.Scheme)
}

// PeerClientOptions configures PeerClient. The zero value is production
// mode with credentials.DefaultFetchTimeout.
type PeerClientOptions struct {
	// Development is loopback development mode (DevelopmentMode).
	Development bool
	// InternalHost, in production, names the hosts the operator allows to
	// resolve to non-public addresses (other regions' nodes on a private
	// network); nil allows none. credentials.AllowHosts builds one.
	InternalHost func(host string) bool
	// Timeout bounds one call (default credentials.DefaultFetchTimeout).
	Timeout time.Duration
}

// PeerClient returns the HTTP client of every call to another region's
// node (redemption, introspection, status lists): built by
// credentials.NewFetchClient, so it follows no redirect, uses no proxy,
// and checks every address after name resolution, at the dial (so DNS
// rebinding does not get past it); a refused address is an error
// matching credentials.ErrAddressNotAllowed. In development mode it
// dials any address and sends plain http to loopback hosts.
func PeerClient(opts PeerClientOptions) (*http.Client, error) {
	fo := credentials.FetchOptions{AllowHost: opts.InternalHost, Timeout: opts.Timeout}
	if opts.Development {
		fo.AllowHost, fo.LoopbackHTTP = func(string) bool { return true }, true
	}
	return credentials.NewFetchClient(nil, fo)
}
