package enrollment

import (
	"context"
	"crypto"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
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
	s := testService(t, nil)
	name := strings.Repeat("ɐ", 67) // 134 bytes; upper case 201
	_, _, err := s.Enroll(context.Background(), "client", &Request{Document: Document{Number: "11010519491231002X"}, Name: name})
	var ee *EvidenceError
	if code, _ := identity.CodeOf(err); !errors.As(err, &ee) || code != identity.CodeInvalidName {
		t.Fatalf("enroll with a name too long in canonical form: %v, want invalid_name", err)
	}
}

// testService is an enrollment service over a real credential issuer,
// status lists and static code issuer, at the time now (nil: the clock);
// the attestation, PIN, binding and nonce parts fail the test if used.
func testService(t *testing.T, now func() time.Time) *Service {
	t.Helper()
	return testServiceWith(t, now, nil)
}

// testServiceWith is testService with edit applied to its Config.
func testServiceWith(t *testing.T, now func() time.Time, edit func(*Config)) *Service {
	t.Helper()
	dir := t.TempDir()
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: "https://node.example", Keys: ks, Status: files})
	if err != nil {
		t.Fatal(err)
	}
	sm2, err := ks.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := identity.NewDeriver(identity.VersionedKey{Version: 1, Secret: make([]byte, 32)})
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
	cfg := Config{Region: "310000", Audience: "https://node.example", Documents: &identity.Validator{Now: now},
		Symbols: syms, Subjects: subjects, Attestations: no, PINs: no, Credentials: is, Bindings: no,
		Statics: &qrcode.Issuer{Signer: sm2.Signer, Kid: sm2.Kid, Region: 310000},
		Status:  &ListStatus{Region: 310000, Lists: files}, Nonces: no, Now: now}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStaticCodeLongName: a holder whose name is valid (at most 100
// characters) but whose masked form is longer than a static code holds
// (qrcode.MaxMaskedLen bytes: a long Latin name keeps a byte per letter)
// gets a static code with the masked name shortened, not an internal
// error after the enrollment's credentials were issued and revoked.
func TestStaticCodeLongName(t *testing.T) {
	ctx := context.Background()
	s := testService(t, nil)
	for _, name := range []string{
		strings.TrimSpace(strings.Repeat("Maximiliano ", 8)),         // 95 bytes, masked as many
		"Ana María de los Ángeles Fernández García de la Concepción", // accents masked as one byte
		"张" + strings.Repeat("三", 65),                                // masked: 3 + 65 bytes
		"张三",
	} {
		resp, _, err := s.Enroll(ctx, "client", &Request{Document: Document{Number: "11010519491231002X"}, Name: name, StaticCode: true})
		if err != nil {
			t.Errorf("%q (masked %d bytes): %v", name, len(identity.MaskName(name)), err)
			continue
		}
		code := resp.Copies[0].StaticCode
		st, err := qrcode.DecodeStatic(code.Code)
		if err != nil {
			t.Errorf("%q: the static code does not decode: %v", name, err)
			continue
		}
		masked := st.MaskedName
		if len(masked) > qrcode.MaxMaskedLen || !strings.Contains(masked, "*") || !strings.HasPrefix(identity.MaskName(name), strings.TrimSuffix(masked, "…")) {
			t.Errorf("%q: masked name %q", name, masked)
		}
	}
}

// TestEnrollBornToday: a holder born today where the day has begun
// (UTC+8, while it is still yesterday in UTC) is enrolled: the document
// parser takes birth dates up to today at UTC+14, and so does the
// identity credential. Before, the credential refused a birth date after
// the day-coarse issuance time (422 invalid_credential, after the
// attestation and device proofs were spent).
func TestEnrollBornToday(t *testing.T) {
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC) // 02:00 on 7 December in Beijing
	s := testService(t, func() time.Time { return now })
	for _, birth := range []string{"20261207", "20261206", "20000229"} {
		body := "310104" + birth + "002"
		resp, _, err := s.Enroll(context.Background(), "client", &Request{Document: Document{Number: body + string(identity.Mod112(body))}, Name: "张三"})
		if err != nil {
			t.Errorf("born %s, enrolled %v: %v", birth, now, err)
			continue
		}
		if resp.AssuranceLevel != "L1" || len(resp.Copies) != 1 {
			t.Errorf("born %s: %+v", birth, resp)
		}
	}
	// A day later than that is in the future everywhere: refused by the
	// parser, before anything is spent.
	body := "31010420261208002"
	_, _, err := s.Enroll(context.Background(), "client", &Request{Document: Document{Number: body + string(identity.Mod112(body))}, Name: "张三"})
	if code, _ := identity.CodeOf(err); code != identity.CodeFutureBirthDate {
		t.Errorf("born tomorrow in Beijing: %v, want future_birth_date", err)
	}
}

// TestBindingTTLAtLeastADay: the times of what enrollment issues are
// day-coarse (validity rounded down to the UTC day), so a BindingTTL under
// a day is refused at New: at 18:00 UTC with 2 hours it ended the
// validity on the day it began, so the identity credential fell back to a
// year (its validity zero), the answer's expires_at was already past and a
// static code was refused after the credentials were issued. A day gives
// a validity that ends after now.
func TestBindingTTLAtLeastADay(t *testing.T) {
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	var cfg Config
	s := testServiceWith(t, func() time.Time { return now }, func(c *Config) { c.BindingTTL = 24 * time.Hour; cfg = *c })
	cfg.BindingTTL = 24*time.Hour - time.Second
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "binding ttl") {
		t.Errorf("a binding ttl under a day: %v, want refused", err)
	}
	body := "31010419800101002"
	resp, _, err := s.Enroll(context.Background(), "client", &Request{Document: Document{Number: body + string(identity.Mod112(body))}, Name: "张三", StaticCode: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC); !resp.ExpiresAt.Equal(want) {
		t.Errorf("expires_at %v, want %v", resp.ExpiresAt, want)
	}
}
