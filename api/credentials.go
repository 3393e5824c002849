package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/cose"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
)

// CredentialsConfig wires the verifiable credential routes: the W3C VC
// API (issue, verify, presentations/verify), status changes, the node's
// DID document and SD-JWT VC issuer metadata, and its status lists.
type CredentialsConfig struct {
	Issuer   *issuer.Issuer
	Verifier *vc.Verifier
	// DataIntegrity, when set, verifies credentials and presentations with
	// embedded Data Integrity proofs; COSE, vp+cose presentations (vc+cose
	// credentials are Verifier's, through its Envelopes).
	DataIntegrity *dataintegrity.Verifier
	COSE          *cose.Verifier
	// Limiter counts VerifyLimit per source address (ClientAddress) on
	// POST /credentials/verify and POST /presentations/verify, which are
	// public and may make the node fetch keys and status lists, and
	// IssueLimit and StatusLimit per client; nil disables the limits.
	Limiter Limiter
	// VerifyLimit is that limit, one budget for both routes; nil means
	// DefaultVerifyLimit, a zero RateLimit none.
	VerifyLimit *RateLimit
	// IssueLimit counts, with Limiter, the credentials each client issues
	// (POST /credentials/issue); nil means DefaultIssueLimit.
	IssueLimit *RateLimit
	// StatusLimit counts, with Limiter, the status changes each client
	// makes (POST /v1/credentials/{id}/status, and the enrollments' route
	// on the same counter: EnrollConfig.StatusLimit); nil means
	// DefaultStatusLimit.
	StatusLimit *RateLimit
	// Clients, when set, mounts the accreditation routes (mountIssuers):
	// an operator accredits registered clients to issue.
	Clients ClientDirectory
	// RelatedFetch, when set, fetches the related resources
	// (relatedResource) of a credential sent to POST /credentials/verify
	// that the request does not give in options.trustidRelatedResources;
	// build it with vc.NewFetchClient. nil (the default) fetches nothing:
	// resources not given are reported as not checked.
	RelatedFetch *http.Client
	// StatusLists, when set, lists the IDs of the node's status lists for
	// GET /status, the index a QR verifier reads to find the list a QR
	// status reference numbers (its first 32 bits).
	StatusLists func() []string
}

// DefaultVerifyLimit is the default per-address limit of the two verify
// routes: 300 requests a minute (a burst of 300, then 5 a second).
var DefaultVerifyLimit = RateLimit{Limit: 300, Window: time.Minute}

// DefaultIssueLimit limits each issuing client to 12,000 credentials a
// second (a burst of as many). Each issuance takes status entries, which
// are never freed, and the limit is shared by the region's instances
// through the store, so it bounds what one client's credentials can take
// across them all; it is above the most one node issued in
// docs/BENCHMARKS.md (11,654 a second on 2 CPUs), so a busy issuer is not
// held below what a node serves.
var DefaultIssueLimit = RateLimit{Limit: 12000, Window: time.Second}

// DefaultStatusLimit limits each client to 12,000 status changes a second
// (a burst of as many): each is a write of the status list (a ledger
// transaction with the ledger), and the most one node served in
// docs/BENCHMARKS.md was 10,854 a second.
var DefaultStatusLimit = RateLimit{Limit: 12000, Window: time.Second}

// statusClientLimit names the per-client counter of status changes, one
// for POST /v1/credentials/{id}/status and POST
// /v1/enrollments/{id}/status.
const statusClientLimit = "status-client"

