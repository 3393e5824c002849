package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/accessclaims"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/store"
)

// TestAuthorizeRefused covers every way an access token can be refused,
// with the cache on and off.
func TestAuthorizeRefused(t *testing.T) {
	for _, cache := range []int{0, -1} {
		e := newEnv(t, func(c *Config) { c.CacheSize = cache })
		ctx := context.Background()
		c := e.register("svc-a", gm.AlgSM2)
		off := e.register("svc-off", gm.AlgSM2)
		offToken := e.token(off, "")
		if _, err := e.clients.Update(ctx, off.ID, func(cl *Client) error { cl.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		revoked := e.token(c, "")
		if err := e.svc.Revoke(ctx, c.Client, revoked); err != nil {
			t.Fatal(err)
		}
		foreign, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
		foreignES, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
		active, _ := e.keys.Active(gm.AlgSM2)
		es, _ := e.keys.Active(gm.AlgES256)
		none := jwt.NewWithClaims(jwt.SigningMethodNone, testAccessClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: testIssuer,
			Subject: "svc-a", Audience: jwt.ClaimStrings{testIssuer}, IssuedAt: jwt.NewNumericDate(e.clock.Now()),
			ExpiresAt: jwt.NewNumericDate(e.clock.Now().Add(time.Minute)), ID: "n"}, ClientID: "svc-a", Scope: ScopeCredentialsIssue})
		none.Header["typ"] = AccessTokenType
		none.Header["kid"] = active.Kid
		noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

		cases := []struct {
			name  string
			token string
			scope string
			kind  error
		}{
			{"anonymous", "", ScopeCredentialsIssue, ErrInvalidToken},
			{"wrong scope", e.token(c, ScopeQRRedeem), ScopeCredentialsIssue, ErrInsufficientScope},
			{"expired", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) {
				cl.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(-time.Minute))
			}), ScopeCredentialsIssue, ErrInvalidToken},
			{"wrong audience", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) {
				cl.Audience = jwt.ClaimStrings{"https://bj.trustid.example"}
			}), ScopeCredentialsIssue, ErrInvalidToken},
			{"wrong issuer", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.Issuer = "https://bj.trustid.example" }), ScopeCredentialsIssue, ErrInvalidToken},
			{"alg none", noneTok, ScopeCredentialsIssue, ErrInvalidToken},
			{"line break in the signature", lineBreak(e.token(c, "")), ScopeCredentialsIssue, ErrInvalidToken},
			{"unknown kid", e.nodeToken(active.Signer, "no-such-kid", nil), ScopeCredentialsIssue, ErrInvalidToken},
			{"disabled client", offToken, ScopeCredentialsIssue, ErrInvalidToken},
			{"revoked", revoked, ScopeCredentialsIssue, ErrInvalidToken},
			{"non-node key", e.nodeToken(foreign, active.Kid, nil), ScopeCredentialsIssue, ErrInvalidToken},
			{"node ES256 key under the SM2 kid", e.nodeToken(es.Signer, active.Kid, nil), ScopeCredentialsIssue, ErrInvalidToken},
			{"node SM2 key under the ES256 kid", e.nodeToken(active.Signer, es.Kid, nil), ScopeCredentialsIssue, ErrInvalidToken},
			{"another ES256 key under the node's ES256 kid", e.nodeToken(foreignES, es.Kid, nil), ScopeCredentialsIssue, ErrInvalidToken},
			{"typ JWT", e.nodeToken(nil, "", func(h map[string]any, _ *testAccessClaims) { h["typ"] = "JWT" }), ScopeCredentialsIssue, ErrInvalidToken},
			{"future iat", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) {
				cl.IssuedAt = jwt.NewNumericDate(e.clock.Now().Add(5 * time.Minute))
			}), ScopeCredentialsIssue, ErrInvalidToken},
			{"no client_id", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.ClientID = "" }), ScopeCredentialsIssue, ErrInvalidToken},
			{"unregistered client", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) {
				cl.ClientID, cl.Subject = "svc-ghost", "svc-ghost"
			}), ScopeCredentialsIssue, ErrInvalidToken},
			{"garbage", "eyJ.eyJ.sig", ScopeCredentialsIssue, ErrInvalidToken},
			{"crit header", e.nodeToken(nil, "", func(h map[string]any, _ *testAccessClaims) { h["crit"] = []string{"exp"} }), ScopeCredentialsIssue, ErrInvalidToken},
			{"sub is not the client_id", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.Subject = "svc-off" }), ScopeCredentialsIssue, ErrInvalidToken},
			{"no iat", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.IssuedAt = nil }), ScopeCredentialsIssue, ErrInvalidToken},
			{"no jti", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.ID = "" }), ScopeCredentialsIssue, ErrInvalidToken},
			{"longer than maxTokenLen", e.nodeToken(nil, "", func(h map[string]any, _ *testAccessClaims) {
				h["pad"] = strings.Repeat("a", maxTokenLen*3/4)
			}), ScopeCredentialsIssue, ErrInvalidToken},
			{"no exp", e.nodeToken(nil, "", func(_ map[string]any, cl *testAccessClaims) { cl.ExpiresAt = nil }), ScopeCredentialsIssue, ErrInvalidToken},
		}
		for _, tc := range cases {
			for round := 0; round < 2; round++ { // the second round would hit the cache
				_, err := e.svc.Authorize(ctx, tc.token, tc.scope)
				if !errors.Is(err, tc.kind) {
					t.Errorf("cache %d, %s, round %d: got %v, want %v", cache, tc.name, round, err, tc.kind)
				}
			}
		}
		// The control: node tokens (SM2 and ES256) for a registered client
		// with the scope, typ at+jwt or its full media type (RFC 9068 §2.1).
		for _, k := range []keystore.Key{active, es} {
			for _, typ := range []string{AccessTokenType, "application/" + AccessTokenType} {
				if _, err := e.svc.Authorize(ctx, e.nodeToken(k.Signer, k.Kid, func(h map[string]any, cl *testAccessClaims) {
					h["typ"] = typ
					cl.ClientID, cl.Subject = c.ID, c.ID
				}), ScopeCredentialsIssue); err != nil {
					t.Errorf("cache %d: valid node token (%s, typ %s) refused: %v", cache, k.Alg, typ, err)
				}
			}
		}
	}
}

