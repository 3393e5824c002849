// Package federation answers, from the trust registry on the ledger
// alone, what a node needs to know about other regions: a region's
// verifying keys (with their key states) and the relying parties a
// region's node may ask for, and the access tokens of other regions
// (Tokens, for package auth). It reads a local view of the registry
// (*ledger.View), so none of that calls another region or waits for the
// chain; a region suspended in the registry is refused as soon as the
// view has its change. The view's registry generation (Registry.Generation)
// lets package auth keep a cached token's registry check until the
// registry changes (Tokens.RegistryGeneration). The same records serve
// the node's own region (Instances): what another instance of the region
// signed with a key this instance's keystore lacks yet.
//
// Two things must come from the other region's node, and are fetched
// from its endpoint in the registry (or from where the operator says the
// node is: Directory.Peers): its QR status lists (QRStatus,
// checked against the heads anchored on the ledger and cached, so they
// keep answering while that node is down), and whether it revoked one of
// its access tokens (Introspector, node to node with this region's
// signed assertion). A registered endpoint is called only if this node's
// mode allows it (CheckEndpoint: https in production, loopback http too
// in loopback development mode) and only at public addresses in
// production (PeerClient), since a region administrator can register any
// URL.
package federation

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/internal/regionkey"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// Registry is the part of the ledger view federation reads; *ledger.View
// implements it. Safe for concurrent use.
type Registry interface {
	Ready() bool
	Region(code string) (chaincode.Region, bool)
	RelyingParty(clientID string) (chaincode.RelyingParty, bool)
	// IssuerRegion returns the one active region whose record names
	// issuer as its DID or an endpoint URL.
	IssuerRegion(issuer string) (string, bool)
	// Generation grows with every change of the registry, after the
	// change is visible to the lookups above (ledger.View.Generation).
	Generation() uint64
}

// Sectors looks up who holds a pairwise sector (ledger.Client). It returns
// an error matching chaincode.ErrNotFound when no one does.
type Sectors interface {
	Sector(ctx context.Context, kind, name string) (chaincode.Sector, error)
}

// Errors of key resolution and of relying-party checks. Each is specific,
// so a refusal says why in the node's log and metrics.
var (
	ErrNotReady        = errors.New("federation: the registry view has not loaded yet")
	ErrUnknownRegion   = errors.New("federation: region is not in the trust registry")
	ErrRegionSuspended = errors.New("federation: region is not active in the trust registry")
	ErrUnknownKey      = errors.New("federation: the region has no key with this kid")
	ErrKeyNotValid     = errors.New("federation: the region's key is retired or revoked")
	ErrForeignParty    = errors.New("federation: the relying party is not registered with the calling region")
	ErrPartyDisabled   = errors.New("federation: the relying party is suspended or may not redeem QR codes")
	ErrSectorNotHeld   = errors.New("federation: the relying party does not hold this pairwise sector")
)

// Keys resolves a region's verifying keys from the registry: the key
// must belong to an active region and be active or retiring (a retired or
// revoked key verifies nothing). It is the one key lookup for everything a
// region signs that another region verifies (node assertions, access and
// ID tokens, QR bindings, credentials), over internal/regionkey (which
// the credential verifier and the SDK's ledger adapter share): parsed keys
// are cached by their registry JWK, so a lookup costs a map read. Safe
// for concurrent use.
type Keys struct {
	Registry Registry
	// OnRefuse, if set, is told of every refusal (metrics; see Reason).
	// It must not block.
	OnRefuse func(error)

	keys regionkey.Cache
}

// RegionKey returns region's verifying key kid and its algorithm.
func (k *Keys) RegionKey(_ context.Context, region, kid string) (crypto.PublicKey, string, error) {
	pub, alg, err := k.regionKey(region, kid)
	if err != nil && k.OnRefuse != nil {
		k.OnRefuse(err)
	}
	return pub, alg, err
}

// RegionKeyValid implements auth.Federation: RegionKey's checks (region
// active, key active or retiring), without parsing the key.
func (k *Keys) RegionKeyValid(region, kid string) error {
	err := k.keyValid(region, kid)
	if err != nil && k.OnRefuse != nil {
		k.OnRefuse(err)
	}
	return err
}

