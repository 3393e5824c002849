package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
)

// CredentialsConfig wires the verifiable credential routes: the W3C VC
// API (issue, verify, presentations/verify), status changes, the node's
// DID document and SD-JWT VC issuer metadata, and its status lists.
type CredentialsConfig struct {
	Issuer   *vc.Issuer
	Verifier *vc.Verifier
	// Limiter counts VerifyLimit per source address (ClientAddress) on
	// POST /credentials/verify and POST /presentations/verify, which are
	// public and may make the node fetch keys and status lists; nil
	// disables the limit.
	Limiter Limiter
	// VerifyLimit is that limit, one budget for both routes; nil means
	// DefaultVerifyLimit, a zero RateLimit none.
	VerifyLimit *RateLimit
	// Clients, when set, mounts the accreditation routes (mountIssuers):
	// an operator accredits registered clients to issue.
	Clients ClientDirectory
}

// DefaultVerifyLimit is the default per-address limit of the two verify
// routes: 300 requests a minute (a burst of 300, then 5 a second).
var DefaultVerifyLimit = RateLimit{Limit: 300, Window: time.Minute}

// credentialErrors maps issuance and status errors. Verification errors
// are reported in the verify responses instead (verifyCodes).
var credentialErrors = []mapping{
	{vc.ErrMalformed, http.StatusBadRequest, CodeInvalidRequest, "the credential is not acceptable JSON (syntax, duplicate keys, trailing data or size)"},
	{vc.ErrReservedType, http.StatusUnprocessableEntity, "reserved_credential_type", "IdentityCredential and DeviceBindingCredential are issued only by enrollment (POST /v1/enrollments)"},
	{vc.ErrReservedClaim, http.StatusUnprocessableEntity, "reserved_claim", "assuranceLevel is set only by enrollment"},
	{vc.ErrReservedSubject, http.StatusUnprocessableEntity, "reserved_subject_id", "urn:trustid:subject: subject IDs are named only by enrollment"},
	{vc.ErrNotAccredited, http.StatusForbidden, "issuer_not_accredited", "the client is not accredited in the trust registry to issue this credential type"},
	{vc.ErrRegistryUnavailable, http.StatusServiceUnavailable, CodeUnavailable, "the trust registry cannot be written now"},
	{vc.ErrIssuerMismatch, http.StatusUnprocessableEntity, "invalid_credential", "a client issues only as its own issuer DID"},
	{vc.ErrInvalid, http.StatusUnprocessableEntity, "invalid_credential", ""},
	{vc.ErrUnsupported, http.StatusUnprocessableEntity, "unsupported", ""},
	{vc.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such credential or status list"},
	{vc.ErrStatusConflict, http.StatusConflict, "status_conflict", "the credential is revoked; revocation is final"},
	{vc.ErrStatusFull, http.StatusServiceUnavailable, CodeUnavailable, "no status entry could be allocated"},
}

// verifyCodes names each verification failure, most specific first, with
// a fixed message. The error itself (which may name hosts, addresses or
// claim names) goes to the log only: whoever submits a credential must
// not learn how the node's network answered.
var verifyCodes = []struct {
	err     error
	code    string
	message string
}{
	{vc.ErrDuplicateKey, "duplicate_json_key", "a JSON object repeats a member"},
	{sdjwt.ErrUnmatched, "disclosure_unmatched", "a disclosure matches no digest"},
	{sdjwt.ErrDuplicateDigest, "duplicate_digest", "a digest appears twice"},
	{sdjwt.ErrReservedName, "reserved_claim_name", "a disclosure uses a reserved claim name"},
	{sdjwt.ErrHashAlgorithm, "unsupported_sd_alg", "the _sd_alg is not supported"},
	{sdjwt.ErrNoKeyBinding, "key_binding_missing", "a key binding JWT is required"},
	{sdjwt.ErrNonce, "key_binding_nonce_mismatch", "the key binding nonce does not match the challenge"},
	{sdjwt.ErrAudience, "key_binding_audience_mismatch", "the key binding audience does not match the domain"},
	{sdjwt.ErrSDHash, "key_binding_sd_hash_mismatch", "the key binding sd_hash does not match the presentation"},
	{sdjwt.ErrStale, "key_binding_iat_invalid", "the key binding iat is missing, in the future or too old"},
	{sdjwt.ErrKeyBinding, "key_binding_invalid", "the key binding JWT is invalid"},
	{vc.ErrAlgorithm, "algorithm_not_allowed", "the signature algorithm is not allowed"},
	{vc.ErrType, "wrong_media_type", "the JOSE typ or cty is not the one this format needs"},
	{vc.ErrSignature, "invalid_signature", "the signature does not verify"},
	{vc.ErrUnknownKey, "unknown_key", "the signing key is not among the issuer's keys"},
	{vc.ErrIssuerMismatch, "issuer_mismatch", "the signing key does not belong to the issuer (or the holder)"},
	{vc.ErrNotAccredited, "issuer_not_accredited", "the trust registry does not accredit the issuer for this credential type or claim"},
	{vc.ErrHolderMismatch, "holder_mismatch", "a credential is not bound to the presentation's holder"},
	{vc.ErrExpired, "expired", "expired"},
	{vc.ErrNotYetValid, "not_yet_valid", "not yet valid"},
	{vc.ErrRevoked, "revoked", "revoked"},
	{vc.ErrSuspended, "suspended", "suspended"},
	{vc.ErrStatusUnavailable, "status_unavailable", "the status list could not be obtained or verified"},
	{vc.ErrResolve, "key_unresolvable", "the issuer's key could not be obtained"},
	{vc.ErrChallenge, "challenge_mismatch", "the nonce or audience does not match the challenge or domain"},
	{vc.ErrInvalidPresentation, "invalid_presentation", "the presentation violates the data model or lacks holder, kid or iat"},
	{vc.ErrInvalid, "invalid_credential", "the credential violates the data model"},
	{vc.ErrUnsupported, "unsupported", "a DID method, key type or format that is not supported"},
	{vc.ErrMalformed, "malformed", "not an acceptable JWS or JSON document"},
}

// verifyProblem is one entry of a verify response's errors.
type verifyProblem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func problemOf(err error) verifyProblem {
	for _, c := range verifyCodes {
		if errors.Is(err, c.err) {
			return verifyProblem{Code: c.code, Message: c.message}
		}
	}
	return verifyProblem{Code: "verification_failed", Message: "verification failed"}
}

// maxCredentialBody bounds VC API request bodies.
const maxCredentialBody = vc.MaxDocument + 16<<10

// MountCredentials registers the credential routes. Issuing needs
// auth.ScopeCredentialsIssue (and an accreditation of the client in the
// trust registry), status changes auth.ScopeStatusWrite; verification,
// the DID documents, issuer metadata and status lists are public. With
// Clients, the accreditation routes are mounted too (see MountIssuers).
func (s *Server) MountCredentials(cfg CredentialsConfig) error {
	if cfg.Issuer == nil || cfg.Verifier == nil {
		return errors.New("api: credentials need an issuer and a verifier")
	}
	limit := DefaultVerifyLimit
	if cfg.VerifyLimit != nil {
		limit = *cfg.VerifyLimit
	}
	limit.Name = "verify-addr"
	h := &credentialHandlers{cfg: cfg, log: s.log}
	s.handle("POST /credentials/issue", s.protect(auth.ScopeCredentialsIssue, errorHandler(s, h.issue)))
	if cfg.Clients != nil {
		s.mountIssuers(cfg.Issuer, cfg.Clients)
	}
	s.handle("POST /v1/credentials/{id}/status", s.protect(auth.ScopeStatusWrite, errorHandler(s, h.status)))
	// Public, and may make the node fetch keys and status lists: limited
	// per source address (DefaultVerifyLimit unless configured).
	s.handle("POST /credentials/verify", s.rateLimit(cfg.Limiter, limit, ClientAddress, errorHandler(s, h.verify)))
	s.handle("POST /presentations/verify", s.rateLimit(cfg.Limiter, limit, ClientAddress, errorHandler(s, h.verifyPresentation)))
	s.handleFunc("GET /.well-known/did.json", h.didDocument)
	s.handleFunc("GET /issuers/{client}/did.json", h.clientIssuerDocument)
	s.handleFunc("GET /.well-known/jwt-vc-issuer", h.issuerMetadata)
	s.handleFunc("GET /status/{listID}", h.statusList)
	return nil
}

type credentialHandlers struct {
	cfg CredentialsConfig
	log *slog.Logger
}

// issueOptions are the VC API issue options TrustID understands.
type issueOptions struct {
	Format    string  `json:"format"`
	Algorithm string  `json:"algorithm"`
	VCT       string  `json:"vct"`
	HolderKey *gm.JWK `json:"holderKey"`
	Decoys    int     `json:"decoys"`
}

// issueRequest is the body of POST /credentials/issue.
type issueRequest struct {
	Credential json.RawMessage `json:"credential"`
	Options    issueOptions    `json:"options"`
}

func (h *credentialHandlers) issue(w http.ResponseWriter, r *http.Request) error {
	var req issueRequest
	if err := decodeBody(r, maxCredentialBody, &req, invalidRequest, "with credential and options"); err != nil {
		return err
	}
	if req.Credential == nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "credential is required"}
	}
	cred, err := vc.ParseJSONObject(req.Credential)
	if err != nil {
		return err
	}
	opts := req.Options
	switch opts.Format {
	case "", "vc+jwt", "jwt", "application/vc+jwt":
		opts.Format = vc.FormatVCJWT
	case "sd-jwt", "dc+sd-jwt", "vc+sd-jwt", "application/dc+sd-jwt":
		opts.Format = vc.FormatSDJWT
	}
	if opts.Decoys < 0 || opts.Decoys > 16 {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.decoys must be 0..16"}
	}
	// The client issues under its own issuer DID, what it is accredited
	// for, and owns the credential's status: only it (or an operator with
	// registry:admin) may change it later.
	caller, _ := PrincipalFrom(r.Context())
	iss, err := h.cfg.Issuer.IssueAsClient(r.Context(), cred, vc.IssueOptions{
		Format: opts.Format, Algorithm: opts.Algorithm, VCT: opts.VCT, HolderKey: opts.HolderKey, Decoys: opts.Decoys,
		Client: caller.ClientID,
	})
	if err != nil {
		return err
	}
	// credentialId names the credential for status changes: an SD-JWT VC
	// does not carry it (it would link presentations).
	writeJSONStatus(w, http.StatusCreated, map[string]any{"verifiableCredential": iss.Envelope(), "credentialId": iss.ID})
	return nil
}

