package oid4vci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/store"
)

// MaxRequest bounds credential and notification request bodies.
const MaxRequest = 256 << 10

// maxProof bounds one key proof.
const maxProof = 4 << 10

// NonceResponse is the nonce endpoint's answer.
type NonceResponse struct {
	CNonce string `json:"c_nonce"`
}

// Nonce issues a fresh c_nonce: single use, valid for at most NonceTTL.
// It is stateless (dpop.Nonces under NonceKey): the public nonce
// endpoint writes nothing, so a flood of it cannot fill the store; the
// credential request that spends a c_nonce marks it used (cnonceMarkTTL).
func (s *Service) Nonce(ctx context.Context) (*NonceResponse, error) {
	n, err := s.cnonces.New()
	if err != nil {
		return nil, &Error{Code: CodeServerError, Description: "no randomness", Err: err}
	}
	return &NonceResponse{CNonce: n}, nil
}

// cnonceMarkTTL is how long a spent c_nonce stays marked: the longest it
// is accepted (NonceTTL from when it was given), and a minute more for
// an instance whose clock is behind.
func (s *Service) cnonceMarkTTL() time.Duration { return s.cfg.NonceTTL + time.Minute }

// credentialRequest is the body of a credential request.
type credentialRequest struct {
	ConfigurationID string                     `json:"credential_configuration_id"`
	Identifier      string                     `json:"credential_identifier"`
	Proofs          map[string]json.RawMessage `json:"proofs"`
	Proof           json.RawMessage            `json:"proof"`
	Encryption      json.RawMessage            `json:"credential_response_encryption"`
}

// CredentialResponse is the credential endpoint's answer.
type CredentialResponse struct {
	Credentials    []IssuedCredential `json:"credentials"`
	NotificationID string             `json:"notification_id"`
	// DPoPNonce is the next DPoP nonce (DPoP-Nonce header), for a DPoP
	// request.
	DPoPNonce string `json:"-"`
}

// IssuedCredential is one credential of a response. Credential is a
// string (the compact form of dc+sd-jwt and jwt_vc_json) or, for ldp_vc,
// the credential document as a JSON object (json.RawMessage).
type IssuedCredential struct {
	Credential any `json:"credential"`
}

// notification is the sealed record behind a notification_id.
type notification struct {
	Token []byte `json:"t"` // SHA-256 of the access token it was issued under
}

// Credential answers a credential request made with an access token: it
// checks every key proof (typ, algorithm, the key in the jwk header, aud,
// iat, one fresh c_nonce shared by the batch, which it spends) and issues
// one credential per distinct key, each bound to its key. Each
// configuration is issued once per access token; a passing failure to
// sign (temporarily_unavailable) leaves it issuable, with a fresh c_nonce.
// After a DPoP proof was accepted, an error carries a fresh DPoP nonce
// (DPoPNonceOf).
func (s *Service) Credential(ctx context.Context, acc Access, body []byte) (*CredentialResponse, error) {
	g, dpopNonce, err := s.session(ctx, acc, PathCredential)
	if err != nil {
		return nil, err
	}
	if g.Issued {
		// RFC 6750 §3.1: the token no longer authorizes a credential.
		return nil, withNonce(fail(CodeInvalidToken, "every credential this access token allows was issued; it is good only for notifications now"), dpopNonce)
	}
	resp, err := s.credential(ctx, g, acc.Token, body)
	if err != nil {
		return nil, withNonce(err, dpopNonce)
	}
	resp.DPoPNonce = dpopNonce
	return resp, nil
}

