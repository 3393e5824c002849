package login

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/store"
)

// rfcVerifier is RFC 7636 appendix B's verifier: goodQuery's challenge.
const rfcVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

// spendThen is a Store that runs then once, right after the first
// successful spending of a key starting with prefix and before its
// spender goes on: a use of the key racing the first, deterministically.
type spendThen struct {
	Store
	prefix string
	once   sync.Once
	then   func()
}

func (s *spendThen) Spend(ctx context.Context, key string, ttl time.Duration) ([]byte, error) {
	b, err := s.Store.Spend(ctx, key, ttl)
	if err == nil && strings.HasPrefix(key, s.prefix) {
		s.once.Do(s.then)
	}
	return b, err
}

// newCodeFixture is a test provider with functions that issue a code
// of its client "shop" (as an approved session does) and redeem one at
// the token endpoint with the code's redirect URI and verifier.
func newCodeFixture(t *testing.T) (*Provider, func() string, func(code string) (*TokenResponse, error)) {
	t.Helper()
	p := newTestProvider(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	issue := func() string {
		t.Helper()
		c, err := p.issueCode(ctx, &session{ClientID: "shop", RedirectURI: testRedirect, CodeChallenge: goodQuery().Get("code_challenge"),
			Scope: "openid offline_access", Approved: &grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	redeem := func(code string) (*TokenResponse, error) {
		return p.Token(ctx, shop, map[string]string{"grant_type": "authorization_code", "code": code,
			"redirect_uri": testRedirect, "code_verifier": rfcVerifier})
	}
	return p, issue, redeem
}

// shopClient is the client "shop" of p's registry.
func shopClient(t *testing.T, p *Provider) auth.Client {
	t.Helper()
	shop, err := p.cfg.Clients.Get(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	return shop
}

// shopTokens issues tokens to shop for its login family: the scope
// openid offline_access, pairwise-1 approved at L2 by hwk.
func shopTokens(ctx context.Context, p *Provider, shop auth.Client, family string) (*TokenResponse, error) {
	return p.tokens(ctx, shop, refresh{ClientID: shop.ID, Scope: "openid offline_access", Family: family,
		Grant: grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}}, "")
}

// shopRefresh is shop's refresh token request with the refresh token rt.
func shopRefresh(ctx context.Context, p *Provider, shop auth.Client, rt string) (*TokenResponse, error) {
	return p.Token(ctx, shop, map[string]string{"grant_type": GrantRefreshToken, "refresh_token": rt})
}

// isCode reports whether err is an *Error with code.
func isCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// loginEnded reports whether none of resp's tokens works any more.
func loginEnded(t *testing.T, p *Provider, resp *TokenResponse) bool {
	t.Helper()
	ctx := context.Background()
	shop := shopClient(t, p)
	_, uerr := p.UserInfo(ctx, resp.AccessToken)
	_, rerr := shopRefresh(ctx, p, shop, resp.RefreshToken)
	return uerr != nil && rerr != nil
}

// TestCodeReplay: a code redeems once; its replay is refused and ends
// the login it started (RFC 6749 §4.1.2), as does the replay of a code an
// older node redeemed (the family it kept under codeSpentKey). A code
// refused for its verifier is spent all the same.
func TestCodeReplay(t *testing.T) {
	p, issue, redeem := newCodeFixture(t)
	code := issue()
	resp, err := redeem(code)
	if err != nil || loginEnded(t, p, resp) {
		t.Fatalf("first redemption: %v", err)
	}
	if _, err := redeem(code); !isCode(err, CodeInvalidGrant) {
		t.Fatalf("replay: %v, want invalid_grant", err)
	}
	if !loginEnded(t, p, resp) {
		t.Error("the replay did not end the code's login")
	}

	ctx := context.Background()
	if err := p.cfg.Store.Set(ctx, codeSpentKey("redeemed-by-an-older-node"), []byte("family-old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := redeem("redeemed-by-an-older-node"); !isCode(err, CodeInvalidGrant) || !p.familyRevoked(ctx, "family-old") {
		t.Errorf("replay of a code an older node redeemed: %v, revoked %v", err, p.familyRevoked(ctx, "family-old"))
	}

	shop := shopClient(t, p)
	code = issue()
	if _, err := p.Token(ctx, shop, map[string]string{"grant_type": "authorization_code", "code": code,
		"redirect_uri": testRedirect, "code_verifier": strings.Repeat("x", 43)}); !isCode(err, CodeInvalidGrant) {
		t.Fatalf("wrong verifier: %v", err)
	}
	if _, err := redeem(code); !isCode(err, CodeInvalidGrant) {
		t.Errorf("the right verifier after a wrong one: %v, want invalid_grant", err)
	}
}

// TestCodeReplayRace: a replay landing while the first redemption is
// between spending the code and issuing its tokens is refused and ends
// the login: the tokens the first redemption then issues do not work.
// (Before Spend, the replay found neither the code nor the spent marker
// written after it, and ended nothing.)
func TestCodeReplayRace(t *testing.T) {
	p, issue, redeem := newCodeFixture(t)
	code := issue()
	var replay error
	p.cfg.Store = &spendThen{Store: p.cfg.Store, prefix: "login-code:", then: func() { _, replay = redeem(code) }}
	resp, err := redeem(code)
	if err != nil {
		t.Fatalf("first redemption: %v", err)
	}
	if !isCode(replay, CodeInvalidGrant) {
		t.Fatalf("the racing replay: %v, want invalid_grant", replay)
	}
	if !loginEnded(t, p, resp) {
		t.Error("the tokens of a code replayed during its redemption still work")
	}
}

// failOnce is a Store whose first write (Put or Set) of a key starting
// with prefix fails, as a store unavailable for it; access keeps the
// access tokens written (their keys' tokens).
type failOnce struct {
	Store
	prefix string
	failed bool
	access []string
}

func (f *failOnce) fail(key string) bool {
	if f.failed || !strings.HasPrefix(key, f.prefix) {
		return false
	}
	f.failed = true
	return true
}

func (f *failOnce) Put(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if f.fail(key) {
		return store.ErrUnavailable
	}
	return f.Store.Put(ctx, key, v, ttl)
}

func (f *failOnce) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if f.fail(key) {
		return store.ErrUnavailable
	}
	if t, ok := strings.CutPrefix(key, "login-at:"); ok {
		f.access = append(f.access, t)
	}
	return f.Store.Set(ctx, key, v, ttl)
}

// TestCodeReplayAfterStoreFailure: a redemption that spent its code and
// then failed to write (its first write, the code's family marker; or
// the access token; or its refresh token, after the access token) is
// temporarily_unavailable; the code's
// retry is a replay, refused, and ends the code's login with what the
// failed redemption wrote. (Before Spend, a failure of the write after
// the code was consumed, its spent marker, left a replay nothing to end.)
// A replay whose revocation cannot be written is temporarily_unavailable
// too, and a retry ends the login.
func TestCodeReplayAfterStoreFailure(t *testing.T) {
	p, issue, redeem := newCodeFixture(t)
	ctx := context.Background()
	healthy := p.cfg.Store
	for _, prefix := range []string{"login-code-spent:", "login-at:", "login-rtf:"} {
		code := issue()
		failing := &failOnce{Store: healthy, prefix: prefix}
		p.cfg.Store = failing
		if _, err := redeem(code); !isCode(err, CodeTemporarilyUnavailable) {
			t.Fatalf("redemption failing to write %s: %v, want %s", prefix, err, CodeTemporarilyUnavailable)
		}
		p.cfg.Store = healthy
		if _, err := redeem(code); !isCode(err, CodeInvalidGrant) {
			t.Fatalf("its retry: %v, want invalid_grant", err)
		}
		if !p.familyRevoked(ctx, codeFamily(code)) {
			t.Errorf("the retry of a code whose redemption failed to write %s did not end its login", prefix)
		}
		for _, at := range failing.access {
			if _, err := p.UserInfo(ctx, at); err == nil {
				t.Errorf("the access token of the failed redemption works after the code's replay")
			}
		}
	}

	code := issue()
	resp, err := redeem(code)
	if err != nil {
		t.Fatal(err)
	}
	p.cfg.Store = failingRevoke{healthy}
	if _, err := redeem(code); !isCode(err, CodeTemporarilyUnavailable) {
		t.Fatalf("replay with the revocation unwritable: %v, want %s", err, CodeTemporarilyUnavailable)
	}
	p.cfg.Store = healthy
	if _, err := redeem(code); !isCode(err, CodeInvalidGrant) || !loginEnded(t, p, resp) {
		t.Errorf("the replay's retry: %v, login ended %v", err, loginEnded(t, p, resp))
	}
}

// TestOlderNodeCode: a code an older node stored (its record as written
// before codes were spent) redeems, and its replay ends its login: the
// family is the code's, not the record's.
func TestOlderNodeCode(t *testing.T) {
	p, _, redeem := newCodeFixture(t)
	ctx := context.Background()
	const code = "stored-by-an-older-node"
	record := `{"client_id":"shop","redirect_uri":"` + testRedirect + `","code_challenge":"` + goodQuery().Get("code_challenge") +
		`","nonce":"n1","scope":"openid offline_access","grant":{"sub":"pairwise-1","acr":"L2","amr":["hwk"],"auth_time":1764780000}}`
	if err := p.cfg.Store.Put(ctx, codeKey(code), []byte(record), time.Minute); err != nil {
		t.Fatal(err)
	}
	resp, err := redeem(code)
	if err != nil {
		t.Fatalf("redeeming an older node's code: %v", err)
	}
	if _, err := redeem(code); !isCode(err, CodeInvalidGrant) || !loginEnded(t, p, resp) {
		t.Errorf("its replay: %v, login ended %v", err, loginEnded(t, p, resp))
	}
}

// TestExtensionCodeReplayRace: an extension's code (Redeem) replayed
// while its first redemption is under way is refused and revokes the
// family the first redemption returns.
func TestExtensionCodeReplayRace(t *testing.T) {
	p := newTestProvider(t)
	ctx := context.Background()
	const id = "sessionsessionsessionsessionsessionsession0"
	code, err := p.issueExtensionCode(ctx, id, &session{ClientID: "wallet", RedirectURI: testRedirect,
		CodeChallenge: goodQuery().Get("code_challenge"), Audience: "oid4vci", Approved: &grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := Redemption{Code: code, ClientID: "wallet", RedirectURI: testRedirect, Verifier: rfcVerifier}
	var replay error
	p.cfg.Store = &spendThen{Store: p.cfg.Store, prefix: "login-xcode:", then: func() { _, replay = p.Redeem(ctx, "oid4vci", r) }}
	got, err := p.Redeem(ctx, "oid4vci", r)
	if err != nil {
		t.Fatalf("first redemption: %v", err)
	}
	if !isCode(replay, CodeInvalidGrant) {
		t.Fatalf("the racing replay: %v, want invalid_grant", replay)
	}
	if !p.Revoked(ctx, got.Family) {
		t.Error("the family of an extension code replayed during its redemption is not revoked")
	}
}

// TestVerifierCharset: a code_verifier is 43 to 128 characters from
// A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1); one with any other character is
// refused even when its S256 digest is the code's challenge (it was
// taken before), at /oauth2/token and for an extension's code alike.
// Every allowed character redeems.
func TestVerifierCharset(t *testing.T) {
	p, _, _ := newCodeFixture(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	challenge := func(v string) string {
		sum := sha256.Sum256([]byte(v))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	redeem := func(verifier string) error {
		c, err := p.issueCode(ctx, &session{ClientID: "shop", RedirectURI: testRedirect, CodeChallenge: challenge(verifier),
			Scope: "openid", Approved: &grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Token(ctx, shop, map[string]string{"grant_type": "authorization_code", "code": c,
			"redirect_uri": testRedirect, "code_verifier": verifier})
		return err
	}
	redeemExtension := func(verifier string) error {
		c, err := p.issueExtensionCode(ctx, "sessionsessionsessionsessionsessionsession0", &session{ClientID: "wallet",
			RedirectURI: testRedirect, CodeChallenge: challenge(verifier), Audience: "oid4vci",
			Approved: &grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Redeem(ctx, "oid4vci", Redemption{Code: c, ClientID: "wallet", RedirectURI: testRedirect, Verifier: verifier})
		return err
	}
	for _, v := range []string{
		strings.Repeat("a", 42) + "+",      // standard base64
		strings.Repeat("a", 41) + "/=",     // standard base64, padded
		strings.Repeat("a", 42) + " ",      // a space
		strings.Repeat("a", 42) + "%",      // a percent sign
		strings.Repeat("a", 41) + "\u00e9", // not ASCII (43 bytes)
		strings.Repeat("a", 42) + "\x00",   // a control character
		strings.Repeat("a", 129),           // too long (RFC 7636 §4.1: 43 to 128)
	} {
		if err := redeem(v); !isCode(err, CodeInvalidGrant) {
			t.Errorf("verifier %q at the token endpoint: %v, want invalid_grant", v, err)
		}
		if err := redeemExtension(v); !isCode(err, CodeInvalidGrant) {
			t.Errorf("verifier %q for an extension's code: %v, want invalid_grant", v, err)
		}
	}
	for _, v := range []string{rfcVerifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", strings.Repeat("~", 128)} {
		if err := redeem(v); err != nil {
			t.Errorf("verifier %q at the token endpoint: %v", v, err)
		}
		if err := redeemExtension(v); err != nil {
			t.Errorf("verifier %q for an extension's code: %v", v, err)
		}
	}
}

// clientsDown is a client registry that cannot be read.
type clientsDown struct{}

func (clientsDown) Get(context.Context, string) (auth.Client, error) {
	return auth.Client{}, &auth.Error{Kind: auth.ErrUnavailable, Description: "registry down"}
}

// TestUserInfoRegistryUnavailable: while the client registry cannot be
// read, userinfo answers temporarily_unavailable (503), as introspection
// does, never invalid_token: that is a verdict on the token, and the
// relying party would drop a live login. Once the registry is back the
// same token works. (It answered invalid_token, "the access token's
// client is no longer registered".)
func TestUserInfoRegistryUnavailable(t *testing.T) {
	p, issue, redeem := newCodeFixture(t)
	ctx := context.Background()
	resp, err := redeem(issue())
	if err != nil {
		t.Fatal(err)
	}
	clients := p.cfg.Clients
	p.cfg.Clients = clientsDown{}
	if _, err := p.UserInfo(ctx, resp.AccessToken); !isCode(err, CodeTemporarilyUnavailable) {
		t.Errorf("registry down: %v, want temporarily_unavailable", err)
	}
	p.cfg.Clients = clients
	if out, err := p.UserInfo(ctx, resp.AccessToken); err != nil || out["sub"] != "pairwise-1" {
		t.Errorf("registry back: %v %v", out, err)
	}
}

// TestSpentCodeKeepsNoGrant: a redeemed code's record, which holds the
// grant (pairwise sub, released claims, nonce), is kept spent only for
// the code's own lifetime; past it, only a marker of the code's family
// is kept (for spentTTL), and a replay then still ends the login (RFC
// 6749 §4.1.2). (The spent record, grant and all, was kept an hour.) On
// the memory store and Redis.
func TestSpentCodeKeepsNoGrant(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		p, issue, redeem := newCodeFixture(t)
		testSpentCodeKeepsNoGrant(t, p, issue, redeem)
	})
	t.Run("redis", func(t *testing.T) {
		p, issue, redeem := newCodeFixture(t)
		useRedis(t, p)
		testSpentCodeKeepsNoGrant(t, p, issue, redeem)
	})
}

func testSpentCodeKeepsNoGrant(t *testing.T, p *Provider, issue func() string, redeem func(string) (*TokenResponse, error)) {
	ctx := context.Background()
	p.cfg.CodeTTL = 300 * time.Millisecond
	code := issue()
	resp, err := redeem(code)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // the code's lifetime
	// Spend reads a spent record back (ErrReplayed) and writes nothing
	// for a missing one.
	if b, err := p.cfg.Store.Spend(ctx, codeKey(code), time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the spent code's record, with its grant, is kept past the code's lifetime (%d bytes, %v)", len(b), err)
	}
	if _, err := redeem(code); !isCode(err, CodeInvalidGrant) || !loginEnded(t, p, resp) {
		t.Errorf("a replay past the code's lifetime: %v, login ended %v", err, loginEnded(t, p, resp))
	}
}

// failingGet is a store whose Get of keys under prefix fails.
type failingGet struct {
	Store
	prefix string
}

func (f failingGet) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, f.prefix) {
		return nil, store.ErrUnavailable
	}
	return f.Store.Get(ctx, key)
}

// TestCodeReplayMarkerUnreadable: past the code's lifetime a replay is
// caught only by the family marker under the code's spent key; a replay
// whose marker cannot be read is temporarily_unavailable, not an
// invalid_grant that leaves the login it should end going (RFC 6749
// §4.1.2: the server "SHOULD revoke (when possible) all tokens previously
// issued"), and its retry ends the login, as a replay whose revocation
// cannot be written (revokeAndRefuse).
func TestCodeReplayMarkerUnreadable(t *testing.T) {
	p, issue, redeem := newCodeFixture(t)
	p.cfg.CodeTTL = time.Second
	code := issue()
	resp, err := redeem(code)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the code's lifetime
	healthy := p.cfg.Store
	p.cfg.Store = failingGet{healthy, "login-code-spent:"}
	if _, err := redeem(code); !isCode(err, CodeTemporarilyUnavailable) {
		t.Errorf("a replay whose marker cannot be read: %v, want %s", err, CodeTemporarilyUnavailable)
	}
	p.cfg.Store = healthy
	if _, err := redeem(code); !isCode(err, CodeInvalidGrant) || !loginEnded(t, p, resp) {
		t.Errorf("its retry: %v, login ended %v", err, loginEnded(t, p, resp))
	}
}

// TestCodeBoundToClientAndRedirect: a code is redeemed only by the
// client it was issued to and with the authorization request's
// redirect_uri (RFC 6749 §4.1.3: "ensure that the authorization code
// was issued to the authenticated confidential client" and "ensure that
// the redirect_uri parameter is present ... and that their values are
// identical"); either mismatch is invalid_grant and spends the code.
func TestCodeBoundToClientAndRedirect(t *testing.T) {
	p, issue, redeem := newCodeFixture(t)
	ctx := context.Background()
	other, err := p.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	other.ID = "other"
	for name, try := range map[string]func(code string) (*TokenResponse, error){
		"another client": func(code string) (*TokenResponse, error) {
			return p.Token(ctx, other, map[string]string{"grant_type": "authorization_code", "code": code,
				"redirect_uri": testRedirect, "code_verifier": rfcVerifier})
		},
		"redirect_uri": func(code string) (*TokenResponse, error) {
			shop := shopClient(t, p)
			return p.Token(ctx, shop, map[string]string{"grant_type": "authorization_code", "code": code,
				"redirect_uri": testRedirect + "/other", "code_verifier": rfcVerifier})
		},
	} {
		code := issue()
		if resp, err := try(code); !isCode(err, CodeInvalidGrant) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %+v, %v; want invalid_grant naming %s", name, resp, err, name)
		}
		if resp, err := redeem(code); !isCode(err, CodeInvalidGrant) {
			t.Errorf("%s: the code was not spent: %+v, %v", name, resp, err)
		}
	}
}

// TestTokenRequestGrantMissingOrInvalid: a token request without its
// code or refresh token is invalid_request, one whose code or refresh
// token is longer than any the node issues is invalid_grant, as any
// other that is no live grant (RFC 6749 §5.2: invalid_request, "The
// request is missing a required parameter"; invalid_grant, "The provided
// authorization grant (e.g., authorization code, resource owner
// credentials) or refresh token is invalid, expired, revoked ..."). The
// long ones were invalid_request, "code is missing".
func TestTokenRequestGrantMissingOrInvalid(t *testing.T) {
	p, _, redeem := newCodeFixture(t)
	ctx := context.Background()
	shop := shopClient(t, p)
	long := strings.Repeat("A", 65)
	for name, c := range map[string]struct {
		run  func() (*TokenResponse, error)
		want string
	}{
		"no code":                {func() (*TokenResponse, error) { return redeem("") }, CodeInvalidRequest},
		"a 65-character code":    {func() (*TokenResponse, error) { return redeem(long) }, CodeInvalidGrant},
		"a 64-character code":    {func() (*TokenResponse, error) { return redeem(long[:64]) }, CodeInvalidGrant},
		"no refresh token":       {func() (*TokenResponse, error) { return shopRefresh(ctx, p, shop, "") }, CodeInvalidRequest},
		"a 65-character refresh": {func() (*TokenResponse, error) { return shopRefresh(ctx, p, shop, long) }, CodeInvalidGrant},
	} {
		if _, err := c.run(); !isCode(err, c.want) {
			t.Errorf("%s: %v, want %s", name, err, c.want)
		}
	}
}
