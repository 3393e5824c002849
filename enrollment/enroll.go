package enrollment

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// Enrollment defaults.
const (
	// DefaultBindingTTL is the validity of a device binding.
	DefaultBindingTTL = 365 * 24 * time.Hour
	// MinBindingTTL is the shortest BindingTTL: validity is rounded down
	// to the UTC day, so a shorter one could end on the day it begins.
	MinBindingTTL = 24 * time.Hour
	// TypeDeviceBindingCredential is the type of the binding credential.
	TypeDeviceBindingCredential = vc.TypeDeviceBindingCredential
)

// Errors of enrollment that are not the identity package's.
var (
	// ErrDeviceProof is a device proof that does not verify
	// (holder.CheckDeviceProof).
	ErrDeviceProof = holder.ErrDeviceProof
	// ErrDeviceKey is a device key that is not a public SM2 or P-256 JWK.
	ErrDeviceKey = errors.New("enrollment: device key invalid")
	// ErrDeviceReplay is a device proof already spent.
	ErrDeviceReplay = errors.New("enrollment: device proof already used")
	// ErrRequest is a malformed enrollment request (RequestError).
	ErrRequest = errors.New("enrollment: request invalid")
)

// RequestError is a malformed request; Message says what is wrong and is
// safe to show. It matches ErrRequest.
type RequestError struct{ Message string }

func (e *RequestError) Error() string        { return ErrRequest.Error() + ": " + e.Message }
func (e *RequestError) Is(target error) bool { return target == ErrRequest }

func badRequest(format string, args ...any) error {
	return &RequestError{Message: fmt.Sprintf(format, args...)}
}

// EvidenceError is an identity package error about the evidence the
// holder gave (document, name, attestation, PIN): identity.CodeOf names
// it. It unwraps to that error.
type EvidenceError struct{ Err error }

func (e *EvidenceError) Error() string { return e.Err.Error() }
func (e *EvidenceError) Unwrap() error { return e.Err }

// evidence wraps an identity error that has a code; others (a store
// failing) pass unchanged.
func evidence(err error) error {
	if _, ok := identity.CodeOf(err); !ok {
		return err
	}
	return &EvidenceError{Err: err}
}

// AttestationChecker verifies a terminal attestation once
// (*identity.AttestationVerifier, configured with this node's Audience and
// Region): for doc, name and the device key being enrolled (nil without
// one), made for this node by a terminal of its region.
type AttestationChecker interface {
	Verify(ctx context.Context, doc identity.Document, name string, device crypto.PublicKey, token string) (*identity.Attestation, error)
}

// Sealer seals a holder's PIN verifiers, one per copy of an enrollment,
// so that their attempts are counted together (*identity.PINSealer,
// which also checks them).
type Sealer interface {
	SealPINs(pin string, aads [][]byte) ([]identity.SealedPIN, error)
}

// CredentialIssuer issues and revokes credentials (*credentials.Issuer).
// IssueGroup issues an enrollment's credentials so that they share their
// fate: a status change of one changes them all.
type CredentialIssuer interface {
	IssueGroup(ctx context.Context, items []issuer.GroupItem) ([]*issuer.Issued, error)
	SetStatus(ctx context.Context, id, action string) error
	SetStatusesAs(ctx context.Context, ids []string, action string, actor issuer.Actor) ([]bool, error)
}

// BindingIssuer signs compact QR device bindings (a *qrcode.Issuer, or
// one that picks the node's current key on each call).
type BindingIssuer interface {
	IssueBinding(b qrcode.Binding) ([]byte, error)
}

// StaticIssuer signs static printed codes (a *qrcode.Issuer, or one that
// picks the node's current key on each call) and returns their text.
type StaticIssuer interface {
	IssueStatic(st qrcode.Static) (string, error)
}

// NonceMarker spends single-use markers (store.Memory, redisstore.Store):
// MarkUsed returns an error matching store.ErrReplayed for a marker that
// is still live.
type NonceMarker interface {
	MarkUsed(ctx context.Context, key string, ttl time.Duration) error
}

// AuditRecorder appends to the node's hash-chained audit log
// (*ledger.AuditLog): an entry of kind about a pseudonymous symbol form,
// with details free of personal data. Append returns once the entry is
// durable; it is safe for concurrent use.
type AuditRecorder interface {
	Append(kind, symbol string, details map[string]string) (uint64, error)
}

