package wallet

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/claimpath"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
	"github.com/trustid-cn/trustid/oid4vp/dcql"
)

// OpenID for Verifiable Credential Issuance 1.0, holder side: receive a
// credential offer, redeem its pre-authorized code (with the transaction
// code), prove possession of fresh keys and store the credentials.

const (
	grantPreAuthorized     = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
	grantAuthorizationCode = "authorization_code"
	proofTyp               = "openid4vci-proof+jwt"
	offerScheme            = "openid-credential-offer://"
	maxIssuerResponse      = 1 << 20
)

// ErrIssuer: the credential issuer answered something the wallet cannot
// use (an error response names its code).
var ErrIssuer = errors.New("wallet: credential issuer refused or answered badly")

// ErrNotStored: the credential store holds nothing under the ID.
var ErrNotStored = errors.New("wallet: no stored credential under this ID")

// Store keeps the wallet's credentials by ID. Save stores (or replaces)
// a record, Load returns it (ErrNotStored when missing), List returns the
// IDs comma-separated, Remove deletes (a missing ID is not an error).
// A record is JSON: issuer, configuration_id, format, credential and
// key_alias (the KeyStore alias of the key it is bound to). An app
// implements it over its encrypted storage; MemoryStore is in memory.
// Implementations must be safe for concurrent use.
type Store interface {
	Save(id string, record []byte) error
	Load(id string) ([]byte, error)
	List() (string, error)
	Remove(id string) error
}

// MemoryStore is an in-memory Store. Its zero value is empty and ready.
type MemoryStore struct {
	mu      sync.Mutex
	records map[string][]byte
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Save implements Store.
func (m *MemoryStore) Save(id string, record []byte) error {
	if id == "" {
		return fmt.Errorf("%w: empty credential ID", ErrInvalidArgument)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records == nil {
		m.records = map[string][]byte{}
	}
	m.records[id] = bytes.Clone(record)
	return nil
}

// Load implements Store.
func (m *MemoryStore) Load(id string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[id]
	if !ok {
		return nil, ErrNotStored
	}
	return bytes.Clone(r), nil
}

// List implements Store.
func (m *MemoryStore) List() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.records))
	for id := range m.records {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return strings.Join(ids, ","), nil
}

// Remove implements Store.
func (m *MemoryStore) Remove(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, id)
	return nil
}

// StoredCredential is a stored credential record. Credential is the
// compact form (dc+sd-jwt, jwt_vc_json) or, for ldp_vc, the credential
// document with its Data Integrity proof as JSON text.
type StoredCredential struct {
	Issuer          string `json:"issuer"`
	ConfigurationID string `json:"configuration_id"`
	Format          string `json:"format"`
	Credential      string `json:"credential"`
	KeyAlias        string `json:"key_alias"`
	// Batch names the credential request the credential came from (its
	// copies share it; absent from records of older versions). The
	// record's shown_to lists the verifiers it was presented to (see
	// StoredCredentials).
	Batch string `json:"batch,omitempty"`
}

// LoadCredential reads one record of a Store.
func LoadCredential(s Store, id string) (*StoredCredential, error) {
	raw, err := s.Load(id)
	if err != nil {
		return nil, err
	}
	var c StoredCredential
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: stored record: %v", ErrInvalidArgument, err)
	}
	return &c, nil
}

// CredentialOffer is a credential offer the wallet received and resolved:
// the offer, the issuer's metadata and its token endpoint.
//
// A CredentialOffer is used by one goroutine at a time.
type CredentialOffer struct {
	issuer  string
	configs []string
	code    string
	txLen   int
	txDesc  string
	meta    issuerMetadata
	token   string

	// The authorization code grant: whether the offer has it, its
	// issuer_state, and the authorization server's identifier, endpoint
	// and whether it sends iss in its responses (RFC 9207).
	authCode    bool
	issuerState string
	asIssuer    string
	authorize   string
	par         string // the pushed authorization request endpoint, if any
	issRequired bool
	pending     *pendingAuthorization
	// details: the authorization server takes authorization_details of
	// type openid_credential.
	details bool
	// claims are, by configuration, the claims the holder asked for
	// (RequestClaims).
	claims map[string][]claimpath.Description

	// DPoP (RFC 9449), when the authorization server takes SM2 proofs:
	// the algorithms it advertised, the offer's DPoP key (made for the
	// token request, kept in memory only: the token lives minutes), the
	// last DPoP-Nonce the issuer sent, and whether the access token is
	// DPoP-bound.
	dpopAlgs  []string
	dpopKey   crypto.Signer
	dpopNonce string
	dpopBound bool

	// Wallet attestation, when the authorization server takes
	// attest_jwt_client_auth with SM2 PoPs: its challenge endpoint, if
	// any, and the last challenge it gave.
	attest            bool
	challengeEndpoint string
	attestChallenge   string
}

// pendingAuthorization is the authorization request in flight.
type pendingAuthorization struct {
	clientID, redirectURI, state, verifier string
	configs                                []string
}

// HasPreAuthorizedCode reports whether the offer carries a pre-authorized
// code (AcceptOffer).
func (o *CredentialOffer) HasPreAuthorizedCode() bool { return o.code != "" }

// HasAuthorizationCodeGrant reports whether the offer can be taken with
// the authorization code flow (AuthorizationURL, AcceptAuthorization):
// the holder logs in with the issuer.
func (o *CredentialOffer) HasAuthorizationCodeGrant() bool { return o.authCode && o.authorize != "" }

// Issuer returns the credential issuer identifier.
func (o *CredentialOffer) Issuer() string { return o.issuer }

// ConfigurationIDs returns the offered configurations, comma-separated.
func (o *CredentialOffer) ConfigurationIDs() string { return strings.Join(o.configs, ",") }

// TxCodeLength is the length of the transaction code the holder must
// enter (0: the offer needs none).
func (o *CredentialOffer) TxCodeLength() int { return o.txLen }

// TxCodeDescription is the issuer's hint for the transaction code.
func (o *CredentialOffer) TxCodeDescription() string { return o.txDesc }

// IssuerName is the issuer's display name in locale (e.g. "zh-CN",
// "en"), or the first name when none matches.
func (o *CredentialOffer) IssuerName(locale string) string {
	for _, d := range o.meta.Display {
		if d.Locale == locale {
			return d.Name
		}
	}
	if len(o.meta.Display) > 0 {
		return o.meta.Display[0].Name
	}
	return ""
}