func (k *Keys) keyValid(region, kid string) error {
	if !k.Registry.Ready() {
		return ErrNotReady
	}
	r, ok := k.Registry.Region(region)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownRegion, region)
	}
	if _, err := regionkey.Find(r, regionkey.Kid(kid)); err != nil {
		return regionkey.Wrap(err, ErrRegionSuspended, ErrKeyNotValid, ErrUnknownKey)
	}
	return nil
}

func (k *Keys) regionKey(region, kid string) (crypto.PublicKey, string, error) {
	return k.lookup(region, regionkey.Kid(kid))
}

// lookup returns the key of region that match accepts
// (regionkey.Cache.Key), with this package's errors.
func (k *Keys) lookup(region string, match func(chaincode.RegistryKey) bool) (crypto.PublicKey, string, error) {
	if !k.Registry.Ready() {
		return nil, "", ErrNotReady
	}
	r, ok := k.Registry.Region(region)
	if !ok {
		return nil, "", fmt.Errorf("%w: %s", ErrUnknownRegion, region)
	}
	pub, alg, err := k.keys.Key(r, match)
	if err != nil {
		return nil, "", regionkey.Wrap(err, ErrRegionSuspended, ErrKeyNotValid, ErrUnknownKey)
	}
	return pub, alg, nil
}

var _ qrcode.RegionKeySource = (*Keys)(nil)

