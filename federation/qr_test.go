package federation_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/qrcode"
)

// validStatus answers every status reference as valid (the status of the
// codes is not what this test is about).
type validStatus struct{}

func (validStatus) Status(context.Context, qrcode.StatusRef) (qrcode.Status, error) {
	return qrcode.StatusValid, nil
}

// TestQRCodesOfAnotherRegion: region A's verifier checks region B's
// offline codes with B's key from A's view of the registry alone (the
// verifier has no network client): B's active and retiring keys verify;
// a retired key, a key of B naming region 330000, and every key of B once
// B is suspended are refused, each with its own reason.
func TestQRCodesOfAnotherRegion(t *testing.T) {
	ctx := context.Background()
	c := newConsortium(t)
	keyB := addKey(t, c.b, "b-node-1")
	var reasons []string
	keys := &federation.Keys{Registry: c.view, OnRefuse: func(err error) { reasons = append(reasons, federation.Reason(err)) }}
	waitFor(t, "B's key in A's view", func() bool { _, _, err := keys.RegionKey(ctx, regionB, "b-node-1"); return err == nil })

	now := time.Now()
	device, _ := gm.GenerateKey(rand.Reader)
	code := func(signer *gm.PrivateKey, kid string, region uint32) string {
		is := &qrcode.Issuer{Signer: signer, Kid: kid, Region: region}
		b, err := is.IssueBinding(qrcode.Binding{
			Subject: make([]byte, 33), DeviceKey: device.PublicKey(), Assurance: qrcode.AssurancePIN,
			IssuedAt: now.Add(-time.Hour), Expiry: now.Add(time.Hour), Status: qrcode.StatusRef{List: 1, Index: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		s, err := qrcode.NewOffline(rand.Reader, device, b, nil, qrcode.Presentation{Time: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mine, _ := gm.GenerateKey(rand.Reader)
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{
		Keys: qrcode.StaticKeys{{Kid: "a-node-1", Public: mine.Public()}}, Region: 310000, Regions: keys, Status: validStatus{},
	})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(s string) error { _, err := v.Verify(ctx, s, qrcode.VerifyOptions{}); return err }

	if err := verify(code(keyB, "b-node-1", 320000)); err != nil {
		t.Fatalf("B's code at A: %v", err)
	}
	if err := verify(code(keyB, "b-node-1", 330000)); !errors.Is(err, qrcode.ErrUnknownKey) || !errors.Is(err, federation.ErrUnknownRegion) {
		t.Errorf("B's key naming 330000: %v", err)
	}
	forged, _ := gm.GenerateKey(rand.Reader)
	if err := verify(code(forged, "b-node-9", 320000)); !errors.Is(err, federation.ErrUnknownKey) {
		t.Errorf("key not in the registry: %v", err)
	}

	key2 := addKey(t, c.b, "b-node-2")
	if _, _, err := c.b.L.Submit(ctx, "SetRegionKeyState", "b-node-1", chaincode.KeyRetiring); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retiring", func() bool { _, err := keys.QRIssuerKey(ctx, 320000, qrcode.KidHint("b-node-2")); return err == nil })
	if err := verify(code(keyB, "b-node-1", 320000)); err != nil {
		t.Errorf("retiring key: %v", err)
	}
	if _, _, err := c.b.L.Submit(ctx, "SetRegionKeyState", "b-node-1", chaincode.KeyRetired); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retired", func() bool {
		return errors.Is(verify(code(keyB, "b-node-1", 320000)), federation.ErrKeyNotValid)
	})
	if err := verify(code(key2, "b-node-2", 320000)); err != nil {
		t.Errorf("B's new key: %v", err)
	}

	if err := c.a.Vote(ctx, chaincode.ActionSuspend, regionB); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "suspension", func() bool {
		return errors.Is(verify(code(key2, "b-node-2", 320000)), federation.ErrRegionSuspended)
	})
	if err := verify(code(key2, "b-node-2", 320000)); !errors.Is(err, qrcode.ErrUnknownKey) {
		t.Errorf("suspended region's code: %v", err)
	}
	for _, want := range []string{"unknown_region", "unknown_key", "key_not_valid", "region_suspended"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("refusal %q not reported: %v", want, reasons)
		}
	}
}

// BenchmarkQRVerify compares verifying an offline code of this region
// (own keys) with one of another region (its key from the registry view):
// the registry lookup must not add a network call or much CPU.
func BenchmarkQRVerify(b *testing.B) {
	ctx := context.Background()
	c := newConsortium(b)
	keyB := addKey(b, c.b, "b-node-1")
	keys := &federation.Keys{Registry: c.view}
	waitFor(b, "B's key in A's view", func() bool { _, _, err := keys.RegionKey(ctx, regionB, "b-node-1"); return err == nil })
	keyA, _ := gm.GenerateKey(rand.Reader)
	device, _ := gm.GenerateKey(rand.Reader)
	now := time.Now()
	code := func(signer *gm.PrivateKey, kid string, region uint32) string {
		is := &qrcode.Issuer{Signer: signer, Kid: kid, Region: region}
		bind, err := is.IssueBinding(qrcode.Binding{
			Subject: make([]byte, 33), DeviceKey: device.PublicKey(), Assurance: qrcode.AssurancePIN,
			IssuedAt: now.Add(-time.Hour), Expiry: now.Add(time.Hour), Status: qrcode.StatusRef{List: 1, Index: 1},
		})
		if err != nil {
			b.Fatal(err)
		}
		s, err := qrcode.NewOffline(rand.Reader, device, bind, nil, qrcode.Presentation{Time: now})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{
		Keys: qrcode.StaticKeys{{Kid: "a-node-1", Public: keyA.Public()}}, Region: 310000, Regions: keys, Status: validStatus{},
		Now: func() time.Time { return now },
	})
	if err != nil {
		b.Fatal(err)
	}
	for name, s := range map[string]string{"own": code(keyA, "a-node-1", 310000), "registry": code(keyB, "b-node-1", 320000)} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := v.Verify(ctx, s, qrcode.VerifyOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestQRStatusListIDsOfTheRegistry: another region's QR status list is
// fetched only as <endpoint>/status/<list ID> with a list ID as nodes
// make them (credentials/status.ValidListID), as a credential's is. The
// contract refuses to anchor any other; a list ID with a path, a query or
// a fragment after its number that an older contract took (olderHeads)
// is no list: A's node sends no request for it, to B's host (which may be
// an operator-named private one) or any path on it; a list of B's with a
// valid ID is fetched.
func TestQRStatusListIDsOfTheRegistry(t *testing.T) {
	ctx := context.Background()
	c := newConsortium(t)
	var (
		mu    sync.Mutex
		paths []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer srv.Close()
	r, err := c.b.Region(ctx, regionB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.b.UpdateRegion(ctx, chaincode.RegionInput{Code: regionB, DID: r.DID, Name: r.Name, Endpoints: []chaincode.Endpoint{{Type: "api", URL: srv.URL}}}); err != nil {
		t.Fatal(err)
	}
	hostile := []string{"00000001/../../x", "00000002?admin=1", "00000003#fragmen", "00000004%2f..%2f", "00000005AAAAAAAA"}
	for _, id := range hostile {
		if _, err := c.b.PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: id, Version: 1, Digest: chaincode.ListDigest([]byte(id))}}); !errors.Is(err, chaincode.ErrInvalid) {
			t.Errorf("list %q anchored: %v", id, err)
		}
	}
	valid := "00000006aaaaaaaa"
	if _, err := c.b.PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: valid, Version: 1, Digest: chaincode.ListDigest([]byte(valid))}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's endpoint and lists in A's view", func() bool {
		r, _ := c.view.Region(regionB)
		return r.API() == srv.URL && len(c.view.StatusLists(regionB)) == 1
	})
	client, err := federation.PeerClient(federation.PeerClientOptions{Development: true})
	if err != nil {
		t.Fatal(err)
	}
	lists := credentials.NewStatusCheckerWith(&credentials.HTTPStatusSource{Client: client, Resolver: &credentials.RegistryResolver{Registry: c.view},
		Algorithms: gm.JWTVerifyAlgorithms, Anchors: c.view}, credentials.StatusCheckerOptions{KeepAnchored: true})
	q := &federation.QRStatus{Directory: federation.Directory{Registry: c.view, Development: true}, Heads: olderHeads{c.view, hostile}, Lists: lists}
	region, _ := qrcode.ParseRegion(regionB)
	for i, id := range hostile {
		_, err := q.Status(ctx, qrcode.StatusRef{Region: region, List: uint32(i + 1), Index: 1})
		if !errors.Is(err, qrcode.ErrStatusUnavailable) || !errors.Is(err, federation.ErrNoStatusList) {
			t.Errorf("list %q: %v, want %v", id, err, federation.ErrNoStatusList)
		}
	}
	mu.Lock()
	if len(paths) != 0 {
		t.Errorf("requests for hostile list IDs: %q", paths)
	}
	mu.Unlock()
	// A list with a valid ID is fetched (and, not served, unavailable).
	if _, err := q.Status(ctx, qrcode.StatusRef{Region: region, List: 6, Index: 1}); !errors.Is(err, qrcode.ErrStatusUnavailable) || errors.Is(err, federation.ErrNoStatusList) {
		t.Errorf("a valid list ID: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(paths, []string{"/status/00000006aaaaaaaa"}) {
		t.Errorf("requests for a valid list ID: %q", paths)
	}
}

// olderHeads lists the status lists of the view and, for region B, lists
// an older contract anchored under IDs the contract now refuses.
type olderHeads struct {
	view  *ledger.View
	older []string
}

func (h olderHeads) StatusLists(region string) []string {
	lists := h.view.StatusLists(region)
	if region == regionB {
		lists = append(lists, h.older...)
	}
	return lists
}
