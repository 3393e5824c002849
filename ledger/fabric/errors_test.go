package fabric

import (
	"errors"
	"testing"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustid-cn/trustid/ledger"
)

// TestFabricErrorConflict: a transaction that did not commit because of a
// read conflict, or whose endorsements did not match, is ErrConflict (a
// registry write submits it again) and still ErrUnavailable; another
// validation or endorsement failure is only ErrUnavailable.
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
	// At endorsement: peers at different heights answer differently (the
	// gateway's details name each); other endorsement failures are not
	// conflicts.
	for msg, conflict := range map[string]bool{
		"ProposalResponsePayloads do not match":    true,
		"chaincode response 500, unknown function": false,
	} {
		st, err := status.New(codes.Aborted, "failed to collect enough transaction endorsements, see attached details for more info").
			WithDetails(&gateway.ErrorDetail{Address: "127.0.0.1:27151", MspId: "Region320000MSP", Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		err = fabricError("PutIssuer", st.Err())
		if !errors.Is(err, ledger.ErrUnavailable) || errors.Is(err, ledger.ErrConflict) != conflict {
			t.Errorf("endorsement %q: %v (conflict %v)", msg, err, errors.Is(err, ledger.ErrConflict))
		}
	}
}
