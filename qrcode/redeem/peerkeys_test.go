package redeem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
)

// countingServer answers every request with h and counts them.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// peerAssertion signs an assertion from region 440000 for 310000 with
// key, editing its claims with mod.
func peerAssertion(t *testing.T, key *gm.PrivateKey, kid string, now time.Time, mod func(jwt.MapClaims)) *http.Request {
	t.Helper()
	method, _ := gm.SigningMethod(key)
	c := jwt.MapClaims{"iss": "trustid-node:440000", "sub": "trustid-node:440000", "aud": "trustid-node:310000",
		"iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix(), "jti": fmt.Sprint(now.UnixNano())}
	if mod != nil {
		mod(c)
	}
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "https://node.example"+PeerRedeemPath, nil)
	req.Header.Set("Authorization", "Bearer "+s)
	return req
}

// TestJunkDoesNotFetchPeerKeys: requests that fail the checks needing no
// key (no token, garbage, an unconfigured region, another audience, an
// expired or over-long assertion, no jti, no kid) are refused without the
// peer's JWKS being fetched.
func TestJunkDoesNotFetchPeerKeys(t *testing.T) {
	jwks, hits := countingServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	now := time.Now()
	key := mustKey(t, 0x62)
	auth := &NodeAssertions{Region: "310000", Nonces: newMemStore(t, nil),
		PeerKeys: map[string]qrcode.IssuerKeySource{"440000": &PeerJWKS{URL: jwks.URL}}}
	junk := map[string]*http.Request{}
	for name, mod := range map[string]func(jwt.MapClaims){
		"unknown region": func(c jwt.MapClaims) { c["iss"], c["sub"] = "trustid-node:110000", "trustid-node:110000" },
		"other audience": func(c jwt.MapClaims) { c["aud"] = "trustid-node:320000" },
		"expired": func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Hour+30*time.Second).Unix()
		},
		"long lifetime": func(c jwt.MapClaims) { c["exp"] = now.Add(time.Hour).Unix() },
		"no jti":        func(c jwt.MapClaims) { delete(c, "jti") },
		"no iat":        func(c jwt.MapClaims) { delete(c, "iat") },
		"other sub":     func(c jwt.MapClaims) { c["sub"] = "trustid-node:310000" },
	} {
		junk[name] = peerAssertion(t, key, "kid-b", now, mod)
	}
	junk["no kid"] = peerAssertion(t, key, "", now, nil)
	junk["no token"], _ = http.NewRequest(http.MethodPost, "https://node.example"+PeerRedeemPath, nil)
	junk["garbage"], _ = http.NewRequest(http.MethodPost, "https://node.example"+PeerRedeemPath, nil)
	junk["garbage"].Header.Set("Authorization", "Bearer a.b.c")
	for name, req := range junk {
		if _, err := auth.AuthenticatePeer(req); !errors.Is(err, qrcode.ErrPeerAuth) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("junk made the node fetch the peer's keys %d times", n)
	}
	// A well-formed assertion does fetch them.
	if _, err := auth.AuthenticatePeer(peerAssertion(t, key, "kid-b", now, nil)); !errors.Is(err, qrcode.ErrPeerAuth) {
		t.Errorf("assertion with unreachable keys: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d fetches for a well-formed assertion", n)
	}
}

