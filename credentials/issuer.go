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
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
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
	// The issuers the node signs for: relying parties accredited to issue
	// through it, each under its own DID (ClientIssuerDID). Registry is
	// the trust registry copy IssueAsClient checks accreditations in,
	// Registrar writes issuer records (Accredit), IssuerKeys holds their
	// keys. All three, or none: then only the node issues (Issue).
	Registry   IssuerRegistry
	Registrar  IssuerRegistrar
	IssuerKeys OwnerKeySource
}

// Issuer issues the node's credentials: as the node itself (Issue,
// IssueGroup: enrollment) and as the relying parties accredited to issue
// through it (IssueAsClient). It keeps no copy of what it signs: only
// status entries bound to credential IDs. It is safe for concurrent use.
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
	if n := countSet(cfg.Registry != nil, cfg.Registrar != nil, cfg.IssuerKeys != nil); n != 0 && n != 3 {
		return nil, errors.New("credentials: client issuers need a registry, a registrar and issuer keys together")
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
	// VCT is the SD-JWT VC type (default: the last credential type, e.g.
	// "IdentityCredential").
	VCT string
	// HolderKey, for SD-JWT VC, is the holder's public JWK put in cnf.jwk.
	HolderKey *gm.JWK
	// Decoys per _sd array of an SD-JWT VC (default 2).
	Decoys int
	// Client is the OAuth client ID of the caller. A hash of it (never the
	// ID in clear) is recorded with the credential's status entries, and
	// SetStatusAs lets only that client (or an administrator) change the
	// credential's status. Empty: only administrators can. IssueAsClient
	// also issues under this client's issuer DID.
	Client string
}

// GroupItem is one credential of IssueGroup.
type GroupItem struct {
	Credential map[string]any
	Options    IssueOptions
}

// Issued is an issued credential.
type Issued struct {
	ID     string
	Format string
	// Token is the vc+jwt or the SD-JWT (issuer JWT and all disclosures).
	Token  string
	Status []status.Ref
}

// Envelope returns the enveloped form for VC API responses.
func (i *Issued) Envelope() map[string]any {
	if i.Format == FormatSDJWT {
		return Envelope(i.Token, MediaTypeSDJWT)
	}
	return Envelope(i.Token, MediaTypeVCJWT)
}

// signingAs is who a credential is issued as: the node (enrollment) or
// an accredited issuer the node signs for.
type signingAs struct {
	did string // the issuer of vc+jwt, and the DID of every kid
	iss string // iss of SD-JWT VC: the node's base URL, or did
	// key returns the signing key of alg.
	key func(alg string) (keystore.Key, error)
	// acc is the accreditation a credential must fit; nil for the node.
	acc *Accreditation
	// sdKid is the SD-JWT VC header kid of a key.
	sdKid func(kid string) string
}

// node is the node's own identity.
func (is *Issuer) node() signingAs {
	return signingAs{did: is.did, iss: is.cfg.BaseURL, key: is.cfg.Keys.Active, sdKid: func(kid string) string { return kid }}
}

func (as signingAs) signer(alg, fallback string) (kid string, key crypto.Signer, err error) {
	if alg == "" {
		alg = fallback
	}
	if !slices.Contains(gm.JWTAlgorithms, alg) {
		return "", nil, fmt.Errorf("%w: algorithm %q", ErrUnsupported, alg)
	}
	k, err := as.key(alg)
	if errors.Is(err, ErrNotAccredited) {
		return "", nil, err
	}
	if err != nil {
		return "", nil, fmt.Errorf("%w: no active %s key: %v", ErrUnsupported, alg, err)
	}
	return k.Kid, k.Signer, nil
}

