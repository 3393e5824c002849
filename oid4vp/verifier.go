package oid4vp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/oid4vp/dcql"
	"github.com/trustid-cn/trustid/oid4vp/txdata"
)

// Wire names.
const (
	// PrefixVerifierAttestation is the client identifier prefix of every
	// request the node makes.
	PrefixVerifierAttestation = "verifier_attestation:"
	// TypRequestObject and TypAttestation are the JWS typ headers of the
	// request object and of the Verifier Attestation JWT.
	TypRequestObject = "oauth-authz-req+jwt"
	TypAttestation   = "verifier-attestation+jwt"
	// MediaTypeRequestObject is the content type of GET request_uri.
	MediaTypeRequestObject = "application/oauth-authz-req+jwt"
	// ModeDirectPost and ModeDirectPostJWT are the response modes.
	ModeDirectPost    = "direct_post"
	ModeDirectPostJWT = "direct_post.jwt"
	// AudienceSelfIssued is the aud of a request object under static
	// wallet discovery (§5.8).
	AudienceSelfIssued = "https://self-issued.me/v2"
	// RequestPath and ResponsePath are the node's routes for a
	// transaction's request object and the wallet's response; {id} is
	// the transaction ID.
	RequestPath  = "/oid4vp/request/{id}"
	ResponsePath = "/oid4vp/response/{id}"
	// MaxResponse bounds a wallet's response body, in bytes.
	MaxResponse = 1 << 20
)

// EncryptionValues are the JWE content encryption algorithms the node
// accepts for direct_post.jwt (key agreement is ECDH-ES on P-256).
var EncryptionValues = []string{"A128GCM", "A256GCM"}

// Store keeps transactions. The node's ephemeral store (store.Memory,
// store/redis) implements it; see store.Store for the contract of each
// method (ErrNotFound for a missing key, Consume exactly once).
type Store interface {
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Consume(ctx context.Context, key string) ([]byte, error)
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
	CompareAndDelete(ctx context.Context, old []byte, keys ...string) (int, error)
}

// IsNotFound reports a Store's "missing" error.
type IsNotFound func(error) bool

// RelyingParty is what the verifier needs of a registered client.
type RelyingParty struct {
	ClientID string
	// Claims names the claims the relying party may receive.
	Claims []string
	// RedirectURIs are where a wallet may send the user after a
	// same-device presentation.
	RedirectURIs []string
}

// Clients finds registered relying parties. RelyingParty returns an error
// for an unknown or disabled client.
type Clients interface {
	RelyingParty(ctx context.Context, clientID string) (RelyingParty, error)
}

// PresentationVerifier verifies one SD-JWT VC presentation;
// *credentials.Verifier implements it.
type PresentationVerifier interface {
	VerifySDJWT(ctx context.Context, s string, opts credentials.SDJWTOptions) (*sdjwt.Verified, error)
}

// Config configures New.
type Config struct {
	// BaseURL is the node's public base URL (no trailing slash): the iss
	// of attestations and the prefix of request and response URIs.
	BaseURL string
	// Key returns the key that signs attestations and request objects
	// and the kid naming it in the node's published JWKS. It is called
	// for each request object, so the active key of a reloaded keystore
	// signs from then on. A P-256 key (ES256) reaches every wallet; SM2
	// works with TrustID's own.
	Key func() (crypto.Signer, string, error)
	// Secret (at least 32 bytes) derives each transaction's response
	// encryption key.
	Secret   []byte
	Store    Store
	NotFound IsNotFound
	Clients  Clients
	Verifier PresentationVerifier
	// KBAlgorithms are the algorithms advertised for issuer JWTs and
	// KB-JWTs (default gm.JWTAlgorithms).
	Algorithms []string
	// TTL is how long a transaction and its result live at most
	// (default 5 minutes); a result read is deleted (FetchResult).
	TTL  time.Duration
	Now  func() time.Time
	Rand io.Reader
}

// Verifier runs OID4VP transactions. It is safe for concurrent use.
type Verifier struct {
	cfg Config
}

// New checks cfg and returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.BaseURL == "" || cfg.Key == nil || cfg.Store == nil || cfg.NotFound == nil || cfg.Clients == nil || cfg.Verifier == nil {
		return nil, errors.New("oid4vp: config needs BaseURL, Key, Store, NotFound, Clients and Verifier")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("oid4vp: secret must be at least 32 bytes")
	}
	if _, _, _, err := signingKey(cfg.Key); err != nil {
		return nil, err
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = gm.JWTAlgorithms
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	return &Verifier{cfg: cfg}, nil
}

