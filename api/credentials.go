package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

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
}

// credentialErrors maps issuance and status errors. Verification errors
// are reported in the verify responses instead (verifyCodes).
var credentialErrors = []mapping{
	{vc.ErrMalformed, http.StatusBadRequest, CodeInvalidRequest, "the credential is not acceptable JSON (syntax, duplicate keys, trailing data or size)"},
	{vc.ErrIssuerMismatch, http.StatusUnprocessableEntity, "invalid_credential", "this node issues only as its own DID"},
	{vc.ErrInvalid, http.StatusUnprocessableEntity, "invalid_credential", ""},
	{vc.ErrUnsupported, http.StatusUnprocessableEntity, "unsupported", ""},
	{vc.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such credential or status list"},
	{vc.ErrStatusConflict, http.StatusConflict, "status_conflict", "the credential is revoked; revocation is final"},
	{vc.ErrStatusFull, http.StatusServiceUnavailable, CodeUnavailable, "no status entry could be allocated"},
}

// verifyCodes names each verification failure, most specific first.
var verifyCodes = []struct {
	err  error
	code string
}{
	{vc.ErrDuplicateKey, "duplicate_json_key"},
	{sdjwt.ErrUnmatched, "disclosure_unmatched"},
	{sdjwt.ErrDuplicateDigest, "duplicate_digest"},
	{sdjwt.ErrReservedName, "reserved_claim_name"},
	{sdjwt.ErrHashAlgorithm, "unsupported_sd_alg"},
	{sdjwt.ErrNoKeyBinding, "key_binding_missing"},
	{sdjwt.ErrNonce, "key_binding_nonce_mismatch"},
	{sdjwt.ErrAudience, "key_binding_audience_mismatch"},
	{sdjwt.ErrSDHash, "key_binding_sd_hash_mismatch"},
	{sdjwt.ErrStale, "key_binding_iat_invalid"},
	{sdjwt.ErrKeyBinding, "key_binding_invalid"},
	{vc.ErrAlgorithm, "algorithm_not_allowed"},
	{vc.ErrType, "wrong_media_type"},
	{vc.ErrSignature, "invalid_signature"},
	{vc.ErrUnknownKey, "unknown_key"},
	{vc.ErrIssuerMismatch, "issuer_mismatch"},
	{vc.ErrExpired, "expired"},
	{vc.ErrNotYetValid, "not_yet_valid"},
	{vc.ErrRevoked, "revoked"},
	{vc.ErrSuspended, "suspended"},
	{vc.ErrStatusUnavailable, "status_unavailable"},
	{vc.ErrResolve, "key_unresolvable"},
	{vc.ErrChallenge, "challenge_mismatch"},
	{vc.ErrInvalidPresentation, "invalid_presentation"},
	{vc.ErrInvalid, "invalid_credential"},
	{vc.ErrUnsupported, "unsupported"},
	{vc.ErrMalformed, "malformed"},
}

// verifyProblem is one entry of a verify response's errors.
type verifyProblem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func problemOf(err error) verifyProblem {
	for _, c := range verifyCodes {
		if errors.Is(err, c.err) {
			return verifyProblem{Code: c.code, Message: err.Error()}
		}
	}
	return verifyProblem{Code: "verification_failed", Message: err.Error()}
}

// maxCredentialBody bounds VC API request bodies.
const maxCredentialBody = vc.MaxDocument + 16<<10

// MountCredentials registers the credential routes. Issuing needs
// auth.ScopeCredentialsIssue and status changes auth.ScopeStatusWrite;
// verification, the DID document, issuer metadata and status lists are
// public.
func (s *Server) MountCredentials(cfg CredentialsConfig) error {
	if cfg.Issuer == nil || cfg.Verifier == nil {
		return errors.New("api: credentials need an issuer and a verifier")
	}
	h := &credentialHandlers{cfg: cfg}
	s.handle("POST /credentials/issue", s.protect(auth.ScopeCredentialsIssue, errorHandler(s, h.issue)))
	s.handle("POST /v1/credentials/{id}/status", s.protect(auth.ScopeStatusWrite, errorHandler(s, h.status)))
	s.handleFunc("POST /credentials/verify", h.verify)
	s.handleFunc("POST /presentations/verify", h.verifyPresentation)
	s.handleFunc("GET /.well-known/did.json", h.didDocument)
	s.handleFunc("GET /.well-known/jwt-vc-issuer", h.issuerMetadata)
	s.handleFunc("GET /status/{listID}", h.statusList)
	return nil
}

type credentialHandlers struct{ cfg CredentialsConfig }

// readCredentialBody reads a JSON object strictly (no duplicate keys,
// nothing after it, bounded) into a map of raw members and checks that
// only the allowed members appear.
func readCredentialBody(r *http.Request, allowed ...string) (map[string]json.RawMessage, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxCredentialBody+1))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "body too large", Err: err}
		}
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "cannot read the body", Err: err}
	}
	if len(data) > maxCredentialBody {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "body too large"}
	}
	if _, err := vc.ParseJSONObject(data); err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the body must be one JSON object without duplicate keys: " + err.Error(), Err: err}
	}
	var m map[string]json.RawMessage
	json.Unmarshal(data, &m)
	for k := range m {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "unknown member " + quoteShort(k) + " (allowed: " + strings.Join(allowed, ", ") + ")"}
		}
	}
	return m, nil
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// decodeMember decodes one member strictly into v (unknown fields are
// errors when v is a struct).
func decodeMember(raw json.RawMessage, name string, v any) error {
	if raw == nil {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: name + ": " + err.Error(), Err: err}
	}
	return nil
}

