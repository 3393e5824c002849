package enrollment

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// Errors of the PIN check that are not the identity package's.
var (
	// ErrPINRequest is a malformed PIN check request (PINRequestError).
	ErrPINRequest = errors.New("enrollment: PIN check request invalid")
	// ErrPINNotSet is a binding credential without a PIN verifier.
	ErrPINNotSet = errors.New("enrollment: the binding has no PIN")
	// ErrBindingCredential is a binding credential that is not one: wrong
	// type, subject or device key, or an issuer this node does not accept.
	ErrBindingCredential = errors.New("enrollment: binding credential invalid")
)

// PINRequestError is a malformed PIN check request; Message is safe to
// show (it never quotes the request). It matches ErrPINRequest.
type PINRequestError struct{ Message string }

func (e *PINRequestError) Error() string        { return ErrPINRequest.Error() + ": " + e.Message }
func (e *PINRequestError) Is(target error) bool { return target == ErrPINRequest }

func pinRequestError(format string, args ...any) error {
	return &PINRequestError{Message: fmt.Sprintf(format, args...)}
}

// BindingVerifyError is a binding credential that failed verification
// (signature, validity, status): Err is the verifier's error
// (credentials.ErrRevoked, ErrSuspended, ErrExpired, ...).
type BindingVerifyError struct{ Err error }

func (e *BindingVerifyError) Error() string { return e.Err.Error() }
func (e *BindingVerifyError) Unwrap() error { return e.Err }

// PINMismatchError is a wrong PIN with the attempts left before the
// binding locks. It matches identity.ErrPINMismatch.
type PINMismatchError struct{ Remaining int }

func (e *PINMismatchError) Error() string { return identity.ErrPINMismatch.Error() }
func (e *PINMismatchError) Unwrap() error { return identity.ErrPINMismatch }

// AttemptsLeft words Remaining for a message: "1 attempt left",
// "4 attempts left".
func (e *PINMismatchError) AttemptsLeft() string {
	if e.Remaining == 1 {
		return "1 attempt left"
	}
	return fmt.Sprintf("%d attempts left", e.Remaining)
}

// BindingVerifier verifies a vc+jwt (*credentials.Verifier): signature by
// a key of its issuer, validity period and status (a revoked or suspended
// credential is an error matching credentials.ErrRevoked or
// credentials.ErrSuspended).
type BindingVerifier interface {
	VerifyCredential(ctx context.Context, token string) (*vc.Credential, error)
}

// IssuerRegions finds the active registered region of an issuer
// (*ledger.View): false when no region, or more than one, names it.
type IssuerRegions interface {
	IssuerRegion(issuer string) (string, bool)
}

// PINCheckConfig wires a PINChecker. Audience, Verifier, Issuers, PINs,
// Attempts and Nonces are required.
type PINCheckConfig struct {
	// Audience is the node's public base URL: device proofs must name it.
	Audience string
	// Verifier verifies the binding credential (signature, validity,
	// status).
	Verifier BindingVerifier
	// Issuers are this node's issuer identifiers (its DID, its base URL):
	// bindings they issued are accepted. Regions, when set, also accepts
	// the issuers of active registered regions.
	Issuers []string
	Regions IssuerRegions
	// PINs opens PIN verifiers with the node's PIN keys.
	PINs *identity.PINSealer
	// Attempts counts PIN attempts per enrollment (identity.PINGuard),
	// shared by every instance of the region (store.Memory,
	// redisstore.Store); MaxAttempts and Window are identity.PINGuard's
	// (zero: its defaults, 5 per 15 minutes).
	Attempts    identity.AttemptLimiter
	MaxAttempts int
	Window      time.Duration
	// Nonces makes device proofs single use (shared with enrollment: a
	// proof spent on one route is spent for both).
	Nonces NonceMarker
	Now    func() time.Time
}

