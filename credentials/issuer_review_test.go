package credentials_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/credentials/status"
)

// TestSDJWTConcealBeforeAllocate: claims that cannot be concealed are
// refused before any status entry is spent or the ID bound, so the same
// ID can be issued once the request is fixed.
func TestSDJWTConcealBeforeAllocate(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	c := sampleCredential()
	c["id"] = "urn:uuid:0b6f3c52-8d4e-4a7b-9c1d-2e3f4a5b6c7d"
	c["credentialSubject"].(map[string]any)["residence"] = map[string]any{"region": "310000", "_sd": "forged"}
	if _, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{Format: issuer.FormatSDJWT}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reserved nested claim: %v", err)
	}
	if _, err := n.status.Refs(ctx, c["id"].(string)); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("status entries bound for a refused credential: %v", err)
	}
	if got := len(n.status.Lists()); got != 0 {
		t.Fatalf("%d status lists created for a refused credential", got)
	}
	c["credentialSubject"].(map[string]any)["residence"] = map[string]any{"region": "310000"}
	iss, err := n.issuer.Issue(ctx, c, issuer.IssueOptions{Format: issuer.FormatSDJWT})
	if err != nil {
		t.Fatalf("the fixed request: %v", err)
	}
	if _, err := n.verifier.VerifyToken(ctx, iss.Token); err != nil {
		t.Fatal(err)
	}
}

// TestSetStatusAs: only the issuing client or an administrator changes a
// credential's status; others cannot tell it from an unknown ID; the
// index keeps no client ID in clear.
func TestSetStatusAs(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	mine := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{Client: "svc-issuer-a"})
	sd := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, Client: "svc-issuer-a"})
	nobody := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})

	for _, c := range []struct {
		id    string
		actor issuer.Actor
	}{
		{mine.ID, issuer.Actor{ClientID: "svc-issuer-b"}},
		{mine.ID, issuer.Actor{}},
		{sd.ID, issuer.Actor{ClientID: "svc-issuer-b"}},
		{nobody.ID, issuer.Actor{ClientID: "svc-issuer-a"}},
		{nobody.ID, issuer.Actor{}},
	} {
		err := n.issuer.SetStatusAs(ctx, c.id, issuer.ActionRevoke, c.actor)
		if !errors.Is(err, issuer.ErrNotOwner) || !errors.Is(err, ErrNotFound) {
			t.Errorf("%+v revoking %s: %v", c.actor, c.id, err)
		}
	}
	if _, err := n.verifier.VerifyCredential(ctx, mine.Token); err != nil {
		t.Fatalf("changed by another client: %v", err)
	}
	if err := n.issuer.SetStatusAs(ctx, "urn:uuid:none", issuer.ActionRevoke, issuer.Actor{ClientID: "svc-issuer-b"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown ID: %v", err)
	}
	if err := n.issuer.SetStatusAs(ctx, mine.ID, issuer.ActionSuspend, issuer.Actor{ClientID: "svc-issuer-a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifyCredential(ctx, mine.Token); !errors.Is(err, ErrSuspended) {
		t.Fatalf("owner's suspension: %v", err)
	}
	if err := n.issuer.SetStatusAs(ctx, sd.ID, issuer.ActionRevoke, issuer.Actor{ClientID: "svc-issuer-a"}); err != nil {
		t.Fatal(err)
	}
	if err := n.issuer.SetStatusAs(ctx, nobody.ID, issuer.ActionRevoke, issuer.Actor{ClientID: "ops", Admin: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifyCredential(ctx, nobody.Token); !errors.Is(err, ErrRevoked) {
		t.Fatalf("administrator's revocation: %v", err)
	}
	if err := n.issuer.SetStatusAs(ctx, mine.ID, issuer.ActionRevoke, issuer.Actor{ClientID: "svc-issuer-b", Admin: true}); err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimSuffix(n.status.String()[len("statuslist.FileStore("):], ")")
	raw, err := os.ReadFile(filepath.Join(dir, "index.log"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "svc-issuer-a") {
		t.Fatal("client ID stored in clear")
	}
	if strings.Count(string(raw), `"owner":"`) != 2 {
		t.Fatalf("owner tags: %s", raw)
	}
}

// TestStatusListCurrentNoCopy: serving a list whose encoding is cached
// and current copies nothing (before, every call cloned the whole list).
func TestStatusListCurrentNoCopy(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	lid := iss.Status[0].ListID
	_, tok1, err := n.issuer.StatusList(ctx, lid)
	if err != nil {
		t.Fatal(err)
	}
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	const calls = 100
	for range calls {
		if _, tok, err := n.issuer.StatusList(ctx, lid); err != nil || tok != tok1 {
			t.Fatalf("cached encoding: %v", err)
		}
	}
	runtime.ReadMemStats(&b)
	if per := (b.TotalAlloc - a.TotalAlloc) / calls; per > 1024 {
		t.Errorf("%d bytes allocated per cached StatusList call", per)
	}
	// A change is still served at once.
	if err := n.issuer.SetStatus(ctx, iss.ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	if _, tok, _ := n.issuer.StatusList(ctx, lid); tok == tok1 {
		t.Fatal("stale encoding after a change")
	}
}
