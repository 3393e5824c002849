package login

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// CounterAttestationType is the "typ" of a counter terminal's approval.
const CounterAttestationType = "trustid-counter-login+jwt"

// The person checks a counter approval may name (RFC 8176 values, which
// are also the login's amr).
const (
	// MethodFace: the terminal compared the person's face with their
	// document's photo. The login's acr is the static code's level.
	MethodFace = "face"
	// MethodPIN: the person typed their PIN at the terminal, which sends
	// it with the approval; the node checks it against the verifier sealed
	// in the static code. The login's acr is the code's level, at most L3.
	MethodPIN = "pin"
)

// maxPINLevel caps what a PIN typed at a counter proves: the static code
// is paper, which can be copied where a device key cannot, so the code
// and a PIN are at most L3; L4 at the counter takes a face match.
const maxPINLevel = identity.L3

// maxCounterLife bounds exp - iat of a counter attestation.
const maxCounterLife = 5 * time.Minute

// Terminals finds accredited verification terminals (any state; the
// caller checks it); identity.TerminalFile satisfies it. An unknown ID is
// an error matching identity.ErrUnknownTerminal.
type Terminals interface {
	Terminal(ctx context.Context, id string) (identity.Terminal, error)
}

// StaticPINs checks a PIN typed at a counter terminal against the
// verifier sealed in a verified static code, counting attempts per code;
// *enrollment.PINChecker satisfies it. Its errors:
// enrollment.PINRequestError (not six digits), enrollment.ErrPINNotSet,
// enrollment.PINMismatchError, *identity.LockedError,
// identity.ErrPINVerifier, or a store's failure.
type StaticPINs interface {
	CheckStatic(ctx context.Context, st *qrcode.Static, pin string) error
}

// StaticCodes verifies a static printed code: issuer signature, validity
// and status; *qrcode.Verifier satisfies it.
type StaticCodes interface {
	VerifyStatic(ctx context.Context, text string) (*qrcode.Result, error)
}

// CounterApproval is an accredited counter terminal's approval of a login
// session for a holder without a smartphone: the holder's static printed
// code, and the terminal's attestation, a JWS by its registered key of
// typ CounterAttestationType with iss its terminal ID, aud the node's
// issuer, login_session the session ID, code_hash the base64url SHA-256
// of the static code's text, method MethodFace or MethodPIN, iat, exp (at
// most five minutes on) and a jti of 16 to 128 characters, which the node
// spends. With MethodPIN, PIN is what the person typed at the terminal
// (six digits); with MethodFace it is empty. The PIN is never kept.
type CounterApproval struct {
	StaticCode  string `json:"static_code"`
	Attestation string `json:"attestation"`
	PIN         string `json:"pin,omitempty"`
}

type counterClaims struct {
	jwt.RegisteredClaims
	Session  string `json:"login_session"`
	CodeHash string `json:"code_hash"`
	Method   string `json:"method"`
}

