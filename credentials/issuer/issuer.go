package issuer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
	"golang.org/x/net/idna"
)

// Formats an issuer produces.
const (
	FormatVCJWT = "vc+jwt"
	FormatSDJWT = "sd-jwt"
)

// KeySource is what the issuer needs of the node keystore
// (*keystore.Store satisfies it): the active signing key per algorithm,
// the keys to publish (active and retiring), and any key by kid. All
// methods must be safe for concurrent use; Lookup returns an error for an
// unknown kid.
type KeySource interface {
	Active(alg string) (keystore.Key, error)
	Published() []keystore.Key
	Lookup(kid string) (keystore.Key, error)
}

var _ KeySource = (*keystore.Store)(nil)

// Config configures New. Zero values: SM2, crypto/rand,
// time.Now, a status ttl of 5 minutes.
type Config struct {
	// BaseURL is the node's public base URL; its did:web, status list URLs
	// and SD-JWT VC iss derive from it.
	BaseURL string
	Keys    KeySource
	Status  credentials.StatusStore
	// Algorithm signs when a request names none.
	Algorithm string
	Rand      io.Reader
	Now       func() time.Time
	// StatusTTL is the ttl advertised in status lists (zero: 5 minutes).
	// A Token Status List says it in whole seconds, cut down, and it must
	// be positive (draft-ietf-oauth-status-list): New refuses less than
	// one second, and more than half a Status List Token's lifetime (24
	// h), so that a token served at the end of the node's cache still
	// outlives the ttl a consumer may cache it for.
	StatusTTL time.Duration
	// The issuers the node signs for: relying parties accredited to issue
	// through it, each under its own DID (ClientIssuerDID). Registry is
	// the trust registry copy IssueAsClient checks accreditations in,
	// Registrar writes issuer records (Accredit), IssuerKeys holds their
	// keys, Region is the code of the node's region, whose records alone
	// the node publishes (ClientIssuerDocument). All four, or none: then
	// only the node issues (Issue).
	Registry   credentials.IssuerRegistry
	Registrar  IssuerRegistrar
	IssuerKeys OwnerKeySource
	Region     string
	// Formats are the securing mechanisms besides the built-in vc+jwt and
	// SD-JWT VC (dc+sd-jwt), by the name a request gives (see Format).
	Formats map[string]Format
	// PresentFormats are the presentation securing mechanisms besides
	// the built-in vp+jwt, by name (see PresentFormat).
	PresentFormats map[string]PresentFormat
	// Instances, when set, lets the node's verifiers (Local) verify its
	// credentials signed by a key of its region that Keys does not hold:
	// another instance rotated first (federation.Instances). Nil: Keys
	// only.
	Instances InstanceKeys
	// ContextCheck, if set, checks the @context of every W3C document
	// issued or presented (all formats but SD-JWT VC) beyond the data
	// model's rules: jsonld.CheckInlineContexts, so that vc+jwt and
	// vc+cose too refuse a context that redefines a protected term.
	ContextCheck func(doc map[string]any) error
}

// Issuer issues the node's credentials: as the node itself (Issue,
// IssueGroup: enrollment) and as the relying parties accredited to issue
// through it (IssueAsClient). It keeps no copy of what it signs: only
// status entries bound to credential IDs. It is safe for concurrent use.
type Issuer struct {
	cfg  Config
	did  string
	base *url.URL // cfg.BaseURL parsed

	mu    sync.Mutex
	lists map[string]encodedList // status list encodings by list ID

}

type encodedList struct {
	version uint64
	doc     map[string]any
	jwt     string
	expires time.Time
	// secured are the list in other media types (SecureStatusList).
	secured map[string][]byte
}

// statusTokenLifetime is how long a Status List Token is valid (its exp
// after its iat).
const statusTokenLifetime = 24 * time.Hour