type issuerMetadata struct {
	CredentialIssuer     string   `json:"credential_issuer"`
	AuthorizationServers []string `json:"authorization_servers"`
	CredentialEndpoint   string   `json:"credential_endpoint"`
	NonceEndpoint        string   `json:"nonce_endpoint"`
	NotificationEndpoint string   `json:"notification_endpoint"`
	Batch                *struct {
		Size int `json:"batch_size"`
	} `json:"batch_credential_issuance"`
	RequestEncryption *struct {
		Required bool `json:"encryption_required"`
	} `json:"credential_request_encryption"`
	ResponseEncryption *struct {
		Required bool `json:"encryption_required"`
	} `json:"credential_response_encryption"`
	Display []struct {
		Name   string `json:"name"`
		Locale string `json:"locale"`
	} `json:"display"`
	Configurations map[string]struct {
		Format string `json:"format"`
		// For ldp_vc: the cryptosuites the credential may be secured with.
		SigningAlgs []string `json:"credential_signing_alg_values_supported"`
		Proofs      struct {
			JWT *struct {
				Algs []string `json:"proof_signing_alg_values_supported"`
			} `json:"jwt"`
		} `json:"proof_types_supported"`
	} `json:"credential_configurations_supported"`
}

type offerObject struct {
	CredentialIssuer string                     `json:"credential_issuer"`
	ConfigurationIDs []string                   `json:"credential_configuration_ids"`
	Grants           map[string]json.RawMessage `json:"grants"`
}

type authCodeGrant struct {
	IssuerState         string `json:"issuer_state"`
	AuthorizationServer string `json:"authorization_server"`
}

type preAuthGrant struct {
	Code   string `json:"pre-authorized_code"`
	TxCode *struct {
		InputMode   string `json:"input_mode"`
		Length      int    `json:"length"`
		Description string `json:"description"`
	} `json:"tx_code"`
	AuthorizationServer string `json:"authorization_server"`
}

// ReceiveOffer resolves a credential offer link (openid-credential-offer://
// or an https link with the same query): the offer by value or by
// reference (credential_offer_uri), then the issuer's metadata and its
// authorization server's endpoints. An offer with a pre-authorized code
// is taken with AcceptOffer; one with the authorization_code grant with
// AuthorizationURL and AcceptAuthorization.
func (w *Holder) ReceiveOffer(link string) (*CredentialOffer, error) {
	doc, ref, err := parseOfferLink(link)
	if err != nil {
		return nil, err
	}
	if ref != "" {
		if doc, err = w.fetch(http.MethodGet, ref, "", "", nil); err != nil {
			return nil, err
		}
	}
	offer, asHint, err := parseOffer(doc)
	if err != nil {
		return nil, err
	}
	metaURL, err := wellKnown(offer.issuer, "/.well-known/openid-credential-issuer")
	if err != nil {
		return nil, err
	}
	body, err := w.fetch(http.MethodGet, metaURL, "", "", nil)
	if err != nil {
		return nil, err
	}
	// OID4VCI 1.0 §12.2.3: credential_issuer "MUST be identical to the
	// Credential Issuer's identifier into which the well-known URI string
	// was inserted"; otherwise the data "MUST NOT be used". Strictly, as
	// the offer: a member twice, or in another case, would be read by
	// other parsers as other metadata (another issuer, or encryption
	// required).
	if err := strictjson.DecodeOpen(body, &offer.meta, maxIssuerResponse); err != nil || offer.meta.CredentialIssuer != offer.issuer {
		return nil, fmt.Errorf("%w: issuer metadata does not name the offer's issuer", ErrIssuer)
	}
	// OID4VCI 1.0 §12.2.4: with credential_response_encryption's
	// encryption_required true "the Wallet MUST provide encryption keys in
	// the Credential Request", and with credential_request_encryption's
	// the issuer "requires encryption for every Credential Request": the
	// wallet encrypts neither, so it stops before the offer's code is
	// spent.
	if (offer.meta.RequestEncryption != nil && offer.meta.RequestEncryption.Required) ||
		(offer.meta.ResponseEncryption != nil && offer.meta.ResponseEncryption.Required) {
		return nil, fmt.Errorf("%w: the issuer requires encrypted credential requests or responses, which the wallet does not support", ErrIssuer)
	}
	for _, id := range offer.configs {
		if _, ok := offer.meta.Configurations[id]; !ok {
			return nil, fmt.Errorf("%w: the offer names a configuration the issuer does not describe", ErrIssuer)
		}
	}
	as := offer.issuer
	if len(offer.meta.AuthorizationServers) > 0 {
		as = offer.meta.AuthorizationServers[0]
		if asHint != "" {
			// OID4VCI 1.0 §12.2.4: "the Wallet MUST NOT proceed with the
			// flow if the authorization_server Credential Offer parameter
			// value does not match any of the entries in the
			// authorization_servers array" (a link's hint could otherwise
			// send the code and the transaction code to any server).
			if !slices.Contains(offer.meta.AuthorizationServers, asHint) {
				return nil, fmt.Errorf("%w: the offer's authorization_server is not one of the issuer's authorization_servers", ErrIssuer)
			}
			as = asHint
		}
	}
	asURL, err := wellKnown(as, "/.well-known/oauth-authorization-server")
	if err != nil {
		return nil, err
	}
	if body, err = w.fetch(http.MethodGet, asURL, "", "", nil); err != nil {
		return nil, err
	}
	var asMeta struct {
		Issuer                string   `json:"issuer"`
		TokenEndpoint         string   `json:"token_endpoint"`
		AuthorizationEndpoint string   `json:"authorization_endpoint"`
		PKCEMethods           []string `json:"code_challenge_methods_supported"`
		ISSParameter          bool     `json:"authorization_response_iss_parameter_supported"`
		DPoPAlgs              []string `json:"dpop_signing_alg_values_supported"`
		PAR                   string   `json:"pushed_authorization_request_endpoint"`
		AuthMethods           []string `json:"token_endpoint_auth_methods_supported"`
		AttestationPoPAlgs    []string `json:"client_attestation_pop_signing_alg_values_supported"`
		ChallengeEndpoint     string   `json:"challenge_endpoint"`
		DetailsTypes          []string `json:"authorization_details_types_supported"`
	}
	if err := json.Unmarshal(body, &asMeta); err != nil || asMeta.Issuer != as || checkURL(asMeta.TokenEndpoint) != nil {
		return nil, fmt.Errorf("%w: authorization server metadata", ErrIssuer)
	}
	offer.token, offer.asIssuer, offer.issRequired, offer.dpopAlgs = asMeta.TokenEndpoint, asMeta.Issuer, asMeta.ISSParameter, asMeta.DPoPAlgs
	offer.details = slices.Contains(asMeta.DetailsTypes, detailsType)
	offer.attest = slices.Contains(asMeta.AuthMethods, attestation.AuthMethod) && slices.Contains(asMeta.AttestationPoPAlgs, gm.AlgSM2)
	if offer.attest && checkURL(asMeta.ChallengeEndpoint) == nil {
		offer.challengeEndpoint = asMeta.ChallengeEndpoint
	}
	if offer.authCode && checkURL(asMeta.AuthorizationEndpoint) == nil && slices.Contains(asMeta.PKCEMethods, "S256") {
		offer.authorize = asMeta.AuthorizationEndpoint
		if checkURL(asMeta.PAR) == nil {
			offer.par = asMeta.PAR
		}
	}
	if offer.code == "" && offer.authorize == "" {
		return nil, fmt.Errorf("%w: the authorization server has no authorization endpoint with S256 PKCE for this offer", ErrIssuer)
	}
	return offer, nil
}

