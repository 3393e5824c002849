package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/authheader"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/oid4vci"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
	"github.com/trustid-cn/trustid/qrcode"
)

// OID4VCIConfig wires the OpenID for Verifiable Credential Issuance 1.0
// routes (handlers only translate HTTP; package oid4vci owns the logic).
type OID4VCIConfig struct {
	Service *oid4vci.Service
	// Limiter counts Limit per source address on the public token, nonce,
	// credential and notification endpoints and on offer references; nil
	// disables the limit.
	Limiter Limiter
	// Limit is that limit; nil means DefaultOID4VCILimit.
	Limit *RateLimit
	// OfferLimit counts, with Limiter, the offers each issuing client
	// makes (POST /oid4vci/offers); nil means DefaultOID4VCIOfferLimit.
	OfferLimit *RateLimit
}

// DefaultOID4VCILimit is the default per-address limit of the public
// OID4VCI endpoints: 600 requests a minute.
var DefaultOID4VCILimit = RateLimit{Limit: 600, Window: time.Minute}

// DefaultOID4VCIOfferLimit limits each issuing client to 300 offers a
// minute (a burst of 300). An offer keeps its credential (up to
// vc.MaxDocument, 256 KiB) in the store for its whole life (OfferTTL, 10
// minutes by default) whether or not a wallet takes it, so the limit is
// what bounds what one client's credentials can make the store hold: at
// most 300 × (1 + 10) live offers, where there was no bound but the
// memory store's entry cap (2^20 entries, which, once reached, refuses
// every new key: logins and rate limits too).
var DefaultOID4VCIOfferLimit = RateLimit{Limit: 300, Window: time.Minute}

// oid4vciErrors maps the offer errors of package oid4vci; protocol
// errors (*oid4vci.Error) are mapped by vciError.
var oid4vciErrors = []mapping{
	{oid4vci.ErrInvalid, http.StatusUnprocessableEntity, "invalid_offer", ""},
	{oid4vci.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such credential offer (unknown or expired)"},
}

// MountOID4VCI registers the credential issuer's routes:
//
//	GET  /.well-known/openid-credential-issuer           issuer metadata
//	GET  /.well-known/oauth-authorization-server/oid4vci its authorization server
//	GET  /oid4vci/authorize                              authorization endpoint (TrustID login)
//	POST /oid4vci/par                                    pushed authorization requests (RFC 9126)
//	POST /oid4vci/token                                  pre-authorized code and authorization_code grants
//	POST /oid4vci/nonce                                  a fresh c_nonce
//	POST /oid4vci/challenge                              a wallet attestation challenge and a DPoP nonce
//	POST /oid4vci/credential                             credential endpoint
//	POST /oid4vci/notification                           notification endpoint
//	POST /oid4vci/offers                                 make an offer (credentials:issue)
//	GET  /oid4vci/offers/{ref}                           an offer by reference
func (s *Server) MountOID4VCI(cfg OID4VCIConfig) error {
	if cfg.Service == nil {
		return errors.New("api: OID4VCI needs a service")
	}
	limit := DefaultOID4VCILimit
	if cfg.Limit != nil {
		limit = *cfg.Limit
	}
	limit.Name = "oid4vci-addr"
	offerLimit := clientLimitOr(cfg.OfferLimit, DefaultOID4VCIOfferLimit, "oid4vci-offer-client")
	h := &vciHandlers{svc: cfg.Service, s: s}
	public := func(f func(http.ResponseWriter, *http.Request) error) http.Handler {
		return s.rateLimit(cfg.Limiter, limit, ClientAddress, errorHandler(s, vciErrors(nil, f)))
	}
	resource := func(f func(http.ResponseWriter, *http.Request) error) http.Handler {
		return s.rateLimit(cfg.Limiter, limit, ClientAddress, errorHandler(s, vciErrors(cfg.Service.DPoPAlgorithms(), f)))
	}
	s.handleFunc("GET /.well-known/openid-credential-issuer", func(w http.ResponseWriter, r *http.Request) error {
		writePublic(w, "application/json", cfg.Service.Metadata())
		return nil
	})
	s.handleFunc("GET "+oid4vci.PathASMetadata, func(w http.ResponseWriter, r *http.Request) error {
		writePublic(w, "application/json", cfg.Service.AuthorizationServerMetadata())
		return nil
	})
	s.handle("POST "+oid4vci.PathToken, public(h.token))
	if s.login != nil {
		lp := s.login
		s.handle("POST "+oid4vci.PathPAR, public(h.par))
		refuse := func(w http.ResponseWriter, r *http.Request, err error) { refusePage(w, r, s, err) }
		authorize := noHead(func(w http.ResponseWriter, r *http.Request) error { return h.authorize(w, r, lp) }, http.MethodGet)
		s.handleNoHead("GET "+oid4vci.PathAuthorize, s.rateLimitPage(cfg.Limiter, limit, ClientAddress, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := authorize(w, r); err != nil {
				refuse(w, r, err)
			}
		}), refuse))
	}
	s.handle("POST "+oid4vci.PathNonce, public(h.nonce))
	s.handle("POST "+oid4vci.PathChallenge, public(h.challenge))
	s.handle("POST "+oid4vci.PathCredential, resource(h.credential))
	s.handle("POST "+oid4vci.PathNotification, resource(h.notification))
	s.handle("POST "+oid4vci.PathOffers, s.protect(auth.ScopeCredentialsIssue, s.rateLimit(cfg.Limiter, offerLimit, AuthenticatedClient, errorHandler(s, h.offer))))
	s.handle("GET "+oid4vci.PathOffers+"/{ref}", public(h.offerByReference))
	return nil
}

