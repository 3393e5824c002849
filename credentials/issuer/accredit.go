package issuer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
)

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
	OwnerKeys(owner string) []keystore.Key
	OwnerActive(owner, alg string) (keystore.Key, error)
}

var _ OwnerKeySource = (*keystore.Store)(nil)

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
		return chaincode.Issuer{}, fmt.Errorf("%w: this node has no trust registry to accredit in", credentials.ErrUnsupported)
	}
	did, err := credentials.ClientIssuerDID(is.did, req.Client)
	if err != nil {
		return chaincode.Issuer{}, err
	}
	if err := credentials.CheckAccreditableTypes(req.Types); err != nil {
		return chaincode.Issuer{}, err
	}
	var (
		stored chaincode.Issuer
		found  bool
	)
	if is.cfg.Registry != nil {
		stored, found = is.cfg.Registry.Issuer(did)
	}
	// Keys are made on the first accreditation only: another instance of
	// the region accredited this issuer if the record has keys this
	// keystore (a copy from before) lacks, and the record keeps them.
	keys := is.cfg.IssuerKeys.OwnerKeys(did)
	if !found || len(stored.Keys) == 0 || len(keys) > 0 {
		var err error
		if keys, err = is.cfg.IssuerKeys.EnsureOwnerKeys(did); err != nil {
			return chaincode.Issuer{}, err
		}
	}
	rec := chaincode.Issuer{ID: did, Name: req.Name, Types: slices.Clone(req.Types), Status: chaincode.EntryActive}
	if req.Suspended {
		rec.Status = chaincode.EntrySuspended
	}
	states := map[string]string{keystore.StateActive: chaincode.KeyActive, keystore.StateRetiring: chaincode.KeyRetiring, keystore.StateRetired: chaincode.KeyRetired}
	held := map[string]bool{}
	for _, k := range keys {
		j, err := k.JWK()
		if err != nil {
			return chaincode.Issuer{}, err
		}
		held[j.Kid] = true
		rec.Keys = append(rec.Keys, chaincode.RegistryKey{JWK: j, State: keyState(stored, j.Kid, states[k.State])})
	}
	// A key of the record this keystore does not hold is written back as
	// stored: the record never drops a key.
	for _, k := range stored.Keys {
		if !held[k.Kid] {
			rec.Keys = append(rec.Keys, chaincode.RegistryKey{JWK: k.JWK})
		}
	}
	out, err := is.cfg.Registrar.PutIssuer(ctx, rec)
	if errors.Is(err, chaincode.ErrInvalid) || errors.Is(err, chaincode.ErrForbidden) {
		// A refusal of the record (another region's host, say), not an
		// outage.
		return chaincode.Issuer{}, fmt.Errorf("%w: %w", credentials.ErrInvalid, err)
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

// keyOrder ranks key states in the only order they move in.
var keyOrder = map[string]int{chaincode.KeyActive: 0, chaincode.KeyRetiring: 1, chaincode.KeyRetired: 2, chaincode.KeyRevoked: 3}

// keyState is the state to write for key kid of the stored record: the
// keystore's state when it moves the key on, else "" (kept as stored).
// The chain may be ahead of the keystore (a key revoked there by hand,
// or retired by another instance first), and the contract never moves a
// key back.
func keyState(stored chaincode.Issuer, kid, state string) string {
	for _, k := range stored.Keys {
		if k.Kid == kid && keyOrder[state] <= keyOrder[k.State] {
			return ""
		}
	}
	return state
}

// ClientIssuer returns the registry record of a client's issuer DID (as
// the node's registry copy has it), or ErrNotFound, also for a record of
// another region than the node's (Config.Region): one written before the
// contract refused it would put that region's keys in a DID document
// under this node's host.
func (is *Issuer) ClientIssuer(clientID string) (chaincode.Issuer, error) {
	did, err := credentials.ClientIssuerDID(is.did, clientID)
	if err != nil || is.cfg.Registry == nil {
		return chaincode.Issuer{}, fmt.Errorf("%w: no such issuer", credentials.ErrNotFound)
	}
	rec, ok := is.cfg.Registry.Issuer(did)
	if !ok {
		return chaincode.Issuer{}, fmt.Errorf("%w: no such issuer", credentials.ErrNotFound)
	}
	if rec.Region != is.cfg.Region {
		return chaincode.Issuer{}, fmt.Errorf("%w: %s is a record of region %s, not this node's", credentials.ErrNotFound, did, rec.Region)
	}
	return rec, nil
}

// ClientIssuerDocument returns the DID document of a client's issuer DID
// (served at /issuers/<client>/did.json): its verifying keys (active and
// retiring) as the registry lists them, so verifiers without a registry
// copy resolve the same keys. ErrNotFound for a client not accredited.
func (is *Issuer) ClientIssuerDocument(clientID string) (credentials.DIDDocument, error) {
	rec, err := is.ClientIssuer(clientID)
	if err != nil {
		return credentials.DIDDocument{}, err
	}
	var jwks []gm.JWK
	for _, k := range rec.Keys {
		if _, ok := rec.VerifyingKey(k.Kid); ok {
			jwks = append(jwks, k.JWK)
		}
	}
	return credentials.NewDIDDocument(rec.ID, jwks), nil
}
