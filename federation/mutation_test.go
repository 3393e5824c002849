package federation_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
	"github.com/trustid-cn/trustid/qrcode"
)

// TestKeysBeforeTheViewLoads: before the registry view has loaded, every
// key lookup fails with ErrNotReady (a node not ready yet), not as an
// unknown region (a refusal of the caller).
func TestKeysBeforeTheViewLoads(t *testing.T) {
	la, lb := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(context.Background(), t, la, lb)
	k := &federation.Keys{Registry: ledger.NewView(la, ledger.ViewOptions{})} // never run
	if err := k.RegionKeyValid(regionB, "k1"); !errors.Is(err, federation.ErrNotReady) {
		t.Errorf("RegionKeyValid: %v, want ErrNotReady", err)
	}
	if _, _, err := k.RegionKey(context.Background(), regionB, "k1"); !errors.Is(err, federation.ErrNotReady) {
		t.Errorf("RegionKey: %v, want ErrNotReady", err)
	}
}

type oneDirectory string

func (d oneDirectory) PeerURL(string) (string, error) { return string(d), nil }
func (d oneDirectory) NodeURL(string) (string, error) { return string(d), nil }

type heads map[string][]string

func (h heads) StatusLists(region string) []string { return h[region] }

type lists struct{ uris []string }

func (l *lists) CheckToken(_ context.Context, _, uri string, _ int) error {
	l.uris = append(l.uris, uri)
	return nil
}

// TestQRStatusListNumberSharedFailsClosed: a list number two anchored
// lists of the region share resolves to neither (qrcode.ListNumber: a
// verifier resolves a number to the one list that has it); a number one
// list has resolves to it.
func TestQRStatusListNumberSharedFailsClosed(t *testing.T) {
	l := &lists{}
	q := &federation.QRStatus{Directory: oneDirectory("https://b.example"), Lists: l,
		Heads: heads{regionB: {"00000001aaaaaaaa", "00000001bbbbbbbb", "00000002cccccccc"}}}
	code := func(s string) uint32 { n, _ := strconv.Atoi(s); return uint32(n) }(regionB)
	_, err := q.Status(context.Background(), qrcode.StatusRef{Region: code, List: 1, Index: 3})
	if !errors.Is(err, federation.ErrNoStatusList) || !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("shared number: %v, want ErrNoStatusList", err)
	}
	if len(l.uris) != 0 {
		t.Errorf("shared number: lists read %v", l.uris)
	}
	if st, err := q.Status(context.Background(), qrcode.StatusRef{Region: code, List: 2, Index: 3}); err != nil || st != qrcode.StatusValid {
		t.Errorf("one list: %v %v", st, err)
	}
	if len(l.uris) != 1 || l.uris[0] != "https://b.example/status/00000002cccccccc" {
		t.Errorf("one list: lists read %v", l.uris)
	}
}
