package auth

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
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/internal/accessclaims"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/store"
)

// Principal is the client an access token authenticates.
type Principal struct {
	ClientID string
	// Scopes granted to the token that its client is still allowed (the
	// registry's current record bounds a token), in the order of Scopes.
	// Shared: do not modify.
	Scopes []string
	// Region is the client's home region.
	Region string
	// TokenID is the token's jti.
	TokenID string
	// Expires is the token's exp.
	Expires time.Time
}

// HasScope reports whether the token grants scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// validToken is what validation of one access token yields; cached by the
// token's SHA-256.
type validToken struct {
	clientID string
	// scopes is scope split (grantedScopes) by validate, for Authorize,
	// which narrows it to what the client is still allowed at each client
	// check (clientState.scopes); introspection reads scope alone.
	scopes   []string
	scope    string
	jti      string
	revoked  string // the jti's key in the revocation list
	kid      string
	iat, exp time.Time
	// until is when the token stops being accepted, and its cache entry
	// usable (unix nanoseconds): exp for the node's own tokens, whose
	// clock is the node's (the leeway is for other parties' clocks: the
	// SDK's offline verification, other regions' nodes); exp plus the
	// leeway for another region's token.
	until int64
	// recheck is when the revocation list must next be consulted for a
	// cached token (unix nanoseconds); zero for a fresh validation.
	recheck atomic.Int64
	// client is the last check of the token's client; nil before the first.
	client atomic.Pointer[clientState]
	// region is the issuing region of another region's token (see
	// Federation), empty for this node's own; foreign is its last
	// registry check (foreignScopes), nil before the first.
	region  string
	foreign atomic.Pointer[foreignState]
	// iss and aud are the token's issuer and audiences.
	iss string
	aud []string
}

// Authorize validates the Bearer access token for a request to a route
// that needs scope: a JWS signed by one of the node's published keys with
// alg SM2 or ES256 (AccessTokenAlgorithms, the key's own), typ at+jwt, iss and aud this
// node's issuer, exp not reached (on the node's clock: the leeway is for
// other parties') and iat within the leeway, a client that is still
// registered, enabled and allowed client_credentials, a jti not revoked,
// and scope among the granted ones that the client is still allowed: the
// registry's current record bounds a token, so a scope taken from a
// client (ClientPatch) is gone from its live tokens, and
// Principal.Scopes is narrowed to what is left. Errors match ErrInvalidToken (401), ErrInsufficientScope (403) or
// ErrUnavailable (503).
//
// Validated tokens are cached by their SHA-256 until they expire, so a
// repeated token costs a hash and a map lookup. Revocation through this
// Service evicts the entry at once; a registry change reported by
// ClientsChanged (a client disabled, removed or its scopes or grant
// types changed) makes every entry check its client again. Changes made elsewhere — a token revoked by another
// node sharing the ephemeral store, a registry edited by another process —
// reach a cached entry within Config.RevocationRecheck (a second by
// default), as RFC 7009 §2 allows for propagation. A token seen for the
// first time is always checked against the registry and the list.
//
// Another region's cached token keeps its last registry check (region
// active, key valid, client registered and active: checkForeign) while
// Federation.RegistryGeneration is unchanged, so a hit costs what a hit
// of this node's own token does; any registry change (a suspension
// applied to the ledger view) moves the generation and the next use
// checks again.
func (s *Service) Authorize(ctx context.Context, token, scope string) (Principal, error) {
	now := s.now()
	v, err := s.validate(now, token)
	if err != nil {
		return Principal{}, err
	}
	if v.region != "" {
		scopes, err := s.foreignScopes(v)
		if err != nil {
			return Principal{}, err
		}
		// A revocation at the issuing region that this node learned by
		// introspecting the token there (Introspect); otherwise its
		// revocation reaches this node at the token's expiry.
		if n := now.UnixNano(); n >= v.recheck.Load() {
			if err := s.checkRevoked(ctx, v.revoked); err != nil {
				return Principal{}, err
			}
			if s.recheck > 0 {
				v.recheck.Store(n + int64(s.recheck))
			}
		}
		if !slices.Contains(scopes, scope) {
			return Principal{}, &Error{Kind: ErrInsufficientScope, Description: "the token lacks scope " + scope}
		}
		return Principal{ClientID: v.clientID, Scopes: scopes, Region: v.region, TokenID: v.jti, Expires: v.exp}, nil
	}
	n := now.UnixNano()
	cs := v.client.Load()
	if gen := s.clientsGen.Load(); cs == nil || cs.gen != gen || n >= cs.until {
		c, err := s.clients.Get(ctx, v.clientID)
		switch {
		case errors.Is(err, ErrClientNotFound):
			return Principal{}, fail(ErrInvalidToken, "the token's client is no longer registered")
		case err != nil:
			return Principal{}, failWith(ErrUnavailable, err, "client registry unavailable")
		case c.Disabled:
			return Principal{}, fail(ErrInvalidToken, "the token's client is disabled")
		case !slices.Contains(c.GrantTypes, GrantClientCredentials):
			return Principal{}, fail(ErrInvalidToken, "the token's client is no longer registered for client_credentials")
		}
		cs = &clientState{region: c.Region, scopes: stillAllowed(v.scopes, c.Scopes), gen: gen, until: n + int64(s.recheck)}
		if s.recheck > 0 {
			v.client.Store(cs)
		}
	}
	if n >= v.recheck.Load() {
		if err := s.checkRevoked(ctx, v.revoked); err != nil {
			return Principal{}, err
		}
		if s.recheck > 0 {
			v.recheck.Store(n + int64(s.recheck))
		}
	}
	if !slices.Contains(cs.scopes, scope) {
		return Principal{}, &Error{Kind: ErrInsufficientScope, Description: "the token lacks scope " + scope}
	}
	return Principal{ClientID: v.clientID, Scopes: cs.scopes, Region: cs.region, TokenID: v.jti, Expires: v.exp}, nil
}

