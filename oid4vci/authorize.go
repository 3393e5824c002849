package oid4vci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/claimpath"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
	"github.com/trustid-cn/trustid/store"
)

// The authorization code flow (OID4VCI 1.0 §5, §6): the wallet sends the
// holder to PathAuthorize with the issuer_state of an offer, the holder
// logs in with TrustID's user login (the login page, QR and approval on
// the phone), and the wallet redeems the code at PathToken.

// Protocol identifiers of the authorization code flow.
const (
	GrantAuthorizationCode = "authorization_code"
	// DetailsType is the authorization_details type of OID4VCI.
	DetailsType = "openid_credential"
	// PathAuthorize is the authorization endpoint.
	PathAuthorize = "/oid4vci/authorize"
	// audience names OID4VCI's codes in the login.
	audience = "oid4vci"
)

// Error codes of the authorization code flow (RFC 6749 §4.1.2.1, §5.2,
// RFC 9396 §5).
const (
	CodeInvalidClient               = "invalid_client"
	CodeInvalidScope                = "invalid_scope"
	CodeInvalidAuthorizationDetails = "invalid_authorization_details"
	CodeAccessDenied                = "access_denied"
)

// Login is the node's user login (login.Provider) as the authorization
// code flow uses it: it checks the client, redirect URI and PKCE, runs
// the login session, issues the code, tells whether a code is live,
// and redeems it once.
type Login interface {
	AuthorizeFor(ctx context.Context, q url.Values, x login.Extension) (*login.Started, error)
	CheckFor(ctx context.Context, q url.Values, x login.Extension) error
	Redeem(ctx context.Context, audience string, r login.Redemption) (*login.Redeemed, error)
	Live(ctx context.Context, audience, code string) (bool, error)
	Revoked(ctx context.Context, family string) bool
	Standing(ctx context.Context, approver *login.StatusEntry) error
}

// maxDetails bounds the authorization_details array.
const maxDetails = 8

// authorizationDetail is one authorization_details object (RFC 9396 §2,
// OID4VCI 1.0 §5.1.1).
type authorizationDetail struct {
	Type            string          `json:"type"`
	ConfigurationID string          `json:"credential_configuration_id"`
	Locations       []string        `json:"locations,omitempty"`
	Claims          json.RawMessage `json:"claims"`
}

// RequestedCredential is one openid_credential object of a request's
// authorization_details: a configuration and the claims the wallet asks
// for (nil: the whole credential).
type RequestedCredential struct {
	ConfigurationID string
	Claims          []ClaimDescription
}

// AuthorizationDetail is one authorization_details object of a token
// response: the configuration, the claims granted when the wallet named
// some (RFC 9396 §7: the details as granted), and the credential
// identifiers the wallet names in its credential requests.
type AuthorizationDetail struct {
	Type                  string             `json:"type"`
	ConfigurationID       string             `json:"credential_configuration_id"`
	Claims                []ClaimDescription `json:"claims,omitempty"`
	CredentialIdentifiers []string           `json:"credential_identifiers"`
}

// ParseAuthorizationDetails reads the authorization_details parameter
// (strict JSON: an array of 1 to 8 objects of type openid_credential,
// each naming a credential_configuration_id of this issuer, with
// locations, if any, naming only the issuer, and claims, if any, a valid
// claims array (see ClaimDescription; Appendix B.3 refusals included);
// other members are ignored: OID4VCI 1.0 §5.1.1 makes openid_credential
// "never considered invalid due to unknown fields") and returns the
// configurations, in order. A configuration named twice is taken once,
// unless either names claims (two Credential Datasets of one
// configuration, which this issuer does not issue under one token).
// Errors are *Error with CodeInvalidAuthorizationDetails.
func (s *Service) ParseAuthorizationDetails(raw string) ([]RequestedCredential, error) {
	bad := func(desc string) error { return fail(CodeInvalidAuthorizationDetails, desc) }
	if len(raw) > 4<<10 {
		return nil, bad("authorization_details is too long")
	}
	var list []json.RawMessage
	if err := strictjson.Decode([]byte(raw), &list, 4<<10); err != nil {
		return nil, bad("authorization_details must be a JSON array of objects")
	}
	if len(list) == 0 || len(list) > maxDetails {
		return nil, bad(fmt.Sprintf("authorization_details must hold 1 to %d objects", maxDetails))
	}
	var out []RequestedCredential
	for _, item := range list {
		var d authorizationDetail
		if !bytes.HasPrefix(bytes.TrimSpace(item), []byte("{")) {
			return nil, bad("each authorization_details entry must be an object")
		}
		if err := strictjson.DecodeOpen(item, &d, 4<<10); err != nil {
			return nil, bad("an authorization_details object has a malformed or repeated member")
		}
		if d.Type != DetailsType {
			return nil, bad("authorization_details type must be " + DetailsType)
		}
		for _, l := range d.Locations {
			if strings.TrimSuffix(l, "/") != s.cfg.Issuer {
				return nil, bad("locations may only name this credential issuer")
			}
		}
		c, ok := s.configs[d.ConfigurationID]
		if !ok {
			return nil, bad("unknown credential_configuration_id")
		}
		claims, err := claimpath.Parse(d.Claims)
		if err != nil {
			return nil, bad(err.Error())
		}
		if i := slices.IndexFunc(out, func(r RequestedCredential) bool { return r.ConfigurationID == c.id }); i >= 0 {
			if claims != nil || out[i].Claims != nil {
				return nil, bad("a credential_configuration_id named twice, with claims: name each configuration once")
			}
			continue
		}
		// c.id, not the request's string: it may share the request's buffer.
		out = append(out, RequestedCredential{ConfigurationID: c.id, Claims: claims})
	}
	return out, nil
}

