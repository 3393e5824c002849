package login

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// Logins for other protocols. The node's user login also authenticates
// the holder for other authorization servers of the node (OpenID for
// Verifiable Credential Issuance's): the same client registry, redirect
// URI and PKCE checks, the same login page, QR, approval and session, but
// codes that only that protocol redeems (through Redeem, never at the
// OpenID Connect token endpoint) and no ID token.

// Extension describes an authorization request of another protocol.
type Extension struct {
	// Audience names the protocol (e.g. "oid4vci"); a code issued for it
	// is redeemed only by Redeem with the same audience.
	Audience string
	// Issuer is the protocol's authorization server identifier, sent as
	// iss in the redirect (RFC 9207).
	Issuer string
	// Params are the protocol's own parameters: checked, like the common
	// ones, for repetition and length.
	Params []string
	// Check reads the protocol's parameters once the client and redirect
	// URI are known good (and response_type, state and PKCE checked). Its
	// *Error is sent back to the redirect URI; any other error is a
	// server error.
	Check func(ctx context.Context, client auth.Client, q url.Values) (*ExtensionGrant, error)
	// LoopbackAnyPort takes a loopback IP redirect URI on any port, as a
	// protocol of native apps' public clients must (RFC 8252 §7.3, RFC
	// 9700 §4.1.3); user login, an OpenID Connect protocol, matches
	// exactly (OpenID Connect Core §3.1.2.1).
	LoopbackAnyPort bool
}

// ExtensionGrant is what Check lets the login proceed with.
type ExtensionGrant struct {
	// Data is carried, sealed, from the session to the code and given
	// back by Redeem. At most 64 KiB.
	Data []byte
	// SubjectClient is the client whose pairwise sector the login's sub
	// is computed for (empty: the requesting client's).
	SubjectClient string
	// RequiredSub, when set, is the only sub (for SubjectClient's sector)
	// that may approve: anyone else's approval is refused.
	RequiredSub string
	// Purpose is shown to the holder with the client's name (e.g. which
	// credential from which issuer), at most 200 bytes in English.
	Purpose *Purpose
	// Level is the assurance the approval must reach: at least (and by
	// default) L2, the bound device; L3 and L4 ask for the holder's PIN,
	// as an OpenID Connect login with acr_values does.
	Level identity.Level
	// Commit, when set, is called once the session is stored, to spend
	// what Check only read (an offer's single-use state): a store failure
	// while the session is written then leaves it unspent. If Commit
	// fails, the session is removed and the error answered as Check's.
	Commit func(ctx context.Context) error
}

// extensionParams are the common parameters of an extension's request.
var extensionParams = []string{"client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method", "response_mode", "ui_locales"}

const maxExtensionData = 64 << 10

// AuthorizeFor checks an authorization request of another protocol and
// starts its login session, as Authorize does for OpenID Connect. Errors
// are *AuthorizeError, with RedirectURI set once client_id and
// redirect_uri are known good. The login asks for the grant's Level (at
// least L2, the holder's bound device) and releases no claim; a guardian
// cannot approve it.
func (p *Provider) AuthorizeFor(ctx context.Context, q url.Values, x Extension) (*Started, error) {
	if x.Audience == "" || x.Issuer == "" || x.Check == nil {
		return nil, failWith(CodeServerError, "internal error", errors.New("login: an extension needs Audience, Issuer and Check"))
	}
	r, err := p.checkRequest(ctx, q, append(slices.Clone(extensionParams), x.Params...), x.LoopbackAnyPort)
	if err != nil {
		return nil, err
	}
	g, err := x.Check(ctx, r.client, q)
	if err != nil {
		return nil, extensionError(err, r)
	}
	if len(g.Data) > maxExtensionData || len(g.Purpose.String()) > 200 || g.Level > identity.L4 {
		return nil, failWith(CodeServerError, "internal error", errors.New("login: extension data or purpose too large"))
	}
	s := &session{
		ClientID: r.client.ID, RedirectURI: r.redirect, State: r.state, CodeChallenge: r.challenge, Level: int(max(g.Level, minLevel)),
		Audience: x.Audience, Iss: x.Issuer, SubjectClient: g.SubjectClient, RequiredSub: g.RequiredSub, Purpose: g.Purpose,
	}
	st, err := p.start(ctx, r.client, s, g.Data)
	if err != nil {
		return nil, err
	}
	if g.Commit != nil {
		if err := g.Commit(ctx); err != nil {
			// Nobody knows the session ID; spending its approval guard
			// makes it unusable even so (it expires with its TTL).
			_, _ = p.cfg.Store.Consume(ctx, onceKey(st.ID, 0))
			return nil, extensionError(err, r)
		}
	}
	st.Restartable = p.keepRestart(ctx, st.ID, s, s.Until)
	st.UILocales = q.Get("ui_locales")
	return st, nil
}

