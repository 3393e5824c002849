package registry_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/registry"
	"github.com/trustid-cn/trustid/ledger/registry/registrytest"
)

// TestEmbedded runs the suite over one embedded ledger: every connection
// is a handle on the same file, as instances in one process would share
// it. The bound is the embedded ledger's: visible at commit (the view
// applies the commit's event at once; 250 ms leaves room for a loaded CI
// machine).
func TestEmbedded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	a, _ := embeddedtest.Open(t, path)
	registrytest.Run(t, func(t *testing.T) (ledger.Ledger, ledger.Ledger) {
		x, err := a.As(a.MSPID())
		if err != nil {
			t.Fatal(err)
		}
		y, err := a.As(chaincode.RegionMSP("320000"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { y.Close(); x.Close() })
		return x, y
	}, 250*time.Millisecond)
}

// TestScopesKnownToTheContract: every scope a node grants can be
// registered on the ledger.
func TestScopesKnownToTheContract(t *testing.T) {
	for _, s := range auth.Scopes {
		if !slices.Contains(chaincode.Scopes, s) {
			t.Errorf("scope %q is not in chaincode.Scopes", s)
		}
	}
	if !slices.Equal(auth.GrantTypes, chaincode.GrantTypes) || !slices.Equal(auth.AuthMethods, chaincode.AuthMethods) {
		t.Errorf("grant types or auth methods differ: %v %v / %v %v", auth.GrantTypes, chaincode.GrantTypes, auth.AuthMethods, chaincode.AuthMethods)
	}
}

// TestRecordKeepsTokenAlgs: the signing algorithms of a client's tokens
// survive the trip to the chain record and back.
func TestRecordKeepsTokenAlgs(t *testing.T) {
	c := auth.Client{ID: "svc-a", Name: "A", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		IDTokenAlg: "ES256", AccessTokenAlg: "ES256", AuthMethod: auth.AuthClientSecretBasic}
	rec := registry.RecordOf(c, 0)
	if rec.AccessTokenAlg != "ES256" || rec.IDTokenAlg != "ES256" {
		t.Fatalf("record: %+v", rec)
	}
	rec.Status = chaincode.EntryActive
	if got := registry.ClientOf(rec); got.AccessTokenAlg != "ES256" || got.IDTokenAlg != "ES256" {
		t.Errorf("client: %+v", got)
	}
}
