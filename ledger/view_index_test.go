package ledger

import (
	"fmt"
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
	v.indexHosts()
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
