package api

import (
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
	"github.com/trustid-cn/trustid/store"
)

// EnrollPath is the enrollment route.
const EnrollPath = "/v1/enrollments"

// Enrollment defaults.
const (
	// DefaultBindingTTL is the validity of a device binding.
	DefaultBindingTTL = 365 * 24 * time.Hour
	// DeviceProofType is the "typ" of the device proof JWS.
	DeviceProofType = "trustid-device-proof+jwt"
	// MaxDeviceProofLife bounds exp - iat of a device proof.
	MaxDeviceProofLife = 5 * time.Minute
	// TypeDeviceBindingCredential is the type of the binding credential.
	TypeDeviceBindingCredential = vc.TypeDeviceBindingCredential
	// maxEnrollBody bounds an enrollment request.
	maxEnrollBody = 16 << 10
)

// Errors of enrollment that are not the identity package's.
var (
	ErrDeviceProof   = errors.New("api: device proof invalid")
	ErrDeviceKey     = errors.New("api: device key invalid")
	ErrDeviceReplay  = errors.New("api: device proof already used")
	ErrEnrollRequest = errors.New("api: enrollment request invalid")
)

// enrollErrors maps the enrollment sentinels. Identity errors (documents,
// attestations, PINs) are answered by the handler itself with their
// identity code and field.
var enrollErrors = []mapping{
	{ErrDeviceProof, http.StatusUnprocessableEntity, "device_proof_invalid", "the device proof is missing, malformed, stale, for another node or not signed by the device key"},
	{ErrDeviceKey, http.StatusUnprocessableEntity, "device_key_invalid", "the device key must be a public SM2 or P-256 JWK"},
	{ErrDeviceReplay, http.StatusUnprocessableEntity, "device_proof_replayed", "the device proof was already used"},
	{ErrEnrollRequest, http.StatusBadRequest, CodeInvalidRequest, ""},
}

// AttestationChecker verifies a terminal attestation once
// (*identity.AttestationVerifier, configured with this node's Audience and
// Region): for doc, name and the device key being enrolled (nil without
// one), made for this node by a terminal of its region.
type AttestationChecker interface {
	Verify(ctx context.Context, doc identity.Document, name string, device crypto.PublicKey, token string) (*identity.Attestation, error)
}

// PINSealer seals PIN verifiers (*identity.PINSealer).
type PINSealer interface {
	SealPIN(pin string, aad []byte) (identity.SealedPIN, error)
}

// CredentialIssuer issues and revokes credentials (*credentials.Issuer).
// IssueGroup issues an enrollment's credentials so that they share their
// fate: a status change of one changes them all.
type CredentialIssuer interface {
	IssueGroup(ctx context.Context, items []vc.GroupItem) ([]*vc.Issued, error)
	SetStatus(ctx context.Context, id, action string) error
	SetStatusAs(ctx context.Context, id, action string, actor vc.Actor) error
}

