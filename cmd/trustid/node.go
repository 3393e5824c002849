package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// node holds what a running node's features share; serve builds it and
// passes it to each feature's mount function.
type node struct {
	log     *slog.Logger
	region  string // GB/T 2260 province-level code, e.g. 310000
	issuer  string // public base URL, no trailing slash
	dataDir string
	keys    *keystore.Store
	store   store.Store
	// credIssuer and statusLists are set by mountCredentials, for the
	// features mounted after it (enrollment, QR status).
	credIssuer  *issuer.Issuer
	statusLists nodeStatus
	// credVerifier is set by mountCredentials, for the OID4VP verifier.
	credVerifier *credentials.Verifier
	// ledger is set by mountLedger, for the features mounted after it
	// (see ledgerOf).
	ledger *nodeLedger
	// regionKeys resolves other regions' keys from the ledger view
	// (regionKeysOf).
	regionKeys  *federation.Keys
	fedRefusals *prometheus.CounterVec
	// peerDev is loopback development mode for calls to other regions'
	// nodes (federation.DevelopmentMode); peerClient is the client of
	// those calls (peerClientOf); peers are the --peer base URLs by
	// region (peersOf).
	peerDev    bool
	peerClient *http.Client
	peers      map[string]string
	// pinChecker is set by mountEnroll, for user login's L3 approvals.
	pinChecker *enrollment.PINChecker
	// loginProvider is set by mountLogin, for OID4VCI's authorization
	// code flow (the holder logs in with it).
	loginProvider *login.Provider
	// demoEnroll is set by mountEnroll with --demo: the wallet demo's
	// enrollment (mountUI), with a symbol key of its own.
	demoEnroll *enrollment.Service
	// background counts the work a feature started that must finish before
	// the process exits (flushing the outbox, the last audit anchor). It
	// runs until the command's context is cancelled, which serve does after
	// draining HTTP requests, then waits for it.
	background sync.WaitGroup
}

// Files in the data directory.
const (
	keystoreFile = "keystore.json"
	devKEKFile   = "kek.dev"
)

// openKeystore opens (or on first use creates) the node keystore in the
// data directory, under TRUSTID_KEK or the development KEK.
func openKeystore(cmd *cobra.Command, log *slog.Logger) (*keystore.Store, error) {
	dir, _ := cmd.Flags().GetString("data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path, devPath := filepath.Join(dir, keystoreFile), filepath.Join(dir, devKEKFile)
	env := os.Getenv("TRUSTID_KEK")
	_, statErr := os.Stat(path)
	if err := missingFromServed(dir, path, "the region's "+keystoreFile+" from another instance (starting would make new keys and secrets: the PIN verifiers, symbols and credential IDs made under the old ones would not open or match)"); err != nil {
		return nil, err
	}
	if _, devErr := os.Stat(devPath); env == "" && statErr == nil && errors.Is(devErr, os.ErrNotExist) {
		// A keystore without a development KEK beside it was sealed under
		// TRUSTID_KEK: making a development KEK could not open it.
		return nil, wrongKEKError(path, devPath, "")
	}
	kek, dev, err := keystore.ResolveKEK(env, devPath, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("TRUSTID_KEK: %w", err)
	}
	if dev {
		log.Warn("TRUSTID_KEK is not set: using a development key-encryption key stored beside the keystore; it protects nothing against anyone who can read the data directory. Set TRUSTID_KEK (32 hex digits) in production.",
			slog.String("file", devPath))
	}
	ks, err := keystore.Open(path, kek, keystore.Options{})
	if errors.Is(err, keystore.ErrWrongKEK) {
		return nil, wrongKEKError(path, devPath, env)
	}
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		log.Info("generated node keys", slog.String("keystore", path), slog.Int("keys", len(ks.Keys())))
	}
	return ks, nil
}