// signingKey reads key: the signer, its JWS method and its public JWK
// with the kid.
func signingKey(key func() (crypto.Signer, string, error)) (crypto.Signer, jwt.SigningMethod, gm.JWK, error) {
	signer, kid, err := key()
	if err != nil {
		return nil, nil, gm.JWK{}, fmt.Errorf("oid4vp: signing key: %w", err)
	}
	m, err := gm.SigningMethod(signer)
	if err != nil {
		return nil, nil, gm.JWK{}, fmt.Errorf("oid4vp: signer: %w", err)
	}
	j, err := gm.NewJWK(signer.Public(), kid)
	if err != nil {
		return nil, nil, gm.JWK{}, fmt.Errorf("oid4vp: signer: %w", err)
	}
	return signer, m, j, nil
}

// CreateRequest is what a relying party asks for.
type CreateRequest struct {
	// Query is the DCQL query, as JSON.
	Query json.RawMessage `json:"dcql_query"`
	// ResponseMode is direct_post or direct_post.jwt (the default).
	ResponseMode string `json:"response_mode,omitempty"`
	// RedirectURI, for same-device flows, is where the wallet sends the
	// user once the response is accepted, with #response_code=...; it
	// must be one of the relying party's registered redirect URIs.
	RedirectURI string `json:"redirect_uri,omitempty"`
	// TransactionData are transaction data objects (§5.1, package txdata)
	// the holder authorizes with the presentation: each names the
	// credential query ids whose credential may authorize it.
	TransactionData []json.RawMessage `json:"transaction_data,omitempty"`
}

// Created is a new transaction.
type Created struct {
	TransactionID string `json:"transaction_id"`
	ClientID      string `json:"client_id"`
	RequestURI    string `json:"request_uri"`
	// AuthorizationRequest is the openid4vp:// link a QR code carries.
	AuthorizationRequest string    `json:"authorization_request"`
	ExpiresAt            time.Time `json:"expires_at"`
}

// record is a transaction as stored.
type record struct {
	RP       string          `json:"rp"`
	Nonce    string          `json:"nonce"`
	State    string          `json:"state"`
	Query    json.RawMessage `json:"dcql_query"`
	Mode     string          `json:"response_mode"`
	Redirect string          `json:"redirect_uri,omitempty"`
	// TxData are the transaction_data strings of the request.
	TxData  []string `json:"transaction_data,omitempty"`
	Created int64    `json:"iat"`
	Expires int64    `json:"exp"`
}

func txKey(id string) string     { return "oid4vp:tx:" + id }
func onceKey(id string) string   { return "oid4vp:once:" + id }
func resultKey(id string) string { return "oid4vp:result:" + id }

// Purposes of the records sealed under a transaction ID.
const (
	sealTx     = "tx"
	sealResult = "result"
)

// sealKey derives the SM4 key sealing a transaction's record of purpose
// under the transaction ID, which the store keeps only as a digest: the
// store (Redis) cannot read the relying party's transaction data (a
// confirmation's summary may name a payee) or the claims a wallet
// presented.
func sealKey(purpose, id string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(id), nil, "trustid oid4vp "+purpose, gm.SM4KeySize)
	if err != nil {
		panic(err) // only for lengths out of range, which are constant here
	}
	return k
}

// seal marshals v and seals it under transaction id, for the store.
func (v *Verifier) seal(purpose, id string, x any) ([]byte, error) {
	plain, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	return gm.Seal(v.cfg.Rand, sealKey(purpose, id), plain, []byte(purpose))
}

// open opens what seal stored under transaction id into x.
func open(purpose, id string, sealed []byte, x any) error {
	plain, err := gm.Open(sealKey(purpose, id), sealed, []byte(purpose))
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, x)
}

