package sdk_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/sdk"
)

// provider serves an OpenID provider's discovery document and JWKS (one
// SM2 and one ES256 key), as the node's login provider publishes them; the
// tests sign ID tokens with its keys.
type provider struct {
	*httptest.Server
	sm2, es gm.JWK
	keys    map[string]crypto.Signer // kid -> signer
}

func newProvider(t *testing.T) *provider {
	p := &provider{keys: map[string]crypto.Signer{}}
	mux := http.NewServeMux()
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	var set gm.JWKS
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256} {
		k, _ := gm.GenerateSigner(alg, rand.Reader)
		j, _ := gm.NewJWK(k.Public(), "")
		j.Kid, _ = j.Thumbprint()
		p.keys[j.Kid] = k
		set.Keys = append(set.Keys, j)
	}
	p.sm2, p.es = set.Keys[0], set.Keys[1]
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": p.URL, "authorization_endpoint": p.URL + "/oauth2/authorize",
			"token_endpoint": p.URL + "/oauth2/token", "jwks_uri": p.URL + "/.well-known/jwks.json", "code_challenge_methods_supported": []string{"S256"}})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(set) })
	return p
}

func (p *provider) idToken(t *testing.T, j gm.JWK, edit func(c jwt.MapClaims)) string {
	signer := p.keys[j.Kid]
	method, _ := gm.SigningMethod(signer)
	now := time.Now()
	c := jwt.MapClaims{"iss": p.URL, "sub": "pairwise-1", "aud": "rp", "azp": "rp", "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "nonce": "n-1", "acr": "L3"}
	if edit != nil {
		edit(c)
	}
	tok := jwt.NewWithClaims(method, c)
	tok.Header["kid"] = j.Kid
	s, err := tok.SignedString(signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawIDToken signs claims, a JSON text as given, with j's key.
func (p *provider) rawIDToken(t *testing.T, j gm.JWK, claims string) string {
	signer := p.keys[j.Kid]
	method, _ := gm.SigningMethod(signer)
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(`{"alg":"`+method.Alg()+`","kid":"`+j.Kid+`","typ":"JWT"}`)) + "." + enc([]byte(claims))
	sig, err := method.Sign(signing, signer)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc(sig)
}

func newLogin(t *testing.T, issuer string, algs ...string) *sdk.Login {
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	l, err := sdk.NewLogin(sdk.LoginConfig{Issuer: issuer, ClientID: "rp", RedirectURI: "https://rp.example/cb", Key: key,
		Scopes: []string{"age_over_18"}, Algorithms: algs})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLoginStart(t *testing.T) {
	p := newProvider(t)
	l := newLogin(t, p.URL, gm.AlgSM2)
	s, err := l.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.URL)
	q := u.Query()
	sum := sha256.Sum256([]byte(s.CodeVerifier))
	if u.Path != "/oauth2/authorize" || q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) ||
		q.Get("code_challenge_method") != "S256" || q.Get("state") != s.State || q.Get("nonce") != s.Nonce ||
		q.Get("scope") != "openid age_over_18" || q.Get("response_type") != "code" || q.Get("client_id") != "rp" {
		t.Errorf("authorization URL %s", s.URL)
	}
	if s2, _ := l.Start(context.Background()); s2.State == s.State || s2.CodeVerifier == s.CodeVerifier {
		t.Error("two logins share a state or verifier")
	}
	if _, err := l.Finish(context.Background(), s, url.Values{"state": {"other"}, "code": {"c"}}); !errors.Is(err, sdk.ErrState) {
		t.Errorf("callback with another state: %v", err)
	}
	// A start lost (a session gone) has no state; a callback without one
	// does not match it.
	if _, err := l.Finish(context.Background(), &sdk.LoginStart{}, url.Values{"code": {"c"}}); !errors.Is(err, sdk.ErrState) {
		t.Errorf("empty state on both sides: %v", err)
	}
	// No start at all (the session store had none) is the same, not a
	// panic.
	if _, err := l.Finish(context.Background(), nil, url.Values{"state": {s.State}, "code": {"c"}}); !errors.Is(err, sdk.ErrState) {
		t.Errorf("no start: %v, want ErrState", err)
	}
	if _, err := l.Finish(context.Background(), s, url.Values{"state": {s.State}, "error": {"access_denied"}}); !errors.Is(err, sdk.ErrLogin) {
		t.Errorf("error callback: %v", err)
	}
}

// TestNewCredentialVerifierWithoutNodes: no Nodes is an error, not a
// panic.
func TestNewCredentialVerifierWithoutNodes(t *testing.T) {
	if v, err := sdk.NewCredentialVerifier(nil, 0); err == nil || v != nil {
		t.Errorf("no Nodes: %v, %v", v, err)
	}
}

// TestLoginWithoutProvider: a node whose discovery has no authorization
// endpoint (login not enabled) is refused with ErrLogin.
func TestLoginWithoutProvider(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	if _, err := newLogin(t, node.URL, gm.AlgSM2).Start(context.Background()); !errors.Is(err, sdk.ErrLogin) {
		t.Errorf("node without login: %v, want ErrLogin", err)
	}
}

func TestIDTokenChecks(t *testing.T) {
	p := newProvider(t)
	ctx := context.Background()
	l := newLogin(t, p.URL, gm.AlgSM2)
	id, err := l.VerifyIDToken(ctx, p.idToken(t, p.sm2, nil), "n-1")
	if err != nil || id.Subject != "pairwise-1" || id.ACR != "L3" {
		t.Fatalf("valid ID token: %+v %v", id, err)
	}
	for name, tok := range map[string]string{
		"alg not allowed": p.idToken(t, p.es, nil),
		"wrong aud":       p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["aud"] = "other"; c["azp"] = "other" }),
		"azp of another":  p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["aud"] = []string{"rp", "x"}; c["azp"] = "x" }),
		"wrong iss":       p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }),
		"expired":         p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }),
		"too old":         p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["iat"] = time.Now().Add(-time.Hour).Unix() }),
		"wrong nonce":     p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["nonce"] = "n-2" }),
		"no sub":          p.idToken(t, p.sm2, func(c jwt.MapClaims) { delete(c, "sub") }),
	} {
		if _, err := l.VerifyIDToken(ctx, tok, "n-1"); !errors.Is(err, sdk.ErrIDToken) {
			t.Errorf("%s: %v, want ErrIDToken", name, err)
		}
	}
	// iat may be MaxAge (10 minutes) plus the leeway (30 s) old.
	if _, err := l.VerifyIDToken(ctx, p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["iat"] = time.Now().Add(-10*time.Minute - 15*time.Second).Unix() }), "n-1"); err != nil {
		t.Errorf("iat within MaxAge and the leeway: %v", err)
	}
	// A login without a nonce is refused, even for a token without one.
	if _, err := l.VerifyIDToken(ctx, p.idToken(t, p.sm2, func(c jwt.MapClaims) { delete(c, "nonce") }), ""); !errors.Is(err, sdk.ErrIDToken) {
		t.Errorf("no nonce on either side: %v, want ErrIDToken", err)
	}
	// Members golang-jwt's encoding/json would read as the last given, or
	// fold by case, are refused as the node's strict decoder refuses them.
	now := time.Now().Unix()
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":%q,"aud":"rp","azp":"rp","exp":%d,"iat":%d,"nonce":"n-1",%s}`, p.URL, now+60, now, extra)
	}
	if _, err := l.VerifyIDToken(ctx, p.rawIDToken(t, p.sm2, claims(`"sub":"pairwise-1"`)), "n-1"); err != nil {
		t.Fatalf("raw ID token: %v", err)
	}
	for name, c := range map[string]string{
		"sub twice":             claims(`"sub":"someone-else","sub":"pairwise-1"`),
		"a member in two cases": claims(`"sub":"pairwise-1","Sub":"someone-else"`),
	} {
		if _, err := l.VerifyIDToken(ctx, p.rawIDToken(t, p.sm2, c), "n-1"); !errors.Is(err, sdk.ErrIDToken) || !errors.Is(err, strictjson.ErrDuplicateKey) {
			t.Errorf("%s: %v, want ErrIDToken and a duplicate key", name, err)
		}
	}
	// A node's clock skew is allowed by default: expired 10 s ago.
	if _, err := l.VerifyIDToken(ctx, p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Second).Unix() }), "n-1"); err != nil {
		t.Errorf("expired within the default leeway: %v", err)
	}
	both := newLogin(t, p.URL, gm.AlgSM2, gm.AlgES256)
	if _, err := both.VerifyIDToken(ctx, p.idToken(t, p.es, nil), "n-1"); err != nil {
		t.Errorf("ES256 ID token with ES256 allowed: %v", err)
	}
}

