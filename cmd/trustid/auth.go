package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/progress"
	"github.com/trustid-cn/trustid/internal/retrylog"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/registry"
)

// clientsFile is where an older node kept the relying-party registry in
// the data directory; a node imports it into the ledger once.
const clientsFile = "clients.json"

// Defaults of the token endpoint's rate limits (per source address, and
// per authenticated client), shared by introspection and revocation.
const (
	defaultTokenRateAddr   = "300/1m"
	defaultTokenRateClient = "60/1m"
)

// addAuthFlags adds service-authentication settings to `trustid serve`.
func addAuthFlags(f *pflag.FlagSet) {
	addDurationFlag(f, "access-token-ttl", auth.DefaultTokenTTL, auth.MinTokenTTL, auth.MaxTokenTTL, "1m to 24h", "lifetime of access tokens (1m to 24h)")
	addRateFlag(f, "token-rate-addr", defaultTokenRateAddr, "rate limit of /oauth2/{token,introspect,revoke} per source address: N/WINDOW, or 0 for none")
	addRateFlag(f, "token-rate-client", defaultTokenRateClient, "rate limit of /oauth2/{token,introspect,revoke} per authenticated client: N/WINDOW, or 0 for none")
	f.Int("token-cache-size", auth.DefaultCacheSize, "validated access tokens cached in memory (negative: no cache)")
}

// mountAuth returns the mount function of service authentication: the
// client registry on the ledger (read from the node's ledger view, written
// as the region), the OAuth endpoints, the admin endpoints and the Bearer
// authorizer of every protected route. A clients.json left in the data
// directory by an older node is imported once (migrateClients).
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
		nl, ok := ledgerOf(n)
		if !ok {
			return errors.New("service authentication needs the ledger (the client registry is on it)")
		}
		clients := nl.Clients
		peerIntro, peerAuth, err := peerIntrospectionOf(n, srv, cmd)
		if err != nil {
			return fmt.Errorf("service authentication: %w", err)
		}
		s, err := auth.New(auth.Config{
			Issuer: n.issuer, Keys: n.keys, Clients: clients, Visitors: nl.AllClients, Store: n.store,
			TokenTTL: ttl, CacheSize: cacheSize, Federation: tokensOf(n, srv), Instances: instancesOf(n, srv), Peers: peerIntro,
		})
		if err != nil {
			return fmt.Errorf("service authentication: %w", err)
		}
		// A registry event (a client disabled on any instance) makes every
		// cached token check its client again.
		nl.onRegistry(s.ClientsChanged)
		oc := api.OAuthConfig{Auth: s, Limiter: n.store, AddrLimit: addrLimit, ClientLimit: clientLimit}
		if peerAuth != nil {
			oc.Peers, oc.PeerAnswers, oc.PeerLimit, oc.OnPeerRefuse = peerAuth, peerAuth, api.DefaultPeerIntrospectLimit, refusalsOf(n, srv)
		}
		if err := srv.MountOAuth(oc); err != nil {
			return err
		}
		if err := srv.MountClients(api.ClientsConfig{Store: clients, Region: n.region, Sectors: sectorsOf(n), Registry: viewCounts{nl.View}}); err != nil {
			return err
		}
		ctx := cmd.Context()
		n.background.Add(1)
		go func() {
			defer n.background.Done()
			migrate(ctx, n, nl, filepath.Join(n.dataDir, clientsFile), "clients", wallClock, func(ctx context.Context, path string) (int, int, error) {
				return importClients(ctx, clients, path, nil)
			})
		}()
		n.log.Info("service authentication ready", slog.String("clients", "ledger"),
			slog.Duration("access_token_ttl", s.TokenTTL()),
			slog.String("rate_addr", addrLimit.String()), slog.String("rate_client", clientLimit.String()))
		return nil
	}
}

// cliClients is the registry as the `trustid clients` commands use it:
// read from and written to the ledger directly (no view).
type cliClients struct {
	*registry.Clients
	l ledger.Ledger
}

func (c cliClients) Close() error { return c.l.Close() }

// openClients opens the registry for the `trustid clients` commands.
func openClients(cmd *cobra.Command) (cliClients, error) {
	region, _ := cmd.Flags().GetString("region")
	l, err := openRegistryLedger(cmd, region)
	if err != nil {
		return cliClients{}, err
	}
	return cliClients{registry.NewClients(ledger.Client{L: l}, nil), l}, nil
}

