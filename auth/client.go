package auth

import (
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Token endpoint authentication methods (RFC 7591 §2).
const (
	// AuthPrivateKeyJWT is a JWT assertion signed with one of the client's
	// registered keys (RFC 7523 §2.2, OpenID Connect Core §9). The default.
	AuthPrivateKeyJWT = "private_key_jwt"
	// AuthClientSecretBasic is HTTP Basic with a node-generated secret
	// (RFC 6749 §2.3.1). Only for clients registered with it.
	AuthClientSecretBasic = "client_secret_basic"
)

// AuthMethods lists the token endpoint authentication methods a node
// supports.
var AuthMethods = []string{AuthPrivateKeyJWT, AuthClientSecretBasic}

// Grant types.
const (
	// GrantClientCredentials is the OAuth 2.0 client credentials grant
	// (RFC 6749 §4.4): a service gets a token for itself.
	GrantClientCredentials = "client_credentials"
	// GrantAuthorizationCode is the authorization code grant, used by user
	// login (OpenID Connect); a client may be registered for it.
	GrantAuthorizationCode = "authorization_code"
)

// GrantTypes lists the grant types a client may be registered for.
var GrantTypes = []string{GrantClientCredentials, GrantAuthorizationCode}

// AssertionAlgorithms are the JWS algorithms accepted for client keys and
// client assertions: SM2 and, for international interop, ES256.
var AssertionAlgorithms = []string{gm.AlgSM2, gm.AlgES256}

// IDTokenAlgorithms are the JWS algorithms a client may have its ID tokens
// signed with: SM2 (the default) and ES256, which mainstream JOSE
// libraries verify.
var IDTokenAlgorithms = []string{gm.AlgSM2, gm.AlgES256}

// AccessTokenAlgorithms are the JWS algorithms a client may have its
// access tokens signed with: SM2 (the default) or ES256, for resource
// servers on JOSE libraries without SM2.
var AccessTokenAlgorithms = []string{gm.AlgSM2, gm.AlgES256}

// Claims lists the identity claims a relying party may be registered for:
// those a device binding carries, which an online QR redemption releases
// with the holder's consent. A name, a document number or a birth date is
// never released to a relying party, so no client is registered for one.
var Claims = []string{"age_over_18", "age_over_60"}

// Limits of client metadata.
const (
	maxNameLen      = 200 // bytes
	maxNameRunes    = 128 // characters, as the contract bounds a name
	maxListLen      = 32
	maxKeys         = 16
	maxClaimNameLen = 64
	maxURILen       = 512
)

// MaxResources bounds the resources (APIs) a client registers.
const MaxResources = 8

// Client is a registered relying party: a service that authenticates to
// the node. It is the node's one full record of a relying party; the
// others are views of it: redeem.RelyingParty is what QR redemption needs
// (client ID, sector, allowed claims) and chaincode.RelyingParty is the
// public part shared on the ledger. Values returned by a ClientStore are
// copies; changing one does not change the registry.
type Client struct {
	// ID is the client_id: 3 to 64 characters from A-Z a-z 0-9 . _ -,
	// starting with a letter or digit.
	ID string `json:"client_id"`
	// Name is a display name (client_name).
	Name string `json:"client_name"`
	// Region is the client's home region, a GB/T 2260 province-level code
	// such as 310000.
	Region string `json:"region"`
	// JWKS holds the client's public keys (SM2 or P-256) for
	// private_key_jwt. Rotation adds a key, then retires the old kid.
	JWKS gm.JWKS `json:"jwks,omitzero"`
	// GrantTypes the client may use (GrantTypes).
	GrantTypes []string `json:"grant_types"`
	// Scopes the client may be granted (a subset of Scopes).
	Scopes []string `json:"scopes"`
	// Claims names the identity claims the client may receive.
	Claims []string `json:"claims,omitempty"`
	// SectorIdentifier is the host name that groups the client's pairwise
	// subject identifiers (OpenID Connect Core §8.1).
	SectorIdentifier string `json:"sector_identifier,omitempty"`
	// RedirectURIs for user login.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// PostLogoutRedirectURIs are where a user may be sent after logout
	// (OpenID Connect RP-Initiated Logout).
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// Resources are the URIs of the APIs the client serves as a resource
	// server (RFC 8707 resource indicators, RFC 9728's resource
	// identifier): absolute https URLs (http on a loopback host) without
	// user info, query or fragment, each registered by no other client
	// (MaxResources at most; on the ledger, also none a region's DID or
	// endpoint, nor on a host another region claims: docs/ledger.md).
	// Any client may ask the token endpoint for a token for one of them;
	// the token names that API alone as its audience, so the API takes
	// it and no other party's API, nor the node, does (RFC 9068 §4).
	Resources []string `json:"resources,omitempty"`
	// ResourcesSince holds, for each of Resources, when the client took
	// it: when the store registered it for the client, enabled, while no
	// enabled client held it (on the ledger, the time of the transaction
	// that claimed it), kept while the client holds it. Introspection
	// shows the client another client's token for the API only when the
	// token was issued since (Service.Introspect), so the tokens asked
	// for an API another party held are not its. A resource without a
	// time (a record an older contract wrote) sets no bound. Set by the
	// store; not part of a registration or of the clients file.
	ResourcesSince map[string]time.Time `json:"-"`
	// IDTokenAlg is the JWS algorithm of the client's ID tokens
	// (IDTokenAlgorithms); empty means SM2.
	IDTokenAlg string `json:"id_token_signed_response_alg,omitempty"`
	// AccessTokenAlg is the JWS algorithm of the client's access tokens
	// (AccessTokenAlgorithms); empty means SM2.
	AccessTokenAlg string `json:"access_token_signed_response_alg,omitempty"`
	// AuthMethod is the token endpoint authentication method (AuthMethods).
	AuthMethod string `json:"token_endpoint_auth_method"`
	// SecretHash is the salted hash of the client secret, for
	// client_secret_basic; the secret itself is never stored.
	SecretHash SecretHash `json:"secret_hash,omitempty"`
	// Disabled clients cannot authenticate, and their tokens stop working.
	Disabled bool `json:"disabled,omitempty"`
	// Created is when the client was registered.
	Created time.Time `json:"created"`

	// visiting marks another region's party that AuthenticateIntrospector
	// authenticated (Config.Visitors): Introspect answers it only about
	// its own tokens of its home region.
	visiting bool
}

// Visiting reports whether c is another region's party that
// AuthenticateIntrospector took from Config.Visitors: it may learn only
// about its own tokens of its home region.
func (c Client) Visiting() bool { return c.visiting }

// clone returns a deep copy of c.
func (c Client) clone() Client {
	c.JWKS.Keys = slices.Clone(c.JWKS.Keys)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.Scopes = slices.Clone(c.Scopes)
	c.Claims = slices.Clone(c.Claims)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.Resources = slices.Clone(c.Resources)
	c.ResourcesSince = maps.Clone(c.ResourcesSince)
	return c
}

// Serves reports whether resource is one of the APIs the client
// registered (Resources).
func (c *Client) Serves(resource string) bool { return slices.Contains(c.Resources, resource) }

// ServesSince reports whether the client serves resource (Serves) and
// held it when a token issued at iat was asked for it: iat, in whole
// seconds as a token carries it, is at or after the second the client
// took the API (ResourcesSince; no bound without a time).
func (c *Client) ServesSince(resource string, iat time.Time) bool {
	return c.Serves(resource) && iat.Unix() >= c.ResourcesSince[resource].Unix()
}

// Validate checks every field. Errors match ErrInvalidClientMetadata.
func (c *Client) Validate() error {
	bad := func(format string, args ...any) error { return fail(ErrInvalidClientMetadata, format, args...) }
	if !ValidClientID(c.ID) {
		return bad("client_id must be 3 to 64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit")
	}
	if c.Name == "" || len(c.Name) > maxNameLen || utf8.RuneCountInString(c.Name) > maxNameRunes || !printable(c.Name) {
		return bad("client_name must be 1 to %d bytes (at most %d characters) of printable text, without control or format characters (such as bidirectional overrides or zero-width characters)", maxNameLen, maxNameRunes)
	}
	if !ValidRegion(c.Region) {
		return bad("region %s is not a GB/T 2260 province-level code such as 310000", quoted(c.Region))
	}
	if err := checkSet("grant_types", c.GrantTypes, GrantTypes); err != nil {
		return err
	}
	if len(c.GrantTypes) == 0 {
		return bad("grant_types must name at least one grant type")
	}
	if err := checkSet("scopes", c.Scopes, Scopes); err != nil {
		return err
	}
	if len(c.Scopes) == 0 {
		return bad("scopes must name at least one scope")
	}
	if len(c.Claims) > maxListLen {
		return bad("at most %d claims", maxListLen)
	}
	for i, name := range c.Claims {
		if !validClaimName(name) {
			return bad("claims[%d] must be 1 to %d characters from a-z 0-9 _", i, maxClaimNameLen)
		}
		if !slices.Contains(Claims, name) {
			return bad("claims[%d] %s is not a claim a device binding carries (one of %v)", i, quoted(name), Claims)
		}
		if slices.Contains(c.Claims[:i], name) {
			return bad("claims[%d] is repeated", i)
		}
	}
	if c.SectorIdentifier != "" && !identity.ValidHost(c.SectorIdentifier) {
		return bad("sector_identifier must be a lower-case DNS host name")
	}
	if len(c.RedirectURIs) > maxListLen {
		return bad("at most %d redirect_uris", maxListLen)
	}
	for i, u := range c.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return bad("redirect_uris[%d]: %v", i, err)
		}
		if slices.Contains(c.RedirectURIs[:i], u) {
			return bad("redirect_uris[%d] is repeated", i)
		}
	}
	if len(c.PostLogoutRedirectURIs) > maxListLen {
		return bad("at most %d post_logout_redirect_uris", maxListLen)
	}
	for i, u := range c.PostLogoutRedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return bad("post_logout_redirect_uris[%d]: %v", i, err)
		}
		if slices.Contains(c.PostLogoutRedirectURIs[:i], u) {
			return bad("post_logout_redirect_uris[%d] is repeated", i)
		}
	}
	if len(c.Resources) > MaxResources {
		return bad("at most %d resources", MaxResources)
	}
	for i, u := range c.Resources {
		if err := checkResourceURI(u); err != nil {
			return bad("resources[%d]: %v", i, err)
		}
		if slices.Contains(c.Resources[:i], u) {
			return bad("resources[%d] is repeated", i)
		}
	}
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		return bad("the authorization_code grant needs at least one redirect_uri")
	}
	if c.IDTokenAlg != "" && !slices.Contains(IDTokenAlgorithms, c.IDTokenAlg) {
		return bad("id_token_signed_response_alg must be one of %v", IDTokenAlgorithms)
	}
	if c.AccessTokenAlg != "" && !slices.Contains(AccessTokenAlgorithms, c.AccessTokenAlg) {
		return bad("access_token_signed_response_alg must be one of %v", AccessTokenAlgorithms)
	}
	if err := checkKeys(c.JWKS); err != nil {
		return err
	}
	switch c.AuthMethod {
	case AuthPrivateKeyJWT:
		if len(c.JWKS.Keys) == 0 {
			return bad("private_key_jwt needs at least one key in jwks")
		}
		if c.SecretHash != "" {
			return bad("a private_key_jwt client has no secret")
		}
	case AuthClientSecretBasic:
		if err := c.SecretHash.check(); err != nil {
			return bad("client_secret_basic needs a valid secret_hash")
		}
	default:
		return bad("token_endpoint_auth_method must be one of %v", AuthMethods)
	}
	if c.Created.IsZero() {
		return bad("created is missing")
	}
	return nil
}