// TestIDTokenCrit: RFC 7515 §4.1.11 "If any of the listed extension
// Header Parameters are not understood and supported by the recipient,
// then the JWS is invalid." The SDK understands none: an ID token with
// crit is refused, as its access-token verifier and the node refuse one.
func TestIDTokenCrit(t *testing.T) {
	p := newProvider(t)
	l := newLogin(t, p.URL, gm.AlgSM2)
	signer := p.keys[p.sm2.Kid]
	method, _ := gm.SigningMethod(signer)
	now := time.Now().Unix()
	enc := base64.RawURLEncoding.EncodeToString
	c := enc([]byte(fmt.Sprintf(`{"iss":%q,"sub":"pairwise-1","aud":"rp","azp":"rp","exp":%d,"iat":%d,"nonce":"n-1"}`, p.URL, now+60, now)))
	for _, h := range []string{
		`{"alg":"SM2","kid":"` + p.sm2.Kid + `","typ":"JWT","crit":["urn:example:must-check"],"urn:example:must-check":true}`,
		`{"alg":"SM2","kid":"` + p.sm2.Kid + `","typ":"JWT","crit":[]}`,
	} {
		signing := enc([]byte(h)) + "." + c
		sig, err := method.Sign(signing, signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.VerifyIDToken(context.Background(), signing+"."+enc(sig), "n-1"); !errors.Is(err, sdk.ErrIDToken) {
			t.Errorf("header %s: %v, want ErrIDToken", h, err)
		}
	}
}

// TestFinishChecksIss: RFC 9207 §2.4 "If the value does not match the
// expected issuer identifier, clients MUST reject the authorization
// response and MUST NOT proceed with the authorization grant", and a
// client that knows the server sends iss (its metadata says so) MUST
// reject a response without it. Refused callbacks send no code to the
// token endpoint.
func TestFinishChecksIss(t *testing.T) {
	signer, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	j, _ := gm.NewJWK(signer.Public(), "")
	j.Kid, _ = j.Thumbprint()
	var nonce string
	exchanged := 0
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/oauth2/authorize",
			"token_endpoint": srv.URL + "/oauth2/token", "jwks_uri": srv.URL + "/jwks", "code_challenge_methods_supported": []string{"S256"},
			"authorization_response_iss_parameter_supported": true})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(gm.JWKS{Keys: []gm.JWK{j}}) })
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		exchanged++
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": srv.URL, "sub": "pairwise-1", "aud": "rp", "azp": "rp",
			"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "nonce": nonce})
		tok.Header["kid"] = j.Kid
		s, _ := tok.SignedString(signer)
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": s})
	})
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	l, err := sdk.NewLogin(sdk.LoginConfig{Issuer: srv.URL, ClientID: "rp", RedirectURI: "https://rp.example/cb", Key: key, Algorithms: []string{gm.AlgES256}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := l.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nonce = st.Nonce
	for name, iss := range map[string][]string{
		"another issuer's":  {"https://attacker.example"},
		"none (advertised)": nil,
		"empty":             {""},
		"given twice":       {srv.URL, srv.URL},
		"with a slash":      {srv.URL + "/"},
	} {
		cb := url.Values{"state": {st.State}, "code": {"c"}}
		if iss != nil {
			cb["iss"] = iss
		}
		if id, err := l.Finish(ctx, st, cb); !errors.Is(err, sdk.ErrLogin) || exchanged > 0 {
			t.Errorf("iss %s: code exchanged %d time(s), login %+v, err %v", name, exchanged, id, err)
		}
		cb.Set("error", "access_denied")
		cb.Del("code")
		if _, err := l.Finish(ctx, st, cb); err == nil || !strings.Contains(err.Error(), "RFC 9207") {
			t.Errorf("an error answer with iss %s: %v, want refused for its iss", name, err)
		}
	}
	if id, err := l.Finish(ctx, st, url.Values{"state": {st.State}, "code": {"c"}, "iss": {srv.URL}}); err != nil || exchanged != 1 || id.Subject != "pairwise-1" {
		t.Errorf("the provider's iss: exchanged %d, %+v %v", exchanged, id, err)
	}
}

// TestDiscoveryRetriesAfterFailure: a failed discovery is not kept. A
// first call whose request was cancelled breaks no later call; a provider
// down at first use is asked again on a call discoveryRetry (5 s) after
// the failure, not sooner, and once discovered it is not asked again.
func TestDiscoveryRetriesAfterFailure(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t)
	l := newLogin(t, p.URL, gm.AlgSM2)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Start(cancelled); !errors.Is(err, sdk.ErrLogin) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context: %v", err)
	}
	if _, err := l.Start(ctx); err != nil {
		t.Errorf("Start after one cancelled request: %v", err)
	}
	if _, err := l.VerifyIDToken(ctx, p.idToken(t, p.sm2, nil), "n-1"); err != nil {
		t.Errorf("VerifyIDToken after one cancelled request: %v", err)
	}

	var fetches atomic.Int32
	var down atomic.Bool
	down.Store(true)
	srv := metadataServer(t, func(w http.ResponseWriter) bool {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return false
		}
		return true
	})
	clock := fakeclock.New(time.Now())
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	l, err := sdk.NewLogin(sdk.LoginConfig{Issuer: srv.URL, ClientID: "rp", RedirectURI: "https://rp.example/cb", Key: key,
		Algorithms: []string{gm.AlgSM2}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	start := func(want int32) error {
		t.Helper()
		_, err := l.Start(ctx)
		if n := fetches.Load(); n != want {
			t.Errorf("%d discovery requests, want %d", n, want)
		}
		return err
	}
	if err := start(1); !errors.Is(err, sdk.ErrLogin) {
		t.Fatalf("provider down: %v", err)
	}
	down.Store(false)
	clock.Advance(4 * time.Second)
	if err := start(1); !errors.Is(err, sdk.ErrLogin) {
		t.Errorf("4 s after the failure: %v, want the failure again without a request", err)
	}
	clock.Advance(time.Second)
	if err := start(2); err != nil {
		t.Errorf("5 s after the failure: %v", err)
	}
	down.Store(true)
	clock.Advance(time.Hour)
	if err := start(2); err != nil {
		t.Errorf("once discovered: %v", err)
	}
}

// TestDiscoveryShared: concurrent first calls share one discovery
// request, and a caller whose context ends while it is in flight stops
// waiting without failing it for the others.
func TestDiscoveryShared(t *testing.T) {
	var fetches atomic.Int32
	release := make(chan struct{})
	srv := metadataServer(t, func(http.ResponseWriter) bool {
		fetches.Add(1)
		<-release
		return true
	})
	l := newLogin(t, srv.URL, gm.AlgSM2)
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error)
	go func() {
		_, err := l.Start(ctx)
		gone <- err
	}()
	for fetches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller that gave up: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Start(context.Background())
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d discovery requests, want 1", n)
	}
}