// clientState is what a cached token remembers of its client's last check.
type clientState struct {
	region string
	// scopes are the token's granted scopes that the client is still
	// allowed (stillAllowed): the registry's current record bounds a
	// token, so a scope taken from the client is gone from its live
	// tokens at the next check.
	scopes []string
	gen    uint64 // Service.clientsGen at the check
	until  int64  // unix nanoseconds; after it, check again
}

// stillAllowed returns the scopes among granted (a token's) that allowed
// (its client's current Client.Scopes) still holds, in granted's order:
// granted itself, shared, when it holds them all (Principal.Scopes is
// shared), else a new slice, empty when none is left.
func stillAllowed(granted, allowed []string) []string {
	if !slices.ContainsFunc(granted, func(sc string) bool { return !slices.Contains(allowed, sc) }) {
		return granted
	}
	out := make([]string, 0, len(granted))
	for _, sc := range granted {
		if slices.Contains(allowed, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// currentScope returns the scope (space-separated) that c, the current
// registry record of this node's token v's client, still lets v carry,
// as Authorize bounds it: the token's scopes the client is still allowed,
// while the client may still use client_credentials, the grant that
// issued it. ok is false when nothing is left.
func currentScope(v *validToken, c *Client) (scope string, ok bool) {
	if !slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return "", false
	}
	all := true
	for sc := range strings.SplitSeq(v.scope, " ") { // the usual case: no copy
		all = all && slices.Contains(c.Scopes, sc)
	}
	if all {
		return v.scope, true
	}
	scopes := stillAllowed(grantedScopes(v.scope), c.Scopes)
	return strings.Join(scopes, " "), len(scopes) > 0
}

// ClientsChanged tells the Service that the registry changed, so cached
// tokens check their client again on their next use. A node calls it on
// each registry event of its ledger view (a client disabled on any
// instance); without it a change is still seen within RevocationRecheck.
func (s *Service) ClientsChanged() { s.clientsGen.Add(1) }

// checkRevoked looks up a revocation list key (revokedKey).
func (s *Service) checkRevoked(ctx context.Context, key string) error {
	_, err := s.store.Get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err == nil:
		return fail(ErrInvalidToken, "the token was revoked")
	}
	return failWith(ErrUnavailable, err, "revocation list unavailable")
}

func revokedKey(jti string) string { return "access-token-revoked:" + jti }

// tokenHash is the cache key of a token: its SHA-256, computed over the
// string's bytes in place (sha256 neither keeps nor changes its input), so
// the hot path does not copy a half-kilobyte token.
func tokenHash(token string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// validate checks the token itself (not its client or revocation) for
// Authorize, using and filling the cache.
func (s *Service) validate(now time.Time, token string) (*validToken, error) {
	cached := s.cache != nil && token != "" && len(token) <= maxTokenLen
	var sum [sha256.Size]byte
	if cached {
		sum = tokenHash(token)
		if c := s.cache.get(sum, now.UnixNano()); c != nil {
			if _, ok := s.currentKeys(now).keys[c.kid]; ok || c.region != "" {
				return c, nil // another region's key is checked on each use
			}
			s.cache.remove(sum)
		}
	}
	v := new(validToken)
	if err := s.verifyToken(now, token, v); err != nil {
		return nil, err
	}
	v.scopes = grantedScopes(v.scope)
	if cached {
		s.cache.put(sum, v, now.UnixNano())
	}
	return v, nil
}

// verifyToken checks the token itself (not its client or revocation) in
// full, signature included, without the cache, into v, which must be new:
// a token for this node (its issuer among the audiences). Peers'
// introspection keeps v on its stack (a validToken allocated for each was
// 240 B).
func (s *Service) verifyToken(now time.Time, token string, v *validToken) error {
	return s.verifyWith(now, token, v, s.tokenClaims)
}

// verifyIssued is verifyToken for introspection and revocation, which
// answer for every token the node issued: this node's own of any audience
// (a token for a relying party's API names that API alone: Token), and
// another region's that names this node.
func (s *Service) verifyIssued(now time.Time, token string, v *validToken) error {
	return s.verifyWith(now, token, v, s.issuedClaims)
}

// verifyWith is verifyToken with claims, the validator of this node's own
// tokens' claims.
func (s *Service) verifyWith(now time.Time, token string, v *validToken, claims *jwt.Validator) error {
	if token == "" {
		return fail(ErrInvalidToken, "no access token")
	}
	if len(token) > maxTokenLen {
		return fail(ErrInvalidToken, "access token is too long")
	}
	keys := s.currentKeys(now)
	j, err := parseAccessJWS(token, keys.headers)
	if err != nil {
		return &Error{Kind: ErrInvalidToken, Description: "access token " + describeJWTError(err), Err: err}
	}
	defer j.release()
	err = s.parse(j, keys, v, claims)
	if errors.Is(err, errForeignKey) && s.fed != nil {
		err = s.parseForeign(j, v, claims)
	}
	if err == nil && now.UnixNano() >= v.until {
		// The node's own token at or past its exp, within the leeway the
		// validator gives every token (RFC 7519 §4.1.4: not accepted "on
		// or after" exp).
		return fail(ErrInvalidToken, "access token has expired")
	}
	return err
}

// accessJWS is an access token split and decoded, nothing checked yet:
// what golang-jwt's ParseUnverified yields, without its copies (the
// signing input is a substring of the token) and with header and claims
// each decoded by strictjson in one pass.
type accessJWS struct {
	method jwt.SigningMethod
	header accessHeader
	kid    string
	input  string // header.claims: the signing input
	sig    []byte
	claims accessclaims.Claims
	// buf holds the decoded parts (sig is in it); it stays with j in
	// jwsPool.
	buf []byte
}

// jwsPool holds parsed tokens and their buffers between parses: each
// parse allocated both (some 700 bytes an access token). What a
// validToken keeps of a parse is its own memory, never buf's: the
// claims' strings and audience are copies (strictjson's DecodeOpen,
// audience.UnmarshalJSON), and the header's too (TestParseReuseKeepsNothing).
var jwsPool = sync.Pool{New: func() any { return new(accessJWS) }}

// release puts j back in jwsPool, cleared but for its buffer; nothing
// may use j, or sig, after.
func (j *accessJWS) release() {
	if cap(j.buf) > maxTokenLen {
		return
	}
	*j = accessJWS{buf: j.buf[:0]}
	jwsPool.Put(j)
}

// accessHeader is the JOSE header members the node reads; the others are
// ignored (RFC 7515 §4).
type accessHeader struct {
	Alg  headerString `json:"alg"`
	Typ  headerString `json:"typ"`
	Kid  headerString `json:"kid"`
	Crit present      `json:"crit"`
}

// headerString is a header member read only as a string: a value of
// another JSON type reads as absent.
type headerString string

// headerValues are the alg and typ values of the node's tokens, which a
// headerString shares rather than copies.
var headerValues = append([]string{AccessTokenType}, AccessTokenAlgorithms...)

func (h *headerString) UnmarshalJSON(b []byte) error {
	// b is a value strictjson has checked: a string without escapes is
	// the bytes between its quotes.
	switch {
	case b[0] != '"':
		*h = ""
	case bytes.IndexByte(b, '\\') < 0:
		v := b[1 : len(b)-1]
		if i := slices.IndexFunc(headerValues, func(s string) bool { return s == string(v) }); i >= 0 {
			*h = headerString(headerValues[i])
		} else {
			*h = headerString(v)
		}
	default:
		return json.Unmarshal(b, (*string)(h))
	}
	return nil
}

// present records that a member is there, whatever its value.
type present bool

func (p *present) UnmarshalJSON([]byte) error {
	*p = true
	return nil
}

// parseAccessJWS splits and decodes an access token, as one parse for
// both this node's tokens (parse) and other regions' (parseForeign). As
// jwt.Parser.ParseWithClaims with the AccessTokenAlgorithms allow-list
// did: three segments, each strict base64url; the header a JSON object
// whose alg names a golang-jwt signing method among
// AccessTokenAlgorithms; the claims a JSON object. Both are decoded by
// strictjson.DecodeOpen, which is stricter than golang-jwt's
// encoding/json: it refuses a member given twice or two differing only
// in case, one that differs only in case from a member the node reads,
// invalid UTF-8 and escaped unpaired surrogates. Errors wrap
// jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable (alg unknown) or
// jwt.ErrTokenSignatureInvalid (alg not allowed), which
// describeJWTError reads.
//
// known maps header segments to what decodeHeader makes of them (the
// node's own, nodeKeySet.headers): a token whose header segment is one
// of them takes that header without decoding the same bytes again.
//
// The caller releases the token it gets when done with it.
func parseAccessJWS(token string, known map[string]accessHeader) (*accessJWS, error) {
	j := jwsPool.Get().(*accessJWS)
	if err := j.parse(token, known); err != nil {
		j.release()
		return nil, err
	}
	return j, nil
}

// parse is parseAccessJWS into j, which is clear but for its buffer.
func (j *accessJWS) parse(token string, known map[string]accessHeader) error {
	h, rest, ok := strings.Cut(token, ".")
	c, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") {
		return fmt.Errorf("%w: token contains an invalid number of segments", jwt.ErrTokenMalformed)
	}
	j.input = token[:len(h)+1+len(c)]
	// One buffer holds the parts decoded.
	buf := j.buf[:0]
	if n := b64url.DecodedLen(len(h)) + b64url.DecodedLen(len(c)) + b64url.DecodedLen(len(sig)); cap(buf) < n {
		buf = make([]byte, 0, n)
	}
	j.buf = buf
	var err error
	if hd, ok := known[h]; ok {
		j.header = hd
	} else if buf, err = decodeHeader(buf, h, &j.header); err != nil {
		return err
	}
	n := len(buf)
	if buf, err = decodeSegment(buf, c); err != nil {
		return fmt.Errorf("%w: could not base64 decode claim: %w", jwt.ErrTokenMalformed, err)
	}
	if err := strictjson.DecodeOpen(buf[n:], &j.claims, maxTokenLen); err != nil {
		return fmt.Errorf("%w: could not JSON decode claim: %w", jwt.ErrTokenMalformed, err)
	}
	alg := string(j.header.Alg)
	if j.method = jwt.GetSigningMethod(alg); j.method == nil {
		return fmt.Errorf("%w: signing method (alg) is unavailable", jwt.ErrTokenUnverifiable)
	}
	if !slices.Contains(AccessTokenAlgorithms, alg) {
		return fmt.Errorf("%w: signing method %s is invalid", jwt.ErrTokenSignatureInvalid, alg)
	}
	n = len(buf)
	if buf, err = decodeSegment(buf, sig); err != nil {
		return fmt.Errorf("%w: could not base64 decode signature: %w", jwt.ErrTokenMalformed, err)
	}
	j.sig, j.kid = buf[n:], string(j.header.Kid)
	return nil
}

// decodeHeader decodes the header segment h into hd, appending its
// bytes to buf.
func decodeHeader(buf []byte, h string, hd *accessHeader) ([]byte, error) {
	n := len(buf)
	buf, err := decodeSegment(buf, h)
	if err != nil {
		return nil, fmt.Errorf("%w: could not base64 decode header: %w", jwt.ErrTokenMalformed, err)
	}
	err = strictjson.DecodeOpen(buf[n:], hd, maxTokenLen)
	if err == nil && bytes.TrimLeft(buf[n:], " \t\n\r")[0] != '{' { // null
		err = fmt.Errorf("%w: the header is not an object", strictjson.ErrType)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: could not JSON decode header: %w", jwt.ErrTokenMalformed, err)
	}
	return buf, nil
}

// issuedHeader is the header segment of the access tokens the node signs
// with k (as golang-jwt writes it for issue), and what decodeHeader
// makes of it.
func issuedHeader(k keystore.Key) (string, accessHeader, error) {
	b, err := json.Marshal(map[string]string{"alg": k.Alg, "kid": k.Kid, "typ": AccessTokenType})
	if err != nil {
		return "", accessHeader{}, err
	}
	seg := base64.RawURLEncoding.EncodeToString(b)
	var hd accessHeader
	_, err = decodeHeader(nil, seg, &hd)
	return seg, hd, err
}

// decodeSegment appends the decoded seg to dst, reading the string's
// bytes in place (base64 neither keeps nor changes its input).
func decodeSegment(dst []byte, seg string) ([]byte, error) {
	return b64url.AppendDecode(dst, unsafe.Slice(unsafe.StringData(seg), len(seg)))
}

// verify checks j's signature with pub (golang-jwt's signing method, as
// ParseWithClaims does), then its claims with golang-jwt's validator.
func (j *accessJWS) verify(pub any, claims *jwt.Validator) error {
	var err error
	if e := j.method.Verify(j.input, j.sig, pub); e != nil {
		err = fmt.Errorf("%w: %w", jwt.ErrTokenSignatureInvalid, e)
	} else if e := claims.Validate(&j.claims); e != nil {
		err = fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, e)
	} else {
		return nil
	}
	return &Error{Kind: ErrInvalidToken, Description: "access token " + describeJWTError(err), Err: err}
}