// checkKeys accepts SM2 and P-256 signing keys only.
func checkKeys(set gm.JWKS) error {
	if len(set.Keys) > maxKeys {
		return fail(ErrInvalidClientMetadata, "at most %d keys in jwks", maxKeys)
	}
	seen := map[string]bool{}
	for i, k := range set.Keys {
		if !validKid(k.Kid) {
			return fail(ErrInvalidClientMetadata, "jwks key %d: kid must be 1 to 128 printable ASCII characters without spaces", i)
		}
		if seen[k.Kid] {
			return fail(ErrInvalidClientMetadata, "jwks key %d: kid %s is repeated", i, quoted(k.Kid))
		}
		seen[k.Kid] = true
		if k.Use != "" && k.Use != "sig" {
			return fail(ErrInvalidClientMetadata, "jwks key %s: use must be 'sig'", quoted(k.Kid))
		}
		pub, err := k.PublicKey()
		if err != nil {
			return failWith(ErrInvalidClientMetadata, err, "jwks key %s is not a valid public key", quoted(k.Kid))
		}
		alg, _ := gm.Alg(pub)
		if !slices.Contains(AssertionAlgorithms, alg) {
			return fail(ErrInvalidClientMetadata, "jwks key %s: algorithm %s is not allowed (want one of %v)", quoted(k.Kid), alg, AssertionAlgorithms)
		}
	}
	return nil
}