func (v *Verifier) random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(v.cfg.Rand, b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ClientID is the client identifier the node uses for a relying party.
func ClientID(rp string) string { return PrefixVerifierAttestation + rp }

// Create checks the relying party's query against what it is registered
// for and opens a transaction.
func (v *Verifier) Create(ctx context.Context, rpID string, req CreateRequest) (*Created, error) {
	rp, err := v.cfg.Clients.RelyingParty(ctx, rpID)
	if err != nil {
		return nil, fail(CodeInvalidClient, err, "the relying party is not registered")
	}
	if len(req.Query) == 0 {
		return nil, fail(CodeInvalidRequest, nil, "dcql_query is required")
	}
	q, err := dcql.Parse(req.Query)
	if err != nil {
		return nil, fail(CodeInvalidRequest, err, "%s", strings.TrimPrefix(err.Error(), "dcql: "))
	}
	if id := q.RepeatedClaim(); id != "" {
		return nil, fail(CodeInvalidRequest, nil, "credential query %q names one claim path twice: a verifier points to each claim once", id)
	}
	for _, c := range q.Credentials {
		if c.Format != dcql.FormatSDJWTVC {
			return nil, fail(CodeVPFormatsNotSupported, nil, "credential query %q: only the dc+sd-jwt format is supported", c.ID)
		}
		if len(c.TrustedAuthorities) > 0 {
			return nil, fail(CodeInvalidRequest, nil, "credential query %q: trusted_authorities is not supported (the node checks issuers against the trust registry)", c.ID)
		}
	}
	var over []string
	for _, name := range q.ClaimNames() {
		if !slices.Contains(rp.Claims, name) {
			over = append(over, name)
		}
	}
	if len(over) > 0 {
		return nil, fail(CodeInvalidScope, nil, "the relying party is not registered for the claims %s", strings.Join(quoteAll(over), ", "))
	}
	mode := req.ResponseMode
	if mode == "" {
		mode = ModeDirectPostJWT
	}
	if mode != ModeDirectPost && mode != ModeDirectPostJWT {
		return nil, fail(CodeInvalidRequest, nil, "response_mode must be direct_post or direct_post.jwt")
	}
	if req.RedirectURI != "" && !slices.Contains(rp.RedirectURIs, req.RedirectURI) {
		return nil, fail(CodeInvalidClient, nil, "redirect_uri is not one of the relying party's registered redirect URIs")
	}
	txData, err := transactionData(q, req.TransactionData)
	if err != nil {
		return nil, err
	}
	compact, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	id, err := v.random(32)
	if err != nil {
		return nil, err
	}
	nonce, err := v.random(16)
	if err != nil {
		return nil, err
	}
	state, err := v.random(16)
	if err != nil {
		return nil, err
	}
	now := v.cfg.Now()
	rec := record{RP: rp.ClientID, Nonce: nonce, State: state, Query: compact, Mode: mode, Redirect: req.RedirectURI,
		TxData: txData, Created: now.Unix(), Expires: now.Add(v.cfg.TTL).Unix()}
	raw, err := v.seal(sealTx, id, rec)
	if err != nil {
		return nil, err
	}
	if err := v.cfg.Store.Put(ctx, onceKey(id), []byte{1}, v.cfg.TTL); err != nil {
		return nil, err
	}
	if err := v.cfg.Store.Set(ctx, txKey(id), raw, v.cfg.TTL); err != nil {
		return nil, err
	}
	clientID := ClientID(rp.ClientID)
	requestURI := v.cfg.BaseURL + strings.Replace(RequestPath, "{id}", id, 1)
	link := "openid4vp://?" + url.Values{"client_id": {clientID}, "request_uri": {requestURI}}.Encode()
	return &Created{TransactionID: id, ClientID: clientID, RequestURI: requestURI, AuthorizationRequest: link,
		ExpiresAt: time.Unix(rec.Expires, 0).UTC()}, nil
}

// transactionData checks a relying party's transaction data objects
// against its query and returns their request form: each of a type the
// node (and TrustID's wallet) knows, naming only credential queries of
// the query, which must ask for a key binding (the holder authorizes the
// transaction in the KB-JWT).
func transactionData(q *dcql.Query, objs []json.RawMessage) ([]string, error) {
	if len(objs) == 0 {
		return nil, nil
	}
	if len(objs) > txdata.MaxItems {
		return nil, fail(CodeInvalidRequest, nil, "transaction_data holds at most %d objects", txdata.MaxItems)
	}
	ids := make([]string, len(q.Credentials))
	for i, c := range q.Credentials {
		ids[i] = c.ID
	}
	var out []string
	for i, raw := range objs {
		it, err := txdata.Decode(raw)
		if err == nil {
			err = it.CheckIDs(ids)
		}
		if err != nil {
			return nil, fail(CodeInvalidRequest, err, "transaction_data[%d]: %s", i, strings.TrimPrefix(err.Error(), "txdata: "))
		}
		for _, id := range it.CredentialIDs {
			if cq, _ := q.Credential(id); !cq.HolderBinding() {
				return nil, fail(CodeInvalidRequest, nil, "transaction_data[%d]: credential query %q does not ask for a key binding, which carries the holder's authorization", i, id)
			}
		}
		enc, err := txdata.Encode(it)
		if err != nil {
			return nil, fail(CodeInvalidRequest, err, "transaction_data[%d]", i)
		}
		out = append(out, enc)
	}
	return out, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		if len(x) > 64 {
			x = x[:64] + "..."
		}
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// load returns a live transaction.
func (v *Verifier) load(ctx context.Context, id string) (*record, error) {
	if id == "" || len(id) > 64 {
		return nil, fail(CodeInvalidRequestURI, nil, "unknown or expired transaction")
	}
	raw, err := v.cfg.Store.Get(ctx, txKey(id))
	if v.cfg.NotFound(err) {
		return nil, fail(CodeInvalidRequestURI, err, "unknown or expired transaction")
	}
	if err != nil {
		return nil, err
	}
	var rec record
	if err := open(sealTx, id, raw, &rec); errors.Is(err, gm.ErrOpen) {
		// Kept in clear by an older node: not a transaction this one
		// can answer.
		return nil, fail(CodeInvalidRequestURI, err, "unknown or expired transaction")
	} else if err != nil {
		return nil, fmt.Errorf("oid4vp: stored transaction: %w", err)
	}
	if v.cfg.Now().Unix() >= rec.Expires {
		return nil, fail(CodeInvalidRequestURI, nil, "unknown or expired transaction")
	}
	return &rec, nil
}

// responseKey derives the transaction's P-256 key for direct_post.jwt.
func (v *Verifier) responseKey(id string) (*ecdsa.PrivateKey, string, error) {
	for i := 0; i < 8; i++ {
		d, err := hkdf.Key(sha256.New, v.cfg.Secret, nil, fmt.Sprintf("trustid oid4vp response key %d %s", i, id), 32)
		if err != nil {
			return nil, "", err
		}
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			continue // d is zero or not below the group order: try the next
		}
		sum := sha256.Sum256([]byte(id))
		return k, "enc-" + base64.RawURLEncoding.EncodeToString(sum[:8]), nil
	}
	return nil, "", errors.New("oid4vp: cannot derive a response key")
}

func encJWK(pub *ecdsa.PublicKey, kid string) (map[string]any, error) {
	raw, err := pub.Bytes()
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding
	return map[string]any{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(raw[1:33]), "y": enc.EncodeToString(raw[33:]),
		"kid": kid, "use": "enc", "alg": "ECDH-ES"}, nil
}

// RequestObject returns the signed request object of a live transaction,
// for GET request_uri.
func (v *Verifier) RequestObject(ctx context.Context, id string) (string, error) {
	rec, err := v.load(ctx, id)
	if err != nil {
		return "", err
	}
	signer, method, jwk, err := signingKey(v.cfg.Key)
	if err != nil {
		return "", err
	}
	now := v.cfg.Now()
	clientID := ClientID(rec.RP)
	responseURI := v.cfg.BaseURL + strings.Replace(ResponsePath, "{id}", id, 1)
	att := jwt.NewWithClaims(method, jwt.MapClaims{
		"iss": v.cfg.BaseURL, "sub": rec.RP, "iat": now.Unix(), "exp": rec.Expires,
		"cnf": map[string]any{"jwk": jwk}, "redirect_uris": []string{responseURI},
	})
	att.Header["typ"], att.Header["kid"] = TypAttestation, jwk.Kid
	attestation, err := att.SignedString(signer)
	if err != nil {
		return "", err
	}
	var query map[string]any
	if err := json.Unmarshal(rec.Query, &query); err != nil {
		return "", err
	}
	meta := map[string]any{
		"vp_formats_supported": map[string]any{dcql.FormatSDJWTVC: map[string]any{
			"sd-jwt_alg_values": v.cfg.Algorithms, "kb-jwt_alg_values": v.cfg.Algorithms,
		}},
	}
	if rec.Mode == ModeDirectPostJWT {
		k, kid, err := v.responseKey(id)
		if err != nil {
			return "", err
		}
		j, err := encJWK(&k.PublicKey, kid)
		if err != nil {
			return "", err
		}
		meta["jwks"] = map[string]any{"keys": []any{j}}
		meta["encrypted_response_enc_values_supported"] = EncryptionValues
	}
	tok := jwt.NewWithClaims(method, jwt.MapClaims{
		"aud": AudienceSelfIssued, "iat": now.Unix(), "exp": rec.Expires,
		"client_id": clientID, "response_type": "vp_token", "response_mode": rec.Mode, "response_uri": responseURI,
		"nonce": rec.Nonce, "state": rec.State, "dcql_query": query, "client_metadata": meta,
	})
	if len(rec.TxData) > 0 {
		tok.Claims.(jwt.MapClaims)["transaction_data"] = rec.TxData
	}
	tok.Header["typ"], tok.Header["kid"], tok.Header["jwt"] = TypRequestObject, jwk.Kid, attestation
	return tok.SignedString(signer)
}

// Presented is one verified credential as the relying party receives it:
// only the claims its query asked for.
type Presented struct {
	Format string         `json:"format"`
	VCT    string         `json:"vct"`
	Issuer string         `json:"iss"`
	Claims map[string]any `json:"claims"`
}

// Result statuses.
const (
	StatusPending  = "pending"
	StatusVerified = "verified"
	StatusRefused  = "refused"
)

// Result is what the relying party fetches.
type Result struct {
	Status string `json:"status"`
	// Error is the wallet's error code when it refused (access_denied).
	Error string `json:"error,omitempty"`
	// Credentials are keyed by the DCQL credential query id.
	Credentials map[string][]Presented `json:"credentials,omitempty"`
	// TransactionData are the request's transaction data objects, each
	// authorized by the holder in the key binding of one presentation.
	TransactionData []json.RawMessage `json:"transaction_data,omitempty"`
}

// storedResult is a Result as stored: with the relying party it belongs
// to and the SHA-256 (hex) of its response_code, if any.
type storedResult struct {
	Result
	RP       string `json:"rp"`
	CodeHash string `json:"code_hash,omitempty"`
}

// Response is the verifier's answer to an accepted wallet response.
type Response struct {
	// RedirectURI, when set, is where the wallet sends the user.
	RedirectURI string `json:"redirect_uri,omitempty"`
}

// walletErrors are the error codes a wallet may answer with (§8.5); any
// other is recorded as invalid_request.
var walletErrors = []string{CodeAccessDenied, CodeInvalidRequest, CodeInvalidScope, CodeInvalidClient, CodeVPFormatsNotSupported,
	"invalid_request_uri_method", "invalid_transaction_data", "wallet_unavailable", "invalid_request_object"}

// HandleResponse verifies a wallet's response to transaction id: form is
// the application/x-www-form-urlencoded body. It changes nothing unless
// the response is accepted (or is the wallet's error), and accepts one
// response per transaction.
func (v *Verifier) HandleResponse(ctx context.Context, id string, form url.Values) (*Response, error) {
	rec, err := v.load(ctx, id)
	if err != nil {
		if CodeOf(err) == CodeInvalidRequestURI {
			return nil, fail(CodeInvalidRequest, err, "unknown or expired transaction")
		}
		return nil, err
	}
	for name, vals := range form {
		if len(vals) != 1 {
			return nil, fail(CodeInvalidRequest, nil, "parameter %q is repeated", truncate(name))
		}
	}
	params, err := v.responseParams(id, rec, form)
	if err != nil {
		return nil, err
	}
	state, _ := params["state"].(string)
	if subtle.ConstantTimeCompare([]byte(state), []byte(rec.State)) != 1 {
		return nil, fail(CodeInvalidRequest, nil, "state does not match the transaction")
	}
	if code, ok := params["error"].(string); ok {
		if !slices.Contains(walletErrors, code) {
			code = CodeInvalidRequest
		}
		return v.finish(ctx, id, rec, &Result{Status: StatusRefused, Error: code})
	}
	q, err := dcql.Parse(rec.Query)
	if err != nil {
		return nil, fmt.Errorf("oid4vp: stored query: %w", err)
	}
	creds, err := v.verifyToken(ctx, rec, q, params["vp_token"])
	if err != nil {
		return nil, err
	}
	res := &Result{Status: StatusVerified, Credentials: creds}
	for _, enc := range rec.TxData {
		raw, err := b64url.DecodeString(enc)
		if err != nil {
			return nil, fmt.Errorf("oid4vp: stored transaction data: %w", err)
		}
		res.TransactionData = append(res.TransactionData, raw)
	}
	return v.finish(ctx, id, rec, res)
}

// finish spends the transaction and stores its result; a transaction
// whose result could not be stored stays open.
func (v *Verifier) finish(ctx context.Context, id string, rec *record, res *Result) (*Response, error) {
	if _, err := v.cfg.Store.Consume(ctx, onceKey(id)); v.cfg.NotFound(err) {
		return nil, fail(CodeInvalidRequest, err, "the transaction was already answered")
	} else if err != nil {
		return nil, err
	}
	out := &Response{}
	st := storedResult{Result: *res, RP: rec.RP}
	if rec.Redirect != "" && res.Status == StatusVerified {
		code, err := v.random(24)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(code))
		st.CodeHash = hex.EncodeToString(sum[:])
		out.RedirectURI = rec.Redirect + "#response_code=" + code
	}
	raw, err := v.seal(sealResult, id, st)
	if err != nil {
		return nil, err
	}
	if err := v.cfg.Store.Set(ctx, resultKey(id), raw, v.cfg.TTL); err != nil {
		// No result was kept: the transaction may be answered again
		// (the wallet's retry), unless the store fails for this too.
		// It still ends with its record.
		_ = v.cfg.Store.Put(ctx, onceKey(id), []byte{1}, v.cfg.TTL)
		return nil, err
	}
	return out, nil
}