// parse verifies one of this node's access tokens: header, key, signature
// and claims (with claims, s.tokenClaims or s.issuedClaims).
func (s *Service) parse(j *accessJWS, keys *nodeKeySet, v *validToken, claims *jwt.Validator) error {
	if err := j.checkHeader(); err != nil {
		return err
	}
	k, ok := keys.keys[j.kid]
	if !ok || k.alg != j.method.Alg() {
		return &Error{Kind: ErrInvalidToken, Description: "access token was not signed by a key of this node", Err: errForeignKey}
	}
	if err := j.verify(k.pub, claims); err != nil {
		return err
	}
	return newValidToken(&j.claims, j.kid, 0, v)
}

// checkHeader checks an access token's header: typ at+jwt, no crit.
func (j *accessJWS) checkHeader() error {
	typ := string(j.header.Typ)
	if !strings.EqualFold(typ, AccessTokenType) && !strings.EqualFold(typ, "application/"+AccessTokenType) {
		return fail(ErrInvalidToken, "not an access token (typ must be at+jwt)")
	}
	if j.header.Crit {
		return fail(ErrInvalidToken, "access token has critical header parameters")
	}
	return nil
}

// grantedScopes splits a token's scope claim, capped so that an append
// by a caller of Principal.Scopes copies it.
func grantedScopes(scope string) []string {
	scopes := strings.Split(scope, " ")
	return scopes[:len(scopes):len(scopes)]
}

