package sdk_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/chaincode"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
	"github.com/trustid-cn/trustid/sdk/ledgeranchors"
)

// anchoredNode is the in-process example node whose region (310000) is
// registered on a real embedded ledger, with a holder's binding whose
// status entry is on one of the node's Token Status Lists. The test plays
// the node's outbox: anchor puts the head of the list the node serves.
type anchoredNode struct {
	*exampleNode
	t       *testing.T
	ledger  ledger.Client
	anchors *ledgeranchors.Anchors
	listID  string
	index   int
	device  *gm.PrivateKey
	binding []byte
	counter atomic.Uint64
}

func newAnchoredNode(t *testing.T) *anchoredNode {
	t.Helper()
	ctx := context.Background()
	n := &anchoredNode{exampleNode: startExampleNode(), t: t}
	t.Cleanup(n.Close)
	l, _ := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	n.ledger = ledger.Client{L: l}
	did, err := vc.DIDWeb(n.URL)
	if err != nil {
		t.Fatal(err)
	}
	key, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := gm.NewJWK(key.Signer.Public(), key.Kid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.ledger.RequestRegion(ctx, chaincode.RegionInput{Code: "310000", DID: did,
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: n.URL}}, Keys: []gm.JWK{jwk}}); err != nil {
		t.Fatal(err)
	}
	n.listID, n.index, err = n.lists.Allocate(ctx, status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	num, _ := hex.DecodeString(n.listID[:8])
	ref := qrcode.StatusRef{Region: 310000, List: uint32(num[0])<<24 | uint32(num[1])<<16 | uint32(num[2])<<8 | uint32(num[3]), Index: uint32(n.index)}
	n.device, _ = gm.GenerateKey(rand.Reader)
	now := time.Now()
	n.binding, err = (&qrcode.Issuer{Signer: key.Signer, Kid: key.Kid, Region: 310000}).IssueBinding(qrcode.Binding{
		Subject: make([]byte, 16), DeviceKey: n.device.PublicKey(), Assurance: qrcode.AssurancePIN,
		IssuedAt: now, Expiry: now.Add(time.Hour), Status: ref})
	if err != nil {
		t.Fatal(err)
	}
	n.anchor()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if n.anchors, err = ledgeranchors.Start(sctx, l, ledgeranchors.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.anchors.Close() })
	return n
}

// snapshot is the node's list as it serves it now.
func (n *anchoredNode) snapshot() status.Snapshot {
	snap, err := n.lists.Snapshot(context.Background(), n.listID)
	if err != nil {
		n.t.Fatal(err)
	}
	return snap
}

// anchor puts the head of the list the node serves (its version and the
// digest of its content) on the ledger, and waits until the followed
// view has it once it runs.
func (n *anchoredNode) anchor() uint64 {
	n.t.Helper()
	snap := n.snapshot()
	content, err := status.Content(n.listID, status.PurposeToken, snap.Version, snap.Token.Bits(), snap.Token)
	if err != nil {
		n.t.Fatal(err)
	}
	if _, err := n.ledger.PutStatusHeads(context.Background(), []ledger.StatusHeadInput{
		{List: n.listID, Version: snap.Version, Digest: chaincode.ListDigest(content)}}); err != nil {
		n.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); n.anchors != nil; time.Sleep(5 * time.Millisecond) {
		if h, ok := n.anchors.StatusHead("310000", n.listID); ok && h.Version == snap.Version {
			break
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("the followed view never saw head version %d", snap.Version)
		}
	}
	return snap.Version
}

// verifier is a counter terminal's offline verifier with fresh caches,
// checking lists against anchors when set.
func (n *anchoredNode) verifier(anchors sdk.StatusAnchors, wait time.Duration) *qrcode.Verifier {
	n.t.Helper()
	nodes := &sdk.Nodes{Bases: []string{n.URL}, Algorithms: []string{gm.AlgSM2}, Anchors: anchors, AnchorWait: wait}
	qv, err := sdk.NewQRVerifier(sdk.QRConfig{Keys: &sdk.KeySet{URL: n.URL + sdk.JWKSPath}, Region: "310000",
		Status: &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{"310000": n.URL}}})
	if err != nil {
		n.t.Fatal(err)
	}
	return qv
}

// verify shows a fresh offline code to qv.
func (n *anchoredNode) verify(qv *qrcode.Verifier) error {
	n.t.Helper()
	code, err := qrcode.NewOffline(rand.Reader, n.device, n.binding, nil, qrcode.Presentation{Time: time.Now(), Counter: n.counter.Add(1)})
	if err != nil {
		n.t.Fatal(err)
	}
	_, err = qv.Verify(context.Background(), code, qrcode.VerifyOptions{})
	return err
}

// served fetches the node's list as published.
func (n *anchoredNode) served() string {
	n.t.Helper()
	resp, err := http.Get(n.URL + "/status/" + n.listID)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		n.t.Fatalf("GET list: %d %s", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b))
}