// credentialErrors maps issuance and status errors. Verification errors
// are reported in the verify responses instead (verifyCodes).
var credentialErrors = []mapping{
	{vc.ErrMalformed, http.StatusBadRequest, CodeInvalidRequest, "the credential is not acceptable JSON (syntax, duplicate keys, trailing data or size)"},
	{jsonld.ErrUnknownContext, http.StatusBadRequest, "unknown_context", "an @context is not one of the contexts this node bundles (contexts are never fetched)"},
	{jsonld.ErrFirstContext, http.StatusBadRequest, "invalid_context", "the first @context must be https://www.w3.org/ns/credentials/v2"},
	{jsonld.ErrProtectedTerm, http.StatusBadRequest, "protected_term_redefined", "a context redefines a protected term"},
	{jsonld.ErrUndefinedTerm, http.StatusBadRequest, "undefined_term", ""},
	{jsonld.ErrIssuerDependent, http.StatusBadRequest, "undefined_term", ""},
	{jsonld.ErrRelativeIRI, http.StatusBadRequest, "relative_iri", "a type or id does not expand to an absolute IRI"},
	{jsonld.ErrTooLarge, http.StatusBadRequest, "document_too_large", "the credential is too large for JSON-LD processing"},
	{jsonld.ErrTooDeep, http.StatusBadRequest, "document_too_deep", "the credential is nested too deeply for JSON-LD processing"},
	{jsonld.ErrTooComplex, http.StatusBadRequest, "canonicalization_too_complex", "the credential's blank nodes (objects without id) are too alike to canonicalize within this node's work limit"},
	{jsonld.ErrNotCompacted, http.StatusBadRequest, "not_compacted", "the credential is not in JSON-LD compacted document form (VC 2.0 §6.1): a member, type or id spelled otherwise than compacting its expansion with its own @context writes it (a keyword member but a value object's, a nested @context, an IRI or compact IRI or @vocab name where a term exists, an alias of @id or @type, an inline term for what a bundled context names by another term), a type stated as rdf:type, or @included, @reverse or @graph"},
	{jsonld.ErrInvalid, http.StatusBadRequest, "invalid_jsonld", "the credential is not valid JSON-LD"},
	{issuer.ErrUnknownFormat, http.StatusBadRequest, "unsupported_format", "options.format names a securing mechanism this node does not issue"},
	{issuer.ErrMandatoryPointers, http.StatusBadRequest, "mandatory_pointers_unsupported", "options.mandatoryPointers select what a selective disclosure credential always discloses: only dc+sd-jwt is selectively disclosable here (this node issues no selective disclosure Data Integrity suite), other formats disclose every claim"},
	{issuer.ErrHolder, http.StatusUnprocessableEntity, "holder_mismatch", "a client presents only as its own issuer DID"},
	{vc.ErrInvalidPresentation, http.StatusUnprocessableEntity, "invalid_presentation", ""},
	{vc.ErrReservedType, http.StatusUnprocessableEntity, "reserved_credential_type", "IdentityCredential and DeviceBindingCredential are issued only by enrollment (POST /v1/enrollments)"},
	{vc.ErrReservedClaim, http.StatusUnprocessableEntity, "reserved_claim", "assuranceLevel is set only by enrollment"},
	{vc.ErrReservedSubject, http.StatusUnprocessableEntity, "reserved_subject_id", "urn:trustid:subject: subject IDs are named only by enrollment"},
	{vc.ErrRegionSuspended, http.StatusForbidden, "region_suspended", "the issuer's region is suspended in the trust registry"},
	{vc.ErrNotAccredited, http.StatusForbidden, "issuer_not_accredited", "the client is not accredited in the trust registry to issue this credential type"},
	{issuer.ErrRegistryUnavailable, http.StatusServiceUnavailable, CodeUnavailable, "the trust registry cannot be written now"},
	{issuer.ErrReservedID, http.StatusUnprocessableEntity, "reserved_credential_id", "credential ids under urn:trustid: are minted by the node; choose another id or send none"},
	{issuer.ErrIDTaken, http.StatusConflict, "credential_id_taken", "a credential with this id was already issued (in this region); choose another id or send none"},
	{status.ErrUnconfirmed, http.StatusServiceUnavailable, CodeBindingUnconfirmed, "the ledger has not confirmed the binding of this credential id yet; retry (an issue retried with the same id may find it issued)"},
	{status.ErrChangePending, http.StatusServiceUnavailable, CodeStatusChangePending, "another instance of this region has a change of this credential's status not on the ledger yet, or this instance has not read it from the ledger yet; nothing was changed; retry"},
	{vc.ErrIssuerMismatch, http.StatusUnprocessableEntity, "invalid_credential", "a client issues only as its own issuer DID"},
	{vc.ErrInvalid, http.StatusUnprocessableEntity, "invalid_credential", ""},
	{vc.ErrUnsupported, http.StatusUnprocessableEntity, "unsupported", ""},
	{vc.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such credential or status list"},
	{issuer.ErrStatusConflict, http.StatusConflict, "status_conflict", "the credential is revoked; revocation is final"},
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
	{vc.ErrRegionSuspended, "region_suspended", "the issuer's region is suspended in the trust registry"},
	{vc.ErrDuplicateKey, "duplicate_json_key", "a JSON object repeats a member"},
	{jsonld.ErrUnknownContext, "unknown_context", "an @context is not bundled by this node (contexts are never fetched)"},
	{jsonld.ErrFirstContext, "invalid_context", "the first @context must be https://www.w3.org/ns/credentials/v2"},
	{jsonld.ErrProtectedTerm, "protected_term_redefined", "a context redefines a protected term"},
	{jsonld.ErrUndefinedTerm, "undefined_term", "a term is defined by no context"},
	{jsonld.ErrRelativeIRI, "relative_iri", "a type or id does not expand to an absolute IRI"},
	{jsonld.ErrTooLarge, "document_too_large", "the document is too large for JSON-LD processing"},
	{jsonld.ErrTooDeep, "document_too_deep", "the document is nested too deeply for JSON-LD processing"},
	{jsonld.ErrTooComplex, "canonicalization_too_complex", "the document's blank nodes are too alike to canonicalize within this node's work limit"},
	{jsonld.ErrNotCompacted, "not_compacted", "not in JSON-LD compacted document form (VC 2.0 §6.1): a member, type or id spelled otherwise than compacting its expansion with its own @context writes it (a keyword member but a value object's, a nested @context, an IRI or compact IRI or @vocab name where a term exists, an alias of @id or @type, an inline term for what a bundled context names by another term), a type stated as rdf:type, or @included, @reverse or @graph"},
	{jsonld.ErrInvalid, "invalid_jsonld", "not valid JSON-LD"},
	{dataintegrity.ErrNoHolderBinding, "holder_binding_unspecified", "the verifier named no holder binding for the presentation's credentials"},
	{dataintegrity.ErrNoProof, "proof_missing", "the document has no proof"},
	{dataintegrity.ErrUnsupportedSuite, "unsupported_cryptosuite", "the cryptosuite is not supported"},
	{dataintegrity.ErrSuiteKeyMismatch, "cryptosuite_key_mismatch", "the verification method's key does not fit the cryptosuite"},
	{dataintegrity.ErrProofPurpose, "wrong_proof_purpose", "the proofPurpose is not the one required"},
	{dataintegrity.ErrCreated, "proof_created_in_future", "the proof was created in the future"},
	{dataintegrity.ErrExpired, "proof_expired", "the proof has expired"},
	{dataintegrity.ErrChallenge, "challenge_mismatch", "the proof's challenge does not match"},
	{dataintegrity.ErrDomain, "domain_mismatch", "the proof's domain does not match"},
	{dataintegrity.ErrSignature, "invalid_signature", "the signature does not verify"},
	// Retrieving a verification method from its controller document
	// (W3C Controlled Identifiers 1.0 §3.3: did:web and https methods).
	{vc.ErrVerificationMethodURL, "invalid_verification_method_url", "the verification method is not an https URL with a fragment"},
	{vc.ErrControllerDocumentID, "invalid_controller_document_id", "the controller document's id is not the identifier it was fetched for"},
	{vc.ErrControllerDocument, "invalid_controller_document", "the controller document is not a conforming controlled identifier document"},
	{vc.ErrMethodNotFound, "verification_method_not_found", "the controller document defines no such verification method"},
	{vc.ErrMethodController, "invalid_verification_method_controller", "the verification method's controller is not its controller document"},
	{vc.ErrMethodRelationship, "invalid_relationship_for_verification_method", "the verification method is not listed in the verification relationship the proof purpose (or the securing mechanism) needs"},
	{vc.ErrMethodRevoked, "verification_method_revoked", "the verification method is revoked or expired"},
	// Before unknown_key: a Data Integrity proof's method of an issuer the
	// registry does not accredit is refused unresolved (RegistryResolver.Trust).
	{vc.ErrNotAccredited, "issuer_not_accredited", "the trust registry does not accredit the issuer for this credential type or claim"},
	{dataintegrity.ErrVerificationMethod, "unknown_key", "the verification method cannot be resolved or does not belong to the issuer (or holder)"},
	{dataintegrity.ErrKey, "invalid_key", "the verification method's key is invalid"},
	{dataintegrity.ErrPreviousProof, "previous_proof_unresolved", "a previousProof names no proof of the set, or proof ids repeat or form a cycle"},
	{dataintegrity.ErrChainCost, "proof_chain_too_costly", "the proofs name more distinct previousProof sets than this node verifies"},
	{dataintegrity.ErrProof, "malformed_proof", "the proof is malformed"},
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
	{vc.ErrRelatedMismatch, "related_resource_mismatch", "a related resource does not match its digest in the credential"},
	{vc.ErrDigestMalformed, "related_resource_digest_malformed", "a relatedResource digestSRI or digestMultibase is malformed"},
	{vc.ErrDigestUnsupported, "related_resource_digest_unsupported", "a relatedResource digest uses no supported algorithm"},
	{vc.ErrRelatedUnavailable, "related_resource_unavailable", "a related resource could not be obtained"},
	{vc.ErrAlgorithm, "algorithm_not_allowed", "the signature algorithm is not allowed"},
	{vc.ErrType, "wrong_media_type", "the JOSE typ or cty is not the one this format needs"},
	{vc.ErrSignature, "invalid_signature", "the signature does not verify"},
	{vc.ErrUnknownKey, "unknown_key", "the signing key is not among the issuer's keys"},
	{vc.ErrIssuerMismatch, "issuer_mismatch", "the signing key does not belong to the issuer (or the holder)"},
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

// fetchCodes name why a document fetched to resolve a key was refused.
// They apply before verifyCodes, except to a status failure, which stays
// status_unavailable. An address the fetch guard refused is not named
// (key_unresolvable, or unknown_key for Data Integrity): the code would tell whoever sent the credential
// that a name resolves to a private address of the node's network.
var fetchCodes = []struct {
	err     error
	code    string
	message string
}{
	{vc.ErrMediaTypeNotServed, "fetched_document_media_type", "a document fetched to resolve the key was not served with an accepted media type"},
	{vc.ErrDocumentTooLarge, "fetched_document_too_large", "a document fetched to resolve the key is too large"},
	{vc.ErrRedirect, "fetch_redirect_refused", "a document fetched to resolve the key was answered with a redirect, which is not followed"},
}

func problemOf(err error) verifyProblem {
	if !errors.Is(err, vc.ErrStatusUnavailable) {
		for _, c := range fetchCodes {
			if errors.Is(err, c.err) {
				return verifyProblem{Code: c.code, Message: c.message}
			}
		}
	}
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
	issueLimit := clientLimitOr(cfg.IssueLimit, DefaultIssueLimit, "issue-client")
	statusLimit := clientLimitOr(cfg.StatusLimit, DefaultStatusLimit, statusClientLimit)
	// Each issuance takes status entries and each status change writes the
	// list (the ledger): both count per client.
	s.handle("POST /credentials/issue", s.protect(auth.ScopeCredentialsIssue, s.rateLimit(cfg.Limiter, issueLimit, AuthenticatedClient, errorHandler(s, h.issue))))
	if cfg.Clients != nil {
		s.mountIssuers(cfg.Issuer, cfg.Clients)
	}
	s.handle("POST /presentations", s.protect(auth.ScopeCredentialsIssue, errorHandler(s, h.present)))
	s.handle("POST /v1/credentials/{id}/status", s.protect(auth.ScopeStatusWrite, s.rateLimit(cfg.Limiter, statusLimit, AuthenticatedClient, errorHandler(s, h.status))))
	// Public, and may make the node fetch keys and status lists: limited
	// per source address (DefaultVerifyLimit unless configured).
	s.handle("POST /credentials/verify", s.rateLimit(cfg.Limiter, limit, ClientAddress, errorHandler(s, h.verify)))
	s.handle("POST /presentations/verify", s.rateLimit(cfg.Limiter, limit, ClientAddress, errorHandler(s, h.verifyPresentation)))
	s.handleFunc("GET /.well-known/did.json", h.didDocument)
	s.handleFunc("GET /issuers/{client}/did.json", h.clientIssuerDocument)
	s.handleFunc("GET /.well-known/jwt-vc-issuer", h.issuerMetadata)
	s.handleFunc("GET /status/{listID}", h.statusList)
	if cfg.StatusLists != nil {
		s.handleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) error {
			return writePublicDoc(w, "application/json", map[string]any{"lists": cfg.StatusLists()})
		})
	}
	return nil
}

