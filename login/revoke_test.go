package login

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/store"
)

// TestRevokeAndIntrospect: the revocation endpoint (RFC 7009) revokes a
// login's refresh token with every token of its login (§2.1) and an
// access token alone, for the client they were issued to only; another
// client's revocation changes nothing. Introspection (RFC 7662) shows a
// live token to its client and to registry:admin, with its members, and
// nothing to anyone once it is revoked.
func TestRevokeAndIntrospect(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	add := func(id string, scopes ...string) auth.Client {
		c, _, err := auth.NewClient(auth.Registration{ID: id, Name: id, Region: "310000", Scopes: scopes,
			GrantTypes: []string{auth.GrantAuthorizationCode}, RedirectURIs: []string{testRedirect}, AuthMethod: auth.AuthClientSecretBasic}, time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.cfg.Clients.(*auth.MemoryStore).Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	shop := shopClient(t, p)
	other := add("other", auth.ScopeQRRedeem)
	admin := add("ops", auth.ScopeRegistryAdmin)
	n := 0
	login := func() *TokenResponse {
		n++
		resp, err := shopTokens(ctx, p, shop, "family-"+string(rune('a'+n)))
		if err != nil || resp.RefreshToken == "" {
			t.Fatalf("tokens: %+v %v", resp, err)
		}
		return resp
	}
	active := func(caller auth.Client, tok string) auth.Introspection {
		t.Helper()
		res, err := p.Introspect(ctx, caller, tok)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	refreshes := func(tok string) bool {
		_, err := shopRefresh(ctx, p, shop, tok)
		return err == nil
	}
	works := func(tok string) bool { _, err := p.UserInfo(ctx, tok); return err == nil }

	tok := login()
	now := time.Now().Unix()
	at := active(shop, tok.AccessToken)
	if !at.Active || at.ClientID != "shop" || at.Sub != "pairwise-1" || at.Scope != "openid offline_access" || at.TokenType != "Bearer" ||
		at.Iss != "https://node.example" || at.Aud != "https://node.example" || at.Iat < now-5 || at.Iat > now || at.Exp != at.Iat+600 {
		t.Errorf("access token: %+v", at)
	}
	rt := active(shop, tok.RefreshToken)
	if !rt.Active || rt.ClientID != "shop" || rt.Sub != "pairwise-1" || rt.TokenType != "" || rt.Exp != rt.Iat+30*24*3600 {
		t.Errorf("refresh token: %+v", rt)
	}
	if got := active(admin, tok.AccessToken); got != at {
		t.Errorf("registry:admin: %+v, want %+v", got, at)
	}
	for _, tk := range []string{tok.AccessToken, tok.RefreshToken, tok.IDToken, "", "x", string(make([]byte, 65))} {
		if got := active(other, tk); got != (auth.Introspection{}) {
			t.Errorf("another client introspects %.8q: %+v", tk, got)
		}
	}

	// Another client's revocation: refused (RFC 7009 §2.1), nothing
	// revoked; an unknown token is no error (§2.2).
	for _, tk := range []string{tok.AccessToken, tok.RefreshToken} {
		var e *Error
		if err := p.Revoke(ctx, other, tk); !errors.As(err, &e) || e.Code != CodeUnauthorizedClient {
			t.Errorf("another client revokes %.8q: %v, want unauthorized_client", tk, err)
		}
	}
	for _, tk := range []string{"unknown", ""} {
		if err := p.Revoke(ctx, other, tk); err != nil {
			t.Errorf("another client revokes %.8q: %v", tk, err)
		}
	}
	if !works(tok.AccessToken) || !active(shop, tok.RefreshToken).Active {
		t.Fatal("another client's revocation revoked the tokens")
	}

	// The access token alone.
	if err := p.Revoke(ctx, shop, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if works(tok.AccessToken) || active(shop, tok.AccessToken).Active || active(admin, tok.AccessToken).Active {
		t.Error("a revoked access token is still good")
	}
	if !active(shop, tok.RefreshToken).Active || !refreshes(tok.RefreshToken) {
		t.Error("revoking an access token revoked its refresh token")
	}

	// A refresh token: with its login's other tokens.
	tok = login()
	if err := p.Revoke(ctx, shop, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if refreshes(tok.RefreshToken) || works(tok.AccessToken) || active(shop, tok.RefreshToken).Active || active(shop, tok.AccessToken).Active {
		t.Error("a revoked refresh token, or its login's access token, is still good")
	}
	// Revoking again, or a spent token: no error.
	if err := p.Revoke(ctx, shop, tok.RefreshToken); err != nil {
		t.Error(err)
	}

	// A disabled client's tokens are inactive to registry:admin.
	tok = login()
	if _, err := p.cfg.Clients.(*auth.MemoryStore).Update(ctx, "shop", func(c *auth.Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := active(admin, tok.AccessToken); got.Active {
		t.Errorf("a disabled client's token: %+v", got)
	}
}

// TestRefreshTokenStoredOnce: a refresh token is one store entry, its
// login's family record, which introspection and revocation read without
// spending it (beside it, the record's handle named from the login's sid,
// for a logout to find it, as the login's index of its access tokens
// is); so are refresh tokens stored by older nodes,
// which kept the record alone (no iat, exp) or with a readable copy
// beside it.
func TestRefreshTokenStoredOnce(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	mem := p.cfg.Store.(*store.Memory)
	shop := shopClient(t, p)
	g := grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}
	before := mem.Len()
	resp, err := p.tokens(ctx, shop, refresh{ClientID: "shop", Scope: "openid offline_access", Family: "family-new", Grant: g}, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := mem.Len() - before; n != 4 {
		t.Errorf("an access and a refresh token took %d store entries, want 4 (the access token and the login's index of them, the family record, its handle)", n)
	}
	if res, err := p.Introspect(ctx, shop, resp.RefreshToken); err != nil || !res.Active {
		t.Fatalf("introspection of a new refresh token: %+v %v", res, err)
	}

	// An older node's refresh token: its record as it stored it.
	old, _ := json.Marshal(map[string]any{"client_id": "shop", "scope": "openid offline_access", "family": "family-old", "grant": g})
	if err := mem.Put(ctx, refreshKey("old-refresh-token"), old, time.Hour); err != nil {
		t.Fatal(err)
	}
	res, err := p.Introspect(ctx, shop, "old-refresh-token")
	if err != nil || !res.Active || res.ClientID != "shop" || res.Sub != "pairwise-1" || res.Exp != 0 {
		t.Fatalf("introspection of an older node's refresh token: %+v %v", res, err)
	}
	if err := p.Revoke(ctx, shop, "old-refresh-token"); err != nil {
		t.Fatal(err)
	}
	if !p.familyRevoked(ctx, "family-old") {
		t.Error("revoking an older node's refresh token did not end its login")
	}
	if res, err := p.Introspect(ctx, shop, "old-refresh-token"); err != nil || res.Active {
		t.Errorf("introspection of a revoked refresh token: %+v %v", res, err)
	}

	// A rotated refresh token is found no more, the new one is.
	next, err := shopRefresh(ctx, p, shop, resp.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]bool{resp.RefreshToken: false, next.RefreshToken: true} {
		if res, err := p.Introspect(ctx, shop, tok); err != nil || res.Active != want {
			t.Errorf("introspection after rotation: %+v %v, want active %v", res, err, want)
		}
	}
}

// TestLogoutHintCrit: RFC 7515 §4.1.11: an id_token_hint with crit (the
// node understands no extension) is not an ID token of this node, and
// ends no login.
func TestLogoutHintCrit(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	key, err := p.cfg.Keys.Active(IDTokenAlgorithms[0])
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(key.Alg), jwt.MapClaims{"iss": p.cfg.Issuer, "sub": "s", "aud": "shop", "sid": "family-crit",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
	tok.Header["kid"] = key.Kid
	tok.Header["crit"] = []string{"urn:example:must-check"}
	tok.Header["urn:example:must-check"] = true
	hint, err := tok.SignedString(key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := p.Logout(ctx, url.Values{"id_token_hint": {hint}}); !errors.As(err, &e) || e.Code != CodeInvalidRequest {
		t.Errorf("a hint with crit: %v", err)
	}
	if p.familyRevoked(ctx, "family-crit") {
		t.Error("a hint with crit ended its login")
	}
	delete(tok.Header, "crit")
	if hint, _ = tok.SignedString(key.Signer); func() error { _, err := p.Logout(ctx, url.Values{"id_token_hint": {hint}}); return err }() != nil {
		t.Error("the same hint without crit is refused")
	}
}

// TestDiscoveryKeepsMetadata: the OpenID Provider configuration is the
// authorization server metadata with login's members added: every
// member of the metadata is there with its value (grant types, response
// types and scopes joined with login's), and it says iss is in every
// authorization response (RFC 9207 §2.3).
func TestDiscoveryKeepsMetadata(t *testing.T) {
	p := newTestProvider(t)
	var m auth.Metadata
	v := reflect.ValueOf(&m).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("value-" + v.Type().Field(i).Name)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"value-" + v.Type().Field(i).Name}))
		default:
			t.Fatalf("auth.Metadata.%s: a %s", v.Type().Field(i).Name, f.Kind())
		}
	}
	decode := func(x any) map[string]any {
		b, _ := json.Marshal(x)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want, got := decode(m), decode(p.Discovery(m))
	joined := []string{"grant_types_supported", "response_types_supported", "scopes_supported"}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s is missing", k)
		case slices.Contains(joined, k):
			if !slices.Contains(g.([]any), w.([]any)[0]) {
				t.Errorf("%s: %v lacks %v", k, g, w)
			}
		case !reflect.DeepEqual(g, w):
			t.Errorf("%s: %v, want %v", k, g, w)
		}
	}
	if got["authorization_response_iss_parameter_supported"] != true || got["authorization_endpoint"] != "https://node.example"+AuthorizePath {
		t.Errorf("login's members: %v", got)
	}
}

// TestDiscoveryNoUserInfoJWT: the configuration names no
// userinfo_signing_alg_values_supported, the algorithms "supported by the
// UserInfo Endpoint to encode the Claims in a JWT" (OpenID Connect
// Discovery 1.0 §3): userinfo answers application/json only, never a JWT
// (it said ["none"], an unsigned JWT it does not make).
func TestDiscoveryNoUserInfoJWT(t *testing.T) {
	p := newTestProvider(t)
	if v, ok := p.Discovery(auth.Metadata{})["userinfo_signing_alg_values_supported"]; ok {
		t.Errorf("userinfo_signing_alg_values_supported %v: userinfo encodes no JWT", v)
	}
}

// TestRevokeRacingRotation: a relying party's logout (revoking its
// refresh token) that races a rotation of that token (its own refresh
// in another request, or someone who stole the token) finds the token
// spent a moment before. It still ends the login: answering 200 and
// revoking nothing would leave the rotation's new tokens good. Another
// client's revocation of a rotated token is refused and ends nothing.
func TestRevokeRacingRotation(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	other, _, err := auth.NewClient(auth.Registration{ID: "other", Name: "other", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		GrantTypes: []string{auth.GrantAuthorizationCode}, RedirectURIs: []string{testRedirect}, AuthMethod: auth.AuthClientSecretBasic}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rotated := func(family string) (old, next *TokenResponse) {
		t.Helper()
		old, err := shopTokens(ctx, p, shop, family)
		if err != nil {
			t.Fatal(err)
		}
		// The rotation's Spend comes first; the revocation reads after it.
		if next, err = shopRefresh(ctx, p, shop, old.RefreshToken); err != nil {
			t.Fatal(err)
		}
		return old, next
	}
	alive := func(next *TokenResponse) bool {
		_, uerr := p.UserInfo(ctx, next.AccessToken)
		res, ierr := p.Introspect(ctx, shop, next.RefreshToken)
		return uerr == nil || ierr != nil || res.Active
	}

	old, next := rotated("family-raced")
	if err := p.Revoke(ctx, shop, old.RefreshToken); err != nil {
		t.Fatalf("revoking the rotated refresh token: %v", err)
	}
	if alive(next) {
		t.Error("revoking a refresh token that a racing rotation spent left the rotation's tokens good")
	}
	if _, err := shopRefresh(ctx, p, shop, next.RefreshToken); err == nil {
		t.Error("the rotation's refresh token still refreshes")
	}

	// The same, racing: whichever comes first, nothing stays good.
	for i := range 50 {
		tok, err := shopTokens(ctx, p, shop, fmt.Sprintf("family-race-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg   sync.WaitGroup
			next *TokenResponse
			rerr error
		)
		wg.Go(func() {
			next, _ = shopRefresh(ctx, p, shop, tok.RefreshToken)
		})
		wg.Go(func() { rerr = p.Revoke(ctx, shop, tok.RefreshToken) })
		wg.Wait()
		if rerr != nil {
			t.Fatal(rerr)
		}
		if next != nil && alive(next) {
			t.Fatalf("round %d: a refresh racing the revocation kept the login", i)
		}
	}

	old, next = rotated("family-other")
	var e *Error
	if err := p.Revoke(ctx, other, old.RefreshToken); !errors.As(err, &e) || e.Code != CodeUnauthorizedClient {
		t.Errorf("another client revokes a rotated token: %v, want unauthorized_client", err)
	}
	if !alive(next) {
		t.Error("another client's revocation of a rotated token ended the login")
	}
}

// TestRevokedLoginRecordDeleted: revoking a login's refresh token (a
// relying party's logout), or ending the login on a refresh token's
// reuse or use by another client, deletes the login's family record, which holds
// the pairwise sub and the released claims and which no token of the
// revoked login reads again; only the revocation marker is kept. (The
// record was kept until its own expiry, up to 30 days after the last
// refresh.) The login stays ended. On the memory store and Redis.
func TestRevokedLoginRecordDeleted(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testRevokedLoginRecordDeleted(t, newTestProvider(t)) })
	t.Run("redis", func(t *testing.T) {
		p := newTestProvider(t)
		useRedis(t, p)
		testRevokedLoginRecordDeleted(t, p)
	})
}

func testRevokedLoginRecordDeleted(t *testing.T, p *Provider) {
	ctx := context.Background()
	shop := shopClient(t, p)
	tok, err := p.tokens(ctx, shop, refresh{ClientID: "shop", Scope: "openid offline_access", Family: "family-logout",
		Grant: grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}, Claims: map[string]string{"age_over_18": "true"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	handle, _ := tokenHandle(tok.RefreshToken)
	if err := p.Revoke(ctx, shop, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if b, err := p.cfg.Store.Get(ctx, familyKey(handle)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the revoked login's family record is still stored (%d bytes, %v)", len(b), err)
	}
	if !p.familyRevoked(ctx, "family-logout") {
		t.Error("the login is not revoked")
	}
	var e *Error
	if _, err := shopRefresh(ctx, p, shop, tok.RefreshToken); !errors.As(err, &e) || e.Code != CodeInvalidGrant {
		t.Errorf("a refresh after the logout: %v, want %s", err, CodeInvalidGrant)
	}
	if in, err := p.Introspect(ctx, shop, tok.AccessToken); err != nil || in.Active {
		t.Errorf("the login's access token after the logout: %+v %v, want inactive", in, err)
	}

	// A login ended by the reuse of a rotated refresh token, or by its
	// use from another client, likewise.
	other, err := p.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	other.ID = "other"
	for _, ending := range []string{"reuse", "another client"} {
		first, err := shopTokens(ctx, p, shop, "family-"+ending)
		if err != nil {
			t.Fatal(err)
		}
		handle, _ := tokenHandle(first.RefreshToken)
		next, err := shopRefresh(ctx, p, shop, first.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		by, tk := shop, first.RefreshToken
		if ending == "another client" {
			by, tk = other, next.RefreshToken
		}
		if _, err := p.Token(ctx, by, map[string]string{"grant_type": GrantRefreshToken, "refresh_token": tk}); !errors.As(err, &e) || e.Code != CodeInvalidGrant {
			t.Fatalf("%s: %v, want %s", ending, err, CodeInvalidGrant)
		}
		if !p.familyRevoked(ctx, "family-"+ending) {
			t.Errorf("%s: the login is not revoked", ending)
		}
		if b, err := p.cfg.Store.Get(ctx, familyKey(handle)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the ended login's family record is still stored (%d bytes, %v)", ending, len(b), err)
		}
	}
}

// refreshedLogin is a login of shop begun with an authorization code
// (newCodeFixture): first is the code's tokens, second the first
// refresh's; redeem redeems a code again.
type refreshedLogin struct {
	p             *Provider
	code          string
	redeem        func(code string) (*TokenResponse, error)
	first, second *TokenResponse
}

// newRefreshedLogin makes a refreshedLogin, on Redis if redis.
func newRefreshedLogin(t *testing.T, redis bool) refreshedLogin {
	t.Helper()
	p, issue, redeem := newCodeFixture(t)
	if redis {
		useRedis(t, p)
	}
	l := refreshedLogin{p: p, code: issue(), redeem: redeem}
	var err error
	if l.first, err = redeem(l.code); err != nil {
		t.Fatal(err)
	}
	if l.second, err = shopRefresh(context.Background(), p, shopClient(t, p), l.first.RefreshToken); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestEndedBySidLoginRecordDeleted: a login ended by its sid alone, an
// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2, with
// the ID token of a refresh) or a replay of its code (RFC 6749 §4.1.2),
// deletes the login's family record (the pairwise sub, the released
// claims) and what names it (the record's handle, kept masked: no part
// of a token in clear), keeping only the revocation marker; the
// login stays ended. (The record was kept until its own expiry, up to
// 30 days after the last refresh: the sid did not lead to it.) On the
// memory store and Redis.
func TestEndedBySidLoginRecordDeleted(t *testing.T) {
	for _, ending := range []string{"logout", "code replay"} {
		t.Run(ending+"/memory", func(t *testing.T) { testEndedBySidLoginRecordDeleted(t, ending, false) })
		t.Run(ending+"/redis", func(t *testing.T) { testEndedBySidLoginRecordDeleted(t, ending, true) })
	}
}

func testEndedBySidLoginRecordDeleted(t *testing.T, ending string, redis bool) {
	l := newRefreshedLogin(t, redis)
	p, code, redeem, resp := l.p, l.code, l.redeem, l.second
	ctx := context.Background()
	handle, _ := tokenHandle(resp.RefreshToken)
	family := codeFamily(code)
	if _, err := p.cfg.Store.Get(ctx, familyKey(handle)); err != nil {
		t.Fatalf("the login's family record before it ends: %v", err)
	}
	if b, err := p.cfg.Store.Get(ctx, familyHandleKey(family)); err != nil || strings.Contains(string(b), handle) || len(b) != len(handle) {
		t.Fatalf("the handle named from the sid: %q %v, want it masked", b, err)
	}
	switch ending {
	case "logout":
		if _, err := p.Logout(ctx, url.Values{"id_token_hint": {resp.IDToken}}); err != nil {
			t.Fatal(err)
		}
	case "code replay":
		if _, err := redeem(code); !isCode(err, CodeInvalidGrant) {
			t.Fatalf("replay: %v, want %s", err, CodeInvalidGrant)
		}
	}
	for _, key := range []string{familyKey(handle), familyHandleKey(family)} {
		if b, err := p.cfg.Store.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s is still stored after the login ended (%d bytes, %v)", strings.SplitN(key, ":", 2)[0], len(b), err)
		}
	}
	if !p.familyRevoked(ctx, family) || !loginEnded(t, p, resp) {
		t.Error("the login is not ended")
	}
}

// TestFailedFamilyLeavesNoHandle: a login's first refresh token whose
// family record cannot be written is temporarily_unavailable, and the
// handle written before it under the login's sid is deleted: it names no
// record, and was kept 30 days for nothing. On the memory store and
// Redis.
func TestFailedFamilyLeavesNoHandle(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[redis], func(t *testing.T) {
			p := newTestProvider(t)
			if redis {
				useRedis(t, p)
			}
			ctx := context.Background()
			shop := shopClient(t, p)
			healthy := p.cfg.Store
			p.cfg.Store = &failOnce{Store: healthy, prefix: "login-rtf:"}
			_, err := shopTokens(ctx, p, shop, "family-failed")
			if !isCode(err, CodeTemporarilyUnavailable) {
				t.Fatalf("a family record the store cannot write: %v, want %s", err, CodeTemporarilyUnavailable)
			}
			if b, err := healthy.Get(ctx, familyHandleKey("family-failed")); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the handle of a family never written is kept (%d bytes, %v)", len(b), err)
			}
		})
	}
}

// revokedUnreadable is a Store that cannot read revocation markers.
type revokedUnreadable struct{ Store }

func (s revokedUnreadable) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, familyRevokedKey("")) {
		return nil, errors.New("store down")
	}
	return s.Store.Get(ctx, key)
}

// TestRevocationUnreadableFailsClosed: while whether a login was revoked
// cannot be read, its tokens do not work (familyRevoked fails closed).
func TestRevocationUnreadableFailsClosed(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	resp, err := shopTokens(ctx, p, shop, "family-a")
	if err != nil {
		t.Fatal(err)
	}
	p.cfg.Store = revokedUnreadable{p.cfg.Store}
	if _, err := p.UserInfo(ctx, resp.AccessToken); err == nil {
		t.Error("userinfo answered")
	}
	if res, err := p.Introspect(ctx, shop, resp.AccessToken); err != nil || res.Active {
		t.Errorf("introspection: %+v %v", res, err)
	}
	if _, err := shopRefresh(ctx, p, shop, resp.RefreshToken); err == nil {
		t.Error("the refresh token refreshed")
	}
}

// TestEndedLoginAccessTokensDeleted: a login ended as a whole (an
// RP-initiated logout, a replay of its code, its refresh token revoked
// or reused) deletes the records of all its live access tokens (the
// pairwise sub, the released claims), here the code's and the refresh's,
// and the index that names them, as well as refusing them: the records
// were kept to their expiry (10 minutes), refused by the login's
// revocation marker alone, since nothing led from the login to them. The
// index keeps the tokens' handles masked (no part of a token in clear).
// On the memory store and Redis.
func TestEndedLoginAccessTokensDeleted(t *testing.T) {
	for _, ending := range []string{"logout", "code replay", "refresh token revoked", "refresh token reused"} {
		t.Run(ending+"/memory", func(t *testing.T) { testEndedLoginAccessTokensDeleted(t, ending, false) })
		t.Run(ending+"/redis", func(t *testing.T) { testEndedLoginAccessTokensDeleted(t, ending, true) })
	}
}

func testEndedLoginAccessTokensDeleted(t *testing.T, ending string, redis bool) {
	l := newRefreshedLogin(t, redis)
	p, code, redeem, first, second := l.p, l.code, l.redeem, l.first, l.second
	ctx := context.Background()
	shop := shopClient(t, p)
	var err error
	family := codeFamily(code)
	var keys []string
	for _, resp := range []*TokenResponse{first, second} {
		handle, ok := tokenHandle(resp.AccessToken)
		if !ok {
			t.Fatalf("access token %d characters, want a handle and a secret", len(resp.AccessToken))
		}
		if b, err := p.cfg.Store.Get(ctx, accessKey(handle)); err != nil || strings.Contains(string(b), resp.AccessToken) {
			t.Fatalf("the access token's record before the login ends: %v (token in clear: %v)", err, strings.Contains(string(b), resp.AccessToken))
		}
		if b, err := p.cfg.Store.Get(ctx, accessIndexKey(family)); err != nil || strings.Contains(string(b), handle) {
			t.Fatalf("the login's index of access tokens: %v (handle in clear: %v)", err, strings.Contains(string(b), handle))
		}
		keys = append(keys, accessKey(handle))
	}
	switch ending {
	case "logout":
		_, err = p.Logout(ctx, url.Values{"id_token_hint": {second.IDToken}})
	case "code replay":
		if _, err = redeem(code); isCode(err, CodeInvalidGrant) {
			err = nil
		}
	case "refresh token revoked":
		err = p.Revoke(ctx, shop, second.RefreshToken)
	case "refresh token reused":
		if _, err = shopRefresh(ctx, p, shop, first.RefreshToken); isCode(err, CodeInvalidGrant) {
			err = nil
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", ending, err)
	}
	for i, key := range append(keys, accessIndexKey(family)) {
		if b, err := p.cfg.Store.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("record %d (%s) is still stored after the login ended (%d bytes, %v)", i, strings.SplitN(key, ":", 2)[0], len(b), err)
		}
	}
	for _, resp := range []*TokenResponse{first, second} {
		if _, err := p.UserInfo(ctx, resp.AccessToken); !isCode(err, CodeInvalidToken) {
			t.Errorf("userinfo after the login ended: %v, want %s", err, CodeInvalidToken)
		}
		if in, err := p.Introspect(ctx, shop, resp.AccessToken); err != nil || in.Active {
			t.Errorf("introspection after the login ended: %+v %v, want inactive", in, err)
		}
	}
}

// TestAccessTokensOfALoginBounded: a login's live access tokens, and its
// index of them, which every issue reads and writes whole, are at most
// maxLiveAccess: a client refreshing faster than its tokens expire has
// its oldest ended (refused, their records deleted), the newest working;
// ending the login then leaves no record behind.
func TestAccessTokensOfALoginBounded(t *testing.T) {
	p, issue, redeem := newCodeFixture(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	code := issue()
	resp, err := redeem(code)
	if err != nil {
		t.Fatal(err)
	}
	given := []*TokenResponse{resp}
	for range 2 * maxLiveAccess {
		if resp, err = shopRefresh(ctx, p, shop, resp.RefreshToken); err != nil {
			t.Fatal(err)
		}
		given = append(given, resp)
	}
	family := codeFamily(code)
	b, err := p.cfg.Store.Get(ctx, accessIndexKey(family))
	var index []indexedAccess
	if err != nil || json.Unmarshal(b, &index) != nil || len(index) != maxLiveAccess {
		t.Fatalf("the index after %d issues: %d entries (%d bytes, %v), want %d", len(given), len(index), len(b), err, maxLiveAccess)
	}
	t.Logf("the index of %d access tokens: %d bytes", len(index), len(b))
	cut := len(given) - maxLiveAccess
	for i, r := range given {
		handle, _ := tokenHandle(r.AccessToken)
		_, stored := p.cfg.Store.Get(ctx, accessKey(handle))
		_, err := p.UserInfo(ctx, r.AccessToken)
		switch {
		case i < cut && (!isCode(err, CodeInvalidToken) || !errors.Is(stored, store.ErrNotFound)):
			t.Errorf("access token %d, past the bound: userinfo %v, its record %v; want invalid_token and no record", i, err, stored)
		case i >= cut && (err != nil || stored != nil):
			t.Errorf("access token %d, of the newest %d: userinfo %v, its record %v", i, maxLiveAccess, err, stored)
		}
	}
	if _, err := p.Logout(ctx, url.Values{"id_token_hint": {resp.IDToken}}); err != nil {
		t.Fatal(err)
	}
	for i, r := range given {
		handle, _ := tokenHandle(r.AccessToken)
		if _, err := p.cfg.Store.Get(ctx, accessKey(handle)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("access token %d's record after the logout: %v", i, err)
		}
	}
}

// TestAccessTokenOfNoLoginNotIndexed: an access token issued from a
// record that names no login (an older node's, without a family) is not
// put in an index shared by every such token.
func TestAccessTokenOfNoLoginNotIndexed(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	if _, err := p.tokens(ctx, shop, refresh{ClientID: "shop", Scope: "openid", Grant: grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}}, ""); err != nil {
		t.Fatal(err)
	}
	if b, err := p.cfg.Store.Get(ctx, accessIndexKey("")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an index of tokens of no login: %d bytes, %v", len(b), err)
	}
}

// TestAccessTokenHandleAloneRefused: an access token's handle (its first
// 16 characters, which the login's index keeps masked only with a digest
// of the ID token's sid) is not an access token: userinfo, introspection
// and revocation take it for no token, as they do the handle with
// another secret, and the token itself stays live.
func TestAccessTokenHandleAloneRefused(t *testing.T) {
	p, issue, redeem := newCodeFixture(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	resp, err := redeem(issue())
	if err != nil {
		t.Fatal(err)
	}
	handle, ok := tokenHandle(resp.AccessToken)
	if !ok {
		t.Fatalf("access token %d characters, want a handle and a secret", len(resp.AccessToken))
	}
	otherSecret := handle + strings.Repeat("A", len(resp.AccessToken)-len(handle))
	for _, forged := range []string{handle, otherSecret} {
		if _, err := p.UserInfo(ctx, forged); !isCode(err, CodeInvalidToken) {
			t.Errorf("userinfo with %d characters of the token: %v, want invalid_token", len(forged), err)
		}
		if in, err := p.Introspect(ctx, shop, forged); err != nil || in.Active {
			t.Errorf("introspection of %d characters of the token: %+v, %v, want inactive", len(forged), in, err)
		}
		if err := p.Revoke(ctx, shop, forged); err != nil {
			t.Errorf("revocation of %d characters of the token: %v", len(forged), err)
		}
	}
	if _, err := p.UserInfo(ctx, resp.AccessToken); err != nil {
		t.Errorf("the access token after the forged revocations: %v", err)
	}
}

// revokeAfterHandle is a store that runs revoke once, right after the
// first write of a login's handle index: a revocation (a logout by sid,
// a replayed code) landing between the index and the family record of
// a login's first issue.
type revokeAfterHandle struct {
	Store
	revoke func(family string)
	done   bool
}

func (s *revokeAfterHandle) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	err := s.Store.Set(ctx, key, value, ttl)
	if family, ok := strings.CutPrefix(key, familyHandleKey("")); ok && err == nil && !s.done {
		s.done = true
		s.revoke(family)
	}
	return err
}

// TestRevocationRacingFirstIssue: a login revoked while its first tokens
// are issued (the revocation reads the handle index before the family
// record is written, so it deletes nothing and the record is written
// after it) has a family record whose refresh token matches; the
// revocation marker alone refuses it, and the login's other tokens.
func TestRevocationRacingFirstIssue(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	raced := &revokeAfterHandle{Store: p.cfg.Store}
	raced.revoke = func(family string) {
		if err := p.revokeFamily(ctx, family); err != nil {
			t.Error(err)
		}
	}
	p.cfg.Store = raced
	resp, err := shopTokens(ctx, p, shop, "family-raced")
	if err != nil {
		t.Fatal(err)
	}
	if !raced.done {
		t.Fatal("the revocation did not run")
	}
	handle, _ := tokenHandle(resp.RefreshToken)
	if _, _, err := p.family(ctx, handle); err != nil {
		t.Fatalf("the family record written after the revocation is not there: %v", err)
	}
	if _, err := shopRefresh(ctx, p, shop, resp.RefreshToken); !isCode(err, CodeInvalidGrant) {
		t.Errorf("refresh of a revoked login: %v, want invalid_grant", err)
	}
	if res, err := p.Introspect(ctx, shop, resp.RefreshToken); err != nil || res.Active {
		t.Errorf("introspection of a revoked login's refresh token: %+v %v", res, err)
	}
}

// TestAccessTokenEndsAtExp: a login access token is inactive at
// introspection, and refused at userinfo, from the second of the exp the
// node reports on: RFC 7662 §2.2, an active token "is within its given
// time window of validity (e.g., after its issuance time and before its
// expiration time)"; RFC 7519 §4.1.4 (whose "exp" introspection reports,
// §2.2), "the current date/time MUST be before the expiration
// date/time". Its record, kept for the lifetime from the issue's
// sub-second instant, outlives that second.
func TestAccessTokenEndsAtExp(t *testing.T) {
	p, clock := subSecondProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	resp, err := shopTokens(ctx, p, shop, "family-exp")
	if err != nil {
		t.Fatal(err)
	}
	at, err := p.Introspect(ctx, shop, resp.AccessToken)
	if err != nil || !at.Active {
		t.Fatalf("introspect: %+v %v", at, err)
	}
	for _, c := range []struct {
		at     time.Duration // from exp
		active bool
	}{{-time.Second, true}, {0, false}, {500 * time.Millisecond, false}} {
		clock.Advance(time.Unix(at.Exp, 0).Add(c.at).Sub(clock.Now()))
		res, err := p.Introspect(ctx, shop, resp.AccessToken)
		if err != nil || res.Active != c.active {
			t.Errorf("exp%+v: introspection %+v %v, want active %v", c.at, res, err, c.active)
		}
		if _, err := p.UserInfo(ctx, resp.AccessToken); (err == nil) != c.active {
			t.Errorf("exp%+v: userinfo %v, want accepted %v", c.at, err, c.active)
		}
	}
}

// TestRefreshTokenEndsAtExp: a login refresh token, of this node's form
// or an older node's record with an exp, is inactive at introspection
// and refused by the refresh grant (invalid_grant, RFC 6749 §5.2: "expired")
// from the second of the exp introspection reports (RFC 7662 §2.2, RFC
// 7519 §4.1.4), as an access token is (TestAccessTokenEndsAtExp): its
// record, kept for the lifetime from the issue's sub-second instant,
// outlives that second.
func TestRefreshTokenEndsAtExp(t *testing.T) {
	p, clock := subSecondProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	resp, err := shopTokens(ctx, p, shop, "family-exp")
	if err != nil {
		t.Fatal(err)
	}
	early, err := shopTokens(ctx, p, shop, "family-exp-early") // refreshed a second before its exp
	if err != nil {
		t.Fatal(err)
	}
	rt, err := p.Introspect(ctx, shop, resp.RefreshToken)
	if err != nil || !rt.Active || rt.Exp == 0 {
		t.Fatalf("introspect: %+v %v", rt, err)
	}
	// An older node's refresh token whose record holds the same exp.
	old, _ := json.Marshal(map[string]any{"client_id": "shop", "scope": "openid offline_access", "family": "family-exp-old",
		"grant": grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}, "iat": rt.Iat, "exp": rt.Exp})
	if err := p.cfg.Store.Put(ctx, refreshKey("old-refresh-token"), old, p.cfg.RefreshTokenTTL+time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at     time.Duration // from exp
		active bool
	}{{-time.Second, true}, {0, false}, {500 * time.Millisecond, false}} {
		clock.Advance(time.Unix(rt.Exp, 0).Add(c.at).Sub(clock.Now()))
		for _, tok := range []string{resp.RefreshToken, "old-refresh-token"} {
			res, err := p.Introspect(ctx, shop, tok)
			if err != nil || res.Active != c.active {
				t.Errorf("exp%+v: introspection of %.3s…: %+v %v, want active %v", c.at, tok, res, err, c.active)
			}
			if c.active {
				continue
			}
			if _, err := shopRefresh(ctx, p, shop, tok); !isCode(err, CodeInvalidGrant) {
				t.Errorf("exp%+v: refresh with %.3s…: %v, want invalid_grant", c.at, tok, err)
			}
		}
		if c.active {
			if _, err := shopRefresh(ctx, p, shop, early.RefreshToken); err != nil {
				t.Errorf("exp%+v: refresh: %v", c.at, err)
			}
		}
	}
}

// subSecondProvider is a test provider whose clock, which its memory
// store shares, starts 0.7 s into a second: the records it keeps for a
// token's lifetime outlive the whole-second exp it reports.
func subSecondProvider(t *testing.T) (*Provider, *fakeclock.Clock) {
	t.Helper()
	p := newTestProvider(t)
	clock := fakeclock.New(time.Unix(1_800_000_000, 700_000_000))
	mem, err := store.NewMemory(store.MemoryOptions{Now: clock.Now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	p.cfg.Now, p.cfg.Store = clock.Now, mem
	return p, clock
}
