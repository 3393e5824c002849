package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
)

// loopbackClient is how a test opts in to fetching from its own
// httptest TLS server on 127.0.0.1: a fetch client built on the server's
// client (for its root CA) that allows that one host.
func loopbackClient(t testing.TB, base *http.Client) *http.Client {
	t.Helper()
	c, err := NewFetchClient(base, FetchOptions{AllowHost: AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issuerServer serves a node's did.json, jwt-vc-issuer metadata and status
// lists over TLS on 127.0.0.1, counting requests.
func issuerServer(t *testing.T) (*httptest.Server, *node, *atomic.Int32) {
	return issuerServerWith(t, nil)
}

// issuerServerWith is issuerServer with gate, when set, seeing every
// request first: a request it answers (returning true) goes no further.
func issuerServerWith(t *testing.T, gate func(http.ResponseWriter, *http.Request) bool) (*httptest.Server, *node, *atomic.Int32) {
	t.Helper()
	var n *node
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if gate != nil && gate(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/.well-known/did.json":
			d, _ := n.issuer.DIDDocument()
			json.NewEncoder(w).Encode(d)
		case r.URL.Path == "/.well-known/jwt-vc-issuer":
			m, _ := n.issuer.Metadata()
			json.NewEncoder(w).Encode(m)
		case strings.HasPrefix(r.URL.Path, "/status/"):
			_, tok, err := n.issuer.StatusList(r.Context(), strings.TrimPrefix(r.URL.Path, "/status/"))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			if strings.Contains(r.Header.Get("Accept"), "statuslist") {
				w.Header().Set("Content-Type", MediaTypeStatusListJWT)
			} else {
				w.Header().Set("Content-Type", MediaTypeVCJWT)
			}
			w.Write([]byte(tok))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	n = newNode(t, srv.URL)
	return srv, n, &hits
}

// TestFetchRefusesInternalAddresses: by default, keys and status lists
// are never fetched from loopback (the node's own host), whether the URL
// names the address or a name that resolves to it, and whatever client
// the resolver was given; the test server sees no request. A test or an
// operator opts in per host.
func TestFetchRefusesInternalAddresses(t *testing.T) {
	srv, n, hits := issuerServer(t)
	ctx := context.Background()
	vcTok := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{}).Token
	sdTok := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT}).Token

	refusing := map[string]*http.Client{
		"default client":          nil,
		"the server's own client": srv.Client(),
		"another host allowed":    mustFetchClient(t, srv.Client(), FetchOptions{AllowHost: AllowHosts("registry.example")}),
	}
	for name, client := range refusing {
		v, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: &Resolver{Client: client, Now: n.clock.Now}, SkipStatus: true, Now: n.clock.Now})
		for _, tok := range []string{vcTok, sdTok} {
			_, err := v.VerifyToken(ctx, tok)
			if !errors.Is(err, ErrResolve) || !errors.Is(err, ErrAddressNotAllowed) {
				t.Errorf("%s: %v, want ErrResolve and ErrAddressNotAllowed", name, err)
			}
		}
	}
	// A name that resolves to loopback is refused after resolution.
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	did := "did:web:localhost%3A" + strconv.Itoa(port)
	if _, err := (&Resolver{Client: srv.Client()}).ResolveKey(ctx, did, did+"#k"); !errors.Is(err, ErrAddressNotAllowed) {
		t.Errorf("localhost: %v", err)
	}
	// So is a status list on loopback, even when the keys may be fetched.
	loop := loopbackClient(t, srv.Client())
	res := &Resolver{Client: loop, Now: n.clock.Now}
	lv, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, SkipStatus: true, Now: n.clock.Now})
	src := &HTTPStatusSource{Client: srv.Client(), Verifier: lv, Resolver: res, Algorithms: allAlgs, Now: n.clock.Now}
	v, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, Status: NewStatusChecker(src, time.Minute, n.clock.Now), Now: n.clock.Now})
	before := hits.Load()
	if _, err := v.VerifyCredential(ctx, vcTok); !errors.Is(err, ErrStatusUnavailable) || !errors.Is(err, ErrAddressNotAllowed) {
		t.Errorf("status list on loopback: %v", err)
	}
	if hits.Load() != before+1 { // the did.json only
		t.Errorf("%d requests reached the server, want 1 (the DID document)", hits.Load()-before)
	}
	// Opted in for both: verifies.
	src.Client = loop
	v, _ = NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, Status: NewStatusChecker(src, time.Minute, n.clock.Now), Now: n.clock.Now})
	if _, err := v.VerifyCredential(ctx, vcTok); err != nil {
		t.Fatalf("allowed host: %v", err)
	}
	if _, err := v.VerifyToken(ctx, sdTok); err != nil {
		t.Fatalf("allowed host, SD-JWT VC: %v", err)
	}
}

