package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

// Two relying parties' APIs, as their clients register them.
const (
	apiB = "https://api.b.example/v1"
	apiC = "https://api.c.example"
)

// serve registers resources as the APIs of client id.
func (e *env) serve(id string, resources ...string) Client {
	e.t.Helper()
	c, err := e.clients.Update(context.Background(), id, func(c *Client) error {
		c.Resources = resources
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// tokenFor gets c an access token for resources.
func (e *env) tokenFor(c testClient, resources ...string) (TokenResponse, error) {
	e.t.Helper()
	return e.svc.Token(context.Background(), c.Client, TokenRequest{GrantType: GrantClientCredentials, Resources: resources})
}

// audOf reads a token's aud claim, unverified, as a list.
func audOf(t *testing.T, token string) []string {
	t.Helper()
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	if err := json.Unmarshal(claims.Aud, &many); err != nil {
		t.Fatal(err)
	}
	return many
}

// TestTokenForARelyingPartysAPI: a token asked for an API a client
// registered (RFC 8707 resource) names that API alone (RFC 9068 §4,
// RFC 9700 §2.3): the node's own routes refuse it, the party that serves
// the API sees it active at introspection with its API as aud, and
// another party, which might have been handed it, sees it inactive, as
// it sees a token meant for the node.
func TestTokenForARelyingPartysAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem, ScopeCredentialsIssue)
	e.register("svc-b", gm.AlgSM2, ScopeQRRedeem)
	b := e.serve("svc-b", apiB)
	e.register("svc-c", gm.AlgSM2, ScopeQRRedeem)
	c := e.serve("svc-c", apiC)

	resp, err := e.tokenFor(a, apiB)
	if err != nil {
		t.Fatal(err)
	}
	if aud := audOf(t, resp.AccessToken); !slices.Equal(aud, []string{apiB}) {
		t.Errorf("aud %q, want B's API alone", aud)
	}
	if resp.Scope != ScopeCredentialsIssue+" "+ScopeQRRedeem {
		t.Errorf("scope %q, want the client's", resp.Scope)
	}
	if _, err := e.svc.Authorize(ctx, resp.AccessToken, ScopeQRRedeem); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("the node's routes took a token for B's API: %v", err)
	}
	in, err := e.svc.Introspect(ctx, b, resp.AccessToken)
	if err != nil || !in.Active || in.Aud != apiB || in.ClientID != "svc-a" {
		t.Errorf("B introspecting a token for its API: %+v, %v; want active, aud its API", in, err)
	}
	if in, err := e.svc.Introspect(ctx, a.Client, resp.AccessToken); err != nil || !in.Active || in.Aud != apiB {
		t.Errorf("A introspecting its own token: %+v, %v; want active, aud B's API", in, err)
	}
	if in, err := e.svc.Introspect(ctx, c, resp.AccessToken); err != nil || in.Active {
		t.Errorf("C introspecting a token for B's API: %+v, %v; want inactive", in, err)
	}
	forNode := e.token(a, "")
	if in, err := e.svc.Introspect(ctx, b, forNode); err != nil || in.Active {
		t.Errorf("B introspecting A's token for the node: %+v, %v; want inactive", in, err)
	}
	// A revokes its token for B's API: B sees it inactive.
	if err := e.svc.Revoke(ctx, a.Client, resp.AccessToken); err != nil {
		t.Fatal(err)
	}
	if in, err := e.svc.Introspect(ctx, b, resp.AccessToken); err != nil || in.Active {
		t.Errorf("B introspecting a revoked token: %+v, %v; want inactive", in, err)
	}
}