type vciHandlers struct {
	svc *oid4vci.Service
	s   *Server
}

// vciErrors turns protocol errors into responses with the specification's
// codes, their descriptions made safe (auth.SafeDescription):
// invalid_token 401, unavailable 503 (with Retry-After), server errors
// 500, the rest 400. At the credential and notification endpoints
// (resource) the DPoP errors, and a DPoP-bound token sent as Bearer, are
// 401 with a WWW-Authenticate DPoP challenge (RFC 9449 §7.1, §9), a request
// without an access token gets a Bearer and a DPoP challenge (401), one
// whose Authorization header is malformed (access) both with
// invalid_request (400); a fresh DPoP nonce goes in DPoP-Nonce.
// resourceAlgs, set at those endpoints, are the DPoP algorithms named in
// the challenge.
func vciErrors(resourceAlgs []string, f func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := f(w, r)
		setFresh(w, err)
		var e *oid4vci.Error
		if !errors.As(err, &e) {
			return err
		}
		status := http.StatusBadRequest
		switch e.Code {
		case oid4vci.CodeInvalidToken:
			status = http.StatusUnauthorized
			if resourceAlgs != nil && errors.Is(err, oid4vci.ErrNoAccessToken) {
				// RFC 6750 §3.1, RFC 9449 §7.1: no credentials, so
				// challenges without an error code, DPoP's naming the
				// algorithms.
				w.Header().Set("WWW-Authenticate", "Bearer")
				w.Header().Add("WWW-Authenticate", `DPoP algs="`+strings.Join(resourceAlgs, " ")+`"`)
			} else if resourceAlgs != nil && errors.Is(err, oid4vci.ErrDPoPBound) {
				// RFC 9449 §7.1: a DPoP-bound token needs the DPoP scheme.
				w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token", algs="`+strings.Join(resourceAlgs, " ")+`"`)
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			}
		case oid4vci.CodeInvalidRequest:
			if resourceAlgs != nil && errors.Is(err, authheader.ErrMalformed) {
				// RFC 6750 §3.1 invalid_request (400), challenged in both
				// schemes the endpoint takes (RFC 9449 §7.1, §7.2).
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request"`)
				w.Header().Add("WWW-Authenticate", `DPoP error="invalid_request", algs="`+strings.Join(resourceAlgs, " ")+`"`)
			}
		case oid4vci.CodeInvalidDPoPProof, oid4vci.CodeUseDPoPNonce:
			if resourceAlgs != nil {
				status = http.StatusUnauthorized
				w.Header().Set("WWW-Authenticate", `DPoP error="`+e.Code+`", algs="`+strings.Join(resourceAlgs, " ")+`"`)
			}
		case oid4vci.CodeTemporarilyUnavailable:
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		case oid4vci.CodeServerError:
			return &Error{Status: http.StatusInternalServerError, Code: CodeServerError, Message: "internal error", Err: err}
		}
		return &Error{Status: status, Code: e.Code, Message: auth.SafeDescription(e.Description), Err: err}
	}
}

// setFresh puts the DPoP nonce and the wallet attestation challenge an
// error carries in their header fields.
func setFresh(w http.ResponseWriter, err error) {
	if n := oid4vci.DPoPNonceOf(err); n != "" {
		w.Header().Set(dpop.HeaderNonce, n)
	}
	if c := oid4vci.AttestationChallengeOf(err); c != "" {
		w.Header().Set(attestation.HeaderChallenge, c)
	}
}

// clientAttestation reads a request's wallet attestation header fields.
func clientAttestation(r *http.Request) oid4vci.ClientAttestation {
	return oid4vci.ClientAttestation{Attestation: r.Header.Values(attestation.HeaderAttestation), PoP: r.Header.Values(attestation.HeaderPoP)}
}

