package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
)

// clientsFile is the relying-party registry in the data directory.
const clientsFile = "clients.json"

// Defaults of the token endpoint's rate limits (per source address, and
// per authenticated client), shared by introspection and revocation.
const (
	defaultTokenRateAddr   = "300/1m"
	defaultTokenRateClient = "60/1m"
)

// addAuthFlags adds service-authentication settings to `trustid serve`.
func addAuthFlags(f *pflag.FlagSet) {
	f.Duration("access-token-ttl", auth.DefaultTokenTTL, "lifetime of access tokens (1m to 24h)")
	f.String("token-rate-addr", defaultTokenRateAddr, "rate limit of /oauth2/{token,introspect,revoke} per source address: N/WINDOW, or 0 for none")
	f.String("token-rate-client", defaultTokenRateClient, "rate limit of /oauth2/{token,introspect,revoke} per authenticated client: N/WINDOW, or 0 for none")
	f.Int("token-cache-size", auth.DefaultCacheSize, "validated access tokens cached in memory (negative: no cache)")
}

// mountAuth returns the mount function of service authentication: the
// client registry (clients.json in the data directory, re-read when its
// modification time changes, checked at most once a second), the OAuth
// endpoints, the admin endpoints and the Bearer authorizer of every
// protected route.
func mountAuth(cmd *cobra.Command) func(*api.Server, *node) error {
	return func(srv *api.Server, n *node) error {
		f := cmd.Flags()
		ttl, _ := f.GetDuration("access-token-ttl")
		cacheSize, _ := f.GetInt("token-cache-size")
		addrSpec, _ := f.GetString("token-rate-addr")
		clientSpec, _ := f.GetString("token-rate-client")
		addrLimit, err := api.ParseRateLimit("oauth-addr", addrSpec)
		if err != nil {
			return fmt.Errorf("--token-rate-addr: %w", err)
		}
		clientLimit, err := api.ParseRateLimit("oauth-client", clientSpec)
		if err != nil {
			return fmt.Errorf("--token-rate-client: %w", err)
		}
		path := filepath.Join(n.dataDir, clientsFile)
		var svc atomic.Pointer[auth.Service]
		clients, err := auth.OpenFileStore(path, auth.FileStoreOptions{
			OnReloadError: func(err error) {
				n.log.Error("client registry reload failed; keeping the clients in memory", slog.Any("error", err))
			},
			OnChange: func() {
				if s := svc.Load(); s != nil {
					s.ClientsChanged()
				}
			},
		})
		if err != nil {
			return err
		}
		s, err := auth.New(auth.Config{
			Issuer: n.issuer, Keys: n.keys, Clients: clients, Store: n.store,
			TokenTTL: ttl, CacheSize: cacheSize,
		})
		if err != nil {
			return fmt.Errorf("service authentication: %w", err)
		}
		svc.Store(s)
		if err := srv.MountOAuth(api.OAuthConfig{Auth: s, Limiter: n.store, AddrLimit: addrLimit, ClientLimit: clientLimit}); err != nil {
			return err
		}
		if err := srv.MountClients(api.ClientsConfig{Store: clients, Region: n.region, Sectors: sectorsOf(n)}); err != nil {
			return err
		}
		n.log.Info("service authentication ready", slog.String("clients", path),
			slog.Duration("access_token_ttl", s.TokenTTL()),
			slog.String("rate_addr", addrLimit.String()), slog.String("rate_client", clientLimit.String()))
		return nil
	}
}

// openClients opens the registry for the `trustid clients` commands.
func openClients(cmd *cobra.Command) (*auth.FileStore, error) {
	return auth.OpenFileStore(filepath.Join(dataDir(cmd), clientsFile), auth.FileStoreOptions{ReloadInterval: -1})
}

// nowUTC is the CLI's clock.
func nowUTC() time.Time { return time.Now().UTC() }