// Audit entry kinds of enrollment (ledger.AuditEnrollment,
// ledger.AuditSymbolLink).
const (
	auditEnrollment = "enrollment"
	auditSymbolLink = "symbol_link"
)

// EnrollmentIDs mints enrollment IDs that carry every copy's status
// entries and the enrolling client (statuslist.Shared), so that any
// instance of a region changes an enrollment's status with nothing kept
// per enrollment. owner is credentials.OwnerTag of the client.
type EnrollmentIDs interface {
	MintEnrollmentID(owner string, copies [][]status.Ref) (string, error)
	// EnrollmentCredentials returns the IDs of each copy's credentials
	// (one group each), or an error matching status.ErrNotFound.
	EnrollmentCredentials(id string) ([][]string, error)
}

// Config wires a Service. Every field but the TTL, Now, Audit, Log and IDs
// is required.
type Config struct {
	// Region is this node's region, six digits.
	Region string
	// Audience is the node's public base URL: device proofs must name it.
	Audience  string
	Documents *identity.Validator
	Symbols   *identity.Deriver
	Subjects  *identity.BindingSubjects
	// Attestations verifies terminal attestations (single use).
	Attestations AttestationChecker
	PINs         Sealer
	Credentials  CredentialIssuer
	Bindings     BindingIssuer
	// Statics signs the static printed codes of enrollments that ask for
	// one (Request.StaticCode); nil refuses such enrollments.
	Statics StaticIssuer
	// Status turns the identity credential's status entry into the QR
	// binding's status reference.
	Status *ListStatus
	// Nonces makes device proofs single use.
	Nonces NonceMarker
	// BindingTTL is the validity of bindings and credentials; zero means
	// DefaultBindingTTL, and less than MinBindingTTL is refused.
	BindingTTL time.Duration
	Now        func() time.Time
	// Audit records each enrollment, and links the holder's symbols under
	// older symbol key versions to the current one; nil records nothing.
	// An enrollment whose entry cannot be written fails (its credentials
	// are revoked).
	Audit AuditRecorder
	// Log gets the credentials of a failed enrollment that could not be
	// revoked; nil: slog.Default().
	Log *slog.Logger
	// IDs, when set, mints enrollment IDs (and the credential store mints
	// the credentials' IDs: it must be the same statuslist.Shared). Nil:
	// enrollment IDs are random and the credential IDs derived from them
	// (enrollmentCredentialID), bound in the store's index.
	IDs EnrollmentIDs
}

// Service enrolls holders and changes the status of enrollments. It is
// safe for concurrent use.
type Service struct{ cfg Config }

