package ledger_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestViewIssuerRegion: a verifier finds an issuer's region by the DID or
// an endpoint URL in the registry; only active regions count, and the
// contract keeps a region from claiming another's name;
// SuspendedIssuerRegion names a suspended one.
func TestViewIssuerRegion(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	v := ledger.NewView(a, ledger.ViewOptions{})
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go v.Run(vctx)
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	eventually("view not ready", v.Ready)
	for issuer, want := range map[string]string{
		"did:web:310000.trustid.local":  ledgertest.RegionA,
		"https://310000.trustid.local":  ledgertest.RegionA,
		"https://320000.trustid.local/": ledgertest.RegionB,
	} {
		if got, ok := v.IssuerRegion(issuer); !ok || got != want {
			t.Errorf("IssuerRegion(%q) = %q %v, want %s", issuer, got, ok, want)
		}
	}
	for _, issuer := range []string{"", "did:web:330000.trustid.local", "https://310000.trustid.local.evil"} {
		if got, ok := v.IssuerRegion(issuer); ok {
			t.Errorf("IssuerRegion(%q) = %q", issuer, got)
		}
	}
	// B may not claim A's DID too (the contract refuses it): the DID
	// stays A's.
	cb := ledger.Client{L: b}
	if _, err := cb.UpdateRegion(ctx, chaincode.RegionInput{Code: ledgertest.RegionB, DID: "did:web:310000.trustid.local",
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: "https://320000.trustid.local"}}}); !errors.Is(err, chaincode.ErrInvalid) {
		t.Fatalf("B claiming A's DID: %v, want ErrInvalid", err)
	}
	if got, ok := v.IssuerRegion("did:web:310000.trustid.local"); !ok || got != ledgertest.RegionA {
		t.Errorf("after B's refused claim the DID names %q %v, want %s", got, ok, ledgertest.RegionA)
	}
	// A suspended region is no issuer's region.
	if err := (ledger.Client{L: a}).Vote(ctx, chaincode.ActionSuspend, ledgertest.RegionB); err != nil {
		t.Fatal(err)
	}
	eventually("a suspended region still names issuers", func() bool {
		_, ok := v.IssuerRegion("https://320000.trustid.local")
		return !ok
	})
	if got, ok := v.IssuerRegion("did:web:310000.trustid.local"); !ok || got != ledgertest.RegionA {
		t.Errorf("with B suspended the DID is A's: %q %v", got, ok)
	}
	// ... but SuspendedIssuerRegion names it, and only it.
	if got, ok := v.SuspendedIssuerRegion("https://320000.trustid.local"); !ok || got != ledgertest.RegionB {
		t.Errorf("SuspendedIssuerRegion(B's URL) = %q %v, want %s", got, ok, ledgertest.RegionB)
	}
	if got, ok := v.SuspendedIssuerRegion("https://310000.trustid.local"); ok {
		t.Errorf("SuspendedIssuerRegion(A's URL) = %q, A is active", got)
	}
}

// TestViewOtherRegionOnHost: the view knows which regions, of any
// status, have a DID or an endpoint on an ID's host, and follows their
// changes.
func TestViewOtherRegionOnHost(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	v := ledger.NewView(a, ledger.ViewOptions{})
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go v.Run(vctx)
	for deadline := time.Now().Add(5 * time.Second); !v.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("view not ready")
		}
	}
	if got, ok := v.OtherRegionOnHost("did:web:310000.trustid.local:issuers:x", ledgertest.RegionB); !ok || got != ledgertest.RegionA {
		t.Errorf("A's host for B: %q %v", got, ok)
	}
	for _, id := range []string{"https://310000.trustid.local/x", "did:web:elsewhere.example", "https://320000-web.trustid.local", "did:key:z6Mk"} {
		if got, ok := v.OtherRegionOnHost(id, ledgertest.RegionA); ok {
			t.Errorf("%s for A: %q", id, got)
		}
	}
	if _, err := (ledger.Client{L: b}).UpdateRegion(ctx, chaincode.RegionInput{Code: ledgertest.RegionB, DID: "did:web:320000.trustid.local",
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: "https://320000.trustid.local"}, {Type: "web", URL: "https://320000-WEB.trustid.local:443/x"}}}); err != nil {
		t.Fatal(err)
	}
	if err := (ledger.Client{L: a}).Vote(ctx, chaincode.ActionSuspend, ledgertest.RegionB); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if r, _ := v.Region(ledgertest.RegionB); r.Status == chaincode.RegionSuspended {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the view never saw B suspended")
		}
	}
	if got, ok := v.OtherRegionOnHost("https://320000-web.trustid.local", ledgertest.RegionA); !ok || got != ledgertest.RegionB {
		t.Errorf("B's new host, B suspended, for A: %q %v", got, ok)
	}
}
