package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/store"
)

func mustProxies(t testing.TB, s string) TrustedProxies {
	t.Helper()
	p, err := ParseTrustedProxies(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseTrustedProxies(t *testing.T) {
	p := mustProxies(t, " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::ffff:172.16.0.0/108,10.1.2.3/8,")
	if got, want := p.String(), "10.0.0.0/8,192.0.2.7/32,2001:db8::/32,172.16.0.0/12,10.0.0.0/8"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if p, err := ParseTrustedProxies(""); err != nil || len(p) != 0 {
		t.Errorf("empty: %v %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "10.0.0", "fe80::1%eth0", "fe80::%eth0/64", "example.com", "10.0.0.0/8;", "10.0.0.1:80",
		"0.0.0.0/0", "::/0", "::ffff:0:0/96", "10.0.0.0/8, 1.2.3.4/0"} {
		if _, err := ParseTrustedProxies(bad); !errors.Is(err, ErrTrustedProxies) {
			t.Errorf("ParseTrustedProxies(%q): %v", bad, err)
		}
	}
	// Wider than any load balancer fleet: refused, naming the entry.
	for _, wide := range []string{"0.0.0.0/1", "10.0.0.0/8,128.0.0.0/1", "8.0.0.0/7", "2000::/3", "2001::/31", "::ffff:10.0.0.0/103"} {
		_, err := ParseTrustedProxies(wide)
		entry := wide[strings.LastIndexByte(wide, ',')+1:]
		if !errors.Is(err, ErrTrustedProxies) || !strings.Contains(err.Error(), `"`+entry+`"`) {
			t.Errorf("ParseTrustedProxies(%q): %v", wide, err)
		}
	}
	if p := mustProxies(t, "10.0.0.0/8,2001:db8::/32,::ffff:10.0.0.0/104"); len(p) != 3 {
		t.Errorf("narrowest accepted prefixes: %v", p)
	}
	if !p.Contains(netip.MustParseAddr("::ffff:10.9.9.9")) || p.Contains(netip.MustParseAddr("11.0.0.1")) {
		t.Error("Contains")
	}
}

func TestClientIP(t *testing.T) {
	trusted := mustProxies(t, "10.0.0.0/8,2001:db8:ffff::/48")
	lb := netip.MustParseAddr("10.0.0.5")
	for _, c := range []struct {
		name string
		peer netip.Addr
		xff  []string
		want string
	}{
		{"untrusted peer, forged header", netip.MustParseAddr("198.51.100.1"), []string{"203.0.113.9"}, "198.51.100.1"},
		{"untrusted mapped peer", netip.MustParseAddr("::ffff:198.51.100.1"), []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer, no header", lb, nil, "10.0.0.5"},
		{"one hop", lb, []string{"203.0.113.9"}, "203.0.113.9"},
		{"rightmost untrusted wins over forged left", lb, []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"several lines are one list", lb, []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},
		{"trusted hops skipped", lb, []string{"1.1.1.1, 203.0.113.9, 10.2.2.2", "10.3.3.3"}, "203.0.113.9"},
		{"IPv6 client", lb, []string{"2001:db8:1::7"}, "2001:db8:1::7"},
		{"IPv6 trusted hop", lb, []string{"203.0.113.9,2001:db8:ffff::1"}, "203.0.113.9"},
		{"mapped client", lb, []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"empty elements", lb, []string{" ,203.0.113.9,, ", ""}, "203.0.113.9"},
		{"all trusted", lb, []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"malformed rightmost", lb, []string{"203.0.113.9, nonsense"}, "10.0.0.5"},
		{"malformed after a trusted hop", lb, []string{"nonsense, 10.2.2.2"}, "10.2.2.2"},
		{"malformed left of the client is not read", lb, []string{"nonsense, 203.0.113.9"}, "203.0.113.9"},
		{"port is malformed", lb, []string{"203.0.113.9:4000"}, "10.0.0.5"},
		{"bracketed is malformed", lb, []string{"[2001:db8:1::7]"}, "10.0.0.5"},
		{"zone is malformed", lb, []string{"fe80::1%eth0"}, "10.0.0.5"},
		{"Forwarded syntax is malformed", lb, []string{"for=203.0.113.9"}, "10.0.0.5"},
		{"too many trusted hops", lb, []string{"203.0.113.9," + strings.Repeat("10.9.9.9,", maxForwardedHops+1)}, "10.9.9.9"},
	} {
		if got := trusted.ClientIP(c.peer, c.xff); got.String() != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
	// No trusted proxies: the peer, always.
	if got := TrustedProxies(nil).ClientIP(lb, []string{"203.0.113.9"}); got != lb {
		t.Errorf("no proxies: %s", got)
	}
}

// TestClientAddressBehindProxy: the server resolves the address once per
// request, so a per-address limit counts two clients behind one trusted
// balancer apart, and a forged header from elsewhere changes nothing.
func TestClientAddressBehindProxy(t *testing.T) {
	for _, proxies := range []TrustedProxies{nil, mustProxies(t, "10.0.0.0/8")} {
		s := New(Config{TrustedProxies: proxies})
		mem, err := store.NewMemory(store.MemoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mem.Close() })
		lim, _ := ParseRateLimit("test", "1/1h")
		s.handle("GET /v1/limited", s.rateLimit(mem, lim, ClientAddress, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(ClientAddress(r)))
		})))
		get := func(peer, xff string) (int, string) {
			r := httptest.NewRequest("GET", "/v1/limited", nil)
			r.RemoteAddr = peer
			if xff != "" {
				r.Header.Set("X-Forwarded-For", xff)
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			return w.Code, w.Body.String()
		}
		behind := len(proxies) > 0
		code, body := get("10.0.0.5:1000", "203.0.113.1")
		if want := map[bool]string{true: "203.0.113.1", false: "10.0.0.5"}[behind]; code != 200 || body != want {
			t.Errorf("proxies %v: first client: %d %q, want %q", proxies, code, body, want)
		}
		// A second client behind the balancer: its own limit when the
		// balancer is trusted, the balancer's (spent) otherwise.
		code, _ = get("10.0.0.5:1001", "203.0.113.2")
		if want := map[bool]int{true: 200, false: 429}[behind]; code != want {
			t.Errorf("proxies %v: second client: %d, want %d", proxies, code, want)
		}
		// The first client again: limited either way.
		if code, _ = get("10.0.0.5:1002", "203.0.113.1"); code != 429 {
			t.Errorf("proxies %v: first client again: %d", proxies, code)
		}
		// An untrusted peer forging the header is counted by its own address.
		if code, body = get("198.51.100.1:1", "203.0.113.2"); code != 200 || body != "198.51.100.1" {
			t.Errorf("proxies %v: forged: %d %q", proxies, code, body)
		}
		if code, _ = get("198.51.100.1:2", "203.0.113.3"); code != 429 {
			t.Errorf("proxies %v: forged again: %d", proxies, code)
		}
	}
}

func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"", "203.0.113.9", "1.1.1.1, 203.0.113.9", "10.0.0.1,,", " , ", "2001:db8::1", "[::1]:80",
		"fe80::1%eth0", "::ffff:10.0.0.1", "for=192.0.2.1", "10.1.1.1,10.2.2.2,10.3.3.3", "\x00,\xff", "1.2.3.4\t, 10.0.0.9"} {
		f.Add(s, "10.0.0.9")
	}
	trusted := TrustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	lb := netip.MustParseAddr("10.0.0.5")
	s := New(Config{TrustedProxies: trusted})
	s.handle("GET /addr", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(ClientAddress(r))) }))
	f.Fuzz(func(t *testing.T, a, b string) {
		got := trusted.ClientIP(lb, []string{a, b})
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("ClientIP(%q, %q) = %v", a, b, got)
		}
		// The answer is the peer or an address the headers name.
		named := got == lb
		for _, e := range strings.Split(a+","+b, ",") {
			if ip, err := netip.ParseAddr(strings.Trim(e, " \t")); err == nil && ip.Unmap() == got {
				named = true
			}
		}
		if !named {
			t.Fatalf("ClientIP(%q, %q) = %v, named nowhere", a, b, got)
		}
		// An untrusted peer is never overridden.
		peer := netip.MustParseAddr("198.51.100.1")
		if got := trusted.ClientIP(peer, []string{a, b}); got != peer {
			t.Fatalf("untrusted peer overridden by %q, %q: %v", a, b, got)
		}
		// Through the server: never a panic, and the key of the address
		// ClientIP resolved (an IPv6 address by its /64).
		want := got.String()
		if got.Is6() {
			want = netip.PrefixFrom(got, 64).Masked().String()
		}
		r := httptest.NewRequest("GET", "/addr", nil)
		r.RemoteAddr = "10.0.0.5:80"
		r.Header["X-Forwarded-For"] = []string{a, b}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != 200 || w.Body.String() != want {
			t.Fatalf("%d, key %q, want %q", w.Code, w.Body, want)
		}
	})
}

// FuzzClientAddressPeer holds ClientAddress, which returns an IPv4 peer's
// address as RemoteAddr has it, to the address formatted anew as it was
// before (clientAddressOracle), for any RemoteAddr.
func FuzzClientAddressPeer(f *testing.F) {
	for _, s := range []string{"192.0.2.1:1234", "192.0.2.1", "[::1]:80", "[::ffff:192.0.2.1]:80", "::ffff:192.0.2.1",
		"1.02.3.4:5", "01.2.3.4:5", "1.2.3.4.5:6", "256.1.1.1:1", "[fe80::1%eth0]:80", "2001:db8::1", "", "@", "1.2.3.4:", ":80", "0.0.0.0:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, remote string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if got, want := ClientAddress(r), clientAddressOracle(r); got != want {
			t.Errorf("ClientAddress(%q) = %q, want %q", remote, got, want)
		}
	})
}

// clientAddressOracle is ClientAddress for a request without a trusted
// proxy, as it was before it returned an IPv4 peer's text as it is.
func clientAddressOracle(r *http.Request) string {
	ip, ok := peerAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