// New checks cfg.
func New(cfg Config) (*Issuer, error) {
	did, err := credentials.DIDWeb(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Keys == nil || cfg.Status == nil {
		return nil, errors.New("credentials: issuer needs keys and a status store")
	}
	if n := countSet(cfg.Registry != nil, cfg.Registrar != nil, cfg.IssuerKeys != nil, cfg.Region != ""); n != 0 && n != 4 {
		return nil, errors.New("credentials: client issuers need a registry, a registrar, issuer keys and a region together")
	}
	if cfg.Region != "" && !chaincode.ValidRegionCode(cfg.Region) {
		return nil, fmt.Errorf("%w: region %q is not a GB/T 2260 province-level code", credentials.ErrInvalid, cfg.Region)
	}
	if err := checkFormats(cfg.Formats); err != nil {
		return nil, err
	}
	if err := checkPresentFormats(cfg.PresentFormats); err != nil {
		return nil, err
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = gm.AlgSM2
	}
	if !slices.Contains(gm.JWTAlgorithms, cfg.Algorithm) {
		return nil, fmt.Errorf("%w: algorithm %q", credentials.ErrUnsupported, cfg.Algorithm)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StatusTTL > 0 && cfg.StatusTTL < time.Second {
		return nil, fmt.Errorf("credentials: a status ttl of %v is below one second, the least a Token Status List's ttl (positive whole seconds) says", cfg.StatusTTL)
	}
	if cfg.StatusTTL > statusTokenLifetime/2 {
		return nil, fmt.Errorf("credentials: a status ttl of %v is more than half of the %v a Status List Token is valid: a consumer caching a token served late for its ttl would hold it past its exp", cfg.StatusTTL, statusTokenLifetime)
	}
	if cfg.StatusTTL <= 0 {
		cfg.StatusTTL = 5 * time.Minute
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("credentials: base URL: %w", err)
	}
	is := &Issuer{cfg: cfg, did: did, base: base, lists: map[string]encodedList{}}
	return is, nil
}

// DID returns the node's did:web.
func (is *Issuer) DID() string { return is.did }

// BaseURL returns the node's public base URL.
func (is *Issuer) BaseURL() string { return is.cfg.BaseURL }

// InstanceKeys resolves a key of the node's region that its keystore
// does not hold from the region's record in the trust registry, with its
// JWS algorithm, or says why not (federation.Instances, whose contract
// this is). Safe for concurrent use.
type InstanceKeys interface {
	InstanceKey(ctx context.Context, kid string) (crypto.PublicKey, string, error)
}

// Local returns the node's identifiers and keys for a Resolver. A
// verifier given it must not cache its keys (KeyTTL < 0): a key from the
// region's record is checked there on every use.
func (is *Issuer) Local() *credentials.LocalIssuer {
	return &credentials.LocalIssuer{DID: is.did, BaseURL: is.cfg.BaseURL, Keys: localKeys{is.cfg.Keys, is.cfg.Instances}}
}

// localKeys are the keystore's keys as a verifier of the node's own
// credentials sees them: retired keys verify nothing; a key the keystore
// does not hold is the region record's (instances), when set.
type localKeys struct {
	ks        KeySource
	instances InstanceKeys
}

func (l localKeys) VerifyingKey(ctx context.Context, kid string) (crypto.PublicKey, bool) {
	k, err := l.ks.Lookup(kid)
	if err != nil && l.instances != nil {
		pub, _, err := l.instances.InstanceKey(ctx, kid)
		return pub, err == nil
	}
	if err != nil || k.State == keystore.StateRetired {
		return nil, false
	}
	return k.Public, true
}

// publishedJWKs returns the JWKs of keys, retired ones left out.
func publishedJWKs(keys []keystore.Key) ([]gm.JWK, error) {
	var jwks []gm.JWK
	for _, k := range keys {
		if k.State == keystore.StateRetired {
			continue
		}
		j, err := k.JWK()
		if err != nil {
			return nil, err
		}
		jwks = append(jwks, j)
	}
	return jwks, nil
}

// DIDDocument returns the node's DID document with every published key.
func (is *Issuer) DIDDocument() (credentials.DIDDocument, error) {
	jwks, err := publishedJWKs(is.cfg.Keys.Published())
	if err != nil {
		return credentials.DIDDocument{}, err
	}
	return credentials.NewDIDDocument(is.did, jwks), nil
}

// Metadata returns the SD-JWT VC issuer metadata with the published keys.
func (is *Issuer) Metadata() (credentials.IssuerMetadata, error) {
	set := gm.JWKS{Keys: []gm.JWK{}}
	for _, k := range is.cfg.Keys.Published() {
		j, err := k.JWK()
		if err != nil {
			return credentials.IssuerMetadata{}, err
		}
		set.Keys = append(set.Keys, j)
	}
	return credentials.IssuerMetadata{Issuer: is.cfg.BaseURL, JWKS: &set}, nil
}

// IssueOptions are the per-request choices.
type IssueOptions struct {
	// Format is FormatVCJWT (default), FormatSDJWT (also named dc+sd-jwt
	// and by the media types) or a name in Config.Formats; another name
	// gives ErrUnknownFormat.
	Format string
	// AddStatus attaches the node's status entries to a credential that
	// carries credentialStatus entries of its own (which are issued as
	// they are). A credential without any always gets the node's.
	AddStatus bool
	// Algorithm overrides the issuer's default.
	Algorithm string
	// VCT is the SD-JWT VC type, a URL or URN (default: the last credential
	// type T under the node's base URL, credentials.TypeVCT(base, T), e.g.
	// https://node.example/vct/IdentityCredential).
	VCT string
	// HolderKey, for SD-JWT VC, is the holder's public JWK put in cnf.jwk.
	HolderKey *gm.JWK
	// Decoys per _sd array of an SD-JWT VC (default 2).
	Decoys int
	// MandatoryPointers is the VC API's options.mandatoryPointers: JSON
	// Pointers (RFC 6901) into the credential naming what a selective
	// disclosure credential always discloses. With FormatSDJWT the
	// subject claims they select are plain claims, not disclosures
	// (/issuer, /validFrom and /validUntil always are); any other format
	// discloses everything and gives ErrMandatoryPointers.
	MandatoryPointers []string
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

	pre *prepared // what prepare made of Credential already, if anything
}

// prepared is a request prepare has made (IssueAsClient checks it before
// issuing), so that issuing does not prepare it again.
type prepared struct {
	c    map[string]any
	cred *credentials.Credential
}

// Issued is an issued credential.
type Issued struct {
	// ID is the credential's id; with Status empty no status of the node
	// can be changed through it.
	ID string
	// Format is the format's name, MediaType its secured form's.
	Format, MediaType string
	// Token is the vc+jwt, the SD-JWT (issuer JWT and all disclosures),
	// or what a Format's Sign returned.
	Token string
	// Status are the node's status entries (none when the request's own
	// entries were issued alone).
	Status []status.Ref
}

// Envelope returns the form of the VC API responses: an
// EnvelopedVerifiableCredential with a data: URL, or the credential itself
// for an embedded proof (MediaTypeEmbedded).
func (i *Issued) Envelope() map[string]any {
	if i.MediaType == MediaTypeEmbedded {
		var doc map[string]any
		if json.Unmarshal([]byte(i.Token), &doc) == nil {
			return doc
		}
	}
	return credentials.Envelope(i.Token, i.MediaType)
}

// signingAs is who a credential is issued as: the node (enrollment) or
// an accredited issuer the node signs for.
type signingAs struct {
	did string // the issuer of vc+jwt, and the DID of every kid
	iss string // iss of SD-JWT VC: the node's base URL, or did
	// key returns the signing key of alg.
	key func(alg string) (keystore.Key, error)
	// acc is the accreditation a credential must fit; nil for the node.
	acc *credentials.Accreditation
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
		return "", nil, fmt.Errorf("%w: algorithm %q", credentials.ErrUnsupported, alg)
	}
	k, err := as.key(alg)
	if errors.Is(err, credentials.ErrNotAccredited) {
		return "", nil, err
	}
	if err != nil {
		return "", nil, fmt.Errorf("%w: no active %s key: %v", credentials.ErrUnsupported, alg, err)
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

// prepare fills issuer, id and validFrom (the UTC day), and validates the request
// before any status entry is spent.
func (is *Issuer) prepare(in map[string]any, as signingAs) (map[string]any, *credentials.Credential, error) {
	c := make(map[string]any, len(in)+4)
	for k, v := range in {
		c[k] = v
	}
	if _, ok := c["proof"]; ok {
		return nil, nil, fmt.Errorf("%w: proof is set by the issuer, not the request", credentials.ErrInvalid)
	}
	if _, ok := c["issuer"]; !ok {
		c["issuer"] = as.did
	}
	if _, ok := c["id"]; !ok {
		id, err := is.newID()
		if err != nil {
			return nil, nil, err
		}
		c["id"] = id
	}
	if _, ok := c["validFrom"]; !ok {
		// The UTC day, as enrollment's times: a time to the second, the
		// same in every credential of an OID4VCI batch, would let the
		// verifiers shown its copies link them.
		c["validFrom"] = credentials.FormatTime(is.cfg.Now().UTC().Truncate(24 * time.Hour))
	}
	cred, err := credentials.NewCredential(c)
	if err != nil {
		return nil, nil, err
	}
	// Digests the node's verifier would refuse are not signed.
	if err := credentials.CheckRelatedResources(c); err != nil {
		return nil, nil, err
	}
	if cred.Issuer != as.did {
		return nil, nil, fmt.Errorf("%w: this issues only as %s", credentials.ErrIssuerMismatch, as.did)
	}
	// The request's own status entries are issued as they are, but none
	// may point into the node's lists: the node allocates those (an entry
	// chosen by the request could be another credential's).
	for _, e := range cred.Status {
		if is.onNode(e.ListCredential) || is.onNode(e.ID) {
			return nil, nil, fmt.Errorf("%w: credentialStatus entries in this node's status lists are allocated by the node (options.credentialStatus)", credentials.ErrInvalid)
		}
	}
	if cred.ID == "" {
		return nil, nil, fmt.Errorf("%w: id is required", credentials.ErrInvalid)
	}
	return c, cred, nil
}

// onNode reports whether raw is a URL under the node's base URL however
// it is spelt: the host's case, a trailing dot, userinfo, IDNA mapping
// and a default or zero-padded port make no other host, and the path is
// compared decoded and cleaned. A verifier fetching such a URL gets the
// node's own list.
func (is *Issuer) onNode(raw string) bool {
	if strings.HasPrefix(raw, is.cfg.BaseURL+"/") {
		return true
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host, port, ok := urlHostPort(u)
	bhost, bport, _ := urlHostPort(is.base)
	if !ok || host != bhost || port != bport {
		return false
	}
	p, bp := path.Clean("/"+u.Path), strings.TrimSuffix(is.base.Path, "/")
	return p == bp || strings.HasPrefix(p, bp+"/")
}

// urlHostPort returns an http(s) URL's host, normalized as a client
// dials it, and its port as a number; ok is false for other URLs.
func urlHostPort(u *url.URL) (host string, port int, ok bool) {
	switch strings.ToLower(u.Scheme) {
	case "https":
		port = 443
	case "http":
		port = 80
	default:
		return "", 0, false
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return "", 0, false
		}
		port = n
	}
	host = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if a, err := idna.Lookup.ToASCII(host); err == nil {
		host = strings.TrimSuffix(a, ".")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().String()
	}
	return host, port, host != ""
}

// statusURL is the stable URL of a list.
func (is *Issuer) statusURL(listID string) string { return is.cfg.BaseURL + "/status/" + listID }

// OwnerTag is what the status store records of the client that issued a
// credential (see ownerTag): what an enrollment ID minted for the client
// carries (enrollment).
func OwnerTag(client string) string { return ownerTag(client) }

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

// reserve allocates an entry of each purpose, all at once: in one call
// to a ManyAllocator (one group commit), else concurrently, so that a
// store that commits in groups makes them durable in parallel groups
// rather than one after the other.
func (is *Issuer) reserve(ctx context.Context, purposes ...string) ([]status.Ref, error) {
	if m, ok := is.cfg.Status.(ManyAllocator); ok {
		refs, err := m.AllocateMany(ctx, purposes...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", credentials.ErrStatusFull, err)
		}
		return refs, nil
	}
	refs := make([]status.Ref, len(purposes))
	err := each(len(purposes), func(i int) error {
		lid, idx, err := is.cfg.Status.Allocate(ctx, purposes[i])
		refs[i] = status.Ref{ListID: lid, Index: idx, Purpose: purposes[i]}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", credentials.ErrStatusFull, err)
	}
	return refs, nil
}

// ManyAllocator is a StatusStore that allocates entries of several
// purposes in one durable write (statuslist.FileStore and Shared); the
// refs are in the order of purposes.
type ManyAllocator interface {
	AllocateMany(ctx context.Context, purposes ...string) ([]status.Ref, error)
}

// IDMinter is a StatusStore whose credential IDs carry the credential's
// entries and owner (statuslist.Shared): the issuer assigns the ID of
// every credential whose request chose none with MintID, and BindOwner
// only checks it.
type IDMinter interface {
	MintID(member int, owner string, refs []status.Ref) (string, error)
}

// StatusSetter is a StatusStore that makes several changes in one durable
// write; setStatuses uses it when the store has it.
type StatusSetter interface {
	SetMany(ctx context.Context, entries []status.Entry) error
}

// CheckedSetter is a StatusStore that makes changes only if check accepts
// the values of guards, read once the changes other instances accepted
// earlier of the entries and the guards are committed
// (statuslist.Shared), or with no other checked change between the check
// and the write (statuslist.FileStore); setStatuses uses it when the store
// has it, so that a change waiting for a revocation is refused.
type CheckedSetter interface {
	SetManyIf(ctx context.Context, entries []status.Entry, guards []status.Ref, check func(values []uint8) error) error
}

// each runs f(0) … f(n-1) concurrently (the last on the calling
// goroutine) and returns the error of the lowest i that failed.
func each(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n - 1 {
		wg.Go(func() { errs[i] = f(i) })
	}
	if n > 0 {
		errs[n-1] = f(n - 1)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// bind binds every credential of a group to all the group's entries, and
// to the issuing client: a status change of any of them changes them all.
// With an IDMinter store, each credential's ID is minted here. The
// credentials are bound at once (one group commit, not one each).
func (is *Issuer) bind(ctx context.Context, client string, group []*pending) error {
	var all []status.Ref
	for _, p := range group {
		all = append(all, p.refs...)
	}
	if len(all) == 0 {
		return nil // the request's own status entries only: nothing to bind
	}
	owner := ownerTag(client)
	if m, ok := is.cfg.Status.(IDMinter); ok {
		for i, p := range group {
			if p.given {
				continue
			}
			id, err := m.MintID(i, owner, all)
			if err != nil {
				return err
			}
			p.id = id
			if p.setID != nil {
				p.setID(id)
			}
		}
	}
	err := each(len(group), func(i int) error {
		return is.cfg.Status.BindOwner(ctx, group[i].id, owner, all)
	})
	if errors.Is(err, status.ErrBound) {
		return fmt.Errorf("%w: %w", ErrIDTaken, err)
	} else if err != nil {
		return err
	}
	return nil
}

// ReservedIDPrefix starts the credential IDs the node makes itself
// (minted IDs carry their status entries); a request cannot choose one.
const ReservedIDPrefix = "urn:trustid:"

// ErrReservedID: the request chose a credential id under ReservedIDPrefix.
// It matches credentials.ErrInvalid.
var ErrReservedID = fmt.Errorf("%w: credential ids under %s are the node's", credentials.ErrInvalid, ReservedIDPrefix)

// ErrIDTaken: the request chose a credential id that is bound already
// (by an earlier issue, on any instance of the region). It matches
// credentials.ErrInvalid.
var ErrIDTaken = fmt.Errorf("%w: a credential with this id was already issued", credentials.ErrInvalid)

// pending is a credential prepared and given its status entries, to be
// bound and signed.
type pending struct {
	id        string
	format    string
	mediaType string
	refs      []status.Ref
	sign      func() (string, error)
	setID     func(string) // sets the signed credential's id (vc+jwt)
	given     bool         // the request chose the id
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
		return nil, fmt.Errorf("%w: a group has 1 to 4 credentials", credentials.ErrInvalid)
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
	did, err := credentials.ClientIssuerDID(is.did, opts.Client)
	if err != nil {
		return nil, err
	}
	c, cred, err := is.prepare(in, signingAs{did: did})
	if err != nil {
		return nil, err
	}
	if err := credentials.EnrollmentOnly(cred.Types, credentials.SubjectIDs(cred.Subjects), cred.Subjects); err != nil {
		return nil, err
	}
	as, err := is.client(opts.Client)
	if err != nil {
		return nil, err
	}
	// as.did is did: what prepare made is what issuing would make.
	out, err := is.issue(ctx, as, opts.Client, GroupItem{Credential: in, Options: opts, pre: &prepared{c: c, cred: cred}})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// client is the identity of an accredited client issuer, from the
// registry copy.
func (is *Issuer) client(clientID string) (signingAs, error) {
	if is.cfg.Registry == nil {
		return signingAs{}, fmt.Errorf("%w: this node signs for no issuer", credentials.ErrNotAccredited)
	}
	did, err := credentials.ClientIssuerDID(is.did, clientID)
	if err != nil {
		return signingAs{}, err
	}
	acc, err := (&credentials.RegistryTrust{Registry: is.cfg.Registry}).Accreditation(did)
	if err != nil {
		return signingAs{}, err
	}
	// The node names the types it issues (its region's "api" endpoint is
	// its base URL, which is how verifiers map the vct back).
	acc.VCTBase = is.cfg.BaseURL
	rec, _ := is.cfg.Registry.Issuer(did)
	key := func(alg string) (keystore.Key, error) {
		k, err := is.cfg.IssuerKeys.OwnerActive(did, alg)
		if err != nil && len(rec.Keys) > 0 && len(is.cfg.IssuerKeys.OwnerKeys(did)) == 0 {
			// Another instance accredited it: accrediting again here
			// makes no keys (Accredit), its keystore copy brings them.
			return k, fmt.Errorf("%w: this instance's keystore holds no key of it (another instance of the region accredited it: give this one that instance's keystore copy, then SIGHUP)", credentials.ErrNotAccredited)
		}
		if err != nil {
			return k, fmt.Errorf("%w: this node holds no %s key for it (accredit it again, or give this instance the keystore copy that has its keys)", credentials.ErrNotAccredited, alg)
		}
		if _, ok := rec.VerifyingKey(k.Kid); !ok {
			return keystore.Key{}, fmt.Errorf("%w: its %s key is not in its registry record (accredit it again)", credentials.ErrNotAccredited, alg)
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

// issue prepares every item (validating it and reserving its entries;
// the items at once, so that their allocations share group commits),
// binds the group, then signs each.
func (is *Issuer) issue(ctx context.Context, as signingAs, client string, items ...GroupItem) ([]*Issued, error) {
	group := make([]*pending, len(items))
	err := each(len(items), func(i int) error {
		var err error
		it := items[i]
		// Before anything is allocated; URN scheme and NID compare
		// case-insensitively (RFC 8141).
		if id, ok := it.Credential["id"].(string); ok && len(id) >= len(ReservedIDPrefix) && strings.EqualFold(id[:len(ReservedIDPrefix)], ReservedIDPrefix) {
			return ErrReservedID
		}
		name, f, err := is.format(it.Options.Format)
		if err != nil {
			return err
		}
		if name != FormatSDJWT && len(it.Options.MandatoryPointers) > 0 {
			return ErrMandatoryPointers
		}
		if name == FormatSDJWT {
			group[i], err = is.prepareSDJWT(ctx, as, it.Credential, it.Options, it.pre)
		} else {
			group[i], err = is.prepareDoc(ctx, as, it.Credential, it.Options, it.pre, name, f)
		}
		if err != nil {
			return err
		}
		_, group[i].given = items[i].Credential["id"]
		return nil
	})
	if err != nil {
		return nil, err
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
		out[i] = &Issued{ID: p.id, Format: p.format, MediaType: p.mediaType, Token: tok, Status: p.refs}
	}
	return out, nil
}

// open picks the signing key of opts' algorithm and prepares the request
// (prepare, unless pre holds what it made): the opening both formats
// share.
func (is *Issuer) open(as signingAs, in map[string]any, opts IssueOptions, pre *prepared) (kid string, signer crypto.Signer, c map[string]any, cred *credentials.Credential, err error) {
	if kid, signer, err = as.signer(opts.Algorithm, is.cfg.Algorithm); err != nil {
		return "", nil, nil, nil, err
	}
	if pre != nil {
		return kid, signer, pre.c, pre.cred, nil
	}
	if c, cred, err = is.prepare(in, as); err != nil {
		return "", nil, nil, nil, err
	}
	return kid, signer, c, cred, nil
}

// prepareDoc prepares a W3C credential document secured by f (vc+jwt or
// a registered Format): the node's revocation and suspension entries go
// to credentialStatus, after the request's own entries if it has any (and
// then only with opts.AddStatus).
func (is *Issuer) prepareDoc(ctx context.Context, as signingAs, in map[string]any, opts IssueOptions, pre *prepared, name string, f Format) (*pending, error) {
	switch {
	case opts.Algorithm != "" && !slices.Contains(f.Algorithms, opts.Algorithm):
		return nil, fmt.Errorf("%w: algorithm %q for %s (want one of %v)", credentials.ErrUnsupported, opts.Algorithm, name, f.Algorithms)
	case opts.Algorithm == "" && !slices.Contains(f.Algorithms, is.cfg.Algorithm):
		opts.Algorithm = f.Algorithms[0]
	}
	kid, signer, c, cred, err := is.open(as, in, opts, pre)
	if err != nil {
		return nil, err
	}
	if as.acc != nil {
		if err := as.acc.Allows(cred.Types, credentials.SubjectIDs(cred.Subjects), cred.Subjects); err != nil {
			return nil, err
		}
	}
	if is.cfg.ContextCheck != nil {
		if err := is.cfg.ContextCheck(c); err != nil {
			return nil, err
		}
	}
	if f.Check != nil {
		if err := f.Check(c); err != nil {
			return nil, err
		}
	}
	p := &pending{id: c["id"].(string), format: name, mediaType: f.MediaType, setID: func(id string) { c["id"] = id }}
	own, hasOwn := c["credentialStatus"]
	if !hasOwn || opts.AddStatus {
		if p.refs, err = is.reserve(ctx, credentials.PurposeRevocation, credentials.PurposeSuspension); err != nil {
			return nil, err
		}
		var entries []any
		if hasOwn {
			if list, ok := own.([]any); ok {
				entries = append(entries, list...)
			} else {
				entries = append(entries, own)
			}
		}
		for _, r := range p.refs {
			u := is.statusURL(r.ListID)
			entries = append(entries, credentials.StatusEntry{ID: fmt.Sprintf("%s#%d", u, r.Index), Purpose: r.Purpose, Index: r.Index, ListCredential: u}.Map())
		}
		c["credentialStatus"] = entries
	}
	p.sign = func() (string, error) { return f.Sign(c, as.did+"#"+kid, signer) }
	return p, nil
}

// prepareSDJWT maps the credential onto SD-JWT VC claims: iss (the node's
// base URL, or a client issuer's DID), vct, iat (day-coarse), nbf/exp from
// validFrom/validUntil, sub from the subject id, every other subject
// claim selectively disclosable (objects recursively, arrays element by
// element), cnf.jwk and a status claim. The subject id becomes a
// selectively disclosable sub.
func (is *Issuer) prepareSDJWT(ctx context.Context, as signingAs, in map[string]any, opts IssueOptions, pre *prepared) (*pending, error) {
	kid, signer, c, cred, err := is.open(as, in, opts, pre)
	if err != nil {
		return nil, err
	}
	if _, ok := c["credentialStatus"]; ok {
		return nil, fmt.Errorf("%w: an SD-JWT VC carries the node's Token Status List entry, not credentialStatus", credentials.ErrInvalid)
	}
	if len(cred.Subjects) != 1 {
		return nil, fmt.Errorf("%w: an SD-JWT VC carries exactly one credentialSubject", credentials.ErrInvalid)
	}
	vct := opts.VCT
	if vct == "" {
		vct = credentials.TypeVCT(is.cfg.BaseURL, cred.Types[len(cred.Types)-1])
	} else if _, err := credentials.URLString(vct); err != nil {
		return nil, fmt.Errorf("%w: vct: %v", credentials.ErrInvalid, err)
	}
	if as.acc != nil {
		if err := as.acc.Allows(append(slices.Clone(cred.Types), vct), credentials.SubjectIDs(cred.Subjects), cred.Subjects); err != nil {
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
		case "iss", "vct", "vct#integrity", "iat", "nbf", "exp", "cnf", "status", "sub", "jti", "_sd", "_sd_alg", "...":
			return nil, fmt.Errorf("%w: subject claim %q is reserved in SD-JWT VC", credentials.ErrInvalid, k)
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
	for _, p := range opts.MandatoryPointers {
		if err := mandatory(frame, cred.Subjects[0], c, p); err != nil {
			return nil, err
		}
	}
	// SD-JWT VC "without Selectively Disclosable Claims ... MUST NOT
	// contain the _sd claim": no decoys where nothing is concealed.
	if !conceals(frame) {
		frame.Decoys = 0
	}
	if opts.HolderKey != nil {
		if _, err := opts.HolderKey.PublicKey(); err != nil {
			return nil, fmt.Errorf("%w: holder key: %v", credentials.ErrInvalid, err)
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
		return nil, fmt.Errorf("%w: %v", credentials.ErrInvalid, err)
	}
	refs, err := is.reserve(ctx, status.PurposeToken)
	if err != nil {
		return nil, err
	}
	payload["status"] = map[string]any{"status_list": map[string]any{"idx": refs[0].Index, "uri": is.statusURL(refs[0].ListID)}}
	return &pending{id: cred.ID, format: FormatSDJWT, mediaType: credentials.MediaTypeSDJWT, refs: refs, sign: func() (string, error) {
		tok, err := jose.Sign(payload, map[string]any{"typ": credentials.TypSDJWTVC, "kid": as.sdKid(kid)}, signer)
		if err != nil {
			return "", err
		}
		return sdjwt.Serialize(tok, ds), nil
	}}, nil
}

// conceals reports whether f makes any claim or element selectively
// disclosable.
func conceals(f *sdjwt.Frame) bool {
	if len(f.SD) > 0 || len(f.Elements) > 0 {
		return true
	}
	for _, sub := range f.Nested {
		if conceals(sub) {
			return true
		}
	}
	return false
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

// ErrMandatoryPointers: options.mandatoryPointers with a format that is
// not selectively disclosable. This node issues no selective disclosure
// Data Integrity suite (ecdsa-sd-2023, bbs-2023); dc+sd-jwt takes them.
var ErrMandatoryPointers = errors.New("issuer: mandatoryPointers apply to a selective disclosure format (dc+sd-jwt); this format discloses every claim")

// mandatory makes what pointer p selects in credential c (subject the
// credential's one subject) plain claims of frame. The SD-JWT VC mapping
// carries /issuer, /validFrom and /validUntil as plain claims already;
// under /credentialSubject the selected claim and the claims on its path
// are taken out of the frame's disclosures. A pointer that selects
// nothing the SD-JWT VC carries is an error.
func mandatory(frame *sdjwt.Frame, subject, c map[string]any, p string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: mandatory pointer %.80q %s", credentials.ErrInvalid, p, why)
	}
	if !strings.HasPrefix(p, "/") {
		return bad("is not a JSON Pointer")
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		// RFC 6901 §3: "~" is followed only by "0" or "1".
		if strings.Contains(strings.NewReplacer("~0", "", "~1", "").Replace(t), "~") {
			return bad("is not a JSON Pointer")
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	switch toks[0] {
	case "issuer", "validFrom", "validUntil":
		if _, ok := c[toks[0]]; !ok || len(toks) > 1 {
			return bad("selects nothing")
		}
		return nil
	case "credentialSubject":
	default:
		return bad("selects nothing an SD-JWT VC carries (iss, nbf, exp and the subject's claims)")
	}
	if len(toks) == 1 {
		frame.SD, frame.Nested = nil, map[string]*sdjwt.Frame{}
		return nil
	}
	// A subject claim's members (or elements) are disclosed one by one,
	// what is inside a member as a whole: a deeper pointer would make the
	// member's other contents mandatory too, which it does not select.
	if len(toks) > 3 {
		return bad("selects part of a claim that is disclosed whole (point at the claim)")
	}
	var v any = subject
	for _, t := range toks[1:] {
		switch cur := v.(type) {
		case map[string]any:
			next, ok := cur[t]
			if !ok {
				return bad("selects nothing")
			}
			v = next
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(cur) || t != strconv.Itoa(i) {
				return bad("selects nothing")
			}
			v = cur[i]
		default:
			return bad("selects nothing")
		}
	}
	name := toks[1]
	if name == "id" {
		name = "sub"
	}
	frame.SD = slices.DeleteFunc(frame.SD, func(s string) bool { return s == name })
	nested := frame.Nested[toks[1]]
	switch {
	case len(toks) == 2:
		delete(frame.Nested, toks[1])
	case nested != nil:
		nested.SD = slices.DeleteFunc(nested.SD, func(s string) bool { return s == toks[2] })
		if i, err := strconv.Atoi(toks[2]); err == nil {
			nested.Elements = slices.DeleteFunc(nested.Elements, func(e int) bool { return e == i })
		}
	}
	return nil
}

// ErrStatusConflict: the change is not allowed from the current status
// (a revoked credential cannot be reinstated or suspended).
var ErrStatusConflict = errors.New("credentials: status change not allowed")

// ErrNotOwner: the caller did not issue the credential and is not an
// administrator. It matches ErrNotFound, so a caller cannot tell another
// client's credential from one that does not exist.
var ErrNotOwner = fmt.Errorf("%w: credential issued to another client", credentials.ErrNotFound)

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
	refs, err := is.refs(ctx, id, nil)
	if err != nil {
		return err
	}
	_, err = is.setStatuses(ctx, [][]status.Ref{refs}, action)
	return err
}

// SetStatusAs revokes, suspends or reinstates the credential with id on
// behalf of actor: only the client that issued it (IssueOptions.Client)
// or an administrator may; anyone else gets ErrNotOwner (which matches
// ErrNotFound). Credentials issued without a client can be changed only
// by an administrator. Revocation is final. It returns once the status
// store has the change (statuslist.Shared: once the ledger outbox has it
// on disk).
func (is *Issuer) SetStatusAs(ctx context.Context, id, action string, actor Actor) error {
	refs, err := is.refs(ctx, id, &actor)
	if err != nil {
		return err
	}
	_, err = is.setStatuses(ctx, [][]status.Ref{refs}, action)
	return err
}

// SetStatusesAs is SetStatusAs of several credentials as one change: the
// entries of all of them are set in one write, or none is. A credential
// not found or not actor's is skipped. With suspend or reinstate a
// revoked credential is skipped too, and ErrStatusConflict returned only
// if every credential found is revoked (or one is revoked while the
// change waits for another instance's, changing nothing). changed[i]
// says whether ids[i] was changed; none found is no error.
func (is *Issuer) SetStatusesAs(ctx context.Context, ids []string, action string, actor Actor) (changed []bool, err error) {
	refs := make([][]status.Ref, len(ids))
	for i, id := range ids {
		refs[i], err = is.refs(ctx, id, &actor)
		if err != nil && !errors.Is(err, credentials.ErrNotFound) {
			return nil, err
		}
	}
	return is.setStatuses(ctx, refs, action)
}

// refs returns the status entries of credential id, checking first that
// actor (if any) may change them.
func (is *Issuer) refs(ctx context.Context, id string, actor *Actor) ([]status.Ref, error) {
	if actor != nil && !actor.Admin {
		owned, err := is.cfg.Status.OwnedBy(ctx, id, ownerTag(actor.ClientID))
		if errors.Is(err, status.ErrNotFound) {
			return nil, fmt.Errorf("%w: no credential with this id was issued here", credentials.ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		if actor.ClientID == "" || !owned {
			return nil, ErrNotOwner
		}
	}
	refs, err := is.cfg.Status.Refs(ctx, id)
	if errors.Is(err, status.ErrNotFound) {
		return nil, fmt.Errorf("%w: no credential with this id was issued here", credentials.ErrNotFound)
	}
	return refs, err
}

// actionValues is, per action, the value it sets in an entry of each
// purpose it touches.
var actionValues = map[string]map[string]uint8{
	ActionRevoke:    {credentials.PurposeRevocation: 1, status.PurposeToken: status.TokenInvalid},
	ActionSuspend:   {credentials.PurposeSuspension: 1, status.PurposeToken: status.TokenSuspended},
	ActionReinstate: {credentials.PurposeSuspension: 0, status.PurposeToken: status.TokenValid},
}

// revoked reports whether an entry of purpose with value v marks its
// credential revoked (a revocation bit 1, or a token entry invalid).
func revoked(purpose string, v uint8) bool {
	return purpose == credentials.PurposeRevocation && v == 1 || purpose == status.PurposeToken && v == status.TokenInvalid
}

// setStatuses applies action to every credential whose entries are
// refs[i] (none: nothing to change) in one write (see SetStatusesAs).
func (is *Issuer) setStatuses(ctx context.Context, refs [][]status.Ref, action string) ([]bool, error) {
	values := actionValues[action]
	if values == nil {
		return nil, fmt.Errorf("%w: action %q (want revoke, suspend or reinstate)", credentials.ErrInvalid, action)
	}
	changed := make([]bool, len(refs))
	found := 0
	for i, r := range refs {
		if changed[i] = len(r) > 0; changed[i] {
			found++
		}
	}
	if found == 0 {
		return changed, nil
	}
	// A revoked credential can only be revoked again: the revocation and
	// token entries of the others are guards, read once the markers are
	// held. With several credentials, those already revoked are skipped.
	var guards []status.Ref
	if action != ActionRevoke {
		skipped := 0
		for i, rs := range refs {
			n := len(guards)
			for _, r := range rs {
				if (r.Purpose == credentials.PurposeRevocation || r.Purpose == status.PurposeToken) && !slices.Contains(guards, r) {
					guards = append(guards, r)
				}
			}
			if found > 1 && changed[i] {
				for _, g := range guards[n:] {
					if _, v, err := is.cfg.Status.Get(ctx, g.ListID, g.Index); err != nil {
						return nil, err
					} else if revoked(g.Purpose, v) {
						changed[i] = false
						guards = guards[:n]
						skipped++
						break
					}
				}
			}
		}
		if skipped == found {
			return nil, fmt.Errorf("%w: the credentials are revoked", ErrStatusConflict)
		}
	}
	check := func(values []uint8) error {
		for i, v := range values {
			if revoked(guards[i].Purpose, v) {
				return fmt.Errorf("%w: the credential is revoked", ErrStatusConflict)
			}
		}
		return nil
	}
	// Every entry of each credential's group (see IssueGroup): the refs
	// of each purpose, not only the first; once each (two credentials of
	// a group share their entries).
	var entries []status.Entry
	for i, rs := range refs {
		if !changed[i] {
			continue
		}
		for _, r := range rs {
			e := status.Entry{ListID: r.ListID, Index: r.Index, Value: values[r.Purpose]}
			if _, ok := values[r.Purpose]; ok && !slices.Contains(entries, e) {
				entries = append(entries, e)
			}
		}
	}
	var err error
	if c, ok := is.cfg.Status.(CheckedSetter); ok {
		err = c.SetManyIf(ctx, entries, guards, check)
	} else {
		err = is.setChecked(ctx, entries, guards, check)
	}
	if err != nil {
		return nil, err
	}
	is.mu.Lock()
	for _, rs := range refs {
		for _, r := range rs {
			delete(is.lists, r.ListID)
		}
	}
	is.mu.Unlock()
	return changed, nil
}

// setChecked makes the changes if check accepts the values of guards, for
// a store that is not a CheckedSetter: it reads them first.
func (is *Issuer) setChecked(ctx context.Context, entries []status.Entry, guards []status.Ref, check func([]uint8) error) error {
	values := make([]uint8, len(guards))
	for i, g := range guards {
		var err error
		if _, values[i], err = is.cfg.Status.Get(ctx, g.ListID, g.Index); err != nil {
			return err
		}
	}
	if err := check(values); err != nil || len(entries) == 0 {
		return err
	}
	if m, ok := is.cfg.Status.(StatusSetter); ok {
		return m.SetMany(ctx, entries)
	}
	var err error
	for _, e := range entries {
		err = errors.Join(err, is.cfg.Status.Set(ctx, e.ListID, e.Index, e.Value))
	}
	return err
}

// StatusList returns a list for serving: for a bitstring list the
// BitstringStatusListCredential JSON and the same credential as a vc+jwt;
// for a token list (doc nil) the statuslist+jwt. Encodings are cached per
// list version.
func (is *Issuer) StatusList(ctx context.Context, listID string) (doc map[string]any, token string, err error) {
	if !status.ValidListID(listID) {
		return nil, "", fmt.Errorf("%w: status list", credentials.ErrNotFound)
	}
	// The cached encoding is current when the list's version is the same:
	// ask for the version only, and copy the list only to re-encode it.
	version, err := is.cfg.Status.Version(ctx, listID)
	if errors.Is(err, status.ErrNotFound) {
		return nil, "", fmt.Errorf("%w: status list", credentials.ErrNotFound)
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
			"@context":  []any{credentials.ContextV2},
			"id":        u,
			"type":      []any{credentials.TypeCredential, credentials.TypeBitstringStatusListCredential},
			"issuer":    is.did,
			"validFrom": credentials.FormatTime(snap.Updated),
			"credentialSubject": map[string]any{
				"id":            u + "#list",
				"type":          credentials.TypeBitstringStatusList,
				"statusPurpose": snap.Purpose,
				"encodedList":   snap.Bitstring.Encode(),
				"ttl":           is.cfg.StatusTTL.Milliseconds(),
				// The version the list's head on the ledger carries.
				credentials.ClaimListVersion: snap.Version,
			},
		}
		token, err = credentials.SignJWT(doc, credentials.TypVCJWT, is.did+"#"+kid, signer)
	} else {
		token, err = jose.Sign(map[string]any{
			"iss": is.cfg.BaseURL,
			"sub": u,
			"iat": now.Unix(),
			"exp": now.Add(statusTokenLifetime).Unix(),
			"ttl": int64(is.cfg.StatusTTL.Seconds()),
			"status_list": map[string]any{
				"bits": snap.Token.Bits(),
				"lst":  snap.Token.Encode(),
			},
			credentials.ClaimJWTListVersion: snap.Version,
		}, map[string]any{"typ": credentials.TypStatusListJWT, "kid": kid}, signer)
	}
	if err != nil {
		return nil, "", err
	}
	is.mu.Lock()
	is.lists[listID] = encodedList{version: snap.Version, doc: doc, jwt: token, expires: now.Add(is.cfg.StatusTTL)}
	is.mu.Unlock()
	return doc, token, nil
}