// ParseClientJWKS parses a key set for a client: gm.ParseJWKS's strict
// rules, and only SM2 or P-256 keys.
func ParseClientJWKS(data []byte) (gm.JWKS, error) {
	set, err := gm.ParseJWKS(data)
	if err != nil {
		return gm.JWKS{}, failWith(ErrInvalidClientMetadata, err, "jwks is not a valid public JWK set")
	}
	// gm.ParseJWKS reads members as encoding/json does, case-insensitively;
	// a registration names them exactly and no others.
	if err := strictjson.Decode(data, new(gm.JWKS), 64<<10); err != nil {
		return gm.JWKS{}, failWith(ErrInvalidClientMetadata, err, "jwks: %s", SafeDescription(err.Error()))
	}
	if err := checkKeys(set); err != nil {
		return gm.JWKS{}, err
	}
	return set, nil
}

func checkSet(field string, got, known []string) error {
	if len(got) > maxListLen {
		return fail(ErrInvalidClientMetadata, "at most %d %s", maxListLen, field)
	}
	for i, v := range got {
		if !slices.Contains(known, v) {
			return fail(ErrInvalidClientMetadata, "%s[%d] %s is not one of %v", field, i, quoted(v), known)
		}
		if slices.Contains(got[:i], v) {
			return fail(ErrInvalidClientMetadata, "%s[%d] is repeated", field, i)
		}
	}
	return nil
}