func mustFetchClient(t testing.TB, base *http.Client, opts FetchOptions) *http.Client {
	t.Helper()
	c, err := NewFetchClient(base, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFetchNoRedirects: a redirect is an error, not followed, even for an
// allowed host and even when the given client would follow it.
func TestFetchNoRedirects(t *testing.T) {
	var followed atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			w.Write([]byte(`{}`))
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	c := loopbackClient(t, srv.Client())
	c.CheckRedirect = nil // a caller's change does not bring redirects back
	_, err := HTTPGet(context.Background(), c, srv.URL+"/.well-known/did.json", "application/json")
	if !errors.Is(err, ErrResolve) || !errors.Is(err, ErrRedirect) || followed.Load() != 0 {
		t.Fatalf("redirect: %v (followed %d)", err, followed.Load())
	}
}

// TestFetchBounds: an oversized document and a server that never answers
// are both errors, within the timeout.
func TestFetchBounds(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-block:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`"` + strings.Repeat("a", MaxFetch) + `"`))
	}))
	defer srv.Close()
	defer close(block)
	ctx := context.Background()
	c := loopbackClient(t, srv.Client())
	if _, err := HTTPGet(ctx, c, srv.URL+"/big", "application/json"); !errors.Is(err, ErrResolve) || !strings.Contains(err.Error(), "over") {
		t.Errorf("oversized: %v", err)
	}
	slow := mustFetchClient(t, srv.Client(), FetchOptions{AllowHost: AllowHosts("127.0.0.1"), Timeout: 200 * time.Millisecond})
	start := time.Now()
	if _, err := HTTPGet(ctx, slow, srv.URL+"/slow", "application/json"); !errors.Is(err, ErrResolve) {
		t.Errorf("slow server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("slow server took %v", d)
	}
}

func TestPublicAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2001:4860:4860::8888": true, "240e::1": true,
		"127.0.0.1": false, "127.9.9.9": false, "::1": false, "0.0.0.0": false, "::": false,
		"10.1.2.3": false, "172.16.0.1": false, "172.31.255.255": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "100.64.0.1": false, "100.127.255.254": false,
		"fc00::1": false, "fd12:3456::1": false, "224.0.0.1": false, "ff02::1": false,
		"255.255.255.255": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"64:ff9b::a00:1": false, "2002:a00:1::": false, "192.0.2.1": false, "198.18.0.1": false,
		"0.1.2.3": false, "fec0::1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestFetchGuardedTransports: clients whose transport cannot be guarded
