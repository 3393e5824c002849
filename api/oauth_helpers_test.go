package api

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/store"
)

const oauthIssuer = "https://sh.trustid.example"

// oauthEnv is a server with the OAuth and admin endpoints mounted on real
// parts: keystore and registry files in a temporary directory and the
// in-memory store.
type oauthEnv struct {
	t       testing.TB
	srv     *Server
	h       http.Handler
	svc     *auth.Service
	keys    *keystore.Store
	clients *auth.MemoryStore
	store   *store.Memory
	logs    *testnode.Buffer
}

func newOAuthEnv(t testing.TB, cfg OAuthConfig, authCfg func(*auth.Config)) *oauthEnv {
	t.Helper()
	dir := t.TempDir()
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), []byte("0123456789abcdef"), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var svcp atomic.Pointer[auth.Service]
	fs := auth.NewMemoryStore(func() {
		if s := svcp.Load(); s != nil {
			s.ClientsChanged()
		}
	})
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	ac := auth.Config{Issuer: oauthIssuer, Keys: ks, Clients: fs, Store: mem}
	if authCfg != nil {
		authCfg(&ac)
	}
	svc, err := auth.New(ac)
	if err != nil {
		t.Fatal(err)
	}
	svcp.Store(svc)
	logs := &testnode.Buffer{}
	s := New(Config{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	cfg.Auth = svc
	if cfg.Limiter == nil {
		cfg.Limiter = mem
	}
	if err := s.MountOAuth(cfg); err != nil {
		t.Fatal(err)
	}
	if err := s.MountClients(ClientsConfig{Store: fs, Region: "440000"}); err != nil {
		t.Fatal(err)
	}
	return &oauthEnv{t: t, srv: s, h: s.Handler(), svc: svc, keys: ks, clients: fs, store: mem, logs: logs}
}

type rpClient struct {
	id     string
	signer crypto.Signer
	kid    string
	secret string
}

// register adds a client directly to the registry.
func (e *oauthEnv) register(id, alg string, scopes ...string) rpClient {
	e.t.Helper()
	reg := auth.Registration{ID: id, Name: "RP " + id, Region: "310000", Scopes: scopes}
	var rp rpClient
	if alg == "" {
		reg.AuthMethod = auth.AuthClientSecretBasic
	} else {
		signer, err := gm.GenerateSigner(alg, rand.Reader)
		if err != nil {
			e.t.Fatal(err)
		}
		kid, _ := auth.KeyID(signer.Public())
		jwk, _ := gm.NewJWK(signer.Public(), kid)
		reg.JWKS = &gm.JWKS{Keys: []gm.JWK{jwk}}
		rp.signer, rp.kid = signer, kid
	}
	c, secret, err := auth.NewClient(reg, time.Now(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.clients.Create(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	rp.id, rp.secret = id, secret
	return rp
}

// assertion signs an assertion for rp, edited by edit.
func (e *oauthEnv) assertion(rp rpClient, edit func(h map[string]any, c *jwt.RegisteredClaims)) string {
	e.t.Helper()
	now := time.Now()
	cl := jwt.RegisteredClaims{Issuer: rp.id, Subject: rp.id, Audience: jwt.ClaimStrings{oauthIssuer + auth.TokenPath},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: rand.Text()}
	m, _ := gm.SigningMethod(rp.signer)
	tok := jwt.NewWithClaims(m, &cl)
	tok.Header["kid"] = rp.kid
	if edit != nil {
		edit(tok.Header, &cl)
	}
	s, err := tok.SignedString(rp.signer)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func assertionForm(a string, extra ...string) url.Values {
	v := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// post sends a form; header edits may add Authorization etc.
func (e *oauthEnv) post(path, body string, hdr ...string) (*http.Response, map[string]any) {
	e.t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return e.send(req)
}

func (e *oauthEnv) send(req *http.Request) (*http.Response, map[string]any) {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	resp := rec.Result()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp, m
}

// token gets an access token for rp over HTTP.
func (e *oauthEnv) token(rp rpClient, scope string) string {
	e.t.Helper()
	form := assertionForm(e.assertion(rp, nil))
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, m := e.post(auth.TokenPath, form.Encode())
	if resp.StatusCode != 200 {
		e.t.Fatalf("token: %d %v", resp.StatusCode, m)
	}
	return m["access_token"].(string)
}

// call sends a JSON request with a bearer token.
func (e *oauthEnv) call(method, path, token, body string) (*http.Response, map[string]any) {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}
