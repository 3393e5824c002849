// Package embeddedtest opens embedded ledgers for tests (it is apart from
// ledgertest, which links no backend).
package embeddedtest

import (
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// Open opens the embedded ledger at path and returns handles acting as
// ledgertest.RegionA's and RegionB's MSP, both closed when the test ends
// (a test that needs the file closed sooner closes both itself, b first).
func Open(t testing.TB, path string) (a, b *embedded.Ledger) {
	t.Helper()
	a, err := embedded.Open(path, embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatal(err)
	}
	b, err = a.As(chaincode.RegionMSP(ledgertest.RegionB))
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); a.Close() })
	return a, b
}
