package credentials

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/regionkey"
)

// Who may issue what. Every credential names its issuer, and a verifier
// accepts it only when the trust registry on the ledger accredits that
// issuer for the credential's type:
//
//   - a region's node (its did:web and base URL, as listed in the region's
//     record) is the enrollment issuer: it alone issues the enrollment
//     types (chaincode.EnrollmentTypes: IdentityCredential,
//     DeviceBindingCredential), the assuranceLevel claim and subjects in
//     the urn:trustid:subject: namespace, and nothing else;
//   - every other issuer is an Issuer record of the registry, active, of
//     an active region, and issues only the types its record lists. A
//     relying party that issues through a node is such an issuer, under
//     its own DID (ClientIssuerDID), with keys the node holds for it.
//
// The verifier reads the registry from its local copy (the ledger view),
// offline.

// Names reserved to enrollment.
const (
	TypeDeviceBindingCredential = "DeviceBindingCredential"
	// ClaimAssuranceLevel is the subject claim holding the assurance level.
	ClaimAssuranceLevel = "assuranceLevel"
	// SubjectNamespace prefixes the subject IDs that enrollment derives.
	SubjectNamespace = "urn:trustid:subject:"
)

// Accreditation errors. At issue, ErrReservedType, ErrReservedClaim and
// ErrReservedSubject say which rule a request broke; at verification every
// refusal is ErrNotAccredited.
var (
	ErrNotAccredited   = errors.New("credentials: issuer not accredited for this credential")
	ErrReservedType    = errors.New("credentials: credential type issued by enrollment only")
	ErrReservedClaim   = errors.New("credentials: claim set by enrollment only")
	ErrReservedSubject = errors.New("credentials: subject namespace named by enrollment only")
)

// IssuerRegistry is the trust registry a node or verifier reads: its local
// copy of the ledger (*ledger.View). Lookups never wait for the chain;
// Ready is false until the copy has been loaded once.
type IssuerRegistry interface {
	Ready() bool
	Issuer(id string) (chaincode.Issuer, bool)
	Region(code string) (chaincode.Region, bool)
	// IssuerRegion returns the active region whose record names issuer as
	// its DID or as an endpoint URL.
	IssuerRegion(issuer string) (string, bool)
	// SuspendedIssuerRegion returns the suspended region whose record
	// names issuer so.
	SuspendedIssuerRegion(issuer string) (string, bool)
	// OtherRegionOnHost returns a region other than region, of any
	// status, whose record names a DID or an endpoint URL on the host of
	// id (chaincode.IDHost). An issuer record there passes for an issuer
	// that region's node hosts, which the contract lets only that region
	// write: one written before it checked is not trusted.
	OtherRegionOnHost(id, region string) (string, bool)
	// IDHost returns chaincode.IDHost(id), parsed once for the issuer
	// records in the registry.
	IDHost(id string) (string, bool)
}

// Accreditation is what the registry says of one issuer.
type Accreditation struct {
	Issuer string
	// Enrollment is set for a region's own node: the only issuer of the
	// enrollment types, the assuranceLevel claim and urn:trustid:subject:
	// subjects.
	Enrollment bool
	// Types are the other types the issuer may issue: W3C type names, or
	// SD-JWT VC vct values.
	Types []string
	// Any accredits every type (AnyIssuer only).
	Any bool
	// StatusDID and StatusURL name the issuer of the status lists its
	// credentials point into: its region's node, by DID (Bitstring Status
	// Lists of vc+jwt) and base URL (Token Status Lists of SD-JWT VC).
	// Empty: the issuer itself.
	StatusDID, StatusURL string
	// VCTBase is the base URL of the node the issuer issues through: a
	// vct TypeVCT(VCTBase, T) stands for the type name T (and is
	// accredited, or reserved, as T is). Empty: vct values are taken as
	// they are.
	VCTBase string
}

// IssuerTrust answers, offline, what an issuer is accredited for. It
// returns an error matching ErrNotAccredited for an issuer the registry
// does not accredit, and ErrResolve when it cannot tell yet (a registry
// copy not loaded). Safe for concurrent use.
type IssuerTrust interface {
	Accreditation(issuer string) (Accreditation, error)
}