// responseParams returns the response parameters: the form's for
// direct_post, the decrypted JWE's for direct_post.jwt. In
// direct_post.jwt mode an error response may come in the clear (OpenID4VP
// 1.0 §8.3.1: "If a Wallet is unable to generate an encrypted response, it
// MAY send an error response without encryption"): error, no vp_token and
// no response.
func (v *Verifier) responseParams(id string, rec *record, form url.Values) (map[string]any, error) {
	plainError := form.Has("error") && !form.Has("vp_token") && !form.Has("response")
	if rec.Mode == ModeDirectPost || plainError {
		if form.Has("response") {
			return nil, fail(CodeInvalidRequest, nil, "this transaction expects direct_post, not an encrypted response")
		}
		params := map[string]any{}
		for _, name := range []string{"state", "error", "error_description"} {
			if form.Has(name) {
				params[name] = form.Get(name)
			}
		}
		if form.Has("vp_token") {
			tok, err := strictjson.Object([]byte(form.Get("vp_token")), MaxResponse)
			if err != nil {
				return nil, fail(CodeInvalidRequest, err, "vp_token must be a JSON object")
			}
			params["vp_token"] = tok
		}
		return params, nil
	}
	if form.Has("vp_token") || !form.Has("response") {
		return nil, fail(CodeInvalidRequest, nil, "this transaction expects direct_post.jwt: one response parameter holding a JWE")
	}
	k, kid, err := v.responseKey(id)
	if err != nil {
		return nil, err
	}
	plain, err := decryptResponse(form.Get("response"), k, kid)
	if err != nil {
		return nil, err
	}
	params, err := strictjson.Object(plain, MaxResponse)
	if err != nil {
		return nil, fail(CodeInvalidRequest, err, "the decrypted response must be a JSON object")
	}
	return params, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// verifyToken checks a vp_token against the query and returns the
// credentials with only the requested claims.
func (v *Verifier) verifyToken(ctx context.Context, rec *record, q *dcql.Query, raw any) (map[string][]Presented, error) {
	// An empty object answers a query whose credential sets are all
	// optional (OpenID4VP 1.0 §8.1): SetsSatisfied decides.
	tok, ok := raw.(map[string]any)
	if !ok {
		return nil, fail(CodeInvalidRequest, nil, "vp_token is required: a JSON object keyed by credential query id")
	}
	present := map[string]bool{}
	out := map[string][]Presented{}
	authorized := make([]int, len(rec.TxData))
	for qid, val := range tok {
		cq, found := q.Credential(qid)
		if !found || !q.Allowed(qid) {
			return nil, fail(CodeInvalidRequest, nil, "vp_token names credential query %q, which the request did not ask for", truncate(qid))
		}
		list, ok := val.([]any)
		if !ok || len(list) == 0 {
			return nil, fail(CodeInvalidRequest, nil, "vp_token[%q] must be a non-empty array of presentations", qid)
		}
		if len(list) > 1 && !cq.Multiple {
			return nil, fail(CodeInvalidRequest, nil, "vp_token[%q] holds %d presentations but the query did not allow multiple", qid, len(list))
		}
		for _, p := range list {
			s, ok := p.(string)
			if !ok {
				return nil, fail(CodeInvalidRequest, nil, "vp_token[%q]: a dc+sd-jwt presentation is a string", qid)
			}
			got, err := v.verifyOne(ctx, rec, cq, s, authorized)
			if err != nil {
				return nil, err
			}
			out[qid] = append(out[qid], *got)
		}
		present[qid] = true
	}
	if !q.SetsSatisfied(present) {
		return nil, fail(CodeInvalidRequest, nil, "vp_token does not satisfy the query's credential sets")
	}
	for i, n := range authorized {
		if n != 1 {
			// OID4VP 1.0 §5.1: the wallet uses exactly one of the
			// credentials an object names to authorize it.
			return nil, fail(CodeInvalidRequest, nil, "transaction_data[%d] is authorized by %d presentations, not exactly one", i, n)
		}
	}
	return out, nil
}

// checkTransactionData checks the transaction_data_hashes of one
// presentation's KB-JWT (OID4VP 1.0 §8.4, Appendix B.3.3): each hash is
// that of a transaction data string of the request naming this
// credential query, under transaction_data_hashes_alg (required when the
// object names algorithms, sha-256 otherwise), and counts it in
// authorized.
func checkTransactionData(rec *record, qid string, kb map[string]any, authorized []int) error {
	rawHashes, has := kb["transaction_data_hashes"]
	rawAlg, hasAlg := kb["transaction_data_hashes_alg"]
	if !has {
		if hasAlg {
			return fail(CodeInvalidRequest, nil, "vp_token[%q]: transaction_data_hashes_alg without transaction_data_hashes", qid)
		}
		return nil
	}
	list, ok := rawHashes.([]any)
	if !ok || len(list) == 0 {
		return fail(CodeInvalidRequest, nil, "vp_token[%q]: transaction_data_hashes must be a non-empty array of strings", qid)
	}
	alg := txdata.HashSHA256
	if hasAlg {
		if alg, ok = rawAlg.(string); !ok {
			return fail(CodeInvalidRequest, nil, "vp_token[%q]: transaction_data_hashes_alg must be a string", qid)
		}
	}
	seen := map[int]bool{}
	for _, h := range list {
		hs, _ := h.(string)
		found := -1
		for i, enc := range rec.TxData {
			if want, err := txdata.Hash(enc, alg); err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(hs)) == 1 {
				found = i
				break
			}
		}
		if found < 0 {
			return fail(CodeInvalidRequest, nil, "vp_token[%q]: a transaction_data_hashes entry is the %s hash of no transaction data of the request", qid, truncate(alg))
		}
		it, err := txdata.Parse(rec.TxData[found])
		if err != nil {
			return fmt.Errorf("oid4vp: stored transaction data: %w", err)
		}
		if !slices.Contains(it.CredentialIDs, qid) {
			return fail(CodeInvalidRequest, nil, "vp_token[%q]: transaction_data[%d] does not name this credential query", qid, found)
		}
		if it.HashAlgs != nil && (!hasAlg || !slices.Contains(it.HashAlgs, alg)) {
			return fail(CodeInvalidRequest, nil, "vp_token[%q]: transaction_data[%d] needs transaction_data_hashes_alg, one of its algorithms", qid, found)
		}
		if seen[found] {
			return fail(CodeInvalidRequest, nil, "vp_token[%q]: transaction_data[%d] is hashed twice", qid, found)
		}
		seen[found] = true
		authorized[found]++
	}
	return nil
}

