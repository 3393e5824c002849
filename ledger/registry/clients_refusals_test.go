package registry_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/auth/clientstoretest"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
	"github.com/trustid-cn/trustid/ledger/registry"
)

// TestClientsInvalidIDIsNotFound: a client_id the contract refuses as
// invalid (here with a NUL byte, which no ledger key holds; read from the
// chain, without a view) is a client that does not exist (auth.ErrClientNotFound, invalid_client at the token endpoint),
// not a registry outage, for Get and Update alike.
func TestClientsInvalidIDIsNotFound(t *testing.T) {
	ctx := context.Background()
	a, _ := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	clients := registry.NewClients(ledger.Client{L: a}, nil)
	const bad = "svc\x00a"
	if _, err := clients.Get(ctx, bad); !errors.Is(err, auth.ErrClientNotFound) {
		t.Errorf("Get: %v, want auth.ErrClientNotFound", err)
	}
	if _, err := clients.Update(ctx, bad, func(*auth.Client) error { return nil }); !errors.Is(err, auth.ErrClientNotFound) {
		t.Errorf("Update: %v, want auth.ErrClientNotFound", err)
	}
}

// TestClientsViewNotLoadedIsUnavailable: before the ledger view has
// loaded, a registered client is not reported missing (which the token
// endpoint would answer as a wrong credential) but unavailable.
func TestClientsViewNotLoadedIsUnavailable(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	c := clientstoretest.Client(t, "svc-a")
	if err := registry.NewClients(ledger.Client{L: a}, nil).Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	idle := ledger.NewView(a, ledger.ViewOptions{}) // never run: not ready
	clients := registry.NewClients(ledger.Client{L: a}, idle)
	if _, err := clients.Get(ctx, c.ID); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("Get before the view loaded: %v, want auth.ErrUnavailable", err)
	}
	if _, err := clients.List(ctx); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("List before the view loaded: %v, want auth.ErrUnavailable", err)
	}
}

// TestClientsUpdateValidatesFirst: an update that leaves the client
// invalid is refused by auth.Client.Validate, naming the field, before
// it reaches the ledger.
func TestClientsUpdateValidatesFirst(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	clients := registry.NewClients(ledger.Client{L: a}, nil)
	c := clientstoretest.Client(t, "svc-a")
	if err := clients.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	_, err := clients.Update(ctx, c.ID, func(c *auth.Client) error { c.Scopes = nil; return nil })
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Kind != auth.ErrInvalidClientMetadata || !strings.Contains(ae.Description, "scopes must name at least one scope") {
		t.Errorf("update without scopes: %v, want invalid_client_metadata naming scopes", err)
	}
}