// authorization is what the login carries, sealed, from the
// authorization request to the code: the offer's grant and what was
// granted of it.
type authorization struct {
	Grant grant `json:"g"`
	// Details: the configurations were asked with authorization_details,
	// so the token response returns them with credential identifiers.
	Details bool `json:"d,omitempty"`
	// JKT is the request's dpop_jkt (RFC 9449 §10): the code is redeemed
	// only with a DPoP proof by that key.
	JKT string `json:"jkt,omitempty"`
	// AttestedJKT is the thumbprint of the wallet instance key attested at
	// the push: the code is redeemed only with an attestation of that key
	// (attestation-based client auth §10.4).
	AttestedJKT string `json:"ajkt,omitempty"`
}

// attestedKeyParam carries, inside a pushed request only, the thumbprint
// of the instance key its wallet attestation named; the node sets it,
// never the wallet.
const attestedKeyParam = "trustid_attested_jkt"

// Authorize serves the authorization endpoint: it checks the request
// (the login's checks of client_id, redirect_uri, response_type, state
// and S256 PKCE; then issuer_state, authorization_details or scope), starts
// the holder's login session and, once it is stored, spends the offer's
// issuer_state. The
// wallet client is a public client registered in the client registry for
// the authorization_code grant, with the redirect URI. Errors are
// *login.AuthorizeError: redirected when RedirectURI is set.
func (s *Service) Authorize(ctx context.Context, q url.Values) (*login.Started, error) {
	if s.cfg.Login == nil {
		return nil, &login.AuthorizeError{Err: &login.Error{Code: CodeInvalidRequest, Description: "this issuer has no authorization endpoint"}}
	}
	if q.Has("request_uri") {
		pushed, err := s.pushed(ctx, q)
		if err != nil {
			return nil, err
		}
		q = pushed
	} else {
		if s.cfg.RequireWalletAttestation {
			// Only a pushed request carries the wallet's attestation.
			return nil, &login.AuthorizeError{Err: &login.Error{Code: CodeInvalidRequest, Description: "push the authorization request (PAR) with a wallet attestation, then send its request_uri"}}
		}
		q = maps.Clone(q)
		q.Del(attestedKeyParam)
	}
	return s.cfg.Login.AuthorizeFor(ctx, q, s.extension())
}

// extension is the login extension of the authorization code flow.
func (s *Service) extension() login.Extension {
	return login.Extension{
		Audience: audience,
		Issuer:   s.cfg.Issuer + PathAS,
		Params:   []string{"issuer_state", "authorization_details", "scope", "dpop_jkt", attestedKeyParam},
		Check:    s.checkAuthorization,
		// Wallets are native apps (public clients): a loopback redirect
		// URI is taken on the port the wallet listens on now.
		LoopbackAnyPort: true,
	}
}

// Pushed authorization requests (RFC 9126).
const (
	// PathPAR is the pushed authorization request endpoint.
	PathPAR = "/oid4vci/par"
	// RequestURIPrefix starts the request_uri PAR gives.
	RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// PARTTL is how long a pushed request lives (RFC 9126 §2.2: short;
	// the wallet opens the authorization endpoint at once).
	PARTTL = 90 * time.Second
)

