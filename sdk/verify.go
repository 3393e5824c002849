package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/cose"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/qrcode"
)

// DefaultStatusTTL is the longest a status list is cached; a list's own
// ttl, when shorter, wins.
const DefaultStatusTTL = 5 * time.Minute

// NewCredentialVerifier returns a verifier of vc+jwt, vp+jwt and SD-JWT VC
// from the configured nodes (and the issuers nodes.Trust accredits), as a
// node's verifier checks them (nodes.Leeway, inline @context checks:
// jsonld.CheckInlineContexts), with keys and status lists from nodes:
// status lists are cached for statusTTL
// (0: DefaultStatusTTL) or the list's own ttl when shorter, and a list that
// cannot be fetched fails the check (credentials.ErrStatusUnavailable).
func NewCredentialVerifier(nodes *Nodes, statusTTL time.Duration) (*vc.Verifier, error) {
	if nodes == nil {
		return nil, errors.New("sdk: NewCredentialVerifier needs Nodes")
	}
	if err := nodes.init(); err != nil {
		return nil, err
	}
	checker := vc.NewStatusCheckerWith(nodes, vc.StatusCheckerOptions{TTL: durOr(statusTTL, DefaultStatusTTL), Now: nodes.Now})
	return vc.NewVerifier(nodes.verifierConfig(vc.VerifierConfig{Trust: nodes, Status: checker, ContextCheck: jsonld.CheckInlineContexts}))
}

// NewDataIntegrityVerifier returns a verifier of credentials and
// presentations secured with an embedded Data Integrity proof (ldp_vc)
// from the configured nodes and the issuers they host, as a node's
// verifier checks them: the proof by one of cryptosuites (the allow-list,
// required: dataintegrity.SM2RDFC2025, ECDSARDFC2019, EdDSARDFC2022), its
// key resolved by nodes for the proof's purpose (assertionMethod,
// authentication), the clock skew nodes.Leeway allows, a presentation's
// proof at most credentials.DefaultVPMaxAge old; then the checks
// NewCredentialVerifier makes of a vc+jwt (data model, validity, the
// issuer's accreditation for the types, status lists cached as there).
// Its VerifyPresentation requires the holder binding you apply
// (dataintegrity.PresentationOptions.HolderBinding:
// credentials.CheckSubjectIsHolder, as a node does, or
// dataintegrity.AnyHolder); the enveloped credentials it returns
// (Presentation.Other) are yours to verify, with NewCredentialVerifier,
// in PresentationOptions.Check (without one, a presentation with any is
// refused).
func NewDataIntegrityVerifier(nodes *Nodes, statusTTL time.Duration, cryptosuites []string) (*dataintegrity.Verifier, error) {
	v, err := NewCredentialVerifier(nodes, statusTTL)
	if err != nil {
		return nil, err
	}
	return dataintegrity.NewVerifier(dataintegrity.Config{Resolver: nodes, Cryptosuites: cryptosuites,
		Checker: dataintegrity.CheckWith(v.CheckCredential), Now: nodes.Now, Leeway: leewayOr(nodes.Leeway), MaxAge: vc.DefaultVPMaxAge})
}

// NewCOSEVerifier returns a verifier of credentials and presentations
// secured with COSE (W3C VC-JOSE-COSE: application/vc+cose,
// application/vp+cose) from the configured nodes and the issuers they
// host, as a node's verifier checks them: the COSE_Sign1's alg one of
// algorithms (the allow-list, required: "SM2", "ES256", "ES384",
// "ES512", "EdDSA"; a node issues SM2, ES256 and EdDSA), its kid a key
// of the credential's issuer resolved by nodes; then the checks
// NewCredentialVerifier makes of a vc+jwt (data model, validity, the
// issuer's accreditation for the types, status lists cached as there).
// Its VerifyToken takes an enveloped credential (a data: URL) of any
// form NewCredentialVerifier's takes too.
func NewCOSEVerifier(nodes *Nodes, statusTTL time.Duration, algorithms []string) (*cose.Verifier, error) {
	v, err := NewCredentialVerifier(nodes, statusTTL)
	if err != nil {
		return nil, err
	}
	return cose.NewVerifier(v, algorithms)
}

