package credentials_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
)

// gathering lets calls through in batches of want: each call waits until
// want calls are in flight together, or fails after a timeout (the calls
// were made one after the other).
type gathering struct {
	want int
	mu   sync.Mutex
	in   int
	full chan struct{}
}

func (g *gathering) join() error {
	g.mu.Lock()
	if g.full == nil {
		g.full = make(chan struct{})
	}
	full := g.full
	if g.in++; g.in == g.want {
		close(g.full)
		g.in, g.full = 0, nil
	}
	g.mu.Unlock()
	select {
	case <-full:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("test: calls made one after the other, not together")
	}
}

// gatheringStore is the real file store, with Allocate and BindOwner
// let through only in batches (allocs.want, binds.want).
type gatheringStore struct {
	*statuslist.FileStore
	allocs, binds gathering
}

func (s *gatheringStore) Allocate(ctx context.Context, purpose string) (string, int, error) {
	if err := s.allocs.join(); err != nil {
		return "", 0, err
	}
	return s.FileStore.Allocate(ctx, purpose)
}

func (s *gatheringStore) BindOwner(ctx context.Context, credentialID, owner string, refs []status.Ref) error {
	if err := s.binds.join(); err != nil {
		return err
	}
	return s.FileStore.BindOwner(ctx, credentialID, owner, refs)
}

// TestIssueReservesAndBindsTogether: a vc+jwt's revocation and suspension
// entries are allocated by concurrent calls (each purpose is its own group
// commit in the file store, so they are written in parallel, not one after
// the other), the items of a group are prepared (and their entries
// allocated) at once, and the credentials of a group are bound by
// concurrent calls.
// The credentials still verify and share their fate.
func TestIssueReservesAndBindsTogether(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	st := &gatheringStore{FileStore: n.status, allocs: gathering{want: 2}, binds: gathering{want: 1}}
	is, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: st, Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	one, err := is.Issue(ctx, sampleCredential(), issuer.IssueOptions{})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if _, err := n.verifier.VerifyCredential(ctx, one.Token); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if len(one.Status) != 2 || one.Status[0].Purpose != PurposeRevocation || one.Status[1].Purpose != PurposeSuspension {
		t.Fatalf("status entries %+v, want revocation then suspension", one.Status)
	}

	st.binds.want = 2
	group, err := is.IssueGroup(ctx, []issuer.GroupItem{
		{Credential: residence(holderDID), Options: issuer.IssueOptions{Client: "enroller"}},
		{Credential: residence(holderDID), Options: issuer.IssueOptions{Client: "enroller"}},
	})
	if err != nil {
		t.Fatalf("IssueGroup: %v", err)
	}
	if err := is.SetStatus(ctx, group[1].ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifyCredential(ctx, group[0].Token); !errors.Is(err, ErrRevoked) {
		t.Fatalf("first of a group after revoking the second: %v, want ErrRevoked", err)
	}

	// An enrollment's group: the SD-JWT VC's token entry and the vc+jwt's
	// two entries, all three at once.
	st.allocs.want = 3
	mixed, err := is.IssueGroup(ctx, []issuer.GroupItem{
		{Credential: residence(holderDID), Options: issuer.IssueOptions{Client: "enroller", Format: issuer.FormatSDJWT}},
		{Credential: residence(holderDID), Options: issuer.IssueOptions{Client: "enroller"}},
	})
	if err != nil {
		t.Fatalf("IssueGroup (sd-jwt, vc+jwt): %v", err)
	}
	if _, err := n.verifier.VerifySDJWT(ctx, mixed[0].Token, SDJWTOptions{}); err != nil {
		t.Fatalf("verify the SD-JWT VC: %v", err)
	}
	if _, err := n.verifier.VerifyCredential(ctx, mixed[1].Token); err != nil {
		t.Fatalf("verify the vc+jwt: %v", err)
	}
}
