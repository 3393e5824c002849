package statuslist_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/qrcode"
)

// TestQRStatusOfListStartedElsewhere: a code whose binding's status entry
// is in a list instance A started a moment ago reaches instance B before
// the chain's event that tells B of the list. B's QR status check waits
// for its view to bring the list and answers the entry's status, where it
// answered at once that the region had no such list (a person enrolled at
// one instance was refused at another, under load, until the event came:
// cmd/trustid.TestQRAcrossInstances failed so on a busy machine). A list
// number the region has none of is still refused, once the wait is over
// or the request's context ends.
func TestQRStatusOfListStartedElsewhere(t *testing.T) {
	l := openLedger(t)
	dir := t.TempDir()
	a := startInstance(t, l, dir+"/a", "a")
	var hold sync.RWMutex
	hold.Lock() // B applies no event until released
	held := true
	defer func() {
		if held {
			hold.Unlock()
		}
	}()
	b := startInstanceHeld(t, l, dir+"/b", "b", nil, nil, &hold)
	ctx := context.Background()
	refs, err := a.shared.AllocateMany(ctx, status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	atA := &enrollment.ListStatus{Region: 310000, Lists: a.shared}
	ref, err := atA.Ref(refs[0].ListID, refs[0].Index)
	if err != nil {
		t.Fatal(err)
	}
	atB := &enrollment.ListStatus{Region: 310000, Lists: b.shared}
	type answer struct {
		s   qrcode.Status
		err error
	}
	got := make(chan answer, 1)
	go func() {
		s, err := atB.Status(ctx, ref)
		got <- answer{s, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("B answered before its view had the list: %v %v", r.s, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	hold.Unlock() // the chain's events reach B
	held = false
	select {
	case r := <-got:
		if r.err != nil || r.s != qrcode.StatusValid {
			t.Fatalf("B's status of the new list's entry: %v %v, want valid", r.s, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("B's status check did not end after its view moved")
	}

	unknown := qrcode.StatusRef{Region: 310000, List: ref.List + 1, Index: 0}
	if _, err := atB.Status(ctx, unknown); !errors.Is(err, qrcode.ErrUnknownStatusList) {
		t.Errorf("a list number the region has none of: %v, want %v", err, qrcode.ErrUnknownStatusList)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := atB.Status(cctx, unknown); !errors.Is(err, qrcode.ErrUnknownStatusList) {
		t.Errorf("a list number the region has none of, the request ended: %v, want %v", err, qrcode.ErrUnknownStatusList)
	}
}
