package federation_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
	"github.com/trustid-cn/trustid/store"
)

const regionA, regionB = ledgertest.RegionA, ledgertest.RegionB

// consortium is a real embedded ledger with regions A and B active, and
// region A's view of it, running.
type consortium struct {
	a, b ledger.Client
	view *ledger.View
}

func newConsortium(t testing.TB) *consortium {
	t.Helper()
	la, lb := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ctx := context.Background()
	ledgertest.EnsureConsortium(ctx, t, la, lb)
	v := ledger.NewView(la, ledger.ViewOptions{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); v.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "view ready", v.Ready)
	return &consortium{a: ledger.Client{L: la}, b: ledger.Client{L: lb}, view: v}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// addKey registers a fresh SM2 key for the client's region and returns it
// with its kid.
func addKey(t testing.TB, c ledger.Client, kid string) *gm.PrivateKey {
	t.Helper()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := gm.NewJWK(k.Public(), kid)
	a, _ := json.Marshal(j)
	if _, _, err := c.L.Submit(context.Background(), "AddRegionKey", string(a)); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRegionKeysFromTheRegistry: region A resolves region B's node key
// from its view of the ledger alone; a node assertion signed with it is
// accepted; a key B retires or revokes, a key not in the registry, and
// every key of B once the consortium suspends B are refused, each with
// its own error, as soon as the view has the change.
func TestRegionKeysFromTheRegistry(t *testing.T) {
	ctx := context.Background()
	c := newConsortium(t)
	keyB := addKey(t, c.b, "b-node-1")
	refused := map[string]int{}
	var mu sync.Mutex
	keys := &federation.Keys{Registry: c.view, OnRefuse: func(err error) { mu.Lock(); refused[federation.Reason(err)]++; mu.Unlock() }}
	waitFor(t, "B's key in A's view", func() bool { _, _, err := keys.RegionKey(ctx, regionB, "b-node-1"); return err == nil })

	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	authA := &redeem.NodeAssertions{Region: regionA, Keys: keys, Nonces: mem}
	assert := func(signer *gm.PrivateKey, kid string) error {
		req, _ := http.NewRequest(http.MethodPost, "https://a.example"+redeem.PeerRedeemPath, nil)
		b := &redeem.NodeAssertions{Region: regionB, SigningKey: redeem.FixedKey(signer, kid)}
		if err := b.Authorize(ctx, req, regionA); err != nil {
			t.Fatal(err)
		}
		region, err := authA.AuthenticatePeer(req)
		if err == nil && region != regionB {
			t.Fatalf("authenticated as %s", region)
		}
		return err
	}
	if err := assert(keyB, "b-node-1"); err != nil {
		t.Fatalf("B's registered key: %v", err)
	}
	forged, _ := gm.GenerateKey(rand.Reader)
	if err := assert(forged, "b-node-1"); !errors.Is(err, qrcode.ErrPeerAuth) {
		t.Errorf("forged signature: %v", err)
	}
	if err := assert(forged, "b-node-unknown"); !errors.Is(err, qrcode.ErrPeerAuth) {
		t.Errorf("key not in the registry: %v", err)
	}
	if _, _, err := keys.RegionKey(ctx, regionB, "b-node-unknown"); !errors.Is(err, federation.ErrUnknownKey) {
		t.Errorf("unknown kid: %v", err)
	}
	if _, _, err := keys.RegionKey(ctx, "330000", "b-node-1"); !errors.Is(err, federation.ErrUnknownRegion) {
		t.Errorf("unknown region: %v", err)
	}

	// Retiring: still verifies. Retired: refused.
	key2 := addKey(t, c.b, "b-node-2")
	if _, _, err := c.b.L.Submit(ctx, "SetRegionKeyState", "b-node-1", chaincode.KeyRetiring); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retiring", func() bool {
		r, _ := c.view.Region(regionB)
		return r.Keys[len(r.Keys)-2].State == chaincode.KeyRetiring
	})
	if err := assert(keyB, "b-node-1"); err != nil {
		t.Errorf("retiring key: %v", err)
	}
	if _, _, err := c.b.L.Submit(ctx, "SetRegionKeyState", "b-node-1", chaincode.KeyRetired); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retired", func() bool {
		_, _, err := keys.RegionKey(ctx, regionB, "b-node-1")
		return errors.Is(err, federation.ErrKeyNotValid)
	})
	if err := assert(keyB, "b-node-1"); !errors.Is(err, qrcode.ErrPeerAuth) {
		t.Errorf("retired key: %v", err)
	}
	if err := assert(key2, "b-node-2"); err != nil {
		t.Errorf("B's new key: %v", err)
	}

	// A votes to suspend B (A is the only other active region).
	if err := c.a.Vote(ctx, chaincode.ActionSuspend, regionB); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "suspension in the view", func() bool {
		_, _, err := keys.RegionKey(ctx, regionB, "b-node-2")
		return errors.Is(err, federation.ErrRegionSuspended)
	})
	if err := assert(key2, "b-node-2"); !errors.Is(err, qrcode.ErrPeerAuth) {
		t.Errorf("suspended region: %v", err)
	}
	dir := federation.Directory{Registry: c.view}
	if _, err := dir.PeerURL(regionB); !errors.Is(err, federation.ErrRegionSuspended) {
		t.Errorf("route to a suspended region: %v", err)
	}
	if u, err := dir.PeerURL(regionA); err != nil || u != "https://"+regionA+".trustid.local" {
		t.Errorf("route to an active region: %q %v", u, err)
	}
	if _, err := dir.PeerURL("330000"); !errors.Is(err, federation.ErrUnknownRegion) {
		t.Errorf("route to an unknown region: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range []string{"unknown_key", "unknown_region", "key_not_valid", "region_suspended"} {
		if refused[r] == 0 {
			t.Errorf("refusal %s not reported (%v)", r, refused)
		}
	}
}