// QRStatus is a qrcode.StatusChecker over the status lists the nodes
// publish: a QR status reference names a region, a list number (the first
// 32 bits of a list ID) and an index; QRStatus finds the region's node in
// Regions, the list in the node's index (GET /status, cached, read again
// when a number is missing, at most once per DefaultMinRefresh), and checks
// the entry in the node's signed Token Status List, cached for TTL or the
// list's ttl when shorter. With Nodes.Anchors set, each list must be the
// one the code's region anchored on the ledger (see Nodes.Anchors), and
// the registry must place the region's node in that region. Anything it
// cannot fetch, verify or match with the ledger answers
// qrcode.ErrStatusUnavailable, wrapping the cause (e.g.
// credentials.ErrStatusListForged): the verifier fails closed. Safe for
// concurrent use; set the fields before first use.
type QRStatus struct {
	// Nodes verifies and fetches the lists. Required.
	Nodes *Nodes
	// Regions maps a region (six digits) to the base URL of its node,
	// one of Nodes.Bases. Required.
	Regions map[string]string
	// TTL bounds how long a list is cached (default DefaultStatusTTL).
	TTL time.Duration

	once    sync.Once
	checker *vc.StatusChecker
	mu      sync.Mutex
	index   map[string]*listIndex // base URL -> its lists
}

type listIndex struct {
	lists    map[uint32]string // list number -> list ID
	tried    time.Time
	inflight chan struct{} // closed when the fetch in progress ends
	err      error         // the last fetch's failure
}

// indexFetchTimeout bounds a fetch of a list index, which no caller's
// cancellation stops.
const indexFetchTimeout = 30 * time.Second

var _ qrcode.StatusChecker = (*QRStatus)(nil)

// Status implements qrcode.StatusChecker.
func (q *QRStatus) Status(ctx context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	if q.Nodes == nil {
		return 0, fmt.Errorf("%w: QRStatus needs Nodes", qrcode.ErrStatusUnavailable)
	}
	q.once.Do(func() {
		q.checker = vc.NewStatusCheckerWith(q.Nodes, vc.StatusCheckerOptions{TTL: durOr(q.TTL, DefaultStatusTTL), Now: q.Nodes.Now})
		q.index = map[string]*listIndex{}
	})
	region := fmt.Sprintf("%06d", ref.Region)
	base, ok := q.Regions[region]
	if !ok {
		return 0, fmt.Errorf("%w: no node configured for region %s", qrcode.ErrStatusUnavailable, region)
	}
	base = trimBase(base)
	if err := q.Nodes.init(); err != nil {
		return 0, fmt.Errorf("%w: %w", qrcode.ErrStatusUnavailable, err)
	}
	if nd, hosted := q.Nodes.node(base); nd == nil || hosted {
		return 0, fmt.Errorf("%w: region %s's node %.80s is not one of Nodes.Bases", qrcode.ErrStatusUnavailable, region, base)
	}
	if a := q.Nodes.Anchors; a != nil {
		// The lists checked are the node's; the code names its region:
		// the registry must say they are one.
		if r, ok := a.IssuerRegion(base); !ok || r != region {
			return 0, fmt.Errorf("%w: %w: the ledger's registry does not place %s in region %s", qrcode.ErrStatusUnavailable, vc.ErrStatusListUnanchored, base, region)
		}
	}
	id, err := q.listID(ctx, base, ref.List)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", qrcode.ErrStatusUnavailable, err)
	}
	err = q.checker.CheckToken(ctx, base, base+"/status/"+id, int(ref.Index))
	switch {
	case err == nil:
		return qrcode.StatusValid, nil
	case errors.Is(err, vc.ErrRevoked):
		return qrcode.StatusRevoked, nil
	case errors.Is(err, vc.ErrSuspended):
		return qrcode.StatusSuspended, nil
	}
	return 0, fmt.Errorf("%w: %w", qrcode.ErrStatusUnavailable, err)
}