// BindingIssuer signs compact QR device bindings (a *qrcode.Issuer, or
// one that picks the node's current key on each call).
type BindingIssuer interface {
	IssueBinding(b qrcode.Binding) ([]byte, error)
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

// EnrollConfig wires POST /v1/enrollments. Every field but the rate
// limits, TTLs and Now is required.
type EnrollConfig struct {
	// Region is this node's region, six digits.
	Region string
	// Audience is the node's public base URL: device proofs must name it.
	Audience  string
	Documents *identity.Validator
	Symbols   *identity.Deriver
	Subjects  *BindingSubjects
	// Attestations verifies terminal attestations (single use).
	Attestations AttestationChecker
	PINs         PINSealer
	Credentials  CredentialIssuer
	Bindings     BindingIssuer
	// Status turns the identity credential's status entry into the QR
	// binding's status reference.
	Status *ListStatus
	// Nonces makes device proofs single use.
	Nonces NonceMarker
	// Limiter, AddrLimit and ClientLimit rate-limit the route: the caller
	// is authenticated first; an authenticated request counts against
	// ClientLimit for its client, one that fails authentication against
	// AddrLimit for its source address. A flood of unauthenticated
	// requests from an address shared with a client (a proxy, a carrier
	// NAT) does not block that client.
	Limiter     Limiter
	AddrLimit   RateLimit
	ClientLimit RateLimit
	// BindingTTL is the validity of bindings and credentials; zero means
	// DefaultBindingTTL.
	BindingTTL time.Duration
	Now        func() time.Time
	// Audit records each enrollment, and links the holder's symbols under
	// older symbol key versions to the current one; nil records nothing.
	// An enrollment whose entry cannot be written fails (its credentials
	// are revoked).
	Audit AuditRecorder
}

// MountEnroll registers POST /v1/enrollments, protected by
// auth.ScopeEnroll.
func (s *Server) MountEnroll(cfg EnrollConfig) error {
	if cfg.Documents == nil || cfg.Symbols == nil || cfg.Subjects == nil || cfg.Attestations == nil || cfg.PINs == nil ||
		cfg.Credentials == nil || cfg.Bindings == nil || cfg.Status == nil || cfg.Nonces == nil || cfg.Audience == "" {
		return errors.New("api: enrollment needs documents, symbols, subjects, attestations, PINs, credentials, bindings, status, nonces and an audience")
	}
	if _, err := qrcode.ParseRegion(cfg.Region); err != nil {
		return fmt.Errorf("api: enrollment region: %w", err)
	}
	if cfg.BindingTTL <= 0 {
		cfg.BindingTTL = DefaultBindingTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &enroller{cfg: cfg, s: s}
	s.handle("POST "+EnrollPath, s.protectCountingFailures(auth.ScopeEnroll, cfg.Limiter, cfg.AddrLimit, http.HandlerFunc(e.serve)))
	s.handle("POST "+EnrollmentStatusPath, s.protect(auth.ScopeStatusWrite, http.HandlerFunc(e.serveStatus)))
	return nil
}

type enroller struct {
	cfg EnrollConfig
	s   *Server
}

// EnrollRequest is the body of POST /v1/enrollments.
type EnrollRequest struct {
	Document EnrollDocument `json:"document"`
	Name     string         `json:"name"`
	// DeviceKey is the holder's device public key; DeviceProof a JWS by
	// it (typ DeviceProofType, aud the node, iat, exp, jti). Both or
	// neither.
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
	// PIN is six digits; it needs a device key. It is sealed into every
	// copy.
	PIN string `json:"pin,omitempty"`
}

// EnrollDocument is the document: a number with an optional type name
// (identity.DocType.String()), or the two MRZ lines of a passport.
type EnrollDocument struct {
	Type   string   `json:"type,omitempty"`
	Number string   `json:"number,omitempty"`
	MRZ    []string `json:"mrz,omitempty"`
}

// EnrollResponse is the answer to an enrollment.
type EnrollResponse struct {
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
	Copies []EnrollCopy `json:"copies"`
	// The first copy again, for clients of the single device_key form.
	BindingCredential  *IssuedCredential `json:"binding_credential,omitempty"`
	QRBinding          []byte            `json:"qr_binding,omitempty"`
	IdentityCredential IssuedCredential  `json:"identity_credential"`
	ExpiresAt          time.Time         `json:"expires_at"`
}

// IssuedCredential is one credential in an enrollment response.
type IssuedCredential struct {
	ID         string `json:"id"`
	Format     string `json:"format"`
	Credential string `json:"credential"`
}

// identityError is an identity package error as the handler answers it.
type identityError struct {
	code  identity.Code
	field string
	err   error
}

func (e *identityError) Error() string { return e.err.Error() }
func (e *identityError) Unwrap() error { return e.err }

func (e *enroller) serve(w http.ResponseWriter, r *http.Request) {
	resp, err := e.enroll(w, r)
	if err == nil {
		writeJSONStatus(w, http.StatusCreated, resp)
		return
	}
	var ie *identityError
	if errors.As(err, &ie) {
		e.s.log.LogAttrs(r.Context(), slog.LevelInfo, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("code", string(ie.code)),
			slog.Int("status", http.StatusUnprocessableEntity), slog.String("field", ie.field))
		body := map[string]string{"error": string(ie.code), "error_description": ie.err.Error()}
		if ie.field != "" {
			body["field"] = ie.field
		}
		writeJSONStatus(w, http.StatusUnprocessableEntity, body)
		return
	}
	writeError(w, r, e.s.log, err)
}

// asIdentity wraps an identity error with its code; other errors (a store
// failing) pass unchanged and become 5xx.
func asIdentity(err error) error {
	code, ok := identity.CodeOf(err)
	if !ok {
		return err
	}
	ie := &identityError{code: code, err: err}
	var fe *identity.FieldError
	if errors.As(err, &fe) {
		ie.field = fe.Field
	}
	return ie
}

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...), Err: ErrEnrollRequest}
}

