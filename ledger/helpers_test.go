package ledger_test

import (
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// openEmbedded opens a fresh embedded ledger at path and returns handles
// acting as RegionA's and RegionB's MSP, closed when the test ends.
func openEmbedded(t *testing.T, path string) (*embedded.Ledger, *embedded.Ledger) {
	t.Helper()
	a, err := embedded.Open(path, embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.As(chaincode.RegionMSP(ledgertest.RegionB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); a.Close() })
	return a, b
}