// newValidToken checks the claims every access token must carry and
// sets v, which must be new, to what validation yields, the token
// accepted until exp plus leeway (validToken.until). claims must be the
// caller's own (one parse's): the token keeps their audience.
func newValidToken(claims *accessclaims.Claims, kid string, leeway time.Duration, v *validToken) error {
	if claims.ClientID == "" || claims.Subject != claims.ClientID || claims.ID == "" || !claims.IssuedAt.Set() {
		return fail(ErrInvalidToken, "access token lacks client_id, sub, jti or iat")
	}
	exp := claims.Expires.Time()
	*v = validToken{
		clientID: claims.ClientID, scope: claims.Scope, jti: claims.ID, revoked: revokedKey(claims.ID), kid: kid,
		iat: claims.IssuedAt.Time(), exp: exp, until: exp.Add(leeway).UnixNano(),
		iss: claims.Issuer, aud: claims.Audience,
	}
	return nil
}

// Introspection is the introspection response (RFC 7662 §2.2).
type Introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
}

// Introspect tells an authenticated client whether token is active:
// caller is the client AuthenticateClient returned for this request,
// which stands for the registry's record of it. A client may introspect
// its own tokens; another client's only as mayIntrospect says: a token
// for this node when the caller is allowed the registry:admin scope, a
// token for an API (Client.Resources) when the caller registered that
// API, whichever client holds it, and the token was issued since the
// caller took the API (Client.ServesSince), the answer's aud that API
// (RFC 7662 §2.2, RFC 9068 §5: the resource server checks that aud
// names it).
// Everything else (invalid, expired, revoked, another client's, one for
// another party's API, whatever the caller's scopes, or for this node)
// is {"active": false}, so the answer does not tell why; the
// node's own token is expired from its exp on, with no leeway
// (validToken.until). An active answer's scope is the token's narrowed
// to what its client's current record still allows, as Authorize
// bounds it (currentScope); a token left with none, or whose client may
// no longer use client_credentials, is inactive. Only a failing dependency is an error
// (ErrUnavailable).
//
// Another region's token (one that names this node as an audience and
// verifies from the trust registry) is introspected at its issuing node,
// node to node (Config.Peers), once it passes every offline check: that
// node alone knows whether it revoked the token. Its answer is reduced to
// what this node checked itself (the token's own claims, the scopes the
// registry lets it carry here); when it cannot be had the error matches
// ErrUnavailable, never "inactive". A token the issuing node reports
// inactive is remembered as revoked here until it expires, so the
// node's protected routes refuse it too.
//
// The token is verified in full on every call, signature included: the
// validated-token cache serves Authorize only.
func (s *Service) Introspect(ctx context.Context, caller Client, token string) (Introspection, error) {
	now := s.now()
	v := new(validToken)
	if err := s.verifyIssued(now, token, v); err != nil {
		return Introspection{}, nil
	}
	if caller.visiting && (v.clientID != caller.ID || v.region == "" || v.region != caller.Region) {
		return Introspection{}, nil
	}
	// A token not for this node is one API's (Token): its aud is that one.
	aud := s.issuer
	if !slices.Contains(v.aud, s.issuer) {
		if len(v.aud) != 1 {
			return Introspection{}, nil
		}
		aud = v.aud[0]
	}
	if v.clientID != caller.ID && !s.mayIntrospect(caller, aud, v.iat) {
		return Introspection{}, nil
	}
	if v.region != "" {
		return s.introspectForeign(ctx, now, v, token)
	}
	// The caller's own token (the usual case) has the client the caller's
	// authentication has just read from the registry.
	c, err := caller, error(nil)
	if v.clientID != caller.ID {
		c, err = s.clients.Get(ctx, v.clientID)
	}
	if errors.Is(err, ErrClientNotFound) || (err == nil && c.Disabled) {
		return Introspection{}, nil
	}
	if err != nil {
		return Introspection{}, failWith(ErrUnavailable, err, "client registry unavailable")
	}
	scope, ok := currentScope(v, &c)
	if !ok {
		return Introspection{}, nil
	}
	if err := s.checkRevoked(ctx, v.revoked); err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return Introspection{}, nil
		}
		return Introspection{}, err
	}
	return Introspection{
		Active: true, Scope: scope, ClientID: v.clientID, TokenType: "Bearer",
		Exp: v.exp.Unix(), Iat: v.iat.Unix(), Sub: v.clientID, Aud: aud, Iss: s.issuer, Jti: v.jti,
	}, nil
}