// credential answers a credential request under g, got with token.
func (s *Service) credential(ctx context.Context, g *grant, token string, body []byte) (*CredentialResponse, error) {
	var req credentialRequest
	// §8.2: "The Credential Issuer MUST ignore any unrecognized
	// parameters"; duplicate members and the rest stay refused.
	if err := strictjson.DecodeOpen(body, &req, MaxRequest); err != nil {
		return nil, &Error{Code: CodeInvalidCredentialRequest, Description: "the request is not a credential request object: " + err.Error()}
	}
	if g.Identifiers {
		// The token response gave credential identifiers (one per
		// configuration, the configuration ID): requests name those.
		switch {
		case req.ConfigurationID != "":
			return nil, fail(CodeInvalidCredentialRequest, "the token response gave credential_identifiers: use credential_identifier, not credential_configuration_id")
		case req.Identifier == "":
			return nil, fail(CodeInvalidCredentialRequest, "credential_identifier is required")
		case !slices.Contains(g.Configs, req.Identifier):
			return nil, fail(CodeUnknownIdentifier, "unknown credential_identifier")
		}
		req.ConfigurationID, req.Identifier = req.Identifier, ""
	}
	switch {
	case req.Encryption != nil:
		return nil, fail(CodeInvalidEncryption, "this issuer does not encrypt credential responses")
	case req.Identifier != "":
		return nil, fail(CodeUnknownIdentifier, "this access token has no credential identifiers; use credential_configuration_id")
	case req.ConfigurationID == "":
		return nil, fail(CodeInvalidCredentialRequest, "credential_configuration_id is required")
	case req.Proof != nil:
		return nil, fail(CodeInvalidCredentialRequest, "send key proofs in proofs, not proof")
	}
	cfg, ok := s.configs[req.ConfigurationID]
	if !ok {
		return nil, fail(CodeUnknownConfiguration, "unknown credential configuration")
	}
	if !slices.Contains(g.Configs, cfg.id) {
		return nil, fail(CodeInvalidCredentialRequest, "the access token does not cover this credential configuration")
	}
	jwts, err := jwtProofs(req.Proofs)
	if err != nil {
		return nil, err
	}
	if len(jwts) > s.cfg.BatchSize {
		return nil, fail(CodeInvalidCredentialRequest, fmt.Sprintf("at most %d key proofs per request (batch_size)", s.cfg.BatchSize))
	}
	// A DID-bound format may take its key from a did:key or did:jwk URL in
	// the proof's kid (OID4VCI 1.0 Appendix F.1).
	didBound := cfg.format == FormatJWTVC || cfg.format == FormatLDPVC
	holders := make([]holder, len(jwts))
	var nonce string
	seen := map[string]bool{}
	for i, p := range jwts {
		k, did, n, err := s.verifyProof(ctx, p, didBound)
		if err != nil {
			return nil, err
		}
		if i > 0 && n != nonce {
			return nil, fail(CodeInvalidNonce, "the key proofs of one request must carry the same c_nonce")
		}
		nonce = n
		thumb, err := k.Thumbprint()
		if err != nil {
			return nil, &Error{Code: CodeInvalidProof, Description: "the proof's jwk is not a usable key", Err: err}
		}
		if seen[thumb] {
			return nil, fail(CodeInvalidProof, "two key proofs name the same key; each credential of a batch needs its own key")
		}
		seen[thumb] = true
		if didBound && did == "" {
			if did, err = didJWK(k); err != nil {
				return nil, &Error{Code: CodeInvalidProof, Description: "the proof's jwk is not a usable key", Err: err}
			}
		}
		holders[i] = holder{key: k, did: did}
	}
	if err := s.cfg.Store.MarkUsed(ctx, "oid4vci:nonce:"+nonce, s.cnonceMarkTTL()); err != nil {
		if errors.Is(err, store.ErrReplayed) {
			return nil, fail(CodeInvalidNonce, "the c_nonce is unknown, expired or already used; get a fresh one from the nonce endpoint")
		}
		return nil, unavailable(err)
	}
	// Of concurrent requests under one token exactly one takes the
	// configuration's entry, and only that one signs.
	if _, err := s.cfg.Store.Consume(ctx, issueKey(cfg.id, token)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fail(CodeInvalidCredentialRequest, "this credential configuration was already issued (or is being issued) under this access token")
		}
		return nil, unavailable(err)
	}
	out, err := s.issue(ctx, g, cfg, token, holders)
	if e, ok := errors.AsType[*Error](err); ok && e.Code == CodeTemporarilyUnavailable {
		// Nothing was delivered: the entry goes back, so the wallet
		// may ask again under this token (with a fresh c_nonce: this
		// one stays spent), and so does the whole grant, which a
		// concurrent request for the token's last other configuration
		// may have retired meanwhile. If the store fails now too, the
		// configuration stays spent for this token.
		ctx := context.WithoutCancel(ctx)
		if s.cfg.Store.Put(ctx, issueKey(cfg.id, token), []byte{1}, s.cfg.TokenTTL) == nil {
			_ = s.put(ctx, "token", token, *g, s.tokenLeft(g))
		}
		return nil, err
	}
	s.retire(ctx, g, token)
	return out, err
}

// tokenLeft is what is left of the life of the access token of grant g
// (all of TokenTTL for a grant of an older node, which did not say).
func (s *Service) tokenLeft(g *grant) time.Duration {
	if g.Expires == 0 {
		return s.cfg.TokenTTL
	}
	return time.Unix(g.Expires, 0).Sub(s.cfg.Now())
}

