package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/api"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/internal/heapfloor"
	"github.com/trustid-cn/trustid/internal/linebuf"
	"github.com/trustid-cn/trustid/login"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a region node (embedded defaults: ./data, 127.0.0.1:8080, in-memory store)",
		Args:  cobra.NoArgs,
		RunE:  runServe,
	}
	f := cmd.Flags()
	f.String("addr", "127.0.0.1:8080", "HTTP listen address")
	addCheckedFlag(f, "region", "310000", "this node's region: a GB/T 2260 province-level code", func(s string) error {
		if !validRegion(s) {
			return errors.New("want a six-digit GB/T 2260 province-level code such as 310000")
		}
		return nil
	})
	addCheckedFlag(f, "issuer", "", "public base URL of this node (default http://<addr>)", func(s string) error {
		if _, err := vc.DIDWeb(strings.TrimSuffix(s, "/")); s != "" && err != nil {
			return errors.New("want http(s)://HOST[:PORT][/PATH], without user, query or fragment")
		}
		return nil
	})
	f.String("redis-url", "", "Redis URL for the ephemeral store (empty: in-memory)")
	f.Bool("redis-cluster", false, "--redis-url names a Redis Cluster by its seed nodes: redis://[USER:PASSWORD@]HOST:PORT?addr=HOST2:PORT2&addr=... (rediss:// for TLS; the client learns the other nodes from them)")
	addCheckedFlag(f, "instance", "", "this instance's ID among the region's instances (names the status lists it allocates from; default: made on first start and kept in the data directory)", func(s string) error {
		if s != "" && !status.ValidInstance(s) {
			return errors.New("want 1 to 32 of a-z, 0-9 and '-', not starting with '-'")
		}
		return nil
	})
	addCheckedFlag(f, "trusted-proxies", "", "comma-separated CIDRs of the load balancers in front of the node: only from these peers is the client address for per-address rate limits read from X-Forwarded-For (empty: none, the TCP peer's address)", func(s string) error {
		_, err := api.ParseTrustedProxies(s)
		return err
	})
	f.Duration("shutdown-timeout", 15*time.Second, "how long to drain requests on SIGINT/SIGTERM")
	addIntFlag(f, "gc-heap-floor-mib", 64, 0, 1<<20, "0 (none) to 1048576 MiB", "the garbage collector's heap goal is kept at no less than this many MiB while the live heap is smaller (GOGC governs above it; GOMEMLIMIT still applies): fewer collections under load for at most this much memory (0: GOGC alone)")
	addDurationFlag(f, "access-log-flush", 100*time.Millisecond, 0, forever, "0 or a positive duration", "the access log (one line a request) is buffered and written out at this interval, when 64 KiB fill, and at shutdown; a crash loses at most this interval's lines (0: each line written at once)")
	addAuthFlags(f)
	addLedgerFlags(f)
	addEnrollFlags(f)
	addRateFlag(f, "login-rate-addr", "600/1m", "rate limit of user login's endpoints per source address: N/WINDOW, or 0 for none")
	addDurationFlag(f, "login-session-ttl", login.DefaultSessionTTL, time.Second, 10*time.Minute, "1s to 10m", "how long a login QR waits for the holder's approval (1s to 10m); the page extends it on request, up to 11 times this from the start")
	f.String("wallet-providers", "", `JSON file of the wallet providers whose wallet attestations OID4VCI's PAR and token endpoints take: {"<provider>": {"keys": [JWK, ...], "client_ids": ["<client_id>", ...]}}: each provider attests only its client_ids (empty: none)`)
	f.Bool("require-wallet-attestation", false, "OID4VCI: refuse PAR and token requests without a wallet attestation, and authorization requests not pushed (needs --wallet-providers)")
	addRateFlag(f, "issue-rate-client", api.DefaultIssueLimit.String(), "rate limit of POST /credentials/issue per authenticated client (each issuance takes status entries): N/WINDOW, or 0 for none")
	addRateFlag(f, "status-rate-client", api.DefaultStatusLimit.String(), "rate limit of POST /v1/credentials/{id}/status and POST /v1/enrollments/{id}/status per authenticated client, one budget for both (each change writes a status list, on the ledger): N/WINDOW, or 0 for none")
	addRateFlag(f, "oid4vci-offer-rate-client", api.DefaultOID4VCIOfferLimit.String(), "rate limit of POST /oid4vci/offers per authenticated client (each offer is kept for its life whether or not a wallet takes it): N/WINDOW, or 0 for none")
	addRateFlag(f, "qr-forward-rate-client", api.DefaultQRForwardLimit.String(), "rate limit per authenticated client of the other regions' online codes it redeems at POST /v1/qr/verify, which are forwarded to their nodes (this region's codes and offline codes are not counted; keep it below what other regions grant one party, 1200/1m by default): N/WINDOW, or 0 for none")
	addRateFlag(f, "qr-forward-rate-region", api.DefaultQRForwardRegion.String(), "rate limit per other region of the online codes of that region all clients redeem at POST /v1/qr/verify beyond each one's --qr-forward-rate-floor, which are forwarded to its node (keep it below what other regions grant this one, 3000/1m by default, less the floors of the clients sending at once): N/WINDOW, or 0 for none")
	addRateFlag(f, "qr-forward-rate-floor", api.DefaultQRForwardFloor.String(), "each client's share per other region of the online codes it redeems at POST /v1/qr/verify that is not counted against --qr-forward-rate-region: N/WINDOW, or 0 for none (every code counts against it)")
	addRateFlag(f, "oid4vp-rate-client", api.DefaultOID4VPClientLimit.String(), "rate limit of POST /v1/oid4vp/requests per authenticated client (each transaction is kept for its life whether or not a wallet answers it): N/WINDOW, or 0 for none")
	f.Bool("wallet-attestation-without-challenge", false, "OID4VCI: take wallet attestation PoPs without a server challenge (iat and a single-use jti only), for wallets that cannot fetch one")
	addDurationFlag(f, "login-code-ttl", login.DefaultCodeTTL, time.Second, 10*time.Minute, "1s to 10m", "how long an authorization code of a login can be redeemed (1s to 10m)")
	f.Bool("fetch-related-resources", false, "POST /credentials/verify fetches a credential's related resources (relatedResource) the request does not give, to check their digests: https to public addresses only, no redirects (default: checks only those given in options.trustidRelatedResources)")
	f.StringSlice("controller-document-hosts", nil, "exact hosts (names or IP literals, without port or wildcard) whose https controlled identifier documents (W3C Controlled Identifiers 1.0) the verifier fetches to resolve a verification method that is an https URL (https://host/path#key-1), or * for any host; public addresses only, no redirects (default: none; did:web is always resolved)")
	addUIFlags(f)
	return cmd
}

