package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/accessclaims"
	"github.com/trustid-cn/trustid/store"
)

// Credentials are what a request to the token, introspection or revocation
// endpoint carries to authenticate its client. The api package fills them
// from the Authorization header and the form.
type Credentials struct {
	// Basic reports that an HTTP Basic Authorization header was sent, with
	// BasicID and BasicSecret already form-decoded (RFC 6749 §2.3.1).
	Basic       bool
	BasicID     string
	BasicSecret string
	// ClientID is the client_id form parameter, if any.
	ClientID string
	// ClientSecret is a client_secret form parameter (client_secret_post),
	// which the node refuses: invalid_client alone (a method it does not
	// support), invalid_request beside another method.
	ClientSecret string
	// AssertionType and Assertion are client_assertion_type and
	// client_assertion (private_key_jwt).
	AssertionType string
	Assertion     string
}

// AuthenticateClient authenticates the caller of the token, introspection
// or revocation endpoint with exactly one method: private_key_jwt or, for
// clients registered so, client_secret_basic. Errors match
// ErrInvalidClient (401), ErrInvalidRequest, or ErrUnavailable.
func (s *Service) AuthenticateClient(ctx context.Context, cred Credentials) (Client, error) {
	return s.authenticate(ctx, cred, false)
}

// AuthenticateIntrospector is AuthenticateClient for the introspection
// endpoint: it also authenticates a party of another region
// (Config.Visitors), which Introspect answers only about its own tokens
// of its home region.
func (s *Service) AuthenticateIntrospector(ctx context.Context, cred Credentials) (Client, error) {
	return s.authenticate(ctx, cred, true)
}

func (s *Service) authenticate(ctx context.Context, cred Credentials, visitors bool) (Client, error) {
	methods := 0
	if cred.Basic {
		methods++
	}
	if cred.Assertion != "" || cred.AssertionType != "" {
		methods++
	}
	if cred.ClientSecret != "" {
		methods++
	}
	// RFC 6749 §5.2: more than one method is invalid_request; none, or
	// one the node does not support (client_secret_post), invalid_client.
	switch {
	case methods > 1:
		return Client{}, fail(ErrInvalidRequest, "use exactly one client authentication method")
	case cred.ClientSecret != "":
		return Client{}, fail(ErrInvalidClient, "client_secret in the request body (client_secret_post) is not supported; use HTTP Basic (client_secret_basic) or private_key_jwt")
	case methods == 0:
		return Client{}, fail(ErrInvalidClient, "client authentication is required (private_key_jwt or client_secret_basic)")
	}
	var (
		c   Client
		err error
	)
	if cred.Basic {
		c, err = s.authenticateBasic(ctx, cred.BasicID, cred.BasicSecret, visitors)
	} else {
		c, err = s.authenticateAssertion(ctx, cred.AssertionType, cred.Assertion, visitors)
	}
	if err != nil {
		return Client{}, err
	}
	if cred.ClientID != "" && cred.ClientID != c.ID {
		return Client{}, fail(ErrInvalidClient, "client_id does not match the authenticated client")
	}
	return c, nil
}

// getClient reads client id from the registry or, with visitors, when
// the registry has none, from Config.Visitors as a visiting client.
func (s *Service) getClient(ctx context.Context, id string, visitors bool) (Client, error) {
	c, err := s.clients.Get(ctx, id)
	if errors.Is(err, ErrClientNotFound) && visitors && s.visitors != nil {
		c, err = s.visitors.Get(ctx, id)
		c.visiting = err == nil
	}
	if errors.Is(err, ErrClientNotFound) {
		return Client{}, err
	}
	if err != nil {
		return Client{}, failWith(ErrUnavailable, err, "client registry unavailable")
	}
	return c, nil
}

// clientAuthFailed is the one description of every client-authentication
// failure that depends on the registry (unknown, disabled or
// wrongly-registered client, wrong secret, key or signature), so that the
// token endpoint does not tell registered client IDs from others. The
// cause goes to the log only.
const clientAuthFailed = "client authentication failed"

// authFailed is the failure of clientAuthFailed with its cause.
func authFailed(cause string) *Error {
	return failWith(ErrInvalidClient, errors.New(cause), clientAuthFailed)
}

