package chaincode

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	pathpkg "path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Region statuses.
const (
	RegionPending   = "pending"
	RegionActive    = "active"
	RegionSuspended = "suspended"
)

// Key states of a region's signing keys. A key moves active → retiring →
// retired, or to revoked (compromised) from any other state. Keys are never
// removed: History records every state with its time and transaction.
const (
	KeyActive   = "active"
	KeyRetiring = "retiring"
	KeyRetired  = "retired"
	KeyRevoked  = "revoked"
)

// Entry statuses of issuers, relying parties and terminals.
const (
	EntryActive    = "active"
	EntrySuspended = "suspended"
)

// Region is a consortium member: a province-level region running a node.
type Region struct {
	Code  string `json:"code"`
	MSPID string `json:"msp_id"`
	DID   string `json:"did"`
	Name  string `json:"name,omitempty"`
	// Status and StatusHistory are the region's Standing, which the
	// consortium record holds, not the region's stored record: GetRegion
	// and ListRegions fill them in.
	Status    string        `json:"status,omitempty"`
	Keys      []RegistryKey `json:"keys"`
	Endpoints []Endpoint    `json:"endpoints"`
	Created   time.Time     `json:"created"`
	Updated   time.Time     `json:"updated"`
	// StatusHistory records each status with its time and the transaction.
	StatusHistory []StateChange `json:"status_history,omitempty"`
}

// Standing is a region's status in the consortium (RegionPending,
// RegionActive, RegionSuspended) with the history of its statuses. The
// standings of all regions are one record, apart from the regions' own
// records, which RequestRegion and the votes write and nothing else: a
// vote reads nothing its subject writes, so a region writing its own
// record in every block cannot make the votes on it fail (on Fabric, a
// read conflict at commit).
type Standing struct {
	Status  string        `json:"status"`
	History []StateChange `json:"history"`
}

// membership is the record of every region's Standing, by region code.
type membership struct {
	Regions map[string]Standing `json:"regions"`
}

// API is the base URL of the region's node, its "api" endpoint without a
// trailing slash, or "" when it registers none.
func (r Region) API() string {
	for _, e := range r.Endpoints {
		if e.Type == "api" {
			return strings.TrimSuffix(e.URL, "/")
		}
	}
	return ""
}

// Hosts returns the hosts of the region's DID and endpoint URLs (IDHost),
// without repeats: an issuer ID on one of them is the region's to write,
// and no other region's DID or endpoint may be on one.
func (r Region) Hosts() []string {
	var hosts []string
	for _, id := range append([]string{r.DID}, endpointURLs(r.Endpoints)...) {
		if h, ok := IDHost(id); ok && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func endpointURLs(eps []Endpoint) []string {
	urls := make([]string, len(eps))
	for i, e := range eps {
		urls[i] = e.URL
	}
	return urls
}

// IDHost returns the host an identifier's documents are fetched from: a
// did:web's (its first segment, percent-decoded) or an http(s) URL's, in
// lower case, without a trailing dot or the scheme's default port, an IP
// address and a port in their one canonical spelling (canonicalPort).
// False for any other identifier, for a port over 65535, and for a host
// name that is not ASCII (an internationalized name must be written as
// its A-label, the name a resolver fetches).
func IDHost(id string) (string, bool) {
	if rest, ok := strings.CutPrefix(id, "did:web:"); ok {
		seg, _, _ := strings.Cut(rest, ":")
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", false
		}
		id = "https://" + dec + "/" // as a did:web resolver builds the URL
	} else if !hasPrefixFold(id, "https://") && !hasPrefixFold(id, "http://") {
		return "", false
	}
	u, err := url.Parse(id)
	if err != nil || u.Hostname() == "" {
		return "", false
	}
	host, port := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), u.Port()
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			// An internationalized name (percent-encoded in the ID) is
			// fetched as its A-label: only that spelling is taken.
			return "", false
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().String() // one spelling of each address
	}
	port, ok := canonicalPort(u.Scheme, port)
	if !ok {
		return "", false
	}
	if port == "" {
		return host, true
	}
	return net.JoinHostPort(host, port), true
}