func TestCacheFollowsTokenLifeRevocationAndKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	tok := e.token(c, "")
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); err != nil {
		t.Fatal(err)
	}
	if e.svc.cache.len() != 1 {
		t.Fatalf("cache holds %d", e.svc.cache.len())
	}
	// Expiry: past exp + leeway the cached entry is not used.
	e.clock.Advance(10*time.Minute + DefaultLeeway)
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("expired cached token: %v", err)
	}
	// Revocation evicts.
	tok = e.token(c, "")
	e.svc.Authorize(ctx, tok, ScopeStatusWrite)
	if err := e.svc.Revoke(ctx, c.Client, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("revoked cached token: %v", err)
	}
	// Revocation through another node sharing the store: no local
	// eviction, but the store check still refuses it.
	tok = e.token(c, "")
	e.svc.Authorize(ctx, tok, ScopeStatusWrite)
	other := e.service(e.store)
	if err := other.Revoke(ctx, c.Client, tok); err != nil {
		t.Fatal(err)
	}
	// Within RevocationRecheck the cached entry still answers (the
	// documented propagation delay); after it, the list is consulted.
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); err != nil {
		t.Errorf("within the recheck interval: %v", err)
	}
	e.clock.Advance(DefaultRevocationRecheck)
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("token revoked on another node: %v", err)
	}
	// A disabled client's cached token stops working: at once where the
	// registry reports changes, within RevocationRecheck where it does not.
	tok = e.token(c, "")
	e.svc.Authorize(ctx, tok, ScopeStatusWrite)
	other.Authorize(ctx, tok, ScopeStatusWrite)
	e.clients.Update(ctx, c.ID, func(cl *Client) error { cl.Disabled = true; return nil })
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("disabled client's cached token: %v", err)
	}
	if _, err := other.Authorize(ctx, tok, ScopeStatusWrite); err != nil {
		t.Errorf("unwired service, within the recheck interval: %v", err)
	}
	e.clock.Advance(DefaultRevocationRecheck)
	if _, err := other.Authorize(ctx, tok, ScopeStatusWrite); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("unwired service, after the recheck interval: %v", err)
	}
	e.clients.Update(ctx, c.ID, func(cl *Client) error { cl.Disabled = false; return nil })
	// Key rotation: tokens of the retiring key verify; once it is retired
	// (and the key set refreshed) they stop, cached or not.
	tok = e.token(c, "")
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); err != nil {
		t.Fatal(err)
	}
	old, _ := e.keys.Active(gm.AlgSM2)
	if _, err := e.keys.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultKeyRefresh)
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); err != nil {
		t.Errorf("retiring key's token: %v", err)
	}
	newTok := e.token(c, "")
	if _, err := e.svc.Authorize(ctx, newTok, ScopeStatusWrite); err != nil {
		t.Errorf("new key's token: %v", err)
	}
	if err := e.keys.Retire(old.Kid); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultKeyRefresh)
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("retired key's cached token: %v", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CacheSize = 32 })
	c := e.register("svc-a", gm.AlgSM2)
	for range 200 {
		if _, err := e.svc.Authorize(context.Background(), e.token(c, ""), ScopeQRRedeem); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.svc.cache.len(); n > 32 || n == 0 {
		t.Errorf("cache holds %d entries, want 1..32", n)
	}
}