// metadataServer serves a provider's discovery document when serve says
// so (it may write another answer and return false).
func metadataServer(t *testing.T, serve func(http.ResponseWriter) bool) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serve(w) {
			json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/oauth2/authorize",
				"token_endpoint": srv.URL + "/oauth2/token", "jwks_uri": srv.URL + "/jwks", "code_challenge_methods_supported": []string{"S256"}})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestTokenTypeBearer: the SDK uses only Bearer access tokens (RFC 6749
// §7.1: "The client MUST NOT use an access token if it does not
// understand the token type"; OpenID Connect Core §3.1.3.3: token_type
// "MUST be Bearer"). A token answer of another type, or none, is
// refused by TokenSource (ErrToken) and Login.Finish (ErrLogin); the
// type is case-insensitive (RFC 6749 §5.1). (Any type was used.)
func TestTokenTypeBearer(t *testing.T) {
	signer, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	j, _ := gm.NewJWK(signer.Public(), "")
	j.Kid, _ = j.Thumbprint()
	var nonce, tokenType string
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/oauth2/authorize",
			"token_endpoint": srv.URL + "/oauth2/token", "jwks_uri": srv.URL + "/jwks", "code_challenge_methods_supported": []string{"S256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(gm.JWKS{Keys: []gm.JWK{j}}) })
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		resp := map[string]any{"access_token": "at", "expires_in": 600}
		if tokenType != "-" {
			resp["token_type"] = tokenType
		}
		if r.FormValue("grant_type") == "authorization_code" {
			now := time.Now()
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": srv.URL, "sub": "pairwise-1", "aud": "rp", "azp": "rp",
				"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "nonce": nonce})
			tok.Header["kid"] = j.Kid
			resp["id_token"], _ = tok.SignedString(signer)
		}
		json.NewEncoder(w).Encode(resp)
	})
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	l, err := sdk.NewLogin(sdk.LoginConfig{Issuer: srv.URL, ClientID: "rp", RedirectURI: "https://rp.example/cb", Key: key, Algorithms: []string{gm.AlgES256}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		tokenType string
		ok        bool
	}{{"Bearer", true}, {"bearer", true}, {"DPoP", false}, {"mac", false}, {"", false}, {"-", false}} {
		tokenType = c.tokenType
		ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: srv.URL, ClientID: "rp", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Token(ctx); (err == nil) != c.ok || !c.ok && !errors.Is(err, sdk.ErrToken) {
			t.Errorf("client credentials, token_type %q: %v", c.tokenType, err)
		}
		st, err := l.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		nonce = st.Nonce
		if _, err := l.Finish(ctx, st, url.Values{"state": {st.State}, "code": {"c"}}); (err == nil) != c.ok || !c.ok && !errors.Is(err, sdk.ErrLogin) {
			t.Errorf("login, token_type %q: %v", c.tokenType, err)
		}
	}
}

// TestLoginErrorsAreTyped: Start and Finish fail with the documented
// sentinels (docs/sdk.md: "Errors match ErrLogin, ErrState,
// ErrIDToken") also when the randomness source fails or the provider's
// metadata names a token endpoint that is no URL (refused at
// discovery). (Both were returned bare.)
func TestLoginErrorsAreTyped(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t)
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	l, err := sdk.NewLogin(sdk.LoginConfig{Issuer: p.URL, ClientID: "rp", RedirectURI: "https://rp.example/cb", Key: key,
		Algorithms: []string{gm.AlgSM2}, Rand: iotest.ErrReader(errors.New("no entropy"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Start(ctx); !errors.Is(err, sdk.ErrLogin) {
		t.Errorf("Start with a failing randomness source: %v, want ErrLogin", err)
	}

	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/oauth2/authorize",
			"token_endpoint": ":", "jwks_uri": srv.URL + "/jwks", "code_challenge_methods_supported": []string{"S256"}})
	}))
	defer srv.Close()
	l = newLogin(t, srv.URL, gm.AlgSM2)
	// Discovery refuses it (TestPlainHTTPOnlyOnLoopback), so no login
	// starts that Finish could not complete.
	if _, err := l.Start(ctx); !errors.Is(err, sdk.ErrLogin) {
		t.Errorf("a token endpoint that is no URL: %v, want ErrLogin", err)
	}
	// An ID token that could not be checked (no discovery, so no keys)
	// is ErrLogin, not ErrIDToken: it was not found invalid.
	if _, err := l.VerifyIDToken(ctx, "a.b.c", "n-1"); !errors.Is(err, sdk.ErrLogin) || errors.Is(err, sdk.ErrIDToken) {
		t.Errorf("VerifyIDToken without discovery: %v, want ErrLogin only", err)
	}
}

