package main

import (
	"log/slog"
	"maps"
	"slices"

	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/keystore"
)

// The keystore's named secrets the node uses. Every instance of a region
// holds the same ones: ensureSecrets makes them all with the keystore
// (`trustid keys list`, the first `trustid serve`), so the copy the other
// instances get has them (docs/operations.md, "Instances").
const (
	// storeKeySecret keys the digests of ephemeral-store keys, so that
	// guessable keys (a source address, a client ID) cannot be recovered
	// from Redis (openStore); oid4vci derives its nonce keys from it.
	storeKeySecret = "store-key"
	// oid4vpSecret derives each OID4VP transaction's response encryption
	// key.
	oid4vpSecret   = "oid4vp-response"
	secretSymbol   = "symbol"   // national: the same on every region node
	secretPairwise = "pairwise" // national
	secretPINMAC   = "pin-mac"  // the region's
	secretPINSeal  = "pin-seal" // the region's; an SM4 key
)

// secretSizes are the node's secrets (the ones above and the status
// lists' credential-ID key) and their sizes in bytes.
var secretSizes = map[string]int{
	storeKeySecret: 32, statuslist.CredentialIDSecret: 32, oid4vpSecret: 32,
	secretSymbol: 32, secretPairwise: 32, secretPINMAC: 32, secretPINSeal: 16,
}

// importedSecrets are the secrets an operator may import (`trustid id
// import-key`, TRUSTID_<NAME>_KEY), keeping every version.
var importedSecrets = []string{secretSymbol, secretPairwise, secretPINMAC, secretPINSeal}

// nodeSecret returns the newest version of the named secret of
// secretSizes, making version 1 when the keystore has none.
func nodeSecret(ks *keystore.Store, name string) (*keystore.Secret, error) {
	return ks.Secret(name, secretSizes[name])
}

// ensureSecrets makes every secret of secretSizes the keystore lacks; an
// imported one after importing the one the environment gives
// (secretVersions, which warns of a node-local national key).
func ensureSecrets(ks *keystore.Store, log *slog.Logger) error {
	for _, name := range slices.Sorted(maps.Keys(secretSizes)) {
		var err error
		if slices.Contains(importedSecrets, name) {
			_, err = secretVersions(ks, log, name)
		} else {
			_, err = nodeSecret(ks, name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
