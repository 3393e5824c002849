// Package registrytest is the behavioural suite of the registries on the
// ledger (package registry), run against every backend: the embedded
// ledger in registry's tests, the Fabric network in ledger/fabric's.
package registrytest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/auth/clientstoretest"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
	"github.com/trustid-cn/trustid/ledger/registry"
)

// Open returns two new connections to one chain: a acting as
// ledgertest.RegionA, b as ledgertest.RegionB.
type Open func(t *testing.T) (a, b ledger.Ledger)

// Run runs the auth.ClientStore conformance suite over the registry on
// the ledger (with a view, as a node reads it, and without, as the CLI
// does), the terminal registry's behaviour, and checks that a change one
// instance makes is seen by another instance's view within bound: two
// connections of RegionA, each with its own View, stand for two
// instances of one region.
func Run(t *testing.T, open Open, bound time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, b := open(t)
	ledgertest.EnsureConsortium(ctx, t, a, b)

	t.Run("ClientStore", func(t *testing.T) {
		clientstoretest.Run(t, func(t *testing.T) auth.ClientStore {
			l, _ := open(t)
			return registry.NewClients(ledger.Client{L: l}, StartView(t, l))
		})
	})
	t.Run("ClientStoreWithoutView", func(t *testing.T) {
		clientstoretest.Run(t, func(t *testing.T) auth.ClientStore {
			l, _ := open(t)
			return registry.NewClients(ledger.Client{L: l}, nil)
		})
	})
	t.Run("HomeClientStore", func(t *testing.T) {
		clientstoretest.Run(t, func(t *testing.T) auth.ClientStore {
			l, _ := open(t)
			return registry.NewHomeClients(ledger.Client{L: l}, StartView(t, l), ledgertest.RegionA)
		})
	})
	t.Run("Terminals", func(t *testing.T) {
		l, _ := open(t)
		testTerminals(t, registry.NewTerminals(ledger.Client{L: l}, StartView(t, l), ledgertest.RegionA))
	})
	t.Run("TwoInstances", func(t *testing.T) {
		l1, _ := open(t)
		l2, _ := open(t)
		one := registry.NewClients(ledger.Client{L: l1}, StartView(t, l1))
		two := registry.NewClients(ledger.Client{L: l2}, StartView(t, l2))
		c := clientstoretest.Client(t, fresh("two"))
		if err := one.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		took := Within(t, bound, func() bool { _, err := two.Get(ctx, c.ID); return err == nil })
		t.Logf("a new client reached the other instance %v after the commit", took)
		// Concurrent updates through both instances: the version check
		// on the chain makes the loser retry, so none is lost.
		var wg sync.WaitGroup
		const n = 8
		for i := range 2 * n {
			store := []*registry.Clients{one, two}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := store.Update(ctx, c.ID, func(c *auth.Client) error {
					c.RedirectURIs = append(c.RedirectURIs, fmt.Sprintf("https://svc.example/cb/%d", i))
					return nil
				}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		// The last update may have gone through two, which waited for its
		// own view: one's view shows every update within the bound, or one
		// was lost.
		kept := 0
		Within(t, bound, func() bool {
			got, _ := one.Get(ctx, c.ID)
			kept = len(got.RedirectURIs)
			return kept == 2*n
		})
		t.Logf("%d of %d concurrent updates through two instances kept", kept, 2*n)
		start := time.Now()
		if _, err := one.Update(ctx, c.ID, func(c *auth.Client) error { c.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		wrote := time.Since(start)
		took = Within(t, bound, func() bool { got, err := two.Get(ctx, c.ID); return err == nil && got.Disabled })
		t.Logf("disable committed in %v; the other instance refused the client %v after the commit", wrote, took)

		t1 := registry.NewTerminals(ledger.Client{L: l1}, StartView(t, l1), ledgertest.RegionA)
		t2 := registry.NewTerminals(ledger.Client{L: l2}, StartView(t, l2), ledgertest.RegionA)
		term := newTerminal(t, fresh("tt"))
		if err := t1.Add(ctx, term); err != nil {
			t.Fatal(err)
		}
		if err := t1.Revoke(ctx, term.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		took = Within(t, bound, func() bool {
			got, err := t2.Terminal(ctx, term.ID)
			return err == nil && got.State == identity.TerminalRevoked
		})
		t.Logf("the other instance saw the terminal revoked %v after the commit", took)
	})
}

// Within fails t unless cond holds within bound, polling every
// millisecond; it returns how long it took.
func Within(t *testing.T, bound time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > bound {
			t.Fatalf("not visible within %v", bound)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// StartView runs a View of l until the test ends and waits until it has
// loaded.
func StartView(t *testing.T, l ledger.Ledger) *ledger.View {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	v := ledger.NewView(l, ledger.ViewOptions{})
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for !v.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("the view did not load")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return v
}

func fresh(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%x", prefix, b)
}

func newTerminal(t *testing.T, id string) identity.Terminal {
	t.Helper()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	term, err := identity.NewTerminal(id, "Xuhui service centre, counter 3", "310104", k.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return term
}

func testTerminals(t *testing.T, reg identity.TerminalRegistry) {
	ctx := context.Background()
	term := newTerminal(t, fresh("term"))
	if err := reg.Add(ctx, term); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Terminal(ctx, term.ID)
	if err != nil || got.State != identity.TerminalActive || got.Region != "310104" || got.Name != term.Name || got.Alg() != gm.AlgSM2 {
		t.Fatalf("terminal: %+v %v", got, err)
	}
	if err := reg.Add(ctx, term); !errors.Is(err, identity.ErrTerminalExists) {
		t.Errorf("duplicate ID: %v", err)
	}
	again := term
	again.ID = fresh("term")
	if err := reg.Add(ctx, again); !errors.Is(err, identity.ErrTerminalExists) {
		t.Errorf("duplicate key: %v", err)
	}
	list, err := reg.List(ctx)
	found := false
	for _, x := range list {
		found = found || x.ID == term.ID
	}
	if err != nil || !found {
		t.Errorf("list: %v %v", list, err)
	}
	if _, err := reg.Terminal(ctx, fresh("nobody")); !errors.Is(err, identity.ErrUnknownTerminal) {
		t.Errorf("unknown terminal: %v", err)
	}
	if err := reg.Revoke(ctx, term.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := reg.Terminal(ctx, term.ID); got.State != identity.TerminalRevoked || got.Revoked.IsZero() {
		t.Errorf("after revoke: %+v", got)
	}
	if err := reg.Revoke(ctx, term.ID, time.Now()); !errors.Is(err, identity.ErrTerminalRevoked) {
		t.Errorf("second revoke: %v", err)
	}
	if err := reg.Revoke(ctx, fresh("nobody"), time.Now()); !errors.Is(err, identity.ErrUnknownTerminal) {
		t.Errorf("revoke of an unknown terminal: %v", err)
	}
	// A revoked terminal (an imported registry's) is registered revoked.
	gone := newTerminal(t, fresh("term"))
	gone.State, gone.Revoked = identity.TerminalRevoked, time.Now()
	if err := reg.Add(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if got, err := reg.Terminal(ctx, gone.ID); err != nil || got.State != identity.TerminalRevoked {
		t.Errorf("a terminal added revoked: %+v %v", got, err)
	}
}
