package ledgeranchors_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/sdk"
	"github.com/trustid-cn/trustid/sdk/ledgeranchors"
)

// A relying party with a connection to the consortium ledger (here an
// embedded replica; in production a peer reached through ledger/fabric)
// checks every status list the SDK fetches against the head its region
// anchored: set the followed heads as Nodes.Anchors. A node that the
// registry does not list as an active region has no anchored lists, so
// its lists are refused (credentials.ErrStatusListUnanchored).
func Example() {
	dir, err := os.MkdirTemp("", "ledgeranchors-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := embedded.Open(filepath.Join(dir, "ledger.db"), embedded.Options{MSPID: chaincode.RegionMSP("320000")})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	anchors, err := ledgeranchors.Start(ctx, l, ledgeranchors.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer anchors.Close()

	node := "https://sh.trustid.example"
	nodes := &sdk.Nodes{Bases: []string{node}, Algorithms: []string{gm.AlgSM2}, Anchors: anchors}
	_, err = sdk.NewQRVerifier(sdk.QRConfig{
		Keys:   &sdk.KeySet{URL: node + sdk.JWKSPath},
		Region: "310000",
		Status: &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{"310000": node}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ledger loaded:", anchors.Health().Ready)
	_, listed := anchors.IssuerRegion(node)
	fmt.Println("node in the registry:", listed)
	// Output:
	// ledger loaded: true
	// node in the registry: false
}
