package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
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

// discardWriter keeps only the status and the length of the body
// written.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }

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
// and the access log). Tokens are issued before the timer starts, at
// least mintPool of them whatever b.N, so that under cachegrind the
// difference of two runs of up to mintPool iterations counts only the
// route's instructions, not the minting.
func BenchmarkIntrospectHTTP(b *testing.B) {
	const mintPool = 4096
	e := newOAuthEnv(b, OAuthConfig{AddrLimit: RateLimit{Limit: 1 << 30, Window: time.Minute}, ClientLimit: RateLimit{Limit: 1 << 30, Window: time.Minute}}, nil)
	// The access line goes where the node's does: a TextHandler
	// (NewTextHandler), here discarding it, not the test's JSON log.
	e.srv.access = slog.New(NewTextHandler(io.Discard, nil))
	rs := e.register("svc-rs", "", auth.ScopeQRRedeem)
	ctx := context.Background()
	c, err := e.clients.Get(ctx, rs.id)
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([]string, max(b.N, mintPool))
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
	// Each request is a shallow copy of one prototype with its own body:
	// httptest.NewRequest would parse a request line and headers and
	// allocate a 4 KiB reader per op, work net/http does outside the
	// route. The route reads the header map and URL, never writes them.
	proto := httptest.NewRequest("POST", auth.IntrospectionPath, nil)
	proto.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	proto.Header.Set("Authorization", basic)
	w := &discardWriter{h: http.Header{}}
	serve := func(body string) {
		req := proto.WithContext(ctx)
		req.Body, req.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		clear(w.h)
		w.status, w.n = 0, 0
		e.h.ServeHTTP(w, req)
	}
	// An active answer's length: the answers to the pool's tokens differ
	// only in their jti, exp and iat, of the same lengths.
	serve("token=" + t.AccessToken)
	active, wrong := w.n, 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		serve(bodies[i])
		if w.status != http.StatusOK || w.n != active {
			wrong++
		}
	}
	if wrong > 0 {
		b.Fatalf("%d of %d answers were not active", wrong, b.N)
	}
}