// retire replaces the record of access token token, once no
// configuration of its grant g is left to issue under it (each issued or
// refused), by one that keeps only what the notification endpoint checks
// (the login the token came from, its DPoP key): the credential and its
// claims are not kept to the token's expiry (PIPL Art. 19). The credential
// endpoint then refuses the token (invalid_token: Service.Credential). A
// store that cannot tell, or a failed write, leaves the record to expire.
// A configuration put back meanwhile (a transient failure of its issue,
// which puts back the whole grant too, maybe before this write) is looked
// for again after it: the whole grant is then put back once more.
func (s *Service) retire(ctx context.Context, g *grant, token string) {
	ctx = context.WithoutCancel(ctx)
	spent := func() bool {
		for _, c := range g.Configs {
			if _, err := s.cfg.Store.Peek(ctx, issueKey(c, token)); !errors.Is(err, store.ErrNotFound) {
				return false
			}
		}
		return true
	}
	if !spent() {
		return
	}
	left := s.tokenLeft(g)
	if left <= 0 {
		s.drop(ctx, "token", token)
		return
	}
	if s.put(ctx, "token", token, grant{Client: g.Client, Family: g.Family, Approver: g.Approver, JKT: g.JKT, Expires: g.Expires, Issued: true}, left) == nil && !spent() {
		_ = s.put(ctx, "token", token, *g, s.tokenLeft(g))
	}
}

// holder is the key one credential of a batch is bound to, and for a
// DID-bound format its DID.
type holder struct {
	key gm.JWK
	did string
}

// issue signs one credential of cfg per holder under g and stores the
// response's notification record. A transient failure (of the Signer,
// see Signer, or of the store) is temporarily_unavailable, any other
// refusal of the Signer credential_request_denied. Credentials of a batch
// signed before a failure are dropped, never delivered: their status
// entries stay allocated but are referenced by no credential anyone
// holds, so no verifier ever looks them up (a list slot each, nothing
// more).
func (s *Service) issue(ctx context.Context, g *grant, cfg configuration, token string, holders []holder) (*CredentialResponse, error) {
	out := &CredentialResponse{Credentials: make([]IssuedCredential, len(holders))}
	for i, h := range holders {
		cred, err := clone(g.Credential)
		if err != nil {
			return nil, &Error{Code: CodeServerError, Description: "stored credential", Err: err}
		}
		if claims, ok := g.Claims[cfg.id]; ok {
			minimize(cfg, claims, cred)
		}
		if h.did != "" {
			cred["credentialSubject"].(map[string]any)["id"] = h.did
		}
		tok, err := s.cfg.Signer.Sign(ctx, SignRequest{Client: g.Client, Credential: cred, Format: cfg.format, Cryptosuite: cfg.suite, VCT: cfg.signVCT, HolderKey: h.key})
		if err != nil {
			if transient(err) {
				return nil, &Error{Code: CodeTemporarilyUnavailable, Description: "the issuer cannot sign this credential now; get a fresh c_nonce and try again", Err: err}
			}
			return nil, &Error{Code: CodeCredentialRequestDenied, Description: "the issuer did not sign this credential", Err: err}
		}
		out.Credentials[i] = IssuedCredential{Credential: tok}
		if cfg.format == FormatLDPVC {
			// Appendix A.1.2: a JSON object, not re-encoded as a string.
			doc := json.RawMessage(tok)
			if !json.Valid(doc) || !bytes.HasPrefix(bytes.TrimSpace(doc), []byte("{")) {
				return nil, &Error{Code: CodeServerError, Description: "the issuer's ldp_vc credential is not a JSON object"}
			}
			out.Credentials[i] = IssuedCredential{Credential: doc}
		}
	}
	id, err := s.random(18)
	if err != nil {
		return nil, err
	}
	out.NotificationID = id
	h := sha256.Sum256([]byte(token))
	if err := s.put(ctx, "notification", id, notification{Token: h[:]}, s.cfg.TokenTTL); err != nil {
		return nil, err
	}
	return out, nil
}