// mayIntrospect reports whether caller may learn that another client's
// token, whose audience is aud, issued at iat, is active (Introspect). A
// token for this node: when caller is allowed registry:admin, the node's
// administration. A token for a party's API: only when caller registered
// that API, whatever its scopes, and held it when the token was asked
// (Client.ServesSince): a token names the API, not the party, so one
// asked while another party held the API (which dropped it or was
// suspended) is not the caller's to see (SECURITY.md gap 27).
// registry:admin administers the node, and does not make its holder (a
// party may be allowed it too) the resource server of every other
// party's API (RFC 7662 §4, RFC 9068 §5).
func (s *Service) mayIntrospect(caller Client, aud string, iat time.Time) bool {
	if aud == s.issuer {
		return caller.HasScope(ScopeRegistryAdmin)
	}
	return caller.ServesSince(aud, iat)
}

// Revoke revokes an access token (RFC 7009): its jti is kept in the
// ephemeral store until the token expires, and this node's cache entry is
// evicted. A token that is invalid or expired needs no revocation and is
// not an error. A client may revoke its own tokens; a client allowed
// registry:admin may revoke any; revoking another client's token gives
// ErrUnauthorizedClient.
func (s *Service) Revoke(ctx context.Context, caller Client, token string) error {
	now := s.now()
	v := new(validToken)
	if err := s.verifyIssued(now, token, v); err != nil || v.region != "" { // another region's token: its node revokes it
		return nil
	}
	if v.clientID != caller.ID && !caller.HasScope(ScopeRegistryAdmin) {
		return fail(ErrUnauthorizedClient, "the token was issued to another client")
	}
	// Kept until the token's exp plus the leeway: the region's other
	// instances, on their own clocks, may take it until then.
	ttl := max(v.exp.Add(s.leeway).Sub(now), time.Second)
	if err := s.store.Set(ctx, revokedKey(v.jti), []byte{1}, ttl); err != nil {
		return failWith(ErrUnavailable, err, "revocation list unavailable")
	}
	if s.cache != nil {
		s.cache.remove(tokenHash(token))
	}
	return nil
}

