package login

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// code is an authorization code as stored, under its own value.
type code struct {
	ClientID      string `json:"client_id"`
	RedirectURI   string `json:"redirect_uri"`
	CodeChallenge string `json:"code_challenge"`
	Nonce         string `json:"nonce,omitempty"`
	Scope         string `json:"scope"`
	Grant         grant  `json:"grant"`
}

// refresh is an access token or a login's refresh-token family as
// stored: whom it is for, the family of tokens one login started, and
// when the token was issued and expires (Unix seconds, for
// introspection; zero in tokens stored by older nodes). Current is, in a
// family record only, the digest of the family's current refresh token.
type refresh struct {
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Family   string `json:"family"`
	Grant    grant  `json:"grant"`
	IssuedAt int64  `json:"iat,omitempty"`
	Expires  int64  `json:"exp,omitempty"`
	Current  string `json:"current,omitempty"`
}

// Store keys. A code is one single-use record (Put), which redemption
// spends (Spend), keeping it for the code's lifetime so that a replay,
// even one racing the first use, learns it was used and revokes the
// family of the tokens it gave; past that, the family is kept alone
// under codeSpentKey (as older nodes, which consumed codes, kept it).
// A login's refresh tokens are one record (familyKey, under the token's
// handle) that each rotation replaces (CompareAndSwap); familyHandleKey
// names the handle from the login's family (the ID token's sid), so that
// ending a login by its sid alone deletes the record. refreshKey is an
// older node's refresh token, a single-use record like a code's;
// refreshSpentKey keeps the family of a used one (as older nodes did).
// An access token's record is under accessKey of its handle (of an older
// node's token, of the token); accessIndexKey names the handles of a
// login's access tokens from its family, so that ending the login
// deletes their records too.
func codeKey(c string) string          { return "login-code:" + c }
func codeSpentKey(c string) string     { return "login-code-spent:" + c }
func familyKey(h string) string        { return "login-rtf:" + h }
func familyHandleKey(f string) string  { return "login-rtf-handle:" + f }
func refreshKey(t string) string       { return "login-rt:" + t }
func refreshSpentKey(t string) string  { return "login-rt-spent:" + t }
func accessKey(t string) string        { return "login-at:" + t }
func familyRevokedKey(f string) string { return "login-family-revoked:" + f }
func accessIndexKey(f string) string   { return "login-at-index:" + f }

// A refresh token is rtHandle random bytes, the same for every token of
// a login (its family record's key), then rtSecret random bytes, new at
// each rotation, in base64url (48 characters; an older node's are 43).
// An access token has the same form, its handle its own (its record's
// key); an older node's are 43 characters, the token its record's key.
const (
	rtHandle    = 12
	rtSecret    = 24
	rtHandleLen = rtHandle * 4 / 3
)

// tokenHandle is the handle of a refresh or access token of this node's
// form; false for anything else (an older node's token, garbage).
func tokenHandle(tok string) (string, bool) {
	if len(tok) != base64.RawURLEncoding.EncodedLen(rtHandle+rtSecret) {
		return "", false
	}
	if _, err := b64url.DecodeString(tok); err != nil {
		return "", false
	}
	return tok[:rtHandleLen], true
}

