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
func TestEnrollmentStatusPendingChangesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := &pendingFiles{FileStore: files, pending: map[status.Ref]bool{}}
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
	// Three copies of one enrollment, one credential each (the IDs are
	// the identity credentials', derived from the enrollment ID); the
	// last one's change is pending on another instance.
	const eid = "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"
	ids := enrollment.EnrollmentCredentialIDs(eid)
	var tokens []status.Ref
	for i := range 3 {
		cred := map[string]any{"@context": []any{vc.ContextV2}, "id": ids[2*i+1], "type": []any{vc.TypeCredential},
			"credentialSubject": map[string]any{"id": "did:example:holder"}}
		issued, err := is.Issue(ctx, cred, issuer.IssueOptions{Format: issuer.FormatSDJWT, Client: "test-client"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range issued.Status {
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
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/enrollments/"+eid+"/status", strings.NewReader(`{"action":"revoke"}`))
	req.Header.Set("Authorization", "Bearer "+statusToken)
	req.Header.Set("Content-Type", "application/json")
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"status_change_pending"`) {
		t.Fatalf("revoke with a copy's change pending: %d %s", rec.Code, rec.Body)
	}
	for i, r := range tokens {
		if _, v, err := st.Get(ctx, r.ListID, r.Index); err != nil || v != status.TokenValid {
			t.Errorf("copy %d after the answer %s: token status %d %v, want valid", i, rec.Body, v, err)
		}
	}
}