// missingFromServed refuses to make path anew in the data directory dir
// when dir has served (its audit log is there, if only as the next
// segment of a rotation a crash cut short) but path is missing or empty:
// a partial copy or restore left it out. instead says what to put back
// besides the same file from the same copy.
func missingFromServed(dir, path, instead string) error {
	if !ledger.AuditLogExists(filepath.Join(dir, auditFile)) {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 || err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("%s is missing or empty, but the data directory %s has served (its %s is there): it is a partial copy. Put back %s from the same copy of the data directory, taken with the node stopped, or %s (docs/operations.md, \"Backups\")",
		path, dir, auditFile, filepath.Base(path), instead)
}

// wrongKEKError explains a keystore that the KEK at hand (env, the value
// of TRUSTID_KEK, or the development KEK in devPath when env is empty)
// did not seal: which KEK was tried, which sealed the file (by KEK ID, a
// digest that reveals nothing of the key) and what to do.
func wrongKEKError(path, devPath, env string) error {
	sealed, err := keystore.SealedKEKID(path)
	if err != nil {
		return err
	}
	devID := ""
	if raw, err := os.ReadFile(devPath); err == nil {
		if kek, err := keystore.ParseKEK(string(bytes.TrimSpace(raw))); err == nil {
			devID = keystore.KEKID(kek)
		}
	}
	const fix = "Set TRUSTID_KEK to the key-encryption key that sealed this keystore (32 hex digits, from your secret store; after `trustid keys rotate-kek`, the new one), or point --data (TRUSTID_DATA) at the data directory of this KEK. Nothing was changed; do not delete the keystore: its keys cannot be recovered without its KEK."
	var msg string
	switch {
	case env != "" && devID == sealed:
		msg = fmt.Sprintf("TRUSTID_KEK did not seal it: it was sealed under the development KEK in %s (KEK ID %s). Unset TRUSTID_KEK to open it with that KEK, or re-seal it under yours: run `trustid keys rotate-kek` with TRUSTID_KEK unset and your KEK in TRUSTID_NEW_KEK.", devPath, sealed)
	case env != "":
		given := "invalid"
		if kek, err := keystore.ParseKEK(env); err == nil {
			given = keystore.KEKID(kek)
		}
		msg = fmt.Sprintf("it was sealed under KEK ID %s, TRUSTID_KEK has KEK ID %s. %s", sealed, given, fix)
	case devID == "":
		msg = fmt.Sprintf("TRUSTID_KEK is not set, and without it only a development KEK (%s) opens a keystore, but there is none: the keystore was sealed under KEK ID %s, from TRUSTID_KEK. %s", devPath, sealed, fix)
	default:
		msg = fmt.Sprintf("TRUSTID_KEK is not set, and the development KEK in %s (KEK ID %s) did not seal it: it was sealed under KEK ID %s. %s", devPath, devID, sealed, fix)
	}
	return &kekError{msg: fmt.Sprintf("wrong key-encryption key for %s: %s", path, msg)}
}

// kekError is a keystore the KEK at hand does not open; it matches
// keystore.ErrWrongKEK.
type kekError struct{ msg string }

func (e *kekError) Error() string { return e.msg }
func (e *kekError) Unwrap() error { return keystore.ErrWrongKEK }

// ephemeral is the node's ephemeral store and its closer.
type ephemeral struct {
	store.Store
	close func() error
	// ready is /readyz's check of the store: a Ping, and on Redis the
	// key-secret check again, so that a Redis that lost its data (restarted
	// empty, flushed) has the running instances' check value back at the
	// next check, before another instance starts, and an instance whose
	// check value is no longer the recorded one is not ready (the log says
	// why) instead of serving apart from the others
	// (TestKeySecretCheckAfterRedisLostIt).
	ready func(context.Context) error
}

// redisClient is the client --redis-url names: one server, or with
// --redis-cluster a Redis Cluster's seed nodes. addr names it in errors
// and logs; neither it nor an error carries the URL's password.
func redisClient(cmd *cobra.Command, rawURL string) (client redis.UniversalClient, addr string, err error) {
	if cluster, _ := cmd.Flags().GetBool("redis-cluster"); cluster {
		opts, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, "", fmt.Errorf("--redis-url (a Redis Cluster): %w", withoutURL(err))
		}
		return redis.NewClusterClient(opts), "cluster " + strings.Join(opts.Addrs, ","), nil
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("--redis-url: %w", withoutURL(err))
	}
	return redis.NewClient(opts), opts.Addr, nil
}