type credentialHandlers struct {
	cfg CredentialsConfig
	log *slog.Logger
}

// issueOptions are the VC API issue options TrustID understands.
// format names the securing mechanism (vc+jwt by default, dc+sd-jwt, or
// one the node registers: vc+cose, a Data Integrity cryptosuite, which
// cryptosuite may name too); credentialStatus asks for the node's status
// entries besides the credential's own.
type issueOptions struct {
	Format           string            `json:"format"`
	Cryptosuite      string            `json:"cryptosuite"`
	Algorithm        string            `json:"algorithm"`
	VCT              string            `json:"vct"`
	HolderKey        *gm.JWK           `json:"holderKey"`
	Decoys           int               `json:"decoys"`
	CredentialStatus *statusTypeOption `json:"credentialStatus"`
	// CredentialID is the VC API's options.credentialId: the URI the
	// coordinator names the credential by. TrustID names a credential by
	// its id, so it becomes the credential's id (an SD-JWT VC does not
	// carry it); a credential.id it differs from is refused.
	CredentialID string `json:"credentialId"`
	// MandatoryPointers is the VC API's options.mandatoryPointers (JSON
	// Pointers a selective disclosure credential always discloses): taken
	// by dc+sd-jwt, refused for formats that disclose everything.
	MandatoryPointers []string `json:"mandatoryPointers"`
}

// statusTypeOption is the VC API's options.credentialStatus: the type of
// status entry the issuer adds.
type statusTypeOption struct {
	Type string `json:"type"`
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
	if opts.Cryptosuite != "" {
		if opts.Format != "" && opts.Format != opts.Cryptosuite {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.format and options.cryptosuite name different securing mechanisms"}
		}
		opts.Format = opts.Cryptosuite
	}
	if cs := opts.CredentialStatus; cs != nil && cs.Type != vc.TypeBitstringStatusListEntry {
		return &Error{Status: http.StatusBadRequest, Code: "unsupported_status_type", Message: "options.credentialStatus.type must be BitstringStatusListEntry"}
	}
	if opts.CredentialID != "" {
		if _, err := vc.URLString(opts.CredentialID); err != nil {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.credentialId must be an absolute URI"}
		}
		if id, ok := cred["id"]; ok && id != opts.CredentialID {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.credentialId and credential.id name different credentials (the VC API sets one of them)"}
		}
		cred["id"] = opts.CredentialID
	}
	if opts.Decoys < 0 || opts.Decoys > 16 {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.decoys must be 0..16"}
	}
	// The client issues under its own issuer DID, what it is accredited
	// for, and owns the credential's status: only it (or an operator with
	// registry:admin) may change it later.
	caller, _ := PrincipalFrom(r.Context())
	iss, err := h.cfg.Issuer.IssueAsClient(r.Context(), cred, issuer.IssueOptions{
		Format: opts.Format, Algorithm: opts.Algorithm, VCT: opts.VCT, HolderKey: opts.HolderKey, Decoys: opts.Decoys,
		MandatoryPointers: opts.MandatoryPointers,
		AddStatus:         opts.CredentialStatus != nil, Client: caller.ClientID,
	})
	if err != nil {
		return err
	}
	// credentialId names the credential for status changes (an SD-JWT VC
	// does not carry it: it would link presentations); a credential with
	// none of the node's status entries has none to change.
	out := map[string]any{"verifiableCredential": iss.Envelope()}
	if len(iss.Status) > 0 {
		out["credentialId"] = iss.ID
	}
	writeDocStatus(w, http.StatusCreated, out)
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
	// RelatedResources is the outcome per relatedResource entry of the
	// credential (POST /credentials/verify only).
	RelatedResources []relatedOutcome `json:"relatedResources,omitempty"`
	// Proofs are the embedded Data Integrity proofs of the credential or
	// presentation, each verified.
	Proofs []proofOutcome `json:"proofs,omitempty"`
	// CredentialJSON, when set, is Credential's encoding, which
	// writeVerifyStatus sends as it is (vc.Verified.CredentialJSON).
	CredentialJSON []byte `json:"-"`
}

