package enrollment

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
)

type oneClient auth.Client

func (c oneClient) Get(_ context.Context, id string) (auth.Client, error) {
	if id != c.ID {
		return auth.Client{}, auth.ErrClientNotFound
	}
	return auth.Client(c), nil
}

type sectorsAnswer struct{ err error }

func (s sectorsAnswer) ClaimSector(context.Context, string, identity.Sector) error { return s.err }

// TestQRRelyingPartySectors: a party whose sector another party holds,
// or another region's party whose region has not claimed its sector
// (ErrForeignParty), is an unknown verifier; a failure of the registry
// is not.
func TestQRRelyingPartySectors(t *testing.T) {
	party := oneClient{ID: "svc-a", Region: "310000", Scopes: []string{auth.ScopeQRRedeem}}
	for name, tc := range map[string]struct {
		claim   error
		unknown bool
	}{
		"held":          {nil, false},
		"taken":         {fmt.Errorf("%w: x", ErrSectorTaken), true},
		"foreign party": {fmt.Errorf("%w: x", ErrForeignParty), true},
		"unavailable":   {errors.New("ledger down"), false},
	} {
		r := &QRRelyingParties{Clients: party, Sectors: sectorsAnswer{tc.claim}}
		rp, err := r.RelyingParty(context.Background(), "svc-a")
		switch {
		case tc.claim == nil && (err != nil || rp.ClientID != "svc-a"):
			t.Errorf("%s: %+v %v", name, rp, err)
		case tc.claim != nil && errors.Is(err, qrcode.ErrUnknownVerifier) != tc.unknown:
			t.Errorf("%s: %v, unknown verifier %v", name, err, tc.unknown)
		}
	}
}
