package enrollment

import (
	"context"
	"errors"
	"fmt"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/qrcode"
)

// StatusLists is the part of the credential status store (a
// statuslist.FileStore) that ListStatus reads.
type StatusLists interface {
	Get(ctx context.Context, listID string, index int) (purpose string, value uint8, err error)
	Lists() []string
}

// ListStatus shares status entries between credentials and compact QR
// bindings. A QR StatusRef has a 32-bit list number where the credential
// store names lists with 64-bit IDs (16 hex digits): the list number is
// the first 32 bits of the list ID, and a reference is made only when
// that prefix names one list of the node (it is checked again on every
// lookup; a clash fails closed). It implements qrcode.StatusChecker from
// the store itself, so a revocation is seen at once. Safe for concurrent
// use if Lists is.
//
// Remote, when set, answers for the lists of other regions
// (federation.QRStatus: their published lists, checked against the heads
// anchored on the ledger); without it another region's reference fails
// closed.
type ListStatus struct {
	Region uint32
	Lists  StatusLists
	Remote qrcode.StatusChecker
}

var _ qrcode.StatusChecker = (*ListStatus)(nil)

// followedLists is StatusLists that learn the lists of the region's other
// instances from the chain (statuslist.Shared): a list another instance
// started a moment ago may not be in Lists yet. ViewMoved returns a
// channel closed when the view applies its next ledger event.
type followedLists interface {
	ViewMoved() <-chan struct{}
}

// newListWait bounds how long Status waits for the view to bring a list
// of this region it does not hold yet (started at another instance,
// whose code can reach this one before the chain's event does), before
// it says the region has no such list.
const newListWait = 2 * time.Second

// listNumber is the QR list number of a list ID (qrcode.ListNumber).
func listNumber(id string) (uint32, bool) { return qrcode.ListNumber(id) }

// resolve finds the one list whose number is n.
func (l *ListStatus) resolve(n uint32) (string, error) {
	found := ""
	for _, id := range l.Lists.Lists() {
		if m, ok := listNumber(id); ok && m == n {
			if found != "" {
				return "", fmt.Errorf("%w: two status lists share number %d", qrcode.ErrStatusUnavailable, n)
			}
			found = id
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w: no status list number %d", qrcode.ErrUnknownStatusList, n)
	}
	return found, nil
}

// resolveFollowing is resolve, waiting up to newListWait (or ctx's end)
// while the view of followed lists moves, when this region has no list
// number n yet.
func (l *ListStatus) resolveFollowing(ctx context.Context, n uint32) (string, error) {
	id, err := l.resolve(n)
	f, ok := l.Lists.(followedLists)
	if !ok || !errors.Is(err, qrcode.ErrUnknownStatusList) {
		return id, err // the usual case: no wait, no lock of the view's
	}
	var deadline <-chan time.Time
	for {
		moved := f.ViewMoved() // before resolve: no event is missed between the two
		id, err = l.resolve(n)
		if !errors.Is(err, qrcode.ErrUnknownStatusList) {
			return id, err
		}
		if deadline == nil {
			t := time.NewTimer(newListWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-moved:
		case <-deadline:
			return id, err
		case <-ctx.Done():
			return id, err
		}
	}
}

// Ref returns the QR status reference of entry index of list listID.
func (l *ListStatus) Ref(listID string, index int) (qrcode.StatusRef, error) {
	n, ok := listNumber(listID)
	if !ok || index < 0 || int64(index) > int64(^uint32(0)) {
		return qrcode.StatusRef{}, fmt.Errorf("status entry %q/%d has no QR form", listID, index)
	}
	if got, err := l.resolve(n); err != nil || got != listID {
		return qrcode.StatusRef{}, fmt.Errorf("status list %s: number %d is not unique: %v", listID, n, err)
	}
	return qrcode.StatusRef{Region: l.Region, List: n, Index: uint32(index)}, nil
}

// Status implements qrcode.StatusChecker for this node's lists: a Token
// Status List entry (a binding's, shared with its enrollment's
// credentials) is valid, revoked or suspended; a revocation entry (the
// bindings of older enrollments) valid or revoked.
func (l *ListStatus) Status(ctx context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	if ref.Region != l.Region && l.Remote != nil {
		return l.Remote.Status(ctx, ref)
	}
	if ref.Region != l.Region {
		return 0, fmt.Errorf("%w: region %d's lists are not held here", qrcode.ErrStatusUnavailable, ref.Region)
	}
	id, err := l.resolveFollowing(ctx, ref.List)
	if err != nil {
		return 0, err
	}
	purpose, v, err := l.Lists.Get(ctx, id, int(ref.Index))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", qrcode.ErrStatusUnavailable, err)
	}
	switch {
	case purpose == status.PurposeToken && v == status.TokenValid, purpose == vc.PurposeRevocation && v == 0:
		return qrcode.StatusValid, nil
	case purpose == status.PurposeToken && v == status.TokenSuspended:
		return qrcode.StatusSuspended, nil
	case purpose == status.PurposeToken && v == status.TokenInvalid, purpose == vc.PurposeRevocation:
		return qrcode.StatusRevoked, nil
	}
	return 0, fmt.Errorf("%w: list %d entry is not a binding status", qrcode.ErrStatusUnavailable, ref.List)
}
