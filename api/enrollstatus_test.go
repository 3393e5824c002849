package api

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// pendingFiles is a real FileStore that makes changes all or none, as
// statuslist.Shared does (issuer.CheckedSetter), refusing with
// status.ErrChangePending a change of an entry in pending (another
// instance's change of it not committed).
type pendingFiles struct {
	*statuslist.FileStore
	pending map[status.Ref]bool // by list and index
}

func (p *pendingFiles) SetManyIf(ctx context.Context, entries []status.Entry, guards []status.Ref, check func([]uint8) error) error {
	for _, e := range entries {
		if p.pending[status.Ref{ListID: e.ListID, Index: e.Index}] {
			return fmt.Errorf("test: %w: entry %d of list %s", status.ErrChangePending, e.Index, e.ListID)
		}
	}
	values := make([]uint8, len(guards))
	for i, g := range guards {
		var err error
		if _, values[i], err = p.Get(ctx, g.ListID, g.Index); err != nil {
			return err
		}
	}
	if err := check(values); err != nil {
		return err
	}
	for _, e := range entries {
		if err := p.Set(ctx, e.ListID, e.Index, e.Value); err != nil {
			return err
		}
	}
	return nil
}

// noEnroll stands in for what enrollment.New requires and a status
// change does not use.
type noEnroll struct{}

func (noEnroll) Verify(context.Context, identity.Document, string, crypto.PublicKey, string) (*identity.Attestation, error) {
	panic("not used")
}
func (noEnroll) SealPINs(string, [][]byte) ([]identity.SealedPIN, error) { panic("not used") }
func (noEnroll) IssueBinding(qrcode.Binding) ([]byte, error)             { panic("not used") }
func (noEnroll) MarkUsed(context.Context, string, time.Duration) error   { panic("not used") }

// TestEnrollmentStatusPendingChangesNothing: POST
// /v1/enrollments/{id}/status refused because another instance's change
// of a later copy is pending answers 503 status_change_pending, whose
// message says nothing was changed: and nothing was. Before, each copy
// was its own change, and the earlier copies were revoked.
// enrollStatusEnv is an enrollment service whose credentials are issued
// into st (a real FileStore in dir), for the status route's tests.
func enrollStatusEnv(t *testing.T, st *pendingFiles) (*issuer.Issuer, *enrollment.Service) {
	t.Helper()
	dir := t.TempDir()
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.FileStore, err = statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{}); err != nil {
		t.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: "https://node.example", Keys: ks, Status: st})
	if err != nil {
		t.Fatal(err)
	}
	en, err := enrollment.New(enrollment.Config{Region: "310000", Audience: "https://node.example",
		Documents: &identity.Validator{}, Symbols: &identity.Deriver{}, Subjects: &identity.BindingSubjects{},
		Attestations: noEnroll{}, PINs: noEnroll{}, Credentials: is, Bindings: noEnroll{}, Status: &enrollment.ListStatus{}, Nonces: noEnroll{}})
	if err != nil {
		t.Fatal(err)
	}
	return is, en
}

// issueEnrollmentCopy issues copy i of enrollment eid (its identity
// credential, whose ID derives from eid) for test-client and returns its
// status entries.
func issueEnrollmentCopy(t *testing.T, is *issuer.Issuer, eid string, i int) []status.Ref {
	t.Helper()
	cred := map[string]any{"@context": []any{vc.ContextV2}, "id": enrollment.EnrollmentCredentialIDs(eid)[2*i+1], "type": []any{vc.TypeCredential},
		"credentialSubject": map[string]any{"id": "did:example:holder"}}
	issued, err := is.Issue(context.Background(), cred, issuer.IssueOptions{Format: issuer.FormatSDJWT, Client: "test-client"})
	if err != nil {
		t.Fatal(err)
	}
	return issued.Status
}