// decodeEnroll reads the body strictly (see decodeBody).
func decodeEnroll(r *http.Request) (*EnrollRequest, error) {
	var req EnrollRequest
	if err := decodeBody(r, maxEnrollBody, &req, badRequest, "with the documented fields"); err != nil {
		return nil, err
	}
	return &req, nil
}

// parseDocument validates the document of a request.
func (e *enroller) parseDocument(d EnrollDocument) (identity.Document, error) {
	v := e.cfg.Documents
	switch {
	case len(d.MRZ) > 0 && (d.Number != "" || d.Type != ""):
		return identity.Document{}, badRequest("document: give number (and type) or mrz, not both")
	case len(d.MRZ) > 0:
		if len(d.MRZ) != 2 {
			return identity.Document{}, badRequest("document.mrz: want the two lines of a TD3 passport")
		}
		doc, err := v.ParseMRZ(d.MRZ[0], d.MRZ[1])
		return doc, asIdentity(err)
	case d.Number == "":
		return identity.Document{}, badRequest("document: number or mrz is required")
	case d.Type == "":
		doc, err := v.Parse(d.Number)
		return doc, asIdentity(err)
	}
	for t := identity.ResidentID; t <= identity.Passport; t++ {
		if t.String() == d.Type && t != identity.Passport {
			doc, err := v.ParseAs(t, d.Number)
			return doc, asIdentity(err)
		}
	}
	return identity.Document{}, badRequest("document.type: want resident_id, hmt_permit, foreign_permanent_2023 or foreign_permanent_2017 (passports: mrz)")
}

// deviceClaims are the claims of a device proof.
type deviceClaims struct {
	jwt.RegisteredClaims
}

// checkDeviceProof verifies the device proof's signature, type, audience
// and times, and returns the marker key that spends it.
func checkDeviceProof(audience string, pub crypto.PublicKey, thumb, proof string, now time.Time) (string, time.Duration, error) {
	alg, _ := gm.Alg(pub)
	if proof == "" || len(proof) > 4096 {
		return "", 0, fmt.Errorf("%w: missing or too long", ErrDeviceProof)
	}
	parser, err := gm.NewJWTParser([]string{alg}, jwt.WithAudience(audience), jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return "", 0, err
	}
	var c deviceClaims
	tok, err := parser.ParseWithClaims(proof, &c, func(*jwt.Token) (any, error) { return pub, nil })
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrDeviceProof, err)
	}
	if typ, _ := tok.Header["typ"].(string); typ != DeviceProofType {
		return "", 0, fmt.Errorf("%w: typ must be %s", ErrDeviceProof, DeviceProofType)
	}
	if c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxDeviceProofLife || c.ExpiresAt.Before(c.IssuedAt.Time) {
		return "", 0, fmt.Errorf("%w: lifetime must be at most %v", ErrDeviceProof, MaxDeviceProofLife)
	}
	if len(c.ID) < 16 || len(c.ID) > 128 {
		return "", 0, fmt.Errorf("%w: jti must be 16-128 characters", ErrDeviceProof)
	}
	ttl := c.ExpiresAt.Sub(now) + time.Minute
	return "enroll-device:" + thumb + ":" + c.ID, ttl, nil
}

