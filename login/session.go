package login

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// session is a login session as stored: the authorization request, the
// digest of the browser secret, the challenge the holder signs, and once
// approved, who logged in.
type session struct {
	ClientID      string   `json:"client_id"`
	RedirectURI   string   `json:"redirect_uri"`
	State         string   `json:"state,omitempty"`
	Nonce         string   `json:"nonce,omitempty"`
	CodeChallenge string   `json:"code_challenge"`
	Scope         string   `json:"scope"`
	Claims        []string `json:"claims,omitempty"`
	Level         int      `json:"level"`
	// ACRValues are the levels an essential acr claim asked for
	// (essentialACR), ascending; the login's acr is one of them.
	ACRValues []identity.Level `json:"acr_values,omitempty"`
	Browser   string           `json:"browser"`
	Challenge string           `json:"challenge"`
	Expires   int64            `json:"expires"`
	// Until is the latest Expires may become (Extend); 0 for a session
	// an older node started or wrote back, which is not extended.
	Until int64 `json:"until,omitempty"`
	// Once is the generation of the session's single-use key (onceKey),
	// which lives as long as the session: each extension puts a fresh one
	// for the new life and names it here; 0, the key putSession put.
	Once int `json:"once,omitempty"`

	// Request is a login's authorization request as Authorize read it
	// (the parameters it reads, but login_hint, which it reads past and
	// which names the person), for Resume; nil for another protocol's
	// login (AuthorizeFor), whose request is spent, and in sessions of
	// older nodes.
	Request url.Values `json:"request,omitempty"`

	Approved *grant `json:"approved,omitempty"`
	// Denied: the holder refused; the browser goes back with access_denied.
	Denied bool `json:"denied,omitempty"`

	// Set for another protocol's login (AuthorizeFor): its audience and
	// issuer (the redirect's iss), its data sealed under the session ID,
	// whose pairwise sub the login yields, the only sub that may approve,
	// and what the holder is shown.
	Audience      string   `json:"aud,omitempty"`
	Iss           string   `json:"iss,omitempty"`
	Data          []byte   `json:"data,omitempty"`
	SubjectClient string   `json:"subject_client,omitempty"`
	RequiredSub   string   `json:"required_sub,omitempty"`
	Purpose       *Purpose `json:"purpose_of,omitempty"`
	// OldPurpose is the purpose in words, as nodes before login.Purpose
	// stored it: such a session is refused (see getSession).
	OldPurpose string `json:"purpose,omitempty"`
}

// grant is what a login established, carried from the session to the
// code and from the code to the tokens.
type grant struct {
	Sub      string            `json:"sub"`
	ACR      string            `json:"acr"`
	AMR      []string          `json:"amr"`
	AuthTime int64             `json:"auth_time"`
	Claims   map[string]string `json:"claims,omitempty"`
	// Act names who approved on the holder's behalf (a counter terminal or
	// a guardian), empty when the holder did.
	Act string `json:"act,omitempty"`
	// Status is the status entry of what approved the login (the device
	// binding that signed the approval, or a counter login's printed
	// code), checked again whenever the login's tokens are used
	// (Provider.grantLive); nil in logins of older nodes.
	Status *StatusEntry `json:"status,omitempty"`
}

// StatusEntry is the status entry of what approved a login (a
// qrcode.StatusRef) as a login keeps it, and as a protocol redeeming an
// extension's code keeps it (Redeemed.Approver) to ask Standing.
type StatusEntry struct {
	Region uint32 `json:"region"`
	List   uint32 `json:"list"`
	Index  uint32 `json:"index"`
	// Until is when what approved the login expires (Unix seconds; 0 in
	// logins of older nodes): the login ends then too.
	Until int64 `json:"until,omitempty"`
}

// entryOf is the StatusEntry of r, for what expires at until (zero: not
// known).
func entryOf(r qrcode.StatusRef, until time.Time) *StatusEntry {
	e := &StatusEntry{Region: r.Region, List: r.List, Index: r.Index}
	if !until.IsZero() {
		e.Until = until.Unix()
	}
	return e
}

func sessionKey(id string) string { return "login-session:" + id }