// restartKey keeps another protocol's login session, as started, past
// its expiry, for Restart: its request is spent, so the page cannot send
// it again as an OpenID Connect login's does.
func restartKey(id string) string { return "login-session-restart:" + id }

// restart is a login session as restartKey keeps it: the session as
// started (its data sealed under its ID) and the time (Unix seconds)
// until which it, and the sessions Restart starts from it, may be
// started again: the first session's longest life.
type restart struct {
	Session session `json:"s"`
	By      int64   `json:"by"`
}

// keepRestart keeps session id, just started, for Restart until by, and
// reports whether it did (a store failure leaves the login not
// restartable: its page says to go back to the site).
func (p *Provider) keepRestart(ctx context.Context, id string, s *session, by int64) bool {
	ttl := time.Unix(by, 0).Sub(p.cfg.Now())
	if ttl <= 0 {
		return false
	}
	b, err := json.Marshal(restart{Session: *s, By: by})
	return err == nil && p.cfg.Store.Put(ctx, restartKey(id), b, ttl) == nil
}

// Restart starts another protocol's login session id again, once, for
// the browser whose secret is browser (the login page's cookie): a new
// session (ID, QR challenge, browser secret) for the same request, kept
// for Restart in its turn. It is the expired page's "Get a new code"
// (WCAG 2.2.1) where the request cannot be sent again (a pushed
// request_uri, an offer's issuer_state are spent). A session may be
// started again until the first one's longest life (1+SessionExtensions
// lifetimes) is over, and not once it was answered on the phone (its
// page collects the answer: CodeSessionNotFound wrapping ErrAnswered);
// one unknown, another browser's, restarted already or past that time
// is CodeSessionNotFound, and changes nothing. The session, if still
// open, ends (endUnanswered: one approved meanwhile is kept, and the
// restart refused as answered). A store failure after the copy was
// taken (the new session not written) ends the login: its page then
// says to go back to the site.
func (p *Provider) Restart(ctx context.Context, id, browser string) (*Started, error) {
	if id == "" || len(id) > 64 {
		return nil, fail(CodeSessionNotFound, "no such login session")
	}
	b, err := p.cfg.Store.Peek(ctx, restartKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail(CodeSessionNotFound, "the login can no longer be started again here")
	}
	if err != nil {
		return nil, failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
	}
	var r restart
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, failWith(CodeServerError, "internal error", err)
	}
	if p.cfg.Now().Unix() >= r.By {
		return nil, fail(CodeSessionNotFound, "the login can no longer be started again here")
	}
	if subtle.ConstantTimeCompare([]byte(digest(browser)), []byte(r.Session.Browser)) != 1 {
		return nil, fail(CodeSessionNotFound, "no login session for this browser")
	}
	data, err := p.open("session", id, r.Session.Data)
	if err != nil {
		return nil, err
	}
	c, err := p.client(ctx, r.Session.ClientID)
	if err != nil {
		return nil, err
	}
	if err := p.endUnanswered(ctx, id, false); err != nil {
		return nil, err
	}
	if _, err := p.cfg.Store.Consume(ctx, restartKey(id)); errors.Is(err, store.ErrNotFound) {
		return nil, fail(CodeSessionNotFound, "the login was started again already")
	} else if err != nil {
		return nil, failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
	}
	if err := p.endUnanswered(ctx, id, true); err != nil {
		return nil, err
	}
	old := r.Session
	s := &session{ClientID: old.ClientID, RedirectURI: old.RedirectURI, State: old.State, CodeChallenge: old.CodeChallenge, Level: old.Level,
		Audience: old.Audience, Iss: old.Iss, SubjectClient: old.SubjectClient, RequiredSub: old.RequiredSub, Purpose: old.Purpose,
		Until: r.By}
	st, err := p.start(ctx, c, s, data)
	if err != nil {
		return nil, err
	}
	st.Restartable = p.keepRestart(ctx, st.ID, s, r.By)
	return st, nil
}