// TestPartiesFromTheRegistry: the relying party a peer asks for must be
// registered with the calling region, active, allowed to redeem, and hold
// the sector on the ledger; its claims are the registry's.
func TestPartiesFromTheRegistry(t *testing.T) {
	ctx := context.Background()
	c := newConsortium(t)
	put := func(cl ledger.Client, id string, scopes, claims []string) {
		t.Helper()
		k, _ := gm.GenerateKey(rand.Reader)
		j, _ := gm.NewJWK(k.Public(), id+"-k")
		if _, err := cl.PutRelyingParty(ctx, chaincode.RelyingParty{ClientID: id, JWKS: gm.JWKS{Keys: []gm.JWK{j}}, Scopes: scopes, Claims: claims, Status: chaincode.EntryActive}); err != nil {
			t.Fatal(err)
		}
	}
	put(c.b, "hotel-b", []string{auth.ScopeQRRedeem}, []string{"age_over_18"})
	put(c.b, "bank-b", []string{auth.ScopeQRRedeem}, nil)
	put(c.b, "noscope-b", []string{auth.ScopeEnroll}, nil)
	put(c.a, "hotel-a", []string{auth.ScopeQRRedeem}, nil)
	for _, s := range []chaincode.SectorClaim{
		{Kind: chaincode.SectorKindIdentifier, Name: "hotel.example", ClientID: "hotel-b"},
		{Kind: chaincode.SectorKindIdentifier, Name: "bank.example", ClientID: "bank-b"},
	} {
		if _, err := c.b.ClaimSector(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "parties in the view", func() bool { _, ok := c.view.RelyingParty("noscope-b"); return ok })
	waitFor(t, "parties in the view", func() bool { _, ok := c.view.RelyingParty("hotel-a"); return ok })
	var mu sync.Mutex
	reported := map[string]int{}
	p := &federation.Parties{Registry: c.view, Sectors: c.a, OnRefuse: func(err error) { mu.Lock(); reported[federation.Reason(err)]++; mu.Unlock() }}
	rp, err := p.PeerParty(ctx, regionB, "hotel-b", "hotel.example")
	if err != nil || rp.ClientID != "hotel-b" || rp.Sector != "hotel.example" || len(rp.AllowedClaims) != 1 || rp.AllowedClaims[0] != "age_over_18" {
		t.Fatalf("registered party: %+v %v", rp, err)
	}
	for name, c := range map[string]struct {
		region, id, sector string
		want               error
	}{
		"party of another region":      {regionB, "hotel-a", "", federation.ErrForeignParty},
		"asked by another region":      {regionA, "hotel-b", "hotel.example", federation.ErrForeignParty},
		"unregistered":                 {regionB, "stranger", "", federation.ErrForeignParty},
		"another party's sector":       {regionB, "hotel-b", "bank.example", federation.ErrSectorNotHeld},
		"unclaimed sector":             {regionB, "hotel-b", "other.example", federation.ErrSectorNotHeld},
		"client-ID sector not claimed": {regionB, "hotel-b", "", federation.ErrSectorNotHeld},
		"no qr:redeem scope":           {regionB, "noscope-b", "", federation.ErrPartyDisabled},
	} {
		if _, err := p.PeerParty(ctx, c.region, c.id, c.sector); !errors.Is(err, c.want) || !errors.Is(err, qrcode.ErrUnknownVerifier) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// Suspended by its region: refused as soon as the view has it.
	x, _ := c.view.RelyingParty("hotel-b")
	x.Status = chaincode.EntrySuspended
	if _, err := c.b.PutRelyingParty(ctx, x); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "suspension", func() bool { x, _ := c.view.RelyingParty("hotel-b"); return x.Status == chaincode.EntrySuspended })
	if _, err := p.PeerParty(ctx, regionB, "hotel-b", "hotel.example"); !errors.Is(err, federation.ErrPartyDisabled) {
		t.Errorf("suspended party: %v", err)
	}
	// Each refusal is reported by its reason (the node's metrics).
	mu.Lock()
	defer mu.Unlock()
	for reason, n := range map[string]int{"foreign_party": 3, "sector_not_held": 3, "party_disabled": 2} {
		if reported[reason] != n {
			t.Errorf("%s reported %d times, want %d (%v)", reason, reported[reason], n, reported)
		}
	}
}