// CodeHash is the code_hash of a counter attestation for a static code.
func CodeHash(staticCode string) string {
	sum := sha256.Sum256([]byte(staticCode))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ApproveAtCounter approves session id for the holder of a static code, on
// the word of an active accredited terminal that checked the person: their
// face (method face: the login's acr is the static code's level, its amr
// ["face"]) or their PIN, typed at the terminal and checked here against
// the verifier sealed in the code (method pin: acr the code's level, at
// most L3, amr ["pin"]). Its act is the terminal ("terminal:" + ID). No
// claim is released.
//
// With method pin every check of the terminal, its attestation and the
// code comes first, and the attestation's jti is spent before the PIN is
// looked at: each attempt takes a fresh attestation by an active terminal,
// and only then counts against the code's enrollment (the counter its
// device copies share: enrollment.PINChecker.CheckStatic). A wrong
// PIN is CodePINMismatch (its Err an *enrollment.PINMismatchError with
// the attempts left), a locked code CodePINLocked (an
// *identity.LockedError), a code without a verifier CodePINNotSet.
func (p *Provider) ApproveAtCounter(ctx context.Context, id string, a *CounterApproval) error {
	if p.cfg.Terminals == nil || p.cfg.StaticCodes == nil {
		return fail(CodeApprovalRefused, "this node does not accept counter approvals")
	}
	s, read, err := p.readSession(ctx, id)
	if err != nil {
		return err
	}
	if s.Approved != nil || s.Denied {
		return fail(CodeSessionNotFound, "the login session was already answered")
	}
	if a.StaticCode == "" || len(a.StaticCode) > 4096 || a.Attestation == "" || len(a.Attestation) > 8192 {
		return fail(CodeInvalidRequest, "static_code and attestation are required")
	}
	// The PIN's format is public: a malformed one spends nothing.
	if a.PIN != "" && errors.Is(identity.ValidatePIN(a.PIN, identity.Document{}), identity.ErrPINFormat) {
		return fail(CodeInvalidRequest, "pin must be exactly six digits")
	}
	var unverified counterClaims
	if _, _, err := jwt.NewParser().ParseUnverified(a.Attestation, &unverified); err != nil || unverified.Issuer == "" {
		return fail(CodeApprovalRefused, "the attestation is not a JWS naming its terminal")
	}
	term, err := p.cfg.Terminals.Terminal(ctx, unverified.Issuer)
	if errors.Is(err, identity.ErrUnknownTerminal) {
		return fail(CodeApprovalRefused, "the terminal is not accredited")
	}
	if err != nil {
		return failWith(CodeTemporarilyUnavailable, "the terminal registry is unavailable", err)
	}
	if term.State != identity.TerminalActive {
		return fail(CodeApprovalRefused, "the terminal's accreditation is revoked")
	}
	now := p.cfg.Now()
	parser, err := gm.NewJWTParser([]string{term.Alg()}, jwt.WithAudience(p.cfg.Issuer), jwt.WithIssuer(term.ID),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return failWith(CodeServerError, "internal error", err)
	}
	var c counterClaims
	tok, err := parser.ParseWithClaims(a.Attestation, &c, func(*jwt.Token) (any, error) { return term.PublicKey, nil })
	if err != nil {
		return failWith(CodeApprovalRefused, "the attestation does not verify with the terminal's key", err)
	}
	switch typ, _ := tok.Header["typ"].(string); {
	case typ != CounterAttestationType:
		return fail(CodeApprovalRefused, "the attestation's typ must be "+CounterAttestationType)
	case c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) > maxCounterLife:
		return fail(CodeApprovalRefused, "the attestation may live at most five minutes")
	case len(c.ID) < 16 || len(c.ID) > 128:
		return fail(CodeApprovalRefused, "the attestation's jti must be 16 to 128 characters")
	case subtle.ConstantTimeCompare([]byte(c.Session), []byte(id)) != 1:
		return fail(CodeApprovalRefused, "the attestation is for another login session")
	case subtle.ConstantTimeCompare([]byte(c.CodeHash), []byte(CodeHash(a.StaticCode))) != 1:
		return fail(CodeApprovalRefused, "the attestation is for another static code")
	case c.Method != MethodFace && c.Method != MethodPIN:
		return fail(CodeApprovalRefused, "the attestation must say how the terminal checked the person (method face or pin)")
	case c.Method == MethodPIN && a.PIN == "":
		return fail(CodeInvalidRequest, "method pin needs the PIN the person typed (pin)")
	case c.Method == MethodFace && a.PIN != "":
		return fail(CodeInvalidRequest, "a pin is sent only with method pin")
	case c.Method == MethodPIN && p.cfg.StaticPINs == nil:
		return fail(CodeApprovalRefused, "this node cannot check PINs")
	}
	res, err := p.cfg.StaticCodes.VerifyStatic(ctx, a.StaticCode)
	if err != nil {
		return staticCodeError(err)
	}
	level, amr := identity.Level(res.Assurance), []string{MethodFace}
	if c.Method == MethodPIN {
		if res.Static == nil || len(res.Static.SealedPIN) == 0 {
			return fail(CodePINNotSet, "the static code carries no PIN verifier: use method face")
		}
		level, amr = min(level, maxPINLevel), []string{MethodPIN}
	}
	if !level.AtLeast(identity.Level(s.Level)) {
		return fail(CodeApprovalRefused, "the static code's level (at most L3 with a PIN) is below the assurance level the relying party asked for")
	}
	// The jti is spent for its terminal (RFC 7519 §4.1.7: collisions
	// among issuers are the application's to prevent), as enrollment
	// spends a terminal attestation's under its key.
	err = p.cfg.Store.MarkUsed(ctx, "login-counter:"+term.ID+":"+c.ID, 2*maxCounterLife)
	if errors.Is(err, store.ErrReplayed) {
		return fail(CodeApprovalRefused, "the attestation was already used")
	}
	if err != nil {
		return failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
	}
	if c.Method == MethodPIN {
		if err := p.cfg.StaticPINs.CheckStatic(ctx, res.Static, a.PIN); err != nil {
			return staticPINError(err)
		}
	}
	cl, err := p.client(ctx, s.ClientID)
	if err != nil {
		return err
	}
	sub, err := p.subjectOf(ctx, s, cl, res.Presenter.Subject)
	if err != nil {
		return err
	}
	s.Approved = &grant{Sub: sub, ACR: s.acr(level), AMR: amr, AuthTime: now.Unix(), Act: "terminal:" + term.ID}
	if res.Static != nil {
		s.Approved.Status = entryOf(res.Static.Status, res.Static.Expiry)
	}
	return p.answer(ctx, id, read, s)
}

