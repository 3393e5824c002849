package credentials

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
)

// Formats an issuer produces.
const (
	FormatVCJWT = "vc+jwt"
	FormatSDJWT = "sd-jwt"
	TypSDJWTVC  = "dc+sd-jwt"
)

// IssuerConfig configures NewIssuer. Zero values: SM2, crypto/rand,
// time.Now, a status ttl of 5 minutes.
type IssuerConfig struct {
	// BaseURL is the node's public base URL; its did:web, status list URLs
	// and SD-JWT VC iss derive from it.
	BaseURL string
	Keys    KeySource
	Status  StatusStore
	// Algorithm signs when a request names none.
	Algorithm string
	Rand      io.Reader
	Now       func() time.Time
	// StatusTTL is the ttl advertised in status lists.
	StatusTTL time.Duration
	// Anchor, when set, receives every status change and the new head of
	// each list that changed or was created (see anchor.go); Status must
	// then also be a StatusJournal. Run ReplayAnchors before serving and
	// RunAnchoring while serving.
	Anchor Anchorer
	// OnAnchorError, if set, is told when a change could not be handed to
	// Anchor (it stays in the journal and is retried). It must not block.
	OnAnchorError func(error)
}

// Issuer issues the node's credentials. It keeps no copy of what it signs:
// only status entries bound to credential IDs. It is safe for concurrent
// use.
type Issuer struct {
	cfg IssuerConfig
	did string

	mu    sync.Mutex
	lists map[string]encodedList // status list encodings by list ID

	journal     StatusJournal // cfg.Status, when anchoring
	anchorLocks sync.Map      // list ID -> *sync.Mutex
	anchorRetry atomic.Bool   // a hand-off failed; RunAnchoring retries
}

type encodedList struct {
	version uint64
	doc     map[string]any
	jwt     string
	expires time.Time
}

// NewIssuer checks cfg.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	did, err := DIDWeb(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Keys == nil || cfg.Status == nil {
		return nil, errors.New("credentials: issuer needs keys and a status store")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = gm.AlgSM2
	}
	if !slices.Contains(gm.JWTAlgorithms, cfg.Algorithm) {
		return nil, fmt.Errorf("%w: algorithm %q", ErrUnsupported, cfg.Algorithm)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StatusTTL <= 0 {
		cfg.StatusTTL = 5 * time.Minute
	}
	is := &Issuer{cfg: cfg, did: did, lists: map[string]encodedList{}}
	if cfg.Anchor != nil {
		j, ok := cfg.Status.(StatusJournal)
		if !ok {
			return nil, errors.New("credentials: anchoring needs a status store with a journal (StatusJournal)")
		}
		is.journal = j
	}
	return is, nil
}

// DID returns the node's did:web.
func (is *Issuer) DID() string { return is.did }

// BaseURL returns the node's public base URL.
func (is *Issuer) BaseURL() string { return is.cfg.BaseURL }

// Local returns the node's identifiers and keys for a Resolver.
func (is *Issuer) Local() *LocalIssuer {
	return &LocalIssuer{DID: is.did, BaseURL: is.cfg.BaseURL, Keys: is.cfg.Keys}
}

// DIDDocument returns the node's DID document with every published key.
func (is *Issuer) DIDDocument() (DIDDocument, error) {
	return NewDIDDocument(is.did, is.cfg.Keys.Published())
}

// Metadata returns the SD-JWT VC issuer metadata with the published keys.
func (is *Issuer) Metadata() (IssuerMetadata, error) {
	set := gm.JWKS{Keys: []gm.JWK{}}
	for _, k := range is.cfg.Keys.Published() {
		j, err := k.JWK()
		if err != nil {
			return IssuerMetadata{}, err
		}
		set.Keys = append(set.Keys, j)
	}
	return IssuerMetadata{Issuer: is.cfg.BaseURL, JWKS: &set}, nil
}

// IssueOptions are the per-request choices.
type IssueOptions struct {
	// Format is FormatVCJWT (default) or FormatSDJWT.
	Format string
	// Algorithm overrides the issuer's default.
	Algorithm string
	// VCT is the SD-JWT VC type (default: BaseURL + "/vct/" + the last
	// credential type).
	VCT string
	// HolderKey, for SD-JWT VC, is the holder's public JWK put in cnf.jwk.
	HolderKey *gm.JWK
	// Decoys per _sd array of an SD-JWT VC (default 2).
	Decoys int
	// Client is the OAuth client ID of the caller. A hash of it (never the
	// ID in clear) is recorded with the credential's status entries, and
	// SetStatusAs lets only that client (or an administrator) change the
	// credential's status. Empty: only administrators can.
	Client string
}

