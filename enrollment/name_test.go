package enrollment

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
)

// spendNothing stands in for what an enrollment refused before issuing
// must not reach: any call fails the test.
type spendNothing struct{ t *testing.T }

func (s spendNothing) Verify(context.Context, identity.Document, string, crypto.PublicKey, string) (*identity.Attestation, error) {
	s.t.Error("attestation verified")
	return nil, errors.New("not used")
}
func (s spendNothing) SealPINs(string, [][]byte) ([]identity.SealedPIN, error) {
	s.t.Error("PIN sealed")
	return nil, errors.New("not used")
}
func (s spendNothing) IssueGroup(context.Context, []issuer.GroupItem) ([]*issuer.Issued, error) {
	s.t.Error("credentials issued")
	return nil, errors.New("not used")
}
func (s spendNothing) SetStatus(context.Context, string, string) error { return errors.New("not used") }
func (s spendNothing) SetStatusesAs(context.Context, []string, string, issuer.Actor) ([]bool, error) {
	return nil, errors.New("not used")
}
func (s spendNothing) IssueBinding(qrcode.Binding) ([]byte, error) {
	s.t.Error("binding issued")
	return nil, errors.New("not used")
}
func (s spendNothing) MarkUsed(context.Context, string, time.Duration) error {
	s.t.Error("marker spent")
	return errors.New("not used")
}

// TestEnrollNameCanonicalTooLong: a name that NormalizeName accepts but
// whose canonical (upper-case) form is longer than identity.MaxNameLen
// bytes (ɐ, U+0250, is 2 bytes; its upper case Ɐ, U+2C6F, 3) is refused
// as invalid_name before anything is spent, not with an internal error
// ("reached no assurance level") after.
func TestEnrollNameCanonicalTooLong(t *testing.T) {
	key := identity.VersionedKey{Version: 1, Secret: make([]byte, 32)}
	syms, err := identity.NewDeriver(key)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := identity.NewPairwiseDeriver(identity.VersionedKey{Version: 1, Secret: []byte(strings.Repeat("p", 32))})
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := identity.NewBindingSubjects(pw)
	if err != nil {
		t.Fatal(err)
	}
	no := spendNothing{t}
	s, err := New(Config{Region: "310000", Audience: "https://node.example", Documents: &identity.Validator{},
		Symbols: syms, Subjects: subjects, Attestations: no, PINs: no, Credentials: no, Bindings: no,
		Status: &ListStatus{}, Nonces: no})
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("ɐ", 67) // 134 bytes; upper case 201
	_, _, err = s.Enroll(context.Background(), "client", &Request{Document: Document{Number: "11010519491231002X"}, Name: name})
	var ee *EvidenceError
	if code, _ := identity.CodeOf(err); !errors.As(err, &ee) || code != identity.CodeInvalidName {
		t.Fatalf("enroll with a name too long in canonical form: %v, want invalid_name", err)
	}
}