// RegistryTrust reads accreditations from the trust registry. Local, when
// set, is the node itself: its DID and base URL are an enrollment issuer
// without asking the registry (a node trusts its own enrollment while its
// region's record is still on its way to the ledger). With a nil Registry
// only Local is accredited.
type RegistryTrust struct {
	Local    *LocalIssuer
	Registry IssuerRegistry
}

var _ IssuerTrust = (*RegistryTrust)(nil)

// Accreditation implements IssuerTrust.
func (t *RegistryTrust) Accreditation(issuer string) (Accreditation, error) {
	if t.Local != nil && issuer != "" && (issuer == t.Local.DID || issuer == t.Local.BaseURL) {
		return Accreditation{Issuer: issuer, Enrollment: true, VCTBase: t.Local.BaseURL}, nil
	}
	if t.Registry == nil {
		return Accreditation{}, fmt.Errorf("%w: %s is not this node", ErrNotAccredited, truncate(issuer))
	}
	if !t.Registry.Ready() {
		return Accreditation{}, fmt.Errorf("%w: the trust registry is not loaded yet", ErrResolve)
	}
	if code, ok := t.Registry.IssuerRegion(issuer); ok {
		region, _ := t.Registry.Region(code)
		return Accreditation{Issuer: issuer, Enrollment: true, VCTBase: region.API()}, nil
	}
	if code, ok := t.Registry.SuspendedIssuerRegion(issuer); ok {
		return Accreditation{}, fmt.Errorf("%w: %w: %s is the node of region %s", ErrNotAccredited, ErrRegionSuspended, truncate(issuer), code)
	}
	rec, ok := t.Registry.Issuer(issuer)
	if !ok {
		return Accreditation{}, fmt.Errorf("%w: %s is not in the trust registry", ErrNotAccredited, truncate(issuer))
	}
	if rec.Status != chaincode.EntryActive {
		return Accreditation{}, fmt.Errorf("%w: %s is %s in the trust registry", ErrNotAccredited, truncate(issuer), rec.Status)
	}
	if code, ok := t.Registry.OtherRegionOnHost(rec.ID, rec.Region); ok {
		return Accreditation{}, fmt.Errorf("%w: %s is a record of region %s on the host of region %s", ErrNotAccredited, truncate(issuer), rec.Region, code)
	}
	region, ok := t.Registry.Region(rec.Region)
	if ok && region.Status == chaincode.RegionSuspended {
		return Accreditation{}, fmt.Errorf("%w: %w: the region %s of %s", ErrNotAccredited, ErrRegionSuspended, rec.Region, truncate(issuer))
	}
	if !ok || region.Status != chaincode.RegionActive {
		return Accreditation{}, fmt.Errorf("%w: the region of %s is not active", ErrNotAccredited, truncate(issuer))
	}
	a := Accreditation{Issuer: issuer, StatusDID: region.DID, StatusURL: region.API()}
	a.VCTBase = a.StatusURL
	for _, typ := range rec.Types {
		if !slices.Contains(chaincode.EnrollmentTypes, typ) {
			a.Types = append(a.Types, typ)
		}
	}
	return a, nil
}

// AnyIssuer accredits every issuer for every type. It is for the verifier
// of status list credentials (whose issuer is then compared with the
// credential's own) and for tests of other checks; a verifier of the
// credentials relying parties present needs the registry (RegistryTrust).
type AnyIssuer struct{}

// Accreditation implements IssuerTrust.
func (AnyIssuer) Accreditation(issuer string) (Accreditation, error) {
	return Accreditation{Issuer: issuer, Enrollment: true, Any: true}, nil
}

// statusIssuer is whose lists hold entries of the issuer's credentials:
// token selects the base URL (Token Status Lists), else the DID.
func (a Accreditation) statusIssuer(token bool) string {
	switch {
	case token && a.StatusURL != "":
		return a.StatusURL
	case !token && a.StatusDID != "":
		return a.StatusDID
	}
	return a.Issuer
}