// Issued is an issued credential.
type Issued struct {
	ID     string
	Format string
	// Token is the vc+jwt or the SD-JWT (issuer JWT and all disclosures).
	Token  string
	Status []statuslist.Ref
}

// Envelope returns the enveloped form for VC API responses.
func (i *Issued) Envelope() map[string]any {
	if i.Format == FormatSDJWT {
		return Envelope(i.Token, MediaTypeSDJWT)
	}
	return Envelope(i.Token, MediaTypeVCJWT)
}

func (is *Issuer) signer(alg string) (kid string, key crypto.Signer, err error) {
	if alg == "" {
		alg = is.cfg.Algorithm
	}
	if !slices.Contains(gm.JWTAlgorithms, alg) {
		return "", nil, fmt.Errorf("%w: algorithm %q", ErrUnsupported, alg)
	}
	k, err := is.cfg.Keys.Active(alg)
	if err != nil {
		return "", nil, fmt.Errorf("%w: no active %s key: %v", ErrUnsupported, alg, err)
	}
	return k.Kid, k.Signer, nil
}

// newID returns a fresh urn:uuid (version 4).
func (is *Issuer) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(is.cfg.Rand, b[:]); err != nil {
		return "", fmt.Errorf("credentials: random: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return "urn:uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// prepare fills issuer, id and validFrom, and validates the request
// before any status entry is spent.
func (is *Issuer) prepare(in map[string]any) (map[string]any, error) {
	c := make(map[string]any, len(in)+4)
	for k, v := range in {
		c[k] = v
	}
	for _, k := range []string{"credentialStatus", "proof"} {
		if _, ok := c[k]; ok {
			return nil, fmt.Errorf("%w: %s is set by the issuer, not the request", ErrInvalid, k)
		}
	}
	if v, ok := c["issuer"]; !ok {
		c["issuer"] = is.did
	} else if id, err := idOf(v, true); err != nil {
		return nil, fmt.Errorf("%w: issuer: %v", ErrInvalid, err)
	} else if id != is.did {
		return nil, fmt.Errorf("%w: this node issues only as %s", ErrIssuerMismatch, is.did)
	}
	if _, ok := c["id"]; !ok {
		id, err := is.newID()
		if err != nil {
			return nil, err
		}
		c["id"] = id
	}
	if _, ok := c["validFrom"]; !ok {
		c["validFrom"] = FormatTime(is.cfg.Now())
	}
	cred, err := NewCredential(c)
	if err != nil {
		return nil, err
	}
	if cred.ID == "" {
		return nil, fmt.Errorf("%w: id is required", ErrInvalid)
	}
	return c, nil
}

// statusURL is the stable URL of a list.
func (is *Issuer) statusURL(listID string) string { return is.cfg.BaseURL + "/status/" + listID }

// ownerTag is what the status index records of the client that issued a
// credential: a domain-separated SHA-256 of its client ID ("" for none).
// Client IDs are not secret; the hash keeps them out of the index in
// clear all the same.
func ownerTag(client string) string {
	if client == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("trustid status owner\x00" + client))
	return hex.EncodeToString(sum[:])
}

// allocate reserves entries for purposes and binds them to id and the
// issuing client.
func (is *Issuer) allocate(ctx context.Context, id, client string, purposes ...string) ([]statuslist.Ref, error) {
	var refs []statuslist.Ref
	for _, p := range purposes {
		lid, idx, err := is.cfg.Status.Allocate(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStatusFull, err)
		}
		refs = append(refs, statuslist.Ref{ListID: lid, Index: idx, Purpose: p})
	}
	if err := is.cfg.Status.BindOwner(ctx, id, ownerTag(client), refs); err != nil {
		if errors.Is(err, statuslist.ErrBound) {
			return nil, fmt.Errorf("%w: a credential with this id was already issued", ErrInvalid)
		}
		return nil, err
	}
	// A list just created has no head on the ledger yet: hand over its
	// first one (nothing to do for lists anchored before). A failure is
	// reported and retried; the credential is valid either way.
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ListID
	}
	is.handOff(ctx, true, ids...)
	return refs, nil
}

