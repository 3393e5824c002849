package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/store"
)

// EnrollPath is the enrollment route.
const EnrollPath = "/v1/enrollments"

// EnrollmentStatusPath is the route that changes the status of every
// copy of an enrollment.
const EnrollmentStatusPath = EnrollPath + "/{id}/status"

// maxEnrollBody bounds an enrollment request.
const maxEnrollBody = 16 << 10

// The enrollment wire types are the use case's (package enrollment).
type (
	EnrollRequest    = enrollment.Request
	EnrollDocument   = enrollment.Document
	DeviceKeyProof   = enrollment.DeviceKeyProof
	EnrollResponse   = enrollment.Response
	EnrollCopy       = enrollment.Copy
	IssuedCredential = enrollment.IssuedCredential
)

// Errors of enrollment that are not the identity package's (package
// enrollment's sentinels).
var (
	ErrDeviceProof   = enrollment.ErrDeviceProof
	ErrDeviceKey     = enrollment.ErrDeviceKey
	ErrDeviceReplay  = enrollment.ErrDeviceReplay
	ErrEnrollRequest = enrollment.ErrRequest
)

// enrollErrors maps the enrollment sentinels. Identity errors (documents,
// attestations, PINs) are answered by the handler itself with their
// identity code and field.
var enrollErrors = []mapping{
	{ErrDeviceProof, http.StatusUnprocessableEntity, "device_proof_invalid", "the device proof is missing, malformed, stale, for another node or not signed by the device key"},
	{ErrDeviceKey, http.StatusUnprocessableEntity, "device_key_invalid", "the device key must be a public SM2 or P-256 JWK"},
	{ErrDeviceReplay, http.StatusUnprocessableEntity, "device_proof_replayed", "the device proof was already used"},
	{ErrEnrollRequest, http.StatusBadRequest, CodeInvalidRequest, ""},
	// The replay store restarted: proofs are refused until its history
	// covers them (store.Store.MarkUsed).
	{store.ErrHistoryLost, http.StatusServiceUnavailable, CodeUnavailable, "replay protection is recovering from a store restart; retry later"},
}

// EnrollConfig wires POST /v1/enrollments and its status route.
type EnrollConfig struct {
	// Enrollment is the use case (required).
	Enrollment *enrollment.Service
	// Limiter, AddrLimit and ClientLimit rate-limit the route: the caller
	// is authenticated first; an authenticated request counts against
	// ClientLimit for its client, one that fails authentication against
	// AddrLimit for its source address. A flood of unauthenticated
	// requests from an address shared with a client (a proxy, a carrier
	// NAT) does not block that client.
	Limiter     Limiter
	AddrLimit   RateLimit
	ClientLimit RateLimit
	// StatusLimit counts, with Limiter, the status changes of
	// enrollments each client makes (POST /v1/enrollments/{id}/status),
	// one a request (its copies change in one write of the lists), on the
	// counter of POST /v1/credentials/{id}/status
	// (CredentialsConfig.StatusLimit): one budget of status changes per
	// client, whichever route. nil means DefaultStatusLimit.
	StatusLimit *RateLimit
}

// MountEnroll registers POST /v1/enrollments, protected by
// auth.ScopeEnroll, and POST /v1/enrollments/{id}/status, protected by
// auth.ScopeStatusWrite and limited per client (StatusLimit).
func (s *Server) MountEnroll(cfg EnrollConfig) error {
	if cfg.Enrollment == nil {
		return errors.New("api: enrollment needs the enrollment service")
	}
	e := &enroller{cfg: cfg, s: s}
	statusLimit := clientLimitOr(cfg.StatusLimit, DefaultStatusLimit, statusClientLimit)
	s.handle("POST "+EnrollPath, s.protectCountingFailures(auth.ScopeEnroll, cfg.Limiter, cfg.AddrLimit, http.HandlerFunc(e.serve)))
	s.handle("POST "+EnrollmentStatusPath, s.protect(auth.ScopeStatusWrite, s.rateLimit(cfg.Limiter, statusLimit, AuthenticatedClient, http.HandlerFunc(e.serveStatus))))
	return nil
}

type enroller struct {
	cfg EnrollConfig
	s   *Server
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

// enrollError turns the use case's request and evidence errors into
// responses; the rest go through the error tables.
func enrollError(err error) error {
	var re *enrollment.RequestError
	if errors.As(err, &re) {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: re.Message, Err: err}
	}
	var ee *enrollment.EvidenceError
	if errors.As(err, &ee) {
		return asIdentity(ee.Err)
	}
	return err
}

// decodeEnroll reads the body strictly (see decodeBody).
func decodeEnroll(r *http.Request) (*EnrollRequest, error) {
	var req EnrollRequest
	if err := decodeBody(r, maxEnrollBody, &req, badRequest, "with the documented fields"); err != nil {
		return nil, err
	}
	return &req, nil
}

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
	// The client that enrolled owns the status of what is issued (with
	// operators holding registry:admin), so it can revoke a lost phone's
	// binding.
	resp, sym, err := e.cfg.Enrollment.Enroll(ctx, p.ClientID, req)
	if err != nil {
		return nil, enrollError(err)
	}
	e.s.log.LogAttrs(ctx, slog.LevelInfo, "enrolled", slog.String("request_id", requestID(ctx)),
		slog.String("client_id", p.ClientID), slog.String("assurance_level", resp.AssuranceLevel), slog.Int("copies", len(resp.Copies)), slog.Any("symbol", sym))
	return resp, nil
}

// serveStatus answers POST /v1/enrollments/{id}/status {"action":
// "revoke"|"suspend"|"reinstate"}: the action on every credential of every
// copy, for the client that enrolled (or an administrator).
func (e *enroller) serveStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req struct {
		Action string `json:"action"`
	}
	if err := decodeBody(r, 1024, &req, badRequest, `{"action": "revoke" | "suspend" | "reinstate"}`); err != nil {
		writeError(w, r, e.s.log, err)
		return
	}
	switch req.Action {
	case issuer.ActionRevoke, issuer.ActionSuspend, issuer.ActionReinstate:
	default:
		writeError(w, r, e.s.log, badRequest("action must be revoke, suspend or reinstate"))
		return
	}
	if len(id) > statuslist.MaxEnrollmentID {
		writeError(w, r, e.s.log, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such enrollment"})
		return
	}
	p, _ := PrincipalFrom(r.Context())
	actor := issuer.Actor{ClientID: p.ClientID, Admin: slices.Contains(p.Scopes, auth.ScopeRegistryAdmin)}
	changed, err := e.cfg.Enrollment.SetStatus(r.Context(), id, req.Action, actor)
	if errors.Is(err, enrollment.ErrNotFound) {
		writeError(w, r, e.s.log, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no enrollment with this id was made here by this client", Err: err})
		return
	}
	if err != nil {
		writeError(w, r, e.s.log, err)
		return
	}
	// The reference, as in the audit log: the ID carries every copy's
	// status entries, which would link the copies for whoever reads it.
	e.s.log.LogAttrs(r.Context(), slog.LevelInfo, "enrollment status", slog.String("request_id", requestID(r.Context())),
		slog.String("enrollment", enrollment.AuditEnrollmentRef(id)), slog.String("action", req.Action), slog.Int("credentials", changed))
	writeJSONStatus(w, http.StatusOK, map[string]any{"id": id, "action": req.Action, "credentials": changed})
}