// setNext puts a response's next DPoP nonce and attestation challenge in
// their header fields.
func setNext(w http.ResponseWriter, nonce, challenge string) {
	if nonce != "" {
		w.Header().Set(dpop.HeaderNonce, nonce)
	}
	if challenge != "" {
		w.Header().Set(attestation.HeaderChallenge, challenge)
	}
}

// challenge is the challenge endpoint (attestation-based client auth
// §6.3): a fresh wallet attestation challenge, and a fresh DPoP nonce in
// DPoP-Nonce.
func (h *vciHandlers) challenge(w http.ResponseWriter, r *http.Request) error {
	resp, err := h.svc.Challenge()
	if err != nil {
		return err
	}
	setNext(w, resp.DPoPNonce, "")
	writeJSON(w, resp)
	return nil
}

// token is the token endpoint. Its answers, errors too, carry Pragma:
// no-cache beside Cache-Control: no-store, as the node's other token
// endpoint's (RFC 6749 §5.1, §5.2; OID4VCI 1.0 §6.2, §6.3).
func (h *vciHandlers) token(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Pragma", "no-cache")
	form, err := readForm(r, 16<<10)
	if err != nil {
		return err
	}
	resp, err := h.svc.Token(r.Context(), oid4vci.TokenRequest{
		GrantType: form["grant_type"], PreAuthorizedCode: form["pre-authorized_code"], TxCode: form["tx_code"],
		AuthorizationDetails: form["authorization_details"],
		Code:                 form["code"], CodeVerifier: form["code_verifier"], RedirectURI: form["redirect_uri"], ClientID: form["client_id"],
		DPoP: r.Header.Values(dpop.HeaderProof), Attestation: clientAttestation(r),
	})
	if err != nil {
		return err
	}
	setNext(w, resp.DPoPNonce, resp.AttestationChallenge)
	writeJSON(w, resp)
	return nil
}

// par is the pushed authorization request endpoint (RFC 9126): 201 with
// request_uri and expires_in; its errors are answered to the wallet as
// JSON, never redirected, 400 (invalid_client too: the wallet, a public
// client, has no HTTP authentication scheme here, its attestation being
// in header fields of their own, so no challenge could go with a 401,
// RFC 9110 §15.5.2; RFC 6749 §5.2 makes 401 optional).
func (h *vciHandlers) par(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(r, 16<<10)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range form {
		q.Set(k, v)
	}
	resp, err := h.svc.PushAuthorizationRequest(r.Context(), q, r.Header.Values(dpop.HeaderProof), clientAttestation(r))
	if err != nil {
		// RFC 9449 §8 and the attestation draft §6.2: the wallet's next
		// try takes these.
		setFresh(w, err)
		var ae *login.AuthorizeError
		if errors.As(err, &ae) {
			err = ae.Err
		}
		if _, ok := errors.AsType[*oid4vci.Error](err); ok {
			return err // a DPoP error: vciErrors answers it
		}
		return loginError(err)
	}
	setNext(w, resp.DPoPNonce, resp.AttestationChallenge)
	w.Header().Set("Cache-Control", "no-store")
	writeJSONStatus(w, http.StatusCreated, resp)
	return nil
}

// authorize is the authorization endpoint: the login page of TrustID's
// user login, or an error sent back to the wallet's redirect URI.
func (h *vciHandlers) authorize(w http.ResponseWriter, r *http.Request, lp *login.Provider) error {
	q, err := requestParams(r)
	if err != nil {
		return err
	}
	st, err := h.svc.Authorize(r.Context(), q)
	if err != nil {
		var ae *login.AuthorizeError
		if errors.As(err, &ae) && ae.Err.Code == login.CodeServerError {
			return ae.Err
		}
		return redirectAuthorizeError(w, r, h.s, err, h.svc.Issuer()+oid4vci.PathAS)
	}
	// Its request is spent (RFC 9126 §4; an offer's issuer_state): the
	// page cannot send it again, and its expired page starts the session
	// again instead (loginHandlers.restart).
	return renderLoginPage(w, r, lp, st, nil)
}

func (h *vciHandlers) nonce(w http.ResponseWriter, r *http.Request) error {
	resp, err := h.svc.Nonce(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, resp)
	return nil
}

// access reads the access token of the Authorization header, Bearer or
// DPoP scheme (authheader.Credential, as every route that takes an
// access token reads it), and the DPoP header fields. vciErrors answers its
// refusals with a Bearer and a DPoP challenge.
func access(r *http.Request) (oid4vci.Access, error) {
	scheme, tok, err := authheader.Credential(r.Header, "Bearer", "DPoP")
	switch {
	case errors.Is(err, authheader.ErrNone):
		return oid4vci.Access{}, &oid4vci.Error{Code: oid4vci.CodeInvalidToken, Description: "an Authorization: Bearer or DPoP access token from the token endpoint is required", Err: oid4vci.ErrNoAccessToken}
	case err != nil:
		return oid4vci.Access{}, &oid4vci.Error{Code: oid4vci.CodeInvalidRequest, Description: "the Authorization header must be one Bearer or DPoP access token", Err: err}
	}
	return oid4vci.Access{Scheme: scheme, Token: tok, DPoP: r.Header.Values(dpop.HeaderProof)}, nil
}

