package sdk_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
)

// jwksServer serves a JWKS of one SM2 key, kid "k1"; while hang is set a
// request waits until release is closed (or the client gives up).
type jwksServer struct {
	*httptest.Server
	hang    atomic.Bool
	release chan struct{}
	hung    chan struct{} // a request is waiting
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	key, err := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, err := gm.NewJWK(key.Public(), "k1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(gm.JWKS{Keys: []gm.JWK{j}})
	s := &jwksServer{release: make(chan struct{}), hung: make(chan struct{}, 8)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.hang.Load() {
			s.hung <- struct{}{}
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(func() {
		s.hang.Store(false)
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		s.Close()
	})
	return s
}

// TestKeySetCallerGivingUpIsNotANodeFailure: a caller whose context ends
// while the set is being fetched gets an error, but the fetch is not
// recorded as the node's failure: before, it counted as the attempt of
// the MinRefresh window, so for 30 s every verifier of the set failed
// closed (ErrKeysUnavailable, the middleware's 503) though the node
// answered — one client that hung up on the first request to a relying
// party, or on the first after the TTL, took its token checks down
// (docs/sdk.md: only "a stale set whose node cannot be reached fails
// closed").
func TestKeySetCallerGivingUpIsNotANodeFailure(t *testing.T) {
	node := newJWKSServer(t)
	clock := &skewClock{}
	ks := &sdk.KeySet{URL: node.URL, Now: clock.Now}
	node.hang.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := ks.Key(ctx, "k1"); !errors.Is(err, sdk.ErrKeysUnavailable) {
		t.Fatalf("a caller whose context ends during the fetch: %v, want ErrKeysUnavailable", err)
	}
	node.hang.Store(false)
	close(node.release)
	if _, err := ks.Key(context.Background(), "k1"); err != nil {
		t.Fatalf("another caller at once, the node answering: %v", err)
	}
	if n := ks.Fetches(); n > 2 {
		t.Errorf("%d fetches, want at most 2", n)
	}
}

// TestKeySetCachedKeysDoNotWaitForARefetch: while a kid the set lacks is
// fetched from a node that does not answer, a kid of the fresh cached set
// verifies at once. Before, the fetch held the set's lock: every
// verification, of any token, waited for it (up to the client's 10 s
// timeout), and a caller could make it happen once per MinRefresh with a
// token naming a random kid, though the cached keys were fresh (an
// offline verifier, docs/sdk.md).
func TestKeySetCachedKeysDoNotWaitForARefetch(t *testing.T) {
	node := newJWKSServer(t)
	clock := &skewClock{}
	ks := &sdk.KeySet{URL: node.URL, Now: clock.Now, TTL: time.Hour, MinRefresh: time.Second}
	ctx := context.Background()
	if _, err := ks.Key(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	node.hang.Store(true)
	unknown := make(chan error, 1)
	go func() {
		_, err := ks.Key(ctx, "random-kid")
		unknown <- err
	}()
	<-node.hung // the refetch has started
	known := make(chan error, 1)
	go func() {
		_, err := ks.Key(ctx, "k1")
		known <- err
	}()
	waited := false
	select {
	case err := <-known:
		if err != nil {
			t.Errorf("a cached kid during a refetch: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Error("a cached kid waited for the refetch of another kid")
		waited = true
	}
	node.hang.Store(false)
	close(node.release)
	if err := <-unknown; !errors.Is(err, sdk.ErrUnknownKey) {
		t.Errorf("the random kid: %v, want ErrUnknownKey", err)
	}
	if waited {
		<-known
	}
}

// TestQRStatusCallerGivingUpIsNotANodeFailure: a status check whose
// context ends while the node's list index is fetched fails, but the
// next check, the node answering, finds the list. Before, the abandoned
// fetch counted as the index's attempt of the DefaultMinRefresh window:
// every code of the region was ErrStatusUnavailable for 30 s though the
// node answered (docs/sdk.md: only what QRStatus "cannot fetch or
// verify" fails closed).
func TestQRStatusCallerGivingUpIsNotANodeFailure(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	listID, index, err := node.lists.Allocate(context.Background(), status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	num, _ := strconv.ParseUint(listID[:8], 16, 32)
	release := make(chan struct{})
	hang := func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/status" {
			return false
		}
		select {
		case <-release: // the node answers
			return false
		case <-r.Context().Done():
			return true
		}
	}
	node.tamper.Store(&hang)
	nodes := &sdk.Nodes{Bases: []string{node.URL}, Algorithms: []string{gm.AlgSM2}}
	qs := &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{"310000": node.URL}}
	ref := qrcode.StatusRef{Region: 310000, List: uint32(num), Index: uint32(index)}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := qs.Status(ctx, ref); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Fatalf("a check whose context ends during the index fetch: %v", err)
	}
	close(release)
	if st, err := qs.Status(context.Background(), ref); err != nil || st != qrcode.StatusValid {
		t.Errorf("the next check, the node answering: %v, %v", st, err)
	}
}

// TestKeySetHostileNode: a JWKS endpoint that misbehaves gives no key and
// ErrKeysUnavailable (fail closed), without following a redirect or
// reading past 1 MiB: an error status, a redirect (to a good set), a body
// over the bound, no JSON, trailing data, a private member ("d"), two
// keys with one kid, a key type the SDK does not read, an alg that is not
// the key's, and an answer slower than the client's timeout.
func TestKeySetHostileNode(t *testing.T) {
	good := newJWKSServer(t)
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	j, _ := gm.NewJWK(key.Public(), "k1")
	raw, _ := json.Marshal(j)
	withMember := func(extra string) string { return `{"keys":[` + string(raw[:len(raw)-1]) + `,` + extra + `}]}` }
	var redirected atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirected.Store(true)
		http.Redirect(w, r, good.URL, http.StatusFound)
	}))
	defer target.Close()
	for name, serve := range map[string]func(w http.ResponseWriter, r *http.Request){
		"500":      func(w http.ResponseWriter, r *http.Request) { http.Error(w, `{"keys":[]}`, 500) },
		"redirect": func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target.URL, http.StatusFound) },
		"over 1 MiB": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[` + string(raw) + `]`))
			w.Write([]byte(strings.Repeat(" ", 2<<20) + "}"))
		},
		"no JSON":   func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>keys</html>")) },
		"trailing":  func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(withMember(`"use":"sig"`) + `{}`)) },
		"private d": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(withMember(`"d":"AAAA"`))) },
		"kid twice": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[` + string(raw) + `,` + string(raw) + `]}`))
		},
		"RSA": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[{"kty":"RSA","kid":"k1","n":"AQAB","e":"AQAB"}]}`))
		},
		"alg not key": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[` + strings.Replace(string(raw), `"alg":"SM2"`, `"alg":"ES256"`, 1) + `]}`))
		},
		"slow": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(serve))
			defer srv.Close()
			ks := &sdk.KeySet{URL: srv.URL, Client: &http.Client{Timeout: 300 * time.Millisecond}}
			if pub, err := ks.Key(context.Background(), "k1"); pub != nil || !errors.Is(err, sdk.ErrKeysUnavailable) {
				t.Errorf("%v, %v, want ErrKeysUnavailable", pub, err)
			}
		})
	}
	if redirected.Load() {
		t.Error("a redirect was followed")
	}
}

