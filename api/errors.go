package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"syscall"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/store"
)

// Error codes shared by every endpoint.
const (
	CodeInvalidRequest = "invalid_request"
	CodeNotFound       = "not_found"
	CodeMethod         = "method_not_allowed"
	CodeTooLarge       = "request_too_large"
	CodeUnavailable    = "temporarily_unavailable"
	CodeServerError    = "server_error"
	// CodePreconditionFailed: If-Match names no version of the document
	// (412, RFC 9110 §13.1.1).
	CodePreconditionFailed = "precondition_failed"
	CodeRateLimited        = "rate_limited"
	CodeStorageFull        = "insufficient_storage"
	// CodeBindingUnconfirmed: the ledger did not confirm (or could not be
	// asked about) the binding of a credential ID a request chose in
	// time; sent with Retry-After.
	CodeBindingUnconfirmed = "binding_unconfirmed"
	// CodeStatusChangePending: another instance of the region has a
	// change of the credential's status not committed yet; nothing was
	// changed; sent with Retry-After.
	CodeStatusChangePending = "status_change_pending"
	// CodeCrossSiteRequest: a browser's request from another origin's
	// page to a route only the node's own pages use (crossOrigin).
	CodeCrossSiteRequest = "cross_site_request"
)

// Error is an error with its HTTP status, code and a message safe to show.
// Domain errors are mapped onto it by the table in mapError; handlers may
// also return one directly.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string // the request member at fault, when known
	// Limit names the rate limit that refused a node's call at a peer
	// route (429 rate_limited): sent, so that the calling region's node
	// can tell its operator which of this node's limits it reached.
	Limit string
	// RetryAfter is a 429's wait in whole seconds, as its Retry-After
	// header says (checkRate). It is sent in the body (retry_after) with
	// Limit only: there the answer's signature covers it, which does not
	// cover the header.
	RetryAfter int64
	Err        error // the cause, logged, never sent
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// errorBody is the JSON of every error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Field       string `json:"field,omitempty"`
	Limit       string `json:"limit,omitempty"`
	RetryAfter  int64  `json:"retry_after,omitempty"`
}

// mapping turns a domain sentinel into a response.
type mapping struct {
	err     error
	status  int
	code    string
	message string // empty: use err.Error()
}

// errorTables lists every feature's mappings, searched in order. Each
// feature keeps its table beside its handlers (e.g. authErrors in
// oauth.go) and adds it here.
var errorTables = [][]mapping{authErrors, qrErrors, credentialErrors, enrollErrors, pinErrors, oid4vciErrors, storeErrors}

// storeErrors maps the ephemeral store's failures that reach a handler
// unwrapped by its feature (Redis down or restarting): retry later, not
// an internal error.
var storeErrors = []mapping{
	{store.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable, "temporarily unavailable; retry later"},
	{store.ErrFull, http.StatusServiceUnavailable, CodeUnavailable, "temporarily unavailable; retry later"},
}

// mapError finds the response for err.
func mapError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	// A full disk (or quota) under any write: a specific answer the
	// client may retry once space is freed, not an internal error.
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &Error{Status: http.StatusInsufficientStorage, Code: CodeStorageFull, Message: "the node's storage is full; retry later", Err: err}
	}
	for _, table := range errorTables {
		for _, m := range table {
			if errors.Is(err, m.err) {
				msg := m.message
				if msg == "" {
					msg = m.err.Error()
				}
				// A data model error names its member and rule (no value).
				var fe *vc.FieldError
				if m.err == vc.ErrInvalid && errors.As(err, &fe) && fe.Err == vc.ErrInvalid {
					return &Error{Status: m.status, Code: m.code, Message: fe.Field + ": " + fe.Rule, Field: fe.Field, Err: err}
				}
				return &Error{Status: m.status, Code: m.code, Message: msg, Err: err}
			}
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeServerError, Message: "internal error", Err: err}
}

// writeError sends err and logs its cause. 5xx are logged at error level.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := mapError(err)
	logError(r, log, e)
	if e.Code == CodeBindingUnconfirmed || e.Code == CodeStatusChangePending {
		w.Header().Set("Retry-After", "1")
	}
	if e.Code == CodeUnsupportedContentType {
		w.Header().Set("Accept-Encoding", "identity") // no content coding is read (RFC 9110 §12.5.3)
	}
	if e.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="`+e.Code+`"`)
	}
	body := errorBody{Error: e.Code, Description: e.Message, Field: e.Field, Limit: e.Limit}
	if e.Limit != "" {
		body.RetryAfter = e.RetryAfter
	}
	writeJSONStatus(w, e.Status, body)
}

// logError logs a refused request's code, status and cause; 5xx at
// error level.
func logError(r *http.Request, log *slog.Logger, e *Error) {
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	log.LogAttrs(r.Context(), level, "request failed",
		slog.String("request_id", requestID(r.Context())),
		slog.String("code", e.Code), slog.Int("status", e.Status), slog.Any("cause", e.Err))
}

// writeJSON sends v as a 200 response.
func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// writeDocStatus sends doc as writeJSONStatus does (the same bytes),
// encoded without reflection (strictjson), for a hot path. doc must hold
// only what json.Unmarshal into an any makes (maps, slices, strings,
// float64, booleans, nil) and strings, such as an issued credential's
// envelope.
func writeDocStatus(w http.ResponseWriter, status int, doc map[string]any) {
	writeAppended(w, status, doc, func(b []byte) ([]byte, error) { return strictjson.Append(b, doc) })
}

// writeAppended sends what encode appends to a pooled buffer, with
// writeJSONStatus's headers and final newline; encode must give the bytes
// writeJSONStatus would for v, which is sent that way if encode fails.
func writeAppended(w http.ResponseWriter, status int, v any, encode func([]byte) ([]byte, error)) {
	bp := docBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			docBufs.Put(bp)
		}
	}()
	b, err := encode((*bp)[:0])
	if err != nil {
		writeJSONStatus(w, status, v)
		return
	}
	*bp = append(b, '\n')
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(*bp)
}

// setJSONHeaders sets the Content-Type and Cache-Control of a JSON
// answer. The values are shared, not the new slice Header.Set makes for
// each answer (two allocations): with length and capacity 1, Header.Add
// copies them and Set replaces them; nothing may write into them.
func setJSONHeaders(h http.Header) {
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
}

var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// docBufs holds writeAppended's encoding buffers (at most 64 KiB are
// kept).
var docBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
