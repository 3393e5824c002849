package sdk_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
)

// testAPI is the API the tests' verifiers protect (AccessTokenConfig.Audience,
// never the node's URL). Tokens signed by hand name the node and it, so
// that the node (auth.Service.Authorize) and the SDK each take them.
const testAPI = "https://api.hotel.example"

// skewClock is an injectable clock: real time plus a skew tests move.
type skewClock struct{ skew atomic.Int64 }

func (c *skewClock) Now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *skewClock) Advance(d time.Duration) { c.skew.Add(int64(d)) }

// TestTokenRefreshBeforeExpiry: a cached token is reused until
// RefreshBefore its expiry, then replaced; clock-driven, against the
// in-process node.
func TestTokenRefreshBeforeExpiry(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	key := node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)
	clock := &skewClock{}
	ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key,
		RefreshBefore: auth.DefaultTokenTTL - 20*time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t1, err := ts.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	if t2, _ := ts.Token(ctx); t2 != t1 {
		t.Error("token replaced before it was due")
	}
	clock.Advance(15 * time.Second) // 25 s: within RefreshBefore of the expiry
	if t3, err := ts.Token(ctx); err != nil || t3 == t1 {
		t.Errorf("token due for refresh was not replaced (err %v)", err)
	}
}

// countingTransport counts the requests it passes to
// http.DefaultTransport.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestTokenSourceRefusals: an Ed25519 client key (the node takes SM2 and
// ES256 client keys) is ErrToken naming the keys it needs, before any
// request reaches the node; a config without ClientID is refused.
func TestTokenSourceRefusals(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	sent := &countingTransport{}
	ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "x", Key: edKey, HTTPClient: &http.Client{Transport: sent}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(context.Background()); !errors.Is(err, sdk.ErrToken) || !strings.Contains(err.Error(), "SM2 or ES256") || sent.n.Load() != 0 {
		t.Errorf("Ed25519 client key: %v after %d requests, want ErrToken naming SM2 or ES256 and none", err, sent.n.Load())
	}
	if _, err := sdk.NewTokenSource(sdk.ClientConfig{Node: "http://x", Key: edKey}); err == nil {
		t.Error("a config without ClientID was accepted")
	}
}