// proofOutcome is one verified Data Integrity proof: who signed (the
// issuer, the holder, or a co-signer) and how.
type proofOutcome struct {
	ID                 string   `json:"id,omitempty"`
	VerificationMethod string   `json:"verificationMethod"`
	Controller         string   `json:"controller"`
	Cryptosuite        string   `json:"cryptosuite"`
	ProofPurpose       string   `json:"proofPurpose"`
	Created            string   `json:"created,omitempty"`
	Expires            string   `json:"expires,omitempty"`
	Role               string   `json:"role"`
	PreviousProof      []string `json:"previousProof,omitempty"`
}

// proofOutcomes reports proofs; role names a proof by the issuer (a
// credential) or the holder (a presentation).
func proofOutcomes(proofs []dataintegrity.ProofResult, role string) []proofOutcome {
	out := make([]proofOutcome, len(proofs))
	for i, p := range proofs {
		o := proofOutcome{ID: p.ID, VerificationMethod: p.VerificationMethod, Controller: p.Controller,
			Cryptosuite: p.Cryptosuite, ProofPurpose: p.ProofPurpose, Role: "co-signer", PreviousProof: p.PreviousProof}
		if p.ByController {
			o.Role = role
		}
		if !p.Created.IsZero() {
			o.Created = p.Created.Format(time.RFC3339Nano)
		}
		if !p.Expires.IsZero() {
			o.Expires = p.Expires.Format(time.RFC3339Nano)
		}
		out[i] = o
	}
	return out
}

// relatedOutcome is one related resource's outcome: verified, mismatch,
// unavailable (not given and not fetched: not checked) or invalid (its
// digest cannot be checked).
type relatedOutcome struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Fetched bool   `json:"fetched,omitempty"`
}

type verifiedEntry struct {
	Format     string         `json:"format"`
	Issuer     string         `json:"issuer"`
	Credential map[string]any `json:"credential"`
	// Proofs are the credential's Data Integrity proofs.
	Proofs []proofOutcome `json:"proofs,omitempty"`
}

// writeVerifyFailure answers a failed verification with its code and
// fixed message, and logs the cause.
func (h *credentialHandlers) writeVerifyFailure(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "verification failed",
		slog.String("request_id", requestID(r.Context())), slog.String("code", p.Code), slog.Any("cause", err))
	writeVerifyStatus(w, http.StatusBadRequest, &verifyResponse{Verified: false, Warnings: []verifyProblem{}, Errors: []verifyProblem{p}})
}

// credentialInput decodes a verifiableCredential member: an enveloped
// credential object or a token string.
func credentialInput(raw json.RawMessage, name string) (any, error) {
	if raw == nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: name + " is required"}
	}
	// A string (or null, read as "") is a token; an object is parsed
	// once, strictly (trying it as a string first cost a whole scan).
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, nil
		}
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

// credentialVerifyOptions are the options of POST /credentials/verify:
// the VC API's, and TrustID's trustidRelatedResources, the content of the
// credential's related resources (the VC API has no option for it).
type credentialVerifyOptions struct {
	Challenge        string            `json:"challenge"`
	Domain           string            `json:"domain"`
	Checks           []string          `json:"checks"`
	RelatedResources []relatedResource `json:"trustidRelatedResources"`
}

// relatedResource is one item of options.trustidRelatedResources: the id
// of a relatedResource entry and the resource's bytes, base64url.
type relatedResource struct {
	ID      string `json:"id"`
	Content string `json:"content"`
}

// maxRelatedContent bounds one resource given in
// options.trustidRelatedResources, decoded (the body limit bounds them
// all).
const maxRelatedContent = 128 << 10

// relatedContent decodes options.trustidRelatedResources into the
// content map VerifyRelated takes.
func relatedContent(items []relatedResource) (map[string][]byte, error) {
	if len(items) == 0 {
		return nil, nil
	}
	bad := func(msg string) error {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_related_resource", Message: "options.trustidRelatedResources: " + msg}
	}
	if len(items) > vc.MaxRelatedResources {
		return nil, bad(fmt.Sprintf("at most %d resources", vc.MaxRelatedResources))
	}
	out := make(map[string][]byte, len(items))
	for _, it := range items {
		if it.ID == "" || len(it.ID) > 2048 {
			return nil, bad("every item needs an id (the relatedResource id), at most 2048 bytes")
		}
		if _, dup := out[it.ID]; dup {
			return nil, bad("an id is repeated")
		}
		if base64.RawURLEncoding.DecodedLen(len(it.Content)) > maxRelatedContent {
			return nil, &Error{Status: http.StatusBadRequest, Code: "related_resource_too_large", Message: fmt.Sprintf("options.trustidRelatedResources: a content is over %d bytes", maxRelatedContent)}
		}
		b, err := b64url.DecodeString(strings.TrimRight(it.Content, "="))
		if err != nil {
			return nil, bad("content must be base64url")
		}
		out[it.ID] = b
	}
	return out, nil
}

// verifyRequest is the body of POST /credentials/verify. credentialId
// is accepted so that the issue response can be sent as it is: it must be
// a string, and plays no part in verification (a warning says when it is
// not the verified credential's id).
type verifyRequest struct {
	VerifiableCredential credentialMember        `json:"verifiableCredential"`
	CredentialID         credentialIDMember      `json:"credentialId"`
	Options              credentialVerifyOptions `json:"options"`
}

// credentialIDMember is the verify body's credentialId: whether it is
// there (null included), and its string, "" for any other value.
type credentialIDMember struct {
	set bool
	id  string
}

// UnmarshalJSON reads the member's JSON with jsonString (no copy of the
// JSON kept, as a json.RawMessage would be).
func (c *credentialIDMember) UnmarshalJSON(b []byte) error {
	c.set, c.id = true, jsonString(b)
	return nil
}

