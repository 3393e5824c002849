package ledger

import (
	"fmt"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
)

// realRegions returns n active regions shaped as the national design's
// (n at most 99): a did:web, an api and a web endpoint (the web one
// with a trailing slash), every other one a wallet endpoint too.
func realRegions(n int) map[string]chaincode.Region {
	regions := map[string]chaincode.Region{}
	for i := range n {
		code := fmt.Sprintf("%02d0000", 11+i)
		host := code + ".trustid.example"
		r := chaincode.Region{Code: code, DID: "did:web:" + host, Status: chaincode.RegionActive,
			Endpoints: []chaincode.Endpoint{{Type: "api", URL: "https://" + host}, {Type: "web", URL: "https://www." + host + "/"}}}
		if i%2 == 0 {
			r.Endpoints = append(r.Endpoints, chaincode.Endpoint{Type: "wallet", URL: "https://wallet." + host})
		}
		regions[code] = r
	}
	return regions
}

// viewOf returns a loaded view holding regions, indexed as a load does.
func viewOf(regions map[string]chaincode.Region) *View {
	v := NewView(nil, ViewOptions{})
	v.regions, v.ready = regions, true
	v.indexRegions()
	return v
}

// BenchmarkViewIssuerRegion: one IssuerRegion lookup with 1 and 34
// active regions in the view, of an issuer no region names (an
// accredited issuer's DID: each credential verification asks this two
// to four times) and of a region's base URL.
func BenchmarkViewIssuerRegion(b *testing.B) {
	for _, n := range []int{1, 34} {
		v := viewOf(realRegions(n))
		for _, c := range []struct{ name, issuer string }{
			{"other", "did:web:110000.trustid.example:issuers:client-1"},
			{"region", "https://110000.trustid.example"},
		} {
			b.Run(fmt.Sprintf("regions=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				want := c.name == "region"
				for b.Loop() {
					if _, ok := v.IssuerRegion(c.issuer); ok != want {
						b.Fatalf("IssuerRegion(%s) = %v", c.issuer, ok)
					}
				}
			})
		}
	}
}

// issuerRegionScan is how IssuerRegion answered before the view indexed
// the regions (session 18): a scan of every region and endpoint. It is
// FuzzIssuerRegionIndex's oracle.
func issuerRegionScan(regions map[string]chaincode.Region, issuer, status string) (string, bool) {
	if issuer == "" {
		return "", false
	}
	want := strings.TrimSuffix(issuer, "/")
	found := ""
	for code, r := range regions {
		if r.Status != status {
			continue
		}
		match := r.DID == issuer
		for _, e := range r.Endpoints {
			match = match || strings.TrimSuffix(e.URL, "/") == want
		}
		if !match {
			continue
		}
		if found != "" {
			return "", false
		}
		found = code
	}
	return found, found != ""
}

// The registries FuzzIssuerRegionIndex builds: regions of these codes,
// statuses, and DIDs and endpoint URLs from indexNames (each also asked
// as an issuer).
var (
	indexCodes    = []string{"110000", "310000", "320000", "440000", "650000", "820000"}
	indexStatuses = []string{chaincode.RegionActive, chaincode.RegionSuspended, chaincode.RegionPending}
	indexNames    = []string{"", "/", "//", "did:web:a.example", "did:web:a.example/", "https://a.example",
		"https://a.example/", "https://a.example//", "https://A.example", "https://a.example:443",
		"did:web:b.example", "https://b.example", "https://b.example/", "https://b.example/x",
		"https://b.example/x/", "did:web:b.example:issuers:c", "https://c.example", "urn:x"}
)

// FuzzIssuerRegionIndex: after each change of a registry built from the
// input (a region written whole, with its status, DID and up to three
// endpoints; or gone), IssuerRegion and SuspendedIssuerRegion answer as
// the scan they replace, for every name.
func FuzzIssuerRegionIndex(f *testing.F) {
	const (
		a, b, c    = 0, 1, 2 // codes
		act, susp  = 0, 1    // statuses
		didA, urlA = 3, 5    // names
		urlAs      = 6       // https://a.example/
		didB, urlB = 10, 11  // names
		write, del = 0, 3    // operations
	)
	for _, seed := range [][]byte{
		// One region by DID and URL, then suspended, then reinstated.
		{a, write, act, didA, 2, urlA, urlB, a, write, susp, didA, 2, urlA, urlB, a, write, act, didA, 1, urlA},
		// Two regions naming one URL (with and without its slash): no one's.
		{a, write, act, didA, 1, urlA, b, write, act, didB, 1, urlAs},
		// ... until one of them is suspended, or loses the endpoint.
		{a, write, act, didA, 1, urlA, b, write, act, didB, 1, urlAs, b, write, susp, didB, 1, urlAs, b, write, act, didB, 0},
		// A region replaced by one of another DID; a region gone.
		{a, write, act, didA, 1, urlA, a, write, act, didB, 1, urlB, c, write, act, didA, 0, a, del},
		// One region naming a URL twice, and its DID as a URL.
		{a, write, act, didA, 3, urlA, urlAs, didA},
		// Empty DIDs and URLs, and a bare slash.
		{a, write, act, 0, 2, 0, 1, b, write, act, 0, 1, 2},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func(n int) int {
			if len(data) == 0 {
				return 0
			}
			x := int(data[0]) % n
			data = data[1:]
			return x
		}
		v := viewOf(map[string]chaincode.Region{})
		for step := 0; len(data) > 0 && step < 64; step++ {
			code := indexCodes[next(len(indexCodes))]
			if next(4) == del {
				delete(v.regions, code)
			} else {
				r := chaincode.Region{Code: code, Status: indexStatuses[next(len(indexStatuses))], DID: indexNames[next(len(indexNames))]}
				for range next(4) {
					r.Endpoints = append(r.Endpoints, chaincode.Endpoint{Type: "api", URL: indexNames[next(len(indexNames))]})
				}
				v.regions[code] = r
			}
			v.indexRegions()
			for _, issuer := range indexNames {
				for _, status := range indexStatuses[:2] {
					gotCode, gotOK := v.issuerRegion(issuer, status)
					wantCode, wantOK := issuerRegionScan(v.regions, issuer, status)
					if gotCode != wantCode || gotOK != wantOK {
						t.Fatalf("step %d, %q %s: index %q %v, scan %q %v; regions %v", step, issuer, status, gotCode, gotOK, wantCode, wantOK, v.regions)
					}
				}
			}
		}
	})
}

// TestViewIDHost: the view answers chaincode.IDHost from what its load
// parsed for the issuers in it, and parses any other identifier.
func TestViewIDHost(t *testing.T) {
	v := viewOf(realRegions(1))
	v.idHosts = map[string]string{}
	for _, id := range []string{"did:web:a.example:issuers:x", "urn:x"} {
		v.idHosts[id], _ = chaincode.IDHost(id)
	}
	for _, id := range []string{"did:web:a.example:issuers:x", "urn:x", "https://B.example:8443/y", "did:key:z6Mk", ""} {
		host, ok := v.IDHost(id)
		wantHost, wantOK := chaincode.IDHost(id)
		if host != wantHost || ok != wantOK {
			t.Errorf("IDHost(%q) = %q %v, want %q %v", id, host, ok, wantHost, wantOK)
		}
	}
}