// AcceptOffer redeems the offer's pre-authorized code with txCode (empty
// when the offer needs none, TxCodeLength 0; a mismatch is
// ErrInvalidArgument before anything is sent), then for each of configurationIDs (comma-
// separated; empty means all offered) asks for count credentials (1 up
// to the issuer's batch size), each bound to a fresh key of its own in
// the wallet's KeyStore so that they cannot be linked when presented, and
// saves them in store. It tells the issuer they were accepted and
// returns the stored IDs, comma-separated.
//
// When the holder asked for claims (RequestClaims), or named some of the
// offered configurations and the issuer takes authorization_details, the
// token request names the configurations in authorization_details
// (OID4VCI 1.0 §6.1), with the claims asked for, and the credential
// requests use the credential identifiers the issuer gives (§8.2).
func (w *Holder) AcceptOffer(offer *CredentialOffer, configurationIDs, txCode string, count int, store Store) (string, error) {
	if offer == nil || store == nil {
		return "", fmt.Errorf("%w: an offer and a store are required", ErrInvalidArgument)
	}
	if offer.code == "" {
		return "", fmt.Errorf("%w: the offer has no pre-authorized code; use AuthorizationURL", ErrInvalidArgument)
	}
	configs, err := offer.pick(configurationIDs)
	if err != nil {
		return "", err
	}
	if err := offer.checkCount(count); err != nil {
		return "", err
	}
	// OID4VCI 1.0 §6.1: tx_code "MUST be present if a tx_code object was
	// present in the Credential Offer (including if the object was
	// empty)"; to an offer without one, the holder's code is not sent.
	switch {
	case offer.txLen > 0 && txCode == "":
		return "", fmt.Errorf("%w: the offer asks for a transaction code (TxCodeLength)", ErrInvalidArgument)
	case offer.txLen == 0 && txCode != "":
		return "", fmt.Errorf("%w: the offer asks for no transaction code", ErrInvalidArgument)
	}
	form := url.Values{"grant_type": {grantPreAuthorized}, "pre-authorized_code": {offer.code}}
	if txCode != "" {
		form.Set("tx_code", txCode)
	}
	if offer.asksClaims(configs) || (len(configs) < len(offer.configs) && offer.details) {
		details, err := offer.authorizationDetails(configs)
		if err != nil {
			return "", err
		}
		form.Set("authorization_details", details)
	}
	if _, err := w.newDPoPKey(offer); err != nil {
		return "", err
	}
	tok, err := w.requestToken(offer, form)
	if err != nil {
		return "", err
	}
	return w.collect(offer, configs, tok, count, store)
}

// detailsType is the authorization_details type of OID4VCI.
const detailsType = "openid_credential"

// RequestClaims asks the issuer for only some claims of configuration
// configurationID (one the offer names): claims is a JSON array of claims
// description objects (OID4VCI 1.0 Appendix B.1), each a path into the
// configuration's credential and, optionally, mandatory, e.g.
// [{"path":["region"]},{"path":["since"],"mandatory":true}]. For dc+sd-jwt
// the subject claims are top-level (["region"]); for jwt_vc_json and
// ldp_vc they sit under credentialSubject (["credentialSubject","region"]).
// The next AcceptOffer or AuthorizationURL sends them in
// authorization_details (§5.1.1, §6.1); an issuer that issues the minimum
// (TrustID does) gives only those and the claims the type requires
// (mandatory in its metadata). A credential without a claim marked
// mandatory is refused (ErrIssuer) and not stored. Empty claims asks for
// the whole credential again.
func (o *CredentialOffer) RequestClaims(configurationID, claims string) error {
	if !slices.Contains(o.configs, configurationID) {
		return fmt.Errorf("%w: configuration %q is not offered", ErrInvalidArgument, configurationID)
	}
	if claims == "" {
		delete(o.claims, configurationID)
		return nil
	}
	if len(claims) > 4<<10 {
		return fmt.Errorf("%w: claims too long", ErrInvalidArgument)
	}
	d, err := claimpath.Parse(json.RawMessage(claims))
	if err != nil {
		return fmt.Errorf("%w: claims: %v", ErrInvalidArgument, err)
	}
	if o.claims == nil {
		o.claims = map[string][]claimpath.Description{}
	}
	o.claims[configurationID] = d
	return nil
}

// asksClaims reports whether the holder asked for claims of any of
// configs.
func (o *CredentialOffer) asksClaims(configs []string) bool {
	return slices.ContainsFunc(configs, func(c string) bool { return o.claims[c] != nil })
}

