package oid4vci

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/login"
	"math/big"
	"net/url"
	"slices"
	"time"

	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// OfferRequest is what a relying party asks to offer a holder.
type OfferRequest struct {
	// Client is the OAuth client ID of the relying party making the offer;
	// the credential is issued as it (under its issuer DID), so it must be
	// accredited for the type.
	Client string
	// ConfigurationIDs are the credential configurations offered (the
	// same credential in one or both formats).
	ConfigurationIDs []string
	// Credential is the unsigned W3C credential (as for POST
	// /credentials/issue): its types must include every offered
	// configuration's type. It is sealed under the pre-authorized code and
	// never stored in clear. For a jwt_vc_json configuration it must not
	// set credentialSubject.id: the node binds it to the holder's key.
	Credential map[string]any
	// TxCode asks for a transaction code the holder must type in (sent to
	// them on another channel by the relying party).
	TxCode bool
	// ByReference puts credential_offer_uri in the link instead of the
	// offer itself.
	ByReference bool
	// AuthorizationCode makes an offer of the authorization code grant
	// (with an issuer_state) instead of a pre-authorized code: the holder
	// logs in with TrustID at the authorization endpoint, and only the
	// person named by Subject can take the credential. No TxCode then.
	AuthorizationCode bool
	// Subject is required with AuthorizationCode: the holder's pairwise
	// subject for the offering client's sector (the sub its own TrustID
	// login or QR redemption gave it for that person).
	Subject string
	// Level (AuthorizationCode only) is the assurance the holder's
	// approval must reach: zero or identity.L2 for the bound device, L3
	// for the device and the PIN, L4 for a PIN over a binding enrolled
	// with a face match.
	Level identity.Level
}

// Offer is a credential offer made for one holder.
type Offer struct {
	// JSON is the credential offer object.
	JSON []byte
	// URI is the openid-credential-offer:// link (by value or by reference).
	URI string
	// TxCode is the transaction code to give the holder on another
	// channel; empty when none was asked for. It is not stored anywhere.
	TxCode string
	// ExpiresIn is the offer's life in seconds.
	ExpiresIn int
}

