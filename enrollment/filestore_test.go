package enrollment

import (
	"context"
	"fmt"
	"testing"

	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
)

// countingFileStore is a FileStore (the issuer's store on a node without
// the ledger) that counts its writes.
type countingFileStore struct {
	*statuslist.FileStore
	sets, checked int
}

func (c *countingFileStore) Set(ctx context.Context, listID string, index int, value uint8) error {
	c.sets++
	return c.FileStore.Set(ctx, listID, index, value)
}

func (c *countingFileStore) SetManyIf(ctx context.Context, entries []status.Entry, guards []status.Ref, check func([]uint8) error) error {
	c.checked++
	return c.FileStore.SetManyIf(ctx, entries, guards, check)
}

// TestEnrollmentStatusOneWriteOnFileStore: over a FileStore too, an
// enrollment's status change is one write of every copy's entries (all
// or none), not one write per entry, which a request ending half-way
// (the client gone, the server's write timeout, a disk error) left partly
// made. (Review finding, session 19.)
func TestEnrollmentStatusOneWriteOnFileStore(t *testing.T) {
	files, err := statuslist.OpenFileStore(t.TempDir(), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := &countingFileStore{FileStore: files}
	is, eid, copies := issueCopies(t, st, 3)
	s := &Service{cfg: Config{Credentials: is}}
	n, err := s.SetStatus(context.Background(), eid, issuer.ActionRevoke, issuer.Actor{ClientID: "rp-1"})
	if err != nil || n != 6 {
		t.Fatalf("SetStatus: %d, %v", n, err)
	}
	if st.sets != 0 || st.checked != 1 {
		t.Errorf("%d single writes and %d checked writes for one enrollment's change, want 0 and 1", st.sets, st.checked)
	}
	want := []uint8{status.TokenInvalid, status.TokenInvalid, status.TokenInvalid}
	if got := tokenValues(t, st, copies); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("token values %v, want %v", got, want)
	}
}