// authorizationDetails is the authorization_details parameter naming
// configs, each with the claims asked for. Claims need an issuer that
// takes authorization_details: it would otherwise issue the whole
// credential unasked. When the issuer's metadata lists
// authorization_servers, each object names the issuer in locations
// (OID4VCI 1.0 §5.1.1: "the authorization detail's locations common data
// field MUST be set to the Credential Issuer Identifier value"; §6.1 for
// the token request).
func (o *CredentialOffer) authorizationDetails(configs []string) (string, error) {
	if o.asksClaims(configs) && !o.details {
		return "", fmt.Errorf("%w: the issuer takes no authorization_details: it cannot be asked for some claims only", ErrIssuer)
	}
	type detail struct {
		Type            string                  `json:"type"`
		ConfigurationID string                  `json:"credential_configuration_id"`
		Locations       []string                `json:"locations,omitempty"`
		Claims          []claimpath.Description `json:"claims,omitempty"`
	}
	var locations []string
	if len(o.meta.AuthorizationServers) > 0 {
		locations = []string{o.meta.CredentialIssuer}
	}
	details := make([]detail, len(configs))
	for i, c := range configs {
		details[i] = detail{Type: detailsType, ConfigurationID: c, Locations: locations, Claims: o.claims[c]}
	}
	raw, err := json.Marshal(details)
	return string(raw), err
}

// checkMandatory checks that a credential of configuration cfg in format
// has every claim the holder asked for as mandatory (Appendix B.1: the
// wallet accepts only a credential with it).
func (o *CredentialOffer) checkMandatory(cfg, format, cred string) error {
	var mandatory []claimpath.Path
	for _, d := range o.claims[cfg] {
		if d.Mandatory {
			mandatory = append(mandatory, d.Path)
		}
	}
	if len(mandatory) == 0 {
		return nil
	}
	var claims map[string]any
	var err error
	switch format {
	case "dc+sd-jwt":
		_, _, claims, err = holderView(cred)
	case formatLDPVC:
		err = json.Unmarshal([]byte(cred), &claims)
	default:
		parts := strings.Split(cred, ".")
		var payload []byte
		if len(parts) != 3 {
			err = errors.New("not a compact JWS")
		} else if payload, err = b64url.DecodeString(parts[1]); err == nil {
			err = json.Unmarshal(payload, &claims)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: a %s credential is unreadable: %v", ErrIssuer, format, err)
	}
	for _, p := range mandatory {
		if dcql.Select(claims, p) == nil {
			return fmt.Errorf("%w: a credential lacks a claim asked for as mandatory", ErrIssuer)
		}
	}
	return nil
}

// tokenResponse is what the wallet reads of a token response: the access
// token and, per configuration, the credential identifier to request it
// by (when the response has authorization_details).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Details     []struct {
		Type            string   `json:"type"`
		ConfigurationID string   `json:"credential_configuration_id"`
		Identifiers     []string `json:"credential_identifiers"`
	} `json:"authorization_details"`
}

// parseTokenResponse reads a token response: token_type Bearer, or DPoP
// when dpop (the request carried a DPoP proof).
func parseTokenResponse(body []byte, dpop bool) (*tokenResponse, error) {
	var tok tokenResponse
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" ||
		!(strings.EqualFold(tok.TokenType, "Bearer") || (dpop && strings.EqualFold(tok.TokenType, "DPoP"))) {
		return nil, fmt.Errorf("%w: token response", ErrIssuer)
	}
	return &tok, nil
}

// newDPoPKey gives the offer a fresh DPoP key when the authorization
// server takes SM2 DPoP proofs (none otherwise) and returns its RFC 7638
// thumbprint ("" without one).
func (w *Holder) newDPoPKey(offer *CredentialOffer) (string, error) {
	offer.dpopKey, offer.dpopNonce, offer.dpopBound = nil, "", false
	if !slices.Contains(offer.dpopAlgs, gm.AlgSM2) {
		return "", nil
	}
	k, err := gm.GenerateSigner(gm.AlgSM2, w.rand)
	if err != nil {
		return "", err
	}
	j, err := gm.NewJWK(k.Public(), "")
	if err != nil {
		return "", err
	}
	offer.dpopKey = k
	return j.Thumbprint()
}

// requestToken posts a token request (with a DPoP proof by the offer's
// DPoP key, if it has one) and reads the answer; a DPoP token_type binds
// the offer's later requests to the key.
func (w *Holder) requestToken(offer *CredentialOffer, form url.Values) (*tokenResponse, error) {
	offer.dpopBound = false
	body, err := w.fetchOffer(offer, http.MethodPost, offer.token, "application/x-www-form-urlencoded", "", []byte(form.Encode()))
	if err != nil {
		return nil, err
	}
	tok, err := parseTokenResponse(body, offer.dpopKey != nil)
	if err != nil {
		return nil, err
	}
	offer.dpopBound = strings.EqualFold(tok.TokenType, "DPoP")
	return tok, nil
}

// fetchOffer is fetch for the pushed authorization request, token,
// credential and notification endpoints of an offer: with a DPoP key it
// sends a DPoP proof (over the access token, sent with the DPoP scheme,
// once the token is DPoP-bound) and keeps the issuer's DPoP-Nonce; with a
// wallet attestation, to an issuer that takes it, the PAR and token
// requests carry it and a fresh PoP over the issuer's latest challenge
// (fetched first from its challenge endpoint). It retries on
// use_dpop_nonce and use_attestation_challenge with the value given, at
// most twice.
func (w *Holder) fetchOffer(offer *CredentialOffer, method, target, contentType, token string, body []byte) ([]byte, error) {
	useDPoP := offer.dpopKey != nil && (token == "" || offer.dpopBound)
	w.mu.Lock()
	att, attKey := w.attestation, w.attestationKey
	w.mu.Unlock()
	attest := token == "" && offer.attest && att != ""
	if !useDPoP && !attest {
		return w.fetch(method, target, contentType, token, body)
	}
	var instance crypto.Signer
	if attest {
		s, err := newStoreSigner(w.keys, attKey)
		if err != nil {
			return nil, err
		}
		instance = s
		if offer.attestChallenge == "" && offer.challengeEndpoint != "" {
			if err := w.fetchChallenge(offer); err != nil {
				return nil, err
			}
		}
	}
	for try := 0; ; try++ {
		h := http.Header{}
		if useDPoP {
			proof, err := dpop.NewProof(offer.dpopKey, method, target, token, offer.dpopNonce, w.clock(), w.rand)
			if err != nil {
				return nil, err
			}
			h.Set(dpop.HeaderProof, proof)
			if token != "" {
				h.Set("Authorization", "DPoP "+token)
			}
		}
		if attest {
			pop, err := attestation.NewPoP(instance, offer.asIssuer, offer.attestChallenge, w.clock(), w.rand)
			if err != nil {
				return nil, err
			}
			h.Set(attestation.HeaderAttestation, att)
			h.Set(attestation.HeaderPoP, pop)
		}
		out, rh, code, err := w.send(method, target, contentType, h, body)
		if n := rh.Get(dpop.HeaderNonce); n != "" {
			offer.dpopNonce = n
		}
		if c := rh.Get(attestation.HeaderChallenge); c != "" {
			offer.attestChallenge = c
		}
		if err != nil && try < 2 && ((code == "use_dpop_nonce" && rh.Get(dpop.HeaderNonce) != "") ||
			(code == "use_attestation_challenge" && rh.Get(attestation.HeaderChallenge) != "")) {
			continue
		}
		return out, err
	}
}

