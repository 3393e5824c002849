// Package clientstoretest is the conformance suite of auth.ClientStore:
// every implementation (the in-memory store, the registry on the ledger
// over the embedded ledger and over Fabric) must pass Run. Client IDs are
// fresh in each run, so the suite also runs against a shared, long-lived
// registry (a Fabric network).
package clientstoretest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
)

// Run checks the ClientStore contract against stores made by open. A
// store may already hold other clients; the suite's IDs are fresh.
func Run(t *testing.T, open func(t *testing.T) auth.ClientStore) {
	// start opens a store and returns it with a maker of fresh IDs.
	start := func(t *testing.T) (auth.ClientStore, func(string) string) {
		var b [4]byte
		rand.Read(b[:])
		pre := fmt.Sprintf("cs%x-", b)
		return open(t), func(s string) string { return pre + s }
	}
	t.Run("GetMissing", func(t *testing.T) {
		s, id := start(t)
		if _, err := s.Get(context.Background(), id("nobody")); !errors.Is(err, auth.ErrClientNotFound) {
			t.Errorf("got %v, want ErrClientNotFound", err)
		}
	})
	t.Run("CreateGetList", func(t *testing.T) {
		s, id := start(t)
		ctx := context.Background()
		b, a := Client(t, id("svc-b")), Client(t, id("svc-a"))
		for _, c := range []auth.Client{b, a} {
			if err := s.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, id("svc-a"))
		// A store may stamp Created with its own registration time.
		if err != nil || got.Created.IsZero() {
			t.Errorf("get: %v, created %v", err, got.Created)
		}
		got.Created = a.Created
		if fmt.Sprint(got) != fmt.Sprint(a) {
			t.Errorf("get: %v\n got %+v\nwant %+v", err, got, a)
		}
		all, err := s.List(ctx)
		var list []auth.Client
		for _, c := range all {
			if strings.HasPrefix(c.ID, id("")) {
				list = append(list, c)
			}
		}
		if err != nil || len(list) != 2 || list[0].ID != id("svc-a") || list[1].ID != id("svc-b") {
			t.Errorf("list %v %v", list, err)
		}
		if err := s.Create(ctx, a); !errors.Is(err, auth.ErrClientExists) {
			t.Errorf("duplicate create: %v", err)
		}
		bad := Client(t, id("svc-c"))
		bad.Region = "999999"
		if err := s.Create(ctx, bad); !errors.Is(err, auth.ErrInvalidClientMetadata) {
			t.Errorf("invalid create: %v", err)
		}
		if _, err := s.Get(ctx, id("svc-c")); !errors.Is(err, auth.ErrClientNotFound) {
			t.Errorf("invalid client was stored: %v", err)
		}
	})
	t.Run("ResourcesAreOneClients", func(t *testing.T) {
		s, id := start(t)
		ctx := context.Background()
		api := "https://" + strings.TrimSuffix(id("api"), "-api") + ".example/api"
		a, b := Client(t, id("svc-a")), Client(t, id("svc-b"))
		a.Resources = []string{api}
		if err := s.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, a.ID); err != nil || len(got.Resources) != 1 || got.Resources[0] != api {
			t.Errorf("get: %v, resources %q", err, got.Resources)
		}
		b.Resources = []string{api}
		if err := s.Create(ctx, b); !errors.Is(err, auth.ErrInvalidClientMetadata) {
			t.Errorf("create with another client's resource: %v", err)
		}
		b.Resources = nil
		if err := s.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, b.ID, func(c *auth.Client) error {
			c.Resources = []string{api}
			return nil
		}); !errors.Is(err, auth.ErrInvalidClientMetadata) {
			t.Errorf("update to another client's resource: %v", err)
		}
		if _, err := s.Update(ctx, a.ID, func(c *auth.Client) error {
			c.Name = "renamed"
			return nil
		}); err != nil {
			t.Errorf("update of the client that holds the resource: %v", err)
		}
		// A client that drops a resource frees it; so does a disabled
		// client, whose record keeps its resources; enabled again, it
		// is refused while another client holds one.
		other := strings.TrimSuffix(api, "/api") + "/other"
		update := func(id string, fn func(c *auth.Client)) error {
			_, err := s.Update(ctx, id, func(c *auth.Client) error { fn(c); return nil })
			return err
		}
		if err := update(a.ID, func(c *auth.Client) { c.Resources = []string{other} }); err != nil {
			t.Fatal(err)
		}
		if err := update(b.ID, func(c *auth.Client) { c.Resources = []string{api} }); err != nil {
			t.Errorf("update to a resource its client dropped: %v", err)
		}
		if err := update(a.ID, func(c *auth.Client) { c.Disabled = true }); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, a.ID); err != nil || !slices.Equal(got.Resources, []string{other}) {
			t.Errorf("the disabled client: %v, resources %q", err, got.Resources)
		}
		c := Client(t, id("svc-c"))
		c.Resources = []string{other}
		if err := s.Create(ctx, c); err != nil {
			t.Errorf("create with a resource of a disabled client: %v", err)
		}
		if err := update(a.ID, func(c *auth.Client) { c.Disabled = false }); !errors.Is(err, auth.ErrInvalidClientMetadata) {
			t.Errorf("enabling a client whose resource another took: %v", err)
		}
	})
	// ResourcesSince: the store stamps when a client took each of its
	// resources (the introspection of tokens asked before then: gap 27),
	// whatever the client given holds; the client keeps its time while
	// it holds the resource; a client that takes one another dropped
	// takes it later; a disabled client holds none.
	t.Run("ResourcesSince", func(t *testing.T) {
		s, id := start(t)
		ctx := context.Background()
		api := "https://" + strings.TrimSuffix(id("api"), "-api") + ".example/api"
		other := strings.TrimSuffix(api, "/api") + "/other"
		update := func(id string, fn func(c *auth.Client)) auth.Client {
			t.Helper()
			if _, err := s.Update(ctx, id, func(c *auth.Client) error { fn(c); return nil }); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		a, b := Client(t, id("svc-a")), Client(t, id("svc-b"))
		a.Resources = []string{api}
		a.ResourcesSince = map[string]time.Time{api: time.Unix(1, 0)}
		if err := s.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, a.ID)
		took := got.ResourcesSince[api]
		if err != nil || took.Before(time.Unix(2, 0)) || len(got.ResourcesSince) != 1 {
			t.Fatalf("created with a resource: %v, since %v", err, got.ResourcesSince)
		}
		if got := update(a.ID, func(c *auth.Client) {
			c.Name = "renamed"
			c.ResourcesSince = nil
		}); !got.ResourcesSince[api].Equal(took) {
			t.Errorf("renamed: since %v, want %v", got.ResourcesSince, took)
		}
		if got := update(a.ID, func(c *auth.Client) { c.Resources = []string{other} }); len(got.ResourcesSince) != 1 || got.ResourcesSince[other].IsZero() {
			t.Errorf("moved to another resource: since %v", got.ResourcesSince)
		}
		if err := s.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		if got := update(b.ID, func(c *auth.Client) { c.Resources = []string{api} }); !got.ResourcesSince[api].After(took) {
			t.Errorf("took the resource the other dropped: since %v, want after %v", got.ResourcesSince, took)
		}
		if got := update(a.ID, func(c *auth.Client) { c.Disabled = true }); len(got.ResourcesSince) != 0 {
			t.Errorf("disabled: since %v, want none", got.ResourcesSince)
		}
	})
	t.Run("CopiesAreIndependent", func(t *testing.T) {
		s, id := start(t)
		ctx := context.Background()
		c := Client(t, id("svc-a"))
		if err := s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		c.Scopes[0] = "changed-after-create"
		got, _ := s.Get(ctx, id("svc-a"))
		got.Scopes[0] = "changed-after-get"
		got.JWKS.Keys[0].Kid = "changed"
		again, _ := s.Get(ctx, id("svc-a"))
		if again.Scopes[0] != auth.ScopeQRRedeem || again.JWKS.Keys[0].Kid == "changed" {
			t.Errorf("store shares memory with callers: %+v", again)
		}
		// Update's result is a copy too, and so is what its fn changes:
		// a change in place that fn then refuses is not kept.
		updated, err := s.Update(ctx, id("svc-a"), func(c *auth.Client) error { c.Name = "Renamed"; return nil })
		if err != nil {
			t.Fatal(err)
		}
		updated.Scopes[0] = "changed-after-update"
		boom := errors.New("boom")
		if _, err := s.Update(ctx, id("svc-a"), func(c *auth.Client) error {
			c.Scopes[0] = "changed-in-a-refused-update"
			c.JWKS.Keys[0].Kid = "changed"
			return boom
		}); !errors.Is(err, boom) {
			t.Errorf("fn error: %v", err)
		}
		again, _ = s.Get(ctx, id("svc-a"))
		if again.Scopes[0] != auth.ScopeQRRedeem || again.JWKS.Keys[0].Kid == "changed" || again.Name != "Renamed" {
			t.Errorf("store shares memory with Update: %+v", again)
		}
	})
	t.Run("Update", func(t *testing.T) {
		s, id := start(t)
		ctx := context.Background()
		if err := s.Create(ctx, Client(t, id("svc-a"))); err != nil {
			t.Fatal(err)
		}
		got, err := s.Update(ctx, id("svc-a"), func(c *auth.Client) error { c.Disabled = true; return nil })
		if err != nil || !got.Disabled {
			t.Fatalf("update: %+v %v", got, err)
		}
		if c, _ := s.Get(ctx, id("svc-a")); !c.Disabled {
			t.Error("update not stored")
		}
		boom := errors.New("boom")
		if _, err := s.Update(ctx, id("svc-a"), func(c *auth.Client) error { c.Disabled = false; return boom }); !errors.Is(err, boom) {
			t.Errorf("fn error: %v", err)
		}
		if _, err := s.Update(ctx, id("svc-a"), func(c *auth.Client) error { c.Scopes = []string{"nope"}; return nil }); !errors.Is(err, auth.ErrInvalidClientMetadata) {
			t.Errorf("invalid update: %v", err)
		}
		if _, err := s.Update(ctx, id("svc-a"), func(c *auth.Client) error { c.ID = id("svc-z"); return nil }); err == nil {
			t.Error("ID change accepted")
		}
		if c, _ := s.Get(ctx, id("svc-a")); !c.Disabled || c.Scopes[0] != auth.ScopeQRRedeem {
			t.Errorf("failed updates changed the client: %+v", c)
		}
		if _, err := s.Update(ctx, id("nobody"), func(*auth.Client) error { return nil }); !errors.Is(err, auth.ErrClientNotFound) {
			t.Errorf("update of a missing client: %v", err)
		}
	})
	t.Run("ConcurrentUpdatesAreNotLost", func(t *testing.T) {
		s, id := start(t)
		ctx := context.Background()
		if err := s.Create(ctx, Client(t, id("svc-a"))); err != nil {
			t.Fatal(err)
		}
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Update(ctx, id("svc-a"), func(c *auth.Client) error {
					c.RedirectURIs = append(c.RedirectURIs, fmt.Sprintf("https://svc-a.example/cb/%d", i))
					return nil
				}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if c, _ := s.Get(ctx, id("svc-a")); len(c.RedirectURIs) != n {
			t.Errorf("%d of %d concurrent updates kept", len(c.RedirectURIs), n)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		s, id := start(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Get(ctx, id("svc-a")); !errors.Is(err, context.Canceled) {
			t.Errorf("get: %v", err)
		}
		if err := s.Create(ctx, Client(t, id("svc-a"))); !errors.Is(err, context.Canceled) {
			t.Errorf("create: %v", err)
		}
	})
}

// Client returns a valid private_key_jwt client with a fresh SM2 key.
func Client(t testing.TB, id string) auth.Client {
	t.Helper()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := auth.KeyID(k.Public())
	j, _ := gm.NewJWK(k.Public(), kid)
	c, _, err := auth.NewClient(auth.Registration{ID: id, Name: "Client " + id, Region: "310000",
		Scopes: []string{auth.ScopeQRRedeem, auth.ScopeEnroll}, JWKS: &gm.JWKS{Keys: []gm.JWK{j}}},
		time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