// tokenDigest is what a family record keeps of its current refresh
// token, and an access token's record of the token: a digest, so that
// the store holds no token.
func tokenDigest(tok string) string {
	sum := sha256.Sum256([]byte("trustid refresh token\x00" + tok))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// maskHandle masks (and, applied again, unmasks) a family record's
// handle as familyHandleKey keeps it, and an access token's handle as
// accessIndexKey does: XOR with a digest of the family, so that the
// store holds no part of a token in clear.
func maskHandle(family string, handle []byte) []byte {
	pad := sha256.Sum256([]byte("trustid refresh handle\x00" + family))
	out := make([]byte, len(handle))
	for i := range out {
		out[i] = handle[i] ^ pad[i%len(pad)]
	}
	return out
}

// spentTTL is how long a spent code's family is remembered: a replay
// within it revokes the tokens the code gave.
const spentTTL = time.Hour

// codeFamily is the family of the tokens code c gives (their login, the
// ID token's sid): a digest of the code, so that its redemption and any
// replay name the same family from the code alone, on any node and for
// codes older nodes stored, with nothing written between them. It tells
// nothing of the code.
func codeFamily(c string) string {
	sum := sha256.Sum256([]byte("trustid login family\x00" + c))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// spendCode redeems the code c stored under key, once, and returns its
// record. A code spent already (a replay: RFC 6749 §4.1.2) revokes its
// family and is refused. The spent record, which holds the grant, is
// kept only for the code's lifetime (CodeTTL); its family alone is kept
// under spentKey for spentTTL, where older nodes, which consumed codes,
// kept it too, and a replay finding it is refused and revokes it (one
// that cannot read it is CodeTemporarilyUnavailable). A code never
// issued or expired is refused. A code whose approver's status cannot
// be read now is left unspent (grantLive's
// CodeTemporarilyUnavailable): an outage is no verdict, and the client
// retries with it; a family the store cannot keep leaves the code spent,
// and the retry, a replay, revokes it.
func (p *Provider) spendCode(ctx context.Context, key, spentKey, c string) ([]byte, error) {
	if err := p.statusReadable(ctx, key); err != nil {
		return nil, err
	}
	used := fail(CodeInvalidGrant, "the code is invalid, expired or already used")
	b, err := p.cfg.Store.Spend(ctx, key, p.cfg.CodeTTL)
	switch {
	case errors.Is(err, store.ErrReplayed):
		return nil, p.revokeAndRefuse(ctx, codeFamily(c), used)
	case errors.Is(err, store.ErrNotFound):
		// Past the code's lifetime only the marker tells a replay: one
		// that cannot be read is no verdict, and the retry revokes.
		fam, err := p.cfg.Store.Get(ctx, spentKey)
		switch {
		case err == nil:
			return nil, p.revokeAndRefuse(ctx, string(fam), used)
		case !errors.Is(err, store.ErrNotFound):
			return nil, failWith(CodeTemporarilyUnavailable, "the code store is unavailable", err)
		}
		return nil, used
	case err != nil:
		return nil, failWith(CodeTemporarilyUnavailable, "the code store is unavailable", err)
	}
	if err := p.cfg.Store.Set(ctx, spentKey, []byte(codeFamily(c)), spentTTL); err != nil {
		return nil, failWith(CodeTemporarilyUnavailable, "the code store is unavailable", err)
	}
	return b, nil
}

// statusReadable reads the code under key without spending it and
// returns grantLive's CodeTemporarilyUnavailable when the status of what
// approved its login cannot be read; anything else is for the spending
// and the checks after it to find.
func (p *Provider) statusReadable(ctx context.Context, key string) error {
	if p.cfg.Status == nil {
		return nil
	}
	b, err := p.cfg.Store.Peek(ctx, key)
	if err != nil {
		return nil
	}
	var cd struct {
		Grant grant `json:"grant"`
	}
	if json.Unmarshal(b, &cd) != nil {
		return nil
	}
	if err := p.grantLive(ctx, cd.Grant); err != nil && asError(err).Code == CodeTemporarilyUnavailable {
		return err
	}
	return nil
}

func (p *Provider) issueCode(ctx context.Context, s *session) (string, error) {
	c, err := p.random(32)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(code{ClientID: s.ClientID, RedirectURI: s.RedirectURI, CodeChallenge: s.CodeChallenge,
		Nonce: s.Nonce, Scope: s.Scope, Grant: *s.Approved})
	if err := p.cfg.Store.Put(ctx, codeKey(c), b, p.cfg.CodeTTL); err != nil {
		return "", failWith(CodeTemporarilyUnavailable, "the code store is unavailable", err)
	}
	return c, nil
}

// redirectWith adds params (those not empty) to the query of uri, after
// the query uri has, which is kept as registered (RFC 6749 §3.1.2: it
// "MUST be retained when adding additional query parameters"). uri has
// no fragment (auth.Client.Validate).
func redirectWith(uri string, params map[string]string) string {
	q := url.Values{}
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return uri
	}
	switch {
	case !strings.Contains(uri, "?"):
		uri += "?"
	case !strings.HasSuffix(uri, "?") && !strings.HasSuffix(uri, "&"):
		uri += "&"
	}
	return uri + q.Encode()
}

// TokenResponse is the token endpoint's answer (RFC 6749 §5.1, OpenID
// Connect Core §3.1.3.3).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// Grants are the grant types Token serves.
var Grants = []string{auth.GrantAuthorizationCode, GrantRefreshToken}

// Token serves the authorization_code and refresh_token grants for the
// authenticated client c, with the token request's form.
func (p *Provider) Token(ctx context.Context, c auth.Client, form map[string]string) (*TokenResponse, error) {
	if !slices.Contains(c.GrantTypes, auth.GrantAuthorizationCode) {
		return nil, fail(CodeUnauthorizedClient, "the client is not registered for user login")
	}
	switch form["grant_type"] {
	case auth.GrantAuthorizationCode:
		return p.exchange(ctx, c, form)
	case GrantRefreshToken:
		return p.refresh(ctx, c, form["refresh_token"], form["scope"])
	}
	return nil, fail(CodeUnsupportedGrantType, "grant_type must be authorization_code or refresh_token")
}

func (p *Provider) exchange(ctx context.Context, c auth.Client, form map[string]string) (*TokenResponse, error) {
	text, verifier := form["code"], form["code_verifier"]
	switch {
	case text == "":
		return nil, fail(CodeInvalidRequest, "code is missing")
	case len(text) > 64:
		// Longer than any code: no grant (RFC 6749 §5.2 invalid_grant).
		return nil, fail(CodeInvalidGrant, "the code is invalid, expired or already used")
	}
	b, err := p.spendCode(ctx, codeKey(text), codeSpentKey(text), text)
	if err != nil {
		return nil, err
	}
	var cd code
	if err := json.Unmarshal(b, &cd); err != nil {
		return nil, failWith(CodeServerError, "internal error", err)
	}
	// The code is spent either way: a wrong client, redirect or verifier
	// is someone who should not have it.
	sum := sha256.Sum256([]byte(verifier))
	switch {
	case !validVerifier(verifier):
		return nil, fail(CodeInvalidGrant, "code_verifier is missing or not 43 to 128 characters from A-Z a-z 0-9 - . _ ~ (PKCE is required)")
	case cd.ClientID != c.ID:
		return nil, fail(CodeInvalidGrant, "the code was issued to another client")
	case form["redirect_uri"] != cd.RedirectURI:
		return nil, fail(CodeInvalidGrant, "redirect_uri does not match the authorization request")
	case subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(cd.CodeChallenge)) != 1:
		return nil, fail(CodeInvalidGrant, "code_verifier does not match the code_challenge")
	}
	if err := p.grantLive(ctx, cd.Grant); err != nil {
		return nil, err
	}
	return p.tokens(ctx, c, refresh{ClientID: c.ID, Scope: cd.Scope, Family: codeFamily(text), Grant: cd.Grant}, cd.Nonce)
}

