package credentials

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/credentials/internal/lru"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// LocalKeys are the node's own verifying keys (its keystore, through
// the issuer, and its region's record for a key another instance of the
// region made). VerifyingKey returns the public key of kid, or false for
// an unknown or retired key. Safe for concurrent use.
type LocalKeys interface {
	VerifyingKey(ctx context.Context, kid string) (crypto.PublicKey, bool)
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

func (l *LocalIssuer) key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	k, ok := l.Keys.VerifyingKey(ctx, kid)
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
	// ControllerHosts, when set, resolves verification methods that are
	// https URLs (https://host/path#key-1, W3C Controlled Identifiers 1.0
	// §3.3) on the hosts it permits (a DNS name in lower case, or an IP
	// literal, without the port; AllowHosts builds one): their controller
	// document is fetched through Client, as a did:web document is. nil
	// (the default) resolves none: an https URL kid on a host it does not
	// permit is looked up in the issuer's metadata, as before. Whoever sends a credential
	// chooses the URL, path and query included; see docs/SECURITY.md.
	ControllerHosts func(host string) bool
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
	// A relative kid is a method of the issuer (holder): of its DID, or,
	// for a presentation (issuer metadata keys sign no presentation), of
	// its https controlled identifier document, as holderKid reads it.
	if strings.HasPrefix(kid, "#") && (strings.HasPrefix(issuer, "did:") || (relationship == RelationshipAuthentication && urlMethod(issuer+kid))) {
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
	if urlMethod(kid) && r.controllerHost(kid) {
		return r.resolveURLMethod(ctx, issuer, kid, relationship)
	}
	if relationship != RelationshipAssertion {
		return nil, fmt.Errorf("%w: an %s key must be a DID URL", ErrUnknownKey, relationship)
	}
	if r.Local != nil && issuer == r.Local.BaseURL {
		return r.Local.key(ctx, kid)
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
		return nil, fmt.Errorf("%w: %w", ErrResolve, err) // gm.ErrJWKUse: a key for encryption
	}
	return pub, nil
}

func (r *Resolver) resolveDID(ctx context.Context, did, frag, relationship string) (crypto.PublicKey, error) {
	switch {
	case r.Local != nil && did == r.Local.DID:
		return r.Local.key(ctx, frag)
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
		return r.methodKey(ctx, did, docURL, acceptDIDDocument, did+"#"+frag, relationship)
	}
	return nil, fmt.Errorf("%w: DID method of %s", ErrUnsupported, truncate(did))
}

// urlMethod reports whether kid looks like a verification method that is
// an http(s) URL with a fragment (a controlled identifier document's).
func urlMethod(kid string) bool {
	scheme, _, ok := strings.Cut(kid, "://")
	return ok && (strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "http")) && strings.Contains(kid, "#")
}

// ControllerDocumentURL returns the URL of the controlled identifier
// document of the verification method vm (W3C Controlled Identifiers 1.0
// §3.3 steps 1 and 2): vm without its fragment. vm must be an absolute
// http(s) URL without user information, with a fragment, written as the
// URL Standard serializes it (see canonicalURL); errors wrap ErrResolve
// and ErrVerificationMethodURL. Only https is fetched (http to a loopback
// host with a client built with FetchOptions.LoopbackHTTP).
func ControllerDocumentURL(vm string) (string, error) {
	u, err := url.Parse(vm)
	if err != nil || len(vm) > maxDIDLength || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" || u.User != nil || u.Fragment == "" || !canonicalURL(vm, u) {
		return "", fmt.Errorf("%w: %w: %s", ErrResolve, ErrVerificationMethodURL, truncate(vm))
	}
	doc, _, _ := strings.Cut(vm, "#")
	return doc, nil
}