// verifyResponse is the answer of both verify endpoints.
type verifyResponse struct {
	Verified     bool            `json:"verified"`
	Format       string          `json:"format,omitempty"`
	Issuer       string          `json:"issuer,omitempty"`
	Holder       string          `json:"holder,omitempty"`
	Credential   map[string]any  `json:"credential,omitempty"`
	Credentials  []verifiedEntry `json:"credentials,omitempty"`
	Presentation map[string]any  `json:"presentation,omitempty"`
	Checks       []string        `json:"checks,omitempty"`
	Warnings     []verifyProblem `json:"warnings"`
	Errors       []verifyProblem `json:"errors"`
}

type verifiedEntry struct {
	Format     string         `json:"format"`
	Issuer     string         `json:"issuer"`
	Credential map[string]any `json:"credential"`
}

// writeVerifyFailure answers a failed verification with its code and
// fixed message, and logs the cause.
func (h *credentialHandlers) writeVerifyFailure(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "verification failed",
		slog.String("request_id", requestID(r.Context())), slog.String("code", p.Code), slog.Any("cause", err))
	writeJSONStatus(w, http.StatusBadRequest, verifyResponse{Verified: false, Warnings: []verifyProblem{}, Errors: []verifyProblem{p}})
}

// credentialInput decodes a verifiableCredential member: an enveloped
// credential object or a token string.
func credentialInput(raw json.RawMessage, name string) (any, error) {
	if raw == nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: name + " is required"}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	obj, err := vc.ParseJSONObject(raw)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: name + " must be an enveloped object or a token string", Err: err}
	}
	return obj, nil
}