// QRPNG renders the offer link as a PNG QR code of the given size in pixels.
func (o *Offer) QRPNG(size int) ([]byte, error) {
	b, err := qrcode.Encode(o.URI, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	return b.PNG(size)
}

// grant is the sealed record of a pre-authorized code and, after the
// token request, of an access token.
type grant struct {
	Client     string         `json:"c"`
	Configs    []string       `json:"cfg"`
	Credential map[string]any `json:"vc"`
	TxHash     []byte         `json:"tx,omitempty"`
	// Subject is the only person (pairwise sub at Client's sector) who may
	// take an authorization code offer.
	Subject string `json:"sub,omitempty"`
	// Level is the assurance an authorization code offer's approval must
	// reach (0: the login's least, L2).
	Level int `json:"lvl,omitempty"`
	// Family is the login grant an authorization code's access token came
	// from: a replayed code revokes it.
	Family string `json:"fam,omitempty"`
	// Approver is the status entry of the device binding that approved
	// that login: once it is revoked or suspended (a phone reported
	// lost), the access token stops working.
	Approver *login.StatusEntry `json:"ap,omitempty"`
	// Identifiers: the token response gave credential identifiers, which
	// credential requests must use (OID4VCI 1.0 §8.2).
	Identifiers bool `json:"ids,omitempty"`
	// JKT is the thumbprint of the key an access token is bound to
	// (DPoP, RFC 9449), empty for a Bearer token.
	JKT string `json:"jkt,omitempty"`
	// Claims are, by configuration, the claims the wallet asked for in
	// authorization_details (none: the whole credential); the issued
	// credential keeps only those (see ClaimDescription).
	Claims map[string][]ClaimDescription `json:"cl,omitempty"`
	// Expires is when an access token's grant ends (Unix seconds; 0 in
	// tokens of older nodes).
	Expires int64 `json:"exp,omitempty"`
	// Issued: every configuration of the access token was issued (or
	// refused), and the grant kept only what the notification endpoint
	// checks (Service.retire).
	Issued bool `json:"issued,omitempty"`
}

// maxOfferConfigs bounds the configurations of one offer.
const maxOfferConfigs = 4

// checkLDP checks, when an offer is made, that its credential can be
// issued as ldp_vc: its @context begins with the configuration's
// credential_definition @context, and every term is defined by a context
// (the issuer refuses the issuer-dependent vocabulary before signing).
func checkLDP(cred map[string]any, want []string) error {
	got, _ := cred["@context"].([]any)
	if len(got) < len(want) {
		return fmt.Errorf("%w: for ldp_vc the credential's @context must begin with %v", ErrInvalid, want)
	}
	for i, w := range want {
		if got[i] != w {
			return fmt.Errorf("%w: for ldp_vc the credential's @context must begin with %v", ErrInvalid, want)
		}
	}
	probe, err := clone(cred)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if subj, ok := probe["credentialSubject"].(map[string]any); ok {
		subj["id"] = "did:example:holder" // as the node will set it
	}
	if err := jsonld.CheckDefinedTerms(probe); err != nil {
		return fmt.Errorf("%w: for ldp_vc every term must be defined by a context: %v", ErrInvalid, err)
	}
	return nil
}

// CreateOffer makes an offer with a fresh pre-authorized code.
func (s *Service) CreateOffer(ctx context.Context, req OfferRequest) (*Offer, error) {
	if req.Client == "" {
		return nil, fmt.Errorf("%w: no client", ErrInvalid)
	}
	if len(req.ConfigurationIDs) == 0 || len(req.ConfigurationIDs) > maxOfferConfigs {
		return nil, fmt.Errorf("%w: offer 1 to %d credential configurations", ErrInvalid, maxOfferConfigs)
	}
	types, err := credentialTypes(req.Credential)
	if err != nil {
		return nil, err
	}
	if _, ok := req.Credential["id"]; ok {
		return nil, fmt.Errorf("%w: the credential's top-level id would be copied into every credential of a batch and link them; leave it out", ErrInvalid)
	}
	// The same for a status entry: each credential gets its own from the
	// node (an SD-JWT VC refuses one of the request's anyway).
	if _, ok := req.Credential["credentialStatus"]; ok {
		return nil, fmt.Errorf("%w: the credential's credentialStatus would be copied into every credential of a batch and link them (the node gives each its own status entry); leave it out", ErrInvalid)
	}
	for i, id := range req.ConfigurationIDs {
		c, ok := s.configs[id]
		if !ok {
			return nil, fmt.Errorf("%w: unknown credential configuration %q", ErrInvalid, truncate(id))
		}
		if slices.Contains(req.ConfigurationIDs[:i], id) {
			return nil, fmt.Errorf("%w: configuration %q listed twice", ErrInvalid, id)
		}
		if !slices.Contains(types, c.typ) {
			return nil, fmt.Errorf("%w: the credential's types do not include %s", ErrInvalid, c.typ)
		}
		if c.format == FormatJWTVC || c.format == FormatLDPVC {
			if subj, _ := req.Credential["credentialSubject"].(map[string]any); subj != nil && subj["id"] != nil {
				return nil, fmt.Errorf("%w: for %s the node sets credentialSubject.id to the holder's key; leave it out", ErrInvalid, c.format)
			}
		}
		if c.format == FormatLDPVC {
			if err := checkLDP(req.Credential, c.contexts); err != nil {
				return nil, err
			}
		}
	}
	if req.AuthorizationCode {
		switch {
		case s.cfg.Login == nil:
			return nil, fmt.Errorf("%w: this issuer has no authorization endpoint (user login is not mounted)", ErrInvalid)
		case req.TxCode:
			return nil, fmt.Errorf("%w: a transaction code goes with the pre-authorized code grant only", ErrInvalid)
		case !validSubject(req.Subject):
			return nil, fmt.Errorf("%w: an authorization code offer names its holder: subject, the pairwise sub your TrustID login gave you for them", ErrInvalid)
		}
		if req.Level != 0 && (req.Level < identity.L2 || req.Level > identity.L4) {
			return nil, fmt.Errorf("%w: level must be L2, L3 or L4", ErrInvalid)
		}
	} else if req.Subject != "" || req.Level != 0 {
		return nil, fmt.Errorf("%w: subject and level go with the authorization code grant only (a pre-authorized code goes to whoever holds the link)", ErrInvalid)
	}
	if c, ok := s.cfg.Signer.(OfferChecker); ok {
		if err := c.CheckOffer(ctx, req.Client, req.Credential); err != nil {
			return nil, err
		}
	}
	if req.AuthorizationCode {
		return s.createAuthorizationOffer(ctx, req)
	}
	code, err := s.random(32)
	if err != nil {
		return nil, err
	}
	g := grant{Client: req.Client, Configs: slices.Clone(req.ConfigurationIDs), Credential: req.Credential}
	preAuth := map[string]any{"pre-authorized_code": code}
	var tx string
	if req.TxCode {
		if tx, err = s.digits(s.cfg.TxCodeLength); err != nil {
			return nil, err
		}
		h := sha256.Sum256([]byte(tx))
		g.TxHash = h[:]
		preAuth["tx_code"] = map[string]any{
			"input_mode": "numeric", "length": s.cfg.TxCodeLength,
			"description": "请输入发证方另行发送给您的交易码 / Enter the transaction code the issuer sent you",
		}
	}
	if err := s.put(ctx, "code", code, g, s.cfg.OfferTTL); err != nil {
		return nil, err
	}
	// The single-use half: Token consumes it, so exactly one redemption
	// wins however many race.
	if err := s.cfg.Store.Put(ctx, "oid4vci:redeem:"+code, []byte{1}, s.cfg.OfferTTL); err != nil {
		s.drop(ctx, "code", code)
		return nil, unavailable(err)
	}
	doc, err := json.Marshal(map[string]any{
		"credential_issuer":            s.cfg.Issuer,
		"credential_configuration_ids": req.ConfigurationIDs,
		"grants":                       map[string]any{GrantPreAuthorized: preAuth},
	})
	var o *Offer
	if err == nil {
		o, err = s.link(ctx, doc, tx, req.ByReference)
	}
	if err != nil {
		s.drop(ctx, "code", code)
		return nil, err
	}
	return o, nil
}

// createAuthorizationOffer makes an offer of the authorization code grant
// with a fresh issuer_state, single use, under which the offer's grant is
// sealed.
func (s *Service) createAuthorizationOffer(ctx context.Context, req OfferRequest) (*Offer, error) {
	state, err := s.random(32)
	if err != nil {
		return nil, err
	}
	g := grant{Client: req.Client, Configs: slices.Clone(req.ConfigurationIDs), Credential: req.Credential, Subject: req.Subject, Level: int(req.Level)}
	if err := s.put(ctx, "state", state, g, s.cfg.OfferTTL); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.Put(ctx, "oid4vci:state-once:"+state, []byte{1}, s.cfg.OfferTTL); err != nil {
		s.drop(ctx, "state", state)
		return nil, unavailable(err)
	}
	doc, err := json.Marshal(map[string]any{
		"credential_issuer":            s.cfg.Issuer,
		"credential_configuration_ids": req.ConfigurationIDs,
		"grants":                       map[string]any{GrantAuthorizationCode: map[string]any{"issuer_state": state}},
	})
	var o *Offer
	if err == nil {
		o, err = s.link(ctx, doc, "", req.ByReference)
	}
	if err != nil {
		s.drop(ctx, "state", state)
		return nil, err
	}
	return o, nil
}

// validSubject accepts a pairwise subject: 8 to 255 printable ASCII
// characters without spaces.
func validSubject(sub string) bool {
	if len(sub) < 8 || len(sub) > 255 {
		return false
	}
	for i := 0; i < len(sub); i++ {
		if sub[i] <= ' ' || sub[i] > '~' {
			return false
		}
	}
	return true
}

// link makes the offer's link, by value or by reference.
func (s *Service) link(ctx context.Context, doc []byte, tx string, byReference bool) (*Offer, error) {
	o := &Offer{JSON: doc, TxCode: tx, ExpiresIn: int(s.cfg.OfferTTL / time.Second)}
	if byReference {
		ref, err := s.random(18)
		if err != nil {
			return nil, err
		}
		if err := s.put(ctx, "offer", ref, json.RawMessage(doc), s.cfg.OfferTTL); err != nil {
			return nil, err
		}
		o.URI = OfferScheme + "?credential_offer_uri=" + url.QueryEscape(s.cfg.Issuer+PathOffers+"/"+ref)
	} else {
		o.URI = OfferScheme + "?credential_offer=" + url.QueryEscape(string(doc))
	}
	return o, nil
}

// OfferByReference returns the offer stored under a credential_offer_uri
// reference; ErrNotFound when there is none or it expired.
func (s *Service) OfferByReference(ctx context.Context, ref string) ([]byte, error) {
	if len(ref) != 24 {
		return nil, ErrNotFound
	}
	var doc json.RawMessage
	if err := s.get(ctx, "offer", ref, &doc); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, unavailable(err)
	}
	// link stores the offer object; a damaged record is not served as one.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil || obj == nil {
		return nil, &Error{Code: CodeServerError, Description: "stored record", Err: errors.New("oid4vci: the stored offer is not an object")}
	}
	return doc, nil
}