// Allows checks a credential against the accreditation: its types
// (VerifiableCredential aside; an SD-JWT VC's vct, a vct under VCTBase
// standing for its type name), its subject IDs and its subjects' claims.
// Only an enrollment issuer may use what reserved names; every other type
// must be listed; an enrollment issuer's enrollment types only by name
// or under its own VCTBase (another node's identity vct is not its to
// issue). Errors match ErrNotAccredited
// (and the reserved-name error that applies).
func (a Accreditation) Allows(types, subjectIDs []string, claims []map[string]any) error {
	cloned := false // types is the caller's: copied before its first change
	for i, t := range types {
		if name, ok := VCTType(a.VCTBase, t); ok {
			if !cloned {
				types, cloned = slices.Clone(types), true
			}
			types[i] = name
		}
	}
	if !a.Enrollment {
		if err := EnrollmentOnly(types, subjectIDs, claims); err != nil {
			return fmt.Errorf("%w: %w", ErrNotAccredited, err)
		}
	}
	for _, t := range types {
		if t != TypeCredential && !slices.Contains(chaincode.EnrollmentTypes, t) && !a.Any && !slices.Contains(a.Types, t) {
			return fmt.Errorf("%w: %s is not accredited for %s", ErrNotAccredited, truncate(a.Issuer), truncate(t))
		}
	}
	return nil
}

// EnrollmentOnly finds what only enrollment issues in a credential: the
// enrollment types (ErrReservedType), urn:trustid:subject: subject IDs
// (ErrReservedSubject), the assuranceLevel claim (ErrReservedClaim).
func EnrollmentOnly(types, subjectIDs []string, claims []map[string]any) error {
	for _, t := range types {
		if isEnrollmentType(t) {
			return fmt.Errorf("%w: %s", ErrReservedType, truncate(t))
		}
	}
	for _, id := range subjectIDs {
		if strings.HasPrefix(id, SubjectNamespace) {
			return fmt.Errorf("%w: %s…", ErrReservedSubject, SubjectNamespace)
		}
	}
	for _, c := range claims {
		if _, ok := c[ClaimAssuranceLevel]; ok {
			return fmt.Errorf("%w: %s", ErrReservedClaim, ClaimAssuranceLevel)
		}
	}
	return nil
}

// isEnrollmentType is chaincode.IsEnrollmentType, answered without its
// unescaping and path cleaning (~1k instructions) for a plain type name,
// as most are: one without '%', '?', '#', '/' or ':' is compared as it
// is (FuzzIsEnrollmentType holds the two together). The bytes are
// tested against a mask of the five: strings.ContainsAny built its set
// of them on every call.
func isEnrollmentType(t string) bool {
	const unplain uint64 = 1<<'%' | 1<<'?' | 1<<'#' | 1<<'/' | 1<<':'
	for i := range len(t) {
		if c := t[i]; c < 64 && unplain>>c&1 != 0 {
			return chaincode.IsEnrollmentType(t)
		}
	}
	return slices.Contains(chaincode.EnrollmentTypes, t)
}