// TestTokenLongLifetime: an expires_in too long for a time.Duration
// (seconds × 1e9 past int64) is a token cached as long as a Duration
// holds, not one whose product wrapped negative and so fetched anew on
// every call.
func TestTokenLongLifetime(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"t` + strconv.Itoa(int(calls.Load())) + `","token_type":"Bearer","expires_in":10000000000}`))
	}))
	defer srv.Close()
	key, err := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: srv.URL, ClientID: "hotel", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if tok, err := ts.Token(context.Background()); err != nil || tok != "t1" {
			t.Fatalf("Token: %q, %v; want the first token, cached", tok, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// TestAccessTokenRefusals signs tokens with the node's own keys and
// changes one thing at a time: each must be refused.
func TestAccessTokenRefusals(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	ctx := context.Background()
	sign := func(alg string, edit func(h map[string]any, c jwt.MapClaims)) string {
		k, err := node.keys.Active(alg)
		if err != nil {
			t.Fatal(err)
		}
		method, _ := gm.SigningMethod(k.Signer)
		now := time.Now()
		c := jwt.MapClaims{"iss": node.URL, "aud": testAPI, "sub": "hotel", "client_id": "hotel", "jti": "j1",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scope": "qr:redeem"}
		tok := jwt.NewWithClaims(method, c)
		tok.Header["typ"], tok.Header["kid"] = "at+jwt", k.Kid
		if edit != nil {
			edit(tok.Header, c)
		}
		s, err := tok.SignedString(k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ctx, sign(gm.AlgSM2, nil)); err != nil || p.ClientID != "hotel" || !p.HasScope("qr:redeem") {
		t.Fatalf("valid token: %+v %v", p, err)
	}
	esKid := func() string { k, _ := node.keys.Active(gm.AlgES256); return k.Kid }()
	for name, tok := range map[string]string{
		"alg not allowed":   sign(gm.AlgES256, nil),
		"expired":           sign(gm.AlgSM2, func(_ map[string]any, c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }),
		"wrong aud":         sign(gm.AlgSM2, func(_ map[string]any, c jwt.MapClaims) { c["aud"] = "https://other.example" }),
		"wrong iss":         sign(gm.AlgSM2, func(_ map[string]any, c jwt.MapClaims) { c["iss"] = "https://other.example" }),
		"typ":               sign(gm.AlgSM2, func(h map[string]any, _ jwt.MapClaims) { h["typ"] = "JWT" }),
		"no client_id":      sign(gm.AlgSM2, func(_ map[string]any, c jwt.MapClaims) { delete(c, "client_id") }),
		"sub not client_id": sign(gm.AlgSM2, func(_ map[string]any, c jwt.MapClaims) { c["sub"] = "other" }),
		"no jti":            sign(gm.AlgSM2, func(_ map[string]any, c jwt.MapClaims) { delete(c, "jti") }),
		"unknown kid":       sign(gm.AlgSM2, func(h map[string]any, _ jwt.MapClaims) { h["kid"] = "nope" }),
		"kid of ES256 key":  sign(gm.AlgSM2, func(h map[string]any, _ jwt.MapClaims) { h["kid"] = esKid }),
		"crit":              sign(gm.AlgSM2, func(h map[string]any, _ jwt.MapClaims) { h["crit"] = []string{"x"} }),
		"empty":             "",
	} {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, sdk.ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL}); err == nil {
		t.Error("a verifier without an algorithm allow-list was built")
	}
}

// TestAccessTokenStrictAsNode: tokens signed by the node's key that the
// node refuses (auth.Service.Authorize) the SDK refuses too, with
// ErrInvalidToken: a missing iat, a claim member given twice or
// differing only in case, a fractional date, a header member given twice,
// non-canonical base64url. A scope is split on single spaces only, and
// the leeway is 30 s by default.
func TestAccessTokenStrictAsNode(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)
	ctx := context.Background()
	k, err := node.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	method, _ := gm.SigningMethod(k.Signer)
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now().Unix()
	header := `{"alg":"SM2","kid":"` + k.Kid + `","typ":"at+jwt"}`
	// claims builds a claims set: the members before and after the
	// usual ones, exp and iat as written (iat "" leaves it out).
	claims := func(before, exp, iat, scope, after string) string {
		c := before + `"iss":"` + node.URL + `","aud":["` + node.URL + `","` + testAPI + `"],"sub":"hotel","client_id":"hotel","jti":"j1","exp":` + exp
		if iat != "" {
			c += `,"iat":` + iat
		}
		return "{" + c + `,"scope":"` + scope + `"` + after + "}"
	}
	sign := func(h, c string) string {
		input := enc([]byte(h)) + "." + enc([]byte(c))
		sig, err := method.Sign(input, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + enc(sig)
	}
	exp, iat := strconv.FormatInt(now+300, 10), strconv.FormatInt(now, 10)
	valid := sign(header, claims("", exp, iat, "qr:redeem", ""))
	v, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.auth.Authorize(ctx, valid, auth.ScopeQRRedeem); err != nil {
		t.Fatalf("node, valid token: %v", err)
	}
	if p, err := v.Verify(ctx, valid); err != nil || !p.HasScope("qr:redeem") {
		t.Fatalf("sdk, valid token: %+v %v", p, err)
	}

	// The last character of an SM2 signature (64 bytes) carries 4 unused
	// bits: another character with the same 2 leading bits decodes to the
	// same bytes unless decoding is strict.
	last := valid[len(valid)-1]
	i := strings.IndexByte(b64alphabet, last)
	nonCanonical := valid[:len(valid)-1] + string(b64alphabet[i&^0xf|(i+1)&0xf])
	for name, tok := range map[string]string{
		"no iat":                  sign(header, claims("", exp, "", "qr:redeem", "")),
		"aud twice":               sign(header, claims(`"aud":"https://other.example",`, exp, iat, "qr:redeem", "")),
		"exp twice":               sign(header, claims(`"exp":`+strconv.FormatInt(now+86400*365, 10)+",", exp, iat, "qr:redeem", "")),
		"Client_ID":               sign(header, claims("", exp, iat, "qr:redeem", `,"Client_ID":"hotel"`)),
		"fractional exp":          sign(header, claims("", exp+".5", iat, "qr:redeem", "")),
		"fractional iat":          sign(header, claims("", exp, iat+".0", "qr:redeem", "")),
		"header typ twice":        sign(`{"typ":"JWT",`+header[1:], claims("", exp, iat, "qr:redeem", "")),
		"non-canonical signature": nonCanonical,
	} {
		if _, err := node.auth.Authorize(ctx, tok, auth.ScopeQRRedeem); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: the node: %v, want auth.ErrInvalidToken", name, err)
		}
		if p, err := v.Verify(ctx, tok); !errors.Is(err, sdk.ErrInvalidToken) {
			t.Errorf("%s: the SDK: %+v %v, want ErrInvalidToken", name, p, err)
		}
	}

	// A tab is no scope separator: one unknown scope.
	tab := sign(header, claims("", exp, iat, `qr:redeem\tregistry:admin`, ""))
	for _, sc := range []string{auth.ScopeQRRedeem, auth.ScopeRegistryAdmin} {
		if _, err := node.auth.Authorize(ctx, tab, sc); !errors.Is(err, auth.ErrInsufficientScope) {
			t.Errorf("tab-separated scopes, %s: the node: %v, want ErrInsufficientScope", sc, err)
		}
	}
	if p, err := v.Verify(ctx, tab); err != nil || p.HasScope(auth.ScopeRegistryAdmin) || p.HasScope(auth.ScopeQRRedeem) {
		t.Errorf("tab-separated scopes: the SDK: %+v %v, want one unknown scope", p, err)
	}

	// Leeway: 30 s by default, for the SDK's clock against the node's;
	// at most a minute. The node, its tokens' clock, takes none on exp.
	lately := sign(header, claims("", strconv.FormatInt(now-20, 10), strconv.FormatInt(now-300, 10), "qr:redeem", ""))
	if _, err := node.auth.Authorize(ctx, lately, auth.ScopeQRRedeem); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("expired 20 s ago: the node: %v, want auth.ErrInvalidToken", err)
	}
	if _, err := v.Verify(ctx, lately); err != nil {
		t.Errorf("expired 20 s ago: the SDK (default leeway): %v", err)
	}
	tooLate := sign(header, claims("", strconv.FormatInt(now-40, 10), strconv.FormatInt(now-300, 10), "qr:redeem", ""))
	if _, err := v.Verify(ctx, tooLate); !errors.Is(err, sdk.ErrInvalidToken) {
		t.Errorf("expired 40 s ago: the SDK: %v, want ErrInvalidToken", err)
	}
	for _, l := range []time.Duration{-time.Second, 2 * time.Minute} {
		if _, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: []string{gm.AlgSM2}, Leeway: l}); err == nil {
			t.Errorf("leeway %v accepted", l)
		}
	}
}

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// TestKeySetCache: keys are reused within TTL, a missing kid refetches at
// most once per MinRefresh, and a stale set whose node cannot be reached
// fails closed (the middleware then answers 503).
func TestKeySetCache(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	ctx := context.Background()
	clock := &skewClock{}
	ks := &sdk.KeySet{URL: node.URL + sdk.JWKSPath, Now: clock.Now, TTL: time.Minute, MinRefresh: 10 * time.Second}
	k, _ := node.keys.Active(gm.AlgSM2)
	if _, err := ks.Key(ctx, k.Kid); err != nil {
		t.Fatal(err)
	}
	ks.Key(ctx, k.Kid)
	if n := ks.Fetches(); n != 1 {
		t.Errorf("%d fetches for two lookups of a known kid, want 1", n)
	}
	clock.Advance(11 * time.Second)
	for range 3 {
		if _, err := ks.Key(ctx, "unknown"); !errors.Is(err, sdk.ErrUnknownKey) {
			t.Errorf("unknown kid: %v", err)
		}
	}
	if n := ks.Fetches(); n != 2 {
		t.Errorf("%d fetches after three lookups of an unknown kid within MinRefresh, want 2", n)
	}
	method, _ := gm.SigningMethod(k.Signer)
	tok := jwt.NewWithClaims(method, jwt.MapClaims{"iss": node.URL, "aud": testAPI, "sub": "a", "client_id": "a", "jti": "j",
		"iat": clock.Now().Unix(), "exp": clock.Now().Add(time.Hour).Unix()})
	tok.Header["typ"], tok.Header["kid"] = "at+jwt", k.Kid
	token, _ := tok.SignedString(k.Signer)
	node.srv.Close() // the node is gone
	clock.Advance(30 * time.Second)
	if _, err := ks.Key(ctx, k.Kid); err != nil {
		t.Errorf("within TTL the cached key must serve: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := ks.Key(ctx, k.Kid); !errors.Is(err, sdk.ErrKeysUnavailable) {
		t.Errorf("stale set, node down: %v, want ErrKeysUnavailable", err)
	}
	v, _ := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: []string{gm.AlgSM2}, Keys: ks, Now: clock.Now})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Authorization", "bearer "+token) // the scheme is case-insensitive (RFC 7235)
	v.Middleware()(http.NotFoundHandler()).ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("middleware with unreachable keys: %d", rec.Code)
	}
}

// TestConcurrentUse shares one token source, key set and verifier between
// goroutines (run with -race): callers get the same cached token and the
// set is fetched once.
func TestConcurrentUse(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	key := node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)
	node.serveAPI("hotel", testAPI)
	ts, _ := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key, Resource: testAPI})
	ks := &sdk.KeySet{URL: node.URL + sdk.JWKSPath}
	v, _ := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: []string{gm.AlgSM2}, Keys: ks})
	tokens := make(chan string, 8)
	for range 8 {
		go func() {
			tok, err := ts.Token(context.Background())
			if err == nil {
				_, err = v.Verify(context.Background(), tok)
			}
			if err != nil {
				t.Error(err)
			}
			tokens <- tok
		}()
	}
	first := <-tokens
	for range 7 {
		if tok := <-tokens; tok != first {
			t.Error("concurrent callers got different tokens")
		}
	}
	if n := ks.Fetches(); n != 1 {
		t.Errorf("key set fetched %d times, want 1", n)
	}
}

// TestQRStatusStaleFailsClosed: an offline code verifies while the
// node's status list is cached; once the list is older than its ttl and
// the node cannot be reached, the status is unavailable and the code is
// refused (fail closed), never accepted on a stale list.
func TestQRStatusStaleFailsClosed(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	ctx := context.Background()
	listID, index, err := node.lists.Allocate(ctx, status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	num, _ := strconv.ParseUint(listID[:8], 16, 32)
	nodeKey, _ := node.keys.Active(gm.AlgSM2)
	device, _ := gm.GenerateKey(rand.Reader)
	now := time.Now()
	holderCopy, err := (&qrcode.Issuer{Signer: nodeKey.Signer, Kid: nodeKey.Kid, Region: 310000}).IssueBinding(qrcode.Binding{
		Subject: make([]byte, 16), DeviceKey: device.PublicKey(), Assurance: qrcode.AssuranceDevice, IssuedAt: now,
		Expiry: now.Add(time.Hour), Status: qrcode.StatusRef{List: uint32(num), Index: uint32(index)}})
	if err != nil {
		t.Fatal(err)
	}
	clock := &skewClock{}
	nodes := &sdk.Nodes{Bases: []string{node.URL}, Algorithms: []string{gm.AlgSM2}, Now: clock.Now}
	qv, err := sdk.NewQRVerifier(sdk.QRConfig{Keys: &sdk.KeySet{URL: node.URL + sdk.JWKSPath, Now: clock.Now}, Region: "310000",
		Status: &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{"310000": node.URL}}, Now: clock.Now, Window: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	code := func(counter uint64) string {
		c, err := qrcode.NewOffline(rand.Reader, device, holderCopy, nil, qrcode.Presentation{Time: now, Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := qv.Verify(ctx, code(1), qrcode.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	node.srv.Close()
	clock.Advance(time.Minute)
	if _, err := qv.Verify(ctx, code(2), qrcode.VerifyOptions{}); err != nil {
		t.Errorf("within the list's ttl, with the node down: %v", err)
	}
	clock.Advance(5 * time.Minute)
	if _, err := qv.Verify(ctx, code(3), qrcode.VerifyOptions{}); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("stale list, node down: %v, want ErrStatusUnavailable", err)
	}
}

// TestMiddlewareChallenges: Middleware's WWW-Authenticate (RFC 6750 §3).
// A request without Bearer authentication (no Authorization header, or
// another scheme) gets a challenge with no error code, only the scope;
// an invalid token error="invalid_token" and a token without the scope
// error="insufficient_scope", each with its description and the scope.
// (A request without a header got error="invalid_token".)
func TestMiddlewareChallenges(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	key := node.register("shop-mw", gm.AlgSM2, auth.ScopeQRRedeem)
	node.serveAPI("shop-mw", testAPI)
	ts, _ := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "shop-mw", Key: key, Resource: testAPI})
	tok, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		t.Fatal(err)
	}
	h := v.Middleware(auth.ScopeRegistryAdmin)(http.NotFoundHandler())
	for _, c := range []struct {
		name, auth string
		status     int
		code       string
		challenge  string
	}{
		{"no header", "", 401, "invalid_token", `Bearer scope="registry:admin"`},
		{"Basic", "Basic c2hvcDpzZWNyZXQ=", 401, "invalid_token", `Bearer scope="registry:admin"`},
		{"an invalid token", "Bearer " + tok + "x", 401, "invalid_token",
			`Bearer error="invalid_token", error_description="the access token is invalid or expired", scope="registry:admin"`},
		// RFC 6750 §3.1: a request that "repeats the same parameter ...
		// or is otherwise malformed" is invalid_request, "HTTP 400".
		{"Bearer without a token", "Bearer ", 400, "invalid_request",
			`Bearer error="invalid_request", error_description="the Authorization header must be one Bearer token", scope="registry:admin"`},
		{"two headers", "Bearer " + tok + "\n" + "Bearer " + tok, 400, "invalid_request",
			`Bearer error="invalid_request", error_description="the Authorization header must be one Bearer token", scope="registry:admin"`},
		{"another scope", "Bearer " + tok, 403, "insufficient_scope",
			`Bearer error="insufficient_scope", error_description="the access token lacks scope registry:admin", scope="registry:admin"`},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		for _, a := range strings.Split(c.auth, "\n") {
			if a != "" {
				req.Header.Add("Authorization", a)
			}
		}
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("WWW-Authenticate"); rec.Code != c.status || got != c.challenge || !strings.Contains(rec.Body.String(), `"error":"`+c.code+`"`) {
			t.Errorf("%s: %d %q %s, want %d %q %s", c.name, rec.Code, got, rec.Body, c.status, c.challenge, c.code)
		}
	}
}

// TestShortLivedTokenReused: a token that lives no longer than
// RefreshBefore (a node run with --access-token-ttl 20s, the default
// RefreshBefore 30 s) is reused for half its life, then replaced; it was
// never reused, so every call asked the node for a token (and met its
// per-client rate limit, 60 a minute).
func TestShortLivedTokenReused(t *testing.T) {
	var issued atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"t` + strconv.Itoa(int(issued.Load())) + `","token_type":"Bearer","expires_in":20}`))
	}))
	defer srv.Close()
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	clock := &skewClock{}
	ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: srv.URL, ClientID: "hotel", Key: key, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t1, _ := ts.Token(ctx)
	clock.Advance(9 * time.Second)
	if t2, _ := ts.Token(ctx); t2 != t1 || issued.Load() != 1 {
		t.Errorf("a 20 s token 9 s old: %q after %d requests, want %q reused", t2, issued.Load(), t1)
	}
	clock.Advance(2 * time.Second)
	if t3, _ := ts.Token(ctx); t3 == t1 || issued.Load() != 2 {
		t.Errorf("a 20 s token 11 s old: %q after %d requests, want a new one", t3, issued.Load())
	}
}