// canonicalURL reports whether raw (parsed as u) has none of the forms
// the URL Standard rewrites when it parses a URL, which §3.3 compares
// parsed: an upper-case scheme or host, a non-ASCII host (its form is
// punycode), a default or empty port, dot segments (".", "..", also
// percent-encoded or behind an encoded slash: u.Path is decoded) and
// backslashes (a path separator to the URL Standard and to some
// servers). TrustID compares identifiers as strings, so a URL in such a
// form would be an identifier other than the document it fetches:
// https://host/users/alice/../mallory/cid is mallory's document on a
// server that resolves dot segments, with an id that reads as alice's.
// A trailing-dot host is refused too (the same host as without it).
func canonicalURL(raw string, u *url.URL) bool {
	host, port := u.Hostname(), u.Port()
	if !strings.HasPrefix(raw, u.Scheme+"://") || strings.HasSuffix(u.Host, ":") || strings.HasSuffix(host, ".") ||
		(u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") || strings.Contains(u.Path, `\`) {
		return false
	}
	for _, c := range []byte(host) {
		if c >= 0x80 || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	// An IP literal in its shortest form (2001:db8::1, not 2001:db8:0::1),
	// an IPv4 address not mapped into IPv6;
	// a name whose last label is a number is an IPv4 address to the URL
	// Standard (127.1, 0x7f.1) and to some resolvers: refused.
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.String() != host || ip.Is4In6() {
			return false
		}
	} else if last := host[strings.LastIndexByte(host, '.')+1:]; last != "" && strings.Trim(strings.TrimPrefix(last, "0x"), "0123456789abcdef") == "" && (strings.HasPrefix(last, "0x") || strings.Trim(last, "0123456789") == "") {
		return false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// controllerHost reports whether kid's host is one whose controlled
// identifier documents r fetches (ControllerHosts). Any other https kid
// is read as a key of the issuer's metadata, as without ControllerHosts:
// permitting some hosts adds a way to resolve keys and takes none away.
func (r *Resolver) controllerHost(kid string) bool {
	if r.ControllerHosts == nil {
		return false
	}
	u, err := url.Parse(kid)
	return err == nil && r.ControllerHosts(normalizeHost(u.Hostname()))
}

// resolveURLMethod retrieves the verification method kid, an http(s) URL,
// from its controlled identifier document (W3C Controlled Identifiers
// 1.0 §3.3): fetched from kid without fragment, its id that URL, the
// method defined in it and controlled by it, listed in relationship. The
// document must be the issuer's (holder's) own.
func (r *Resolver) resolveURLMethod(ctx context.Context, issuer, kid, relationship string) (crypto.PublicKey, error) {
	docURL, err := ControllerDocumentURL(kid)
	if err != nil {
		return nil, err
	}
	if !schemeAllowed(r.Client, docURL) {
		return nil, fmt.Errorf("%w: %w: only https controller documents are fetched", ErrResolve, ErrVerificationMethodURL)
	}
	if issuer != "" && issuer != docURL {
		return nil, fmt.Errorf("%w: the verification method's controller document is not the issuer's", ErrIssuerMismatch)
	}
	return r.methodKey(ctx, docURL, docURL, acceptCID, kid, relationship)
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
	c, err := r.fetch(ctx, "metadata "+issuer, mdURL, "application/json", func(body []byte) (cachedDoc, error) {
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

// Accept headers of controller documents: a DID document (did:web) is
// JSON (application/did+json, or any JSON type); a controlled identifier
// document is application/cid (W3C Controlled Identifiers 1.0 A.1), which
// conforms to application/json, or JSON-LD (its examples are).
const (
	acceptDIDDocument = "application/json"
	acceptCID         = "application/cid, application/ld+json;q=0.9, application/json;q=0.8"
)

// methodKey fetches the controller document of id at docURL (through the
// cache), then returns the key of the verification method vmID in
// relationship, refused if revoked or expired (W3C Controlled Identifiers
// 1.0 §3.3, for did:web and https controllers alike).
func (r *Resolver) methodKey(ctx context.Context, id, docURL, accept, vmID, relationship string) (crypto.PublicKey, error) {
	c, err := r.fetch(ctx, accept+" "+id, docURL, accept, func(body []byte) (cachedDoc, error) {
		doc, err := ParseControllerDocument(body, id)
		return cachedDoc{doc: doc}, err
	})
	if err != nil {
		return nil, err
	}
	return c.doc.Key(vmID, relationship, r.now())
}

// fetch GETs an HTTPS JSON document of one of the media types accept
// lists, parses it and caches the result for the TTL under what it was
// parsed as (kind: the media types and the identifier it was checked
// against) and its URL, so a document is reused only for the identifier
// it was checked for. Failures are not cached.
func (r *Resolver) fetch(ctx context.Context, kind, docURL, accept string, parse func([]byte) (cachedDoc, error)) (cachedDoc, error) {
	r.once.Do(func() {
		size := r.CacheSize
		if size <= 0 {
			size = DefaultDocumentCacheSize
		}
		r.cache = lru.New[string, cachedDoc](size)
	})
	now := r.now()
	key := kind + " " + docURL
	if c, ok := r.cache.Get(key, now); ok {
		return c, nil
	}
	body, err := httpGet(ctx, r.Client, docURL, accept)
	if err != nil {
		return cachedDoc{}, err
	}
	c, err := parse(body)
	if err != nil {
		return cachedDoc{}, fmt.Errorf("%w: %s: %w", ErrResolve, truncate(docURL), err)
	}
	r.cache.Put(key, c, now.Add(r.ttl()), now)
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
		return nil, fmt.Errorf("%w: %w: %s: over %d bytes", ErrResolve, ErrDocumentTooLarge, truncate(rawURL), maxFetch)
	}
	return body, nil
}