// readJSON reads a JSON request body of at most max bytes, sent as
// application/json: type and subtype compared case-insensitively, with
// parameters (RFC 9110 §8.3.1), and no other media type, without a
// content coding.
func readJSON(r *http.Request, max int) ([]byte, error) {
	if ct := headerValue(r.Header, "Content-Type"); !strings.EqualFold(ct, "application/json") {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, &Error{Status: http.StatusUnsupportedMediaType, Code: CodeInvalidRequest, Message: "the body must be application/json"}
		}
	}
	if contentCoded(r) {
		return nil, &Error{Status: http.StatusUnsupportedMediaType, Code: CodeInvalidRequest, Message: "the body must be sent without Content-Encoding"}
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "cannot read the body"}
	}
	if len(data) > max {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "body too large"}
	}
	return data, nil
}

func (h *vciHandlers) credential(w http.ResponseWriter, r *http.Request) error {
	acc, err := access(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r, oid4vci.MaxRequest)
	if err != nil {
		return err
	}
	resp, err := h.svc.Credential(r.Context(), acc, body)
	if err != nil {
		return err
	}
	if resp.DPoPNonce != "" {
		w.Header().Set(dpop.HeaderNonce, resp.DPoPNonce)
	}
	writeJSON(w, resp)
	return nil
}

func (h *vciHandlers) notification(w http.ResponseWriter, r *http.Request) error {
	acc, err := access(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r, oid4vci.MaxRequest)
	if err != nil {
		return err
	}
	nonce, err := h.svc.Notify(r.Context(), acc, body)
	if err != nil {
		return err
	}
	if nonce != "" {
		w.Header().Set(dpop.HeaderNonce, nonce)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// offerRequest is the body of POST /oid4vci/offers.
type offerRequest struct {
	CredentialConfigurationIDs []string        `json:"credential_configuration_ids"`
	Credential                 json.RawMessage `json:"credential"`
	TxCode                     bool            `json:"tx_code"`
	ByReference                bool            `json:"by_reference"`
	// Grant is "pre-authorized_code" (the default) or "authorization_code".
	Grant string `json:"grant"`
	// Subject (authorization_code only) is the holder's pairwise sub for
	// the offering client.
	Subject string `json:"subject"`
	// Level (authorization_code only): L2 (default), L3 or L4, the
	// assurance the holder's approval must reach.
	Level string `json:"level"`
}

// offerResponse answers POST /oid4vci/offers.
type offerResponse struct {
	CredentialOffer json.RawMessage `json:"credential_offer"`
	OfferURI        string          `json:"offer_uri"`
	QRPNG           string          `json:"qr_png"`
	TxCode          string          `json:"tx_code,omitempty"`
	ExpiresIn       int             `json:"expires_in"`
}

func (h *vciHandlers) offer(w http.ResponseWriter, r *http.Request) error {
	var req offerRequest
	if err := decodeBody(r, maxCredentialBody, &req, invalidRequest, "with credential_configuration_ids and credential"); err != nil {
		return err
	}
	if req.Credential == nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "credential is required"}
	}
	cred, err := vc.ParseJSONObject(req.Credential)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "credential must be a JSON object", Err: err}
	}
	if req.Grant != "" && req.Grant != "pre-authorized_code" && req.Grant != oid4vci.GrantAuthorizationCode {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "grant must be pre-authorized_code or authorization_code"}
	}
	var level identity.Level
	if req.Level != "" {
		if level, err = identity.ParseLevel(req.Level); err != nil {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "level must be L2, L3 or L4"}
		}
	}
	caller, _ := PrincipalFrom(r.Context())
	o, err := h.svc.CreateOffer(r.Context(), oid4vci.OfferRequest{
		Client: caller.ClientID, ConfigurationIDs: req.CredentialConfigurationIDs, Credential: cred,
		TxCode: req.TxCode, ByReference: req.ByReference,
		AuthorizationCode: req.Grant == oid4vci.GrantAuthorizationCode, Subject: req.Subject, Level: level,
	})
	if err != nil {
		return err
	}
	png, err := o.QRPNG(qrcode.DefaultImageSize)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusCreated, offerResponse{
		CredentialOffer: o.JSON, OfferURI: o.URI, TxCode: o.TxCode, ExpiresIn: o.ExpiresIn,
		QRPNG: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png),
	})
	return nil
}

func (h *vciHandlers) offerByReference(w http.ResponseWriter, r *http.Request) error {
	doc, err := h.svc.OfferByReference(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(doc)
	return nil
}
