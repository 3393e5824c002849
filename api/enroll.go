package api

import (
	"context"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
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
	TypeDeviceBindingCredential = "DeviceBindingCredential"
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
type CredentialIssuer interface {
	Issue(ctx context.Context, in map[string]any, opts vc.IssueOptions) (*vc.Issued, error)
	SetStatus(ctx context.Context, id, action string) error
}

// BindingIssuer signs compact QR device bindings (a *qrcode.Issuer, or
// one that picks the node's current key on each call).
type BindingIssuer interface {
	IssueBinding(b qrcode.Binding) ([]byte, error)
}

// NonceMarker spends single-use markers (store.Memory, store.Redis):
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
	// Status turns a credential's revocation entry into the QR binding's
	// status reference.
	Status *ListStatus
	// Nonces makes device proofs single use.
	Nonces NonceMarker
	// Limiter, AddrLimit and ClientLimit rate-limit the route per source
	// address and per authenticated client.
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
	h := s.protect(auth.ScopeEnroll, http.HandlerFunc(e.serve))
	s.handle("POST "+EnrollPath, s.rateLimit(cfg.Limiter, cfg.AddrLimit, ClientAddress, h))
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
	// Attestation is a terminal's attestation (identity.Attester), made
	// for this document, name and device key (or none) and this node, by
	// a terminal of this node's region.
	Attestation string `json:"attestation,omitempty"`
	// PIN is six digits; it needs a device key.
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
	// Subject is the credentials' subject ID (urn:trustid:subject:...).
	Subject        string `json:"subject"`
	AssuranceLevel string `json:"assurance_level"`
	// BindingCredential is the device-binding vc+jwt (absent without a
	// device key); QRBinding the compact binding for QR codes (SM2
	// devices only).
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
	if _, err := identity.CanonicalName(req.Name); err != nil {
		return nil, asIdentity(err)
	}
	name := strings.Join(strings.Fields(req.Name), " ")
	if utf8.RuneCountInString(name) > 100 {
		return nil, asIdentity(&identity.FieldError{Field: identity.FieldName, Code: identity.CodeInvalidName, Err: identity.ErrInvalidName})
	}
	var devicePub crypto.PublicKey
	var thumb, proofKey string
	var proofTTL time.Duration
	var deviceJWK gm.JWK
	switch {
	case req.DeviceKey == nil && req.DeviceProof != "":
		return nil, badRequest("device_proof without device_key")
	case req.DeviceKey == nil && req.PIN != "":
		return nil, badRequest("a PIN needs a device key: it is sealed into the device binding")
	case req.DeviceKey != nil:
		if devicePub, err = req.DeviceKey.PublicKey(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDeviceKey, err)
		}
		if alg, _ := gm.Alg(devicePub); alg != gm.AlgSM2 && alg != gm.AlgES256 {
			return nil, fmt.Errorf("%w: %s keys are not accepted", ErrDeviceKey, alg)
		}
		if deviceJWK, err = gm.NewJWK(devicePub, ""); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDeviceKey, err)
		}
		deviceJWK.Use, deviceJWK.Alg = "", ""
		if thumb, err = deviceJWK.Thumbprint(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDeviceKey, err)
		}
		if proofKey, proofTTL, err = checkDeviceProof(e.cfg.Audience, devicePub, thumb, req.DeviceProof, now); err != nil {
			return nil, err
		}
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
	subjectID := SubjectURI(subject)
	exp := now.Add(e.cfg.BindingTTL)

	// 2. Single-use evidence: the attestation (its jti is spent last,
	// after every other check of it), then the device proof.
	var att *identity.Attestation
	if req.Attestation != "" {
		if att, err = e.cfg.Attestations.Verify(ctx, doc, req.Name, devicePub, req.Attestation); err != nil {
			return nil, asIdentity(err)
		}
	}
	if proofKey != "" {
		if err := e.cfg.Nonces.MarkUsed(ctx, proofKey, proofTTL); err != nil {
			if errors.Is(err, store.ErrReplayed) {
				return nil, ErrDeviceReplay
			}
			return nil, fmt.Errorf("device proof marker: %w", err)
		}
	}
	var sealed identity.SealedPIN
	if req.PIN != "" {
		if sealed, err = e.cfg.PINs.SealPIN(req.PIN, pinAAD(subject, thumb)); err != nil {
			return nil, asIdentity(err)
		}
	}
	level := identity.Assess(identity.Proof{Document: doc, Name: req.Name, DeviceKey: devicePub, PIN: sealed, Attestation: att})
	if !level.Valid() {
		return nil, fmt.Errorf("enrollment reached no assurance level")
	}
	idCred, err := vc.IdentityCredential(vc.IdentityClaims{
		Subject: subjectID, AssuranceLevel: int(level), Region: e.cfg.Region, Name: name,
		BirthDate: doc.BirthDate().Format(time.DateOnly), Nationality: doc.Nationality(), ValidFor: e.cfg.BindingTTL,
	}, now)
	if err != nil {
		return nil, err
	}

	// 3. Issue: the binding credential, the compact QR binding, the
	// identity credential.
	resp := &EnrollResponse{Symbol: sym.Text(), Subject: subjectID, AssuranceLevel: level.String(), ExpiresAt: exp.UTC().Truncate(time.Second)}
	if devicePub != nil {
		bc, qb, err := e.issueBinding(ctx, subject, subjectID, deviceJWK, devicePub, sealed, level, idCred, now, exp)
		if err != nil {
			return nil, err
		}
		resp.BindingCredential, resp.QRBinding = bc, qb
	}
	var holderKey *gm.JWK
	if devicePub != nil {
		holderKey = &deviceJWK
	}
	ic, err := e.cfg.Credentials.Issue(ctx, idCred, vc.IssueOptions{Format: vc.FormatSDJWT, HolderKey: holderKey, Client: enrollingClient(ctx)})
	if err != nil {
		e.undo(ctx, resp.BindingCredential)
		return nil, err
	}
	resp.IdentityCredential = IssuedCredential{ID: ic.ID, Format: ic.Format, Credential: ic.Token}
	if err := e.audit(doc, sym, level, resp); err != nil {
		e.undo(ctx, resp.BindingCredential)
		e.undo(ctx, &resp.IdentityCredential)
		return nil, err
	}
	e.s.log.LogAttrs(ctx, slog.LevelInfo, "enrolled", slog.String("request_id", requestID(ctx)),
		slog.String("client_id", p.ClientID), slog.String("level", level.String()), slog.Any("symbol", sym))
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

