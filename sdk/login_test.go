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
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
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
	if _, err := l.Finish(context.Background(), s, url.Values{"state": {s.State}, "error": {"access_denied"}}); !errors.Is(err, sdk.ErrLogin) {
		t.Errorf("error callback: %v", err)
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