// endUnanswered refuses, as ErrAnswered, to restart session id once it
// was answered on the phone (its page collects the answer), and, with
// end, ends it otherwise: it deletes the record only as it read it (the
// store's CompareAndDelete), so that an approval stored meanwhile is
// kept, and the restart refused, not the approval lost. A store failure
// while ending is CodeTemporarilyUnavailable.
func (p *Provider) endUnanswered(ctx context.Context, id string, end bool) error {
	for {
		b, err := p.cfg.Store.Get(ctx, sessionKey(id))
		if errors.Is(err, store.ErrNotFound) || (err != nil && !end) {
			return nil
		}
		if err != nil {
			return failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
		}
		var open session
		if json.Unmarshal(b, &open) != nil || open.Approved != nil || open.Denied {
			return failWith(CodeSessionNotFound, "the login session was already answered", ErrAnswered)
		}
		if !end {
			return nil
		}
		n, err := p.cfg.Store.CompareAndDelete(ctx, b, sessionKey(id))
		if err != nil {
			return failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
		}
		if n == 1 {
			return nil
		}
	}
}

// CheckFor checks an authorization request of another protocol as
// AuthorizeFor does (the client, redirect URI, PKCE and the protocol's
// Check), without starting a session: for a pushed authorization request
// (RFC 9126), which is checked when it is pushed and again when it is
// used. Errors are as AuthorizeFor's.
func (p *Provider) CheckFor(ctx context.Context, q url.Values, x Extension) error {
	if x.Audience == "" || x.Issuer == "" || x.Check == nil {
		return failWith(CodeServerError, "internal error", errors.New("login: an extension needs Audience, Issuer and Check"))
	}
	r, err := p.checkRequest(ctx, q, append(slices.Clone(extensionParams), x.Params...), x.LoopbackAnyPort)
	if err != nil {
		return err
	}
	if _, err := x.Check(ctx, r.client, q); err != nil {
		return extensionError(err, r)
	}
	return nil
}

// extensionError answers an error of an extension's Check or Commit: its
// *Error is sent back to the redirect URI, a store outage is
// temporarily_unavailable, anything else a server error.
func extensionError(err error, r *checked) error {
	var e *Error
	if errors.As(err, &e) {
		return &AuthorizeError{Err: e, RedirectURI: r.redirect, State: r.state}
	}
	if errors.Is(err, store.ErrUnavailable) {
		return failWith(CodeTemporarilyUnavailable, "temporarily unavailable; try again", err)
	}
	return failWith(CodeServerError, "internal error", err)
}

// sealKey derives the SM4 key sealing extension data under a secret (the
// session ID, then the code), so that the store, which keeps only hashes
// of those, holds the data unreadable.
func sealKey(purpose, secret string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(secret), nil, "trustid login "+purpose, gm.SM4KeySize)
	if err != nil {
		panic(err) // only for lengths out of range, which are constant here
	}
	return k
}

func (p *Provider) seal(purpose, secret string, data []byte) ([]byte, error) {
	if data == nil {
		return nil, nil
	}
	b, err := gm.Seal(p.cfg.Rand, sealKey(purpose, secret), data, []byte(purpose))
	if err != nil {
		return nil, failWith(CodeServerError, "internal error", err)
	}
	return b, nil
}

func (p *Provider) open(purpose, secret string, sealed []byte) ([]byte, error) {
	if sealed == nil {
		return nil, nil
	}
	b, err := gm.Open(sealKey(purpose, secret), sealed, []byte(purpose))
	if err != nil {
		return nil, failWith(CodeServerError, "internal error", err)
	}
	return b, nil
}