// TestTokenSourceSharesOneRequest: docs/sdk.md, "concurrent callers share
// one request". Callers that arrive while the node is slow to answer
// share the request in flight, its failure included, and a caller whose
// context ends stops waiting at once. Before, the request held the
// source's lock: each waiter, once the one before had failed, sent its
// own request (n callers, n requests one after another to a failing
// node), and none could give up while it waited for the lock.
func TestTokenSourceSharesOneRequest(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	key, err := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: srv.URL, ClientID: "hotel", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := ts.Token(context.Background())
			errs <- err
		}()
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	gaveUp := make(chan error, 1)
	go func() {
		_, err := ts.Token(ctx)
		gaveUp <- err
	}()
	waited := false
	select {
	case err := <-gaveUp:
		if !errors.Is(err, sdk.ErrToken) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a caller whose context ended: %v, want ErrToken and its context's error", err)
		}
	case <-time.After(3 * time.Second):
		t.Error("a caller whose context ended kept waiting for another's request")
		waited = true
	}
	time.Sleep(200 * time.Millisecond) // the four are waiting
	close(release)
	for range 4 {
		var ne *sdk.NodeError
		if err := <-errs; !errors.Is(err, sdk.ErrToken) || !errors.As(err, &ne) || ne.Status != http.StatusServiceUnavailable {
			t.Errorf("a caller sharing the failed request: %v", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d token requests for 4 concurrent callers, want 1", n)
	}
	if waited {
		<-gaveUp
	}
}

// TestQRStatusOneSlowNodeDoesNotHoldUpAnother: while QRStatus fetches one
// region's list index from a node that does not answer, a code of
// another region whose list it has is checked at once. Before, the
// fetch held QRStatus's lock: every status check, of every region, waited
// for it (up to the client's 10 s timeout).
func TestQRStatusOneSlowNodeDoesNotHoldUpAnother(t *testing.T) {
	sh, js := startExampleNode(), startExampleNode()
	defer sh.Close()
	defer js.Close()
	listID, index, err := js.lists.Allocate(context.Background(), status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	num, _ := strconv.ParseUint(listID[:8], 16, 32)
	nodes := &sdk.Nodes{Bases: []string{sh.URL, js.URL}, Algorithms: []string{gm.AlgSM2}}
	qs := &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{"310000": sh.URL, "320000": js.URL}}
	ref := qrcode.StatusRef{Region: 320000, List: uint32(num), Index: uint32(index)}
	if st, err := qs.Status(context.Background(), ref); err != nil || st != qrcode.StatusValid {
		t.Fatalf("320000's code: %v, %v", st, err)
	}
	hung := make(chan struct{}, 1)
	release := make(chan struct{})
	hang := func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/status" {
			return false
		}
		hung <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	}
	sh.tamper.Store(&hang)
	slow := make(chan error, 1)
	go func() {
		_, err := qs.Status(context.Background(), qrcode.StatusRef{Region: 310000, List: 7, Index: 1})
		slow <- err
	}()
	<-hung
	other := make(chan error, 1)
	go func() {
		_, err := qs.Status(context.Background(), ref)
		other <- err
	}()
	waited := false
	select {
	case err := <-other:
		if err != nil {
			t.Errorf("320000's code while 310000's node hangs: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Error("320000's code waited for 310000's node")
		waited = true
	}
	close(release)
	if err := <-slow; !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("310000's unknown list: %v, want ErrStatusUnavailable", err)
	}
	if waited {
		<-other
	}
}