// TestPeerKeysFailureIsCached: a failed fetch is remembered for Retry, so
// assertions arriving meanwhile do not fetch again; concurrent callers
// share one fetch instead of queueing behind each other's; keys fetched
// later work.
func TestPeerKeysFailureIsCached(t *testing.T) {
	key := mustKey(t, 0x62)
	var up atomic.Bool
	jwks, hits := countingServer(t, func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(300 * time.Millisecond)
		if !up.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		j, _ := gm.NewJWK(key.Public(), "kid-b")
		json.NewEncoder(w).Encode(gm.JWKS{Keys: []gm.JWK{j}})
	})
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	src := &PeerJWKS{URL: jwks.URL, Now: clock, Retry: 10 * time.Second}

	// Six concurrent callers: one fetch, and nobody waits for more than it.
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := src.IssuerKeys(context.Background()); err == nil {
				t.Error("keys from a failing peer")
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took > 1500*time.Millisecond || hits.Load() != 1 {
		t.Errorf("6 callers: %v, %d fetches; want one fetch of 300 ms", took, hits.Load())
	}
	// Within Retry: no fetch, at once.
	start = time.Now()
	for range 5 {
		if _, err := src.IssuerKeys(context.Background()); err == nil {
			t.Error("keys from a failing peer")
		}
	}
	if took := time.Since(start); took > 100*time.Millisecond || hits.Load() != 1 {
		t.Errorf("within the retry delay: %v, %d fetches", took, hits.Load())
	}
	// After it, the peer is back.
	up.Store(true)
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	keys, err := src.IssuerKeys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].Kid != "kid-b" || hits.Load() != 2 {
		t.Errorf("after the retry delay: %v %v, %d fetches", keys, err, hits.Load())
	}
	// Fresh keys are served from the cache.
	if _, err := src.IssuerKeys(context.Background()); err != nil || hits.Load() != 2 {
		t.Errorf("cached keys: %v, %d fetches", err, hits.Load())
	}
	// Once stale, a failing fetch keeps the last good keys.
	up.Store(false)
	mu.Lock()
	now = now.Add(2 * DefaultPeerKeysTTL)
	mu.Unlock()
	if keys, err := src.IssuerKeys(context.Background()); err != nil || len(keys) != 1 || hits.Load() != 3 {
		t.Errorf("stale keys: %v %v, %d fetches", keys, err, hits.Load())
	}
}

// TestPeersDoNotFollowRedirects: neither the redemption (which carries
// the node assertion) nor the key fetch follows a redirect.
func TestPeersDoNotFollowRedirects(t *testing.T) {
	var leaked atomic.Value
	target, targetHits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
		w.WriteHeader(200)
	})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()

	peers := &HTTPPeers{
		Peers:       map[string]Peer{"310000": {BaseURL: redirect.URL, Client: &http.Client{Timeout: 5 * time.Second}}},
		Credentials: &NodeAssertions{Region: "440000", Signer: mustKey(t, 0x62), Kid: "kid-b"},
	}
	if _, err := peers.RedeemAt(context.Background(), "310000", testRPs["hotel"], (qrcode.OnlineCode{Region: 310000}).String()); !errors.Is(err, qrcode.ErrPeer) {
		t.Errorf("redirected redemption: %v", err)
	}
	src := &PeerJWKS{URL: redirect.URL + "/.well-known/jwks.json"}
	if _, err := src.IssuerKeys(context.Background()); err == nil {
		t.Error("redirected key fetch succeeded")
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the redirect target was called %d times (Authorization %v)", n, leaked.Load())
	}
}

// TestForwardedAnswerIsFiltered: a peer that answers with claims the
// relying party is not registered for (name, id_number) does not get them
// to the verifier.
func TestForwardedAnswerIsFiltered(t *testing.T) {
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(Redemption{PairwiseID: "pw", Assurance: 3, Region: "310000",
			Claims: map[string]string{"age_over_18": "true", "name": "张三", "id_number": "11010519491231002X"}})
	}))
	defer peer.Close()
	svc, err := NewService(ServiceConfig{
		Region: "440000", Store: newMemStore(t, nil), Pairwise: hmacPairwise{key: []byte("b")}, RelyingParties: testRPs, Status: &memStatus{},
		Peers: &HTTPPeers{Peers: map[string]Peer{"310000": {BaseURL: peer.URL}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	code := (qrcode.OnlineCode{Region: 310000}).String()
	r, err := svc.Redeem(context.Background(), "hotel", code)
	if err != nil || len(r.Claims) != 1 || r.Claims["age_over_18"] != "true" {
		t.Errorf("hotel: %+v %v", r, err)
	}
	r, err = svc.Redeem(context.Background(), "station", code)
	if err != nil || r.Claims != nil {
		t.Errorf("station: %+v %v", r, err)
	}
}