// maxRequestHead bounds a request's head (request line and header
// fields): a longer one is refused 431 (docs/api.md). net/http reads 4 KiB
// past MaxHeaderBytes ("bufio slop"), so MaxHeaderBytes is set that much
// below it.
const maxRequestHead = 64 << 10

func runServe(cmd *cobra.Command, _ []string) error {
	// SIGHUP's default action ends the process: catch it before start-up
	// begins (a reload sent while the node starts is done once it serves).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log, err := newLogger(cmd)
	if err != nil {
		return err
	}
	f := cmd.Flags()
	addr, _ := f.GetString("addr")
	region, _ := f.GetString("region")
	drain, _ := f.GetDuration("shutdown-timeout")
	floorMiB, _ := f.GetInt("gc-heap-floor-mib")
	defer heapfloor.Start(uint64(floorMiB) << 20).Stop()
	proxiesFlag, _ := f.GetString("trusted-proxies")
	proxies, err := api.ParseTrustedProxies(proxiesFlag)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if len(proxies) > 0 {
		log.Info("client addresses from X-Forwarded-For of trusted proxies", slog.String("trusted_proxies", proxies.String()))
	}
	accessLog, closeAccessLog, err := newAccessLogger(cmd, log)
	if err != nil {
		return err
	}
	defer closeAccessLog()
	log = log.With(slog.String("region", region))
	accessLog = accessLog.With(slog.String("region", region))

	// Listen first, so the default issuer names the real port (--addr :0
	// in tests and demos) and the node's mode is known when preflight
	// checks --peer.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	issuer, _ := f.GetString("issuer")
	if issuer == "" {
		issuer = "http://" + ln.Addr().String()
		if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
			log.Warn("--issuer is not set and the node listens on all interfaces: set --issuer to the public URL clients use", slog.String("issuer", issuer))
		}
	}
	peerDev := federation.DevelopmentMode(issuer, ln.Addr().String())
	if err := preflight(cmd, region, peerDev); err != nil {
		return err
	}
	ks, err := openKeystore(cmd, log)
	if err != nil {
		return err
	}
	if err := ensureSecrets(ks, log); err != nil {
		return err
	}
	st, err := openStore(cmd, log, region, ks)
	if err != nil {
		return err
	}
	defer st.close()

	n := &node{log: log, region: region, issuer: strings.TrimSuffix(issuer, "/"), dataDir: dataDir(cmd), keys: ks, store: st,
		peerDev: peerDev}
	if n.peerDev {
		log.Info("loopback development mode: other regions' nodes are called over plain http on loopback too")
	}

	reg := prometheus.NewRegistry()
	// The Go collector adds the heap the last GC found live
	// (go_gc_heap_live_bytes), the figure the soak bounds.
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := api.New(api.Config{
		Logger:    log,
		AccessLog: accessLog,
		Registry:  reg,
		Checks:    map[string]api.Check{"store": st.ready},
		// Per-address limits behind a load balancer (docs/operations.md).
		TrustedProxies: proxies,
	})
	srv.MountOpenAPI()
	if err := srv.MountAPIDocs(); err != nil {
		return err
	}
	// Features run their background work under this context; it is
	// cancelled once HTTP requests have drained, and serve waits for them.
	bg, stopBackground := context.WithCancel(cmd.Context())
	defer stopBackground()
	cmd.SetContext(bg)
	// Each feature mounts its routes here, one line each.
	for _, mount := range []func(*api.Server, *node) error{mountLedger(cmd), mountAuth(cmd), mountCredentials(cmd), mountQR(cmd), mountEnroll(cmd), mountLogin(cmd), mountOID4VCI(cmd), mountOID4VP(cmd), mountUI(cmd), mountTypeMetadata} {
		if err := mount(srv, n); err != nil {
			return err
		}
	}

	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxRequestHead - 4096,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The login page's long poll (25 s) would hold the drain to its end.
	httpSrv.RegisterOnShutdown(srv.Drain)

	ctx, stop := signal.NotifyContext(bg, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		for range hup {
			if err := ks.Reload(); err != nil {
				log.Error("keystore reload failed; keeping the keys in memory", slog.Any("error", err))
				continue
			}
			log.Info("keystore reloaded", slog.Int("keys", len(ks.Keys())))
			if n.ledger != nil {
				if err := syncRegionKeys(ctx, n.ledger.Client, n); err != nil {
					log.Error("node keys not published on the ledger; restart to retry", slog.Any("error", err))
				}
			}
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	log.Info("serving", slog.String("addr", ln.Addr().String()), slog.String("data", dataDir(cmd)))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", slog.Duration("drain", drain))
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
		log.Warn("requests still running when the drain time ran out are cut off; background work has no time left", slog.Duration("drain", drain))
	} else if err != nil {
		return err
	}
	// Requests have drained: stop the features' background work (the
	// outbox flushes, the audit log is anchored a last time) and wait for it.
	stopBackground()
	done := make(chan struct{})
	go func() { n.background.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		log.Warn("background work did not finish within the drain time")
		// The process ends before the outbox's own flush can say so.
		if n.ledger != nil {
			if st := n.ledger.Outbox.Stats(); st.Backlog > 0 || st.HeadsPending > 0 {
				warnUnsent(log, n.ledger.Outbox, sctx.Err())
			}
		}
	}
	closeAccessLog()
	log.Info("stopped")
	return nil
}