// canonicalPort returns a URL's port in its one spelling: decimal
// without leading zeros (a client dials "0443" as 443), or "" for none
// and for the scheme's default. False for a port that is not a number
// up to 65535.
func canonicalPort(scheme, port string) (string, bool) {
	if port == "" {
		return "", true
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", false
	}
	if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
		return "", true
	}
	return strconv.FormatUint(n, 10), true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// RegistryKey is a signing key of a region or an issuer, with its full
// history.
type RegistryKey struct {
	Kid     string        `json:"kid"`
	Alg     string        `json:"alg"`
	JWK     gm.JWK        `json:"jwk"`
	State   string        `json:"state"`
	History []StateChange `json:"history"`
}

// StateChange is one entry of a history.
type StateChange struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
	Tx    string    `json:"tx"`
}

// Endpoint is a service a region publishes, e.g. {"type":"api","url":...}.
type Endpoint struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Proposal is an open consortium change awaiting votes.
type Proposal struct {
	Action  string    `json:"action"` // admit, suspend, reinstate
	Region  string    `json:"region"`
	Votes   []string  `json:"votes"` // region codes, in voting order
	Created time.Time `json:"created"`
}

// Consortium actions.
const (
	ActionAdmit     = "admit"
	ActionSuspend   = "suspend"
	ActionReinstate = "reinstate"
)

// Issuer is a credential issuer accredited by a region: the credential
// types it may issue (W3C type names, or SD-JWT VC vct values) and its
// signing keys with their history. PutIssuer takes the whole record; of
// each key it reads the JWK and the state (empty: unchanged, or active for
// a new key) and sets Kid, Alg and History itself. Keys are never removed,
// only moved along the key states (active → retiring → retired, or
// revoked), so what an issuer signed stays attributable.
type Issuer struct {
	ID      string        `json:"id"` // a DID or an https URL
	Region  string        `json:"region"`
	Name    string        `json:"name,omitempty"`
	Types   []string      `json:"types"`
	Keys    []RegistryKey `json:"keys"`
	Status  string        `json:"status"`
	Created time.Time     `json:"created"`
	Updated time.Time     `json:"updated"`
}

// VerifyingKey returns the issuer's key kid when it may verify: active or
// retiring (a retired or revoked key verifies nothing).
func (x Issuer) VerifyingKey(kid string) (RegistryKey, bool) {
	for _, k := range x.Keys {
		if k.Kid == kid && (k.State == KeyActive || k.State == KeyRetiring) {
			return k, true
		}
	}
	return RegistryKey{}, false
}

// EnrollmentTypes are the credential types only a region's own
// enrollment issues (its node's DID and base URL, listed in the region's
// record): no Issuer may be accredited for them.
var EnrollmentTypes = []string{"IdentityCredential", "DeviceBindingCredential"}

// IsEnrollmentType reports whether t names an enrollment type anywhere: the
// name itself, or a URI (an SD-JWT VC vct) whose last path or URN segment
// is one, whatever its host, port, query or escaping
// (https://any.example:443/vct/IdentityCredential/?x). No one may be
// accredited for such a type; only a region's enrollment issues it, under
// its own node's URL.
func IsEnrollmentType(t string) bool {
	if i := strings.IndexAny(t, "?#"); i >= 0 {
		t = t[:i]
	}
	if u, err := url.PathUnescape(t); err == nil {
		t = u
	}
	// Dot segments resolved as RFC 3986 does (…/IdentityCredential/. and
	// …/IdentityCredential/x/.. name it too), trailing slashes dropped.
	if i := strings.Index(t, "://"); i >= 0 {
		t = t[:i+3] + strings.TrimPrefix(pathpkg.Clean("/"+t[i+3:]), "/")
	}
	t = strings.TrimRight(t, "/")
	t = t[strings.LastIndexAny(t, "/:")+1:]
	for _, e := range EnrollmentTypes {
		if t == e {
			return true
		}
	}
	return false
}

