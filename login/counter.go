package login

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// CounterAttestationType is the "typ" of a counter terminal's approval.
const CounterAttestationType = "trustid-counter-login+jwt"

// MethodFace is the only person check a counter approval may name today:
// the terminal compared the person's face with their document's photo.
const MethodFace = "face"

// maxCounterLife bounds exp - iat of a counter attestation.
const maxCounterLife = 5 * time.Minute

// Terminals finds accredited verification terminals (any state; the
// caller checks it); identity.TerminalFile satisfies it. An unknown ID is
// an error matching identity.ErrUnknownTerminal.
type Terminals interface {
	Terminal(ctx context.Context, id string) (identity.Terminal, error)
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
// of the static code's text, method MethodFace, iat, exp (at most five
// minutes on) and a jti of 16 to 128 characters, which the node spends.
type CounterApproval struct {
	StaticCode  string `json:"static_code"`
	Attestation string `json:"attestation"`
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
// the word of an active accredited terminal that checked the person's
// face. The login's acr is the static code's level, its amr ["face"], and
// its act the terminal ("terminal:" + ID). No claim is released.
func (p *Provider) ApproveAtCounter(ctx context.Context, id string, a *CounterApproval) error {
	if p.cfg.Terminals == nil || p.cfg.StaticCodes == nil {
		return fail(CodeApprovalRefused, "this node does not accept counter approvals")
	}
	s, err := p.getSession(ctx, id)
	if err != nil {
		return err
	}
	if s.Approved != nil || s.Denied {
		return fail(CodeSessionNotFound, "the login session was already answered")
	}
	if a.StaticCode == "" || len(a.StaticCode) > 4096 || a.Attestation == "" || len(a.Attestation) > 8192 {
		return fail(CodeInvalidRequest, "static_code and attestation are required")
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
	case c.Method != MethodFace:
		return fail(CodeApprovalRefused, "the attestation must say the terminal matched the face (method face)")
	}
	res, err := p.cfg.StaticCodes.VerifyStatic(ctx, a.StaticCode)
	if err != nil {
		return holderError(err)
	}
	level := identity.Level(res.Assurance)
	if !level.AtLeast(identity.Level(s.Level)) {
		return fail(CodeApprovalRefused, "the static code's level is below the assurance level the relying party asked for")
	}
	err = p.cfg.Store.MarkUsed(ctx, "login-counter:"+c.ID, 2*maxCounterLife)
	if errors.Is(err, store.ErrReplayed) {
		return fail(CodeApprovalRefused, "the attestation was already used")
	}
	if err != nil {
		return failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
	}
	cl, err := p.client(ctx, s.ClientID)
	if err != nil {
		return err
	}
	sub, err := p.subjectOf(ctx, s, cl, res.Presenter.Subject)
	if err != nil {
		return err
	}
	s.Approved = &grant{Sub: sub, ACR: level.String(), AMR: []string{"face"}, AuthTime: now.Unix(), Act: "terminal:" + term.ID}
	return p.putSession(ctx, id, s)
}