// SubjectIDs returns the string ids of subjects, as their JSON members
// "id" (a Data Integrity credential's are the ids its proof signs once it
// passed jsonld.CheckCompacted, as the verifier makes it).
func SubjectIDs(subjects []map[string]any) []string {
	var ids []string
	for _, s := range subjects {
		if id, ok := s["id"].(string); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// RegistryResolver resolves, offline, the keys of an active region's node
// (the issuer its record names as DID or endpoint) from the region's
// record, so a credential of another region verifies without calling it,
// and the keys of the other issuers in the trust registry from their
// records (active and retiring keys), the regions first. A region key the
// registry marks retired or revoked is refused, and so is every key of a
// suspended region's node (ErrRegionSuspended), and of an issuer record
// on another region's host; none of them is resolved elsewhere either. A
// kid the region's record does not list, and any other issuer (a holder's
// DID), go to Next. The kid is the record's kid, alone or as a DID URL of
// the issuer.
type RegistryResolver struct {
	Registry IssuerRegistry
	Next     KeyResolver
	// Trust, when set, is asked before Next resolves an issuer's key (the
	// assertion relationship): an issuer it does not accredit is refused
	// with its error (ErrNotAccredited) and Next is not called, so an
	// issuer the verification would refuse anyway cannot make the node
	// fetch its did:web document. A holder's key (authentication), and a
	// did:key or did:jwk, parsed from the identifier with nothing fetched,
	// are resolved whatever Trust says.
	Trust IssuerTrust

	keys regionkey.Cache // the regions' parsed keys
	// issuerKeys are the accredited issuers' parsed keys: a verification
	// looks the key up in the registry (active or retiring) each time,
	// and only its parsing (the JWK, Z_A of an SM2 key) is done once.
	issuerKeys regionkey.Cache
}

var _ PurposeResolver = (*RegistryResolver)(nil)

// ResolveKey implements KeyResolver.
func (r *RegistryResolver) ResolveKey(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	return r.ResolveKeyFor(ctx, issuer, kid, RelationshipAssertion)
}

// ResolveKeyFor implements PurposeResolver. A registry key of a DID (an
// accredited issuer's, a region's) serves both relationships, as the DID
// documents the node publishes for them list each key in both; any other
// goes to Next (through resolveFor: for authentication, a PurposeResolver
// Next, or a did:key or did:jwk).
func (r *RegistryResolver) ResolveKeyFor(ctx context.Context, issuer, kid, relationship string) (crypto.PublicKey, error) {
	pub, _, err := r.resolveKeyFor(ctx, issuer, kid, relationship)
	return pub, err
}

// resolveKeyFor is ResolveKeyFor, and says whether the key is the
// registry's, which a Verifier does not cache: a retirement or a
// revocation there applies at once.
func (r *RegistryResolver) resolveKeyFor(ctx context.Context, issuer, kid, relationship string) (pub crypto.PublicKey, inRegistry bool, err error) {
	if relationship != RelationshipAssertion && relationship != RelationshipAuthentication {
		return nil, false, fmt.Errorf("%w: verification relationship %.40q", ErrUnsupported, relationship)
	}
	id, frag, err := splitKid(issuer, kid)
	if err != nil {
		return nil, false, err
	}
	if relationship == RelationshipAuthentication && !strings.HasPrefix(id, "did:") && !urlMethod(kid) && !(strings.HasPrefix(kid, "#") && urlMethod(issuer+kid)) {
		return nil, false, fmt.Errorf("%w: an %s key must be a DID URL or a controller document's URL", ErrUnknownKey, relationship)
	}
	if pub, found, err := r.fromRegistry(id, frag); found {
		return pub, true, err
	}
	if r.Next == nil {
		return nil, false, fmt.Errorf("%w: %s is not in the trust registry", ErrUnknownKey, truncate(id))
	}
	if r.Trust != nil && relationship == RelationshipAssertion && !selfResolving(id) {
		if _, err := r.Trust.Accreditation(id); err != nil {
			return nil, false, err
		}
	}
	pub, err = resolveFor(ctx, r.Next, issuer, kid, relationship)
	return pub, false, err
}

// splitKid returns the identifier whose key kid names and the key's own
// kid (the fragment of a DID URL, or kid itself).
func splitKid(issuer, kid string) (id, frag string, err error) {
	id, frag = issuer, kid
	if d, f, ok := strings.Cut(kid, "#"); ok {
		if d != "" && issuer != "" && d != issuer {
			return "", "", fmt.Errorf("%w: kid is controlled by another DID than the issuer", ErrIssuerMismatch)
		}
		if d != "" {
			id = d
		}
		frag = f
	}
	return id, frag, nil
}

// fromRegistry answers from the registry alone: found is true when id is
// an active region's node listing kid frag, a suspended region's node, or
// a registry issuer; err then says why its key does not verify. The
// regions come first, so an issuer record named as a node (written before
// the contract refused it) is never taken for it, and an issuer record on
// another region's host is refused (OtherRegionOnHost). A region's key is looked
// up as every region key is (internal/regionkey), parsed once.
func (r *RegistryResolver) fromRegistry(id, frag string) (pub crypto.PublicKey, found bool, err error) {
	if r.Registry == nil || id == "" {
		return nil, false, nil
	}
	code, ok := r.Registry.IssuerRegion(id)
	if !ok {
		if code, ok := r.Registry.SuspendedIssuerRegion(id); ok {
			return nil, true, fmt.Errorf("%w: %s is the node of region %s", ErrRegionSuspended, truncate(id), code)
		}
		return r.fromIssuer(id, frag)
	}
	reg, _ := r.Registry.Region(code)
	k, err := regionkey.Find(reg, regionkey.Kid(frag))
	if errors.Is(err, regionkey.ErrUnknownKey) {
		return nil, false, nil // perhaps rotated since: Next may know it
	}
	if err != nil {
		return nil, true, fmt.Errorf("key %s in the trust registry: %w", truncate(frag), regionkey.Wrap(err, ErrRegionSuspended, ErrUnknownKey, ErrUnknownKey))
	}
	if pub, err = r.keys.PublicKey(code, k); err != nil {
		return nil, true, fmt.Errorf("%w: %w", ErrResolve, err)
	}
	return pub, true, nil
}

// fromIssuer is fromRegistry for an id no region's record names.
func (r *RegistryResolver) fromIssuer(id, frag string) (pub crypto.PublicKey, found bool, err error) {
	rec, ok := r.Registry.Issuer(id)
	if !ok {
		return nil, false, nil
	}
	if _, ok := r.Registry.IDHost(rec.ID); !ok {
		// Never written by the contract today: a did:key's or did:jwk's
		// key is the one its identifier carries, not a record's.
		return nil, true, fmt.Errorf("%w: %s is a registry record of an identifier with no host", ErrUnknownKey, truncate(id))
	}
	if code, ok := r.Registry.OtherRegionOnHost(rec.ID, rec.Region); ok {
		return nil, true, fmt.Errorf("%w: %s is a record of region %s on the host of region %s", ErrUnknownKey, truncate(id), rec.Region, code)
	}
	k, ok := rec.VerifyingKey(frag)
	if !ok {
		return nil, true, fmt.Errorf("%w: the registry lists no verifying key %s of %s", ErrUnknownKey, truncate(frag), truncate(id))
	}
	// rec.ID (the registry's string, equal to id) names the key: the
	// cache keeps it, and id may be cut from a credential.
	if pub, err = r.issuerKeys.Parse(rec.ID, k); err != nil {
		return nil, true, fmt.Errorf("%w: %v", ErrResolve, err)
	}
	return pub, true, nil
}

// clientIDRE is what a client ID may be in an issuer DID: a did:web path
// segment (auth client IDs are 3-64 of these).
var clientIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ClientIssuerDID is the issuer identifier of a relying party that issues
// through the node with DID nodeDID: did:web:<node>:issuers:<client>,
// whose DID document the node serves at /issuers/<client>/did.json.
func ClientIssuerDID(nodeDID, clientID string) (string, error) {
	if !clientIDRE.MatchString(clientID) || clientID == "." || clientID == ".." {
		return "", fmt.Errorf("%w: client ID %q cannot name an issuer", ErrInvalid, truncate(clientID))
	}
	return nodeDID + ":issuers:" + clientID, nil
}

// typeRE bounds an accredited type as the registry does (W3C type names
// and vct URIs).
var typeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)

// CheckAccreditableTypes checks the types an issuer is to be accredited
// for: 1 to 64 distinct names or vct URIs, none of them an enrollment
// type (ErrReservedType) or a type every credential or status list has.
func CheckAccreditableTypes(types []string) error {
	if len(types) == 0 || len(types) > 64 {
		return fmt.Errorf("%w: accredit 1 to 64 credential types", ErrInvalid)
	}
	for i, t := range types {
		switch {
		case chaincode.IsEnrollmentType(t):
			return fmt.Errorf("%w: %s", ErrReservedType, truncate(t))
		case t == TypeCredential || t == TypeBitstringStatusListCredential:
			return fmt.Errorf("%w: %s is not a credential type one is accredited for", ErrInvalid, t)
		case !typeRE.MatchString(t):
			return fmt.Errorf("%w: credential type %q: want letters, digits and ._:/- (at most 128)", ErrInvalid, truncate(t))
		case slices.Contains(types[:i], t):
			return fmt.Errorf("%w: credential type %s repeated", ErrInvalid, t)
		}
	}
	return nil
}