// fetchChallenge gets a wallet attestation challenge (and a DPoP nonce,
// when the issuer gives one) from the issuer's challenge endpoint.
func (w *Holder) fetchChallenge(offer *CredentialOffer) error {
	out, rh, _, err := w.send(http.MethodPost, offer.challengeEndpoint, "", http.Header{}, nil)
	if err != nil {
		return err
	}
	var c struct {
		Challenge string `json:"attestation_challenge"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.Challenge == "" {
		return fmt.Errorf("%w: challenge response", ErrIssuer)
	}
	offer.attestChallenge = c.Challenge
	if n := rh.Get(dpop.HeaderNonce); n != "" {
		offer.dpopNonce = n
	}
	return nil
}

// identifier is the credential identifier the token response gave for
// configuration cfg ("" when it gave no authorization_details).
func (t *tokenResponse) identifier(cfg string) (string, error) {
	if len(t.Details) == 0 {
		return "", nil
	}
	for _, d := range t.Details {
		if d.Type == "openid_credential" && d.ConfigurationID == cfg && len(d.Identifiers) > 0 {
			return d.Identifiers[0], nil
		}
	}
	return "", fmt.Errorf("%w: the token response does not grant configuration %q", ErrIssuer, cfg)
}

// pick returns the offered configurations named (comma-separated; empty
// means all offered).
func (o *CredentialOffer) pick(configurationIDs string) ([]string, error) {
	if configurationIDs == "" {
		return o.configs, nil
	}
	configs := splitList(configurationIDs)
	for _, c := range configs {
		if !slices.Contains(o.configs, c) {
			return nil, fmt.Errorf("%w: configuration %q is not offered", ErrInvalidArgument, c)
		}
	}
	return configs, nil
}

func (o *CredentialOffer) checkCount(count int) error {
	batch := 1
	if o.meta.Batch != nil {
		batch = o.meta.Batch.Size
	}
	if count < 1 || count > batch {
		return fmt.Errorf("%w: count must be 1..%d (the issuer's batch size)", ErrInvalidArgument, batch)
	}
	return nil
}

// collect fetches count credentials of each configuration with the
// access token, stores them and notifies the issuer.
func (w *Holder) collect(offer *CredentialOffer, configs []string, tok *tokenResponse, count int, store Store) (string, error) {
	var ids []string
	var notify []string
	for _, cfg := range configs {
		ident, err := tok.identifier(cfg)
		if err != nil {
			return strings.Join(ids, ","), err
		}
		got, nid, err := w.fetchCredentials(offer, cfg, ident, tok.AccessToken, count, store)
		if err != nil {
			return strings.Join(ids, ","), err
		}
		ids = append(ids, got...)
		if nid != "" {
			notify = append(notify, nid)
		}
	}
	if offer.meta.NotificationEndpoint != "" {
		for _, nid := range notify {
			b, _ := json.Marshal(map[string]string{"notification_id": nid, "event": "credential_accepted"})
			if _, err := w.fetchOffer(offer, http.MethodPost, offer.meta.NotificationEndpoint, "application/json", tok.AccessToken, b); err != nil {
				return strings.Join(ids, ","), err
			}
		}
	}
	return strings.Join(ids, ","), nil
}

// fetchCredentials runs one credential request with count key proofs.
// identifier, when set, names the credential in the request instead of
// the configuration (OID4VCI 1.0 §8.2).
func (w *Holder) fetchCredentials(offer *CredentialOffer, cfg, identifier, token string, count int, store Store) ([]string, string, error) {
	conf := offer.meta.Configurations[cfg]
	if conf.Proofs.JWT == nil || !slices.Contains(conf.Proofs.JWT.Algs, gm.AlgSM2) {
		return nil, "", fmt.Errorf("%w: configuration %q takes no SM2 jwt key proofs", ErrIssuer, cfg)
	}
	// An issuer without a nonce endpoint "does not require the use of
	// c_nonce" (OID4VCI 1.0 §12.2.4): its proofs carry none (Appendix
	// F.1: nonce "MUST be present when the issuer has a Nonce Endpoint").
	var nonce struct {
		CNonce string `json:"c_nonce"`
	}
	var body []byte
	var err error
	if offer.meta.NonceEndpoint != "" {
		if body, err = w.fetch(http.MethodPost, offer.meta.NonceEndpoint, "", "", nil); err != nil {
			return nil, "", err
		}
		if err := json.Unmarshal(body, &nonce); err != nil || nonce.CNonce == "" {
			return nil, "", fmt.Errorf("%w: nonce response", ErrIssuer)
		}
	}
	aliases := make([]string, count)
	proofs := make([]string, count)
	thumbs := make([]string, count)
	for i := range proofs {
		var r [8]byte
		if _, err := io.ReadFull(w.rand, r[:]); err != nil {
			return nil, "", err
		}
		aliases[i] = w.alias + ".oid4vci." + hex.EncodeToString(r[:])
		if _, err := w.keys.Generate(aliases[i]); err != nil {
			return nil, "", err
		}
		if proofs[i], thumbs[i], err = w.keyProof(aliases[i], offer.issuer, nonce.CNonce); err != nil {
			return nil, "", err
		}
	}
	creq := map[string]any{"credential_configuration_id": cfg, "proofs": map[string]any{"jwt": proofs}}
	if identifier != "" {
		delete(creq, "credential_configuration_id")
		creq["credential_identifier"] = identifier
	}
	req, _ := json.Marshal(creq)
	if body, err = w.fetchOffer(offer, http.MethodPost, offer.meta.CredentialEndpoint, "application/json", token, req); err != nil {
		return nil, "", err
	}
	var resp struct {
		Credentials []struct {
			Credential json.RawMessage `json:"credential"`
		} `json:"credentials"`
		NotificationID string `json:"notification_id"`
	}
	// OID4VCI 1.0 §8.3: "credentials ... one or more"; an issuer may
	// issue fewer than the keys proved (keyOf tells each one's key).
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.Credentials) == 0 || len(resp.Credentials) > count {
		return nil, "", fmt.Errorf("%w: the credential response does not hold 1 to %d credentials", ErrIssuer, count)
	}
	used := make([]bool, count)
	var b [16]byte
	if _, err := io.ReadFull(w.rand, b[:]); err != nil {
		return nil, "", err
	}
	batch := hex.EncodeToString(b[:])
	var ids []string
	for i, c := range resp.Credentials {
		if i, err = keyOf(conf.Format, c.Credential, thumbs, used, i, len(resp.Credentials) == count); err != nil {
			return ids, "", err
		}
		var cred string
		if conf.Format == formatLDPVC {
			// A JSON object (OID4VCI 1.0 Appendix A.1.2), kept as its JSON
			// text once its proof verifies.
			if err := w.checkLDP(offer, conf.SigningAlgs, c.Credential, thumbs[i]); err != nil {
				return ids, "", err
			}
			cred = string(c.Credential)
		} else if err := json.Unmarshal(c.Credential, &cred); err != nil {
			return ids, "", fmt.Errorf("%w: a %s credential is not a string", ErrIssuer, conf.Format)
		}
		if conf.Format == "dc+sd-jwt" {
			if err := checkBound(cred, thumbs[i]); err != nil {
				return ids, "", err
			}
		}
		if err := offer.checkMandatory(cfg, conf.Format, cred); err != nil {
			return ids, "", err
		}
		rec, _ := json.Marshal(StoredCredential{Issuer: offer.issuer, ConfigurationID: cfg, Format: conf.Format, Credential: cred, KeyAlias: aliases[i], Batch: batch})
		var r [16]byte
		if _, err := io.ReadFull(w.rand, r[:]); err != nil {
			return ids, "", err
		}
		id := hex.EncodeToString(r[:])
		if err := store.Save(id, rec); err != nil {
			return ids, "", err
		}
		ids = append(ids, id)
	}
	return ids, resp.NotificationID, nil
}

// keyOf is the index in thumbs of the key credential (the i-th of a
// response) is bound to, among those not used yet, which it marks used:
// the one its cnf (dc+sd-jwt) or its subject's did:jwk (ldp_vc) names,
// else, when every key got a credential (all), the i-th, in the order of
// the proofs (a format whose binding the wallet does not read). A
// credential that names none of them, or one of such a format in a
// response of fewer credentials than keys, is refused (ErrIssuer).
func keyOf(format string, credential json.RawMessage, thumbs []string, used []bool, i int, all bool) (int, error) {
	bound := func(thumb string) bool { return false }
	switch format {
	case "dc+sd-jwt":
		var cred string
		if json.Unmarshal(credential, &cred) == nil {
			bound = func(thumb string) bool { return checkBound(cred, thumb) == nil }
		}
	case formatLDPVC:
		var doc struct {
			CredentialSubject struct {
				ID string `json:"id"`
			} `json:"credentialSubject"`
		}
		if json.Unmarshal(credential, &doc) == nil {
			bound = func(thumb string) bool { return boundDIDJWK(doc.CredentialSubject.ID, thumb) }
		}
	default:
		if !all {
			return 0, fmt.Errorf("%w: fewer %s credentials than keys proved, and the wallet cannot tell their keys", ErrIssuer, format)
		}
		used[i] = true
		return i, nil
	}
	for j, thumb := range thumbs {
		if !used[j] && bound(thumb) {
			used[j] = true
			return j, nil
		}
	}
	return 0, fmt.Errorf("%w: a credential is not bound to a key the wallet proved", ErrIssuer)
}

// keyProof signs a jwt key proof with the key under alias and returns it
// with the key's JWK thumbprint.
func (w *Holder) keyProof(alias, aud, nonce string) (string, string, error) {
	s, err := newStoreSigner(w.keys, alias)
	if err != nil {
		return "", "", err
	}
	j, err := gm.NewJWK(s.pub, "")
	if err != nil {
		return "", "", err
	}
	thumb, err := j.Thumbprint()
	if err != nil {
		return "", "", err
	}
	j.Use, j.Alg = "", ""
	claims := jwt.MapClaims{"aud": aud, "iat": w.clock().Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	t := jwt.NewWithClaims(gm.SigningMethodSM2, claims)
	t.Header["typ"] = proofTyp
	t.Header["jwk"] = j
	p, err := t.SignedString(s)
	return p, thumb, err
}

// formatLDPVC is a W3C credential with an embedded Data Integrity proof.
const formatLDPVC = "ldp_vc"

// ldpLeeway is the clock skew the wallet allows on a proof's created and
// expires (a phone's clock drifts more than a node's).
const ldpLeeway = 5 * time.Minute

// checkLDP checks an ldp_vc credential before the wallet stores it: it is
// a strict JSON-LD object, its subject is the did:jwk of the key the wallet
// proved (thumbprint thumb), and its issuer is a did:web on the credential
// issuer's own host. Its proof, or proof set or chain, is verified by the
// rules of the node's verifier (dataintegrity.Verifier: every proof
// verifies, one is the issuer's, chains resolve within the set), each
// verification method resolved by ldpKeys; each of the issuer's proofs
// must use a cryptosuite the configuration names.
func (w *Holder) checkLDP(offer *CredentialOffer, suites []string, raw []byte, thumb string) error {
	limits := jsonld.Limits{MaxBytes: maxIssuerResponse}
	doc, err := jsonld.Parse(raw, limits)
	if err != nil {
		return fmt.Errorf("%w: an ldp_vc credential is not a JSON-LD object: %v", ErrIssuer, err)
	}
	subj, _ := doc["credentialSubject"].(map[string]any)
	id, _ := subj["id"].(string)
	if !boundDIDJWK(id, thumb) {
		return fmt.Errorf("%w: a credential is not bound to the key the wallet proved", ErrIssuer)
	}
	iss, _ := doc["issuer"].(string)
	if m, ok := doc["issuer"].(map[string]any); ok {
		iss, _ = m["id"].(string)
	}
	if _, err := didWebURL(iss, offer.issuer); err != nil {
		return err
	}
	v, err := dataintegrity.NewVerifier(dataintegrity.Config{Resolver: &ldpKeys{w: w, issuer: offer.issuer},
		Cryptosuites: dataintegrity.Cryptosuites(), ProofOnly: true, Now: w.clock, Leeway: ldpLeeway, Limits: limits})
	if err != nil {
		return err
	}
	res, err := v.VerifyCredentialMap(context.Background(), doc)
	if err != nil {
		return fmt.Errorf("%w: an ldp_vc credential's proof does not verify: %w", ErrIssuer, err)
	}
	for _, p := range res.Proofs {
		if p.ByController && !slices.Contains(suites, p.Cryptosuite) {
			return fmt.Errorf("%w: an ldp_vc credential is not secured with a cryptosuite its configuration names", ErrIssuer)
		}
	}
	return nil
}

// ldpKeys resolves the verification methods of an ldp_vc's proofs for
// the wallet: a did:web on the credential issuer's host from its DID
// document, fetched from that issuer (once per DID), with the checks the
// node's resolver makes (credentials.DIDDocument.Key: controller,
// assertionMethod, revoked and expires); a did:key or did:jwk
// (a co-signer) from the DID itself. Any other DID is refused: the
// wallet fetches from no other host.
type ldpKeys struct {
	w      *Holder
	issuer string // the credential issuer's URL
	docs   map[string][]byte
}

// ResolveKey implements dataintegrity.KeyResolver.
func (k *ldpKeys) ResolveKey(_ context.Context, controller, vm string) (crypto.PublicKey, error) {
	did, frag, _ := strings.Cut(vm, "#")
	if did != controller || frag == "" {
		return nil, fmt.Errorf("%w: the proof's verification method is not its issuer's (or co-signer's)", ErrIssuer)
	}
	switch {
	case strings.HasPrefix(did, "did:key:"):
		if frag != strings.TrimPrefix(did, "did:key:") {
			return nil, fmt.Errorf("%w: a did:key verification method must be the key's own", ErrIssuer)
		}
		pub, err := multikey.Decode(frag)
		if err != nil {
			return nil, fmt.Errorf("%w: a did:key co-signer's key is unusable: %w", ErrIssuer, err)
		}
		return pub, nil
	case strings.HasPrefix(did, "did:jwk:"):
		raw, err := b64url.DecodeString(strings.TrimPrefix(did, "did:jwk:"))
		var j gm.JWK
		if frag != "0" || err != nil || strictjson.Decode(raw, &j, 8<<10) != nil {
			return nil, fmt.Errorf("%w: a did:jwk co-signer is malformed", ErrIssuer)
		}
		pub, err := j.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("%w: a did:jwk co-signer's key is unusable", ErrIssuer)
		}
		return pub, nil
	}
	docURL, err := didWebURL(did, k.issuer)
	if err != nil {
		return nil, err
	}
	body, ok := k.docs[did]
	if !ok {
		if body, err = k.w.fetch(http.MethodGet, docURL, "", "", nil); err != nil {
			return nil, err
		}
		if k.docs == nil {
			k.docs = map[string][]byte{}
		}
		k.docs[did] = body
	}
	doc, err := vc.ParseControllerDocument(body, did)
	if err != nil {
		return nil, fmt.Errorf("%w: the issuer's DID document is not a valid document of %s: %w", ErrIssuer, truncated(did), err)
	}
	pub, err := doc.AssertionKey(vm, k.w.clock())
	if err != nil {
		return nil, fmt.Errorf("%w: the issuer's key %s: %w", ErrIssuer, truncated(vm), err)
	}
	return pub, nil
}

// didWebURL is the DID document URL of a did:web on the credential
// issuer's host, fetched from that issuer (with its scheme: https, or
// http on loopback for a node under test). Another host is refused: the
// wallet trusts the issuer it got the offer from, and resolves nothing
// else.
func didWebURL(did, issuer string) (string, error) {
	rest, ok := strings.CutPrefix(did, "did:web:")
	if !ok || rest == "" {
		return "", fmt.Errorf("%w: the credential's issuer is not a did:web", ErrIssuer)
	}
	parts := strings.Split(rest, ":")
	host, err := url.PathUnescape(parts[0])
	u, _ := url.Parse(issuer)
	if err != nil || u == nil || host != u.Host {
		return "", fmt.Errorf("%w: the credential's issuer DID is not on the credential issuer's host", ErrIssuer)
	}
	if len(parts) == 1 {
		return u.Scheme + "://" + u.Host + "/.well-known/did.json", nil
	}
	for _, p := range parts[1:] {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "/?#%") {
			return "", fmt.Errorf("%w: the credential's issuer DID has an unusable path", ErrIssuer)
		}
	}
	return u.Scheme + "://" + u.Host + "/" + strings.Join(parts[1:], "/") + "/did.json", nil
}

// boundDIDJWK reports whether did is the did:jwk of the key with
// thumbprint thumb.
func boundDIDJWK(did, thumb string) bool {
	enc, ok := strings.CutPrefix(did, "did:jwk:")
	if !ok || len(enc) > 2048 {
		return false
	}
	raw, err := b64url.DecodeString(enc)
	if err != nil {
		return false
	}
	var j gm.JWK
	if json.Unmarshal(raw, &j) != nil {
		return false
	}
	got, err := j.Thumbprint()
	return err == nil && got == thumb
}

// checkBound checks that an SD-JWT VC's cnf.jwk is the key with thumbprint.
func checkBound(sdjwtVC, thumb string) error {
	issuerJWT, _, _ := strings.Cut(sdjwtVC, "~")
	parts := strings.Split(issuerJWT, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: a credential is not an SD-JWT", ErrIssuer)
	}
	payload, err := b64url.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("%w: a credential is not an SD-JWT", ErrIssuer)
	}
	var c struct {
		Cnf struct {
			JWK gm.JWK `json:"jwk"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return fmt.Errorf("%w: a credential is not an SD-JWT", ErrIssuer)
	}
	got, err := c.Cnf.JWK.Thumbprint()
	if err != nil || got != thumb {
		return fmt.Errorf("%w: a credential is not bound to the key the wallet proved", ErrIssuer)
	}
	return nil
}