// introspectForeign introspects another region's token v at its node.
func (s *Service) introspectForeign(ctx context.Context, now time.Time, v *validToken, token string) (Introspection, error) {
	if s.peers == nil {
		return Introspection{}, nil
	}
	scopes, err := s.checkForeign(v)
	if err != nil {
		return Introspection{}, nil
	}
	if err := s.checkRevoked(ctx, v.revoked); err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return Introspection{}, nil
		}
		return Introspection{}, err
	}
	ans, err := s.peers.IntrospectAt(ctx, v.region, token)
	if err != nil {
		return Introspection{}, failWith(ErrUnavailable, err, "the token's issuing region cannot answer now")
	}
	if ans.Active && (ans.Jti != v.jti || ans.ClientID != v.clientID) {
		return Introspection{}, failWith(ErrUnavailable, ErrPeerAnswer, "the token's issuing region answered for another token")
	}
	if !ans.Active {
		// Remember the issuing region's answer until the token expires.
		ttl := max(time.Duration(v.until-now.UnixNano()), time.Second)
		if err := s.store.Set(ctx, v.revoked, []byte{1}, ttl); err != nil {
			return Introspection{}, failWith(ErrUnavailable, err, "revocation list unavailable")
		}
		if s.cache != nil {
			s.cache.remove(tokenHash(token))
		}
		return Introspection{}, nil
	}
	granted := strings.Split(ans.Scope, " ")
	scopes = slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return !slices.Contains(granted, sc) })
	return Introspection{
		Active: true, Scope: strings.Join(scopes, " "), ClientID: v.clientID, TokenType: "Bearer",
		Exp: v.exp.Unix(), Iat: v.iat.Unix(), Sub: v.clientID, Aud: s.issuer, Iss: v.iss, Jti: v.jti,
	}, nil
}

