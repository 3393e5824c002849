package credentials

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/credentials/internal/lru"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// LocalKeys are the node's own verifying keys (its keystore, through
// the issuer). VerifyingKey returns the public key of kid, or false for an
// unknown or retired key. Safe for concurrent use.
type LocalKeys interface {
	VerifyingKey(kid string) (crypto.PublicKey, bool)
}

// KeyResolver finds the key an issuer (or a holder) signed with, from the
// issuer identifier and the JOSE header kid. It returns an error wrapping
// ErrResolve when the key cannot be obtained (network, bad document),
// ErrUnknownKey when the issuer has no such key, and ErrIssuerMismatch when
// the kid belongs to another issuer. Implementations are safe for
// concurrent use.
type KeyResolver interface {
	ResolveKey(ctx context.Context, issuer, kid string) (crypto.PublicKey, error)
}

// LocalIssuer lets a resolver answer for the node's own identifiers from
// its keystore, without a network round trip.
type LocalIssuer struct {
	DID     string // did:web of the node
	BaseURL string // the node's public base URL (the SD-JWT VC iss)
	Keys    LocalKeys
}

func (l *LocalIssuer) key(kid string) (crypto.PublicKey, error) {
	k, ok := l.Keys.VerifyingKey(kid)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, truncate(kid))
	}
	return k, nil
}

// Resolver resolves did:key and did:jwk locally, did:web documents and
// SD-JWT VC issuer metadata (/.well-known/jwt-vc-issuer) over HTTPS with
// a cache, and the node's own identifiers through Local.
type Resolver struct {
	// Client fetches documents. Whatever it is, fetches follow no
	// redirect and reach only public addresses (see NewFetchClient): a
	// client built by NewFetchClient keeps its AllowHost, any other
	// client gets a guarded copy with no host allowed. nil means
	// NewFetchClient(nil, FetchOptions{}).
	Client *http.Client
	// TTL is how long a fetched document is used (default 5 minutes).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Local answers for the node's own DID and base URL when set.
	Local *LocalIssuer
	// CacheSize bounds the number of documents cached (default
	// DefaultDocumentCacheSize), least recently used evicted first. The
	// documents are fetched before any signature is checked, so whoever
	// sends credentials can fill this cache; the Verifier keeps its own
	// cache of keys that have verified a signature.
	CacheSize int

	once  sync.Once
	cache *lru.Cache[string, cachedDoc]
}

// DefaultDocumentCacheSize is the default of Resolver.CacheSize.
const DefaultDocumentCacheSize = 256

type cachedDoc struct {
	doc  DIDDocument
	jwks gm.JWKS
}

var _ KeyResolver = (*Resolver)(nil)

const maxFetch = 256 << 10

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Resolver) ttl() time.Duration {
	if r.TTL > 0 {
		return r.TTL
	}
	return 5 * time.Minute
}

// PurposeResolver is a KeyResolver that also resolves a verification
// method for a verification relationship (RelationshipAssertion,
// RelationshipAuthentication): a key a DID document lists only in
// assertionMethod does not sign a presentation. ResolveKey is
// ResolveKeyFor with RelationshipAssertion. Resolver and RegistryResolver
// implement it.
type PurposeResolver interface {
	KeyResolver
	ResolveKeyFor(ctx context.Context, controller, verificationMethod, relationship string) (crypto.PublicKey, error)
}

var _ PurposeResolver = (*Resolver)(nil)

// ResolveKey implements KeyResolver.
func (r *Resolver) ResolveKey(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	return r.ResolveKeyFor(ctx, issuer, kid, RelationshipAssertion)
}

