package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
)

// keyRank orders key states; a key on the region record only moves up.
var keyRank = map[string]int{
	chaincode.KeyActive: 0, chaincode.KeyRetiring: 1, chaincode.KeyRetired: 2, chaincode.KeyRevoked: 3,
}

// recordState is the registry state of a keystore state.
var recordState = map[string]string{
	keystore.StateActive: chaincode.KeyActive, keystore.StateRetiring: chaincode.KeyRetiring, keystore.StateRetired: chaincode.KeyRetired,
}

// syncRegionKeys brings the node's region record on the ledger up to its
// keystore: a published key missing from the record is added
// (AddRegionKey), and a key the keystore has moved on (retiring, retired)
// gets that state on the record (SetRegionKeyState), so other regions
// verify what the node signs with its new keys and refuse its retired
// ones. States only move forward; a key on the record that this keystore
// does not hold is left alone; a region not active is skipped (a pending
// one's keys are published once it is admitted, by ensureRegion). It runs
// at start and after a keystore reload (SIGHUP, after `trustid keys rotate`).
func syncRegionKeys(ctx context.Context, c ledger.Client, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	r, err := c.Region(ctx, n.region)
	if err != nil {
		return err
	}
	if r.Status != chaincode.RegionActive {
		// The contract refuses the writes of a region not active; a
		// suspended region's keys are refused everywhere anyway.
		n.log.Warn("region is not active on the ledger; node keys not published", slog.String("status", r.Status))
		return nil
	}
	onRecord := make(map[string]string, len(r.Keys))
	for _, k := range r.Keys {
		onRecord[k.Kid] = k.State
	}
	for _, k := range n.keys.Keys() {
		state, ok := onRecord[k.Kid]
		if !ok {
			if k.State == keystore.StateRetired {
				continue // never published there; nothing to withdraw
			}
			j, err := gm.NewJWK(k.Public, k.Kid)
			if err != nil {
				return fmt.Errorf("key %s: %w", k.Kid, err)
			}
			// ErrExists: another instance of the region added it first.
			if _, err := c.AddRegionKey(ctx, j); err != nil && !errors.Is(err, chaincode.ErrExists) {
				return fmt.Errorf("add key %s to region %s: %w", k.Kid, n.region, err)
			}
			n.log.Info("node key published on the ledger", slog.String("kid", k.Kid), slog.String("alg", k.Alg))
			state = chaincode.KeyActive
		}
		want := recordState[k.State]
		if want == "" || keyRank[want] <= keyRank[state] {
			continue
		}
		// ErrKeyTransition: another instance moved it on first.
		if _, err := c.SetRegionKeyState(ctx, k.Kid, want); err != nil && !errors.Is(err, chaincode.ErrKeyTransition) {
			return fmt.Errorf("mark key %s %s on region %s: %w", k.Kid, want, n.region, err)
		}
		n.log.Info("node key state published on the ledger", slog.String("kid", k.Kid), slog.String("state", want))
	}
	return nil
}

// checkKeysNotRetired refuses a keystore whose active key the region's
// record on the ledger holds retired or revoked: a copy older than the
// region's (restored from a backup taken before a rotation and the
// retirement of the old key) would sign what the region's other
// instances and other regions refuse. A ledger that cannot answer now
// is not waited for.
func checkKeysNotRetired(ctx context.Context, c ledger.Client, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := c.Region(ctx, n.region)
	if err != nil {
		return nil
	}
	onRecord := make(map[string]string, len(r.Keys))
	for _, k := range r.Keys {
		onRecord[k.Kid] = k.State
	}
	path := filepath.Join(n.dataDir, keystoreFile)
	for _, k := range n.keys.Keys() {
		if state := onRecord[k.Kid]; k.State == keystore.StateActive && keyRank[state] >= keyRank[chaincode.KeyRetired] {
			return fmt.Errorf("keystore %s signs with %s key %s, which region %s's record on the ledger holds %s: this keystore is older than the region's (restored from a copy taken before the key was rotated and retired?), and what it signed would be refused. Copy the region's current %s from another instance into %s, or restore the latest copy of it (docs/operations.md, \"Backups\")",
				path, k.Alg, k.Kid, n.region, state, keystoreFile, n.dataDir)
		}
	}
	return nil
}