// transient reports whether a Signer's error is a passing failure.
func transient(err error) bool {
	return errors.Is(err, ErrSignerUnavailable) || errors.Is(err, store.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// proofClaims are the claims of a jwt key proof.
type proofClaims struct {
	Nonce string `json:"nonce"`
	jwt.RegisteredClaims
}

// jwtProofs returns the jwt key proofs of a request's proofs object,
// which holds exactly one proof type (OID4VCI 1.0 §8.2).
func jwtProofs(p map[string]json.RawMessage) ([]string, error) {
	if len(p) == 0 {
		return nil, fail(CodeInvalidProof, "proofs with at least one jwt key proof are required")
	}
	if len(p) > 1 {
		return nil, fail(CodeInvalidCredentialRequest, "proofs holds exactly one proof type")
	}
	raw, ok := p["jwt"]
	if !ok {
		// ldp_vp, attestation, di_vp: proof types this issuer does not
		// advertise (proof_types_supported has jwt only).
		return nil, fail(CodeInvalidProof, "this proof type is not supported; proof_types_supported has jwt only")
	}
	var jwts []string
	if err := json.Unmarshal(raw, &jwts); err != nil {
		return nil, fail(CodeInvalidCredentialRequest, "proofs.jwt must be an array of compact JWS strings")
	}
	if len(jwts) == 0 {
		return nil, fail(CodeInvalidProof, "proofs with at least one jwt key proof are required")
	}
	return jwts, nil
}

// verifyProof checks one jwt key proof and returns its key, the DID its
// kid named (when didBound allows a did:key or did:jwk URL instead of a
// jwk header; empty otherwise) and its nonce.
func (s *Service) verifyProof(ctx context.Context, compact string, didBound bool) (gm.JWK, string, string, error) {
	if len(compact) > maxProof {
		return gm.JWK{}, "", "", fail(CodeInvalidProof, "a key proof is too large")
	}
	var did string
	var key gm.JWK
	p, err := gm.NewJWTParser(s.cfg.ProofAlgorithms,
		jwt.WithAudience(s.cfg.Issuer), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.cfg.Now), jwt.WithLeeway(time.Minute))
	if err != nil {
		return gm.JWK{}, "", "", &Error{Code: CodeServerError, Description: "proof parser", Err: err}
	}
	var claims proofClaims
	_, err = p.ParseWithClaims(compact, &claims, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != ProofTyp {
			return nil, badHeader("typ must be " + ProofTyp)
		}
		if kid, ok := t.Header["kid"].(string); ok && didBound && t.Header["jwk"] == nil && t.Header["x5c"] == nil && t.Header["trust_chain"] == nil {
			return s.didProofKey(ctx, t, kid, &key, &did)
		}
		if t.Header["kid"] != nil || t.Header["x5c"] != nil || t.Header["trust_chain"] != nil {
			if didBound {
				return nil, badHeader("the key must be given as jwk, or as a did:key or did:jwk URL in kid (no x5c or trust_chain)")
			}
			return nil, badHeader("the key must be given as jwk (no kid, x5c or trust_chain)")
		}
		k, pub, err := gm.HeaderJWK(t.Header["jwk"], t.Method.Alg())
		switch {
		case t.Header["jwk"] == nil:
			return nil, badHeader("the header has no jwk")
		case errors.Is(err, gm.ErrPrivateJWK):
			return nil, badHeader("the jwk holds private key material")
		case errors.Is(err, gm.ErrJWKAlg):
			return nil, badHeader("the alg does not match the jwk's key type")
		case err != nil:
			return nil, badHeader("the jwk is not an SM2, P-256 or Ed25519 public key")
		}
		key = k
		return pub, nil
	})
	if err != nil {
		return gm.JWK{}, "", "", &Error{Code: CodeInvalidProof, Description: "a key proof is invalid: " + proofReason(err), Err: err}
	}
	if claims.IssuedAt == nil || s.cfg.Now().Sub(claims.IssuedAt.Time) > s.cfg.ProofMaxAge {
		return gm.JWK{}, "", "", fail(CodeInvalidProof, "a key proof's iat is missing or too old")
	}
	if claims.Nonce == "" {
		return gm.JWK{}, "", "", fail(CodeInvalidProof, "a key proof carries no nonce (c_nonce)")
	}
	if !s.cnonces.Valid(claims.Nonce) {
		return gm.JWK{}, "", "", fail(CodeInvalidNonce, "the c_nonce is unknown, expired or already used; get a fresh one from the nonce endpoint")
	}
	key.Kid, key.Use, key.Alg, key.KeyOps = "", "", "", ""
	return key, did, claims.Nonce, nil
}

// didProofKey resolves a key proof's kid, a did:key or did:jwk URL (both
// resolved locally: the DID is the key), checks the alg fits the key and
// sets key and did.
func (s *Service) didProofKey(ctx context.Context, t *jwt.Token, kid string, key *gm.JWK, did *string) (any, error) {
	if len(kid) > 2048 || (!strings.HasPrefix(kid, "did:key:") && !strings.HasPrefix(kid, "did:jwk:")) {
		return nil, badHeader("kid must be a did:key or did:jwk URL")
	}
	pub, err := (&credentials.Resolver{}).ResolveKey(ctx, "", kid)
	if err != nil {
		return nil, badHeader("kid does not name a usable did:key or did:jwk key")
	}
	if alg, err := gm.Alg(pub); err != nil || alg != t.Method.Alg() {
		return nil, badHeader("the alg does not match the kid's key type")
	}
	j, err := gm.NewJWK(pub, "")
	if err != nil {
		return nil, badHeader("kid does not name a usable key")
	}
	*key = j
	*did, _, _ = strings.Cut(kid, "#")
	return pub, nil
}

