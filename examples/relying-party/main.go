// Command relying-party is a sample TrustID relying party: a small web
// service that uses only the relying-party SDK (package sdk) to log
// people in with scan-to-login (OpenID Connect, authorization code with
// PKCE, private_key_jwt) and to check the QR codes counter staff scan
// (online codes redeemed at the node, offline codes verified locally with
// the node's keys and status lists). See README.md for what to copy and
// how to register the client with `trustid clients add`.
//
// Configuration is by flags, or environment variables named after them
// (TRUSTID_RP_NODE for --node, ...); a flag wins.
//
//	relying-party --node https://sh.trustid.example --client-id shop-web \
//	  --key ./keys/KID.key.pem --redirect-url https://shop.example/callback
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "relying-party:", err)
		os.Exit(1)
	}
}

// flags parses args into a Config; each flag defaults to its environment
// variable (TRUSTID_RP_ + the flag name in upper case, - as _).
func flags(args []string) (Config, string, error) {
	fs := flag.NewFlagSet("relying-party", flag.ContinueOnError)
	env := func(name, def string) string {
		if v, ok := os.LookupEnv("TRUSTID_RP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); ok {
			return v
		}
		return def
	}
	var c Config
	addr := fs.String("addr", env("addr", "127.0.0.1:8090"), "listen address")
	fs.StringVar(&c.Node, "node", env("node", ""), "the TrustID node's base URL (its issuer), e.g. https://sh.trustid.example")
	fs.StringVar(&c.ClientID, "client-id", env("client-id", ""), "this service's client ID at the node")
	keyFile := fs.String("key", env("key", ""), "the client's private key (KID.key.pem from `trustid clients keygen`)")
	fs.StringVar(&c.RedirectURL, "redirect-url", env("redirect-url", ""), "the registered redirect URI: this service's /callback")
	fs.StringVar(&c.Region, "region", env("region", "310000"), "the node's region: offline codes of it are verified with the node's keys and lists, others refused")
	algs := fs.String("id-token-algs", env("id-token-algs", gm.AlgSM2+","+gm.AlgES256), "JWS algorithms accepted for ID tokens and node keys")
	if err := fs.Parse(args); err != nil {
		return c, "", err
	}
	if *keyFile == "" {
		return c, "", errors.New("--key is required")
	}
	pemBytes, err := os.ReadFile(*keyFile)
	if err != nil {
		return c, "", err
	}
	if c.Key, err = gm.ParsePrivateKeyPEM(pemBytes); err != nil {
		return c, "", fmt.Errorf("%s: %w", *keyFile, err)
	}
	c.Algorithms = strings.Split(*algs, ",")
	return c, *addr, nil
}

func run(args []string) error {
	cfg, addr, err := flags(args)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	app, err := New(cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: app, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	cfg.Logger.Info("serving", "addr", addr, "node", cfg.Node, "client_id", cfg.ClientID)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