type verifyOptions struct {
	Challenge string   `json:"challenge"`
	Domain    string   `json:"domain"`
	Checks    []string `json:"checks"`
}

// verifyRequest is the body of POST /credentials/verify.
type verifyRequest struct {
	VerifiableCredential json.RawMessage `json:"verifiableCredential"`
	Options              verifyOptions   `json:"options"`
}

// presentationRequest is the body of POST /presentations/verify
// (presentation is another name for verifiablePresentation).
type presentationRequest struct {
	VerifiablePresentation json.RawMessage `json:"verifiablePresentation"`
	Presentation           json.RawMessage `json:"presentation"`
	Options                verifyOptions   `json:"options"`
}

func (h *credentialHandlers) verify(w http.ResponseWriter, r *http.Request) error {
	var req verifyRequest
	if err := decodeBody(r, maxCredentialBody, &req, invalidRequest, "with verifiableCredential and options"); err != nil {
		return err
	}
	in, err := credentialInput(req.VerifiableCredential, "verifiableCredential")
	if err != nil {
		return err
	}
	res, err := h.cfg.Verifier.VerifyToken(r.Context(), in)
	if err != nil {
		h.writeVerifyFailure(w, r, err)
		return nil
	}
	writeJSON(w, verifyResponse{Verified: true, Format: res.Format, Issuer: res.Issuer, Credential: res.Credential,
		Checks: []string{"signature", "data-model", "validity", "status"}, Warnings: []verifyProblem{}, Errors: []verifyProblem{}})
	return nil
}

