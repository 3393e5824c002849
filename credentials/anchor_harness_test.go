package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

const anchorRegion = "310000"

// outboxWindow is the outbox's batching window in tests (the node's
// default is 200 ms; benchmarks set it back).
var outboxWindow = 20 * time.Millisecond

// chain is a real embedded ledger with the issuer's region registered, the
// outbox running on it and a view following it.
type chain struct {
	l    *embedded.Ledger
	c    ledger.Client
	ob   *ledger.Outbox
	view *ledger.View
	dir  string
	// shared is the status store anchoring to the chain (anchorShared).
	shared *statuslist.Shared
	start  func()
	stop   func()
}

// registerRegion registers region as the genesis region with the node's
// DID, base URL and published keys.
func registerRegion(t testing.TB, l ledger.Ledger, region, did, base string, keys issuer.KeySource) {
	t.Helper()
	in := chaincode.RegionInput{Code: region, DID: did, Endpoints: []chaincode.Endpoint{{Type: "api", URL: base}}}
	for _, k := range keys.Published() {
		j, err := gm.NewJWK(k.Public, k.Kid)
		if err != nil {
			t.Fatal(err)
		}
		in.Keys = append(in.Keys, j)
	}
	if _, err := (ledger.Client{L: l}).RequestRegion(context.Background(), in); err != nil && !errors.Is(err, chaincode.ErrExists) {
		t.Fatal(err)
	}
}

// openChain opens (or reopens) the ledger and the outbox in dir and starts
// them; track keeps every anchored status in the view.
func openChain(t testing.TB, dir string, track bool) *chain {
	t.Helper()
	ch := openChainPaused(t, dir, track)
	ch.start()
	return ch
}

// openChainPaused is openChain with the outbox not yet sending: start
// starts it.
func openChainPaused(t testing.TB, dir string, track bool) *chain {
	t.Helper()
	l, err := embedded.Open(filepath.Join(dir, "ledger.db"), embedded.Options{MSPID: chaincode.RegionMSP(anchorRegion)})
	if err != nil {
		t.Fatal(err)
	}
	c := ledger.Client{L: l}
	ob, err := ledger.OpenOutbox(filepath.Join(dir, "outbox.db"), c, ledger.OutboxOptions{Window: outboxWindow})
	if err != nil {
		t.Fatal(err)
	}
	view := ledger.NewView(l, ledger.ViewOptions{TrackStatuses: track})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); view.Run(ctx) }()
	ch := &chain{l: l, c: c, ob: ob, view: view, dir: dir}
	var started sync.Once
	ch.start = func() {
		started.Do(func() {
			wg.Add(1)
			go func() { defer wg.Done(); ob.Run(ctx) }()
		})
	}
	var once sync.Once
	ch.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			ob.Close()
			l.Close()
		})
	}
	t.Cleanup(ch.stop)
	for deadline := time.Now().Add(5 * time.Second); !view.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("view not ready")
		}
	}
	return ch
}