// TestAdminIntrospectsOnlyTheNodesTokens: registry:admin lets a client
// introspect another client's token for the node, not one for a party's
// API: an admin that also serves an API of its own (C) sees the tokens
// for its API and the node's, never those for B's; B sees those for its
// API.
func TestAdminIntrospectsOnlyTheNodesTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	e.register("svc-b", gm.AlgSM2, ScopeQRRedeem)
	b := e.serve("svc-b", apiB)
	e.register("svc-c", gm.AlgSM2, ScopeQRRedeem, ScopeRegistryAdmin)
	c := e.serve("svc-c", apiC)
	admin := e.register("ops", gm.AlgSM2, ScopeRegistryAdmin)

	forB, err := e.tokenFor(a, apiB)
	if err != nil {
		t.Fatal(err)
	}
	forC, err := e.tokenFor(a, apiC)
	if err != nil {
		t.Fatal(err)
	}
	forNode := e.token(a, "")
	for _, tc := range []struct {
		name   string
		caller Client
		token  string
		active bool
	}{
		{"C (admin) on a token for B's API", c, forB.AccessToken, false},
		{"ops (admin) on a token for B's API", admin.Client, forB.AccessToken, false},
		{"ops (admin) on a token for C's API", admin.Client, forC.AccessToken, false},
		{"C (admin) on a token for its API", c, forC.AccessToken, true},
		{"C (admin) on a token for the node", c, forNode, true},
		{"ops (admin) on a token for the node", admin.Client, forNode, true},
		{"B on a token for its API", b, forB.AccessToken, true},
		{"A on its own token for B's API", a.Client, forB.AccessToken, true},
	} {
		in, err := e.svc.Introspect(ctx, tc.caller, tc.token)
		if err != nil || in.Active != tc.active {
			t.Errorf("%s: %+v, %v; want active %v", tc.name, in, err, tc.active)
		}
	}
}

