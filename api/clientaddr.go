package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ErrTrustedProxies is returned by ParseTrustedProxies for a malformed
// list.
var ErrTrustedProxies = errors.New("api: trusted proxies")

// maxForwardedHops bounds how many X-Forwarded-For entries one request
// may make the node walk; a longer chain of trusted hops counts as
// malformed.
const maxForwardedHops = 16

// TrustedProxies are the networks of the load balancers and reverse
// proxies in front of the node. Only a request whose TCP peer is in one
// of them has its client address read from X-Forwarded-For. The zero
// value trusts no one: the client address is the TCP peer's.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads a comma-separated list of CIDRs or single
// addresses ("10.0.0.0/8, 192.0.2.7"); "" is the empty list. An IPv4
// prefix shorter than /8 or an IPv6 one shorter than /32 (0.0.0.0/0,
// 0.0.0.0/1, 2000::/3, ::ffff:0:0/96) is refused: no load balancer fleet
// is that wide, and it would let most clients choose the address they
// are counted by.
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var ps TrustedProxies
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil && a.Zone() != "" {
				err = ErrTrustedProxies
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil || !p.IsValid() {
			return nil, fmt.Errorf("%w: %q is not a CIDR (10.0.0.0/8) or an address", ErrTrustedProxies, f)
		}
		p = p.Masked()
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%w: %q spans more than IPv4-mapped addresses", ErrTrustedProxies, f)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if least := minProxyBits(p.Addr()); p.Bits() < least {
			// Trusting a large share of the Internet (0.0.0.0/1 twice
			// is all of it) would let any client choose the address
			// its rate limits count it by.
			return nil, fmt.Errorf("%w: %q is wider than /%d; name the load balancers' own networks", ErrTrustedProxies, f, least)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// minProxyBits is the shortest prefix accepted for a trusted network of
// a's family: /8 for IPv4, /32 for IPv6.
func minProxyBits(a netip.Addr) int {
	if a.Is4() {
		return 8
	}
	return 32
}

// Contains reports whether a is in one of the networks.
func (t TrustedProxies) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (t TrustedProxies) String() string {
	s := make([]string, len(t))
	for i, p := range t {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// ClientIP is the address a request comes from. Walking from the TCP peer
// back through X-Forwarded-For (all of its header lines, in order, as one
// comma-separated list), it is the first address not in t: each trusted
// proxy appended the address of the hop before it, and what lies further
// left was written by the client and may be forged. When the walk meets
// an entry that is not a plain IP address, more than maxForwardedHops
// entries, or only trusted addresses, it stops at the last address it
// could read, a trusted hop. A peer not in t is the answer whatever the
// headers say.
func (t TrustedProxies) ClientIP(peer netip.Addr, forwardedFor []string) netip.Addr {
	addr := peer.Unmap()
	if len(t) == 0 || !t.Contains(addr) {
		return addr
	}
	hops := 0
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		line := forwardedFor[i]
		for line != "" {
			var f string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				line, f = line[:j], line[j+1:]
			} else {
				line, f = "", line
			}
			f = strings.Trim(f, " \t")
			if f == "" {
				// An empty element (a,,b) is allowed by the list syntax.
				continue
			}
			if hops++; hops > maxForwardedHops {
				return addr
			}
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return addr
			}
			addr = a.Unmap()
			if !t.Contains(addr) {
				return addr
			}
		}
	}
	return addr
}

// peerAddr is the IP of the request's TCP peer.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(peerHost(r))
	return ip.Unmap(), err == nil
}

// peerHost is r.RemoteAddr without its port, if it has one.
func peerHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
