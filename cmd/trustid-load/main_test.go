package main

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/store"
)

// TestLoadRun drives a real node (the api server with the OAuth endpoints
// on loopback) for a second and checks the report.
func TestLoadRun(t *testing.T) {
	dir := t.TempDir()
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), []byte("0123456789abcdef"), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clients, _ := auth.OpenFileStore(filepath.Join(dir, "clients.json"), auth.FileStoreOptions{})
	mem, _ := store.NewMemory(store.MemoryOptions{})
	defer mem.Close()
	srv := api.New(api.Config{})
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Start()
	defer ts.Close()
	svc, err := auth.New(auth.Config{Issuer: ts.URL, Keys: ks, Clients: clients, Store: mem})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.MountOAuth(api.OAuthConfig{Auth: svc}); err != nil {
		t.Fatal(err)
	}
	key, _ := gm.GenerateKey(rand.Reader)
	kid, _ := auth.KeyID(key.Public())
	jwk, _ := gm.NewJWK(key.Public(), kid)
	c, _, err := auth.NewClient(auth.Registration{ID: "rp-load", Name: "load", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		JWKS: &gm.JWKS{Keys: []gm.JWK{jwk}}}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := clients.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := gm.MarshalPrivateKeyPEM(key)
	keyFile := filepath.Join(dir, "rp.pem")
	os.WriteFile(keyFile, pemBytes, 0o600)

	rep, err := run(context.Background(), options{node: ts.URL, clientID: "rp-load", keyFile: keyFile,
		workers: 4, duration: time.Second, assertions: 3000, warmup: 20})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK == 0 || len(rep.Errors) != 0 || rep.TokenAlg != gm.AlgSM2 || rep.P50 <= 0 || rep.P99 < rep.P50 ||
		rep.Floor.SignMicros <= 0 || rep.Floor.VerifyMicros <= 0 {
		t.Errorf("report %+v", rep)
	}
	var sb strings.Builder
	rep.print(&sb)
	if !strings.Contains(sb.String(), "tokens/s") {
		t.Error(sb.String())
	}

	// Refusals: a non-loopback target, and a node that refuses the
	// client (the warm-up fails and says why).
	if _, err := run(context.Background(), options{node: "http://192.0.2.1:8080", clientID: "x", keyFile: keyFile, workers: 1, duration: time.Second}); err == nil {
		t.Error("a non-loopback node was accepted")
	}
	if _, err := run(context.Background(), options{node: ts.URL, clientID: "rp-ghost", keyFile: keyFile, workers: 1,
		duration: time.Second, assertions: 50, warmup: 5}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("unknown client: %v", err)
	}
}