// jsonString reads a JSON value the strict decoder checked (UTF-8, no
// whitespace around it) as a string: "" when it is not one. A string
// without escapes is its bytes (json.Unmarshal cost ~1.5 µs a request).
func jsonString(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// credentialMember is a verifiableCredential member decoded as the body
// is (not copied out and parsed again): credentialInput's input or
// error, and a copy of its JSON when it is a credential with an embedded
// proof, which the Data Integrity verifier parses itself. An enveloped
// credential of the usual shape is its id alone (envelopedID).
type credentialMember struct {
	set bool // the member is there (null included)
	in  any
	err error
	raw []byte
}

// UnmarshalJSON keeps credentialInput's result for the member's JSON
// (the id of an enveloped credential of the usual shape); its error is
// credentialInput's, reported once the whole body has decoded.
func (c *credentialMember) UnmarshalJSON(b []byte) error {
	c.set = true
	if id, ok := envelopedID(b); ok {
		c.in, c.err = id, nil
		return nil
	}
	c.in, c.err = credentialInput(b, "verifiableCredential")
	c.keepProof(b)
	return nil
}

// The usual enveloped credential: its @context, the type, and the start
// of the id, a data: URL of a credential's media type (never a
// presentation's, which the type would refuse).
const (
	envelopeContext = `{"@context":["` + vc.ContextV2 + `"],`
	envelopeType    = `"type":"` + vc.TypeEnvelopedCredential + `"`
	envelopeID      = `"id":"data:application/vc+`
)

// envelopedID returns the id of b, a JSON value the strict decoder
// checked, when b is an enveloped credential of the usual shape: exactly
// its @context, type and id (in that order, or id before type, as the
// issue response sends it), no whitespace, an id of a credential's media
// type without escapes. VerifyToken reads such an id as it reads the
// envelope (unenvelope then only parses the id's data: URL); the member is
// then neither built into a map nor parsed again. Any other value is
// left to credentialInput.
func envelopedID(b []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(envelopeContext))
	if !ok {
		return "", false
	}
	typeFirst := false
	if r, ok := bytes.CutPrefix(rest, []byte(envelopeType+",")); ok {
		rest, typeFirst = r, true
	}
	if !bytes.HasPrefix(rest, []byte(envelopeID)) {
		return "", false
	}
	// The id ends at the first quote unless an escape comes before it.
	start := len(b) - len(rest) + len(`"id":"`)
	n := bytes.IndexByte(b[start:], '"')
	if n < 0 || bytes.IndexByte(b[start:start+n], '\\') >= 0 {
		return "", false
	}
	end := `}`
	if !typeFirst {
		end = `,` + envelopeType + `}`
	}
	if string(b[start+n+1:]) != end {
		return "", false
	}
	return string(b[start : start+n]), true
}

// WantsValue says whether the body decode is to build the member's
// value for UnmarshalJSONValue (strictjson.ValueUnmarshaler): not for
// what starts as an enveloped credential of the usual shape, which
// UnmarshalJSON reads from its JSON faster.
func (c *credentialMember) WantsValue(rest []byte) bool {
	return !bytes.HasPrefix(rest, []byte(envelopeContext+envelopeID)) && !bytes.HasPrefix(rest, []byte(envelopeContext+envelopeType+","+envelopeID))
}

// UnmarshalJSONValue is UnmarshalJSON for the value strictjson built
// from b while it decoded the body (strictjson.ValueUnmarshaler): a
// token string or an object is credentialInput's result as it is, the
// object not parsed a second time (the body's limit is
// credentialInput's, so it refuses no member the body decode took); any
// other value goes to UnmarshalJSON.
func (c *credentialMember) UnmarshalJSONValue(v any, b []byte) error {
	switch v.(type) {
	case string, map[string]any:
		c.set, c.in, c.err = true, v, nil
		c.keepProof(b)
		return nil
	}
	return c.UnmarshalJSON(b)
}

// keepProof keeps a copy of b, the member's JSON in the body's pooled
// buffer, when the member is a credential with an embedded proof.
func (c *credentialMember) keepProof(b []byte) {
	if m, ok := c.in.(map[string]any); ok {
		if _, hasProof := m["proof"]; hasProof {
			c.raw = bytes.Clone(b)
		}
	}
}

// input is the member's credentialInput.
func (c *credentialMember) input() (any, error) {
	if !c.set {
		return credentialInput(nil, "verifiableCredential")
	}
	return c.in, c.err
}

// presentationRequest is the body of POST /presentations/verify
// (presentation is another name for verifiablePresentation).
type presentationRequest struct {
	VerifiablePresentation json.RawMessage `json:"verifiablePresentation"`
	Presentation           json.RawMessage `json:"presentation"`
	Options                verifyOptions   `json:"options"`
}

// credentialChecks are the checks verify makes of every credential,
// shared by its answers: read only (at capacity, so appending copies).
var credentialChecks = []string{"signature", "data-model", "validity", "status"}