// TestAccessTokenAudienceIsTheAPI: a relying party's verifier takes only
// tokens for its own API (RFC 9068 §4: aud names the resource server):
// a token the node issued for another party's API, or for the node, is
// refused, so a party handed one cannot replay it here; a verifier
// without Audience is not built (it took every token for the node).
func TestAccessTokenAudienceIsTheAPI(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	ctx := context.Background()
	const apiB, apiC = "https://b.example/api", "https://c.example/api"
	node.register("svc-b", gm.AlgSM2, auth.ScopeQRRedeem)
	node.serveAPI("svc-b", apiB)
	node.register("svc-c", gm.AlgSM2, auth.ScopeQRRedeem)
	node.serveAPI("svc-c", apiC)
	key := node.register("svc-a", gm.AlgSM2, auth.ScopeQRRedeem)
	token := func(resource string) string {
		ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "svc-a", Key: key, Resource: resource})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token(ctx)
		if err != nil {
			t.Fatalf("token for %q: %v", resource, err)
		}
		return tok
	}
	verifier := func(aud string) *sdk.AccessTokenVerifier {
		v, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: aud, Algorithms: []string{gm.AlgSM2}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	b, c := verifier(apiB), verifier(apiC)
	forB, forC, forNode := token(apiB), token(apiC), token("")
	if p, err := b.Verify(ctx, forB); err != nil || p.ClientID != "svc-a" || !p.HasScope(auth.ScopeQRRedeem) {
		t.Errorf("B's verifier, a token for B's API: %+v, %v", p, err)
	}
	for name, tc := range map[string]struct {
		v   *sdk.AccessTokenVerifier
		tok string
	}{
		"B's verifier, a token for C's API":  {b, forC},
		"C's verifier, a token for B's API":  {c, forB},
		"B's verifier, a token for the node": {b, forNode},
	} {
		if _, err := tc.v.Verify(ctx, tc.tok); !errors.Is(err, sdk.ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Algorithms: []string{gm.AlgSM2}}); err == nil {
		t.Error("a verifier without Audience was built")
	}
}