// credentialTypes checks the shape of an offered credential and returns
// its types.
func credentialTypes(c map[string]any) ([]string, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: no credential", ErrInvalid)
	}
	raw, _ := c["type"].([]any)
	var types []string
	for _, t := range raw {
		if s, ok := t.(string); ok {
			types = append(types, s)
		}
	}
	if len(types) == 0 || len(types) != len(raw) {
		return nil, fmt.Errorf("%w: the credential's type must be an array of strings", ErrInvalid)
	}
	if _, ok := c["credentialSubject"].(map[string]any); !ok {
		return nil, fmt.Errorf("%w: the credential needs one credentialSubject object", ErrInvalid)
	}
	return types, nil
}

// digits returns n uniformly random decimal digits.
func (s *Service) digits(n int) (string, error) {
	out := make([]byte, n)
	ten := big.NewInt(10)
	for i := range out {
		d, err := rand.Int(s.cfg.Rand, ten)
		if err != nil {
			return "", &Error{Code: CodeServerError, Description: "no randomness", Err: err}
		}
		out[i] = byte('0' + d.Int64())
	}
	return string(out), nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// TokenRequest is a token request of the pre-authorized code or the
// authorization code grant.
type TokenRequest struct {
	GrantType         string
	PreAuthorizedCode string
	TxCode            string
	// AuthorizationDetails is the authorization_details parameter (RFC
	// 9396, OID4VCI 1.0 §6.1), "" when not sent: the configurations of
	// the offer (or of the authorization) the token is asked for.
	AuthorizationDetails string
	// The authorization code grant's: the code, the PKCE verifier, the
	// redirect URI of the authorization request and the wallet's
	// client_id (a public client).
	Code, CodeVerifier, RedirectURI, ClientID string
	// DPoP are the values of the request's DPoP header fields: with one
	// valid proof the access token is bound to its key (RFC 9449).
	DPoP []string
	// Attestation is the request's wallet attestation, if any.
	Attestation ClientAttestation
}

// TokenResponse is the token endpoint's answer.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	// AuthorizationDetails answers authorization_details of the
	// authorization or the token request (OID4VCI 1.0 §6.2).
	AuthorizationDetails []AuthorizationDetail `json:"authorization_details,omitempty"`
	// DPoPNonce is the next DPoP nonce (DPoP-Nonce header), for a DPoP
	// request.
	DPoPNonce string `json:"-"`
	// AttestationChallenge is the next wallet attestation challenge, for
	// a request with a wallet attestation.
	AttestationChallenge string `json:"-"`
}

