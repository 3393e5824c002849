package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestRegionStatusFetchListPath: a status list URL under a region's
// registered endpoint is fetched with the peer client (which may reach the
// operator's --peer-internal-host hosts) only when it is
// <endpoint>/status/<list ID>; a credential cannot choose another path or
// a query on that host (dot segments a gateway in front of it would
// resolve, e.g. to another service on the private network). With --peer
// for the region, the list is fetched at that path under the operator's
// URL instead.
func TestRegionStatusFetchListPath(t *testing.T) {
	var hits atomic.Int32
	var last atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		last.Store(r.RequestURI)
		http.Error(w, "no", http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	la, lb := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, la, lb)
	b := ledger.Client{L: lb}
	reg, err := b.Region(ctx, ledgertest.RegionB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.UpdateRegion(ctx, chaincode.RegionInput{Code: reg.Code, DID: reg.DID, Name: reg.Name,
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: srv.URL}}}); err != nil {
		t.Fatal(err)
	}
	view := ledger.NewView(la, ledger.ViewOptions{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); view.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := view.IssuerRegion(srv.URL); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the view does not know region B's endpoint")
		}
	}
	// The peer client of a node whose --peer-internal-host names the
	// region's host; every other fetch may reach public addresses only.
	u, _ := url.Parse(srv.URL)
	peer, err := vc.NewFetchClient(srv.Client(), vc.FetchOptions{AllowHost: vc.AllowHosts(u.Hostname())})
	if err != nil {
		t.Fatal(err)
	}
	public, err := vc.NewFetchClient(srv.Client(), vc.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fetch := regionStatusFetch(federation.Directory{Registry: view}, public, peer)

	// A list of the region: fetched from its node (here a 404).
	if _, err := fetch(ctx, srv.URL+"/status/0123456789abcdef", vc.MediaTypeStatusListJWT); hits.Load() != 1 || err == nil {
		t.Fatalf("list of the region: %d requests, %v", hits.Load(), err)
	}
	for _, path := range []string{
		"/status/../../admin/0123456789abcdef",
		"/status/%2e%2e/admin/0123456789abcdef",
		"/status/0123456789abcdef?debug=1",
		"/status/0123456789abcdef/x",
		"/status/",
	} {
		before := hits.Load()
		_, err := fetch(ctx, srv.URL+path, vc.MediaTypeStatusListJWT)
		if hits.Load() != before {
			t.Errorf("%s: the region's host was asked for %v", path, last.Load())
		}
		if !errors.Is(err, vc.ErrStatusUnavailable) && !errors.Is(err, vc.ErrResolve) {
			t.Errorf("%s: %v", path, err)
		}
	}

	// With --peer for the region, its lists are fetched from the
	// operator's URL, at the same path (federation.Directory.Peers).
	var peerHits atomic.Int32
	peerSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/status/0123456789abcdef" {
			peerHits.Add(1)
		}
		http.Error(w, "no", http.StatusNotFound)
	}))
	t.Cleanup(peerSrv.Close)
	fetch = regionStatusFetch(federation.Directory{Registry: view, Peers: map[string]string{ledgertest.RegionB: peerSrv.URL}}, public, peer)
	before := hits.Load()
	if _, err := fetch(ctx, srv.URL+"/status/0123456789abcdef", vc.MediaTypeStatusListJWT); err == nil || peerHits.Load() != 1 || hits.Load() != before {
		t.Errorf("list of the region, --peer: %v, %d requests at the peer, %d at the registered endpoint", err, peerHits.Load(), hits.Load()-before)
	}
}