// are refused rather than used unguarded.
func TestFetchGuardedTransports(t *testing.T) {
	odd := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("unused") })}
	if _, err := NewFetchClient(odd, FetchOptions{}); err == nil {
		t.Error("custom RoundTripper accepted")
	}
	if _, err := HTTPGet(context.Background(), odd, "https://issuer.example/x", "application/json"); !errors.Is(err, ErrResolve) {
		t.Errorf("fetch through an unguardable client: %v", err)
	}
	u, _ := url.Parse("http://issuer.example/x")
	if _, err := NewGuardedTransport(&http.Transport{}).RoundTrip(&http.Request{URL: u}); !errors.Is(err, ErrResolve) {
		t.Errorf("http through the guarded transport: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestStatusListFormFallback: an HTTPStatusSource moves from one of its
// Forms to the next only when the server says it does not serve it (406,
// 415, another content type); a 5xx or an unreachable server fails at
// once, after one request.
func TestStatusListFormFallback(t *testing.T) {
	const (
		typeDI   = "application/vc"
		typeCOSE = "application/vc+cose"
	)
	ctx := context.Background()
	// answers maps the Accept of a status list request to the status the
	// server answers it with (absent: the list, as vc+jwt).
	var answers map[string]int
	var asked map[string][]string // list path -> Accept of each request
	srv, n, _ := issuerServerWith(t, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/status/") {
			return false
		}
		accept := r.Header.Get("Accept")
		asked[r.URL.Path] = append(asked[r.URL.Path], accept)
		if code, ok := answers[accept]; ok {
			http.Error(w, "no", code)
			return true
		}
		return false
	})
	tok := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{}).Token
	client := loopbackClient(t, srv.Client())
	res := &Resolver{Client: client, Now: n.clock.Now}
	lv, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, SkipStatus: true, Now: n.clock.Now})
	// No list here reaches a form's Verify: every server refuses them.
	form := func(mt string) StatusListForm {
		return StatusListForm{MediaType: mt, Verify: func(context.Context, []byte) (*Credential, error) {
			t.Errorf("%s list verified", mt)
			return nil, ErrInvalid
		}}
	}
	var fetches int
	src := &HTTPStatusSource{Client: client, Verifier: lv, Resolver: res, Algorithms: allAlgs, Now: n.clock.Now,
		Forms: []StatusListForm{form(typeDI), form(typeCOSE)},
		Fetch: func(ctx context.Context, url, accept string) ([]byte, error) {
			fetches++
			return Fetch(ctx, client, url, accept)
		}}
	verify := func() error {
		// A new checker: nothing cached.
		v, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, Status: NewStatusChecker(src, time.Minute, n.clock.Now), Now: n.clock.Now})
		_, err := v.VerifyCredential(ctx, tok)
		return err
	}
	for _, c := range []struct {
		name    string
		answers map[string]int
		asked   []string
		fails   bool
	}{
		{"406 and 415: next form", map[string]int{typeDI: http.StatusNotAcceptable, typeCOSE: http.StatusUnsupportedMediaType},
			[]string{typeDI, typeCOSE, MediaTypeVCJWT}, false},
		{"another content type: next form", nil, []string{typeDI, typeCOSE, MediaTypeVCJWT}, false},
		{"503: fails at once", map[string]int{typeDI: http.StatusServiceUnavailable}, []string{typeDI}, true},
		{"404: fails at once", map[string]int{typeDI: http.StatusNotFound}, []string{typeDI}, true},
		{"500 for cose: fails there", map[string]int{typeDI: http.StatusNotAcceptable, typeCOSE: http.StatusInternalServerError},
			[]string{typeDI, typeCOSE}, true},
	} {
		answers, asked = c.answers, map[string][]string{}
		err := verify()
		if c.fails != (err != nil) || c.fails && !errors.Is(err, ErrStatusUnavailable) {
			t.Errorf("%s: %v", c.name, err)
		}
		// Each list (revocation, suspension) asked for in turn; a failure
		// ends the check at the first.
		if len(asked) == 0 || c.fails && len(asked) != 1 {
			t.Errorf("%s: lists asked for: %v", c.name, asked)
		}
		for path, a := range asked {
			if strings.Join(a, ",") != strings.Join(c.asked, ",") {
				t.Errorf("%s: %s asked for as %v, want %v", c.name, path, a, c.asked)
			}
		}
	}
	// An unreachable server: one attempt, not one per form.
	srv.Close()
	fetches = 0
	if err := verify(); !errors.Is(err, ErrStatusUnavailable) {
		t.Errorf("unreachable: %v", err)
	}
	if fetches != 1 {
		t.Errorf("unreachable: %d fetches, want 1", fetches)
	}
}