// Token redeems a pre-authorized code (once) for an access token. A
// wallet attestation, when the request has one or the issuer requires
// it, is checked first (its client_id, when sent, must be the
// attestation's sub). A
// wrong transaction code counts against the offer; after TxCodeTries
// wrong codes the offer is void (invalid_grant) and the holder asks the
// relying party for a new one: the lockout binds the offer, never the
// holder.
func (s *Service) Token(ctx context.Context, req TokenRequest) (*TokenResponse, error) {
	// The wallet attestation and the proof are checked before any code
	// is spent: a bad one, or one without the server's challenge or
	// nonce, leaves the code for the retry.
	attested, challenge, err := s.checkAttestation(ctx, req.Attestation, req.ClientID)
	if err != nil {
		return nil, err
	}
	attestedJKT := ""
	if attested != nil {
		attestedJKT = attested.JKT
	}
	p, nonce, err := s.verifyDPoP(req.DPoP, PathToken, "")
	if err != nil {
		return nil, withFresh(err, "", challenge)
	}
	jkt := ""
	if p != nil {
		jkt = p.JKT
		// Its jti is marked before any code is spent, but only for a
		// live code: a made-up one writes nothing (invalid_grant below).
		live, err := s.codeLive(ctx, req)
		if err != nil {
			return nil, withFresh(err, "", challenge)
		}
		if live {
			if err := s.spendDPoP(ctx, p); err != nil {
				return nil, withFresh(err, "", challenge)
			}
		}
	}
	var resp *TokenResponse
	if req.GrantType == GrantAuthorizationCode {
		resp, err = s.tokenAuthorizationCode(ctx, req, jkt, attestedJKT)
	} else {
		resp, err = s.tokenPreAuthorized(ctx, req, jkt)
	}
	if err != nil {
		// The proof was accepted: the error carries the next nonce.
		return nil, withFresh(err, nonce, challenge)
	}
	resp.DPoPNonce, resp.AttestationChallenge = nonce, challenge
	return resp, nil
}

