package credentials

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
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
}

// IssuerRegistrar writes issuer records to the trust registry
// (ledger.Client): PutIssuer returns once the record is committed.
type IssuerRegistrar interface {
	PutIssuer(ctx context.Context, in chaincode.Issuer) (chaincode.Issuer, error)
}

// OwnerKeySource holds the signing keys of the issuers a node signs for
// (*keystore.Store): created on first accreditation, kept with their
// states. Safe for concurrent use.
type OwnerKeySource interface {
	EnsureOwnerKeys(owner string) ([]keystore.Key, error)
	OwnerActive(owner, alg string) (keystore.Key, error)
}

var _ OwnerKeySource = (*keystore.Store)(nil)

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
		return Accreditation{Issuer: issuer, Enrollment: true}, nil
	}
	if t.Registry == nil {
		return Accreditation{}, fmt.Errorf("%w: %s is not this node", ErrNotAccredited, truncate(issuer))
	}
	if !t.Registry.Ready() {
		return Accreditation{}, fmt.Errorf("%w: the trust registry is not loaded yet", ErrResolve)
	}
	if _, ok := t.Registry.IssuerRegion(issuer); ok {
		return Accreditation{Issuer: issuer, Enrollment: true}, nil
	}
	rec, ok := t.Registry.Issuer(issuer)
	if !ok {
		return Accreditation{}, fmt.Errorf("%w: %s is not in the trust registry", ErrNotAccredited, truncate(issuer))
	}
	if rec.Status != chaincode.EntryActive {
		return Accreditation{}, fmt.Errorf("%w: %s is %s in the trust registry", ErrNotAccredited, truncate(issuer), rec.Status)
	}
	region, ok := t.Registry.Region(rec.Region)
	if !ok || region.Status != chaincode.RegionActive {
		return Accreditation{}, fmt.Errorf("%w: the region of %s is not active", ErrNotAccredited, truncate(issuer))
	}
	a := Accreditation{Issuer: issuer, StatusDID: region.DID}
	for _, e := range region.Endpoints {
		if e.Type == "api" {
			a.StatusURL = strings.TrimSuffix(e.URL, "/")
		}
	}
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
// (VerifiableCredential aside; an SD-JWT VC's vct), its subject IDs and
// its subjects' claims. Only an enrollment issuer may use what reserved
// names; every other type must be listed. Errors match ErrNotAccredited
// (and the reserved-name error that applies).
func (a Accreditation) Allows(types, subjectIDs []string, claims []map[string]any) error {
	if !a.Enrollment {
		if err := enrollmentOnly(types, subjectIDs, claims); err != nil {
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

// enrollmentOnly finds what only enrollment issues in a credential: the
// enrollment types (ErrReservedType), urn:trustid:subject: subject IDs
// (ErrReservedSubject), the assuranceLevel claim (ErrReservedClaim).
func enrollmentOnly(types, subjectIDs []string, claims []map[string]any) error {
	for _, t := range types {
		if slices.Contains(chaincode.EnrollmentTypes, t) {
			return fmt.Errorf("%w: %s", ErrReservedType, t)
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

// subjectIDs returns the string ids of subjects.
func subjectIDs(subjects []map[string]any) []string {
	var ids []string
	for _, s := range subjects {
		if id, ok := s["id"].(string); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// RegistryResolver resolves the keys of the issuers in the trust registry
// from their records (active and retiring keys), offline; any other
// issuer (a region's node, a holder's DID) goes to Next. The kid is the
// record's kid, alone or as a DID URL of the issuer.
type RegistryResolver struct {
	Registry IssuerRegistry
	Next     KeyResolver
}

var _ KeyResolver = (*RegistryResolver)(nil)

// ResolveKey implements KeyResolver.
func (r *RegistryResolver) ResolveKey(ctx context.Context, issuer, kid string) (crypto.PublicKey, error) {
	id, frag := issuer, kid
	if d, f, ok := strings.Cut(kid, "#"); ok {
		if d != "" && issuer != "" && d != issuer {
			return nil, fmt.Errorf("%w: kid is controlled by another DID than the issuer", ErrIssuerMismatch)
		}
		if d != "" {
			id = d
		}
		frag = f
	}
	if r.Registry != nil && id != "" {
		if rec, ok := r.Registry.Issuer(id); ok {
			k, ok := rec.VerifyingKey(frag)
			if !ok {
				return nil, fmt.Errorf("%w: the registry lists no verifying key %s of %s", ErrUnknownKey, truncate(frag), truncate(id))
			}
			pub, err := k.JWK.PublicKey()
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrResolve, err)
			}
			return pub, nil
		}
	}
	if r.Next == nil {
		return nil, fmt.Errorf("%w: %s is not in the trust registry", ErrUnknownKey, truncate(id))
	}
	return r.Next.ResolveKey(ctx, issuer, kid)
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
		case slices.Contains(chaincode.EnrollmentTypes, t):
			return fmt.Errorf("%w: %s", ErrReservedType, t)
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

// ErrRegistryUnavailable: the trust registry could not be written (the
// ledger is down, or the node's region may not write: not admitted or
// suspended).
var ErrRegistryUnavailable = errors.New("credentials: the trust registry cannot be written")

// AccreditRequest is what an operator accredits a client for.
type AccreditRequest struct {
	// Client is the client's OAuth client ID; its issuer DID is
	// ClientIssuerDID of the node's DID.
	Client string
	// Name is shown in the registry (the client's name).
	Name string
	// Types replace the types it was accredited for (CheckAccreditableTypes).
	Types []string
	// Suspended writes the record suspended: its credentials stop
	// verifying everywhere, and it issues nothing, until accredited again.
	Suspended bool
}

// accreditWait bounds how long Accredit waits for the registry copy to
// show the record it wrote.
const accreditWait = 5 * time.Second

// Accredit writes a client's issuer record to the trust registry: its
// issuer DID, the types, and its signing keys with their states (made in
// IssuerKeys on first accreditation, SM2, ES256 and EdDSA). It returns the
// committed record once the node's registry copy shows it (or after
// accreditWait), so IssueAsClient can follow at once. Errors: ErrInvalid
// (a client ID, name or type), ErrReservedType, ErrRegistryUnavailable.
func (is *Issuer) Accredit(ctx context.Context, req AccreditRequest) (chaincode.Issuer, error) {
	if is.cfg.Registrar == nil {
		return chaincode.Issuer{}, fmt.Errorf("%w: this node has no trust registry to accredit in", ErrUnsupported)
	}
	did, err := ClientIssuerDID(is.did, req.Client)
	if err != nil {
		return chaincode.Issuer{}, err
	}
	if err := CheckAccreditableTypes(req.Types); err != nil {
		return chaincode.Issuer{}, err
	}
	keys, err := is.cfg.IssuerKeys.EnsureOwnerKeys(did)
	if err != nil {
		return chaincode.Issuer{}, err
	}
	rec := chaincode.Issuer{ID: did, Name: req.Name, Types: slices.Clone(req.Types), Status: chaincode.EntryActive}
	if req.Suspended {
		rec.Status = chaincode.EntrySuspended
	}
	states := map[string]string{keystore.StateActive: chaincode.KeyActive, keystore.StateRetiring: chaincode.KeyRetiring, keystore.StateRetired: chaincode.KeyRetired}
	for _, k := range keys {
		j, err := k.JWK()
		if err != nil {
			return chaincode.Issuer{}, err
		}
		rec.Keys = append(rec.Keys, chaincode.RegistryKey{JWK: j, State: states[k.State]})
	}
	out, err := is.cfg.Registrar.PutIssuer(ctx, rec)
	if errors.Is(err, chaincode.ErrInvalid) {
		return chaincode.Issuer{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err != nil {
		return chaincode.Issuer{}, fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
	}
	deadline := time.NewTimer(accreditWait)
	defer deadline.Stop()
	for {
		if got, ok := is.cfg.Registry.Issuer(did); ok && got.Updated.Equal(out.Updated) {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return out, nil
		case <-deadline.C:
			return out, nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ClientIssuer returns the registry record of a client's issuer DID (as
// the node's registry copy has it), or ErrNotFound.
func (is *Issuer) ClientIssuer(clientID string) (chaincode.Issuer, error) {
	did, err := ClientIssuerDID(is.did, clientID)
	if err != nil || is.cfg.Registry == nil {
		return chaincode.Issuer{}, fmt.Errorf("%w: no such issuer", ErrNotFound)
	}
	rec, ok := is.cfg.Registry.Issuer(did)
	if !ok {
		return chaincode.Issuer{}, fmt.Errorf("%w: no such issuer", ErrNotFound)
	}
	return rec, nil
}

// ClientIssuerDocument returns the DID document of a client's issuer DID
// (served at /issuers/<client>/did.json): its verifying keys (active and
// retiring) as the registry lists them, so verifiers without a registry
// copy resolve the same keys. ErrNotFound for a client not accredited.
func (is *Issuer) ClientIssuerDocument(clientID string) (DIDDocument, error) {
	rec, err := is.ClientIssuer(clientID)
	if err != nil {
		return DIDDocument{}, err
	}
	var jwks []gm.JWK
	for _, k := range rec.Keys {
		if _, ok := rec.VerifyingKey(k.Kid); ok {
			jwks = append(jwks, k.JWK)
		}
	}
	return didDocument(rec.ID, jwks), nil
}