// NewDeviceProof signs a device proof for enrollment at the node whose
// base URL is audience (wallet side, and tests).
func NewDeviceProof(device crypto.Signer, audience string, now time.Time, jti string) (string, error) {
	m, err := gm.SigningMethod(device)
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(m, jwt.RegisteredClaims{
		Audience: jwt.ClaimStrings{audience}, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Minute)), ID: jti,
	})
	t.Header["typ"] = DeviceProofType
	return t.SignedString(device)
}

// pinAAD binds a sealed PIN verifier to the binding: its subject and the
// device key's thumbprint.
func pinAAD(subject []byte, thumb string) []byte {
	aad := append([]byte("TrustID/binding-pin/v1\x00"), subject...)
	return append(aad, thumb...)
}

// PINAAD returns the AAD a node gives identity.PINSealer.CheckPIN for the
// PIN verifier of a binding credential: subject bytes and the RFC 7638
// thumbprint of the device key (cnf.jwk).
func PINAAD(subject []byte, deviceThumbprint string) []byte { return pinAAD(subject, deviceThumbprint) }

// SubjectURI is the credentialSubject id of a binding subject.
func SubjectURI(subject []byte) string { return "urn:trustid:subject:" + hex.EncodeToString(subject) }

func (e *enroller) enroll(w http.ResponseWriter, r *http.Request) (*EnrollResponse, error) {
	ctx := r.Context()
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "no authenticated caller"}
	}
	// The per-client limit: the client is known only after protect.
	if err := e.s.checkRate(w, r, e.cfg.Limiter, e.cfg.ClientLimit, p.ClientID); err != nil {
		return nil, err
	}
	req, err := decodeEnroll(r)
	if err != nil {
		return nil, err
	}
	now := e.cfg.Now()

	// 1. Everything that can be checked without spending anything.
	doc, err := e.parseDocument(req.Document)
	if err != nil {
		return nil, err
	}
	name, err := identity.NormalizeName(req.Name)
	if err != nil {
		return nil, asIdentity(err)
	}
	devices, err := parseDevices(e.cfg.Audience, req, now)
	if err != nil {
		return nil, err
	}
	if req.PIN != "" {
		if err := identity.ValidatePIN(req.PIN, doc); err != nil {
			return nil, asIdentity(err)
		}
	}
	sym, err := e.cfg.Symbols.Derive(doc)
	if err != nil {
		return nil, err
	}
	subject, err := e.cfg.Subjects.Subject(sym)
	if err != nil {
		return nil, err
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
		if att, err = e.cfg.Attestations.Verify(ctx, doc, req.Name, devicePub, req.Attestation); err != nil {
			return nil, asIdentity(err)
		}
	}
	for _, d := range devices {
		if err := e.cfg.Nonces.MarkUsed(ctx, d.proofKey, d.proofTTL); err != nil {
			if errors.Is(err, store.ErrReplayed) {
				return nil, ErrDeviceReplay
			}
			return nil, fmt.Errorf("device proof marker: %w", err)
		}
	}
	// One subject handle per copy, and the PIN sealed into each copy.
	copies := max(len(devices), 1)
	handles := make([][]byte, copies)
	sealed := make([]identity.SealedPIN, copies)
	for i := range handles {
		if handles[i], err = e.cfg.Subjects.Handle(subject, rand.Reader); err != nil {
			return nil, err
		}
		if req.PIN != "" {
			if sealed[i], err = e.cfg.PINs.SealPIN(req.PIN, pinAAD(handles[i], devices[i].thumb)); err != nil {
				return nil, asIdentity(err)
			}
		}
	}
	// Every copy proves what the first does: its key, the same PIN, the
	// attestation made for the first key in the same request.
	level := identity.Assess(identity.Proof{Document: doc, Name: req.Name, DeviceKey: devicePub, PIN: sealed[0], Attestation: att})
	if !level.Valid() {
		return nil, fmt.Errorf("enrollment reached no assurance level")
	}

	// 3. Issue the copies; each copy's credentials share their fate.
	resp, err := e.issueCopies(ctx, enrollment{doc: doc, name: name, level: level, devices: devices, handles: handles, sealed: sealed, now: now})
	if err != nil {
		return nil, err
	}
	resp.Symbol = sym.Text()
	resp.Subject = SubjectURI(subject)
	if err := e.audit(doc, sym, level, resp); err != nil {
		e.undo(ctx, resp)
		return nil, err
	}
	e.s.log.LogAttrs(ctx, slog.LevelInfo, "enrolled", slog.String("request_id", requestID(ctx)),
		slog.String("client_id", p.ClientID), slog.String("assurance_level", level.String()), slog.Int("copies", len(resp.Copies)), slog.Any("symbol", sym))
	return resp, nil
}