func (h *credentialHandlers) verify(w http.ResponseWriter, r *http.Request) error {
	var req verifyRequest
	if err := decodeBody(r, maxCredentialBody, &req, invalidRequest, "with verifiableCredential and options"); err != nil {
		return err
	}
	in, err := req.VerifiableCredential.input()
	if err != nil {
		return err
	}
	var credentialID string
	if req.CredentialID.set {
		if credentialID = req.CredentialID.id; credentialID == "" {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "credentialId must be a non-empty string (the issue response's)"}
		}
	}
	content, err := relatedContent(req.Options.RelatedResources)
	if err != nil {
		return err
	}
	res, proofs, err := h.verifyCredential(r, in, req.VerifiableCredential.raw)
	if err != nil {
		h.writeVerifyFailure(w, r, err)
		return nil
	}
	warnings := []verifyProblem{}
	if id, ok := res.Credential["id"].(string); ok && credentialID != "" && id != credentialID {
		warnings = append(warnings, verifyProblem{Code: "credential_id_mismatch", Message: "credentialId is not the verified credential's id; it was ignored"})
	}
	checks := credentialChecks
	// Related resources (VC Data Model 2.0 §5.3): those given are
	// hashed, the others fetched only when the node is configured to. An
	// SD-JWT VC is not a VC 2.0 document: a claim of that name means
	// nothing there.
	var results []vc.RelatedResult
	var rerr error
	if res.Format != vc.TypSDJWTVC {
		results, rerr = h.cfg.Verifier.VerifyRelated(r.Context(), res.Credential,
			vc.RelatedOptions{Content: content, Fetch: h.cfg.RelatedFetch != nil, Client: h.cfg.RelatedFetch})
	}
	if rerr != nil && len(results) == 0 {
		h.writeVerifyFailure(w, r, rerr)
		return nil
	}
	listed := map[string]bool{}
	outcomes := make([]relatedOutcome, 0, len(results))
	var problems []verifyProblem
	checked := len(results) > 0
	for _, rr := range results {
		listed[rr.ID] = true
		outcomes = append(outcomes, relatedOutcome{ID: rr.ID, Status: string(rr.Outcome), Fetched: rr.Fetched})
		switch rr.Outcome {
		case vc.RelatedMismatch, vc.RelatedInvalid:
			problems = append(problems, problemOf(rr.Err))
		case vc.RelatedUnavailable:
			checked = false
			warnings = append(warnings, verifyProblem{Code: "related_resource_unchecked",
				Message: "a related resource was neither given in options.trustidRelatedResources nor fetched; its digest was not checked"})
		}
	}
	for id := range content {
		if !listed[id] {
			warnings = append(warnings, verifyProblem{Code: "related_resource_not_listed", Message: "options.trustidRelatedResources names a resource the credential does not list; it was ignored"})
			break
		}
	}
	if rerr != nil {
		if len(problems) == 0 {
			problems = []verifyProblem{problemOf(rerr)}
		}
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "verification failed",
			slog.String("request_id", requestID(r.Context())), slog.String("code", problems[0].Code), slog.Any("cause", rerr))
		writeVerifyStatus(w, http.StatusBadRequest, &verifyResponse{Verified: false, Warnings: warnings, Errors: problems, RelatedResources: outcomes})
		return nil
	}
	if checked {
		checks = append(checks, "related-resources")
	}
	writeVerifyStatus(w, http.StatusOK, &verifyResponse{Verified: true, Format: res.Format, Issuer: res.Issuer, Credential: res.Credential,
		Checks: checks, Warnings: warnings, Errors: []verifyProblem{}, RelatedResources: outcomes, Proofs: proofs, CredentialJSON: res.CredentialJSON})
	return nil
}

// verifyCredential verifies a credential with an embedded proof (an
// object with a proof member; raw is its JSON) with the Data Integrity
// verifier, and any other form with the credentials Verifier (vc+jwt,
// SD-JWT VC, and vc+cose through its Envelopes). The format of a Data
// Integrity credential is its issuer's cryptosuite (the name
// options.format gives it), and its proofs are reported.
func (h *credentialHandlers) verifyCredential(r *http.Request, in any, raw json.RawMessage) (*vc.Verified, []proofOutcome, error) {
	m, isObject := in.(map[string]any)
	if _, hasProof := m["proof"]; !isObject || !hasProof {
		res, err := h.cfg.Verifier.VerifyToken(r.Context(), in)
		return res, nil, err
	}
	if h.cfg.DataIntegrity == nil {
		return nil, nil, fmt.Errorf("%w: this node verifies no embedded proofs", vc.ErrUnsupported)
	}
	c, err := h.cfg.DataIntegrity.VerifyCredential(r.Context(), raw)
	if err != nil {
		return nil, nil, err
	}
	return &vc.Verified{Format: dataintegrity.Cryptosuite(c.Proofs), Issuer: issuerID(c.Document), Credential: c.Document},
		proofOutcomes(c.Proofs, "issuer"), nil
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
	if m, ok := in.(map[string]any); ok && m["proof"] != nil || isCOSEPresentation(in) {
		if opts.Challenge == "" || opts.Domain == "" {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.challenge and options.domain are required"}
		}
		res, err := h.verifyOtherPresentation(r, in, raw, opts)
		if err != nil {
			h.writeVerifyFailure(w, r, err)
			return nil
		}
		writeJSON(w, res)
		return nil
	}
	mediaType, token, err := presentationToken(in)
	if err != nil {
		h.writeVerifyFailure(w, r, err)
		return nil
	}
	if mediaType != vc.MediaTypeVPJWT && mediaType != vc.MediaTypeVPSDJWT && mediaType != vc.MediaTypeSDJWT {
		h.writeVerifyFailure(w, r, fmt.Errorf("%w: %s is not a presentation this node verifies (vp+jwt, vp+sd-jwt, or dc+sd-jwt with a key binding)", vc.ErrUnsupported, mediaType))
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
	verify, format, checks := h.cfg.Verifier.VerifyPresentation, vc.TypVPJWT, []string{"signature", "data-model", "challenge", "domain", "credentials"}
	if mediaType == vc.MediaTypeVPSDJWT {
		verify, format = h.cfg.Verifier.VerifyVPSDJWT, vc.TypVPSDJWT
		checks = []string{"signature", "disclosures", "data-model", "challenge", "domain", "credentials"}
	}
	res, err := verify(ctx, token, opts.Challenge, opts.Domain)
	if err != nil {
		h.writeVerifyFailure(w, r, err)
		return nil
	}
	out := verifyResponse{Verified: true, Format: format, Holder: res.Holder, Presentation: res.Presentation,
		Checks: checks, Warnings: []verifyProblem{}, Errors: []verifyProblem{}}
	for _, c := range res.Credentials {
		out.Credentials = append(out.Credentials, verifiedEntry{Format: c.Format, Issuer: c.Issuer, Credential: c.Credential})
	}
	writeJSON(w, out)
	return nil
}

// isCOSEPresentation reports whether in is a vp+cose: an enveloped
// presentation or a data: URL of application/vp+cose.
func isCOSEPresentation(in any) bool {
	id, _ := in.(string)
	if m, ok := in.(map[string]any); ok {
		id, _ = m["id"].(string)
	}
	return strings.HasPrefix(id, "data:"+cose.MediaTypeVP+";") || strings.HasPrefix(id, "data:"+cose.MediaTypeVP+",")
}

// verifyOtherPresentation verifies a presentation with an embedded Data
// Integrity proof (raw is its JSON) or a vp+cose, each against the VC 2.0
// data model (credentials.NewPresentation) as a vp+jwt is. The credentials of a
// Data Integrity presentation with embedded proofs are verified with it;
// the others (enveloped: vc+jwt, vc+cose, SD-JWT VC) by the credentials
// Verifier; each must be about the holder, as in a vp+jwt.
func (h *credentialHandlers) verifyOtherPresentation(r *http.Request, in any, raw json.RawMessage, opts verifyOptions) (*verifyResponse, error) {
	ctx := r.Context()
	out := &verifyResponse{Verified: true, Warnings: []verifyProblem{}, Errors: []verifyProblem{},
		Checks: []string{"signature", "data-model", "challenge", "domain", "credentials"}}
	if isCOSEPresentation(in) {
		if h.cfg.COSE == nil {
			return nil, fmt.Errorf("%w: this node verifies no vp+cose", vc.ErrUnsupported)
		}
		var data []byte
		var err error
		if s, ok := in.(string); ok {
			_, data, err = cose.ParseDataURL(s)
		} else {
			_, data, err = cose.Unenvelope(in.(map[string]any))
		}
		if err != nil {
			return nil, err
		}
		res, err := h.cfg.COSE.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain)
		if err != nil {
			return nil, err
		}
		out.Format, out.Holder, out.Presentation = "vp+cose", res.Holder, res.Presentation
		for _, c := range res.Credentials {
			out.Credentials = append(out.Credentials, verifiedEntry{Format: c.Format, Issuer: c.Issuer, Credential: c.Credential})
		}
		return out, nil
	}
	if h.cfg.DataIntegrity == nil {
		return nil, fmt.Errorf("%w: this node verifies no embedded proofs", vc.ErrUnsupported)
	}
	// The data model, as every other form of presentation gets it (VC Data
	// Model 2.0 §4.13: type includes VerifiablePresentation, ...), before
	// anything is canonicalized or resolved; the proof member it ignores.
	pres, err := vc.NewPresentation(in.(map[string]any))
	if err != nil {
		return nil, err
	}
	// A credential without a proof must be enveloped and, read as sent,
	// about the holder (its subject id) and bound to no key (a cnf, which
	// this presentation yields no holder's key to confirm): all are
	// checked, needing no key, before any is verified, so that a
	// credential that cannot pass fetches nothing for its issuer's key;
	// those with proofs are held to vc.CheckSubjectIsHolder by the Data
	// Integrity verifier likewise.
	for i, c := range pres.Credentials {
		if _, hasProof := c["proof"]; hasProof {
			continue
		}
		err := vc.CheckEnvelope(c)
		if err == nil {
			err = h.cfg.Verifier.CheckPresentedWithoutKey(c, pres.Holder)
		}
		if err != nil {
			return nil, fmt.Errorf("verifiableCredential[%d]: %w", i, err)
		}
	}
	// The credentials, and the enveloped ones' binding to the holder on
	// their verified claims, are checked before the holder's key is
	// resolved (for a did:web or https holder, a fetch from the host it
	// names), as in a vp+jwt.
	checkCredentials := func(p *dataintegrity.Presentation) error {
		for _, c := range p.Credentials {
			out.Credentials = append(out.Credentials, verifiedEntry{Format: dataintegrity.Cryptosuite(c.Proofs), Issuer: issuerID(c.Document),
				Credential: c.Document, Proofs: proofOutcomes(c.Proofs, "issuer")})
		}
		for i, it := range p.Other {
			res, err := h.cfg.Verifier.VerifyToken(ctx, it)
			if err != nil {
				return fmt.Errorf("verifiableCredential (enveloped) %d: %w", i, err)
			}
			// Again on the verified claims; a key-bound credential (cnf)
			// was refused as sent, the Data Integrity verifier returning
			// no holder's key.
			if err := vc.CheckHolderBinding(res, p.Holder, nil); err != nil {
				return err
			}
			out.Credentials = append(out.Credentials, verifiedEntry{Format: res.Format, Issuer: res.Issuer, Credential: res.Credential})
		}
		return nil
	}
	p, err := h.cfg.DataIntegrity.VerifyPresentation(ctx, raw, dataintegrity.PresentationOptions{Challenge: opts.Challenge, Domain: opts.Domain,
		HolderBinding: vc.CheckSubjectIsHolder, Check: checkCredentials})
	if err != nil {
		return nil, err
	}
	out.Format, out.Holder, out.Presentation = dataintegrity.Cryptosuite(p.Proofs), p.Holder, p.Document
	out.Proofs = proofOutcomes(p.Proofs, "holder")
	return out, nil
}