// PINChecker checks a holder's PIN: the holder presents the
// device-binding credential from enrollment, a fresh device proof signed
// by the binding's device key (holder.NewDeviceProof) and the PIN; the
// checker verifies the binding and the proof and checks the PIN against
// the verifier sealed in the binding, counting attempts per enrollment
// (every copy and the static code together: identity.PINGuard). Safe for
// concurrent use.
type PINChecker struct{ cfg PINCheckConfig }

// NewPINChecker checks cfg and returns its PINChecker.
func NewPINChecker(cfg PINCheckConfig) (*PINChecker, error) {
	if cfg.Audience == "" || cfg.Verifier == nil || len(cfg.Issuers) == 0 || cfg.PINs == nil || cfg.Attempts == nil || cfg.Nonces == nil {
		return nil, errors.New("enrollment: the PIN check needs an audience, a verifier, issuers, PIN keys, an attempt limiter and nonces")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &PINChecker{cfg: cfg}, nil
}

// PINCheckRequest is a PIN check (the body of POST /v1/bindings/pin).
type PINCheckRequest struct {
	// BindingCredential is the device-binding vc+jwt issued at
	// enrollment (Response.BindingCredential.Credential).
	BindingCredential string `json:"binding_credential"`
	// DeviceProof is a fresh holder.NewDeviceProof by the binding's
	// device key (cnf.jwk), for this node; it is spent.
	DeviceProof string `json:"device_proof"`
	// PIN is the six-digit PIN.
	PIN string `json:"pin"`
}

// attemptRecorder keeps the limiter's decision on one request's attempt,
// so a wrong PIN can be answered with the attempts left.
type attemptRecorder struct {
	identity.AttemptLimiter
	d store.Decision
}

func (a *attemptRecorder) Allow(ctx context.Context, key string, limit int, window time.Duration) (store.Decision, error) {
	d, err := a.AttemptLimiter.Allow(ctx, key, limit, window)
	a.d = d
	return d, err
}

// Binding is what the PIN check read from a verified binding credential.
type Binding struct {
	// ID is the binding credential's ID; Level its assurance level.
	ID      string
	Level   int
	subject []byte
	device  crypto.PublicKey
	thumb   string
	sealed  identity.SealedPIN
}

// Subject returns the binding's subject handle (the Subject of its QR
// binding), so that a caller can tell which binding a PIN was checked for.
func (b *Binding) Subject() []byte { return slices.Clone(b.subject) }

// Check runs the steps of a PIN check and returns the binding it read
// (nil when the request failed before). Errors: PINRequestError,
// ErrBindingCredential, BindingVerifyError, ErrPINNotSet, ErrDeviceProof,
// ErrDeviceReplay, PINMismatchError, *identity.LockedError,
// identity.ErrPINVerifier, or a store's failure.
func (p *PINChecker) Check(ctx context.Context, req *PINCheckRequest) (*Binding, error) {
	// The PIN's format is public: a malformed one spends no attempt.
	if errors.Is(identity.ValidatePIN(req.PIN, identity.Document{}), identity.ErrPINFormat) {
		return nil, pinRequestError("pin must be exactly %d digits", identity.PINLen)
	}
	if req.BindingCredential == "" || req.DeviceProof == "" {
		return nil, pinRequestError("binding_credential, device_proof and pin are required")
	}
	b, err := p.binding(ctx, req.BindingCredential)
	if err != nil {
		return nil, err
	}
	if b.sealed == "" {
		return b, ErrPINNotSet
	}
	now := p.cfg.Now()
	key, ttl, err := checkDeviceProof(p.cfg.Audience, b.device, b.thumb, req.DeviceProof, now)
	if err != nil {
		return b, err
	}
	if err := spendProof(ctx, p.cfg.Nonces, key, ttl); err != nil {
		return b, err
	}
	rec := &attemptRecorder{AttemptLimiter: p.cfg.Attempts}
	g := identity.PINGuard{Sealer: p.cfg.PINs, Limiter: rec, MaxAttempts: p.cfg.MaxAttempts, Window: p.cfg.Window}
	err = g.Check(ctx, b.ID, b.sealed, req.PIN, holder.PINAAD(b.subject, b.thumb))
	if errors.Is(err, identity.ErrPINMismatch) {
		return b, &PINMismatchError{Remaining: rec.d.Remaining}
	}
	return b, err
}

// binding verifies the binding credential and reads what the PIN check
// needs.
func (p *PINChecker) binding(ctx context.Context, token string) (*Binding, error) {
	// The issuer is checked before the signature too, so the node never
	// resolves the keys of an issuer it would refuse anyway.
	if iss, err := unverifiedIssuer(token); err != nil || !p.acceptedIssuer(iss) {
		return nil, fmt.Errorf("%w: issuer is neither this node nor a registered region", ErrBindingCredential)
	}
	c, err := p.cfg.Verifier.VerifyCredential(ctx, token)
	if err != nil {
		return nil, &BindingVerifyError{Err: err}
	}
	if !p.acceptedIssuer(c.Issuer) {
		return nil, fmt.Errorf("%w: issuer is neither this node nor a registered region", ErrBindingCredential)
	}
	if !slices.Contains(c.Types, TypeDeviceBindingCredential) {
		return nil, fmt.Errorf("%w: not a %s", ErrBindingCredential, TypeDeviceBindingCredential)
	}
	if c.ID == "" || len(c.Subjects) != 1 {
		return nil, fmt.Errorf("%w: needs an id and one subject", ErrBindingCredential)
	}
	cs := c.Subjects[0]
	b := &Binding{ID: c.ID}
	sid, _ := cs["id"].(string)
	hexSubject, ok := strings.CutPrefix(sid, "urn:trustid:subject:")
	if !ok {
		return nil, fmt.Errorf("%w: subject id is not a binding subject", ErrBindingCredential)
	}
	if b.subject, err = hex.DecodeString(hexSubject); err != nil || len(b.subject) != identity.BindingHandleSize || holder.SubjectURI(b.subject) != sid {
		return nil, fmt.Errorf("%w: subject id is not a binding subject", ErrBindingCredential)
	}
	if b.device, b.thumb, err = cnfDeviceKey(cs["cnf"]); err != nil {
		return nil, err
	}
	if b.Level, err = bindingLevel(cs["assuranceLevel"]); err != nil {
		return nil, err
	}
	switch v := cs["pinVerifier"].(type) {
	case nil:
	case string:
		b.sealed = identity.SealedPIN(v)
	default:
		return nil, fmt.Errorf("%w: pinVerifier must be a string", ErrBindingCredential)
	}
	return b, nil
}

// unverifiedIssuer reads the issuer of a compact vc+jwt before its
// signature is checked (its id when it is an object).
func unverifiedIssuer(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > vc.MaxDocument {
		return "", fmt.Errorf("%w: not a compact JWS", ErrBindingCredential)
	}
	raw, err := b64url.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("%w: payload is not base64url", ErrBindingCredential)
	}
	m, err := vc.ParseJSONObject(raw)
	if err != nil {
		return "", fmt.Errorf("%w: payload is not one JSON object", ErrBindingCredential)
	}
	switch iss := m["issuer"].(type) {
	case string:
		return iss, nil
	case map[string]any:
		if id, ok := iss["id"].(string); ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: no issuer", ErrBindingCredential)
}

func (p *PINChecker) acceptedIssuer(iss string) bool {
	if iss == "" {
		return false
	}
	if slices.Contains(p.cfg.Issuers, iss) {
		return true
	}
	if p.cfg.Regions != nil {
		_, ok := p.cfg.Regions.IssuerRegion(iss)
		return ok
	}
	return false
}

// cnfDeviceKey reads cnf.jwk as enrollment writes it: an SM2 or P-256
// public key with kty, crv, x and y only. It returns the key and its
// RFC 7638 thumbprint.
func cnfDeviceKey(cnf any) (crypto.PublicKey, string, error) {
	m, _ := cnf.(map[string]any)
	jm, _ := m["jwk"].(map[string]any)
	if len(m) != 1 || len(jm) != 4 {
		return nil, "", fmt.Errorf("%w: cnf must hold just a jwk of kty, crv, x and y", ErrBindingCredential)
	}
	var j gm.JWK
	for name, dst := range map[string]*string{"kty": &j.Kty, "crv": &j.Crv, "x": &j.X, "y": &j.Y} {
		s, ok := jm[name].(string)
		if !ok {
			return nil, "", fmt.Errorf("%w: cnf.jwk.%s must be a string", ErrBindingCredential, name)
		}
		*dst = s
	}
	pub, err := j.PublicKey()
	if err != nil {
		return nil, "", fmt.Errorf("%w: cnf.jwk: %v", ErrBindingCredential, err)
	}
	if alg, _ := gm.Alg(pub); alg != gm.AlgSM2 && alg != gm.AlgES256 {
		return nil, "", fmt.Errorf("%w: cnf.jwk must be an SM2 or P-256 key", ErrBindingCredential)
	}
	thumb, err := j.Thumbprint()
	if err != nil {
		return nil, "", fmt.Errorf("%w: cnf.jwk: %v", ErrBindingCredential, err)
	}
	return pub, thumb, nil
}

// bindingLevel reads credentialSubject.assuranceLevel: an integer level.
func bindingLevel(v any) (int, error) {
	var n int64
	switch x := v.(type) {
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return 0, fmt.Errorf("%w: assuranceLevel must be an integer", ErrBindingCredential)
		}
		n = i
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("%w: assuranceLevel must be an integer", ErrBindingCredential)
		}
		n = int64(x)
	default:
		return 0, fmt.Errorf("%w: assuranceLevel is missing", ErrBindingCredential)
	}
	if n < 0 || n > 255 || !identity.Level(n).Valid() {
		return 0, fmt.Errorf("%w: assuranceLevel %d is not a level", ErrBindingCredential, n)
	}
	return int(n), nil
}