// Issue secures a credential. The request must not carry
// credentialStatus or proof; issuer defaults to (and must be) the node's
// DID; id defaults to a fresh urn:uuid and validFrom to now. A revocation
// and a suspension entry (vc+jwt) or a Token Status List entry (SD-JWT VC)
// are attached at random indices.
func (is *Issuer) Issue(ctx context.Context, in map[string]any, opts IssueOptions) (*Issued, error) {
	switch opts.Format {
	case "", FormatVCJWT:
		return is.issueJWT(ctx, in, opts)
	case FormatSDJWT:
		return is.issueSDJWT(ctx, in, opts)
	}
	return nil, fmt.Errorf("%w: format %q (want vc+jwt or sd-jwt)", ErrUnsupported, opts.Format)
}

func (is *Issuer) issueJWT(ctx context.Context, in map[string]any, opts IssueOptions) (*Issued, error) {
	kid, signer, err := is.signer(opts.Algorithm)
	if err != nil {
		return nil, err
	}
	c, err := is.prepare(in)
	if err != nil {
		return nil, err
	}
	id := c["id"].(string)
	refs, err := is.allocate(ctx, id, opts.Client, PurposeRevocation, PurposeSuspension)
	if err != nil {
		return nil, err
	}
	var status []any
	for _, r := range refs {
		u := is.statusURL(r.ListID)
		status = append(status, StatusEntry{ID: fmt.Sprintf("%s#%d", u, r.Index), Purpose: r.Purpose, Index: r.Index, ListCredential: u}.Map())
	}
	c["credentialStatus"] = status
	tok, err := SignJWT(c, TypVCJWT, is.did+"#"+kid, signer)
	if err != nil {
		return nil, err
	}
	return &Issued{ID: id, Format: FormatVCJWT, Token: tok, Status: refs}, nil
}

// issueSDJWT maps the credential onto SD-JWT VC claims: iss (the base
// URL), vct, iat (day-coarse), nbf/exp from validFrom/validUntil, sub from the subject
// id, every other subject claim selectively disclosable (objects
// recursively, arrays element by element), cnf.jwk and a status claim.
// The subject id becomes a selectively disclosable sub.
func (is *Issuer) issueSDJWT(ctx context.Context, in map[string]any, opts IssueOptions) (*Issued, error) {
	kid, signer, err := is.signer(opts.Algorithm)
	if err != nil {
		return nil, err
	}
	c, err := is.prepare(in)
	if err != nil {
		return nil, err
	}
	cred, _ := NewCredential(c)
	if len(cred.Subjects) != 1 {
		return nil, fmt.Errorf("%w: an SD-JWT VC carries exactly one credentialSubject", ErrInvalid)
	}
	vct := opts.VCT
	if vct == "" {
		vct = is.cfg.BaseURL + "/vct/" + cred.Types[len(cred.Types)-1]
	}
	if _, err := urlString(vct); err != nil && opts.VCT != "" {
		return nil, fmt.Errorf("%w: vct: %v", ErrInvalid, err)
	}
	// No jti, a selectively disclosable sub and iat rounded down to the
	// UTC day: a value shown to every verifier, or an issuance time to
	// the second, would let them link presentations (or the copies of one
	// enrollment, issued together).
	iat := is.cfg.Now().UTC().Truncate(24 * time.Hour)
	claims := map[string]any{"iss": is.cfg.BaseURL, "vct": vct, "iat": iat.Unix()}
	if !cred.ValidFrom.IsZero() {
		claims["nbf"] = cred.ValidFrom.Unix()
	}
	if !cred.ValidUntil.IsZero() {
		claims["exp"] = cred.ValidUntil.Unix()
	}
	frame := &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{}, Decoys: opts.Decoys}
	if opts.Decoys == 0 {
		frame.Decoys = 2
	}
	var names []string
	for k, v := range cred.Subjects[0] {
		switch k {
		case "id":
			claims["sub"] = v
			names = append(names, "sub")
			continue
		case "iss", "vct", "iat", "nbf", "exp", "cnf", "status", "sub", "jti", "_sd", "_sd_alg", "...":
			return nil, fmt.Errorf("%w: subject claim %q is reserved in SD-JWT VC", ErrInvalid, k)
		}
		claims[k] = v
		names = append(names, k)
		switch t := v.(type) {
		case map[string]any:
			sub := &sdjwt.Frame{}
			for kk := range t {
				sub.SD = append(sub.SD, kk)
			}
			sort.Strings(sub.SD)
			frame.Nested[k] = sub
		case []any:
			sub := &sdjwt.Frame{}
			for i := range t {
				sub.Elements = append(sub.Elements, i)
			}
			frame.Nested[k] = sub
		}
	}
	sort.Strings(names)
	frame.SD = names
	if opts.HolderKey != nil {
		if _, err := opts.HolderKey.PublicKey(); err != nil {
			return nil, fmt.Errorf("%w: holder key: %v", ErrInvalid, err)
		}
		hk := *opts.HolderKey
		hk.Kid, hk.Use = "", ""
		claims["cnf"] = map[string]any{"jwk": jwkMap(hk)}
	}
	// Conceal (which validates the claims) before a status entry is
	// spent; status is a plain claim, added afterwards.
	iss := &sdjwt.Issuer{Rand: is.cfg.Rand}
	payload, ds, err := iss.Conceal(claims, frame)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	refs, err := is.allocate(ctx, cred.ID, opts.Client, statuslist.PurposeToken)
	if err != nil {
		return nil, err
	}
	payload["status"] = map[string]any{"status_list": map[string]any{"idx": refs[0].Index, "uri": is.statusURL(refs[0].ListID)}}
	tok, err := jose.Sign(payload, map[string]any{"typ": TypSDJWTVC, "kid": kid}, signer)
	if err != nil {
		return nil, err
	}
	return &Issued{ID: cred.ID, Format: FormatSDJWT, Token: sdjwt.Serialize(tok, ds), Status: refs}, nil
}