// issuerID reads a credential's issuer, a URL or an object's id.
func issuerID(c map[string]any) string {
	if o, ok := c["issuer"].(map[string]any); ok {
		id, _ := o["id"].(string)
		return id
	}
	id, _ := c["issuer"].(string)
	return id
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

// presentRequest is the body of POST /presentations (the VC API's holder
// service): an unsigned presentation and the verifier's challenge and
// domain. The securing mechanism is options.format (vp+jwt by default,
// vp+cose, or a Data Integrity cryptosuite), or the VC API's options.type
// DataIntegrityProof with options.cryptosuite.
type presentRequest struct {
	Presentation json.RawMessage `json:"presentation"`
	Options      struct {
		Challenge   string `json:"challenge"`
		Domain      string `json:"domain"`
		Algorithm   string `json:"algorithm"`
		Format      string `json:"format"`
		Type        string `json:"type"`
		Cryptosuite string `json:"cryptosuite"`
	} `json:"options"`
}

// present signs a presentation as the calling client's issuer DID with
// the key the node holds for it (issuer.PresentAsClient).
func (h *credentialHandlers) present(w http.ResponseWriter, r *http.Request) error {
	var req presentRequest
	if err := decodeBody(r, maxCredentialBody, &req, invalidRequest, "with presentation and options"); err != nil {
		return err
	}
	if req.Presentation == nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "presentation is required"}
	}
	opts := req.Options
	if opts.Challenge == "" || opts.Domain == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.challenge and options.domain are required (the verifier's)"}
	}
	if opts.Type != "" && opts.Type != dataintegrity.ProofType {
		return &Error{Status: http.StatusBadRequest, Code: "unsupported_format", Message: "options.type must be DataIntegrityProof (the only proof type this node creates)"}
	}
	if opts.Type != "" && opts.Cryptosuite == "" && opts.Format == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.type DataIntegrityProof needs options.cryptosuite"}
	}
	if opts.Cryptosuite != "" {
		if opts.Format != "" && opts.Format != opts.Cryptosuite {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "options.format and options.cryptosuite name different securing mechanisms"}
		}
		opts.Format = opts.Cryptosuite
	}
	p, err := vc.ParseJSONObject(req.Presentation)
	if err != nil {
		return err
	}
	caller, _ := PrincipalFrom(r.Context())
	out, err := h.cfg.Issuer.PresentAsClient(r.Context(), p, caller.ClientID, issuer.PresentOptions{
		Challenge: opts.Challenge, Domain: opts.Domain, Algorithm: opts.Algorithm, Format: opts.Format})
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusCreated, map[string]any{"verifiablePresentation": out.Envelope()})
	return nil
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
	case issuer.ActionRevoke, issuer.ActionSuspend, issuer.ActionReinstate:
	default:
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: `action must be "revoke", "suspend" or "reinstate"`}
	}
	caller, _ := PrincipalFrom(r.Context())
	actor := issuer.Actor{ClientID: caller.ClientID, Admin: slices.Contains(caller.Scopes, auth.ScopeRegistryAdmin)}
	if err := h.cfg.Issuer.SetStatusAs(r.Context(), id, req.Action, actor); err != nil {
		return err
	}
	writeJSON(w, statusResponse{Action: req.Action, ID: id, Result: "done"})
	return nil
}