// redisLog writes go-redis's own complaints (a failed dial, a dropped
// connection) to the node's log, at warn level in its format: go-redis
// writes them as plain text lines on stderr, which a JSON log does not
// parse. go-redis has one logger per process; the last node started sets it.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("detail", fmt.Sprintf(format, v...)))
}

// withoutURL replaces a URL parser's error with a fixed one: it quotes
// the URL, and its cause may quote part of the password (a password with
// an unencoded "/", "#" or "?" reads as a host and port).
func withoutURL(err error) error {
	if _, ok := errors.AsType[*url.Error](err); ok {
		return errors.New("not a valid URL (the parser's reason is not shown: it may quote the password; percent-encode reserved characters in the password)")
	}
	return err
}

// openStore returns Redis when --redis-url is set, else the in-memory store.
func openStore(cmd *cobra.Command, log *slog.Logger, region string, ks *keystore.Store) (*ephemeral, error) {
	rawURL, _ := cmd.Flags().GetString("redis-url")
	prefix := "trustid:" + region + ":"
	secret, err := nodeSecret(ks, storeKeySecret)
	if err != nil {
		return nil, err
	}
	if rawURL == "" {
		m, err := store.NewMemory(store.MemoryOptions{Prefix: prefix, KeySecret: secret.Value()})
		if err != nil {
			return nil, err
		}
		return &ephemeral{Store: m, close: m.Close, ready: m.Ping}, nil
	}
	client, addr, err := redisClient(cmd, rawURL)
	if err != nil {
		return nil, err
	}
	redis.SetLogger(redisLog{log})
	r, err := redisstore.New(client, redisstore.Options{Prefix: prefix, KeySecret: secret.Value(), Log: log})
	if err != nil {
		client.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5e9)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	// A server with no replay epoch is taken as new (see InitEpoch and
	// docs/operations.md: after a restart, running instances have started
	// an epoch that refuses markers for their carriers' lifetime).
	fresh, err := r.InitEpoch(ctx)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	if fresh {
		log.Info("redis: replay epoch started (a server or Cluster with no TrustID epoch is taken as new)", slog.String("addr", addr))
	}
	if err := r.CheckKeySecret(ctx); errors.Is(err, redisstore.ErrKeySecret) {
		client.Close()
		return nil, fmt.Errorf("redis at %s: another instance of region %s keys this Redis with a different %s secret: "+
			"this instance's keystore is not a copy of theirs, so they would share no single-use markers, PIN counters or rate limits. "+
			"Stop this instance, copy keystore.json from a running instance of the region into %s, and start it again "+
			"(docs/operations.md, \"Instances\"). Only if every instance of the region was given a new keystore on purpose, delete the Redis key %q first",
			addr, region, storeKeySecret, dataDir(cmd), prefix+redisstore.KeyCheckKey)
	} else if err != nil {
		client.Close()
		return nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	// Subscribed to the wake channel before the first login's long poll,
	// which does not wait for it. A failure is the store's to log (it
	// keeps trying; until it succeeds the polls only read), and holds
	// the start for a second at most.
	sub, cancelSub := context.WithTimeout(ctx, time.Second)
	_ = r.Subscribe(sub)
	cancelSub()
	ready := func(ctx context.Context) error {
		if err := r.Ping(ctx); err != nil {
			return err
		}
		if err := r.CheckKeySecret(ctx); errors.Is(err, redisstore.ErrKeySecret) {
			return fmt.Errorf("%w: the Redis key %q holds another check value than this instance's keystore gives: "+
				"an instance with another keystore recorded it after Redis lost its data (docs/operations.md, \"Instances\")",
				err, prefix+redisstore.KeyCheckKey)
		} else if err != nil {
			return err
		}
		return nil
	}
	return &ephemeral{Store: r, close: func() error { r.Close(); return client.Close() }, ready: ready}, nil
}
