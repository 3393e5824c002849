package sdk_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
)

// offPath is an HTTP client whose every connection, whatever the host,
// goes to one loopback server: what anyone on the path of a plain http
// request can do. It counts the requests it sends to hosts other than
// loopback.
type offPath struct {
	base http.RoundTripper
	sent atomic.Int32
}

func newOffPath(addr string) (*offPath, *http.Client) {
	p := &offPath{base: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	return p, &http.Client{Transport: p}
}

func (p *offPath) RoundTrip(r *http.Request) (*http.Response, error) {
	if h := r.URL.Hostname(); h != "127.0.0.1" && h != "localhost" {
		p.sent.Add(1)
	}
	return p.base.RoundTrip(r)
}

// TestPlainHTTPOnlyOnLoopback: the SDK calls https URLs, and plain http
// only to localhost or a loopback address (a node under test): over plain
// http anyone on the path answers for the node (its keys, its status
// lists) and reads what is sent (tokens, codes). A node, issuer, JWKS,
// region node or discovered endpoint named http://node.example, a base
// URL with a query, fragment or user, is ErrInsecureURL with nothing
// sent, even though the path would answer; before, every one was called.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	u, _ := url.Parse(node.URL)
	path, client := newOffPath(u.Host)
	const plain = "http://node.example"
	ctx := context.Background()
	key := node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)
	insecure := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, sdk.ErrInsecureURL) {
			t.Errorf("%s: %v, want ErrInsecureURL", what, err)
		}
	}

	for _, base := range []string{plain, "ftp://node.example", "https://node.example?x=1", "https://node.example#f", "https://u:p@node.example", "//node.example"} {
		_, err := sdk.NewTokenSource(sdk.ClientConfig{Node: base, ClientID: "hotel", Key: key, HTTPClient: client})
		insecure("TokenSource at "+base, err)
	}
	_, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: plain, Audience: plain, Algorithms: []string{gm.AlgSM2}, HTTPClient: client})
	insecure("AccessTokenVerifier", err)
	_, err = sdk.NewLogin(sdk.LoginConfig{Issuer: plain, ClientID: "hotel", RedirectURI: "https://hotel.example/cb", Key: key,
		Algorithms: []string{gm.AlgSM2}, HTTPClient: client})
	insecure("Login", err)
	_, err = sdk.NewCredentialVerifier(&sdk.Nodes{Bases: []string{node.URL, plain}, Algorithms: []string{gm.AlgSM2}, Client: client}, 0)
	insecure("Nodes", err)

	tokens, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&sdk.Client{Node: plain, Tokens: tokens, HTTPClient: client}).RedeemQR(ctx, node.onlineCode("11010519491231002X", nil))
	insecure("RedeemQR", err)
	_, err = (&sdk.KeySet{URL: plain + sdk.JWKSPath, Client: client}).Key(ctx, "k")
	insecure("KeySet", err)
	qs := &sdk.QRStatus{Nodes: &sdk.Nodes{Bases: []string{node.URL}, Algorithms: []string{gm.AlgSM2}, Client: client},
		Regions: map[string]string{"310000": plain}}
	// Refused as no node of Nodes.Bases, which are https or loopback
	// (TestQRStatusRegionNodeAmongBases).
	if _, err = qs.Status(ctx, qrcode.StatusRef{Region: 310000, List: 1, Index: 1}); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("QRStatus: %v, want ErrStatusUnavailable", err)
	}

	// A provider (on loopback) whose discovery names an http token
	// endpoint elsewhere: the code and client assertion would go there.
	provider := metadataServer(t, func(w http.ResponseWriter) bool { return true })
	login, err := sdk.NewLogin(sdk.LoginConfig{Issuer: provider.URL, ClientID: "hotel", RedirectURI: "https://hotel.example/cb", Key: key,
		Algorithms: []string{gm.AlgSM2}, HTTPClient: &http.Client{Transport: rewriteTokenEndpoint{provider.URL, plain}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = login.Start(ctx)
	if !errors.Is(err, sdk.ErrLogin) {
		t.Errorf("discovery naming an http token endpoint: %v, want ErrLogin", err)
	}
	insecure("discovered token endpoint", err)

	if n := path.sent.Load(); n != 0 {
		t.Errorf("%d requests were sent to http://node.example", n)
	}
	// Loopback by name is a node under test: served over plain http.
	if _, err := (&sdk.KeySet{URL: strings.Replace(node.URL, "127.0.0.1", "localhost", 1) + sdk.JWKSPath}).IssuerKeys(ctx); err != nil {
		t.Errorf("JWKS at localhost: %v", err)
	}
}

// rewriteTokenEndpoint passes requests to http.DefaultTransport and
// rewrites the token endpoint of the provider's discovery answer to
// another host's.
type rewriteTokenEndpoint struct{ provider, other string }

func (rw rewriteTokenEndpoint) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || r.URL.Path != "/.well-known/openid-configuration" {
		return resp, err
	}
	var b strings.Builder
	_, err = io.Copy(&b, resp.Body)
	resp.Body.Close()
	body := strings.Replace(b.String(), `"token_endpoint":"`+rw.provider, `"token_endpoint":"`+rw.other, 1)
	resp.Body = io.NopCloser(strings.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, err
}

// TestQRStatusRegionNodeAmongBases: a QRStatus region whose node is not
// one of Nodes.Bases (QRStatus.Regions says it must be) is refused
// without a request to it; its list index was fetched from it before the
// list itself was refused.
func TestQRStatusRegionNodeAmongBases(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	var asked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"lists":["0000000100000000"]}`))
	}))
	defer other.Close()
	qs := &sdk.QRStatus{Nodes: &sdk.Nodes{Bases: []string{node.URL}, Algorithms: []string{gm.AlgSM2}},
		Regions: map[string]string{"310000": other.URL}}
	_, err := qs.Status(context.Background(), qrcode.StatusRef{Region: 310000, List: 1, Index: 1})
	if !errors.Is(err, qrcode.ErrStatusUnavailable) || !strings.Contains(err.Error(), "not one of Nodes.Bases") || asked.Load() != 0 {
		t.Errorf("region node outside Nodes.Bases: %v after %d requests to it", err, asked.Load())
	}
}
