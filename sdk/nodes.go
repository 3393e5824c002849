package sdk

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
)

// Nodes is the set of TrustID nodes a verifier trusts, by base URL, with a
// cache of their keys (their JWKS, and the DID documents of the issuers
// they host) and of their published status lists. Keys and lists are
// fetched only from these base URLs (never from a URL a credential names
// elsewhere), with Client. It implements credentials.KeyResolver,
// credentials.StatusListSource and credentials.IssuerTrust (a node is the
// enrollment issuer of its region; issuers it hosts are trusted for the
// types Issuers lists, or through Trust). With Anchors set, every status
// list is also checked against the head its region anchored on the
// consortium ledger. Safe for concurrent use; set the fields before first
// use.
//
// Keys are resolved as a node's own resolver resolves them: a hosted
// issuer's method must be listed in the relationship asked (assertionMethod
// for a credential, authentication for a presentation) and be neither
// revoked nor expired (its DID document is fetched only for an issuer
// Issuers or Trust accepts); a holder's did:key or did:jwk is read from the
// identifier itself. The times are checked on every verification: the
// verifiers NewCredentialVerifier returns cache no key of their own.
type Nodes struct {
	// Bases are the nodes' base URLs, e.g. "https://sh.trustid.example":
	// https, or http to a loopback host (ErrInsecureURL).
	Bases []string
	// Algorithms is the allow-list of JWS algorithms. Required.
	Algorithms []string
	// Client fetches keys and lists (default a 10 s client); Now is the
	// clock (default time.Now).
	Client *http.Client
	Now    func() time.Time
	// KeyTTL bounds how long a JWKS and a DID document are used (default
	// DefaultKeyTTL).
	KeyTTL time.Duration
	// Leeway is the clock skew allowed between the nodes and this
	// verifier, as a node allows it (default DefaultLeeway; negative:
	// none; at most MaxLeeway).
	Leeway time.Duration
	// Issuers lists the issuers hosted by the nodes (relying parties
	// issuing under did:web:<node host>:issuers:<client>) that this
	// verifier accepts, each with the credential types (W3C type names or
	// SD-JWT VC vct values) it accepts from them: what the trust
	// registry accredits them for. Their status lists are their node's.
	Issuers map[string][]string
	// Trust, when set, answers for issuers that are neither a node nor in
	// Issuers (a registry copy); nil: no other issuer is trusted.
	Trust vc.IssuerTrust
	// Anchors, when set, is the consortium ledger's status-list heads
	// (see StatusAnchors; package sdk/ledgeranchors gives one over a
	// ledger connection): every list fetched from the nodes must then be
	// the one its node's region anchored, as a node's own verifier checks
	// it (credentials.HTTPStatusSource). A list with the anchored version
	// and another digest fails with credentials.ErrStatusListForged, an
	// older one (after two refetches) with ErrStatusListStale, and one
	// with no head, of a node that is no active region in the registry,
	// or newer than its head for longer than AnchorWait, with
	// ErrStatusListUnanchored: the status check fails closed. A cached
	// list is dropped as soon as the ledger's head for it moves. Nil:
	// lists are trusted on the node's signature alone.
	Anchors StatusAnchors
	// AnchorWait bounds how long a list newer than its anchored head
	// waits for the ledger to catch up (default 5 s).
	AnchorWait time.Duration

	once  sync.Once
	self  vc.Resolver // did:key and did:jwk only: no network
	nodes []*node
	mu    sync.Mutex
	docs  map[string]cachedDoc // client issuer DID -> document
	lists *vc.Verifier         // verifies Bitstring status list credentials
	src   *vc.HTTPStatusSource // fetches, verifies and (with Anchors) checks lists
	err   error
}

// StatusAnchors is the consortium ledger as the SDK's status sources see
// it: which region an issuer (a node's base URL or DID) is in the trust
// registry, and the head {list, version, digest} that region anchored for
// each of its lists. It is credentials.StatusAnchors, so that the SDK
// runs the very check a node's verifier runs (credentials.HTTPStatusSource:
// the digest is chaincode.ListDigest of the list's canonical content).
// Implementations answer from memory and are safe for concurrent use.
// This package links no ledger client: a relying party with a ledger
// connection gets one from package sdk/ledgeranchors, or passes a
// *ledger.View it runs itself.
type StatusAnchors = vc.StatusAnchors

type node struct {
	base, did string
	keys      *KeySet
}

type cachedDoc struct {
	doc     vc.DIDDocument
	fetched time.Time
}

// DefaultLeeway is the clock skew the SDK's verifiers allow by default
// (Nodes, AccessTokenConfig, LoginConfig): a node's own
// (auth.DefaultLeeway).
const DefaultLeeway = 30 * time.Second

// MaxLeeway is the most clock skew an SDK verifier may be configured to
// allow: past it, an expired token or credential would pass for that
// long.
const MaxLeeway = time.Minute

var (
	_ vc.PurposeResolver  = (*Nodes)(nil)
	_ vc.StatusListSource = (*Nodes)(nil)
	_ vc.IssuerTrust      = (*Nodes)(nil)
	// A cached list is dropped when the ledger's head for it moves.
	_ vc.StatusListCurrency = (*Nodes)(nil)
)

