package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// mountLogin returns the mount function of user login (OpenID Connect):
// relying parties from the client registry, holders authenticated by
// their QR binding against the node's keys (and its region's record for a
// key another instance made) and current status lists,
// pairwise subjects from the national pairwise key, sectors claimed on the
// ledger, counter terminals from the terminal registry (both on the ledger). It is mounted after mountAuth and mountCredentials.
func mountLogin(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(s *api.Server, n *node) error {
		if n.statusLists == nil {
			return errors.New("login: the credential status lists are not mounted")
		}
		subjects, err := newBindingSubjects(n)
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
		// Relying parties and counter terminals are the registry on the
		// ledger, read from the node's view.
		nl, ok := ledgerOf(n)
		if !ok {
			return errors.New("login: the relying-party registry is on the ledger; no ledger is mounted")
		}
		region, err := qrcode.ParseRegion(n.region)
		if err != nil {
			return err
		}
		instances := instancesOf(n, s)
		status := &enrollment.ListStatus{Region: region, Lists: n.statusLists}
		v, err := qrcode.NewVerifier(qrcode.VerifierConfig{Keys: qrNodeKeys{n.keys}, KeysGeneration: n.keys.Generation, Region: region, Instances: instances,
			Status: status})
		if err != nil {
			return err
		}
		ttl, _ := cmd.Flags().GetDuration("login-session-ttl")
		codeTTL, _ := cmd.Flags().GetDuration("login-code-ttl")
		cfg := login.Config{SessionTTL: ttl, CodeTTL: codeTTL, Terminals: nl.Terminals, StaticCodes: v, Delegations: v,
			Issuer: n.issuer, Clients: nl.Clients, Pairwise: subjects, Keys: n.keys, Instances: instances, Store: n.store,
			Holders: &redeem.BindingAuthenticator{Verifier: v, Nonces: n.store, Region: n.region}, Status: status,
		}
		if n.pinChecker != nil {
			cfg.PINs, cfg.StaticPINs = n.pinChecker, n.pinChecker
		}
		if sectors := sectorsOf(n); sectors != nil {
			cfg.Sectors = sectors
		}
		p, err := login.New(cfg)
		if err != nil {
			return err
		}
		addrSpec, _ := cmd.Flags().GetString("login-rate-addr")
		limit, err := api.ParseRateLimit("login-addr", addrSpec)
		if err != nil {
			return fmt.Errorf("--login-rate-addr: %w", err)
		}
		if err := s.MountLogin(api.LoginConfig{Provider: p, Limiter: n.store, AddrLimit: limit}); err != nil {
			return err
		}
		n.loginProvider = p
		n.log.Info("user login ready", slog.Duration("session_ttl", p.SessionTTL()), slog.String("rate_addr", limit.String()))
		return nil
	}
}