// undo revokes a binding credential issued by a request that then failed,
// so no half-enrollment stays valid.
func (e *enroller) undo(ctx context.Context, bc *IssuedCredential) {
	if bc == nil {
		return
	}
	if err := e.cfg.Credentials.SetStatus(context.WithoutCancel(ctx), bc.ID, vc.ActionRevoke); err != nil {
		e.s.log.Error("could not revoke the binding credential of a failed enrollment", slog.String("credential_id", bc.ID), slog.Any("error", err))
	}
}

// enrollingClient names the client that enrolled the holder: it owns the
// status of what the enrollment issued (with operators holding
// registry:admin), so it can revoke a lost phone's binding.
func enrollingClient(ctx context.Context) string {
	p, _ := PrincipalFrom(ctx)
	return p.ClientID
}

func (e *enroller) issueBinding(ctx context.Context, subject []byte, subjectID string, deviceJWK gm.JWK, devicePub crypto.PublicKey,
	sealed identity.SealedPIN, level identity.Level, idCred map[string]any, now, exp time.Time) (*IssuedCredential, []byte, error) {
	jwk := map[string]any{"kty": deviceJWK.Kty, "crv": deviceJWK.Crv, "x": deviceJWK.X, "y": deviceJWK.Y}
	cs := map[string]any{
		"id":             subjectID,
		"assuranceLevel": int(level),
		"region":         e.cfg.Region,
		"cnf":            map[string]any{"jwk": jwk},
	}
	if sealed != "" {
		cs["pinVerifier"] = string(sealed)
	}
	in := map[string]any{
		"@context":          []any{vc.ContextV2},
		"type":              []any{vc.TypeCredential, TypeDeviceBindingCredential},
		"validFrom":         vc.FormatTime(now),
		"validUntil":        vc.FormatTime(exp),
		"credentialSubject": cs,
	}
	is, err := e.cfg.Credentials.Issue(ctx, in, vc.IssueOptions{Format: vc.FormatVCJWT, Client: enrollingClient(ctx)})
	if err != nil {
		return nil, nil, err
	}
	bc := &IssuedCredential{ID: is.ID, Format: is.Format, Credential: is.Token}
	sm2, ok := devicePub.(*gm.PublicKey)
	if !ok {
		return bc, nil, nil // P-256 devices: no compact QR binding (it carries SM2 keys only)
	}
	var ref qrcode.StatusRef
	found := false
	for _, s := range is.Status {
		if s.Purpose == vc.PurposeRevocation {
			if ref, err = e.cfg.Status.Ref(s.ListID, s.Index); err != nil {
				e.undo(ctx, bc)
				return nil, nil, err
			}
			found = true
		}
	}
	if !found {
		e.undo(ctx, bc)
		return nil, nil, errors.New("binding credential has no revocation entry")
	}
	claims := map[string]string{}
	if sub, ok := idCred["credentialSubject"].(map[string]any); ok {
		for _, k := range []string{"age_over_18", "age_over_60"} {
			if b, ok := sub[k].(bool); ok {
				claims[k] = fmt.Sprint(b)
			}
		}
	}
	qb, err := e.cfg.Bindings.IssueBinding(qrcode.Binding{
		Subject: subject, DeviceKey: sm2, Assurance: int(level), IssuedAt: now, Expiry: exp, Status: ref, Claims: claims,
	})
	if err != nil {
		e.undo(ctx, bc)
		return nil, nil, err
	}
	return bc, qb, nil
}