func (v *Verifier) verifyOne(ctx context.Context, rec *record, cq *dcql.CredentialQuery, s string, authorized []int) (*Presented, error) {
	res, err := v.cfg.Verifier.VerifySDJWT(ctx, s, credentials.SDJWTOptions{
		RequireKeyBinding: cq.HolderBinding(), Audience: ClientID(rec.RP), Nonce: rec.Nonce,
		VCTs: cq.Meta.VCTValues,
	})
	if err != nil {
		return nil, fail(CodeInvalidRequest, err, "vp_token[%q]: %s", cq.ID, presentationProblem(err))
	}
	if err := checkTransactionData(rec, cq.ID, res.KBClaims, authorized); err != nil {
		return nil, err
	}
	vct, _ := res.Claims["vct"].(string) // one of cq.Meta.VCTValues (SDJWTOptions.VCTs)
	met, ok := cq.Satisfied(res.Claims)
	if !ok {
		return nil, fail(CodeInvalidRequest, nil, "vp_token[%q]: the disclosed claims do not meet the query", cq.ID)
	}
	claims := map[string]any{}
	for _, cl := range met {
		merge(claims, project(res.Claims, cl.Path))
	}
	iss, _ := res.Claims["iss"].(string)
	return &Presented{Format: dcql.FormatSDJWTVC, VCT: vct, Issuer: iss, Claims: claims}, nil
}