// PARResponse answers a pushed authorization request.
type PARResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int    `json:"expires_in"`
	// DPoPNonce is the next DPoP nonce (DPoP-Nonce header), for a
	// request with a DPoP proof.
	DPoPNonce string `json:"-"`
	// AttestationChallenge is the next wallet attestation challenge
	// (OAuth-Client-Attestation-Challenge header), for a request with a
	// wallet attestation.
	AttestationChallenge string `json:"-"`
}

// PushAuthorizationRequest takes the parameters of an authorization
// request (RFC 9126 §2.1: the form a wallet would put in the query),
// checks them as the authorization endpoint does, without starting the
// login or spending the issuer_state, and keeps them, sealed, for one
// use within PARTTL under a fresh request_uri. The wallet, a public
// client, authenticates by its client_id alone. Errors are
// *login.AuthorizeError without RedirectURI (answered to the wallet, never
// redirected) or *login.Error.
//
// dpopProofs are the request's DPoP header fields (RFC 9449 §10.1): with
// one, checked as at the token endpoint (a server nonce, an unseen jti),
// the code is bound to the proof's key as by dpop_jkt; a dpop_jkt for
// another key is invalid_dpop_proof. A DPoP error is an *Error. The
// nonce the wallet needs next is PARResponse.DPoPNonce, or DPoPNonceOf
// the error: use_dpop_nonce's, or, once the proof was accepted, that of
// any later error (RFC 9449 §8).
//
// att is the request's wallet attestation (checked first, for the
// request's client_id: see ClientAttestation); with one, the answer and
// any error carry a fresh attestation challenge (PARResponse.
// AttestationChallenge, AttestationChallengeOf).
func (s *Service) PushAuthorizationRequest(ctx context.Context, form url.Values, dpopProofs []string, att ClientAttestation) (*PARResponse, error) {
	direct := func(code, desc string) error {
		return &login.AuthorizeError{Err: &login.Error{Code: code, Description: desc}}
	}
	if s.cfg.Login == nil {
		return nil, direct(CodeInvalidRequest, "this issuer has no authorization endpoint")
	}
	if form.Has("request_uri") {
		return nil, direct(CodeInvalidRequest, "a pushed authorization request cannot hold request_uri")
	}
	attested, challenge, err := s.checkAttestation(ctx, att, form.Get("client_id"))
	if err != nil {
		return nil, err
	}
	// The code will be bound to the attested instance key (§10.4).
	form.Del(attestedKeyParam)
	if attested != nil {
		form.Set(attestedKeyParam, attested.JKT)
	}
	var dpopNonce string
	var proof *dpop.Proof
	if len(dpopProofs) > 0 {
		p, nonce, err := s.verifyDPoP(dpopProofs, PathPAR, "")
		if err != nil {
			return nil, withFresh(err, "", challenge)
		}
		if form.Has("dpop_jkt") && (len(form["dpop_jkt"]) != 1 || form.Get("dpop_jkt") != p.JKT) {
			return nil, &Error{Code: CodeInvalidDPoPProof, Description: "dpop_jkt is not the thumbprint of the DPoP proof's key", DPoPNonce: nonce, AttestationChallenge: challenge}
		}
		form.Set("dpop_jkt", p.JKT)
		proof, dpopNonce = p, nonce
	}
	if err := s.checkPush(ctx, form); err != nil {
		// The proof was accepted: the answer carries the next nonce.
		return nil, withFresh(err, dpopNonce, challenge)
	}
	// The proof's jti is marked once the request is one to keep: a
	// refused push writes nothing.
	if proof != nil {
		if err := s.spendDPoP(ctx, proof); err != nil {
			return nil, withFresh(err, "", challenge)
		}
	}
	resp, err := s.push(ctx, form)
	if err != nil {
		return nil, withFresh(err, dpopNonce, challenge)
	}
	resp.DPoPNonce, resp.AttestationChallenge = dpopNonce, challenge
	return resp, nil
}

// checkPush checks a pushed authorization request as the authorization
// endpoint would.
func (s *Service) checkPush(ctx context.Context, form url.Values) error {
	if err := s.cfg.Login.CheckFor(ctx, form, s.extension()); err != nil {
		var ae *login.AuthorizeError
		if errors.As(err, &ae) {
			// Answered to the wallet, which sent it: never redirected.
			return &login.AuthorizeError{Err: ae.Err}
		}
		return err
	}
	return nil
}

