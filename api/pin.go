package api

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/store"
)

// PINCheckPath is the route that checks a holder's PIN.
const PINCheckPath = "/v1/bindings/pin"

// DefaultPINCheckLimit is the per-address limit of POST /v1/bindings/pin
// when PINCheckConfig.AddrLimit is nil: 60 a minute (GCRA). The
// attempts on one binding are limited separately (identity.PINGuard).
var DefaultPINCheckLimit = RateLimit{Limit: 60, Window: time.Minute}

// maxPINBody bounds a PIN check request: a binding credential of about
// 1.5 KB, a device proof and a PIN.
const maxPINBody = 16 << 10

// Errors of the PIN check that are not the identity package's.
var (
	// ErrPINRequest is a malformed PIN check request.
	ErrPINRequest = errors.New("api: PIN check request invalid")
	// ErrPINNotSet is a binding credential without a PIN verifier.
	ErrPINNotSet = errors.New("api: the binding has no PIN")
	// ErrBindingCredential is a binding credential that is not one: wrong
	// type, subject or device key, or an issuer this node does not accept.
	ErrBindingCredential = errors.New("api: binding credential invalid")
)

// pinErrors maps the PIN check's errors. A wrong PIN and a locked
// binding are answered by the handler itself (attempts left,
// Retry-After); these rows are for any other caller of writeError.
var pinErrors = []mapping{
	{ErrPINRequest, http.StatusBadRequest, CodeInvalidRequest, ""},
	{ErrPINNotSet, http.StatusUnprocessableEntity, "pin_not_set", "the binding credential has no PIN verifier: enroll with a PIN first"},
	{ErrBindingCredential, http.StatusUnprocessableEntity, "binding_invalid", "not a device binding credential of an accepted issuer"},
	{identity.ErrPINVerifier, http.StatusUnprocessableEntity, string(identity.CodePINVerifier), "the PIN verifier cannot be opened by this node (damaged, for another binding, or sealed under keys this node does not hold)"},
	{identity.ErrPINLocked, http.StatusTooManyRequests, string(identity.CodePINLocked), "too many wrong PINs: the binding is locked for now"},
	{identity.ErrPINMismatch, http.StatusForbidden, string(identity.CodePINMismatch), "wrong PIN"},
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

// PINCheckConfig wires POST /v1/bindings/pin. Audience, Verifier, Issuers,
// PINs, Attempts and Nonces are required.
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
	// Attempts counts PIN attempts per binding, shared by every instance
	// of the region (store.Memory, redisstore.Store); MaxAttempts and Window
	// are identity.PINGuard's (zero: its defaults, 5 per 15 minutes).
	Attempts    identity.AttemptLimiter
	MaxAttempts int
	Window      time.Duration
	// Nonces makes device proofs single use (shared with enrollment: a
	// proof spent on one route is spent for both).
	Nonces NonceMarker
	// Limiter and AddrLimit limit the route per source address: a nil
	// AddrLimit means DefaultPINCheckLimit, a disabled one (or a nil
	// Limiter) none.
	Limiter   Limiter
	AddrLimit *RateLimit
	Now       func() time.Time
}