// preflight checks, before serve writes anything, the settings that are
// read again where they are used: the form of --redis-url, the hosts of
// --controller-document-hosts, the --wallet-providers file, the peers of
// --peer (in the node's mode, development or not), the Fabric connection
// (--fabric-profile and the --fabric-* flags) and the directory of
// --ledger-file.
func preflight(cmd *cobra.Command, region string, development bool) error {
	if raw, _ := cmd.Flags().GetString("redis-url"); raw != "" {
		c, _, err := redisClient(cmd, raw)
		if err != nil {
			return refused(cmd, err, "redis-url", "redis-cluster")
		}
		c.Close()
	}
	if _, err := controllerHosts(cmd); err != nil {
		return refused(cmd, err, "controller-document-hosts")
	}
	file, _ := cmd.Flags().GetString("wallet-providers")
	if _, err := readWalletProviders(file); err != nil {
		return refused(cmd, fmt.Errorf("oid4vci: --wallet-providers: %w", err), "wallet-providers")
	}
	specs, _ := cmd.Flags().GetStringArray("peer")
	if _, err := parsePeers(specs, region, development); err != nil {
		return refused(cmd, err, "peer")
	}
	switch ledgerMode(cmd.Flags()) {
	case "fabric":
		if _, err := fabricSettings(cmd.Flags(), region); err != nil {
			return refused(cmd, fmt.Errorf("ledger: %w", err), "ledger", "fabric-profile", "fabric-msp-id", "fabric-cert", "fabric-key",
				"fabric-peer", "fabric-tls-ca", "fabric-server-name", "fabric-channel", "fabric-chaincode")
		}
	case "embedded":
		if path, _ := cmd.Flags().GetString("ledger-file"); path != "" {
			if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
				return refused(cmd, fmt.Errorf("--ledger-file %s: its directory must exist", path), "ledger-file")
			}
		}
	}
	return nil
}