// presentationProblem says why a presentation failed, from the
// credentials sentinels, without quoting it.
func presentationProblem(err error) string {
	switch {
	case errors.Is(err, credentials.ErrNotRequested):
		return "the credential's vct is not one the query asked for"
	case errors.Is(err, sdjwt.ErrNonce):
		return "the key binding JWT's nonce is not this transaction's"
	case errors.Is(err, sdjwt.ErrAudience):
		return "the key binding JWT's aud is not this verifier's client_id"
	case errors.Is(err, sdjwt.ErrSDHash):
		return "the key binding JWT's sd_hash does not match the presentation"
	case errors.Is(err, sdjwt.ErrStale):
		return "the key binding JWT's iat is outside the accepted window"
	case errors.Is(err, sdjwt.ErrNoKeyBinding):
		return "a key binding JWT is required"
	case errors.Is(err, sdjwt.ErrKeyBinding):
		return "the key binding JWT is invalid"
	case errors.Is(err, credentials.ErrRevoked):
		return "the credential is revoked"
	case errors.Is(err, credentials.ErrSuspended):
		return "the credential is suspended"
	case errors.Is(err, credentials.ErrExpired):
		return "the credential has expired"
	case errors.Is(err, credentials.ErrStatusUnavailable):
		// Before ErrResolve, which a failed list fetch also matches.
		return "the credential's status list could not be obtained or verified; the transaction stays open"
	case errors.Is(err, credentials.ErrSignature):
		return "the issuer signature is invalid"
	case errors.Is(err, credentials.ErrUnknownKey), errors.Is(err, credentials.ErrResolve):
		return "the issuer's key cannot be found"
	case errors.Is(err, credentials.ErrNotAccredited):
		return "the issuer is not accredited for this credential"
	}
	return "the presentation is not a valid dc+sd-jwt"
}

