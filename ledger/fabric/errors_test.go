package fabric

import (
	"errors"
	"testing"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/trustid-cn/trustid/ledger"
)

// TestFabricErrorConflict: a transaction that did not commit because of a
// read conflict is ErrConflict (a read-modify-write retries it) and still
// ErrUnavailable; another validation failure is only ErrUnavailable.
func TestFabricErrorConflict(t *testing.T) {
	for _, c := range []struct {
		code     peer.TxValidationCode
		conflict bool
	}{
		{peer.TxValidationCode_MVCC_READ_CONFLICT, true},
		{peer.TxValidationCode_PHANTOM_READ_CONFLICT, true},
		{peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, false},
	} {
		err := fabricError("PutRelyingParty", &client.CommitError{TransactionID: "tx1", Code: c.code})
		if !errors.Is(err, ledger.ErrUnavailable) || errors.Is(err, ledger.ErrConflict) != c.conflict {
			t.Errorf("%v: %v (conflict %v)", c.code, err, errors.Is(err, ledger.ErrConflict))
		}
	}
}