// MountPINCheck registers POST /v1/bindings/pin: the holder presents the
// device-binding credential from enrollment, a fresh device proof signed
// by the binding's device key (NewDeviceProof) and the PIN; the node
// checks the PIN against the verifier sealed in the binding. No access
// token: possession of the device key authenticates the holder.
func (s *Server) MountPINCheck(cfg PINCheckConfig) error {
	if cfg.Audience == "" || cfg.Verifier == nil || len(cfg.Issuers) == 0 || cfg.PINs == nil || cfg.Attempts == nil || cfg.Nonces == nil {
		return errors.New("api: the PIN check needs an audience, a verifier, issuers, PIN keys, an attempt limiter and nonces")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	limit := DefaultPINCheckLimit
	if cfg.AddrLimit != nil {
		limit = *cfg.AddrLimit
	}
	limit.Name = "pin-addr"
	p := &pinChecker{cfg: cfg, s: s}
	s.handle("POST "+PINCheckPath, s.rateLimit(cfg.Limiter, limit, ClientAddress, http.HandlerFunc(p.serve)))
	return nil
}

type pinChecker struct {
	cfg PINCheckConfig
	s   *Server
}

// PINCheckRequest is the body of POST /v1/bindings/pin.
type PINCheckRequest struct {
	// BindingCredential is the device-binding vc+jwt issued at
	// enrollment (EnrollResponse.BindingCredential.Credential).
	BindingCredential string `json:"binding_credential"`
	// DeviceProof is a fresh NewDeviceProof by the binding's device key
	// (cnf.jwk), for this node; it is spent.
	DeviceProof string `json:"device_proof"`
	// PIN is the six-digit PIN.
	PIN string `json:"pin"`
}

// PINCheckResponse is the answer to a correct PIN.
type PINCheckResponse struct {
	Verified bool `json:"verified"`
	// AssuranceLevel is the binding's level (3 for a binding with a PIN,
	// 4 when a terminal also attested the person).
	AssuranceLevel int `json:"assurance_level"`
}

// pinMismatchBody is the answer to a wrong PIN.
type pinMismatchBody struct {
	Error             string `json:"error"`
	Description       string `json:"error_description"`
	AttemptsRemaining int    `json:"attempts_remaining"`
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

// pinBinding is what the PIN check reads from a verified binding.
type pinBinding struct {
	id      string
	subject []byte
	device  crypto.PublicKey
	thumb   string
	sealed  identity.SealedPIN
	level   int
}

func (p *pinChecker) serve(w http.ResponseWriter, r *http.Request) {
	b, err := p.check(r)
	if err == nil {
		p.s.log.LogAttrs(r.Context(), slog.LevelInfo, "pin verified", slog.String("request_id", requestID(r.Context())),
			slog.String("binding_id", b.id), slog.Int("assurance_level", b.level))
		writeJSON(w, PINCheckResponse{Verified: true, AssuranceLevel: b.level})
		return
	}
	var locked *identity.LockedError
	if errors.As(err, &locked) {
		secs := int64((locked.RetryAfter + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		writeError(w, r, p.s.log, &Error{Status: http.StatusTooManyRequests, Code: string(identity.CodePINLocked),
			Message: fmt.Sprintf("too many wrong PINs: the binding is locked; retry after %d s", secs), Err: err})
		return
	}
	var mm *pinMismatch
	if errors.As(err, &mm) {
		p.s.log.LogAttrs(r.Context(), slog.LevelInfo, "request failed", slog.String("request_id", requestID(r.Context())),
			slog.String("code", string(identity.CodePINMismatch)), slog.Int("status", http.StatusForbidden),
			slog.String("binding_id", b.id), slog.Int("attempts_remaining", mm.remaining))
		writeJSONStatus(w, http.StatusForbidden, pinMismatchBody{Error: string(identity.CodePINMismatch),
			Description: fmt.Sprintf("wrong PIN; %d attempts left before the binding is locked", mm.remaining), AttemptsRemaining: mm.remaining})
		return
	}
	writeError(w, r, p.s.log, err)
}

// pinMismatch is a wrong PIN with the attempts left.
type pinMismatch struct{ remaining int }

func (e *pinMismatch) Error() string { return identity.ErrPINMismatch.Error() }
func (e *pinMismatch) Unwrap() error { return identity.ErrPINMismatch }

// check runs the steps of a PIN check and returns the binding it read
// (nil when the request failed before).
func (p *pinChecker) check(r *http.Request) (*pinBinding, error) {
	ctx := r.Context()
	req, err := decodePINCheck(r)
	if err != nil {
		return nil, err
	}
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
	if err := p.cfg.Nonces.MarkUsed(ctx, key, ttl); err != nil {
		if errors.Is(err, store.ErrReplayed) {
			return b, ErrDeviceReplay
		}
		return b, fmt.Errorf("device proof marker: %w", err)
	}
	rec := &attemptRecorder{AttemptLimiter: p.cfg.Attempts}
	g := identity.PINGuard{Sealer: p.cfg.PINs, Limiter: rec, MaxAttempts: p.cfg.MaxAttempts, Window: p.cfg.Window}
	err = g.Check(ctx, b.id, b.sealed, req.PIN, PINAAD(b.subject, b.thumb))
	if errors.Is(err, identity.ErrPINMismatch) {
		return b, &pinMismatch{remaining: rec.d.Remaining}
	}
	return b, err
}

func pinRequestError(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...), Err: ErrPINRequest}
}

// decodePINCheck reads the body strictly (see decodeBody); error
// messages never quote the body, which holds the PIN.
func decodePINCheck(r *http.Request) (*PINCheckRequest, error) {
	var req PINCheckRequest
	if err := decodeBody(r, maxPINBody, &req, pinRequestError, "with binding_credential, device_proof and pin, all strings"); err != nil {
		return nil, err
	}
	return &req, nil
}

// binding verifies the binding credential and reads what the PIN check
// needs. Verification failures are answered with a fixed message per
// kind; the cause goes to the log only.
func (p *pinChecker) binding(ctx context.Context, token string) (*pinBinding, error) {
	// The issuer is checked before the signature too, so the node never
	// resolves the keys of an issuer it would refuse anyway.
	if iss, err := unverifiedIssuer(token); err != nil || !p.acceptedIssuer(iss) {
		return nil, fmt.Errorf("%w: issuer is neither this node nor a registered region", ErrBindingCredential)
	}
	c, err := p.cfg.Verifier.VerifyCredential(ctx, token)
	if err != nil {
		return nil, bindingVerifyError(err)
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
	b := &pinBinding{id: c.ID}
	sid, _ := cs["id"].(string)
	hexSubject, ok := strings.CutPrefix(sid, "urn:trustid:subject:")
	if !ok {
		return nil, fmt.Errorf("%w: subject id is not a binding subject", ErrBindingCredential)
	}
	if b.subject, err = hex.DecodeString(hexSubject); err != nil || len(b.subject) != BindingHandleSize || SubjectURI(b.subject) != sid {
		return nil, fmt.Errorf("%w: subject id is not a binding subject", ErrBindingCredential)
	}
	if b.device, b.thumb, err = cnfDeviceKey(cs["cnf"]); err != nil {
		return nil, err
	}
	if b.level, err = bindingLevel(cs["assuranceLevel"]); err != nil {
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
	raw, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
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

func (p *pinChecker) acceptedIssuer(iss string) bool {
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

// bindingVerifyError answers a binding credential that failed
// verification: revoked, suspended and expired bindings by name, an
// unavailable status list as 503, anything else as binding_invalid.
func bindingVerifyError(err error) error {
	switch {
	case errors.Is(err, vc.ErrRevoked):
		return &Error{Status: http.StatusForbidden, Code: "binding_revoked", Message: "the device binding is revoked", Err: err}
	case errors.Is(err, vc.ErrSuspended):
		return &Error{Status: http.StatusForbidden, Code: "binding_suspended", Message: "the device binding is suspended", Err: err}
	case errors.Is(err, vc.ErrExpired):
		return &Error{Status: http.StatusForbidden, Code: "binding_expired", Message: "the device binding has expired", Err: err}
	case errors.Is(err, vc.ErrNotYetValid):
		return &Error{Status: http.StatusForbidden, Code: "binding_not_yet_valid", Message: "the device binding is not valid yet", Err: err}
	case errors.Is(err, vc.ErrStatusUnavailable), errors.Is(err, vc.ErrResolve):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the binding's issuer keys or status could not be obtained; retry", Err: err}
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: "binding_invalid", Message: "the binding credential does not verify: " + problemOf(err).Message, Err: fmt.Errorf("%w: %w", ErrBindingCredential, err)}
}
