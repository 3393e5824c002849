package login

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/store"
)

// TestLogoutRedirects: RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0 §2, §3) sends the browser only to one of the client's
// registered post_logout_redirect_uris, compared as exact strings, with
// state; a redirect URI registered for login only, an unregistered URI or
// a client without post-logout URIs gets an error and no redirect. Each
// logout with a valid id_token_hint ends the login, redirect or not.
func TestLogoutRedirects(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	const bye = "https://shop.example/bye"
	c, _, err := auth.NewClient(auth.Registration{ID: "shop-bye", Name: "Shop", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		GrantTypes: []string{auth.GrantAuthorizationCode}, RedirectURIs: []string{testRedirect}, PostLogoutRedirectURIs: []string{bye},
		AuthMethod: auth.AuthClientSecretBasic}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cfg.Clients.(*auth.MemoryStore).Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	plain, err := p.cfg.Clients.Get(ctx, "shop") // registered without post-logout URIs
	if err != nil || len(plain.PostLogoutRedirectURIs) != 0 {
		t.Fatalf("shop: %+v %v", plain.PostLogoutRedirectURIs, err)
	}
	// hint returns an ID token of a fresh login of client cl and its sid.
	n := 0
	hint := func(cl auth.Client) (string, string) {
		n++
		sid := "family-" + string(rune('a'+n))
		tok, err := p.idToken(cl, refresh{ClientID: cl.ID, Scope: "openid", Family: sid, Grant: grant{Sub: "sub", ACR: "L2", AMR: []string{"hwk"}}}, "", "at")
		if err != nil {
			t.Fatal(err)
		}
		return tok, sid
	}
	logout := func(q url.Values) (LoggedOut, error) { return p.Logout(ctx, q) }

	// Registered: redirect there, with state.
	tok, sid := hint(c)
	out, err := logout(url.Values{"id_token_hint": {tok}, "post_logout_redirect_uri": {bye}, "state": {"st 1"}})
	if err != nil || out != (LoggedOut{Redirect: bye + "?state=st+1"}) {
		t.Fatalf("registered post-logout URI: %+v %v", out, err)
	}
	if !p.familyRevoked(ctx, sid) {
		t.Error("the login's tokens survive logout")
	}
	// No state: no empty state parameter.
	tok, _ = hint(c)
	if out, err := logout(url.Values{"id_token_hint": {tok}, "post_logout_redirect_uri": {bye}}); err != nil || out != (LoggedOut{Redirect: bye}) {
		t.Errorf("without state: %+v %v", out, err)
	}
	// No post_logout_redirect_uri: logged out, no redirect.
	tok, sid = hint(c)
	if out, err := logout(url.Values{"id_token_hint": {tok}}); err != nil || out != (LoggedOut{}) || !p.familyRevoked(ctx, sid) {
		t.Errorf("without a post-logout URI: %+v %v", out, err)
	}

	refused := []struct {
		name   string
		client auth.Client
		uri    string
	}{
		{"a login redirect URI that is not a post-logout one", c, testRedirect},
		{"an unregistered URI", c, "https://evil.example/"},
		{"a longer path", c, bye + "/more"},
		{"an added query", c, bye + "?x=1"},
		{"another case", c, "https://SHOP.example/bye"},
		{"a trailing slash", c, bye + "/"},
		{"a client with no post-logout URI, its login redirect URI", plain, testRedirect},
	}
	for _, r := range refused {
		tok, sid := hint(r.client)
		out, err := logout(url.Values{"id_token_hint": {tok}, "post_logout_redirect_uri": {r.uri}, "state": {"s"}})
		if err != nil || out.Redirect != "" || out.NoReturn == nil || out.NoReturn.Code != CodeInvalidRequest {
			t.Errorf("%s: %+v %v, want no redirect and the URI refused (%s)", r.name, out, err, CodeInvalidRequest)
		}
		if !p.familyRevoked(ctx, sid) {
			t.Errorf("%s: the login was not ended", r.name)
		}
	}

	// The hint decides the client: another client's registered URI is
	// refused, and a client_id other than the hint's audience too.
	tok, _ = hint(plain)
	if out, err := logout(url.Values{"id_token_hint": {tok}, "post_logout_redirect_uri": {bye}}); err != nil || out.Redirect != "" || out.NoReturn == nil {
		t.Errorf("another client's post-logout URI: %+v %v", out, err)
	}
	tok, _ = hint(c)
	if out, err := logout(url.Values{"id_token_hint": {tok}, "client_id": {"shop"}, "post_logout_redirect_uri": {bye}}); err == nil || out != (LoggedOut{}) {
		t.Errorf("client_id not the hint's: %+v %v", out, err)
	}
	// No hint, or a forged one: nothing.
	if out, err := logout(url.Values{"post_logout_redirect_uri": {bye}}); err == nil || out != (LoggedOut{}) {
		t.Errorf("without id_token_hint: %+v %v", out, err)
	}
	tok, _ = hint(c)
	if out, err := logout(url.Values{"id_token_hint": {tok[:len(tok)-4] + "AAAA"}, "post_logout_redirect_uri": {bye}}); err == nil || out != (LoggedOut{}) {
		t.Errorf("forged id_token_hint: %+v %v", out, err)
	}
}

// failingRevoke is a Store whose write of a family-revoked marker fails,
// as a store unavailable for it.
type failingRevoke struct{ Store }

func (f failingRevoke) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if strings.HasPrefix(key, "login-family-revoked:") {
		return store.ErrUnavailable
	}
	return f.Store.Set(ctx, key, v, ttl)
}