// refresh serves the refresh_token grant for refresh token tok with the
// request's scope asked (empty when omitted).
func (p *Provider) refresh(ctx context.Context, c auth.Client, tok, asked string) (*TokenResponse, error) {
	invalid := fail(CodeInvalidGrant, "the refresh token is invalid, expired or already used")
	switch {
	case tok == "":
		return nil, fail(CodeInvalidRequest, "refresh_token is missing")
	case len(tok) > 64:
		// Longer than any refresh token: no grant (RFC 6749 §5.2).
		return nil, invalid
	}
	handle, ok := tokenHandle(tok)
	if !ok {
		return p.refreshOlder(ctx, c, tok, asked)
	}
	rt, b, err := p.family(ctx, handle)
	switch {
	case errors.Is(err, errNoToken):
		return nil, invalid
	case err != nil:
		return nil, err
	case rt.ClientID != c.ID:
		return nil, p.endLogin(ctx, handle, rt.Family, fail(CodeInvalidGrant, "the refresh token was issued to another client"))
	case subtle.ConstantTimeCompare([]byte(tokenDigest(tok)), []byte(rt.Current)) != 1:
		// Reuse of a rotated refresh token: someone else has it. Revoke
		// the whole family (OAuth 2.0 Security BCP §4.14.2).
		return nil, p.endLogin(ctx, handle, rt.Family, invalid)
	case p.familyRevoked(ctx, rt.Family):
		return nil, fail(CodeInvalidGrant, "the refresh token was revoked")
	}
	if err := scopeWithin(asked, rt.Scope); err != nil {
		return nil, err
	}
	if err := p.grantLive(ctx, rt.Grant); err != nil {
		return nil, err
	}
	return p.issue(ctx, c, rt, "", handle, b)
}

// scopeWithin refuses the scope asked in a refresh request when it names
// a scope the login was not granted (RFC 6749 §6: it "MUST NOT include
// any scope not originally granted by the resource owner"; §5.2:
// invalid_scope, the scope "exceeds the scope granted by the resource
// owner"). A scope within the grant is taken as it is: the tokens keep
// the grant's scope, which the response names (§3.3: the server "MAY
// fully or partially ignore the scope requested").
func scopeWithin(asked, granted string) error {
	have := strings.Fields(granted)
	for _, s := range strings.Fields(asked) {
		if !slices.Contains(have, s) {
			return fail(CodeInvalidScope, "scope names a scope this login was not granted")
		}
	}
	return nil
}

// olderSpentTTL is how long the spent record of an older node's refresh
// token is kept: until its family is under refreshSpentKey, written
// right after the spending.
const olderSpentTTL = time.Minute