// codeLive reports whether req names a code that is live (issued,
// unexpired, unspent), reading only.
func (s *Service) codeLive(ctx context.Context, req TokenRequest) (bool, error) {
	var err error
	switch {
	case req.GrantType == GrantPreAuthorized && len(req.PreAuthorizedCode) == 43:
		_, err = s.cfg.Store.Peek(ctx, "oid4vci:redeem:"+req.PreAuthorizedCode)
	case req.GrantType == GrantAuthorizationCode && s.cfg.Login != nil:
		var live bool
		live, err = s.cfg.Login.Live(ctx, audience, req.Code)
		if err == nil && !live {
			err = store.ErrNotFound
		}
	default:
		return false, nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, unavailable(err)
	}
	return true, nil
}

// tokenPreAuthorized redeems a pre-authorized code, binding the token to
// jkt when set.
func (s *Service) tokenPreAuthorized(ctx context.Context, req TokenRequest, jkt string) (*TokenResponse, error) {
	if req.GrantType == "" {
		// RFC 6749 §5.2: a missing required parameter is invalid_request.
		return nil, fail(CodeInvalidRequest, "grant_type is missing")
	}
	if req.GrantType != GrantPreAuthorized {
		return nil, fail(CodeUnsupportedGrantType, "grant_type must be the pre-authorized code grant or authorization_code")
	}
	if req.PreAuthorizedCode == "" {
		return nil, fail(CodeInvalidRequest, "pre-authorized_code is required")
	}
	if len(req.PreAuthorizedCode) != 43 {
		return nil, fail(CodeInvalidGrant, "the pre-authorized code is unknown, expired or already used")
	}
	details, err := s.tokenDetails(req.AuthorizationDetails)
	if err != nil {
		return nil, err
	}
	code := req.PreAuthorizedCode
	var g grant
	if err := s.get(ctx, "code", code, &g); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fail(CodeInvalidGrant, "the pre-authorized code is unknown, expired or already used")
		}
		return nil, unavailable(err)
	}
	// Checked before anything counts or spends the code.
	if err := s.narrow(&g, details); err != nil {
		return nil, err
	}
	switch {
	case g.TxHash == nil && req.TxCode != "":
		return nil, fail(CodeInvalidRequest, "this offer has no transaction code; send none")
	case g.TxHash != nil && req.TxCode == "":
		return nil, fail(CodeInvalidRequest, "tx_code is required for this offer")
	case g.TxHash != nil:
		// TxCodeTries over the offer's life: one try comes back each
		// OfferTTL, when the offer is gone.
		d, err := s.cfg.Store.Allow(ctx, "oid4vci:txtry:"+code, s.cfg.TxCodeTries, time.Duration(s.cfg.TxCodeTries)*s.cfg.OfferTTL)
		if err != nil {
			return nil, unavailable(err)
		}
		h := sha256.Sum256([]byte(req.TxCode))
		if !d.Allowed || subtle.ConstantTimeCompare(h[:], g.TxHash) != 1 {
			if !d.Allowed || d.Remaining == 0 {
				if err := s.cfg.Store.Delete(ctx, "oid4vci:code:"+code); err != nil {
					return nil, unavailable(err)
				}
				return nil, fail(CodeInvalidGrant, "wrong transaction code; too many tries, so this offer is void: ask the issuer for a new offer")
			}
			return nil, fail(CodeInvalidGrant, txCodeTriesLeft(d.Remaining))
		}
	}
	// Exactly one redemption wins, however many race.
	if _, err := s.cfg.Store.Consume(ctx, "oid4vci:redeem:"+code); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fail(CodeInvalidGrant, "the pre-authorized code is unknown, expired or already used")
		}
		return nil, unavailable(err)
	}
	if err := s.cfg.Store.Delete(ctx, "oid4vci:code:"+code); err != nil {
		return nil, unavailable(err)
	}
	g.TxHash, g.JKT = nil, jkt
	return s.issueToken(ctx, g)
}