// audit writes the enrollment's audit entries: the symbol's short form
// and reference (AuditSymbolRef), level, region and credential IDs — no
// name, number or device key — and, when the deriver holds older symbol
// key versions, one symbol_link entry per older version.
func (e *enroller) audit(doc identity.Document, sym identity.Symbol, level identity.Level, resp *EnrollResponse) error {
	if e.cfg.Audit == nil {
		return nil
	}
	d := map[string]string{
		"level": level.String(), "region": e.cfg.Region,
		"symbol_version": strconv.Itoa(sym.Version()), "symbol_ref": AuditSymbolRef(sym),
		"identity_credential": resp.IdentityCredential.ID,
		"enrollment":          resp.EnrollmentID, "copies": strconv.Itoa(len(resp.Copies)),
	}
	if resp.BindingCredential != nil {
		d["binding_credential"] = resp.BindingCredential.ID
	}
	if _, err := e.cfg.Audit.Append(auditEnrollment, sym.String(), d); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if len(e.cfg.Symbols.Versions()) < 2 {
		return nil
	}
	all, err := e.cfg.Symbols.DeriveAll(doc)
	if err != nil {
		return err
	}
	for _, old := range all[1:] {
		link := map[string]string{
			"symbol_version": strconv.Itoa(sym.Version()), "symbol_ref": d["symbol_ref"],
			"old_version": strconv.Itoa(old.Version()), "old_symbol": old.String(), "old_symbol_ref": AuditSymbolRef(old),
		}
		if _, err := e.cfg.Audit.Append(auditSymbolLink, sym.String(), link); err != nil {
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

// enrollingClient names the client that enrolled the holder: it owns the
// status of what the enrollment issued (with operators holding
// registry:admin), so it can revoke a lost phone's binding.
func enrollingClient(ctx context.Context) string {
	p, _ := PrincipalFrom(ctx)
	return p.ClientID
}

// BindingSector is the fixed internal sector under which a symbol's
// binding subject is derived.
const BindingSector = "trustid:binding"

// BindingSubjectSize is the size of a binding subject: the pairwise key
// version and the 160-bit MAC of identity.PairwiseID.
const BindingSubjectSize = 1 + identity.SymbolSize

// BindingHandleSize is the size of a per-copy subject handle: the
// pairwise key version, a 12-byte nonce and the subject's 160-bit MAC
// encrypted.
const BindingHandleSize = 1 + handleNonceSize + identity.SymbolSize

const (
	handleNonceSize = 12
	handleKeyLabel  = "binding-handle"
)

// BindingSubjects derives the subject of a holder's device bindings and
// credentials, the per-copy handles that stand for it in what the holder
// shows, and relying parties' pairwise IDs.
//
// The subject is the pairwise ID of the symbol under the internal sector
// BindingSector, as bytes (key version ‖ MAC, BindingSubjectSize bytes):
// the same person gets the same subject on every enrollment. It appears in
// no credential and no code. Each copy of an enrollment names a handle
// instead (Handle): the subject encrypted under a key derived from the
// pairwise key with a fresh nonce, so two handles of one person look
// unrelated to anyone without the pairwise key, and the nodes (which hold
// it) recover the subject. A relying party's ID for online redemption is
// the pairwise ID of the subject under the party's sector: stable per
// party whichever copy the holder used, unlinkable across parties. It
// implements redeem.PairwiseDeriver and is safe for concurrent use.
type BindingSubjects struct{ p *identity.PairwiseDeriver }

var _ redeem.PairwiseDeriver = (*BindingSubjects)(nil)

// NewBindingSubjects uses the national pairwise key's deriver.
func NewBindingSubjects(p *identity.PairwiseDeriver) (*BindingSubjects, error) {
	if p == nil {
		return nil, errors.New("api: binding subjects need a pairwise deriver")
	}
	return &BindingSubjects{p: p}, nil
}

// Subject returns the binding subject of sym.
func (b *BindingSubjects) Subject(sym identity.Symbol) ([]byte, error) {
	id, err := b.p.Derive(sym, identity.Sector{Kind: identity.SectorInternal, Name: BindingSector})
	if err != nil {
		return nil, err
	}
	return identBytes(id.Text())
}

// handleStream is the SM4-CTR key stream of a handle: key derived from
// the pairwise key version, IV the nonce and a zero counter.
func (b *BindingSubjects) handleStream(version byte, nonce []byte) (cipher.Stream, error) {
	k, err := b.p.DeriveKey(int(version), handleKeyLabel)
	if err != nil {
		return nil, err
	}
	blk, err := sm4.NewCipher(k[:gm.SM4KeySize])
	if err != nil {
		return nil, err
	}
	iv := make([]byte, sm4.BlockSize)
	copy(iv, nonce)
	return cipher.NewCTR(blk, iv), nil
}

// Handle returns a fresh handle for subject (Subject's result): version ‖
// nonce ‖ SM4-CTR(K_v, nonce ‖ 0³², MAC), with K_v the first 16 bytes of
// the pairwise key's DeriveKey(v, "binding-handle"). The handle is not
// authenticated by itself: it travels only inside issuer-signed bindings
// and credentials.
func (b *BindingSubjects) Handle(subject []byte, rnd io.Reader) ([]byte, error) {
	if len(subject) != BindingSubjectSize {
		return nil, fmt.Errorf("%w: binding subject must be %d bytes", identity.ErrIdentifierLength, BindingSubjectSize)
	}
	h := make([]byte, BindingHandleSize)
	h[0] = subject[0]
	if _, err := io.ReadFull(rnd, h[1:1+handleNonceSize]); err != nil {
		return nil, fmt.Errorf("api: handle nonce: %w", err)
	}
	st, err := b.handleStream(h[0], h[1:1+handleNonceSize])
	if err != nil {
		return nil, err
	}
	st.XORKeyStream(h[1+handleNonceSize:], subject[1:])
	return h, nil
}

// Open returns the binding subject a handle stands for.
func (b *BindingSubjects) Open(handle []byte) ([]byte, error) {
	if len(handle) != BindingHandleSize {
		return nil, fmt.Errorf("%w: a subject handle is %d bytes", identity.ErrIdentifierLength, BindingHandleSize)
	}
	st, err := b.handleStream(handle[0], handle[1:1+handleNonceSize])
	if err != nil {
		return nil, err
	}
	subject := make([]byte, BindingSubjectSize)
	subject[0] = handle[0]
	st.XORKeyStream(subject[1:], handle[1+handleNonceSize:])
	return subject, nil
}

// Pairwise implements redeem.PairwiseDeriver: the pairwise ID (text form)
// for a relying party's sector (never an internal one), of the holder
// whose copy carries handle.
func (b *BindingSubjects) Pairwise(handle []byte, sector identity.Sector) (string, error) {
	if sector.Kind == identity.SectorInternal {
		return "", identity.ErrInvalidSector
	}
	subject, err := b.Open(handle)
	if err != nil {
		return "", err
	}
	text, err := identText(subject)
	if err != nil {
		return "", err
	}
	sym, err := identity.ParseSymbol(text)
	if err != nil {
		return "", err
	}
	id, err := b.p.Derive(sym, sector)
	if err != nil {
		return "", err
	}
	return id.Text(), nil
}

// Crockford base32, as identity writes identifiers (docs/identity.md).
const (
	crockford      = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	crockfordCheck = crockford + "*~$=U"
)

// identBytes turns the canonical text form of an identifier into its
// bytes: the version, then the 160-bit MAC.
func identBytes(text string) ([]byte, error) {
	if len(text) != identity.TextLen {
		return nil, identity.ErrIdentifierLength
	}
	out := make([]byte, BindingSubjectSize)
	var acc uint64
	bits, n := 0, 1
	for i := 0; i < identity.TextLen-1; i++ {
		v := strings.IndexByte(crockford, text[i])
		if v < 0 {
			return nil, identity.ErrIdentifierCharacter
		}
		if i == 0 {
			out[0] = byte(v)
			continue
		}
		acc = acc<<5 | uint64(v)
		bits += 5
		for bits >= 8 {
			bits -= 8
			out[n] = byte(acc >> bits)
			n++
		}
	}
	return out, nil
}

// identText is the inverse of identBytes, with the mod-37 check character.
func identText(b []byte) (string, error) {
	if len(b) != BindingSubjectSize || b[0] == 0 || b[0] > identity.MaxKeyVersion {
		return "", fmt.Errorf("%w: binding subject must be %d bytes with a key version", identity.ErrIdentifierLength, BindingSubjectSize)
	}
	out := make([]byte, 0, identity.TextLen)
	out = append(out, crockford[b[0]])
	r := uint32(b[0]) % 37
	var acc uint64
	bits := 0
	for _, c := range b[1:] {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			v := uint32(acc>>bits) & 31
			out = append(out, crockford[v])
			r = (r*32 + v) % 37
		}
	}
	return string(append(out, crockfordCheck[r])), nil
}

// StatusLists is the part of the credential status store (a
// statuslist.FileStore) that ListStatus reads.
type StatusLists interface {
	Get(ctx context.Context, listID string, index int) (purpose string, value uint8, err error)
	Lists() []string
}

// ListStatus shares status entries between credentials and compact QR
// bindings. A QR StatusRef has a 32-bit list number where the credential
// store names lists with 64-bit IDs (16 hex digits): the list number is
// the first 32 bits of the list ID, and a reference is made only when
// that prefix names one list of the node (it is checked again on every
// lookup; a clash fails closed). It implements qrcode.StatusChecker from
// the store itself, so a revocation is seen at once. Safe for concurrent
// use if Lists is.
type ListStatus struct {
	Region uint32
	Lists  StatusLists
}

var _ qrcode.StatusChecker = (*ListStatus)(nil)

// listNumber is the QR list number of a list ID.
func listNumber(id string) (uint32, bool) {
	if len(id) != 16 {
		return 0, false
	}
	b, err := hex.DecodeString(id[:8])
	if err != nil {
		return 0, false
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
}

// resolve finds the one list whose number is n.
func (l *ListStatus) resolve(n uint32) (string, error) {
	found := ""
	for _, id := range l.Lists.Lists() {
		if m, ok := listNumber(id); ok && m == n {
			if found != "" {
				return "", fmt.Errorf("%w: two status lists share number %d", qrcode.ErrStatusUnavailable, n)
			}
			found = id
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w: no status list number %d", qrcode.ErrStatusUnavailable, n)
	}
	return found, nil
}

// Ref returns the QR status reference of entry index of list listID.
func (l *ListStatus) Ref(listID string, index int) (qrcode.StatusRef, error) {
	n, ok := listNumber(listID)
	if !ok || index < 0 || int64(index) > int64(^uint32(0)) {
		return qrcode.StatusRef{}, fmt.Errorf("status entry %q/%d has no QR form", listID, index)
	}
	if got, err := l.resolve(n); err != nil || got != listID {
		return qrcode.StatusRef{}, fmt.Errorf("status list %s: number %d is not unique: %v", listID, n, err)
	}
	return qrcode.StatusRef{Region: l.Region, List: n, Index: uint32(index)}, nil
}

// Status implements qrcode.StatusChecker for this node's lists: a Token
// Status List entry (a binding's, shared with its enrollment's
// credentials) is valid, revoked or suspended; a revocation entry (the
// bindings of older enrollments) valid or revoked.
func (l *ListStatus) Status(ctx context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	if ref.Region != l.Region {
		return 0, fmt.Errorf("%w: region %d's lists are not held here", qrcode.ErrStatusUnavailable, ref.Region)
	}
	id, err := l.resolve(ref.List)
	if err != nil {
		return 0, err
	}
	purpose, v, err := l.Lists.Get(ctx, id, int(ref.Index))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", qrcode.ErrStatusUnavailable, err)
	}
	switch {
	case purpose == status.PurposeToken && v == status.TokenValid, purpose == vc.PurposeRevocation && v == 0:
		return qrcode.StatusValid, nil
	case purpose == status.PurposeToken && v == status.TokenSuspended:
		return qrcode.StatusSuspended, nil
	case purpose == status.PurposeToken && v == status.TokenInvalid, purpose == vc.PurposeRevocation:
		return qrcode.StatusRevoked, nil
	}
	return 0, fmt.Errorf("%w: list %d entry is not a binding status", qrcode.ErrStatusUnavailable, ref.List)
}

// ClientDirectory looks up registered clients (*auth.FileStore).
type ClientDirectory interface {
	Get(ctx context.Context, id string) (auth.Client, error)
}

// SectorRegistry is the consortium's registry of pairwise sectors: the
// trust registry on the ledger, where the contract lets no two relying
// parties hold one sector. ClaimSector records that clientID, a relying
// party of this node's region, holds sector; it returns nil when clientID
// already holds it and an error matching ErrSectorTaken when another
// party does. Safe for concurrent use.
type SectorRegistry interface {
	ClaimSector(ctx context.Context, clientID string, sector identity.Sector) error
}

// ErrSectorTaken: the pairwise sector (a sector identifier, or a client ID
// used as one) is held by another relying party of the consortium.
var ErrSectorTaken = errors.New("api: the pairwise sector is held by another relying party")

// RegistryParties resolves QR relying parties from the auth client
// registry: an enabled client with the qr:redeem scope, its sector
// identifier (empty when it registered none) and its allowed claims. With
// Sectors set, a party is resolved only once the consortium's registry
// says it holds its pairwise sector (claimed at its first use, whichever
// way it was registered); a party whose sector another holds is refused
// (ErrUnknownVerifier). It implements redeem.RelyingParties.
type RegistryParties struct {
	Clients ClientDirectory
	Sectors SectorRegistry

	held sync.Map // client ID + sector → struct{}: claims that succeeded
}

var _ redeem.RelyingParties = (*RegistryParties)(nil)

// RelyingParty implements redeem.RelyingParties.
func (r *RegistryParties) RelyingParty(ctx context.Context, id string) (redeem.RelyingParty, error) {
	c, err := r.Clients.Get(ctx, id)
	if errors.Is(err, auth.ErrClientNotFound) {
		return redeem.RelyingParty{}, qrcode.ErrUnknownVerifier
	}
	if err != nil {
		return redeem.RelyingParty{}, err
	}
	if c.Disabled || !c.HasScope(auth.ScopeQRRedeem) {
		return redeem.RelyingParty{}, qrcode.ErrUnknownVerifier
	}
	rp := redeem.RelyingParty{ClientID: c.ID, Sector: c.SectorIdentifier, AllowedClaims: c.Claims}
	if r.Sectors == nil {
		return rp, nil
	}
	sector := rp.PairwiseSector()
	key := c.ID + "\x00" + string(rune(sector.Kind)) + sector.Name
	if _, ok := r.held.Load(key); ok {
		return rp, nil
	}
	switch err := r.Sectors.ClaimSector(ctx, c.ID, sector); {
	case errors.Is(err, ErrSectorTaken):
		return redeem.RelyingParty{}, fmt.Errorf("%w: %w", qrcode.ErrUnknownVerifier, err)
	case err != nil:
		return redeem.RelyingParty{}, fmt.Errorf("sector registry: %w", err)
	}
	r.held.Store(key, struct{}{})
	return rp, nil
}