// StaticPINKey is the attempt limiter key of a static code's PIN when its
// verifier is of format 1 (format 2 is counted with the enrollment's
// other copies: identity.PINGuard): its issuing region and status entry,
// which the issuer signed and which name one code only. Another code (of
// the same holder or not), a copy of the code, or a made-up one cannot
// move the count of this code: the entry is read from a code whose
// signature was checked.
func StaticPINKey(ref qrcode.StatusRef) string {
	return fmt.Sprintf("static:%d/%d/%d", ref.Region, ref.List, ref.Index)
}

// CheckStatic checks pin against the verifier sealed in a static code the
// caller has verified (issuer signature, validity, status:
// qrcode.Verifier.VerifyStatic), counting attempts with the enrollment's
// other copies as Check does (identity.PINGuard: 5 per 15 minutes, shared
// by the region's instances). Errors: PINRequestError (not six digits: no
// attempt counted), ErrPINNotSet (the code carries no verifier),
// PINMismatchError, *identity.LockedError, identity.ErrPINVerifier, or a
// store's failure. The PIN is neither kept nor logged.
func (p *PINChecker) CheckStatic(ctx context.Context, st *qrcode.Static, pin string) error {
	if errors.Is(identity.ValidatePIN(pin, identity.Document{}), identity.ErrPINFormat) {
		return pinRequestError("pin must be exactly %d digits", identity.PINLen)
	}
	if st == nil || len(st.SealedPIN) == 0 {
		return ErrPINNotSet
	}
	sealed := identity.SealedPIN(base64.RawURLEncoding.EncodeToString(st.SealedPIN))
	rec := &attemptRecorder{AttemptLimiter: p.cfg.Attempts}
	g := identity.PINGuard{Sealer: p.cfg.PINs, Limiter: rec, MaxAttempts: p.cfg.MaxAttempts, Window: p.cfg.Window}
	err := g.Check(ctx, StaticPINKey(st.Status), sealed, pin, StaticPINAAD(st.Subject))
	if errors.Is(err, identity.ErrPINMismatch) {
		return &PINMismatchError{Remaining: rec.d.Remaining}
	}
	return err
}