// importClients registers every client of a clients.json file that the
// registry does not hold yet, and counts those added and those kept. A
// client the registry refuses for good (one a file of an older version
// holds under wider limits) does not stop the others: they are
// registered, and the error (errImportRefused) names each one refused.
// When done is not nil, it holds how many clients of the file's total
// have been handled, for a progress line.
func importClients(ctx context.Context, store auth.ClientStore, path string, done *importProgress) (added, kept int, err error) {
	data, err := readLimitedFile(path, 16<<20)
	if err != nil {
		return 0, 0, err
	}
	cs, refused, err := auth.ParseClientsFileEach(data)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	total := len(cs) + len(refused)
	if done != nil {
		done.total.Store(int64(total))
		done.done.Add(int64(len(refused)))
	}
	for _, c := range cs {
		switch err := store.Create(ctx, c); {
		case errors.Is(err, auth.ErrClientExists):
			kept++
		case errors.Is(err, auth.ErrInvalidClientMetadata):
			refused = append(refused, fmt.Errorf("client_id %q: %w", c.ID, err))
		case err != nil:
			return added, kept, fmt.Errorf("%s: client %s: %w", path, c.ID, err)
		default:
			added++
		}
		if done != nil {
			done.done.Add(1)
		}
	}
	if len(refused) > 0 {
		return added, kept, fmt.Errorf("%w: %d of the %d clients of %s (the others are registered); correct them in the file and import it again: %w",
			errImportRefused, len(refused), total, path, errors.Join(refused...))
	}
	return added, kept, nil
}

// errImportRefused is a registry file's import that registered what it
// could and was refused the rest for good: retrying changes nothing
// until the file is corrected.
var errImportRefused = errors.New("the registry refused")

// importProgress counts an import's clients handled and its total.
type importProgress struct{ done, total atomic.Int64 }

// start draws the import's progress line on w (internal/progress: only
// on a terminal, or with o.Terminal) until the line is stopped.
func (p *importProgress) start(w io.Writer, o progress.Options) *progress.Line {
	o.Unit = "clients"
	return progress.Start(w, o, func() progress.Status {
		s := progress.Status{Done: p.done.Load(), Fraction: -1}
		if t := p.total.Load(); t > 0 {
			s.Fraction = float64(s.Done) / float64(t)
		}
		return s
	})
}

// migrate imports a registry file an older node kept in the data
// directory (clients.json, terminals.json) into the ledger once, as soon
// as the view shows the region active (retrying every 5 s after a
// failure), then renames the file
// to FILE.imported so it is not read again. A failure that repeats (a
// ledger that does not answer) is logged rarely (retrylog); clk is the
// clock of the retries. Nothing is lost if the node
// stops midway: the import skips what is registered. An import the
// registry refused in part for good (errImportRefused) is logged once as
// an error naming what it refused, and the file is left as it is, to be
// corrected and imported again (at the next start, or `trustid clients
// import`).
func migrate(ctx context.Context, n *node, nl *nodeLedger, path, what string, clk retryClock, imp func(context.Context, string) (int, int, error)) {
	if _, err := os.Stat(path); err != nil {
		return
	}
	failed := retrylog.Log{Now: clk.now}
	for {
		wait := 100 * time.Millisecond // until the view shows the region active
		if r, ok := nl.View.Region(n.region); ok && r.Status == chaincode.RegionActive {
			wait = 5 * time.Second
			added, kept, err := imp(ctx, path)
			if err == nil {
				if err := os.Rename(path, path+".imported"); err != nil {
					n.log.Error("registry file imported but not renamed", slog.String("file", path), slog.Any("error", err))
				}
				n.log.Info("imported the "+what+" registry file into the ledger; it is now only an export", slog.String("file", path),
					slog.Int("added", added), slog.Int("already_registered", kept), slog.String("renamed_to", path+".imported"))
				return
			}
			if errors.Is(err, errImportRefused) {
				n.log.Error("the "+what+" registry file was imported in part; it is not renamed", slog.String("file", path),
					slog.Int("added", added), slog.Int("already_registered", kept), slog.Any("error", err))
				return
			}
			failed.Warn(n.log, "importing the "+what+" registry file failed; retrying every 5s", err, slog.String("file", path))
		}
		select {
		case <-ctx.Done():
			return
		case <-clk.after(wait):
		}
	}
}

// nowUTC is the CLI's clock.
func nowUTC() time.Time { return time.Now().UTC() }