// postEnrollmentStatus posts action to eid's status route as token.
func postEnrollmentStatus(s *Server, token, eid, action string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/enrollments/"+eid+"/status", strings.NewReader(`{"action":"`+action+`"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func TestEnrollmentStatusPendingChangesNothing(t *testing.T) {
	ctx := context.Background()
	st := &pendingFiles{pending: map[status.Ref]bool{}}
	is, en := enrollStatusEnv(t, st)
	// Three copies of one enrollment, one credential each (the IDs are
	// the identity credentials', derived from the enrollment ID); the
	// last one's change is pending on another instance.
	const eid = "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"
	var tokens []status.Ref
	for i := range 3 {
		for _, r := range issueEnrollmentCopy(t, is, eid, i) {
			if r.Purpose == status.PurposeToken {
				tokens = append(tokens, r)
			}
			if i == 2 {
				st.pending[status.Ref{ListID: r.ListID, Index: r.Index}] = true
			}
		}
	}
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	s.SetAuthorizer(bearerAuthorizer{statusToken: auth.ScopeStatusWrite})
	if err := s.MountEnroll(EnrollConfig{Enrollment: en}); err != nil {
		t.Fatal(err)
	}
	rec := postEnrollmentStatus(s, statusToken, eid, "revoke")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"status_change_pending"`) {
		t.Fatalf("revoke with a copy's change pending: %d %s", rec.Code, rec.Body)
	}
	for i, r := range tokens {
		if _, v, err := st.Get(ctx, r.ListID, r.Index); err != nil || v != status.TokenValid {
			t.Errorf("copy %d after the answer %s: token status %d %v, want valid", i, rec.Body, v, err)
		}
	}
}

// TestEnrollmentStatusLimitedPerClient: POST /v1/enrollments/{id}/status
// counts against the client's status-change limit, as POST
// /v1/credentials/{id}/status does (one counter for both): each call
// writes the status lists of every copy. Before, the route had no limit
// at all, so a client with status:write could change statuses (and so
// write the lists and the ledger) as fast as it could send requests, past
// --status-rate-client. A refused call changes nothing; another client
// has its own budget.
func TestEnrollmentStatusLimitedPerClient(t *testing.T) {
	ctx := context.Background()
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	st := &pendingFiles{pending: map[status.Ref]bool{}}
	is, en := enrollStatusEnv(t, st)
	const eid = "urn:uuid:5b0f8fad-d9cb-469f-a165-70867728950e"
	var token status.Ref
	for _, r := range issueEnrollmentCopy(t, is, eid, 0) {
		if r.Purpose == status.PurposeToken {
			token = r
		}
	}
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	s.SetAuthorizer(bearerAuthorizer{statusToken: auth.ScopeStatusWrite, otherStatusToken: auth.ScopeStatusWrite})
	if err := s.MountEnroll(EnrollConfig{Enrollment: en, Limiter: mem, StatusLimit: &RateLimit{Limit: 2, Window: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	for i, action := range []string{"suspend", "reinstate"} {
		if rec := postEnrollmentStatus(s, statusToken, eid, action); rec.Code != http.StatusOK {
			t.Fatalf("status change %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := postEnrollmentStatus(s, statusToken, eid, "revoke")
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"`+CodeRateLimited+`"`) || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status change 3: %d %s, Retry-After %q; want 429 %s with Retry-After", rec.Code, rec.Body, rec.Header().Get("Retry-After"), CodeRateLimited)
	}
	if _, v, err := st.Get(ctx, token.ListID, token.Index); err != nil || v != status.TokenValid {
		t.Fatalf("after the refused revocation: token status %d %v, want valid", v, err)
	}
	// Another client is not held back (and is not the enrollment's owner).
	if rec := postEnrollmentStatus(s, otherStatusToken, eid, "revoke"); rec.Code != http.StatusNotFound {
		t.Fatalf("another client's change: %d %s, want 404 (its own budget; not its enrollment)", rec.Code, rec.Body)
	}
}