func (h *credentialHandlers) verifyPresentation(w http.ResponseWriter, r *http.Request) error {
	var req presentationRequest
	if err := decodeBody(r, maxCredentialBody, &req, invalidRequest, "with verifiablePresentation and options"); err != nil {
		return err
	}
	raw := req.VerifiablePresentation
	if raw == nil {
		raw = req.Presentation
	}
	in, err := credentialInput(raw, "verifiablePresentation")
	if err != nil {
		return err
	}
	opts := req.Options
	mediaType, token, err := presentationToken(in)
	if err != nil {
		h.writeVerifyFailure(w, r, err)
		return nil
	}
	// Challenge and domain bind the presentation (the vp+jwt's nonce and
	// aud, or the SD-JWT's KB-JWT) to this verifier and this request.
	if opts.Challenge == "" || opts.Domain == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.challenge and options.domain are required"}
	}
	ctx := r.Context()
	if mediaType == vc.MediaTypeSDJWT {
		res, err := h.cfg.Verifier.VerifySDJWT(ctx, token, vc.SDJWTOptions{RequireKeyBinding: true, Audience: opts.Domain, Nonce: opts.Challenge})
		if err != nil {
			h.writeVerifyFailure(w, r, err)
			return nil
		}
		iss, _ := res.Claims["iss"].(string)
		writeJSON(w, verifyResponse{Verified: true, Format: vc.TypSDJWTVC, Issuer: iss, Credential: res.Claims,
			Checks: []string{"signature", "disclosures", "key-binding", "validity", "status"}, Warnings: []verifyProblem{}, Errors: []verifyProblem{}})
		return nil
	}
	res, err := h.cfg.Verifier.VerifyPresentation(ctx, token, opts.Challenge, opts.Domain)
	if err != nil {
		h.writeVerifyFailure(w, r, err)
		return nil
	}
	out := verifyResponse{Verified: true, Format: vc.TypVPJWT, Holder: res.Holder, Presentation: res.Presentation,
		Checks: []string{"signature", "data-model", "challenge", "domain", "credentials"}, Warnings: []verifyProblem{}, Errors: []verifyProblem{}}
	for _, c := range res.Credentials {
		out.Credentials = append(out.Credentials, verifiedEntry{Format: c.Format, Issuer: c.Issuer, Credential: c.Credential})
	}
	writeJSON(w, out)
	return nil
}

