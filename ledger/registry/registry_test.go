package registry_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/auth/clientstoretest"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
	"github.com/trustid-cn/trustid/ledger/registry"
	"github.com/trustid-cn/trustid/ledger/registry/registrytest"
	"github.com/trustid-cn/trustid/store"
)

// TestEmbedded runs the suite over one embedded ledger: every connection
// is a handle on the same file, as instances in one process would share
// it. The bound is the embedded ledger's: visible at commit (the view
// applies the commit's event at once; 250 ms leaves room for a loaded CI
// machine).
func TestEmbedded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	a, _ := embeddedtest.Open(t, path)
	registrytest.Run(t, func(t *testing.T) (ledger.Ledger, ledger.Ledger) {
		x, err := a.As(a.MSPID())
		if err != nil {
			t.Fatal(err)
		}
		y, err := a.As(chaincode.RegionMSP("320000"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { y.Close(); x.Close() })
		return x, y
	}, 250*time.Millisecond)
}

// TestScopesKnownToTheContract: every scope a node grants can be
// registered on the ledger.
func TestScopesKnownToTheContract(t *testing.T) {
	for _, s := range auth.Scopes {
		if !slices.Contains(chaincode.Scopes, s) {
			t.Errorf("scope %q is not in chaincode.Scopes", s)
		}
	}
	if !slices.Equal(auth.GrantTypes, chaincode.GrantTypes) || !slices.Equal(auth.AuthMethods, chaincode.AuthMethods) {
		t.Errorf("grant types or auth methods differ: %v %v / %v %v", auth.GrantTypes, chaincode.GrantTypes, auth.AuthMethods, chaincode.AuthMethods)
	}
}

// TestRecordKeepsTokenAlgs: the signing algorithms of a client's tokens
// survive the trip to the chain record and back.
func TestRecordKeepsTokenAlgs(t *testing.T) {
	c := auth.Client{ID: "svc-a", Name: "A", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		IDTokenAlg: "ES256", AccessTokenAlg: "ES256", AuthMethod: auth.AuthClientSecretBasic}
	rec := registry.RecordOf(c, 0)
	if rec.AccessTokenAlg != "ES256" || rec.IDTokenAlg != "ES256" {
		t.Fatalf("record: %+v", rec)
	}
	rec.Status = chaincode.EntryActive
	if got := registry.ClientOf(rec); got.AccessTokenAlg != "ES256" || got.IDTokenAlg != "ES256" {
		t.Errorf("client: %+v", got)
	}
}

// TestClientOfResourcesSince: a record's resource times (by index) are
// the client's by URI; a zero time (a claim an older contract wrote) is
// none, and a record without times (an older contract's) gives none.
func TestClientOfResourcesSince(t *testing.T) {
	took := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	rec := chaincode.RelyingParty{ClientID: "svc-a", HomeRegion: "310000", Status: chaincode.EntryActive,
		Resources: []string{"https://a.example/old", "https://a.example/new"}, ResourcesSince: []time.Time{{}, took}}
	if got := registry.ClientOf(rec).ResourcesSince; len(got) != 1 || !got["https://a.example/new"].Equal(took) {
		t.Errorf("since %v, want the second resource's only", got)
	}
	rec.ResourcesSince = nil
	if got := registry.ClientOf(rec).ResourcesSince; got != nil {
		t.Errorf("a record without times: since %v", got)
	}
}