// TestKeySetSkipsEncryptionKeys: a KeySet verifies with no key meant for
// something else than signatures (RFC 7517 §4.2: "The "use" (public key
// use) parameter identifies the intended use of the public key", "enc"
// for encryption; §4.3: "key_ops" names the operations, "verify" for
// signatures): such a key's kid is unknown (ErrUnknownKey), and
// IssuerKeys leaves it out, while the set's other keys, one with no use
// or key_ops among them, verify. (The encryption keys were served.)
func TestKeySetSkipsEncryptionKeys(t *testing.T) {
	var members []string
	for _, c := range []struct{ kid, extra string }{
		{"sig", ""}, {"bare", "-use"}, {"ops", `"key_ops":["verify"]`},
		{"enc", `"use":"enc"`}, {"wrap", `"key_ops":["encrypt","wrapKey"]`},
	} {
		key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
		j, _ := gm.NewJWK(key.Public(), c.kid)
		switch {
		case c.extra == "-use":
			j.Use = ""
		case strings.HasPrefix(c.extra, `"use"`):
			j.Use = "enc"
		}
		raw, _ := json.Marshal(j)
		if strings.HasPrefix(c.extra, `"key_ops"`) {
			raw = append(raw[:len(raw)-1], []byte(","+c.extra+"}")...)
		}
		members = append(members, string(raw))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[` + strings.Join(members, ",") + `]}`))
	}))
	defer srv.Close()
	ks := &sdk.KeySet{URL: srv.URL}
	ctx := context.Background()
	for _, kid := range []string{"sig", "bare", "ops"} {
		if pub, err := ks.Key(ctx, kid); pub == nil || err != nil {
			t.Errorf("%s: %v %v, want the key", kid, pub, err)
		}
	}
	for _, kid := range []string{"enc", "wrap"} {
		if pub, err := ks.Key(ctx, kid); pub != nil || !errors.Is(err, sdk.ErrUnknownKey) {
			t.Errorf("%s: %v %v, want ErrUnknownKey", kid, pub, err)
		}
	}
	keys, err := ks.IssuerKeys(ctx)
	if err != nil || len(keys) != 3 || slices.ContainsFunc(keys, func(k qrcode.IssuerKey) bool { return k.Kid == "enc" || k.Kid == "wrap" }) {
		t.Errorf("IssuerKeys: %v %v, want sig, bare and ops", keys, err)
	}
}