// refreshOlder rotates a refresh token an older node issued: its record
// is spent and the login goes on as a family of this node's form. A
// reuse needs only the family (PIPL Art. 19, 47): it is kept under
// refreshSpentKey for RefreshTokenTTL, as older nodes kept it, and the
// spent record (pairwise sub, released claims) only until then
// (olderSpentTTL), so that a reuse at any moment finds one or the
// other. A family that cannot be written is temporarily_unavailable,
// and the retry, a reuse, revokes the login (as for a code). A scope
// asked beyond the grant (scopeWithin) is refused before the token is
// spent, so that it stays good; a token of another client or of a
// revoked login is left to the checks after the spending. A token at or
// past its exp is refused before it is spent, so that only a rotation
// spends a token, and a spent one presented again is a reuse: spent,
// an expired token presented twice was taken as a reuse, which revoked
// its login.
func (p *Provider) refreshOlder(ctx context.Context, c auth.Client, tok, asked string) (*TokenResponse, error) {
	invalid := fail(CodeInvalidGrant, "the refresh token is invalid, expired or already used")
	if b, err := p.cfg.Store.Peek(ctx, refreshKey(tok)); err == nil {
		var rt refresh
		if json.Unmarshal(b, &rt) == nil {
			if p.ended(rt) {
				return nil, invalid
			}
			if asked != "" && rt.ClientID == c.ID && !p.familyRevoked(ctx, rt.Family) {
				if err := scopeWithin(asked, rt.Scope); err != nil {
					return nil, err
				}
			}
		}
	}
	b, err := p.cfg.Store.Spend(ctx, refreshKey(tok), olderSpentTTL)
	switch {
	case errors.Is(err, store.ErrReplayed):
		var spent refresh
		if json.Unmarshal(b, &spent) == nil {
			return nil, p.revokeAndRefuse(ctx, spent.Family, invalid)
		}
		return nil, invalid
	case errors.Is(err, store.ErrNotFound):
		// The spent record is gone (olderSpentTTL; nodes before Spend
		// consumed the token): its family is kept apart. The marker is
		// then the only sign of the reuse: one that cannot be read is
		// no verdict, and the retry revokes.
		fam, err := p.cfg.Store.Get(ctx, refreshSpentKey(tok))
		switch {
		case err == nil:
			return nil, p.revokeAndRefuse(ctx, string(fam), invalid)
		case !errors.Is(err, store.ErrNotFound):
			return nil, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
		}
		return nil, invalid
	case err != nil:
		return nil, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	var rt refresh
	if err := json.Unmarshal(b, &rt); err != nil {
		return nil, failWith(CodeServerError, "internal error", err)
	}
	if p.ended(rt) {
		// Its exp came between the read above and the spending (or the
		// read failed): refused, and, spent, its next presentation is
		// taken as a reuse, which revokes the login ended with it.
		return nil, invalid
	}
	if err := p.cfg.Store.Set(ctx, refreshSpentKey(tok), []byte(rt.Family), p.cfg.RefreshTokenTTL); err != nil {
		return nil, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	if rt.ClientID != c.ID {
		return nil, p.revokeAndRefuse(ctx, rt.Family, fail(CodeInvalidGrant, "the refresh token was issued to another client"))
	}
	if p.familyRevoked(ctx, rt.Family) {
		return nil, fail(CodeInvalidGrant, "the refresh token was revoked")
	}
	if err := p.grantLive(ctx, rt.Grant); err != nil {
		return nil, err
	}
	return p.tokens(ctx, c, rt, "")
}

// family reads the family record under handle, and the record as stored
// (for CompareAndSwap); errNoToken when there is none (never issued,
// expired) or it is at or past its exp (ended).
func (p *Provider) family(ctx context.Context, handle string) (refresh, []byte, error) {
	b, err := p.cfg.Store.Get(ctx, familyKey(handle))
	if errors.Is(err, store.ErrNotFound) {
		return refresh{}, nil, errNoToken
	}
	if err != nil {
		return refresh{}, nil, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	var rt refresh
	if err := json.Unmarshal(b, &rt); err != nil {
		return refresh{}, nil, failWith(CodeServerError, "internal error", err)
	}
	if p.ended(rt) {
		return refresh{}, nil, errNoToken
	}
	return rt, b, nil
}

// revokeFamily revokes every refresh and access token of a login and
// deletes its family record and its access tokens' records, which no
// token of the revoked login reads again (PIPL Art. 47): only the
// revocation marker is kept. A failed deletion leaves the record to
// expire (the marker refuses its token meanwhile), and so does one an
// issue racing the revocation writes after it read the index.
func (p *Provider) revokeFamily(ctx context.Context, family string) error {
	if err := p.cfg.Store.Set(ctx, familyRevokedKey(family), []byte{1}, p.cfg.RefreshTokenTTL); err != nil {
		return err
	}
	if masked, err := p.cfg.Store.Get(ctx, familyHandleKey(family)); err == nil {
		_ = p.cfg.Store.Delete(ctx, familyKey(string(maskHandle(family, masked))))
		_ = p.cfg.Store.Delete(ctx, familyHandleKey(family))
	}
	for _, a := range p.accessIndex(ctx, family) {
		_ = p.cfg.Store.Delete(ctx, accessKey(string(maskHandle(family, a.Handle))))
	}
	_ = p.cfg.Store.Delete(ctx, accessIndexKey(family))
	return nil
}

// indexedAccess is an access token of a login as accessIndexKey names
// it: its handle, masked (maskHandle), and its expiry (Unix
// milliseconds).
type indexedAccess struct {
	Handle  []byte `json:"h"`
	Expires int64  `json:"exp_ms"`
}

// accessIndex reads the access tokens a login's index names, those
// unexpired; none when it cannot be read.
func (p *Provider) accessIndex(ctx context.Context, family string) []indexedAccess {
	b, err := p.cfg.Store.Get(ctx, accessIndexKey(family))
	if err != nil {
		return nil
	}
	var index []indexedAccess
	if json.Unmarshal(b, &index) != nil {
		return nil
	}
	now := p.cfg.Now().UnixMilli()
	return slices.DeleteFunc(index, func(a indexedAccess) bool { return a.Expires <= now })
}

// maxLiveAccess bounds the live access tokens of one login, and so its
// index, which every issue reads and writes whole (56 bytes an entry:
// 897 at the bound). A client refreshing as a token nears its expiry
// holds one or two; one refreshing more often than every
// AccessTokenTTL/16 (37 s by default) has its oldest tokens ended.
const maxLiveAccess = 16

// indexAccess adds the access token of handle, expiring at exp (Unix
// milliseconds), to the index of its login's access tokens, kept as long
// as the newest of them; a token of no login (family empty) is not
// indexed, as tokens of unrelated records would share one index. A login
// holding maxLiveAccess live access tokens already has its oldest ended
// (its record deleted, as revoking it would) to make room: a client that
// refreshed since holds newer ones; a record that cannot be deleted
// fails the issue, so that the index names every live record. Of a
// login's issues only one at a time goes on (a code is redeemed once,
// and of concurrent refreshes all but one end the login), so the read
// and the write need no swap.
func (p *Provider) indexAccess(ctx context.Context, family, handle string, exp int64) error {
	if family == "" {
		return nil // no login to end (a record of an older node without one)
	}
	index := p.accessIndex(ctx, family)
	if over := len(index) - (maxLiveAccess - 1); over > 0 {
		for _, a := range index[:over] {
			if err := p.cfg.Store.Delete(ctx, accessKey(string(maskHandle(family, a.Handle)))); err != nil {
				return err
			}
		}
		index = index[over:]
	}
	index = append(index, indexedAccess{Handle: maskHandle(family, []byte(handle)), Expires: exp})
	b, _ := json.Marshal(index)
	return p.cfg.Store.Set(ctx, accessIndexKey(family), b, p.cfg.AccessTokenTTL)
}

// revokeAndRefuse ends a login whose code or refresh token came back
// where it must not (a replay, another client) and returns refusal; when
// the revocation cannot be written the refusal is temporarily_unavailable
// instead, so that the login is not taken as ended and a retry (the
// spent record stays) revokes it.
func (p *Provider) revokeAndRefuse(ctx context.Context, family string, refusal *Error) error {
	if err := p.revokeFamily(ctx, family); err != nil {
		return failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	return refusal
}

// endLogin is revokeAndRefuse for a login whose family record is under
// handle, which it then deletes: no token of the revoked login reads it
// again (a failed deletion leaves it to expire).
func (p *Provider) endLogin(ctx context.Context, handle, family string, refusal *Error) error {
	if err := p.revokeFamily(ctx, family); err != nil {
		return failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	_ = p.cfg.Store.Delete(ctx, familyKey(handle))
	return refusal
}

// familyRevoked fails closed: a store that cannot answer counts as revoked.
func (p *Provider) familyRevoked(ctx context.Context, family string) bool {
	_, err := p.cfg.Store.Get(ctx, familyRevokedKey(family))
	return !errors.Is(err, store.ErrNotFound)
}

// grantLive checks that what approved login g (the holder's device
// binding, a counter login's printed code) is still valid: expired is
// CodeInvalidGrant, and so is revoked or suspended (Config.Status), a
// status that cannot be read CodeTemporarilyUnavailable (fail closed, the
// login not ended). A login of an older node, which kept no status entry,
// is not checked.
func (p *Provider) grantLive(ctx context.Context, g grant) error {
	if g.Status != nil && g.Status.Until != 0 && p.cfg.Now().Unix() >= g.Status.Until {
		return fail(CodeInvalidGrant, "the device binding or printed code that approved this login has expired")
	}
	if g.Status == nil || p.cfg.Status == nil {
		return nil
	}
	st, err := p.cfg.Status.Status(ctx, qrcode.StatusRef{Region: g.Status.Region, List: g.Status.List, Index: g.Status.Index})
	switch {
	case err != nil:
		return failWith(CodeTemporarilyUnavailable, "the status of what approved this login cannot be checked now; retry", err)
	case st == qrcode.StatusSuspended:
		return fail(CodeInvalidGrant, "the device binding or printed code that approved this login is suspended")
	case st != qrcode.StatusValid:
		return fail(CodeInvalidGrant, "the device binding or printed code that approved this login is revoked (reported lost or replaced)")
	}
	return nil
}

// tokens issues an access token, an ID token and, with offline_access, the
// first refresh token of a new family record.
func (p *Provider) tokens(ctx context.Context, c auth.Client, rt refresh, nonce string) (*TokenResponse, error) {
	return p.issue(ctx, c, rt, nonce, "", nil)
}

// issue issues an access token, an ID token and, with offline_access, a
// refresh token: the first of a new family, or (old being its record as
// read, handle its key) the next of the family, which replaces old only
// if no other rotation did first; one that did makes this one a reuse,
// which ends the login. An issue that fails deletes the access token's
// record it wrote: the token was given to no one.
func (p *Provider) issue(ctx context.Context, c auth.Client, rt refresh, nonce, handle string, old []byte) (*TokenResponse, error) {
	atHandle, err := p.random(rtHandle)
	if err != nil {
		return nil, err
	}
	atSecret, err := p.random(rtSecret)
	if err != nil {
		return nil, err
	}
	at := atHandle + atSecret
	now := p.cfg.Now()
	record := func(ttl time.Duration) []byte {
		rt.IssuedAt, rt.Expires = now.Unix(), now.Add(ttl).Unix()
		b, _ := json.Marshal(rt)
		return b
	}
	// Indexed before its record is written: revokeFamily finds it.
	if err := p.indexAccess(ctx, rt.Family, atHandle, now.Add(p.cfg.AccessTokenTTL).UnixMilli()); err != nil {
		return nil, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	rt.Current = tokenDigest(at)
	if err := p.cfg.Store.Set(ctx, accessKey(atHandle), record(p.cfg.AccessTokenTTL), p.cfg.AccessTokenTTL); err != nil {
		return nil, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	// An issue that fails from here on gives the token to no one: its
	// record (the pairwise sub, the released claims) is not kept.
	given := false
	defer func() {
		if !given {
			_ = p.cfg.Store.Delete(context.WithoutCancel(ctx), accessKey(atHandle))
		}
	}()
	rt.Current = ""
	resp := &TokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(p.cfg.AccessTokenTTL / time.Second), Scope: rt.Scope}
	// Signed before the rotation: an ID token that cannot be signed now
	// leaves the refresh token the client holds current, for its retry.
	if resp.IDToken, err = p.idToken(c, rt, nonce, at); err != nil {
		return nil, err
	}
	if slices.Contains(strings.Fields(rt.Scope), ScopeOfflineAccess) {
		secret, err := p.random(rtSecret)
		if err != nil {
			return nil, err
		}
		if handle == "" {
			if handle, err = p.random(rtHandle); err != nil {
				return nil, err
			}
		}
		resp.RefreshToken = handle + secret
		rt.Current = tokenDigest(resp.RefreshToken)
		b, ttl := record(p.cfg.RefreshTokenTTL), p.cfg.RefreshTokenTTL
		// The handle is named from the family for as long as the record
		// lives, before the record is written: revokeFamily finds it.
		if err := p.cfg.Store.Set(ctx, familyHandleKey(rt.Family), maskHandle(rt.Family, []byte(handle)), ttl); err != nil {
			return nil, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
		}
		swapped := true
		if old == nil {
			err = p.cfg.Store.Set(ctx, familyKey(handle), b, ttl)
		} else {
			swapped, err = p.cfg.Store.CompareAndSwap(ctx, familyKey(handle), old, b, ttl)
		}
		if err != nil {
			if old == nil {
				_ = p.cfg.Store.Delete(ctx, familyHandleKey(rt.Family)) // it names no record
			}
			return nil, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
		}
		if !swapped {
			return nil, p.endLogin(ctx, handle, rt.Family, fail(CodeInvalidGrant, "the refresh token is invalid, expired or already used"))
		}
	}
	given = true
	return resp, nil
}

// idToken signs the ID token with the client's algorithm (SM2 unless it
// registered ES256).
func (p *Provider) idToken(c auth.Client, rt refresh, nonce, accessToken string) (string, error) {
	alg := c.IDTokenAlg
	if alg == "" {
		alg = gm.AlgSM2
	}
	key, err := p.cfg.Keys.Active(alg)
	if err != nil || key.Signer == nil {
		return "", failWith(CodeTemporarilyUnavailable, "no signing key", err)
	}
	now := p.cfg.Now().Truncate(time.Second)
	g := rt.Grant
	claims := jwt.MapClaims{
		"iss": p.cfg.Issuer, "sub": g.Sub, "aud": c.ID, "azp": c.ID,
		"iat": now.Unix(), "exp": now.Add(p.cfg.IDTokenTTL).Unix(), "auth_time": g.AuthTime,
		"acr": g.ACR, "amr": g.AMR, "sid": rt.Family, "at_hash": halfHash(alg, accessToken),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if g.Act != "" {
		claims["act"] = map[string]string{"sub": g.Act}
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	t.Header["kid"] = key.Kid
	t.Header["typ"] = "JWT"
	signed, err := t.SignedString(key.Signer)
	if err != nil {
		return "", failWith(CodeServerError, "signing failed", err)
	}
	return signed, nil
}

// halfHash is at_hash (OpenID Connect Core §3.1.3.6): the left half of
// the access token's hash with the ID token algorithm's hash, SHA-256
// for ES256 and SM3 for SM2, base64url.
func halfHash(alg, token string) string {
	var h hash.Hash = sha256.New()
	if alg == gm.AlgSM2 {
		h = gm.NewSM3()
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// errNoToken: the token is no live login token.
var errNoToken = errors.New("login: no such token")

// lookup reads a live login token: an access token, else a refresh token
// that is its family's current one (access reports which), or an older
// node's not yet rotated, read without spending it. A token that is
// neither (expired, rotated, revoked alone, never issued) is errNoToken;
// a revoked family is the caller's to check.
func (p *Provider) lookup(ctx context.Context, token string) (rt refresh, access bool, err error) {
	if token == "" || len(token) > 64 {
		return refresh{}, false, errNoToken
	}
	rt, err = p.access(ctx, token)
	if !errors.Is(err, errNoToken) {
		return rt, err == nil, err
	}
	handle, ok := tokenHandle(token)
	if ok {
		rt, _, err := p.family(ctx, handle)
		if err == nil && subtle.ConstantTimeCompare([]byte(tokenDigest(token)), []byte(rt.Current)) != 1 {
			err = errNoToken
		}
		rt.Current = ""
		return rt, false, err
	}
	b, err := p.cfg.Store.Peek(ctx, refreshKey(token))
	if errors.Is(err, store.ErrNotFound) {
		return refresh{}, false, errNoToken
	}
	if err != nil {
		return refresh{}, false, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	if err := json.Unmarshal(b, &rt); err != nil {
		return refresh{}, false, failWith(CodeServerError, "internal error", err)
	}
	if p.ended(rt) {
		return refresh{}, false, errNoToken
	}
	return rt, false, nil
}

// accessRecordKey is the key of access token token's record: under its
// handle for a token of this node's form, under the token for an older
// node's.
func accessRecordKey(token string) string {
	if handle, ok := tokenHandle(token); ok {
		return accessKey(handle)
	}
	return accessKey(token)
}

// access reads a live access token's record: of this node's form under
// its handle, its digest checked, else an older node's under the token
// (a record with a digest is none: the token sent was its handle);
// errNoToken when there is none or it is at or past its exp.
func (p *Provider) access(ctx context.Context, token string) (refresh, error) {
	_, ours := tokenHandle(token)
	b, err := p.cfg.Store.Get(ctx, accessRecordKey(token))
	if errors.Is(err, store.ErrNotFound) {
		return refresh{}, errNoToken
	}
	if err != nil {
		return refresh{}, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	var rt refresh
	if err := json.Unmarshal(b, &rt); err != nil {
		return refresh{}, failWith(CodeServerError, "internal error", err)
	}
	// A record of this node's form holds its token's digest, whatever was
	// sent: its handle alone (an older node's key, by its length) is no
	// token.
	if (ours || rt.Current != "") && subtle.ConstantTimeCompare([]byte(tokenDigest(token)), []byte(rt.Current)) != 1 {
		return refresh{}, errNoToken
	}
	if p.ended(rt) {
		return refresh{}, errNoToken
	}
	rt.Current = ""
	return rt, nil
}

// ended reports whether the token of record rt is at or past the exp it
// holds, which ends it (RFC 7519 §4.1.4: not accepted on or after exp;
// RFC 7662 §2.2: active only before its expiration time). The store
// keeps a record for the lifetime from the issue's sub-second instant,
// up to a second past that exp (whole seconds): every read of an access
// or refresh token's record asks this. A record of an older node
// without exp (zero) ends with its entry.
func (p *Provider) ended(rt refresh) bool {
	return rt.Expires != 0 && p.cfg.Now().Unix() >= rt.Expires
}

// rotated reads the login of a refresh token rotated already: its
// family's record, which outlives the token, or the spent record an
// older node's token left (Spend of a spent token changes nothing and
// returns its record with store.ErrReplayed), or the family alone its
// refreshSpentKey marker keeps (no ClientID); anything else is
// errNoToken.
func (p *Provider) rotated(ctx context.Context, token string) (refresh, error) {
	if token == "" || len(token) > 64 {
		return refresh{}, errNoToken
	}
	if handle, ok := tokenHandle(token); ok {
		rt, _, err := p.family(ctx, handle)
		return rt, err
	}
	// Not spent (lookup found it at or past its exp): not rotated, and
	// left unspent, to expire with its entry.
	switch _, err := p.cfg.Store.Peek(ctx, refreshKey(token)); {
	case err == nil:
		return refresh{}, errNoToken
	case !errors.Is(err, store.ErrNotFound):
		return refresh{}, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	// Spent or gone: Spend changes nothing, and returns a spent record.
	b, err := p.cfg.Store.Spend(ctx, refreshKey(token), olderSpentTTL)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Rotated by an older node, or here past olderSpentTTL: the
		// family is all that is kept (refreshSpentKey).
		fam, err := p.cfg.Store.Get(ctx, refreshSpentKey(token))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return refresh{}, errNoToken
		case err != nil:
			return refresh{}, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
		}
		return refresh{Family: string(fam)}, nil
	case err == nil:
		return refresh{}, errNoToken // unspent after all: not rotated
	case !errors.Is(err, store.ErrReplayed):
		return refresh{}, failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	var rt refresh
	if err := json.Unmarshal(b, &rt); err != nil {
		return refresh{}, failWith(CodeServerError, "internal error", err)
	}
	return rt, nil
}

// Introspect answers the introspection endpoint (RFC 7662) about a login
// token for the authenticated client caller: a live access or refresh
// token is active to the client it was issued to, or to a client allowed
// registry:admin while the token's client is registered and enabled;
// anything else (unknown, expired, rotated, revoked, another client's, of
// a login whose device binding is revoked or suspended: grantLive) is
// {"active": false}. Errors: CodeTemporarilyUnavailable, CodeServerError.
func (p *Provider) Introspect(ctx context.Context, caller auth.Client, token string) (auth.Introspection, error) {
	rt, access, err := p.lookup(ctx, token)
	if errors.Is(err, errNoToken) {
		return auth.Introspection{}, nil
	}
	if err != nil {
		return auth.Introspection{}, err
	}
	if rt.ClientID != caller.ID {
		if !caller.HasScope(auth.ScopeRegistryAdmin) {
			return auth.Introspection{}, nil
		}
		if _, err := p.client(ctx, rt.ClientID); err != nil {
			if asError(err).Code == CodeTemporarilyUnavailable {
				return auth.Introspection{}, err
			}
			return auth.Introspection{}, nil
		}
	}
	if p.familyRevoked(ctx, rt.Family) {
		return auth.Introspection{}, nil
	}
	if err := p.grantLive(ctx, rt.Grant); err != nil {
		if asError(err).Code == CodeTemporarilyUnavailable {
			return auth.Introspection{}, err
		}
		return auth.Introspection{}, nil
	}
	res := auth.Introspection{Active: true, Scope: rt.Scope, ClientID: rt.ClientID, Exp: rt.Expires, Iat: rt.IssuedAt,
		Sub: rt.Grant.Sub, Iss: p.cfg.Issuer}
	if access {
		res.TokenType, res.Aud = "Bearer", p.cfg.Issuer
	}
	return res, nil
}

// Revoke answers the revocation endpoint (RFC 7009) for a login token of
// the authenticated client c: a refresh token revokes its whole login
// (every refresh and access token of its family, §2.1), an access token
// itself. A refresh token rotated already (a refresh racing the
// logout, or someone else's use of the token) revokes its login too, so
// the rotation's new tokens end with it; of an older node's token only
// the family is then kept (refreshSpentKey), its client unknown, and
// the token alone revokes it, as its reuse at the token endpoint does.
// A token that is no login token (unknown, expired) is not an error
// (§2.2); one of another client is
// refused and left alone (§2.1: "the request is refused and the client
// is informed of the error"), as the node's JWT access tokens are.
// Errors: CodeUnauthorizedClient, CodeTemporarilyUnavailable,
// CodeServerError.
func (p *Provider) Revoke(ctx context.Context, c auth.Client, token string) error {
	rt, access, err := p.lookup(ctx, token)
	if errors.Is(err, errNoToken) {
		rt, err = p.rotated(ctx, token)
	}
	if errors.Is(err, errNoToken) {
		return nil
	}
	if err == nil && rt.ClientID != c.ID && rt.ClientID != "" {
		return fail(CodeUnauthorizedClient, "the token was issued to another client")
	}
	if err != nil {
		return err
	}
	if access {
		err = p.cfg.Store.Delete(ctx, accessRecordKey(token))
	} else {
		err = p.revokeFamily(ctx, rt.Family)
	}
	if err != nil {
		return failWith(CodeTemporarilyUnavailable, "the token store is unavailable", err)
	}
	if handle, ok := tokenHandle(token); ok && !access {
		// No token of the revoked login reads its family record again.
		_ = p.cfg.Store.Delete(ctx, familyKey(handle))
	}
	return nil
}

// UserInfo answers the userinfo endpoint for an access token: the
// pairwise sub and the claims the holder released that the client is
// registered for. A refused token's error carries CodeInvalidToken; a
// store or client registry outage CodeTemporarilyUnavailable.
func (p *Provider) UserInfo(ctx context.Context, accessToken string) (map[string]any, error) {
	if accessToken == "" || len(accessToken) > 64 {
		return nil, fail(CodeInvalidToken, "an access token is required")
	}
	rt, err := p.access(ctx, accessToken)
	if errors.Is(err, errNoToken) {
		return nil, fail(CodeInvalidToken, "the access token is invalid or expired")
	}
	if err != nil {
		return nil, err
	}
	if p.familyRevoked(ctx, rt.Family) {
		return nil, fail(CodeInvalidToken, "the access token was revoked")
	}
	if err := p.grantLive(ctx, rt.Grant); err != nil {
		if e := asError(err); e.Code == CodeInvalidGrant {
			return nil, fail(CodeInvalidToken, e.Description)
		}
		return nil, err
	}
	c, err := p.client(ctx, rt.ClientID)
	if err != nil {
		// A registry outage is no verdict on the token (as Introspect).
		if asError(err).Code == CodeTemporarilyUnavailable {
			return nil, err
		}
		return nil, fail(CodeInvalidToken, "the access token's client is no longer registered")
	}
	out := map[string]any{"sub": rt.Grant.Sub}
	for name, v := range rt.Grant.Claims {
		if !slices.Contains(c.Claims, name) {
			continue
		}
		switch v {
		case "true":
			out[name] = true
		case "false":
			out[name] = false
		default:
			out[name] = v
		}
	}
	return out, nil
}

// LoggedOut is what a logout that ended its login leaves to do.
type LoggedOut struct {
	// Redirect is the post_logout_redirect_uri given, with state, or ""
	// when none was given or it is not registered.
	Redirect string
	// NoReturn is the refusal (CodeInvalidRequest) of a
	// post_logout_redirect_uri that is not registered for the client, nil
	// otherwise: the person is not sent there, and stays at the node.
	NoReturn *Error
}

// Logout serves RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0): id_token_hint must be an ID token this node issued (expired ones
// too), or another instance of its region (Config.Instances); the tokens
// of its login (its sid) are revoked. A post_logout_redirect_uri must be
// one of the client's registered post_logout_redirect_uris (exact string
// match; its login redirect_uris do not count) to be redirected to (see
// LoggedOut). An error means the login was not ended.
func (p *Provider) Logout(ctx context.Context, q url.Values) (LoggedOut, error) {
	for _, name := range []string{"id_token_hint", "post_logout_redirect_uri", "state", "client_id"} {
		if len(q[name]) > 1 {
			return LoggedOut{}, fail(CodeInvalidRequest, name+" is repeated")
		}
	}
	hint := q.Get("id_token_hint")
	if hint == "" || len(hint) > 8<<10 {
		return LoggedOut{}, fail(CodeInvalidRequest, "id_token_hint is required")
	}
	parser, err := gm.NewJWTParser(IDTokenAlgorithms, jwt.WithIssuer(p.cfg.Issuer), jwt.WithoutClaimsValidation())
	if err != nil {
		return LoggedOut{}, failWith(CodeServerError, "internal error", err)
	}
	var claims struct {
		jwt.RegisteredClaims
		SID string `json:"sid"`
	}
	_, err = parser.ParseWithClaims(hint, &claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			// RFC 7515 §4.1.11: the node understands no extension.
			return nil, errors.New("crit header parameter")
		}
		kid, _ := t.Header["kid"].(string)
		for _, k := range p.cfg.Keys.Published() {
			if k.Kid == kid && k.Alg == t.Method.Alg() {
				return k.Public, nil
			}
		}
		if p.cfg.Instances == nil {
			return nil, errors.New("unknown kid")
		}
		pub, alg, err := p.cfg.Instances.InstanceKey(ctx, kid)
		if err == nil && alg != t.Method.Alg() {
			err = errors.New("alg other than the registry key's")
		}
		return pub, err
	})
	if err != nil || claims.Issuer != p.cfg.Issuer || len(claims.Audience) != 1 || claims.SID == "" {
		return LoggedOut{}, fail(CodeInvalidRequest, "id_token_hint is not an ID token of this node")
	}
	if id := q.Get("client_id"); id != "" && id != claims.Audience[0] {
		return LoggedOut{}, fail(CodeInvalidRequest, "client_id does not match id_token_hint")
	}
	c, err := p.client(ctx, claims.Audience[0])
	if err != nil {
		return LoggedOut{}, err
	}
	if err := p.revokeFamily(ctx, claims.SID); err != nil {
		return LoggedOut{}, failWith(CodeTemporarilyUnavailable, "the login cannot be ended now; retry", err)
	}
	target := q.Get("post_logout_redirect_uri")
	switch {
	case target == "":
		return LoggedOut{}, nil
	case !slices.Contains(c.PostLogoutRedirectURIs, target):
		return LoggedOut{NoReturn: fail(CodeInvalidRequest, "post_logout_redirect_uri is not registered for the client")}, nil
	}
	return LoggedOut{Redirect: redirectWith(target, map[string]string{"state": q.Get("state")})}, nil
}