// presentationToken reads an enveloped presentation, a data: URL or a
// bare vp+jwt / SD-JWT string.
func presentationToken(in any) (string, string, error) {
	switch t := in.(type) {
	case map[string]any:
		return vc.Unenvelope(t)
	case string:
		if strings.HasPrefix(t, "data:") {
			return vc.ParseDataURL(t)
		}
		if strings.Contains(t, "~") {
			return vc.MediaTypeSDJWT, t, nil
		}
		return vc.MediaTypeVPJWT, t, nil
	}
	return "", "", vc.ErrInvalidPresentation
}

type statusRequest struct {
	Action string `json:"action"`
}

func (h *credentialHandlers) status(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var req statusRequest
	if err := decodeBody(r, maxCredentialBody, &req, invalidRequest, "with an action"); err != nil {
		return err
	}
	switch req.Action {
	case vc.ActionRevoke, vc.ActionSuspend, vc.ActionReinstate:
	default:
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: `action must be "revoke", "suspend" or "reinstate"`}
	}
	caller, _ := PrincipalFrom(r.Context())
	actor := vc.Actor{ClientID: caller.ClientID, Admin: slices.Contains(caller.Scopes, auth.ScopeRegistryAdmin)}
	if err := h.cfg.Issuer.SetStatusAs(r.Context(), id, req.Action, actor); err != nil {
		return err
	}
	writeJSON(w, map[string]string{"id": id, "action": req.Action, "result": "done"})
	return nil
}

// writePublic sends a public document that may be cached briefly.
// writePublicDoc marshals v and serves it with writePublic.
func writePublicDoc(w http.ResponseWriter, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writePublic(w, contentType, b)
	return nil
}

func writePublic(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(body)
}

func (h *credentialHandlers) didDocument(w http.ResponseWriter, r *http.Request) error {
	doc, err := h.cfg.Issuer.DIDDocument()
	if err != nil {
		return err
	}
	return writePublicDoc(w, "application/did+json", doc)
}

// clientIssuerDocument serves the DID document of an accredited client's
// issuer DID (did:web:<node>:issuers:<client>), with the keys the trust
// registry lists for it.
func (h *credentialHandlers) clientIssuerDocument(w http.ResponseWriter, r *http.Request) error {
	doc, err := h.cfg.Issuer.ClientIssuerDocument(r.PathValue("client"))
	if errors.Is(err, vc.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no accredited issuer of this name", Err: err}
	}
	if err != nil {
		return err
	}
	return writePublicDoc(w, "application/did+json", doc)
}

func (h *credentialHandlers) issuerMetadata(w http.ResponseWriter, r *http.Request) error {
	md, err := h.cfg.Issuer.Metadata()
	if err != nil {
		return err
	}
	return writePublicDoc(w, "application/json", md)
}

// statusList serves a list: a Bitstring Status List credential as JSON,
// or as vc+jwt when asked (Accept: application/vc+jwt); a Token Status
// List always as statuslist+jwt.
func (h *credentialHandlers) statusList(w http.ResponseWriter, r *http.Request) error {
	doc, token, err := h.cfg.Issuer.StatusList(r.Context(), r.PathValue("listID"))
	if err != nil {
		return err
	}
	accept := r.Header.Get("Accept")
	switch {
	case doc == nil:
		writePublic(w, vc.MediaTypeStatusListJWT, []byte(token))
	case strings.Contains(accept, vc.MediaTypeVCJWT):
		writePublic(w, vc.MediaTypeVCJWT, []byte(token))
	default:
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		writePublic(w, "application/vc+ld+json", b)
	}
	return nil
}