// listID finds the list numbered n in base's index, fetching the index
// again when n is missing (at most once per DefaultMinRefresh). The fetch
// is shared by the callers that need it and runs apart from them: a
// lookup in another index never waits for it, and a caller whose ctx
// ends stops waiting without ending it.
func (q *QRStatus) listID(ctx context.Context, base string, n uint32) (string, error) {
	q.mu.Lock()
	ix := q.index[base]
	if ix == nil {
		ix = &listIndex{}
		q.index[base] = ix
	}
	if id := ix.lists[n]; id != "" { // "" marks a number two lists share
		q.mu.Unlock()
		return id, nil
	}
	done := ix.inflight
	if done == nil {
		now := nowOr(q.Nodes.Now)()
		if !ix.tried.IsZero() && now.Sub(ix.tried) < DefaultMinRefresh {
			q.mu.Unlock()
			return "", fmt.Errorf("no status list number %d at %s", n, base)
		}
		done = make(chan struct{})
		ix.tried, ix.inflight = now, done
		go q.fetchIndex(context.WithoutCancel(ctx), base, ix, done)
	}
	q.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if id := ix.lists[n]; id != "" {
		return id, nil
	}
	if ix.err != nil {
		return "", ix.err
	}
	return "", fmt.Errorf("no unique status list number %d at %s", n, base)
}

// fetchIndex reads base's list index into ix and closes done.
func (q *QRStatus) fetchIndex(ctx context.Context, base string, ix *listIndex, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, indexFetchTimeout)
	defer cancel()
	lists, err := q.readIndex(ctx, base)
	q.mu.Lock()
	defer q.mu.Unlock()
	if err == nil {
		ix.lists = lists
	}
	ix.err, ix.inflight = err, nil
	close(done)
}

// readIndex fetches base's index GET /status: list number -> list ID, ""
// for a number two lists share.
func (q *QRStatus) readIndex(ctx context.Context, base string) (map[uint32]string, error) {
	body, err := get(ctx, q.Nodes.Client, base+"/status", "application/json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Lists []string `json:"lists"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("status list index: %w", err)
	}
	lists := map[uint32]string{}
	for _, id := range doc.Lists {
		num, ok := qrcode.ListNumber(id)
		if !ok || !status.ValidListID(id) {
			continue // not a list ID: no list number, nothing to fetch
		}
		if _, dup := lists[num]; dup {
			lists[num] = "" // two lists share a number: fail closed
			continue
		}
		lists[num] = id
	}
	return lists, nil
}

// QRConfig configures NewQRVerifier.
type QRConfig struct {
	// Keys are the keys of the node of Region (a KeySet of its JWKS).
	// Required.
	Keys qrcode.IssuerKeySource
	// Region is the region (six digits) whose node's keys Keys holds:
	// Keys verify only codes that name it, as at a node. Required.
	Region string
	// Regions resolves the issuer keys of other regions from the trust
	// registry (e.g. *ledgeranchors.Anchors): a code naming another
	// region is verified only with that region's registered key. nil
	// refuses codes of other regions (qrcode.ErrUnknownKey).
	Regions qrcode.RegionKeySource
	// Status checks binding status (a *QRStatus). Required.
	Status qrcode.StatusChecker
	// Counters detects replayed codes and cloned devices (nil: a
	// qrcode.MemoryCounters of the default size).
	Counters qrcode.CounterStore
	// Window is the accepted clock distance of offline codes (default
	// qrcode.DefaultWindow); Now the clock.
	Window time.Duration
	Now    func() time.Time
}

// NewQRVerifier returns a verifier of offline and static QR codes
// (qrcode.Verifier) with cached issuer keys and status.
func NewQRVerifier(cfg QRConfig) (*qrcode.Verifier, error) {
	if cfg.Keys == nil || cfg.Status == nil || cfg.Region == "" {
		return nil, errors.New("sdk: QRConfig needs Keys, Region and Status")
	}
	region, err := qrcode.ParseRegion(cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("sdk: QRConfig.Region: %w", err)
	}
	if cfg.Counters == nil {
		cfg.Counters = &qrcode.MemoryCounters{}
	}
	return qrcode.NewVerifier(qrcode.VerifierConfig{Keys: cfg.Keys, Region: region, Regions: cfg.Regions,
		Status: cfg.Status, Counters: cfg.Counters, Window: cfg.Window, Now: cfg.Now})
}