// PeerIntrospectionPath is the route at which a node answers other
// regions' nodes about its own access tokens (IntrospectForPeer).
const PeerIntrospectionPath = "/oauth2/peer/introspect"

// PeerIntrospectRequest is the JSON body of a node-to-node introspection
// (PeerIntrospectionPath): the access token, and nothing else. The
// calling region is the one whose registered key signed the node
// assertion that covers this body.
type PeerIntrospectRequest struct {
	Token string `json:"token"`
}

// PeerIntrospector asks another region's node, node to node, whether an
// access token it issued is active (federation.Introspector). The error
// says the answer could not be had (the region unknown, suspended or
// unreachable, a refusal, a malformed answer). Safe for concurrent use.
type PeerIntrospector interface {
	IntrospectAt(ctx context.Context, region, token string) (Introspection, error)
}

// Errors of node-to-node introspection, as causes of an *Error.
var (
	// ErrNotIssuedHere: a peer asked about a token this node did not issue.
	ErrNotIssuedHere = errors.New("auth: the token was not issued by this node")
	// ErrPeerAnswer: the issuing node's answer is not about the token asked.
	ErrPeerAnswer = errors.New("auth: the issuing region's answer does not match the token")
)

// IntrospectForPeer answers the node of region (authenticated by the
// caller, node to node) about token. The token must be one this node
// issued (else an error matching ErrInvalidRequest and ErrNotIssuedHere,
// which the peer route answers {"active": false}: RFC 7662 §2.2);
// it is active when it verifies, names region's node (its issuer URL,
// Federation.RegionIssuer, exactly) among its audiences, its client is
// registered and enabled and still allows some of its scopes
// (currentScope, which narrows the answer's scope) and it is not revoked. A token of this node not
// meant for region is {"active": false}, as another client's is at
// Introspect, and so is an invalid or expired one. Only a failing
// dependency is ErrUnavailable.
func (s *Service) IntrospectForPeer(ctx context.Context, region, token string) (Introspection, error) {
	if s.fed == nil {
		return Introspection{}, fail(ErrInvalidRequest, "this node does not answer other regions")
	}
	if iss, ok := unverifiedIssuer(token); !ok || iss != s.issuer {
		return Introspection{}, failWith(ErrInvalidRequest, ErrNotIssuedHere, "the token was not issued by this node")
	}
	v := new(validToken)
	if err := s.verifyToken(s.now(), token, v); err != nil {
		return Introspection{}, nil
	}
	if v.region != "" {
		return Introspection{}, failWith(ErrInvalidRequest, ErrNotIssuedHere, "the token was not issued by this node")
	}
	// The token can be used at region's node only when it names the
	// node's issuer, exactly, as the node requires and as the token
	// endpoint writes a resource (checkResource): the region's DID or
	// another endpoint, or the URL spelled with a trailing slash, name
	// the region but no node that accepts the token (RFC 7662 §4,
	// RFC 8707 §2).
	if peer := s.fed.RegionIssuer(region); peer == "" || !slices.Contains(v.aud, peer) {
		return Introspection{}, nil
	}
	c, err := s.clients.Get(ctx, v.clientID)
	if errors.Is(err, ErrClientNotFound) || (err == nil && c.Disabled) {
		return Introspection{}, nil
	}
	if err != nil {
		return Introspection{}, failWith(ErrUnavailable, err, "client registry unavailable")
	}
	scope, ok := currentScope(v, &c)
	if !ok {
		return Introspection{}, nil
	}
	if err := s.checkRevoked(ctx, v.revoked); err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return Introspection{}, nil
		}
		return Introspection{}, err
	}
	return Introspection{
		Active: true, Scope: scope, ClientID: v.clientID, TokenType: "Bearer",
		Exp: v.exp.Unix(), Iat: v.iat.Unix(), Sub: v.clientID, Iss: s.issuer, Jti: v.jti,
	}, nil
}

// unverifiedIssuer reads a JWT's iss without verifying anything, to tell
// a token of another issuer from an invalid one of this node.
func unverifiedIssuer(token string) (string, bool) {
	if token == "" || len(token) > maxTokenLen {
		return "", false
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		return "", false
	}
	return c.Issuer, true
}
