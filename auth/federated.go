package auth

import (
	"context"
	"crypto"
	"errors"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Federation is what a node needs from the trust registry to accept the
// access tokens of other regions' nodes, without calling them
// (federation.Tokens over the ledger view). Safe for concurrent use.
type Federation interface {
	// TokenRegion returns the active region whose registry record names
	// iss (its DID or one of its endpoint URLs), false when none does.
	// Only RegionIssuer is the issuer of the region's tokens.
	TokenRegion(iss string) (region string, ok bool)
	// RegionIssuer returns the issuer URL of region's node: its
	// registered "api" endpoint, "" when it registers none. It is the
	// one name of the node a token may be issued for (RFC 8707
	// resource), as the node accepts tokens with its issuer in aud.
	RegionIssuer(region string) string
	// RegionKey returns region's verifying key kid and its JWS algorithm
	// (the registry's, which chaincode derives from the key: a token
	// whose alg differs is refused) when the region is active and the
	// key active or retiring; the error says why not.
	RegionKey(ctx context.Context, region, kid string) (crypto.PublicKey, string, error)
	// RegionKeyValid reports, as RegionKey does but without the key, why
	// region's key kid no longer verifies (nil: it does): the check of a
	// token already verified, on each use.
	RegionKeyValid(region, kid string) error
	// RegionClient returns the registry's record of a relying party: its
	// home region, its scopes, and whether it is active.
	RegionClient(clientID string) (region string, scopes []string, active, ok bool)
	// RegistryGeneration grows with every change of the registry, after
	// the change is visible to the lookups above: answers given at one
	// generation hold while it is unchanged. A cached token checks it on
	// each use and looks the registry up again only when it moved.
	RegistryGeneration() uint64
}

// FederatedScopes are the scopes another region's access token may carry
// at this node. Administration, issuance, status changes and enrollment
// act on a region's own registry and people: a token of another region
// never grants them here, whatever its region registered.
var FederatedScopes = []string{ScopeQRRedeem}

// errForeignKey marks an access token whose kid is not one of this node's
// keys: it may be another region's token.
var errForeignKey = errors.New("auth: access token key is not this node's")

// parseForeign verifies an access token issued by another region's node:
// a JWS with alg SM2 or ES256 and typ at+jwt, iss the issuer URL of
// another region's node (RegionIssuer: its registered api endpoint,
// exactly) other than this node's region (the region that names this
// node's issuer), signed by one of that region's keys in the registry (active or
// retiring), this node among its audiences (RFC 8707 resource
// indicators), exp and iat within the leeway.
//
// A token of this node's issuer is one of another instance of the region
// (parseRegion), its claims checked with claims as parse checks them.
func (s *Service) parseForeign(j *accessJWS, v *validToken, claims *jwt.Validator) error {
	if err := j.checkHeader(); err != nil {
		return err
	}
	iss := j.claims.Issuer
	if iss == s.issuer && s.instances != nil {
		return s.parseRegion(j, v, claims)
	}
	region, ok := s.fed.TokenRegion(iss)
	if !ok || iss == s.issuer {
		return fail(ErrInvalidToken, "access token issuer is neither this node nor an active region of the trust registry")
	}
	// The node's own region issues only the node's own tokens (parse,
	// parseRegion, which leave the keystore's keys to the keystore): one
	// naming the region by another name (its DID, another endpoint) is
	// not another region's.
	if own, ok := s.fed.TokenRegion(s.issuer); ok && own == region {
		return fail(ErrInvalidToken, "access token issuer names this node's own region but is not this node")
	}
	// Its region's node writes one issuer, its registered api endpoint:
	// the region's DID or another endpoint (or the URL spelled with a
	// trailing slash) names the region too, but is no issuer of tokens
	// (RFC 9068 §4, RFC 8414 §2: issuers are compared exactly).
	if s.fed.RegionIssuer(region) != iss {
		return fail(ErrInvalidToken, "access token issuer must be its region's api endpoint in the trust registry (its node's issuer URL), not its DID or another endpoint")
	}
	pub, alg, err := s.fed.RegionKey(context.Background(), region, j.kid)
	if err != nil {
		return failWith(ErrInvalidToken, err, "access token key is not a valid key of region %s in the trust registry", region)
	}
	if alg != j.method.Alg() {
		return fail(ErrInvalidToken, "access token alg does not match the registry key")
	}
	if err := j.verify(pub, s.foreignClaims); err != nil {
		return err
	}
	if err := newValidToken(&j.claims, j.kid, s.leeway, v); err != nil {
		return err
	}
	v.region = region
	// Its own namespace: another region chooses its jti values.
	v.revoked = "access-token-revoked:region:" + region + ":" + j.claims.ID
	return nil
}

// parseRegion verifies a token of this node's issuer signed by a key the
// keystore does not hold: another instance of the region rotated first,
// published its new key on the region's record, and this instance's
// keystore copy has not reached it yet (docs/operations.md, "Rotating a
// region's keys"). The key is the record's, active or retiring
// (InstanceKeys); a key the keystore holds in any state is its own to
// judge (parse), so one it retired stays refused even while the record
// lags. The claims are checked as the node's own tokens' are. Such a
// token is verified again on each use: the cache keeps only tokens of the
// keystore's keys (validate).
func (s *Service) parseRegion(j *accessJWS, v *validToken, claims *jwt.Validator) error {
	pub, alg, err := s.instances.InstanceKey(context.Background(), j.kid)
	if err != nil {
		return failWith(ErrInvalidToken, err, "access token was not signed by a key of this node or a valid key of its region in the trust registry")
	}
	if alg != j.method.Alg() {
		return fail(ErrInvalidToken, "access token alg does not match the registry key")
	}
	if err := j.verify(pub, claims); err != nil {
		return err
	}
	return newValidToken(&j.claims, j.kid, 0, v)
}

// foreignState is a cached foreign token's last registry check: the
// scopes it granted at registry generation gen.
type foreignState struct {
	gen    uint64
	scopes []string
}

// foreignScopes is checkForeign, answered from v's last check while the
// registry's generation is the one it was made at: a change of the
// registry (a region suspended, a key retired, a client suspended) moves
// the generation, and the next use checks again. The generation is read
// before the check, so a change during it is seen on the next use.
func (s *Service) foreignScopes(v *validToken) ([]string, error) {
	gen := s.fed.RegistryGeneration()
	if fs := v.foreign.Load(); fs != nil && fs.gen == gen {
		return fs.scopes, nil
	}
	scopes, err := s.checkForeign(v)
	if err != nil {
		return nil, err
	}
	v.foreign.Store(&foreignState{gen: gen, scopes: scopes})
	return scopes, nil
}

// checkForeign checks what the registry may have changed for another
// region's token: its region is active and its key still verifies, and
// its client is registered with that region and active. It returns the
// scopes granted, still registered, and among FederatedScopes.
func (s *Service) checkForeign(v *validToken) ([]string, error) {
	if err := s.fed.RegionKeyValid(v.region, v.kid); err != nil {
		return nil, failWith(ErrInvalidToken, err, "the token's region or key is no longer valid in the trust registry")
	}
	home, scopes, active, ok := s.fed.RegionClient(v.clientID)
	switch {
	case !ok || home != v.region:
		return nil, fail(ErrInvalidToken, "the token's client is not registered with its issuing region")
	case !active:
		return nil, fail(ErrInvalidToken, "the token's client is suspended")
	}
	allowed := func(sc string) bool { return slices.Contains(scopes, sc) && slices.Contains(FederatedScopes, sc) }
	granted := grantedScopes(v.scope)
	if !slices.ContainsFunc(granted, func(sc string) bool { return !allowed(sc) }) {
		return granted, nil // shared, as Principal.Scopes says
	}
	out := make([]string, 0, len(granted))
	for _, sc := range granted {
		if allowed(sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// checkResource checks an RFC 8707 resource indicator: the token
// endpoint adds it to the token's audiences when it is this node, the
// issuer URL of another active region's node (its "api" endpoint in the
// trust registry), or an API an enabled client of this node's region
// registered (Client.Resources); party reports the last. A region's DID
// or another of its endpoints names the region too, but a node accepts
// only tokens with its issuer among their audiences: a token for such a
// name would be good nowhere. A region's name is the region's, whatever a
// client registered.
func (s *Service) checkResource(ctx context.Context, resource string) (party bool, err error) {
	if resource == s.issuer {
		return false, nil
	}
	if resource == "" {
		return false, fail(ErrInvalidTarget, "resource must be an absolute URI")
	}
	if s.fed != nil {
		if region, ok := s.fed.TokenRegion(resource); ok {
			if s.fed.RegionIssuer(region) != resource {
				return false, fail(ErrInvalidTarget, "resource must be a region's api endpoint in the trust registry (its node's issuer URL), not its DID or another endpoint")
			}
			return false, nil
		}
	}
	switch owner, err := s.resourceOwner(ctx, resource); {
	case err != nil:
		return false, err
	case owner:
		return true, nil
	case s.fed == nil:
		return false, fail(ErrInvalidTarget, "resource is neither this node nor an API a client of this node registered")
	case strings.TrimSuffix(resource, "/") != resource:
		return false, fail(ErrInvalidTarget, "resource must be a region's issuer URL without a trailing slash, or an API a client of this node registered")
	}
	return false, fail(ErrInvalidTarget, "resource is neither an active region of the trust registry nor an API a client of this node registered")
}

// resourceOwner reports whether an enabled client of this node's region
// registered resource as its API. Two enabled clients registering one
// (which every store refuses, the ledger by the resource's claim, whose
// point read makes the second of two racing writes conflict) name no API.
// It reads the registry's APIs from the list of its clients (currentAPIs).
func (s *Service) resourceOwner(ctx context.Context, resource string) (bool, error) {
	ix, err := s.currentAPIs(ctx)
	if err != nil {
		return false, err
	}
	return ix.owners[resource] == 1, nil
}

// currentAPIs returns the registry's APIs, read from the list of its
// clients at most once per RevocationRecheck and once per change
// ClientsChanged reports, as a cached token's client check does: listing
// a thousand clients costs some 3,000 allocations and 2 ms, fifty times
// a token's (BenchmarkTokenResource, read on every request).
//
// One list is read at a time, and the requests that find the index stale
// meanwhile wait for it rather than each listing the whole registry
// (TestAPIsReadOnceAtATime): a waiter takes the read's index when it was
// read at the waiter's registry generation or a later one, and reads
// again itself when the read was of an older generation or its caller
// gave it up (its request ended) or failed to finish it; another error
// of the registry is every waiter's. A waiter whose own request ends
// stops waiting.
func (s *Service) currentAPIs(ctx context.Context) (*apiIndex, error) {
	for {
		n, gen := s.now().UnixNano(), s.clientsGen.Load()
		if ix := s.apis.Load(); ix.good(gen, n) {
			return ix, nil
		}
		s.apisMu.Lock()
		if ix := s.apis.Load(); ix.good(gen, n) { // a read ended meanwhile
			s.apisMu.Unlock()
			return ix, nil
		}
		r := s.apisRead
		if r == nil {
			r = &apiRead{gen: gen, done: make(chan struct{}), abandoned: true}
			s.apisRead = r
			s.apisMu.Unlock()
			s.readAPIs(ctx, r, n)
			return r.ix, r.err
		}
		s.apisMu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, failWith(ErrUnavailable, ctx.Err(), "client registry unavailable")
		}
		switch {
		case r.abandoned || (r.err == nil && r.gen < gen):
			continue // read again
		case r.err != nil:
			return nil, r.err
		}
		return r.ix, nil
	}
}

// readAPIs lists the registry's clients into r (currentAPIs), at
// registry generation r.gen and time n (unix nanoseconds), keeps the
// index for later requests and lets r's waiters go. r.abandoned stays
// true unless the list was read, or failed while ctx was live.
func (s *Service) readAPIs(ctx context.Context, r *apiRead, n int64) {
	defer func() {
		s.apisMu.Lock()
		s.apisRead = nil
		if r.err == nil && !r.abandoned && s.recheck > 0 {
			s.apis.Store(r.ix)
		}
		s.apisMu.Unlock()
		close(r.done)
	}()
	clients, err := s.clients.List(ctx)
	if err != nil {
		r.abandoned = ctx.Err() != nil
		r.err = failWith(ErrUnavailable, err, "client registry unavailable")
		return
	}
	ix := &apiIndex{gen: r.gen, until: n + int64(s.recheck), owners: map[string]int{}}
	for i := range clients {
		for _, res := range clients[i].Resources {
			if !clients[i].Disabled {
				ix.owners[res]++
			}
		}
	}
	r.ix, r.abandoned = ix, false
}

// apiRead is one list of the registry read for currentAPIs, which its
// waiters read once done is closed: the index or the error, and whether
// its caller gave the read up.
type apiRead struct {
	gen       uint64
	done      chan struct{}
	ix        *apiIndex
	err       error
	abandoned bool
}

// apiIndex is the registry's APIs (Client.Resources) as currentAPIs
// last read them, at client registry generation gen (Service.clientsGen),
// good until until (unix nanoseconds): how many enabled clients
// registered each.
type apiIndex struct {
	gen    uint64
	until  int64
	owners map[string]int
}

// good reports whether ix, possibly nil, is the index of registry
// generation gen at time n (unix nanoseconds).
func (ix *apiIndex) good(gen uint64, n int64) bool {
	return ix != nil && ix.gen == gen && n < ix.until
}