// QRIssuerKey implements qrcode.RegionKeySource: the key of region whose
// kid hint (qrcode.KidHint) is hint, looked up in that region's registry
// record only. Errors match qrcode.ErrUnknownKey (or qrcode.ErrUnavailable
// before the view has loaded) and one of this package's sentinels.
func (k *Keys) QRIssuerKey(_ context.Context, region uint32, hint []byte) (crypto.PublicKey, error) {
	pub, err := k.qrIssuerKey(fmt.Sprintf("%06d", region), hint)
	if err != nil {
		if k.OnRefuse != nil {
			k.OnRefuse(err)
		}
		if errors.Is(err, ErrNotReady) {
			return nil, fmt.Errorf("%w: %w", qrcode.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("%w: %w", qrcode.ErrUnknownKey, err)
	}
	return pub, nil
}

func (k *Keys) qrIssuerKey(region string, hint []byte) (crypto.PublicKey, error) {
	pub, _, err := k.lookup(region, func(x chaincode.RegistryKey) bool { return bytes.Equal(qrcode.KidHint(x.Kid), hint) })
	return pub, err
}

// Tokens is auth.Federation over the registry: other regions' access
// tokens are verified with their region's keys (Keys), their issuer is a
// region's registered "api" endpoint (exactly), and their client is the registry's
// relying party of that region. Safe for concurrent use.
type Tokens struct {
	*Keys
}

var _ auth.Federation = Tokens{}

// TokenRegion implements auth.Federation.
func (t Tokens) TokenRegion(iss string) (string, bool) {
	if !t.Registry.Ready() {
		return "", false
	}
	return t.Registry.IssuerRegion(iss)
}

// RegionIssuer implements auth.Federation: region's "api" endpoint
// (chaincode.Region.API).
func (t Tokens) RegionIssuer(region string) string {
	r, _ := t.Registry.Region(region)
	return r.API()
}

// RegistryGeneration implements auth.Federation.
func (t Tokens) RegistryGeneration() uint64 { return t.Registry.Generation() }

// RegionClient implements auth.Federation. A party no longer allowed
// client_credentials (an empty list means it is) has no scopes: every
// access token its region issued it is of that grant, and the registry's
// current record bounds a token, as at the issuing node.
func (t Tokens) RegionClient(clientID string) (string, []string, bool, bool) {
	x, ok := t.Registry.RelyingParty(clientID)
	scopes := x.Scopes
	if len(x.GrantTypes) > 0 && !slices.Contains(x.GrantTypes, chaincode.GrantClientCredentials) {
		scopes = nil
	}
	return x.HomeRegion, scopes, x.Status == chaincode.EntryActive, ok
}

// Directory is redeem.PeerDirectory over the registry: an active
// region's node is at its registered "api" endpoint, which this node
// calls only if the endpoint passes CheckEndpoint in this node's mode,
// unless the operator named another URL for the region (Peers).
type Directory struct {
	Registry Registry
	// Development is loopback development mode (see CheckEndpoint); false,
	// the zero value, is production: https endpoints only.
	Development bool
	// Peers are the operator's base URLs of other regions' nodes by
	// region (trustid serve --peer), checked with CheckEndpoint at start:
	// every call to an active region's node goes there instead of to its
	// registered endpoint, which may then be missing or one this node
	// would refuse. The node is still named by its registered endpoint
	// (NodeURL).
	Peers map[string]string
}

var _ redeem.PeerDirectory = Directory{}

// PeerURL implements redeem.PeerDirectory: region's Peers URL, else its
// registered endpoint. An endpoint this node may not call is an error
// matching ErrEndpointRefused.
func (d Directory) PeerURL(region string) (string, error) {
	u, err := d.NodeURL(region)
	if p, ok := d.Peers[region]; ok && (err == nil || errors.Is(err, errNoAPI)) {
		return p, nil
	}
	if err != nil {
		return "", err
	}
	if err := CheckEndpoint(u, d.Development); err != nil {
		return "", fmt.Errorf("%s: %w", region, err)
	}
	return u, nil
}

// errNoAPI: an active region registers no api endpoint.
var errNoAPI = errors.New("registers no api endpoint")

// NodeURL returns the base URL that names region's node, its issuer URL:
// its registered "api" endpoint, while the region is active. What the
// node signs is checked against it (a status list's URL is
// <NodeURL>/status/<list ID>), wherever PeerURL calls the node; it is
// not checked for a call.
func (d Directory) NodeURL(region string) (string, error) {
	if !d.Registry.Ready() {
		return "", ErrNotReady
	}
	r, ok := d.Registry.Region(region)
	switch {
	case !ok:
		return "", fmt.Errorf("%w: %s", ErrUnknownRegion, region)
	case r.Status != chaincode.RegionActive:
		return "", fmt.Errorf("%w: %s is %s", ErrRegionSuspended, region, r.Status)
	}
	u := r.API()
	if u == "" {
		return "", fmt.Errorf("%w: %s %w", ErrUnknownRegion, region, errNoAPI)
	}
	return u, nil
}

// StatusListURL returns where this node fetches u, a status list URL
// under an endpoint of an active region (<endpoint>/status/<list ID>,
// with a list ID as nodes make them: no other path, query or fragment on
// the region's host, which the peer client may reach on a private
// network): at the region's Peers URL when the operator named one, else
// at u once its endpoint passes CheckEndpoint. ok is false when u is
// under no region's endpoint.
func (d Directory) StatusListURL(u string) (fetch string, ok bool, err error) {
	i := strings.LastIndex(u, "/status/")
	if i <= 0 || !d.Registry.Ready() {
		return "", false, nil
	}
	region, ok := d.Registry.IssuerRegion(u[:i])
	if !ok {
		return "", false, nil
	}
	id := u[i+len("/status/"):]
	if !status.ValidListID(id) {
		return "", true, errors.New("a list URL under a region's endpoint is <endpoint>/status/<list ID>")
	}
	if p, ok := d.Peers[region]; ok {
		return p + "/status/" + id, true, nil
	}
	if err := CheckEndpoint(u[:i], d.Development); err != nil {
		return "", true, err
	}
	return u, true, nil
}

// Parties resolves the relying party on whose behalf another region's
// node asks (redeem.PeerParties): registered on the ledger with the
// calling region as its home region, active, with the qr:redeem scope,
// holding the pairwise sector on the ledger; its allowed claims are its
// registry record's. Nothing of it comes from the request but the client
// ID and the sector it names. Safe for concurrent use.
type Parties struct {
	Registry Registry
	Sectors  Sectors
	// OnRefuse, if set, is told of every refusal (metrics; see Reason).
	// It must not block.
	OnRefuse func(error)

	held sync.Map // region, client ID, sector kind and name → struct{}
}

var _ redeem.PeerParties = (*Parties)(nil)

// PeerParty implements redeem.PeerParties. Errors match
// qrcode.ErrUnknownVerifier and one of ErrForeignParty, ErrPartyDisabled,
// ErrSectorNotHeld; or qrcode.ErrUnavailable when the ledger cannot say.
func (p *Parties) PeerParty(ctx context.Context, region, clientID, sector string) (redeem.RelyingParty, error) {
	rp, err := p.peerParty(ctx, region, clientID, sector)
	if err != nil && p.OnRefuse != nil {
		p.OnRefuse(err)
	}
	return rp, err
}

func (p *Parties) peerParty(ctx context.Context, region, clientID, sector string) (redeem.RelyingParty, error) {
	if !p.Registry.Ready() {
		return redeem.RelyingParty{}, fmt.Errorf("%w: %w", qrcode.ErrUnavailable, ErrNotReady)
	}
	x, ok := p.Registry.RelyingParty(clientID)
	if !ok || x.HomeRegion != region {
		return redeem.RelyingParty{}, fmt.Errorf("%w: %w", qrcode.ErrUnknownVerifier, ErrForeignParty)
	}
	if x.Status != chaincode.EntryActive || !slices.Contains(x.Scopes, auth.ScopeQRRedeem) {
		return redeem.RelyingParty{}, fmt.Errorf("%w: %w", qrcode.ErrUnknownVerifier, ErrPartyDisabled)
	}
	rp := redeem.RelyingParty{ClientID: clientID, Sector: sector, AllowedClaims: slices.Clone(x.Claims)}
	kind, name := chaincode.SectorKindClientID, clientID
	if sector != "" {
		kind, name = chaincode.SectorKindIdentifier, sector
	}
	// A sector's holder never changes (the contract has no release), so a
	// confirmed hold is remembered.
	key := region + "\x00" + clientID + "\x00" + kind + "\x00" + name
	if _, ok := p.held.Load(key); ok {
		return rp, nil
	}
	s, err := p.Sectors.Sector(ctx, kind, name)
	switch {
	case errors.Is(err, chaincode.ErrNotFound):
		return redeem.RelyingParty{}, fmt.Errorf("%w: %w", qrcode.ErrUnknownVerifier, ErrSectorNotHeld)
	case err != nil:
		return redeem.RelyingParty{}, fmt.Errorf("%w: sector registry: %w", qrcode.ErrUnavailable, err)
	case s.ClientID != clientID || s.Region != region:
		return redeem.RelyingParty{}, fmt.Errorf("%w: %w", qrcode.ErrUnknownVerifier, ErrSectorNotHeld)
	}
	p.held.Store(key, struct{}{})
	return rp, nil
}

// reasons name the refusals for metrics.
var reasons = []struct {
	err  error
	name string
}{
	{ErrNotReady, "not_ready"},
	{ErrUnknownRegion, "unknown_region"},
	{ErrRegionSuspended, "region_suspended"},
	{ErrUnknownKey, "unknown_key"},
	{ErrKeyNotValid, "key_not_valid"},
	{ErrForeignParty, "foreign_party"},
	{ErrPartyDisabled, "party_disabled"},
	{ErrSectorNotHeld, "sector_not_held"},
	{qrcode.ErrWrongRegion, "wrong_region"},
	{redeem.ErrAssertionReplayed, "assertion_replayed"},
	{redeem.ErrAssertionExpired, "assertion_expired"},
	{redeem.ErrAssertionAudience, "assertion_audience"},
	{qrcode.ErrPeerAuth, "assertion_invalid"},
	{auth.ErrNotIssuedHere, "token_not_issued_here"},
	{redeem.ErrAnswerUnsigned, "answer_unsigned"},
	{redeem.ErrAnswerInvalid, "answer_invalid"},
	{redeem.ErrAnswerMismatch, "answer_mismatch"},
	{ErrEndpointRefused, "endpoint_refused"},
	{credentials.ErrAddressNotAllowed, "address_not_allowed"},
	{ErrPeerUnavailable, "peer_unavailable"},
	{ErrNoStatusList, "status_list_unknown"},
	{credentials.ErrStatusListChanged, "status_list_changed"},
	{credentials.ErrStatusListForged, "status_list_forged"},
	{credentials.ErrStatusListStale, "status_list_stale"},
	{credentials.ErrStatusListUnanchored, "status_list_unanchored"},
	{credentials.ErrStatusUnavailable, "status_unavailable"},
}

// Reason is a short, fixed name of a refusal (a metric label): one per
// error of this package, else "other".
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}