func checkRedirectURI(s string) error {
	if len(s) > maxURILen {
		return fmt.Errorf("longer than %d bytes", maxURILen)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return fmt.Errorf("not an absolute URL with a host and no user info")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("must not have a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("http is allowed for loopback hosts only")
	}
	return fmt.Errorf("scheme must be https")
}

// checkResourceURI checks a resource a client registers (RFC 8707 §2: an
// absolute URI without a fragment, which should have no query): a URL as
// a redirect URI is, without a query.
func checkResourceURI(s string) error {
	if err := checkRedirectURI(s); err != nil {
		return err
	}
	if strings.Contains(s, "?") {
		return fmt.Errorf("must not have a query")
	}
	return nil
}

// ValidClientID reports whether id is a well-formed client_id: 3 to 64
// characters from A-Z a-z 0-9 . _ -, starting with a letter or digit. The
// charset keeps IDs safe in URLs, logs, file names and HTTP Basic.
func ValidClientID(id string) bool {
	if len(id) < 3 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// provinces are the GB/T 2260 province-level codes' first two digits.
var provinces = []string{
	"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
	"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
	"71", "81", "82",
}

// ValidRegion reports whether s is a GB/T 2260 province-level code, such as
// 310000 (Shanghai) or 810000 (Hong Kong).
func ValidRegion(s string) bool {
	return len(s) == 6 && s[2:] == "0000" && slices.Contains(provinces, s[:2])
}

func validClaimName(s string) bool {
	if len(s) == 0 || len(s) > maxClaimNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// printable accepts valid UTF-8 text without control characters, format
// characters (bidirectional controls, zero-width characters, the byte
// order mark, tag characters), private-use or unassigned code points.
func printable(s string) bool {
	for _, r := range s {
		if r == 0xfffd || !unicode.IsPrint(r) && r != '\u3000' {
			return false
		}
	}
	return true
}

// validKid reports whether kid is 1 to 128 printable ASCII characters
// without spaces, as the contract takes a key's kid.
func validKid(kid string) bool {
	if kid == "" || len(kid) > 128 {
		return false
	}
	for i := 0; i < len(kid); i++ {
		if kid[i] < 0x21 || kid[i] > 0x7e {
			return false
		}
	}
	return true
}

// truncate shortens untrusted input quoted in error messages to at most
// 40 bytes, cut at a character boundary, marking a cut with "...".
func truncate(s string) string {
	if len(s) <= 40 {
		return s
	}
	n := 40
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// Registration is what an operator supplies to register a client. Empty
// fields take defaults: a generated ID, grant type client_credentials,
// token endpoint authentication private_key_jwt (client_secret_basic only
// when asked for), and a sector identifier taken from a single redirect
// URI's host.
type Registration struct {
	ID               string   `json:"client_id,omitempty"`
	Name             string   `json:"client_name"`
	Region           string   `json:"region"`
	JWKS             *gm.JWKS `json:"jwks,omitempty"`
	GrantTypes       []string `json:"grant_types,omitempty"`
	Scopes           []string `json:"scopes"`
	Claims           []string `json:"claims,omitempty"`
	SectorIdentifier string   `json:"sector_identifier,omitempty"`
	RedirectURIs     []string `json:"redirect_uris,omitempty"`
	IDTokenAlg       string   `json:"id_token_signed_response_alg,omitempty"`
	AccessTokenAlg   string   `json:"access_token_signed_response_alg,omitempty"`
	AuthMethod       string   `json:"token_endpoint_auth_method,omitempty"`
	// PostLogoutRedirectURIs (OpenID Connect RP-Initiated Logout).
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// Resources are the client's own APIs (Client.Resources).
	Resources []string `json:"resources,omitempty"`
}

// NewClient builds and validates a client from a registration. For
// client_secret_basic it generates a 256-bit secret, returned once as
// secret (base64url) and stored only as a salted hash.
func NewClient(reg Registration, now time.Time, rand io.Reader) (c Client, secret string, err error) {
	c = Client{
		ID: reg.ID, Name: reg.Name, Region: reg.Region,
		GrantTypes: slices.Clone(reg.GrantTypes), Scopes: slices.Clone(reg.Scopes), Claims: slices.Clone(reg.Claims),
		SectorIdentifier: reg.SectorIdentifier, RedirectURIs: slices.Clone(reg.RedirectURIs), IDTokenAlg: reg.IDTokenAlg,
		AccessTokenAlg: reg.AccessTokenAlg, PostLogoutRedirectURIs: slices.Clone(reg.PostLogoutRedirectURIs),
		Resources: slices.Clone(reg.Resources), AuthMethod: reg.AuthMethod, Created: now.UTC().Truncate(time.Second),
	}
	if reg.JWKS != nil {
		c.JWKS.Keys = slices.Clone(reg.JWKS.Keys)
	}
	if c.ID == "" {
		var b [10]byte
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return Client{}, "", failWith(ErrUnavailable, err, "cannot generate a client_id")
		}
		c.ID = "c-" + hex.EncodeToString(b[:])
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantClientCredentials}
	}
	if c.AuthMethod == "" {
		c.AuthMethod = AuthPrivateKeyJWT
	}
	if c.SectorIdentifier == "" && len(c.RedirectURIs) == 1 {
		var ok bool
		if c.SectorIdentifier, ok = redirectSector(c.RedirectURIs[0]); !ok {
			return Client{}, "", fail(ErrInvalidClientMetadata, "redirect_uris[0]: its host is no DNS host name to take as the sector of pairwise IDs; send a sector_identifier")
		}
	}
	if c.AuthMethod == AuthClientSecretBasic {
		if len(c.JWKS.Keys) > 0 {
			return Client{}, "", fail(ErrInvalidClientMetadata, "a client_secret_basic client has no jwks")
		}
		secret, c.SecretHash, err = NewSecret(rand)
		if err != nil {
			return Client{}, "", err
		}
	}
	if err := c.Validate(); err != nil {
		return Client{}, "", err
	}
	return c, secret, nil
}

// redirectSector is the sector of a party whose one redirect URI is
// uri (OpenID Connect Core §8.1: its host), as a DNS host name in lower
// case, without a final dot: a name already one (ValidHost) as it is, so
// the sector stays the one taken before IDNA was applied, an
// internationalized name as its A-label (RFC 5891, the name resolved).
// It is empty for an IPv6 literal (the party's sector is then its client
// ID; a URI without a host, which Validate refuses, has none); ok is
// false for a host that is no DNS name.
func redirectSector(uri string) (sector string, ok bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Hostname() == "" || strings.Contains(u.Hostname(), ":") {
		return "", true
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if lower := strings.ToLower(host); identity.ValidHost(lower) {
		return lower, true
	}
	host, err = idna.Lookup.ToASCII(host)
	if err != nil || !identity.ValidHost(strings.ToLower(host)) {
		return "", false
	}
	return strings.ToLower(host), true
}

// AddKey adds a public key to the client's JWKS (the first half of a key
// rotation). The kid must be new.
func (c *Client) AddKey(k gm.JWK) error {
	if c.AuthMethod != AuthPrivateKeyJWT {
		return fail(ErrInvalidClientMetadata, "only private_key_jwt clients have keys")
	}
	if _, ok := c.JWKS.Key(k.Kid); ok {
		return fail(ErrInvalidClientMetadata, "kid %s is already registered", quoted(k.Kid))
	}
	next := append(slices.Clone(c.JWKS.Keys), k)
	if err := checkKeys(gm.JWKS{Keys: next}); err != nil {
		return err
	}
	c.JWKS.Keys = next
	return nil
}

// RetireKey removes the key kid from the client's JWKS (the second half
// of a rotation): assertions signed with it stop being accepted. The last
// key cannot be retired.
func (c *Client) RetireKey(kid string) error {
	i := slices.IndexFunc(c.JWKS.Keys, func(k gm.JWK) bool { return k.Kid == kid })
	if i < 0 {
		return fail(ErrInvalidClientMetadata, "no key with kid %s", quoted(kid))
	}
	if len(c.JWKS.Keys) == 1 {
		return fail(ErrInvalidClientMetadata, "cannot retire the client's last key; add a new one first")
	}
	c.JWKS.Keys = slices.Delete(slices.Clone(c.JWKS.Keys), i, i+1)
	return nil
}

// HasScope reports whether the client may be granted scope.
func (c *Client) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// keyAlg names the algorithm of a parsed client key.
func keyAlg(pub any) string {
	switch pub.(type) {
	case *gm.PublicKey:
		return gm.AlgSM2
	case *ecdsa.PublicKey:
		return gm.AlgES256
	}
	return ""
}