// tokenDetails reads a token request's authorization_details (nil when
// none was sent).
func (s *Service) tokenDetails(raw string) ([]RequestedCredential, error) {
	if raw == "" {
		return nil, nil
	}
	return s.ParseAuthorizationDetails(raw)
}

// narrow limits g to the configurations and claims authorization_details
// asked for (none: all of g's), which g must cover (RFC 9396 §6.1: a
// token request asks for no more than the authorization): a
// configuration g grants, and, where g already limits its claims,
// claims within those (none asked: g's stay). A mandatory claim the
// offered credential does not have is refused. The token response then
// names the configurations with credential identifiers (OID4VCI 1.0 §6.2).
func (s *Service) narrow(g *grant, asked []RequestedCredential) error {
	if asked == nil {
		return nil
	}
	subject, _ := g.Credential["credentialSubject"].(map[string]any)
	ids := make([]string, len(asked))
	claims := map[string][]ClaimDescription{}
	for i, a := range asked {
		if !slices.Contains(g.Configs, a.ConfigurationID) {
			return fail(CodeInvalidAuthorizationDetails, "a credential_configuration_id is not one the offer (or the authorization) grants")
		}
		ids[i] = a.ConfigurationID
		c, granted := s.configs[a.ConfigurationID], g.Claims[a.ConfigurationID]
		if a.Claims == nil {
			if granted != nil {
				claims[c.id] = granted
			}
			continue
		}
		for _, d := range a.Claims {
			if granted != nil && !within(c, granted, d.Path) {
				return fail(CodeInvalidAuthorizationDetails, "the claims ask for more than the authorization granted")
			}
		}
		if err := checkClaims(c, a.Claims, subject); err != nil {
			return err
		}
		claims[c.id] = a.Claims
	}
	g.Configs, g.Identifiers, g.Claims = ids, true, nil
	if len(claims) > 0 {
		g.Claims = claims
	}
	return nil
}

// issueToken makes an access token for grant g, each configuration of it
// issuable once. When g has credential identifiers the response names
// them in authorization_details: one per configuration, its ID.
func (s *Service) issueToken(ctx context.Context, g grant) (*TokenResponse, error) {
	tok, err := s.random(32)
	if err != nil {
		return nil, err
	}
	g.Expires = s.cfg.Now().Add(s.cfg.TokenTTL).Unix()
	if err := s.put(ctx, "token", tok, g, s.cfg.TokenTTL); err != nil {
		return nil, err
	}
	// Each configuration is issued once under the token: the credential
	// endpoint consumes its entry.
	for _, c := range g.Configs {
		if err := s.cfg.Store.Put(ctx, issueKey(c, tok), []byte{1}, s.cfg.TokenTTL); err != nil {
			s.drop(ctx, "token", tok)
			return nil, unavailable(err)
		}
	}
	typ := "Bearer"
	if g.JKT != "" {
		typ = "DPoP"
	}
	resp := &TokenResponse{AccessToken: tok, TokenType: typ, ExpiresIn: int(s.cfg.TokenTTL / time.Second)}
	if g.Identifiers {
		for _, id := range g.Configs {
			resp.AuthorizationDetails = append(resp.AuthorizationDetails, AuthorizationDetail{Type: DetailsType, ConfigurationID: id, Claims: g.Claims[id], CredentialIdentifiers: []string{id}})
		}
	}
	return resp, nil
}

// issueKey names the single-use entry of one configuration under one
// access token.
func issueKey(config, token string) string { return "oid4vci:issue:" + config + ":" + token }

// txCodeTriesLeft is the refusal of a wrong transaction code with the
// tries the offer has left: "(1 try left)", "(4 tries left)".
func txCodeTriesLeft(n int) string {
	if n == 1 {
		return "wrong transaction code (1 try left)"
	}
	return fmt.Sprintf("wrong transaction code (%d tries left)", n)
}