// authenticateBasic checks HTTP Basic credentials. An unknown client's
// secret is checked against a decoy hash, so that it costs what a
// registered client's does.
func (s *Service) authenticateBasic(ctx context.Context, id, secret string, visitors bool) (Client, error) {
	if !ValidClientID(id) {
		return Client{}, fail(ErrInvalidClient, clientAuthFailed)
	}
	c, err := s.getClient(ctx, id, visitors)
	if errors.Is(err, ErrClientNotFound) {
		s.decoy.secret.verify(secret)
		return Client{}, authFailed("unknown client")
	}
	if err != nil {
		return Client{}, err
	}
	v, err := s.secrets.get(c.SecretHash, SecretHash.verifier, SecretHash.clone)
	if err != nil || c.AuthMethod != AuthClientSecretBasic {
		v = s.decoy.secret
	}
	ok := v.verify(secret) && err == nil
	switch {
	case c.AuthMethod != AuthClientSecretBasic:
		return Client{}, authFailed("the client authenticates with " + c.AuthMethod)
	case !ok:
		return Client{}, authFailed("wrong secret")
	case c.Disabled:
		return Client{}, authFailed("client is disabled")
	}
	return c, nil
}

// assertionClaims are the claims of a client assertion (RFC 7523 §3).
type assertionClaims struct {
	jwt.RegisteredClaims
}

// authenticateAssertion checks a private_key_jwt client assertion: signed
// with SM2 or ES256 by a key in the client's JWKS (the header's kid, or
// any key of the client when there is none), iss = sub = client_id, aud
// the token endpoint or the issuer, exp present and at most
// MaxAssertionAge ahead, iat not in the future, and jti never seen before
// (kept in the ephemeral store until exp plus leeway).
func (s *Service) authenticateAssertion(ctx context.Context, typ, assertion string, visitors bool) (Client, error) {
	if typ != AssertionType {
		return Client{}, fail(ErrInvalidClient, "client_assertion_type must be %s", AssertionType)
	}
	if assertion == "" {
		return Client{}, fail(ErrInvalidClient, "client_assertion is missing")
	}
	if len(assertion) > maxTokenLen {
		return Client{}, fail(ErrInvalidClient, "client_assertion is too long")
	}
	var (
		claims  assertionClaims
		client  Client
		keyErr  error
		lookups int
	)
	// refused is set when the registry refuses the client (unknown,
	// disabled, another method, no such key): the signature is then
	// checked against a decoy key, so that the answer and its cost are
	// those of a registered client's bad signature.
	var refused string
	_, err := s.assertionParser.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
		lookups++
		if _, ok := t.Header["crit"]; ok {
			keyErr = fail(ErrInvalidClient, "client_assertion has critical header parameters the node does not understand")
			return nil, keyErr
		}
		if !ValidClientID(claims.Issuer) {
			keyErr = fail(ErrInvalidClient, "client_assertion iss is not a valid client_id")
			return nil, keyErr
		}
		alg := t.Method.Alg()
		decoy := func(cause string) (any, error) {
			refused = cause
			return s.decoy.keys[alg], nil
		}
		c, err := s.getClient(ctx, claims.Issuer, visitors)
		if errors.Is(err, ErrClientNotFound) {
			return decoy("unknown client")
		}
		if err != nil {
			keyErr = err
			return nil, err
		}
		if c.AuthMethod != AuthPrivateKeyJWT {
			return decoy("the client authenticates with " + c.AuthMethod)
		}
		if c.Disabled {
			return decoy("client is disabled")
		}
		client = c
		kid, hasKid := t.Header["kid"]
		if hasKid {
			k, ok := kid.(string)
			if !ok {
				keyErr = fail(ErrInvalidClient, "client_assertion kid must be a string")
				return nil, keyErr
			}
			j, ok := c.JWKS.Key(k)
			if !ok {
				return decoy("kid is not in the client's registered keys")
			}
			pub, err := s.clientKey.get(j, gm.JWK.PublicKey, nil)
			if err != nil || keyAlg(pub) != alg {
				return decoy("alg " + alg + " does not match the key")
			}
			return pub, nil
		}
		var set jwt.VerificationKeySet
		for _, j := range c.JWKS.Keys {
			if pub, err := s.clientKey.get(j, gm.JWK.PublicKey, nil); err == nil && keyAlg(pub) == alg {
				set.Keys = append(set.Keys, pub)
			}
		}
		if len(set.Keys) == 0 {
			return decoy("the client has no " + alg + " key")
		}
		return set, nil
	})
	if refused != "" {
		return Client{}, authFailed(refused)
	}
	if err != nil {
		if keyErr != nil {
			return Client{}, keyErr
		}
		if lookups == 1 && errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			return Client{}, failWith(ErrInvalidClient, err, clientAuthFailed)
		}
		return Client{}, &Error{Kind: ErrInvalidClient, Description: "client_assertion " + describeJWTError(err), Err: err}
	}
	if lookups != 1 || client.ID == "" {
		return Client{}, fail(ErrInvalidClient, "client_assertion could not be verified")
	}
	now := s.now()
	switch {
	case claims.Subject != claims.Issuer:
		return Client{}, fail(ErrInvalidClient, "client_assertion sub must equal iss (the client_id)")
	case claims.ExpiresAt.Time.After(now.Add(s.maxAge + s.leeway)):
		return Client{}, fail(ErrInvalidClient, "client_assertion exp is more than %v ahead", s.maxAge)
	case claims.ID == "":
		return Client{}, fail(ErrInvalidClient, "client_assertion jti is missing")
	case len(claims.ID) > 256:
		return Client{}, fail(ErrInvalidClient, "client_assertion jti is longer than 256 bytes")
	}
	// The marker covers the assertion's whole window of use: from the
	// earliest time it could have been accepted (exp - maxAge - leeway) to
	// the latest (exp + leeway), as store.MarkUsed requires.
	exp := claims.ExpiresAt.Time
	ttl := max(exp.Add(s.leeway).Sub(now), now.Sub(exp.Add(-s.maxAge-s.leeway)), time.Second)
	switch err := s.store.MarkUsed(ctx, "client-assertion:"+client.ID+":"+claims.ID, ttl); {
	case errors.Is(err, store.ErrReplayed):
		return Client{}, fail(ErrInvalidClient, "client_assertion was already used (jti replayed)")
	case err != nil:
		return Client{}, failWith(ErrUnavailable, err, "replay protection unavailable")
	}
	return client, nil
}

