package federation_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// TestCheckEndpoint: https in both modes; plain http only to loopback in
// development mode; anything but a base URL (a host name, no query,
// fragment or credentials, even empty) never.
func TestCheckEndpoint(t *testing.T) {
	for _, c := range []struct {
		url       string
		prod, dev bool
	}{
		{"https://js.trustid.example", true, true},
		{"https://js.trustid.example:8443/node", true, true},
		{"https://127.0.0.1:8443", true, true}, // the dial refuses it in production (TestHostileEndpoints)
		{"http://127.0.0.1:8080", false, true},
		{"http://localhost:8080", false, true},
		{"http://[::1]:8080", false, true},
		{"http://js.trustid.example", false, false},
		{"http://10.0.0.7", false, false},
		{"http://169.254.169.254", false, false},
		{"ftp://js.trustid.example", false, false},
		{"https://user:pw@js.trustid.example", false, false},
		{"https://js.trustid.example?x=1", false, false},
		{"https://js.trustid.example#f", false, false},
		// An empty query or fragment: the path a call appends would be
		// the query, or never sent, so the call would go to the
		// endpoint's own path on its host.
		{"https://js.trustid.example/admin?", false, false},
		{"https://js.trustid.example/admin#", false, false},
		{"https://:8443", false, false}, // no host name: the dial would go to this machine
		{"https:opaque", false, false},
		{"//js.trustid.example", false, false},
		{"", false, false},
	} {
		for _, m := range []struct {
			dev  bool
			want bool
		}{{false, c.prod}, {true, c.dev}} {
			err := federation.CheckEndpoint(c.url, m.dev)
			if (err == nil) != m.want || err != nil && !errors.Is(err, federation.ErrEndpointRefused) {
				t.Errorf("%q (development %v): %v, want accepted %v", c.url, m.dev, err, m.want)
			}
		}
	}
}

// TestDevelopmentMode: only a node whose public URL is plain http on
// loopback and which listens on loopback.
func TestDevelopmentMode(t *testing.T) {
	for _, c := range []struct {
		issuer, listen string
		want           bool
	}{
		{"http://127.0.0.1:8080", "127.0.0.1:8080", true},
		{"http://localhost:8080", "127.0.0.1:8080", true},
		{"http://[::1]:8080", "[::1]:8080", true},
		{"https://127.0.0.1:8443", "127.0.0.1:8443", false},
		{"http://127.0.0.1:8080", "0.0.0.0:8080", false},
		{"http://127.0.0.1:8080", "10.0.0.7:8080", false},
		{"http://node.example", "127.0.0.1:8080", false},
		{"https://sh.trustid.example", "127.0.0.1:8080", false},
		{"http://0.0.0.0:8080", "0.0.0.0:8080", false},
		{"::", "127.0.0.1:8080", false},
	} {
		if got := federation.DevelopmentMode(c.issuer, c.listen); got != c.want {
			t.Errorf("DevelopmentMode(%q, %q) = %v", c.issuer, c.listen, got)
		}
	}
}