func (is *Issuer) signer(alg string) (kid string, key crypto.Signer, err error) {
	return is.node().signer(alg, is.cfg.Algorithm)
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
func (is *Issuer) prepare(in map[string]any, as signingAs) (map[string]any, error) {
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
		c["issuer"] = as.did
	} else if id, err := idOf(v, true); err != nil {
		return nil, fmt.Errorf("%w: issuer: %v", ErrInvalid, err)
	} else if id != as.did {
		return nil, fmt.Errorf("%w: this issues only as %s", ErrIssuerMismatch, as.did)
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

// reserve allocates an entry of each purpose.
func (is *Issuer) reserve(ctx context.Context, purposes ...string) ([]status.Ref, error) {
	var refs []status.Ref
	for _, p := range purposes {
		lid, idx, err := is.cfg.Status.Allocate(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStatusFull, err)
		}
		refs = append(refs, status.Ref{ListID: lid, Index: idx, Purpose: p})
	}
	return refs, nil
}

// bind binds every credential of a group to all the group's entries, and
// to the issuing client: a status change of any of them changes them all.
func (is *Issuer) bind(ctx context.Context, client string, group []*pending) error {
	var all []status.Ref
	for _, p := range group {
		all = append(all, p.refs...)
	}
	for _, p := range group {
		if err := is.cfg.Status.BindOwner(ctx, p.id, ownerTag(client), all); err != nil {
			if errors.Is(err, status.ErrBound) {
				return fmt.Errorf("%w: a credential with this id was already issued", ErrInvalid)
			}
			return err
		}
	}
	// A list just created has no head on the ledger yet: hand over its
	// first one (nothing to do for lists anchored before). A failure is
	// reported and retried; the credential is valid either way.
	ids := make([]string, len(all))
	for i, r := range all {
		ids[i] = r.ListID
	}
	is.handOff(ctx, true, ids...)
	return nil
}

// pending is a credential prepared and given its status entries, to be
// bound and signed.
type pending struct {
	id     string
	format string
	refs   []status.Ref
	sign   func() (string, error)
}

// Issue secures a credential as the node. The request must not carry
// credentialStatus or proof; issuer defaults to (and must be) the node's
// DID; id defaults to a fresh urn:uuid and validFrom to now. A revocation
// and a suspension entry (vc+jwt) or a Token Status List entry (SD-JWT VC)
// are attached at random indices. The node's own credentials are
// enrollment's: verifiers accept only the enrollment types from it.
func (is *Issuer) Issue(ctx context.Context, in map[string]any, opts IssueOptions) (*Issued, error) {
	out, err := is.issue(ctx, is.node(), opts.Client, GroupItem{Credential: in, Options: opts})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// IssueGroup issues credentials as the node that share their fate (one
// enrollment's binding and identity credentials): each is bound to the
// status entries of all, so revoking, suspending or reinstating any of
// them does the same to all. They are owned by the first item's Client.
func (is *Issuer) IssueGroup(ctx context.Context, items []GroupItem) ([]*Issued, error) {
	if len(items) == 0 || len(items) > 4 {
		return nil, fmt.Errorf("%w: a group has 1 to 4 credentials", ErrInvalid)
	}
	return is.issue(ctx, is.node(), items[0].Options.Client, items...)
}

// IssueAsClient secures a credential for opts.Client, under that client's
// own issuer DID (ClientIssuerDID) and with a key the node holds for it.
// The client must be accredited in the trust registry for every type of
// the credential (and, for an SD-JWT VC, its vct), and may not use what
// enrollment alone issues: the enrollment types (ErrReservedType), the
// assuranceLevel claim (ErrReservedClaim) and urn:trustid:subject:
// subject IDs (ErrReservedSubject). Otherwise as Issue; the client owns
// the credential's status.
func (is *Issuer) IssueAsClient(ctx context.Context, in map[string]any, opts IssueOptions) (*Issued, error) {
	// The reserved names first, whoever asks: the reason is the request,
	// not the client's accreditation.
	did, err := ClientIssuerDID(is.did, opts.Client)
	if err != nil {
		return nil, err
	}
	c, err := is.prepare(in, signingAs{did: did})
	if err != nil {
		return nil, err
	}
	cred, _ := NewCredential(c)
	if err := enrollmentOnly(cred.Types, subjectIDs(cred.Subjects), cred.Subjects); err != nil {
		return nil, err
	}
	as, err := is.client(opts.Client)
	if err != nil {
		return nil, err
	}
	out, err := is.issue(ctx, as, opts.Client, GroupItem{Credential: in, Options: opts})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// client is the identity of an accredited client issuer, from the
// registry copy.
func (is *Issuer) client(clientID string) (signingAs, error) {
	if is.cfg.Registry == nil {
		return signingAs{}, fmt.Errorf("%w: this node signs for no issuer", ErrNotAccredited)
	}
	did, err := ClientIssuerDID(is.did, clientID)
	if err != nil {
		return signingAs{}, err
	}
	acc, err := (&RegistryTrust{Registry: is.cfg.Registry}).Accreditation(did)
	if err != nil {
		return signingAs{}, err
	}
	rec, _ := is.cfg.Registry.Issuer(did)
	key := func(alg string) (keystore.Key, error) {
		k, err := is.cfg.IssuerKeys.OwnerActive(did, alg)
		if err != nil {
			return k, fmt.Errorf("%w: this node holds no %s key for it (accredit it again, or give this instance the keystore copy that has its keys)", ErrNotAccredited, alg)
		}
		if _, ok := rec.VerifyingKey(k.Kid); !ok {
			return keystore.Key{}, fmt.Errorf("%w: its %s key is not in its registry record (accredit it again)", ErrNotAccredited, alg)
		}
		return k, nil
	}
	return signingAs{did: did, iss: did, key: key, acc: &acc, sdKid: func(kid string) string { return did + "#" + kid }}, nil
}

func countSet(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// issue prepares every item (validating it and reserving its entries),
// binds the group, then signs each.
func (is *Issuer) issue(ctx context.Context, as signingAs, client string, items ...GroupItem) ([]*Issued, error) {
	group := make([]*pending, len(items))
	for i, it := range items {
		var err error
		switch it.Options.Format {
		case "", FormatVCJWT:
			group[i], err = is.prepareJWT(ctx, as, it.Credential, it.Options)
		case FormatSDJWT:
			group[i], err = is.prepareSDJWT(ctx, as, it.Credential, it.Options)
		default:
			err = fmt.Errorf("%w: format %q (want vc+jwt or sd-jwt)", ErrUnsupported, it.Options.Format)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := is.bind(ctx, client, group); err != nil {
		return nil, err
	}
	out := make([]*Issued, len(group))
	for i, p := range group {
		tok, err := p.sign()
		if err != nil {
			return nil, err
		}
		out[i] = &Issued{ID: p.id, Format: p.format, Token: tok, Status: p.refs}
	}
	return out, nil
}

func (is *Issuer) prepareJWT(ctx context.Context, as signingAs, in map[string]any, opts IssueOptions) (*pending, error) {
	kid, signer, err := as.signer(opts.Algorithm, is.cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	c, err := is.prepare(in, as)
	if err != nil {
		return nil, err
	}
	if as.acc != nil {
		cred, _ := NewCredential(c)
		if err := as.acc.Allows(cred.Types, subjectIDs(cred.Subjects), cred.Subjects); err != nil {
			return nil, err
		}
	}
	id := c["id"].(string)
	refs, err := is.reserve(ctx, PurposeRevocation, PurposeSuspension)
	if err != nil {
		return nil, err
	}
	var status []any
	for _, r := range refs {
		u := is.statusURL(r.ListID)
		status = append(status, StatusEntry{ID: fmt.Sprintf("%s#%d", u, r.Index), Purpose: r.Purpose, Index: r.Index, ListCredential: u}.Map())
	}
	c["credentialStatus"] = status
	return &pending{id: id, format: FormatVCJWT, refs: refs, sign: func() (string, error) {
		return SignJWT(c, TypVCJWT, as.did+"#"+kid, signer)
	}}, nil
}

// prepareSDJWT maps the credential onto SD-JWT VC claims: iss (the node's
// base URL, or a client issuer's DID), vct, iat (day-coarse), nbf/exp from
// validFrom/validUntil, sub from the subject id, every other subject
// claim selectively disclosable (objects recursively, arrays element by
// element), cnf.jwk and a status claim. The subject id becomes a
// selectively disclosable sub.
func (is *Issuer) prepareSDJWT(ctx context.Context, as signingAs, in map[string]any, opts IssueOptions) (*pending, error) {
	kid, signer, err := as.signer(opts.Algorithm, is.cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	c, err := is.prepare(in, as)
	if err != nil {
		return nil, err
	}
	cred, _ := NewCredential(c)
	if len(cred.Subjects) != 1 {
		return nil, fmt.Errorf("%w: an SD-JWT VC carries exactly one credentialSubject", ErrInvalid)
	}
	vct := opts.VCT
	if vct == "" {
		vct = cred.Types[len(cred.Types)-1]
	} else if _, err := urlString(vct); err != nil {
		return nil, fmt.Errorf("%w: vct: %v", ErrInvalid, err)
	}
	if as.acc != nil {
		if err := as.acc.Allows(append(slices.Clone(cred.Types), vct), subjectIDs(cred.Subjects), cred.Subjects); err != nil {
			return nil, err
		}
	}
	// No jti, a selectively disclosable sub and iat rounded down to the
	// UTC day: a value shown to every verifier, or an issuance time to
	// the second, would let them link presentations (or the copies of one
	// enrollment, issued together).
	iat := is.cfg.Now().UTC().Truncate(24 * time.Hour)
	claims := map[string]any{"iss": as.iss, "vct": vct, "iat": iat.Unix()}
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
	refs, err := is.reserve(ctx, status.PurposeToken)
	if err != nil {
		return nil, err
	}
	payload["status"] = map[string]any{"status_list": map[string]any{"idx": refs[0].Index, "uri": is.statusURL(refs[0].ListID)}}
	return &pending{id: cred.ID, format: FormatSDJWT, refs: refs, sign: func() (string, error) {
		tok, err := jose.Sign(payload, map[string]any{"typ": TypSDJWTVC, "kid": as.sdKid(kid)}, signer)
		if err != nil {
			return "", err
		}
		return sdjwt.Serialize(tok, ds), nil
	}}, nil
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
		if errors.Is(err, status.ErrNotFound) {
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
	if errors.Is(err, status.ErrNotFound) {
		return fmt.Errorf("%w: no credential with this id was issued here", ErrNotFound)
	}
	if err != nil {
		return err
	}
	revoked := false
	for _, r := range refs {
		if r.Purpose != PurposeRevocation && r.Purpose != status.PurposeToken {
			continue
		}
		_, v, err := is.cfg.Status.Get(ctx, r.ListID, r.Index)
		if err != nil {
			return err
		}
		revoked = revoked || (r.Purpose == PurposeRevocation && v == 1) || (r.Purpose == status.PurposeToken && v == status.TokenInvalid)
	}
	if revoked && action != ActionRevoke {
		return fmt.Errorf("%w: the credential is revoked", ErrStatusConflict)
	}
	// Every entry of the credential's group (see IssueGroup): the refs of
	// each purpose, not only the first.
	values := map[string]map[string]uint8{
		ActionRevoke:    {PurposeRevocation: 1, status.PurposeToken: status.TokenInvalid},
		ActionSuspend:   {PurposeSuspension: 1, status.PurposeToken: status.TokenSuspended},
		ActionReinstate: {PurposeSuspension: 0, status.PurposeToken: status.TokenValid},
	}[action]
	if values == nil {
		return fmt.Errorf("%w: action %q (want revoke, suspend or reinstate)", ErrInvalid, action)
	}
	var touched []string
	for _, r := range refs {
		if v, ok := values[r.Purpose]; ok {
			touched = append(touched, r.ListID)
			err = errors.Join(err, is.cfg.Status.Set(ctx, r.ListID, r.Index, v))
		}
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
	if !status.ValidListID(listID) {
		return nil, "", fmt.Errorf("%w: status list", ErrNotFound)
	}
	// The cached encoding is current when the list's version is the same:
	// ask for the version only, and copy the list only to re-encode it.
	version, _, err := is.cfg.Status.Versions(ctx, listID)
	if errors.Is(err, status.ErrNotFound) {
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