// push keeps a pushed authorization request checkPush passed.
func (s *Service) push(ctx context.Context, form url.Values) (*PARResponse, error) {
	id, err := s.random(32)
	if err != nil {
		return nil, err
	}
	if err := s.put(ctx, "par", id, map[string][]string(form), PARTTL); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.Put(ctx, "oid4vci:par-once:"+id, []byte{1}, PARTTL); err != nil {
		s.drop(ctx, "par", id)
		return nil, unavailable(err)
	}
	return &PARResponse{RequestURI: RequestURIPrefix + id, ExpiresIn: int(PARTTL / time.Second)}, nil
}

// pushed returns the parameters a request_uri of PAR names (once), for
// the client_id of the authorization request. Its errors are never
// redirected: the redirect URI is the pushed request's.
func (s *Service) pushed(ctx context.Context, q url.Values) (url.Values, error) {
	direct := func(desc string) error {
		return &login.AuthorizeError{Err: &login.Error{Code: CodeInvalidRequest, Description: desc}}
	}
	if len(q["request_uri"]) != 1 || len(q["client_id"]) != 1 {
		return nil, direct("request_uri and client_id, once each, are required")
	}
	id, ok := strings.CutPrefix(q.Get("request_uri"), RequestURIPrefix)
	if !ok || len(id) != 43 {
		return nil, direct("request_uri is unknown, expired or already used")
	}
	unavailable := &login.Error{Code: CodeTemporarilyUnavailable, Description: "the issuer's store is unavailable; try again"}
	var form map[string][]string
	if err := s.get(ctx, "par", id, &form); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, direct("request_uri is unknown, expired or already used")
		}
		return nil, unavailable
	}
	// Another client's attempt spends nothing: only the client that
	// pushed the request can use (and so spend) it.
	pushed := url.Values(form)
	if pushed.Get("client_id") != q.Get("client_id") {
		return nil, direct("request_uri was pushed by another client")
	}
	if _, err := s.cfg.Store.Consume(ctx, "oid4vci:par-once:"+id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, direct("request_uri is unknown, expired or already used")
		}
		return nil, unavailable
	}
	_ = s.cfg.Store.Delete(ctx, "oid4vci:par:"+id)
	return pushed, nil
}

func (s *Service) checkAuthorization(ctx context.Context, c auth.Client, q url.Values) (*login.ExtensionGrant, error) {
	refuse := func(code, desc string) error { return &login.Error{Code: code, Description: desc} }
	state := q.Get("issuer_state")
	if state == "" {
		return nil, refuse(CodeInvalidRequest, "issuer_state is required: this issuer issues what a relying party offered, to the person it offered it to")
	}
	var g grant
	if len(state) != 43 {
		return nil, refuse(CodeInvalidRequest, "issuer_state is unknown, expired or already used")
	}
	if err := s.get(ctx, "state", state, &g); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, refuse(CodeInvalidRequest, "issuer_state is unknown, expired or already used")
		}
		return nil, err
	}
	var ids []string
	offered := g.Configs
	details := q.Has("authorization_details")
	if details {
		asked, err := s.ParseAuthorizationDetails(q.Get("authorization_details"))
		if err == nil {
			err = s.narrow(&g, asked)
		}
		if err != nil {
			var e *Error
			errors.As(err, &e)
			return nil, refuse(e.Code, e.Description)
		}
		ids = g.Configs
	}
	for _, sc := range strings.Fields(q.Get("scope")) {
		// Scope values are the configurations' scope (their IDs).
		if _, ok := s.configs[sc]; !ok || !slices.Contains(offered, sc) {
			return nil, refuse(CodeInvalidScope, "a scope value names no configuration of the offer")
		}
		if !slices.Contains(ids, sc) {
			ids = append(ids, sc)
		}
	}
	if len(ids) == 0 {
		return nil, refuse(CodeInvalidRequest, "name the credentials with authorization_details (type openid_credential) or scope")
	}
	jkt := q.Get("dpop_jkt")
	if q.Has("dpop_jkt") && (len(jkt) != 43 || strings.Trim(jkt, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "") {
		return nil, refuse(CodeInvalidRequest, "dpop_jkt must be the base64url SHA-256 JWK thumbprint of the DPoP key")
	}
	// §5.1.2: scope and authorization_details are taken together; for a
	// configuration both name, authorization_details rules.
	g.Configs, g.Identifiers = ids, false
	subject, level := g.Subject, identity.Level(g.Level)
	g.Subject, g.Level = "", 0
	data, err := json.Marshal(authorization{Grant: g, Details: details, JKT: jkt, AttestedJKT: q.Get(attestedKeyParam)})
	if err != nil {
		return nil, err
	}
	types := make([]string, 0, len(ids))
	for _, id := range ids {
		if t := s.configs[id].typ; !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	return &login.ExtensionGrant{
		Data: data, SubjectClient: g.Client, RequiredSub: subject, Level: level,
		Purpose: &login.Purpose{Action: login.PurposeReceive, Objects: types, From: g.Client},
		Commit:  func(ctx context.Context) error { return s.spendState(ctx, state) },
	}, nil
}

// spendState spends an offer's issuer_state (one authorization per
// offer). The login calls it once the holder's session is stored, so a
// store failure before then leaves the offer usable; of concurrent
// requests with one state, one wins and the others' sessions are dropped.
func (s *Service) spendState(ctx context.Context, state string) error {
	if _, err := s.cfg.Store.Consume(ctx, "oid4vci:state-once:"+state); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &login.Error{Code: CodeInvalidRequest, Description: "issuer_state is unknown, expired or already used"}
		}
		return unavailable(err)
	}
	// The sealed offer is useless without its once entry; it expires
	// with the offer if this delete fails.
	_ = s.cfg.Store.Delete(ctx, "oid4vci:state:"+state)
	return nil
}

