package enrollment

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/keystore"
)

// checkedFiles is a real FileStore that makes changes as
// statuslist.Shared does (issuer.CheckedSetter): all or none, refused
// with status.ErrChangePending when an entry is in pending (another
// instance's change not committed), and with the entries in revokedMeanwhile
// revoked just before the guards are read (another instance's revocation
// committed while the change waited for its marker).
type checkedFiles struct {
	*statuslist.FileStore
	pending          map[status.Ref]bool // by list and index
	revokedMeanwhile []status.Ref
	calls            int
}

func (c *checkedFiles) SetManyIf(ctx context.Context, entries []status.Entry, guards []status.Ref, check func([]uint8) error) error {
	c.calls++
	for i, e := range entries {
		if slices.Contains(entries[:i], e) {
			return fmt.Errorf("test: entry %d of list %s given twice", e.Index, e.ListID)
		}
		if c.pending[status.Ref{ListID: e.ListID, Index: e.Index}] {
			return fmt.Errorf("test: %w: entry %d of list %s", status.ErrChangePending, e.Index, e.ListID)
		}
	}
	for _, r := range c.revokedMeanwhile {
		if err := c.Set(ctx, r.ListID, r.Index, 1); err != nil {
			return err
		}
	}
	values := make([]uint8, len(guards))
	for i, g := range guards {
		var err error
		if _, values[i], err = c.Get(ctx, g.ListID, g.Index); err != nil {
			return err
		}
	}
	if err := check(values); err != nil {
		return err
	}
	for _, e := range entries {
		if err := c.Set(ctx, e.ListID, e.Index, e.Value); err != nil {
			return err
		}
	}
	return nil
}

// enrolledCopies issues the two credentials (identity and binding, one
// group) of each of n copies of a new enrollment (without Config.IDs: IDs
// derived from the enrollment ID) for client rp-1, and returns the
// enrollment ID and each copy's entries.
func enrolledCopies(t testing.TB, n int) (*checkedFiles, *issuer.Issuer, string, [][]status.Ref) {
	t.Helper()
	files, err := statuslist.OpenFileStore(t.TempDir(), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := &checkedFiles{FileStore: files, pending: map[status.Ref]bool{}}
	is, eid, copies := issueCopies(t, st, n)
	return st, is, eid, copies
}

// issueCopies issues, over st, the two credentials (identity and binding,
// one group) of each of n copies of a new enrollment for client rp-1, and
// returns the issuer, the enrollment ID and each copy's entries.
func issueCopies(t testing.TB, st vc.StatusStore, n int) (*issuer.Issuer, string, [][]status.Ref) {
	t.Helper()
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: "https://node.example", Keys: ks, Status: st})
	if err != nil {
		t.Fatal(err)
	}
	eid, err := newEnrollmentID()
	if err != nil {
		t.Fatal(err)
	}
	var copies [][]status.Ref
	for i := range n {
		var items []issuer.GroupItem
		for _, kind := range []string{"identity", "binding"} {
			cred := map[string]any{"@context": []any{vc.ContextV2}, "id": enrollmentCredentialID(eid, kind, i),
				"type": []any{vc.TypeCredential}, "credentialSubject": map[string]any{"id": "did:example:holder"}}
			items = append(items, issuer.GroupItem{Credential: cred, Options: issuer.IssueOptions{Format: issuer.FormatSDJWT, Client: "rp-1"}})
		}
		issued, err := is.IssueGroup(context.Background(), items)
		if err != nil {
			t.Fatal(err)
		}
		copies = append(copies, issued[0].Status)
	}
	return is, eid, copies
}