// headerError is a key proof header the keyfunc refused; reason is safe
// to show.
type headerError struct{ reason string }

func (e *headerError) Error() string { return e.reason }

func badHeader(reason string) error { return &headerError{reason} }

// proofReason names what failed, without echoing the proof.
func proofReason(err error) string {
	var hdr *headerError
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "not a compact JWS"
	case errors.Is(err, gm.ErrCritical):
		return "the header has crit: no JWS extension is understood (RFC 7515 §4.1.11)"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the signature does not verify with the jwk, or its algorithm is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "aud is not this credential issuer"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "iat is in the future"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "it has expired"
	case errors.As(err, &hdr):
		return hdr.reason
	}
	return "the header or claims are not acceptable"
}

// didJWK is the did:jwk naming a public key.
func didJWK(k gm.JWK) (string, error) {
	if _, err := k.PublicKey(); err != nil {
		return "", err
	}
	m := map[string]any{"kty": k.Kty, "crv": k.Crv, "x": k.X}
	if k.Y != "" {
		m["y"] = k.Y
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return "did:jwk:" + base64.RawURLEncoding.EncodeToString(raw), nil
}

func clone(m map[string]any) (map[string]any, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, decode(raw, &out)
}

// Notification events.
var events = []string{"credential_accepted", "credential_failure", "credential_deleted"}

type notificationRequest struct {
	ID          string `json:"notification_id"`
	Event       string `json:"event"`
	Description string `json:"event_description"`
}

// Notify takes a wallet's notification about credentials issued under the
// same access token. A notification_id takes any number of notifications
// while its token lives (OID4VCI 1.0 §11: "The notification from the
// Wallet is idempotent"; the Wallet "MAY send one or more Notification
// Requests per notification_id value received"). For a
// DPoP request it returns a fresh DPoP nonce for the response (RFC 9449
// §8.2: a server may give a new nonce in any response), else "".
// An error after the DPoP proof was accepted carries one too
// (DPoPNonceOf).
func (s *Service) Notify(ctx context.Context, acc Access, body []byte) (string, error) {
	_, dpopNonce, err := s.session(ctx, acc, PathNotification)
	if err != nil {
		return "", err
	}
	return dpopNonce, withNonce(s.notify(ctx, acc.Token, body), dpopNonce)
}

// descriptionText reports whether s may be an event_description:
// OID4VCI 1.0 §11.1, "Values for the event_description parameter MUST NOT
// include characters outside the set %x20-21 / %x23-5B / %x5D-7E".
func descriptionText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// notify takes a notification made with token.
func (s *Service) notify(ctx context.Context, token string, body []byte) error {
	var req notificationRequest
	// §11.1: unrecognized parameters are ignored, as at the credential
	// endpoint.
	if err := strictjson.DecodeOpen(body, &req, MaxRequest); err != nil {
		return &Error{Code: CodeInvalidNotificationRequest, Description: "the request is not a notification object: " + err.Error()}
	}
	// §11.3: invalid_notification_request for a request "missing a
	// required parameter" or with "an unsupported parameter value";
	// invalid_notification_id for a notification_id that is invalid.
	if !slices.Contains(events, req.Event) {
		return fail(CodeInvalidNotificationRequest, "event must be credential_accepted, credential_failure or credential_deleted")
	}
	if req.ID == "" {
		return fail(CodeInvalidNotificationRequest, "notification_id is required")
	}
	if !descriptionText(req.Description) {
		return fail(CodeInvalidNotificationRequest, "event_description may hold printable ASCII only, without quotation mark or backslash")
	}
	if len(req.ID) != 24 {
		return fail(CodeInvalidNotificationID, "unknown notification_id")
	}
	var n notification
	if err := s.get(ctx, "notification", req.ID, &n); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fail(CodeInvalidNotificationID, "unknown notification_id")
		}
		return unavailable(err)
	}
	h := sha256.Sum256([]byte(token))
	if !slices.Equal(h[:], n.Token) {
		return fail(CodeInvalidNotificationID, "unknown notification_id")
	}
	return nil
}