func jwkMap(j gm.JWK) map[string]any {
	m := map[string]any{"kty": j.Kty, "crv": j.Crv, "x": j.X}
	if j.Y != "" {
		m["y"] = j.Y
	}
	return m
}

// Status actions.
const (
	ActionRevoke    = "revoke"
	ActionSuspend   = "suspend"
	ActionReinstate = "reinstate"
)

// ErrStatusConflict: the change is not allowed from the current status
// (a revoked credential cannot be reinstated or suspended).
var ErrStatusConflict = errors.New("credentials: status change not allowed")

// ErrNotOwner: the caller did not issue the credential and is not an
// administrator. It matches ErrNotFound, so a caller cannot tell another
// client's credential from one that does not exist.
var ErrNotOwner = fmt.Errorf("%w: credential issued to another client", ErrNotFound)

// Actor is who asks for a status change: the OAuth client, and whether it
// holds the administrator scope (registry:admin).
type Actor struct {
	ClientID string
	Admin    bool
}

// SetStatus changes a credential's status with no owner check: for the
// node itself and operator tools. Handlers acting for a client use
// SetStatusAs.
func (is *Issuer) SetStatus(ctx context.Context, id, action string) error {
	return is.setStatus(ctx, id, action)
}

// SetStatusAs revokes, suspends or reinstates the credential with id on
// behalf of actor: only the client that issued it (IssueOptions.Client)
// or an administrator may; anyone else gets ErrNotOwner (which matches
// ErrNotFound). Credentials issued without a client can be changed only
// by an administrator. Revocation is final. With an Anchor, it returns
// once the change is in the status store and the change and the list's
// new head are in the Anchor (the ledger outbox, on disk); it does not
// wait for the chain. If the hand-off fails, the change stands (the
// node's own verification sees it), OnAnchorError is told and
// RunAnchoring retries from the journal.
func (is *Issuer) SetStatusAs(ctx context.Context, id, action string, actor Actor) error {
	if !actor.Admin {
		owned, err := is.cfg.Status.OwnedBy(ctx, id, ownerTag(actor.ClientID))
		if errors.Is(err, statuslist.ErrNotFound) {
			return fmt.Errorf("%w: no credential with this id was issued here", ErrNotFound)
		}
		if err != nil {
			return err
		}
		if actor.ClientID == "" || !owned {
			return ErrNotOwner
		}
	}
	return is.setStatus(ctx, id, action)
}