// ResolveKeyFor implements PurposeResolver: a did:web method must be
// listed in relationship in its DID document; did:key and did:jwk keys and
// the node's own (whose DID document lists each key in both) serve both
// relationships; issuer metadata keys (not a DID) only assertions.
func (r *Resolver) ResolveKeyFor(ctx context.Context, issuer, kid, relationship string) (crypto.PublicKey, error) {
	if relationship != RelationshipAssertion && relationship != RelationshipAuthentication {
		return nil, fmt.Errorf("%w: verification relationship %.40q", ErrUnsupported, relationship)
	}
	if kid == "" {
		return nil, fmt.Errorf("%w: the JOSE header has no kid", ErrUnknownKey)
	}
	if strings.HasPrefix(kid, "#") && strings.HasPrefix(issuer, "did:") {
		kid = issuer + kid
	}
	if strings.HasPrefix(kid, "did:") {
		did, frag, err := splitDIDURL(kid)
		if err != nil {
			return nil, err
		}
		if issuer != "" && issuer != did {
			return nil, fmt.Errorf("%w: kid is controlled by another DID than the issuer", ErrIssuerMismatch)
		}
		return r.resolveDID(ctx, did, frag, relationship)
	}
	if relationship != RelationshipAssertion {
		return nil, fmt.Errorf("%w: an %s key must be a DID URL", ErrUnknownKey, relationship)
	}
	if r.Local != nil && issuer == r.Local.BaseURL {
		return r.Local.key(kid)
	}
	set, err := r.issuerMetadata(ctx, issuer)
	if err != nil {
		return nil, err
	}
	j, ok := set.Key(kid)
	if !ok {
		return nil, fmt.Errorf("%w: issuer metadata has no key %s", ErrUnknownKey, truncate(kid))
	}
	pub, err := j.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResolve, err)
	}
	return pub, nil
}

func (r *Resolver) resolveDID(ctx context.Context, did, frag, relationship string) (crypto.PublicKey, error) {
	switch {
	case r.Local != nil && did == r.Local.DID:
		return r.Local.key(frag)
	case strings.HasPrefix(did, didKeyPrefix):
		if frag != "" && frag != strings.TrimPrefix(did, didKeyPrefix) {
			return nil, fmt.Errorf("%w: did:key fragment must repeat the key", ErrUnknownKey)
		}
		return parseDIDKey(did)
	case strings.HasPrefix(did, didJWKPrefix):
		if frag != "" && frag != "0" {
			return nil, fmt.Errorf("%w: did:jwk fragment must be 0", ErrUnknownKey)
		}
		return parseDIDJWK(did)
	case strings.HasPrefix(did, didWebPrefix):
		docURL, err := DIDWebDocumentURL(did)
		if err != nil {
			return nil, err
		}
		c, err := r.fetch(ctx, docURL, func(body []byte) (cachedDoc, error) {
			doc, err := ParseDIDDocument(body, did)
			return cachedDoc{doc: doc}, err
		})
		if err != nil {
			return nil, err
		}
		return c.doc.Key(did+"#"+frag, relationship)
	}
	return nil, fmt.Errorf("%w: DID method of %s", ErrUnsupported, truncate(did))
}

// IssuerMetadata is the SD-JWT VC issuer metadata document.
type IssuerMetadata struct {
	Issuer  string   `json:"issuer"`
	JWKS    *gm.JWKS `json:"jwks,omitempty"`
	JWKSURI string   `json:"jwks_uri,omitempty"`
}

// IssuerMetadataURL returns where the metadata of an https issuer lives:
// /.well-known/jwt-vc-issuer inserted between host and path.
func IssuerMetadataURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: issuer %q must be an https URL", ErrResolve, truncate(issuer))
	}
	return "https://" + u.Host + wellKnownJWTVCIssue + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

func (r *Resolver) issuerMetadata(ctx context.Context, issuer string) (gm.JWKS, error) {
	mdURL, err := IssuerMetadataURL(issuer)
	if err != nil {
		return gm.JWKS{}, err
	}
	c, err := r.fetch(ctx, mdURL, func(body []byte) (cachedDoc, error) {
		set, err := parseIssuerMetadata(body, issuer)
		return cachedDoc{jwks: set}, err
	})
	if err != nil {
		return gm.JWKS{}, err
	}
	return c.jwks, nil
}

