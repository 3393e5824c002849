package api

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/oid4vp"
	"github.com/trustid-cn/trustid/qrcode"
)

// OID4VPConfig wires the OpenID for Verifiable Presentations routes.
type OID4VPConfig struct {
	Verifier *oid4vp.Verifier
	// Limiter counts Limit per source address on the wallet-facing
	// routes (request object and response); nil disables it.
	Limiter Limiter
	// Limit is that limit; nil means DefaultOID4VPLimit.
	Limit *RateLimit
	// ClientLimit counts, with Limiter, the transactions each relying
	// party opens (POST /v1/oid4vp/requests); nil means
	// DefaultOID4VPClientLimit.
	ClientLimit *RateLimit
}

// DefaultOID4VPLimit limits each source address to 600 wallet requests
// a minute (a request object fetch and a response per presentation; many
// phones share a carrier's address).
var DefaultOID4VPLimit = RateLimit{Limit: 600, Window: time.Minute}

// DefaultOID4VPClientLimit limits each relying party to 600 new
// transactions a minute (a burst of 600). Every transaction is kept until
// its TTL (5 minutes) whether or not a wallet ever answers it, so the
// limit is what bounds what one party's credentials can make the store
// hold: at most 600 × (1 + 5) live transactions (each two entries, its
// query at most dcql.MaxSize), where there was no bound but the memory
// store's entry cap, which, once reached, refuses every new key (logins
// and rate limits too).
var DefaultOID4VPClientLimit = RateLimit{Limit: 600, Window: time.Minute}

// maxOID4VPCreate bounds a relying party's request body (the DCQL query
// is at most dcql.MaxSize).
const maxOID4VPCreate = 20 << 10

// oid4vpStatus is the HTTP status of each protocol error code.
var oid4vpStatus = map[string]int{
	oid4vp.CodeInvalidRequest:        http.StatusBadRequest,
	oid4vp.CodeInvalidScope:          http.StatusBadRequest,
	oid4vp.CodeInvalidClient:         http.StatusBadRequest,
	oid4vp.CodeVPFormatsNotSupported: http.StatusBadRequest,
	oid4vp.CodeInvalidRequestURI:     http.StatusNotFound,
	oid4vp.CodeNotFound:              http.StatusNotFound,
}

// oid4vpError turns an *oid4vp.Error into the response with its code.
func oid4vpError(err error) error {
	var e *oid4vp.Error
	if !errors.As(err, &e) {
		return err
	}
	status, ok := oid4vpStatus[e.Code]
	if !ok {
		status = http.StatusBadRequest
	}
	return &Error{Status: status, Code: e.Code, Message: e.Description, Err: err}
}

// MountOID4VP registers the verifier's routes: a relying party opens a
// transaction (POST /v1/oid4vp/requests) and fetches its result (GET
// /v1/oid4vp/requests/{id}), both with scope presentation:request; the
// wallet fetches the signed request object (GET /oid4vp/request/{id})
// and posts its response (POST /oid4vp/response/{id}).
func (s *Server) MountOID4VP(cfg OID4VPConfig) error {
	if cfg.Verifier == nil {
		return errors.New("api: oid4vp needs a verifier")
	}
	limit := DefaultOID4VPLimit
	if cfg.Limit != nil {
		limit = *cfg.Limit
	}
	limit.Name = "oid4vp-addr"
	clientLimit := clientLimitOr(cfg.ClientLimit, DefaultOID4VPClientLimit, "oid4vp-client")
	v := cfg.Verifier
	s.handle("POST /v1/oid4vp/requests", s.protect(auth.ScopePresentationRequest, s.rateLimit(cfg.Limiter, clientLimit, AuthenticatedClient, errorHandler(s, func(w http.ResponseWriter, r *http.Request) error {
		p, _ := PrincipalFrom(r.Context())
		var req oid4vp.CreateRequest
		if err := decodeBody(r, maxOID4VPCreate, &req, invalidRequest, "with dcql_query, response_mode and redirect_uri"); err != nil {
			return err
		}
		c, err := v.Create(r.Context(), p.ClientID, req)
		if err != nil {
			return oid4vpError(err)
		}
		code, err := qrcode.Encode(c.AuthorizationRequest, qrcode.Medium)
		if err != nil {
			return err
		}
		svg, err := code.SVG(320)
		if err != nil {
			return err
		}
		writeJSONStatus(w, http.StatusCreated, oid4vpCreated{Created: *c,
			QRCode: "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg)})
		return nil
	}))))
	s.handleNoHead("GET /v1/oid4vp/requests/{id}", s.protect(auth.ScopePresentationRequest, errorHandler(s, func(w http.ResponseWriter, r *http.Request) error {
		if r.Method == http.MethodHead {
			// The fetch that returns a result deletes it: a HEAD, which
			// carries none (RFC 9110 §9.3.2), must not be that fetch.
			w.Header().Set("Allow", http.MethodGet)
			return &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethod, Message: "a result is read once, with GET"}
		}
		p, _ := PrincipalFrom(r.Context())
		res, err := v.FetchResult(r.Context(), p.ClientID, r.PathValue("id"), r.URL.Query().Get("response_code"))
		if err != nil {
			return oid4vpError(err)
		}
		writeJSON(w, res)
		return nil
	})))
	s.handle("GET "+oid4vp.RequestPath, s.rateLimit(cfg.Limiter, limit, ClientAddress, errorHandler(s, func(w http.ResponseWriter, r *http.Request) error {
		ro, err := v.RequestObject(r.Context(), r.PathValue("id"))
		if err != nil {
			return oid4vpError(err)
		}
		w.Header().Set("Content-Type", oid4vp.MediaTypeRequestObject)
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, ro)
		return nil
	})))
	s.handle("POST "+oid4vp.ResponsePath, s.rateLimit(cfg.Limiter, limit, ClientAddress, errorHandler(s, func(w http.ResponseWriter, r *http.Request) error {
		form, err := readForm(r, oid4vp.MaxResponse)
		if err != nil {
			return err
		}
		vals := url.Values{}
		for k, x := range form {
			vals.Set(k, x)
		}
		out, err := v.HandleResponse(r.Context(), r.PathValue("id"), vals)
		if err != nil {
			return oid4vpError(err)
		}
		writeJSON(w, out)
		return nil
	})))
	return nil
}

// oid4vpCreated is the answer to POST /v1/oid4vp/requests: the
// transaction and a QR code (SVG data URL) of its openid4vp:// link.
type oid4vpCreated struct {
	oid4vp.Created
	QRCode string `json:"qr_code"`
}