func (n *Nodes) init() error {
	n.once.Do(func() {
		if len(n.Bases) == 0 {
			n.err = errors.New("sdk: Nodes needs at least one base URL")
			return
		}
		if n.Leeway > MaxLeeway {
			n.err = fmt.Errorf("sdk: Nodes.Leeway %v is over MaxLeeway (%v)", n.Leeway, MaxLeeway)
			return
		}
		for _, b := range n.Bases {
			if err := checkBase(b); err != nil {
				n.err = fmt.Errorf("sdk: node: %w", err)
				return
			}
			b = trimBase(b)
			did, err := vc.DIDWeb(b)
			if err != nil {
				n.err = fmt.Errorf("sdk: node %q: %w", b, err)
				return
			}
			n.nodes = append(n.nodes, &node{base: b, did: did,
				keys: &KeySet{URL: b + JWKSPath, Client: n.Client, Now: n.Now, TTL: n.KeyTTL}})
		}
		n.docs = map[string]cachedDoc{}
		n.self = vc.Resolver{Now: n.Now}
		n.lists, n.err = vc.NewVerifier(n.verifierConfig(vc.VerifierConfig{Trust: vc.AnyIssuer{}, SkipStatus: true}))
		n.src = &vc.HTTPStatusSource{Fetch: n.fetchList, Verifier: n.lists, Resolver: n, Algorithms: n.Algorithms, Now: n.Now,
			Anchors: n.Anchors, AnchorWait: n.AnchorWait}
	})
	return n.err
}

// node returns the node issuer is (by base URL or DID), or the node that
// hosts the issuer DID (did:web:<node host>:issuers:<client>). A node is
// looked for first, in all the bases: the DID of a node whose base URL
// has a path (did:web:gw.example:sh) is not an issuer hosted by the node
// at the host's root, whatever the order of Bases.
func (n *Nodes) node(issuer string) (nd *node, hosted bool) {
	for _, nd := range n.nodes {
		if issuer == nd.base || issuer == nd.did {
			return nd, false
		}
	}
	for _, nd := range n.nodes {
		if strings.HasPrefix(issuer, nd.did+":") {
			return nd, true
		}
	}
	return nil, false
}

// verifierConfig is c with what every verifier of these nodes shares:
// the algorithms, this resolver, the clock and leeway, and no key cache of
// its own (KeyTTL < 0): keys are cached here, and a hosted issuer's
// method's times checked on every call.
func (n *Nodes) verifierConfig(c vc.VerifierConfig) vc.VerifierConfig {
	c.Algorithms, c.Resolver, c.Now, c.KeyTTL, c.Leeway = n.Algorithms, n, n.Now, -1, leewayOr(n.Leeway)
	return c
}

// leewayOr is a configured clock skew: zero means DefaultLeeway, a
// negative one none.
func leewayOr(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultLeeway
	case d < 0:
		return 0
	}
	return d
}

// ResolveKey implements credentials.KeyResolver: ResolveKeyFor an
// assertion.
func (n *Nodes) ResolveKey(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	return n.ResolveKeyFor(ctx, issuer, kid, vc.RelationshipAssertion)
}