// forge signs, with the node's own key, the list the node serves with
// the holder's entry set back to valid, claiming the same version: what
// a compromised front holding the key serves to hide a revocation.
func (n *anchoredNode) forge() string {
	n.t.Helper()
	snap := n.snapshot()
	tl := snap.Token.Clone()
	if err := tl.Set(n.index, status.TokenValid); err != nil {
		n.t.Fatal(err)
	}
	key, _ := n.keys.Active(gm.AlgSM2)
	m, err := gm.SigningMethod(key.Signer)
	if err != nil {
		n.t.Fatal(err)
	}
	now := time.Now()
	tok := jwt.NewWithClaims(m, jwt.MapClaims{"iss": n.URL, "sub": n.URL + "/status/" + n.listID, "iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "ttl": 300, "status_list": map[string]any{"bits": tl.Bits(), "lst": tl.Encode()},
		vc.ClaimJWTListVersion: snap.Version})
	tok.Header["typ"], tok.Header["kid"] = vc.TypStatusListJWT, key.Kid
	s, err := tok.SignedString(key.Signer)
	if err != nil {
		n.t.Fatal(err)
	}
	return s
}

// serveList makes the node's address answer list for the holder's list
// (nil: the node answers again).
func (n *anchoredNode) serveList(list *string) {
	if list == nil {
		n.tamper.Store(nil)
		return
	}
	f := func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/status/"+n.listID {
			return false
		}
		w.Header().Set("Content-Type", vc.MediaTypeStatusListJWT)
		io.WriteString(w, *list)
		return true
	}
	n.tamper.Store(&f)
}

// TestQRStatusAnchoredOnLedger: a counter terminal's QRStatus over Nodes
// with the ledger's heads (ledgeranchors over a real embedded ledger)
// accepts the list its region anchored, refuses a forged, a stale and an
// unanchored list with the credentials sentinels (fail closed), waits a
// bounded time for a newer list's head, and drops a cached list as soon
// as the head moves; without Anchors, lists are taken on the node's
// signature as before.
func TestQRStatusAnchoredOnLedger(t *testing.T) {
	n := newAnchoredNode(t)
	ctx := context.Background()
	const wait = 300 * time.Millisecond

	cached := n.verifier(n.anchors, wait)
	if err := n.verify(cached); err != nil {
		t.Fatalf("anchored list: %v", err)
	}
	if err := n.verify(n.verifier(nil, 0)); err != nil {
		t.Fatalf("without anchors: %v", err)
	}
	before := n.served()

	// The node revokes; its list is now newer than the anchored head.
	if err := n.lists.Set(ctx, n.listID, n.index, status.TokenInvalid); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := n.verify(n.verifier(n.anchors, wait)); !errors.Is(err, vc.ErrStatusListUnanchored) || !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("list newer than its head: %v, want ErrStatusListUnanchored and qrcode.ErrStatusUnavailable", err)
	}
	if d := time.Since(start); d < wait || d > wait+5*time.Second {
		t.Errorf("the unanchored list waited %v, want about %v", d, wait)
	}
	if err := n.verify(n.verifier(nil, 0)); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("without anchors, the node's new list: %v, want qrcode.ErrRevoked", err)
	}
	if err := n.verify(cached); err != nil {
		t.Errorf("cached list while the head has not moved: %v", err)
	}

	// The head is anchored: the revocation is seen, at once by the
	// verifier whose cached list is no longer the anchored one.
	n.anchor()
	if err := n.verify(cached); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("cached list after the head moved: %v, want qrcode.ErrRevoked", err)
	}
	if err := n.verify(n.verifier(n.anchors, wait)); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("anchored revocation: %v, want qrcode.ErrRevoked", err)
	}

	// A front at the node's address serves a list re-signed with the
	// node's key (the bit cleared, the anchored version), then the list
	// from before the revocation.
	forged := n.forge()
	n.serveList(&forged)
	if err := n.verify(n.verifier(n.anchors, wait)); !errors.Is(err, vc.ErrStatusListForged) || !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("forged list: %v, want ErrStatusListForged", err)
	}
	if err := n.verify(n.verifier(nil, 0)); err != nil {
		t.Errorf("without anchors the forged list is taken on its signature (unchanged behaviour): %v", err)
	}
	n.serveList(&before)
	if err := n.verify(n.verifier(n.anchors, wait)); !errors.Is(err, vc.ErrStatusListStale) || !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("stale list: %v, want ErrStatusListStale", err)
	}
	n.serveList(nil)

	// A newer list waits for its head (bounded by AnchorWait).
	if err := n.lists.Set(ctx, n.listID, n.index, status.TokenSuspended); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.verify(n.verifier(n.anchors, 10*time.Second)) }()
	time.Sleep(100 * time.Millisecond)
	n.anchor()
	if err := <-done; !errors.Is(err, qrcode.ErrSuspended) {
		t.Errorf("a list anchored while the verifier waited: %v, want qrcode.ErrSuspended", err)
	}

	// The registry must place the code's region's node in that region.
	nodes := &sdk.Nodes{Bases: []string{n.URL}, Algorithms: []string{gm.AlgSM2}, Anchors: n.anchors}
	qs := &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{"320000": n.URL}}
	if _, err := qs.Status(ctx, qrcode.StatusRef{Region: 320000, List: 1, Index: 0}); !errors.Is(err, vc.ErrStatusListUnanchored) || !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("a node configured for a region the registry does not give it: %v", err)
	}
}