// RelyingParty is the on-chain record of an auth.Client (the node's type
// for a relying party, a service that verifies TrustID tokens and
// credentials): everything every instance of every region needs to
// authenticate and serve it — client ID, name, home region, keys with
// their history, grant types, token endpoint authentication, sector,
// redirect URIs (public OpenID Connect metadata), scopes, claims, status.
// Never its client secret: a client_secret_basic client carries only
// SecretVerifier, a salted HMAC-SM3 of a 256-bit random secret, from which
// the secret cannot be recovered. Written with ledger.Client's
// AddRelyingParty (a new ID) and PutRelyingParty. (redeem.RelyingParty is
// the QR redemption view of the same party.)
type RelyingParty struct {
	ClientID   string `json:"client_id"`
	Name       string `json:"name,omitempty"`
	HomeRegion string `json:"home_region"`
	// JWKS holds the keys that verify the party's assertions now. A write
	// names the whole current set; the contract keeps Keys.
	JWKS gm.JWKS `json:"jwks"`
	// Keys is every key the party ever registered, with its history, kept
	// by the contract: a key in JWKS is active; one dropped from JWKS is
	// retired and may never return. Ignored on input.
	Keys []RegistryKey `json:"keys"`
	// GrantTypes (GrantTypes) and AuthMethod (AuthMethods); empty on input
	// means client_credentials and private_key_jwt.
	GrantTypes []string `json:"grant_types"`
	AuthMethod string   `json:"token_endpoint_auth_method"`
	// SecretVerifier is "hmac-sm3$salt$mac" for client_secret_basic, else
	// empty.
	SecretVerifier         string   `json:"secret_verifier,omitempty"`
	SectorIdentifier       string   `json:"sector_identifier,omitempty"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	// Resources are the URIs of the party's own APIs (RFC 8707 resource
	// indicators), for which its region's node issues tokens that name
	// the API alone: at most 8 absolute https URLs (http on loopback)
	// without user info, query or fragment, each registered by no other
	// party of any region, none a region's DID or endpoint URL, none on a
	// host another region claims (claimResources).
	Resources []string `json:"resources,omitempty"`
	// ResourcesSince holds, for each of Resources (the same index), when
	// the party took it: the time of the transaction that claimed it
	// while no party held it (Claim.Since), kept while the party holds
	// it. Introspection shows the party only the tokens for the API asked
	// since (auth.Client.ResourcesSince). The zero time is a resource
	// taken under a contract older than the time; empty when the party
	// holds no resource with a time (a suspended party holds none). Set
	// by the contract; ignored on input. A list, not a map by URI, to
	// keep the largest record within 115 KB (TestRecordSizes).
	ResourcesSince []time.Time `json:"resources_since,omitempty"`
	// IDTokenAlg is the JWS algorithm of the party's ID tokens (SM2 or
	// ES256); empty means SM2.
	IDTokenAlg string `json:"id_token_signed_response_alg,omitempty"`
	// AccessTokenAlg is the JWS algorithm of the party's access tokens
	// (SM2 or ES256); empty means SM2.
	AccessTokenAlg string `json:"access_token_signed_response_alg,omitempty"`
	// Scopes are among Scopes.
	Scopes []string `json:"scopes"`
	Claims []string `json:"claims"`
	// Status is EntryActive or EntrySuspended (a disabled client).
	Status string `json:"status"`
	// Version counts the writes of the record (1 when added). A write
	// that names a version other than the stored one is refused with
	// ErrStale, so concurrent read-modify-writes lose nothing; version 0
	// writes unconditionally.
	Version uint64    `json:"version"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Token endpoint authentication methods and grant types a relying party
// may be registered with (the same names as package auth's).
const (
	AuthPrivateKeyJWT      = "private_key_jwt"
	AuthClientSecretBasic  = "client_secret_basic"
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)

// Scopes are the scopes a relying party may be registered for: every
// scope a node grants (package auth's Scopes, checked by a test) and
// openid for OpenID Connect login. A write naming another scope is
// refused with ErrUnknownScope.
var Scopes = []string{"credentials:issue", "status:write", "qr:redeem", "identity:enroll", "registry:admin", "presentation:request", "openid"}

// AuthMethods and GrantTypes list the values a record may hold.
var (
	AuthMethods = []string{AuthPrivateKeyJWT, AuthClientSecretBasic}
	GrantTypes  = []string{GrantClientCredentials, GrantAuthorizationCode}
)

// Kinds of pairwise sectors (identity.SectorKind).
const (
	// SectorKindIdentifier: a registered sector identifier, a lower-case
	// DNS host name.
	SectorKindIdentifier = "sector_identifier"
	// SectorKindClientID: a client ID, the sector of a relying party that
	// registered no sector identifier.
	SectorKindClientID = "client_id"
)

// SectorClaim asks that a relying party of the caller's region hold a
// pairwise sector.
type SectorClaim struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	ClientID string `json:"client_id"`
}

