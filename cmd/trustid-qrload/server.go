package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// noRevocations is the status of a fresh region: nothing revoked.
type noRevocations struct{}

func (noRevocations) Status(context.Context, qrcode.StatusRef) (qrcode.Status, error) {
	return qrcode.StatusValid, nil
}

func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	redisAddr := fs.String("redis", "", "Redis address")
	dir := fs.String("dir", "", "working directory")
	ttl := fs.Duration("ttl", qrcode.DefaultCodeTTL, "code TTL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	const region = "310000"
	kek := make([]byte, 16)
	rand.Read(kek)
	ks, err := keystore.Open(filepath.Join(*dir, "keystore.json"), kek, keystore.Options{})
	if err != nil {
		return err
	}
	rc := redis.NewClient(&redis.Options{Addr: *redisAddr, PoolSize: 256, MinIdleConns: 32})
	defer rc.Close()
	st, err := store.NewRedis(rc, store.RedisOptions{Prefix: "trustid:" + region + ":"})
	if err != nil {
		return err
	}
	clients, err := auth.OpenFileStore(filepath.Join(*dir, "clients.json"), auth.FileStoreOptions{})
	if err != nil {
		return err
	}
	secret, hash, err := auth.NewSecret(rand.Reader)
	if err != nil {
		return err
	}
	if err := clients.Create(context.Background(), auth.Client{
		ID: "qrload-hotel", Name: "load test hotel", Region: region,
		GrantTypes: []string{auth.GrantClientCredentials}, Scopes: []string{auth.ScopeQRRedeem},
		Claims: []string{"age_over_18"}, SectorIdentifier: "hotel.example",
		AuthMethod: auth.AuthClientSecretBasic, SecretHash: hash, Created: time.Now(),
	}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	authSvc, err := auth.New(auth.Config{Issuer: base, Keys: ks, Clients: clients, Store: st})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := api.New(api.Config{Logger: log})
	if err := srv.MountOAuth(api.OAuthConfig{Auth: authSvc}); err != nil {
		return err
	}
	key, err := ks.Active(gm.AlgSM2)
	if err != nil {
		return err
	}
	var keys qrcode.StaticKeys
	for _, k := range ks.Published() {
		keys = append(keys, qrcode.IssuerKey{Kid: k.Kid, Public: k.Public})
	}
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{Keys: keys, Status: noRevocations{}})
	if err != nil {
		return err
	}
	// The node's pairwise IDs: the identity package's deriver under a
	// fresh pairwise key, over binding subjects (api.BindingSubjects).
	pkey := make([]byte, 32)
	rand.Read(pkey)
	pw, err := identity.NewPairwiseDeriver(identity.VersionedKey{Version: 1, Secret: pkey})
	if err != nil {
		return err
	}
	subjects, err := api.NewBindingSubjects(pw)
	if err != nil {
		return err
	}
	svc, err := qrcode.NewService(qrcode.ServiceConfig{
		Region: region, Store: st, Pairwise: subjects, RelyingParties: &api.RegistryParties{Clients: clients}, Status: noRevocations{}, TTL: *ttl,
	})
	if err != nil {
		return err
	}
	if err := srv.MountQR(api.QRConfig{Service: svc, Verifier: v,
		Holders: &qrcode.BindingAuthenticator{Verifier: v, Nonces: st, Region: region}}); err != nil {
		return err
	}

	// The load generator's holder: a fresh device key bound to a handle of
	// a random binding subject (key version 1 and a random 160-bit MAC:
	// the shape enrollment gives subjects) by this node.
	device, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	stable := make([]byte, api.BindingSubjectSize)
	stable[0] = 1
	rand.Read(stable[1:])
	subject, err := subjects.Handle(stable, rand.Reader) // one copy's handle, as enrollment issues
	if err != nil {
		return err
	}
	code, _ := qrcode.ParseRegion(region)
	binding, err := (&qrcode.Issuer{Signer: key.Signer, Kid: key.Kid, Region: code}).IssueBinding(qrcode.Binding{
		Subject: subject, DeviceKey: device.PublicKey(), Assurance: qrcode.AssurancePIN,
		IssuedAt: time.Now().Add(-time.Minute), Expiry: time.Now().Add(24 * time.Hour),
		Claims: map[string]string{"age_over_18": "true"},
	})
	if err != nil {
		return err
	}
	pem, _ := gm.MarshalPrivateKeyPEM(device)
	line, _ := json.Marshal(setup{URL: base, ClientID: "qrload-hotel", ClientSecret: secret, Binding: binding, DeviceKey: string(pem), Region: region})
	fmt.Println(string(line))

	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); hs.Close() }()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
