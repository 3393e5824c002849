package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
)

// The validating middleware against one bare SM2 verification: run
//
//	go test -run '^$' -bench 'SM2VerifyBaseline|ValidateToken' -benchmem ./api/
//
// and divide. BenchmarkValidateToken is the whole protect() path of a
// request with the cache off: Authorization header, JWT parse, header and
// claim checks, the SM2 verification, client lookup, revocation check in
// the in-memory store, scope check, principal in the context.

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkSM2VerifyBaseline verifies an SM2 signature over a message as
// long as an access token's signing input, with a precomputed Z_A.
func BenchmarkSM2VerifyBaseline(b *testing.B) {
	e := newOAuthEnv(b, OAuthConfig{}, nil)
	rp := e.register("svc-a", gm.AlgSM2, auth.ScopeQRRedeem)
	tok := e.token(rp, "")
	i := strings.LastIndexByte(tok, '.')
	msg := []byte(tok[:i])
	k, _ := gm.GenerateKey(rand.Reader)
	sig, _ := k.SignRaw(rand.Reader, msg)
	pub := k.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Verify(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func benchValidate(b *testing.B, cacheSize int) {
	e := newOAuthEnv(b, OAuthConfig{}, func(c *auth.Config) { c.CacheSize = cacheSize })
	rp := e.register("svc-a", gm.AlgSM2, auth.ScopeQRRedeem)
	tok := e.token(rp, "")
	reached := 0
	h := e.srv.protect(auth.ScopeQRRedeem, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ }))
	req := httptest.NewRequest("GET", "/v1/x", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
	if reached != b.N {
		b.Fatalf("handler reached %d of %d times", reached, b.N)
	}
}

// BenchmarkValidateToken: every request verifies the signature.
func BenchmarkValidateToken(b *testing.B) { benchValidate(b, -1) }

// BenchmarkValidateTokenCached: a repeated token hits the validated-token
// cache (client and revocation are still checked).
func BenchmarkValidateTokenCached(b *testing.B) { benchValidate(b, 0) }

// BenchmarkTokenEndpoint is the node's work for one token, in process
// (no network): form parsing, the SM2 client assertion checked (parse,
// client lookup, SM2 verification, replay marker in the in-memory store),
// the access token signed with SM2, the JSON response and the access log.
// Assertions are signed before the timer starts.
func BenchmarkTokenEndpoint(b *testing.B) {
	e := newOAuthEnv(b, OAuthConfig{}, nil)
	rp := e.register("svc-a", gm.AlgSM2, auth.ScopeQRRedeem)
	const pool = 20000
	forms := make([]string, pool)
	for i := range forms {
		forms[i] = assertionForm(e.assertion(rp, nil)).Encode()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == pool {
			b.Fatal("assertion pool exhausted; raise pool")
		}
		req := httptest.NewRequest("POST", auth.TokenPath, strings.NewReader(forms[i]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := &discardWriter{h: http.Header{}}
		e.h.ServeHTTP(w, req)
		i++
	}
}

// BenchmarkIntrospectHTTP is the node's work for one introspection, in
// process (no network), as trustid-bench's token-validate route drives
// it: a resource server authenticating with client_secret_basic asks
// about one of its access tokens the node has not seen before (form,
// Basic credentials, HMAC-SM3 of the secret, both rate limits, the token's
// parse and SM2 verification, registry and revocation checks, the answer
// and the access log). Tokens are issued before the timer starts.
func BenchmarkIntrospectHTTP(b *testing.B) {
	e := newOAuthEnv(b, OAuthConfig{AddrLimit: RateLimit{Limit: 1 << 30, Window: time.Minute}, ClientLimit: RateLimit{Limit: 1 << 30, Window: time.Minute}}, nil)
	rs := e.register("svc-rs", "", auth.ScopeQRRedeem)
	ctx := context.Background()
	c, err := e.clients.Get(ctx, rs.id)
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([]string, b.N)
	for i := range bodies {
		t, err := e.svc.Token(ctx, c, auth.TokenRequest{GrantType: "client_credentials"})
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = "token=" + t.AccessToken
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(rs.id+":"+rs.secret))
	t, err := e.svc.Token(ctx, c, auth.TokenRequest{GrantType: "client_credentials"})
	if err != nil {
		b.Fatal(err)
	}
	if resp, m := e.post(auth.IntrospectionPath, "token="+t.AccessToken, "Authorization", basic); resp.StatusCode != 200 || m["active"] != true {
		b.Fatalf("introspection: %d %v", resp.StatusCode, m)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest("POST", auth.IntrospectionPath, strings.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basic)
		clear(w.h)
		e.h.ServeHTTP(w, req)
	}
}