// TestIDTokenAZPPresentMustBeTheClient: OpenID Connect Core §3.1.3.7 (5)
// "If an azp (authorized party) Claim is present, the Client SHOULD
// verify that its client_id is the Claim Value"; §2: azp "MUST contain
// the OAuth 2.0 Client ID of this party". An azp that is present but not
// the client ID as a string (empty, a number, an array) is refused, as an
// azp naming another client is. (They read as no azp.)
func TestIDTokenAZPPresentMustBeTheClient(t *testing.T) {
	p := newProvider(t)
	ctx := context.Background()
	l := newLogin(t, p.URL, gm.AlgSM2)
	for name, azp := range map[string]any{"empty": "", "a number": 7, "an array": []string{"rp"}, "null": nil} {
		tok := p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["azp"] = azp })
		if _, err := l.VerifyIDToken(ctx, tok, "n-1"); !errors.Is(err, sdk.ErrIDToken) {
			t.Errorf("azp %s: %v, want ErrIDToken", name, err)
		}
	}
	if _, err := l.VerifyIDToken(ctx, p.idToken(t, p.sm2, func(c jwt.MapClaims) { delete(c, "azp") }), "n-1"); err != nil {
		t.Errorf("no azp, one audience: %v", err)
	}
}

// TestIDTokenOtherAudienceRefused: an ID token whose aud names another
// party beside the client is refused, azp the client's or not (OIDC Core
// §3.1.3.7 (3): "The ID Token MUST be rejected if ... it contains
// additional audiences not trusted by the Client"; the SDK trusts none).
func TestIDTokenOtherAudienceRefused(t *testing.T) {
	p := newProvider(t)
	ctx := context.Background()
	l := newLogin(t, p.URL, gm.AlgSM2)
	for name, aud := range map[string][]string{"after": {"rp", "other"}, "before": {"other", "rp"}} {
		tok := p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["aud"] = aud; c["azp"] = "rp" })
		if _, err := l.VerifyIDToken(ctx, tok, "n-1"); !errors.Is(err, sdk.ErrIDToken) {
			t.Errorf("another audience %s the client, azp the client: %v, want ErrIDToken", name, err)
		}
	}
	if _, err := l.VerifyIDToken(ctx, p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["aud"] = []string{"rp"} }), "n-1"); err != nil {
		t.Errorf("aud the client alone, as an array: %v", err)
	}
}