// subjectOf is the login's sub for session s: pairwise for the sector of
// the session's subject client (the requesting client unless the
// extension named another), and the required one when the session has
// one.
func (p *Provider) subjectOf(ctx context.Context, s *session, requester auth.Client, subject []byte) (string, error) {
	c := requester
	if s.SubjectClient != "" && s.SubjectClient != requester.ID {
		var err error
		if c, err = p.client(ctx, s.SubjectClient); err != nil {
			return "", failWith(CodeApprovalRefused, "the party this login is for is no longer registered", err)
		}
	}
	sub, err := p.cfg.Pairwise.Pairwise(subject, sectorOf(c))
	if err != nil {
		return "", failWith(CodeApprovalRefused, "the subject is not this region's", err)
	}
	if s.RequiredSub != "" && subtle.ConstantTimeCompare([]byte(sub), []byte(s.RequiredSub)) != 1 {
		return "", fail(CodeApprovalRefused, "this login is for another person")
	}
	return sub, nil
}

// Deny records the holder's refusal of session id: the request is signed
// by the holder's bound device key over the session's challenge, for
// qrcode.PurposeLoginDeny, and is taken only from a holder who could
// approve the session: one whose binding is at the level asked (the PIN
// is not asked to refuse) and, for a login for one person (an OID4VCI
// offer's holder), that person. So refusing gives no one a power that
// approving does not (an approval ends the session too); a refusal
// not taken spends and changes nothing, as a refused approval. The browser
// is then sent back with error access_denied (RFC 6749 §4.1.2.1).
func (p *Provider) Deny(ctx context.Context, id string, a *Approval) error {
	s, read, err := p.readSession(ctx, id)
	if err != nil {
		return err
	}
	if s.Approved != nil || s.Denied {
		return fail(CodeSessionNotFound, "the login session was already answered")
	}
	want, _ := base64.RawURLEncoding.DecodeString(s.Challenge)
	if subtle.ConstantTimeCompare(a.Request.Nonce, want) != 1 {
		return fail(CodeApprovalRefused, "the refusal does not sign this session's challenge")
	}
	c, err := p.client(ctx, s.ClientID)
	if err != nil {
		return err
	}
	h, err := p.cfg.Holders.CheckHolder(ctx, &a.Request, qrcode.PurposeLoginDeny)
	if err != nil {
		return holderError(err)
	}
	if !identity.Level(h.Assurance).AtLeast(identity.Level(s.Level)) {
		return fail(CodeApprovalRefused, "the holder's binding is below the assurance level of this login: only a holder who could approve it may refuse it")
	}
	if s.RequiredSub != "" {
		if _, err := p.subjectOf(ctx, s, c, h.Subject); err != nil {
			return err
		}
	}
	if err := p.cfg.Holders.SpendHolder(ctx, &a.Request, qrcode.PurposeLoginDeny, h); err != nil {
		return holderError(err)
	}
	s.Denied = true
	return p.answer(ctx, id, read, s)
}

// Redemption is a token request redeeming an extension's code: the
// public client that asked, the redirect URI and PKCE verifier of its
// authorization request.
type Redemption struct {
	Code, ClientID, RedirectURI, Verifier string
}

// Redeemed is what a redeemed code established.
type Redeemed struct {
	// Sub is the pairwise subject for the session's subject client.
	Sub      string
	ACR      string
	AMR      []string
	AuthTime int64
	// Data is the extension's data, as Check gave it.
	Data []byte
	// Family names the grant: what the protocol issues from the code
	// should stop working once Revoked(Family) says so (a replayed code).
	Family string
	// Approver is the status entry of the binding that approved the
	// login (nil in logins of older nodes): what the protocol issues
	// from the code should stop working once Standing(Approver) refuses.
	Approver *StatusEntry
}

func xcodeKey(aud, c string) string      { return "login-xcode:" + aud + ":" + c }
func xcodeSpentKey(aud, c string) string { return "login-xcode-spent:" + aud + ":" + c }

// xcode is an extension's code as stored.
type xcode struct {
	ClientID      string `json:"client_id"`
	RedirectURI   string `json:"redirect_uri"`
	CodeChallenge string `json:"code_challenge"`
	Grant         grant  `json:"grant"`
	Data          []byte `json:"data,omitempty"`
}

