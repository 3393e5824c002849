package main

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vp"
	"github.com/trustid-cn/trustid/store"
)

// mountOID4VP returns the mount function of the OpenID for Verifiable
// Presentations verifier: relying parties in the ledger's client registry
// open transactions; the node signs their request objects with its active
// ES256 key (which every wallet verifies) and checks presentations with the
// credential verifier mountCredentials made.
func mountOID4VP(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(srv *api.Server, n *node) error {
		spec, _ := cmd.Flags().GetString("oid4vp-rate-client")
		clientLimit, err := api.ParseRateLimit("", spec)
		if err != nil {
			return fmt.Errorf("--oid4vp-rate-client: %w", err)
		}
		nl, anchored := ledgerOf(n)
		if !anchored || n.credVerifier == nil {
			return errors.New("oid4vp: needs the ledger's client registry and the credential verifier")
		}
		// The active ES256 key as the keystore has it at each request
		// object: after a rotation and SIGHUP, the new one.
		key := func() (crypto.Signer, string, error) {
			k, err := n.keys.Active(gm.AlgES256)
			if err != nil {
				return nil, "", fmt.Errorf("the node needs an active ES256 key: %w", err)
			}
			return k.Signer, k.Kid, nil
		}
		sec, err := nodeSecret(n.keys, oid4vpSecret)
		if err != nil {
			return fmt.Errorf("oid4vp: %w", err)
		}
		v, err := oid4vp.New(oid4vp.Config{BaseURL: n.issuer, Key: key, Secret: sec.Value(),
			Store: n.store, NotFound: func(err error) bool { return errors.Is(err, store.ErrNotFound) },
			Clients: oid4vp.RegistryClients{Store: nl.Clients}, Verifier: n.credVerifier})
		if err != nil {
			return err
		}
		return srv.MountOID4VP(api.OID4VPConfig{Verifier: v, Limiter: n.store, ClientLimit: &clientLimit})
	}
}