// Sector is a pairwise sector held by one relying party. Pairwise IDs are
// derived from a sector's kind and name, so the contract lets no two
// relying parties of the consortium hold one: the first claim wins, and
// a claim of a sector another party holds is refused (ErrExists).
type Sector struct {
	Kind     string    `json:"kind"`
	Name     string    `json:"name"`
	ClientID string    `json:"client_id"`
	Region   string    `json:"region"`
	Created  time.Time `json:"created"`
}

// TerminalRevoked is the final status of a terminal whose key is no
// longer trusted; besides it a terminal is EntryActive or EntrySuspended.
// A revoked terminal cannot be written again, so its ID is never reused.
const TerminalRevoked = "revoked"

// Terminal is an accredited verification terminal (counter, kiosk, gate)
// whose key signs enrollment attestations. Region is the owning region
// (the writer's); Location is the GB/T 2260 code where it is installed,
// such as 310104, inside the owning region. Its key cannot change: a new key is a new terminal.
type Terminal struct {
	ID       string    `json:"id"`
	Region   string    `json:"region"`
	Kind     string    `json:"kind"`
	Name     string    `json:"name,omitempty"`
	Location string    `json:"location,omitempty"`
	Key      gm.JWK    `json:"key"`
	Status   string    `json:"status"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// StatusHead is the anchored head of one status list: its version and the
// SM3 digest (hex) of its encoded form. A verifier that fetched the list
// compares ListDigest(fetched) with Digest.
type StatusHead struct {
	Region  string    `json:"region"`
	List    string    `json:"list"`
	Version uint64    `json:"version"`
	Digest  string    `json:"digest"`
	Updated time.Time `json:"updated"`
	Tx      string    `json:"tx"`
}

// Batch is an anchored batch of status changes. Changes holds the compact
// records (EncodeChanges, base64url without padding) whose Merkle root is
// Root.
type Batch struct {
	ID      string    `json:"id"`
	Region  string    `json:"region"`
	Root    string    `json:"root"`
	Count   int       `json:"count"`
	Lists   []string  `json:"lists"`
	Changes string    `json:"changes"`
	Time    time.Time `json:"time"`
	Tx      string    `json:"tx"`
}

// AuditAnchor is the head of one node's hash-chained audit log.
type AuditAnchor struct {
	Region string    `json:"region"`
	Node   string    `json:"node"`
	Seq    uint64    `json:"seq"`
	Head   string    `json:"head"` // hex SM3 of the log entry at Seq
	Time   time.Time `json:"time"`
	Tx     string    `json:"tx"`
	// Pruned is the node's last record that it deleted the oldest
	// segments of its log, through Pruned.Seq (zero: none recorded). A log
	// that begins past Pruned.Seq+1 lost segments the node never pruned.
	Pruned AuditPrune `json:"pruned,omitzero"`
}

// AuditPrune records that a node deleted the sealed segments of its
// audit log through entry Seq (for --audit-retention): Head is that
// entry's hash, which the prev of the oldest entry left must be, and
// From and To are the times of the first and last entries deleted with
// it. Sequence numbers, a digest and times only: nothing personal.
type AuditPrune struct {
	Seq  uint64    `json:"seq"`
	Head string    `json:"head"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// ListDigest returns the digest a StatusHead holds for an encoded status
// list: hex SM3 of the bytes as served.
func ListDigest(encoded []byte) string {
	d := gm.SM3(encoded)
	return fmt.Sprintf("%x", d[:])
}

// maxArg bounds one JSON argument.
const maxArg = 4 << 20

// decodeArg decodes one JSON argument into v strictly (see package
// strictjson: at most maxArg bytes, exact member names, no unknown or
// repeated keys, no trailing data).
func decodeArg(data []byte, v any) error {
	if err := strictjson.Decode(data, v, maxArg); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

var (
	reID     = regexp.MustCompile(`^[\x21-\x7e]{1,256}$`)
	reName   = regexp.MustCompile(`^[^\x00-\x1f\x7f-\x{9f}]{0,128}$`) // no C0 or C1 control (Unicode Cc)
	reToken  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)
	reHex256 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reMSP    = regexp.MustCompile(`^Region([0-9]{6})MSP$`)
	// reHost is a lower-case DNS host name (at most 253 bytes, checked
	// apart); reClientID a client ID (auth.ValidClientID).
	reHost     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	reClientID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$`)
)

// provinces are the GB/T 2260 province-level prefixes.
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true,
}

// ValidRegionCode reports whether code is a GB/T 2260 province-level code
// such as 310000.
func ValidRegionCode(code string) bool {
	return len(code) == 6 && code[2:] == "0000" && provinces[code[:2]]
}

// InRegion reports whether the GB/T 2260 code lies in the province-level
// region (310104 in 310000).
func InRegion(code, region string) bool {
	return ValidRegionCode(region) && len(code) == 6 && code[:2] == region[:2]
}

// RegionMSP returns the MSP ID of region code's organization.
func RegionMSP(code string) string { return "Region" + code + "MSP" }

// RegionOfMSP returns the region whose organization has MSP ID mspID.
func RegionOfMSP(mspID string) (string, error) {
	m := reMSP.FindStringSubmatch(mspID)
	if m == nil || !ValidRegionCode(m[1]) {
		return "", fmt.Errorf("%w: %.64q", ErrUnknownCaller, mspID)
	}
	return m[1], nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

func checkID(what, s string) error {
	if !reID.MatchString(s) {
		return invalid("%s must be 1-256 printable ASCII characters without spaces", what)
	}
	return nil
}

func checkName(s string) error {
	if !reName.MatchString(s) {
		return invalid("name must be at most 128 characters without control characters")
	}
	return nil
}

func checkTokens(what string, list []string, max int) error {
	if len(list) > max {
		return invalid("at most %d %s", max, what)
	}
	seen := map[string]bool{}
	for _, s := range list {
		if !reToken.MatchString(s) {
			return invalid("%s %.64q: want letters, digits and ._:/- (at most 128)", what, s)
		}
		if seen[s] {
			return invalid("%s %q repeated", what, s)
		}
		seen[s] = true
	}
	return nil
}

// reDID is the did rule of DID Core §3.1: a method name of lower-case
// letters and digits, then a method-specific ID of idchars (ALPHA, DIGIT,
// ".", "-", "_", pct-encoded) in ":"-separated segments, the last not
// empty. A DID URL (path, query, fragment) is not a DID.
var reDID = regexp.MustCompile(`^did:[a-z0-9]+:(?:(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*:)*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})+$`)

func checkDID(did string) error {
	if !reDID.MatchString(did) || !reID.MatchString(did) {
		return invalid("did must be a DID (did:method:id, DID Core §3.1)")
	}
	if _, ok := IDHost(did); strings.HasPrefix(did, "did:web:") && !ok {
		return invalid("a did:web DID must name an ASCII host (an internationalized name as its A-label) and a port up to 65535")
	}
	return nil
}

func checkEndpoints(eps []Endpoint) error {
	if len(eps) > 16 {
		return invalid("at most 16 endpoints")
	}
	seen := map[string]bool{}
	for _, e := range eps {
		if !reToken.MatchString(e.Type) {
			return invalid("endpoint type %.64q", e.Type)
		}
		if seen[e.Type] {
			return invalid("endpoint type %q repeated", e.Type)
		}
		seen[e.Type] = true
		u, err := BaseURL(e.URL)
		// IDHost: the host (ASCII) and port its region claims.
		if _, hosted := IDHost(e.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || !hosted || len(e.URL) > 512 {
			return invalid("endpoint %q: want an http(s) base URL (scheme://host[:port][/path], no credentials, query or fragment) with an ASCII host and a port up to 65535", e.Type)
		}
	}
	return nil
}

// ErrNotBaseURL: a region's endpoint URL that is not a base URL.
var ErrNotBaseURL = errors.New("chaincode: not a base URL (scheme://host[:port][/path])")

// BaseURL parses s, a region's endpoint URL, which must be a base URL:
// scheme://host[:port][/path] with nothing else, no credentials and not
// even an empty query or fragment ("?", "#"), which would turn the path a
// node appends into a query, or drop it. The contract takes no other
// endpoint, and a node calls no other (federation.CheckEndpoint, which
// also checks the scheme in the node's mode). Errors match ErrNotBaseURL.
func BaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" || u.User != nil || u.Opaque != "" || strings.ContainsAny(s, "?#") {
		return nil, ErrNotBaseURL
	}
	return u, nil
}

// checkJWK validates a public signing key and returns its algorithm.
// Errors match ErrMalformedKey.
func checkJWK(j gm.JWK) (string, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrMalformedKey}, a...)...)
	}
	if !reID.MatchString(j.Kid) {
		return "", bad("kid must be 1-256 printable ASCII characters without spaces")
	}
	pub, err := j.PublicKey()
	if err != nil {
		return "", bad("key %q: %v", j.Kid, err)
	}
	alg, err := gm.Alg(pub)
	if err != nil {
		return "", bad("key %q: %v", j.Kid, err)
	}
	if j.Alg != "" && j.Alg != alg {
		return "", bad("key %q: alg %q does not match the key (%s)", j.Kid, j.Alg, alg)
	}
	return alg, nil
}

func checkEntryStatus(s string) error {
	if s != EntryActive && s != EntrySuspended {
		return invalid("status must be %q or %q", EntryActive, EntrySuspended)
	}
	return nil
}

// check validates a claim: a known kind, a name of that kind (a host of at
// most 253 bytes, or a client ID) and the claiming client's ID.
func (in *SectorClaim) check() error {
	switch in.Kind {
	case SectorKindIdentifier:
		if len(in.Name) > 253 || !reHost.MatchString(in.Name) {
			return invalid("a sector identifier must be a lower-case DNS host name")
		}
	case SectorKindClientID:
		if !reClientID.MatchString(in.Name) {
			return invalid("a client ID sector must be a client ID")
		}
		if in.Name != in.ClientID {
			return invalid("a client ID sector is held by that client only")
		}
	default:
		return invalid("sector kind must be %s or %s", SectorKindIdentifier, SectorKindClientID)
	}
	if !reClientID.MatchString(in.ClientID) {
		return invalid("client_id must be 3 to 64 characters from A-Z a-z 0-9 . _ -")
	}
	return nil
}