// describeJWTError turns a golang-jwt error into a short, safe reason.
func describeJWTError(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "signature is invalid or its alg is not allowed"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "has expired"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "iat is in the future"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "lacks a required claim (exp, iss or aud)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "aud is not this node"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "iss is not this node"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "cannot be verified (unknown or unsupported alg)"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "has invalid claims"
	}
	return "is invalid"
}

// TokenRequest is a token endpoint request after client authentication.
type TokenRequest struct {
	GrantType string
	// Scope is the space-separated scope parameter; empty asks for every
	// scope the client is allowed.
	Scope string
	// Resources (RFC 8707 resource, which may be repeated) are what the
	// token is for: the issuer URLs of nodes besides this one, each of
	// which joins the token's audiences (this node or an active region of
	// the trust registry, Config.Federation; a token for another node is
	// granted only FederatedScopes), or one API a client of this node's
	// region registered (Client.Resources), which is then the token's one
	// audience.
	Resources []string
}

// TokenResponse is the successful token response (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// CheckGrantType rejects a missing or unsupported grant_type before the
// client is authenticated. others are the grant types the endpoint
// serves besides client_credentials, named in the refusal.
func CheckGrantType(grantType string, others ...string) error {
	switch grantType {
	case "":
		return fail(ErrInvalidRequest, "grant_type is missing")
	case GrantClientCredentials:
		return nil
	}
	supported := strings.Join(append([]string{GrantClientCredentials}, others...), ", ")
	return fail(ErrUnsupportedGrantType, "grant_type %s is not supported at this endpoint (supported: %s)", quoted(grantType), supported)
}