// TestHostileEndpoints: region B registers endpoints that point into the
// calling node's own network. A production node (A) calls none of them:
// plain http is refused before any request, and an https endpoint whose
// address (an IP literal, or a name resolved at the dial) is loopback is
// refused at the dial; no request reaches the servers. Each refusal has its own error
// and metrics reason. A node in loopback development mode does call a
// loopback endpoint, and refuses plain http elsewhere.
func TestHostileEndpoints(t *testing.T) {
	ctx := context.Background()
	c := newConsortium(t)
	var hits atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"active":false}`))
	})
	plain, tlsSrv := httptest.NewServer(h), httptest.NewTLSServer(h)
	defer plain.Close()
	defer tlsSrv.Close()
	port := tlsSrv.URL[strings.LastIndex(tlsSrv.URL, ":")+1:]

	register := func(u string) {
		t.Helper()
		r, err := c.b.Region(ctx, regionB)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.b.UpdateRegion(ctx, chaincode.RegionInput{Code: regionB, DID: r.DID, Name: r.Name, Endpoints: []chaincode.Endpoint{{Type: "api", URL: u}}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "endpoint in the view", func() bool {
			r, _ := c.view.Region(regionB)
			return len(r.Endpoints) == 1 && r.Endpoints[0].URL == u
		})
	}
	key, _ := gm.GenerateKey(rand.Reader)
	var mu sync.Mutex
	refused := map[string]int{}
	introspector := func(dev bool) *federation.Introspector {
		client, err := federation.PeerClient(federation.PeerClientOptions{Development: dev})
		if err != nil {
			t.Fatal(err)
		}
		na := &redeem.NodeAssertions{Region: regionA, SigningKey: redeem.FixedKey(key, "a-node"), Keys: &federation.Keys{Registry: c.view}}
		return &federation.Introspector{Directory: federation.Directory{Registry: c.view, Development: dev},
			Credentials: na, Answers: na, Client: client,
			OnRefuse: func(err error) { mu.Lock(); refused[federation.Reason(err)]++; mu.Unlock() }}
	}
	prod, dev := introspector(false), introspector(true)

	for _, x := range []struct {
		name, url string
		dev       bool
		want      error
	}{
		{"http to loopback, production", plain.URL, false, federation.ErrEndpointRefused},
		{"https to a loopback literal, production", tlsSrv.URL, false, credentials.ErrAddressNotAllowed},
		{"https to a name of loopback, production", "https://localhost:" + port, false, credentials.ErrAddressNotAllowed},
		{"https to a private literal, production", "https://10.255.255.1:" + port, false, credentials.ErrAddressNotAllowed},
		{"https to link-local, production", "https://169.254.169.254", false, credentials.ErrAddressNotAllowed},
		{"http off loopback, development", "http://10.255.255.1:" + port, true, federation.ErrEndpointRefused},
		// An endpoint with an empty query (the call's path would be the
		// query) the contract refuses now (chaincode.TestRegionDIDSyntax);
		// one an older contract took is refused by CheckEndpoint
		// (TestCheckEndpoint).
	} {
		register(x.url)
		in := prod
		if x.dev {
			in = dev
		}
		_, err := in.IntrospectAt(ctx, regionB, "token")
		if !errors.Is(err, x.want) || !errors.Is(err, federation.ErrPeerUnavailable) {
			t.Errorf("%s: %v, want %v", x.name, err, x.want)
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("%s: %d requests reached the endpoint", x.name, n)
		}
	}
	mu.Lock()
	if refused["endpoint_refused"] != 2 || refused["address_not_allowed"] != 4 {
		t.Errorf("refusals %v", refused)
	}
	mu.Unlock()

	// Development mode calls a loopback endpoint (whose answer, unsigned,
	// is refused: TestSignedPeerAnswers).
	register(plain.URL)
	if _, err := dev.IntrospectAt(ctx, regionB, "token"); !errors.Is(err, redeem.ErrAnswerUnsigned) {
		t.Errorf("development, loopback http: %v", err)
	}
	if hits.Load() != 1 {
		t.Errorf("development, loopback http: %d requests", hits.Load())
	}
}

// TestHostileEndpointsForRedemption: a redemption forwarded to a region
// whose registered endpoint points into the node's own network is
// refused as introspection is (TestHostileEndpoints): plain http before
// any request (qr_no_route), a loopback or private address at the dial
// (503), no request reaching the endpoint, and each refusal counted under
// its reason (docs/SECURITY.md: endpoint_refused, address_not_allowed).
func TestHostileEndpointsForRedemption(t *testing.T) {
	ctx := context.Background()
	c := newConsortium(t)
	var hits atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) })
	plain, tlsSrv := httptest.NewServer(h), httptest.NewTLSServer(h)
	defer plain.Close()
	defer tlsSrv.Close()
	port := tlsSrv.URL[strings.LastIndex(tlsSrv.URL, ":")+1:]
	client, err := federation.PeerClient(federation.PeerClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := gm.GenerateKey(rand.Reader)
	na := &redeem.NodeAssertions{Region: regionA, SigningKey: redeem.FixedKey(key, "a-node"), Keys: &federation.Keys{Registry: c.view}}
	refused := map[string]int{}
	peers := &redeem.HTTPPeers{Directory: federation.Directory{Registry: c.view}, Credentials: na, Answers: na, Client: client,
		OnRefuse: func(err error) { refused[federation.Reason(err)]++ }}
	for _, x := range []struct {
		url  string
		want error
	}{
		{plain.URL, qrcode.ErrNoRoute},
		{tlsSrv.URL, qrcode.ErrUnavailable},
		{"https://localhost:" + port, qrcode.ErrUnavailable},
	} {
		r, err := c.b.Region(ctx, regionB)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.b.UpdateRegion(ctx, chaincode.RegionInput{Code: regionB, DID: r.DID, Name: r.Name, Endpoints: []chaincode.Endpoint{{Type: "api", URL: x.url}}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "endpoint in the view", func() bool { r, _ := c.view.Region(regionB); return r.API() == x.url })
		code := (qrcode.OnlineCode{Region: 320000}).String()
		if _, err := peers.RedeemAt(ctx, regionB, redeem.RelyingParty{ClientID: "hotel-a"}, code); !errors.Is(err, x.want) {
			t.Errorf("%s: %v, want %v", x.url, err, x.want)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests reached the endpoints", n)
	}
	if refused["endpoint_refused"] != 1 || refused["address_not_allowed"] != 2 {
		t.Errorf("refusals %v", refused)
	}
}

// FuzzCheckEndpoint: registry URLs never panic; an accepted one is https,
// or plain http to a loopback host in development mode only.
func FuzzCheckEndpoint(f *testing.F) {
	for _, s := range []string{"https://js.trustid.example", "http://127.0.0.1:8080", "http://localhost", "http://[::1]:1",
		"http://127.0.0.1.nip.io", "http://0x7f.1", "HTTP://127.0.0.1", "https://@x", "http://[::ffff:127.0.0.1]"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, dev bool) {
		if federation.CheckEndpoint(raw, dev) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted an unparsable URL %q", raw)
		}
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && dev && (strings.EqualFold(u.Hostname(), "localhost") || netip.MustParseAddr(u.Hostname()).Unmap().IsLoopback()):
		default:
			t.Fatalf("accepted %q (development %v)", raw, dev)
		}
	})
}

// TestInternalHosts: in production a host the operator named may resolve
// to a non-public address (the dial goes through, here to a TLS server
// whose certificate the client refuses), and every other host is
// still refused at the dial.
func TestInternalHosts(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	c, err := federation.PeerClient(federation.PeerClientOptions{InternalHost: credentials.AllowHosts("localhost")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get("https://localhost:" + port)
	var tlsErr *tls.CertificateVerificationError
	if !errors.As(err, &tlsErr) {
		t.Errorf("named internal host: %v, want the TLS handshake's certificate refusal", err)
	}
	if _, err := c.Get(srv.URL); !errors.Is(err, credentials.ErrAddressNotAllowed) {
		t.Errorf("a host not named: %v", err)
	}
}

// TestPeersOverrideTheRegistry: the operator's URL of a region's node
// (trustid serve --peer, Directory.Peers) is where every call to that
// node goes (redemption and introspection through PeerURL, status lists
// through StatusListURL), also when the region's registered endpoint is
// one this node refuses or is missing; the node is still named by its
// registered endpoint (NodeURL: a list's URL), and a region not active
// is still refused, whatever the operator named. Without the override
// the registered endpoint is called, or refused.
func TestPeersOverrideTheRegistry(t *testing.T) {
	ctx := context.Background()
	c := newConsortium(t)
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"active":false}`))
	}))
	defer srv.Close()
	const refusedAPI = "http://b.internal.example" // plain http: refused in production
	const list = "/status/0123456789abcdef"
	register := func(eps ...chaincode.Endpoint) {
		t.Helper()
		r, err := c.b.Region(ctx, regionB)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.b.UpdateRegion(ctx, chaincode.RegionInput{Code: regionB, DID: r.DID, Name: r.Name, Endpoints: eps}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "endpoints in the view", func() bool { r, _ := c.view.Region(regionB); return slices.Equal(r.Endpoints, eps) })
	}
	registry := federation.Directory{Registry: c.view}
	override := federation.Directory{Registry: c.view, Peers: map[string]string{regionB: srv.URL}}

	register(chaincode.Endpoint{Type: "api", URL: refusedAPI})
	if _, err := registry.PeerURL(regionB); !errors.Is(err, federation.ErrEndpointRefused) {
		t.Errorf("registered endpoint refused, no override: %v", err)
	}
	if u, err := override.PeerURL(regionB); err != nil || u != srv.URL {
		t.Errorf("registered endpoint refused, --peer: %q %v, want %s", u, err, srv.URL)
	}
	if u, err := override.NodeURL(regionB); err != nil || u != refusedAPI {
		t.Errorf("the node's name: %q %v, want %s", u, err, refusedAPI)
	}
	if _, _, err := registry.StatusListURL(refusedAPI + list); !errors.Is(err, federation.ErrEndpointRefused) {
		t.Errorf("a list under the refused endpoint, no override: %v", err)
	}
	if u, ok, err := override.StatusListURL(refusedAPI + list); err != nil || !ok || u != srv.URL+list {
		t.Errorf("a list under the refused endpoint, --peer: %q %v %v, want %s", u, ok, err, srv.URL+list)
	}
	if _, _, err := override.StatusListURL(refusedAPI + "/status/../admin"); err == nil {
		t.Errorf("a path that is no list ID, --peer: fetched")
	}
	if _, ok, err := override.StatusListURL("https://elsewhere.example" + list); ok || err != nil {
		t.Errorf("a list of no region: %v %v", ok, err)
	}

	// The introspection goes to the operator's URL (the test server's
	// loopback host named as the operator's --peer hosts are).
	u, _ := url.Parse(srv.URL)
	client, err := credentials.NewFetchClient(srv.Client(), credentials.FetchOptions{AllowHost: credentials.AllowHosts(u.Hostname())})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := gm.GenerateKey(rand.Reader)
	na := &redeem.NodeAssertions{Region: regionA, SigningKey: redeem.FixedKey(key, "a-node"), Keys: &federation.Keys{Registry: c.view}}
	in := &federation.Introspector{Directory: override, Credentials: na, Answers: na, Client: client}
	if _, err := in.IntrospectAt(ctx, regionB, "token"); !errors.Is(err, redeem.ErrAnswerUnsigned) || hits.Load() != 1 {
		t.Errorf("introspection with --peer: %v, %d requests, want the unsigned answer of the operator's URL", err, hits.Load())
	}

	// No api endpoint registered: only the override calls the node.
	register(chaincode.Endpoint{Type: "web", URL: "https://www.b.example"})
	if _, err := registry.PeerURL(regionB); !errors.Is(err, federation.ErrUnknownRegion) {
		t.Errorf("no api endpoint, no override: %v", err)
	}
	if u, err := override.PeerURL(regionB); err != nil || u != srv.URL {
		t.Errorf("no api endpoint, --peer: %q %v", u, err)
	}

	// Suspended: refused, --peer or not.
	if err := c.a.Vote(ctx, chaincode.ActionSuspend, regionB); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B suspended", func() bool { r, _ := c.view.Region(regionB); return r.Status != chaincode.RegionActive })
	if _, err := override.PeerURL(regionB); !errors.Is(err, federation.ErrRegionSuspended) {
		t.Errorf("suspended, --peer: %v", err)
	}
}