// flush waits until the outbox committed everything, the shared store
// saw its own changes on the chain, and the view has the head of each list
// at the version the store serves.
func (ch *chain) flush(t testing.TB, lists ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if err := ch.ob.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		done := ch.shared.Pending() == 0
		for _, id := range lists {
			snap, err := ch.shared.Snapshot(ctx, id)
			h, ok := ch.view.StatusHead(anchorRegion, id)
			done = done && err == nil && ok && h.Version == snap.Version
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("lists %v: the view never saw the heads of the served versions", lists)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// anchorShared gives n the status store a node of a region with a ledger
// runs (statuslist.Shared over ch: changes and heads go through the outbox,
// lists are materialized from the chain) and an issuer over it.
func anchorShared(t testing.TB, n *node, ch *chain, base string) {
	t.Helper()
	// The lists carry the chain's commit times (validFrom): the node's
	// clock is set past any commit the test makes.
	n.clock.Set(time.Now().Add(time.Hour))
	own, err := statuslist.OpenFileStore(filepath.Join(t.TempDir(), "status"), statuslist.FileStoreOptions{Instance: "a", Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := statuslist.NewCredentialIDs(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	chosen := ledgertest.ChosenIDs(t, ch.l, filepath.Join(t.TempDir(), "bindings.db"), anchorRegion)
	sh, err := statuslist.NewShared(statuslist.SharedOptions{Own: own, IDs: ids, Anchor: ch.ob, Chosen: chosen, Region: anchorRegion,
		BatchPrefix: ch.ob.NodeID() + "-", Logger: slog.New(slog.NewTextHandler(failOnLog{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		ledger.Follow(ctx, ch.l, 5*time.Millisecond, func(ev ledger.Event) error {
			return errors.Join(sh.ApplyEvent(ev.Block, ev.Name, ev.Payload), chosen.Index.ApplyEvent(ev))
		}, nil)
	}()
	go func() { defer wg.Done(); sh.RunHeads(ctx, 5*time.Millisecond) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	is, err := issuer.New(issuer.Config{BaseURL: base, Keys: n.keys, Status: sh, Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	n.issuer, ch.shared = is, sh
}

// tamperFunc, when it handles a path, answers instead of the node: a
// compromised front or mirror at the node's address.
type tamperFunc func(path string) (contentType, body string, ok bool)

// listServer serves a node's DID document, issuer metadata and status
// lists over TLS, as api does, unless tamper answers.
func listServer(t testing.TB, n **node, tamper *atomic.Pointer[tamperFunc]) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := tamper.Load(); f != nil {
			if ct, body, ok := (*f)(r.URL.Path); ok {
				w.Header().Set("Content-Type", ct)
				w.Write([]byte(body))
				return
			}
		}
		is := (*n).issuer
		switch {
		case r.URL.Path == "/.well-known/did.json":
			d, _ := is.DIDDocument()
			w.Header().Set("Content-Type", "application/did+json")
			json.NewEncoder(w).Encode(d)
		case r.URL.Path == "/.well-known/jwt-vc-issuer":
			m, _ := is.Metadata()
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(m)
		case strings.HasPrefix(r.URL.Path, "/status/"):
			doc, tok, err := is.StatusList(r.Context(), strings.TrimPrefix(r.URL.Path, "/status/"))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			if doc == nil {
				w.Header().Set("Content-Type", MediaTypeStatusListJWT)
			} else {
				w.Header().Set("Content-Type", MediaTypeVCJWT)
			}
			w.Write([]byte(tok))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// servedNode is a node whose DID document, metadata and status lists
// listServer serves over TLS at srv (tamper answering in its place when
// set), and the guarded fetch client a verifier on another machine
// reaches it with: the set-up of the tests of lists fetched from a node.
type servedNode struct {
	n      *node
	srv    *httptest.Server
	client *http.Client
	tamper atomic.Pointer[tamperFunc]
}

func newServedNode(t testing.TB) *servedNode {
	t.Helper()
	s := &servedNode{}
	s.srv = listServer(t, &s.n, &s.tamper)
	s.client = fetchClientFor(t, s.srv)
	s.n = newNode(t, s.srv.URL)
	return s
}

// anchor registers the node's region on ch, and anchors there the
// status lists the node shares.
func (s *servedNode) anchor(t testing.TB, ch *chain) {
	t.Helper()
	registerRegion(t, ch.l, anchorRegion, s.n.issuer.DID(), s.srv.URL, s.n.keys)
	anchorShared(t, s.n, ch, s.srv.URL)
}

// serve answers path with a body of type ct in place of the node.
func (s *servedNode) serve(path, ct, body string) {
	f := tamperFunc(func(p string) (string, string, bool) { return ct, body, p == path })
	s.tamper.Store(&f)
}

// fetchClientFor is the guarded fetch client a verifier uses, allowed to
// reach srv on the loopback address.
func fetchClientFor(t testing.TB, srv *httptest.Server) *http.Client {
	t.Helper()
	c, err := NewFetchClient(srv.Client(), FetchOptions{AllowHost: AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// remoteVerifier is a verifier on another machine: keys by did:web and
// metadata, lists over TLS through client, checked against anchors when
// set. AnchorWait is 3 s: long enough for the outbox to anchor on a
// loaded machine (300 ms failed CI at load 8), and only the tests of an
// unanchored list wait it out.
func remoteVerifier(t testing.TB, n *node, client *http.Client, anchors StatusAnchors) (*Verifier, *HTTPStatusSource) {
	t.Helper()
	res := &Resolver{Client: client, Now: n.clock.Now}
	lv, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, SkipStatus: true, Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	src := &HTTPStatusSource{Client: client, Verifier: lv, Resolver: res, Algorithms: allAlgs, Now: n.clock.Now,
		Anchors: anchors, AnchorWait: 3 * time.Second}
	v, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, Status: NewStatusChecker(src, time.Hour, n.clock.Now), Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v, src
}

// signBitstringList signs a BitstringStatusListCredential for url with the
// node's active SM2 key, as the issuer does, with any content and version:
// what an attacker holding the key (or a replayed old list) serves.
func signBitstringList(t testing.TB, n *node, url, purpose string, version uint64, bits *status.Bitstring) string {
	t.Helper()
	return signListDoc(t, n, url, func(_, s map[string]any) {
		s["statusPurpose"], s["encodedList"], s[ClaimListVersion] = purpose, bits.Encode(), version
	})
}

// signListDoc signs a revocation list credential for url (all entries
// clear, version 1) as vc+jwt with the node's active SM2 key, after edit
// changed the document and its subject.
func signListDoc(t testing.TB, n *node, url string, edit func(doc, subject map[string]any)) string {
	t.Helper()
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	bits, err := status.NewBitstring(status.MinEntries)
	if err != nil {
		t.Fatal(err)
	}
	subject := map[string]any{
		"id": url + "#list", "type": TypeBitstringStatusList, "statusPurpose": PurposeRevocation,
		"encodedList": bits.Encode(), ClaimListVersion: 1,
	}
	doc := map[string]any{
		"@context":          []any{ContextV2},
		"id":                url,
		"type":              []any{TypeCredential, TypeBitstringStatusListCredential},
		"issuer":            n.issuer.DID(),
		"validFrom":         FormatTime(n.clock.Now()),
		"credentialSubject": subject,
	}
	edit(doc, subject)
	tok, err := SignJWT(doc, TypVCJWT, n.issuer.DID()+"#"+k.Kid, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// failOnLog fails the test with each line logged to it: the shared
// store logs only its failures (heads not handed to the outbox).
type failOnLog struct{ t testing.TB }

func (f failOnLog) Write(p []byte) (int, error) {
	f.t.Errorf("status: %s", p)
	return len(p), nil
}