// checkURL accepts https URLs, and http ones only on a loopback host
// (a node under test).
func checkURL(s string) error {
	if u, err := url.Parse(s); err != nil || !secureURL(u) {
		return fmt.Errorf("%w: %q is not an https URL", ErrIssuer, truncated(s))
	}
	return nil
}

// secureURL reports whether u is https, or http to localhost or a
// loopback address, with a host and without user information.
func secureURL(u *url.URL) bool {
	if u.Host == "" || u.User != nil {
		return false
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return u.Scheme == "https" || u.Scheme == "http" && (strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback())
}

func truncated(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// wellKnown inserts a well-known suffix between an identifier's host and
// path (RFC 8414 §3.1).
func wellKnown(id, suffix string) (string, error) {
	if err := checkURL(id); err != nil {
		return "", err
	}
	u, _ := url.Parse(id)
	return u.Scheme + "://" + u.Host + suffix + strings.TrimSuffix(u.Path, "/"), nil
}

// fetch makes one request to the issuer and returns a 2xx body (empty
// for 204); an error answer becomes ErrIssuer naming its code.
func (w *Holder) fetch(method, target, contentType, token string, body []byte) ([]byte, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	out, _, _, err := w.send(method, target, contentType, h, body)
	return out, err
}

// send makes one request with the given header fields and returns a 2xx
// body, the response's header and, for an error answer (ErrIssuer), its
// error code.
func (w *Holder) send(method, target, contentType string, h http.Header, body []byte) ([]byte, http.Header, string, error) {
	if err := checkURL(target); err != nil {
		return nil, http.Header{}, "", err
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		return nil, http.Header{}, "", fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	w.mu.Lock()
	client := w.client
	w.mu.Unlock()
	resp, err := client.Do(req)
	if err != nil {
		return nil, http.Header{}, "", fmt.Errorf("%w: %w", ErrIssuer, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxIssuerResponse+1))
	if err != nil || len(out) > maxIssuerResponse {
		return nil, resp.Header, "", fmt.Errorf("%w: unreadable or oversized answer", ErrIssuer)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		json.Unmarshal(out, &e)
		return nil, resp.Header, e.Error, fmt.Errorf("%w: HTTP %d %s: %s", ErrIssuer, resp.StatusCode, e.Error, truncated(e.Description))
	}
	return out, resp.Header, "", nil
}

// parseOfferLink returns the offer of a link given by value, or the
// https URL of an offer given by reference.
func parseOfferLink(link string) (doc []byte, ref string, err error) {
	if len(link) > 16<<10 {
		return nil, "", fmt.Errorf("%w: offer link too long", ErrInvalidArgument)
	}
	var query string
	switch {
	case strings.HasPrefix(link, offerScheme):
		_, query, _ = strings.Cut(strings.TrimPrefix(link, offerScheme), "?")
	case strings.HasPrefix(link, "https://"):
		u, err := url.Parse(link)
		if err != nil {
			return nil, "", fmt.Errorf("%w: offer link: %v", ErrInvalidArgument, err)
		}
		query = u.RawQuery
	default:
		return nil, "", fmt.Errorf("%w: not a credential offer link", ErrInvalidArgument)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, "", fmt.Errorf("%w: offer link query: %v", ErrInvalidArgument, err)
	}
	byValue, byRef := q["credential_offer"], q["credential_offer_uri"]
	switch {
	case len(byValue) == 1 && len(byRef) == 0:
		return []byte(byValue[0]), "", nil
	case len(byRef) == 1 && len(byValue) == 0:
		if err := checkURL(byRef[0]); err != nil {
			return nil, "", err
		}
		return nil, byRef[0], nil
	}
	return nil, "", fmt.Errorf("%w: the link needs exactly one credential_offer or credential_offer_uri", ErrInvalidArgument)
}

// parseOffer checks a credential offer object and returns it with the
// authorization server its grant names (empty when none). Unrecognized
// members are ignored, in the offer and in its grants (OID4VCI 1.0
// §4.1.1: "The Wallet MUST ignore any unrecognized parameters"); a
// repeated member or one of the wrong type is still refused.
func parseOffer(doc []byte) (*CredentialOffer, string, error) {
	var o offerObject
	if err := strictjson.DecodeOpen(doc, &o, 64<<10); err != nil {
		return nil, "", fmt.Errorf("%w: credential offer: %v", ErrIssuer, err)
	}
	if err := checkURL(o.CredentialIssuer); err != nil || len(o.ConfigurationIDs) == 0 {
		return nil, "", fmt.Errorf("%w: the offer needs an https credential_issuer and configuration IDs", ErrIssuer)
	}
	offer := &CredentialOffer{issuer: o.CredentialIssuer, configs: o.ConfigurationIDs}
	var asHint string
	if raw, ok := o.Grants[grantAuthorizationCode]; ok {
		var a authCodeGrant
		if err := strictjson.DecodeOpen(raw, &a, 16<<10); err != nil || len(a.IssuerState) > 1024 {
			return nil, "", fmt.Errorf("%w: the authorization_code grant is malformed", ErrIssuer)
		}
		if a.AuthorizationServer != "" {
			if err := checkURL(a.AuthorizationServer); err != nil {
				return nil, "", err
			}
		}
		offer.authCode, offer.issuerState, asHint = true, a.IssuerState, a.AuthorizationServer
	}
	raw, ok := o.Grants[grantPreAuthorized]
	if !ok {
		if offer.authCode {
			return offer, asHint, nil
		}
		return nil, "", fmt.Errorf("%w: the offer has neither a pre-authorized code nor an authorization_code grant", ErrIssuer)
	}
	var g preAuthGrant
	if err := strictjson.DecodeOpen(raw, &g, 16<<10); err != nil || g.Code == "" {
		return nil, "", fmt.Errorf("%w: the pre-authorized code grant is malformed or has no code", ErrIssuer)
	}
	if g.TxCode != nil && (g.TxCode.Length < 0 || g.TxCode.Length > 64) {
		return nil, "", fmt.Errorf("%w: tx_code length out of range", ErrIssuer)
	}
	offer.code = g.Code
	if g.TxCode != nil {
		offer.txLen, offer.txDesc = max(g.TxCode.Length, 1), g.TxCode.Description
	}
	if g.AuthorizationServer != "" {
		asHint = g.AuthorizationServer
	}
	return offer, asHint, nil
}