// TestAPIPassedOnShowsNoEarlierToken (SECURITY.md gap 27): a token
// names the API, not the party that held it, so when B drops its API
// and C registers it, C saw the tokens asked for it while B held it
// active at introspection, with their client, scope and jti, until they
// expired. C sees only the tokens issued since it took the API (iat in
// whole seconds at or after its second: one asked in that second is
// C's), their clients see their own as before, and the API's new tokens
// work at once. A party that takes its API back (enabled again after a
// suspension) takes it anew, and so sees none of the earlier tokens.
func TestAPIPassedOnShowsNoEarlierToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	e.register("svc-b", gm.AlgSM2, ScopeQRRedeem)
	b := e.serve("svc-b", apiB)
	e.register("svc-c", gm.AlgSM2, ScopeQRRedeem)
	introspect := func(caller Client, token string) Introspection {
		t.Helper()
		in, err := e.svc.Introspect(ctx, caller, token)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	before, err := e.tokenFor(a, apiB)
	if err != nil {
		t.Fatal(err)
	}
	if !introspect(b, before.AccessToken).Active {
		t.Fatal("B on a token for its API: inactive")
	}
	e.clock.Advance(30 * time.Second)
	e.serve("svc-b")
	c := e.serve("svc-c", apiB)
	if in := introspect(c, before.AccessToken); in.Active || in != (Introspection{}) {
		t.Errorf("C on a token asked while B held its API: %+v; want {active: false}", in)
	}
	if !introspect(a.Client, before.AccessToken).Active {
		t.Errorf("A on its own token: inactive")
	}
	e.clock.Advance(999 * time.Millisecond) // the second C took the API in
	after, err := e.tokenFor(a, apiB)
	if err != nil {
		t.Fatal(err)
	}
	if in := introspect(c, after.AccessToken); !in.Active || in.Aud != apiB || in.ClientID != "svc-a" {
		t.Errorf("C on a token asked since it took the API: %+v; want active", in)
	}
	// C's record rewritten keeps the time it took the API.
	e.clock.Advance(time.Minute)
	if _, err := e.clients.Update(ctx, "svc-c", func(c *Client) error { c.Name = "C renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	c, _ = e.clients.Get(ctx, "svc-c")
	if !introspect(c, after.AccessToken).Active {
		t.Errorf("C renamed, on a token asked since it took the API: inactive")
	}
	// Disabled and enabled again, C takes its API anew.
	for _, disabled := range []bool{true, false} {
		e.clock.Advance(time.Second)
		if c, err = e.clients.Update(ctx, "svc-c", func(c *Client) error { c.Disabled = disabled; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if introspect(c, after.AccessToken).Active {
		t.Errorf("C enabled again, on a token asked before: active")
	}
	again, err := e.tokenFor(a, apiB)
	if err != nil {
		t.Fatal(err)
	}
	if !introspect(c, again.AccessToken).Active {
		t.Errorf("C enabled again, on a token asked since: inactive")
	}
}

// TestIntrospectionOfAnAPIWithoutTime: a client whose registry record
// carries no time for its API (written by a contract older than it)
// sees every token for the API, as before.
func TestIntrospectionOfAnAPIWithoutTime(t *testing.T) {
	e := newEnv(t)
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	e.register("svc-b", gm.AlgSM2, ScopeQRRedeem)
	b := e.serve("svc-b", apiB)
	tok, err := e.tokenFor(a, apiB)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	b.ResourcesSince[apiB] = e.clock.Now()
	if in, err := e.svc.Introspect(context.Background(), b, tok.AccessToken); err != nil || in.Active {
		t.Errorf("B having taken its API since: %+v, %v; want inactive", in, err)
	}
	b.ResourcesSince = nil
	if in, err := e.svc.Introspect(context.Background(), b, tok.AccessToken); err != nil || !in.Active {
		t.Errorf("B without a time for its API: %+v, %v; want active", in, err)
	}
}

// TestTokenResourceOfAPIRefused: a resource no enabled client registered,
// or an API named beside another resource (this node, another API), is
// invalid_target (RFC 8707 §2); the same API twice is one.
func TestTokenResourceOfAPIRefused(t *testing.T) {
	e := newEnv(t)
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	e.register("svc-b", gm.AlgSM2, ScopeQRRedeem)
	e.serve("svc-b", apiB)
	e.register("svc-c", gm.AlgSM2, ScopeQRRedeem)
	e.serve("svc-c", apiC)
	for name, resources := range map[string][]string{
		"unregistered":              {"https://api.x.example"},
		"B's API with a slash":      {apiB + "/"},
		"B's API beside the node":   {testIssuer, apiB},
		"the node beside B's API":   {apiB, testIssuer},
		"B's API beside C's":        {apiB, apiC},
		"B's API beside an unknown": {apiB, "https://api.x.example"},
	} {
		if resp, err := e.tokenFor(a, resources...); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("%s: %+v, %v; want invalid_target", name, resp, err)
		}
	}
	resp, err := e.tokenFor(a, apiB, apiB)
	if err != nil || !slices.Equal(audOf(t, resp.AccessToken), []string{apiB}) {
		t.Errorf("B's API twice: %v; want a token for it", err)
	}
	if _, err := e.clients.Update(context.Background(), "svc-b", func(c *Client) error {
		c.Disabled = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.tokenFor(a, apiB); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("the API of a disabled client: %+v, %v; want invalid_target", resp, err)
	}
}

// TestAPIsFollowTheRegistry: the token endpoint takes an API registered,
// and refuses one withdrawn, at once where the registry reports changes
// (ClientsChanged), and within RevocationRecheck where it does not.
func TestAPIsFollowTheRegistry(t *testing.T) {
	e := newEnv(t)
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	e.register("svc-b", gm.AlgSM2, ScopeQRRedeem)
	unwatched := e.service(e.store)
	ask := func(svc *Service) error {
		_, err := svc.Token(context.Background(), a.Client, TokenRequest{GrantType: GrantClientCredentials, Resources: []string{apiB}})
		return err
	}
	for _, svc := range []*Service{e.svc, unwatched} {
		if err := ask(svc); !errors.Is(err, ErrInvalidTarget) {
			t.Fatalf("an API not registered yet: %v", err)
		}
	}
	e.serve("svc-b", apiB)
	if err := ask(e.svc); err != nil {
		t.Errorf("an API just registered, changes reported: %v", err)
	}
	e.clock.Advance(DefaultRevocationRecheck)
	if err := ask(unwatched); err != nil {
		t.Errorf("an API registered a recheck ago: %v", err)
	}
	e.serve("svc-b", apiC)
	if err := ask(e.svc); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("an API just withdrawn, changes reported: %v", err)
	}
	e.clock.Advance(DefaultRevocationRecheck)
	if err := ask(unwatched); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("an API withdrawn a recheck ago: %v", err)
	}
}

// TestClientResources: a client's resources are absolute https URLs
// (http on loopback) without user info, query or fragment, at most
// MaxResources, none repeated; the store refuses one another client
// registered.
func TestClientResources(t *testing.T) {
	e := newEnv(t)
	b := e.register("svc-b", gm.AlgSM2, ScopeQRRedeem).Client
	for _, r := range []string{"", "api.b.example", "/v1", "http://api.b.example", "https://api.b.example#x",
		"https://api.b.example?x=1", "https://u@api.b.example", "ftp://api.b.example"} {
		c := b.clone()
		c.Resources = []string{r}
		if err := c.Validate(); !errors.Is(err, ErrInvalidClientMetadata) {
			t.Errorf("resource %q: %v; want refused", r, err)
		}
	}
	c := b.clone()
	c.Resources = []string{"http://127.0.0.1:8081/api", "https://api.b.example"}
	if err := c.Validate(); err != nil {
		t.Errorf("loopback http and https: %v", err)
	}
	c.Resources = []string{apiB, apiB}
	if err := c.Validate(); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("a repeated resource: %v", err)
	}
	c.Resources = nil
	for i := range MaxResources + 1 {
		c.Resources = append(c.Resources, "https://api.b.example/"+string(rune('a'+i)))
	}
	if err := c.Validate(); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("%d resources: %v", len(c.Resources), err)
	}

	e.serve("svc-b", apiB)
	e.register("svc-c", gm.AlgSM2, ScopeQRRedeem)
	if _, err := e.clients.Update(context.Background(), "svc-c", func(c *Client) error {
		c.Resources = []string{apiC, apiB}
		return nil
	}); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("C registering B's API: %v", err)
	}
	d, _, err := NewClient(Registration{ID: "svc-d", Name: "D", Region: "310000", Scopes: []string{ScopeQRRedeem},
		AuthMethod: AuthClientSecretBasic, Resources: []string{apiB}}, e.clock.Now(), strings.NewReader(strings.Repeat("r", 256)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.clients.Create(context.Background(), d); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("D registered with B's API: %v", err)
	}
	if _, err := e.clients.Update(context.Background(), "svc-b", func(c *Client) error {
		c.Resources = []string{apiB, apiC}
		return nil
	}); err != nil {
		t.Errorf("B keeping its API and adding one: %v", err)
	}
}

// gatedStore is a client registry (a real one, embedded) that counts its
// lists and holds each, once read, until gate is closed or its caller's
// request ends: a slow list, of the registry as it was when it began.
type gatedStore struct {
	ClientStore
	lists atomic.Int32
	gate  chan struct{}
}

func (g *gatedStore) List(ctx context.Context) ([]Client, error) {
	g.lists.Add(1)
	clients, err := g.ClientStore.List(ctx)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return clients, err
}

// TestAPIsReadOnceAtATime: requests for an API that find the index of
// the registry's APIs stale share one list of the registry (each listed
// it: a thousand clients each time), after a registry change too; when
// the request reading the list ends before it is read, a waiting request
// reads it again, and the others still wait for that one; a request that
// came after a registry change does not take a list begun before it.
func TestAPIsReadOnceAtATime(t *testing.T) {
	e := newEnv(t)
	a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	e.register("svc-b", gm.AlgSM2, ScopeQRRedeem)
	e.serve("svc-b", apiB)
	g := &gatedStore{ClientStore: e.clients}
	svc := e.service(e.store, func(c *Config) { c.Clients = g })
	const callers = 8
	synctest.Test(t, func(t *testing.T) {
		ask := func(ctx context.Context) error {
			_, err := svc.Token(ctx, a.Client, TokenRequest{GrantType: GrantClientCredentials, Resources: []string{apiB}})
			return err
		}
		// round starts callers requests on a stale index, lets the lists
		// they started end once every request waits, and checks that
		// they made lists lists and every request got its token.
		round := func(name string, lists int32) {
			t.Helper()
			g.gate = make(chan struct{})
			before := g.lists.Load()
			var wg sync.WaitGroup
			errs := make(chan error, callers)
			for range callers {
				wg.Go(func() { errs <- ask(context.Background()) })
			}
			synctest.Wait()
			close(g.gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			if got := g.lists.Load() - before; got != lists {
				t.Errorf("%s: %d lists of the registry, want %d", name, got, lists)
			}
		}
		round("no index yet", 1)
		round("fresh index", 0)
		svc.ClientsChanged()
		round("registry changed", 1)

		// The request reading the list ends while the others wait.
		svc.ClientsChanged()
		g.gate = make(chan struct{})
		before := g.lists.Load()
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan error, 1)
		go func() { first <- ask(ctx) }()
		synctest.Wait() // the first request reads the list
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for range callers {
			wg.Go(func() { errs <- ask(context.Background()) })
		}
		synctest.Wait() // the others wait for it
		cancel()
		synctest.Wait() // one of them reads it again, the others wait for that one
		close(g.gate)
		wg.Wait()
		close(errs)
		if err := <-first; !errors.Is(err, ErrUnavailable) {
			t.Errorf("the request that ended: %v, want unavailable", err)
		}
		for err := range errs {
			if err != nil {
				t.Errorf("a request waiting for a list given up: %v", err)
			}
		}
		if got := g.lists.Load() - before; got != 2 {
			t.Errorf("a list given up: %d lists of the registry, want 2", got)
		}

		// A request that finds the index stale after a registry change
		// made while a list was read reads the registry again: B's API
		// withdrawn meanwhile is no longer taken.
		svc.ClientsChanged()
		g.gate = make(chan struct{})
		before = g.lists.Load()
		go func() { first <- ask(context.Background()) }()
		synctest.Wait() // the first request reads the list, B's API in it
		e.serve("svc-b")
		svc.ClientsChanged()
		second := make(chan error, 1)
		go func() { second <- ask(context.Background()) }()
		synctest.Wait()
		close(g.gate)
		if err := <-first; err != nil {
			t.Errorf("the request whose list began before the change: %v", err)
		}
		if err := <-second; !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("the request after B withdrew its API: %v, want invalid_target", err)
		}
		if got := g.lists.Load() - before; got != 2 {
			t.Errorf("a list of an older registry: %d lists of the registry, want 2", got)
		}
	})
}

// BenchmarkTokenResource is Token for this node and for a relying party's
// API with n other clients registered: an API is looked up in the APIs
// resourceOwner read from the registry's list, which it reads again at
// most once per RevocationRecheck or registry change.
func BenchmarkTokenResource(b *testing.B) {
	for _, n := range []int{10, 1000} {
		e := newEnv(b)
		a := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
		for i := range n {
			e.register(fmt.Sprintf("svc-%04d", i), gm.AlgSM2, ScopeQRRedeem)
		}
		e.serve("svc-0000", apiB)
		ctx := context.Background()
		for name, resources := range map[string][]string{"node": nil, "api": {apiB}} {
			b.Run(fmt.Sprintf("%s/clients=%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.svc.Token(ctx, a.Client, TokenRequest{GrantType: GrantClientCredentials, Resources: resources}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
