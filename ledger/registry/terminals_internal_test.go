package registry

import (
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
)

// TestAccredited: a node trusts only its own active region's terminals,
// located inside it. A record another region wrote, or one whose location
// is outside its owner (the contract now refuses to write it, but an
// older contract took it), is not trusted.
func TestAccredited(t *testing.T) {
	active := chaincode.Region{Code: "320000", Status: chaincode.RegionActive}
	suspended := chaincode.Region{Code: "320000", Status: chaincode.RegionSuspended}
	for _, tc := range []struct {
		name   string
		rec    chaincode.Terminal
		region chaincode.Region
		want   bool
	}{
		{"own, located inside", chaincode.Terminal{Region: "320000", Location: "320104"}, active, true},
		{"own, no location", chaincode.Terminal{Region: "320000"}, active, true},
		{"another region's, located here", chaincode.Terminal{Region: "310000", Location: "320104"}, active, false},
		{"another region's", chaincode.Terminal{Region: "310000", Location: "310104"}, active, false},
		{"own, located elsewhere", chaincode.Terminal{Region: "320000", Location: "310104"}, active, false},
		{"own, region suspended", chaincode.Terminal{Region: "320000", Location: "320104"}, suspended, false},
		{"own, region unknown", chaincode.Terminal{Region: "320000", Location: "320104"}, chaincode.Region{}, false},
	} {
		if got := accredited(tc.rec, tc.region, "320000"); got != tc.want {
			t.Errorf("%s: accredited %v, want %v", tc.name, got, tc.want)
		}
	}
}