func (is *Issuer) setStatus(ctx context.Context, id, action string) error {
	refs, err := is.cfg.Status.Refs(ctx, id)
	if errors.Is(err, statuslist.ErrNotFound) {
		return fmt.Errorf("%w: no credential with this id was issued here", ErrNotFound)
	}
	if err != nil {
		return err
	}
	find := func(purpose string) *statuslist.Ref {
		for i := range refs {
			if refs[i].Purpose == purpose {
				return &refs[i]
			}
		}
		return nil
	}
	revoked := false
	if r := find(PurposeRevocation); r != nil {
		_, v, err := is.cfg.Status.Get(ctx, r.ListID, r.Index)
		if err != nil {
			return err
		}
		revoked = v == 1
	}
	if t := find(statuslist.PurposeToken); t != nil {
		_, v, err := is.cfg.Status.Get(ctx, t.ListID, t.Index)
		if err != nil {
			return err
		}
		revoked = v == statuslist.TokenInvalid
	}
	if revoked && action != ActionRevoke {
		return fmt.Errorf("%w: the credential is revoked", ErrStatusConflict)
	}
	var touched []string
	set := func(r *statuslist.Ref, v uint8) error {
		if r == nil {
			return nil
		}
		touched = append(touched, r.ListID)
		return is.cfg.Status.Set(ctx, r.ListID, r.Index, v)
	}
	tok := find(statuslist.PurposeToken)
	switch action {
	case ActionRevoke:
		err = errors.Join(set(find(PurposeRevocation), 1), set(tok, statuslist.TokenInvalid))
	case ActionSuspend:
		err = errors.Join(set(find(PurposeSuspension), 1), set(tok, statuslist.TokenSuspended))
	case ActionReinstate:
		err = errors.Join(set(find(PurposeSuspension), 0), set(tok, statuslist.TokenValid))
	default:
		return fmt.Errorf("%w: action %q (want revoke, suspend or reinstate)", ErrInvalid, action)
	}
	is.handOff(ctx, false, touched...)
	if err == nil {
		is.mu.Lock()
		for _, r := range refs {
			delete(is.lists, r.ListID)
		}
		is.mu.Unlock()
	}
	return err
}

// StatusList returns a list for serving: for a bitstring list the
// BitstringStatusListCredential JSON and the same credential as a vc+jwt;
// for a token list (doc nil) the statuslist+jwt. Encodings are cached per
// list version.
func (is *Issuer) StatusList(ctx context.Context, listID string) (doc map[string]any, token string, err error) {
	if !statuslist.ValidListID(listID) {
		return nil, "", fmt.Errorf("%w: status list", ErrNotFound)
	}
	// The cached encoding is current when the list's version is the same:
	// ask for the version only, and copy the list only to re-encode it.
	version, _, err := is.cfg.Status.Versions(ctx, listID)
	if errors.Is(err, statuslist.ErrNotFound) {
		return nil, "", fmt.Errorf("%w: status list", ErrNotFound)
	}
	if err != nil {
		return nil, "", err
	}
	now := is.cfg.Now()
	is.mu.Lock()
	e, ok := is.lists[listID]
	is.mu.Unlock()
	if ok && e.version == version && now.Before(e.expires) {
		return e.doc, e.jwt, nil
	}
	snap, err := is.cfg.Status.Snapshot(ctx, listID)
	if err != nil {
		return nil, "", err
	}
	kid, signer, err := is.signer("")
	if err != nil {
		return nil, "", err
	}
	u := is.statusURL(listID)
	if snap.Bitstring != nil {
		doc = map[string]any{
			"@context":  []any{ContextV2},
			"id":        u,
			"type":      []any{TypeCredential, TypeBitstringStatusListCredential},
			"issuer":    is.did,
			"validFrom": FormatTime(snap.Updated),
			"credentialSubject": map[string]any{
				"id":            u + "#list",
				"type":          TypeBitstringStatusList,
				"statusPurpose": snap.Purpose,
				"encodedList":   snap.Bitstring.Encode(),
				"ttl":           is.cfg.StatusTTL.Milliseconds(),
				// The version the list's head on the ledger carries.
				claimListVersion: snap.Version,
			},
		}
		token, err = SignJWT(doc, TypVCJWT, is.did+"#"+kid, signer)
	} else {
		token, err = jose.Sign(map[string]any{
			"iss": is.cfg.BaseURL,
			"sub": u,
			"iat": now.Unix(),
			"exp": now.Add(24 * time.Hour).Unix(),
			"ttl": int64(is.cfg.StatusTTL.Seconds()),
			"status_list": map[string]any{
				"bits": snap.Token.Bits(),
				"lst":  snap.Token.Encode(),
			},
			claimJWTListVersion: snap.Version,
		}, map[string]any{"typ": TypStatusListJWT, "kid": kid}, signer)
	}
	if err != nil {
		return nil, "", err
	}
	is.mu.Lock()
	is.lists[listID] = encodedList{version: snap.Version, doc: doc, jwt: token, expires: now.Add(is.cfg.StatusTTL)}
	is.mu.Unlock()
	return doc, token, nil
}
