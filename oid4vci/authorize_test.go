package oid4vci

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/qrcode/redeem"
	"github.com/trustid-cn/trustid/store"
)

// faultyStore is the memory store with a fault injector: the next call
// of the named method on a key with the given prefix fails as a backend
// outage does (store.ErrUnavailable), once.
type faultyStore struct {
	*store.Memory
	mu     sync.Mutex
	method string
	prefix string
	hit    int
}

func (f *faultyStore) failNext(method, prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.method, f.prefix = method, prefix
}

func (f *faultyStore) fault(method, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.method == method && strings.HasPrefix(key, f.prefix) {
		f.method, f.hit = "", f.hit+1
		return fmt.Errorf("%w: injected %s failure", store.ErrUnavailable, method)
	}
	return nil
}

func (f *faultyStore) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := f.fault("Set", key); err != nil {
		return err
	}
	return f.Memory.Set(ctx, key, v, ttl)
}

func (f *faultyStore) Put(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := f.fault("Put", key); err != nil {
		return err
	}
	return f.Memory.Put(ctx, key, v, ttl)
}

func (f *faultyStore) Consume(ctx context.Context, key string) ([]byte, error) {
	if err := f.fault("Consume", key); err != nil {
		return nil, err
	}
	return f.Memory.Consume(ctx, key)
}

const walletRedirect = "https://wallet.example/cb"

// newLogin is the node's user login on real components (a client
// registry with the wallet client "wallet", a keystore, pairwise IDs
// under a test key) over st. Holders never approve here.
func newLogin(t testing.TB, st login.Store) *login.Provider {
	t.Helper()
	clients := auth.NewMemoryStore(nil)
	c, _, err := auth.NewClient(auth.Registration{ID: "wallet", Name: "Wallet", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		GrantTypes: []string{auth.GrantAuthorizationCode}, RedirectURIs: []string{walletRedirect},
		AuthMethod: auth.AuthClientSecretBasic}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := clients.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keys.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pd, err := identity.NewPairwiseDeriver(identity.VersionedKey{Version: 1, Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := identity.NewBindingSubjects(pd)
	if err != nil {
		t.Fatal(err)
	}
	p, err := login.New(login.Config{Issuer: issuerURL, Clients: clients, Holders: &redeem.BindingAuthenticator{},
		Pairwise: subjects, Keys: ks, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// authorizationRequest makes an authorization code offer on s and returns
// the wallet's authorization request for it.
func authorizationRequest(t testing.TB, s *Service) url.Values {
	t.Helper()
	return authorizationRequestAt(t, s, 0)
}

// authorizationRequestAt is authorizationRequest for an offer at level.
func authorizationRequestAt(t testing.TB, s *Service, level identity.Level) url.Values {
	t.Helper()
	o, err := s.CreateOffer(context.Background(), OfferRequest{Client: "bureau", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"},
		Credential: residence(), AuthorizationCode: true, Subject: "pairwise-sub-of-alice", Level: level})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Grants map[string]struct {
			State string `json:"issuer_state"`
		}
	}
	if err := json.Unmarshal(o.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	return url.Values{"client_id": {"wallet"}, "redirect_uri": {walletRedirect}, "response_type": {"code"}, "state": {"w1"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"issuer_state": {doc.Grants[GrantAuthorizationCode].State}, "scope": {"ResidenceCredential_sd_jwt"}}
}

// TestIssuerStateSpentAfterSession: a store failure while the login
// session is written, or while the issuer_state is spent, loses nothing:
// the wallet's retry with the same issuer_state starts the login, and
// once it has, the state is spent.
func TestIssuerStateSpentAfterSession(t *testing.T) {
	mem := memoryStore(t)
	st := &faultyStore{Memory: mem}
	s := newServiceWith(t, Config{Store: st, Login: newLogin(t, st)})
	ctx := context.Background()
	q := authorizationRequest(t, s)
	refused := func(err error, want string) {
		t.Helper()
		var le *login.Error
		var ae *login.AuthorizeError
		if errors.As(err, &ae) {
			le = ae.Err
		} else if !errors.As(err, &le) {
			t.Fatalf("got %v, want %s", err, want)
		}
		if le.Code != want {
			t.Fatalf("got %s (%s), want %s", le.Code, le.Description, want)
		}
	}
	for _, fault := range []struct{ method, prefix string }{
		{"Set", "login-session:"},          // the session itself
		{"Put", "login-session-once:"},     // its approval guard
		{"Consume", "oid4vci:state-once:"}, // spending the state
	} {
		st.failNext(fault.method, fault.prefix)
		hits := st.hit
		_, err := s.Authorize(ctx, q)
		if st.hit != hits+1 {
			t.Fatalf("%s %s: the fault was not reached", fault.method, fault.prefix)
		}
		refused(err, login.CodeTemporarilyUnavailable)
	}
	started, err := s.Authorize(ctx, q)
	if err != nil || len(started.ID) != 43 {
		t.Fatalf("retry after the failures: %+v %v", started, err)
	}
	if p := started.Purpose; p == nil || p.Action != login.PurposeReceive || !slices.Contains(p.Objects, "ResidenceCredential") || !strings.Contains(p.String(), "ResidenceCredential") {
		t.Errorf("purpose %+v", p)
	}
	_, err = s.Authorize(ctx, q)
	refused(err, CodeInvalidRequest)
}

// TestIssuerStateOneWinner: of concurrent authorization requests with one
// issuer_state exactly one starts a login.
func TestIssuerStateOneWinner(t *testing.T) {
	mem := memoryStore(t)
	s := newServiceWith(t, Config{Store: mem, Login: newLogin(t, mem)})
	ctx := context.Background()
	q := authorizationRequest(t, s)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Authorize(ctx, q)
			var ae *login.AuthorizeError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.As(err, &ae) && ae.Err.Code == CodeInvalidRequest:
				lost++
			default:
				t.Errorf("unexpected %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || lost != 15 {
		t.Fatalf("%d won, %d refused", won, lost)
	}
}

// TestAuthorizationLevel: an authorization code offer may ask for L3 or
// L4 (the holder's PIN); its login session asks for that level. Levels
// out of range, or with the pre-authorized grant, are refused.
func TestAuthorizationLevel(t *testing.T) {
	mem := memoryStore(t)
	s := newServiceWith(t, Config{Store: mem, Login: newLogin(t, mem)})
	ctx := context.Background()
	for _, lvl := range []identity.Level{0, identity.L2, identity.L3, identity.L4} {
		q := authorizationRequestAt(t, s, lvl)
		st, err := s.Authorize(ctx, q)
		if err != nil || st.Level != max(lvl, identity.L2) {
			t.Fatalf("level %v: %+v %v", lvl, st, err)
		}
	}
	for name, req := range map[string]OfferRequest{
		"L1":             {AuthorizationCode: true, Subject: "pairwise-sub-of-alice", Level: identity.L1},
		"beyond L4":      {AuthorizationCode: true, Subject: "pairwise-sub-of-alice", Level: identity.L4 + 1},
		"pre-authorized": {Level: identity.L3},
	} {
		req.Client, req.ConfigurationIDs, req.Credential = "bureau", []string{"ResidenceCredential_sd_jwt"}, residence()
		if _, err := s.CreateOffer(ctx, req); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