// onceKey is the single-use key of generation gen (session.Once) of
// session id: complete spends it, so the session's code is issued once.
func onceKey(id string, gen int) string {
	if gen == 0 {
		return "login-session-once:" + id
	}
	return "login-session-once:" + id + ":" + strconv.Itoa(gen)
}

// digest is a base64url SHA-256, for secrets kept only to be compared.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// record is session s as stored, and the time it has left.
func (p *Provider) record(s *session) ([]byte, time.Duration, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, 0, failWith(CodeServerError, "internal error", err)
	}
	ttl := time.Unix(s.Expires, 0).Sub(p.cfg.Now())
	if ttl <= 0 {
		return nil, 0, fail(CodeSessionNotFound, "the login session expired")
	}
	return b, ttl, nil
}

// putSession stores s, a session just started, and its once key
// (complete spends it), which lives as long as the session (Extend puts
// another for each extension).
func (p *Provider) putSession(ctx context.Context, id string, s *session) error {
	b, ttl, err := p.record(s)
	if err != nil {
		return err
	}
	if err := p.cfg.Store.Set(ctx, sessionKey(id), b, ttl); err != nil {
		return failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
	}
	if err := p.cfg.Store.Put(ctx, onceKey(id, s.Once), []byte{1}, ttl); err != nil {
		return failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
	}
	return nil
}

// answer stores the answer s carries (Approved or Denied) to session id,
// in place of read, the record its checks read, and only that (the
// store's CompareAndSwap): of answers racing on one session exactly one
// is stored, and the others are refused as already answered. A record
// changed meanwhile without an answer (extended, or given a new
// challenge by an older node's refused answer) is read again and the
// answer stored on it: that ends, as a session is extended a bounded
// number of times and each such renewal spends a challenge.
func (p *Provider) answer(ctx context.Context, id string, read []byte, s *session) error {
	for {
		b, ttl, err := p.record(s)
		if err != nil {
			return err
		}
		swapped, err := p.cfg.Store.CompareAndSwap(ctx, sessionKey(id), read, b, ttl)
		if err != nil {
			return failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
		}
		if swapped {
			// The polls of the session read it now, at any instance;
			// a wake lost leaves it to their next read.
			_ = p.cfg.Store.Notify(context.WithoutCancel(ctx), sessionKey(id))
			return nil
		}
		now, again, err := p.readSession(ctx, id)
		if err != nil {
			return err
		}
		if now.Approved != nil || now.Denied {
			return fail(CodeSessionNotFound, "the login session was already answered")
		}
		now.Approved, now.Denied = s.Approved, s.Denied
		s, read = now, again
	}
}

func (p *Provider) getSession(ctx context.Context, id string) (*session, error) {
	s, _, err := p.readSession(ctx, id)
	return s, err
}

// readSession is getSession, returning the session's record as stored too.
func (p *Provider) readSession(ctx context.Context, id string) (*session, []byte, error) {
	if len(id) != 43 || !isBase64URL(id) {
		return nil, nil, fail(CodeSessionNotFound, "no such login session")
	}
	b, err := p.cfg.Store.Get(ctx, sessionKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fail(CodeSessionNotFound, "no such login session, or it expired")
	}
	if err != nil {
		return nil, nil, failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, failWith(CodeServerError, "internal error", err)
	}
	if p.cfg.Now().Unix() >= s.Expires {
		return nil, nil, fail(CodeSessionNotFound, "the login session expired")
	}
	if s.OldPurpose != "" && s.Purpose == nil {
		// Started by an older node: its purpose would be shown to no one,
		// and the holder would approve what looks like a login to the client.
		return nil, nil, fail(CodeSessionNotFound, "the login session was started by an older node; start again")
	}
	return &s, b, nil
}