// statusResponse is the answer to a status change (members in the order
// a map would give them).
type statusResponse struct {
	Action string `json:"action"`
	ID     string `json:"id"`
	Result string `json:"result"`
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

// writeKeysDoc sends a public document that lists signing keys (the
// JWKS, DID documents, SD-JWT VC issuer metadata). A key rotated in signs
// at once (docs/operations.md, "Rotating a region's keys"), so no cache may
// answer with a copy without asking the node (Cache-Control: no-cache,
// RFC 9111 §5.2.2.4): a verifier that goes back for an unknown kid (OpenID
// Connect Core §10.1.1) gets the new key. The strong ETag, a digest of the
// bytes, makes asking cheap: 304 while the keys are the same
// (ServeContent answers If-None-Match); it is sent whole (serveWhole).
func writeKeysDoc(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	sum := sha256.Sum256(body)
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "public, no-cache")
	h.Set("ETag", `"`+base64.RawURLEncoding.EncodeToString(sum[:16])+`"`)
	serveWhole(w, r, body)
}

// serveWhole serves body with the Content-Type and ETag w already has,
// answering If-None-Match with 304 (ServeContent), and ignores Range
// (RFC 9110 §14.2: "A server MAY ignore the Range header field"): the
// documents and page assets so served are small, and a Range no longer
// gets a 206 piece, a multipart/byteranges or a 416 in text/plain in
// place of an error body.
func serveWhole(w http.ResponseWriter, r *http.Request, body []byte) {
	whole := *r
	whole.Header = r.Header.Clone()
	whole.Header.Del("Range")
	http.ServeContent(wholeWriter{w}, &whole, "", time.Time{}, bytes.NewReader(body))
}

// wholeWriter is serveWhole's ResponseWriter: its answer says it takes
// no Range (Accept-Ranges: none, RFC 9110 §14.3), over ServeContent's
// "bytes", and the 412 ServeContent sends when If-Match names no
// version of the document (RFC 9110 §13.1.1) is a JSON error, not an
// empty body labelled with the document's media type.
type wholeWriter struct{ http.ResponseWriter }

func (w wholeWriter) WriteHeader(code int) {
	w.Header().Set("Accept-Ranges", "none")
	if code == http.StatusPreconditionFailed {
		writeJSONStatus(w.ResponseWriter, code, errorBody{Error: CodePreconditionFailed, Description: "If-Match names no version of this document"})
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// writeKeysDocOf marshals v and serves it with writeKeysDoc, to any
// origin.
func writeKeysDocOf(w http.ResponseWriter, r *http.Request, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeKeysDoc(w, r, contentType, b)
	return nil
}

func (h *credentialHandlers) didDocument(w http.ResponseWriter, r *http.Request) error {
	doc, err := h.cfg.Issuer.DIDDocument()
	if err != nil {
		return err
	}
	return writeKeysDocOf(w, r, "application/did+json", doc)
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
	return writeKeysDocOf(w, r, "application/did+json", doc)
}

func (h *credentialHandlers) issuerMetadata(w http.ResponseWriter, r *http.Request) error {
	md, err := h.cfg.Issuer.Metadata()
	if err != nil {
		return err
	}
	return writeKeysDocOf(w, r, "application/json", md)
}

// statusList serves a list: a Bitstring Status List credential as JSON,
// or as vc+jwt or vc+cose when asked (Accept: application/vc+jwt,
// application/vc+cose), or secured with a Data Integrity proof when asked
// (Accept: application/vc, the VC data model's media type, with the
// node's default cryptosuite; or ?cryptosuite=<name>); a Token Status
// List always as statuslist+jwt. The representation depends on Accept,
// so the answer says so (Vary: Accept, RFC 9110 §12.5.5): a shared cache
// keeping one list for 60 s must not serve its JSON to a client that
// asked for the vc+jwt.
func (h *credentialHandlers) statusList(w http.ResponseWriter, r *http.Request) error {
	doc, token, err := h.cfg.Issuer.StatusList(r.Context(), r.PathValue("listID"))
	if err != nil {
		return err
	}
	if doc != nil {
		w.Header().Add("Vary", "Accept")
	}
	accept := r.Header.Get("Accept")
	suite, wantSuite := r.URL.Query()["cryptosuite"]
	switch {
	case doc == nil:
		writePublic(w, vc.MediaTypeStatusListJWT, []byte(token))
	case wantSuite || acceptsExactly(accept, issuer.MediaTypeEmbedded):
		name := ""
		if wantSuite {
			if len(suite) != 1 || suite[0] == "" {
				return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "cryptosuite must be given once, not empty"}
			}
			name = suite[0]
		}
		b, _, err := h.cfg.Issuer.SecureStatusListEmbedded(r.Context(), r.PathValue("listID"), name)
		if errors.Is(err, issuer.ErrUnknownFormat) {
			return &Error{Status: http.StatusNotAcceptable, Code: "not_acceptable", Message: "this node does not secure status lists with this cryptosuite", Err: err}
		}
		if err != nil {
			return err
		}
		writePublic(w, issuer.MediaTypeEmbedded, b)
	case acceptsExactly(accept, vc.MediaTypeVCJWT):
		writePublic(w, vc.MediaTypeVCJWT, []byte(token))
	case acceptsExactly(accept, cose.MediaTypeVC):
		b, err := h.cfg.Issuer.SecureStatusList(r.Context(), r.PathValue("listID"), cose.MediaTypeVC)
		if errors.Is(err, issuer.ErrUnknownFormat) {
			return &Error{Status: http.StatusNotAcceptable, Code: "not_acceptable", Message: "this node does not secure status lists as application/vc+cose", Err: err}
		}
		if err != nil {
			return err
		}
		writePublic(w, cose.MediaTypeVC, b)
	default:
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		writePublic(w, "application/vc+ld+json", b)
	}
	return nil
}

// acceptsExactly reports whether an Accept header lists mediaType itself
// (parameters aside), not a media type it is the prefix of
// (application/vc is not application/vc+jwt), with a q above 0: q=0 is
// "not acceptable" (RFC 9110 §12.4.2), and a range with a q off the
// grammar is ignored, as prefersHTML ignores it.
func acceptsExactly(accept, mediaType string) bool {
	for _, r := range splitUnquoted(accept, ',') {
		params := splitUnquoted(r, ';')
		if !strings.EqualFold(strings.TrimSpace(params[0]), mediaType) {
			continue
		}
		if q, _, ok := rangeParams(params[1:]); ok && q > 0 {
			return true
		}
	}
	return false
}
