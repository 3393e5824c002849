package credentials

import (
	"context"
	"crypto"
	"net/http"

	"github.com/trustid-cn/trustid/credentials/internal/lru"
)

// Unexported parts the external tests (package credentials_test, which
// imports the issuer in credentials/issuer) reach.
var (
	ParseListVersion          = parseListVersion
	ListContent               = listContent
	HTTPGet                   = httpGet
	ParseIssuerMetadata       = parseIssuerMetadata
	SelfResolving             = selfResolving
	DecodeObject              = decodeObject
	ParseStatusListCredential = parseStatusListCredential
	PlainHTTPURL              = plainHTTPURL
	SpaceOrControl            = spaceOrControl
	IsEnrollmentType          = isEnrollmentType
)

const MaxFetch = maxFetch

func (h *HTTPStatusSource) CheckAnchored(ctx context.Context, url, issuer string, version uint64, content []byte) error {
	return h.checkAnchored(ctx, url, issuer, version, content)
}

func (v *Verifier) CachedKeys() *lru.Cache[keyID, crypto.PublicKey] { return v.keys }

// KeyID names a cached key (relationship, issuer, kid).
func KeyID(relationship, issuer, kid string) keyID { return keyID{relationship, issuer, kid} }

func (r *Resolver) CachedDocs() *lru.Cache[string, cachedDoc] { return r.cache }

func (a Accreditation) StatusIssuer(token bool) string { return a.statusIssuer(token) }

func NewGuardedTransport(base *http.Transport) http.RoundTripper {
	return &guardedTransport{base: base}
}
