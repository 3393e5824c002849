package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
)

// conflicting answers Submit with a read conflict a set number of times,
// then with the result; it counts the submissions.
type conflicting struct {
	Ledger
	conflicts, submits int
	other              error
}

func (c *conflicting) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	c.submits++
	if c.other != nil {
		return nil, 0, c.other
	}
	if c.submits <= c.conflicts {
		return nil, 0, fmt.Errorf("%w: %w: %s not committed: MVCC_READ_CONFLICT", ErrUnavailable, ErrConflict, fn)
	}
	return []byte(`{"id":"did:web:example.cn"}`), 1, nil
}

func TestRegistryWriteRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name              string
		conflicts, submit int
		other             error
		wantErr           error
	}{
		{"two conflicts then committed", 2, 3, nil, nil},
		{"conflicts every time: gives up", 100, conflictRetries, nil, ErrConflict},
		{"refused by the contract: not retried", 0, 1, chaincode.ErrInvalid, chaincode.ErrInvalid},
		{"ledger down: not retried", 0, 1, ErrUnavailable, ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &conflicting{conflicts: tc.conflicts, other: tc.other}
			got, err := Client{L: l}.PutIssuer(ctx, chaincode.Issuer{ID: "did:web:example.cn"})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if l.submits != tc.submit {
				t.Errorf("submitted %d times, want %d", l.submits, tc.submit)
			}
			if err == nil && got.ID != "did:web:example.cn" {
				t.Errorf("result %+v", got)
			}
		})
	}
	t.Run("anchoring is not retried here", func(t *testing.T) {
		l := &conflicting{conflicts: 100}
		if _, err := (Client{L: l}).AnchorBatch(ctx, chaincode.BatchInput{}); !errors.Is(err, ErrConflict) {
			t.Fatalf("err = %v", err)
		}
		if l.submits != 1 {
			t.Errorf("submitted %d times, want 1 (the outbox counts and retries)", l.submits)
		}
	})
}