// BindingSector is the fixed internal sector under which a symbol's
// binding subject is derived.
const BindingSector = "trustid:binding"

// BindingSubjectSize is the size of a binding subject: the pairwise key
// version and the 160-bit MAC of identity.PairwiseID.
const BindingSubjectSize = 1 + identity.SymbolSize

// BindingSubjects derives the subject of a holder's device binding and
// credentials, and relying parties' pairwise IDs from it.
//
// The subject is the pairwise ID of the symbol under the internal sector
// BindingSector, as bytes (key version ‖ MAC, BindingSubjectSize bytes):
// the same person gets the same subject on every enrollment, and the
// subject, which offline verifiers see in QR codes, is not the symbol. A
// relying party's ID for online redemption is the pairwise ID of the
// subject (read as an identifier) under the party's sector: stable per
// party, unlinkable across parties without the national pairwise key.
// It implements qrcode.PairwiseDeriver and is safe for concurrent use.
type BindingSubjects struct{ p *identity.PairwiseDeriver }

var _ qrcode.PairwiseDeriver = (*BindingSubjects)(nil)

// NewBindingSubjects uses the national pairwise key's deriver.
func NewBindingSubjects(p *identity.PairwiseDeriver) (*BindingSubjects, error) {
	if p == nil {
		return nil, errors.New("api: binding subjects need a pairwise deriver")
	}
	return &BindingSubjects{p: p}, nil
}

// Subject returns the binding subject of sym.
func (b *BindingSubjects) Subject(sym identity.Symbol) ([]byte, error) {
	id, err := b.p.Derive(sym, BindingSector)
	if err != nil {
		return nil, err
	}
	return identBytes(id.Text())
}

// Pairwise implements qrcode.PairwiseDeriver: the pairwise ID (text form)
// of a binding subject for a sector.
func (b *BindingSubjects) Pairwise(subject []byte, sector string) (string, error) {
	if sector == BindingSector {
		return "", identity.ErrInvalidSector
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

// Status implements qrcode.StatusChecker for this node's revocation
// lists.
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
	if purpose != vc.PurposeRevocation {
		return 0, fmt.Errorf("%w: list %d is not a revocation list", qrcode.ErrStatusUnavailable, ref.List)
	}
	if v != 0 {
		return qrcode.StatusRevoked, nil
	}
	return qrcode.StatusValid, nil
}

// ClientDirectory looks up registered clients (*auth.FileStore).
type ClientDirectory interface {
	Get(ctx context.Context, id string) (auth.Client, error)
}

// RegistryParties resolves QR relying parties from the auth client
// registry: an enabled client with the qr:redeem scope, its sector
// identifier (or client ID) and its allowed claims. It implements
// qrcode.RelyingParties.
type RegistryParties struct{ Clients ClientDirectory }

var _ qrcode.RelyingParties = RegistryParties{}

// RelyingParty implements qrcode.RelyingParties.
func (r RegistryParties) RelyingParty(ctx context.Context, id string) (qrcode.RelyingParty, error) {
	c, err := r.Clients.Get(ctx, id)
	if errors.Is(err, auth.ErrClientNotFound) {
		return qrcode.RelyingParty{}, qrcode.ErrUnknownVerifier
	}
	if err != nil {
		return qrcode.RelyingParty{}, err
	}
	allowed := false
	for _, s := range c.Scopes {
		allowed = allowed || s == auth.ScopeQRRedeem
	}
	if c.Disabled || !allowed {
		return qrcode.RelyingParty{}, qrcode.ErrUnknownVerifier
	}
	sector := c.SectorIdentifier
	if sector == "" {
		sector = c.ID
	}
	return qrcode.RelyingParty{ClientID: c.ID, Sector: sector, AllowedClaims: c.Claims}, nil
}
