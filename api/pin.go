package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/identity"
)

// PINCheckPath is the route that checks a holder's PIN.
const PINCheckPath = "/v1/bindings/pin"

// DefaultPINCheckLimit is the per-address limit of POST /v1/bindings/pin
// when PINCheckConfig.AddrLimit is nil: 60 a minute (GCRA). The
// attempts on one enrollment's PIN are limited separately
// (identity.PINGuard).
var DefaultPINCheckLimit = RateLimit{Limit: 60, Window: time.Minute}

// maxPINBody bounds a PIN check request: a binding credential of about
// 1.5 KB, a device proof and a PIN.
const maxPINBody = 16 << 10

// Errors of the PIN check that are not the identity package's (package
// enrollment's sentinels).
var (
	ErrPINRequest        = enrollment.ErrPINRequest
	ErrPINNotSet         = enrollment.ErrPINNotSet
	ErrBindingCredential = enrollment.ErrBindingCredential
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

// PINCheckConfig wires POST /v1/bindings/pin.
type PINCheckConfig struct {
	// Checker is the use case (required).
	Checker *enrollment.PINChecker
	// Limiter and AddrLimit limit the route per source address: a nil
	// AddrLimit means DefaultPINCheckLimit, a disabled one (or a nil
	// Limiter) none.
	Limiter   Limiter
	AddrLimit *RateLimit
}

// MountPINCheck registers POST /v1/bindings/pin: the holder presents the
// device-binding credential from enrollment, a fresh device proof signed
// by the binding's device key (holder.NewDeviceProof) and the PIN; the
// node checks the PIN against the verifier sealed in the binding. No
// access token: possession of the device key authenticates the holder.
func (s *Server) MountPINCheck(cfg PINCheckConfig) error {
	if cfg.Checker == nil {
		return errors.New("api: the PIN check needs its checker")
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
type PINCheckRequest = enrollment.PINCheckRequest

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

func (p *pinChecker) serve(w http.ResponseWriter, r *http.Request) {
	b, err := p.check(r)
	if err == nil {
		p.s.log.LogAttrs(r.Context(), slog.LevelInfo, "pin verified", slog.String("request_id", requestID(r.Context())),
			slog.String("binding_id", b.ID), slog.Int("assurance_level", b.Level))
		writeJSON(w, PINCheckResponse{Verified: true, AssuranceLevel: b.Level})
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
	var mm *enrollment.PINMismatchError
	if errors.As(err, &mm) {
		p.s.log.LogAttrs(r.Context(), slog.LevelInfo, "request failed", slog.String("request_id", requestID(r.Context())),
			slog.String("code", string(identity.CodePINMismatch)), slog.Int("status", http.StatusForbidden),
			slog.String("binding_id", b.ID), slog.Int("attempts_remaining", mm.Remaining))
		writeJSONStatus(w, http.StatusForbidden, pinMismatchBody{Error: string(identity.CodePINMismatch),
			Description: "wrong PIN; " + mm.AttemptsLeft() + " before the binding is locked", AttemptsRemaining: mm.Remaining})
		return
	}
	writeError(w, r, p.s.log, err)
}

// check decodes the request and runs the PIN check, turning its request
// and verification errors into responses.
func (p *pinChecker) check(r *http.Request) (*enrollment.Binding, error) {
	req, err := decodePINCheck(r)
	if err != nil {
		return nil, err
	}
	b, err := p.cfg.Checker.Check(r.Context(), req)
	var re *enrollment.PINRequestError
	var ve *enrollment.BindingVerifyError
	switch {
	case errors.As(err, &re):
		return b, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: re.Message, Err: err}
	case errors.As(err, &ve):
		return b, bindingVerifyError(ve.Err)
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