// project copies from claims only what path selects, keeping its place.
func project(v any, p dcql.Path) any {
	if len(p) == 0 {
		return v
	}
	switch e := p[0].(type) {
	case string:
		m, _ := v.(map[string]any)
		x, ok := m[e]
		if !ok {
			return map[string]any{}
		}
		return map[string]any{e: project(x, p[1:])}
	case nil:
		a, _ := v.([]any)
		out := make([]any, len(a))
		for i, x := range a {
			out[i] = project(x, p[1:])
		}
		return out
	case int:
		a, _ := v.([]any)
		if e < len(a) {
			return []any{project(a[e], p[1:])}
		}
	}
	return []any{}
}

// merge adds src's members into dst, merging nested objects.
func merge(dst map[string]any, src any) {
	m, _ := src.(map[string]any)
	for k, x := range m {
		if dm, ok := dst[k].(map[string]any); ok {
			merge(dm, x)
			continue
		}
		dst[k] = x
	}
}

// FetchResult returns the result of transaction id to the relying party
// that opened it. With a same-device redirect, responseCode must be the
// one the redirect carried. A result is returned once: reading it
// deletes it and its transaction, and a later fetch is CodeNotFound.
func (v *Verifier) FetchResult(ctx context.Context, rpID, id, responseCode string) (*Result, error) {
	notFound := fail(CodeNotFound, nil, "no such transaction for this relying party, or it expired")
	if id == "" || len(id) > 64 {
		return nil, notFound
	}
	raw, err := v.cfg.Store.Get(ctx, resultKey(id))
	if v.cfg.NotFound(err) {
		rec, err := v.load(ctx, id)
		if err != nil {
			if CodeOf(err) != "" {
				return nil, notFound
			}
			return nil, err
		}
		if rec.RP != rpID {
			return nil, notFound
		}
		return &Result{Status: StatusPending}, nil
	}
	if err != nil {
		return nil, err
	}
	var st storedResult
	if err := open(sealResult, id, raw, &st); errors.Is(err, gm.ErrOpen) {
		return nil, notFound // kept in clear by an older node, as load says
	} else if err != nil {
		return nil, fmt.Errorf("oid4vp: stored result: %w", err)
	}
	if st.Status != StatusVerified && st.Status != StatusRefused {
		// finish stores no other: a damaged record is not passed on.
		return nil, fmt.Errorf("oid4vp: stored result: status %q", st.Status)
	}
	if st.RP != rpID {
		return nil, notFound
	}
	if st.CodeHash != "" {
		sum := sha256.Sum256([]byte(responseCode))
		if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(st.CodeHash)) != 1 {
			return nil, fail(CodeInvalidRequest, nil, "response_code is missing or does not match")
		}
	}
	// The relying party has what the transaction was for: nothing of it is
	// kept (the reference design of OpenID4VP's direct_post, "consumes
	// the VP Token and invalidates the transaction-id"). The transaction
	// goes first, so that no fetch finds it pending without its result;
	// of concurrent fetches one gets the result.
	if err := v.cfg.Store.Delete(ctx, txKey(id)); err != nil {
		return nil, err
	}
	if n, err := v.cfg.Store.CompareAndDelete(ctx, raw, resultKey(id)); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, notFound
	}
	return &st.Result, nil
}