// tokenAuthorizationCode redeems an authorization code for an access token.
// jkt is the request's DPoP key, attestedJKT its attested instance key
// ("" for none).
func (s *Service) tokenAuthorizationCode(ctx context.Context, req TokenRequest, jkt, attestedJKT string) (*TokenResponse, error) {
	if s.cfg.Login == nil {
		return nil, fail(CodeUnsupportedGrantType, "this authorization server supports only the pre-authorized code grant")
	}
	if req.Code == "" || req.RedirectURI == "" || req.ClientID == "" {
		return nil, fail(CodeInvalidRequest, "code, redirect_uri, client_id and code_verifier are required")
	}
	// Malformed authorization_details leaves the code unspent; asking for
	// more than was authorized spends it (it is known only once redeemed).
	details, err := s.tokenDetails(req.AuthorizationDetails)
	if err != nil {
		return nil, err
	}
	r, err := s.cfg.Login.Redeem(ctx, audience, login.Redemption{Code: req.Code, ClientID: req.ClientID, RedirectURI: req.RedirectURI, Verifier: req.CodeVerifier})
	if err != nil {
		var e *login.Error
		if errors.As(err, &e) {
			switch e.Code {
			case login.CodeInvalidRequest, login.CodeInvalidGrant:
				return nil, fail(e.Code, e.Description)
			case login.CodeTemporarilyUnavailable:
				return nil, &Error{Code: CodeTemporarilyUnavailable, Description: e.Description, Err: err}
			}
		}
		return nil, &Error{Code: CodeServerError, Description: "internal error", Err: err}
	}
	var a authorization
	if err := decode(r.Data, &a); err != nil {
		return nil, &Error{Code: CodeServerError, Description: "stored authorization", Err: err}
	}
	if a.JKT != "" && a.JKT != jkt {
		// RFC 9449 §10: the code was bound to a DPoP key (dpop_jkt); it is
		// spent, so a stolen code is of no use with another key.
		return nil, fail(CodeInvalidGrant, "the authorization code is bound (dpop_jkt) to a DPoP key this request has no proof of")
	}
	if a.AttestedJKT != "" && a.AttestedJKT != attestedJKT {
		// The push was attested: only that wallet instance redeems the
		// code (spent now).
		return nil, fail(CodeInvalidGrant, "the authorization code is bound to the wallet instance attested at the push: send an attestation of that instance's key")
	}
	a.Grant.Family, a.Grant.Approver, a.Grant.Identifiers, a.Grant.JKT = r.Family, r.Approver, a.Details, jkt
	// §6.1: a subset of the authorization (RFC 9396 §6.1).
	if err := s.narrow(&a.Grant, details); err != nil {
		return nil, err
	}
	return s.issueToken(ctx, a.Grant)
}