// Request is what a login session asks of the holder: the app shows it
// before the holder approves.
type Request struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	// Purpose says what the login is for when it is not a login to the
	// client (e.g. receiving a credential); the app shows it.
	Purpose string   `json:"purpose,omitempty"`
	Claims  []string `json:"claims"`
	// ACR is the assurance level asked for, "L2".."L4".
	ACR string `json:"acr"`
	// Challenge is the nonce the holder's approval signs (base64url of 32
	// bytes): the Nonce of its qrcode.HolderRequest.
	Challenge string    `json:"challenge"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Describe returns what session id asks, for the holder's app.
func (p *Provider) Describe(ctx context.Context, id string) (*Request, error) {
	s, err := p.getSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.Approved != nil || s.Denied {
		return nil, fail(CodeSessionNotFound, "the login session was already answered")
	}
	c, err := p.client(ctx, s.ClientID)
	if err != nil {
		return nil, err
	}
	return &Request{
		ClientID: c.ID, ClientName: c.Name, Purpose: s.Purpose.String(), Claims: append([]string{}, s.Claims...),
		ACR: identity.Level(s.Level).String(), Challenge: s.Challenge, ExpiresAt: time.Unix(s.Expires, 0).UTC(),
	}, nil
}

// Approval is the holder app's approval of a login session.
type Approval struct {
	// Request is signed by the holder's bound device key over its QR
	// binding, with the session's challenge as Nonce and Consent naming
	// the claims the holder releases (of those the session asks).
	Request qrcode.HolderRequest `json:"request"`
	// PINCheck is required at L3 and above: the same binding's credential,
	// a fresh device proof and the PIN (enrollment.PINCheckRequest).
	PINCheck *enrollment.PINCheckRequest `json:"pin_check,omitempty"`
	// Delegation, when set, makes this a guardian's approval: the holder
	// who signed Request is the delegation's actor and logs in the
	// principal, for a delegation whose scope allows qrcode.ActionLogin
	// (qrcode.ActionPresent alone does not: showing someone's identity is
	// not logging in as them).
	// The ID token's sub is the principal's, its act the guardian's
	// pairwise ID; no claim is released (Consent must be empty), nor a
	// refresh token (offline_access is not granted).
	Delegation []byte `json:"delegation,omitempty"`
}

// Approve approves session id as the holder. The level the approval
// proves is the binding's when its PIN was checked, else at most L2
// (possession of the device); it must meet the level asked for.
// An approval taken spends its request's nonce (the challenge, for the
// approving binding), and the session is answered once (answer); a
// refused approval spends and changes nothing, so it leaves the session,
// and the challenge every holder's app read, as they were.
func (p *Provider) Approve(ctx context.Context, id string, a *Approval) error {
	r := &a.Request
	s, read, err := p.readSession(ctx, id)
	if err != nil {
		return err
	}
	if s.Approved != nil || s.Denied {
		return fail(CodeSessionNotFound, "the login session was already answered")
	}
	want, _ := base64.RawURLEncoding.DecodeString(s.Challenge)
	if subtle.ConstantTimeCompare(r.Nonce, want) != 1 {
		return fail(CodeApprovalRefused, "the approval does not sign this session's challenge")
	}
	if a.Delegation != nil && s.Audience != "" {
		return fail(CodeApprovalRefused, "a guardian cannot approve this login")
	}
	if a.Delegation != nil && (len(r.Consent) > 0 || p.cfg.Delegations == nil || len(a.Delegation) > 2048) {
		return fail(CodeApprovalRefused, "a guardian's approval releases no claim, and needs a delegation this node can check")
	}
	for _, name := range r.Consent {
		if !slices.Contains(s.Claims, name) {
			return fail(CodeApprovalRefused, "consent names a claim the session does not ask for")
		}
	}
	c, err := p.client(ctx, s.ClientID)
	if err != nil {
		return err
	}
	var pinned *enrollment.Binding
	if identity.Level(s.Level) >= identity.L3 {
		if a.PINCheck == nil {
			return fail(CodeApprovalRefused, "this login asks for the holder's PIN (pin_check)")
		}
		if p.cfg.PINs == nil {
			return fail(CodeApprovalRefused, "this node cannot check PINs")
		}
		if pinned, err = p.cfg.PINs.Check(ctx, a.PINCheck); err != nil {
			return pinError(err)
		}
	}
	h, err := p.cfg.Holders.CheckHolder(ctx, r, qrcode.PurposeLoginApprove)
	if err != nil {
		return holderError(err)
	}
	level, amr := min(identity.Level(h.Assurance), identity.L2), []string{"hwk"}
	if pinned != nil {
		if subtle.ConstantTimeCompare(pinned.Subject(), h.Subject) != 1 {
			return fail(CodeApprovalRefused, "the PIN was checked for another binding")
		}
		level, amr = identity.Level(min(pinned.Level, h.Assurance)), []string{"hwk", "pin"}
	}
	if !level.AtLeast(identity.Level(s.Level)) {
		return fail(CodeApprovalRefused, "the holder's binding is below the assurance level the relying party asked for")
	}
	subject, act := h.Subject, ""
	if a.Delegation != nil {
		d, err := p.cfg.Delegations.VerifyDelegation(ctx, a.Delegation, h.Subject, qrcode.ActionLogin, p.cfg.Now())
		if err != nil {
			return delegationError(err)
		}
		if act, err = p.cfg.Pairwise.Pairwise(h.Subject, sectorOf(c)); err != nil {
			return failWith(CodeApprovalRefused, "the guardian's subject is not this region's", err)
		}
		subject = d.Principal
		// The login is as good as the delegation checked now: no refresh
		// token, which would outlive its expiry and its revocation.
		s.Scope = strings.Join(slices.DeleteFunc(strings.Fields(s.Scope), func(v string) bool { return v == ScopeOfflineAccess }), " ")
	}
	sub, err := p.subjectOf(ctx, s, c, subject)
	if err != nil {
		return err
	}
	g := &grant{Sub: sub, ACR: s.acr(level), AMR: amr, AuthTime: p.cfg.Now().Unix(), Act: act, Status: entryOf(h.Status, h.Expiry)}
	for _, name := range r.Consent {
		if v, ok := h.Claims[name]; ok && slices.Contains(c.Claims, name) {
			if g.Claims == nil {
				g.Claims = map[string]string{}
			}
			g.Claims[name] = v
		}
	}
	if err := p.cfg.Holders.SpendHolder(ctx, r, qrcode.PurposeLoginApprove, h); err != nil {
		return holderError(err)
	}
	s.Approved = g
	return p.answer(ctx, id, read, s)
}

// acr is the acr of a login of s that reached level l: l, or, when the
// request asked for essential acr values, the highest of them l meets
// (OpenID Connect Core §5.5.1.1: "MUST return an acr Claim Value that
// matches one of the requested values"; levels are cumulative). l meets
// s.Level, which is at least the lowest of them.
func (s *session) acr(l identity.Level) string {
	out := l
	if len(s.ACRValues) > 0 {
		out = identity.LevelNone
		for _, v := range s.ACRValues {
			if v <= l {
				out = v
			}
		}
	}
	return out.String()
}

// holderError maps the holder authenticator's errors.
func holderError(err error) error {
	switch {
	case errors.Is(err, qrcode.ErrUnavailable), errors.Is(err, qrcode.ErrStatusUnavailable):
		return failWith(CodeTemporarilyUnavailable, "the holder's binding cannot be checked now; retry", err)
	case errors.Is(err, qrcode.ErrRevoked):
		return failWith(CodeApprovalRefused, "the holder's binding is revoked", err)
	case errors.Is(err, qrcode.ErrSuspended):
		return failWith(CodeApprovalRefused, "the holder's binding is suspended", err)
	case errors.Is(err, qrcode.ErrBindingExpired):
		return failWith(CodeApprovalRefused, "the holder's binding expired", err)
	}
	return failWith(CodeApprovalRefused, "the approval is not signed by a valid device binding", err)
}

// delegationError maps the refusals of a guardian's delegation, named as
// the delegation (the guardian's own binding passed): a revoked or
// expired one is replaced by its issuer, not by enrolling again.
func delegationError(err error) error {
	switch {
	case errors.Is(err, qrcode.ErrUnavailable), errors.Is(err, qrcode.ErrStatusUnavailable):
		return failWith(CodeTemporarilyUnavailable, "the delegation's status cannot be checked now; retry", err)
	case errors.Is(err, qrcode.ErrRevoked):
		return failWith(CodeApprovalRefused, "the delegation is revoked", err)
	case errors.Is(err, qrcode.ErrSuspended):
		return failWith(CodeApprovalRefused, "the delegation is suspended", err)
	case errors.Is(err, qrcode.ErrDelegationExpired):
		return failWith(CodeApprovalRefused, "the delegation has expired or is not valid yet", err)
	case errors.Is(err, qrcode.ErrDelegationScope):
		return failWith(CodeApprovalRefused, "the delegation's scope does not include login", err)
	}
	return failWith(CodeApprovalRefused, "the delegation does not let this holder log in for its principal", err)
}

// pinError maps the PIN checker's errors (enrollment.PINChecker.Check's),
// each refusal by what was refused. A device proof already used is an
// answer sent again after a refusal: the checker spends the proof before
// it looks at the PIN, so the replay counts no attempt, and the app
// answers again with a fresh proof. What is left is a failure of the
// store or of the binding's issuer keys or status: temporarily
// unavailable, as staticPINError's.
func pinError(err error) error {
	var mismatch *enrollment.PINMismatchError
	var binding *enrollment.BindingVerifyError
	switch {
	case errors.As(err, &mismatch):
		return failWith(CodeApprovalRefused, "wrong PIN; "+mismatch.AttemptsLeft(), err)
	case errors.Is(err, identity.ErrPINLocked):
		return failWith(CodeApprovalRefused, "too many wrong PINs; the binding is locked for now", err)
	case errors.Is(err, enrollment.ErrPINNotSet):
		return failWith(CodeApprovalRefused, "the binding has no PIN", err)
	case errors.Is(err, enrollment.ErrPINRequest), errors.Is(err, enrollment.ErrBindingCredential):
		return failWith(CodeApprovalRefused, "the PIN check is malformed or its binding credential invalid", err)
	case errors.Is(err, enrollment.ErrDeviceReplay):
		return failWith(CodeApprovalRefused, "the PIN check's device proof was already used: each answer takes a fresh one (no PIN attempt was counted)", err)
	case errors.Is(err, enrollment.ErrDeviceProof):
		return failWith(CodeApprovalRefused, "the PIN check's device proof is invalid (malformed, expired, for another node or not signed by the binding's device key)", err)
	case errors.Is(err, identity.ErrPINVerifier):
		return failWith(CodeApprovalRefused, "the binding's PIN verifier cannot be opened by this node", err)
	case errors.As(err, &binding) && !errors.Is(err, vc.ErrStatusUnavailable) && !errors.Is(err, vc.ErrResolve):
		return failWith(CodeApprovalRefused, "the PIN check's binding credential does not verify (revoked, suspended, expired or not its issuer's)", err)
	}
	return failWith(CodeTemporarilyUnavailable, "the PIN check is unavailable; retry", err)
}

// Pending checks that session id is waiting for the holder's answer and
// that browser is its secret (the login page's cookie), for what only
// the page's browser may fetch while the session is open (the QR image
// of a page without JavaScript). A session that is unknown, expired,
// answered or another browser's is CodeSessionNotFound.
func (p *Provider) Pending(ctx context.Context, id, browser string) error {
	_, err := p.pending(ctx, id, browser)
	return err
}

// pending is Pending, returning the session.
func (p *Provider) pending(ctx context.Context, id, browser string) (*session, error) {
	s, err := p.getSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(digest(browser)), []byte(s.Browser)) != 1 || s.Approved != nil || s.Denied {
		return nil, fail(CodeSessionNotFound, "no open login session for this browser")
	}
	return s, nil
}

// Resume returns what the login page of session id shows, for showing
// it again (in another language) to the browser that started it:
// browser is its secret, as for Pending, whose errors Resume returns,
// and the client must still be enabled. Browser is empty: the browser
// has its secret already. Restartable is what it was for the page
// AuthorizeFor or Restart gave.
func (p *Provider) Resume(ctx context.Context, id, browser string) (*Started, error) {
	s, err := p.pending(ctx, id, browser)
	if err != nil {
		return nil, err
	}
	c, err := p.client(ctx, s.ClientID)
	if err != nil {
		return nil, err
	}
	left := max(time.Unix(s.Expires, 0).Sub(p.cfg.Now()), 0)
	return &Started{ID: id, ClientName: c.Name, Claims: s.Claims, Level: identity.Level(s.Level), Purpose: s.Purpose, Left: left, Request: s.Request,
		Restartable: s.Audience != "" && p.restartable(ctx, id)}, nil
}

// restartable reports whether Restart keeps session id (keepRestart):
// false when its copy could not be written, and when it cannot be told.
func (p *Provider) restartable(ctx context.Context, id string) bool {
	_, err := p.cfg.Store.Peek(ctx, restartKey(id))
	return err == nil
}

// SessionExtensions is how many whole lifetimes (Config.SessionTTL) a
// login session may be extended by (Extend): it lives at most
// 1+SessionExtensions lifetimes from its start, 22 minutes with the
// default 2. WCAG 2.2 SC 2.2.1 Timing Adjustable asks that "the user is
// allowed to extend the time limit at least ten times".
const SessionExtensions = 10

// ErrAnswered is the cause of Extend's refusal of a session the holder
// has answered: its browser may still collect the answer.
var ErrAnswered = errors.New("login: the login session was already answered")

// Extended is a login session's lifetime after Extend.
type Extended struct {
	// Left is what is left of the session's lifetime now.
	Left time.Duration
	// Extendable says whether it may be extended again.
	Extendable bool
}

// Extend gives session id, while it waits for the holder's answer, its
// whole lifetime again from now, for the browser whose secret is
// browser (the login page's cookie, as for Wait): the login page's
// answer to a person who needs more time (WCAG 2.2 SC 2.2.1). The
// session's URL (its QR) and challenge stay as they are. A session
// already at its longest (SessionExtensions) is CodeSessionLimit; one
// unknown, expired or another browser's is CodeSessionNotFound, and one
// answered too, with ErrAnswered. A refusal changes nothing. The new
// expiry replaces the session as read, and only that (the store's
// CompareAndSwap), so an answer stored meanwhile stays.
func (p *Provider) Extend(ctx context.Context, id, browser string) (*Extended, error) {
	for {
		s, read, err := p.readSession(ctx, id)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare([]byte(digest(browser)), []byte(s.Browser)) != 1 {
			return nil, fail(CodeSessionNotFound, "no open login session for this browser")
		}
		if s.Approved != nil || s.Denied {
			return nil, failWith(CodeSessionNotFound, "the login session was already answered", ErrAnswered)
		}
		if s.Expires >= s.Until {
			return nil, fail(CodeSessionLimit, "the login session cannot be extended again")
		}
		now := p.cfg.Now()
		next := min(now.Add(p.cfg.SessionTTL).Unix(), s.Until)
		out := &Extended{Left: time.Unix(next, 0).Sub(now), Extendable: next < s.Until}
		if next <= s.Expires {
			// Extended within this second already.
			out.Left = time.Unix(s.Expires, 0).Sub(now)
			return out, nil
		}
		s.Expires = next
		s.Once++
		b, ttl, err := p.record(s)
		if err != nil {
			return nil, err
		}
		// The once key of the new life first, then the record that names
		// it: the store cannot lengthen a key's life in place, and a key
		// put for a swap that then fails is one small entry that expires
		// with that life (ErrExists: put by such a try).
		if err := p.cfg.Store.Put(ctx, onceKey(id, s.Once), []byte{1}, ttl); err != nil && !errors.Is(err, store.ErrExists) {
			return nil, failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
		}
		swapped, err := p.cfg.Store.CompareAndSwap(ctx, sessionKey(id), read, b, ttl)
		if err != nil {
			return nil, failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
		}
		if swapped {
			return out, nil
		}
	}
}

// Outcome is where the browser goes once its session is done: the
// client's redirect URI with the code (or an error) and state.
type Outcome struct {
	Redirect string
}

// Wait waits up to maxWait for session id to be approved and returns
// the redirect with the authorization code, or nil when it is still
// pending. It reads the session at once, then after pauses doubling
// from 200 ms to 2 s (at most 16 reads in 25 s), and at once when the
// session is answered, at this instance or at another sharing the store
// (Store.Watch); should that wake be lost, the answer is seen at the
// next read. browser is the secret Authorize returned (the login page's
// cookie): only the browser that started the session gets its code. The
// session ends when the code is issued: a second Wait finds none. When
// ctx ends (the browser gone, the node stopping) Wait stops waiting and
// returns nil; the session's reads and the code's issue are not cut
// short by it, so a code is never consumed and lost half-way.
func (p *Provider) Wait(ctx context.Context, id, browser string, maxWait time.Duration) (*Outcome, error) {
	deadline := time.Now().Add(maxWait)
	work := context.WithoutCancel(ctx)
	pause := p.firstPause
	for {
		// Watched before the read, so an answer stored after it wakes
		// the poll; a store that cannot watch now leaves the poll to
		// its reads.
		answered, stop, err := p.cfg.Store.Watch(work, sessionKey(id))
		if err != nil {
			answered, stop = nil, func() {}
		}
		out, done, err := p.poll(work, id, browser)
		if done || err != nil || !time.Now().Before(deadline) {
			stop()
			return out, err
		}
		t := time.NewTimer(min(pause, time.Until(deadline)))
		select {
		case <-ctx.Done():
		case <-answered:
		case <-t.C:
		}
		t.Stop()
		stop()
		if ctx.Err() != nil {
			return nil, nil
		}
		pause = min(2*pause, p.maxPause)
	}
}

// poll reads session id once for Wait: done when it was answered (out is
// then its redirect, from complete).
func (p *Provider) poll(ctx context.Context, id, browser string) (out *Outcome, done bool, err error) {
	s, err := p.getSession(ctx, id)
	if err != nil {
		return nil, true, err
	}
	if subtle.ConstantTimeCompare([]byte(digest(browser)), []byte(s.Browser)) != 1 {
		return nil, true, fail(CodeSessionNotFound, "no such login session for this browser")
	}
	if s.Approved == nil && !s.Denied {
		return nil, false, nil
	}
	out, err = p.complete(ctx, id, s)
	return out, true, err
}

// complete ends an answered session, exactly once, and issues its code;
// a session whose code could not be stored stays open for a retry. An
// ended session's record, which holds the approved grant, is deleted
// (a failed deletion leaves it to expire with the session).
func (p *Provider) complete(ctx context.Context, id string, s *session) (*Outcome, error) {
	if _, err := p.cfg.Store.Consume(ctx, onceKey(id, s.Once)); errors.Is(err, store.ErrNotFound) {
		return nil, fail(CodeSessionNotFound, "the login session is already complete")
	} else if err != nil {
		return nil, failWith(CodeTemporarilyUnavailable, "the session store is unavailable", err)
	}
	iss := p.cfg.Issuer
	if s.Iss != "" {
		iss = s.Iss
	}
	// An answered login is not started again: its page collects the
	// answer.
	_, _ = p.cfg.Store.Consume(ctx, restartKey(id))
	if s.Denied {
		_ = p.cfg.Store.Delete(ctx, sessionKey(id))
		return &Outcome{Redirect: redirectWith(s.RedirectURI, map[string]string{"error": CodeAccessDenied,
			"error_description": "the holder refused", "state": s.State, "iss": iss})}, nil
	}
	issue := p.issueCode
	if s.Audience != "" {
		issue = func(ctx context.Context, s *session) (string, error) { return p.issueExtensionCode(ctx, id, s) }
	}
	code, err := issue(ctx, s)
	if err != nil {
		// No code was given: the session may complete again (the
		// browser's retry), unless the store fails for this too.
		if ttl := time.Unix(s.Expires, 0).Sub(p.cfg.Now()); ttl > 0 {
			_ = p.cfg.Store.Put(ctx, onceKey(id, s.Once), []byte{1}, ttl)
		}
		return nil, err
	}
	_ = p.cfg.Store.Delete(ctx, sessionKey(id))
	return &Outcome{Redirect: redirectWith(s.RedirectURI, map[string]string{"code": code, "state": s.State, "iss": iss})}, nil
}
