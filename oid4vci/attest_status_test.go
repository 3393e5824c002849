package oid4vci

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
)

// listServer is a wallet provider's status list endpoint over TLS: each
// path serves the body set for it (404 otherwise) as
// application/statuslist+jwt, and counts fetches.
type listServer struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  map[string]string
	fetches atomic.Int64
}

func newListServer(t *testing.T) *listServer {
	ls := &listServer{bodies: map[string]string{}}
	ls.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ls.fetches.Add(1)
		ls.mu.Lock()
		body, ok := ls.bodies[r.URL.Path]
		ls.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", credentials.MediaTypeStatusListJWT)
		w.Write([]byte(body))
	}))
	t.Cleanup(ls.Close)
	return ls
}

func (ls *listServer) set(path, body string) {
	ls.mu.Lock()
	ls.bodies[path] = body
	ls.mu.Unlock()
}

// statusListJWT signs a two-bit Token Status List of 16 entries with
// values (index: value) as a statuslist+jwt with claims (nil deletes).
func statusListJWT(t *testing.T, k crypto.Signer, kid string, values map[int]uint8, claims jwt.MapClaims) string {
	t.Helper()
	tl, err := status.NewTokenList(2, 16)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		if err := tl.Set(i, v); err != nil {
			t.Fatal(err)
		}
	}
	c := jwt.MapClaims{"status_list": map[string]any{"bits": 2, "lst": tl.Encode()}}
	for n, v := range claims {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	m, _ := gm.SigningMethod(k)
	tok := jwt.NewWithClaims(m, c)
	tok.Header["typ"] = credentials.TypStatusListJWT
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAttestationStatus: a wallet attestation with a status claim is
// checked against its wallet provider's Token Status List, fetched over
// TLS from a real server through the node's guarded fetch client and
// checked by credentials.StatusChecker: VALID is taken; INVALID and
// SUSPENDED are invalid_client_attestation; a list signed by another key,
// for another uri (sub), of another issuer, expired, or without the
// entry (idx out of range) is invalid_client_attestation; a list that
// cannot be fetched is temporarily_unavailable. The list is cached for
// its ttl, never past its exp. Without a status checker an attestation
// with a status claim is refused.
func TestAttestationStatus(t *testing.T) {
	ctx := context.Background()
	m := memoryStore(t)
	const wp = "https://wp.example"
	provider, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	forger, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	instance, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	pj, _ := gm.NewJWK(provider.Public(), "k1")
	providers := []attestation.Provider{{Issuer: wp, Keys: []gm.JWK{pj}, ClientIDs: []string{"wallet"}}}
	keys, err := attestation.NewKeys(providers)
	if err != nil {
		t.Fatal(err)
	}

	ls := newListServer(t)
	client, err := credentials.NewFetchClient(ls.Client(), credentials.FetchOptions{AllowHost: credentials.AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	var skew atomic.Int64 // the checker's clock, ahead of the real one
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	checker := credentials.NewStatusCheckerWith(&credentials.HTTPStatusSource{Client: client, Resolver: keys, Algorithms: gm.JWTAlgorithms, Now: clock},
		credentials.StatusCheckerOptions{TTL: time.Hour, Now: clock})
	s := newServiceWith(t, Config{Store: m, Login: newLogin(t, m), WalletProviders: providers, AttestationWithoutChallenge: true, AttestationStatus: checker})

	now := time.Now()
	claims := func(path string, edit jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"iss": wp, "sub": ls.URL + path, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ttl": 600}
		for k, v := range edit {
			c[k] = v
		}
		return c
	}
	values := map[int]uint8{1: status.TokenInvalid, 2: status.TokenSuspended}
	ls.set("/lists/1", statusListJWT(t, provider, "k1", values, claims("/lists/1", nil)))
	ls.set("/lists/forged", statusListJWT(t, forger, "k1", nil, claims("/lists/forged", nil)))
	ls.set("/lists/moved", statusListJWT(t, provider, "k1", nil, claims("/lists/1", nil)))
	ls.set("/lists/other-iss", statusListJWT(t, provider, "k1", nil, claims("/lists/other-iss", jwt.MapClaims{"iss": "https://evil.example"})))
	ls.set("/lists/expired", statusListJWT(t, provider, "k1", nil, claims("/lists/expired", jwt.MapClaims{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})))
	ls.set("/lists/unknown-kid", statusListJWT(t, provider, "k9", nil, claims("/lists/unknown-kid", nil)))

	push := func(s *Service, path string, idx int) error {
		t.Helper()
		att, err := attestation.Sign(provider, "k1", attestation.Attestation{Issuer: wp, ClientID: "wallet", InstanceKey: instance.Public(),
			IssuedAt: now, Expires: now.Add(time.Hour), Status: &attestation.StatusListRef{Index: idx, URI: ls.URL + path}})
		if err != nil {
			t.Fatal(err)
		}
		pop, err := attestation.NewPoP(instance, issuerURL+PathAS, "", time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), nil, ClientAttestation{Attestation: []string{att}, PoP: []string{pop}})
		return err
	}
	if err := push(s, "/lists/1", 0); err != nil {
		t.Fatalf("VALID: %v", err)
	}
	for name, c := range map[string]struct {
		path       string
		idx        int
		code, desc string
		cause      error
	}{
		"INVALID":                  {"/lists/1", 1, CodeInvalidClientAttestation, "revoked", credentials.ErrRevoked},
		"SUSPENDED":                {"/lists/1", 2, CodeInvalidClientAttestation, "suspended", credentials.ErrSuspended},
		"index out of range":       {"/lists/1", 16, CodeInvalidClientAttestation, "could not be established", credentials.ErrStatusUnavailable},
		"signed by another key":    {"/lists/forged", 0, CodeInvalidClientAttestation, "could not be established", credentials.ErrSignature},
		"a list for another uri":   {"/lists/moved", 0, CodeInvalidClientAttestation, "could not be established", credentials.ErrIssuerMismatch},
		"another issuer's list":    {"/lists/other-iss", 0, CodeInvalidClientAttestation, "could not be established", credentials.ErrIssuerMismatch},
		"an expired list":          {"/lists/expired", 0, CodeInvalidClientAttestation, "could not be established", credentials.ErrExpired},
		"a kid not the provider's": {"/lists/unknown-kid", 0, CodeInvalidClientAttestation, "could not be established", attestation.ErrKey},
		"no list there (404)":      {"/lists/missing", 0, CodeTemporarilyUnavailable, "could not be fetched", credentials.ErrResolve},
	} {
		err := push(s, c.path, c.idx)
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code || !strings.Contains(e.Description, c.desc) || !errors.Is(err, c.cause) {
			t.Errorf("%s: %v, want %s %q", name, err, c.code, c.desc)
		}
	}

	// Cached for its ttl (10 minutes): a revocation after the fetch is
	// seen once the ttl has passed.
	fetched := ls.fetches.Load()
	ls.set("/lists/1", statusListJWT(t, provider, "k1", map[int]uint8{0: status.TokenInvalid}, claims("/lists/1", nil)))
	if err := push(s, "/lists/1", 0); err != nil || ls.fetches.Load() != fetched {
		t.Fatalf("within the ttl: %v, %d fetches more", err, ls.fetches.Load()-fetched)
	}
	skew.Store(int64(11 * time.Minute))
	if err := push(s, "/lists/1", 0); code(err) != CodeInvalidClientAttestation || ls.fetches.Load() != fetched+1 {
		t.Fatalf("past the ttl: %v, %d fetches more", err, ls.fetches.Load()-fetched)
	}

	// Never cached past exp, even with a longer ttl.
	skew.Store(0)
	ls.set("/lists/short", statusListJWT(t, provider, "k1", nil, claims("/lists/short", jwt.MapClaims{"exp": now.Add(5 * time.Minute).Unix(), "ttl": 3600})))
	if err := push(s, "/lists/short", 0); err != nil {
		t.Fatalf("a list expiring in 5 minutes: %v", err)
	}
	fetched = ls.fetches.Load()
	ls.set("/lists/short", statusListJWT(t, provider, "k1", nil, claims("/lists/short", jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})))
	skew.Store(int64(6 * time.Minute))
	if err := push(s, "/lists/short", 0); err != nil || ls.fetches.Load() != fetched+1 {
		t.Fatalf("past the first list's exp: %v, %d fetches more", err, ls.fetches.Load()-fetched)
	}

	// A server that is gone: fail closed.
	gone := newListServer(t)
	gone.Close()
	att, _ := attestation.Sign(provider, "k1", attestation.Attestation{Issuer: wp, ClientID: "wallet", InstanceKey: instance.Public(),
		IssuedAt: now, Expires: now.Add(time.Hour), Status: &attestation.StatusListRef{Index: 0, URI: gone.URL + "/lists/1"}})
	pop, _ := attestation.NewPoP(instance, issuerURL+PathAS, "", time.Now(), rand.Reader)
	if _, err := s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), nil, ClientAttestation{Attestation: []string{att}, PoP: []string{pop}}); code(err) != CodeTemporarilyUnavailable {
		t.Errorf("a server that is gone: %v", err)
	}

	// No status checker: refused, not waved through.
	bare := newServiceWith(t, Config{Store: m, Login: newLogin(t, m), WalletProviders: providers, AttestationWithoutChallenge: true})
	if err := push(bare, "/lists/1", 0); code(err) != CodeInvalidClientAttestation || !errors.Is(err, ErrAttestationStatus) {
		t.Errorf("without a status checker: %v", err)
	}
}