// ResolveKeyFor implements credentials.PurposeResolver for the configured
// nodes, the issuers they host and holders' did:key and did:jwk (read
// from the identifier, for either relationship). A node's own keys (its
// JWKS) serve both relationships, as its DID document lists each in both;
// a hosted issuer's method must be listed in relationship in its DID
// document, which is fetched only for an issuer Accreditation accepts
// (in Issuers, or through Trust): another is credentials.ErrNotAccredited
// with nothing fetched.
func (n *Nodes) ResolveKeyFor(ctx context.Context, issuer, kid, relationship string) (crypto.PublicKey, error) {
	if err := n.init(); err != nil {
		return nil, err
	}
	if relationship != vc.RelationshipAssertion && relationship != vc.RelationshipAuthentication {
		return nil, fmt.Errorf("%w: verification relationship %.40q", vc.ErrUnsupported, relationship)
	}
	if kid == "" {
		return nil, fmt.Errorf("%w: the JOSE header has no kid", vc.ErrUnknownKey)
	}
	if selfResolving(kid) || strings.HasPrefix(kid, "#") && selfResolving(issuer) {
		return n.self.ResolveKeyFor(ctx, issuer, kid, relationship)
	}
	nd, hosted := n.node(issuer)
	if nd == nil {
		return nil, fmt.Errorf("%w: %.64s is not a configured node or an issuer it hosts", vc.ErrResolve, issuer)
	}
	if hosted {
		// Only the document of an issuer this verifier accepts is
		// fetched: any other would be refused after its signature, and
		// fetching it would have every credential naming a made-up
		// issuer send a request to the node and evict accepted issuers'
		// documents from the cache.
		if _, err := n.Accreditation(issuer); err != nil {
			return nil, err
		}
	}
	if strings.HasPrefix(kid, "#") {
		kid = issuer + kid
	}
	if strings.HasPrefix(kid, "did:") {
		did, frag, _ := strings.Cut(kid, "#")
		if did != issuer {
			return nil, fmt.Errorf("%w: kid is controlled by another DID than the issuer", vc.ErrIssuerMismatch)
		}
		if hosted {
			return n.hostedKey(ctx, nd, issuer, kid, relationship)
		}
		kid = frag
	} else if hosted {
		return nil, fmt.Errorf("%w: a hosted issuer's kid must be a DID URL", vc.ErrUnknownKey)
	}
	pub, err := nd.keys.Key(ctx, kid)
	switch {
	case errors.Is(err, ErrUnknownKey):
		return nil, fmt.Errorf("%w: %w", vc.ErrUnknownKey, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", vc.ErrResolve, err)
	}
	return pub, nil
}

// hostedKey resolves kid in the DID document of an issuer hosted by nd,
// fetched from nd's base URL and cached for KeyTTL: a key listed in
// relationship whose revoked or expires time, if any, is after now.
func (n *Nodes) hostedKey(ctx context.Context, nd *node, did, kid, relationship string) (crypto.PublicKey, error) {
	now := nowOr(n.Now)()
	n.mu.Lock()
	c, ok := n.docs[did]
	n.mu.Unlock()
	if !ok || !now.Before(c.fetched.Add(durOr(n.KeyTTL, DefaultKeyTTL))) {
		path := strings.ReplaceAll(strings.TrimPrefix(did, nd.did+":"), ":", "/")
		body, err := get(ctx, n.Client, nd.base+"/"+path+"/did.json", "application/json")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", vc.ErrResolve, err)
		}
		doc, err := vc.ParseControllerDocument(body, did)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", vc.ErrResolve, err)
		}
		c = cachedDoc{doc: doc, fetched: now}
		n.mu.Lock()
		if len(n.docs) >= vc.DefaultDocumentCacheSize {
			clear(n.docs)
		}
		n.docs[did] = c
		n.mu.Unlock()
	}
	return c.doc.Key(kid, relationship, now)
}

// selfResolving reports whether id is a did:key or did:jwk (or a method
// of one): its key is in the identifier.
func selfResolving(id string) bool {
	return strings.HasPrefix(id, "did:key:") || strings.HasPrefix(id, "did:jwk:")
}

// Accreditation implements credentials.IssuerTrust: a configured node is
// an enrollment issuer; other issuers are asked of Trust.
func (n *Nodes) Accreditation(issuer string) (vc.Accreditation, error) {
	if err := n.init(); err != nil {
		return vc.Accreditation{}, err
	}
	nd, hosted := n.node(issuer)
	if nd != nil && !hosted {
		return vc.Accreditation{Issuer: issuer, Enrollment: true, VCTBase: nd.base}, nil
	}
	if types, ok := n.Issuers[issuer]; ok && nd != nil {
		return vc.Accreditation{Issuer: issuer, Types: types, StatusDID: nd.did, StatusURL: nd.base, VCTBase: nd.base}, nil
	}
	if n.Trust != nil {
		return n.Trust.Accreditation(issuer)
	}
	return vc.Accreditation{}, fmt.Errorf("%w: %.64s is not a configured node", vc.ErrNotAccredited, issuer)
}

// listNode returns the node whose published list url is, checking that
// issuer is that node.
func (n *Nodes) listNode(url, issuer string) (*node, error) {
	if err := n.init(); err != nil {
		return nil, err
	}
	for _, nd := range n.nodes {
		if strings.HasPrefix(url, nd.base+"/status/") {
			if issuer != nd.base && issuer != nd.did {
				return nil, fmt.Errorf("%w: list of another issuer", vc.ErrIssuerMismatch)
			}
			return nd, nil
		}
	}
	return nil, fmt.Errorf("%w: status list %.80s is not published by a configured node", vc.ErrResolve, url)
}

// fetchList fetches a list for the status source; listNode has checked
// that url is a configured node's.
func (n *Nodes) fetchList(ctx context.Context, url, accept string) ([]byte, error) {
	body, err := get(ctx, n.Client, url, accept)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", vc.ErrResolve, err)
	}
	return body, nil
}

// Bitstring implements credentials.StatusListSource: a Bitstring Status
// List credential (vc+jwt) published by a configured node.
func (n *Nodes) Bitstring(ctx context.Context, url, issuer string) (*vc.BitstringList, error) {
	if _, err := n.listNode(url, issuer); err != nil {
		return nil, err
	}
	return n.src.Bitstring(ctx, url, issuer)
}

// Token implements credentials.StatusListSource: a Token Status List
// (statuslist+jwt) published by a configured node.
func (n *Nodes) Token(ctx context.Context, uri, issuer string) (*vc.TokenStatusList, error) {
	if _, err := n.listNode(uri, issuer); err != nil {
		return nil, err
	}
	return n.src.Token(ctx, uri, issuer)
}

// ListCurrent implements credentials.StatusListCurrency: with Anchors, a
// cached list is current while the ledger's head for it has not moved;
// without, until its ttl.
func (n *Nodes) ListCurrent(url string) bool {
	if err := n.init(); err != nil {
		return false
	}
	return n.src.ListCurrent(url)
}