// tokenValues is each copy's Token Status List value.
func tokenValues(t *testing.T, st vc.StatusStore, copies [][]status.Ref) []uint8 {
	t.Helper()
	var out []uint8
	for _, refs := range copies {
		for _, r := range refs {
			if r.Purpose == status.PurposeToken {
				_, v, err := st.Get(context.Background(), r.ListID, r.Index)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
	}
	return out
}

// TestEnrollmentStatusRefusedChangesNothing: an enrollment's status
// change is one change of every copy. A refusal of a later copy (another
// instance's change pending, or a revocation committed while the change
// waited) leaves the earlier copies as they were; before, each copy was
// its own change and the earlier ones were changed while the request
// was refused with "nothing was changed".
func TestEnrollmentStatusRefusedChangesNothing(t *testing.T) {
	ctx := context.Background()
	rp1 := issuer.Actor{ClientID: "rp-1"}
	st, is, eid, copies := enrolledCopies(t, 3)
	s := &Service{cfg: Config{Credentials: is}}
	for _, r := range copies[2] {
		st.pending[status.Ref{ListID: r.ListID, Index: r.Index}] = true
	}
	if n, err := s.SetStatus(ctx, eid, issuer.ActionRevoke, rp1); !errors.Is(err, status.ErrChangePending) || n != 0 {
		t.Fatalf("revoke with copy 2 pending: %d %v, want ErrChangePending", n, err)
	}
	if got := tokenValues(t, st, copies); fmt.Sprint(got) != fmt.Sprint([]uint8{status.TokenValid, status.TokenValid, status.TokenValid}) {
		t.Fatalf("after a refused revocation the copies are %v, want all valid", got)
	}
	clear(st.pending)
	for _, r := range copies[1] {
		if r.Purpose == status.PurposeToken || r.Purpose == vc.PurposeRevocation {
			st.revokedMeanwhile = append(st.revokedMeanwhile, r)
		}
	}
	if n, err := s.SetStatus(ctx, eid, issuer.ActionSuspend, rp1); !errors.Is(err, issuer.ErrStatusConflict) || n != 0 {
		t.Fatalf("suspend while copy 1 is revoked meanwhile: %d %v, want ErrStatusConflict", n, err)
	}
	if got := tokenValues(t, st, copies); got[0] != status.TokenValid || got[2] != status.TokenValid {
		t.Fatalf("after a refused suspension the copies are %v, want copies 0 and 2 valid", got)
	}
	if st.calls != 2 {
		t.Errorf("%d store changes for two enrollment changes, want one each", st.calls)
	}
}

// TestEnrollmentStatusSkipsRevokedCopies: suspending or reinstating an
// enrollment changes the copies not revoked and counts them; only when
// every copy is revoked is it refused (409 status_conflict). Revoking
// changes every copy again.
func TestEnrollmentStatusSkipsRevokedCopies(t *testing.T) {
	ctx := context.Background()
	rp1 := issuer.Actor{ClientID: "rp-1"}
	st, is, eid, copies := enrolledCopies(t, 3)
	s := &Service{cfg: Config{Credentials: is}}
	if err := is.SetStatus(ctx, enrollmentCredentialID(eid, "identity", 1), issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		action string
		want   uint8
	}{{issuer.ActionSuspend, status.TokenSuspended}, {issuer.ActionReinstate, status.TokenValid}, {issuer.ActionSuspend, status.TokenSuspended}} {
		n, err := s.SetStatus(ctx, eid, c.action, rp1)
		if err != nil || n != 4 {
			t.Fatalf("%s with copy 1 revoked: %d %v, want 4 changed", c.action, n, err)
		}
		if got := tokenValues(t, st, copies); fmt.Sprint(got) != fmt.Sprint([]uint8{c.want, status.TokenInvalid, c.want}) {
			t.Fatalf("after %s: %v", c.action, got)
		}
	}
	if n, err := s.SetStatus(ctx, eid, issuer.ActionSuspend, issuer.Actor{ClientID: "rp-2"}); !errors.Is(err, ErrNotFound) || n != 0 {
		t.Fatalf("another client's suspension: %d %v, want ErrNotFound", n, err)
	}
	if n, err := s.SetStatus(ctx, eid, issuer.ActionRevoke, rp1); err != nil || n != 6 {
		t.Fatalf("revoke: %d %v, want 6 changed", n, err)
	}
	for _, action := range []string{issuer.ActionSuspend, issuer.ActionReinstate} {
		if n, err := s.SetStatus(ctx, eid, action, issuer.Actor{Admin: true}); !errors.Is(err, issuer.ErrStatusConflict) || n != 0 {
			t.Fatalf("%s of an enrollment all revoked: %d %v, want ErrStatusConflict", action, n, err)
		}
	}
	if got := tokenValues(t, st, copies); fmt.Sprint(got) != fmt.Sprint([]uint8{status.TokenInvalid, status.TokenInvalid, status.TokenInvalid}) {
		t.Fatalf("after revoking: %v", got)
	}
}

// BenchmarkEnrollmentSetStatus: suspending and reinstating an enrollment
// of three copies, two credentials each, over a FileStore (one store
// change a request).
func BenchmarkEnrollmentSetStatus(b *testing.B) {
	st, is, eid, _ := enrolledCopies(b, 3)
	s := &Service{cfg: Config{Credentials: is}}
	actions := []string{issuer.ActionSuspend, issuer.ActionReinstate}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if n, err := s.SetStatus(context.Background(), eid, actions[i%2], issuer.Actor{ClientID: "rp-1"}); err != nil || n != 6 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(st.calls)/float64(b.N), "store-changes/op")
}