// issueOptions are the VC API issue options TrustID understands.
type issueOptions struct {
	Format    string  `json:"format"`
	Algorithm string  `json:"algorithm"`
	VCT       string  `json:"vct"`
	HolderKey *gm.JWK `json:"holderKey"`
	Decoys    int     `json:"decoys"`
}

func (h *credentialHandlers) issue(w http.ResponseWriter, r *http.Request) error {
	m, err := readCredentialBody(r, "credential", "options")
	if err != nil {
		return err
	}
	if m["credential"] == nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "credential is required"}
	}
	cred, err := vc.ParseJSONObject(m["credential"])
	if err != nil {
		return err
	}
	var opts issueOptions
	if err := decodeMember(m["options"], "options", &opts); err != nil {
		return err
	}
	switch opts.Format {
	case "", "vc+jwt", "jwt", "application/vc+jwt":
		opts.Format = vc.FormatVCJWT
	case "sd-jwt", "dc+sd-jwt", "vc+sd-jwt", "application/dc+sd-jwt":
		opts.Format = vc.FormatSDJWT
	}
	if opts.Decoys < 0 || opts.Decoys > 16 {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.decoys must be 0..16"}
	}
	iss, err := h.cfg.Issuer.Issue(r.Context(), cred, vc.IssueOptions{
		Format: opts.Format, Algorithm: opts.Algorithm, VCT: opts.VCT, HolderKey: opts.HolderKey, Decoys: opts.Decoys,
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

func writeVerifyFailure(w http.ResponseWriter, err error) {
	writeJSONStatus(w, http.StatusBadRequest, verifyResponse{Verified: false, Warnings: []verifyProblem{}, Errors: []verifyProblem{problemOf(err)}})
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

func (h *credentialHandlers) verify(w http.ResponseWriter, r *http.Request) error {
	m, err := readCredentialBody(r, "verifiableCredential", "options")
	if err != nil {
		return err
	}
	in, err := credentialInput(m["verifiableCredential"], "verifiableCredential")
	if err != nil {
		return err
	}
	var opts verifyOptions
	if err := decodeMember(m["options"], "options", &opts); err != nil {
		return err
	}
	res, err := h.cfg.Verifier.VerifyToken(r.Context(), in)
	if err != nil {
		writeVerifyFailure(w, err)
		return nil
	}
	writeJSON(w, verifyResponse{Verified: true, Format: res.Format, Issuer: res.Issuer, Credential: res.Credential,
		Checks: []string{"signature", "data-model", "validity", "status"}, Warnings: []verifyProblem{}, Errors: []verifyProblem{}})
	return nil
}

func (h *credentialHandlers) verifyPresentation(w http.ResponseWriter, r *http.Request) error {
	m, err := readCredentialBody(r, "verifiablePresentation", "presentation", "options")
	if err != nil {
		return err
	}
	raw := m["verifiablePresentation"]
	if raw == nil {
		raw = m["presentation"]
	}
	in, err := credentialInput(raw, "verifiablePresentation")
	if err != nil {
		return err
	}
	var opts verifyOptions
	if err := decodeMember(m["options"], "options", &opts); err != nil {
		return err
	}
	mediaType, token, err := presentationToken(in)
	if err != nil {
		writeVerifyFailure(w, err)
		return nil
	}
	ctx := r.Context()
	if mediaType == vc.MediaTypeSDJWT {
		// An SD-JWT VC presentation: challenge and domain bind the KB-JWT.
		if opts.Challenge == "" || opts.Domain == "" {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.challenge and options.domain are required for an SD-JWT presentation"}
		}
		res, err := h.cfg.Verifier.VerifySDJWT(ctx, token, vc.SDJWTOptions{RequireKeyBinding: true, Audience: opts.Domain, Nonce: opts.Challenge})
		if err != nil {
			writeVerifyFailure(w, err)
			return nil
		}
		iss, _ := res.Claims["iss"].(string)
		writeJSON(w, verifyResponse{Verified: true, Format: vc.TypSDJWTVC, Issuer: iss, Credential: res.Claims,
			Checks: []string{"signature", "disclosures", "key-binding", "validity", "status"}, Warnings: []verifyProblem{}, Errors: []verifyProblem{}})
		return nil
	}
	res, err := h.cfg.Verifier.VerifyPresentation(ctx, token, opts.Challenge, opts.Domain)
	if err != nil {
		writeVerifyFailure(w, err)
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
	m, err := readCredentialBody(r, "action")
	if err != nil {
		return err
	}
	var req statusRequest
	json.Unmarshal(m["action"], &req.Action)
	switch req.Action {
	case vc.ActionRevoke, vc.ActionSuspend, vc.ActionReinstate:
	default:
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: `action must be "revoke", "suspend" or "reinstate"`}
	}
	if err := h.cfg.Issuer.SetStatus(r.Context(), id, req.Action); err != nil {
		return err
	}
	writeJSON(w, map[string]string{"id": id, "action": req.Action, "result": "done"})
	return nil
}

// writePublic sends a public document that may be cached briefly.
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
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	writePublic(w, "application/did+json", b)
	return nil
}

func (h *credentialHandlers) issuerMetadata(w http.ResponseWriter, r *http.Request) error {
	md, err := h.cfg.Issuer.Metadata()
	if err != nil {
		return err
	}
	b, err := json.Marshal(md)
	if err != nil {
		return err
	}
	writePublic(w, "application/json", b)
	return nil
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