// Token issues an access token to an authenticated client: an at+jwt
// (RFC 9068) signed with the node's active key of the client's
// AccessTokenAlg (SM2 by default), for the requested scopes (all allowed
// ones when none are requested); a token for another region's node too
// (Resources) is granted only those among FederatedScopes (RFC 6749
// §3.3: the response's scope says which).
//
// A token for a relying party's API (a resource a client registered) is
// for that API alone: its aud names the API and not this node, so
// neither this node's routes nor another party's API take it (RFC 9068
// §4, RFC 9700 §2.3), and a request naming another resource beside it is
// invalid_target (RFC 8707 §2). It carries the scopes granted as any
// token does; the API reads them, and the client, as it decides.
//
// Errors match ErrUnsupportedGrantType, ErrUnauthorizedClient,
// ErrInvalidScope, ErrInvalidTarget or ErrUnavailable.
func (s *Service) Token(ctx context.Context, c Client, req TokenRequest) (TokenResponse, error) {
	if err := CheckGrantType(req.GrantType); err != nil {
		return TokenResponse{}, err
	}
	if !slices.Contains(c.GrantTypes, req.GrantType) {
		return TokenResponse{}, fail(ErrUnauthorizedClient, "the client is not registered for %s", req.GrantType)
	}
	scopes, err := grantScopes(req.Scope, c.Scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	aud := []string{s.issuer}
	for _, r := range req.Resources {
		party, err := s.checkResource(ctx, r)
		if err != nil {
			return TokenResponse{}, err
		}
		if party {
			// One API's token: another resource beside it would let
			// either audience replay it at the other.
			if slices.ContainsFunc(req.Resources, func(o string) bool { return o != r }) {
				return TokenResponse{}, fail(ErrInvalidTarget, "a token for a relying party's API is for that API alone: ask for it with one resource")
			}
			aud = []string{r}
			break
		}
		if !slices.Contains(aud, r) {
			aud = append(aud, r)
		}
	}
	// A token for another node stays a token of this one (its audiences
	// name this node), so whoever that node lets see it could use it
	// here: it carries only the scopes that cross regions.
	if len(aud) > 1 {
		if scopes, err = federatedOnly(scopes); err != nil {
			return TokenResponse{}, err
		}
	}
	token, err := s.issue(c.ID, c.AccessTokenAlg, scopes, aud)
	if err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(s.ttl / time.Second), Scope: scopes}, nil
}

// grantScopes returns the granted scopes, space-separated in the order of
// Scopes.
func grantScopes(requested string, allowed []string) (string, error) {
	var want []string
	if requested == "" {
		want = allowed
	} else {
		want = strings.Split(requested, " ")
		for _, sc := range want {
			if sc == "" {
				return "", fail(ErrInvalidScope, "scope must be scope names separated by single spaces")
			}
			if !slices.Contains(Scopes, sc) {
				return "", fail(ErrInvalidScope, "unknown scope %s", quoted(sc))
			}
			if !slices.Contains(allowed, sc) {
				return "", fail(ErrInvalidScope, "the client is not allowed scope %s", quoted(sc))
			}
		}
	}
	var out []string
	for _, sc := range Scopes {
		if slices.Contains(want, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return "", fail(ErrInvalidScope, "no scope to grant")
	}
	return strings.Join(out, " "), nil
}

// federatedOnly returns the scopes among granted (space-separated) that
// another region's node honours (FederatedScopes), or ErrInvalidScope
// when there are none.
func federatedOnly(granted string) (string, error) {
	scopes := strings.Split(granted, " ")
	scopes = slices.DeleteFunc(scopes, func(sc string) bool { return !slices.Contains(FederatedScopes, sc) })
	if len(scopes) == 0 {
		return "", fail(ErrInvalidScope, "a token for another region's node carries only %s", strings.Join(FederatedScopes, ", "))
	}
	return strings.Join(scopes, " "), nil
}

// issue signs an access token for the audiences aud, with the node's
// active key of alg (SM2 when empty).
func (s *Service) issue(clientID, alg, scope string, aud []string) (string, error) {
	if alg == "" {
		alg = gm.AlgSM2
	}
	method := jwt.GetSigningMethod(alg)
	key, err := s.keys.Active(alg)
	if err != nil || key.Signer == nil || method == nil {
		return "", failWith(ErrUnavailable, err, "no %s signing key", alg)
	}
	// A key made active since the key set was last read (a rotation
	// reloaded by SIGHUP): read it now, so this node verifies the token
	// it hands out.
	if t := s.now(); s.currentKeys(t).keys[key.Kid].pub == nil {
		s.refreshKeys(t)
	}
	var id [16]byte
	if _, err := io.ReadFull(s.rand, id[:]); err != nil {
		return "", failWith(ErrUnavailable, err, "randomness unavailable")
	}
	now := s.now().Truncate(time.Second)
	claims := &accessclaims.Claims{
		Issuer:   s.issuer,
		Subject:  clientID,
		Audience: accessclaims.Audience(aud),
		Expires:  accessclaims.New(now.Add(s.ttl)),
		IssuedAt: accessclaims.New(now),
		ID:       base64.RawURLEncoding.EncodeToString(id[:]),
		ClientID: clientID,
		Scope:    scope,
	}
	t := jwt.NewWithClaims(method, claims)
	t.Header["typ"] = AccessTokenType
	t.Header["kid"] = key.Kid
	signed, err := t.SignedString(key.Signer)
	if err != nil {
		return "", failWith(ErrUnavailable, err, "signing failed")
	}
	return signed, nil
}