// TestAccessTokenAudienceNotTheNode: a verifier whose Audience is the
// node's own URL (Issuer), in any spelling of the scheme's and host's
// case, the default port or a trailing slash, is not built: it would
// take every token the node issued to any client for the node (token
// confusion). An API's own URI on the node's host is an audience.
func TestAccessTokenAudienceNotTheNode(t *testing.T) {
	for _, tc := range []struct {
		issuer, aud string
		ok          bool
	}{
		{"https://node.example", "https://node.example", false},
		{"https://node.example/", "https://node.example", false},
		{"https://node.example", "https://node.example/", false},
		{"https://node.example", "HTTPS://NODE.example", false},
		{"https://node.example", "https://node.example:443", false},
		{"https://node.example:443/sh", "https://node.example/sh/", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"https://node.example", "https://node.example/api", true},
		{"https://node.example", "https://node.example:8443", true},
		{"https://node.example", "https://api.node.example", true},
		{"https://node.example", "http://node.example", true},
		{"https://node.example/sh", "https://node.example", true},
	} {
		_, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: tc.issuer, Audience: tc.aud, Algorithms: []string{gm.AlgSM2}})
		if tc.ok != (err == nil) || !tc.ok && !strings.Contains(err.Error(), "Audience is the node's URL") {
			t.Errorf("Issuer %s, Audience %s: %v; want built %v", tc.issuer, tc.aud, err, tc.ok)
		}
	}
}