// refused is err, a refusal of the values of flags, as a usage error
// that names where those of them not from the command line came from
// (valueSource), as applyConfig's errors do.
func refused(cmd *cobra.Command, err error, flags ...string) error {
	var from []string
	for _, name := range flags {
		if src := valueSource(cmd, name); src != "" {
			from = append(from, strings.TrimSuffix(src, ": "))
		}
	}
	if len(from) > 0 {
		err = fmt.Errorf("%s: %w", strings.Join(from, ", "), err)
	}
	return usageError{err}
}

// newAccessLogger returns the logger of the request lines: log's handler
// settings on a buffer of stderr flushed every --access-log-flush
// (internal/linebuf), or log itself when that is 0. The function it
// returns flushes and stops the buffer; it may be called more than once.
func newAccessLogger(cmd *cobra.Command, log *slog.Logger) (*slog.Logger, func(), error) {
	every, _ := cmd.Flags().GetDuration("access-log-flush")
	if every == 0 {
		return log, func() {}, nil
	}
	buf := linebuf.New(cmd.ErrOrStderr(), 64<<10, every)
	access, err := newLoggerTo(cmd, buf)
	if err != nil {
		buf.Close()
		return nil, nil, err
	}
	return access, func() { buf.Close() }, nil
}

func dataDir(cmd *cobra.Command) string {
	d, _ := cmd.Flags().GetString("data")
	return d
}

// validRegion accepts a province-level GB/T 2260 code: six digits ending in
// 0000 with a province prefix between 11 and 83.
func validRegion(s string) bool {
	if len(s) != 6 || s[2:] != "0000" {
		return false
	}
	for i := 0; i < 2; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	p := int(s[0]-'0')*10 + int(s[1]-'0')
	return p >= 11 && p <= 83
}