// issueExtensionCode stores the code of an approved extension session.
func (p *Provider) issueExtensionCode(ctx context.Context, id string, s *session) (string, error) {
	data, err := p.open("session", id, s.Data)
	if err != nil {
		return "", err
	}
	c, err := p.random(32)
	if err != nil {
		return "", err
	}
	sealed, err := p.seal("code", c, data)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(xcode{ClientID: s.ClientID, RedirectURI: s.RedirectURI, CodeChallenge: s.CodeChallenge, Grant: *s.Approved, Data: sealed})
	if err := p.cfg.Store.Put(ctx, xcodeKey(s.Audience, c), b, p.cfg.CodeTTL); err != nil {
		return "", failWith(CodeTemporarilyUnavailable, "the code store is unavailable", err)
	}
	return c, nil
}

// Redeem redeems an extension's code, once: the code must have been
// issued for audience to r.ClientID, with r.RedirectURI, and r.Verifier
// must match its S256 challenge. A wrong client, redirect URI or verifier
// spends the code, and so does a device binding that approved it revoked
// or suspended since (grantLive). A replayed code is refused and revokes
// the family of what the first redemption gave (RFC 6749 §4.1.2). Errors
// are *Error with CodeInvalidRequest or CodeInvalidGrant (or the store's).
func (p *Provider) Redeem(ctx context.Context, audience string, r Redemption) (*Redeemed, error) {
	if r.Code == "" || len(r.Code) > 64 {
		return nil, fail(CodeInvalidRequest, "code is missing")
	}
	if r.ClientID == "" {
		return nil, fail(CodeInvalidRequest, "client_id is missing (a public client identifies itself)")
	}
	b, err := p.spendCode(ctx, xcodeKey(audience, r.Code), xcodeSpentKey(audience, r.Code), r.Code)
	if err != nil {
		return nil, err
	}
	var cd xcode
	if err := json.Unmarshal(b, &cd); err != nil {
		return nil, failWith(CodeServerError, "internal error", err)
	}
	sum := sha256.Sum256([]byte(r.Verifier))
	switch {
	case !validVerifier(r.Verifier):
		return nil, fail(CodeInvalidGrant, "code_verifier is missing or not 43 to 128 characters from A-Z a-z 0-9 - . _ ~ (PKCE is required)")
	case subtle.ConstantTimeCompare([]byte(cd.ClientID), []byte(r.ClientID)) != 1:
		return nil, fail(CodeInvalidGrant, "the code was issued to another client")
	case r.RedirectURI != cd.RedirectURI:
		return nil, fail(CodeInvalidGrant, "redirect_uri does not match the authorization request")
	case subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(cd.CodeChallenge)) != 1:
		return nil, fail(CodeInvalidGrant, "code_verifier does not match the code_challenge")
	}
	if err := p.grantLive(ctx, cd.Grant); err != nil {
		return nil, err
	}
	data, err := p.open("code", r.Code, cd.Data)
	if err != nil {
		return nil, err
	}
	g := cd.Grant
	return &Redeemed{Sub: g.Sub, ACR: g.ACR, AMR: g.AMR, AuthTime: g.AuthTime, Data: data, Family: codeFamily(r.Code), Approver: g.Status}, nil
}

// Standing checks that what approved a login (Redeemed.Approver) still
// stands: nil when it is valid, or nil (a login of an older node); an
// *Error with CodeInvalidGrant when it is revoked or suspended,
// CodeTemporarilyUnavailable when its status cannot be read.
func (p *Provider) Standing(ctx context.Context, approver *StatusEntry) error {
	return p.grantLive(ctx, grant{Status: approver})
}

// Live reports whether code is an extension's code for audience that
// is issued, unexpired and unspent, reading only (a wrong client,
// redirect URI or verifier is found only by Redeem).
func (p *Provider) Live(ctx context.Context, audience, code string) (bool, error) {
	if code == "" || len(code) > 64 {
		return false, nil
	}
	_, err := p.cfg.Store.Peek(ctx, xcodeKey(audience, code))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Revoked reports whether the grant family was revoked (a replayed
// code). It fails closed: a store that cannot answer counts as revoked.
func (p *Provider) Revoked(ctx context.Context, family string) bool {
	return p.familyRevoked(ctx, family)
}