// TestLogoutStoreDown: a logout whose revocation cannot be written is
// temporarily_unavailable, never a success (the node would show "You are
// logged out" while the login's tokens still work), and ends nothing a
// retry would not.
func TestLogoutStoreDown(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	c, err := p.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.idToken(c, refresh{ClientID: c.ID, Scope: "openid", Family: "fam-x", Grant: grant{Sub: "sub", ACR: "L2", AMR: []string{"hwk"}}}, "", "at")
	if err != nil {
		t.Fatal(err)
	}
	healthy := p.cfg.Store
	p.cfg.Store = failingRevoke{healthy}
	_, err = p.Logout(ctx, url.Values{"id_token_hint": {tok}})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeTemporarilyUnavailable {
		t.Errorf("logout with the revocation unwritable: %v, want %s", err, CodeTemporarilyUnavailable)
	}
	p.cfg.Store = healthy
	if _, err := p.Logout(ctx, url.Values{"id_token_hint": {tok}}); err != nil || !p.familyRevoked(ctx, "fam-x") {
		t.Errorf("the retry: %v, revoked %v", err, p.familyRevoked(ctx, "fam-x"))
	}
}

// instanceKeys is an auth.InstanceKeys over one region record key.
type instanceKeys struct {
	kid, alg string
	pub      crypto.PublicKey
	err      error
}

func (k instanceKeys) InstanceKey(_ context.Context, kid string) (crypto.PublicKey, string, error) {
	if k.err != nil || kid != k.kid {
		return nil, "", errors.Join(errors.New("not on the record"), k.err)
	}
	return k.pub, k.alg, nil
}

// TestLogoutHintOfAnotherInstance: an id_token_hint signed by another
// instance of the region with a key this provider's keystore lacks is
// accepted with that key from Config.Instances (the region's record),
// and refused when Instances refuses it, gives another algorithm, or is
// not set.
func TestLogoutHintOfAnotherInstance(t *testing.T) {
	other, here := newTestProvider(t), newTestProvider(t) // two keystores
	ctx := context.Background()
	c, err := other.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := other.idToken(c, refresh{ClientID: "shop", Scope: "openid", Family: "fam", Grant: grant{Sub: "sub", ACR: "L2", AMR: []string{"hwk"}}}, "", "at")
	if err != nil {
		t.Fatal(err)
	}
	key, err := other.cfg.Keys.Active(IDTokenAlgorithms[0])
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"id_token_hint": {tok}}
	record := instanceKeys{kid: key.Kid, alg: key.Alg, pub: key.Public}
	for name, in := range map[string]auth.InstanceKeys{"not set": nil, "refused (retired or revoked on the record)": instanceKeys{kid: key.Kid, err: errors.New("retired")},
		"another alg": instanceKeys{kid: key.Kid, alg: "ES256", pub: key.Public}} {
		here.cfg.Instances = in
		if _, err := here.Logout(ctx, q); err == nil {
			t.Errorf("%s: logout accepted", name)
		}
	}
	here.cfg.Instances = record
	if _, err := here.Logout(ctx, q); err != nil {
		t.Errorf("the record's key: %v", err)
	}
	if !here.familyRevoked(ctx, "fam") {
		t.Error("the login's tokens survive logout")
	}
}

// TestRedirectKeepsQuery: a redirect URI registered with a query keeps
// it as registered when the node adds its parameters (RFC 6749 §3.1.2:
// the query "MUST be retained when adding additional query parameters"),
// pairs url.ParseQuery would drop (a ';') or rewrite (a key without '=',
// the order) included: the code and the refusal of a login, and the
// post-logout redirect. (They were parsed and encoded again.)
func TestRedirectKeepsQuery(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	const registered = "https://shop.example/cb?tenant=a;b&flag&next=/home&a=1"
	for i, denied := range []bool{false, true} {
		id := strings.Repeat(string(rune('a'+i)), 43)
		s := &session{ClientID: "shop", RedirectURI: registered, State: "s 1", CodeChallenge: goodQuery().Get("code_challenge"),
			Scope: "openid", Browser: digest("browser"), Expires: p.cfg.Now().Add(time.Minute).Unix()}
		if denied {
			s.Denied = true
		} else {
			s.Approved = &grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}
		}
		if err := p.putSession(ctx, id, s); err != nil {
			t.Fatal(err)
		}
		out, err := p.Wait(ctx, id, "browser", 0)
		if err != nil || out == nil {
			t.Fatalf("denied %v: %+v %v", denied, out, err)
		}
		added, ok := strings.CutPrefix(out.Redirect, registered+"&")
		q, err := url.ParseQuery(added)
		if !ok || err != nil || q.Get("state") != "s 1" || q.Get("iss") != p.Issuer() ||
			denied != (q.Get("error") == CodeAccessDenied) || denied == (q.Get("code") != "") {
			t.Errorf("denied %v: redirect %q, want %q and the response's parameters", denied, out.Redirect, registered)
		}
	}

	const bye = "https://shop.example/bye?tenant=a;b"
	c, _, err := auth.NewClient(auth.Registration{ID: "shop-query", Name: "Shop", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		GrantTypes: []string{auth.GrantAuthorizationCode}, RedirectURIs: []string{registered}, PostLogoutRedirectURIs: []string{bye},
		AuthMethod: auth.AuthClientSecretBasic}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cfg.Clients.(*auth.MemoryStore).Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	tok, err := p.idToken(c, refresh{ClientID: c.ID, Scope: "openid", Family: "family-q", Grant: grant{Sub: "sub", ACR: "L2", AMR: []string{"hwk"}}}, "", "at")
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Logout(ctx, url.Values{"id_token_hint": {tok}, "post_logout_redirect_uri": {bye}, "state": {"st"}})
	if err != nil || out.Redirect != bye+"&state=st" {
		t.Errorf("post-logout redirect: %+v %v, want %q", out, err, bye+"&state=st")
	}
}