// TestIntrospectClientState: a token is active only while its client is
// registered and enabled. For the caller's own token that is the caller
// as authenticated (no second registry read); for another client's (an
// admin asking) it is the registry's record.
func TestIntrospectClientState(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	admin := e.register("ops", gm.AlgSM2, ScopeRegistryAdmin)
	tok := e.token(a, "")
	off, err := e.clients.Update(ctx, a.ID, func(cl *Client) error { cl.Disabled = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if in, err := e.svc.Introspect(ctx, off, tok); err != nil || in.Active {
		t.Errorf("own token of a disabled caller: %+v %v", in, err)
	}
	if in, err := e.svc.Introspect(ctx, admin.Client, tok); err != nil || in.Active {
		t.Errorf("admin asking about a disabled client's token: %+v %v", in, err)
	}
}

func TestIntrospectAndRevoke(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	b := e.register("svc-b", gm.AlgSM2, ScopeQRRedeem)
	admin := e.register("ops", gm.AlgSM2, ScopeRegistryAdmin)
	tok := e.token(a, "")

	in, err := e.svc.Introspect(ctx, a.Client, tok)
	if err != nil || !in.Active || in.ClientID != "svc-a" || in.Scope != ScopeQRRedeem || in.TokenType != "Bearer" ||
		in.Iss != testIssuer || in.Exp-in.Iat != 600 || in.Jti == "" {
		t.Errorf("own token: %+v %v", in, err)
	}
	if in, _ := e.svc.Introspect(ctx, b.Client, tok); in.Active {
		t.Error("another client's token is active to b")
	}
	if in, _ := e.svc.Introspect(ctx, admin.Client, tok); !in.Active {
		t.Error("admin cannot introspect")
	}
	if in, _ := e.svc.Introspect(ctx, a.Client, "garbage"); in.Active {
		t.Error("garbage is active")
	}
	if err := e.svc.Revoke(ctx, b.Client, tok); !errors.Is(err, ErrUnauthorizedClient) {
		t.Errorf("b revoking a's token: %v", err)
	}
	if err := e.svc.Revoke(ctx, a.Client, "garbage"); err != nil {
		t.Errorf("revoking garbage: %v", err)
	}
	if err := e.svc.Revoke(ctx, a.Client, tok); err != nil {
		t.Fatal(err)
	}
	if in, _ := e.svc.Introspect(ctx, a.Client, tok); in.Active {
		t.Error("revoked token is active")
	}
	if err := e.svc.Revoke(ctx, a.Client, tok); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	tok2 := e.token(a, "")
	if err := e.svc.Revoke(ctx, admin.Client, tok2); err != nil {
		t.Errorf("admin revoking: %v", err)
	}
	if _, err := e.svc.Authorize(ctx, tok2, ScopeQRRedeem); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("token revoked by admin: %v", err)
	}
}

func TestMetadataAndJWKS(t *testing.T) {
	e := newEnv(t)
	m := e.svc.Metadata()
	if m.Issuer != testIssuer || m.TokenEndpoint != testIssuer+"/oauth2/token" || m.JWKSURI != testIssuer+"/.well-known/jwks.json" ||
		m.IntrospectionEndpoint != testIssuer+"/oauth2/introspect" || m.RevocationEndpoint != testIssuer+"/oauth2/revoke" {
		t.Errorf("metadata %+v", m)
	}
	set, err := e.svc.JWKS()
	if err != nil || len(set.Keys) != len(e.keys.Published()) {
		t.Fatalf("jwks %v %v", set, err)
	}
	if _, err := e.keys.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	set2, _ := e.svc.JWKS()
	if len(set2.Keys) != len(set.Keys)+1 {
		t.Errorf("after rotation %d keys, want %d (active + retiring)", len(set2.Keys), len(set.Keys)+1)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	e := newEnv(t)
	bad := []func(*Config){
		func(c *Config) { c.Issuer = "https://x.example/" },
		func(c *Config) { c.Issuer = "ftp://x.example" },
		func(c *Config) { c.Issuer = "https://x.example?q=1" },
		func(c *Config) { c.TokenTTL = time.Second },
		func(c *Config) { c.TokenTTL = 48 * time.Hour },
		func(c *Config) { c.Leeway = time.Hour },
		func(c *Config) { c.MaxAssertionAge = time.Hour },
		func(c *Config) { c.Store = nil },
	}
	for i, f := range bad {
		cfg := Config{Issuer: testIssuer, Keys: e.keys, Clients: e.clients, Store: e.store}
		f(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

// TestAccessTokenAlgPerClient: the token endpoint signs with the client's
// AccessTokenAlg (SM2 when unset), validation accepts both, and a
// registration for any other algorithm is refused.
func TestAccessTokenAlgPerClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	for alg, want := range map[string]string{"": gm.AlgSM2, gm.AlgSM2: gm.AlgSM2, gm.AlgES256: gm.AlgES256} {
		cl := c.Client
		cl.AccessTokenAlg = alg
		resp, err := e.svc.Token(ctx, cl, TokenRequest{GrantType: GrantClientCredentials})
		if err != nil {
			t.Fatalf("%q: %v", alg, err)
		}
		tok, _, err := jwt.NewParser().ParseUnverified(resp.AccessToken, jwt.MapClaims{})
		if err != nil || tok.Method.Alg() != want {
			t.Errorf("client alg %q: token alg %v (%v), want %s", alg, tok.Method.Alg(), err, want)
		}
		if _, err := e.svc.Authorize(ctx, resp.AccessToken, ScopeStatusWrite); err != nil {
			t.Errorf("client alg %q: own token refused: %v", alg, err)
		}
	}
	for _, alg := range []string{"none", gm.AlgEdDSA, "HS256", "es256"} {
		_, _, err := NewClient(Registration{ID: "svc-x", Name: "x", Region: "310000", Scopes: Scopes, AuthMethod: AuthClientSecretBasic,
			AccessTokenAlg: alg}, e.clock.Now(), rand.Reader)
		if !errors.Is(err, ErrInvalidClientMetadata) {
			t.Errorf("access token alg %q: got %v, want invalid_client_metadata", alg, err)
		}
	}
}

// TestIntrospectVerifiesEveryTime: introspection neither fills nor reads
// the validated-token cache, so a token is verified in full each time:
// one with a broken signature is inactive even when the cache holds an
// entry under its hash.
func TestIntrospectVerifiesEveryTime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	tok := e.token(c, "")
	if in, err := e.svc.Introspect(ctx, c.Client, tok); err != nil || !in.Active {
		t.Fatalf("introspection: %+v, %v", in, err)
	}
	if n := e.svc.cache.len(); n != 0 {
		t.Errorf("introspection left %d cache entries", n)
	}
	// The signature with one character changed: still strict base64url.
	i := strings.LastIndexByte(tok, '.') + 5
	ch := byte('A')
	if tok[i] == 'A' {
		ch = 'B'
	}
	forged := tok[:i] + string(ch) + tok[i+1:]
	v := new(validToken)
	if err := e.svc.verifyToken(e.clock.Now(), tok, v); err != nil {
		t.Fatal(err)
	}
	v.scopes = grantedScopes(v.scope) // as validate caches it
	e.svc.cache.put(tokenHash(forged), v, e.clock.Now().UnixNano())
	if _, err := e.svc.Authorize(ctx, forged, ScopeStatusWrite); err != nil {
		t.Fatalf("the planted entry is not one Authorize would use: %v", err)
	}
	if in, err := e.svc.Introspect(ctx, c.Client, forged); err != nil || in.Active {
		t.Errorf("introspection of a broken signature with a cache entry: %+v, %v", in, err)
	}
}

// TestParseReuseKeepsNothing: a parse's token and buffer go back to
// jwsPool for the next parse, and a validToken keeps nothing of them:
// its strings and audience are unchanged after other tokens have been
// parsed into the same buffer.
func TestParseReuseKeepsNothing(t *testing.T) {
	e := newEnv(t)
	e.register("svc-a", gm.AlgSM2)
	a := e.nodeToken(nil, "", func(h map[string]any, cl *testAccessClaims) {
		h["b-pad"] = "decoded, not a known header"
		cl.Audience = jwt.ClaimStrings{testIssuer, "https://rs.example"}
	})
	v := new(validToken)
	if err := e.svc.verifyToken(e.clock.Now(), a, v); err != nil {
		t.Fatal(err)
	}
	snapshot := func(v *validToken) string {
		return strings.Join(append([]string{v.clientID, v.scope, v.jti, v.revoked, v.kid, v.iss}, v.aud...), "|")
	}
	want := strings.Clone(snapshot(v))
	for i := range 3 {
		b := e.nodeToken(nil, "", func(h map[string]any, cl *testAccessClaims) {
			h["b-pad"] = strings.Repeat("Z", 1+i) // moves kid
			cl.Audience = jwt.ClaimStrings{testIssuer, strings.Repeat("y", 18+i)}
			cl.Scope = strings.Repeat("s", len(ScopeCredentialsIssue)+i)
			cl.ID = strings.Repeat("j", len(cl.ID)+i)
		})
		if err := e.svc.verifyToken(e.clock.Now(), b, new(validToken)); err != nil {
			t.Fatal(err)
		}
		if got := snapshot(v); got != want {
			t.Fatalf("after another parse: %q, was %q", got, want)
		}
	}
}

// lineBreak puts "\r\n" inside a compact JWS's signature, which
// encoding/base64 would skip: the same signature, another token string.
func lineBreak(token string) string {
	i := len(token) - 8
	return token[:i] + "\r\n" + token[i:]
}

// BenchmarkAccessTokenParseUnverified is golang-jwt's parse of an access
// token without its signature check: the base64 of the three parts and
// the JSON of header and claims, the part of a validation around the SM2
// verification that the claims' decoder decides.
func BenchmarkAccessTokenParseUnverified(b *testing.B) {
	e := newEnv(b)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	token := e.token(c, "")
	p := jwt.NewParser(jwt.WithStrictDecoding())
	b.ReportAllocs()
	for b.Loop() {
		var claims accessclaims.Claims
		if _, _, err := p.ParseUnverified(token, &claims); err != nil || claims.ClientID == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAccessJWS is the node's one parse of an access token
// (parseAccessJWS), which replaced the ParseUnverified inside
// ParseWithClaims (BenchmarkAccessTokenParseUnverified).
func BenchmarkParseAccessJWS(b *testing.B) {
	e := newEnv(b)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	token := e.token(c, "")
	b.ReportAllocs()
	for b.Loop() {
		if j, err := parseAccessJWS(token, nil); err != nil || j.claims.ClientID == "" {
			b.Fatal(err)
		}
	}
}

// TestParseAccessJWSRefusals: what parseAccessJWS refuses before any key
// is looked up, and as which golang-jwt error kind: segments, strict
// unpadded base64url (no padding, no set bits past the data), a header
// that strictjson refuses, an alg outside AccessTokenAlgorithms (none
// among them) or unknown, claims that do not decode.
func TestParseAccessJWSRefusals(t *testing.T) {
	e := newEnv(t)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	good := e.token(c, "")
	if _, err := parseAccessJWS(good, nil); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	// loose sets a bit past the data in the last character of an
	// unpadded segment (one base64.RawURLEncoding ignores, Strict not).
	loose := func(seg string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		if len(seg)%4 == 0 {
			t.Fatalf("segment %q has no spare bits", seg)
		}
		i := strings.IndexByte(alphabet, seg[len(seg)-1])
		return seg[:len(seg)-1] + string(alphabet[i+1])
	}
	hdr := func(json string) string { return b64([]byte(json)) }
	odd := `{"alg":"SM2","typ":"at+jwt"}`
	for len(b64([]byte(odd)))%4 == 0 {
		odd = odd[:len(odd)-1] + ` }`
	}
	for _, c := range []struct {
		name, token string
		want        error
	}{
		{"two segments", parts[0] + "." + parts[1], jwt.ErrTokenMalformed},
		{"four segments", good + ".x", jwt.ErrTokenMalformed},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"padded signature", parts[0] + "." + parts[1] + "." + parts[2] + "==", jwt.ErrTokenMalformed},
		{"header bits past the data", loose(hdr(odd)) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(parts[0]) + "+." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"alg twice", hdr(`{"alg":"SM2","alg":"ES256","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"alg in another case too", hdr(`{"alg":"SM2","ALG":"none","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"unpaired surrogate in the header", hdr(`{"alg":"SM2","typ":"at+jwt","kid":"\ud800"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"header not an object", hdr(`["SM2"]`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"claims not JSON", parts[0] + "." + b64([]byte(`{"iss":`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"claims of the wrong type", parts[0] + "." + b64([]byte(`{"exp":"soon"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"alg none", hdr(`{"alg":"none","typ":"at+jwt"}`) + "." + parts[1] + ".", jwt.ErrTokenSignatureInvalid},
		{"alg HS256", hdr(`{"alg":"HS256","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenSignatureInvalid},
		{"alg unknown", hdr(`{"alg":"SM3withSM2","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenUnverifiable},
		{"alg missing", hdr(`{"typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenUnverifiable},
		{"alg not a string", hdr(`{"alg":1,"typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenUnverifiable},
		{"header null", hdr(`null`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"kid in another case", hdr(`{"alg":"SM2","typ":"at+jwt","KID":"k"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"claim twice", parts[0] + "." + b64([]byte(`{"sub":"a","sub":"b"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"claim in another case", parts[0] + "." + b64([]byte(`{"iss":"a","ISS":"b"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"claim only in another case", parts[0] + "." + b64([]byte(`{"Client_ID":"a"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"unpaired surrogate in a claim", parts[0] + "." + b64([]byte(`{"scope":"\udc00"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"unpaired surrogate in an unknown claim", parts[0] + "." + b64([]byte(`{"x":["\ud800"]}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"claims not UTF-8", parts[0] + "." + b64([]byte("{\"sub\":\"\xff\"}")) + "." + parts[2], jwt.ErrTokenMalformed},
		{"data after the claims", parts[0] + "." + b64([]byte(`{"sub":"a"} {}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"aud of the wrong type", parts[0] + "." + b64([]byte(`{"aud":[1]}`)) + "." + parts[2], jwt.ErrTokenMalformed},
	} {
		if _, err := parseAccessJWS(c.token, nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Members the node does not read are ignored (RFC 7515 §4, RFC 7519
	// §4), whatever their value.
	extra := hdr(`{"alg":"SM2","typ":"at+jwt","kid":"k","x5u":{"a":[1,null]},"cty":"x"}`) + "." +
		b64([]byte(`{"sub":"a","client_id":"a","cnf":{"jkt":"x"},"n":1e3,"l":[true]}`)) + "." + parts[2]
	j, err := parseAccessJWS(extra, nil)
	if err != nil || j.kid != "k" || j.header.Typ != "at+jwt" || j.claims.Subject != "a" || j.claims.ClientID != "a" {
		t.Fatalf("unknown members: %+v, %v", j, err)
	}
}

// TestIssuedTokensTakeKnownHeader: the header segment of a token the
// node issues is among its key set's known headers, decoded as
// decodeHeader decodes it, so parseAccessJWS does not decode it again.
func TestIssuedTokensTakeKnownHeader(t *testing.T) {
	e := newEnv(t)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	tok := e.token(c, "")
	set := e.svc.currentKeys(e.clock.Now())
	if len(set.headers) != len(set.keys) {
		t.Errorf("%d known headers for %d keys", len(set.headers), len(set.keys))
	}
	seg, _, _ := strings.Cut(tok, ".")
	hd, ok := set.headers[seg]
	if !ok {
		t.Fatalf("the issued header %q is not known", seg)
	}
	var want accessHeader
	if _, err := decodeHeader(nil, seg, &want); err != nil || hd != want {
		t.Errorf("known header %+v, decoded %+v (%v)", hd, want, err)
	}
}

// TestNewKeyTokenVerifiesAtOnce: a token signed with a key the keystore
// made active since the node last read its key set (a rotation reloaded
// by SIGHUP) verifies at the node that issued it at once, not only after
// KeyRefresh: the node never hands out a token it refuses itself (and
// another region's node asking it meanwhile would remember "inactive"
// for the token's life).
func TestNewKeyTokenVerifiesAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	if _, err := e.svc.Authorize(ctx, e.token(c, ""), ScopeStatusWrite); err != nil {
		t.Fatal(err)
	}
	if _, err := e.keys.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	tok := e.token(c, "")
	if _, err := e.svc.Authorize(ctx, tok, ScopeStatusWrite); err != nil {
		t.Errorf("the new key's token, before the key set is due: %v", err)
	}
}

// TestRevocationKeptUntilTokenExpiry: a revoked access token's marker
// (its jti) is kept while the token could still be accepted (until its
// exp plus the leeway) and not after: the store keeps no record of a
// revocation past the life of the token it stops.
func TestRevocationKeptUntilTokenExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	tok := e.token(a, "")
	in, err := e.svc.Introspect(ctx, a.Client, tok)
	if err != nil || !in.Active {
		t.Fatalf("introspect: %+v %v", in, err)
	}
	e.clock.Advance(time.Minute)
	if err := e.svc.Revoke(ctx, a.Client, tok); err != nil {
		t.Fatal(err)
	}
	until := time.Unix(in.Exp, 0).Add(DefaultLeeway)
	e.clock.Advance(until.Sub(e.clock.Now()) - time.Second)
	if _, err := e.store.Get(ctx, revokedKey(in.Jti)); err != nil {
		t.Errorf("a second before the token's end the revocation is not kept: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.store.Get(ctx, revokedKey(in.Jti)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the revocation is kept past the token's end (exp + leeway): %v", err)
	}
}

// TestOwnTokenEndsAtExp: the node is the clock of its own access tokens,
// so at introspection and at its protected routes (the validated-token
// cache too) a token is active until its exp and not from it on, the
// leeway notwithstanding: the leeway is for other parties' clocks (the
// SDK's offline verification, other regions' nodes). RFC 7662 §2.2: a
// "true" value says the token "is within its given time window of
// validity (e.g., after its issuance time and before its expiration
// time)"; RFC 7519 §4.1.4: "the current date/time MUST be before the
// expiration date/time listed in the "exp" claim".
func TestOwnTokenEndsAtExp(t *testing.T) {
	for _, cache := range []int{0, -1} {
		e := newEnv(t, func(c *Config) { c.CacheSize = cache })
		ctx := context.Background()
		a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
		tok := e.token(a, "")
		in, err := e.svc.Introspect(ctx, a.Client, tok)
		if err != nil || !in.Active {
			t.Fatalf("introspect: %+v %v", in, err)
		}
		exp := time.Unix(in.Exp, 0)
		for _, c := range []struct {
			at     time.Duration // from exp
			active bool
		}{
			{-time.Second, true},
			{0, false},
			{DefaultLeeway - time.Second, false},
		} {
			e.clock.Advance(exp.Add(c.at).Sub(e.clock.Now()))
			in, err := e.svc.Introspect(ctx, a.Client, tok)
			if err != nil || in.Active != c.active {
				t.Errorf("cache %d, exp%+v: introspection %+v %v, want active %v", cache, c.at, in, err, c.active)
			}
			_, err = e.svc.Authorize(ctx, tok, ScopeQRRedeem)
			if c.active != (err == nil) || (err != nil && (!errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "expired"))) {
				t.Errorf("cache %d, exp%+v: Authorize %v, want accepted %v", cache, c.at, err, c.active)
			}
		}
	}
}

// TestRegistryBoundsLiveTokens: the registry's current record bounds a
// token. A client demoted from registry:admin cannot use its live admin
// token for it (it could PATCH the scope back onto itself), its
// introspection says the narrowed scope, and a client no longer allowed
// client_credentials, or left with none of its token's scopes, has
// nothing left.
func TestRegistryBoundsLiveTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ops := e.register("ops", gm.AlgSM2, ScopeQRRedeem, ScopeRegistryAdmin)
	admin := e.register("admin", gm.AlgSM2, ScopeRegistryAdmin)
	tok := e.token(ops, "")
	if p, err := e.svc.Authorize(ctx, tok, ScopeRegistryAdmin); err != nil || len(p.Scopes) != 2 {
		t.Fatalf("before the change: %+v %v", p, err)
	}
	update := func(edit func(cl *Client)) Client {
		t.Helper()
		c, err := e.clients.Update(ctx, ops.ID, func(cl *Client) error { edit(cl); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	demoted := update(func(cl *Client) { cl.Scopes = []string{ScopeQRRedeem} })
	if _, err := e.svc.Authorize(ctx, tok, ScopeRegistryAdmin); !errors.Is(err, ErrInsufficientScope) {
		t.Errorf("demoted client's cached admin token: %v", err)
	}
	p, err := e.svc.Authorize(ctx, tok, ScopeQRRedeem)
	if err != nil || !slices.Equal(p.Scopes, []string{ScopeQRRedeem}) {
		t.Errorf("demoted client's token for a scope it keeps: %+v %v", p, err)
	}
	for _, caller := range []Client{demoted, admin.Client} {
		if in, err := e.svc.Introspect(ctx, caller, tok); err != nil || !in.Active || in.Scope != ScopeQRRedeem {
			t.Errorf("%s introspecting the demoted client's token: %+v %v", caller.ID, in, err)
		}
	}
	// A fresh validation (no cache entry) is bounded too.
	other := e.service(e.store)
	if _, err := other.Authorize(ctx, tok, ScopeRegistryAdmin); !errors.Is(err, ErrInsufficientScope) {
		t.Errorf("another instance: %v", err)
	}

	none := update(func(cl *Client) { cl.Scopes = []string{ScopeStatusWrite} })
	if _, err := e.svc.Authorize(ctx, tok, ScopeQRRedeem); !errors.Is(err, ErrInsufficientScope) {
		t.Errorf("token left with no scope: %v", err)
	}
	if in, err := e.svc.Introspect(ctx, none, tok); err != nil || in.Active {
		t.Errorf("introspecting a token left with no scope: %+v %v", in, err)
	}

	update(func(cl *Client) { cl.Scopes = []string{ScopeQRRedeem, ScopeRegistryAdmin} })
	if _, err := e.svc.Authorize(ctx, tok, ScopeRegistryAdmin); err != nil {
		t.Errorf("scope given back: %v", err)
	}
	noGrant := update(func(cl *Client) {
		cl.GrantTypes = []string{GrantAuthorizationCode}
		cl.RedirectURIs = []string{"https://ops.example/cb"}
	})
	if _, err := e.svc.Authorize(ctx, tok, ScopeQRRedeem); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("client no longer allowed client_credentials: %v", err)
	}
	for _, caller := range []Client{noGrant, admin.Client} {
		if in, err := e.svc.Introspect(ctx, caller, tok); err != nil || in.Active {
			t.Errorf("%s introspecting a token of a client no longer allowed client_credentials: %+v %v", caller.ID, in, err)
		}
	}
}