// parseIssuerMetadata decodes the issuer metadata document of issuer
// strictly and returns its inline key set (jwks_uri is not followed).
// Errors match ErrResolve.
func parseIssuerMetadata(data []byte, issuer string) (gm.JWKS, error) {
	var raw map[string]json.RawMessage
	if err := strictjson.Decode(data, &raw, maxFetch); err != nil {
		return gm.JWKS{}, fmt.Errorf("%w: issuer metadata: %w", ErrResolve, err)
	}
	var iss string
	if err := json.Unmarshal(raw["issuer"], &iss); err != nil || iss != issuer {
		return gm.JWKS{}, fmt.Errorf("%w: metadata issuer does not match", ErrResolve)
	}
	j, ok := raw["jwks"]
	if !ok {
		return gm.JWKS{}, fmt.Errorf("%w: metadata has no inline jwks (jwks_uri is not followed)", ErrResolve)
	}
	set, err := gm.ParseJWKS(j)
	if err != nil {
		return gm.JWKS{}, fmt.Errorf("%w: metadata jwks: %w", ErrResolve, err)
	}
	return set, nil
}

// fetch GETs an HTTPS JSON document, parses it and caches the result for
// the TTL. Failures are not cached.
func (r *Resolver) fetch(ctx context.Context, docURL string, parse func([]byte) (cachedDoc, error)) (cachedDoc, error) {
	r.once.Do(func() {
		size := r.CacheSize
		if size <= 0 {
			size = DefaultDocumentCacheSize
		}
		r.cache = lru.New[string, cachedDoc](size)
	})
	now := r.now()
	if c, ok := r.cache.Get(docURL, now); ok {
		return c, nil
	}
	body, err := httpGet(ctx, r.Client, docURL, "application/json")
	if err != nil {
		return cachedDoc{}, err
	}
	c, err := parse(body)
	if err != nil {
		return cachedDoc{}, fmt.Errorf("%w: %s: %w", ErrResolve, docURL, err)
	}
	r.cache.Put(docURL, c, now.Add(r.ttl()), now)
	return c, nil
}

// acceptable reports whether media type mt is one an Accept header value
// lists (parameters aside; application/json takes any +json type).
func acceptable(accept, mt string) bool {
	for _, r := range strings.Split(accept, ",") {
		a, _, _ := strings.Cut(r, ";")
		a = strings.TrimSpace(a)
		if strings.EqualFold(a, mt) || (a == "application/json" && strings.HasSuffix(mt, "json")) {
			return true
		}
	}
	return false
}

// httpGet fetches url over HTTPS with a bounded body and time, through
// the guarded client of client (see fetchClient): no redirects, and only
// public addresses unless the client was built by NewFetchClient with an
// AllowHost that permits the host.
func httpGet(ctx context.Context, client *http.Client, rawURL, accept string) ([]byte, error) {
	if !schemeAllowed(client, rawURL) {
		return nil, fmt.Errorf("%w: only https URLs are fetched (%s)", ErrResolve, truncate(rawURL))
	}
	client, err := fetchClient(client)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResolve, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResolve, err)
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrResolve, truncate(rawURL), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotAcceptable, http.StatusUnsupportedMediaType:
		return nil, fmt.Errorf("%w: %w: %s: HTTP %d", ErrResolve, ErrMediaTypeNotServed, rawURL, resp.StatusCode)
	default:
		return nil, fmt.Errorf("%w: %s: HTTP %d", ErrResolve, rawURL, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && accept != "" && !acceptable(accept, mt) {
			return nil, fmt.Errorf("%w: %w: %s: content type %s, want %s", ErrResolve, ErrMediaTypeNotServed, rawURL, mt, accept)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetch+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrResolve, rawURL, err)
	}
	if len(body) > maxFetch {
		return nil, fmt.Errorf("%w: %s: document over %d bytes", ErrResolve, rawURL, maxFetch)
	}
	return body, nil
}