// staticCodeError maps the refusals of the printed code itself, named
// as the code (it has no device binding), with what the person does: a
// revoked or expired code (a lost or replaced card) is replaced by
// enrolling again.
func staticCodeError(err error) error {
	switch {
	case errors.Is(err, qrcode.ErrUnavailable), errors.Is(err, qrcode.ErrStatusUnavailable):
		return failWith(CodeTemporarilyUnavailable, "the static code's status cannot be checked now; retry", err)
	case errors.Is(err, qrcode.ErrRevoked):
		return failWith(CodeApprovalRefused, "the static code is revoked (a lost or replaced card): the person enrolls again for a new one", err)
	case errors.Is(err, qrcode.ErrSuspended):
		return failWith(CodeApprovalRefused, "the static code is suspended: it works again once its issuer reinstates it", err)
	case errors.Is(err, qrcode.ErrBindingExpired):
		return failWith(CodeApprovalRefused, "the static code has expired: the person enrolls again for a new one", err)
	}
	return failWith(CodeApprovalRefused, "the static code does not verify (not a TrustID printed code, altered, or signed by an unknown key)", err)
}

// staticPINError maps the static PIN check's errors.
func staticPINError(err error) error {
	var mismatch *enrollment.PINMismatchError
	switch {
	case errors.As(err, &mismatch):
		return failWith(CodePINMismatch, "wrong PIN; "+mismatch.AttemptsLeft()+" before the code is locked", err)
	case errors.Is(err, identity.ErrPINLocked):
		return failWith(CodePINLocked, "too many wrong PINs: the static code is locked for now; use method face, or retry later", err)
	case errors.Is(err, enrollment.ErrPINNotSet):
		return failWith(CodePINNotSet, "the static code carries no PIN verifier: use method face", err)
	case errors.Is(err, enrollment.ErrPINRequest):
		return failWith(CodeInvalidRequest, "pin must be exactly six digits", err)
	case errors.Is(err, identity.ErrPINVerifier):
		return failWith(CodeApprovalRefused, "the static code's PIN verifier cannot be opened by this node", err)
	}
	return failWith(CodeTemporarilyUnavailable, "the PIN check is unavailable; retry", err)
}