// TestTerminalOfAnotherRegionNotTrustedHere: a region accredits terminals
// for its own enrollments only. Region A (310000) cannot place a
// terminal in region B (320104); A's terminal located in A is unknown to
// B's node, whose attestation verifier refuses it while A's node takes
// it; and B's own terminal is unknown to B's node once B is suspended.
// docs/SECURITY.md, "A compromised region node".
func TestTerminalOfAnotherRegionNotTrustedHere(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	regA := registry.NewTerminals(ledger.Client{L: a}, registrytest.StartView(t, a), ledgertest.RegionA)
	viewB := registrytest.StartView(t, b)
	regB := registry.NewTerminals(ledger.Client{L: b}, viewB, ledgertest.RegionB)

	newTerminal := func(id, location string) (identity.Terminal, *gm.PrivateKey) {
		key, err := gm.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		term, err := identity.NewTerminal(id, "counter "+id, location, key.Public(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return term, key
	}
	placed, _ := newTerminal("a-placed-in-b", "320104")
	if err := regA.Add(ctx, placed); !errors.Is(err, identity.ErrInvalidTerminal) {
		t.Errorf("region A adding a terminal located in B: %v, want ErrInvalidTerminal", err)
	}

	term, key := newTerminal("a-own", "310104")
	if err := regA.Add(ctx, term); err != nil {
		t.Fatal(err)
	}
	registrytest.Within(t, 5*time.Second, func() bool { _, ok := viewB.Terminal(term.ID); return ok })
	if got, err := regB.Terminal(ctx, term.ID); !errors.Is(err, identity.ErrUnknownTerminal) {
		t.Errorf("B's node found A's terminal: %+v %v", got, err)
	}
	st, err := store.NewMemory(store.MemoryOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	doc, err := identity.Parse("11010519491231002X")
	if err != nil {
		t.Fatal(err)
	}
	verify := func(reg *registry.Terminals, region, aud string) error {
		dev, _ := gm.GenerateKey(rand.Reader)
		at := &identity.Attester{TerminalID: term.ID, Audience: aud, Signer: key}
		tok, err := at.Attest(doc, "张三", dev.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.99}, true)
		if err != nil {
			t.Fatal(err)
		}
		v := &identity.AttestationVerifier{Terminals: reg, Replay: st, Audience: aud, Region: region, Algorithms: []string{gm.AlgSM2}}
		_, err = v.Verify(ctx, doc, "张三", dev.Public(), tok)
		return err
	}
	if err := verify(regB, ledgertest.RegionB, "https://js.trustid.example"); !errors.Is(err, identity.ErrUnknownTerminal) {
		t.Errorf("B's node on an attestation of A's terminal: %v, want ErrUnknownTerminal", err)
	}
	if err := verify(regA, ledgertest.RegionA, "https://sh.trustid.example"); err != nil {
		t.Errorf("A's node refused its own terminal's attestation: %v", err)
	}

	own, _ := newTerminal("b-own", "320102")
	if err := regB.Add(ctx, own); err != nil {
		t.Fatal(err)
	}
	if _, err := regB.Terminal(ctx, own.ID); err != nil {
		t.Fatalf("B's node on its own terminal: %v", err)
	}
	if err := (ledger.Client{L: a}).Vote(ctx, chaincode.ActionSuspend, ledgertest.RegionB); err != nil {
		t.Fatal(err)
	}
	registrytest.Within(t, 5*time.Second, func() bool {
		_, err := regB.Terminal(ctx, own.ID)
		return errors.Is(err, identity.ErrUnknownTerminal)
	})
}

// TestSectorOfAnotherRegionsParty: region A cannot claim the client ID
// sector of region B's relying party (ClaimSector refuses a registered
// party of another region), so B's own claim for its party still
// succeeds; otherwise B's node would answer its party 403
// qr_unknown_verifier at redemption, or 409 sector_taken at
// registration.
func TestSectorOfAnotherRegionsParty(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	ca, cb := ledger.Client{L: a}, ledger.Client{L: b}
	key, _ := gm.GenerateKey(rand.Reader)
	jwk, err := gm.NewJWK(key.Public(), "k1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.AddRelyingParty(ctx, chaincode.RelyingParty{ClientID: "svc-b", Name: "B's party", JWKS: gm.JWKS{Keys: []gm.JWK{jwk}},
		Scopes: []string{"qr:redeem"}, Status: chaincode.EntryActive}); err != nil {
		t.Fatal(err)
	}
	if s, err := ca.ClaimSector(ctx, chaincode.SectorClaim{Kind: chaincode.SectorKindClientID, Name: "svc-b", ClientID: "svc-b"}); !errors.Is(err, chaincode.ErrForbidden) {
		t.Errorf("region A claimed the sector of region B's party svc-b: %+v %v", s, err)
	}
	if _, err := cb.ClaimSector(ctx, chaincode.SectorClaim{Kind: chaincode.SectorKindClientID, Name: "svc-b", ClientID: "svc-b"}); err != nil {
		t.Errorf("region B can no longer claim its own party's sector: %v", err)
	}
}

// TestHomeClients: a node authenticates and administers only its own
// region's relying parties. Region B's home registry does not show A's
// party (Get, List and Update answer as for an unregistered one) while
// the registry of every region does; B's own party disappears from it
// while B is suspended. With or without a view.
func TestHomeClients(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	ca, cb := ledger.Client{L: a}, ledger.Client{L: b}
	viewB := registrytest.StartView(t, b)
	ofA := clientstoretest.Client(t, "ops-a")
	ofB := clientstoretest.Client(t, "svc-b")
	ofB.Region = ledgertest.RegionB
	if err := registry.NewClients(ca, nil).Create(ctx, ofA); err != nil {
		t.Fatal(err)
	}
	if err := registry.NewHomeClients(cb, viewB, ledgertest.RegionB).Create(ctx, ofB); err != nil {
		t.Fatal(err)
	}
	registrytest.Within(t, 5*time.Second, func() bool { _, ok := viewB.RelyingParty(ofA.ID); return ok })
	for name, home := range map[string]*registry.Clients{
		"view":    registry.NewHomeClients(cb, viewB, ledgertest.RegionB),
		"no view": registry.NewHomeClients(cb, nil, ledgertest.RegionB),
	} {
		if _, err := home.Get(ctx, ofA.ID); !errors.Is(err, auth.ErrClientNotFound) {
			t.Errorf("%s: B's home registry has A's party: %v", name, err)
		}
		if _, err := home.Update(ctx, ofA.ID, func(c *auth.Client) error { c.Disabled = true; return nil }); !errors.Is(err, auth.ErrClientNotFound) {
			t.Errorf("%s: B's home registry updated A's party: %v", name, err)
		}
		if cs, err := home.List(ctx); err != nil || len(cs) != 1 || cs[0].ID != ofB.ID {
			t.Errorf("%s: B's home registry lists %+v %v, want svc-b only", name, cs, err)
		}
		if _, err := home.Get(ctx, ofB.ID); err != nil {
			t.Errorf("%s: B's home registry on B's party: %v", name, err)
		}
	}
	if _, err := registry.NewClients(cb, viewB).Get(ctx, ofA.ID); err != nil {
		t.Errorf("the registry of every region on A's party: %v", err)
	}
	if err := ca.Vote(ctx, chaincode.ActionSuspend, ledgertest.RegionB); err != nil {
		t.Fatal(err)
	}
	homeB := registry.NewHomeClients(cb, viewB, ledgertest.RegionB)
	registrytest.Within(t, 5*time.Second, func() bool {
		_, err := homeB.Get(ctx, ofB.ID)
		return errors.Is(err, auth.ErrClientNotFound)
	})
	if _, err := registry.NewHomeClients(cb, nil, ledgertest.RegionB).Get(ctx, ofB.ID); !errors.Is(err, auth.ErrClientNotFound) {
		t.Errorf("B's party while B is suspended, read from the chain: %v", err)
	}
}

// TestClientTextTheContractTakes: the text of a client that
// auth.Client.Validate (and so ParseClientsFile and the admin API) takes,
// its name and its keys' kids, the contract takes too, and what the
// contract refuses Validate refuses first, naming the field. Before, a
// name of 129 to 200 ASCII characters or a kid with a space or a Chinese
// character passed Validate and was refused by the ledger, so importing
// an older node's clients.json stopped at such a client after its check
// said the file was good.
func TestClientTextTheContractTakes(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	clients := registry.NewClients(ledger.Client{L: a}, nil)
	for i, c := range []struct {
		name, kid string
		ok        bool
	}{
		{strings.Repeat("a", 128), "k1", true},
		{strings.Repeat("名", 66), "k1", true},
		{"服务 A", strings.Repeat("k", 128), true},
		{strings.Repeat("a", 129), "k1", false},
		{strings.Repeat("a", 200), "k1", false},
		{"A", "key 1", false},
		{"A", "密钥", false},
	} {
		cl := clientstoretest.Client(t, fmt.Sprintf("svc-%d", i))
		cl.Name, cl.JWKS.Keys[0].Kid = c.name, c.kid
		verr := cl.Validate()
		err := clients.Create(ctx, cl)
		switch {
		case c.ok && (verr != nil || err != nil):
			t.Errorf("name of %d characters, kid %q: Validate %v, the ledger %v; want both to take it", utf8.RuneCountInString(c.name), c.kid, verr, err)
		case !c.ok && (verr == nil || !errors.Is(err, auth.ErrInvalidClientMetadata) || strings.Contains(err.Error(), "ledger")):
			t.Errorf("name of %d characters, kid %q: Validate %v, Create %v; want Validate to refuse it before the ledger", utf8.RuneCountInString(c.name), c.kid, verr, err)
		}
	}
}