// New checks cfg and returns its Service.
func New(cfg Config) (*Service, error) {
	if cfg.Documents == nil || cfg.Symbols == nil || cfg.Subjects == nil || cfg.Attestations == nil || cfg.PINs == nil ||
		cfg.Credentials == nil || cfg.Bindings == nil || cfg.Status == nil || cfg.Nonces == nil || cfg.Audience == "" {
		return nil, errors.New("enrollment: needs documents, symbols, subjects, attestations, PINs, credentials, bindings, status, nonces and an audience")
	}
	if _, err := qrcode.ParseRegion(cfg.Region); err != nil {
		return nil, fmt.Errorf("enrollment: region: %w", err)
	}
	if cfg.BindingTTL <= 0 {
		cfg.BindingTTL = DefaultBindingTTL
	}
	if cfg.BindingTTL < MinBindingTTL {
		return nil, fmt.Errorf("enrollment: a binding ttl of %v is under a day: validity is day-coarse, and would end on the day it begins", cfg.BindingTTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{cfg: cfg}, nil
}

// Request is an enrollment request (the body of POST /v1/enrollments).
type Request struct {
	Document Document `json:"document"`
	Name     string   `json:"name"`
	// DeviceKey is the holder's device public key; DeviceProof a JWS by
	// it (holder.NewDeviceProof: typ holder.DeviceProofType, aud the
	// node, iat, exp, jti). Both or neither.
	DeviceKey   *gm.JWK `json:"device_key,omitempty"`
	DeviceProof string  `json:"device_proof,omitempty"`
	// DeviceKeys is the batch form: 1 to MaxDeviceKeys keys, each with
	// its own proof; the enrollment issues one copy per key. Not with
	// DeviceKey, which is the batch of one.
	DeviceKeys []DeviceKeyProof `json:"device_keys,omitempty"`
	// Attestation is a terminal's attestation (identity.Attester), made
	// for this document, name and device key (or none) and this node, by
	// a terminal of this node's region.
	Attestation string `json:"attestation,omitempty"`
	// PIN is six digits; it needs a device key or StaticCode. It is
	// sealed into every copy (and into the static code).
	PIN string `json:"pin,omitempty"`
	// StaticCode asks for a static printed code: for a holder enrolling
	// at a counter without a smartphone (no device key: the enrollment's
	// one copy), or besides the device keys (a backup card; at most
	// MaxDeviceKeys-1 keys). The code has a copy of its own, the last,
	// whose identity credential's status entry the code carries
	// (StaticCode in Copy), so it is revoked apart from the devices'.
	StaticCode bool `json:"static_code,omitempty"`
}

// Document is the document: a number with an optional type name
// (identity.DocType.String()), or the two MRZ lines of a passport.
type Document struct {
	Type   string   `json:"type,omitempty"`
	Number string   `json:"number,omitempty"`
	MRZ    []string `json:"mrz,omitempty"`
}

// Response is what an enrollment issued.
type Response struct {
	// Symbol is the holder's own identity symbol (full text).
	Symbol string `json:"symbol"`
	// Subject is the holder's stable binding subject
	// (urn:trustid:subject:...), for the holder's own records: no
	// credential and no code names it (each copy has its own handle).
	Subject        string `json:"subject"`
	AssuranceLevel string `json:"assurance_level"`
	// EnrollmentID names the enrollment: its status route changes every
	// copy at once.
	EnrollmentID string `json:"enrollment_id"`
	// Copies are the enrollment's copies, one per device key (one without
	// a device key): each shown to one relying party, or for one offline
	// code at a time.
	Copies []Copy `json:"copies"`
	// The first copy again, for clients of the single device_key form.
	BindingCredential  *IssuedCredential `json:"binding_credential,omitempty"`
	QRBinding          []byte            `json:"qr_binding,omitempty"`
	IdentityCredential IssuedCredential  `json:"identity_credential"`
	ExpiresAt          time.Time         `json:"expires_at"`
}

// IssuedCredential is one credential of an enrollment.
type IssuedCredential struct {
	ID         string `json:"id"`
	Format     string `json:"format"`
	Credential string `json:"credential"`
}

// ParseDocument validates the document of a request: errors are
// RequestError or EvidenceError.
func (s *Service) ParseDocument(d Document) (identity.Document, error) {
	v := s.cfg.Documents
	switch {
	case len(d.MRZ) > 0 && (d.Number != "" || d.Type != ""):
		return identity.Document{}, badRequest("document: give number (and type) or mrz, not both")
	case len(d.MRZ) > 0:
		if len(d.MRZ) != 2 {
			return identity.Document{}, badRequest("document.mrz: want the two lines of a TD3 passport")
		}
		doc, err := v.ParseMRZ(d.MRZ[0], d.MRZ[1])
		return doc, evidence(err)
	case d.Number == "":
		return identity.Document{}, badRequest("document: number or mrz is required")
	case d.Type == "":
		doc, err := v.Parse(d.Number)
		return doc, evidence(err)
	}
	for t := identity.ResidentID; t <= identity.Passport; t++ {
		if t.String() == d.Type && t != identity.Passport {
			doc, err := v.ParseAs(t, d.Number)
			return doc, evidence(err)
		}
	}
	return identity.Document{}, badRequest("document.type: want resident_id, hmt_permit, foreign_permanent_2023 or foreign_permanent_2017 (passports: mrz)")
}

// checkDeviceProof verifies a device proof and returns the marker key
// that spends it and the marker's life.
func checkDeviceProof(audience string, pub crypto.PublicKey, thumb, proof string, now time.Time) (string, time.Duration, error) {
	p, err := holder.CheckDeviceProof(audience, pub, proof, now)
	if err != nil {
		return "", 0, err
	}
	// The marker covers the proof's whole window of use: it was acceptable
	// no earlier than exp - MaxDeviceProofLife - leeway and is no later than
	// exp + leeway (leeway 30 s; a minute here), as store.MarkUsed requires.
	ttl := max(p.Expires.Sub(now), now.Sub(p.Expires)+holder.MaxDeviceProofLife) + time.Minute
	return "enroll-device:" + thumb + ":" + p.ID, ttl, nil
}

// spendProof spends a checked device proof's marker.
func spendProof(ctx context.Context, nonces NonceMarker, key string, ttl time.Duration) error {
	if err := nonces.MarkUsed(ctx, key, ttl); err != nil {
		if errors.Is(err, store.ErrReplayed) {
			return ErrDeviceReplay
		}
		return fmt.Errorf("device proof marker: %w", err)
	}
	return nil
}

// Enroll enrolls the holder of req for client (the client that enrolled
// owns the status of what is issued). It returns the response and the
// holder's symbol. Errors are RequestError, EvidenceError, ErrDeviceKey,
// ErrDeviceProof, ErrDeviceReplay or a failure of a store.
func (s *Service) Enroll(ctx context.Context, client string, req *Request) (*Response, identity.Symbol, error) {
	now := s.cfg.Now()

	// 1. Everything that can be checked without spending anything.
	doc, err := s.ParseDocument(req.Document)
	if err != nil {
		return nil, identity.Symbol{}, err
	}
	// An expired passport is refused whatever the Validator says: the
	// copies end with the document (issueCopies).
	if e := doc.Expiry(); !e.IsZero() && e.Before(day(now)) {
		return nil, identity.Symbol{}, evidence(&identity.FieldError{Field: identity.FieldExpiryDate, Code: identity.CodeDocumentExpired, Err: identity.ErrDocumentExpired})
	}
	name, err := identity.NormalizeName(req.Name)
	if err != nil {
		return nil, identity.Symbol{}, evidence(err)
	}
	devices, err := parseDevices(s.cfg.Audience, req, now)
	if err != nil {
		return nil, identity.Symbol{}, err
	}
	if req.StaticCode && s.cfg.Statics == nil {
		return nil, identity.Symbol{}, badRequest("static_code: this node does not issue static codes")
	}
	if req.PIN != "" {
		if err := identity.ValidatePIN(req.PIN, doc); err != nil {
			return nil, identity.Symbol{}, evidence(err)
		}
	}
	sym, err := s.cfg.Symbols.Derive(doc)
	if err != nil {
		return nil, identity.Symbol{}, err
	}
	subject, err := s.cfg.Subjects.Subject(sym)
	if err != nil {
		return nil, identity.Symbol{}, err
	}

	// 2. Single-use evidence: the attestation (its jti is spent last,
	// after every other check of it; it names the first device key),
	// then the device proofs.
	var devicePub crypto.PublicKey
	if len(devices) > 0 {
		devicePub = devices[0].pub
	}
	var att *identity.Attestation
	if req.Attestation != "" {
		if att, err = s.cfg.Attestations.Verify(ctx, doc, req.Name, devicePub, req.Attestation); err != nil {
			return nil, identity.Symbol{}, evidence(err)
		}
	}
	for _, d := range devices {
		if err := spendProof(ctx, s.cfg.Nonces, d.proofKey, d.proofTTL); err != nil {
			return nil, identity.Symbol{}, err
		}
	}
	// One subject handle per copy (one per device key, then the static
	// code's; an L1 enrollment has one copy), and the PIN sealed into
	// each copy for its use, all with one attempt counter.
	copies := len(devices)
	if req.StaticCode || copies == 0 {
		copies++
	}
	handles := make([][]byte, copies)
	aads := make([][]byte, copies)
	for i := range handles {
		if handles[i], err = s.cfg.Subjects.Handle(subject, rand.Reader); err != nil {
			return nil, identity.Symbol{}, err
		}
		aads[i] = StaticPINAAD(handles[i])
		if i < len(devices) {
			aads[i] = holder.PINAAD(handles[i], devices[i].thumb)
		}
	}
	sealed := make([]identity.SealedPIN, copies)
	if req.PIN != "" {
		if sealed, err = s.cfg.PINs.SealPINs(req.PIN, aads); err != nil {
			return nil, identity.Symbol{}, evidence(err)
		}
	}
	// Every copy proves what the first does: its key, the same PIN, the
	// attestation made for the first key in the same request.
	level := identity.Assess(identity.Proof{Document: doc, Name: req.Name, DeviceKey: devicePub, PIN: sealed[0], Attestation: att})
	if !level.Valid() {
		return nil, identity.Symbol{}, fmt.Errorf("enrollment reached no assurance level")
	}
	en := checked{doc: doc, name: name, level: level, devices: devices, handles: handles, sealed: sealed, now: now}
	if req.StaticCode {
		// The printed code stands for the device (identity.AssessStatic),
		// assessed as in a card-only enrollment: without the device keys
		// and the attestation made for the first of them, which the card
		// does not hold.
		cardAtt := att
		if len(devices) > 0 {
			cardAtt = nil
		}
		en.static = identity.AssessStatic(identity.Proof{Document: doc, Name: req.Name, PIN: sealed[len(devices)], Attestation: cardAtt})
		if !en.static.Valid() {
			return nil, identity.Symbol{}, fmt.Errorf("enrollment: the static code reached no assurance level")
		}
	}

	// 3. Issue the copies; each copy's credentials share their fate.
	resp, err := s.issueCopies(ctx, client, en)
	if err != nil {
		return nil, identity.Symbol{}, err
	}
	resp.Symbol = sym.Text()
	resp.Subject = holder.SubjectURI(subject)
	if err := s.audit(doc, sym, level, resp); err != nil {
		s.undo(ctx, resp)
		return nil, identity.Symbol{}, err
	}
	return resp, sym, nil
}

// audit writes the enrollment's audit entries: the symbol's short form
// and reference (AuditSymbolRef), level, region and credential IDs — no
// name, number or device key — and, when the deriver holds older symbol
// key versions, one symbol_link entry per older version.
func (s *Service) audit(doc identity.Document, sym identity.Symbol, level identity.Level, resp *Response) error {
	if s.cfg.Audit == nil {
		return nil
	}
	d := map[string]string{
		"level": level.String(), "region": s.cfg.Region,
		"symbol_version": strconv.Itoa(sym.Version()), "symbol_ref": AuditSymbolRef(sym),
		"identity_credential": resp.IdentityCredential.ID,
		"enrollment":          AuditEnrollmentRef(resp.EnrollmentID), "copies": strconv.Itoa(len(resp.Copies)),
	}
	if resp.BindingCredential != nil {
		d["binding_credential"] = resp.BindingCredential.ID
	}
	if _, err := s.cfg.Audit.Append(auditEnrollment, sym.String(), d); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if len(s.cfg.Symbols.Versions()) < 2 {
		return nil
	}
	all, err := s.cfg.Symbols.DeriveAll(doc)
	if err != nil {
		return err
	}
	for _, old := range all[1:] {
		link := map[string]string{
			"symbol_version": strconv.Itoa(sym.Version()), "symbol_ref": d["symbol_ref"],
			"old_version": strconv.Itoa(old.Version()), "old_symbol": old.String(), "old_symbol_ref": AuditSymbolRef(old),
		}
		if _, err := s.cfg.Audit.Append(auditSymbolLink, sym.String(), link); err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
	}
	return nil
}

// AuditSymbolRef is how the audit log refers to a symbol in full: hex
// SM3 of "TrustID/audit-symbol/v1", a zero byte and the symbol's text.
// Whoever holds a symbol can find its entries; the log alone names no
// one (the symbol is a keyed MAC, so its digest cannot be enumerated).
func AuditSymbolRef(sym identity.Symbol) string {
	h := gm.SM3(append([]byte("TrustID/audit-symbol/v1\x00"), sym.Text()...))
	return hex.EncodeToString(h[:])
}

// AuditEnrollmentRef is how an enrollment's audit entry names the
// enrollment: 32 hex digits of SM3 of "TrustID/audit-enrollment/v1", a
// zero byte and the enrollment ID (a minted ID carries every copy's
// entries and runs to hundreds of characters, more than an audit value
// holds). An operator holding an enrollment ID finds its entry by this
// reference.
func AuditEnrollmentRef(enrollmentID string) string {
	h := gm.SM3([]byte("TrustID/audit-enrollment/v1\x00" + enrollmentID))
	return hex.EncodeToString(h[:16])
}
